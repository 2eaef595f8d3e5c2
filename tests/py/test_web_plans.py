"""winnow-web and selection plans (SPEC 2.1, 4.8): V4 configs stored through
POST /v1/docker/worker/config/vX, the plan the validate route answers for
either form, score lists named <task>:<score>, and the results route's
selection.csv columns (each plan entry's objective per selected sample):
their values, the sort by them, and a hostile selection.csv (every malformed
file a clear message with its line; the results stay usable, the sort by its
columns answers 422).
"""
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from webtest import ID_RE, bitmask  # noqa: E402

PLAN = {"nSamples": 3, "strategies": [
    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "strength": 1}},
    {"input": {"type": "SCORES", "task": "t1", "score": "uncertainty_margin"}, "strategy": {"type": "WEIGHTS", "strength": 1}},
    {"input": {"type": "PREDICTIONS", "task": "t1", "name": "CLASS_DISTRIBUTION"},
     "strategy": {"type": "BALANCE", "distribution": "TARGET", "target": {"a": 0.5, "b": 0.5}, "strength": 1}},
]}
V4 = {"workerType": "FULL", "docker": {}, "lightly": {}, "selection": PLAN}
CORAL = {"workerType": "FULL", "lightly": {}, "docker": {
    "method": "coral", "stopping_condition": {"n_samples": 0.1, "min_distance": -1},
    "active_learning": {"task_name": "t1", "score_name": "uncertainty_margin"}}}


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
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


