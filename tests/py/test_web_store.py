"""SPEC 8: a database error is never answered as absent.

winnow-web steps every statement through one function (web/db.c, db_step),
which calls SQLite through a function pointer; the test build
(tests/tools/winnow_web_test.c, started by webtest.Server(faults=...)) points
it at a fault injector that makes every Nth statement fail with SQLITE_BUSY,
SQLITE_LOCKED or SQLITE_IOERR. These tests check that such a failure answers
503 (retry), never 404 or 401, that the log names it, and that a whole
daemon run through a faulty web app completes with nothing lost.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
import test_daemon as td  # noqa: E402


def need_test_build(tc):
    if not os.path.exists(webtest.WEB_TEST):
        tc.fail("%s is missing: make builds it with make check" % webtest.WEB_TEST)


class StoreFaultsTest(unittest.TestCase):
    """Lookups and authentication under injected faults: 200 or 503, never 404 or 401."""

    def setUp(self):
        need_test_build(self)
        self.dir = wt.tmpdir("store")
        self.web = webtest.Server(workdir=self.dir)
        os.makedirs(self.web.dir, exist_ok=True)
        self.utok = self.web.token("alice", "user")
        self.wtok = self.web.token("worker1", "worker", worker="worker-1")
        self.web.start()
        # objects made before the faults: a dataset, a config, a scheduled run, a worker
        self.ds = self.web.ok("POST", "/v1/datasets", {"name": "data-1"}, self.utok)["id"]
        cfg = self.web.ok("POST", "/v1/docker/worker/config",
                          {"config": {"workerType": "FULL", "docker": {}, "lightly": {}}}, self.utok)["id"]
        self.sched = self.web.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds,
                                 {"configId": cfg}, self.utok)["id"]
        self.worker = self.web.ok("POST", "/v1/docker/worker",
                                  {"workerType": "FULL", "name": "worker-1", "labels": []}, self.wtok, 201)["id"]
        # a second scheduled run, claimed, with its run, a tag and a score list
        self.cfg = cfg
        self.sched2 = self.web.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds,
                                  {"configId": cfg}, self.utok)["id"]
        self.web.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.worker, self.sched2),
                    {"state": "LOCKED"}, self.wtok)
        self.run = self.web.ok("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": self.ds,
                                                            "scheduledId": self.sched2, "configId": cfg},
                               self.wtok, 201)["id"]
        self.web.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds,
                    [{"fileName": "a.jpg"}, {"fileName": "b.jpg"}], self.wtok)
        self.tag = self.web.ok("POST", "/v1/datasets/%s/tags" % self.ds,
                               {"name": "tag-1", "bitMaskData": "0x3", "totSize": 2, "runId": self.run},
                               self.wtok, 201)["id"]
        self.web.ok("POST", "/v1/datasets/%s/tags/%s/scores" % (self.ds, self.tag),
                    {"scoreType": "s", "scores": [0.5, 0.25]}, self.wtok, 201)
        self.web.stop()

    def tearDown(self):
        self.web.stop()

    def restart(self, faults):
        self.web.faults = faults
        self.web.start()

    def hammer(self, path, token, n=40):
        """n GETs of path; returns the statuses and the 503 replies."""
        statuses, errs = [], []
        for _ in range(n):
            r = self.web.request("GET", path, token=token)
            statuses.append(r.status)
            if r.status == 503:
                errs.append(r)
        return statuses, errs

    def test_lookups_answer_503_never_404(self):
        # Sparse enough that a request of up to about a dozen statements (authentication,
        # the authorization check, the lookup, the model) sometimes passes whole.
        self.restart("busy:every=13,ioerr:every=17")
        paths = [
            ("/v1/datasets/%s" % self.ds, self.utok),                       # model_dataset
            ("/v1/datasets/%s/docker/worker/schedule" % self.ds, self.utok),  # dataset_lookup + list
            ("/v1/datasets/%s/tags" % self.ds, self.wtok),                  # dataset_lookup + tags
            ("/v1/docker/worker/%s" % self.worker, self.utok),              # model_worker
            ("/v1/docker/runs/%s" % self.run, self.utok),                   # model_run
            ("/v1/winnow/runs/%s" % self.run, self.utok),                   # model_run_winnow
            ("/v1/docker/runs/schedule/%s" % self.sched2, self.utok),       # run by scheduled run
            ("/v1/docker/runs/%s/logs" % self.run, self.utok),              # run_lookup + lines
            ("/v1/winnow/runs/%s/files" % self.run, self.utok),             # run_lookup + files
            ("/v1/docker/runs/%s/tags" % self.run, self.utok),              # run + its tags
            ("/v1/docker/worker/config/%s" % self.cfg, self.wtok),          # config
            ("/v1/datasets/%s/tags/%s" % (self.ds, self.tag), self.wtok),   # model_tag
            ("/v1/datasets/%s/tags/%s/scores" % (self.ds, self.tag), self.utok),  # tag_of + list
            ("/v1/datasets/%s/mappings?field=fileName" % self.ds, self.wtok),  # mappings
            ("/v1/datasets/%s/tags/%s/export/basic/filenames" % (self.ds, self.tag), self.utok),
            ("/v1/docker/runs", self.utok),                                 # a list of models
            ("/v1/datasets", self.utok),
            ("/v1/docker/worker", self.utok),
        ]
        for path, tok in paths:
            statuses, errs = self.hammer(path, tok)
            # never absent, never unauthenticated: the objects and the tokens exist
            self.assertTrue(set(statuses) <= {200, 503}, (path, statuses))
            self.assertIn(503, statuses, path)
            self.assertIn(200, statuses, path)
            for r in errs:
                # Lightly's ApiErrorResponse with a code of its list, and a retry hint
                self.assertEqual(r.json["code"], "ILLEGAL_ACTION_RESOURCE_IN_USE", r)
                self.assertEqual(r.header("Retry-After"), "1")
        log = self.web.log_text()
        self.assertIn("store faults on: busy:every=13,ioerr:every=17", log)
        # the results page runs eight statements: fewer faults, or none would pass
        self.web.stop()
        self.restart("busy:every=17,ioerr:every=23")
        statuses, _ = self.hammer("/v1/winnow/runs/%s/results" % self.run, self.utok)
        self.assertEqual(set(statuses), {200, 503}, statuses)
        # the log names the error and the statement, once per failure
        self.assertRegex(log, r"database error: disk I/O error \(no detail\) in: SELECT")
        self.assertRegex(log, r"database error: database is locked \(no detail\) in: SELECT")

    def test_datasource_without_one_is_404_or_503(self):
        # The dataset has no datasource: 404 is the true answer, never for a failed lookup.
        self.restart("ioerr:every=9")
        statuses, _ = self.hammer("/v1/datasets/%s/datasource" % self.ds, self.utok, 20)
        self.assertEqual(set(statuses), {404, 503}, statuses)

    def test_authentication_error_is_503_not_401(self):
        self.restart("ioerr:every=1")    # every statement fails: the token check too
        r = self.web.request("GET", "/v1/datasets/%s" % self.ds, token=self.utok)
        self.assertEqual(r.status, 503, r)
        r = self.web.request("POST", "/login", {"token": self.utok})
        self.assertEqual(r.status, 503, r)
        self.assertIn("database error: disk I/O error", self.web.log_text())

    def test_mid_list_error_is_503_not_a_short_list(self):
        # row=N: a statement fails after giving rows; a list must not come back cut short
        self.restart(None)
        for i in range(6):
            self.web.ok("POST", "/v1/datasets", {"name": "more-%d" % i}, self.utok)
        self.web.stop()
        self.restart("ioerr:row=13")
        statuses = []
        for _ in range(12):
            r = self.web.request("GET", "/v1/datasets", token=self.utok)
            statuses.append(r.status)
            if r.status == 200:
                self.assertEqual(len(r.json), 7)
        self.assertIn(503, statuses)
        self.assertIn(200, statuses)

    def test_claim_and_worker_calls_never_404(self):
        self.restart("busy:every=9,locked:every=13")
        path = "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.worker, self.sched)
        got = None
        for _ in range(30):
            r = self.web.request("PUT", path, {"state": "LOCKED"}, token=self.wtok)
            self.assertIn(r.status, (200, 503), r)
            if r.status == 200:
                got = r.json
                break
        self.assertIsNotNone(got)
        self.assertEqual(got["state"], "LOCKED")
        # polls of a known worker: 200 or 503
        statuses, _ = self.hammer("/v1/docker/worker/%s/schedule?state=LOCKED" % self.worker, self.wtok, 20)
        self.assertTrue(set(statuses) <= {200, 503}, statuses)
        self.assertIn(503, statuses)

    def test_worker_calls_on_an_unknown_run_are_404_or_503(self):
        # An unknown run is 404; a failed "was it taken back?" lookup must not read as
        # 409 RUN_RELEASED (the outbox drops a 4xx) nor as 404.
        self.restart("busy:every=5,ioerr:every=7")
        run = "0123456789abcdef01234567"
        calls = [("PUT", "/v1/docker/runs/%s" % run, {"state": "COMPLETED"}),
                 ("PUT", "/v1/winnow/runs/%s/progress" % run, {"progress": 0.5}),
                 ("PUT", "/v1/docker/runs/%s/artifacts/%s/confirmUpload" % (run, run), None),
                 ("PUT", "/v1/docker/runs/%s/logs" % run, [{"ts": 1, "level": "INFO", "group": "winnowd", "msg": "x"}])]
        for method, path, body in calls:
            statuses = [self.web.request(method, path, body, token=self.wtok).status for _ in range(20)]
            self.assertEqual(set(statuses), {404, 503}, (path, statuses))
        # an upload's signature checked against a failing database: 503, not 401
        statuses = [self.web.request("PUT", "/v1/winnow/artifacts/%s/content?sig=%s" % (run, "0" * 64),
                                     raw=b"x").status for _ in range(20)]
        self.assertEqual(set(statuses), {401, 503}, statuses)

    def test_repeated_creates_are_2xx_or_503(self):
        # winnowd's calls repeated (the outbox's retries): each is 2xx or 503 under faults,
        # never a 4xx that the outbox would drop as permanent
        self.restart("busy:every=11,ioerr:every=13")
        ds, run, tag = self.ds, self.run, self.tag
        calls = [
            ("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": ds, "scheduledId": self.sched2,
                                         "configId": self.cfg}, (201,)),
            ("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": "a.jpg"}], (200,)),
            ("POST", "/v1/datasets/%s/tags" % ds, {"name": "tag-1", "bitMaskData": "0x3", "totSize": 2,
                                                  "runId": run}, (201,)),
            ("POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full", "runId": run}, (201,)),
            ("POST", "/v1/datasets/%s/tags/%s/scores" % (ds, tag), {"scoreType": "s", "scores": [0.5, 0.25]},
             (201,)),
            ("POST", "/v1/docker/runs/%s/artifacts" % run, {"fileName": "log.txt", "type": "LOG"}, (201,)),
            ("PUT", "/v1/docker/runs/%s" % run, {"state": "EMBEDDING"}, (200,)),
            ("PUT", "/v1/winnow/runs/%s/progress" % run, {"progress": 0.5}, (200,)),
            ("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, self.worker, self.sched2),
             {"state": "LOCKED"}, (200,)),
        ]
        for method, path, body, ok in calls:
            statuses = [self.web.request(method, path, body, token=self.wtok).status for _ in range(20)]
            self.assertTrue(set(statuses) <= set(ok) | {503}, (path, statuses))
            self.assertIn(503, statuses, path)
            self.assertIn(ok[0], statuses, path)
        # the tag and the samples are there once
        self.web.stop()
        self.restart(None)
        tags = self.web.ok("GET", "/v1/datasets/%s/tags" % ds, token=self.wtok)
        self.assertEqual(sorted(t["name"] for t in tags), ["initial-tag", "tag-1"])
        self.assertEqual(self.web.ok("GET", "/v1/datasets/%s/mappings?field=fileName" % ds, token=self.wtok),
                         ["a.jpg", "b.jpg"])

    def test_user_creates_503_means_not_created(self):
        # A user's create that answers 503 created nothing (a retry makes no second one);
        # one that answers 201 created exactly one.
        self.restart("busy:every=13,ioerr:every=19")
        made = {"ds": 0, "cfg": 0, "sched": 0}
        for i in range(20):
            r = self.web.request("POST", "/v1/datasets", {"name": "made-%d" % i}, token=self.utok)
            self.assertIn(r.status, (201, 503), r)
            made["ds"] += r.status == 201
            r = self.web.request("POST", "/v1/docker/worker/config",
                                 {"config": {"workerType": "FULL", "docker": {}, "lightly": {}}}, token=self.utok)
            self.assertIn(r.status, (201, 503), r)
            made["cfg"] += r.status == 201
            r = self.web.request("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds,
                                 {"configId": self.cfg}, token=self.utok)
            self.assertIn(r.status, (201, 503), r)
            made["sched"] += r.status == 201
        self.assertTrue(all(0 < n < 20 for n in made.values()), made)
        self.web.stop()
        self.restart(None)
        names = [d["name"] for d in self.web.ok("GET", "/v1/datasets", token=self.utok)]
        self.assertEqual(len([n for n in names if n.startswith("made-")]), made["ds"])
        sched = self.web.ok("GET", "/v1/winnow/datasets/%s/schedule" % self.ds, token=self.utok)
        self.assertEqual(len(sched), 2 + made["sched"])

    def test_bad_faults_value_is_refused(self):
        self.web.faults = "busy:every=0"
        with self.assertRaises(AssertionError) as cm:
            self.web.start()
        self.assertIn("WINNOW_WEB_FAULTS", str(cm.exception))
        self.web.proc = None


class DaemonThroughFaultsTest(td.DaemonFixture):
    """A whole run through a web app whose store fails now and then: completes, nothing lost."""

    def ok(self, method, path, body=None, status=None, token=None):
        # the test's own calls retry a 503 as a client would
        for _ in range(50):
            r = self.web.request(method, path, body, token or self.utok)
            if r.status != 503:
                break
            time.sleep(0.05)
        if status is None:
            status = 201 if method == "POST" and any(re.search(c, path) for c in td.CREATES) else 200
        self.assertEqual(r.status, status, (method, path, r))
        return r.json if r.body else None

    def test_run_completes_with_nothing_lost(self):
        need_test_build(self)
        self.web.stop()
        self.web.faults = "busy:every=53,ioerr:every=71,ioerr:row=211"
        self.web.start()
        path = td.dataset(self.root, 60)
        ds = self.make_dataset(path)
        d = self.daemon(env={"WINNOWD_TEST_RETRY_MS": "200"}).start()
        sched = self.schedule(ds, td.CORAL)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        d.stop()
        log = self.web.log_text()
        faults = len(re.findall(r"database error: ", log))
        self.assertGreater(faults, 5, "too few faults injected to mean anything")
        # What the web app holds, read without faults: equal to local mode's selection
        self.web.stop()
        self.web.faults = None
        self.web.start()
        self.check_results_match_local(ds, run, td.CORAL, path)
        self.assert_no_duplicates(ds, run)
        # Every artifact and run file uploaded, byte for byte what the daemon's output folder holds
        out = os.path.join(d.state, "runs", sched)
        where = {"report.json": "", "log.txt": "", "corrupt_filenames.txt": "filenames",
                 "duplicate_filenames.txt": "filenames", "excluded_filenames.txt": "filenames",
                 "scores.csv": "data", "selection.csv": "data", "embeddings_2d.csv": "data",
                 "no_predictions_filenames.txt": "filenames"}
        arts = {a["fileName"]: a for a in self.ok("GET", "/v1/winnow/runs/%s" % run["id"])["artifacts"]}
        self.assertEqual(sorted(arts), sorted(where))
        for name, a in arts.items():
            self.assertTrue(a["uploaded"], name)
            got = self.web.request("GET", "/v1/winnow/runs/%s/artifacts/%s/content" % (run["id"], a["id"]),
                                   token=self.utok)
            self.assertEqual(got.status, 200, name)
            with open(os.path.join(out, where[name], name), "rb") as f:
                self.assertEqual(got.body, f.read(), name)
        # Every log line, in order: the web app's lines are log.txt's ("<ts> <LEVEL> <msg>")
        lines = [l["msg"] for l in self.logs(run["id"])]
        self.assertGreater(len(lines), 3)
        with open(os.path.join(out, "log.txt"), encoding="utf-8") as f:
            self.assertEqual(lines, [l.split(" ", 2)[2] for l in f.read().splitlines()])
        # nothing dropped by the daemon's outbox: no 4xx answered to a call of its
        self.assertNotIn("dropped", d.log_text())


if __name__ == "__main__":
    unittest.main()
