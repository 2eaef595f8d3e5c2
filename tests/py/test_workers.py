"""Several winnowd workers on one winnow-web, all real processes on 127.0.0.1.

The web app runs with a short --worker-timeout and the daemons heartbeat
often (WINNOWD_TEST_HEARTBEAT_MS, tests only), so that a worker killed with
kill -9 is found silent in seconds. Runs are slowed down in their embeddings
stage (WINNOWD_TEST_STAGE_DELAY) so that the kill lands inside a run.

The "ghost" workers of the last tests are this test speaking the worker API
itself: a worker that claimed a run and died before its stages began, which
a real winnowd passes through in milliseconds and cannot be stopped in.
"""
import http.client
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

TIMEOUT_S = 5
FAST_HB = {"WINNOWD_TEST_HEARTBEAT_MS": "500", "WINNOWD_TEST_STAGE_DELAY": "embeddings:1500"}
CORESET = td.CORESET
STAGES = ("LOADING_DATASET", "CHECKING_CORRUPTNESS", "EMBEDDING", "COMPUTING_ACTIVE_LEARNING_SCORES",
          "SAMPLING")


class WorkersBase(unittest.TestCase):
    def setUp(self):
        self.dir = wt.tmpdir("wk")
        self.root = os.path.join(self.dir, "data")
        os.makedirs(self.root)
        self.web = webtest.Server(roots=[self.root], workdir=os.path.join(self.dir, "web"),
                                  extra=["--worker-timeout", str(TIMEOUT_S)])
        os.makedirs(self.web.dir, exist_ok=True)
        self.wtok = self.web.token("workers", "worker")
        self.utok = self.web.token("alice", "user")
        self.web.start()
        self.daemons = []
        self.path = os.path.join(self.root, "d40")
        wt.mkdataset(self.path, "--n", 40, "--predictions", "--subdirs")

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.web.stop()
        if td.DaemonTest._outcome_failed(self):
            for d in self.daemons:
                sys.stderr.write("---- winnowd log %s\n%s\n" % (d.dir, d.log_text()[-5000:]))
            sys.stderr.write("---- winnow-web log\n%s\n" % self.web.log_text()[-5000:])

    # -- helpers --------------------------------------------------------------
    def daemon(self, name, env=FAST_HB, **kw):
        d = td.Daemon("http://127.0.0.1:%d" % self.web.port, self.web.worker_token(name),   # bound to name (SPEC 8)
                      os.path.join(self.dir, "wd-%s" % name), name=name, env=env, **kw)
        self.daemons.append(d)
        return d

    def ok(self, method, path, body=None, token=None, status=None):
        return self.web.ok(method, path, body, token or self.utok, status)

    def make_dataset(self):
        ds = self.ok("POST", "/v1/datasets", {"name": "dataset"})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.path})
        return ds

    def config(self):
        return self.ok("POST", "/v1/docker/worker/config",
                       {"config": {"workerType": "FULL", "docker": CORESET, "lightly": {}}})["id"]

    def schedule(self, ds, cfg, runs_on=None):
        body = {"configId": cfg, "priority": "MID"}
        if runs_on is not None:
            body["runsOn"] = runs_on
        return self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, body)["id"]

    def schedules(self, ds):
        # winnow's view: every state, with workerId and originScheduledId
        return {s["id"]: s for s in self.ok("GET", "/v1/winnow/datasets/%s/schedule" % ds)}

    def run_of(self, sched):
        r = self.web.request("GET", "/v1/docker/runs/schedule/%s" % sched, token=self.utok)
        return r.json if r.status == 200 else None

    def wait_ready(self, d, timeout=30):
        deadline = time.time() + timeout
        while "ready:" not in d.log_text():
            self.assertLess(time.time(), deadline, "winnowd %s did not get ready" % d.dir)
            time.sleep(0.1)

    def worker_id(self, name):
        for w in self.ok("GET", "/v1/docker/worker"):
            if w["name"] == name:
                return w["id"]
        return None

    def wait_for(self, what, cond, timeout=120, step=0.2):
        deadline = time.time() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.time() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(step)

    def tag_names(self, ds):
        return [t["name"] for t in self.ok("GET", "/v1/datasets/%s/tags" % ds)]


