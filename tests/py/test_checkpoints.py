"""Stage checkpoints and resume (SPEC 6), through the daemon against winnow-web.

Local mode (`winnowd select`) has no resume, so every test here runs the
daemon: it is killed with SIGKILL while the selection stage is held
(WINNOWD_TEST_STAGE_DELAY, test-only), something is changed or not, and the
restarted daemon must finish the run with local mode's results on the data
and config as they are then, resuming after the latest checkpoint that still
fits, and redoing the stages whose inputs changed.
"""
import json
import os
import re
import shutil
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402

HOLD = {"WINNOWD_TEST_STAGE_DELAY": "selection:120000"}
STAGES = ("images", "duplicates", "embeddings", "scores")

# V4 plans (SPEC 4.8): one that reads scores of two tasks, one that also balances on a
# task's PREDICTIONS (its class vectors are not checkpointed: no scores.bin).
V4_SCORES = {"workerType": "FULL", "docker": {}, "selection": {"proportionSamples": 0.1, "strategies": [
    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    {"input": {"type": "SCORES", "task": "my-classification-task", "score": "uncertainty_entropy"},
     "strategy": {"type": "WEIGHTS"}},
    {"input": {"type": "SCORES", "task": "my-detection-task", "score": "object_frequency"},
     "strategy": {"type": "WEIGHTS", "strength": 0.5}}]}}
V4_PRED = {"workerType": "FULL", "docker": {}, "selection": {"nSamples": 12, "strategies": [
    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    {"input": {"type": "SCORES", "task": "my-classification-task", "score": "uncertainty_margin"},
     "strategy": {"type": "WEIGHTS"}},
    {"input": {"type": "PREDICTIONS", "task": "my-detection-task", "name": "CATEGORY_COUNT"},
     "strategy": {"type": "BALANCE", "distribution": "UNIFORM"}}]}}


