"""Videos as datasources (SPEC 3.1, issue 17): clips made here with ffmpeg's CLI
(test sources, static stretches, damage) run through `winnowd select`.

- every frame of every video is a sample named as Lightly names frames, counted
  as ffprobe counts the stream's packets; extensions any case; mp4, mov, mkv,
  webm, avi (H.264, VP8, VP9, MPEG-4, MJPEG);
- a video that cannot be opened (zero bytes, garbage, audio only, a truncated
  mp4 whose index is lost, a declared 30000x30000) is corrupt as a whole with
  its reason; bytes overwritten mid-stream make frames corrupt with the
  decoder's reason, the other frames of that video stay candidates;
- predictions, custom metadata, an embeddings CSV's rows and a THRESHOLD on
  lightly.uniformRowRatio work by frame name (the static black stretch is removed);
- sequences (selectedSequenceLength) are exact against tests/py/planref.py on
  chunks made here from the CSV;
- outputs are identical on 1 and 2 threads, and on S3 as on LOCAL, and
  whether long videos are decoded whole or split at keyframes into ranges;
- report.json lists each video's frames, corrupt and selected frames, and the
  selected frames are PNGs under <output>/frames/;
- 20,000 frames of 1x1 and the hostile files stay under an RSS cap.
"""
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402
import planref  # noqa: E402
import winnowtest as wt  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


def ff(*args):
    subprocess.run([FFMPEG, "-v", "error", "-y"] + [str(a) for a in args], check=True,
                   capture_output=True, timeout=120)


def packets(path):
    """The first video stream's packet count, by ffprobe (not by winnow)."""
    p = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    return int(p.stdout.strip().split(",")[0])


def frame_name(path, i, n):
    stem, ext = os.path.splitext(path)
    return "%s-%0*d-%s.png" % (stem, len(str(n)), i, ext[1:])


# The RSS cap of the 20,000-frame run, in MiB. The plain build peaks near 80
# (about 40 of libraries and threads, 33 of descriptors); ASan's shadow memory
# and redzones add about 70 more, and its quarantine of freed blocks (256 MiB
# by default, which FFmpeg's per-frame allocations would fill) is cut to
# 16 MiB in the child, so both caps are near twice the peak and a leak of a
# few KiB a frame still breaks them.
SANITIZED = wt.SANITIZED
RSS_CAP_MB = 320 if SANITIZED else 200


def run_rss(args):
    """Runs winnowd in a child of a fresh Python, returns (rc, stderr, peak RSS in KiB)."""
    env = wt.rss_env()
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(p.stderr)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(p.returncode)\n")
    p = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True,
                       timeout=300, env=env)
    return p.returncode, p.stderr, int(p.stdout.strip().splitlines()[-1])


