"""Datasources as one interface (lib/dataset.h; issue 13's backend bullet):
the same dataset on LOCAL and on S3 (s3rver, tests/tools/s3server.js) gives
byte-identical outputs, with predictions, custom embeddings CSVs (by name under
.lightly/embeddings/ and by path) and a relevant_filenames_file; an
embeddings-only S3 datasource works, its CSV streamed in ranged GETs; a file
over the size cap is refused on S3 as on LOCAL, before any byte of it is
fetched.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402
import winnowtest as wt  # noqa: E402

TASK = "my-detection-task"


def read_csv_rows(path):
    """{name: [floats]} of a Lightly embeddings CSV, parsed here (not by winnow)."""
    rows = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        assert header[0] == "filenames" and header[-1] == "labels", header
        for line in f:
            parts = line.rstrip("\n").split(",")
            rows[parts[0]] = [float(x) for x in parts[1:-1]]
    return rows


class Datasources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("ds")
        cls.data = os.path.join(cls.dir, "data")
        wt.mkdataset(cls.data, "--n", 80, "--seed", 21, "--subdirs", "--predictions",
                     "--embeddings")
        cls.images = sorted(os.path.relpath(os.path.join(d, n), cls.data)
                            for d, _, ns in os.walk(cls.data) for n in ns
                            if not os.path.relpath(d, cls.data).startswith(".lightly")
                            and n.lower().endswith((".png", ".jpg", ".jpeg")))
        # Every third image left out by the relevant_filenames_file, plus a name of none.
        cls.relevant = [p for i, p in enumerate(cls.images) if i % 3 != 0]
        with open(os.path.join(cls.data, "relevant.txt"), "w") as f:
            f.write("# kept\n" + "\n".join(cls.relevant) + "\nmissing/none.png\n")
        # The same CSV again under a path of its own: the `embeddings` key's other form.
        os.makedirs(os.path.join(cls.data, "emb"))
        shutil.copy(os.path.join(cls.data, ".lightly", "embeddings", "default.csv"),
                    os.path.join(cls.data, "emb", "custom.csv"))
        # Embeddings only: 12,000 rows, over 8 MiB, so S3 reads it in several ranges.
        cls.embonly = os.path.join(cls.dir, "embonly")
        os.makedirs(os.path.join(cls.embonly, ".lightly", "embeddings"))
        rng = random.Random(5)
        with open(os.path.join(cls.embonly, ".lightly", "embeddings", "big.csv"), "w") as f:
            f.write("filenames," + ",".join("embedding_%d" % j for j in range(40)) + ",labels\n")
            for i in range(12000):
                f.write("img_%05d.png," % i
                        + ",".join(repr(rng.gauss(0, 1)) for _ in range(40)) + ",0\n")
        # tasks.json one byte over the 64 MiB cap of prediction files.
        cls.big = os.path.join(cls.dir, "big")
        shutil.copytree(cls.data, cls.big)
        with open(os.path.join(cls.big, ".lightly", "predictions", "tasks.json"), "wb") as f:
            f.write(b"[" + b" " * ((64 << 20) - 1) + b"]")
        cls.s3 = s3util.S3Server(cls.dir, ["data"])
        cls.s3.upload_dir("data", "set/", cls.data)
        cls.s3.upload_dir("data", "embonly/", cls.embonly)
        cls.s3.upload_dir("data", "big/", cls.big)

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def select(self, docker, inp, check=True):
        out = os.path.join(wt.tmpdir("out"), "run")
        cfg = wt.write_config(os.path.join(wt.tmpdir("cfg"), "c.json"), docker)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID,
                   AWS_SECRET_ACCESS_KEY=s3util.SECRET)
        p = subprocess.run([wt.WINNOWD, "select", "--config", cfg, "--input", inp, "--output", out,
                            "--s3-endpoint", self.s3.endpoint, "--threads", "2"],
                           capture_output=True, text=True, env=env, timeout=300)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return out, p

    def test_local_and_s3_give_the_same_outputs(self):
        csv = read_csv_rows(os.path.join(self.data, ".lightly", "embeddings", "default.csv"))
        for emb in ("default.csv", "emb/custom.csv"):
            docker = {"method": "coral", "stopping_condition": {"n_samples": 0.3},
                      "active_learning": {"task_name": TASK}, "embeddings": emb,
                      "relevant_filenames_file": "relevant.txt",
                      "normalize_embeddings": False}
            with self.subTest(embeddings=emb):
                loc, _ = self.select(docker, self.data)
                s3, _ = self.select(docker, "s3://data/set")
                rep = wt.assert_same_outputs(self, loc, s3)
                self.assertGreater(rep["counts"]["selected"], 0)
                self.assertEqual(rep["counts"]["listed"], len(self.relevant))
                self.assertIn("scores", rep)
                self.assertTrue(os.path.exists(os.path.join(s3, "data", "scores.csv")))
                # The candidates' rows are the CSV's (parsed here), none from outside relevant.txt.
                out = read_csv_rows(os.path.join(s3, "data", "embeddings.csv"))
                self.assertGreater(len(out), 0)
                self.assertTrue(set(out) <= set(self.relevant))
                for name, row in out.items():
                    self.assertEqual(row, csv[name], name)
                with open(os.path.join(s3, "log.txt")) as f:
                    log = f.read()
                self.assertIn("(CSV)", log)
                self.assertIn("names in it not found", log)

    def test_embeddings_only_s3(self):
        docker = {"method": "coreset", "stopping_condition": {"n_samples": 25},
                  "embeddings": "big.csv"}
        before = [l for l in self.s3.requests("GET") if "embeddings/big.csv" in l]
        loc, _ = self.select(docker, self.embonly)
        s3, _ = self.select(docker, "s3://data/embonly")
        gets = [l for l in self.s3.requests("GET") if "embeddings/big.csv" in l][len(before):]
        # Over 8 MiB: at least two ranged GETs, never the whole object at once.
        size = os.path.getsize(os.path.join(self.embonly, ".lightly", "embeddings", "big.csv"))
        self.assertGreater(size, 8 << 20)
        self.assertGreaterEqual(len(gets), -(-size // (8 << 20)), gets)
        rep = wt.assert_same_outputs(self, loc, s3)
        self.assertEqual(rep["counts"]["candidates"], 12000)
        self.assertEqual(rep["counts"]["selected"], 25)
        with open(os.path.join(s3, "log.txt")) as f:
            self.assertIn("embeddings-only run on 12000 rows", f.read())

    def test_size_cap_on_s3_as_on_local(self):
        docker = {"method": "coral", "stopping_condition": {"n_samples": 0.3},
                  "active_learning": {"task_name": TASK}}
        before = [l for l in self.s3.requests("GET") if "tasks.json" in l]
        _, pl = self.select(docker, self.big, check=False)
        _, ps = self.select(docker, "s3://data/big", check=False)
        for p in (pl, ps):
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("tasks.json: larger than 64 MiB, refused", p.stderr)
        # The listing's size decides: not one byte of it was fetched.
        self.assertEqual([l for l in self.s3.requests("GET") if "tasks.json" in l], before)


if __name__ == "__main__":
    unittest.main()
