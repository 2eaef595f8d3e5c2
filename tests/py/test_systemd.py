"""systemd: the units as `make install` puts them, and winnowd's sd_notify.

The units are installed into a DESTDIR and checked with `systemd-analyze
verify --root=DESTDIR` (the host's own units are copied in beside them, not
over them, since verify builds the start transaction and needs sysinit.target
and friends). The notify tests start the real winnowd and winnow-web, with
NOTIFY_SOCKET naming a datagram socket this test listens on.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

ANALYZE = shutil.which("systemd-analyze")
UNITS = ("winnowd.service", "winnow-web.service")
HARDENING = ("ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes",
             "PrivateDevices=yes", "ProtectKernelTunables=yes", "ProtectControlGroups=yes",
             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "SystemCallFilter=@system-service")


def install(destdir, prefix="/usr"):
    p = subprocess.run(["make", "--no-print-directory", "-C", wt.ROOT, "install", "PREFIX=" + prefix,
                        "DESTDIR=" + destdir, "BUILD=" + os.environ.get("BUILD", "build"),
                        "BIN=" + os.environ.get("BIN", "bin")],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("make install failed:\n" + p.stdout + p.stderr)


def keys(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


@unittest.skipIf(ANALYZE is None, "systemd-analyze is missing (Debian package systemd: make deps)")
class UnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = wt.tmpdir("dest")
        install(cls.root)
        cls.unitdir = os.path.join(cls.root, "usr", "lib", "systemd", "system")
        # verify --root needs the base units (sysinit.target, ...) and /bin/kill
        # (ExecReload) inside the root; ours are never overwritten.
        for f in os.listdir("/usr/lib/systemd/system"):
            src, dst = os.path.join("/usr/lib/systemd/system", f), os.path.join(cls.unitdir, f)
            if not os.path.lexists(dst) and os.path.isfile(src) and not os.path.islink(src):
                shutil.copy(src, dst)
        os.makedirs(os.path.join(cls.root, "bin"), exist_ok=True)
        shutil.copy(shutil.which("kill"), os.path.join(cls.root, "bin", "kill"))

    def verify(self, *units):
        return subprocess.run([ANALYZE, "verify", "--root=" + self.root] + list(units),
                              capture_output=True, text=True, timeout=120)

    def test_installed_files(self):
        for rel in ("usr/bin/winnowd", "usr/bin/winnowctl", "usr/bin/winnow-web",
                    "usr/lib/sysusers.d/winnow.conf", "etc/winnow/winnowd.json.example",
                    "usr/lib/systemd/system/winnowd.service",
                    "usr/lib/systemd/system/winnow-web.service",
                    "usr/share/winnow/static/index.html"):     # the unit's --static
            self.assertTrue(os.path.exists(os.path.join(self.root, rel)), rel)
        self.assertTrue(os.access(os.path.join(self.root, "usr/bin/winnowctl"), os.X_OK))
        # the users the units name are the ones sysusers creates
        with open(os.path.join(self.root, "usr/lib/sysusers.d/winnow.conf")) as f:
            users = [l.split()[1] for l in f if l.startswith("u ")]
        self.assertEqual(users, ["winnow", "winnow-web"])

    def test_verify_passes_without_a_warning(self):
        p = self.verify(*UNITS)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")

    def test_verify_catches_a_broken_unit(self):
        """The check above can fail: a unit naming a missing binary does."""
        with open(os.path.join(self.unitdir, "winnowd.service")) as f:
            text = f.read()
        with open(os.path.join(self.unitdir, "winnowd-broken.service"), "w") as f:
            f.write(text.replace("/usr/bin/winnowd", "/usr/bin/winnowd-missing"))
        try:
            p = self.verify("winnowd-broken.service")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("winnowd-missing", p.stderr)
        finally:
            os.unlink(os.path.join(self.unitdir, "winnowd-broken.service"))

    def test_winnowd_unit_settings(self):
        k = keys(os.path.join(self.unitdir, "winnowd.service"))
        for want in ("Type=notify", "User=winnow", "StateDirectory=winnow",
                     "LoadCredential=winnow-token:/etc/winnow/token", "Restart=on-failure",
                     "ExecStart=/usr/bin/winnowd --config /etc/winnow/winnowd.json") + HARDENING:
            self.assertIn(want, k)
        self.assertTrue(any(re.match(r"WatchdogSec=\d+", x) for x in k), k)
        self.assertTrue(any(re.match(r"TimeoutStopSec=\d+", x) for x in k), k)
        self.assertFalse([x for x in k if "/usr/local/" in x], "PREFIX not applied")
        w = keys(os.path.join(self.unitdir, "winnow-web.service"))
        for want in ("User=winnow-web", "StateDirectory=winnow-web") + HARDENING:
            self.assertIn(want, w)
        self.assertTrue(any(x.startswith("ExecStart=/usr/bin/winnow-web ") for x in w))
        # SPEC 8: the web app's unit caps its memory and tasks (docs/deploy.md), winnowd's too
        self.assertIn("MemoryMax=2G", w)
        self.assertIn("TasksMax=512", w)
        self.assertTrue(any(re.match(r"MemoryMax=\d+%$", x) for x in k), k)
        self.assertTrue(any(re.match(r"TasksMax=\d+$", x) for x in k), k)

    def test_security_exposure_is_low(self):
        for u in UNITS:
            p = subprocess.run([ANALYZE, "security", "--offline=true", "--root=" + self.root, u],
                               capture_output=True, text=True, timeout=120)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout + p.stderr)
            self.assertIsNotNone(m, p.stdout + p.stderr)
            self.assertLessEqual(float(m.group(1)), 2.5, u)

    def test_example_config_loads(self):
        """The example is a valid winnowd.json (the token comes from elsewhere)."""
        with open(os.path.join(self.root, "etc/winnow/winnowd.json.example")) as f:
            cfg = json.load(f)
        d = wt.tmpdir("ex")
        cfg["state_dir"] = os.path.join(d, "state")
        cfg["url"] = "http://127.0.0.1:%d" % webtest.free_port()
        path = os.path.join(d, "winnowd.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, WINNOW_TOKEN="x")
        p = subprocess.run([wt.WINNOWD, "sanity-check", "--config", path], capture_output=True,
                           text=True, timeout=60, env=env)
        self.assertRegex(p.stdout, r"(?m)^ok +config .*: valid")


class Listener:
    """A NOTIFY_SOCKET: collects every datagram with its arrival time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.times = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.monotonic()
            with self.lock:
                self.msgs.append(data.decode())
                self.times.append(t)

    def all(self):
        with self.lock:
            return list(self.msgs)

    def times_of(self, msg):
        """Arrival times (time.monotonic()) of every datagram equal to msg."""
        with self.lock:
            return [t for m, t in zip(self.msgs, self.times) if m == msg]

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, m in enumerate(self.all()):
                if pred(m):
                    return i
            time.sleep(0.05)
        raise AssertionError("no such notify message; got %r" % self.all()[-20:])

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


