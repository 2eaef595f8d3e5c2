"""winnowd daemon mode against the real winnow-web, both on 127.0.0.1.

Each test starts its own winnow-web (temp db, free port, --dataset-root) and
its own winnowd (temp state dir), creates a dataset through the user API on a
generated dataset, posts a config and schedules runs exactly as the wizard
does (docs/api.md), and checks what the web app holds afterwards.
"""
import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
import faultproxy  # noqa: E402  (tests/tools, on the path through winnowtest)

WINNOWD = wt.WINNOWD
FINAL = ("COMPLETED", "FAILED", "CRASHED", "ABORTED")
ID = r"[0-9a-f]{24}"
# The user calls that create (201); every other call of these tests answers 200.
CREATES = (r"^/v1/datasets$", r"^/v1/docker/worker/config$", r"^/v1/datasets/%s/docker/worker/schedule$" % ID)

CORAL = {
    "enable_corruptness_check": True, "remove_exact_duplicates": True, "enable_training": False,
    "pretagging": False, "pretagging_debug": False, "method": "coral",
    "stopping_condition": {"n_samples": 0.1, "min_distance": -1},
    "scorer": "object-frequency", "scorer_config": {"frequency_penalty": 0.25, "min_score": 0.9},
    "active_learning": {"task_name": "my-classification-task", "score_name": "uncertainty_margin"},
}
CORESET = dict(CORAL, method="coreset", active_learning={"task_name": "", "score_name": "uncertainty_margin"})

_DATASETS = {}


def dataset(root, n=150):
    """A generated dataset under root (made once per size and root)."""
    key = (root, n)
    if key not in _DATASETS:
        out = os.path.join(root, "d%d" % n)
        wt.mkdataset(out, "--n", n, "--predictions", "--subdirs")
        _DATASETS[key] = out
    return _DATASETS[key]