class TestWorkers(WorkersBase):
    def test_three_workers_twenty_runs_one_killed(self):
        ds = self.make_dataset()
        cfg = self.config()
        workers = [self.daemon(n) for n in ("worker1", "worker2", "worker3")]
        for d in workers:
            d.start()
        for d in workers:
            self.wait_ready(d)
        victim = workers[1]
        vid = self.worker_id("worker2")
        original = [self.schedule(ds, cfg) for _ in range(20)]

        # Midway: some runs completed, and the victim is inside the stages of one.
        def victim_in_a_stage():
            done = sum(1 for s in original if (self.run_of(s) or {}).get("state") == "COMPLETED")
            if done < 4:
                return None
            for s in self.schedules(ds).values():
                if s["workerId"] == vid and s["state"] == "LOCKED":
                    run = self.run_of(s["id"])
                    if run and run["state"] == "EMBEDDING":
                        return s["id"], run["id"]
            return None
        v_sched, v_run = self.wait_for("the victim inside a run", victim_in_a_stage, timeout=120,
                                       step=0.05)
        victim.kill9()

        # Every one of the 20 ends with one COMPLETED run: itself, or its reschedule.
        def all_completed():
            sc = self.schedules(ds)
            for s in original:
                chain = [s] + [x for x in sc if sc[x]["originScheduledId"] == s]
                if not any((self.run_of(x) or {}).get("state") == "COMPLETED" for x in chain):
                    return None
            return sc
        self.wait_for("all 20 runs COMPLETED", all_completed, timeout=240, step=0.5)
        # COMPLETED comes before the scheduled run's DONE (the last call of a run's reporting).
        sc = self.wait_for("every scheduled run DONE",
                           lambda: (lambda sc: sc if all(s["state"] == "DONE" for s in sc.values())
                                    else None)(self.schedules(ds)),
                           timeout=120, step=0.5)

        crashed = self.run_of(v_sched)
        self.assertEqual(crashed["id"], v_run)
        self.assertEqual(crashed["state"], "CRASHED", crashed)
        self.assertIn("worker2 went OFFLINE", crashed["message"])
        self.assertEqual(sc[v_sched]["state"], "DONE")
        again = [x for x in sc if sc[x]["originScheduledId"] == v_sched]
        self.assertEqual(len(again), 1, sc)
        self.assertEqual(len(sc), 21, "one reschedule and nothing else")
        self.assertEqual(self.ok("GET", "/v1/docker/worker/%s" % vid)["state"], "OFFLINE")

        # None twice: one run per scheduled run, 20 COMPLETED, each with its own two tags.
        runs = self.ok("GET", "/v1/docker/runs?datasetId=%s" % ds)
        self.assertEqual(sorted(r["scheduledId"] for r in runs), sorted(sc))
        completed = [r for r in runs if r["state"] == "COMPLETED"]
        self.assertEqual(len(completed), 20, [(r["id"], r["state"]) for r in runs])
        self.assertEqual([r["id"] for r in runs if r["state"] != "COMPLETED"], [v_run])
        names = self.tag_names(ds)
        self.assertEqual(len(names), len(set(names)))
        want = set()
        for r in completed:
            want |= {"run-%s" % r["id"], "run-%s-candidates" % r["id"]}
        self.assertEqual(set(names), want)
        for s in sc.values():
            self.assertEqual(s["state"], "DONE", s)
        # The three live workers shared the work.
        self.assertIn("CRASHED: worker worker2 went OFFLINE", self.web.log_text())

        # The victim comes back: its job on the crashed run is refused and dropped, unreported.
        victim.env.pop("WINNOWD_TEST_STAGE_DELAY")
        victim.start()
        self.wait_for("the victim dropping its job",
                      lambda: "dropping the job without reporting" in victim.log_text(), timeout=60)
        self.assertIn("DOCKER_WORKER_SCHEDULE_UPDATE_FAILED", victim.log_text())
        time.sleep(1)
        self.assertEqual(self.run_of(v_sched)["state"], "CRASHED")
        self.assertEqual(set(self.tag_names(ds)), want)
        self.assertEqual(len(self.ok("GET", "/v1/docker/runs?datasetId=%s" % ds)), 21)
        self.wait_for("the victim IDLE again", lambda: self.ok(
            "GET", "/v1/docker/worker/%s" % vid)["state"] == "IDLE", timeout=30)

    def test_gpu_runs_go_only_to_the_gpu_worker(self):
        ds = self.make_dataset()
        cfg = self.config()
        env = {"WINNOWD_TEST_HEARTBEAT_MS": "500"}
        cpu = self.daemon("cpu", env=env).start()
        gpu = self.daemon("gpu", env=env, extra={"labels": ["gpu"]}).start()
        self.wait_ready(cpu)
        self.wait_ready(gpu)
        cpu_id, gpu_id = self.worker_id("cpu"), self.worker_id("gpu")
        gpu_runs = [self.schedule(ds, cfg, runs_on=["gpu"]) for _ in range(4)]
        any_runs = [self.schedule(ds, cfg) for _ in range(4)]
        for s in gpu_runs + any_runs:
            self.wait_for("run of %s" % s, lambda s=s: (self.run_of(s) or {}).get("state") == "COMPLETED",
                          timeout=120)
        sc = self.schedules(ds)
        for s in gpu_runs:
            self.assertEqual(sc[s]["workerId"], gpu_id, sc[s])
            self.assertNotIn("scheduled run %s: claiming" % s, cpu.log_text())
        # The cpu worker's poll never lists a gpu run, and its claim of one is refused.
        self.assertEqual(gpu.stop(), 0)
        extra = self.schedule(ds, cfg, runs_on=["gpu"])
        polled = self.web.ok("GET", "/v1/docker/worker/%s/schedule?state=OPEN" % cpu_id, token=self.web.worker_token("cpu"))
        self.assertNotIn(extra, [p["id"] for p in polled])
        r = self.web.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, cpu_id, extra),
                             {"state": "LOCKED"}, token=self.web.worker_token("cpu"))
        self.assertEqual(r.status, 409, r)
        time.sleep(2)
        self.assertEqual(self.schedules(ds)[extra]["state"], "OPEN")
        self.assertIsNone(self.run_of(extra))


