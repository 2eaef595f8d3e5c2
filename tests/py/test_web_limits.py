"""winnow-web's file-side limits (SPEC 8, issue 15), against the real server on
127.0.0.1 with a real SQLite file:
- thumbnails decode within a memory budget: the 16-bit RGBA PNG bomb (6000 x 6000,
  a few hundred KB) asked for twice at once, a 36 Mpx JPEG (decoded scaled by the
  DCT: it gets a thumbnail), a progressive one and an interlaced bomb (refused with
  their figures); the web app's peak RSS (VmHWM) stays under RSS_BOUND_MB in the
  plain build (an ASan build reserves shadow memory: only that assertion is skipped);
- the dataset root is enforced at every access: a datasource's folder swapped for a
  link out of the root after it was saved, and an image that is a link out, give
  neither thumbnails nor tasks from outside;
- web.db, its -wal and -shm, the URL key and the thumbnails' folder are created
  0600 / 0700 under umask 022.
"""
import io
import os
import shutil
import struct
import sys
import threading
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

# An ASan build (SANITIZE=address,...: BIN=bin-address,undefined) reserves shadow memory.
ASAN = "address" in os.path.basename(webtest.BIN.rstrip("/"))
RSS_BOUND_MB = 200
SIDE = 6000  # 36 Mpx


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png_bomb(path, side=SIDE, interlaced=False):
    """A 16-bit RGBA PNG of side x side pixels, all zero: 8 bytes a pixel, written
    row by row (the raw image, 288 MB at 6000, is never in memory here)."""
    z = zlib.compressobj(9)
    out = [b"\x89PNG\r\n\x1a\n",
           png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 1 if interlaced else 0))]
    data = []
    if interlaced:  # Adam7: each pass a sub-image of its own rows
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
        rows = []
        for x0, y0, dx, dy in passes:
            pw, ph = (side - x0 + dx - 1) // dx, (side - y0 + dy - 1) // dy
            if pw and ph:
                rows += [1 + pw * 8] * ph
    else:
        rows = [1 + side * 8] * side
    zero = bytes(max(rows))
    for n in rows:
        data.append(z.compress(zero[:n]))
    data.append(z.flush())
    out.append(png_chunk(b"IDAT", b"".join(data)))
    out.append(png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(b"".join(out))
    return os.path.getsize(path)


def big_jpeg(path, progressive=False):
    im = Image.new("RGB", (SIDE, SIDE), (40, 90, 200))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, SIDE // 2, SIDE // 2), fill=(250, 20, 20))  # red top-left quarter
    im.save(path, "JPEG", quality=70, progressive=progressive)
    return os.path.getsize(path)


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024  # kB -> MB
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        old = os.umask(0o022)
        try:
            cls.srv = webtest.Server()
            os.makedirs(cls.srv.dir, exist_ok=True)
            cls.root = os.path.join(cls.srv.dir, "datasets")
            cls.data = os.path.join(cls.root, "ds1")
            os.makedirs(cls.data)
            cls.outside = os.path.join(cls.srv.dir, "outside")
            os.makedirs(os.path.join(cls.outside, ".lightly", "predictions"))
            Image.new("RGB", (64, 48), (0, 255, 0)).save(os.path.join(cls.outside, "secret.jpg"))
            with open(os.path.join(cls.outside, ".lightly", "predictions", "tasks.json"), "w") as f:
                f.write('["outside-task"]')
            cls.srv.roots = [cls.root]
            cls.user = cls.srv.token("alice", "user")
            cls.srv.start()
        finally:
            os.umask(old)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def u(self, method, path, body=None, status=200):
        return self.srv.ok(method, path, body, self.user, status)

    def local_dataset(self, full_path, purpose="INPUT_OUTPUT"):
        ds = self.u("POST", "/v1/datasets", {"name": "limits"}, 201)["id"]
        self.u("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": purpose, "fullPath": full_path})
        return ds

    def thumb(self, ds, name):
        return self.srv.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail?fileName=%s"
                                % (ds, urllib.parse.quote(name)), token=self.user)


