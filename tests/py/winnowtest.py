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
MKDATASET = os.path.join(ROOT, "tests", "tools", "mkdataset")
PY = "/usr/bin/python3"

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))


def tmpdir(prefix="w"):
    return tempfile.mkdtemp(prefix=prefix, dir=os.getcwd())


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
