"""make bench-video: winnow's image pass over videos (issue 17's speed targets).

Generates (once, cached in $BUILD/bench/video-1080p-v1) BENCH_VIDEO_CLIPS H.264 clips of
1920x1080 at 25 fps from ffmpeg's test sources, 2 minutes in total, then measures in the
same run, each side best of BENCH_REPEAT rounds (the sides take turns, so a shared
machine's load weighs on all alike; the load average is printed), files in the page
cache, N = BENCH_THREADS (default: the cores):

- winnow: `winnowd select --threads N` (listing, whose demux pass counts the frames, and
  the image pass: decode, corruptness, lightly.* metadata, descriptor), frames / seconds
  of those two stages from report.json;
- ffmpeg: `ffmpeg -threads N -i clip -f null -` over every clip (decode only);
- OpenCV: cv2.VideoCapture reading every frame of every clip in Python
  (Debian's python3-opencv, cv2.setNumThreads(N)).

Prints frames/s of each and the ratios beside the targets: winnow / ffmpeg >= 0.8,
winnow / OpenCV >= 1.3.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
BIN = os.environ.get("BIN", "bin")
WINNOWD = os.path.join(ROOT, BIN, "winnowd")
CLIPS = int(os.environ.get("BENCH_VIDEO_CLIPS", "4"))
TOTAL_S = float(os.environ.get("BENCH_VIDEO_SECONDS", "120"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", str(os.cpu_count() or 1)))
SOURCES = ["testsrc2", "mandelbrot", "testsrc", "smptehdbars", "rgbtestsrc", "cellauto"]


def make_clips(d):
    stamp = os.path.join(d, ".done-%d-%g" % (CLIPS, TOTAL_S))
    if os.path.exists(stamp):
        return
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    each = TOTAL_S / CLIPS
    print("bench-video: generating %d H.264 clips of 1920x1080, %.0f s each, in %s" % (CLIPS, each, d),
          flush=True)
    for i in range(CLIPS):
        src = SOURCES[i % len(SOURCES)]
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "%s=size=1920x1080:rate=25" % src, "-t", "%g" % each, "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "50",
                        os.path.join(d, "clip_%02d.mp4" % i)], check=True)
    open(stamp, "w").close()


def clips(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mp4"))


def bench_winnow(d):
    """One run: (frames, seconds of listing + images)."""
    cfg = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"docker": {"method": "random", "stopping_condition": {"n_samples": 2},
                          "remove_exact_duplicates": False}}, cfg)
    cfg.close()
    out = tempfile.mkdtemp()
    subprocess.run([WINNOWD, "select", "--config", cfg.name, "--input", d, "--output",
                    os.path.join(out, "run"), "--threads", str(THREADS)], check=True,
                   capture_output=True)
    with open(os.path.join(out, "run", "report.json")) as f:
        rep = json.load(f)
    shutil.rmtree(out)
    secs = sum(s["seconds"] for s in rep["stages"] if s["name"] in ("listing", "images"))
    frames = sum(v["frames"] for v in rep["videos"])
    os.unlink(cfg.name)
    return frames, secs


def bench_ffmpeg(paths):
    """One run: seconds."""
    t0 = time.perf_counter()
    for p in paths:
        subprocess.run(["ffmpeg", "-v", "error", "-threads", str(THREADS), "-i", p, "-f", "null",
                        "-"], check=True)
    return time.perf_counter() - t0


def bench_opencv(paths):
    code = r"""
import sys, time, cv2
cv2.setNumThreads(int(sys.argv[1]))
n = 0
t0 = time.perf_counter()
for p in sys.argv[2:]:
    cap = cv2.VideoCapture(p)
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
print(n, time.perf_counter() - t0)
"""
    p = subprocess.run(["/usr/bin/python3", "-c", code, str(THREADS)] + paths, check=True,
                       capture_output=True, text=True)
    n, t = p.stdout.split()
    return int(n), float(t)


def main():
    d = os.path.join(ROOT, BUILD, "bench", "video-1080p-v1")
    make_clips(d)
    paths = clips(d)
    for p in paths:     # the page cache, for every side
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass
    # The sides take turns, each round one run of each, so that a shared machine's load
    # weighs on all three alike; each side's best round counts.
    load0 = os.getloadavg()
    tw = tf = tc = None
    cv_frames, cv_ok = 0, True
    for _ in range(REPEAT):
        frames, t = bench_winnow(d)
        tw = t if tw is None else min(tw, t)
        t = bench_ffmpeg(paths)
        tf = t if tf is None else min(tf, t)
        if cv_ok:
            try:
                cv_frames, t = bench_opencv(paths)
                tc = t if tc is None else min(tc, t)
            except (subprocess.CalledProcessError, FileNotFoundError) as e:
                cv_ok, tc = False, None
                print("bench-video: OpenCV not measured: %s" % e)
    load1 = os.getloadavg()
    print("bench-video: %d clips, %d frames of 1920x1080 H.264, %d threads" % (len(paths), frames, THREADS))
    print("  load average %.2f before, %.2f after (%d cores; best of %d interleaved rounds)"
          % (load0[0], load1[0], os.cpu_count() or 1, REPEAT))
    print("  winnow image pass  %8.1f frames/s  (%.2f s: listing + images)" % (frames / tw, tw))
    print("  ffmpeg decode      %8.1f frames/s  (%.2f s: ffmpeg -threads %d -i clip -f null -)"
          % (frames / tf, tf, THREADS))
    if tc:
        print("  OpenCV VideoCapture %7.1f frames/s  (%.2f s, %d frames, cv2.setNumThreads(%d))"
              % (cv_frames / tc, tc, cv_frames, THREADS))
    print("  winnow / ffmpeg  %.2fx  (target >= 0.8x)" % (tf / tw))
    if tc:
        print("  winnow / OpenCV  %.2fx  (target >= 1.3x)" % ((frames / tw) / (cv_frames / tc)))


if __name__ == "__main__":
    sys.exit(main())
