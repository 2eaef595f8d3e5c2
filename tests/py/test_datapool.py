"""Incremental runs (the datapool, SPEC 4.7) in local mode and through the daemon.

Greedy order makes incremental selection exact: a run of 50 and then a run of
50 more with the same datapool select what one run of 100 selects, in the same
order, and the second never repeats a file of the first. Local mode keeps the
datapool in --datapool-dir DIR/<name>/datapool_latest.csv (Lightly's
embeddings CSV: the members' raw rows in selection order), with the replaced
file kept as datapool_<N>.csv; the daemon keeps it in the web app (GET/PUT
/v1/winnow/datasets/{id}/datapools/{name}), fetched at the claim and updated before
the run is COMPLETED.
"""
import json
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402
import winnowtest as wt  # noqa: E402

TASK = "my-classification-task"


def docker(method, n, pool=None, **extra):
    d = {"method": method, "stopping_condition": {"n_samples": n, "min_distance": -1}}
    if method == "coral":
        d["active_learning"] = {"task_name": TASK, "score_name": "uncertainty_margin"}
    if pool is not None:
        d["datapool"] = {"name": pool}
    d.update(extra)
    return d


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def csv_lines(path):
    return read_text(path).splitlines()


_DATA = {}


def local_dataset():
    """One generated dataset per process (160 images, predictions)."""
    if "ds" not in _DATA:
        out = os.path.join(wt.tmpdir("data"), "ds")
        wt.mkdataset(out, "--n", 160, "--predictions", "--subdirs")
        _DATA["ds"] = out
    return _DATA["ds"]