class CheckpointTest(td.DaemonTest):
    def run_dir(self, d, sched):
        return os.path.join(d.state, "runs", sched)

    def kill_in_selection(self, docker, v4=None, stages=STAGES):
        """A run killed -9 while its selection stage is held; returns (ds, sched, daemon, path).
        v4: a whole V4 config to run instead of the docker object."""
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        if v4 is None:
            sched = self.schedule(ds, docker)
        else:
            cfg = self.ok("POST", "/v1/docker/worker/config", {"config": v4})["id"]
            sched = self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                            {"configId": cfg, "priority": "MID"})["id"]
        d = self.daemon(env=HOLD).start()
        self.wait_run(sched, states=("SAMPLING",), timeout=120)
        ck = os.path.join(self.run_dir(d, sched), ".checkpoint")
        have = sorted(os.listdir(ck))
        self.assertEqual(have, sorted(s + ".bin" for s in stages), have)
        d.kill9()
        d.env.pop("WINNOWD_TEST_STAGE_DELAY")
        return ds, sched, d, path

    def after_restart(self, d):
        """The daemon's log since the last restart."""
        text = d.log_text()
        return text[text.rindex("interrupted by the daemon's end"):]

    def finish(self, ds, sched, d, docker, path):
        d.start()
        run = self.wait_run(sched, timeout=180)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.check_results_match_local(ds, run, docker, path)
        self.assert_no_duplicates(ds, run, same_attempt=False)
        return run

    def test_kill9_in_selection_resumes_after_the_last_checkpoint(self):
        ds, sched, d, path = self.kill_in_selection(td.CORAL)
        run = self.finish(ds, sched, d, td.CORAL, path)
        log = self.after_restart(d)
        self.assertIn("resuming after stage scores", log)
        self.assertNotIn("ignored", log)
        # No second image pass, nor any other stage the checkpoint covers.
        for s in STAGES:
            self.assertNotIn("stage %s started" % s, log)
        self.assertIn("stage selection started", log)
        self.assertEqual(d.log_text().count("stage images started"), 1)
        # The run's own log (log.txt, uploaded as an artifact) tells the same.
        with open(os.path.join(self.run_dir(d, sched), "log.txt")) as f:
            runlog = f.read()
        self.assertIn("resuming after stage scores", runlog)
        self.assertEqual(runlog.count("stage images started"), 1)
        self.assertTrue(any("resuming after stage scores" in l["msg"] for l in self.logs(run["id"])))
        # report.json still lists every stage, the resumed ones with their first timings.
        with open(os.path.join(self.run_dir(d, sched), "report.json")) as f:
            names = [s["name"] for s in json.load(f)["stages"]]
        self.assertEqual(names, ["listing", "images", "duplicates", "embeddings", "scores",
                                 "selection", "results"])
        # A finished run keeps no checkpoints.
        self.assertFalse(os.path.exists(os.path.join(self.run_dir(d, sched), ".checkpoint")))

    def test_v4_plans_resume(self):
        """A V4 plan resumes after its scores, or, reading PREDICTIONS, after its
        embeddings; either way it ends with local mode's selection and scores."""
        for v4, stages, after in ((V4_SCORES, STAGES, "scores"),
                                  (V4_PRED, STAGES[:3], "embeddings")):
            with self.subTest(after=after):
                cpath = os.path.join(self.root, "v4-%s.json" % after)
                with open(cpath, "w") as f:
                    json.dump(v4, f)
                ds, sched, d, path = self.kill_in_selection(None, v4=v4, stages=stages)
                self.finish(ds, sched, d, cpath, path)
                log = self.after_restart(d)
                self.assertIn("resuming after stage %s" % after, log)
                self.assertNotIn("stage images started", log)
                self.assertEqual(after == "embeddings", "stage scores started" in log)
                with open(os.path.join(self.run_dir(d, sched), "report.json")) as f:
                    rep = json.load(f)
                self.assertEqual(rep["plan"]["strategies"][2]["input"]["type"],
                                 v4["selection"]["strategies"][2]["input"]["type"])
                self.assertIn(rep["stop_reason"], ("budget", "none_selectable"))
                d.stop()

    def test_changed_config_invalidates_the_checkpoints(self):
        ds, sched, d, path = self.kill_in_selection(td.CORAL)
        # The job's stored config changes while the daemon is down.
        changed = dict(td.CORAL, stopping_condition={"n_samples": 0.2, "min_distance": -1})
        db = sqlite3.connect(os.path.join(d.state, "winnowd.db"))
        (text,) = db.execute("SELECT config FROM jobs WHERE sched_id = ?", (sched,)).fetchone()
        cfg = json.loads(text)
        docker = cfg["docker"] if "docker" in cfg else cfg
        docker["stopping_condition"] = changed["stopping_condition"]
        db.execute("UPDATE jobs SET config = ? WHERE sched_id = ?", (json.dumps(cfg), sched))
        db.commit()
        db.close()
        self.finish(ds, sched, d, changed, path)
        log = self.after_restart(d)
        for s in STAGES:
            self.assertIn("checkpoint after stage %s ignored: the config changed" % s, log)
        self.assertNotIn("resuming after", log)
        self.assertIn("stage images started", log)

    def test_changed_file_invalidates_the_checkpoints(self):
        ds, sched, d, path = self.kill_in_selection(td.CORAL)
        # One image becomes a byte copy of another: the new run has one more duplicate.
        imgs = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(path) for f in fs
                      if f.endswith((".jpg", ".png")) and ".lightly" not in dp)
        shutil.copyfile(imgs[0], imgs[5])
        self.finish(ds, sched, d, td.CORAL, path)
        log = self.after_restart(d)
        self.assertIn("checkpoint after stage scores ignored: the dataset changed", log)
        self.assertNotIn("resuming after", log)
        self.assertIn("stage images started", log)
        out = ""
        for n in ("duplicate_filenames.txt", "corrupt_filenames.txt"):
            with open(os.path.join(self.run_dir(d, sched), "filenames", n)) as f:
                out += f.read()
        self.assertIn(os.path.relpath(imgs[5], path), out)

    def test_corrupt_checkpoint_is_ignored(self):
        ds, sched, d, path = self.kill_in_selection(td.CORAL)
        ck = os.path.join(self.run_dir(d, sched), ".checkpoint")
        with open(os.path.join(ck, "scores.bin"), "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xFF]))
        with open(os.path.join(ck, "embeddings.bin"), "r+b") as f:
            f.truncate(os.path.getsize(f.name) // 2)
        self.finish(ds, sched, d, td.CORAL, path)
        log = self.after_restart(d)
        self.assertIn("checkpoint after stage scores ignored: corrupt", log)
        self.assertRegex(log, re.compile(r"checkpoint after stage embeddings ignored: (corrupt|truncated)"))
        self.assertIn("resuming after stage duplicates", log)
        self.assertNotIn("stage images started", log)
        self.assertNotIn("stage duplicates started", log)
        self.assertIn("stage embeddings started", log)
        self.assertIn("stage scores started", log)

    def test_descriptors_are_written_once(self):
        """The later checkpoints refer to images.bin for the descriptors; with
        images.bin gone, every one of them is ignored and the run starts over."""
        ds, sched, d, path = self.kill_in_selection(td.CORAL)
        ck = os.path.join(self.run_dir(d, sched), ".checkpoint")
        size = {s: os.path.getsize(os.path.join(ck, s + ".bin")) for s in STAGES}
        with open(os.path.join(path, ".manifest.json")) as f:
            n = len(json.load(f)["images"])
        self.assertGreater(size["images"], n * 204 * 8, size)   # 204 doubles an image
        for s in ("duplicates", "embeddings", "scores"):
            self.assertLess(size[s] * 4, size["images"], size)
        os.unlink(os.path.join(ck, "images.bin"))
        self.finish(ds, sched, d, td.CORAL, path)
        log = self.after_restart(d)
        for s in ("duplicates", "embeddings", "scores"):
            self.assertIn("checkpoint after stage %s ignored: its images checkpoint: No such file" % s, log)
        self.assertNotIn("resuming after", log)
        self.assertIn("stage images started", log)


def load_tests(loader, tests, pattern):
    """Only this module's tests, not the DaemonTest ones it inherits."""
    suite = unittest.TestSuite()
    for name in loader.getTestCaseNames(CheckpointTest):
        if name in vars(CheckpointTest):
            suite.addTest(CheckpointTest(name))
    return suite


if __name__ == "__main__":
    unittest.main(verbosity=2)
