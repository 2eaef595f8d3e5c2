"""Videos' frames in the web app (issue 17, SPEC 3.1), against the real winnow-web
on 127.0.0.1 and frames written by a real `winnowd select` on the same folder
(clips made here with ffmpeg's CLI; pixels compared through ffmpeg's decoders,
not winnow's):

- .../samples/image of a frame's name: a PNG with exactly the pixels of the PNG
  winnowd wrote for that frame under <output>/frames/ (H.264 with B-frames, so
  presentation order matters; MJPEG in a .MOV, the extension's case kept);
- .../samples/thumbnail of a frame's name: the same frame area-averaged to at
  most 256 px a side, within JPEG's tolerance (a small busy frame: nearest to
  its own frame of all the video's frames); cached (a second reply is equal);
- .../samples/frame: {video, index, frames, time}: frames as ffprobe counts the
  packets, time the frame's pts in seconds as ffprobe reads it;
- .../samples/predictions and .../metadata of a frame: answered (no file yet);
- a name past the frame count, or padded with other digits, or of no video: 404;
- a declared 30000x30000 video and a truncated one: 422 with the reason, the web
  app's memory stays low;
- S3 answers exactly as LOCAL.
"""
import os
import shutil
import struct
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
CFG = {"method": "coreset", "stopping_condition": {"n_samples": 0.5}}


def ff(*args):
    subprocess.run([FFMPEG, "-v", "error", "-y"] + [str(a) for a in args], check=True,
                   capture_output=True, timeout=120)


def q(name):
    return urllib.parse.quote(name, safe="/")


