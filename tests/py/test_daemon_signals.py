"""winnowd's SPEC 6 behaviours around signals, deaths and its log, against the
real winnow-web on 127.0.0.1 (test_daemon's set-up and helpers):

- the poison-job rule: kill -9 while the same run's stages run; four deaths
  requeue the run, the fifth fails it as a suspected poison job (web app,
  winnowctl);
- a second SIGINT exits at once (status 130) while the first one's drain waits
  for a slow image; the run resumes after a restart;
- journald level prefixes (<3>..<7>) on every stderr line when stderr is not a
  tty or JOURNAL_STREAM is set, none on a plain tty, and the run id on a run's
  lines;
- SIGHUP changes the log level (debug lines appear, then stop) and the token
  (the old one revoked in the web app, the new one read from the token file);
- the outbox's backoff: a call answered 503 three times is retried after
  growing waits (each within its jitter range), one with Retry-After waits
  that long (tests/unit/test_backoff.c checks the helper and its 60 s cap).
"""
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
import test_daemon as td  # noqa: E402

CTL = os.path.join(wt.BIN, "winnowctl")
ID = td.ID
MAX_DEATHS = 5      # daemon/jobs.c
POISON = "the daemon died 5 times while running this run (a suspected poison job)"


def wait_for(cond, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class SignalTest(td.DaemonTest):
    def log_since(self, d, off):
        with open(d.log, "rb") as f:
            f.seek(off)
            return f.read().decode("utf-8", "replace")

    def log_size(self, d):
        return os.path.getsize(d.log) if os.path.exists(d.log) else 0

    def wait_log(self, d, pattern, off=0, timeout=60):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_since(d, off)), "%r in winnowd's log" % pattern, timeout)

    def ctl_show(self, d, sched):
        p = subprocess.run([CTL, "--state-dir", d.state, "show", sched, "--json"], capture_output=True,
                           text=True, timeout=60)
        return p.returncode, json.loads(p.stdout)

    # -- the poison-job rule (SPEC 6) ----------------------------------------------
    def test_fifth_death_fails_the_run_as_a_poison_job(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, td.CORESET)
        # The images stage is held at its start for a minute: each kill falls in it.
        d = self.daemon(env={"WINNOWD_TEST_STAGE_DELAY": "images:60000"})
        for death in range(1, MAX_DEATHS + 1):
            off = self.log_size(d)
            d.start()
            if death > 1:
                # The start after a death requeues the run and counts the death.
                self.wait_log(d, r"run %s: interrupted by the daemon's end; requeued \(death %d\)"
                              % (ID, death - 1), off)
            self.wait_log(d, r"run %s: stage images started" % ID, off)
            attempts, deaths, state = self.job_row(d, sched)
            self.assertEqual((attempts, deaths, state), (0, death - 1, "running"))
            # The stage's state reaches the web app through the outbox, after the log line.
            self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=30)
            d.kill9()
        # After the fifth death: no sixth start of the stages, the run FAILED.
        off = self.log_size(d)
        d.env.pop("WINNOWD_TEST_STAGE_DELAY")
        d.start()
        run = self.wait_run(sched, timeout=60)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertEqual(run["message"], POISON)
        self.wait_sched_done(ds, sched)
        self.assertEqual(self.job_row(d, sched), (0, MAX_DEATHS, "failed"))
        log = self.log_since(d, off)
        self.assertNotIn("stage images started", log)
        self.assertNotIn("requeued (death 5)", d.log_text())
        self.assertEqual(self.tags(ds), [])
        rc, job = self.ctl_show(d, sched)
        self.assertEqual(rc, 1, job)     # winnowctl show: 1 for a failed job
        self.assertEqual(job["state"], "failed")
        self.assertIn("suspected poison job", json.dumps(job))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    # -- SIGINT twice (SPEC 6) -------------------------------------------------------
    def test_second_sigint_exits_at_once(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        sched = self.schedule(ds, td.CORESET)
        # Every image takes 30 s: the first SIGINT's drain waits for the images in hand.
        d = self.daemon(env={"WINNOWD_TEST_DELAY_MS": "30000"}).start()
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        self.wait_log(d, r"run %s: stage images started" % ID)
        d.signal(signal.SIGINT)
        self.wait_log(d, r"SIGINT: draining")
        t0 = time.time()
        d.signal(signal.SIGINT)
        rc = d.wait(timeout=20)
        # 130 is _exit's status for SIGINT; a clean drain would exit 0 only after the image's 30 s.
        self.assertEqual(rc, 130)
        self.assertLess(time.time() - t0, 20)
        log = d.log_text()
        self.assertIn("second SIGINT: exiting at once", log)
        self.assertNotIn("requeued", log)
        self.assertNotIn("\n<6>stopped", log)
        self.assertEqual(self.job_row(d, sched)[2], "running")
        # The restart finds the run interrupted (a death, not a failed attempt) and finishes it.
        d.env.pop("WINNOWD_TEST_DELAY_MS")
        d.start()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.assertEqual(self.job_row(d, sched), (0, 1, "done"))
        self.check_results_match_local(ds, run, td.CORESET, path)
        self.assert_no_duplicates(ds, run, same_attempt=False)

    # -- journald prefixes (SPEC 6, STYLE) --------------------------------------------
    def test_journald_level_prefixes(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        # A 503 on the first run-state PUT: a warning (the first retry of a call).
        proxy, d = self.daemon_via_proxy()
        proxy.add("PUT", r"^/v1/docker/runs/%s$" % ID, "status", status=503)
        d.start()
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        # A config that does not parse: an error; a url change: a notice.
        with open(d.conf) as f:
            good = f.read()
        with open(d.conf, "w") as f:
            f.write("{not json")
        d.signal(signal.SIGHUP)
        self.wait_log(d, "keeping the running config")
        cfg = json.loads(good)
        cfg["url"] = cfg["url"].replace("127.0.0.1", "localhost")
        with open(d.conf, "w") as f:
            json.dump(cfg, f)
        d.signal(signal.SIGHUP)
        self.wait_log(d, "config re-read")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        lines = d.log_text().splitlines()
        self.assertGreater(len(lines), 20)
        bad = [l for l in lines if not re.match(r"<[3-7]>\S", l)]
        self.assertEqual(bad, [], "lines without a journald prefix")

        def level(pattern):
            found = [l for l in lines if re.search(pattern, l)]
            self.assertTrue(found, pattern)
            return {l[:3] for l in found}

        self.assertEqual(level(r"SIGHUP: .*keeping the running config"), {"<3>"})
        self.assertEqual(level(r"outbox: PUT /v1/docker/runs/%s \(job %s\): HTTP 503; retry 1 in" % (ID, ID)),
                         {"<4>"})
        self.assertEqual(level(r"SIGHUP: url changed: needs a restart"), {"<5>"})
        self.assertEqual(level(r"ready: worker"), {"<6>"})
        self.assertEqual(level(r"outbox: POST /v1/winnow/datasets/%s/samples/batch \(job" % ID), {"<7>"})
        # The run id on every line of the run's stages.
        stage_lines = [l for l in lines if re.search(r"stage \w+ (started|done)", l)]
        self.assertGreaterEqual(len(stage_lines), 10)
        for l in stage_lines:
            self.assertRegex(l, r"^<[3-7]>run %s: " % run["id"])

    def test_no_prefixes_on_a_tty_unless_journald(self):
        """On a terminal the lines are plain ("winnowd: error: ..."); with
        JOURNAL_STREAM set (systemd's stderr) they carry the prefix again."""
        conf = os.path.join(self.dir, "tty.json")
        with open(conf, "w") as f:
            json.dump({"url": "http://127.0.0.1:9", "token": "t", "state_dir": os.path.join(self.dir, "tty"),
                       "poll_interval": 0.2}, f)
        outs = {}
        for journal in (False, True):
            env = dict(os.environ)
            env.pop("JOURNAL_STREAM", None)
            if journal:
                env["JOURNAL_STREAM"] = "8:12345"
            master, slave = pty.openpty()
            p = subprocess.Popen([td.WINNOWD, "--config", conf], stdin=subprocess.DEVNULL, stdout=slave,
                                 stderr=slave, env=env)
            os.close(slave)
            buf = b""
            deadline = time.time() + 30
            while b"starting" not in buf and time.time() < deadline:
                try:
                    buf += os.read(master, 4096)
                except OSError:
                    break
            p.send_signal(signal.SIGTERM)
            try:
                while True:
                    chunk = os.read(master, 4096)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
            self.assertEqual(p.wait(30), 0)
            os.close(master)
            outs[journal] = buf.decode("utf-8", "replace").replace("\r\n", "\n").splitlines()
        plain, journald = outs[False], outs[True]
        self.assertTrue(any(re.match(r"winnowd: winnowd \S+ starting", l) for l in plain), plain)
        self.assertFalse(any(re.match(r"<\d>", l) for l in plain), plain)
        self.assertTrue(journald and all(re.match(r"<[3-7]>\S", l) for l in journald), journald)
        self.assertTrue(any(re.match(r"<6>winnowd \S+ starting", l) for l in journald), journald)

    # -- SIGHUP: log level and token (SPEC 6) ---------------------------------------
    def test_sighup_changes_log_level_and_token(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        tokfile = os.path.join(self.dir, "token")
        with open(tokfile, "w") as f:
            f.write(self.wtok + "\n")
        d = self.daemon(extra={"log_level": "info", "token_file": tokfile})
        with open(d.conf) as f:
            cfg = json.load(f)
        del cfg["token"]
        with open(d.conf, "w") as f:
            json.dump(cfg, f)
        d.start()

        def one_run():
            sched = self.schedule(ds, td.CORESET)
            run = self.wait_run(sched, timeout=120)
            self.assertEqual(run["state"], "COMPLETED", run)
            self.wait_sched_done(ds, sched)
            return run

        def reload(**change):
            cfg.update(change)
            with open(d.conf, "w") as f:
                json.dump(cfg, f)
            off = self.log_size(d)
            d.signal(signal.SIGHUP)
            self.wait_log(d, r"SIGHUP: config re-read", off)

        one_run()
        self.assertNotIn("<7>", d.log_text())
        reload(log_level="debug")
        off = self.log_size(d)
        one_run()
        self.assertRegex(self.log_since(d, off), r"<7>outbox: POST /v1/winnow/datasets/%s/samples/batch" % ID)
        reload(log_level="info")
        off = self.log_size(d)
        one_run()
        self.assertNotIn("<7>", self.log_since(d, off))
        self.assertIn("<6>run ", self.log_since(d, off))

        # The token: revoked in the web app, the daemon's calls are refused ...
        off = self.log_size(d)
        webtest.cli("token", "revoke", "worker1", "--db", self.web.db)
        new = self.web.token("worker2", "worker", worker="worker1")     # the same worker's new token (SPEC 8)
        self.wait_log(d, r"UNAUTHORIZED", off, timeout=60)
        sched = self.schedule(ds, td.CORESET)
        # A poll after the schedule, refused too: nothing is claimed.
        self.wait_log(d, r"UNAUTHORIZED", self.log_size(d), timeout=60)
        self.assertIsNone(self.run_of(sched))
        # ... a new one in the token file and SIGHUP: the daemon works again.
        with open(tokfile, "w") as f:
            f.write(new + "\n")
        reload()
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        old, self.wtok = self.wtok, new      # the helpers' worker calls
        self.check_results_match_local(ds, run, td.CORESET, path)
        log = d.log_text()
        self.assertNotIn(old, log)
        self.assertNotIn(new, log)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)


    # -- SIGHUP: dataset_roots (docs/daemon.md) ---------------------------------------
    def test_sighup_rereads_dataset_roots(self):
        """A relative fullPath that no root holds fails the run; the root added to the config
        and SIGHUP, the next run finds the folder and selects what local mode selects."""
        import shutil
        path = td.dataset(self.root, n=40)
        wroot = os.path.join(self.dir, "worker-data")
        shutil.copytree(path, os.path.join(wroot, "rel", "imgs"))
        os.makedirs(os.path.join(self.root, "rel"))
        os.symlink(path, os.path.join(self.root, "rel", "imgs"))    # the web app's view
        empty = os.path.join(self.dir, "worker-empty")
        os.makedirs(empty)
        ds = self.ok("POST", "/v1/datasets", {"name": "rel"})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT",
                                                           "fullPath": "rel/imgs"})
        d = self.daemon(extra={"dataset_roots": [empty]})
        d.start()
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("dataset_roots", run["message"])
        self.wait_sched_done(ds, sched)
        with open(d.conf) as f:
            cfg = json.load(f)
        cfg["dataset_roots"] = [empty, wroot]
        with open(d.conf, "w") as f:
            json.dump(cfg, f)
        off = self.log_size(d)
        d.signal(signal.SIGHUP)
        self.wait_log(d, r"SIGHUP: dataset_roots now 2 folders", off)
        self.wait_log(d, r"SIGHUP: config re-read", off)
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, td.CORESET, path)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    # -- the outbox's backoff (SPEC 6) ------------------------------------------------
    def test_outbox_backoff_grows_and_honours_retry_after(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        proxy, d = self.daemon_via_proxy()
        samples = r"^/v1/winnow/datasets/%s/samples/batch$" % ds
        tags = r"^/v1/datasets/%s/tags$" % ds
        proxy.add("POST", samples, "status", status=503, count=3)
        proxy.add("POST", tags, "status", status=503, count=1, retry_after=4)
        d.start()
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, td.CORESET, path)
        self.assert_no_duplicates(ds, run)

        def arrivals(pat):
            return [t for (m, p), t in zip(proxy.seen, proxy.seen_at) if m == "POST" and re.search(pat, p)]

        # The waits the daemon chose: attempt k waits [0.5, 1] x 2^k s.
        log = d.log_text()
        waits = [float(w) for w in re.findall(r"outbox: POST /v1/winnow/datasets/%s/samples/batch \(job %s\): "
                                              r"HTTP 503; retry \d+ in ([0-9.]+) s" % (ds, ID), log)]
        self.assertEqual(len(waits), 3, log)
        for k, w in enumerate(waits):
            self.assertTrue(0.5 * 2 ** k - 0.05 <= w <= 2 ** k + 0.05, (k, waits))
        self.assertRegex(log, r"samples/batch \(job %s\): HTTP 503; retry 1 in" % ID)
        self.assertRegex(log, r"samples/batch \(job %s\): HTTP 503; retry 3 in" % ID)
        # ... and the calls came no sooner than that (a timer never fires early).
        t = arrivals(samples)
        self.assertEqual(len(t), 4, t)
        gaps = [b - a for a, b in zip(t, t[1:])]
        for g, w in zip(gaps, waits):
            self.assertGreaterEqual(g, w - 0.1, (gaps, waits))
        self.assertGreater(gaps[2], gaps[0])
        # Retry-After 4 beats the first step's backoff (at most 1 s).
        self.assertRegex(log, r"outbox: POST /v1/datasets/%s/tags \(job %s\): HTTP 503; retry 1 in 4\.0 s"
                         % (ds, ID))
        t = arrivals(tags)
        self.assertEqual(len(t), 3, t)      # the refused one, its repeat, the selection tag
        self.assertGreaterEqual(t[1] - t[0], 3.9)


# DaemonTest's own tests run in test_daemon; here only the ones above.
for _name in dir(td.DaemonTest):
    if _name.startswith("test_"):
        setattr(SignalTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
