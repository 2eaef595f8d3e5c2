"""Hostile input to `winnowd select`: each file is rejected with a reason (or,
when it is valid, handled in bounded memory), and the run goes on or fails
cleanly with an error naming the file.

Memory is the peak RSS of the winnowd process itself (os.wait4's rusage), held
under a cap far below what the hostile file declares or would inflate to.
"""
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winnowtest as wt  # noqa: E402
from PIL import Image  # noqa: E402

CAP_MB = 150
CLS = {"method": "coral", "stopping_condition": {"n_samples": 5},
       "active_learning": {"task_name": "my-classification-task", "score_name": "uncertainty_margin"}}
CORESET = {"method": "coreset", "stopping_condition": {"n_samples": 5}}


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, colour_type, bit_depth, idat):
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) +
            png_chunk(b"IEND", b""))


def png_inflating(w, h):
    """A valid 16-bit RGBA PNG of w x h zero pixels: small on disk, w*h*8 bytes decoded."""
    co = zlib.compressobj(9)
    row = b"\0" * (w * 8 + 1)
    return png(w, h, 6, 16, b"".join(co.compress(row) for _ in range(h)) + co.flush())


def jpeg_declaring(w, h):
    b = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(b, "JPEG")
    j = bytearray(b.getvalue())
    sof = j.find(b"\xff\xc0")
    struct.pack_into(">HH", j, sof + 5, h, w)
    return bytes(j)


