"""Shared helpers for winnow's Python test suites.

Each suite is a unittest module run as a script by tests/run.sh, from inside a
fresh temp dir (the cwd), with WINNOW_ROOT, BUILD and BIN in the environment.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("WINNOW_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("BIN", "bin"))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
WINNOWD = os.path.join(BIN, "winnowd")
# winnowd with its test seams read from WINNOWD_TEST_* (tests/tools/winnowd_test.c)
WINNOWD_TEST = os.path.join(BUILD, "tests", "tools", "winnowd-test")


def winnowd_for(env):
    """The daemon binary for an environment: the test driver when a test seam is set."""
    return WINNOWD_TEST if any(k.startswith("WINNOWD_TEST_") for k in env) else WINNOWD
MKDATASET = os.path.join(ROOT, "tests", "tools", "mkdataset")
PY = "/usr/bin/python3"

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))


# A sanitizer build (make check SANITIZE=address,...: binaries in bin-address-...).
SANITIZED = "address" in os.path.basename(BIN)


def rss_env(env=None):
    """The environment of a child whose peak RSS a test caps: under ASan, its quarantine of
    freed blocks (256 MiB by default) cut to 16 MiB, so that the cap weighs the program and
    not blocks it has already freed."""
    env = dict(os.environ if env is None else env)
    if SANITIZED:
        env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS", ""),
                                                   "quarantine_size_mb=16") if x)
    return env


def scratch_parent():
    """Where a test's scratch folders go: the current folder (tests/run.sh runs each suite in a
    temporary folder of its own, removed after it), but never a checkout's own tree, where a
    suite run by hand from the top would leave folders for `git add -A` to take: there, TMPDIR."""
    cwd = os.getcwd()
    if os.path.exists(os.path.join(cwd, ".git")) or os.path.realpath(cwd) == os.path.realpath(ROOT):
        return None
    return cwd


def tmpdir(prefix="w"):
    return tempfile.mkdtemp(prefix=prefix, dir=scratch_parent())


def write_config(path, docker):
    with open(path, "w") as f:
        json.dump({"docker": docker, "lightly": {}}, f)
    return path


def run_select(config, input_dir, output_dir, *extra, threads=None, check=True, timeout=600):
    """Run `winnowd select`; config is a dict (the docker object) or a path."""
    if isinstance(config, dict):
        cpath = os.path.join(tmpdir("cfg"), "config.json")
        write_config(cpath, config)
    else:
        cpath = config
    cmd = [WINNOWD, "select", "--config", cpath, "--input", input_dir, "--output", output_dir]
    if threads:
        cmd += ["--threads", str(threads)]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("winnowd select failed (%d):\n%s" % (p.returncode, p.stderr))
    return p


def bsorted(paths):
    """Paths in bytewise order (the order of SPEC 3's listing)."""
    return sorted(paths, key=lambda p: p.encode("utf-8", "surrogateescape"))


def read_csv(path):
    """(header, rows) of a CSV file."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def read_lines(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def read_tsv(path):
    """path<TAB>reason lines -> dict."""
    out = {}
    for l in read_lines(path):
        k, _, v = l.partition("\t")
        out[k] = v
    return out


def mkdataset(out_dir, *args):
    subprocess.run([PY, MKDATASET, "--out", out_dir] + [str(a) for a in args],
                   check=True, capture_output=True, text=True, timeout=900)
    with open(os.path.join(out_dir, ".manifest.json")) as f:
        return json.load(f)


# The files of a run (SPEC 5) that two runs of one config on one dataset write byte for byte.
RUN_OUTPUTS = ["data/selection.csv", "data/scores.csv", "data/embeddings.csv",
               "data/selected_embeddings.csv", "data/embeddings_2d.csv",
               "filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
               "filenames/excluded_filenames.txt", "filenames/selected_filenames.txt",
               "filenames/no_predictions_filenames.txt"]


def assert_same_outputs(tc, a, b):
    """Run folders a and b hold the same outputs: each file of RUN_OUTPUTS present in
    both or neither and byte-identical, report.json equal but for the timings.
    Returns b's report."""
    for f in RUN_OUTPUTS:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        tc.assertEqual(os.path.exists(pa), os.path.exists(pb), f)
        if os.path.exists(pa):
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                tc.assertEqual(fa.read(), fb.read(), f)
    reps = []
    for o in (a, b):
        with open(os.path.join(o, "report.json")) as f:
            r = json.load(f)
        r.pop("stages", None)       # timings
        r.pop("total_seconds", None)
        reps.append(r)
    tc.assertEqual(reps[0], reps[1])
    return reps[1]


# ---- xoshiro256** seeded through splitmix64 (SPEC 4.6 random, 4.8 RANDOM) -------------

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rotl(v, k):
    return ((v << k) | (v >> (64 - k))) & M64


class Xoshiro256ss:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def bounded(self, m):
        """A draw in [0, m) by rejection (SPEC 4.6's random)."""
        threshold = ((1 << 64) - m) % m
        while True:
            r = self.next()
            if r >= threshold:
                return r % m
