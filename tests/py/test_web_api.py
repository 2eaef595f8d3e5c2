"""winnow-web API: every route's happy path and reply fields (Lightly's
required ones), the idempotency of each worker call, the atomic claim, poll
order and runsOn, aborts and cancels, config errors, datasource rules, S3
secret masking, the results route against a Python computation, thumbnails.
"""
import io
import json
import os
import random
import re
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from webtest import ID_RE, PRESET, bitmask  # noqa: E402

from PIL import Image  # noqa: E402

WORKER_FIELDS = {"id", "userId", "name", "workerType", "state", "createdAt", "lastModifiedAt", "labels"}
# Lightly's models exactly (SPEC 7); winnow's views add their extras on /v1/winnow/
SCHED_FIELDS = {"id", "datasetId", "userId", "configId", "priority", "runsOn", "state", "createdAt", "lastModifiedAt"}
SCHED_WINNOW_FIELDS = SCHED_FIELDS | {"workerId", "originScheduledId"}
RUN_FIELDS = {"id", "userId", "dockerVersion", "state", "createdAt", "lastModifiedAt", "datasetId",
              "configId", "scheduledId", "message", "artifacts"}
RUN_WINNOW_FIELDS = RUN_FIELDS | {"progress", "abortRequested"}
ARTIFACT_FIELDS = {"id", "type", "fileName", "createdAt"}
ARTIFACT_WINNOW_FIELDS = ARTIFACT_FIELDS | {"uploaded", "size"}
TAG_FIELDS = {"id", "datasetId", "prevTagId", "name", "bitMaskData", "totSize", "createdAt"}
DATASET_FIELDS = {"id", "name", "userId", "type", "nSamples", "sizeInBytes", "createdAt", "lastModifiedAt"}


def make_images(folder):
    os.makedirs(os.path.join(folder, "sub"), exist_ok=True)
    rnd = random.Random(1)
    img = Image.new("RGB", (600, 400))
    img.putdata([(rnd.randrange(256), (x * 7) % 256, 128) for x in range(600 * 400)])
    img.save(os.path.join(folder, "big.jpg"), quality=90)
    Image.new("RGB", (100, 900), (10, 200, 30)).save(os.path.join(folder, "sub", "tall.png"))
    Image.new("L", (40, 30), 99).save(os.path.join(folder, "small.webp"))
    with open(os.path.join(folder, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        os.makedirs(cls.srv.dir, exist_ok=True)
        cls.root = os.path.join(cls.srv.dir, "datasets")
        cls.data = os.path.join(cls.root, "ds1")
        os.makedirs(cls.data)
        make_images(cls.data)
        cls.outside = os.path.join(cls.srv.dir, "outside")
        os.makedirs(cls.outside)
        Image.new("RGB", (50, 50), (255, 0, 0)).save(os.path.join(cls.outside, "secret.jpg"))
        cls.srv.roots = [cls.root]
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token("w1", "worker")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # The one status each call must answer: 200, and a create passes 201.
    def u(self, method, path, body=None, status=200):
        return self.srv.ok(method, path, body, self.user, status)

    def w(self, method, path, body=None, status=200):
        return self.srv.ok(method, path, body, self.tok_for(path), status)

    def dataset(self, name="dataset"):
        return self.u("POST", "/v1/datasets", {"name": name}, 201)["id"]

    def config(self, docker=None):
        return self.u("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": docker or PRESET, "lightly": {}}}, 201)["id"]

    def schedule(self, ds, cfg, priority="MID", runs_on=None):
        body = {"configId": cfg, "priority": priority}
        if runs_on is not None:
            body["runsOn"] = runs_on
        return self.u("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, body, 201)["id"]

    def register(self, name, labels=()):
        """Registers name with the worker token bound to it (SPEC 8), which the
        test's later worker calls (self.w) then use, but for a call whose path
        names another registered worker: that one's token."""
        self.worker = self.srv.worker_token(name)
        wid = self.w("POST", "/v1/docker/worker", {"name": name, "workerType": "FULL", "labels": list(labels)}, 201)["id"]
        self.__dict__.setdefault("by_wid", {})[wid] = self.worker
        return wid

    def tok_for(self, path):
        for wid, tok in self.__dict__.get("by_wid", {}).items():
            if wid in path:
                return tok
        return self.worker

    def hold(self, ds, name="holder"):
        """The worker name (its token from then on) holds a run of ds, so its calls may touch ds."""
        self.worker, wid, sid, run = self.srv.hold(self.user, ds, name)
        self.__dict__.setdefault("by_wid", {})[wid] = self.worker
        return wid, sid, run

    def tok_wid(self, tok):
        return [w for w, t in self.__dict__.get("by_wid", {}).items() if t == tok][0]

    def claim(self, ds, worker, sched, state="LOCKED", token=None):
        return self.srv.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, worker, sched),
                                {"state": state}, token or self.tok_for("/%s/" % worker))


