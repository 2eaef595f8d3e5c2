"""Shared helpers for the winnow-web suites: start the real server on a free
127.0.0.1 port with a temp SQLite file, create tokens through its CLI, speak
HTTP with http.client, stop the server.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import winnowtest as wt

ROOT = os.environ.get("WINNOW_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("BIN", "bin"))
WEB = os.path.join(BIN, "winnow-web")
# winnow-web with a fault injector on its store seam (tests/tools/winnow_web_test.c)
WEB_TEST = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "tools", "winnow-web-test")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(*args, check=True):
    p = subprocess.run([WEB] + list(args), capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("winnow-web %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.body[:300])


class Server:
    """A running winnow-web. Use as a context manager or call stop()."""

    def __init__(self, db=None, roots=(), extra=(), workdir=None, faults=None):
        # faults: WINNOW_WEB_FAULTS for the test build (e.g. "busy:every=7,ioerr:every=11"),
        # which then runs instead of winnow-web; None: winnow-web itself. May be changed
        # between stop() and start().
        self.faults = faults
        self.dir = workdir or tempfile.mkdtemp(prefix="web", dir=wt.scratch_parent())
        self.db = db or os.path.join(self.dir, "web.db")
        self.roots = list(roots)
        self.extra = list(extra)
        self.port = None
        self.proc = None
        self.log = os.path.join(self.dir, "server.log")
        self.tls_ca = None      # with --tls-cert: the CA file requests verify against

    def token(self, name, role, worker=None):
        """A new token; a worker token is bound to the worker name worker (default: name)."""
        extra = ["--worker", worker] if worker else []
        return cli("token", "create", name, "--role", role, *extra, "--db", self.db).stdout.strip()

    def worker_token(self, name):
        """The worker token bound to the worker name (one token a name, made on first use)."""
        toks = self.__dict__.setdefault("_worker_tokens", {})
        if name not in toks:
            toks[name] = self.token("wtok-" + name, "worker", worker=name)
        return toks[name]

    def hold(self, user, ds, worker_name, labels=()):
        """Makes the worker worker_name hold a run of ds (SPEC 8: a worker touches only
        the datasets of the runs it holds): a config, a scheduled run, the worker
        registered, the run claimed LOCKED and created. Returns (worker token, worker id,
        scheduled id, run id)."""
        tok = self.worker_token(worker_name)
        cfg = self.ok("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": {}, "lightly": {}}}, user, 201)["id"]
        sid = self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, user, 201)["id"]
        wid = self.ok("POST", "/v1/docker/worker", {"name": worker_name, "workerType": "FULL",
                                                   "labels": list(labels)}, tok, 201)["id"]
        self.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "LOCKED"}, tok, 200)
        run = self.ok("POST", "/v1/docker/runs", {"dockerVersion": "t", "datasetId": ds, "scheduledId": sid,
                                                 "configId": cfg}, tok, 201)["id"]
        return tok, wid, sid, run

    def start(self):
        self.port = free_port()
        cmd = [WEB, "--listen", "127.0.0.1:%d" % self.port, "--db", self.db]
        for r in self.roots:
            cmd += ["--dataset-root", r]
        # S3 endpoints users may set (SPEC 8): the tests' own S3 server, on any port
        cmd += ["--s3-endpoint-allow", "http://127.0.0.1"]
        # suites try many wrong tokens from 127.0.0.1: no 429 unless a test asks (extra wins)
        cmd += ["--failed-auth-burst", "1000000"]
        cmd += self.extra
        env = None
        if self.faults is not None:
            cmd[0] = WEB_TEST
            env = dict(os.environ, WINNOW_WEB_FAULTS=self.faults)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("winnow-web exited (%d): %s" % (self.proc.returncode, self.log_text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("winnow-web did not listen: " + self.log_text())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.logf.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        # SIGTERM is a clean stop: exit 0. Anything else (a sanitizer report,
        # a crash) fails the test that stopped it.
        if rc is not None and rc != 0:
            raise AssertionError("winnow-web exited %d:\n%s" % (rc, self.log_text()[-4000:]))
        # An error code outside Lightly's ApiErrorCode is a bug the server logs (web/http.c).
        bugs = [l for l in self.log_text().splitlines() if "bug: error code" in l]
        if bugs:
            raise AssertionError("winnow-web answered codes outside ApiErrorCode:\n" + "\n".join(bugs[:10]))
        return rc

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def request(self, method, path, body=None, token=None, raw=None, headers=None, timeout=60):
        """body: a JSON-able value; raw: bytes sent as they are."""
        h = dict(headers or {})
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if self.tls_ca:
            ctx = ssl.create_default_context(cafile=self.tls_ca)
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Reply(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def ok(self, method, path, body=None, token=None, status=None):
        """A request that must answer one status; returns the reply's JSON.
        status: the one status wanted; None: created_status(method, path),
        201 for a call that creates (the first time) and 200 for every
        other. A repeat of an idempotent create answers 200: pass it."""
        r = self.request(method, path, body, token)
        if status is None:
            status = created_status(method, path)
        if isinstance(status, int):
            status = (status,)
        if r.status not in status:
            raise AssertionError("%s %s -> %d, want %s: %s" % (method, path, r.status,
                                                              " or ".join(map(str, status)), r.body[:500]))
        return r.json if r.body else None


ID_RE = r"^[0-9a-f]{24}$"

# The calls that create and answer 201 the first time (docs/api.md: "A call that
# creates answers 201 the first time and 200 when it finds what an earlier
# identical call created"), as (method, path pattern); web/routes_*.c agree.
CREATES = (
    ("POST", "/v1/datasets"),
    ("POST", "/v1/docker/worker/config"),
    ("POST", "/v1/datasets/{datasetId}/docker/worker/schedule"),
    ("POST", "/v1/docker/worker"),
    ("POST", "/v1/docker/runs"),
    ("POST", "/v1/datasets/{datasetId}/tags"),
    ("POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores"),
    ("POST", "/v1/docker/runs/{runId}/artifacts"),
    ("POST", "/v1/winnow/runs/{runId}/files"),
)


def route_matches(pattern, path):
    """Does a path (query string ignored) match a route pattern with {param} segments?"""
    segs = path.split("?", 1)[0].split("/")
    pats = pattern.split("/")
    return len(segs) == len(pats) and all(p.startswith("{") and s != "" or p == s for p, s in zip(pats, segs))


def created_status(method, path):
    """The status of a successful first call: 201 for a create, else 200."""
    return 201 if any(m == method and route_matches(p, path) for m, p in CREATES) else 200

PRESET = {
    "enable_corruptness_check": True, "remove_exact_duplicates": True, "enable_training": False,
    "pretagging": False, "pretagging_debug": False, "method": "coreset",
    "stopping_condition": {"n_samples": 0.1, "min_distance": -1},
    "scorer": "object-frequency", "scorer_config": {"frequency_penalty": 0.25, "min_score": 0.9},
    "active_learning": {"task_name": "", "score_name": "uncertainty_margin"},
}


def bitmask(indices):
    v = 0
    for i in indices:
        v |= 1 << i
    return hex(v)