def rgb(data):
    """An image's (width, height, RGB24 bytes) decoded by ffmpeg (not by winnow)."""
    p = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "stream=width,height",
                        "-of", "csv=p=0", "-"], input=data, capture_output=True, timeout=60)
    w, h = (int(x) for x in p.stdout.decode().strip().split(",")[:2])
    p = subprocess.run([FFMPEG, "-v", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-"], input=data, capture_output=True, check=True, timeout=60)
    return w, h, p.stdout


def area(w, h, px, dw, dh):
    """web/thumb.c's shrinker: destination pixel = rounded mean of its source block."""
    out = bytearray(dw * dh * 3)
    for y in range(dh):
        y0, y1 = y * h // dh, (y + 1) * h // dh
        for x in range(dw):
            x0, x1 = x * w // dw, (x + 1) * w // dw
            n = (y1 - y0) * (x1 - x0)
            for k in range(3):
                s = sum(px[(yy * w + xx) * 3 + k] for yy in range(y0, y1) for xx in range(x0, x1))
                out[(y * dw + x) * 3 + k] = (s + n // 2) // n
    return bytes(out)


def pts_times(path):
    """The first video stream's packet times in presentation order, by ffprobe."""
    p = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=pts_time", "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    return sorted(float(x.strip().strip(",")) for x in p.stdout.split() if x.strip(", "))


def make_clips(d):
    os.makedirs(os.path.join(d, "clips"))
    # H.264 with B-frames (decode order differs from presentation order), 320x240: shrunk.
    ff("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1.5", "-pix_fmt", "yuv420p",
       "-c:v", "libx264", "-g", "5", "-bf", "2", os.path.join(d, "clips", "scene.mp4"))
    ff("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-t", "1.2", "-c:v", "mjpeg",
       "-pix_fmt", "yuvj420p", os.path.join(d, "cam.MOV"))
    ff("-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v", "1",
       os.path.join(d, "still.png"))


class WebVideo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("webvid")
        cls.root = os.path.join(cls.dir, "data")
        cls.path = os.path.join(cls.root, "set")
        make_clips(cls.path)
        # The hostile videos, in a second dataset (the run's stays clean).
        cls.bad = os.path.join(cls.root, "bad")
        os.makedirs(cls.bad)
        src = "testsrc=size=96x64:rate=10"
        ff("-f", "lavfi", "-i", src, "-t", "0.3", "-c:v", "mjpeg", os.path.join(cls.dir, "big.avi"))
        with open(os.path.join(cls.dir, "big.avi"), "rb") as f:
            avi = bytearray(f.read())
        k = avi.index(b"strf") + 8
        struct.pack_into("<ii", avi, k + 4, 30000, 30000)
        k = avi.index(b"avih") + 8
        struct.pack_into("<ii", avi, k + 32, 30000, 30000)
        with open(os.path.join(cls.bad, "huge.avi"), "wb") as f:
            f.write(bytes(avi))
        ff("-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           os.path.join(cls.dir, "tail.mp4"))
        with open(os.path.join(cls.dir, "tail.mp4"), "rb") as f:
            tail = f.read()
        with open(os.path.join(cls.bad, "cut.mp4"), "wb") as f:
            f.write(tail[:len(tail) * 2 // 3])     # the index at the end is lost
        cls.out = os.path.join(wt.tmpdir("webvidout"), "out")
        wt.run_select(CFG, cls.path, cls.out, threads=2, timeout=300)
        cls.selected = wt.read_lines(os.path.join(cls.out, "filenames", "selected_filenames.txt"))
        cls.web = webtest.Server(roots=[cls.root], workdir=os.path.join(cls.dir, "web"))
        os.makedirs(cls.web.dir, exist_ok=True)
        cls.utok = cls.web.token("alice", "user")
        cls.web.start()
        cls.ds = cls.mkds(cls.path)
        cls.bds = cls.mkds(cls.bad)

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()

    @classmethod
    def mkds(cls, path):
        ds = cls.web.ok("POST", "/v1/datasets", {"name": "ds-" + os.path.basename(path)},
                        cls.utok, 201)["id"]
        cls.web.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path}, cls.utok, 200)
        return ds

    def get(self, ds, route, name):
        return self.web.request("GET", "/v1/winnow/datasets/%s/samples/%s?fileName=%s"
                                % (ds, route, q(name)), token=self.utok)

    def frames(self):
        f = [s for s in self.selected if s != "still.png"]
        self.assertTrue(any(s.startswith("clips/scene-") for s in f), f)
        self.assertTrue(any(s.startswith("cam-") and s.endswith("-MOV.png") for s in f), f)
        return f

    def test_full_frame_equals_winnowds_png(self):
        for name in self.frames():
            with self.subTest(name=name):
                r = self.get(self.ds, "image", name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "image/png")
                with open(os.path.join(self.out, "frames", name), "rb") as f:
                    want = rgb(f.read())
                self.assertEqual(rgb(r.body), want)

    def test_thumbnail_is_the_frame_shrunk(self):
        for name in self.frames()[:6]:
            with self.subTest(name=name):
                r = self.get(self.ds, "thumbnail", name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "image/jpeg")
                with open(os.path.join(self.out, "frames", name), "rb") as f:
                    w, h, px = rgb(f.read())
                tw, th, tpx = rgb(r.body)
                dw, dh = (w, h) if max(w, h) <= 256 else \
                    ((256, (h * 256 + w // 2) // w) if w >= h else ((w * 256 + h // 2) // h, 256))
                self.assertEqual((tw, th), (dw, dh))
                if (dw, dh) != (w, h):
                    want = area(w, h, px, dw, dh)
                    diff = sum(abs(a - b) for a, b in zip(tpx, want)) / len(want)
                    self.assertLess(diff, 4.0, name)
                else:
                    # Small and busy (MJPEG of testsrc2): JPEG's loss is larger, so the
                    # thumbnail must be nearest to this frame of all the video's frames.
                    video = os.path.join(self.path, name.rsplit("-", 2)[0] + ".MOV")
                    raw = subprocess.run([FFMPEG, "-v", "error", "-i", video, "-f", "rawvideo",
                                          "-pix_fmt", "rgb24", "-"], capture_output=True,
                                         check=True, timeout=60).stdout
                    fs = w * h * 3
                    diffs = [sum(abs(a - b) for a, b in zip(tpx, raw[i:i + fs])) / fs
                             for i in range(0, len(raw), fs)]
                    index = int(name.rsplit("-", 2)[1])
                    self.assertEqual(diffs.index(min(diffs)), index, diffs)
                    self.assertLess(diffs[index], 10.0, diffs)
                again = self.get(self.ds, "thumbnail", name)
                self.assertEqual(again.body, r.body)

    def test_thumbnail_cached(self):
        thumbs = self.web.db + ".thumbs"

        def count():
            return sum(len([f for f in fs if f.endswith(".jpg")]) for _, _, fs in os.walk(thumbs))
        n0 = count()
        a = self.get(self.ds, "thumbnail", "cam-01-MOV.png")     # asked by no other test
        self.assertEqual(a.status, 200, a)
        self.assertEqual(count(), n0 + 1)
        b = self.get(self.ds, "thumbnail", "cam-01-MOV.png")
        self.assertEqual((b.status, b.body), (200, a.body))
        self.assertEqual(count(), n0 + 1)

    def test_frame_route_names_video_index_and_time(self):
        for name in self.frames():
            video = "clips/scene.mp4" if name.startswith("clips/") else "cam.MOV"
            times = pts_times(os.path.join(self.path, video))
            index = int(name.rsplit("-", 2)[1])
            with self.subTest(name=name):
                r = self.get(self.ds, "frame", name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["video"], video)
                self.assertEqual(r.json["index"], index)
                self.assertEqual(r.json["frames"], len(times))
                self.assertAlmostEqual(r.json["time"], times[index], places=3)

    def test_predictions_and_metadata_of_a_frame(self):
        name = "clips/scene-03-mp4.png"
        r = self.get(self.ds, "metadata", name)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["fileName"], r.json["hasFile"]), (name, False))
        r = self.get(self.ds, "predictions", name)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["fileName"], name)
        for route in ("metadata", "predictions"):
            self.assertEqual(self.get(self.ds, route, "clips/scene-15-mp4.png").status, 404)

    def test_names_that_are_no_frame_404(self):
        n = len(pts_times(os.path.join(self.path, "clips", "scene.mp4")))
        self.assertEqual(len(str(n)), 2, n)
        self.assertEqual(self.get(self.ds, "frame", "clips/scene-%02d-mp4.png" % (n - 1)).status, 200)
        for name in ("clips/scene-%02d-mp4.png" % n,      # past the frame count
                     "clips/scene-99-mp4.png",
                     "clips/scene-001-mp4.png",           # other padding
                     "clips/scene-1-mp4.png",
                     "clips/other-01-mp4.png",            # no such video
                     "clips/scene-01-mkv.png"):
            for route in ("thumbnail", "image", "frame"):
                with self.subTest(name=name, route=route):
                    r = self.get(self.ds, route, name)
                    self.assertEqual(r.status, 404, r)
        # An image is still an image.
        self.assertEqual(self.get(self.ds, "thumbnail", "still.png").status, 200)
        self.assertEqual(self.get(self.ds, "frame", "still.png").status, 404)

    def test_hostile_videos_422_with_low_memory(self):
        for name, why in (("huge-0-avi.png", "30000"), ("cut-0-mp4.png", "")):
            for route in ("thumbnail", "image", "frame"):
                with self.subTest(name=name, route=route):
                    r = self.get(self.bds, route, name)
                    self.assertEqual(r.status, 422, r)
                    self.assertIn(why, r.json["error"])
                    self.assertNotEqual(r.json["error"].strip(), "")
        with open("/proc/%d/status" % self.web.proc.pid) as f:
            hwm = [line for line in f if line.startswith("VmHWM")][0]
        self.assertLess(int(hwm.split()[1]), 400 * 1024, hwm)


class WebVideoS3(unittest.TestCase):
    """An S3 datasource answers a frame's routes exactly as its LOCAL copy."""

    def test_s3_equals_local(self):
        d = wt.tmpdir("webvids3")
        root = os.path.join(d, "data")
        path = os.path.join(root, "set")
        make_clips(path)
        s3 = s3util.S3Server(d, ["data"])
        web = webtest.Server(roots=[root], workdir=os.path.join(d, "web"))
        os.makedirs(web.dir, exist_ok=True)
        tok = web.token("alice", "user")
        try:
            s3.upload_dir("data", "set1/", path)
            web.start()
            loc = web.ok("POST", "/v1/datasets", {"name": "loc"}, tok, 201)["id"]
            web.ok("PUT", "/v1/datasets/%s/datasource" % loc,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path}, tok, 200)
            rem = web.ok("POST", "/v1/datasets", {"name": "rem"}, tok, 201)["id"]
            web.ok("PUT", "/v1/winnow/datasets/%s/datasource" % rem,
                   {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://data/set1",
                    "s3Endpoint": s3.endpoint, "s3Region": "us-east-1",
                    "s3AccessKeyId": s3util.KEY_ID, "s3SecretAccessKey": s3util.SECRET}, tok, 200)
            for name in ("clips/scene-00-mp4.png", "clips/scene-07-mp4.png", "cam-11-MOV.png",
                         "clips/scene-15-mp4.png", "still.png"):
                for route in ("image", "thumbnail", "frame"):
                    a = web.request("GET", "/v1/winnow/datasets/%s/samples/%s?fileName=%s"
                                    % (loc, route, q(name)), token=tok)
                    b = web.request("GET", "/v1/winnow/datasets/%s/samples/%s?fileName=%s"
                                    % (rem, route, q(name)), token=tok)
                    self.assertEqual((a.status, a.body, a.header("Content-Type")),
                                     (b.status, b.body, b.header("Content-Type")), (name, route))
                    want = 404 if (name == "still.png" and route == "frame") or \
                        name == "clips/scene-15-mp4.png" else 200
                    self.assertEqual(a.status, want, (name, route, a))
        finally:
            web.stop()
            s3.stop()


if __name__ == "__main__":
    unittest.main()