class TestWorkerCalls(Base):
    def test_register_same_name_same_id(self):
        gpu_tok = self.srv.worker_token("gpu-box")
        r1 = self.srv.request("POST", "/v1/docker/worker", {"name": "gpu-box", "workerType": "FULL", "labels": ["gpu"]}, gpu_tok)
        self.assertEqual(r1.status, 201)
        # SPEC 8: a worker token registers only the name it is bound to
        r = self.srv.request("POST", "/v1/docker/worker", {"name": "cpu-box", "workerType": "FULL"}, gpu_tok)
        self.assertEqual((r.status, r.json["code"]), (403, "FORBIDDEN"))
        wid = r1.json["id"]
        self.assertRegex(wid, ID_RE)
        r2 = self.srv.request("POST", "/v1/docker/worker", {"name": "gpu-box", "workerType": "FULL", "labels": ["gpu", "x"]}, gpu_tok)
        self.assertEqual(r2.status, 201)   # Lightly's client maps only 201 (SPEC 7)
        self.assertEqual(r2.json["id"], wid)
        other = self.register("cpu-box")
        self.assertNotEqual(other, wid)
        m = self.u("GET", "/v1/docker/worker/%s" % wid)
        self.assertTrue(WORKER_FIELDS <= set(m), m)
        self.assertEqual(m["labels"], ["gpu", "x"])
        self.assertEqual(m["state"], "IDLE")
        self.assertEqual(m["workerType"], "FULL")
        me = self.srv.ok("GET", "/v1/winnow/me", token=gpu_tok)
        self.assertEqual(m["userId"], me["userId"])
        names = [x["name"] for x in self.u("GET", "/v1/docker/worker")]
        self.assertIn("gpu-box", names)
        self.assertIn("cpu-box", names)

    def test_worker_state_heartbeat(self):
        wid = self.register("heartbeat")
        seen = lambda: [x for x in self.u("GET", "/v1/winnow/workers") if x["id"] == wid][0]   # noqa: E731
        before = seen()
        self.assertNotIn("lastSeenAt", self.u("GET", "/v1/docker/worker/%s" % wid))   # winnow's: on winnow's route
        time.sleep(0.01)
        m = self.w("PUT", "/v1/docker/worker/%s" % wid, {"state": "BUSY"})
        self.assertEqual(m["state"], "BUSY")
        after = seen()
        self.assertEqual(after["state"], "BUSY")
        self.assertGreater(after["lastSeenAt"], before["lastSeenAt"] - 1)
        self.assertGreaterEqual(m["lastModifiedAt"], before["lastModifiedAt"])
        self.assertEqual(self.srv.request("PUT", "/v1/docker/worker/%s" % wid, {"state": "SLEEPY"}, self.worker).status, 400)
        self.assertEqual(self.srv.request("PUT", "/v1/docker/worker/%s" % ("0" * 24), {"state": "IDLE"}, self.worker).status, 404)

    def test_config_get_and_validation(self):
        cfg = self.config()
        self.schedule(self.dataset(), cfg)     # a worker reads the configs of runs it may claim (SPEC 8)
        c = self.w("GET", "/v1/docker/worker/config/%s" % cfg)
        self.assertEqual(c["id"], cfg)
        self.assertEqual(c["config"]["docker"], PRESET)
        self.assertEqual(c["config"]["workerType"], "FULL")
        self.assertIn("createdAt", c)
        # Lightly's DockerWorkerConfigV0Data exactly; a 2.2-era config is V0
        self.assertEqual((sorted(c), c["version"]), (["config", "createdAt", "id", "version"], "V0"))
        self.assertEqual(self.u("GET", "/v1/docker/worker/config/vX/%s" % cfg), c)
        bad = {"method": "foo", "stopping_condition": {"n_samples": -3}}
        r = self.srv.request("POST", "/v1/docker/worker/config",
                             {"config": {"workerType": "FULL", "docker": bad, "lightly": {}}}, self.user)
        # Lightly's ApiErrorResponse exactly: a message naming every field (up to 5), no list
        self.assertEqual((r.status, sorted(r.json), r.json["code"]),
                         (400, ["code", "error"], "DOCKER_WORKER_CONFIG_INVALID"))
        self.assertRegex(r.json["error"], r"^invalid config \(2 errors\): ")
        self.assertIn("docker.method: ", r.json["error"])
        self.assertIn("docker.stopping_condition.n_samples: -3 is not", r.json["error"])
        paths = ["docker.method", "docker.stopping_condition.n_samples"]
        # the whole list, with a message per path, on winnow's validate route
        v = self.u("POST", "/v1/winnow/configs/validate",
                   {"config": {"workerType": "FULL", "docker": bad, "lightly": {}}}, 200)
        errs = v["errors"]
        self.assertEqual(sorted(e["path"] for e in errs), paths)
        for e in errs:
            self.assertNotIn(": ", e["path"])
            self.assertTrue(e["message"])
        nsm = [e for e in errs if e["path"].endswith("n_samples")][0]["message"]
        self.assertTrue(nsm.startswith("-3 is not"), nsm)
        v = self.u("POST", "/v1/winnow/configs/validate",
                   {"config": {"workerType": "FULL", "docker": PRESET, "lightly": {}}}, 200)
        self.assertEqual(v["errors"], [])
        # a config with an unknown key is refused too
        r = self.srv.request("POST", "/v1/docker/worker/config",
                             {"config": {"docker": {"bogus_key": 1}}}, self.user)
        self.assertEqual((r.status, r.json["code"]), (400, "DOCKER_WORKER_CONFIG_INVALID"))
        self.assertIn("docker.bogus_key: ", r.json["error"])

    def test_config_v4(self):
        v4 = {"workerType": "FULL", "docker": {}, "lightly": {}, "selection": {"nSamples": 2, "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]}}
        r = self.srv.request("POST", "/v1/docker/worker/config", {"config": v4}, self.user)
        self.assertEqual(r.status, 201, r.json)
        stored = self.u("GET", "/v1/docker/worker/config/%s" % r.json["id"])
        self.assertEqual(stored["config"]["selection"]["strategies"], v4["selection"]["strategies"])
        self.assertEqual(stored["version"], "V4")   # a selection makes it V4, on either route
        self.assertEqual(self.u("GET", "/v1/docker/worker/config/vX/%s" % r.json["id"])["version"], "V4")
        # A V4 config with errors gets every one, with its path.
        v4["selection"]["nSamples"] = 0
        v4["selection"]["strategies"].append({"input": {"type": "METADATA"}, "strategy": {"type": "WEIGHTS"}})
        r = self.srv.request("POST", "/v1/docker/worker/config", {"config": v4}, self.user)
        self.assertEqual(r.status, 400)
        self.assertNotIn("errors", r.json)
        for path in ("selection.nSamples: ", "selection.strategies[1].input.key: "):
            self.assertIn(path, r.json["error"])

    def test_run_lifecycle_abort(self):
        ds = self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        wid = self.register("runner")
        self.assertEqual(self.claim(ds, wid, sid).status, 200)
        body = {"dockerVersion": "winnowd 0.1", "datasetId": ds, "scheduledId": sid, "configId": cfg}
        r1 = self.srv.request("POST", "/v1/docker/runs", body, self.worker)
        self.assertEqual(r1.status, 201)
        rid = r1.json["id"]
        r2 = self.srv.request("POST", "/v1/docker/runs", body, self.worker)
        self.assertEqual((r2.status, r2.json["id"]), (201, rid))   # a create answers 201, also a repeat
        run = self.u("GET", "/v1/docker/runs/%s" % rid)
        self.assertEqual(set(run), RUN_FIELDS)      # Lightly's DockerRunData exactly
        self.assertEqual((run["state"], run["scheduledId"], run["datasetId"]), ("STARTED", sid, ds))
        self.assertEqual(self.w("GET", "/v1/docker/runs/schedule/%s" % sid)["id"], rid)
        self.assertIn(rid, [x["id"] for x in self.u("GET", "/v1/winnow/runs?datasetId=%s" % ds)])
        # the state: exactly DockerRunUpdateRequest; the progress and the abort flag: winnow's routes
        self.w("PUT", "/v1/docker/runs/%s" % rid, {"state": "EMBEDDING", "message": "m"})
        prog = "/v1/winnow/runs/%s/progress" % rid
        self.assertEqual(self.w("PUT", prog, {"progress": 0.3}), {"abortRequested": False})
        run = self.u("GET", "/v1/docker/runs/%s" % rid)
        self.assertEqual((run["state"], run["message"]), ("EMBEDDING", "m"))
        self.assertEqual(set(run), RUN_FIELDS)
        # winnow's view: progress and the abort flag
        mine = self.u("GET", "/v1/winnow/runs/%s" % rid)
        self.assertEqual(set(mine), RUN_WINNOW_FIELDS)
        self.assertEqual({k: mine[k] for k in RUN_FIELDS}, run)
        self.assertAlmostEqual(mine["progress"], 0.3)
        self.assertIs(mine["abortRequested"], False)
        aborting = self.u("POST", "/v1/winnow/runs/%s/abort" % rid, None, 200)
        self.assertIs(aborting["abortRequested"], True)
        self.assertIs(self.u("GET", "/v1/winnow/runs/%s" % rid)["abortRequested"], True)
        self.assertNotIn("abortRequested", self.u("GET", "/v1/docker/runs/%s" % rid))
        self.w("PUT", "/v1/docker/runs/%s" % rid, {"state": "SAMPLING", "message": ""})
        self.assertEqual(self.w("PUT", prog, {"progress": 0.5}), {"abortRequested": True})
        self.w("PUT", "/v1/docker/runs/%s" % rid, {"state": "ABORTED", "message": "aborted"})
        self.assertEqual(self.srv.request("POST", "/v1/winnow/runs/%s/abort" % rid, None, self.user).status, 409)
        self.assertEqual(self.srv.request("POST", "/v1/winnow/runs/%s/abort" % ("0" * 24), None, self.user).status, 404)
        self.assertEqual(self.srv.request("GET", "/v1/winnow/runs/%s" % ("0" * 24), token=self.user).status, 404)
        self.assertEqual(self.srv.request("PUT", "/v1/docker/runs/%s" % rid, {"state": "NOPE"}, self.worker).status, 400)
        # winnow's progress on Lightly's route is a key DockerRunUpdateRequest lacks
        r = self.srv.request("PUT", "/v1/docker/runs/%s" % rid, {"state": "FAILED", "progress": 0.5}, self.worker)
        self.assertEqual(r.status, 400)
        self.assertIn("progress", r.json["error"])
        self.assertEqual(self.srv.request("PUT", prog, {"progress": 2}, self.worker).status, 400)
        self.assertEqual(self.srv.request("PUT", prog, {}, self.worker).status, 400)
        self.assertEqual(self.srv.request("PUT", "/v1/winnow/runs/%s/progress" % ("0" * 24), {"progress": 0.1},
                                          self.worker).status, 404)
        self.assertEqual(self.srv.request("PUT", prog, {"progress": 0.1}, self.user).status, 403)
        # a run for an unknown scheduled run is refused
        bad = dict(body, scheduledId="0" * 24)
        self.assertEqual(self.srv.request("POST", "/v1/docker/runs", bad, self.worker).status, 404)

    def test_logs_cursor_and_idempotency_key(self):
        ds = self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        self.assertEqual(self.claim(ds, self.register("runner-1"), sid).status, 200)   # SPEC 8: only its holder creates the run
        rid = self.w("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid, "configId": cfg}, 201)["id"]
        path = "/v1/docker/runs/%s/logs" % rid

        def put(lines, key, status=200):
            r = self.srv.request("PUT", path, lines, self.worker, headers={"Idempotency-Key": key})
            self.assertEqual(r.status, status, r.body)
            return r

        lines = [{"ts": 1000 + i, "level": "INFO", "group": "winnowd", "msg": "line %d" % i, "state": "EMBEDDING"}
                 for i in range(5)]
        first = put(lines, sid + ":1")
        # a repeat of the key adds nothing and answers as the first did
        again = put(lines, sid + ":1")
        self.assertEqual(again.body, first.body)
        more = [{"ts": 2000 + i, "level": "WARNING", "group": "winnowd", "msg": "again %d" % i} for i in range(2)]
        put(more, sid + ":2")
        got = self.u("GET", path)
        self.assertEqual(set(got), {"cursor", "logs"})
        self.assertEqual([x["msg"] for x in got["logs"]], ["line %d" % i for i in range(5)] + ["again 0", "again 1"])
        self.assertEqual(got["cursor"], 7)
        # a line without a state has the run's state when it arrived (STARTED here)
        self.assertEqual(got["logs"][6], {"ts": 2001, "level": "WARNING", "group": "winnowd", "msg": "again 1",
                                          "state": "STARTED"})
        # the cursor: from line 3 on; past the end an empty page with the same cursor
        got = self.u("GET", path + "?cursor=3")
        self.assertEqual(([x["msg"] for x in got["logs"]][:2], got["cursor"]), (["line 3", "line 4"], 7))
        self.assertEqual(self.u("GET", path + "?cursor=7"), {"cursor": 7, "logs": []})
        self.assertEqual(self.srv.request("GET", path + "?cursor=-1", token=self.user).status, 400)
        # exactly Lightly's entries: winnow's old seq, a bad level, a missing group are refused
        for bad in ([{"seq": 9, "ts": 1, "level": "INFO", "group": "g", "msg": "x"}],
                    [{"ts": 1, "level": "LOUD", "group": "g", "msg": "x"}],
                    [{"ts": 1, "level": "INFO", "msg": "x"}], {"ts": 1}):
            r = self.srv.request("PUT", path, bad, self.worker, headers={"Idempotency-Key": sid + ":9"})
            self.assertEqual(r.status, 400, bad)
        # a refused call stored no key: the same key with a good body goes through
        put([{"ts": 3000, "level": "ERROR", "group": "winnowd", "msg": "late"}], sid + ":9")
        self.assertEqual(self.u("GET", path + "?cursor=7")["logs"][0]["msg"], "late")
        # without a key every call adds its lines
        self.w("PUT", path, [{"ts": 4000, "level": "DEBUG", "group": "g", "msg": "k"}])
        self.w("PUT", path, [{"ts": 4000, "level": "DEBUG", "group": "g", "msg": "k"}])
        self.assertEqual(self.u("GET", path)["cursor"], 10)
        self.assertEqual(self.srv.request("PUT", path, more, self.worker, headers={"Idempotency-Key": "x" * 201}).status, 400)

    def test_idempotency_keys_on_creates(self):
        ds = self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        self.assertEqual(self.claim(ds, self.register("runner-1"), sid).status, 200)   # SPEC 8: only its holder creates the run
        body = {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid, "configId": cfg}
        k = {"Idempotency-Key": sid + ":run"}
        r1 = self.srv.request("POST", "/v1/docker/runs", body, self.worker, headers=k)
        r2 = self.srv.request("POST", "/v1/docker/runs", body, self.worker, headers=k)
        self.assertEqual((r1.status, r2.status, r2.body), (201, 201, r1.body))
        rid = r1.json["id"]
        # a repeated sample batch answers what the first answered, though the dataset grew since
        batch = "/v1/winnow/datasets/%s/samples/batch" % ds
        k = {"Idempotency-Key": sid + ":5"}
        a = self.srv.request("POST", batch, [{"fileName": "a.jpg"}], self.worker, headers=k)
        self.w("POST", batch, [{"fileName": "b.jpg"}])
        b = self.srv.request("POST", batch, [{"fileName": "a.jpg"}], self.worker, headers=k)
        self.assertEqual((a.json, b.json), ({"added": 1, "nSamples": 1}, {"added": 1, "nSamples": 1}))
        self.assertEqual(self.w("POST", batch, [{"fileName": "a.jpg"}]), {"added": 0, "nSamples": 2})
        # the key with another body is another call (a client counting its keys again from 0
        # must never get what another body created)
        c = self.srv.request("POST", batch, [{"fileName": "c.jpg"}], self.worker, headers=k)
        self.assertEqual(c.json, {"added": 1, "nSamples": 3})
        # a tag created twice under one key: one tag, one id
        tag = {"name": "keyed-tag", "prevTagId": None, "bitMaskData": "0x1", "totSize": 2, "creator": "USER_WORKER", "runId": rid}
        k = {"Idempotency-Key": sid + ":6"}
        t1 = self.srv.request("POST", "/v1/datasets/%s/tags" % ds, tag, self.worker, headers=k)
        t2 = self.srv.request("POST", "/v1/datasets/%s/tags" % ds, tag, self.worker, headers=k)
        self.assertEqual((t1.status, t2.status, t2.body), (201, 201, t1.body))
        self.assertEqual([t["name"] for t in self.u("GET", "/v1/datasets/%s/tags" % ds)].count("keyed-tag"), 1)
        # the key is per route: the same key on another path is another call
        ds2 = self.dataset()
        self.srv.hold(self.user, ds2, "runner-1")      # the same worker holds a run there too
        c = self.srv.request("POST", "/v1/winnow/datasets/%s/samples/batch" % ds2, [{"fileName": "z.jpg"}],
                             self.worker, headers={"Idempotency-Key": sid + ":5"})
        self.assertEqual(c.json, {"added": 1, "nSamples": 1})

    def test_samples_tags_scores(self):
        ds = self.dataset()
        self.hold(ds)       # SPEC 8: a worker writes only to datasets of runs it holds
        names = ["img_%03d.jpg" % i for i in range(10)]
        r = self.w("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": n, "metaData": {}} for n in names[:6]])
        self.assertEqual((r["added"], r["nSamples"]), (6, 6))
        # a repeat with overlap adds only the new names, after the old ones
        r = self.w("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": n} for n in names[3:][::-1]])
        self.assertEqual((r["added"], r["nSamples"]), (4, 10))
        order = self.w("GET", "/v1/datasets/%s/mappings?field=fileName" % ds)
        self.assertEqual(order, names[:6] + names[6:][::-1])
        self.assertEqual(self.u("GET", "/v1/datasets/%s" % ds)["nSamples"], 10)
        self.assertEqual(self.srv.request("GET", "/v1/datasets/%s/mappings?field=size" % ds, token=self.worker).status, 400)

        cand = bitmask(range(10))
        t = self.srv.request("POST", "/v1/datasets/%s/tags" % ds,
                             {"name": "run-1-candidates", "prevTagId": None, "bitMaskData": cand, "totSize": 10,
                              "creator": "USER_WORKER", "runId": None}, self.worker)
        self.assertEqual(t.status, 201)
        cid = t.json["id"]
        t2 = self.srv.request("POST", "/v1/datasets/%s/tags" % ds,
                              {"name": "run-1-candidates", "prevTagId": None, "bitMaskData": cand, "totSize": 10,
                               "creator": "USER_WORKER", "runId": None}, self.worker)
        self.assertEqual((t2.status, t2.json["id"]), (201, cid))   # a repeat: 201 again (SPEC 7)
        sel = bitmask([0, 3, 4, 6])
        self.assertEqual(sel, "0x59")
        sid = self.w("POST", "/v1/datasets/%s/tags" % ds,
                     {"name": "run-1", "prevTagId": cid, "bitMaskData": sel, "totSize": 10, "creator": "SAMPLER_CORESET"}, 201)["id"]
        conflict = self.srv.request("POST", "/v1/datasets/%s/tags" % ds,
                                    {"name": "run-1", "prevTagId": cid, "bitMaskData": "0x1", "totSize": 10}, self.worker)
        self.assertEqual(conflict.status, 409)
        for bad in ("0x400", "0X59", "0x059", "59", ""):
            r = self.srv.request("POST", "/v1/datasets/%s/tags" % ds,
                                 {"name": "bad-mask", "bitMaskData": bad, "totSize": 10}, self.worker)
            self.assertEqual(r.status, 400, bad)
        tag = self.u("GET", "/v1/datasets/%s/tags/%s" % (ds, sid))
        self.assertTrue(TAG_FIELDS <= set(tag), tag)
        self.assertEqual((tag["prevTagId"], tag["bitMaskData"], tag["totSize"]), (cid, "0x59", 10))
        self.assertNotIn("creator", tag)   # not in Lightly's TagData: winnow's route has it
        self.assertNotIn("runId", tag)     # none given: absent, not null
        self.assertEqual([x["name"] for x in self.w("GET", "/v1/datasets/%s/tags" % ds)], ["run-1-candidates", "run-1"])
        own = {x["name"]: x for x in self.u("GET", "/v1/winnow/datasets/%s/tags" % ds)}
        self.assertEqual((own["run-1"]["creator"], own["run-1"]["bitMaskData"], own["run-1-candidates"]["creator"]),
                         ("SAMPLER_CORESET", "0x59", "USER_WORKER"))

        scores = [i / 10 for i in range(10)]
        path = "/v1/datasets/%s/tags/%s/scores" % (ds, cid)
        r = self.srv.request("POST", path, {"scoreType": "uncertainty_margin", "scores": scores}, self.worker)
        self.assertEqual(r.status, 201)
        score_id = r.json["id"]
        r = self.srv.request("POST", path, {"scoreType": "uncertainty_margin", "scores": scores}, self.worker)
        self.assertEqual((r.status, r.json["id"]), (201, score_id))   # a repeat: 201 again (SPEC 7)
        r = self.srv.request("POST", path, {"scoreType": "uncertainty_margin", "scores": scores[::-1]}, self.worker)
        self.assertEqual(r.status, 409)
        r = self.srv.request("POST", path, {"scoreType": "uncertainty_entropy", "scores": scores[:9]}, self.worker)
        self.assertEqual(r.status, 400)
        r = self.srv.request("POST", path, {"scoreType": "uncertainty_entropy", "scores": ["a"] * 10}, self.worker)
        self.assertEqual(r.status, 400)
        # Lightly's list (TagActiveLearningScoresData) and one list by its id (ActiveLearningScoreData)
        listed = self.u("GET", path)
        self.assertEqual([(sorted(x), x["id"], x["tagId"], x["scoreType"]) for x in listed],
                         [(["createdAt", "id", "scoreType", "tagId"], score_id, cid, "uncertainty_margin")])
        got = self.u("GET", path + "/" + score_id)
        self.assertEqual(sorted(got), ["createdAt", "id", "scoreType", "scores", "tagId"])
        self.assertEqual((got["scores"], got["scoreType"]), (scores, "uncertainty_margin"))
        self.assertEqual(self.srv.request("GET", path + "/" + "0" * 24, token=self.user).status, 404)
        # ... not by type there (an id is required: 400); winnow's route finds it by type
        self.assertEqual(self.srv.request("GET", path + "/uncertainty_margin", token=self.user).status, 400)
        wpath = "/v1/winnow/datasets/%s/tags/%s/scores" % (ds, cid)
        self.assertEqual(self.u("GET", wpath + "/uncertainty_margin"), got)
        self.assertEqual(self.srv.request("GET", wpath + "/nope", token=self.user).status, 404)
        # A V4 plan's lists are "<task>:<score>" (Lightly's pattern, '/' left out); others are 400.
        plan_type = "my-task:uncertainty_entropy"
        r = self.srv.request("POST", path, {"scoreType": plan_type, "scores": scores}, self.worker)
        self.assertEqual(r.status, 201, r.json)
        self.assertEqual(self.u("GET", wpath + "/" + plan_type)["scores"], scores)
        self.assertEqual(self.u("GET", path + "/" + r.json["id"])["scoreType"], plan_type)
        for bad in ("a/b", "a b", "", "x" * 129, "caf\u00e9"):
            r = self.srv.request("POST", path, {"scoreType": bad, "scores": scores}, self.worker)
            self.assertEqual(r.status, 400, bad)
        r = self.srv.request("POST", path, {"scoreType": "x" * 128, "scores": scores}, self.worker)
        self.assertEqual(r.status, 201)

    def test_initial_tag_and_run_tags(self):
        """POST .../tags/initial: every sample, 201 {id} again for a repeat; strict body
        (Lightly's InitialTagCreateRequest); GET /v1/docker/runs/{runId}/tags newest first."""
        ds = self.dataset()
        self.hold(ds)       # SPEC 8: a worker writes only to datasets of runs it holds
        self.srv.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": "i%d.jpg" % i} for i in range(5)], self.worker, 200)
        path = "/v1/datasets/%s/tags/initial" % ds
        r = self.srv.request("POST", path, {"creator": "USER_WORKER", "imgType": "full"}, self.worker)
        self.assertEqual(r.status, 201, r)
        init = r.json["id"]
        r = self.srv.request("POST", path, {"name": "initial-tag", "imgType": "full"}, self.user)
        self.assertEqual((r.status, r.json), (201, {"id": init}))
        t = self.u("GET", "/v1/datasets/%s/tags/%s" % (ds, init))
        self.assertEqual((t["name"], t["bitMaskData"], t["totSize"], t["prevTagId"]), ("initial-tag", "0x1f", 5, None))
        for bad, field in (({"imgType": "thumbnail"}, "imgType"), ({}, "imgType"), ({"imgType": "FULL"}, "imgType"),
                           ({"imgType": "full", "name": "x"}, "name"), ({"imgType": "full", "color": 1}, "color"),
                           ({"imgType": "full", "runId": "zz"}, "runId"), ({"imgType": "full", "runId": "0" * 24}, "runId")):
            r = self.srv.request("POST", path, bad, self.worker)
            self.assertEqual(r.status, 400, bad)
            self.assertIn(field, r.json["error"], bad)
        self.assertEqual(self.srv.request("POST", "/v1/datasets/%s/tags/initial" % ("0" * 24), {"imgType": "full"},
                                          self.worker).status, 404)
        # a run's tags, newest first
        cfg = self.config()
        sched = self.schedule(ds, cfg)
        wid = self.register("tagger")
        self.assertEqual(self.claim(ds, wid, sched).status, 200)
        rid = self.w("POST", "/v1/docker/runs", {"dockerVersion": "t", "datasetId": ds, "scheduledId": sched, "configId": cfg}, 201)["id"]
        self.assertEqual(self.u("GET", "/v1/docker/runs/%s/tags" % rid), [])
        for name, prev in (("run-3-candidates", init), ("run-3", None)):
            body = {"name": name, "prevTagId": prev, "bitMaskData": "0x3", "totSize": 5, "runId": rid}
            self.w("POST", "/v1/datasets/%s/tags" % ds, body, 201)
        self.assertEqual([x["name"] for x in self.u("GET", "/v1/docker/runs/%s/tags" % rid)], ["run-3", "run-3-candidates"])
        self.assertEqual(self.srv.request("GET", "/v1/docker/runs/%s/tags" % ("0" * 24), token=self.user).status, 404)

    def test_runs_by_dataset_paged(self):
        """GET /v1/docker/runs/query/datasetId/{id} and GET /v1/docker/runs: newest first,
        pages of pageSize from item pageOffset that end; an unknown dataset 404."""
        ds, other = self.dataset("runs-paged"), self.dataset("runs-other")
        cfg = self.config()
        wid = self.register("pager")
        rids = []
        for _ in range(3):
            sid = self.schedule(ds, cfg)
            self.assertEqual(self.claim(ds, wid, sid).status, 200)
            rids.append(self.w("POST", "/v1/docker/runs", {"dockerVersion": "t", "datasetId": ds, "scheduledId": sid,
                                                           "configId": cfg}, 201)["id"])
            self.assertEqual(self.claim(ds, wid, sid, "DONE").status, 200)
        q = "/v1/docker/runs/query/datasetId/%s" % ds
        self.assertEqual([x["id"] for x in self.u("GET", q)], rids[::-1])
        self.assertEqual([x["id"] for x in self.u("GET", q + "?pageSize=2&pageOffset=0")], rids[::-1][:2])
        self.assertEqual([x["id"] for x in self.u("GET", q + "?pageSize=2&pageOffset=2")], rids[:1])
        self.assertEqual(self.u("GET", q + "?pageSize=2&pageOffset=3"), [])
        self.assertEqual(self.u("GET", "/v1/docker/runs/query/datasetId/%s" % other), [])
        self.assertEqual(self.srv.request("GET", "/v1/docker/runs/query/datasetId/%s" % ("0" * 24), token=self.user).status, 404)
        self.assertEqual(len(self.u("GET", "/v1/docker/runs?pageSize=1")), 1)
        self.assertEqual([x["id"] for x in self.u("GET", "/v1/docker/runs?datasetId=%s&pageSize=1&pageOffset=1" % ds)], [rids[1]])
        self.assertEqual(self.srv.request("GET", q + "?pageOffset=-2", token=self.user).status, 400)

    def test_datapool(self):
        ds = self.dataset()
        self.hold(ds)       # SPEC 8: a worker writes only to datasets of runs it holds
        p = "/v1/winnow/datasets/%s/datapools/pool-1" % ds
        self.assertEqual(self.w("GET", p)["fileNames"], [])
        r = self.w("PUT", p, {"fileNames": ["a.jpg", "b.jpg"]})
        self.assertEqual(r["added"], 2)
        r = self.w("PUT", p, {"fileNames": ["b.jpg", "c.jpg"]})
        self.assertEqual(r["added"], 1)
        self.assertEqual(self.w("GET", p)["fileNames"], ["a.jpg", "b.jpg", "c.jpg"])
        self.assertEqual(self.srv.request("GET", "/v1/winnow/datasets/%s/datapools/.hidden" % ds, token=self.worker).status, 400)

    def test_artifacts(self):
        ds = self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        self.assertEqual(self.claim(ds, self.register("runner-1"), sid).status, 200)   # SPEC 8: only its holder creates the run
        rid = self.w("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid, "configId": cfg}, 201)["id"]
        r = self.srv.request("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "report.json", "type": "REPORT_JSON"}, self.worker)
        self.assertEqual(r.status, 201)
        a = r.json
        self.assertEqual(set(a), {"signedWriteUrl", "artifactId"})
        r2 = self.srv.request("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "report.json", "type": "REPORT_JSON"}, self.worker)
        self.assertEqual((r2.status, r2.json), (201, a))
        r3 = self.srv.request("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "report.json", "type": "LOG"}, self.worker)
        self.assertEqual(r3.status, 409)
        url = urllib.parse.urlsplit(a["signedWriteUrl"])
        self.assertEqual(url.netloc, "127.0.0.1:%d" % self.srv.port)
        self.assertEqual(url.path, "/v1/winnow/artifacts/%s/content" % a["artifactId"])
        content = json.dumps({"version": "x", "counts": {"selected": 3}}).encode()
        self.assertEqual(self.srv.request("PUT", url.path, raw=content).status, 401)
        self.assertEqual(self.srv.request("PUT", url.path + "?sig=" + "0" * 64, raw=content).status, 401)
        up = self.srv.request("PUT", url.path + "?" + url.query, raw=content)
        self.assertEqual((up.status, up.json), (200, {"artifactId": a["artifactId"], "size": len(content)}))
        lst = self.u("GET", "/v1/winnow/runs/%s" % rid)["artifacts"]
        self.assertEqual([(x["fileName"], x["type"], x["uploaded"], x["size"]) for x in lst],
                         [("report.json", "REPORT_JSON", True, len(content))])
        d = self.srv.request("GET", "/v1/winnow/runs/%s/artifacts/%s/content" % (rid, a["artifactId"]), token=self.user)
        self.assertEqual((d.status, d.body), (200, content))
        self.assertEqual(d.header("Content-Type"), "application/json")
        # the upload's path of before (issue 14) still takes a URL issued before the move, for
        # uploads only; the listing, content and results have no path outside /v1/winnow/
        old = "/v1/artifacts/%s/content?%s" % (a["artifactId"], url.query)
        up = self.srv.request("PUT", old, raw=content)
        self.assertEqual((up.status, up.json), (200, {"artifactId": a["artifactId"], "size": len(content)}))
        self.assertEqual(self.srv.request("PUT", "/v1/artifacts/%s/content" % a["artifactId"], raw=content).status, 401)
        for path, status in (("/v1/docker/runs/%s/artifacts" % rid, 405),
                             ("/v1/docker/runs/%s/artifacts/%s/content" % (rid, a["artifactId"]), 404),
                             ("/v1/docker/runs/%s/results" % rid, 404)):
            self.assertEqual(self.srv.request("GET", path, token=self.user).status, status, path)
        arts = self.u("GET", "/v1/docker/runs/%s" % rid)["artifacts"]
        self.assertEqual([(x["id"], set(x)) for x in arts], [(a["artifactId"], ARTIFACT_FIELDS)])
        # Lightly's end of an upload
        conf = "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (rid, a["artifactId"])
        self.assertEqual(self.srv.request("PUT", conf, None, self.worker).status, 200)
        self.assertEqual(self.srv.request("PUT", conf, None, self.user).status, 403)
        self.assertEqual(self.srv.request("PUT", "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (rid, "0" * 24), None,
                                          self.worker).status, 404)
        # winnow's own files: only on winnow's route, and only winnow's types there
        r = self.srv.request("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "scores.csv", "type": "SCORES_CSV"}, self.worker)
        self.assertEqual(r.status, 400)
        self.assertIn("type", r.json["error"])
        files = "/v1/winnow/runs/%s/files" % rid
        self.assertEqual(self.srv.request("POST", files, {"fileName": "log.txt", "type": "LOG"}, self.worker).status, 400)
        f = self.srv.request("POST", files, {"fileName": "scores.csv", "type": "SCORES_CSV"}, self.worker)
        self.assertEqual((f.status, set(f.json)), (201, {"signedWriteUrl", "artifactId"}))
        self.assertEqual(self.srv.request("POST", files, {"fileName": "scores.csv", "type": "SCORES_CSV"}, self.worker).json, f.json)
        u = urllib.parse.urlsplit(f.json["signedWriteUrl"])
        self.assertEqual(self.srv.request("PUT", u.path + "?" + u.query, raw=b"filename,score\na.jpg,1\n").status, 200)
        got = self.u("GET", files)
        self.assertEqual([(x["id"], x["fileName"], x["type"], x["uploaded"], x["size"]) for x in got],
                         [(f.json["artifactId"], "scores.csv", "SCORES_CSV", True, 23)])
        d = self.srv.request("GET", "%s/%s/content" % (files, f.json["artifactId"]), token=self.user)
        self.assertEqual((d.status, d.body), (200, b"filename,score\na.jpg,1\n"))
        # a run file is no Lightly artifact to confirm
        self.assertEqual(self.srv.request("PUT", "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (rid, f.json["artifactId"]),
                                          None, self.worker).status, 404)
        self.assertEqual(self.srv.request("GET", "/v1/winnow/runs/%s/files" % ("0" * 24), token=self.user).status, 404)


class TestScheduling(Base):
    def setUp(self):
        # Poll order is global: each test here gets its own server and database.
        self.srv = webtest.Server()
        self.user = self.srv.token("u", "user")
        self.worker = self.srv.token("w", "worker")
        self.srv.start()

    def tearDown(self):
        self.srv.stop()

    def test_poll_order_and_runs_on(self):
        ds = self.dataset()
        cfg = self.config()
        ids = {}
        for name, prio, runs_on in [("low", "LOW", None), ("mid1", "MID", []), ("crit", "CRITICAL", None),
                                    ("gpu", "CRITICAL", ["gpu"]), ("high", "HIGH", None), ("mid2", "MID", None),
                                    ("gpu-fast", "HIGH", ["gpu", "fast"])]:
            ids[self.schedule(ds, cfg, prio, runs_on)] = name
            time.sleep(0.002)
        plain = self.register("plain")
        gpu = self.register("gpu-worker", ["gpu"])
        both = self.register("both", ["fast", "gpu", "x"])
        order = lambda wid: [ids[x["id"]] for x in self.w("GET", "/v1/docker/worker/%s/schedule?state=OPEN" % wid)]
        self.assertEqual(order(plain), ["crit", "high", "mid1", "mid2", "low"])
        self.assertEqual(order(gpu), ["crit", "gpu", "high", "mid1", "mid2", "low"])
        self.assertEqual(order(both), ["crit", "gpu", "high", "gpu-fast", "mid1", "mid2", "low"])
        first = self.w("GET", "/v1/docker/worker/%s/schedule?state=OPEN" % plain)[0]
        self.assertEqual(set(first), SCHED_FIELDS)      # Lightly's DockerRunScheduledData exactly
        # a worker without the labels cannot claim it either
        gpu_id = [k for k, v in ids.items() if v == "gpu"][0]
        self.assertEqual(self.claim(ds, plain, gpu_id).status, 409)
        self.assertEqual(self.claim(ds, gpu, gpu_id).status, 200)
        self.assertNotIn("gpu", order(both))
        self.assertEqual([x["id"] for x in self.w("GET", "/v1/docker/worker/%s/schedule?state=LOCKED" % gpu)], [gpu_id])
        self.assertEqual(self.srv.request("GET", "/v1/docker/worker/%s/schedule?state=DONE" % gpu, token=self.tok_for(gpu)).status, 400)
        # SPEC 8: a worker token polls as its own worker only
        self.assertEqual(self.srv.request("GET", "/v1/docker/worker/%s/schedule" % gpu, token=self.tok_for(plain)).status, 403)
        lst = self.u("GET", "/v1/datasets/%s/docker/worker/schedule" % ds)
        self.assertEqual(len(lst), 7)       # 6 OPEN, 1 LOCKED: not finished

    def poll_in_thread(self, wid, wait):
        """GET ?wait= on a thread; returns (thread, result dict: status, ids, seconds)."""
        res = {}

        def go():
            t0 = time.monotonic()
            r = self.srv.request("GET", "/v1/docker/worker/%s/schedule?state=OPEN&wait=%s" % (wid, wait),
                                 token=self.worker, timeout=90)
            res.update(status=r.status, ids=[x["id"] for x in r.json] if r.status == 200 else None,
                       seconds=time.monotonic() - t0)
        th = threading.Thread(target=go)
        th.start()
        return th, res

    def test_long_poll(self):
        ds, cfg = self.dataset(), self.config()
        plain = self.register("plain")
        # nothing OPEN: the answer waits, then comes back empty
        t0 = time.monotonic()
        self.assertEqual(self.w("GET", "/v1/docker/worker/%s/schedule?state=OPEN&wait=1" % plain), [])
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        # a run scheduled while a poll waits: that poll answers with it, long before its wait ends
        th, res = self.poll_in_thread(plain, 40)
        time.sleep(0.5)
        sid = self.schedule(ds, cfg)
        th.join(30)
        self.assertFalse(th.is_alive(), "the waiting poll did not wake up")
        self.assertEqual((res["status"], res["ids"]), (200, [sid]))
        self.assertLess(res["seconds"], 30)
        # an OPEN run answers at once, wait or not
        self.assertEqual([x["id"] for x in self.w("GET", "/v1/docker/worker/%s/schedule?state=OPEN&wait=40" % plain)],
                         [sid])
        self.assertEqual(self.claim(ds, plain, sid).status, 200)
        # a run for labels the worker lacks does not end its wait
        th, res = self.poll_in_thread(plain, 1.5)
        time.sleep(0.3)
        self.schedule(ds, cfg, runs_on=["gpu"])
        th.join(30)
        self.assertEqual((res["status"], res["ids"]), (200, []))
        self.assertGreaterEqual(res["seconds"], 1.4)
        # LOCKED answers at once (wait applies to OPEN only)
        t0 = time.monotonic()
        self.assertEqual([x["id"] for x in self.w("GET", "/v1/docker/worker/%s/schedule?state=LOCKED&wait=40" % plain)],
                         [sid])
        self.assertLess(time.monotonic() - t0, 30)
        for bad in ("abc", "-1", "61", "1e400", "nan", ""):
            r = self.srv.request("GET", "/v1/docker/worker/%s/schedule?state=OPEN&wait=%s" % (plain, bad),
                                 token=self.worker)
            self.assertEqual(r.status, 400, bad)
            self.assertIn("wait must be", r.body.decode())

    def test_stop_ends_waiting_polls(self):
        plain = self.register("plain")
        th, res = self.poll_in_thread(plain, 60)
        time.sleep(0.5)
        t0 = time.monotonic()
        self.srv.stop()
        stopped = time.monotonic() - t0
        th.join(30)
        self.assertFalse(th.is_alive())
        self.assertLess(stopped, 15, "the server waited for the poll's wait to end")
        self.srv.start()

    def test_claim(self):
        ds = self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        a, b = self.register("worker-a"), self.register("worker-b")
        r = self.claim(ds, a, sid)
        self.assertEqual(r.status, 200)
        self.assertEqual((r.json["state"], set(r.json)), ("LOCKED", SCHED_FIELDS))
        held = [x for x in self.u("GET", "/v1/winnow/datasets/%s/schedule" % ds) if x["id"] == sid]
        self.assertEqual([(x["state"], x["workerId"]) for x in held], [("LOCKED", a)])
        self.assertEqual(self.claim(ds, b, sid).status, 409)
        self.assertEqual(self.claim(ds, a, sid).status, 200)   # the holder again
        self.assertEqual(self.w("GET", "/v1/docker/worker/%s/schedule?state=OPEN" % b), [])
        self.assertEqual(self.claim(ds, b, sid, "DONE").status, 409)
        r = self.claim(ds, a, sid, "DONE")
        self.assertEqual((r.status, r.json["state"]), (200, "DONE"))
        self.assertEqual(self.claim(ds, a, sid, "DONE").status, 200)
        self.assertEqual(self.claim(ds, a, sid).status, 409)
        other = self.dataset("other")
        self.assertEqual(self.claim(other, a, sid).status, 404)
        self.assertEqual(self.claim(ds, a, sid, "OPEN").status, 400)

    def test_delete_worker(self):
        """DELETE /v1/docker/worker/{id}: 204, then 404; 409 while it holds a LOCKED run;
        a user token may register (Lightly's register_compute_worker)."""
        r = self.srv.request("POST", "/v1/docker/worker", {"name": "user-made", "workerType": "FULL", "labels": ["x"],
                                                           "creator": "USER_PIP"}, self.user)
        self.assertEqual(r.status, 201, r)
        wid = r.json["id"]
        r = self.srv.request("DELETE", "/v1/docker/worker/%s" % wid, token=self.user)
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.srv.request("GET", "/v1/docker/worker/%s" % wid, token=self.user).status, 404)
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % wid, token=self.user).status, 404)
        self.assertNotIn(wid, [x["id"] for x in self.u("GET", "/v1/winnow/workers")])
        ds, cfg = self.dataset(), self.config()
        sid = self.schedule(ds, cfg)
        holder = self.register("holder")
        self.assertEqual(self.claim(ds, holder, sid).status, 200)
        # SPEC 8: only its owner (here the worker token that registered it) or an admin deletes a worker
        admin = self.srv.token("the-admin", "admin")
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % holder, token=self.user).status, 403)
        r = self.srv.request("DELETE", "/v1/docker/worker/%s" % holder, token=admin)
        self.assertEqual((r.status, r.json["code"]), (409, "CONFLICT"))
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % holder, token=self.worker).status, 403)
        self.assertEqual(self.claim(ds, holder, sid, "DONE").status, 200)
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % holder, token=admin).status, 204)

    def test_claim_race(self):
        ds = self.dataset()
        cfg = self.config()
        workers = [self.register("racer-%d" % i) for i in range(8)]
        for round_ in range(5):
            sid = self.schedule(ds, cfg)
            results = [None] * len(workers)
            barrier = threading.Barrier(len(workers))

            def go(i):
                barrier.wait()
                results[i] = self.claim(ds, workers[i], sid).status

            threads = [threading.Thread(target=go, args=(i,)) for i in range(len(workers))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sorted(results), [200] + [409] * (len(workers) - 1), results)
            holder = workers[results.index(200)]
            self.assertEqual(self.w("GET", "/v1/docker/worker/%s/schedule?state=LOCKED" % holder)[-1]["id"], sid)

    def test_cancel_open_only(self):
        ds = self.dataset()
        cfg = self.config()
        s1, s2 = self.schedule(ds, cfg), self.schedule(ds, cfg)
        # Lightly's cancel_scheduled_docker_run_state_by_id: PUT without a body, 204
        cancel = lambda s: self.srv.request("PUT", "/v1/datasets/%s/docker/worker/schedule/%s" % (ds, s), token=self.user)   # noqa: E731
        r = cancel(s1)
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual([x["state"] for x in self.u("GET", "/v1/winnow/datasets/%s/schedule" % ds) if x["id"] == s1], ["CANCELED"])
        self.assertEqual(cancel(s1).status, 409)
        self.assertEqual(self.srv.request("PUT", "/v1/datasets/%s/docker/worker/schedule/%s" % (ds, "0" * 24), token=self.user).status, 404)
        wid = self.register("claimer")
        self.assertEqual(self.claim(ds, wid, s1).status, 409)  # canceled: not claimable
        self.assertEqual(self.claim(ds, wid, s2).status, 200)
        self.assertEqual(cancel(s2).status, 409)
        self.assertEqual(self.w("GET", "/v1/docker/worker/%s/schedule" % wid), [])

    def test_worker_goes_offline(self):
        self.srv.stop()
        self.srv.extra = ["--worker-timeout", "1"]
        self.srv.start()
        wid = self.register("sleepy")
        self.assertEqual(self.u("GET", "/v1/docker/worker/%s" % wid)["state"], "IDLE")
        time.sleep(2.2)
        self.assertEqual(self.u("GET", "/v1/docker/worker/%s" % wid)["state"], "OFFLINE")
        self.w("PUT", "/v1/docker/worker/%s" % wid, {"state": "IDLE"})
        self.assertEqual(self.u("GET", "/v1/docker/worker/%s" % wid)["state"], "IDLE")


