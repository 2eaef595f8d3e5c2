"""Bad input to `winnowd select`: each gets a clear message, never a crash.

Contract: exit 0 success, 1 run failed, 2 usage or config error; a crash is a
negative return code (signal) or a sanitizer report on stderr.

Unreadable images: the suite runs as root, where chmod 000 does not stop a read,
so it uses files that no process can read as an image whoever it is: a dangling
symlink named like an image (open fails with ENOENT) and a FIFO named x.jpg
(opening it for reading would block forever without O_NONBLOCK; reading it is
never right). Both must be reported (excluded or corrupt, with a reason), and
the run must complete. A chmod 000 image and folder are tested as an
unprivileged user (test_permission_denied).
"""
import json
import os
import shutil
import pwd
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winnowtest as wt  # noqa: E402

ALL = {"method": "random", "stopping_condition": {"n_samples": -1}}


def reasons(out):
    """corrupt + excluded + duplicate lists of a run, path -> reason."""
    r = {}
    for name in ("corrupt", "excluded", "duplicate"):
        r.update(wt.read_tsv(os.path.join(out, "filenames", name + "_filenames.txt")))
    return r


def unprivileged():
    """subprocess keyword arguments that run a command as a user whom chmod 000
    denies: {} when not root; as root, nobody (or a system user made for the test
    with useradd when there is no nobody) with only its own group; None when neither
    can be had."""
    if os.geteuid() != 0:
        return {}
    for name in ("nobody", "winnow-test"):
        try:
            pw = pwd.getpwnam(name)
            break
        except KeyError:
            pw = None
    if pw is None and shutil.which("useradd"):
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "winnow-test"], capture_output=True, timeout=60)
        try:
            pw = pwd.getpwnam("winnow-test")
        except KeyError:
            pw = None
    if pw is None or pw.pw_uid == 0:
        return None
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = wt.tmpdir("base")
        cls.man = wt.mkdataset(cls.base, "--n", 12, "--seed", 3, "--corrupt-share", 0, "--dup-share", 0,
                               "--formats", "png,jpg")
        cls.images = cls.man["images"]
        # a PNG, for copies under a .png name
        cls.png = [q for q in cls.images if cls.man["forms"][q].startswith("png")][0]

    def fresh(self):
        """A copy of the small clean dataset, to add bad things to."""
        d = os.path.join(wt.tmpdir("ds"), "data")
        shutil.copytree(self.base, d, symlinks=True)
        return d

    def run_cmd(self, args, timeout=120):
        p = subprocess.run([wt.WINNOWD] + args, capture_output=True, timeout=timeout)
        p.stdout = p.stdout.decode("utf-8", "replace")
        p.stderr = p.stderr.decode("utf-8", "replace")
        self.assertGreaterEqual(p.returncode, 0, "killed by signal %d\n%s" % (-p.returncode, p.stderr))
        self.assertNotIn("Sanitizer", p.stderr)
        self.assertNotIn("runtime error", p.stderr)
        return p

    def select(self, config, data, out=None, *extra, timeout=120):
        if out is None:
            out = os.path.join(wt.tmpdir("out"), "run")
        cpath = config if isinstance(config, str) else wt.write_config(
            os.path.join(wt.tmpdir("cfg"), "config.json"), config)
        p = self.run_cmd(["select", "--config", cpath, "--input", data, "--output", out] + list(extra),
                         timeout=timeout)
        p.out = out
        return p

    def selected(self, p):
        return wt.read_lines(os.path.join(p.out, "filenames", "selected_filenames.txt"))

    def assertOk(self, p):
        self.assertEqual(p.returncode, 0, p.stderr)

    # ---------------------------------------------------------------- arguments, config

    def test_missing_input_folder(self):
        missing = os.path.join(wt.tmpdir("gone"), "no_such_folder")
        p = self.select(ALL, missing)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("input folder %s: No such file or directory" % missing, p.stderr)

    def test_input_is_a_file(self):
        f = os.path.join(wt.tmpdir("f"), "plain.txt")
        open(f, "w").close()
        p = self.select(ALL, f)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("input folder %s: not a folder" % f, p.stderr)

    def test_empty_input_folder(self):
        p = self.select(ALL, wt.tmpdir("empty"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no images found", p.stderr)

    def test_config_file_missing(self):
        cfg = os.path.join(wt.tmpdir("c"), "nope.json")
        p = self.select(cfg, self.base)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(cfg, p.stderr)

    def test_config_not_json(self):
        cfg = os.path.join(wt.tmpdir("c"), "bad.json")
        with open(cfg, "w") as f:
            f.write('{"docker": {"method": "coreset",}')
        p = self.select(cfg, self.base)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertTrue(p.stderr.strip())

    def test_config_invalid_values_name_json_path(self):
        p = self.select({"stopping_condition": {"n_samples": -3}, "method": "fastest"}, self.base)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("docker.stopping_condition.n_samples", p.stderr)
        self.assertIn("-3", p.stderr)
        # all errors of a config are reported together
        self.assertIn("docker.method", p.stderr)

    def test_config_unknown_key(self):
        p = self.select({"methd": "coreset"}, self.base)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("docker.methd", p.stderr)

    def test_config_duplicate_key(self):
        cfg = os.path.join(wt.tmpdir("c"), "dup.json")
        with open(cfg, "w") as f:
            f.write('{"docker": {"method": "coreset", "method": "random"}, "lightly": {}}')
        p = self.select(cfg, self.base)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("method", p.stderr)

    def select_v4(self, config):
        """select with a V4 config written as given (not wrapped as a docker object)."""
        cpath = os.path.join(wt.tmpdir("cfg"), "v4.json")
        with open(cpath, "w") as f:
            json.dump(config, f)
        return self.select(cpath, self.base)

    def test_config_v4_plan_runs(self):
        # A valid V4 selection config runs: its plan selects (SPEC 4.8), its outputs say so.
        v4 = {"workerType": "FULL", "docker": {}, "selection": {"nSamples": 2, "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]}}
        p = self.select_v4(v4)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 of 12 candidates selected (selection plan, stop: budget)", p.stdout + p.stderr)

    def test_config_v4_errors_name_json_paths(self):
        v4 = {"selection": {"nSamples": 0, "strategies": [
            {"input": {"type": "SCORES", "task": "t", "score": "s"}, "strategy": {"type": "DIVERSITY"}}]}}
        p = self.select_v4(v4)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("selection.nSamples: 0 is not -1 or a count >= 1", p.stderr)
        self.assertIn("selection.strategies[0]: input SCORES with strategy DIVERSITY is not allowed", p.stderr)
        self.assertNotIn("not supported yet", p.stderr)

    def test_output_not_empty_refused_unless_force(self):
        out = os.path.join(wt.tmpdir("o"), "run")
        os.makedirs(out)
        with open(os.path.join(out, "keep.txt"), "w") as f:
            f.write("x")
        p = self.select(ALL, self.base, out)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(out, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "report.json")))
        p = self.select(ALL, self.base, out, "--force")
        self.assertOk(p)
        self.assertEqual(sorted(self.selected(p)), sorted(self.images))
        # a second forced run replaces the outputs
        p = self.select({"method": "random", "stopping_condition": {"n_samples": 3}}, self.base, out, "--force")
        self.assertOk(p)
        self.assertEqual(len(self.selected(p)), 3)
        with open(os.path.join(out, "report.json")) as f:
            self.assertEqual(json.load(f)["counts"]["selected"], 3)

    def test_threads_refused(self):
        for bad in ["0", "-1", "abc", "4x", ""]:
            with self.subTest(threads=bad):
                p = self.select(ALL, self.base, None, "--threads", bad)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertTrue(p.stderr.strip())
        p = self.select(ALL, self.base, None, "--threads", "3")
        self.assertOk(p)

    def test_usage_errors(self):
        for args in (["select"], ["select", "--input", self.base], ["select", "--bogus"],
                     ["frobnicate"]):
            with self.subTest(args=args):
                p = self.run_cmd(args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertTrue(p.stderr.strip())

    # ---------------------------------------------------------------- the datasource

    def test_dangling_symlink_and_fifo(self):
        d = self.fresh()
        os.symlink("missing_target.png", os.path.join(d, "ghost.png"))
        os.mkfifo(os.path.join(d, "x.jpg"))
        p = self.select(ALL, d, timeout=60)
        self.assertOk(p)
        r = reasons(p.out)
        for name in ("ghost.png", "x.jpg"):
            with self.subTest(name=name):
                self.assertIn(name, r, "not reported")
                self.assertTrue(r[name].strip(), "empty reason")
        self.assertTrue(r["ghost.png"].startswith("cannot read: "), r["ghost.png"])
        self.assertEqual(sorted(self.selected(p)), sorted(self.images))

    def test_permission_denied(self):
        """An image and a folder that the daemon's user may not read, each in its own
        run: the image is corrupt with "cannot read: Permission denied", the folder
        excluded with "cannot read folder: Permission denied" (and a warning), and the
        run completes (exit 0) with every other image. As root, chmod 000 stops no
        read, so the runs go as an unprivileged user (nobody, or a user made for it)
        to whom everything else is reachable."""
        run_as = unprivileged()
        if run_as is None:
            self.skipTest("root, with no unprivileged user to run as and no useradd")
        # Under /tmp, not the suite's temp dir (mode 0700, root's): the user must reach it.
        work = tempfile.mkdtemp(prefix="winnow-perm-", dir="/tmp")
        self.addCleanup(shutil.rmtree, work, True)
        os.chmod(work, 0o755)
        cfg = wt.write_config(os.path.join(work, "config.json"), ALL)
        os.chmod(cfg, 0o644)
        # A copy of winnowd beside the data: the checkout's folders may be closed to the user.
        winnowd = os.path.join(work, "winnowd")
        shutil.copy(wt.WINNOWD, winnowd)
        os.chmod(winnowd, 0o755)
        probe = subprocess.run([winnowd, "--version"], capture_output=True, **run_as)
        self.assertEqual(probe.returncode, 0, "winnowd does not run as the test's user: %s" % probe.stderr)
        n = len(self.images)

        def run(name, deny):
            data = os.path.join(work, name, "data")
            shutil.copytree(self.base, data)
            out = os.path.join(work, name, "out")
            os.makedirs(out)
            for dirpath, dirs, files in os.walk(os.path.join(work, name)):
                os.chmod(dirpath, 0o755)
                for f in files:
                    os.chmod(os.path.join(dirpath, f), 0o644)
            if os.geteuid() == 0:
                os.chown(out, run_as["user"], run_as["group"])
            denied = deny(data)
            os.chmod(denied, 0)
            p = subprocess.run([winnowd, "select", "--config", cfg, "--input", data, "--output",
                                os.path.join(out, "run")], capture_output=True, text=True, timeout=120,
                               **run_as)
            os.chmod(denied, 0o755)
            p.out = os.path.join(out, "run")
            return p

        lists = lambda p: [wt.read_tsv(os.path.join(p.out, "filenames", k + "_filenames.txt"))
                           for k in ("corrupt", "excluded", "duplicate")]

        with self.subTest("an image"):
            img = self.images[0]
            p = run("file", lambda data: os.path.join(data, img))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(lists(p), [{img: "cannot read: Permission denied"}, {}, {}])
            self.assertEqual(sorted(self.selected(p)), sorted(self.images[1:]))
            self.assertIn("counts: %d listed, 0 excluded, 1 corrupt, 0 duplicates, %d candidates, %d selected"
                          % (n, n - 1, n - 1), p.stdout)

        with self.subTest("a folder"):
            def locked(data):
                d = os.path.join(data, "locked")
                os.makedirs(d)
                shutil.copy(os.path.join(data, self.png), os.path.join(d, "inside.png"))
                return d
            p = run("folder", locked)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(lists(p), [{}, {"locked": "cannot read folder: Permission denied"}, {}])
            self.assertIn("<4>locked: excluded: cannot read folder: Permission denied\n", p.stderr)
            self.assertEqual(sorted(self.selected(p)), sorted(self.images))
            # "listed" in the counts line holds the excluded folder too
            self.assertIn("counts: %d listed, 1 excluded, 0 corrupt, 0 duplicates, %d candidates, %d selected"
                          % (n + 1, n, n), p.stdout)

    def test_symlink_escaping(self):
        d = self.fresh()
        outside = os.path.join(os.path.dirname(d), "outside.png")
        shutil.copy(os.path.join(d, self.png), outside)
        os.symlink(outside, os.path.join(d, "abs_out.png"))
        os.symlink("../outside.png", os.path.join(d, "rel_out.png"))
        os.makedirs(os.path.join(d, "sub"))
        os.symlink("../../outside.png", os.path.join(d, "sub", "deep_out.png"))
        p = self.select(ALL, d)
        self.assertOk(p)
        ex = wt.read_tsv(os.path.join(p.out, "filenames", "excluded_filenames.txt"))
        for name in ("abs_out.png", "rel_out.png", "sub/deep_out.png"):
            with self.subTest(name=name):
                self.assertIn(name, ex)
                self.assertIn("escapes", ex[name])
        self.assertEqual(sorted(self.selected(p)), sorted(self.images))

    def test_symlink_inside_followed(self):
        d = self.fresh()
        target = self.images[0]
        link = "zz/link" + os.path.splitext(target)[1]
        os.makedirs(os.path.join(d, "zz"))
        os.symlink(os.path.join("..", target), os.path.join(d, link))
        # duplicates on: the link has the bytes of its target and sorts after it
        p = self.select(ALL, d)
        self.assertOk(p)
        dups = wt.read_tsv(os.path.join(p.out, "filenames", "duplicate_filenames.txt"))
        self.assertEqual(dups, {link: "duplicate of %s (bytes)" % target})
        # duplicates off: the link is a candidate like any other
        p = self.select(dict(ALL, remove_exact_duplicates=False), d)
        self.assertOk(p)
        self.assertEqual(sorted(self.selected(p)), sorted(self.images + [link]))

    def test_absolute_symlink_inside_followed(self):
        # SPEC 3: a link to a file is followed when its target stays inside the root,
        # whether the link is written relative or absolute.
        d = self.fresh()
        target = self.images[1]
        link = "zz_abs" + os.path.splitext(target)[1]
        os.symlink(os.path.join(os.path.realpath(d), target), os.path.join(d, link))
        p = self.select(dict(ALL, remove_exact_duplicates=False), d)
        self.assertOk(p)
        r = reasons(p.out)
        self.assertNotIn(link, r)
        self.assertIn(link, self.selected(p))

    def test_folder_symlink_loops(self):
        d = self.fresh()
        os.makedirs(os.path.join(d, "sub"))
        shutil.copy(os.path.join(d, self.png), os.path.join(d, "sub", "real.png"))
        os.symlink("..", os.path.join(d, "sub", "up"))
        os.symlink(".", os.path.join(d, "here"))
        os.symlink("self", os.path.join(d, "self"))          # ELOOP on resolution
        os.symlink(os.path.realpath(d), os.path.join(d, "root_abs"))
        os.symlink("sub", os.path.join(d, "sub_again"))      # folder links are never followed
        p = self.select(dict(ALL, remove_exact_duplicates=False), d, timeout=60)
        self.assertOk(p)
        with open(os.path.join(p.out, "report.json")) as f:
            counts = json.load(f)["counts"]
        self.assertEqual(counts["listed"], len(self.images) + 1)
        sel = self.selected(p)
        self.assertEqual(sorted(sel), sorted(self.images + ["sub/real.png"]))
        for s in sel:
            for link in ("up/", "here/", "self", "root_abs/", "sub_again/"):
                self.assertNotIn(link, s)

    def test_names_with_spaces(self):
        d = self.fresh()
        os.makedirs(os.path.join(d, "my folder"))
        # keep each file's extension: its bytes must match it
        a = "my folder/my image 1" + os.path.splitext(self.images[0])[1]
        b = " lead space" + os.path.splitext(self.images[1])[1]
        os.rename(os.path.join(d, self.images[0]), os.path.join(d, a))
        os.rename(os.path.join(d, self.images[1]), os.path.join(d, b))
        p = self.select(ALL, d)
        self.assertOk(p)
        sel = self.selected(p)
        want = sorted(self.images[2:] + [a, b])
        self.assertEqual(sorted(sel), want)
        with open(os.path.join(p.out, "filenames", "excluded_filenames.txt")) as f:
            self.assertEqual(f.read().strip(), "")

    def test_unsupported_file_names(self):
        d = self.fresh()
        src = os.path.join(d, self.png)
        bad = {b"new\nline.png": "new\\nline.png", b"tab\there.png": "tab\\there.png",
               b"cr\rhere.png": "cr\\rhere.png", b"com,ma.png": None, b"bad\xffutf8.png": None,
               b"sub\xc3/inner.png": None}
        for raw in bad:
            dst = os.path.join(os.fsencode(d), raw)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(src, dst)
        p = self.select(ALL, d)
        self.assertOk(p)
        ex_lines = wt.read_lines(os.path.join(p.out, "filenames", "excluded_filenames.txt"))
        self.assertEqual(len(ex_lines), len(bad), ex_lines)
        ex = dict(l.split("\t", 1) for l in ex_lines)
        self.assertTrue(all(v == "unsupported file name" for v in ex.values()), ex)
        for raw, shown in bad.items():
            if shown is not None:
                self.assertIn(shown, ex)
        self.assertIn("com,ma.png", ex)
        for k in ex:   # shown with C-style escapes: printable ASCII only
            self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in k), repr(k))
        self.assertTrue(any(k.startswith("bad") and k.endswith("utf8.png") for k in ex), ex)
        self.assertTrue(any(k.startswith("sub") and k.endswith("/inner.png") for k in ex), ex)
        self.assertEqual(sorted(self.selected(p)), sorted(self.images))
        # none of them leaks into the CSVs
        with open(os.path.join(p.out, "data", "embeddings.csv"), "rb") as f:
            self.assertEqual(len(f.read().splitlines()), len(self.images) + 1)

    def test_non_image_files_ignored(self):
        d = self.fresh()
        for name in ("notes.txt", "README", ".hidden.jpg", "._mac.png"):
            with open(os.path.join(d, name), "w") as f:
                f.write("not an image")
        os.makedirs(os.path.join(d, ".cache"))
        shutil.copy(os.path.join(d, self.images[0]), os.path.join(d, ".cache", "x.png"))
        p = self.select(ALL, d)
        self.assertOk(p)
        self.assertEqual(sorted(self.selected(p)), sorted(self.images))
        self.assertEqual(reasons(p.out), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