class Daemon:
    """A running winnowd with its own config file and state dir."""

    def __init__(self, url, token, workdir, name="worker1", concurrent=1, poll=0.3, env=None, extra=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.state = os.path.join(workdir, "state")
        self.conf = os.path.join(workdir, "winnowd.json")
        self.log = os.path.join(workdir, "winnowd.log")
        cfg = {"url": url, "worker_name": name, "token": token, "state_dir": self.state,
               "poll_interval": poll, "concurrent_runs": concurrent, "threads_per_run": 2,
               "log_level": "debug"}
        cfg.update(extra or {})
        with open(self.conf, "w") as f:
            json.dump(cfg, f)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([wt.winnowd_for(self.env), "--config", self.conf], stdout=self.logf,
                                     stderr=self.logf, env=self.env)
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        self.logf.close()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        return self.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.wait()
        if self.proc is not None:
            self.logf.close()
            self.proc = None
        return None

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


class DaemonFixture(unittest.TestCase):
    """A web app and worker tokens per test, and the helpers; no tests of its own
    (test_daemon_plans.py builds on it too)."""

    def setUp(self):
        self.dir = wt.tmpdir("dm")
        self.root = os.path.join(self.dir, "data")
        os.makedirs(self.root)
        self.web = webtest.Server(roots=[self.root], workdir=os.path.join(self.dir, "web"))
        os.makedirs(self.web.dir, exist_ok=True)
        self.wtok = self.web.token("worker1", "worker")
        self.utok = self.web.token("alice", "user")
        self.web.start()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.web.stop()
        if self._outcome_failed():
            for d in self.daemons:
                sys.stderr.write("---- winnowd log %s\n%s\n" % (d.dir, d.log_text()[-6000:]))
            sys.stderr.write("---- winnow-web log\n%s\n" % self.web.log_text()[-3000:])

    def _outcome_failed(self):
        res = getattr(self, "_outcome", None)
        errs = getattr(res, "errors", None) or getattr(getattr(res, "result", None), "errors", [])
        return bool(errs) or any(getattr(res, "result", None) and
                                 (t is self) for t, _ in getattr(res.result, "failures", []))

    # -- helpers ------------------------------------------------------------
    def url(self):
        return "http://127.0.0.1:%d" % self.web.port

    def daemon(self, name="worker1", **kw):
        d = Daemon(self.url(), self.wtok, os.path.join(self.dir, "wd-%s-%d" % (name, len(self.daemons))),
                   name=name, **kw)
        self.daemons.append(d)
        return d

    def ok(self, method, path, body=None, status=None, token=None):
        """A call that must answer exactly status; by default 201 for the user
        calls that create something (docs/api.md: a dataset, a config, a
        scheduled run), 200 for every other."""
        if status is None:
            status = 201 if method == "POST" and any(re.search(c, path) for c in CREATES) else 200
        return self.web.ok(method, path, body, token or self.utok, status)

    def make_dataset(self, path):
        ds = self.ok("POST", "/v1/datasets", {"name": "ds-%d" % len(os.listdir(self.dir))})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path})
        return ds

    def schedule(self, ds, docker, priority="MID"):
        cfg = self.ok("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": docker, "lightly": {}}})["id"]
        return self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                       {"configId": cfg, "priority": priority})["id"]

    def run_of(self, sched):
        r = self.web.request("GET", "/v1/docker/runs/schedule/%s" % sched, token=self.utok)
        return r.json if r.status == 200 else None

    def wait_run(self, sched, states=FINAL, timeout=240):
        deadline = time.time() + timeout
        run = None
        while time.time() < deadline:
            run = self.run_of(sched)
            if run and run["state"] in states:
                return run
            time.sleep(0.2)
        self.fail("run of %s did not reach %s; last %r" % (sched, states, run))

    def scheduled(self, ds, sched):
        for s in self.ok("GET", "/v1/winnow/datasets/%s/schedule" % ds):   # every state: winnow's view
            if s["id"] == sched:
                return s
        return None

    def wait_sched_done(self, ds, sched, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.scheduled(ds, sched)["state"] == "DONE":
                return
            time.sleep(0.2)
        self.fail("scheduled run %s not DONE" % sched)

    def tags(self, ds):
        # winnow's list: Lightly's TagData plus each tag's creator (SPEC 7)
        return self.ok("GET", "/v1/winnow/datasets/%s/tags" % ds)

    def mapping(self, ds):
        return self.web.ok("GET", "/v1/datasets/%s/mappings?field=fileName" % ds, token=self.wtok)

    def tag_names(self, ds, tag):
        names = self.mapping(ds)
        bits = int(tag["bitMaskData"], 16)
        return [n for i, n in enumerate(names) if bits >> i & 1]

    def scores(self, ds, tag_id):
        out = {}
        for s in self.ok("GET", "/v1/datasets/%s/tags/%s/scores" % (ds, tag_id)):
            # Lightly's route, by the list's id; winnow's by type must agree
            one = self.ok("GET", "/v1/datasets/%s/tags/%s/scores/%s" % (ds, tag_id, s["id"]))
            self.assertEqual(one, self.ok("GET", "/v1/winnow/datasets/%s/tags/%s/scores/%s"
                                          % (ds, tag_id, urllib.parse.quote(s["scoreType"], safe=""))))
            out[s["scoreType"]] = one["scores"]
        return out

    def run_files(self, run_id):
        """The names of a run's Lightly artifacts and winnow's own run files (SPEC 7: two routes)."""
        lightly = [a["fileName"] for a in self.ok("GET", "/v1/winnow/runs/%s" % run_id)["artifacts"]
                   if a["type"] not in ("SCORES_CSV", "SELECTION_CSV", "EMBEDDINGS_2D", "NO_PREDICTIONS")]
        return lightly + [f["fileName"] for f in self.ok("GET", "/v1/winnow/runs/%s/files" % run_id)]

    def logs(self, run_id):
        """Every line of the run, through DockerRunLogData's cursor until a page comes empty."""
        out, cursor = [], 0
        while True:
            page = self.ok("GET", "/v1/docker/runs/%s/logs?cursor=%d" % (run_id, cursor))
            if not page["logs"]:
                return out
            self.assertGreater(page["cursor"], cursor)
            out += page["logs"]
            cursor = page["cursor"]

    def local_select(self, docker, path):
        out = os.path.join(wt.tmpdir("local"), "out")
        wt.run_select(docker, path, out)
        return out

    def check_results_match_local(self, ds, run, docker, path):
        """The run's tags and score lists equal what local mode selects."""
        out = self.local_select(docker, path)
        name = "run-%s" % run["id"]
        tags = {t["name"]: t for t in self.tags(ds)}
        self.assertIn(name, tags)
        self.assertIn(name + "-candidates", tags)
        sel, cand = tags[name], tags[name + "-candidates"]
        self.assertEqual(sel["prevTagId"], cand["id"])
        selected = wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))
        scores_csv = os.path.join(out, "data", "scores.csv")
        with open(scores_csv if os.path.exists(scores_csv)
                  else os.path.join(out, "data", "embeddings.csv")) as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]
        if not os.path.exists(scores_csv):
            header = header[:1]     # no scores computed: no score list either
        candidates = [r[0] for r in rows]
        # The names of the bits, in bit order: the dataset's order is path order here.
        self.assertEqual(self.tag_names(ds, cand), candidates)
        self.assertEqual(sorted(self.tag_names(ds, sel)), sorted(selected))
        self.assertEqual(self.tag_names(ds, sel), [c for c in candidates if c in set(selected)])
        got = self.scores(ds, cand["id"])
        self.assertEqual(sorted(got), sorted(header[1:]))
        for c, col in enumerate(header[1:], start=1):
            self.assertEqual(got[col], [float(r[c]) for r in rows], col)
        return tags

    def assert_no_duplicates(self, ds, run, same_attempt=True):
        """No tag twice, one score list per type, no log line twice; with
        same_attempt (the stages ran once), no stage log line twice either."""
        tags = [t["name"] for t in self.tags(ds)]
        self.assertEqual(len(tags), len(set(tags)), tags)
        for t in self.tags(ds):
            types = [s["scoreType"] for s in self.ok("GET", "/v1/datasets/%s/tags/%s/scores" % (ds, t["id"]))]
            self.assertEqual(len(types), len(set(types)), types)
        arts = self.run_files(run["id"])
        self.assertEqual(len(arts), len(set(arts)), arts)
        lines = self.logs(run["id"])
        # a logs call repeated (its Idempotency-Key known) adds no line twice
        keys = [(l["ts"], l["level"], l["msg"]) for l in lines]
        self.assertEqual([k for k in set(keys) if keys.count(k) > 1], [])
        if same_attempt:
            msgs = [(l["msg"]) for l in lines]
            dup = [m for m in set(msgs) if msgs.count(m) > 1 and "stage" in m]
            self.assertEqual(dup, [], "log lines repeated")