class LocalDatapoolTest(unittest.TestCase):
    def setUp(self):
        self.data = local_dataset()
        self.pools = os.path.join(wt.tmpdir("pools"), "pools")

    def select(self, cfg, *extra, check=True):
        out = os.path.join(wt.tmpdir("out"), "out")
        p = wt.run_select(cfg, self.data, out, *extra, check=check)
        return out, p

    def selected(self, out):
        return wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))

    def report(self, out):
        with open(os.path.join(out, "report.json")) as f:
            return json.load(f)

    def check_incremental(self, method):
        pool = "p-" + method
        pdir = os.path.join(self.pools, pool)
        latest = os.path.join(pdir, "datapool_latest.csv")

        out1, _ = self.select(docker(method, 50, pool), "--datapool-dir", self.pools)
        sel1 = self.selected(out1)
        self.assertEqual(len(sel1), 50)
        emb1 = csv_lines(os.path.join(out1, "data", "selected_embeddings.csv"))
        # After the first run: the picks with their raw rows, in selection order.
        self.assertEqual(csv_lines(latest), emb1)
        self.assertEqual([l.split(",", 1)[0] for l in emb1[1:]], sel1)
        self.assertEqual(sorted(os.listdir(pdir)), [".lock", "datapool_latest.csv"])
        r1 = self.report(out1)
        self.assertEqual(r1["counts"]["preselected"], 0)
        self.assertEqual(r1["datapool"], {"name": pool, "members": 0, "preselected": 0,
                                          "ignored": 0, "added": 50})

        out2, p2 = self.select(docker(method, 50, pool), "--datapool-dir", self.pools)
        sel2 = self.selected(out2)
        self.assertEqual(len(sel2), 50)
        self.assertEqual(set(sel1) & set(sel2), set(), "the second run repeated a file")
        emb2 = csv_lines(os.path.join(out2, "data", "selected_embeddings.csv"))
        # After the second: the old rows, then the new picks' rows.
        self.assertEqual(csv_lines(latest), emb1 + emb2[1:])
        # The replaced file is kept as history, byte for byte.
        self.assertEqual(csv_lines(os.path.join(pdir, "datapool_1.csv")), emb1)
        r2 = self.report(out2)
        self.assertEqual(r2["counts"]["preselected"], 50)
        self.assertEqual(r2["counts"]["selected"], 50)
        self.assertEqual(r2["datapool"]["members"], 50)
        self.assertEqual(r2["datapool"]["ignored"], 0)
        self.assertIn("50 preselected", p2.stdout)
        self.assertIn("50 preselected", read_text(os.path.join(out2, "log.txt")))

        # One run of 100 without a datapool selects the same files, in the same order.
        out100, _ = self.select(docker(method, 100))
        self.assertEqual(sel1 + sel2, self.selected(out100))

        # A third run adds a second history file.
        self.select(docker(method, 10, pool), "--datapool-dir", self.pools)
        self.assertEqual(csv_lines(os.path.join(pdir, "datapool_2.csv")), emb1 + emb2[1:])
        self.assertEqual(len(csv_lines(latest)), 1 + 110)

    def test_coreset_50_then_50_is_one_run_of_100(self):
        self.check_incremental("coreset")

    def test_coral_50_then_50_is_one_run_of_100(self):
        self.check_incremental("coral")

    def test_random_never_draws_a_member_again(self):
        """random_select leaves the preselected members out of its draw."""
        cfg = docker("random", 60, "rnd")
        out1, _ = self.select(cfg, "--datapool-dir", self.pools)
        out2, _ = self.select(cfg, "--datapool-dir", self.pools)
        sel1, sel2 = self.selected(out1), self.selected(out2)
        self.assertEqual((len(sel1), len(sel2)), (60, 60))
        self.assertEqual(set(sel1) & set(sel2), set())
        # Budget beyond what is left: every remaining candidate, once.
        out3, _ = self.select(docker("random", 1000, "rnd"), "--datapool-dir", self.pools)
        r = self.report(out3)
        self.assertEqual(r["counts"]["selected"], r["counts"]["candidates"] - 120)
        self.assertEqual(set(self.selected(out3)) & set(sel1 + sel2), set())

    def test_keep_history_false_keeps_no_copy(self):
        cfg = docker("coreset", 20, "nohist")
        cfg["datapool"]["keep_history"] = False
        self.select(cfg, "--datapool-dir", self.pools)
        self.select(cfg, "--datapool-dir", self.pools)
        pdir = os.path.join(self.pools, "nohist")
        self.assertEqual(sorted(os.listdir(pdir)), [".lock", "datapool_latest.csv"])
        self.assertEqual(len(csv_lines(os.path.join(pdir, "datapool_latest.csv"))), 1 + 40)

    def test_members_that_are_not_candidates_are_ignored_and_kept(self):
        out1, _ = self.select(docker("coreset", 10, "gone"), "--datapool-dir", self.pools)
        latest = os.path.join(self.pools, "gone", "datapool_latest.csv")
        lines = csv_lines(latest)
        # A member that is no longer in the dataset: same width, another name.
        lines.append("vanished/img.jpg," + lines[1].split(",", 1)[1])
        with open(latest, "w") as f:
            f.write("\n".join(lines) + "\n")
        out2, _ = self.select(docker("coreset", 10, "gone"), "--datapool-dir", self.pools)
        r = self.report(out2)
        self.assertEqual(r["datapool"]["members"], 11)
        self.assertEqual(r["datapool"]["preselected"], 10)
        self.assertEqual(r["datapool"]["ignored"], 1)
        self.assertIn("1 members ignored: not candidates", read_text(os.path.join(out2, "log.txt")))
        new = csv_lines(latest)
        self.assertEqual(new[:len(lines)], lines)
        self.assertEqual(len(new), len(lines) + 10)

    def test_malformed_datapool_is_a_clear_error(self):
        pdir = os.path.join(self.pools, "bad")
        os.makedirs(pdir)
        latest = os.path.join(pdir, "datapool_latest.csv")
        with open(latest, "w") as f:
            f.write("filenames,embedding_0,labels\na.jpg,1.0,0\nb.jpg,zz,0\n")
        out, p = self.select(docker("coreset", 10, "bad"), "--datapool-dir", self.pools, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(latest + ": line 3: embedding_0: \"zz\" is not a number", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "report.json")))
        # The file is left as it was.
        self.assertEqual(read_text(latest), "filenames,embedding_0,labels\na.jpg,1.0,0\nb.jpg,zz,0\n")

    def test_datapool_of_other_width_is_an_error(self):
        pdir = os.path.join(self.pools, "narrow")
        os.makedirs(pdir)
        latest = os.path.join(pdir, "datapool_latest.csv")
        with open(latest, "w") as f:
            f.write("filenames,embedding_0,embedding_1,labels\na.jpg,1.0,2.0,0\n")
        _, p = self.select(docker("coreset", 10, "narrow"), "--datapool-dir", self.pools, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("its rows have 2 dimensions, this run's embeddings 204", p.stderr)

    def test_name_without_datapool_dir_is_exit_2(self):
        out, p = self.select(docker("coreset", 10, "pool"), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("give --datapool-dir DIR", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_datapool_dir_without_name_is_ignored_with_a_warning(self):
        out, p = self.select(docker("coreset", 10), "--datapool-dir", self.pools)
        self.assertIn("--datapool-dir %s is ignored" % self.pools, p.stderr)
        self.assertFalse(os.path.exists(self.pools))
        self.assertNotIn("datapool", self.report(out))


class DaemonDatapoolTest(td.DaemonTest):
    def pool(self, ds, name):
        return self.web.ok("GET", "/v1/winnow/datasets/%s/datapools/%s" % (ds, name), token=self.wtok)["fileNames"]

    def run_ok(self, ds, cfg):
        sched = self.schedule(ds, cfg)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        tags = {t["name"]: t for t in self.tags(ds)}
        return run, self.tag_names(ds, tags["run-%s" % run["id"]])

    def check_incremental(self, method):
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        self.daemon().start()
        pool = "dp-" + method
        # empty before the first run (read in web.db: the worker may read the pool only once it
        # holds a run of the dataset, SPEC 8)
        con = sqlite3.connect(self.web.db)
        try:
            self.assertEqual(con.execute("SELECT count(*) FROM datapools WHERE dataset_id = ? AND name = ?",
                                         (ds, pool)).fetchone()[0], 0)
        finally:
            con.close()

        run1, tag1 = self.run_ok(ds, docker(method, 50, pool))
        pool1 = self.pool(ds, pool)
        self.assertEqual(len(pool1), 50)
        self.assertEqual(sorted(pool1), sorted(tag1))

        run2, tag2 = self.run_ok(ds, docker(method, 50, pool))
        self.assertEqual(len(tag2), 50)
        self.assertEqual(set(tag1) & set(tag2), set(), "the second run's tag repeats a file of the first")
        pool2 = self.pool(ds, pool)
        self.assertEqual(pool2[:50], pool1)
        self.assertEqual(sorted(pool2[50:]), sorted(tag2))

        # The web app's datapool, in selection order, is local mode's one run of 100.
        out = self.local_select(docker(method, 100), path)
        self.assertEqual(pool2, wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt")))
        # The second run preselected the first run's picks; its log says so.
        self.assertTrue(any("50 preselected" in l["msg"] for l in self.logs(run2["id"])))
        self.assert_no_duplicates(ds, run2)

    def test_coreset_50_then_50_is_one_run_of_100(self):
        self.check_incremental("coreset")

    def test_coral_50_then_50_is_one_run_of_100(self):
        self.check_incremental("coral")

    def test_resumed_run_uses_the_datapool_it_was_given(self):
        """A run killed -9 in its selection, whose stored datapool then differs, selects
        anew against that datapool (the selection is never a stale checkpoint), while
        the earlier stages resume from their checkpoints."""
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        d = self.daemon().start()
        _, tag1 = self.run_ok(ds, docker("coreset", 30, "rp"))
        d.stop()
        d = self.daemon(env={"WINNOWD_TEST_STAGE_DELAY": "selection:120000"}).start()
        sched = self.schedule(ds, docker("coreset", 30, "rp"))
        self.wait_run(sched, states=("SAMPLING",), timeout=120)
        d.kill9()
        d.env.pop("WINNOWD_TEST_STAGE_DELAY")
        db = sqlite3.connect(os.path.join(d.state, "winnowd.db"))
        (stored,) = db.execute("SELECT datapool FROM jobs WHERE sched_id = ?", (sched,)).fetchone()
        self.assertEqual(sorted(json.loads(stored)), sorted(tag1))
        db.execute("UPDATE jobs SET datapool = '[]' WHERE sched_id = ?", (sched,))
        db.commit()
        db.close()
        d.start()
        run = self.wait_run(sched, timeout=180)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        log = d.log_text()
        # coreset has no scores stage: the embeddings checkpoint is the last.
        self.assertIn("resuming after stage embeddings", log[log.rindex("interrupted by the daemon's end"):])
        tags = {t["name"]: t for t in self.tags(ds)}
        # An empty datapool: the first run's 30 again, not 30 new ones.
        self.assertEqual(sorted(self.tag_names(ds, tags["run-%s" % run["id"]])), sorted(tag1))


# Only this file's tests, not the ones DaemonDatapoolTest inherits from test_daemon.
for _name in dir(td.DaemonTest):
    if _name.startswith("test_") and _name not in DaemonDatapoolTest.__dict__:
        setattr(DaemonDatapoolTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