class NotifyTest(td.DaemonTest):
    def listener(self, name):
        path = os.path.join(self.dir, name)
        l = Listener(path)
        self.addCleanup(l.close)
        return l, path

    def test_ready_status_watchdog_stopping(self):
        path = td.dataset(self.root, n=60)
        ds = self.make_dataset(path)
        l, sock = self.listener("notify.sock")
        d = self.daemon(env={"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "1000000"}).start()
        ready = l.wait_for(lambda m: m == "READY=1")
        # READY=1 comes after registering and the recovery call
        self.assertIn("ready: worker", d.log_text())
        l.wait_for(lambda m: m.startswith("STATUS=idle"))
        # the pings come (their interval: test_watchdog_at_half_of_watchdogsec)
        l.wait_for(lambda m: m == "WATCHDOG=1")
        # STATUS= names the run and its stage while one runs
        sched = self.schedule(ds, td.CORESET)
        run = self.wait_run(sched, timeout=120)
        self.assertEqual(run["state"], "COMPLETED")
        runs = [m for m in l.all() if m.startswith("STATUS=1 run: ")]
        self.assertTrue(runs, l.all())
        self.assertTrue(all(m.startswith("STATUS=1 run: %s " % run["id"]) for m in runs), runs)
        self.assertTrue(any(m.endswith(" CHECKING_CORRUPTNESS") for m in runs), runs)
        self.assertFalse(any(m == "STOPPING=1" for m in l.all()))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        stopping = l.wait_for(lambda m: m == "STOPPING=1", timeout=5)
        self.assertGreater(stopping, ready)
        self.assertEqual(l.all().count("READY=1"), 1)

    def test_watchdog_at_half_of_watchdogsec(self):
        """The interval between WATCHDOG=1 pings is about half of WatchdogSec
        (SPEC 6), measured on the socket: neither WatchdogSec itself (systemd
        would kill the daemon at the first late ping) nor a quarter of it:
        the mean of five intervals lies in 0.35..0.65 of WatchdogSec (2 s)."""
        wdsec = 2.0
        pings = 6
        l, sock = self.listener("half.sock")
        d = self.daemon(env={"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": str(int(wdsec * 1e6))}).start()
        l.wait_for(lambda m: m == "READY=1")
        deadline = time.monotonic() + pings * wdsec * 3
        while len(l.times_of("WATCHDOG=1")) < pings and time.monotonic() < deadline:
            time.sleep(0.1)
        times = l.times_of("WATCHDOG=1")
        self.assertGreaterEqual(len(times), pings, "WATCHDOG=1 pings within %.0f s: %d" % (pings * wdsec * 3, len(times)))
        ratios = [(b - a) / wdsec for a, b in zip(times, times[1:])]
        print("watchdog: WatchdogSec %.1f s, intervals %s" % (wdsec, ", ".join("%.2f s" % (r * wdsec) for r in ratios)),
              file=sys.stderr)
        mean = sum(ratios) / len(ratios)
        self.assertTrue(0.35 <= mean <= 0.65, "mean interval %.2f of WatchdogSec, not about half: %s" % (mean, ratios))
        # and no single interval near WatchdogSec: one late ping is a kill
        self.assertLessEqual(max(ratios), 0.8, ratios)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)

    def test_abstract_socket_and_no_watchdog_without_usec(self):
        name = "winnow-notify-%d-%d" % (os.getpid(), time.time_ns() % 1000000)
        l = Listener("\0" + name)
        self.addCleanup(l.close)
        env = {"NOTIFY_SOCKET": "@" + name}
        d = self.daemon(env=env)
        d.env.pop("WATCHDOG_USEC", None)
        d.start()
        l.wait_for(lambda m: m == "READY=1")
        time.sleep(2.5)
        self.assertNotIn("WATCHDOG=1", l.all())
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        l.wait_for(lambda m: m == "STOPPING=1", timeout=5)

    def test_watchdog_for_another_pid_is_ignored(self):
        l, sock = self.listener("wd.sock")
        d = self.daemon(env={"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
        d.start()
        l.wait_for(lambda m: m == "READY=1")
        time.sleep(2.5)
        self.assertNotIn("WATCHDOG=1", l.all())
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)


def load_tests(loader, tests, pattern):
    """Only this module's tests: NotifyTest inherits DaemonTest's, which test_daemon runs."""
    suite = unittest.TestSuite()
    for cls in (UnitTest, NotifyTest):
        suite.addTests(cls(n) for n in sorted(vars(cls)) if n.startswith("test_"))
    return suite


if __name__ == "__main__":
    unittest.main(verbosity=2)