class TestConfigs(Base):
    def test_v4_stored_through_vx(self):
        r = self.srv.request("POST", "/v1/docker/worker/config/vX", {"version": "V4", "config": V4, "creator": "USER_PIP"}, self.user)
        self.assertEqual(r.status, 201, r.json)
        cid = r.json["id"]
        self.assertRegex(cid, ID_RE)
        # read back on both routes (the daemon uses the 2.2-era one), as posted
        # a worker reads the configs of the runs it may claim or holds (SPEC 8)
        self.assertEqual(self.srv.request("GET", "/v1/docker/worker/config/%s" % cid, token=self.worker).status, 404)
        self.u("POST", "/v1/datasets/%s/docker/worker/schedule" % self.u("POST", "/v1/datasets", {"name": "vx-ds"}, 201)["id"],
               {"configId": cid}, 201)
        for p in ("/v1/docker/worker/config/vX/%s", "/v1/docker/worker/config/%s"):
            self.assertEqual(self.w("GET", p % cid)["config"], V4)
        # the validate route answers the plan: as written for V4, the fixed plan for a method
        r = self.u("POST", "/v1/winnow/configs/validate", {"version": "V4", "config": V4})
        self.assertEqual(r["errors"], [])
        self.assertEqual([(e["input"]["type"], e["strategy"]["type"]) for e in r["plan"]["strategies"]],
                         [("EMBEDDINGS", "DIVERSITY"), ("SCORES", "WEIGHTS"), ("PREDICTIONS", "BALANCE")])
        self.assertEqual(r["plan"]["nSamples"], 3)
        self.assertNotIn("method", r["plan"])
        r = self.u("POST", "/v1/winnow/configs/validate", {"config": CORAL})
        self.assertEqual(r["plan"], {"method": "coral", "proportionSamples": 0.1, "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "strength": 1}},
            {"input": {"type": "SCORES", "task": "t1", "score": "uncertainty_margin"}, "strategy": {"type": "WEIGHTS", "strength": 1}}]})
        # an invalid config has no plan
        r = self.u("POST", "/v1/winnow/configs/validate", {"config": {"docker": {"method": "nope"}}})
        self.assertIsNone(r["plan"])
        self.assertEqual(r["errors"][0]["path"], "docker.method")

    def test_vx_refusals(self):
        # version: required on vX, "V4" only; the 2.2-era create route ignores it as before
        for body in ({"config": V4}, {"version": "V3", "config": V4}, {"version": 4, "config": V4}):
            r = self.srv.request("POST", "/v1/docker/worker/config/vX", body, self.user)
            self.assertEqual(r.status, 400, body)
            self.assertIn("version", r.json["error"])
        self.assertEqual(self.srv.request("POST", "/v1/docker/worker/config", {"version": "V9", "config": CORAL}, self.user).status, 201)
        # a V4 config without selection (SPEC 2.1), and a plan with errors: every message at its path
        r = self.srv.request("POST", "/v1/docker/worker/config/vX", {"version": "V4", "config": CORAL}, self.user)
        self.assertEqual(r.status, 400)
        self.assertIn("selection: missing", r.json["error"])
        bad = {"workerType": "FULL", "docker": {}, "selection": {"nSamples": 0, "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
            {"input": {"type": "METADATA"}, "strategy": {"type": "WEIGHTS", "strength": "x"}},
            {"input": {"type": "PREDICTIONS", "task": "t1", "name": "CLASS_DISTRIBUTION"}, "strategy": {"type": "BALANCE", "target": {"a": 0.7, "b": 0.6}}},
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "BALANCE", "distribution": "UNIFORM"}}]}}
        r = self.srv.request("POST", "/v1/docker/worker/config/vX", {"version": "V4", "config": bad}, self.user)
        paths = ["selection.nSamples", "selection.strategies[1].input.key", "selection.strategies[1].strategy.strength",
                 "selection.strategies[2].strategy.target", "selection.strategies[3]"]
        self.assertEqual((r.status, r.json["code"]), (400, "DOCKER_WORKER_CONFIG_INVALID"))
        self.assertTrue(r.json["error"].startswith("invalid config (5 errors): "), r.json)
        for path in paths:
            self.assertIn(path + ": ", r.json["error"])
        # the same through validate: 200 with every error at its path, no plan
        r = self.u("POST", "/v1/winnow/configs/validate", {"version": "V4", "config": bad})
        self.assertEqual(sorted(e["path"] for e in r["errors"]), paths)
        self.assertIsNone(r["plan"])

    def test_score_lists_named_task_score(self):
        ds = self.u("POST", "/v1/datasets", {"name": "scored"}, 201)["id"]
        self.worker = self.srv.hold(self.user, ds, "scorer")[0]    # SPEC 8: its worker holds a run there
        self.w("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": "a.jpg"}, {"fileName": "b.jpg"}])
        tag = self.w("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-7-candidates", "prevTagId": None, "bitMaskData": "0x3",
                                                          "totSize": 2, "creator": "USER_WORKER"}, 201)["id"]
        name = "my-classification-task:uncertainty_margin"
        self.w("POST", "/v1/datasets/%s/tags/%s/scores" % (ds, tag), {"scoreType": name, "scores": [0.25, 0.5]}, 201)
        got = self.u("GET", "/v1/winnow/datasets/%s/tags/%s/scores/%s" % (ds, tag, urllib.parse.quote(name, safe="")))
        self.assertEqual((got["scoreType"], got["scores"]), (name, [0.25, 0.5]))
        for bad in ("task/score", "", "x" * 257, "a b"):
            r = self.srv.request("POST", "/v1/datasets/%s/tags/%s/scores" % (ds, tag), {"scoreType": bad, "scores": [0, 0]}, self.worker)
            self.assertEqual(r.status, 400, bad)


