"""winnow-web's runs and scheduled runs (SPEC 7): Lightly's routes answer
Lightly's models exactly (no winnow field; a run lists only the uploaded
artifacts of Lightly's types), winnow's own views under /v1/winnow/ carry the
extras the pages read (progress, the abort flag, workerId, originScheduledId,
every artifact and run file with its size); the ?state= filters; and the
artifacts' read URLs: absolute, on --public-url, downloaded without a token,
signed and expiring (good, tampered, expired, across a restart, a new key).
"""
import json
import os
import stat
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from webtest import PRESET  # noqa: E402

SCHED_FIELDS = {"id", "datasetId", "userId", "configId", "priority", "runsOn", "state", "createdAt", "lastModifiedAt"}
SCHED_WINNOW_FIELDS = SCHED_FIELDS | {"workerId", "originScheduledId"}
RUN_FIELDS = {"id", "userId", "dockerVersion", "state", "createdAt", "lastModifiedAt", "datasetId",
              "configId", "scheduledId", "message", "artifacts"}
RUN_WINNOW_FIELDS = RUN_FIELDS | {"progress", "abortRequested"}
ARTIFACT_FIELDS = {"id", "type", "fileName", "createdAt"}
ARTIFACT_WINNOW_FIELDS = ARTIFACT_FIELDS | {"uploaded", "size"}


class Base(unittest.TestCase):
    EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server(extra=cls.EXTRA)
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token("w1", "worker")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def u(self, method, path, body=None, status=200):
        return self.srv.ok(method, path, body, self.user, status)

    def w(self, method, path, body=None, status=200):
        return self.srv.ok(method, path, body, self.worker, status)

    def dataset(self, name="runs-ds"):
        return self.u("POST", "/v1/datasets", {"name": name}, 201)["id"]

    def config(self):
        return self.u("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": PRESET, "lightly": {}}}, 201)["id"]

    def schedule(self, ds, cfg):
        return self.u("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, 201)["id"]

    def register(self, name="runner"):
        """name registered by the worker token bound to it (SPEC 8), which the test's worker calls then use."""
        self.worker = self.srv.worker_token(name)
        return self.w("POST", "/v1/docker/worker", {"name": name, "workerType": "FULL", "labels": []}, 201)["id"]

    def claim(self, ds, wid, sid, state="LOCKED"):
        r = self.srv.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid),
                             {"state": state}, self.worker)
        self.assertEqual(r.status, 200, r)

    def new_run(self, ds=None):
        """A LOCKED scheduled run with its run: (dataset, scheduled id, run id)."""
        ds = ds or self.dataset()
        cfg = self.config()
        sid = self.schedule(ds, cfg)
        self.claim(ds, self.register(), sid)
        rid = self.w("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid,
                                                 "configId": cfg}, 201)["id"]
        return ds, sid, rid

    def upload(self, created, content):
        url = urllib.parse.urlsplit(created["signedWriteUrl"])
        # on --public-url (a proxy in front strips its prefix), else on --listen
        path = url.path[len("/base"):] if url.path.startswith("/base/") else url.path
        self.assertEqual(self.srv.request("PUT", path + "?" + url.query, raw=content).status, 200)

    def artifact(self, rid, name, typ, content=None):
        """A Lightly artifact of run rid, uploaded when content is given; its id."""
        a = self.w("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": name, "type": typ}, 201)
        if content is not None:
            self.upload(a, content)
        return a["artifactId"]

    def run_file(self, rid, name, typ, content):
        """One of winnow's own run files: on winnow's route (SPEC 7), else (before
        that route) on the artifacts route with winnow's type."""
        r = self.srv.request("POST", "/v1/winnow/runs/%s/files" % rid, {"fileName": name, "type": typ}, self.worker)
        if r.status in (404, 405):
            r = self.srv.request("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": name, "type": typ},
                                 self.worker)
        self.assertEqual(r.status, 201, r)
        self.upload(r.json, content)
        return r.json["artifactId"]

    def is_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(set(r.json), {"code", "error"}, r)     # Lightly's ApiErrorResponse
        self.assertEqual(r.json["code"], code)
        return r.json["error"]