class DaemonTest(DaemonFixture):
    def test_coral_run_completes_like_local_mode(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        d = self.daemon().start()
        sched = self.schedule(ds, CORAL)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        tags = self.check_results_match_local(ds, run, CORAL, path)
        # The selection tag's creator is the method's sampler (SPEC 7), taken at the claim.
        self.assertEqual(tags["run-%s" % run["id"]]["creator"], "SAMPLER_CORAL")
        self.assertEqual(tags["run-%s-candidates" % run["id"]]["creator"], "USER_WORKER")
        arts = {a["fileName"]: a for a in self.ok("GET", "/v1/winnow/runs/%s" % run["id"])["artifacts"]}
        for f, t in (("report.json", "REPORT_JSON"), ("log.txt", "LOG"),
                     ("corrupt_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION"),
                     ("duplicate_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION"),
                     ("excluded_filenames.txt", "CORRUPTNESS_CHECK_INFORMATION")):
            self.assertEqual(arts[f]["type"], t, f)
        # winnow's own files, on winnow's route (SPEC 7), uploaded
        files = {f["fileName"]: f for f in self.ok("GET", "/v1/winnow/runs/%s/files" % run["id"])}
        self.assertEqual({k: (f["type"], f["uploaded"]) for k, f in files.items()},
                         {"scores.csv": ("SCORES_CSV", True), "selection.csv": ("SELECTION_CSV", True),
                          "embeddings_2d.csv": ("EMBEDDINGS_2D", True),
                          "no_predictions_filenames.txt": ("NO_PREDICTIONS", True)})
        self.assertGreater(len(self.logs(run["id"])), 3)
        # every call that created something carried its Idempotency-Key (SPEC 7): the claim's
        # run create "<job>:run", the outbox's "<job>:<seq>", each seq once
        con = sqlite3.connect(self.web.db)
        try:
            # route: "METHOD /path sha256(body) caller" (the caller: SPEC 8, a key is its own)
            keyed = [(k, " ".join(r.split(" ")[:2])) for k, r in con.execute("SELECT key, route FROM idempotency")]
            self.assertEqual({r.split(" ")[3] for k, r in con.execute("SELECT key, route FROM idempotency")},
                             {"worker:worker1"})
        finally:
            con.close()
        self.assertIn((sched + ":run", "POST /v1/docker/runs"), keyed)
        routes = {re.sub(r"[0-9a-f]{24}", "{id}", r) for k, r in keyed}
        for want in ("PUT /v1/docker/runs/{id}/logs", "POST /v1/winnow/datasets/{id}/samples/batch",
                     "POST /v1/datasets/{id}/tags", "POST /v1/datasets/{id}/tags/{id}/scores",
                     "POST /v1/docker/runs/{id}/artifacts", "POST /v1/winnow/runs/{id}/files"):
            self.assertIn(want, routes)
        seqs = [k.split(":")[1] for k, r in keyed if k != sched + ":run"]
        self.assertTrue(all(k.startswith(sched + ":") for k, r in keyed), keyed)
        self.assertTrue(all(x.isdigit() for x in seqs), seqs)
        self.assertEqual(len(seqs), len(set(seqs)))
        w = self.ok("GET", "/v1/docker/worker")
        self.assertEqual([x["name"] for x in w], ["worker1"])
        self.assertEqual(d.signal(signal.SIGTERM), None)
        self.assertEqual(d.wait(), 0)

    def test_relative_datasource_under_dataset_roots(self):
        """Lightly's relative LOCAL fullPath: the web app checks it under its --dataset-root,
        winnowd reads it under its own dataset_roots (the first root that holds it); a folder
        that leaves the worker's root through a link fails the run, naming dataset_roots."""
        import shutil
        path = dataset(self.root)
        wroot = os.path.join(self.dir, "worker-data")
        shutil.copytree(path, os.path.join(wroot, "shared", "imgs"))
        os.makedirs(os.path.join(self.root, "shared"))
        os.symlink(path, os.path.join(self.root, "shared", "imgs"))   # the web app's view: inside its root
        empty = os.path.join(self.dir, "worker-empty")
        os.makedirs(empty)
        ds = self.ok("POST", "/v1/datasets", {"name": "relative"})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                {"type": "LOCAL", "purpose": "INPUT", "fullPath": "shared/imgs", "thumbSuffix": ".lightly/thumbnails/[filename]_thumb.[extension]",
                 "webServerLocation": "http://localhost:3456"})
        outside = os.path.join(self.dir, "outside")
        os.makedirs(os.path.join(self.root, "esc"))
        shutil.copytree(path, outside)
        os.symlink(outside, os.path.join(wroot, "esc"))
        ds_esc = self.ok("POST", "/v1/datasets", {"name": "escapes"})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds_esc, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": "esc"})
        self.daemon(extra={"dataset_roots": [empty, wroot]}).start()
        sched = self.schedule(ds, CORESET)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.check_results_match_local(ds, run, CORESET, path)
        bad = self.schedule(ds_esc, CORESET)
        run = self.wait_run(bad)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("leaves its dataset root", run["message"])
        self.assertIn("dataset_roots", run["message"])
        self.wait_sched_done(ds_esc, bad)

    def test_lightly_datasource_apart_from_input(self):
        """INPUT holds the images, LIGHTLY the .lightly/ folder (predictions): the run reads
        each from its own datasource and selects as local mode does on both together."""
        import shutil
        path = dataset(self.root)
        wroot = os.path.join(self.dir, "worker-data")
        shutil.copytree(path, os.path.join(wroot, "split", "imgs"), ignore=shutil.ignore_patterns(".lightly"))
        shutil.copytree(os.path.join(path, ".lightly"), os.path.join(wroot, "split", "labels", ".lightly"))
        os.makedirs(os.path.join(self.root, "split"))
        for name in ("imgs", "labels"):     # the web app's view of the same names
            os.symlink(path, os.path.join(self.root, "split", name))
        ds = self.ok("POST", "/v1/datasets", {"name": "split"})["id"]
        for purpose, rel in (("INPUT", "split/imgs"), ("LIGHTLY", "split/labels")):
            self.ok("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": purpose, "fullPath": rel})
        self.daemon(extra={"dataset_roots": [wroot]}).start()
        sched = self.schedule(ds, CORAL)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.check_results_match_local(ds, run, CORAL, path)
        self.assertTrue(any(".lightly/ from %s" % os.path.join(wroot, "split", "labels") in l["msg"]
                            for l in self.logs(run["id"])))

    def test_two_runs_at_once_and_a_cancelled_one(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        a = self.schedule(ds, CORAL)
        c = self.schedule(ds, CORESET)
        b = self.schedule(ds, CORESET)
        self.ok("PUT", "/v1/datasets/%s/docker/worker/schedule/%s" % (ds, c), status=204)     # Lightly's cancel
        self.daemon(concurrent=2).start()
        ra, rb = self.wait_run(a), self.wait_run(b)
        self.assertEqual((ra["state"], rb["state"]), ("COMPLETED", "COMPLETED"))
        self.wait_sched_done(ds, a)
        self.wait_sched_done(ds, b)
        time.sleep(1.5)     # a few more polls: the cancelled run must stay untouched
        self.assertIsNone(self.run_of(c))
        self.assertEqual(self.scheduled(ds, c)["state"], "CANCELED")
        ta = self.check_results_match_local(ds, ra, CORAL, path)
        tb = self.check_results_match_local(ds, rb, CORESET, path)
        self.assertEqual(ta["run-%s" % ra["id"]]["creator"], "SAMPLER_CORAL")
        self.assertEqual(tb["run-%s" % rb["id"]]["creator"], "SAMPLER_CORESET")

    def test_abort_then_next_run(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        first = self.schedule(ds, CORAL, priority="HIGH")
        second = self.schedule(ds, CORESET, priority="LOW")
        self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        run = self.wait_run(first, states=("CHECKING_CORRUPTNESS",), timeout=60)
        self.ok("POST", "/v1/winnow/runs/%s/abort" % run["id"])
        run = self.wait_run(first, timeout=60)
        self.assertEqual(run["state"], "ABORTED", run)
        self.wait_sched_done(ds, first)
        run2 = self.wait_run(second, timeout=120)
        self.assertEqual(run2["state"], "COMPLETED", run2)
        names = [t["name"] for t in self.tags(ds)]
        self.assertNotIn("run-%s" % run["id"], names)
        self.assertIn("run-%s" % run2["id"], names)

    def test_bad_config_fails_with_the_message(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        docker = dict(CORAL, active_learning={"task_name": "no-such-task",
                                              "score_name": "uncertainty_margin"})
        sched = self.schedule(ds, docker)
        self.daemon().start()
        run = self.wait_run(sched, timeout=60)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("no-such-task", run["message"])
        self.wait_sched_done(ds, sched)
        self.assertEqual(self.tags(ds), [])
        self.assertTrue(any("no-such-task" in l["msg"] for l in self.logs(run["id"])))

    def test_long_poll_starts_a_run_at_once(self):
        """With a 60 s poll interval, a run scheduled after the daemon's first
        poll still starts at once: that poll waits in the web app (?wait=)."""
        path = dataset(self.root)
        ds = self.make_dataset(path)
        d = self.daemon(poll=60).start()
        deadline = time.time() + 30
        while "ready:" not in d.log_text():
            self.assertLess(time.time(), deadline, "winnowd did not get ready")
            time.sleep(0.1)
        time.sleep(1)   # the first poll is out and waiting
        t0 = time.time()
        sched = self.schedule(ds, CORESET)
        run = self.wait_run(sched, timeout=40)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.assertLess(time.time() - t0, 40)
        self.assertIn("scheduled run %s: claiming" % sched, d.log_text())

    def block_run_dir(self, d, sched):
        """A file where the run's folder goes: the stages fail with an I/O
        error (not a permanent one) until it is removed."""
        runs = os.path.join(d.state, "runs")
        os.makedirs(runs, exist_ok=True)
        blocker = os.path.join(runs, sched)
        with open(blocker, "w") as f:
            f.write("in the way\n")
        return blocker

    def job_row(self, d, sched):
        db = os.path.join(d.state, "winnowd.db")
        out = subprocess.run(["sqlite3", "-readonly", db,
                              "SELECT attempts, deaths, state FROM jobs WHERE sched_id = '%s'" % sched],
                             capture_output=True, text=True, check=True).stdout.strip()
        attempts, deaths, state = out.split("|")
        return int(attempts), int(deaths), state

    def test_stages_failing_three_times_fail_for_good(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, CORAL)
        d = self.daemon(env={"WINNOWD_TEST_RETRY_MS": "300"})
        self.block_run_dir(d, sched)
        d.start()
        run = self.wait_run(sched, timeout=60)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("failed 3 times", run["message"])
        self.assertIn("output folder", run["message"])
        self.wait_sched_done(ds, sched)
        log = d.log_text()
        self.assertIn("attempt 1 failed", log)
        self.assertIn("attempt 2 failed", log)
        self.assertNotIn("attempt 3 failed", log)
        self.assertEqual(self.tags(ds), [])
        attempts, deaths, _ = self.job_row(d, sched)
        self.assertEqual((attempts, deaths), (3, 0))

    def test_stages_failing_once_then_recovering(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, CORAL)
        d = self.daemon(env={"WINNOWD_TEST_RETRY_MS": "3000"})
        blocker = self.block_run_dir(d, sched)
        d.start()
        deadline = time.time() + 60
        while "attempt 1 failed" not in d.log_text():
            self.assertLess(time.time(), deadline, "the first attempt did not fail")
            time.sleep(0.1)
        os.unlink(blocker)  # the fault clears before the retry is due (3 s)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, CORAL, path)
        self.assert_no_duplicates(ds, run, same_attempt=False)
        self.assertNotIn("attempt 2 failed", d.log_text())
        attempts, deaths, state = self.job_row(d, sched)
        self.assertEqual((attempts, deaths), (1, 0))

    def restart_web(self, port):
        """winnow-web again on the same db and port."""
        free = webtest.free_port
        webtest.free_port = lambda: port
        try:
            deadline = time.time() + 30
            while True:
                try:
                    self.web.start()
                    return
                except AssertionError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            webtest.free_port = free

    def test_web_app_down_during_a_run(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, CORAL)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1000"}).start()
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        port = self.web.port
        # Killed, not stopped: the web app vanishes mid-call, as in an outage.
        self.web.proc.kill()
        self.web.proc.wait()
        self.web.logf.close()
        self.web.proc = None
        time.sleep(30)      # the outage: 30 s, longer than several retry steps
        self.restart_web(port)
        run = self.wait_run(sched, timeout=180)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, CORAL, path)
        self.assert_no_duplicates(ds, run)
        self.assertIn("retry", d.log_text())

    def test_sigterm_during_a_run_then_restart(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, CORAL)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        self.assertIn("requeued", d.log_text())
        d.env.pop("WINNOWD_TEST_DELAY_MS")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, CORAL, path)
        self.assert_no_duplicates(ds, run, same_attempt=False)

    def test_reporting_uses_what_the_claim_stored(self):
        """The selection tag's creator and the datapool's name are taken from
        the config once, at the claim, and kept in the job row: changed there
        while the daemon is down, they are what the run reports (no later
        step parses the config again for them)."""
        path = dataset(self.root)
        ds = self.make_dataset(path)
        docker = dict(CORESET, datapool={"name": "pool-a"})
        sched = self.schedule(ds, docker)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        # The first attempt ran on the claim's parse (one parse for both).
        self.assertEqual(d.log_text().count("config as parsed at the claim"), 1)
        self.assertNotIn("config parsed for this attempt", d.log_text())
        db = os.path.join(d.state, "winnowd.db")

        def sql(q):
            return subprocess.run(["sqlite3", db, q], capture_output=True, text=True,
                                  check=True).stdout.strip()
        self.assertEqual(sql("SELECT pool_name, tag_creator, query_tags IS NULL FROM jobs "
                             "WHERE sched_id = '%s'" % sched), "pool-a|SAMPLER_CORESET|1")
        sql("UPDATE jobs SET pool_name = 'pool-b', tag_creator = 'SAMPLER_RANDOM' "
            "WHERE sched_id = '%s'" % sched)
        d.env.pop("WINNOWD_TEST_DELAY_MS")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        tags = {t["name"]: t for t in self.tags(ds)}
        sel = tags["run-%s" % run["id"]]
        self.assertEqual(sel["creator"], "SAMPLER_RANDOM")
        # The attempt after the restart parsed the stored config, once.
        self.assertEqual(d.log_text().count("config parsed for this attempt"), 1)
        self.assertEqual(d.log_text().count("config as parsed at the claim"), 1)
        pool_b = self.web.ok("GET", "/v1/winnow/datasets/%s/datapools/pool-b" % ds, token=self.wtok)
        self.assertEqual(sorted(pool_b["fileNames"]), sorted(self.tag_names(ds, sel)))
        r = self.web.request("GET", "/v1/winnow/datasets/%s/datapools/pool-a" % ds, token=self.wtok)
        self.assertEqual(r.json.get("fileNames", []) if r.status == 200 else [], [])

    def test_kill9_during_a_run_then_restart(self):
        path = dataset(self.root)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, CORAL)
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "1500"}).start()
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        d.kill9()
        d.env.pop("WINNOWD_TEST_DELAY_MS")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, CORAL, path)
        self.assert_no_duplicates(ds, run, same_attempt=False)
        self.assertIn("death 1", d.log_text())
        runs = self.ok("GET", "/v1/docker/runs?datasetId=%s" % ds)
        runs = runs if isinstance(runs, list) else runs.get("items", runs)
        self.assertEqual(len(runs), 1, runs)

    def daemon_via_proxy(self, **kw):
        """A faultproxy in front of the web app and a daemon that talks through it."""
        proxy = faultproxy.FaultProxy(self.web.port).start()
        self.addCleanup(proxy.stop)
        d = Daemon(proxy.url(), self.wtok, os.path.join(self.dir, "wd-proxy-%d" % len(self.daemons)), **kw)
        self.daemons.append(d)
        return proxy, d

    def test_kill9_after_reporting_started(self):
        """kill -9 inside reporting, four times in one run, each time while a
        reporting call has reached the web app and its answer has not reached
        the daemon (faultproxy holds it back): the first call of the results
        (the sample batch), the candidates tag (whose id later calls need), a
        score list and an artifact. Each restart repeats the call, and nothing
        is posted twice."""
        path = dataset(self.root)
        ds = self.make_dataset(path)
        proxy, d = self.daemon_via_proxy()
        sched = self.schedule(ds, CORAL)

        def tag_names():
            return [t["name"] for t in self.tags(ds)]

        def n_samples():
            return self.ok("GET", "/v1/datasets/%s" % ds)["nSamples"]

        def n_scores():
            return sum(len(self.ok("GET", "/v1/datasets/%s/tags/%s/scores" % (ds, t["id"])))
                       for t in self.tags(ds))

        def artifacts(run):
            return [a["fileName"] for a in self.ok("GET", "/v1/winnow/runs/%s" % run["id"])["artifacts"]]

        # (method, path, the run's state on the web app meanwhile, what the held call did there)
        holds = [
            ("POST", r"^/v1/winnow/datasets/%s/samples/batch$" % ds, "SAVING_RESULTS",
             lambda run: self.assertGreater(n_samples(), 0)),
            ("POST", r"^/v1/datasets/%s/tags$" % ds, "SAVING_RESULTS",
             lambda run: self.assertEqual(tag_names(), ["run-%s-candidates" % run["id"]])),
            ("POST", r"^/v1/datasets/%s/tags/%s/scores$" % (ds, ID), "SAVING_RESULTS",
             lambda run: self.assertEqual(n_scores(), 1)),
            ("POST", r"^/v1/docker/runs/%s/artifacts$" % ID, "UPLOADING_ARTIFACTS",
             lambda run: self.assertEqual(artifacts(run), ["report.json"])),
        ]
        rules = [proxy.add(m, p, "hold") for m, p, _, _ in holds]
        self.assertEqual(n_samples(), 0)
        d.start()
        for (method, pat, state, landed), rule in zip(holds, rules):
            self.assertTrue(rule.held.wait(90), "no %s %s came; seen %r" % (method, pat, proxy.seen[-5:]))
            run = self.run_of(sched)
            self.assertEqual(run["state"], state, (pat, run))
            landed(run)
            d.kill9()
            d.start()
        run = self.wait_run(sched, states=FINAL, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        # Each held call went out again after the restart (its answer was lost).
        for method, pat, _, _ in holds:
            n = sum(1 for m, p in proxy.seen if m == method and re.search(pat, p))
            self.assertGreaterEqual(n, 2, "%s %s was not repeated" % (method, pat))
        self.check_results_match_local(ds, run, CORAL, path)
        self.assert_no_duplicates(ds, run)
        self.assertEqual(len(self.run_files(run["id"])), 9)
        runs = self.ok("GET", "/v1/docker/runs?datasetId=%s" % ds)
        self.assertEqual([r["id"] for r in runs], [run["id"]])

    def test_keep_runs_and_sighup_reload(self):
        path = dataset(self.root, n=40)
        ds = self.make_dataset(path)
        d = self.daemon(extra={"keep_runs": 1}).start()
        done = []
        for k in range(3):
            sched = self.schedule(ds, {"method": "random", "stopping_condition": {"n_samples": 5}})
            run = self.wait_run(sched, timeout=120)
            self.assertEqual(run["state"], "COMPLETED", run)
            self.wait_sched_done(ds, sched)
            done.append(sched)
            time.sleep(1.1)  # distinct mtimes for the newest-first order
        runs = os.path.join(d.state, "runs")
        deadline = time.time() + 10
        while time.time() < deadline and sorted(os.listdir(runs)) != [done[-1]]:
            time.sleep(0.2)
        # keep_runs 1: only the newest ended run's folder is kept.
        self.assertEqual(sorted(os.listdir(runs)), [done[-1]])
        # SIGHUP: keep_runs and poll_interval change live; a url change needs a restart.
        with open(d.conf) as f:
            cfg = json.load(f)
        cfg.update({"keep_runs": 3, "poll_interval": 0.5,
                    "url": cfg["url"].replace("127.0.0.1", "localhost")})
        with open(d.conf, "w") as f:
            json.dump(cfg, f)
        d.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and "config re-read" not in d.log_text():
            time.sleep(0.2)
        log = d.log_text()
        self.assertIn("SIGHUP: config re-read (poll_interval 0.5 s, keep_runs 3", log)
        self.assertIn("SIGHUP: url changed: needs a restart", log)
        for k in range(2):
            sched = self.schedule(ds, {"method": "random", "stopping_condition": {"n_samples": 5}})
            self.assertEqual(self.wait_run(sched, timeout=120)["state"], "COMPLETED")
            self.wait_sched_done(ds, sched)
            done.append(sched)
            time.sleep(1.1)
        deadline = time.time() + 10
        while time.time() < deadline and len(os.listdir(runs)) != 3:
            time.sleep(0.2)
        self.assertEqual(sorted(os.listdir(runs)), sorted(done[-3:]))
        # A config that no longer parses keeps the running one.
        with open(d.conf, "w") as f:
            f.write("{not json")
        d.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and "keeping the running config" not in d.log_text():
            time.sleep(0.2)
        self.assertIn("keeping the running config", d.log_text())
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)


