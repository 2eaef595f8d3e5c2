"""winnowd runs V4 selection plans whose EMBEDDINGS input names a query tag
(SPEC 4.8), against the real winnow-web on 127.0.0.1.

The daemon reads the tag from the web app at the claim: the dataset's tag of
that name, its bitmask read against the dataset's sample order. The query tag
is made through the web app's API the way Lightly's client makes one
(`ApiWorkflowClient.create_tag_from_filenames`: GET the sample order, set bit
k for the k-th name, POST TagCreateRequest); on winnow-web today that route
takes a worker token. Local mode answers the same plan from
.lightly/tags/<name>.txt: both must select the same images.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402
import winnowtest as wt  # noqa: E402

QUERY = "query-set"


def v4_config(strategies, n_samples=12):
    return {"workerType": "FULL", "docker": {},
            "selection": {"nSamples": n_samples, "strategies": strategies}}


SIMILARITY = [{"input": {"type": "EMBEDDINGS", "tagName": QUERY},
               "strategy": {"type": "SIMILARITY"}}]
SIMILAR_AND_DIVERSE = SIMILARITY + [{"input": {"type": "EMBEDDINGS"},
                                     "strategy": {"type": "DIVERSITY", "strength": 0.5}}]


class PlanTest(td.DaemonFixture):
    def v4_runs(self):
        """Whether this build runs V4 plans (the web app validates with lib/config.c)."""
        r = self.web.request("POST", "/v1/winnow/configs/validate",
                             {"config": v4_config(SIMILARITY)}, token=self.utok)
        msgs = [e["message"] for e in r.json.get("errors", [])] if r.status == 200 else [r.body]
        if any("not supported yet" in str(m) for m in msgs):
            self.skipTest("V4 plans do not run in this build yet (the engine wiring, "
                          "\"pipeline: V4 plans run\", is not merged)")

    def schedule_v4(self, ds, config):
        cfg = self.ok("POST", "/v1/docker/worker/config", {"config": config})["id"]
        return self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                       {"configId": cfg, "priority": "MID"})["id"]

    def create_tag_from_filenames(self, ds, names, tag_name):
        """What Lightly's client does: bit k for the k-th name of the sample order."""
        order = self.mapping(ds)
        wanted = set(names)
        bits = 0
        for k, n in enumerate(order):
            if n in wanted:
                bits |= 1 << k
        self.assertEqual(bin(bits).count("1"), len(wanted), "names missing from the dataset")
        body = {"name": tag_name, "prevTagId": None, "bitMaskData": hex(bits),
                "totSize": len(order), "creator": "USER_PIP"}
        return self.web.ok("POST", "/v1/datasets/%s/tags" % ds, body, self.wtok, 201)["id"]

    def populated_dataset(self, proxy=False):
        """A dataset whose samples are in the web app (a first 2.2 run posts them);
        with proxy, the daemon talks to the web app through a faultproxy (returned)."""
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        if proxy:
            proxy, d = td.DaemonTest.daemon_via_proxy(self)
            d.start()
        else:
            self.daemon().start()
        first = self.schedule(ds, td.CORESET)
        self.assertEqual(self.wait_run(first)["state"], "COMPLETED")
        self.wait_sched_done(ds, first)
        return (path, ds, proxy) if proxy else (path, ds)

    def local_with_tag(self, path, config, names):
        """Local mode on a copy of the datasource holding .lightly/tags/<QUERY>.txt."""
        copy = os.path.join(wt.tmpdir("local"), "src")
        shutil.copytree(path, copy)
        os.makedirs(os.path.join(copy, ".lightly", "tags"), exist_ok=True)
        with open(os.path.join(copy, ".lightly", "tags", QUERY + ".txt"), "w") as f:
            f.write("".join(n + "\n" for n in names))
        cpath = os.path.join(wt.tmpdir("cfg"), "config.json")
        with open(cpath, "w") as f:
            json.dump(config, f)
        out = os.path.join(wt.tmpdir("local"), "out")
        wt.run_select(cpath, copy, out)
        return wt.read_lines(os.path.join(out, "filenames", "selected_filenames.txt"))

    def test_selection_tag_creator_of_each_method(self):
        """plan_tag_creator's table, through a daemon run of each 2.2 method."""
        path = td.dataset(self.root)
        ds = self.make_dataset(path)
        methods = {
            "random": "SAMPLER_RANDOM", "coreset": "SAMPLER_CORESET",
            "coral": "SAMPLER_CORAL", "active_learning": "SAMPLER_ACTIVE_LEARNING",
        }
        scheds = {m: self.schedule(ds, dict(td.CORAL, method=m)) for m in methods}
        self.daemon(concurrent=2).start()
        for m, want in methods.items():
            run = self.wait_run(scheds[m])
            self.assertEqual(run["state"], "COMPLETED", run)
            self.wait_sched_done(ds, scheds[m])
            tags = {t["name"]: t for t in self.tags(ds)}
            self.assertEqual(tags["run-%s" % run["id"]]["creator"], want, m)
            self.assertEqual(tags["run-%s-candidates" % run["id"]]["creator"], "USER_WORKER", m)

    def test_similarity_plan_uses_the_web_apps_tag(self):
        self.v4_runs()
        path, ds, proxy = self.populated_dataset(proxy=True)
        order = self.mapping(ds)
        # Query images spread over the dataset (its samples are the first run's candidates).
        query = order[5::23]
        self.assertGreaterEqual(len(query), 4)
        self.create_tag_from_filenames(ds, query, QUERY)
        # The web app unreachable while the first claim reads the tag: retried, not failed.
        proxy.add("GET", r"^/v1/datasets/[0-9a-f]{24}/tags$", "status", count=2, status=503)
        # (A status, not a reset: curl silently resends a request whose reused connection
        # was reset, and the claim would never see that one.)
        proxy.add("GET", r"^/v1/datasets/[0-9a-f]{24}/mappings", "status", count=1, status=502)
        for strategies in (SIMILARITY, SIMILAR_AND_DIVERSE):
            with self.subTest(strategies=[s["strategy"]["type"] for s in strategies]):
                config = v4_config(strategies)
                sched = self.schedule_v4(ds, config)
                run = self.wait_run(sched)
                self.assertEqual(run["state"], "COMPLETED", run)
                self.wait_sched_done(ds, sched)
                tags = {t["name"]: t for t in self.tags(ds)}
                sel = tags["run-%s" % run["id"]]
                # A V4 plan's selection tag: Lightly's worker's creator (docs/differences.md).
                self.assertEqual(sel["creator"], "USER_WORKER")
                want = self.local_with_tag(path, config, query)
                self.assertEqual(len(want), 12)
                got = self.tag_names(ds, sel)
                self.assertEqual(sorted(got), sorted(want))
                # The selection is the query's neighbourhood, not the whole dataset's spread.
                self.assertTrue(set(query) & set(want))
        faults = [(f, p.split("?")[0].rsplit("/", 1)[1]) for f, m, p in proxy.events]
        self.assertEqual(faults, [("status", "tags"), ("status", "tags"), ("status", "mappings")])
        log = self.daemons[0].log_text()
        self.assertIn(": tags: refused: ", log)
        self.assertIn(": sample order: refused: ", log)

    def sql(self, d, q):
        return subprocess.run(["sqlite3", os.path.join(d.state, "winnowd.db"), q],
                              capture_output=True, text=True, check=True).stdout.strip()

    def test_rows_of_an_older_winnowd(self):
        """A queue migrated from version 3 holds jobs without what the claim now
        stores (the version-4 columns NULL). A queued V4 job with a query tag goes
        back to the claim, which fetches the tag; a reporting job gets its
        selection tag's creator from its config at the daemon's start."""
        self.v4_runs()
        path, ds, proxy = self.populated_dataset(proxy=True)
        d = self.daemons[0]
        query = self.mapping(ds)[3::17]
        self.create_tag_from_filenames(ds, query, QUERY)
        null = "UPDATE jobs SET pool_name = NULL, tag_creator = NULL, query_tags = NULL " \
               "WHERE sched_id = '%s'"

        # Queued: stopped inside its first attempt, then made a version-3 row.
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        d.env["WINNOWD_TEST_STAGE_DELAY"] = "images:120000"
        d.start()
        config = v4_config(SIMILARITY)
        sched = self.schedule_v4(ds, config)
        self.wait_run(sched, states=("CHECKING_CORRUPTNESS",), timeout=60)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(60), 0)
        self.assertEqual(self.sql(d, "SELECT state, query_tags IS NOT NULL FROM jobs WHERE "
                                     "sched_id = '%s'" % sched), "queued|1")
        self.sql(d, null % sched)
        d.env.pop("WINNOWD_TEST_STAGE_DELAY")
        d.start()
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        self.assertIn("the query tags not fetched yet; fetching", d.log_text())
        self.assertEqual(self.sql(d, "SELECT tag_creator, query_tags IS NOT NULL FROM jobs "
                                     "WHERE sched_id = '%s'" % sched), "USER_WORKER|1")
        sel = {t["name"]: t for t in self.tags(ds)}["run-%s" % run["id"]]
        self.assertEqual(sel["creator"], "USER_WORKER")
        self.assertEqual(sorted(self.tag_names(ds, sel)),
                         sorted(self.local_with_tag(path, config, query)))

        # Reporting: killed while the sample order is on its way, then a version-3 row.
        rule = proxy.add("GET", r"^/v1/datasets/[0-9a-f]{24}/mappings", "hold", count=1)
        sched = self.schedule(ds, td.CORESET)
        self.assertTrue(rule.held.wait(90), "no GET mappings came")
        d.kill9()
        self.assertEqual(self.sql(d, "SELECT state, tag_creator FROM jobs WHERE sched_id = '%s'"
                                  % sched), "reporting|SAMPLER_CORESET")
        self.sql(d, null % sched)
        d.start()
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        sel = {t["name"]: t for t in self.tags(ds)}["run-%s" % run["id"]]
        self.assertEqual(sel["creator"], "SAMPLER_CORESET")

    def test_missing_query_tag_fails_at_once(self):
        self.v4_runs()
        path, ds = self.populated_dataset()
        config = v4_config([{"input": {"type": "EMBEDDINGS", "tagName": "no-such-tag"},
                             "strategy": {"type": "SIMILARITY"}}])
        sched = self.schedule_v4(ds, config)
        run = self.wait_run(sched, timeout=60)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("selection.strategies[0].input.tagName", run["message"])
        self.assertIn('no tag named "no-such-tag"', run["message"])
        self.wait_sched_done(ds, sched)
        logs = self.logs(run["id"])
        self.assertTrue(any("no-such-tag" in l["msg"] for l in logs), logs)
        # At once: no stage ran (the run folder was never made).
        d = self.daemons[0]
        self.assertFalse(os.path.exists(os.path.join(d.state, "runs", sched)))
        self.assertNotIn("run-%s" % run["id"], [t["name"] for t in self.tags(ds)])

    def test_query_tag_of_another_dataset_is_a_config_error(self):
        self.v4_runs()
        path, ds = self.populated_dataset()
        other = "0123456789abcdef01234567"
        config = v4_config([{"input": {"type": "EMBEDDINGS", "tagName": QUERY,
                                       "datasetId": other},
                             "strategy": {"type": "SIMILARITY"}}])
        sched = self.schedule_v4(ds, config)
        run = self.wait_run(sched, timeout=60)
        self.assertEqual(run["state"], "FAILED", run)
        self.assertIn("selection.strategies[0].input.datasetId", run["message"])
        self.assertIn(other, run["message"])

if __name__ == "__main__":
    unittest.main()
