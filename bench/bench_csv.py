#!/usr/bin/python3
"""make bench-csv: the embeddings CSV at a million rows.

1. A generated embeddings CSV (default 1,000,000 rows x 64 dims, clustered
   values printed as %.17g, names shuffled; about 1.3 GB), cached under
   $BUILD/bench/ by bench_csv gen.
2. winnow's reader (emb_table_parse on all cores, text already in memory):
   MB/s of CSV text, the first parse in a fresh process and the median of
   three, beside the target (200 MB/s); one core alone; and the read from the
   page cache; and emb_table_read, which streams the file in blocks as runs do.
3. The peer in the same run: numpy's np.loadtxt on the same file (the float
   columns), MB/s and winnow's ratio over it.
4. The whole local-mode run on that CSV as an embeddings-only datasource:
   `winnowd select`, coreset, n_samples 1000: wall time, each stage's seconds
   from report.json, and the process's peak RSS.

Nothing is asserted; the machine may be shared, so figures are noisy.
BENCH_CSV_ROWS, BENCH_CSV_DIMS, BENCH_PEER_ROWS (rows numpy reads; default
all) and BENCH_CSV_SELECT=0 (skip step 4) change the defaults.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BIN = os.path.join(ROOT, os.environ.get("BIN", "bin"))
ROWS = int(os.environ.get("BENCH_CSV_ROWS", "1000000"))
DIMS = int(os.environ.get("BENCH_CSV_DIMS", "64"))
PEER_ROWS = int(os.environ.get("BENCH_PEER_ROWS", "0")) or ROWS
SELECT = os.environ.get("BENCH_CSV_SELECT", "1") != "0"
TARGET_MBPS = 200.0
MB = 1e6


def generated_csv():
    path = os.path.join(BUILD, "bench", "csv-%d-%d.csv" % (ROWS, DIMS))
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        print("bench-csv: generating %s (%d rows x %d dims) ..." % (path, ROWS, DIMS), flush=True)
        subprocess.run([os.path.join(BUILD, "bench", "bench_csv"), "gen", path + ".tmp",
                        str(ROWS), str(DIMS)], check=True)
        os.rename(path + ".tmp", path)
    return path


def winnow_parse(path):
    p = subprocess.run([os.path.join(BUILD, "bench", "bench_csv"), "parse", path, "3"],
                       check=True, capture_output=True, text=True)
    return json.loads(p.stdout)


def numpy_parse(path):
    import numpy as np
    # The same bytes winnow parses: read them first, so both figures exclude the disk.
    with open(path, "rb") as f:
        head = f.readline()
        body = [f.readline() for _ in range(PEER_ROWS)]
    nbytes = len(head) + sum(len(l) for l in body)
    t0 = time.perf_counter()
    a = np.loadtxt([head] + body, delimiter=",", skiprows=1, usecols=range(1, DIMS + 1),
                   dtype=np.float64, encoding="utf-8")
    secs = time.perf_counter() - t0
    assert a.shape == (len(body), DIMS)
    return nbytes, secs, np.__version__


def select_run(path):
    src = os.path.join(BUILD, "bench", "csv-run-src")
    emb = os.path.join(src, ".lightly", "embeddings")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(emb)
    try:
        os.link(path, os.path.join(emb, "emb.csv"))
    except OSError:
        shutil.copyfile(path, os.path.join(emb, "emb.csv"))
    out = os.path.join(BUILD, "bench", "csv-run-out")
    shutil.rmtree(out, ignore_errors=True)
    cfg = os.path.join(BUILD, "bench", "csv-run-config.json")
    with open(cfg, "w") as f:
        json.dump({"docker": {"method": "coreset", "embeddings": "emb.csv",
                              "stopping_condition": {"n_samples": 1000, "min_distance": -1}},
                   "lightly": {}}, f)
    cmd = [os.path.join(BIN, "winnowd"), "select", "--config", cfg, "--input", src,
           "--output", out]
    t0 = time.perf_counter()
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
    # The peak RSS is the process's own VmHWM, read until it exits. wait4's
    # ru_maxrss would not do: a child forked from this process (which holds
    # numpy's copy of the CSV by now) keeps the fork's high-water mark
    # through exec, and reported 1891 MB for a run whose own peak was 1208.
    hwm = 0
    status_path = "/proc/%d/status" % proc.pid
    while proc.poll() is None:
        try:
            with open(status_path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    if proc.returncode != 0:
        print("bench-csv: winnowd select failed (%d):\n%s" % (proc.returncode, err))
        return None
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    sizes = {n: os.path.getsize(os.path.join(out, "data", n))
             for n in ("embeddings.csv", "embeddings_2d.csv")}
    shutil.rmtree(src, ignore_errors=True)
    return wall, hwm, rep, sizes


def main():
    if not os.path.exists(os.path.join(BUILD, "bench", "bench_csv")):
        sys.exit("bench-csv: build %s/bench/bench_csv first (make bench-csv)" % BUILD)
    path = generated_csv()
    size = os.path.getsize(path)
    print("bench-csv: %s, %.1f MB, %d rows x %d dims" % (path, size / MB, ROWS, DIMS), flush=True)

    w = winnow_parse(path)
    first = w["parse_s"][0]
    med = sorted(w["parse_s"])[len(w["parse_s"]) // 2]
    mbps_first = w["bytes"] / MB / first
    mbps_med = w["bytes"] / MB / med
    print("winnow  parse, %d threads, first in process  %7.3f s  %7.1f MB/s   (target >= %.0f MB/s)"
          % (w["threads"], first, mbps_first, TARGET_MBPS))
    print("winnow  parse, %d threads, median of %d       %7.3f s  %7.1f MB/s"
          % (w["threads"], len(w["parse_s"]), med, mbps_med))
    print("winnow  parse, 1 thread                     %7.3f s  %7.1f MB/s  (%.3f CPU s)"
          % (w["parse_1thread_s"], w["bytes"] / MB / w["parse_1thread_s"],
             w["parse_1thread_cpu_s"]))
    print("winnow  read_file of the text               %7.3f s  %7.1f MB/s"
          % (w["read_s"], w["bytes"] / MB / w["read_s"]))
    print("winnow  emb_table_read (streamed, as runs)  %7.3f s  %7.1f MB/s"
          % (w["read_streamed_s"], w["bytes"] / MB / w["read_streamed_s"]), flush=True)

    nb, ns, npv = numpy_parse(path)
    np_mbps = nb / MB / ns
    print("numpy %s np.loadtxt, %d rows           %7.3f s  %7.1f MB/s" % (npv, PEER_ROWS, ns, np_mbps))
    print("ratio winnow (median) / numpy: %.1fx; winnow (first) / numpy: %.1fx"
          % (mbps_med / np_mbps, mbps_first / np_mbps), flush=True)

    if not SELECT:
        return
    r = select_run(path)
    if r is None:
        sys.exit(1)
    wall, rss, rep, sizes = r
    print("winnowd select (coreset, n_samples 1000) on the %d-row CSV, no images: %.2f s wall, "
          "peak RSS %.0f MB" % (ROWS, wall, rss / MB))
    for st in rep["stages"]:
        print("  stage %-12s %8.3f s" % (st["name"], st["seconds"]))
    print("  counts: %s" % json.dumps(rep["counts"]))
    print("  data/embeddings.csv %.1f MB, data/embeddings_2d.csv %.1f MB"
          % (sizes["embeddings.csv"] / MB, sizes["embeddings_2d.csv"] / MB))


main()