class TestDatasets(Base):
    def test_find_by_name_and_paging(self):
        """Lightly's name query: exact, or by prefix; shared=True finds nothing
        (one workspace); pages of GET /v1/datasets end; bad booleans 400."""
        a = self.dataset("query-alpha")
        b = self.dataset("query-alpha-2")
        q = "/v1/datasets/query/name/%s?shared=%s&exact=%s"
        self.assertEqual([d["id"] for d in self.u("GET", q % ("query-alpha", "False", "True"))], [a])
        self.assertEqual([d["id"] for d in self.u("GET", q % ("query-alpha", "False", "False"))], [b, a])
        self.assertEqual([d["id"] for d in self.u("GET", "/v1/datasets/query/name/query-alph")], [b, a])
        self.assertEqual(self.u("GET", q % ("query-alph", "False", "True")), [])
        self.assertEqual(self.u("GET", q % ("query-alpha", "True", "True")), [])
        self.assertEqual(self.u("GET", "/v1/datasets/query/name/query%25"), [])   # no LIKE wildcards
        self.assertEqual([d["id"] for d in self.u("GET", q % ("query-alpha", "False", "False") + "&pageSize=1&pageOffset=1")], [a])
        every = [d["id"] for d in self.u("GET", "/v1/datasets")]
        pages = []
        for k in range(len(every) + 1):
            page = self.u("GET", "/v1/datasets?shared=False&pageSize=1&pageOffset=%d" % k)
            pages += [d["id"] for d in page]
        self.assertEqual(pages, every)
        self.assertEqual(page, [])
        for bad in ("?shared=yes", "?shared=", "?pageSize=0"):
            r = self.srv.request("GET", "/v1/datasets" + bad, token=self.user)
            self.assertEqual(r.status, 400, bad)
        r = self.srv.request("GET", "/v1/datasets/query/name/x?exact=1", token=self.user)
        self.assertEqual(r.status, 400)
        self.assertIn("exact", r.json["error"])

    def test_dataset_fields(self):
        ds = self.dataset("my data")
        d = self.u("GET", "/v1/datasets/%s" % ds)
        self.assertTrue(DATASET_FIELDS <= set(d), d)
        self.assertEqual((d["name"], d["type"], d["nSamples"]), ("my data", "Images", 0))
        self.assertEqual(d["userId"], self.u("GET", "/v1/winnow/me")["userId"])
        self.assertIn(ds, [x["id"] for x in self.u("GET", "/v1/datasets")])
        self.assertEqual(self.srv.request("GET", "/v1/datasets/%s" % ds, token=self.worker).status, 404)
        self.hold(ds)       # SPEC 8: a worker sees the datasets of the runs it holds
        self.assertEqual(self.w("GET", "/v1/datasets/%s" % ds)["id"], ds)

    def test_local_datasource_root(self):
        """A LOCAL fullPath: absolute under a --dataset-root, or relative to one (Lightly's
        form); stored as given, resolved at each use; `..` and links out of the root refused."""
        ds = self.dataset()
        p = "/v1/datasets/%s/datasource" % ds
        self.hold(ds)
        self.assertEqual(self.srv.request("GET", p, token=self.worker).status, 404)
        r = self.u("PUT", p, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.data}, 200)
        self.assertEqual((r["type"], r["purpose"], r["fullPath"]), ("LOCAL", "INPUT_OUTPUT", self.data))
        self.assertEqual(self.w("GET", p)["fullPath"], self.data)
        link = os.path.join(self.root, "escape-link")
        if not os.path.lexists(link):
            os.symlink(self.outside, link)
        for bad in (self.outside, self.root + "/../outside", "/etc", os.path.join(self.root, "missing"),
                    "relative/path", "../outside", "ds1/../../outside", "escape-link", link):
            r = self.srv.request("PUT", p, {"type": "LOCAL", "purpose": "INPUT", "fullPath": bad}, self.user)
            self.assertEqual((r.status, r.json["code"]), (400, "BAD_REQUEST"), bad)
            self.assertIn("fullPath", r.json["error"], bad)
        self.assertIn("leaves its dataset root", self.srv.request(
            "PUT", p, {"type": "LOCAL", "purpose": "INPUT", "fullPath": "escape-link"}, self.user).json["error"])
        self.assertEqual(self.w("GET", p)["fullPath"], self.data)
        # relative: resolved under the root, used by the server (the thumbnails read it)
        self.u("PUT", p, {"type": "LOCAL", "purpose": "INPUT", "fullPath": "ds1/"}, 200)
        self.assertEqual(self.u("GET", p + "?purpose=INPUT")["fullPath"], "ds1/")
        r = self.srv.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail?fileName=big.jpg" % ds, token=self.user)
        self.assertEqual(r.status, 200, r)

    def test_purposes(self):
        """One datasource per purpose; INPUT_OUTPUT serves both; a GET without purpose is Lightly's
        INPUT_OUTPUT default (else the one set); /all lists them."""
        ds = self.dataset()
        p = "/v1/datasets/%s/datasource" % ds
        self.assertEqual(self.u("GET", p + "/all"), [])
        self.u("PUT", p, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": "ds1"}, 200)
        for q in ("INPUT", "LIGHTLY", "INPUT_OUTPUT"):
            self.assertEqual(self.u("GET", p + "?purpose=" + q)["purpose"], "INPUT_OUTPUT", q)
        # INPUT beside INPUT_OUTPUT: the old one keeps serving LIGHTLY
        self.u("PUT", p, {"type": "S3", "purpose": "INPUT", "fullPath": "s3://b/in", "s3Region": "eu-west-1",
                          "s3AccessKeyId": "K", "s3SecretAccessKey": "S"}, 200)
        got = [(x["purpose"], x["type"], x["fullPath"]) for x in self.u("GET", p + "/all")]
        self.assertEqual(got, [("INPUT", "S3", "s3://b/in"), ("LIGHTLY", "LOCAL", "ds1")])
        self.assertEqual(self.u("GET", p + "?purpose=INPUT")["type"], "S3")
        self.assertEqual(self.u("GET", p + "?purpose=LIGHTLY")["type"], "LOCAL")
        self.assertEqual(self.u("GET", p)["purpose"], "INPUT")
        # winnow's route answers the INPUT one by default, with its endpoint (null: AWS)
        w = self.u("GET", "/v1/winnow/datasets/%s/datasource" % ds)
        self.assertEqual((w["purpose"], w["s3Endpoint"], w["s3SecretAccessKey"]), ("INPUT", None, "********"))
        # ... and, for winnowd, the LIGHTLY one that reads .lightly/ apart from the images
        self.assertEqual((w["lightly"]["purpose"], w["lightly"]["type"], w["lightly"]["fullPath"]), ("LIGHTLY", "LOCAL", "ds1"))
        self.assertEqual(self.u("GET", "/v1/winnow/datasets/%s/datasource?purpose=LIGHTLY" % ds)["type"], "LOCAL")
        # the tasks come from LIGHTLY's .lightly/ (the folder: 200, not the unreachable bucket's 409)
        self.assertEqual(self.srv.request("GET", "/v1/winnow/datasets/%s/tasks" % ds, token=self.user).status, 200)
        # INPUT_OUTPUT replaces both
        self.u("PUT", p, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.data}, 200)
        self.assertEqual([x["purpose"] for x in self.u("GET", p + "/all")], ["INPUT_OUTPUT"])
        self.assertNotIn("lightly", self.u("GET", "/v1/winnow/datasets/%s/datasource" % ds))
        r = self.srv.request("GET", p + "?purpose=OUTPUT", token=self.user)
        self.assertEqual(r.status, 400)
        self.assertEqual(self.srv.request("GET", "/v1/datasets/%s/datasource/all" % ("0" * 24), token=self.user).status, 404)

    def test_s3_secret_masked(self):
        ds = self.dataset()
        p = "/v1/datasets/%s/datasource" % ds
        wp = "/v1/winnow/datasets/%s/datasource" % ds
        body = {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://bucket/prefix",
                "s3Region": "us-east-1", "s3AccessKeyId": "AKIA", "s3SecretAccessKey": "s3cr3t"}
        # Lightly's model has no endpoint: on Lightly's route it is refused, on winnow's it is set
        r = self.srv.request("PUT", p, dict(body, s3Endpoint="http://127.0.0.1:9000"), self.user)
        self.assertEqual(r.status, 400)
        self.assertIn("s3Endpoint", r.json["error"])
        r = self.u("PUT", wp, dict(body, s3Endpoint="http://127.0.0.1:9000"), 200)
        self.assertEqual((r["s3SecretAccessKey"], r["s3Endpoint"]), ("********", "http://127.0.0.1:9000"))
        self.assertEqual(self.u("GET", p)["s3SecretAccessKey"], "********")
        self.assertNotIn("s3Endpoint", self.u("GET", p))
        # a worker reads the secret on winnow's route only while it holds a run of the dataset
        # LOCKED; another worker does not see the dataset at all (SPEC 8)
        _, sid0, _ = self.hold(ds, "secret-other")
        other = self.worker
        self.assertEqual(self.w("GET", wp)["s3SecretAccessKey"], "s3cr3t")
        self.assertEqual(self.claim(ds, self.tok_wid(other), sid0, "DONE", token=other).status, 200)
        self.assertEqual(self.w("GET", wp)["s3SecretAccessKey"], "********")
        self.assertEqual(self.w("GET", p)["s3SecretAccessKey"], "********")
        wid = self.register("secret-reader")
        self.assertEqual(self.srv.request("GET", wp, token=self.worker).status, 404)
        sid = self.schedule(ds, self.config())
        self.assertEqual(self.claim(ds, wid, sid).status, 200)
        got = self.w("GET", wp)
        self.assertEqual((got["type"], got["fullPath"], got["s3Endpoint"], got["s3Region"], got["s3AccessKeyId"],
                          got["s3SecretAccessKey"]),
                         ("S3", "s3://bucket/prefix", "http://127.0.0.1:9000", "us-east-1", "AKIA", "s3cr3t"))
        self.assertEqual(self.w("GET", p)["s3SecretAccessKey"], "********")
        self.assertEqual(self.u("GET", wp)["s3SecretAccessKey"], "********")
        # the pages send the mask back: the secret is kept while endpoint, bucket and key id stay
        self.u("PUT", wp, dict(body, s3Endpoint="http://127.0.0.1:9000", s3Region="eu-west-1",
                               s3SecretAccessKey="********", fullPath="s3://bucket/other"), 200)
        got = self.w("GET", wp)
        self.assertEqual((got["s3Region"], got["s3SecretAccessKey"]), ("eu-west-1", "s3cr3t"))
        # ... and never travels to another endpoint, bucket or key id (SPEC 8)
        for change in ({"s3Endpoint": "http://127.0.0.1:9001"}, {"fullPath": "s3://other-bucket/prefix"},
                       {"s3AccessKeyId": "AKIB"}, {"s3Endpoint": None}):
            b = dict(body, s3Endpoint="http://127.0.0.1:9000", s3SecretAccessKey="********")
            b.update(change)
            r = self.srv.request("PUT", wp, b, self.user)
            self.assertEqual(r.status, 400, change)
            self.assertIn("s3SecretAccessKey", r.json["error"])
        # Lightly's route names no endpoint: the mask there means AWS, not minio
        r = self.srv.request("PUT", p, dict(body, s3SecretAccessKey="********"), self.user)
        self.assertEqual(r.status, 400)
        got = self.w("GET", wp)
        self.assertEqual((got["s3Endpoint"], got["s3SecretAccessKey"]), ("http://127.0.0.1:9000", "s3cr3t"))
        self.assertNotIn(b"s3cr3t", self.srv.request("GET", "/v1/datasets/%s" % ds, token=self.user).body)
        self.assertNotIn(b"s3cr3t", self.srv.request("GET", p + "/all", token=self.worker).body)
        # set on Lightly's route: AWS's endpoint for the region (null on winnow's route)
        self.u("PUT", p, dict(body, s3SecretAccessKey="new"), 200)
        self.assertIsNone(self.w("GET", wp)["s3Endpoint"])

    def test_s3_endpoint_allow_list(self):
        """SPEC 8: a user sets only an endpoint on --s3-endpoint-allow (this server: http://127.0.0.1,
        any port; webtest.py); another host, scheme or a longer host name is 403 naming s3Endpoint."""
        ds = self.dataset()
        wp = "/v1/winnow/datasets/%s/datasource" % ds
        body = {"type": "S3", "purpose": "INPUT", "fullPath": "s3://b/p", "s3Region": "us-east-1",
                "s3AccessKeyId": "K", "s3SecretAccessKey": "S"}
        for ep in ("http://127.0.0.1", "http://127.0.0.1:9000", "http://127.0.0.1:9000/"):
            self.assertEqual(self.u("PUT", wp, dict(body, s3Endpoint=ep))["s3Endpoint"], ep)
        for ep in ("http://169.254.169.254", "https://127.0.0.1:9000", "http://127.0.0.10:9000",
                   "http://127.0.0.1.evil.example:80", "http://localhost:9000"):
            r = self.srv.request("PUT", wp, dict(body, s3Endpoint=ep), self.user)
            self.assertEqual((r.status, r.json["code"]), (403, "FORBIDDEN"), ep)
            self.assertTrue(r.json["error"].startswith("s3Endpoint:"), r.json)
        self.assertEqual(self.u("GET", wp)["s3Endpoint"], "http://127.0.0.1:9000/")
        p = webtest.cli("--listen", "127.0.0.1:1", "--db", os.path.join(self.srv.dir, "x.db"),
                        "--s3-endpoint-allow", "ftp://host", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--s3-endpoint-allow ftp://host", p.stderr)

    def test_tasks(self):
        pred = os.path.join(self.data, ".lightly", "predictions")
        os.makedirs(os.path.join(pred, "cls"), exist_ok=True)
        os.makedirs(os.path.join(pred, "det"), exist_ok=True)
        with open(os.path.join(pred, "tasks.json"), "w") as f:
            json.dump(["cls", "det", "broken"], f)
        with open(os.path.join(pred, "cls", "schema.json"), "w") as f:
            json.dump({"task_type": "classification", "categories": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]}, f)
        with open(os.path.join(pred, "det", "schema.json"), "w") as f:
            json.dump({"task_type": "object-detection", "categories": [{"id": 0, "name": "a"}]}, f)
        ds = self.dataset()
        self.u("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.data}, 200)
        t = self.u("GET", "/v1/winnow/datasets/%s/tasks" % ds)
        self.assertEqual([x["name"] for x in t], ["cls", "det", "broken"])
        self.assertEqual(t[0], {"name": "cls", "taskType": "classification",
                                "scores": ["uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"],
                                "defaultScore": "uncertainty_margin"})
        self.assertEqual(t[1]["scores"][-1], "object_frequency")
        self.assertIsNone(t[2]["taskType"])
        self.assertIn("schema.json", t[2]["error"])


class TestResults(Base):
    def test_results_paging_and_sorting(self):
        rnd = random.Random(7)
        ds = self.dataset()
        self.hold(ds)       # SPEC 8: a worker writes only to datasets of runs it holds
        n = 300
        names = ["f%04d_%s.jpg" % (rnd.randrange(10000), "abcdefgh"[i % 8]) for i in range(n)]
        names = list(dict.fromkeys(names))
        n = len(names)
        for k in range(0, n, 100):
            self.w("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": x} for x in names[k:k + 100]])
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        self.assertEqual(self.claim(ds, self.register("runner-1"), sid).status, 200)   # SPEC 8: only its holder creates the run
        rid = self.w("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid, "configId": cfg}, 201)["id"]
        cand = [i for i in range(n) if i % 7 != 3]           # some samples are not candidates
        sel = set(rnd.sample(cand, 40))
        cid = self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-2-candidates", "prevTagId": None, "bitMaskData": bitmask(cand),
                                                          "totSize": n, "creator": "USER_WORKER", "runId": rid}, 201)["id"]
        self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-2", "prevTagId": cid, "bitMaskData": bitmask(sel),
                                                    "totSize": n, "creator": "SAMPLER_CORAL", "runId": rid}, 201)
        scores = {
            "uncertainty_margin": [round(rnd.random(), 3) for _ in cand],   # rounded: ties happen
            "uncertainty_entropy": [rnd.random() for _ in cand],
        }
        for t, v in scores.items():
            self.w("POST", "/v1/datasets/%s/tags/%s/scores" % (ds, cid), {"scoreType": t, "scores": v}, 201)
        rows = [{"index": i, "fileName": names[i], "selected": i in sel,
                 "scores": {t: scores[t][j] for t in scores}} for j, i in enumerate(cand)]

        def expect(sort, order, selected):
            r = [x for x in rows if selected == "all" or x["selected"] == (selected == "1")]
            desc = order == "desc"
            if sort == "fileName":
                key = lambda x: x["fileName"]
            elif sort == "index":
                key = None
            else:
                key = lambda x: x["scores"][sort]
            if key is None:
                return sorted(r, key=lambda x: x["index"], reverse=desc)
            # ties: ascending index in both orders
            r = sorted(r, key=lambda x: x["index"])
            return sorted(r, key=key, reverse=desc)

        for sort in ("uncertainty_margin", "uncertainty_entropy", "fileName", "index"):
            for order in ("asc", "desc"):
                for selected in ("all", "1", "0"):
                    want = expect(sort, order, selected)
                    got = []
                    offset = 0
                    while True:
                        page = self.u("GET", "/v1/winnow/runs/%s/results?sort=%s&order=%s&selected=%s&offset=%d&limit=37"
                                      % (rid, sort, order, selected, offset))
                        self.assertEqual(page["total"], len(want))
                        if not page["items"]:
                            break
                        got += page["items"]
                        offset += 37
                    self.assertEqual(got, want, (sort, order, selected))
        page = self.u("GET", "/v1/winnow/runs/%s/results" % rid)
        self.assertEqual((page["total"], page["selectedCount"], len(page["items"])), (len(cand), 40, 100))
        self.assertEqual(page["scoreTypes"], sorted(scores))
        for bad in ("sort=nope", "order=up", "selected=2", "offset=-1", "limit=0", "limit=abc"):
            self.assertEqual(self.srv.request("GET", "/v1/winnow/runs/%s/results?%s" % (rid, bad), token=self.user).status, 400, bad)