class TestScheduledRuns(Base):
    def test_state_filters_and_views(self):
        ds = self.dataset("sched-states")
        cfg = self.config()
        wid = self.register("holder")
        s_done = self.schedule(ds, cfg)
        self.claim(ds, wid, s_done)
        self.claim(ds, wid, s_done, "DONE")
        s_cancel = self.schedule(ds, cfg)
        self.u("PUT", "/v1/datasets/%s/docker/worker/schedule/%s" % (ds, s_cancel), None, 204)     # Lightly's cancel
        s_locked = self.schedule(ds, cfg)
        self.claim(ds, wid, s_locked)
        s_open = self.schedule(ds, cfg)

        def ids(query="", winnow=False):
            path = ("/v1/winnow/datasets/%s/schedule" if winnow else "/v1/datasets/%s/docker/worker/schedule") % ds
            got = self.u("GET", path + query)
            for x in got:
                # winnow's list items carry a summary (test_web_runlists.py checks it)
                self.assertEqual(set(x), SCHED_WINNOW_FIELDS | {"summary"} if winnow else SCHED_FIELDS, x)
            return [x["id"] for x in got]

        # Lightly's: without a state the runs not finished (OPEN, LOCKED), newest first
        self.assertEqual(ids(), [s_open, s_locked])
        self.assertEqual(ids("?state=DONE"), [s_done])
        self.assertEqual(ids("?state=CANCELED"), [s_cancel])
        self.assertEqual(ids("?state=OPEN"), [s_open])
        self.assertEqual(ids("?state=LOCKED"), [s_locked])
        self.assertEqual(ids("?states=DONE&states=OPEN"), [s_open, s_done])   # the client's repeated `states`
        for bad in ("?state=open", "?state=BOGUS", "?state=", "?states=DONE&states=NOPE"):
            r = self.srv.request("GET", "/v1/datasets/%s/docker/worker/schedule%s" % (ds, bad), token=self.user)
            self.assertIn("state", self.is_error(r, 400, "BAD_REQUEST"), bad)
        # winnow's: every state by default, who holds each, the origin of a rescheduled one
        self.assertEqual(ids(winnow=True), [s_open, s_locked, s_cancel, s_done])
        self.assertEqual(ids("?state=LOCKED", winnow=True), [s_locked])
        mine = {x["id"]: x for x in self.u("GET", "/v1/winnow/datasets/%s/schedule" % ds)}
        self.assertEqual({k: (x["state"], x["workerId"], x["originScheduledId"]) for k, x in mine.items()},
                         {s_open: ("OPEN", None, None), s_locked: ("LOCKED", wid, None),
                          s_cancel: ("CANCELED", None, None), s_done: ("DONE", wid, None)})
        lightly = {x["id"]: x for x in self.u("GET", "/v1/datasets/%s/docker/worker/schedule?state=LOCKED" % ds)}
        self.assertEqual(lightly[s_locked], {k: v for k, v in mine[s_locked].items() if k in SCHED_FIELDS})
        # the worker's poll: Lightly's model too
        held = self.w("GET", "/v1/docker/worker/%s/schedule?state=LOCKED" % wid)
        self.assertEqual([(x["id"], set(x)) for x in held], [(s_locked, SCHED_FIELDS)])
        for path in ("/v1/datasets/%s/docker/worker/schedule", "/v1/winnow/datasets/%s/schedule"):
            self.is_error(self.srv.request("GET", path % ("0" * 24), token=self.user), 404, "NOT_FOUND")


