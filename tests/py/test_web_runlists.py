"""winnow's run lists (docs/api.md, "Run lists"): GET /v1/winnow/schedule,
GET /v1/winnow/datasets/{id}/schedule and GET /v1/winnow/runs filtered
(state, runState, datasetId, scheduledId, q) and paged in the server, each
item with its summary (dataset name, owner and folder, worker name, method
or plan, k, counts, duration, and on the scheduled lists the run); hostile
values answer 400; another user's runs are never listed.
"""
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from webtest import PRESET  # noqa: E402

V4 = {"workerType": "FULL", "docker": {}, "lightly": {}, "selection": {"proportionSamples": 0.25, "strategies": [
    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    {"input": {"type": "RANDOM"}, "strategy": {"type": "WEIGHTS"}}]}}


class RunLists(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        cls.alice = cls.srv.token("alice", "user")
        cls.bob = cls.srv.token("bob", "user")
        cls.srv.start()
        s = cls.srv
        ok = lambda m, p, b=None, tok=cls.alice, st=None: s.ok(m, p, b, tok, st)     # noqa: E731
        cls.ok = staticmethod(ok)
        # alice: two datasets of one name (told apart by their ids and folders), bob: one
        cls.ds1 = ok("POST", "/v1/datasets", {"name": "twin-name"}, st=201)["id"]
        cls.ds2 = ok("POST", "/v1/datasets", {"name": "twin-name"}, st=201)["id"]
        cls.dsb = ok("POST", "/v1/datasets", {"name": "bobs-data"}, tok=cls.bob, st=201)["id"]
        cfg = ok("POST", "/v1/docker/worker/config", {"config": {"workerType": "FULL", "docker": PRESET, "lightly": {}}}, st=201)["id"]
        cls.cfg_v4 = ok("POST", "/v1/docker/worker/config/vX", {"version": "V4", "config": V4, "creator": "USER_PIP"}, st=201)["id"]
        cfgb = ok("POST", "/v1/docker/worker/config", {"config": {"workerType": "FULL", "docker": PRESET, "lightly": {}}}, tok=cls.bob, st=201)["id"]
        sched = lambda ds, c, tok=cls.alice: ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,  # noqa: E731
                                                {"configId": c}, tok=tok, st=201)["id"]
        cls.s_open = ok("POST", "/v1/datasets/%s/docker/worker/schedule" % cls.ds1,   # stays OPEN
                        {"configId": cfg, "runsOn": ["label-x"]}, st=201)["id"]
        cls.s_fail = sched(cls.ds1, cfg)                 # its run FAILED
        cls.s_v4 = sched(cls.ds2, cls.cfg_v4)            # LOCKED, its run running
        cls.s_bob = sched(cls.dsb, cfgb, cls.bob)
        wt = s.worker_token("runner-7")
        cls.wid = ok("POST", "/v1/docker/worker", {"name": "runner-7", "workerType": "FULL", "labels": []}, tok=wt, st=201)["id"]
        cls.rid = {}
        for ds, sid, c in ((cls.ds1, cls.s_fail, cfg), (cls.ds2, cls.s_v4, cls.cfg_v4)):
            r = s.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, cls.wid, sid), {"state": "LOCKED"}, wt)
            assert r.status == 200, r
            cls.rid[sid] = ok("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": sid,
                                                          "configId": c}, tok=wt, st=201)["id"]
        ok("PUT", "/v1/docker/runs/%s" % cls.rid[cls.s_fail], {"state": "FAILED"}, tok=wt, st=200)
        r = s.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (cls.ds1, cls.wid, cls.s_fail), {"state": "DONE"}, wt)
        assert r.status == 200, r
        ok("PUT", "/v1/docker/runs/%s" % cls.rid[cls.s_v4], {"state": "EMBEDDING"}, tok=wt, st=200)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ids(self, path, tok=None):
        return [x["id"] for x in self.ok("GET", path, tok=tok or self.alice)]

    def test_summary_fields(self):
        got = {x["id"]: x for x in self.ok("GET", "/v1/winnow/schedule")}
        self.assertEqual(set(got), {self.s_open, self.s_fail, self.s_v4})
        keys = {"datasetName", "datasetOwner", "datasetSource", "workerName", "method", "plan", "kCount",
                "kFraction", "candidates", "selected", "durationMs", "run"}
        for x in got.values():
            self.assertEqual(set(x["summary"]), keys, x)
            self.assertEqual((x["summary"]["datasetName"], x["summary"]["datasetOwner"]), ("twin-name", "alice"))
        op, fa, v4 = got[self.s_open]["summary"], got[self.s_fail]["summary"], got[self.s_v4]["summary"]
        self.assertEqual((op["method"], op["plan"], op["kFraction"], op["kCount"]), ("coreset", None, 0.1, None))
        self.assertEqual((op["workerName"], op["run"], op["durationMs"], op["candidates"]), (None, None, None, None))
        self.assertEqual((fa["workerName"], fa["run"]["state"], fa["run"]["id"]), ("runner-7", "FAILED", self.rid[self.s_fail]))
        self.assertNotIn("artifacts", fa["run"])
        self.assertIsInstance(fa["durationMs"], int)
        self.assertGreaterEqual(fa["durationMs"], 0)
        self.assertEqual((v4["method"], v4["plan"], v4["kFraction"]), (None, ["EMBEDDINGS/DIVERSITY", "RANDOM/WEIGHTS"], 0.25))
        self.assertIsNone(v4["durationMs"], "a run still going has no duration")
        # the runs list: the same summary without "run"
        runs = {x["id"]: x for x in self.ok("GET", "/v1/winnow/runs")}
        self.assertEqual(set(runs), set(self.rid.values()))
        r = runs[self.rid[self.s_v4]]["summary"]
        self.assertEqual(set(r), keys - {"run"})
        self.assertEqual((r["plan"], r["workerName"], r["datasetName"]), (["EMBEDDINGS/DIVERSITY", "RANDOM/WEIGHTS"], "runner-7", "twin-name"))

    def test_filters(self):
        self.assertEqual(self.ids("/v1/winnow/schedule?state=OPEN"), [self.s_open])
        self.assertEqual(self.ids("/v1/winnow/schedule?state=OPEN&state=LOCKED"), [self.s_v4, self.s_open])
        self.assertEqual(self.ids("/v1/winnow/schedule?runState=FAILED"), [self.s_fail])
        self.assertEqual(self.ids("/v1/winnow/schedule?runState=FAILED&runState=EMBEDDING"), [self.s_v4, self.s_fail])
        self.assertEqual(self.ids("/v1/winnow/schedule?" + "&".join(["runState=FAILED"] * 400)), [self.s_fail])
        self.assertEqual(self.ids("/v1/winnow/schedule?datasetId=%s" % self.ds2), [self.s_v4])
        self.assertEqual(self.ids("/v1/winnow/datasets/%s/schedule?scheduledId=%s" % (self.ds1, self.s_fail)), [self.s_fail])
        self.assertEqual(self.ids("/v1/winnow/datasets/%s/schedule?runState=COMPLETED" % self.ds1), [])
        self.assertEqual(self.ids("/v1/winnow/runs?state=FAILED"), [self.rid[self.s_fail]])
        self.assertEqual(self.ids("/v1/winnow/runs?state=COMPLETED"), [])
        # text: the worker's name, a dataset id, the config's text; % and _ are literal
        q = lambda path, text: self.ids(path + ("&" if "?" in path else "?") + urllib.parse.urlencode({"q": text}))  # noqa: E731
        self.assertEqual(q("/v1/winnow/schedule", "RUNNER-7"), [self.s_v4, self.s_fail])
        self.assertEqual(q("/v1/winnow/schedule", self.ds2[:10]), [self.s_v4])
        self.assertEqual(q("/v1/winnow/schedule", "DIVERSITY"), [self.s_v4])
        self.assertEqual(q("/v1/winnow/schedule", "%"), [])
        self.assertEqual(q("/v1/winnow/schedule", "label-x"), [self.s_open])        # runsOn
        self.assertEqual(q("/v1/winnow/schedule", "twin_name"), [])
        self.assertEqual(q("/v1/winnow/runs?state=EMBEDDING", "twin"), [self.rid[self.s_v4]])

    def test_paging(self):
        every = self.ids("/v1/winnow/schedule")
        self.assertEqual(len(every), 3)
        self.assertEqual(self.ids("/v1/winnow/schedule?pageSize=2"), every[:2])
        self.assertEqual(self.ids("/v1/winnow/schedule?pageSize=2&pageOffset=2"), every[2:])
        self.assertEqual(self.ids("/v1/winnow/schedule?pageSize=2&pageOffset=3"), [])
        self.assertEqual(self.ids("/v1/winnow/schedule?pageSize=1000"), every)
        self.assertEqual(self.ids("/v1/winnow/schedule?pageSize=5000"), every)      # capped at 1000
        self.assertEqual(self.ids("/v1/winnow/schedule?pageOffset=9223372036854775"), [])
        self.assertEqual(self.ids("/v1/winnow/runs?pageSize=1&pageOffset=1"), [self.rid[self.s_fail]])

    def test_hostile_values(self):
        for path in ("/v1/winnow/schedule", "/v1/winnow/datasets/%s/schedule" % self.ds1, "/v1/winnow/runs"):
            for bad in ("state=BOGUS", "state=", "state=open", "q=" + "x" * 201, "q=a%01b", "q=a%7F",
                        "scheduledId=xyz", "scheduledId=" + "A" * 24, "pageSize=0", "pageSize=-1", "pageSize=abc",
                        "pageOffset=-1", "pageOffset=1e3", "pageSize=99999999999999999999"):
                r = self.srv.request("GET", path + "?" + bad, token=self.alice)
                self.assertEqual(r.status, 400, (path, bad, r))
                self.assertEqual(set(r.json), {"code", "error"}, r)
            # 200 bytes of text is allowed
            self.assertEqual(self.srv.request("GET", path + "?q=" + "x" * 200, token=self.alice).status, 200)
        # runState holds a run's states only; a scheduled state there is refused
        for bad in ("runState=OPEN", "runState=DONE", "runState=x", "datasetId=zz"):
            r = self.srv.request("GET", "/v1/winnow/schedule?" + bad, token=self.alice)
            self.assertEqual(r.status, 400, (bad, r))
        r = self.srv.request("GET", "/v1/winnow/runs?state=OPEN", token=self.alice)
        self.assertEqual(r.status, 400, r)

    def test_another_users_runs_not_listed(self):
        self.assertNotIn(self.s_bob, self.ids("/v1/winnow/schedule"))
        self.assertEqual(self.ids("/v1/winnow/schedule?datasetId=%s" % self.dsb), [])
        self.assertEqual(self.ids("/v1/winnow/schedule?scheduledId=%s" % self.s_bob), [])
        self.assertEqual(self.ids("/v1/winnow/schedule?q=bobs"), [])
        self.assertEqual(self.ids("/v1/winnow/runs?datasetId=%s" % self.dsb), [])
        r = self.srv.request("GET", "/v1/winnow/datasets/%s/schedule" % self.dsb, token=self.alice)
        self.assertEqual(r.status, 404, r)
        # and bob sees his own only
        self.assertEqual(self.ids("/v1/winnow/schedule", tok=self.bob), [self.s_bob])
        self.assertEqual(self.ids("/v1/winnow/runs", tok=self.bob), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