class TestGhostWorkers(WorkersBase):
    """Workers that die at the points a real winnowd passes in milliseconds."""

    def ghost(self, name):
        self.wtok = self.web.worker_token(name)     # its token from then on (SPEC 8: bound to name)
        return self.web.ok("POST", "/v1/docker/worker", {"name": name, "workerType": "FULL",
                                                           "labels": []}, token=self.wtok)["id"]

    def claim(self, ds, wid, sched, status=(200,)):
        return self.web.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sched),
                           {"state": "LOCKED"}, token=self.wtok, status=status)

    def create_run(self, ds, cfg, sched):
        return self.web.ok("POST", "/v1/docker/runs", {"dockerVersion": "ghost", "datasetId": ds,
                                                       "scheduledId": sched, "configId": cfg},
                           token=self.wtok)["id"]

    def put_state(self, run, state):
        return self.web.request("PUT", "/v1/docker/runs/%s" % run, {"state": state}, token=self.wtok)

    def test_claimed_but_not_started_goes_back_to_open(self):
        ds = self.make_dataset()
        cfg = self.config()
        sched = self.schedule(ds, cfg)
        ghost = self.ghost("ghost")
        self.claim(ds, ghost, sched)
        run = self.create_run(ds, cfg, sched)
        self.assertEqual(self.put_state(run, "STARTED").status, 200)
        self.wait_for("OPEN again", lambda: self.schedules(ds)[sched]["state"] == "OPEN", timeout=30)
        self.assertIsNone(self.run_of(sched))
        self.assertIn("back to OPEN: worker ghost went OFFLINE", self.web.log_text())
        # A real worker takes it, under the same scheduled id, with a run of its own.
        d = self.daemon("worker1", env={"WINNOWD_TEST_HEARTBEAT_MS": "500"}).start()
        done = self.wait_for("COMPLETED", lambda: (self.run_of(sched) or {}).get("state") == "COMPLETED"
                             and self.run_of(sched), timeout=120)
        self.assertNotEqual(done["id"], run)
        self.assertEqual(len(self.schedules(ds)), 1, "reopened, not rescheduled")
        # The ghost is back: every call on its old run and its claim are refused.
        r = self.put_state(run, "EMBEDDING")
        self.assertEqual((r.status, r.json["code"]), (409, "DOCKER_WORKER_SCHEDULE_UPDATE_FAILED"), r)
        r = self.web.request("PUT", "/v1/docker/runs/%s/logs" % run,
                             [{"ts": 1, "level": "INFO", "group": "winnowd", "msg": "late"}], token=self.wtok)
        self.assertEqual((r.status, r.json["code"]), (409, "DOCKER_WORKER_SCHEDULE_UPDATE_FAILED"), r)
        r = self.web.request("POST", "/v1/docker/runs/%s/artifacts" % run,
                             {"fileName": "log.txt", "type": "LOG"}, token=self.wtok)
        self.assertEqual((r.status, r.json["code"]), (409, "DOCKER_WORKER_SCHEDULE_UPDATE_FAILED"), r)
        r = self.web.request("POST", "/v1/datasets/%s/tags" % ds,
                             {"name": "run-%s" % run, "prevTagId": None, "bitMaskData": "0x1",
                              "totSize": 1, "creator": "SAMPLER_CORESET", "runId": run}, token=self.wtok)
        self.assertEqual((r.status, r.json["code"]), (409, "DOCKER_WORKER_SCHEDULE_UPDATE_FAILED"), r)
        self.claim(ds, ghost, sched, status=(409,))
        self.assertEqual(self.run_of(sched)["id"], done["id"])
        d.stop()

    def test_a_crash_is_rescheduled_once(self):
        ds = self.make_dataset()
        cfg = self.config()
        sched = self.schedule(ds, cfg)
        g1 = self.ghost("ghost1")
        self.claim(ds, g1, sched)
        run1 = self.create_run(ds, cfg, sched)
        self.assertEqual(self.put_state(run1, "EMBEDDING").status, 200)
        again = self.wait_for("a reschedule", lambda: [s for s in self.schedules(ds).values()
                                                       if s["originScheduledId"] == sched], timeout=30)
        self.assertEqual(len(again), 1)
        again = again[0]
        self.assertEqual((again["state"], again["configId"], again["priority"]), ("OPEN", cfg, "MID"))
        self.assertEqual(self.run_of(sched)["state"], "CRASHED")
        self.assertEqual(self.schedules(ds)[sched]["state"], "DONE")
        self.assertEqual(self.put_state(run1, "COMPLETED").status, 409)
        # The reschedule crashes too: CRASHED, and not rescheduled a second time.
        g2 = self.ghost("ghost2")
        self.claim(ds, g2, again["id"])
        run2 = self.create_run(ds, cfg, again["id"])
        self.assertEqual(self.put_state(run2, "SAMPLING").status, 200)
        self.wait_for("the second crash", lambda: (self.run_of(again["id"]) or {}).get("state") == "CRASHED",
                      timeout=30)
        time.sleep(2 * TIMEOUT_S / 4 + 1)   # a few more sweeps
        self.assertEqual(len(self.schedules(ds)), 2)
        self.assertIn("not rescheduled again", self.run_of(again["id"])["message"])


