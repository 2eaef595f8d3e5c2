"""Lightly's client against the real winnow-web: each flow of SPEC 7 as the exact
HTTP requests lightly v1.5.20's ApiWorkflowClient sends (lightly/api/*.py and
the generated api_client: `?token=` last in the query, query booleans `True` /
`False`, paging by `pageSize=5000&pageOffset=<items>`, bodies as its models'
to_dict(by_alias=True) serialise them with json.dumps: no null keys,
`"autoTasks": []`, the snake_case `stopping_condition_minimum_distance`), every
reply checked against Lightly's models by tests/py/conformance.py.

Every flow passes: each gathers all the problems it meets (a reply outside the
model, a status the client does not map, a value it should not get) and fails
with the whole list. The worker side (winnowd's calls, with their exact
bodies) is one flow too; the other flows set up their runs through worker
calls (unchecked).
"""
import json
import os
import re
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance as cf  # noqa: E402
import webtest  # noqa: E402
from webtest import bitmask  # noqa: E402

from PIL import Image  # noqa: E402

PAGE = 5000            # utils.paginate_endpoint's page_size
MAX_PAGES = 20         # a paging loop that has not ended by then never will
WORKER_NAME = "worker-1"  # Lightly's worker names: 3 characters at least
THUMB = ".lightly/thumbnails/[filename]_thumb.[extension]"

# selection_config as Lightly's docs write it, and the config body the client
# builds from it (DockerWorkerConfigOmniVXCreateRequest.to_dict(by_alias=True):
# version, creator, config; SelectionConfigV4 always carries autoTasks).
SELECTION = {
    "n_samples": 3,
    "strategies": [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.1}},
        {"input": {"type": "RANDOM", "random_seed": 42}, "strategy": {"type": "WEIGHTS"}},
    ],
}
V4_BODY = {
    "version": "V4",
    "creator": "USER_PIP",
    "config": {
        "workerType": "FULL",
        "selection": {
            "nSamples": 3,
            "strategies": [
                {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.1}},
                {"input": {"type": "RANDOM", "randomSeed": 42}, "strategy": {"type": "WEIGHTS"}},
            ],
            "autoTasks": [],
        },
    },
}