@unittest.skipIf(FFMPEG is None or FFPROBE is None, "ffmpeg is not installed (make deps)")
class Videos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("video")
        d = cls.data = os.path.join(cls.dir, "data")
        os.makedirs(os.path.join(d, "clips"))
        src = "testsrc=size=96x64:rate=10"
        # Scenes, then a static black stretch (uniform rows), in one H.264 mp4.
        ff("-f", "lavfi", "-i", src, "-f", "lavfi", "-i", "color=black:size=96x64:rate=10",
           "-filter_complex", "[0:v]trim=duration=2[a];[1:v]trim=duration=1[b];[a][b]concat=n=2:v=1",
           "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "10", "-bf", "2",
           os.path.join(d, "clips", "scene.mp4"))
        ff("-f", "lavfi", "-i", "mandelbrot=size=96x64:rate=10", "-t", "1.2", "-c:v", "libvpx",
           os.path.join(d, "clips", "m.webm"))
        ff("-f", "lavfi", "-i", src, "-t", "0.8", "-c:v", "libvpx-vp9", os.path.join(d, "v9.mkv"))
        ff("-f", "lavfi", "-i", src, "-t", "0.7", "-c:v", "mpeg4", os.path.join(d, "old.AVI"))
        ff("-f", "lavfi", "-i", src, "-t", "0.5", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p",
           os.path.join(d, "cam.MOV"))
        # Damage: bytes overwritten in the middle of a longer H.264 stream.
        tmp = os.path.join(cls.dir, "long.mp4")
        ff("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "4", "-pix_fmt", "yuv420p",
           "-c:v", "libx264", "-g", "50", "-movflags", "+faststart", tmp)
        with open(tmp, "rb") as f:
            good = f.read()
        bad = bytearray(good)
        rng = random.Random(1)
        for i in range(len(bad) // 2, len(bad) // 2 + 400):
            bad[i] = rng.randrange(256)
        cls.write(d, "broken/garbled.mp4", bytes(bad))
        # Truncated: the index at the end (no faststart) is lost; with faststart, frames survive.
        ff("-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           os.path.join(cls.dir, "tail.mp4"))
        with open(os.path.join(cls.dir, "tail.mp4"), "rb") as f:
            tail = f.read()
        cls.write(d, "broken/noindex.mp4", tail[:len(tail) * 2 // 3])
        cls.write(d, "broken/cut.mp4", good[:len(good) * 2 // 3])
        ff("-f", "lavfi", "-i", "sine=duration=1", os.path.join(d, "broken", "audio.mp4"))
        cls.write(d, "broken/zero.mkv", b"")
        cls.write(d, "broken/text.webm", b"hello, not a video\n" * 10)
        # A declared 30000x30000: the AVI's stream header edited (biWidth, biHeight of strf).
        ff("-f", "lavfi", "-i", src, "-t", "0.3", "-c:v", "mjpeg", os.path.join(cls.dir, "big.avi"))
        with open(os.path.join(cls.dir, "big.avi"), "rb") as f:
            avi = bytearray(f.read())
        k = avi.index(b"strf") + 8
        struct.pack_into("<ii", avi, k + 4, 30000, 30000)
        k = avi.index(b"avih") + 8
        struct.pack_into("<ii", avi, k + 32, 30000, 30000)
        cls.write(d, "broken/huge.avi", bytes(avi))
        # A still image beside the videos.
        ff("-f", "lavfi", "-i", src, "-frames:v", "1", os.path.join(d, "still.png"))

        cls.videos = ["cam.MOV", "clips/m.webm", "clips/scene.mp4", "old.AVI", "v9.mkv",
                      "broken/garbled.mp4", "broken/cut.mp4"]
        cls.counts = {v: packets(os.path.join(d, v)) for v in cls.videos}
        cls.frames = sorted(frame_name(v, i, n) for v, n in cls.counts.items() for i in range(n))
        cls.cfg = {"method": "coreset", "stopping_condition": {"n_samples": 0.5}}
        cls.base = cls.select(cls.cfg, d, threads=2)

    @staticmethod
    def write(root, rel, data):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    @staticmethod
    def select(cfg, inp, threads=2, extra=()):
        out = os.path.join(wt.tmpdir("out"), "run")
        if "selection" in cfg:
            path = os.path.join(wt.tmpdir("cfg"), "v4.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            cfg = path
        wt.run_select(cfg, inp, out, *extra, threads=threads, timeout=300)
        return out

    def report(self, out):
        with open(os.path.join(out, "report.json")) as f:
            return json.load(f)

    def test_frames_are_samples_named_as_lightly_names_them(self):
        self.assertEqual(self.counts["clips/scene.mp4"], 30)
        self.assertIn("clips/scene-07-mp4.png", self.frames)
        self.assertIn("cam-0-MOV.png", self.frames)
        emb = wt.read_csv(os.path.join(self.base, "data", "embeddings.csv"))[1]
        corrupt = wt.read_tsv(os.path.join(self.base, "filenames", "corrupt_filenames.txt"))
        dups = wt.read_tsv(os.path.join(self.base, "filenames", "duplicate_filenames.txt"))
        names = set(r[0] for r in emb) | set(corrupt) | set(dups)
        # Every frame is a sample (candidate, corrupt or duplicate), and the still image too.
        for f in self.frames:
            self.assertIn(f, names)
        self.assertIn("still.png", names)
        rep = self.report(self.base)
        self.assertEqual(rep["counts"]["listed"], len(self.frames) + 1 + 5)

    def test_unreadable_videos_are_corrupt_with_their_reason(self):
        corrupt = wt.read_tsv(os.path.join(self.base, "filenames", "corrupt_filenames.txt"))
        self.assertEqual(corrupt["broken/zero.mkv"], "empty file")
        self.assertEqual(corrupt["broken/audio.mp4"], "no video stream")
        self.assertEqual(corrupt["broken/noindex.mp4"], "bad header: moov atom not found")
        self.assertTrue(corrupt["broken/text.webm"].startswith("bad header"), corrupt)
        self.assertEqual(corrupt["broken/huge.avi"], "too many pixels: 30000x30000")

    def test_damaged_frames_are_corrupt_with_the_decoders_reason(self):
        corrupt = wt.read_tsv(os.path.join(self.base, "filenames", "corrupt_filenames.txt"))
        n = self.counts["broken/garbled.mp4"]
        bad = [f for f in corrupt if f.startswith("broken/garbled-")]
        self.assertGreater(len(bad), 0)
        self.assertLess(len(bad), n)
        for f in bad:
            self.assertTrue(corrupt[f].startswith("corrupt data: "), corrupt[f])
        # The cut stream: the frames before the cut are read, the lost ones are corrupt.
        cut = [f for f in corrupt if f.startswith("broken/cut-")]
        self.assertLess(len(cut), self.counts["broken/cut.mp4"])
        rep = self.report(self.base)
        v = {x["path"]: x for x in rep["videos"]}
        self.assertEqual(v["broken/garbled.mp4"]["frames"], n)
        self.assertEqual([frame_name("broken/garbled.mp4", i, n) for i in
                          v["broken/garbled.mp4"]["corrupt_frames"]], sorted(bad))
        self.assertEqual(v["broken/audio.mp4"]["reason"], "no video stream")

    def test_selected_frames_are_written_and_reported(self):
        sel = wt.read_lines(os.path.join(self.base, "filenames", "selected_filenames.txt"))
        frames = [s for s in sel if s != "still.png"]
        self.assertGreater(len(frames), 10)
        for s in frames:
            p = os.path.join(self.base, "frames", s)
            with open(p, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", s)
        self.assertFalse(os.path.exists(os.path.join(self.base, "frames", "still.png")))
        rep = self.report(self.base)
        got = sorted(frame_name(v["path"], i, v["frames"]) for v in rep["videos"]
                     for i in v.get("selected_frames", []))
        self.assertEqual(got, sorted(frames))
        # A frame PNG is the full decoded frame.
        from PIL import Image
        with Image.open(os.path.join(self.base, "frames", frames[0])) as im:
            self.assertEqual(im.size[0] in (96, 160), True, im.size)

    def test_threads_give_identical_outputs(self):
        one = self.select(self.cfg, self.data, threads=1)
        wt.assert_same_outputs(self, one, self.base)

    def test_embeddings_csv_and_metadata_by_frame_name(self):
        d = os.path.join(self.dir, "withcsv")
        shutil.copytree(self.data, d)
        os.makedirs(os.path.join(d, ".lightly", "embeddings"))
        rng = random.Random(3)
        names = self.frames + ["still.png"]
        with open(os.path.join(d, ".lightly", "embeddings", "e.csv"), "w") as f:
            f.write("filenames,embedding_0,embedding_1,embedding_2,labels\n")
            for nm in names:
                f.write("%s,%r,%r,%r,0\n" % (nm, rng.random(), rng.random(), rng.random()))
        out = self.select({"method": "coreset", "stopping_condition": {"n_samples": 5},
                           "embeddings": "e.csv"}, d)
        self.assertEqual(len(wt.read_lines(os.path.join(out, "filenames",
                                                        "selected_filenames.txt"))), 5)
        # THRESHOLD on uniformRowRatio removes the static black stretch of scene.mp4.
        v4 = {"workerType": "FULL", "docker": {"embeddings": "e.csv"}, "selection": {
            "nSamples": 1000, "strategies": [
                {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
                {"input": {"type": "METADATA", "key": "lightly.uniformRowRatio"},
                 "strategy": {"type": "THRESHOLD", "threshold": 0.9, "operation": "SMALLER"}}]}}
        out = self.select(v4, d)
        sel = set(wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt")))
        scene = [frame_name("clips/scene.mp4", i, 30) for i in range(30)]
        self.assertTrue(all(s in sel for s in scene[:19]), sorted(sel))
        self.assertTrue(all(s not in sel for s in scene[21:]), sorted(sel))

    def test_predictions_by_frame_name(self):
        d = os.path.join(self.dir, "pred")
        shutil.copytree(self.data, d)
        task = os.path.join(d, ".lightly", "predictions", "cls")
        os.makedirs(task)
        with open(os.path.join(d, ".lightly", "predictions", "tasks.json"), "w") as f:
            json.dump(["cls"], f)
        with open(os.path.join(task, "schema.json"), "w") as f:
            json.dump({"task_type": "classification",
                       "categories": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]}, f)
        rng = random.Random(11)
        probs = {}
        for nm in self.frames:
            p = round(rng.random(), 3)
            probs[nm] = p
            path = os.path.join(task, os.path.splitext(nm)[0] + ".json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump({"file_name": nm, "predictions": [
                    {"category_id": 0, "probabilities": [p, 1 - p]}]}, f)
        out = self.select({"method": "coral", "stopping_condition": {"n_samples": 5},
                           "active_learning": {"task_name": "cls"}}, d)
        rep = self.report(out)
        self.assertEqual(rep["counts"]["no_predictions"], 1)    # still.png alone
        hdr, body = wt.read_csv(os.path.join(out, "data", "scores.csv"))
        col = hdr.index("uncertainty_margin")
        got = {r[0]: float(r[col]) for r in body}
        for nm, p in probs.items():
            if nm in got:
                self.assertAlmostEqual(got[nm], 1 - abs(p - (1 - p)), places=9, msg=nm)
        self.assertGreater(len([n for n in got if n in probs]), 100)

    def test_sequences_exact_against_the_reference(self):
        """selectedSequenceLength = 4 on a V4 plan (DIVERSITY and WEIGHTS on a custom
        metadata key read from .lightly/metadata/<frame name>.json), checked step by
        step against planref on chunks made here from the CSV (SPEC 3.1)."""
        L = 4
        d = os.path.join(self.dir, "seq")
        shutil.copytree(self.data, d)
        os.makedirs(os.path.join(d, ".lightly", "embeddings"))
        rng = random.Random(7)
        rows = {nm: [rng.gauss(0, 1) for _ in range(6)] for nm in self.frames + ["still.png"]}
        with open(os.path.join(d, ".lightly", "embeddings", "e.csv"), "w") as f:
            f.write("filenames," + ",".join("embedding_%d" % j for j in range(6)) + ",labels\n")
            for nm, r in rows.items():
                f.write(nm + "," + ",".join(repr(x) for x in r) + ",0\n")
        temp = {}
        for nm in self.frames:
            if rng.random() < 0.8:      # some frames have no value
                temp[nm] = rng.uniform(-5, 30)
                p = os.path.join(d, ".lightly", "metadata", os.path.splitext(nm)[0] + ".json")
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    json.dump({"file_name": nm, "type": "image",
                               "metadata": {"weather": {"temp": temp[nm]}}}, f)
        sel = {"nSamples": 6, "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
            {"input": {"type": "METADATA", "key": "weather.temp"},
             "strategy": {"type": "WEIGHTS", "strength": 0.5}}]}
        out = self.select({"workerType": "FULL", "selection": sel,
                           "docker": {"embeddings": "e.csv", "selectedSequenceLength": L}}, d)
        corrupt = wt.read_tsv(os.path.join(out, "filenames", "corrupt_filenames.txt"))
        # The chunks, made here: L consecutive indices, every frame a candidate.
        chunks = []
        for v in self.videos:
            n = self.counts[v]
            for s in range(0, n - L + 1, L):
                fr = [frame_name(v, s + j, n) for j in range(L)]
                if not any(f in corrupt for f in fr):
                    chunks.append(fr)
        chunks.sort(key=lambda c: c[0].encode())
        src = planref.Source(d, [c[0] for c in chunks], [rows[c[0]] for c in chunks])
        X = []
        for c in chunks:
            m = [sum(r[t] for r in (planref.Source(d, c, [rows[f] for f in c]).X.tolist())) / L
                 for t in range(6)]
            nrm = sum(x * x for x in m) ** 0.5
            X.append([x / nrm for x in m])
        vals, has = [], []
        for c in chunks:
            got = [temp[f] for f in c if f in temp]
            vals.append(sum(got) / len(got) if got else 0.0)
            has.append(1 if got else 0)
        case = {"n": len(chunks), "d": 6, "X": [x for r in X for x in r], "k": 6, "entries": [
            {"input": "EMBEDDINGS", "strategy": "DIVERSITY", "strength": 1.0},
            {"input": "METADATA", "strategy": "WEIGHTS", "strength": 0.5, "value": vals,
             "has_value": has}]}
        hdr, body = wt.read_csv(os.path.join(out, "data", "selection.csv"))
        picks = [[src.index[r[1]], float(r[4]), float(r[3]) if r[3] else math.nan,
                  [float(x) if x else math.nan for x in r[5:]]] for r in body]
        self.assertEqual(len(picks), 6)
        rep = self.report(out)
        planref.follow_steps(self, case, picks, rep["stop_reason"])
        self.assertEqual(rep["sequences"]["chunks"], len(chunks))
        # selected_filenames.txt: every frame of every chosen chunk, in selection order.
        want = [f for r in body for c in chunks if c[0] == r[1] for f in c]
        self.assertEqual(wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt")), want)
        for f in want:
            self.assertTrue(os.path.exists(os.path.join(out, "frames", f)), f)

    def test_s3_equals_local(self):
        s3 = s3util.S3Server(self.dir, ["vids"])
        try:
            s3.upload_dir("vids", "set/", self.data)
            out = os.path.join(wt.tmpdir("out"), "run")
            cfg = wt.write_config(os.path.join(wt.tmpdir("cfg"), "c.json"), self.cfg)
            env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID,
                       AWS_SECRET_ACCESS_KEY=s3util.SECRET)
            p = subprocess.run([wt.WINNOWD, "select", "--config", cfg, "--input", "s3://vids/set",
                                "--output", out, "--s3-endpoint", s3.endpoint, "--threads", "2"],
                               capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            s3.stop()
        wt.assert_same_outputs(self, self.base, out)
        for s in wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt")):
            if s != "still.png":
                with open(os.path.join(out, "frames", s), "rb") as a, \
                        open(os.path.join(self.base, "frames", s), "rb") as b:
                    self.assertEqual(a.read(), b.read(), s)

    def test_long_videos_split_at_keyframes_give_identical_outputs(self):
        """Videos decoded in ranges from clean keyframes (WINNOW_VIDEO_SPLIT_FRAMES: at least
        that many frames a range) give the unsplit decode's outputs, on 1 and 2 threads:
        H.264 with B-frames in mp4 and mkv, VP9 in webm, and an H.264 stream damaged at a
        keyframe (decoded from the keyframe before)."""
        d = os.path.join(self.dir, "long")
        os.makedirs(d)
        src = "testsrc2=size=64x48:rate=25"
        ff("-f", "lavfi", "-i", src, "-t", "16", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-g", "12", "-bf", "3", "-x264-params", "scenecut=0", os.path.join(d, "long.mp4"))
        ff("-f", "lavfi", "-i", src, "-t", "8", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-g", "10", "-bf", "2", os.path.join(d, "k.mkv"))
        ff("-f", "lavfi", "-i", "mandelbrot=size=64x48:rate=25", "-t", "8", "-c:v", "libvpx-vp9",
           "-g", "15", os.path.join(d, "m.webm"))
        with open(os.path.join(d, "long.mp4"), "rb") as f:
            bad = bytearray(f.read())
        rng = random.Random(1)
        for i in range(len(bad) // 2, len(bad) // 2 + 300):
            bad[i] = rng.randrange(256)
        self.write(d, "garbled.mp4", bytes(bad))
        cfg = wt.write_config(os.path.join(wt.tmpdir("cfg"), "c.json"),
                              {"method": "coreset", "stopping_condition": {"n_samples": 60}})

        def run(threads, split):
            out = os.path.join(wt.tmpdir("out"), "run")
            env = dict(os.environ, WINNOW_VIDEO_SPLIT_FRAMES=str(split))
            p = subprocess.run([wt.WINNOWD, "select", "--config", cfg, "--input", d, "--output",
                                out, "--threads", str(threads)],
                               capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(out, "log.txt")) as f:
                ranges = dict(re.findall(r" INFO (\S+): decoded in (\d+) ranges", f.read()))
            return out, ranges

        whole, ranges = run(1, 1000000)
        self.assertEqual(ranges, {})
        corrupt = wt.read_tsv(os.path.join(whole, "filenames", "corrupt_filenames.txt"))
        self.assertTrue(any(f.startswith("garbled-") for f in corrupt), corrupt)
        sel = [s for s in wt.read_lines(os.path.join(whole, "filenames",
                                                     "selected_filenames.txt"))]
        self.assertEqual(len(sel), 60)
        for threads, split in ((2, 1000000), (1, 7), (2, 7), (2, 1), (2, 100)):
            out, ranges = run(threads, split)
            if split <= 7:
                self.assertEqual(sorted(ranges), ["garbled.mp4", "k.mkv", "long.mp4", "m.webm"])
                self.assertGreater(int(ranges["long.mp4"]), 20)
            elif split == 100:
                self.assertGreaterEqual(int(ranges["long.mp4"]), 3)
            wt.assert_same_outputs(self, whole, out)
            self.assertEqual(sorted(os.listdir(os.path.join(out, "frames"))),
                             sorted(os.listdir(os.path.join(whole, "frames"))))
            for s in sel:
                with open(os.path.join(out, "frames", s), "rb") as a, \
                        open(os.path.join(whole, "frames", s), "rb") as b:
                    self.assertEqual(a.read(), b.read(), (s, threads, split))

    def test_many_tiny_frames_and_hostile_files_under_an_rss_cap(self):
        d = os.path.join(self.dir, "tiny")
        os.makedirs(d)
        ff("-f", "lavfi", "-i", "color=red:size=8x8:rate=1000", "-t", "20", "-vf", "scale=1:1",
           "-c:v", "mjpeg", "-pix_fmt", "yuvj444p", os.path.join(d, "dots.mkv"))
        for f in ("huge.avi", "garbled.mp4", "noindex.mp4", "zero.mkv"):
            shutil.copy(os.path.join(self.data, "broken", f), d)
        n = packets(os.path.join(d, "dots.mkv"))
        self.assertEqual(n, 20000)
        cfg = wt.write_config(os.path.join(wt.tmpdir("cfg"), "c.json"),
                              {"method": "random", "stopping_condition": {"n_samples": 3}})
        out = os.path.join(wt.tmpdir("out"), "run")
        rc, err, rss = run_rss([wt.WINNOWD, "select", "--config", cfg, "--input", d,
                                "--output", out, "--threads", "2"])
        self.assertEqual(rc, 0, err)
        self.assertLess(rss, RSS_CAP_MB * 1024, "peak RSS %d KiB (cap %d MiB%s)"
                        % (rss, RSS_CAP_MB, ", sanitizer build" if SANITIZED else ""))
        rep = self.report(out)
        v = {x["path"]: x for x in rep["videos"]}
        self.assertEqual(v["dots.mkv"]["frames"], 20000)
        self.assertEqual(v["huge.avi"]["reason"], "too many pixels: 30000x30000")
        with open(os.path.join(out, "data", "embeddings.csv")) as f:
            self.assertTrue(re.search(r"^dots-00000-mkv\.png,", f.read(), re.M))


if __name__ == "__main__":
    unittest.main()
