"""S3 datasources (issue 8) against a real S3-compatible server on 127.0.0.1
(s3rver, tests/tools/s3server.js, which also checks SigV4 signatures).

The generated dataset uploaded to a bucket must give exactly what its LOCAL
copy gives, in local mode and through the daemon; a listing over 1,000 objects
must page; a missing bucket, wrong credentials and an unreachable endpoint
must each end the run FAILED with a clear message; the secret is never logged.
"""
import filecmp
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402
import test_daemon as td  # noqa: E402
import winnowtest as wt  # noqa: E402

OUTPUTS = ["data/selection.csv", "data/scores.csv", "data/embeddings.csv",
           "filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
           "filenames/excluded_filenames.txt", "filenames/selected_filenames.txt"]
CORAL = {"method": "coral", "stopping_condition": {"n_samples": 0.2},
         "active_learning": {"task_name": "my-detection-task"}}
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d3a9f60000000049454e44ae426082")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def s3_env(**kw):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID, AWS_SECRET_ACCESS_KEY=s3util.SECRET)
    env.update(kw)
    return env


class S3Local(unittest.TestCase):
    """winnowd select --input s3://bucket/prefix."""

    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("s3")
        cls.data = os.path.join(cls.dir, "data")
        wt.mkdataset(cls.data, "--n", 150, "--seed", 11, "--subdirs", "--predictions")
        # A prediction file of no image: counted as ignored, on S3 as on LOCAL.
        with open(os.path.join(cls.data, ".lightly", "predictions", "my-detection-task",
                               "ghost.json"), "w") as f:
            f.write('{"file_name": "ghost.png", "predictions": []}')
        cls.s3 = s3util.S3Server(cls.dir, ["data", "many"])
        cls.s3.upload_dir("data", "set1/", cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def select(self, docker, inp, check=True, env=None, endpoint=None, extra=()):
        out = os.path.join(wt.tmpdir("out"), "run")
        cfg = wt.write_config(os.path.join(wt.tmpdir("cfg"), "c.json"), docker)
        import subprocess
        p = subprocess.run([wt.WINNOWD, "select", "--config", cfg, "--input", inp, "--output", out,
                            "--s3-endpoint", endpoint or self.s3.endpoint] + list(extra),
                           capture_output=True, text=True, env=env or s3_env(), timeout=600)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return out, p

    def test_select_matches_local(self):
        for docker in (CORAL, {"method": "coreset", "stopping_condition": {"n_samples": 0.3}}):
            with self.subTest(method=docker["method"]):
                loc, _ = self.select(docker, self.data)
                s3, p = self.select(docker, "s3://data/set1")
                for f in OUTPUTS:
                    if os.path.exists(os.path.join(loc, f)):
                        self.assertTrue(filecmp.cmp(os.path.join(loc, f), os.path.join(s3, f),
                                                    shallow=False), f)
                    else:
                        self.assertFalse(os.path.exists(os.path.join(s3, f)), f)
                with open(os.path.join(loc, "report.json")) as f:
                    rl = json.load(f)
                with open(os.path.join(s3, "report.json")) as f:
                    rs = json.load(f)
                self.assertEqual(rl["counts"], rs["counts"])
                # The whole report but the timings.
                for r in (rl, rs):
                    r.pop("stages", None)
                    r.pop("total_seconds", None)
                self.assertEqual(rl, rs)
                if docker is CORAL:
                    ign = [[l.split(" INFO ", 1)[1] for l in wt.read_lines(os.path.join(o, "log.txt"))
                            if "prediction files of images that are not candidates" in l]
                           for o in (loc, s3)]
                    self.assertEqual(len(ign[0]), 1, ign)
                    self.assertEqual(ign[0], ign[1])
                self.assertGreater(rs["counts"]["selected"], 0)
                self.assertNotIn(s3util.SECRET, p.stdout + p.stderr)
                with open(os.path.join(s3, "log.txt")) as f:
                    self.assertNotIn(s3util.SECRET, f.read())

    def test_virtual_host_addressing(self):
        # http://data.s3.localhost:<port>/set1/...: curl resolves *.localhost to loopback.
        docker = {"method": "coreset", "stopping_condition": {"n_samples": 0.3}}
        loc, _ = self.select(docker, self.data)
        before = len(self.s3.requests("GET"))
        vh, _ = self.select(docker, "s3://data/set1", extra=["--s3-virtual-host"],
                            endpoint="http://s3.localhost:%d" % self.s3.port)
        self.assertGreater(len(self.s3.requests("GET")) - before, 100)
        for f in OUTPUTS:
            if os.path.exists(os.path.join(loc, f)):
                self.assertTrue(filecmp.cmp(os.path.join(loc, f), os.path.join(vh, f),
                                            shallow=False), f)

    def test_listing_over_1000_objects_pages(self):
        items = [("p/img_%05d.png" % i, TINY_PNG) for i in range(1050)]
        items += [("p/notes/n_%03d.txt" % i, b"x") for i in range(50)]
        self.s3.put_many("many", items)
        before = len([l for l in self.s3.requests("LIST") if l.startswith("LIST many")])
        out, p = self.select({"method": "coreset", "stopping_condition": {"n_samples": 10}},
                             "s3://many/p/")
        lists = [l for l in self.s3.requests("LIST") if l.startswith("LIST many")][before:]
        self.assertGreaterEqual(len(lists), 2, lists)   # 1,100 objects: two pages of <= 1,000
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["counts"]["listed"], 1050)
        with open(os.path.join(out, "log.txt")) as f:
            self.assertIn("2 ListObjectsV2 requests", f.read())

    def test_throttling_is_retried_and_a_lasting_failure_fails_the_run(self):
        docker = {"method": "coreset", "stopping_condition": {"n_samples": 0.3}}
        loc, _ = self.select(docker, self.data)
        # 20 GETs answered SlowDown: retried with backoff, the same outputs.
        self.s3.throttle(20)
        try:
            s3, _ = self.select(docker, "s3://data/set1")
        finally:
            self.s3.throttle(0)
        self.assertEqual(len(self.s3.requests("SLOWDOWN")), 20)
        for f in ("filenames/selected_filenames.txt", "filenames/corrupt_filenames.txt"):
            self.assertTrue(filecmp.cmp(os.path.join(loc, f), os.path.join(s3, f), shallow=False))
        # Every GET refused: the run fails with S3's reason; no image is called corrupt.
        self.s3.throttle(-1)
        try:
            out, p = self.select(docker, "s3://data/set1", check=False)
        finally:
            self.s3.throttle(0)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("reading the images", p.stderr)
        self.assertIn("SlowDown", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "filenames", "corrupt_filenames.txt")))
        # The prediction files too: S3's reason, not a bare errno.
        self.s3.throttle(-1)
        try:
            out, p = self.select(CORAL, "s3://data/set1", check=False)
        finally:
            self.s3.throttle(0)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(".lightly/predictions/tasks.json: S3 bucket \"data\"", p.stderr)
        self.assertIn("SlowDown", p.stderr)

    def test_errors(self):
        cases = [
            ("s3://nosuchbucket/x", s3_env(), None, ["nosuchbucket", "does not exist", "NoSuchBucket"]),
            ("s3://data/set1", s3_env(AWS_SECRET_ACCESS_KEY="wrong-secret"), None,
             ["access denied", "SignatureDoesNotMatch"]),
            ("s3://data/set1", s3_env(AWS_ACCESS_KEY_ID="AKIDNOSUCHKEY"), None,
             ["access denied", "InvalidAccessKeyId"]),
            ("s3://data/set1", s3_env(), "http://127.0.0.1:%d" % closed_port(),
             ["cannot connect to the S3 endpoint", "Connection refused"]),
        ]
        for inp, env, ep, words in cases:
            with self.subTest(words=words):
                _, p = self.select({"method": "coreset"}, inp, check=False, env=env, endpoint=ep)
                self.assertNotEqual(p.returncode, 0)
                for w in words:
                    self.assertIn(w, p.stderr)
                self.assertNotIn(s3util.SECRET, p.stderr + p.stdout)