class ConfigTest(unittest.TestCase):
    def run_conf(self, cfg, env=None):
        d = wt.tmpdir("cf")
        p = os.path.join(d, "winnowd.json")
        with open(p, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        e = dict(os.environ)
        e.pop("WINNOW_TOKEN", None)
        e.pop("CREDENTIALS_DIRECTORY", None)
        e.update(env or {})
        return subprocess.run([WINNOWD, "--config", p], capture_output=True, text=True, timeout=30,
                              env=e)

    def starts(self, cfg):
        """True when winnowd accepts the config (it is still running after 1.5 s)."""
        d = wt.tmpdir("cf")
        p = os.path.join(d, "winnowd.json")
        cfg = dict(cfg, state_dir=os.path.join(d, "state"), token="t")
        with open(p, "w") as f:
            json.dump(cfg, f)
        proc = subprocess.Popen([WINNOWD, "--config", p], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(1.5)
            return False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return True

    def test_plain_http_only_to_loopback(self):
        for url in ("http://192.0.2.1:8080", "http://example.org", "http://[2001:db8::1]:80",
                    "http://128.0.0.1:1", "http://localhost.example.org:1"):
            p = self.run_conf({"url": url, "token": "t"})
            self.assertEqual(p.returncode, 2, url)
            self.assertIn("plain http:// is accepted only to this machine", p.stderr)
        p = self.run_conf({"url": "http://192.0.2.1", "token": "t", "allow_http": "yes"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("allow_http must be true or false", p.stderr)
        for url in ("http://127.0.0.1:1", "http://127.9.8.7:1", "http://localhost:1",
                    "http://[::1]:1"):
            self.assertTrue(self.starts({"url": url}), url)
        self.assertTrue(self.starts({"url": "http://192.0.2.1:1", "allow_http": True}))
        self.assertTrue(self.starts({"url": "https://192.0.2.1:1"}))

    def test_unknown_key(self):
        p = self.run_conf({"url": "http://127.0.0.1:1", "token": "t", "poll_intervall": 5})
        self.assertEqual(p.returncode, 2)
        self.assertIn("poll_intervall", p.stderr)

    def test_wrong_type(self):
        p = self.run_conf({"url": "http://127.0.0.1:1", "token": "t", "concurrent_runs": "2"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("concurrent_runs", p.stderr)

    def test_no_token(self):
        p = self.run_conf({"url": "http://127.0.0.1:1"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("token", p.stderr)

    def test_dataset_roots(self):
        for bad, why in ((["relative/dir"], "absolute"), ("/srv", "array"), (["/nonexistent-root"], "not a folder")):
            p = self.run_conf({"url": "http://127.0.0.1:1", "token": "t", "dataset_roots": bad})
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("dataset_roots", p.stderr)
            self.assertIn(why, p.stderr)
        self.assertTrue(self.starts({"url": "http://127.0.0.1:1", "dataset_roots": [wt.tmpdir("root")]}))

    def test_missing_file(self):
        p = subprocess.run([WINNOWD, "--config", "/nonexistent/winnowd.json"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("/nonexistent/winnowd.json", p.stderr)

    def test_token_never_logged(self):
        d = wt.tmpdir("tk")
        secret = "s3cr3t-token-value"
        p = os.path.join(d, "winnowd.json")
        with open(p, "w") as f:
            json.dump({"url": "http://127.0.0.1:9", "state_dir": os.path.join(d, "st"),
                       "poll_interval": 0.2}, f)
        e = dict(os.environ, WINNOW_TOKEN=secret)
        proc = subprocess.Popen([WINNOWD, "--config", p], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=e)
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, out)
        self.assertNotIn(secret, out.decode())
        self.assertIn("$WINNOW_TOKEN", out.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