class TestThumbnailBudget(Base):
    def test_bomb_twice_at_once_and_big_jpegs(self):
        png_size = png_bomb(os.path.join(self.data, "bomb.png"))
        il_size = png_bomb(os.path.join(self.data, "bomb-interlaced.png"), interlaced=True)
        jpg_size = big_jpeg(os.path.join(self.data, "big36.jpg"))
        prog_size = big_jpeg(os.path.join(self.data, "big36-progressive.jpg"), progressive=True)
        ds = self.local_dataset("ds1")
        pid = self.srv.proc.pid
        before = vm(pid, "VmHWM")

        replies = {}

        def ask(key, name):
            replies[key] = self.thumb(ds, name)

        threads = [threading.Thread(target=ask, args=(i, "bomb.png")) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # A non-interlaced PNG streams row by row: the bomb decodes in a few rows' memory.
        for r in replies.values():
            self.assertEqual(r.status, 200, r)
            self.assertEqual(Image.open(io.BytesIO(r.body)).size, (256, 256))
        after_bombs = vm(pid, "VmHWM")
        print("\nthumbnail bomb twice at once: web app VmHWM %d MB before, %d MB after" % (before, after_bombs),
              file=sys.stderr)
        if not ASAN:
            self.assertLess(after_bombs, RSS_BOUND_MB)
        # The 36 Mpx JPEG decodes at 1/8 scale (750 x 750) and gets its thumbnail.
        r = self.thumb(ds, "big36.jpg")
        self.assertEqual(r.status, 200, r)
        im = Image.open(io.BytesIO(r.body)).convert("RGB")
        self.assertEqual(im.size, (256, 256))
        red, blue = im.getpixel((60, 60)), im.getpixel((200, 200))
        self.assertGreater(red[0], 200, red)
        self.assertGreater(blue[2], 150, blue)
        # Refused from their headers, with their figures: a progressive JPEG holds every
        # DCT coefficient (108 MB here), an interlaced PNG the whole image (4 B a pixel).
        for name, want in (("big36-progressive.jpg", "a 6000x6000 progressive JPEG needs 104 MiB with its file"),
                           ("bomb-interlaced.png", "a 6000x6000 interlaced PNG of 8 bytes a pixel needs 138 MiB")):
            r = self.thumb(ds, name)
            self.assertEqual(r.status, 422, (name, r))
            self.assertIn("too large to decode for a thumbnail", r.json["error"])
            self.assertIn(want, r.json["error"])
            self.assertIn("(limit 64 MiB)", r.json["error"])
        peak = vm(pid, "VmHWM")
        print("\nthumbnail budget: files bomb.png %d KB, bomb-interlaced.png %d KB, big36.jpg %d KB, "
              "big36-progressive.jpg %d KB; web app VmHWM %d MB before, %d MB after (bound %d MB%s)"
              % (png_size // 1024, il_size // 1024, jpg_size // 1024, prog_size // 1024, before, peak,
                 RSS_BOUND_MB, ", not asserted under ASan" if ASAN else ""), file=sys.stderr)
        if not ASAN:
            self.assertLess(peak, RSS_BOUND_MB)


def png_interlaced_rgb(path, im):
    """An 8-bit RGB Adam7-interlaced PNG of im (PIL writes no interlaced PNG)."""
    w, h = im.size
    px = im.convert("RGB").load()
    raw = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        xs = range(x0, w, dx)
        if not len(xs):
            continue
        for y in range(y0, h, dy):
            raw.append(b"\0" + b"".join(bytes(px[x, y]) for x in xs))
    data = [b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)),
            png_chunk(b"IDAT", zlib.compress(b"".join(raw))), png_chunk(b"IEND", b"")]
    with open(path, "wb") as f:
        f.write(b"".join(data))


class TestThumbnailFormats(Base):
    """Each decoder the budget brought (libjpeg scaled, libpng streamed, libwebp
    scaled, stb_image for BMP) gives the picture: left half red, right half blue."""

    def test_every_form(self):
        folder = os.path.join(self.root, "forms")
        os.makedirs(folder)
        im = Image.new("RGB", (600, 400), (0, 0, 255))
        ImageDraw.Draw(im).rectangle((0, 0, 299, 399), fill=(255, 0, 0))
        grey = im.convert("L")  # red 76, blue 29
        forms = {
            "rgb.jpg": (im, {}), "progressive.jpg": (im, {"progressive": True}),
            "cmyk.jpg": (im.convert("CMYK"), {}), "grey.jpg": (grey, {}),
            "rgb.png": (im, {}), "rgba.png": (im.convert("RGBA"), {}), "la.png": (grey.convert("LA"), {}),
            "palette.png": (im.convert("P"), {"transparency": 0}), "grey16.png": (grey.convert("I").point(lambda v: v * 257), {}),
            "lossy.webp": (im, {"quality": 90}), "lossless.webp": (im, {"lossless": True}),
            "rgb.bmp": (im, {}), "rgba.bmp": (im.convert("RGBA"), {}),
        }
        for name, (img, kw) in forms.items():
            img.save(os.path.join(folder, name), **kw)
        png_interlaced_rgb(os.path.join(folder, "interlaced.png"), im)
        ds = self.local_dataset("forms")
        for name in list(forms) + ["interlaced.png"]:
            r = self.thumb(ds, name)
            self.assertEqual(r.status, 200, (name, r))
            t = Image.open(io.BytesIO(r.body)).convert("RGB")
            self.assertEqual(t.size, (256, 171), name)
            left, right = t.getpixel((40, 85)), t.getpixel((215, 85))
            if name in ("grey.jpg", "la.png", "grey16.png"):
                self.assertTrue(abs(left[0] - 76) < 12 and abs(right[0] - 29) < 12, (name, left, right))
            else:
                self.assertTrue(left[0] > 200 and left[2] < 60, (name, left))
                self.assertTrue(right[2] > 200 and right[0] < 60, (name, right))