def self_signed(d):
    """A self-signed certificate for 127.0.0.1 and localhost (CN and SAN); its own CA."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TestTLS(unittest.TestCase):
    """winnow-web --tls-cert/--tls-key; winnowd trusts it through ca_file."""

    def setUp(self):
        self.dir = wt.tmpdir("tls")
        self.root = os.path.join(self.dir, "data")
        os.makedirs(self.root)
        self.cert, self.key = self_signed(self.dir)
        self.web = webtest.Server(roots=[self.root], workdir=os.path.join(self.dir, "web"),
                                  extra=["--tls-cert", self.cert, "--tls-key", self.key])
        self.web.tls_ca = self.cert
        os.makedirs(self.web.dir, exist_ok=True)
        self.wtok = self.web.token("worker1", "worker")
        self.utok = self.web.token("alice", "user")
        self.web.start()
        self.daemons = []
        self.path = os.path.join(self.root, "d40")
        wt.mkdataset(self.path, "--n", 40, "--predictions", "--subdirs")

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.web.stop()
        if td.DaemonTest._outcome_failed(self):
            for d in self.daemons:
                sys.stderr.write("---- winnowd log %s\n%s\n" % (d.dir, d.log_text()[-5000:]))
            sys.stderr.write("---- winnow-web log\n%s\n" % self.web.log_text()[-5000:])

    def url(self):
        return "https://127.0.0.1:%d" % self.web.port

    def daemon(self, name, **extra):
        d = td.Daemon(self.url(), self.web.worker_token(name), os.path.join(self.dir, "wd-%s" % name), name=name,
                      extra=extra)
        self.daemons.append(d)
        return d

    def sanity(self, d):
        return subprocess.run([wt.WINNOWD, "sanity-check", "--config", d.conf], capture_output=True,
                              text=True, timeout=60)

    def test_plain_http_to_the_tls_port_gets_nothing(self):
        c = http.client.HTTPConnection("127.0.0.1", self.web.port, timeout=10)
        with self.assertRaises((OSError, http.client.HTTPException)):
            c.request("GET", "/v1/winnow/me", headers={"Authorization": "Bearer " + self.utok})
            c.getresponse().read()
        c.close()
        self.assertEqual(self.web.ok("GET", "/v1/winnow/me", token=self.utok)["name"], "alice")

    def test_session_cookie_is_secure(self):
        r = self.web.request("POST", "/login", {"token": self.utok})
        self.assertEqual(r.status, 200)
        parts = [p.strip() for p in r.header("Set-Cookie").split(";")]
        self.assertIn("Secure", parts)
        self.assertIn("HttpOnly", parts)
        out = self.web.request("POST", "/logout", headers={
            "Cookie": parts[0]})
        self.assertIn("Secure", [p.strip() for p in out.header("Set-Cookie").split(";")])

    def test_a_run_completes_over_https(self):
        ds = self.web.ok("POST", "/v1/datasets", {"name": "dataset"}, token=self.utok)["id"]
        self.web.ok("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.path},
                    token=self.utok)
        cfg = self.web.ok("POST", "/v1/docker/worker/config",
                          {"config": {"workerType": "FULL", "docker": CORESET, "lightly": {}}},
                          token=self.utok)["id"]
        sched = self.web.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                            {"configId": cfg, "priority": "MID"}, token=self.utok)["id"]
        d = self.daemon("worker1", ca_file=self.cert)
        p = self.sanity(d)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("reachable", p.stdout)
        d.start()
        deadline = time.time() + 120
        while True:
            r = self.web.request("GET", "/v1/docker/runs/schedule/%s" % sched, token=self.utok)
            if r.status == 200 and r.json["state"] in td.FINAL:
                break
            self.assertLess(time.time(), deadline, "no end of the run")
            time.sleep(0.2)
        run = r.json
        self.assertEqual(run["state"], "COMPLETED", run)
        names = [t["name"] for t in self.web.ok("GET", "/v1/datasets/%s/tags" % ds, token=self.utok)]
        self.assertEqual(sorted(names), sorted(["run-%s" % run["id"], "run-%s-candidates" % run["id"]]))
        # The artifacts went up through https signedWriteUrls.
        arts = self.web.ok("GET", "/v1/winnow/runs/%s" % run["id"], token=self.utok)["artifacts"]
        log = [a for a in arts if a["fileName"] == "log.txt"][0]
        body = self.web.request("GET", "/v1/winnow/runs/%s/artifacts/%s/content" % (run["id"], log["id"]),
                                token=self.utok)
        self.assertEqual(body.status, 200, body)
        self.assertGreater(len(body.body), 0)
        self.assertNotIn("not trusted", d.log_text())

    def test_without_ca_file_the_certificate_is_refused(self):
        d = self.daemon("worker1")
        p = self.sanity(d)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS certificate is not trusted", p.stdout + p.stderr)
        d.start()
        deadline = time.time() + 30
        while "not trusted" not in d.log_text():
            self.assertLess(time.time(), deadline, "no certificate error logged")
            time.sleep(0.1)
        self.assertIn("set \"ca_file\"", d.log_text())
        # It never got through: not registered.
        self.assertEqual(self.web.ok("GET", "/v1/docker/worker", token=self.utok), [])

    def test_ca_file_that_does_not_exist_is_a_config_error(self):
        d = self.daemon("worker1", ca_file=os.path.join(self.dir, "nope.pem"))
        d.start()
        self.assertEqual(d.wait(30), 2)
        self.assertIn("ca_file", d.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
