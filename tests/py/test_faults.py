"""Faults between winnowd and winnow-web, and in winnowd's state directory.

- network faults through tests/tools/faultproxy.py (winnowd's url points at
  it; the web app and the daemon are the real programs): added latency, a hang
  (the request timeout fires), a connection reset before and after the web app
  acted, an answer cut short, 500, 429 with Retry-After, a request body cut
  short on its way to the web app. Each run still completes with the results of
  local mode, the retries are in winnowd's log, nothing is posted twice.
- request bodies cut short, sent straight to the web app: it never acts on one,
  even when the part that arrived is valid JSON.
- kill -9 of winnow-web during runs (stages and reporting): its database passes
  PRAGMA integrity_check, and after it restarts on the same port the daemon
  resumes reporting with nothing posted twice.
- the state directory's disk full: a small tmpfs (skipped when this process
  cannot mount), and RLIMIT_FSIZE on winnowd (writes past the limit fail with
  EFBIG, as on a full disk): the run fails or waits cleanly, the database stays
  intact, and work goes on when space returns.
"""
import os
import random
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
import test_daemon as td  # noqa: E402
import faultproxy  # noqa: E402  (tests/tools, on the path through winnowtest)

# A small coreset run: quick stages, the whole results chain (samples, sample
# order, two tags, artifacts; no score lists without predictions' scores).
CORESET = td.CORESET
ID = r"[0-9a-f]{24}"


def integrity(path):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return ";".join(r[0] for r in c.execute("PRAGMA integrity_check"))
    finally:
        c.close()