class TestThumbnails(Base):
    def thumb(self, ds, name):
        return self.srv.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail?fileName=%s" % (ds, urllib.parse.quote(name)), token=self.user)

    def test_thumbnails(self):
        ds = self.dataset()
        self.u("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.data}, 200)
        for name, size in (("big.jpg", (256, 171)), ("sub/tall.png", (28, 256)), ("small.webp", (40, 30))):
            r = self.thumb(ds, name)
            self.assertEqual(r.status, 200, (name, r))
            self.assertEqual(r.header("Content-Type"), "image/jpeg")
            im = Image.open(io.BytesIO(r.body))
            self.assertEqual(im.format, "JPEG")
            self.assertLessEqual(max(im.size), 256)
            self.assertEqual(im.size, size, name)
            again = self.thumb(ds, name)
            self.assertEqual(again.body, r.body)  # from the cache
        cache = self.srv.db + ".thumbs"
        self.assertTrue(any(f.endswith(".jpg") for _, _, fs in os.walk(cache) for f in fs))
        self.assertEqual(self.thumb(ds, "broken.jpg").status, 422)
        self.assertEqual(self.thumb(ds, "missing.jpg").status, 404)
        for bad in ("../outside/secret.jpg", "sub/../../outside/secret.jpg", "/etc/passwd.jpg", "a//b.jpg", "notes.txt"):
            r = self.thumb(ds, bad)
            self.assertEqual(r.status, 400, bad)
            self.assertIn("error", r.json)
        link = os.path.join(self.data, "escape.jpg")
        if not os.path.lexists(link):
            os.symlink(os.path.join(self.outside, "secret.jpg"), link)
        r = self.thumb(ds, "escape.jpg")
        self.assertIn(r.status, (403, 404))
        self.assertEqual(r.header("Content-Type"), "application/json")
        dlink = os.path.join(self.data, "dirlink")
        if not os.path.lexists(dlink):
            os.symlink(self.outside, dlink)
        self.assertIn(self.thumb(ds, "dirlink/secret.jpg").status, (403, 404))
        # an S3 dataset has no thumbnails here
        s3 = self.dataset()
        self.u("PUT", "/v1/winnow/datasets/%s/datasource" % s3, {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://b/p",
                                                                  "s3Endpoint": "http://127.0.0.1:9", "s3Region": "us-east-1",
                                                                  "s3AccessKeyId": "k", "s3SecretAccessKey": "s"}, 200)
        self.assertEqual(self.thumb(s3, "big.jpg").status, 409)


if __name__ == "__main__":
    unittest.main(verbosity=2)