class S3Daemon(td.DaemonTest):
    """The daemon on a dataset whose datasource is S3, as users run it."""

    def setUp(self):
        super().setUp()
        self.s3 = s3util.S3Server(self.dir, ["data"])

    def tearDown(self):
        super().tearDown()
        self.s3.stop()

    def s3_dataset(self, path, creds=True, endpoint=None):
        ds = self.ok("POST", "/v1/datasets", {"name": "s3-%d" % len(os.listdir(self.dir))})["id"]
        body = {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": path,
                "s3Endpoint": endpoint or self.s3.endpoint, "s3Region": "us-east-1"}
        # Empty keys: the worker's own config ("s3" in winnowd.json) gives them.
        body.update(s3AccessKeyId="", s3SecretAccessKey="")
        if creds:
            body.update(s3AccessKeyId=creds[0] if isinstance(creds, tuple) else s3util.KEY_ID,
                        s3SecretAccessKey=creds[1] if isinstance(creds, tuple) else s3util.SECRET)
        # winnow's route: Lightly's model has no endpoint (SPEC 7)
        self.ok("PUT", "/v1/winnow/datasets/%s/datasource" % ds, body)
        return ds

    def make_dataset(self, path):
        """The daemon suite's tests re-enabled below run on an S3 copy of path."""
        prefix = os.path.basename(path)
        if prefix not in getattr(self, "_uploaded", set()):
            self.s3.upload_dir("data", prefix + "/", path)
            self._uploaded = getattr(self, "_uploaded", set()) | {prefix}
        return self.s3_dataset("s3://data/" + prefix)

    def assert_secret_never_logged(self, runs):
        for d in self.daemons:
            self.assertNotIn(s3util.SECRET, d.log_text())
        self.assertNotIn(s3util.SECRET, self.web.log_text())
        for run in runs:
            for l in self.logs(run["id"]):
                self.assertNotIn(s3util.SECRET, l["msg"])
            self.assertNotIn(s3util.SECRET, run.get("message") or "")
        for d in self.daemons:
            for root, _, files in os.walk(os.path.join(d.state, "runs") if os.path.isdir(
                    os.path.join(d.state, "runs")) else d.state):
                for f in files:
                    if f.endswith((".txt", ".json", ".csv")):
                        with open(os.path.join(root, f), "rb") as fh:
                            self.assertNotIn(s3util.SECRET.encode(), fh.read(), f)

    def test_run_matches_local_and_never_logs_the_secret(self):
        path = td.dataset(self.root)
        self.s3.upload_dir("data", "set1/", path)
        ds = self.s3_dataset("s3://data/set1")
        # The second dataset has no keys: the worker's own config gives them.
        ds2 = self.s3_dataset("s3://data/set1", creds=False)
        self.daemon(extra={"s3": {"access_key_id": s3util.KEY_ID,
                                  "secret_access_key": s3util.SECRET}}).start()
        sched, sched2 = self.schedule(ds, td.CORAL), self.schedule(ds2, td.CORESET)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.check_results_match_local(ds, run, td.CORAL, path)
        run2 = self.wait_run(sched2)
        self.assertEqual(run2["state"], "COMPLETED", run2)
        self.check_results_match_local(ds2, run2, td.CORESET, path)
        self.assertGreater(len(self.s3.requests("GET")), 150)
        self.assert_secret_never_logged([run, run2])

    def test_missing_bucket_wrong_credentials_unreachable_fail(self):
        cases = [
            (self.s3_dataset("s3://nosuchbucket/set1"), ["nosuchbucket", "NoSuchBucket"]),
            (self.s3_dataset("s3://data/set1", creds=(s3util.KEY_ID, "wrong-secret")),
             ["access denied", "SignatureDoesNotMatch"]),
            (self.s3_dataset("s3://data/set1", creds=("AKIDNOSUCHKEY", s3util.SECRET)),
             ["access denied", "InvalidAccessKeyId"]),
            (self.s3_dataset("s3://data/set1", endpoint="http://127.0.0.1:%d" % closed_port()),
             ["cannot connect to the S3 endpoint", "Connection refused"]),
        ]
        self.daemon(env={"WINNOWD_TEST_RETRY_MS": "300"}).start()
        scheds = [(self.schedule(ds, td.CORESET), words) for ds, words in cases]
        runs = []
        for sched, words in scheds:
            run = self.wait_run(sched, timeout=120)
            runs.append(run)
            self.assertEqual(run["state"], "FAILED", run)
            for w in words:
                self.assertIn(w, run["message"])
        self.assert_secret_never_logged(runs)

    def test_kill9_after_the_image_pass_resumes_from_the_checkpoints(self):
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, td.CORAL)
        # Held at the start of the selection (test_checkpoints' way): every checkpoint saved.
        d = self.daemon(env={"WINNOWD_TEST_STAGE_DELAY": "selection:120000"}).start()
        self.wait_run(sched, states=("SAMPLING",), timeout=120)
        d.kill9()
        gets = len(self.s3.requests("GET"))
        d.env.pop("WINNOWD_TEST_STAGE_DELAY")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.check_results_match_local(ds, run, td.CORAL, path)
        self.assertIn("resuming after stage", d.log_text())
        # The images were not read again: the listing hash (keys, sizes, LastModified) held.
        again = [l for l in self.s3.requests("GET")[gets:] if "/.lightly/" not in l]
        self.assertEqual(again, [])

    def test_web_app_reads_tasks_and_thumbnails(self):
        path = td.dataset(self.root)
        self.s3.upload_dir("data", "set1/", path)
        ds = self.s3_dataset("s3://data/set1")
        tasks = self.ok("GET", "/v1/winnow/datasets/%s/tasks" % ds)
        with open(os.path.join(path, ".lightly", "predictions", "tasks.json")) as f:
            self.assertEqual(sorted(t["name"] for t in tasks), sorted(json.load(f)))
        self.assertTrue(all(t["taskType"] for t in tasks), tasks)
        local = td.DaemonTest.make_dataset(self, path)
        self.assertEqual(tasks, self.ok("GET", "/v1/winnow/datasets/%s/tasks" % local))
        with open(os.path.join(path, ".manifest.json")) as f:
            img = sorted(json.load(f)["candidates"])[0]
        for _ in range(2):      # made, then from the cache
            r = self.web.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail?fileName=%s" % (ds, img),
                                 token=self.utok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body[:2], b"\xff\xd8")
        r = self.web.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail?fileName=nope.jpg" % ds,
                             token=self.utok)
        self.assertEqual(r.status, 404, r)
        bad = self.s3_dataset("s3://data/set1", creds=(s3util.KEY_ID, "wrong-secret"))
        r = self.web.request("GET", "/v1/winnow/datasets/%s/tasks" % bad, token=self.utok)
        self.assertEqual(r.status, 409, r)
        self.assertIn("SignatureDoesNotMatch", r.body.decode())
        self.assertNotIn(s3util.SECRET, self.web.log_text())


# The daemon suite's own tests are not run again here, but for a kill -9 in
# the image pass and the restart that resumes from the checkpoints, on S3.
for _name in dir(td.DaemonTest):
    if _name.startswith("test_") and _name != "test_kill9_during_a_run_then_restart":
        setattr(S3Daemon, _name, None)

if __name__ == "__main__":
    unittest.main()