def webp_declaring_max():
    """A lossless WebP whose header declares 16384 x 16384."""
    b = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(b, "WEBP", lossless=True)
    w = bytearray(b.getvalue())
    i = w.find(b"VP8L")
    bits = 16383 | (16383 << 14)
    w[i + 9], w[i + 10], w[i + 11] = bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff
    w[i + 12] = (w[i + 12] & 0xf0) | ((bits >> 24) & 0x0f)
    return bytes(w)


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("hostile")
        cls.base = os.path.join(cls.dir, "base")
        cls.manifest = wt.mkdataset(cls.base, "--n", 20, "--predictions")
        cls.names = sorted(cls.manifest["images"])
        cls.cand = sorted(cls.manifest["candidates"])

    def copy(self, name):
        root = os.path.join(self.dir, name)
        shutil.copytree(self.base, root, symlinks=True)
        return root

    def select(self, root, docker):
        """Runs winnowd select; returns (exit code, stderr, peak RSS in MB, output dir)."""
        out = root + "-out"
        cfg = wt.write_config(root + ".json", docker)
        p = subprocess.Popen([wt.WINNOWD, "select", "--config", cfg, "--input", root, "--output", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=wt.rss_env())
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        mb = ru.ru_maxrss / 1024.0
        self.assertLess(mb, CAP_MB, "peak RSS %.1f MB" % mb)
        return p.returncode, err, mb, out

    def pred(self, root, image):
        stem = os.path.splitext(image)[0]
        return os.path.join(root, ".lightly", "predictions", "my-classification-task", stem + ".json")

    def test_image_bombs_and_garbage(self):
        root = self.copy("bombs")
        files = {
            "bomb-header.png": png(100000, 100000, 6, 8, zlib.compress(b"\0" * 64)),
            "bomb-header.jpg": jpeg_declaring(65000, 65000),
            "bomb-header.webp": webp_declaring_max(),
            "truncated.jpg": jpeg_declaring(16, 16)[:40],
            "garbage.png": random.Random(1).randbytes(4096),
            "garbage.jpg": b"\xff\xd8\xff" + random.Random(2).randbytes(4096),
            "garbage-sof.jpg": b"\xff\xd8\xff" + random.Random(18).randbytes(4096),
            "empty.webp": b"",
        }
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        rc, err, _, out = self.select(root, CORESET)
        self.assertEqual(rc, 0, err)
        corrupt = wt.read_tsv(os.path.join(out, "filenames", "corrupt_filenames.txt"))
        excluded = wt.read_tsv(os.path.join(out, "filenames", "excluded_filenames.txt"))
        # Each is rejected with a reason: corrupt, or (a JPEG process the decoder does
        # not implement, as random bytes can declare) excluded as unsupported.
        for name in files:
            reason = corrupt.get(name) or excluded.get(name)
            self.assertTrue(reason, name)
        self.assertIn("garbage.jpg", corrupt)
        self.assertTrue(excluded.get("garbage-sof.jpg", "").startswith("unsupported: JPEG process"),
                        excluded)
        self.assertEqual(corrupt["bomb-header.png"], "too many pixels: 100000x100000")
        self.assertEqual(corrupt["bomb-header.jpg"], "too many pixels: 65000x65000")
        self.assertEqual(corrupt["bomb-header.webp"], "too many pixels: 16384x16384")
        selected = wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))
        self.assertEqual(len(selected), 5)
        self.assertFalse(set(selected) & set(files))

    def test_png_inflating_to_gigabytes_is_read_in_bounded_memory(self):
        """9000 x 9000 16-bit RGBA: under max_pixels, 648 MB decoded, 0.6 MB on disk."""
        root = self.copy("inflate")
        data = png_inflating(9000, 9000)
        self.assertLess(len(data), 2 << 20)
        with open(os.path.join(root, "inflate.png"), "wb") as f:
            f.write(data)
        rc, err, mb, out = self.select(root, CORESET)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("inflate.png", wt.read_tsv(os.path.join(out, "filenames", "corrupt_filenames.txt")))
        emb = wt.read_lines(os.path.join(out, "data", "embeddings.csv"))
        self.assertIn("inflate.png", [l.split(",")[0] for l in emb])

    def test_prediction_file_name_outside_the_datasource(self):
        root = self.copy("outside")
        img = self.cand[3]
        with open(self.pred(root, img)) as f:
            d = json.load(f)
        d["file_name"] = "../../etc/passwd"
        with open(self.pred(root, img), "w") as f:
            json.dump(d, f)
        rc, err, _, _ = self.select(root, CLS)
        self.assertEqual(rc, 1, err)
        self.assertIn('file_name "../../etc/passwd" is not the image\'s path "%s"' % img, err)

    def test_prediction_file_of_a_gigabyte(self):
        root = self.copy("big")
        p = self.pred(root, self.cand[2])
        with open(p, "w"):
            pass
        os.truncate(p, 1 << 30)     # sparse: a gigabyte that costs no disk
        rc, err, _, _ = self.select(root, CLS)
        self.assertEqual(rc, 1, err)
        self.assertIn("larger than 64 MiB, refused", err)
        self.assertIn(os.path.basename(p), err)

    def test_prediction_json_nested_100000_deep(self):
        root = self.copy("deep")
        img = self.cand[1]
        with open(self.pred(root, img), "w") as f:
            f.write('{"file_name":"%s","predictions":%s%s}' % (img, "[" * 100000, "]" * 100000))
        rc, err, _, _ = self.select(root, CLS)
        self.assertEqual(rc, 1, err)
        self.assertIn("JSON nested deeper than 64 levels", err)

    def csv(self, root, header, rows):
        os.makedirs(os.path.join(root, ".lightly", "embeddings"), exist_ok=True)
        with open(os.path.join(root, ".lightly", "embeddings", "default.csv"), "w") as f:
            f.write(header + "\n")
            for r in rows:
                f.write(r + "\n")

    def test_nan_and_inf_in_the_embeddings_csv(self):
        for bad in ("nan", "NaN", "inf", "-inf", "Infinity", "1e999"):
            root = self.copy("csv-" + bad)
            rows = ["%s,%s,1.0,0" % (n, bad if i == 4 else "0.5") for i, n in enumerate(self.names)]
            self.csv(root, "filenames,embedding_0,embedding_1,labels", rows)
            rc, err, _, _ = self.select(root, dict(CORESET, embeddings="default.csv"))
            self.assertEqual(rc, 1, (bad, err))
            self.assertIn("line 6", err, bad)
            self.assertIn("default.csv", err, bad)

    def test_embeddings_csv_with_100000_columns(self):
        """Valid, if odd: read in memory proportional to the file, and selected from."""
        root = self.copy("wide")
        d = 100000
        rows = [n + "," + ",".join(str((i * 7 + j) % 10) for j in range(d)) + ",0"
                for i, n in enumerate(self.names)]
        self.csv(root, "filenames," + ",".join("embedding_%d" % j for j in range(d)) + ",labels", rows)
        rc, err, _, out = self.select(root, dict(CORESET, embeddings="default.csv"))
        self.assertEqual(rc, 0, err)
        self.assertIn("x 100000 dimensions", err)
        self.assertEqual(len(wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))), 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