class FaultTest(td.DaemonTest):
    """DaemonTest's set-up and helpers (its tests are not repeated here, below)."""

    def setUp(self):
        super().setUp()
        self.proxy = None

    def tearDown(self):
        if self.proxy is not None:
            self.proxy.stop()
        super().tearDown()

    def through_proxy(self, env=None, extra=None):
        """A proxy in front of the web app and a daemon that talks through it."""
        self.proxy = faultproxy.FaultProxy(self.web.port).start()
        # As behind a real proxy, the links the web app builds (the upload URLs) point at
        # the proxy: --public-url (SPEC 8: never the Host header). Same port, same db.
        port = self.web.port
        self.web.stop()
        self.web.extra = list(self.web.extra) + ["--public-url", self.proxy.url()]
        self.restart_web(port)
        d = td.Daemon(self.proxy.url(), self.wtok, os.path.join(self.dir, "wd-%d" % len(self.daemons)),
                      env=env, extra=extra)
        self.daemons.append(d)
        return d

    def run_through(self, rules, env=None, extra=None, n=40):
        """One coreset run through the proxy with rules; returns (run, daemon log)."""
        path = td.dataset(self.root, n=n)
        ds = self.make_dataset(path)
        d = self.through_proxy(env=env, extra=extra)
        for r in rules:
            self.proxy.add(*r[:3], **(r[3] if len(r) > 3 else {}))
        sched = self.schedule(ds, CORESET)
        d.start()
        run = self.wait_run(sched, timeout=180)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, CORESET, path)
        self.assert_no_duplicates(ds, run)
        for r in rules:
            self.assertTrue(any(e[0] == r[2] and r[0] in (None, e[1]) for e in self.proxy.applied()),
                            "fault %s on %s %s never applied: %r" % (r[2], r[0], r[1], self.proxy.applied()))
        return ds, run, d.log_text()

    # -- network faults -------------------------------------------------------
    def test_latency(self):
        # Every call 0.3 s late: slower, nothing else.
        _, run, log = self.run_through([(None, r".", "latency", {"count": -1, "delay": 0.3})])
        self.assertNotIn("retry", log)
        # SPEC 7's wire, as the proxy saw it: each Lightly artifact created, uploaded and
        # confirmed; winnow's files on winnow's route, not confirmed; no path of before
        seen = [(m, p.split("?")[0]) for m, p in self.proxy.seen]
        rid = run["id"]
        lightly = {a["id"] for a in self.ok("GET", "/v1/winnow/runs/%s" % rid)["artifacts"]
                   if a["type"] not in ("SCORES_CSV", "SELECTION_CSV", "EMBEDDINGS_2D", "NO_PREDICTIONS")}
        fl = self.ok("GET", "/v1/winnow/runs/%s/files" % rid)
        self.assertLessEqual({"selection.csv", "embeddings_2d.csv"}, {f["fileName"] for f in fl})
        files = {f["id"] for f in fl}
        confirmed = [p.split("/")[6] for m, p in seen if m == "PUT" and p.endswith("/confirmUpload")]
        self.assertEqual(sorted(confirmed), sorted(lightly))
        uploaded = {p.split("/")[4] for m, p in seen if m == "PUT" and p.startswith("/v1/winnow/artifacts/")}
        self.assertEqual(uploaded, lightly | files)
        self.assertEqual(sum(1 for m, p in seen if m == "POST" and p == "/v1/winnow/runs/%s/files" % rid), len(files))
        self.assertTrue(any(m == "PUT" and p == "/v1/winnow/runs/%s/progress" % rid for m, p in seen))
        old = [e for e in seen if re.match(r"^/v1/datasets/[^/]+/(samples/batch|datapools/)", e[1])]
        self.assertEqual(old, [])
        # every call winnowd makes to the web app carries an Idempotency-Key (SPEC 7); the
        # uploads to a signedWriteUrl (no token, the signature is the credential) need none
        keys = list(zip(seen, self.proxy.seen_keys))
        self.assertEqual([e for e, k in keys if not k and not e[1].startswith("/v1/winnow/artifacts/")], [])
        # the outbox's keys, "<job id>:<seq>", each once on its route (a retry would repeat
        # one: none here; an artifact's confirmUpload is its create's item, with its key)
        sched = run["scheduledId"]
        outbox = [(k, e[0], e[1]) for e, k in keys if k and re.fullmatch(re.escape(sched) + r":\d+", k)]
        self.assertGreater(len(outbox), 10)
        self.assertEqual(len(outbox), len(set(outbox)))
        self.assertEqual(len({k for k, m, p in outbox if not p.endswith("/confirmUpload")}),
                         len([1 for k, m, p in outbox if not p.endswith("/confirmUpload")]))
        self.assertIn(sched + ":lock", [k for e, k in keys])

    def test_hang_fires_the_request_timeout(self):
        # The web app accepts the first run-state PUT and the sample batch and never
        # answers: the request times out (capped to 3 s for the test), is retried,
        # and the run completes.
        _, _, log = self.run_through(
            [("PUT", r"^/v1/docker/runs/%s$" % ID, "hang"),
             ("POST", r"/samples/batch$", "hang")],
            env={"WINNOWD_TEST_HTTP_TIMEOUT_S": "3"}, extra={"poll_wait": 1})
        self.assertRegex(log, r"outbox: PUT /v1/docker/runs/%s \(job %s\): [^;]*timed out[^;]*; retry 1" % (ID, ID))
        self.assertRegex(log, r"outbox: POST /v1/winnow/datasets/%s/samples/batch \(job %s\): [^;]*timed out[^;]*; retry 1"
                         % (ID, ID))

    def test_connection_reset(self):
        # Reset before the web app sees the call (the candidates tag), and after it
        # acted (LOCKED, the run, the sample batch): the answer is lost, the repeat
        # finds the effect already there and creates nothing twice.
        _, _, log = self.run_through(
            [("POST", r"/tags$", "reset"),
             ("PUT", r"/schedule/%s$" % ID, "reset", {"forward": True}),
             ("POST", r"^/v1/docker/runs$", "reset", {"forward": True}),
             ("POST", r"/samples/batch$", "reset", {"forward": True})])
        # A reset before any answer on a reused connection is retried by libcurl
        # itself, once, on a fresh connection (not logged; every call is idempotent).
        # After the web app acted, the daemon's own retry shows.
        self.assertRegex(log, r"outbox: POST /v1/winnow/datasets/%s/samples/batch \(job %s\): [^;]*; retry 1" % (ID, ID))
        self.assertRegex(log, r"claim of scheduled run %s: LOCKED: " % ID)
        self.assertRegex(log, r"claim of scheduled run %s: create run: " % ID)

    def test_answer_cut_short(self):
        # The web app's answer arrives with its Content-Length but half its body:
        # never taken as an answer (the candidates tag id would be cut), retried.
        _, _, log = self.run_through(
            [("POST", r"/tags$", "short"),
             ("POST", r"^/v1/docker/runs$", "short"),
             ("GET", r"/mappings$", "short"),
             ("POST", r"/artifacts$", "short")])
        self.assertRegex(log, r"outbox: POST /v1/datasets/%s/tags \(job %s\): [^;]*; retry 1" % (ID, ID))
        self.assertRegex(log, r"outbox: GET /v1/datasets/%s/mappings \(job %s\): [^;]*; retry 1" % (ID, ID))
        self.assertRegex(log, r"claim of scheduled run %s: create run: " % ID)

    def test_http_500(self):
        _, _, log = self.run_through(
            [("PUT", r"/logs$", "status", {"count": 2, "status": 500}),
             ("POST", r"/tags$", "status", {"status": 500}),
             ("PUT", r"/schedule/%s$" % ID, "status", {"status": 500})])
        self.assertRegex(log, r"outbox: PUT /v1/docker/runs/%s/logs \(job %s\): HTTP 500; retry 1" % (ID, ID))
        self.assertRegex(log, r"outbox: POST /v1/datasets/%s/tags \(job %s\): HTTP 500; retry 1" % (ID, ID))
        self.assertRegex(log, r"claim of scheduled run %s: LOCKED: refused: " % ID)

    def test_429_with_retry_after(self):
        t0 = time.time()
        _, _, log = self.run_through(
            [("POST", r"/samples/batch$", "status", {"status": 429, "retry_after": 3})])
        # Retry-After (3 s) is longer than the first backoff step (0.5..1 s): it wins.
        self.assertRegex(log, r"outbox: POST /v1/winnow/datasets/%s/samples/batch \(job %s\): HTTP 429; retry 1 in 3\.0 s"
                         % (ID, ID))
        self.assertGreater(time.time() - t0, 3)

    def test_request_body_cut_short_toward_the_web_app(self):
        # Half of the daemon's body reaches the web app, then both sides close: the
        # web app must not act on it (no tag, no samples from it), the daemon sees
        # no answer and sends it again whole.
        _, run, log = self.run_through(
            [("POST", r"/samples/batch$", "cut_request"),
             ("POST", r"/tags$", "cut_request", {"count": 2}),
             ("PUT", r"/logs$", "cut_request")])
        self.assertRegex(log, r"outbox: POST /v1/datasets/%s/tags \(job %s\): [^;]*; retry 1" % (ID, ID))
        self.assertNotIn("dropped", log)
        web = self.web.log_text()
        self.assertNotRegex(web, r"POST /v1/datasets/%s/tags 400" % ID)

    # -- kill -9 of the web app -------------------------------------------------
    def kill_web(self):
        """kill -9 of winnow-web; its database must pass integrity_check as it was left."""
        port = self.web.port
        self.web.proc.kill()
        self.web.proc.wait()
        self.web.logf.close()
        self.web.proc = None
        self.assertEqual(integrity(self.web.db), "ok")
        return port

    def test_web_app_killed_during_stages_and_reporting(self):
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        # The reporting calls are slowed down through the proxy, so that a kill can
        # fall inside the results chain; the embeddings stage is held for 3 s.
        d = self.through_proxy(env={"WINNOWD_TEST_STAGE_DELAY": "embeddings:3000"})
        self.proxy.add(None, r"/artifacts|/tags$|/samples/batch$|/logs$|/content$", "latency",
                       count=-1, delay=0.15)
        first = self.schedule(ds, CORESET)
        second = self.schedule(ds, CORESET)
        d.start()
        run1 = self.wait_run(first, states=("EMBEDDING",), timeout=60)
        port = self.kill_web()                      # 1: during the stages
        time.sleep(2)
        self.restart_web(port)
        deadline = time.time() + 60                 # 2: inside run 1's results chain
        while not any(e[2].startswith("/v1/docker/runs/%s/artifacts" % run1["id"]) for e in self.proxy.applied()):
            self.assertLess(time.time(), deadline, "run 1 did not reach its artifacts")
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.5))
        self.kill_web()
        time.sleep(1)
        self.restart_web(port)
        # Run 2's states reach the web app through the outbox, behind what is left of
        # run 1's slowed reporting and the backoff from the last kill; by the time they
        # are delivered run 2 may be past EMBEDDING, with the later states right behind
        # (a 0.2 s poll can miss EMBEDDING altogether), so any state from it on counts.
        run2 = self.wait_run(second, states=("EMBEDDING", "COMPUTING_ACTIVE_LEARNING_SCORES",
                                             "SAMPLING", "SAVING_RESULTS") + td.FINAL,
                             timeout=120)
        time.sleep(random.uniform(0, 2.5))          # 3: somewhere in run 2 or its reporting
        self.kill_web()
        time.sleep(1)
        self.restart_web(port)
        for sched, run in ((first, run1), (second, run2)):
            run = self.wait_run(sched, timeout=180)
            self.assertEqual(run["state"], "COMPLETED", run)
            self.wait_sched_done(ds, sched)
            self.check_results_match_local(ds, run, CORESET, path)
            self.assert_no_duplicates(ds, run)
        self.assertRegex(d.log_text(), r"outbox: .*; retry 1")
        self.assertEqual(len(self.ok("GET", "/v1/docker/runs?datasetId=%s" % ds)), 2)

    # -- the state directory's disk full -----------------------------------------
    def fill(self, path, leave):
        """Fills the file system of path, then gives back `leave` bytes."""
        filler = os.path.join(path, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 65536)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"x" * 512)
        except OSError:
            pass
        size = os.fstat(fd).st_size
        os.ftruncate(fd, max(0, size - leave))
        os.close(fd)
        return filler

    def disk_full_case(self, d, make_room, leave):
        """Fills the disk (leave bytes free) after the daemon is ready, schedules a
        run, lets it meet the full disk for 8 s, makes room; the run must end
        (COMPLETED, or FAILED with a message), a second run must complete, and
        winnowd's database must pass integrity_check."""
        path = td.dataset(self.root, n=40)
        ds = self.make_dataset(path)
        if d.proc is None:
            d.start()
        deadline = time.time() + 30
        while "ready:" not in d.log_text():
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)
        filler = self.fill(d.state, leave) if leave is not None else None
        sched = self.schedule(ds, CORESET)
        n0 = len(self.web.log_text().splitlines())
        time.sleep(8)
        n1 = len(self.web.log_text().splitlines())
        self.assertIsNone(d.proc.poll(), "winnowd died on a full disk")
        # No call repeated in a tight loop while nothing can be recorded: polls,
        # heartbeats and retries with backoff only (a loop makes thousands).
        self.assertLess(n1 - n0, 150, "requests while the disk was full")
        make_room(filler)
        run = self.wait_run(sched, timeout=120)
        self.assertIn(run["state"], ("COMPLETED", "FAILED"), run)
        if run["state"] == "FAILED":
            self.assertTrue(run["message"], run)
        else:
            self.check_results_match_local(ds, run, CORESET, path)
        self.wait_sched_done(ds, sched)
        self.assert_no_duplicates(ds, run, same_attempt=False)
        second = self.schedule(ds, CORESET)
        run2 = self.wait_run(second, timeout=120)
        self.assertEqual(run2["state"], "COMPLETED", run2)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(integrity(os.path.join(d.state, "winnowd.db")), "ok")
        return run, d.log_text()

    def test_disk_full_tmpfs(self):
        d = self.daemon(env={"WINNOWD_TEST_RETRY_MS": "500"})
        os.makedirs(d.state)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", d.state],
                           capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (%s); RLIMIT_FSIZE covers a full disk instead"
                          % (p.stderr.strip() or p.returncode))
        try:
            for leave in (0, 96 * 1024):
                self.disk_full_case(d, lambda f: os.unlink(f), leave)
                # The next case starts a fresh daemon on the same (now roomy) state.
                d.proc = None
        finally:
            d.stop()
            subprocess.run(["umount", "-l", d.state])

    def test_disk_full_rlimit_fsize(self):
        # RLIMIT_FSIZE: every write past 256 KiB in a file fails with EFBIG, as on a
        # full disk (SIGXFSZ ignored, so the write fails instead of killing); the
        # WAL grows past it at the first run. Room comes back by raising the limit
        # of the running daemon (prlimit).
        d = self.daemon(env={"WINNOWD_TEST_RETRY_MS": "500"})
        limit = 256 * 1024

        def limited():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        real_popen = subprocess.Popen
        subprocess.Popen = lambda *a, **kw: real_popen(*a, preexec_fn=limited, **kw)
        try:
            d.start()
        finally:
            subprocess.Popen = real_popen
        pid = d.proc.pid

        def room(_):
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        run, log = self.disk_full_case(d, room, None)
        self.assertRegex(log, r"disk I/O error|database or disk is full|File too large|write failed")


