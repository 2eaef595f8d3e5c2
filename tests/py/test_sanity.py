"""`winnowd sanity-check --config F` against the real winnow-web on 127.0.0.1.

Passes (exit 0) with a reachable web app, a worker token and a writable state
dir; each broken piece (a wrong token, a user token, no web app, a state dir
that cannot be created or written, a bad config, a database of a newer
winnowd) fails it (exit 1) with one FAIL line saying what.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402


def sanity(conf, env=None):
    e = dict(os.environ)
    e.pop("WINNOW_TOKEN", None)
    e.pop("CREDENTIALS_DIRECTORY", None)
    e.update(env or {})
    return subprocess.run([wt.WINNOWD, "sanity-check", "--config", conf], capture_output=True,
                          text=True, timeout=60, env=e)


def fails(p):
    return [l for l in p.stdout.splitlines() if l.startswith("FAIL")]


class SanityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.web = webtest.Server(workdir=wt.tmpdir("web"))
        cls.wtok = cls.web.token("worker1", "worker")
        cls.utok = cls.web.token("alice", "user")
        cls.web.start()

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()

    def conf(self, **kw):
        d = wt.tmpdir("sc")
        cfg = {"url": "http://127.0.0.1:%d" % self.web.port, "token": self.wtok,
               "state_dir": os.path.join(d, "state")}
        cfg.update(kw)
        cfg = {k: v for k, v in cfg.items() if v is not None}
        path = os.path.join(d, "winnowd.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path, cfg

    def test_ok(self):
        path, cfg = self.conf()
        p = sanity(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.startswith("winnowd "), p.stdout)
        for lib in ("libuv", "libcurl", "sqlite", "cJSON", "libjpeg", "libpng", "libwebp"):
            self.assertIn(lib, p.stdout)
        self.assertEqual(fails(p), [])
        self.assertRegex(p.stdout, r"(?m)^ok +config .*: valid")
        self.assertRegex(p.stdout, r"(?m)^ok +state dir %s: writable$" % re.escape(cfg["state_dir"]))
        self.assertRegex(p.stdout, r'(?m)^ok +web app .* reachable; worker token of "worker1" accepted')
        self.assertTrue(p.stdout.rstrip().endswith("sanity check passed"))
        self.assertNotIn(self.wtok, p.stdout + p.stderr)
        # the state dir was created, and nothing left in it
        self.assertEqual(os.listdir(cfg["state_dir"]), [])

    def test_token_from_a_file_and_a_credential(self):
        path, cfg = self.conf(token=None)
        tf = os.path.join(os.path.dirname(path), "winnow-token")
        with open(tf, "w") as f:
            f.write(self.wtok + "\n")
        p = sanity(path, env={"CREDENTIALS_DIRECTORY": os.path.dirname(path)})
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("credential winnow-token", p.stdout)

    def test_wrong_token(self):
        path, _ = self.conf(token="not-a-real-token")
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertRegex(fails(p)[0], r"^FAIL +token: refused by the web app .*401")
        self.assertNotIn("not-a-real-token", p.stdout + p.stderr)
        self.assertIn("sanity check failed: 1 problem", p.stdout)

    def test_user_token(self):
        path, _ = self.conf(token=self.utok)
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertIn("a user token", fails(p)[0])
        self.assertIn("needs a worker token", fails(p)[0])

    def test_unreachable_web_app(self):
        port = webtest.free_port()      # nobody listens there
        path, _ = self.conf(url="http://127.0.0.1:%d" % port)
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertRegex(fails(p)[0], r"^FAIL +web app http://127.0.0.1:%d: not reachable" % port)

    def test_state_dir_cannot_be_created(self):
        d = wt.tmpdir("nd")
        blocker = os.path.join(d, "a-file")
        open(blocker, "w").close()
        path, _ = self.conf(state_dir=os.path.join(blocker, "state"))
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertRegex(fails(p)[0], r"^FAIL +state dir .*/a-file/state: cannot create: Not a directory")
        # the web app check still ran
        self.assertRegex(p.stdout, r"(?m)^ok +web app")

    def test_state_dir_not_writable(self):
        if os.geteuid() != 0:
            dirpath = os.path.join(wt.tmpdir("ro"), "state")
            os.makedirs(dirpath)
            os.chmod(dirpath, 0o500)
            self.addCleanup(os.chmod, dirpath, 0o700)
        else:
            # root writes through any mode bits: use a folder of a kernel file system
            dirpath = next((x for x in ("/sys/kernel", "/proc/1") if os.path.isdir(x)), None)
            if dirpath is None:
                self.skipTest("no unwritable folder for root")
        path, _ = self.conf(state_dir=dirpath)
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertRegex(fails(p)[0], r"^FAIL +state dir %s: not writable: " % re.escape(dirpath))

    def test_bad_config(self):
        path, _ = self.conf(poll_intervall=3)
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertIn('unknown key "poll_intervall"', fails(p)[0])

    def test_worker_name_follows_lightlys_pattern(self):
        """SPEC 7: worker_name ^[a-zA-Z0-9][a-zA-Z0-9 _-]{2,}$, at most 200 bytes."""
        for bad in ("ab", "-gpu", "gpu.box", "x" * 201):
            path, _ = self.conf(worker_name=bad)
            p = sanity(path)
            self.assertEqual(p.returncode, 1, (bad, p.stdout))
            self.assertIn("worker_name: 3 to 200 characters", fails(p)[0], bad)
        path, _ = self.conf(worker_name="gpu box_1-a")
        p = sanity(path)
        self.assertEqual((p.returncode, fails(p)), (0, []), p.stdout)

    def test_test_seams_only_in_the_test_driver(self):
        """winnowd reads no WINNOWD_TEST_* variable (daemon/hooks.h): the seams live in
        the test driver only, which refuses a value it cannot parse."""
        with open(wt.WINNOWD, "rb") as f:
            self.assertNotIn(b"WINNOWD_TEST_", f.read())
        with open(wt.WINNOWD_TEST, "rb") as f:
            self.assertIn(b"WINNOWD_TEST_STAGE_DELAY", f.read())
        path, _ = self.conf()
        for var, val in (("WINNOWD_TEST_DELAY_MS", "soon"), ("WINNOWD_TEST_RETRY_MS", "-5"),
                         ("WINNOWD_TEST_STAGE_DELAY", "nostage:100"), ("WINNOWD_TEST_STAGE_DELAY", "images:")):
            p = subprocess.run([wt.WINNOWD_TEST, "--config", path], capture_output=True, text=True,
                               timeout=30, env=dict(os.environ, **{var: val}))
            self.assertEqual(p.returncode, 2, (var, val, p.stderr))
            self.assertIn(var + "=" + val, p.stderr)

    def test_database_of_a_newer_winnowd(self):
        path, cfg = self.conf()
        os.makedirs(cfg["state_dir"])
        db = sqlite3.connect(os.path.join(cfg["state_dir"], "winnowd.db"))
        db.execute("PRAGMA user_version = 99")
        db.commit()
        db.close()
        p = sanity(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(len(fails(p)), 1, p.stdout)
        self.assertIn("version 99, newer than this winnowd", fails(p)[0])

    def test_usage(self):
        p = subprocess.run([wt.WINNOWD, "sanity-check", "--bogus"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: winnowd sanity-check", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