class TestRuns(Base):
    def test_lightly_and_winnow_views(self):
        ds, sid, rid = self.new_run()
        report = json.dumps({"selected": 2}).encode()
        a_report = self.artifact(rid, "report.json", "REPORT_JSON", report)
        a_log = self.artifact(rid, "log.txt", "LOG")                        # never uploaded
        csv = b"fileName\na.jpg\n"
        a_csv = self.run_file(rid, "selection.csv", "SELECTION_CSV", csv)
        self.w("PUT", "/v1/docker/runs/%s" % rid, {"state": "SAMPLING", "message": "m"})
        self.w("PUT", "/v1/winnow/runs/%s/progress" % rid, {"progress": 0.75})

        # Lightly's: the uploaded artifacts of Lightly's types, as DockerRunArtifactData
        run = self.u("GET", "/v1/docker/runs/%s" % rid)
        self.assertEqual(set(run), RUN_FIELDS)
        self.assertEqual([(a["id"], a["type"], a["fileName"], set(a)) for a in run["artifacts"]],
                         [(a_report, "REPORT_JSON", "report.json", ARTIFACT_FIELDS)])
        self.assertEqual(self.u("GET", "/v1/docker/runs/schedule/%s" % sid), run)
        self.assertEqual([x for x in self.u("GET", "/v1/docker/runs") if x["id"] == rid], [run])
        self.assertEqual(self.u("GET", "/v1/docker/runs/query/datasetId/%s" % ds), [run])
        # winnow's: progress, the abort flag, every file with its size and whether it arrived
        mine = self.u("GET", "/v1/winnow/runs/%s" % rid)
        self.assertEqual(set(mine), RUN_WINNOW_FIELDS)
        self.assertEqual((mine["progress"], mine["abortRequested"]), (0.75, False))
        self.assertEqual(sorted((a["id"], a["type"], a["uploaded"], a["size"], frozenset(a)) for a in mine["artifacts"]),
                         sorted([(a_report, "REPORT_JSON", True, len(report), frozenset(ARTIFACT_WINNOW_FIELDS)),
                                 (a_log, "LOG", False, 0, frozenset(ARTIFACT_WINNOW_FIELDS)),
                                 (a_csv, "SELECTION_CSV", True, len(csv), frozenset(ARTIFACT_WINNOW_FIELDS))]))
        self.assertEqual({k: mine[k] for k in RUN_FIELDS if k != "artifacts"},
                         {k: run[k] for k in RUN_FIELDS if k != "artifacts"})

    def test_winnow_runs_list(self):
        ds = self.dataset("listed")
        _, s1, r1 = self.new_run(ds)
        _, s2, r2 = self.new_run(ds)
        _, _, r3 = self.new_run()           # another dataset
        listed = lambda q: [x["id"] for x in self.u("GET", "/v1/winnow/runs" + q)]     # noqa: E731
        self.assertEqual(listed("?datasetId=%s" % ds), [r2, r1])                # newest first
        self.assertEqual(listed("?scheduledId=%s" % s1), [r1])
        self.assertEqual(listed("?datasetId=%s&scheduledId=%s" % (ds, s2)), [r2])
        self.assertEqual(listed("?scheduledId=%s" % ("0" * 24)), [])
        self.assertEqual(listed("?datasetId=%s&pageSize=1&pageOffset=1" % ds), [r1])
        self.assertEqual(listed("?datasetId=%s&pageSize=1&pageOffset=2" % ds), [])
        self.assertIn(r3, listed(""))
        for x in self.u("GET", "/v1/winnow/runs?datasetId=%s" % ds):
            self.assertEqual(set(x), RUN_WINNOW_FIELDS | {"summary"})
        for bad, code in (("?datasetId=xyz", "MALFORMED_REQUEST"), ("?scheduledId=" + "A" * 24, "MALFORMED_REQUEST"),
                          ("?pageSize=0", "BAD_REQUEST")):
            r = self.srv.request("GET", "/v1/winnow/runs" + bad, token=self.user)
            self.is_error(r, 400, code)


class ReadUrlBase(Base):
    def read_url(self, rid, aid, token=None):
        r = self.srv.request("GET", "/v1/docker/runs/%s/artifacts/%s/readurl" % (rid, aid),
                             token=self.user if token is None else token)
        self.assertEqual(r.status, 200, r)
        # the generated client json-decodes a "str" reply: a JSON string
        self.assertEqual(r.header("Content-Type"), "application/json")
        url = json.loads(r.body.decode())
        self.assertIsInstance(url, str)
        return url

    def fetch(self, url, strip=""):
        """GET a read URL from this server, without a token (strip: the prefix a proxy removes)."""
        p = urllib.parse.urlsplit(url)
        self.assertTrue(p.path.startswith(strip), url)
        return self.srv.request("GET", p.path[len(strip):] + "?" + p.query)