class TruncatedBodyTest(unittest.TestCase):
    """Bodies cut short, straight to the web app, each with a part that is
    valid JSON on its own: the web app must wait for the rest and, when the
    connection closes instead, act on nothing."""

    def setUp(self):
        self.dir = wt.tmpdir("tb")
        self.web = webtest.Server(workdir=self.dir)
        self.wtok = self.web.token("worker1", "worker")
        self.utok = self.web.token("alice", "user")
        self.web.start()
        self.ds = self.web.ok("POST", "/v1/datasets", {"name": "truncated"}, self.utok)["id"]
        cfg = self.web.ok("POST", "/v1/docker/worker/config",
                          {"config": {"workerType": "FULL", "docker": CORESET, "lightly": {}}}, self.utok)["id"]
        self.sched = self.web.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds,
                                 {"configId": cfg, "priority": "MID"}, self.utok)["id"]
        self.wid = self.web.ok("POST", "/v1/docker/worker",
                               {"name": "worker1", "workerType": "FULL", "labels": []}, self.wtok)["id"]

    def tearDown(self):
        self.web.stop()
        self.assertEqual(integrity(self.web.db), "ok")

    def send_cut(self, method, path, body, declared=None, chunked=False):
        """Sends the head and body, then closes our side; returns what came back."""
        s = socket.create_connection(("127.0.0.1", self.web.port), timeout=30)
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n" \
               "Content-Type: application/json\r\n" % (method, path, self.wtok)
        if chunked:
            head += "Transfer-Encoding: chunked\r\n\r\n"
            data = b"%x\r\n%s\r\n" % (len(body), body)     # no closing 0-chunk
        else:
            head += "Content-Length: %d\r\n\r\n" % (declared or len(body) + 16)
            data = body
        s.sendall(head.encode() + data)
        time.sleep(0.3)     # the web app has every byte sent; now the rest never comes
        s.shutdown(socket.SHUT_WR)
        got = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got += c
        except OSError:
            pass
        s.close()
        return got

    def sched_state(self):
        for x in self.web.ok("GET", "/v1/winnow/datasets/%s/schedule" % self.ds, token=self.utok):
            if x["id"] == self.sched:
                return x["state"]
        return None

    def test_claim_body_cut_short(self):
        path = "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.wid, self.sched)
        for chunked in (False, True):
            got = self.send_cut("PUT", path, b'{"state":"LOCKED"}', chunked=chunked)
            self.assertNotIn(b" 200 ", got.split(b"\r\n", 1)[0])
            self.assertEqual(self.sched_state(), "OPEN")
        # The same body whole does claim it.
        self.web.ok("PUT", path, {"state": "LOCKED"}, self.wtok)
        self.assertEqual(self.sched_state(), "LOCKED")

    def test_tag_and_samples_bodies_cut_short(self):
        samples = b'[{"fileName":"a.jpg","metaData":{}}]'
        tag = b'{"name":"cut","prevTagId":null,"bitMaskData":"0x1","totSize":1,"creator":"USER_WORKER"}'
        # the worker holds the dataset's run, so its calls there are taken (SPEC 8)
        self.web.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.wid, self.sched),
                    {"state": "LOCKED"}, self.wtok)
        for chunked in (False, True):
            self.send_cut("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, samples, chunked=chunked)
            self.send_cut("POST", "/v1/datasets/%s/tags" % self.ds, tag, chunked=chunked)
        # A body cut inside the JSON, too (Content-Length of the whole, half sent).
        self.send_cut("POST", "/v1/datasets/%s/tags" % self.ds, tag[:len(tag) // 2], declared=len(tag))
        self.assertEqual(self.web.ok("GET", "/v1/datasets/%s/mappings?field=fileName" % self.ds,
                                     token=self.wtok), [])
        self.assertEqual(self.web.ok("GET", "/v1/datasets/%s/tags" % self.ds, token=self.utok), [])
        self.assertTrue(self.web.alive())
        # The same bodies whole are taken: the cut ones were refused for being cut.
        r = self.web.request("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, raw=samples, token=self.wtok,
                             headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 201), r)
        r = self.web.request("POST", "/v1/datasets/%s/tags" % self.ds, raw=tag, token=self.wtok,
                             headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 201), r)
        self.assertEqual([t["name"] for t in self.web.ok("GET", "/v1/datasets/%s/tags" % self.ds,
                                                         token=self.utok)], ["cut"])


# DaemonTest's own tests run in test_daemon; here only the ones above.
for _name in dir(td.DaemonTest):
    if _name.startswith("test_"):
        setattr(FaultTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
