"""winnowctl against a real winnowd and the real winnow-web, both on 127.0.0.1.

The daemon, the web app and the scheduling come from test_daemon.py (its
DaemonTest helpers); this suite only adds winnowctl calls, in text and --json,
for every job state it can produce: running and queued (WINNOWD_TEST_DELAY_MS
slows the stages; SIGTERM requeues), done, failed (a bad config), aborted;
and with the daemon stopped (the immutable open, and the open after a kill -9
that left the WAL behind).
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402
import winnowtest as wt  # noqa: E402

CTL = os.path.join(wt.BIN, "winnowctl")
STAGES = ["listing", "images", "duplicates", "embeddings", "scores", "selection", "results"]


def ctl(*args, expect=None):
    p = subprocess.run([CTL] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    if expect is not None and p.returncode != expect:
        raise AssertionError("winnowctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, expect, p.stdout, p.stderr))
    return p


def ctl_json(*args, expect=None):
    p = ctl(*(list(args) + ["--json"]), expect=expect)
    return json.loads(p.stdout), p


class CtlDaemonTest(td.DaemonTest):
    """Tests with a daemon; inherits setUp/tearDown and the helpers, not the tests."""

    def sd(self, d):
        return ["--state-dir", d.state]

    def wait_job(self, d, sched, states, timeout=120):
        deadline = time.time() + timeout
        job = None
        while time.time() < deadline:
            job, _ = ctl_json(*self.sd(d), "show", sched)
            if job.get("state") in states:
                return job
            time.sleep(0.2)
        self.fail("job %s did not reach %s; last %r" % (sched, states, job))

    def test_running_queued_done(self):
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, td.CORAL)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        run = self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        job = self.wait_job(d, sched, ("running",))
        # the stage reaches the job row with the next state PUT (at most every 8 s)
        deadline = time.time() + 20
        while job["stage"] != "images" and time.time() < deadline:
            time.sleep(0.3)
            job, _ = ctl_json(*self.sd(d), "show", sched, expect=0)
        self.assertEqual(job["stage"], "images")
        self.assertEqual(job["run_id"], run["id"])

        # status, running
        st, _ = ctl_json(*self.sd(d), "status", expect=0)
        self.assertTrue(st["daemon"]["running"])
        self.assertEqual(st["daemon"]["pid"], d.proc.pid)
        self.assertFalse(st["database"]["immutable"])
        self.assertEqual(st["worker"]["name"], "worker1")
        self.assertRegex(st["worker"]["id"], r"^[0-9a-f]{24}$")
        self.assertIsNotNone(st["web"]["last_contact"])
        self.assertLess(abs(st["web"]["last_contact"] / 1000 - time.time()), 60)
        self.assertEqual(st["jobs"]["running"], 1)
        self.assertEqual(sum(st["jobs"].values()), 1)
        self.assertEqual([j["scheduled_id"] for j in st["current"]], [sched])
        self.assertEqual(st["current"][0]["stage"], "images")
        self.assertFalse(st["current"][0]["interrupted"])
        p = ctl(*self.sd(d), "status", expect=0)
        self.assertIn("running (pid %d)" % d.proc.pid, p.stdout)
        self.assertIn("worker1, id " + st["worker"]["id"], p.stdout)
        self.assertIn("last contact", p.stdout)
        self.assertIn("1 running", p.stdout)
        self.assertIn("run:      %s (scheduled %s): running, stage images" % (run["id"], sched), p.stdout)
        p = ctl(*self.sd(d), "jobs", expect=0)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 2, p.stdout)
        self.assertTrue(lines[0].startswith("SCHEDULED"))
        self.assertEqual(lines[1].split()[:4], [sched, run["id"], "running", "images"])
        p = ctl(*self.sd(d), "show", run["id"], expect=0)     # a run id finds the job too
        self.assertIn("scheduled run  " + sched, p.stdout)
        self.assertIn("state          running\n", p.stdout)
        self.assertIn("datasource     LOCAL " + path, p.stdout)
        # a second winnowd on the same state dir refuses to start
        p2 = subprocess.run([td.WINNOWD, "--config", d.conf], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p2.returncode, 0)
        self.assertIn("another winnowd", p2.stderr)

        # SIGTERM: the job is requeued; winnowctl reads the file immutable
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        self.assertFalse(os.path.exists(os.path.join(d.state, "winnowd.db-wal")))
        st, p = ctl_json(*self.sd(d), "status", expect=1)
        self.assertFalse(st["daemon"]["running"])
        self.assertNotIn("pid", st["daemon"])
        self.assertTrue(st["database"]["immutable"])
        self.assertEqual(st["jobs"]["queued"], 1)
        self.assertEqual(st["current"], [])
        p = ctl(*self.sd(d), "status", expect=1)
        self.assertIn("winnowd:  not running", p.stdout)
        self.assertIn("opened immutable", p.stdout)
        self.assertIn("1 queued", p.stdout)
        job, _ = ctl_json(*self.sd(d), "show", sched, expect=0)
        self.assertEqual(job["state"], "queued")
        self.assertEqual(job["deaths"], 0)
        self.assertEqual(ctl(*self.sd(d), "jobs", expect=0).stdout.splitlines()[1].split()[2], "queued")
        # nothing was written: no WAL, no shm, no journal appeared
        self.assertEqual(sorted(f for f in os.listdir(d.state) if f.startswith("winnowd.db")),
                         ["winnowd.db"])

        # kill -9 mid-run leaves the WAL: a plain read-only open, and the job reads "interrupted"
        d.start()
        self.wait_job(d, sched, ("running",))
        d.kill9()
        self.assertTrue(os.path.exists(os.path.join(d.state, "winnowd.db-wal")))
        st, _ = ctl_json(*self.sd(d), "status", expect=1)
        self.assertFalse(st["daemon"]["running"])
        self.assertFalse(st["database"]["immutable"])
        self.assertEqual(st["jobs"]["running"], 1)
        self.assertTrue(st["current"][0]["interrupted"])
        self.assertIn("interrupted", ctl(*self.sd(d), "show", sched, expect=0).stdout)

        # to the end: done, with the stage timings of report.json
        d.env.pop("WINNOWD_TEST_DELAY_MS")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        job = self.wait_job(d, sched, ("done",), timeout=60)
        self.assertEqual(job["deaths"], 1)
        self.assertEqual(job["progress"], 1)
        self.assertEqual([s["name"] for s in job["stages"]], STAGES)
        self.assertTrue(all(s["seconds"] >= 0 for s in job["stages"]))
        with open(os.path.join(d.state, "runs", sched, "report.json")) as f:
            report = json.load(f)
        self.assertEqual(job["counts"], report["counts"])
        self.assertEqual(job["stages"], report["stages"])
        self.assertTrue(job["run_dir_exists"])
        self.assertEqual(job["run_dir"], os.path.join(d.state, "runs", sched))
        p = ctl(*self.sd(d), "show", sched, expect=0)
        self.assertIn("state          done\n", p.stdout)
        self.assertIn("stage          results, 100%\n", p.stdout)
        for s in STAGES:
            self.assertRegex(p.stdout, r"\n  %s +[0-9.]+ s\n" % s)
        self.assertIn("candidates %d" % report["counts"]["candidates"], p.stdout)
        st, _ = ctl_json(*self.sd(d), "status", expect=0)
        self.assertEqual(st["jobs"]["done"], 1)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        self.assertEqual(ctl_json(*self.sd(d), "status", expect=1)[0]["jobs"]["done"], 1)

    def test_failed_and_aborted(self):
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        bad = dict(td.CORAL, active_learning={"task_name": "no-such-task",
                                              "score_name": "uncertainty_margin"})
        failed = self.schedule(ds, bad)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        self.assertEqual(self.wait_run(failed, timeout=60)["state"], "FAILED")
        job = self.wait_job(d, failed, ("failed",))
        self.assertIn("no-such-task", job["error"])
        p = ctl(*self.sd(d), "show", failed, expect=1)
        self.assertIn("state          failed", p.stdout)
        self.assertRegex(p.stdout, r"error +.*no-such-task")
        self.assertEqual(ctl_json(*self.sd(d), "show", failed, expect=1)[0]["state"], "failed")

        aborted = self.schedule(ds, td.CORAL)
        run = self.wait_run(aborted, states=("CHECKING_CORRUPTNESS",), timeout=60)
        self.ok("POST", "/v1/winnow/runs/%s/abort" % run["id"])
        self.assertEqual(self.wait_run(aborted, timeout=60)["state"], "ABORTED")
        self.wait_job(d, aborted, ("aborted",))
        self.assertIn("state          aborted", ctl(*self.sd(d), "show", aborted, expect=1).stdout)

        jobs, _ = ctl_json(*self.sd(d), "jobs", expect=0)
        self.assertEqual([(j["scheduled_id"], j["state"]) for j in jobs],
                         [(aborted, "aborted"), (failed, "failed")])     # newest first
        for j in jobs:
            self.assertEqual(set(j) >= {"run_id", "stage", "progress", "attempts", "deaths",
                                        "updated"}, True, j)
        lines = ctl(*self.sd(d), "jobs", expect=0).stdout.splitlines()[1:]
        self.assertEqual([l.split()[0] for l in lines], [aborted, failed])
        st, _ = ctl_json(*self.sd(d), "status", expect=0)
        self.assertEqual((st["jobs"]["failed"], st["jobs"]["aborted"]), (1, 1))
        self.assertIn("1 failed, 1 aborted", ctl(*self.sd(d), "status", expect=0).stdout)

    def test_config_and_live_check(self):
        d = self.daemon().start()
        deadline = time.time() + 30
        while time.time() < deadline:
            if ctl(*self.sd(d), "status").returncode == 0 and \
                    ctl_json(*self.sd(d), "status")[0]["worker"]["id"]:
                break
            time.sleep(0.2)
        # --config: the state dir comes from the file, and the web app is asked now
        st, p = ctl_json("--config", d.conf, "status", expect=0)
        self.assertEqual(st["state_dir"], d.state)
        self.assertTrue(st["web"]["live"]["ok"], st)
        self.assertNotIn(self.wtok, p.stdout + p.stderr)
        p = ctl("--config", d.conf, "status", expect=0)
        self.assertIn("now: web app", p.stdout)
        self.assertNotIn(self.wtok, p.stdout + p.stderr)
        # a wrong token: the live check says so; the exit status is about the daemon
        with open(d.conf) as f:
            cfg = json.load(f)
        cfg["token"] = "wrong-token"
        bad = os.path.join(d.dir, "bad.json")
        with open(bad, "w") as f:
            json.dump(cfg, f)
        st, p = ctl_json("--config", bad, "status", expect=0)
        self.assertFalse(st["web"]["live"]["ok"])
        self.assertIn("401", st["web"]["live"]["message"])
        self.assertNotIn("wrong-token", p.stdout + p.stderr)
        self.assertIn("FAIL: token", ctl("--config", bad, "status", expect=0).stdout)
        # --state-dir only: no live check
        self.assertNotIn("live", ctl_json(*self.sd(d), "status", expect=0)[0]["web"])


class CtlNoDaemonTest(unittest.TestCase):
    def test_missing_database(self):
        empty = wt.tmpdir("empty")
        for cmd in (["status"], ["jobs"], ["show", "x"]):
            p = ctl("--state-dir", empty, *cmd, expect=3)
            self.assertIn("winnowd.db", p.stderr)
            doc, _ = ctl_json("--state-dir", empty, *cmd, expect=3)
            self.assertEqual(doc["exit"], 3)
            self.assertIn("winnowd.db", doc["error"])
        ctl("--state-dir", os.path.join(empty, "nope"), "status", expect=3)
        with open(os.path.join(empty, "winnowd.db"), "w") as f:
            f.write("this is not a database, but long enough to look like a header" * 10)
        p = ctl("--state-dir", empty, "status", expect=3)
        self.assertIn("not a database", p.stderr)
        # an SQLite file of a newer winnowd
        newer = wt.tmpdir("newer")
        db = sqlite3.connect(os.path.join(newer, "winnowd.db"))
        db.execute("PRAGMA user_version = 99")
        db.commit()
        db.close()
        self.assertIn("version 99", ctl("--state-dir", newer, "jobs", expect=3).stderr)

    def test_usage(self):
        for args in ([], ["status", "extra"], ["show"], ["frob"], ["--bogus", "status"],
                     ["--state-dir", "/x", "--config", "/y", "status"]):
            p = ctl(*args, expect=2)
            self.assertIn("usage: winnowctl", p.stderr)
        p = ctl("--config", "/nonexistent/winnowd.json", "status", expect=2)
        self.assertIn("/nonexistent/winnowd.json", p.stderr)
        self.assertIn("Exit: 0 ok", ctl("--help", expect=0).stdout)

    def test_fresh_database_and_no_such_job(self):
        """A daemon that never reached its web app: no worker id, no contact, no jobs."""
        d = td.Daemon("http://127.0.0.1:9", "tok", wt.tmpdir("fresh"))
        d.start()
        try:
            deadline = time.time() + 20
            while not os.path.exists(os.path.join(d.state, "winnowd.db")) and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            st, _ = ctl_json("--state-dir", d.state, "status", expect=0)
            self.assertTrue(st["daemon"]["running"])
            self.assertIsNone(st["worker"]["id"])
            self.assertIsNone(st["web"]["last_contact"])
            p = ctl("--state-dir", d.state, "status", expect=0)
            self.assertIn("never reached", p.stdout)
            self.assertIn("not registered yet", p.stdout)
            self.assertIn("jobs:     none", p.stdout)
        finally:
            d.signal(signal.SIGTERM)
            self.assertEqual(d.wait(60), 0)
        self.assertEqual(ctl("--state-dir", d.state, "jobs", expect=0).stdout.count("\n"), 1)
        self.assertEqual(ctl_json("--state-dir", d.state, "jobs", expect=0)[0], [])
        p = ctl("--state-dir", d.state, "show", "0123456789abcdef01234567", expect=4)
        self.assertIn("no job", p.stderr)
        self.assertEqual(ctl_json("--state-dir", d.state, "show", "nope", expect=4)[0]["exit"], 4)
        # the stale pid file of a stopped daemon does not count as running
        self.assertTrue(os.path.exists(os.path.join(d.state, "winnowd.pid")))
        self.assertFalse(ctl_json("--state-dir", d.state, "status", expect=1)[0]["daemon"]["running"])


def load_tests(loader, tests, pattern):
    """Only this module's tests: CtlDaemonTest inherits DaemonTest's, which test_daemon runs."""
    suite = unittest.TestSuite()
    for cls in (CtlDaemonTest, CtlNoDaemonTest):
        suite.addTests(cls(n) for n in sorted(vars(cls)) if n.startswith("test_"))
    return suite


if __name__ == "__main__":
    unittest.main(verbosity=2)