class TestSelectionCsv(Base):
    """The results route with a run's SELECTION_CSV artifact, good and hostile."""

    NAMES = ["a.jpg", "b,c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg"]
    HEAD = "rank,filenames,weight,distance,score,DIVERSITY:EMBEDDINGS,WEIGHTS:SCORES:t1:uncertainty_margin"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = lambda m, p, b=None, s=200: cls.srv.ok(m, p, b, cls.worker, s)  # noqa: E731
        u = lambda m, p, b=None, s=200: cls.srv.ok(m, p, b, cls.user, s)  # noqa: E731
        cls.ds = u("POST", "/v1/datasets", {"name": "sel"}, 201)["id"]
        cls.worker = cls.srv.worker_token("sel-worker")     # SPEC 8: the worker holding the run reports it
        wid = w("POST", "/v1/docker/worker", {"name": "sel-worker", "workerType": "FULL"}, 201)["id"]
        cfg = u("POST", "/v1/docker/worker/config/vX", {"version": "V4", "config": V4}, 201)["id"]
        sid = u("POST", "/v1/datasets/%s/docker/worker/schedule" % cls.ds, {"configId": cfg}, 201)["id"]
        w("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (cls.ds, wid, sid), {"state": "LOCKED"})
        w("POST", "/v1/winnow/datasets/%s/samples/batch" % cls.ds, [{"fileName": x} for x in cls.NAMES])
        cls.rid = w("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": cls.ds, "scheduledId": sid, "configId": cfg}, 201)["id"]
        cand = [0, 1, 2, 4, 5]           # e.jpg (index 3) is not a candidate
        cid = w("POST", "/v1/datasets/%s/tags" % cls.ds, {"name": "run-7-candidates", "prevTagId": None, "bitMaskData": bitmask(cand),
                                                          "totSize": 6, "creator": "USER_WORKER", "runId": cls.rid}, 201)["id"]
        w("POST", "/v1/datasets/%s/tags" % cls.ds, {"name": "run-7", "prevTagId": cid, "bitMaskData": bitmask([1, 2, 4]),
                                                    "totSize": 6, "creator": "USER_WORKER", "runId": cls.rid}, 201)
        a = w("POST", "/v1/winnow/runs/%s/files" % cls.rid, {"fileName": "selection.csv", "type": "SELECTION_CSV"}, 201)
        url = urllib.parse.urlsplit(a["signedWriteUrl"])
        cls.upload_path = url.path + "?" + url.query

    def upload(self, text):
        data = text if isinstance(text, bytes) else text.encode()
        self.assertEqual(self.srv.request("PUT", self.upload_path, raw=data).status, 200)

    def results(self, query="", status=200):
        r = self.srv.request("GET", "/v1/winnow/runs/%s/results?limit=100&%s" % (self.rid, query), token=self.user)
        self.assertEqual(r.status, status, r.body[:300])
        return r.json

    def test_columns_values_and_sort(self):
        # the first pick's distance is inf; "b,c.jpg" quoted as RFC 4180 says
        self.upload(self.HEAD + "\n"
                    "1,d.jpg,0.5,inf,0.5,1,0.5\n"
                    '2,"b,c.jpg",0.25,0.75,0.1875,0.75,0.25\n'
                    "3,f.jpg,0.9,0.5,0.45,0.5,0.9\r\n")
        page = self.results("selected=all&sort=index")
        self.assertIsNone(page["selectionError"])
        self.assertEqual(page["selectionColumns"], ["rank", "weight", "distance", "score", "DIVERSITY:EMBEDDINGS",
                                                    "WEIGHTS:SCORES:t1:uncertainty_margin"])
        sel = {it["fileName"]: it.get("selection") for it in page["items"]}
        self.assertEqual(sel["d.jpg"], {"rank": 1, "weight": 0.5, "distance": "inf", "score": 0.5, "DIVERSITY:EMBEDDINGS": 1,
                                        "WEIGHTS:SCORES:t1:uncertainty_margin": 0.5})
        self.assertEqual(sel["b,c.jpg"]["score"], 0.1875)
        self.assertIsNone(sel["g.jpg"], "not in selection.csv: no selection object")
        self.assertIsNone(sel["a.jpg"])
        self.assertNotIn("e.jpg", sel, "not a candidate")
        # sorted by a column: samples without a value (a.jpg, the lowest index, and g.jpg) last
        # in both orders, ties by index
        order = lambda q: [it["fileName"] for it in self.results("selected=all&" + q)["items"]]  # noqa: E731
        self.assertEqual(order("sort=selection:score&order=desc"), ["d.jpg", "f.jpg", "b,c.jpg", "a.jpg", "g.jpg"])
        self.assertEqual(order("sort=selection:score&order=asc"), ["b,c.jpg", "f.jpg", "d.jpg", "a.jpg", "g.jpg"])
        self.assertEqual(order("sort=selection:distance&order=desc"), ["d.jpg", "b,c.jpg", "f.jpg", "a.jpg", "g.jpg"])
        self.assertEqual(order("sort=selection:rank&order=asc"), ["d.jpg", "b,c.jpg", "f.jpg", "a.jpg", "g.jpg"])
        self.assertEqual([it["fileName"] for it in self.results("sort=selection:WEIGHTS:SCORES:t1:uncertainty_margin&order=desc&selected=1")["items"]],
                         ["f.jpg", "d.jpg", "b,c.jpg"])
        r = self.srv.request("GET", "/v1/winnow/runs/%s/results?sort=selection:nope" % self.rid, token=self.user)
        self.assertEqual(r.status, 400)
        self.assertIn("selection:nope", r.json["error"])

    def test_hostile_files(self):
        H = self.HEAD
        cases = [
            (b"", "empty"),
            (b"filenames,rank\n", "does not start with rank,filenames"),
            ((H + "\n1,a.jpg,0.5\n").encode(), "line 2: 3 fields, the header has 7"),
            ((H + "\n1,a.jpg,x,1,1,1,1\n").encode(), 'line 2: field 3 (weight): "x" is not a number'),
            ((H + "\n1,a.jpg,nan,1,1,1,1\n").encode(), 'line 2: field 3 (weight): "nan" is not a number'),
            ((H + "\n0,a.jpg,1,1,1,1,1\n").encode(), 'line 2: field 1 (rank): "0" is not an integer >= 1'),
            ((H + '\n1,"a.jpg,1,1,1,1,1\n').encode(), "a quoted field is not closed"),
            ((H + '\n1,a"b.jpg,1,1,1,1,1\n').encode(), "a quote inside an unquoted field"),
            ((H + "\n1,a.jpg,1,1,1,1,1\n2,a.jpg,1,1,1,1,1\n").encode(), '"a.jpg" is listed twice'),
            ((H + "\n1,e.jpg,1,1,1,1,1\n").encode(), 'line 2: "e.jpg" is not a candidate of this run'),
            ((H + "\n1,zz.jpg,1,1,1,1,1\n").encode(), 'line 2: "zz.jpg" is not a candidate of this run'),
            ((H + "\n1,a\x00.jpg,1,1,1,1,1\n").encode(), "a NUL byte"),
            ((H + "\n1,,1,1,1,1,1\n").encode(), "field 2 (filenames) is empty"),
            ((H + ",score\n").encode(), 'column "score" given twice'),
            (("rank,filenames," + ",".join("c%d" % i for i in range(200)) + "\n").encode(), "more than 129 fields"),
            (("rank,filenames,w\n1," + "a" * 5000 + ",1\n").encode(), "a field longer than 4096 bytes"),
            (b"rank,filenames,w\r1,a.jpg,1\n", "a CR not followed by LF"),
        ]
        for data, msg in cases:
            with self.subTest(msg=msg):
                self.upload(data)
                page = self.results("selected=all")
                self.assertIn(msg, page["selectionError"] or "")
                self.assertTrue(page["selectionError"].startswith("selection.csv: "), page["selectionError"])
                self.assertEqual(page["selectionColumns"], [])
                self.assertTrue(all("selection" not in it for it in page["items"]))
                self.assertEqual(page["total"], 5, "the results stay usable")
                r = self.results("sort=selection:score", status=422)
                self.assertEqual(r["code"], "DOCKER_RUN_ARTIFACT_UNAVAILABLE")
                self.assertIn(msg, r["error"])
        self.assertTrue(self.srv.alive())


if __name__ == "__main__":
    unittest.main()
