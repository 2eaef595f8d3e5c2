"""SPEC 4.3: the built-in descriptor separates content, not just colour.

scikit-learn's handwritten digits (1,797 8x8 images, values 0..16) are rendered
as 32x32 greyscale PNGs (black digit on white, nearest-neighbour upscaling),
under names that do not reveal the label. winnowd selects everything (random,
n_samples -1, no duplicate removal), and leave-one-out 1-nearest-neighbour
accuracy on its L2-normalised data/embeddings.csv rows must be >= 0.90.
"""
import csv
import os
import sys
import unittest

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winnowtest as wt  # noqa: E402

MIN_ACCURACY = 0.90


def render_digits(root):
    """Write the digits as PNGs; returns {path: label}."""
    d = load_digits()
    imgs, labels = d.images, d.target
    perm = np.random.RandomState(0).permutation(len(labels))
    out = {}
    for slot, i in enumerate(perm):
        grey = 255 - np.clip(np.rint(imgs[i] * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        im = Image.fromarray(grey, "L").resize((32, 32), Image.NEAREST)
        name = "s%04d.png" % slot
        im.save(os.path.join(root, name))
        out[name] = int(labels[i])
    return out


def loo_1nn_accuracy(x, y):
    sq = (x * x).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d2, np.inf)
    nn = d2.argmin(axis=1)
    return float((y[nn] == y).mean())


class Digits(unittest.TestCase):
    def test_builtin_descriptor_1nn(self):
        data = wt.tmpdir("digits")
        labels = render_digits(data)
        self.assertEqual(len(labels), 1797)
        out = wt.tmpdir("out")
        wt.run_select({"method": "random", "stopping_condition": {"n_samples": -1},
                       "remove_exact_duplicates": False}, data, out)
        with open(os.path.join(out, "data", "embeddings.csv"), newline="") as f:
            rows = list(csv.reader(f))
        hdr, rows = rows[0], rows[1:]
        self.assertEqual(hdr[0], "filenames")
        self.assertEqual(hdr[-1], "labels")
        self.assertGreaterEqual(len(hdr) - 2, 32, "at least 32 dimensions")
        names = [r[0] for r in rows]
        self.assertEqual(sorted(names), sorted(labels), "one row per image")
        x = np.array([[float(v) for v in r[1:-1]] for r in rows], dtype=np.float64)
        self.assertTrue(np.isfinite(x).all())
        norms = np.linalg.norm(x, axis=1)
        self.assertTrue((norms > 0).all(), "zero descriptor rows")
        x /= norms[:, None]
        y = np.array([labels[n] for n in names])
        acc = loo_1nn_accuracy(x, y)
        print("\n  built-in descriptor (%d dims): leave-one-out 1-NN accuracy on %d digits = %.4f"
              % (x.shape[1], len(y), acc))
        # Sanity of the measure itself: raw pixels give a high figure, shuffled labels a low one.
        raw = np.array([np.asarray(Image.open(os.path.join(data, n)), dtype=np.float64).ravel() for n in names])
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        acc_raw = loo_1nn_accuracy(raw, y)
        acc_shuf = loo_1nn_accuracy(x, np.random.RandomState(1).permutation(y))
        print("  (reference: raw 32x32 pixels %.4f, shuffled labels %.4f)" % (acc_raw, acc_shuf))
        self.assertGreater(acc_raw, 0.9)
        self.assertLess(acc_shuf, 0.3)
        self.assertGreaterEqual(acc, MIN_ACCURACY)


if __name__ == "__main__":
    unittest.main(verbosity=2)