class TestReadUrl(ReadUrlBase):
    def test_good_url_downloads_without_token(self):
        _, _, rid = self.new_run()
        content = b'{"report": true}'
        aid = self.artifact(rid, "report.json", "REPORT_JSON", content)
        url = self.read_url(rid, aid)
        p = urllib.parse.urlsplit(url)
        # no --public-url: the --listen address (never the Host header)
        self.assertEqual((p.scheme, p.netloc), ("http", "127.0.0.1:%d" % self.srv.port))
        self.assertEqual(p.path, "/v1/winnow/runs/%s/artifacts/%s/download" % (rid, aid))
        q = urllib.parse.parse_qs(p.query)
        self.assertEqual(sorted(q), ["expires", "sig"])
        self.assertRegex(q["sig"][0], r"^[0-9a-f]{64}$")
        for _ in range(2):          # usable until it expires
            d = self.fetch(url)
            self.assertEqual((d.status, d.body), (200, content))
            self.assertEqual(d.header("Content-Type"), "application/json")
            self.assertEqual(d.header("Content-Disposition"), 'attachment; filename="report.json"')
        # the read URL route itself needs a user token
        r = self.srv.request("GET", "/v1/docker/runs/%s/artifacts/%s/readurl" % (rid, aid))
        self.assertEqual(r.status, 401)

    def test_tampered_urls_are_refused(self):
        _, _, rid = self.new_run()
        aid = self.artifact(rid, "report.json", "REPORT_JSON", b"{}")
        other = self.artifact(rid, "other.json", "REPORT_JSON", b"[]")
        _, _, rid2 = self.new_run()
        url = self.read_url(rid, aid)
        p = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(p.query))
        sig, exp = q["sig"], q["expires"]
        flip = ("1" if sig[0] == "0" else "0") + sig[1:]
        flip_last = sig[:-1] + ("1" if sig[-1] == "0" else "0")
        bad = {
            "sig changed": (p.path, {"expires": exp, "sig": flip}),
            "sig's last character changed": (p.path, {"expires": exp, "sig": flip_last}),
            "sig upper case": (p.path, {"expires": exp, "sig": sig.upper()}),
            "sig cut": (p.path, {"expires": exp, "sig": sig[:-1]}),
            "expires moved": (p.path, {"expires": str(int(exp) + 1), "sig": sig}),
            "expires padded": (p.path, {"expires": "0" + exp, "sig": sig}),
            "expires signed": (p.path, {"expires": "+" + exp, "sig": sig}),
            "no sig": (p.path, {"expires": exp}),
            "no expires": (p.path, {"sig": sig}),
            "other artifact": (p.path.replace(aid, other), {"expires": exp, "sig": sig}),
            "other run": (p.path.replace(rid, rid2), {"expires": exp, "sig": sig}),
        }
        for what, (path, query) in bad.items():
            r = self.srv.request("GET", path + "?" + urllib.parse.urlencode(query))
            self.assertIn("signature", self.is_error(r, 401, "UNAUTHORIZED"), what)
        self.assertEqual(self.fetch(url).status, 200)      # the untouched URL still works

    def test_unknown_or_missing_artifact(self):
        _, _, rid = self.new_run()
        pending = self.artifact(rid, "log.txt", "LOG")      # created, never uploaded
        _, _, rid2 = self.new_run()
        theirs = self.artifact(rid2, "report.json", "REPORT_JSON", b"{}")
        for run, art in ((rid, pending), (rid, "0" * 24), (rid, theirs), ("0" * 24, theirs)):
            r = self.srv.request("GET", "/v1/docker/runs/%s/artifacts/%s/readurl" % (run, art), token=self.user)
            self.is_error(r, 404, "NOT_FOUND")


class TestReadUrlExpired(ReadUrlBase):
    EXTRA = ("--read-url-ttl", "0")      # every URL has expired when it is given: no sleeping

    def test_expired_url_is_refused(self):
        _, _, rid = self.new_run()
        aid = self.artifact(rid, "report.json", "REPORT_JSON", b"{}")
        url = self.read_url(rid, aid)
        self.assertIn("expired", self.is_error(self.fetch(url), 401, "UNAUTHORIZED"))
        # a forged later expiry is a wrong signature, not a fresh URL
        p = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(p.query))
        q["expires"] = str(int(q["expires"]) + 3600)
        r = self.srv.request("GET", p.path + "?" + urllib.parse.urlencode(q))
        self.assertIn("signature", self.is_error(r, 401, "UNAUTHORIZED"))


class TestReadUrlPublic(ReadUrlBase):
    EXTRA = ("--public-url", "https://winnow.example.org:8443/base/")

    def test_public_url_key_file_and_restart(self):
        _, _, rid = self.new_run()
        aid = self.artifact(rid, "report.json", "REPORT_JSON", b"{}")
        url = self.read_url(rid, aid)
        self.assertTrue(url.startswith("https://winnow.example.org:8443/base/v1/winnow/runs/%s/artifacts/%s/download?"
                                       % (rid, aid)), url)
        self.assertEqual(self.fetch(url, strip="/base").status, 200)
        key = self.srv.db + ".urlkey"
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}\n$")
        # the key is the database's: a restart keeps every URL working
        self.srv.stop()
        self.srv.start()
        self.assertEqual(self.fetch(url, strip="/base").status, 200)
        # a new key (the file deleted) ends every URL given out
        self.srv.stop()
        os.unlink(key)
        self.srv.start()
        self.is_error(self.fetch(url, strip="/base"), 401, "UNAUTHORIZED")
        self.assertEqual(self.fetch(self.read_url(rid, aid), strip="/base").status, 200)

    def test_bad_options_and_key(self):
        def start(*args):
            db = os.path.join(self.srv.dir, "other.db")
            return subprocess.run([webtest.WEB, "--listen", "127.0.0.1:%d" % webtest.free_port(), "--db", db] + list(args),
                                  capture_output=True, text=True, timeout=30)
        for args in (("--public-url", "ftp://host"), ("--public-url", "https://"), ("--public-url", "http://h/?x=1"),
                     ("--public-url", "http://user@h"), ("--read-url-ttl", "-1"), ("--read-url-ttl", "1x"),
                     ("--read-url-ttl", "604801")):
            p = start(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(args[0], p.stderr)
        with open(os.path.join(self.srv.dir, "other.db.urlkey"), "w") as f:
            f.write("not a key\n")
        p = start()
        self.assertEqual(p.returncode, 1)
        self.assertIn("URL key", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