class TestDatasetRoot(Base):
    def test_folder_swapped_for_a_link_out(self):
        for form in ("rel", "abs"):
            folder = os.path.join(self.root, "swap-" + form)
            os.makedirs(os.path.join(folder, ".lightly", "predictions"))
            Image.new("RGB", (64, 48), (0, 0, 255)).save(os.path.join(folder, "secret.jpg"))
            with open(os.path.join(folder, ".lightly", "predictions", "tasks.json"), "w") as f:
                f.write('["inside-task"]')
            ds = self.local_dataset("swap-" + form if form == "rel" else folder)
            ok = self.thumb(ds, "secret.jpg")
            self.assertEqual(ok.status, 200, ok)
            tasks = self.u("GET", "/v1/winnow/datasets/%s/tasks" % ds)
            self.assertEqual([t["name"] for t in tasks], ["inside-task"])
            # After the save: the folder becomes a link to one outside the root, holding
            # an image of the same name and its own tasks.
            shutil.rmtree(folder)
            os.symlink(self.outside, folder)
            r = self.thumb(ds, "secret.jpg")
            self.assertIn(r.status, (400, 403, 404, 409), (form, r))
            self.assertEqual(r.header("Content-Type"), "application/json", r)
            self.assertNotIn(b"\xff\xd8", r.body[:2])
            t = self.srv.request("GET", "/v1/winnow/datasets/%s/tasks" % ds, token=self.user)
            self.assertIn(t.status, (400, 403, 404, 409), (form, t))
            self.assertNotIn(b"outside-task", t.body)
            self.assertIn("leaves its dataset root", t.json["error"])
            # a relative link out of the root is refused the same way
            os.unlink(folder)
            os.symlink(os.path.relpath(self.outside, self.root), folder)
            t = self.srv.request("GET", "/v1/winnow/datasets/%s/tasks" % ds, token=self.user)
            self.assertIn(t.status, (400, 403, 404, 409), (form, t))
            self.assertNotIn(b"outside-task", t.body)

    def test_link_inside_the_root_is_followed(self):
        # SPEC 3: an absolute link whose target lies inside the root is followed
        real = os.path.join(self.root, "real-folder")
        os.makedirs(real)
        Image.new("RGB", (30, 20), (9, 9, 9)).save(os.path.join(real, "a.jpg"))
        os.symlink(real, os.path.join(self.root, "alias"))
        ds = self.local_dataset("alias")
        r = self.thumb(ds, "a.jpg")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (30, 20))

    def test_image_that_is_a_link_out(self):
        folder = os.path.join(self.root, "links")
        os.makedirs(folder)
        os.symlink(os.path.join(self.outside, "secret.jpg"), os.path.join(folder, "abs.jpg"))
        os.symlink(os.path.relpath(os.path.join(self.outside, "secret.jpg"), folder), os.path.join(folder, "rel.jpg"))
        ds = self.local_dataset("links")
        for name in ("abs.jpg", "rel.jpg"):
            r = self.thumb(ds, name)
            self.assertIn(r.status, (403, 404), (name, r))
            self.assertEqual(r.header("Content-Type"), "application/json", r)


class TestFileModes(Base):
    def test_created_private_under_umask_022(self):
        # setUpClass started the server under umask 022; a thumbnail fills the cache
        Image.new("RGB", (20, 20)).save(os.path.join(self.data, "m.jpg"))
        ds = self.local_dataset("ds1")
        self.assertEqual(self.thumb(ds, "m.jpg").status, 200)
        db = self.srv.db
        for path, want in ((db, 0o600), (db + ".urlkey", 0o600), (db + ".thumbs", 0o700)):
            self.assertEqual(os.stat(path).st_mode & 0o777, want, path)
        for sfx in ("-wal", "-shm"):
            if os.path.exists(db + sfx):
                self.assertEqual(os.stat(db + sfx).st_mode & 0o777, 0o600, db + sfx)
        self.assertTrue(os.path.exists(db + "-wal"), "the server runs in WAL mode")

    def test_an_older_readable_database_is_narrowed(self):
        d = os.path.join(self.srv.dir, "older")
        os.makedirs(d)
        path = os.path.join(d, "web.db")
        old = os.umask(0o022)
        try:
            webtest.cli("token", "create", "bob", "--role", "user", "--db", path)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            os.chmod(path, 0o644)
            webtest.cli("token", "list", "--db", path)
        finally:
            os.umask(old)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main(verbosity=2)