def qfmt(v):
    """A query value as the generated api_client writes it: str() of ints,
    floats and bools (bool is an int there, so `True`/`False`)."""
    return str(v)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        os.makedirs(cls.srv.dir, exist_ok=True)
        cls.root = os.path.join(cls.srv.dir, "datasets")
        cls.images = os.path.join(cls.root, "images")
        os.makedirs(cls.images)
        for i in range(6):
            Image.new("RGB", (32, 24), (40 * i, 10, 200)).save(os.path.join(cls.images, "img_%d.png" % i))
        cls.srv.roots = [cls.root]
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token(WORKER_NAME, "worker")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.c = cf.Checked(self.srv)
        self.flow = []          # what went wrong in the flow itself (status, values)

    # -- Lightly's client's requests --------------------------------------

    def call(self, method, path, query=(), body=None, token=None, headers=None):
        """One request as the client sends it; the token in the query, last."""
        tok = self.user if token is None else token
        q = [(k, qfmt(v)) for k, v in query if v is not None]
        if tok:
            q.append(("token", tok))
        url = path + ("?" + urllib.parse.urlencode(q) if q else "")
        if body is not None:
            own = cf.check_request(method, path, body)
            self.assertEqual(own, [], "the test's own body is not Lightly's %s %s" % (method, path))
        return self.c.request(method, url, body=body, headers=headers)

    def want(self, reply, what, statuses):
        """Record a flow problem unless the reply's status is one of statuses."""
        if reply.status not in statuses:
            self.flow.append("%s: %d, want %s: %s" % (what, reply.status, "/".join(map(str, statuses)),
                                                      reply.body[:160].decode("utf-8", "replace")))
            return False
        return True

    def jbody(self, reply):
        try:
            return json.loads(reply.body.decode("utf-8"))
        except ValueError:
            return None

    def create(self, path, body, what, token=None, query=()):
        """A create: 201 {id}; returns the id (also from a 200, to go on)."""
        r = self.call("POST", path, query, body, token=token)
        self.want(r, what, (201,))
        v = self.jbody(r)
        return v.get("id") if isinstance(v, dict) else None

    def paged(self, path, query=(), what="", token=None, text=False):
        """utils.paginate_endpoint: pages of PAGE until one is shorter (for a
        text page: fewer characters) or empty; MAX_PAGES pages = never ends."""
        out, offset = [], 0
        for _ in range(MAX_PAGES):
            r = self.call("GET", path, list(query) + [("pageSize", PAGE), ("pageOffset", offset * PAGE)], token=token)
            if not self.want(r, what, (200,)):
                return out
            if text:
                chunk = r.body.decode("utf-8")
                if chunk == "":
                    return out
                out.append(chunk)
            else:
                chunk = self.jbody(r)
                if not isinstance(chunk, list) or not chunk:
                    return out
                out.extend(chunk)
            offset += 1
            if len(chunk) < PAGE:
                self.past_end(path, query, offset * PAGE, what, token, text)
                return out
        self.flow.append("%s: paging did not end after %d pages of %d" % (what, MAX_PAGES, PAGE))
        return out

    def expect(self, got, wanted, what):
        """A value the flow needs: recorded when it differs, and the flow goes on."""
        if got != wanted:
            g, w = repr(got), repr(wanted)
            self.flow.append("%s: got %s, want %s" % (what, g if len(g) < 200 else g[:197] + "...",
                                                      w if len(w) < 200 else w[:197] + "..."))
        return got == wanted

    def past_end(self, path, query, offset, what, token, text):
        """SPEC 7: past the end, an empty list (or text). The client stops before
        asking; a server that ignores pageOffset shows here, even on short lists."""
        r = self.call("GET", path, list(query) + [("pageSize", PAGE), ("pageOffset", offset)], token=token)
        if r.status == 200 and r.body not in (b"", b"[]"):
            self.flow.append("%s: the page at pageOffset=%d (past the end) is not empty: paging ignored" % (what, offset))

    def done(self):
        """The end of every flow: no reply broke Lightly's models, nothing in the
        flow failed. WINNOW_CONFORMANCE_REPORT=1 prints the problems (also of the
        flows marked as expected failures)."""
        problems = self.c.problems() + self.flow
        if problems and os.environ.get("WINNOW_CONFORMANCE_REPORT"):
            sys.stderr.write("\n== %s\n%s\n" % (self.id(), "\n".join("  - " + p for p in problems)))
        if problems:
            self.fail("%d problems:\n%s" % (len(problems), "\n".join(problems)))

    # -- setup through today's worker calls (unchecked) ---------------------

    def w(self, method, path, body=None, raw=None, headers=None):
        return self.srv.request(method, path, body, self.worker, raw=raw, headers=headers)

    def u(self, method, path, body=None):
        return self.srv.request(method, path, body, self.user)

    def dataset(self, name):
        r = self.u("POST", "/v1/datasets", {"name": name, "type": "Images", "creator": "USER_PIP"})
        self.assertIn(r.status, (200, 201), r)
        return r.json["id"]

    def grant(self, ds):
        """SPEC 8: a worker touches only the datasets of runs it holds or held. The test's
        worker claims a scheduled run of ds and ends it (DONE, no run made), once a dataset."""
        held = self.__class__.__dict__.get("held")
        if held is None:
            held = self.__class__.held = set()
        if ds in held:
            return
        cfg, sid = self.schedule_v4(ds)
        wid = self.worker_id()
        for state in ("LOCKED", "DONE"):
            r = self.w("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": state})
            self.assertEqual(r.status, 200, r)
        held.add(ds)

    def add_samples(self, ds, names):
        self.grant(ds)
        for k in range(0, len(names), 10000):
            r = self.w("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": n} for n in names[k:k + 10000]])
            self.assertEqual(r.status, 200, r)

    def schedule_v4(self, ds):
        r = self.u("POST", "/v1/docker/worker/config/vX", V4_BODY)
        self.assertIn(r.status, (200, 201), r)
        cfg = r.json["id"]
        r = self.u("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                   {"configId": cfg, "priority": "MID", "runsOn": [], "creator": "USER_PIP"})
        self.assertIn(r.status, (200, 201), r)
        return cfg, r.json["id"]

    def worker_id(self):
        r = self.w("POST", "/v1/docker/worker", {"name": WORKER_NAME, "workerType": "FULL", "labels": []})
        self.assertIn(r.status, (200, 201), r)
        return r.json["id"]

    def initial_tag(self, ds, n):
        """The dataset's initial-tag (every sample): Lightly's route, else (today)
        a tag without parent."""
        r = self.w("POST", "/v1/datasets/%s/tags/initial" % ds, {"name": "initial-tag", "creator": "USER_WORKER", "imgType": "full"})
        if r.status in (404, 405):
            r = self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "initial-tag", "prevTagId": None, "bitMaskData": bitmask(range(n)),
                                                           "totSize": n, "creator": "USER_WORKER"})
        self.assertIn(r.status, (200, 201), r)
        return r.json["id"]

    def finished_run(self, ds, names, selected):
        """A run done by a worker through today's calls: samples, the initial
        tag, candidates and selection tags, a REPORT_JSON artifact, COMPLETED.
        Returns (scheduled id, run id, selection tag id, artifact id, report bytes)."""
        self.add_samples(ds, names)
        cfg, sid = self.schedule_v4(ds)
        wid = self.worker_id()
        r = self.w("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "LOCKED"})
        self.assertEqual(r.status // 100, 2, r)
        r = self.w("POST", "/v1/docker/runs", {"dockerVersion": "winnow", "datasetId": ds, "scheduledId": sid, "configId": cfg})
        self.assertIn(r.status, (200, 201), r)
        rid = r.json["id"]
        allbits = bitmask(range(len(names)))
        init = self.initial_tag(ds, len(names))
        r = self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-1-candidates", "prevTagId": init, "bitMaskData": allbits,
                                                       "totSize": len(names), "creator": "USER_WORKER", "runId": rid})
        self.assertIn(r.status, (200, 201), r)
        cand = r.json["id"]
        r = self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-1", "prevTagId": cand, "bitMaskData": bitmask(selected),
                                                       "totSize": len(names), "creator": "USER_WORKER", "runId": rid})
        self.assertIn(r.status, (200, 201), r)
        sel = r.json["id"]
        r = self.w("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "report.json", "type": "REPORT_JSON"})
        self.assertIn(r.status, (200, 201), r)
        art = r.json
        url = urllib.parse.urlsplit(art["signedWriteUrl"])
        report = json.dumps({"selected": len(selected)}).encode()
        self.assertEqual(self.srv.request("PUT", url.path + "?" + url.query, raw=report).status, 200)
        r = self.w("PUT", "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (rid, art["artifactId"]))
        self.assertEqual(r.status // 100, 2, r)
        # winnow's own run file (selection.csv): on winnow's route (SPEC 7)
        csv = {"fileName": "selection.csv", "type": "SELECTION_CSV"}
        r = self.w("POST", "/v1/winnow/runs/%s/files" % rid, csv)      # its shape is winnow's: not checked
        self.assertEqual(r.status, 201, r)
        for state in ("STARTED", "COMPLETED"):
            r = self.w("PUT", "/v1/docker/runs/%s" % rid, {"state": state})
            self.assertEqual(r.status // 100, 2, r)
        r = self.w("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "DONE"})
        self.assertEqual(r.status // 100, 2, r)
        return sid, rid, sel, art["artifactId"], report


class TestFlows(Base):
    def test_version_check(self):
        r = self.call("GET", "/v1/versions/pip/minimum", token="")
        if self.want(r, "version check (no token)", (200,)):
            v = self.jbody(r)
            self.expect(v if isinstance(v, str) else r.body.decode(), "1.5.20", "minimum version")
        self.done()

    def test_dataset_create_and_find_by_name(self):
        name = "flow-dataset"
        q = [("shared", False), ("exact", True)]
        found = self.paged("/v1/datasets/query/name/%s" % name, q, "find by name (before)")
        self.expect(found, [], "find by name before create")
        ds = self.create("/v1/datasets", {"name": name, "type": "Images", "creator": "USER_PIP"}, "create dataset")
        self.expect(bool(re.match(webtest.ID_RE, ds or "")), True, "create dataset: an id")
        r = self.call("GET", "/v1/datasets/%s" % ds)
        if self.want(r, "get dataset", (200,)):
            self.expect((r.json["name"], r.json["type"]), (name, "Images"), "dataset name, type")
        found = self.paged("/v1/datasets/query/name/%s" % name, q, "find by name")
        self.expect([d.get("id") for d in found], [ds], "find by name: the dataset")
        mine = self.paged("/v1/datasets", [("shared", False)], "list datasets")
        self.expect(ds in [d.get("id") for d in mine], True, "list datasets: holds it")
        self.done()

    def _datasource_flow(self, ds, body, purpose_query=None):
        r = self.call("PUT", "/v1/datasets/%s/datasource" % ds, body=body)
        self.want(r, "PUT datasource %s %s" % (body["type"], body["purpose"]), (200, 201, 204))
        r = self.call("GET", "/v1/datasets/%s/datasource" % ds, [("purpose", purpose_query)])
        if self.want(r, "GET datasource", (200,)):
            got = self.jbody(r)
            for k in ("type", "purpose", "fullPath"):
                self.expect(got.get(k), body[k], k)
        r = self.call("GET", "/v1/datasets/%s/datasource/all" % ds)
        self.want(r, "GET datasource/all", (200,))

    def test_datasource_local_relative(self):
        ds = self.dataset("local-rel")
        # set_local_config(relative_path="images", purpose=INPUT) then LIGHTLY
        for purpose in ("INPUT", "LIGHTLY"):
            body = {"purpose": purpose, "type": "LOCAL", "thumbSuffix": THUMB, "fullPath": "images",
                    "webServerLocation": "http://localhost:3456"}
            self._datasource_flow(ds, body, purpose)
        self.done()

    def test_datasource_local_absolute(self):
        ds = self.dataset("local-abs")
        body = {"purpose": "INPUT_OUTPUT", "type": "LOCAL", "thumbSuffix": THUMB, "fullPath": self.images,
                "webServerLocation": "http://localhost:3456"}
        self._datasource_flow(ds, body)
        self.done()

    def test_datasource_s3(self):
        ds = self.dataset("s3-ds")
        body = {"purpose": "INPUT", "type": "S3", "thumbSuffix": THUMB, "fullPath": "s3://my-bucket/images/",
                "s3Region": "eu-central-1", "s3AccessKeyId": "AKIAEXAMPLE", "s3SecretAccessKey": "secret-key"}
        self._datasource_flow(ds, body)
        r = self.call("GET", "/v1/datasets/%s/datasource" % ds)
        if r.status == 200:
            self.expect(self.jbody(r).get("s3SecretAccessKey") != "secret-key", True, "S3 secret masked (SPEC 8)")
        self.done()

    def test_workers(self):
        body = {"name": "my-worker", "workerType": "FULL", "labels": ["worker-label"], "creator": "USER_PIP"}
        wid = self.create("/v1/docker/worker", body, "register worker")
        again = self.create("/v1/docker/worker", body, "register worker again")
        self.expect(again, wid, "register again: same id")
        r = self.call("GET", "/v1/docker/worker")
        if self.want(r, "list workers", (200,)):
            self.expect(wid in [x.get("id") for x in self.jbody(r)], True, "list workers: holds it")
        if wid:
            r = self.call("GET", "/v1/docker/worker/%s" % wid)
            if self.want(r, "get worker", (200,)):
                self.expect(self.jbody(r)["labels"], ["worker-label"], "worker labels")
            r = self.call("DELETE", "/v1/docker/worker/%s" % wid)
            self.want(r, "delete worker", (200, 204))
            r = self.call("GET", "/v1/docker/worker/%s" % wid)
            self.want(r, "get deleted worker", (404,))
        r = self.call("DELETE", "/v1/docker/worker/%s" % ("0" * 24))
        self.want(r, "delete unknown worker", (404,))
        self.done()

    def test_config_and_schedule(self):
        ds = self.dataset("sched")
        cfg = self.create("/v1/docker/worker/config/vX", V4_BODY, "create V4 config")
        r = self.call("GET", "/v1/docker/worker/config/vX/%s" % cfg)
        if self.want(r, "get V4 config", (200,)):
            self.expect(self.jbody(r)["config"]["selection"]["nSamples"], 3, "V4 config nSamples")
        sid = self.create("/v1/datasets/%s/docker/worker/schedule" % ds,
                          {"configId": cfg, "priority": "HIGH", "runsOn": ["gpu"], "creator": "USER_PIP"}, "schedule")
        r = self.call("GET", "/v1/datasets/%s/docker/worker/schedule" % ds)
        if self.want(r, "scheduled runs", (200,)):
            got = [(x.get("id"), x.get("state"), x.get("priority"), x.get("runsOn")) for x in self.jbody(r)]
            self.expect(got, [(sid, "OPEN", "HIGH", ["gpu"])], "scheduled runs: id, state, priority, runsOn")
        r = self.call("GET", "/v1/datasets/%s/docker/worker/schedule" % ds, [("state", "DONE")])
        if self.want(r, "scheduled runs ?state=DONE", (200,)):
            self.expect(self.jbody(r), [], "scheduled runs ?state=DONE")
        r = self.call("GET", "/v1/docker/runs/schedule/%s" % sid)
        self.want(r, "run of a scheduled run before it exists", (404,))
        # the 2.2-era config routes (winnowd and older clients)
        v0 = self.create("/v1/docker/worker/config", {"config": {"workerType": "FULL", "docker": webtest.PRESET, "lightly": {}},
                                                      "creator": "USER_PIP"}, "create 2.2-era config")
        r = self.call("GET", "/v1/docker/worker/config/%s" % v0)
        if self.want(r, "get 2.2-era config", (200,)):
            self.expect(self.jbody(r)["config"]["docker"], webtest.PRESET, "2.2-era config docker")
        self.done()

    def test_follow_run_tags_export_artifacts(self):
        ds = self.dataset("follow")
        names = ["img_%d.png" % i for i in range(6)]
        sid, rid, sel, aid, report = self.finished_run(ds, names, [1, 2, 4])
        r = self.call("GET", "/v1/docker/runs/schedule/%s" % sid)
        if self.want(r, "run from scheduled run", (200,)):
            self.expect((self.jbody(r)["id"], self.jbody(r)["state"]), (rid, "COMPLETED"), "run from scheduled run: id, state")
        r = self.call("GET", "/v1/docker/runs/%s" % rid)
        self.want(r, "get run", (200,))
        runs = self.paged("/v1/docker/runs", (), "all runs")
        self.expect(rid in [x.get("id") for x in runs], True, "all runs: holds it")
        runs = self.paged("/v1/docker/runs/query/datasetId/%s" % ds, (), "runs of a dataset")
        self.expect([x.get("id") for x in runs], [rid], "runs of the dataset")
        r = self.call("GET", "/v1/docker/runs/%s/tags" % rid)
        if self.want(r, "run tags", (200,)):
            self.expect([t.get("name") for t in self.jbody(r)], ["run-1", "run-1-candidates"], "run tags, newest first")
        r = self.call("GET", "/v1/datasets/%s/tags" % ds)
        if self.want(r, "dataset tags", (200,)):
            self.expect("initial-tag" in [t.get("name") for t in self.jbody(r)], True, "dataset tags: initial-tag")
        r = self.call("GET", "/v1/datasets/%s/tags/%s" % (ds, sel))
        if self.want(r, "tag by id", (200,)):
            self.expect(self.jbody(r)["bitMaskData"], "0x16", "tag bitMaskData")
        text = self.paged("/v1/datasets/%s/tags/%s/export/basic/filenames" % (ds, sel), (), "export filenames", text=True)
        self.expect("\n".join(text), "img_1.png\nimg_2.png\nimg_4.png", "export filenames")
        r = self.call("GET", "/v1/docker/runs/%s/logs" % rid, [("cursor", 0)])
        self.want(r, "run logs", (200,))
        r = self.call("GET", "/v1/docker/runs/%s/artifacts/%s/readurl" % (rid, aid))
        if self.want(r, "artifact read URL", (200,)):
            url = r.body.decode()
            if url.startswith('"'):
                url = json.loads(url)
            parts = urllib.parse.urlsplit(url)
            self.expect(parts.scheme in ("http", "https"), True, "read URL is absolute")
            d = self.srv.request("GET", parts.path + ("?" + parts.query if parts.query else ""))   # no token
            self.expect((d.status, d.body), (200, report), "download by read URL without token")
        self.done()

    def test_worker_calls(self):
        ds = self.dataset("worker-flow")
        names = ["a.png", "b.png", "c.png"]
        self.add_samples(ds, names)
        cfg, sid = self.schedule_v4(ds)
        wt = self.worker
        wid = self.create("/v1/docker/worker", {"name": WORKER_NAME, "workerType": "FULL", "labels": [], "dockerVersion": "winnow"},
                          "register", token=wt)
        r = self.call("PUT", "/v1/docker/worker/%s" % wid, body={"state": "IDLE", "dockerVersion": "winnow"}, token=wt)
        self.want(r, "heartbeat", (200, 204))
        r = self.call("GET", "/v1/docker/worker/%s" % wid, token=wt)
        self.want(r, "get worker", (200,))
        r = self.call("GET", "/v1/docker/worker/%s/schedule" % wid, [("state", "OPEN")], token=wt)
        if self.want(r, "poll", (200,)):
            self.expect(sid in [x.get("id") for x in self.jbody(r)], True, "poll: holds the scheduled run")
        r = self.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), body={"state": "LOCKED"}, token=wt)
        self.want(r, "claim", (200, 204))
        r = self.call("GET", "/v1/docker/worker/config/vX/%s" % cfg, token=wt)
        self.want(r, "config", (200,))
        rid = self.create("/v1/docker/runs", {"dockerVersion": "winnow", "datasetId": ds, "scheduledId": sid, "configId": cfg},
                          "create run", token=wt)
        r = self.call("PUT", "/v1/docker/runs/%s" % rid, body={"state": "EMBEDDING"}, token=wt)
        self.want(r, "run state", (200, 204))
        r = self.call("PUT", "/v1/docker/runs/%s/logs" % rid, token=wt, headers={"Idempotency-Key": "%s:1" % sid},
                      body=[{"ts": 1700000000000, "level": "INFO", "group": "winnowd", "msg": "embedding", "state": "EMBEDDING"}])
        self.want(r, "logs", (200, 204))
        r = self.call("GET", "/v1/datasets/%s/datasource" % ds, token=wt)
        r = self.call("GET", "/v1/datasets/%s/mappings" % ds, [("field", "fileName")], token=wt)
        if self.want(r, "sample order", (200,)):
            self.expect(self.jbody(r), names, "sample order")
        init = self.create("/v1/datasets/%s/tags/initial" % ds, {"name": "initial-tag", "creator": "USER_WORKER", "imgType": "full"},
                           "initial tag", token=wt)
        cand = self.create("/v1/datasets/%s/tags" % ds, {"name": "run-2-candidates", "prevTagId": init or "0" * 24, "bitMaskData": "0x7",
                                                         "totSize": 3, "creator": "USER_WORKER", "runId": rid}, "candidates tag", token=wt)
        self.create("/v1/datasets/%s/tags" % ds, {"name": "run-2", "prevTagId": cand or "0" * 24, "bitMaskData": "0x5", "totSize": 3,
                                                  "creator": "USER_WORKER", "runId": rid}, "selection tag", token=wt)
        if cand:
            self.create("/v1/datasets/%s/tags/%s/scores" % (ds, cand), {"scoreType": "uncertainty_margin", "scores": [0.5, 0.25, 1]},
                        "scores", token=wt)
            r = self.call("GET", "/v1/datasets/%s/tags/%s/scores" % (ds, cand))
            self.want(r, "score list", (200,))
        r = self.call("POST", "/v1/docker/runs/%s/artifacts" % rid, body={"fileName": "report.json", "type": "REPORT_JSON"}, token=wt)
        if self.want(r, "artifact", (201,)):
            r = self.call("PUT", "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (rid, self.jbody(r)["artifactId"]), token=wt)
            self.want(r, "confirm upload", (200, 204))
        r = self.call("PUT", "/v1/docker/runs/%s" % rid, body={"state": "COMPLETED", "message": "done"}, token=wt)
        self.want(r, "run completed", (200, 204))
        r = self.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), body={"state": "DONE"}, token=wt)
        self.want(r, "scheduled run done", (200, 204))
        r = self.call("GET", "/v1/docker/runs/%s/logs" % rid)
        if self.want(r, "read logs", (200,)):
            v = self.jbody(r)
            self.expect([x.get("msg") for x in v.get("logs", [])] if isinstance(v, dict) else v, ["embedding"], "read logs: messages")
        self.done()

    def test_errors_are_lightly_errors(self):
        r = self.call("GET", "/v1/docker/runs/%s" % ("0" * 24))
        self.want(r, "unknown run", (404,))
        r = self.call("GET", "/v1/datasets/%s" % ("0" * 24))
        self.want(r, "unknown dataset", (404,))
        ds = self.dataset("bad-input")
        # Lightly's datasource types that winnow does not read, each as the client sends it
        others = {
            "LIGHTLY": {"fullPath": "x"},
            "S3DelegatedAccess": {"fullPath": "s3://b/", "s3Region": "eu-central-1", "s3ExternalId": "lightly-x1",
                                  "s3ARN": "arn:aws:iam::123456789012:role/r"},
            "GCS": {"fullPath": "gs://b/", "gcsProjectId": "p", "gcsCredentials": "{}"},
            "AZURE": {"fullPath": "c/", "accountName": "a", "accountKey": "k"},
            "OBS": {"fullPath": "obs://b/", "obsEndpoint": "https://obs.example", "obsAccessKeyId": "i",
                    "obsSecretAccessKey": "s"},
        }
        for typ, fields in others.items():
            r = self.call("PUT", "/v1/datasets/%s/datasource" % ds, body=dict(fields, purpose="INPUT", type=typ))
            if self.want(r, "%s datasource" % typ, (400,)):
                self.expect("type" in self.jbody(r).get("error", ""), True, "%s refused naming type" % typ)
        r = self.call("GET", "/v1/datasets/%s/datasource" % ds)
        self.want(r, "no datasource stored by the refused PUTs", (404,))
        # Lightly's config parts that winnow does not do, each refused naming its field
        unsupported = {
            "autoTasks": ("selection", "autoTasks", [{"type": "TILING", "name": "t", "numRows": 2, "numCols": 2}]),
            "crops": ("docker", "crops", {"enableUpload": True}),
            "enableTraining": ("docker", "enableTraining", True),
            "pretagging": ("docker", "pretagging", True),
        }
        for field, (part, key, value) in unsupported.items():
            bad = json.loads(json.dumps(V4_BODY))
            bad["config"].setdefault(part, {})[key] = value
            r = self.call("POST", "/v1/docker/worker/config/vX", body=bad)
            if self.want(r, "V4 config with %s" % field, (400,)):
                self.expect(field in self.jbody(r).get("error", ""), True, "%s refused naming it" % field)
        self.done()


class TestPaging(Base):
    N = 30000

    def test_30000_samples_list_in_pages_that_end(self):
        ds = self.dataset("big")
        names = ["f%05d.jpg" % i for i in range(self.N)]
        self.add_samples(ds, names)
        got = self.paged("/v1/datasets/%s/mappings" % ds, [("field", "fileName")], "mappings", token=self.worker)
        self.expect(got, names, "mappings pages: every name once, in order")
        tag = self.initial_tag(ds, self.N)
        text = self.paged("/v1/datasets/%s/tags/%s/export/basic/filenames" % (ds, tag), (), "export", text=True)
        self.expect("\n".join(text).split("\n"), names, "export pages: every name once, in order")
        self.done()


if __name__ == "__main__":
    unittest.main()
