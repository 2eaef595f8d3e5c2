"""winnow-web schema migrations, from the frozen files of tests/data/migrate.

Each web-vN.db there was written once, over HTTP, by the winnow-web of a
commit at schema version N (tests/data/migrate/README.md), never by this
tree's SQL; web-vN.json beside it holds what that run sent and got back.
The current server must migrate every one of them to its version at start,
keep every row (read back through today's API), and end with exactly the
schema a fresh file gets; a file from a newer build is refused and left as it
was. Because the old files do not come from this tree, an in-place edit of an
old migration, or a schema change without a new migration, fails here.
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

DATA = os.path.join(webtest.ROOT, "tests", "data", "migrate")


def user_version(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def schema(path):
    """sqlite_master as sorted (type, name, sql) with runs of white space made one space."""
    con = sqlite3.connect(path)
    try:
        return sorted((t, n, re.sub(r"\s+", " ", s).strip()) for t, n, s in
                      con.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        con.close()


def fresh_db():
    """A file made by this build from nothing; returns (path, its version)."""
    srv = webtest.Server()
    os.makedirs(srv.dir, exist_ok=True)
    srv.token("fresh", "user")     # opening the file runs every migration
    return srv.db, user_version(srv.db)


def frozen(version):
    return os.path.join(DATA, "web-v%d.db" % version)


def frozen_versions(current):
    """1 .. the newest version with a frozen file: every one up to current,
    but for current itself, which the commit that introduces it cannot make
    with old code (its file comes from a later commit, as for the queue)."""
    last = current if os.path.exists(frozen(current)) else current - 1
    return range(1, last + 1)


class TestFrozenFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fresh, cls.current = fresh_db()
        cls.fresh_schema = schema(cls.fresh)

    def test_files_are_the_committed_ones(self):
        """The frozen files are byte for byte those the old code made (SHA256SUMS),
        queue and web alike, and every web version up to this build's has one."""
        with open(os.path.join(DATA, "SHA256SUMS")) as f:
            sums = dict(reversed(l.split()) for l in f if l.strip())
        self.assertTrue(sums)
        for name, want in sorted(sums.items()):
            with open(os.path.join(DATA, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), want,
                                 "%s changed: the frozen files are never remade" % name)
        for v in frozen_versions(self.current):
            self.assertIn("./web-v%d.db" % v, sums, "no frozen file of web.db version %d" % v)
            self.assertEqual(user_version(frozen(v)), v)
        if os.path.exists(frozen(self.current)):
            self.assertEqual(user_version(frozen(self.current)), self.current)

    def test_every_version_migrates_and_keeps_its_rows(self):
        for v in frozen_versions(self.current):
            with self.subTest(version=v):
                self.check_version(v)

    def check_version(self, v):
        with open(os.path.join(DATA, "web-v%d.json" % v)) as f:
            rec = json.load(f)
        srv = webtest.Server()
        os.makedirs(srv.dir, exist_ok=True)
        shutil.copyfile(frozen(v), srv.db)
        user, worker = rec["user_token"], rec["worker_token"]
        with srv:
            self.check_rows(srv, rec, user, worker)
            if v < 2:
                # The version-2 table works on the migrated file: a login session.
                r = srv.request("POST", "/login", {"token": user})
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.header("Set-Cookie").startswith("winnow_session="))
        log = srv.log_text()
        for n in range(v + 1, self.current + 1):
            self.assertIn("migrated to schema version %d" % n, log)
        self.assertNotIn("migrated to schema version %d" % v, log)
        self.assertEqual(user_version(srv.db), self.current)
        self.assertEqual(schema(srv.db), self.fresh_schema)

        con = sqlite3.connect(srv.db)
        try:
            # the old sessions row, and the one made above (version 1 had none)
            tid = con.execute("SELECT id FROM tokens WHERE name = 'old-user'").fetchone()[0]
            self.assertEqual(con.execute("SELECT count(*) FROM sessions WHERE token_id = ?",
                                         (tid,)).fetchone()[0], 1)
            # version 3's column on the old scheduled runs: its default
            self.assertEqual(con.execute("SELECT DISTINCT crash_rescheduled FROM scheduled").fetchall(), [(0,)])
            self.assertEqual(con.execute("SELECT count(*) FROM released_runs").fetchone()[0], 0)
            # version 4's: no Idempotency-Key stored yet (the check above made no keyed call),
            # and the old log lines have no group
            self.assertEqual(con.execute("SELECT count(*) FROM idempotency").fetchone()[0], 0)
            self.assertEqual(con.execute("SELECT count(*) FROM run_logs WHERE grp IS NOT NULL").fetchone()[0],
                             0 if v < 4 else len(rec["logs"]))
            # version 5's: no admin among the old tokens, the worker token bound to its worker,
            # nothing shared yet
            self.assertEqual(con.execute("SELECT name, role, admin, worker_name FROM tokens WHERE name LIKE 'old-%' "
                                         "ORDER BY name").fetchall(),
                             [("old-revoked", "user", 0, None), ("old-user", "user", 0, None),
                              ("old-worker", "worker", 0, "old-box")])
            self.assertEqual(con.execute("SELECT count(*) FROM dataset_shares").fetchone()[0], 0)
        finally:
            con.close()

        # A second start has nothing to migrate.
        with srv:
            self.assertEqual(srv.request("GET", "/v1/winnow/me", token=user).status, 200)
        self.assertEqual(srv.log_text().count("migrated to schema version"), log.count("migrated to schema version"))
        self.assertEqual(schema(srv.db), self.fresh_schema)

    def check_rows(self, srv, rec, user, worker):
        me = srv.ok("GET", "/v1/winnow/me", token=user)
        self.assertEqual((me["userId"], me["name"], me["role"]), (rec["user_id"], "old-user", "user"))
        self.assertEqual(srv.ok("GET", "/v1/winnow/me", token=worker)["role"], "worker")
        self.assertEqual(srv.request("GET", "/v1/winnow/me", token=rec["revoked_token"]).status, 401)

        ds, ds3 = rec["dataset"], rec["dataset_s3"]
        got = {d["id"]: (d["name"], d["nSamples"]) for d in srv.ok("GET", "/v1/datasets", token=user)}
        self.assertEqual(got, {ds: ("kept dataset", 3), ds3: ("bucket dataset", 0)})
        # version 4: a datasource of before serves both purposes (INPUT_OUTPUT), its endpoint on
        # winnow's route, its secret kept (masked in every reply: no run of ds3 is LOCKED)
        self.assertEqual(srv.ok("GET", "/v1/datasets/%s/datasource" % ds3, token=user)["type"], "S3")
        src = srv.ok("GET", "/v1/datasets/%s/datasource?purpose=INPUT" % ds, token=user)
        self.assertEqual((src["type"], src["fullPath"], src["purpose"]), ("LOCAL", rec["local_path"], "INPUT_OUTPUT"))
        s3 = srv.ok("GET", "/v1/winnow/datasets/%s/datasource" % ds3, token=user)
        want = dict(rec["s3"], s3SecretAccessKey="********", purpose="INPUT_OUTPUT")
        self.assertEqual({k: s3[k] for k in want}, want)
        self.assertEqual(srv.ok("GET", "/v1/datasets/%s/datasource" % ds3, token=user)["s3SecretAccessKey"],
                         "********")
        self.assertEqual([x["purpose"] for x in srv.ok("GET", "/v1/datasets/%s/datasource/all" % ds3, token=user)],
                         ["INPUT_OUTPUT"])
        con = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        try:
            self.assertEqual(con.execute("SELECT purpose, s3_secret_access_key FROM datasources WHERE dataset_id = ?",
                                         (ds3,)).fetchall(), [("INPUT_OUTPUT", rec["s3"]["s3SecretAccessKey"])])
        finally:
            con.close()

        cfg = srv.ok("GET", "/v1/docker/worker/config/%s" % rec["config_id"], token=user)
        self.assertEqual((cfg["config"], cfg["version"]), (rec["config"], "V0"))
        # the creator is kept (Lightly's config reply has no field for it)
        con = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        try:
            self.assertEqual(con.execute("SELECT creator FROM configs WHERE id = ?", (rec["config_id"],)).fetchone(),
                             ("USER_PIP",))
        finally:
            con.close()

        sched = {s["id"]: s for s in
                 srv.ok("GET", "/v1/winnow/datasets/%s/schedule" % ds, token=user)}
        want = {sid: ("DONE" if st == "ABORTED" else st) for st, sid in rec["scheduled"].items()}
        self.assertEqual({k: s["state"] for k, s in sched.items()}, want)
        s_open = sched[rec["scheduled"]["OPEN"]]
        self.assertEqual((s_open["priority"], s_open["runsOn"], s_open["workerId"]), ("LOW", ["gpu"], None))
        self.assertEqual(sched[rec["scheduled"]["LOCKED"]]["workerId"], rec["worker_id"])
        self.assertEqual(sched[rec["scheduled"]["DONE"]]["priority"], "HIGH")

        workers = srv.ok("GET", "/v1/docker/worker", token=user)
        self.assertEqual([(w["id"], w["name"], w["labels"]) for w in workers],
                         [(rec["worker_id"], "old-box", ["cpu"])])

        run = srv.ok("GET", "/v1/winnow/runs/%s" % rec["run"], token=user)     # winnow's view: progress, abort flag
        self.assertEqual((run["state"], run["message"], run["progress"], run["abortRequested"],
                          run["scheduledId"], run["configId"], run["dockerVersion"]),
                         ("COMPLETED", "done in the old version", 1, False, rec["scheduled"]["DONE"],
                          rec["config_id"], "winnow-old"))
        self.assertEqual([(a["id"], a["fileName"], a["type"], a["uploaded"], a["size"]) for a in run["artifacts"]],
                         [(rec["artifact"], "report.json", "REPORT_JSON", True, len(rec["artifact_content"]))])
        r = srv.request("GET", "/v1/winnow/runs/%s/artifacts/%s/content" % (rec["run"], rec["artifact"]), token=user)
        self.assertEqual((r.status, r.body.decode()), (200, rec["artifact_content"]))
        aborted = srv.ok("GET", "/v1/winnow/runs/%s" % rec["run_aborted"], token=user)
        self.assertEqual((aborted["state"], aborted["abortRequested"]), ("ABORTED", True))
        # the old lines read as DockerRunLogData: their numbers are the cursor, no group was stored
        logs = srv.ok("GET", "/v1/docker/runs/%s/logs" % rec["run"], token=user)
        self.assertEqual(logs["cursor"], rec["logs"][-1]["seq"] + 1)
        keys = ("ts", "level", "msg", "state")
        self.assertEqual([{k: e[k] for k in keys} for e in logs["logs"]], [{k: e[k] for k in keys} for e in rec["logs"]])
        # a group only where the version stored one (v4's lines), "old"
        self.assertEqual({e.get("group") for e in logs["logs"]} - {None}, {"old"} if "group" in logs["logs"][0] else set())

        tags = {t["id"]: t for t in srv.ok("GET", "/v1/datasets/%s/tags" % ds, token=user)}
        self.assertEqual({k: (t["name"], t["prevTagId"], t["bitMaskData"], t["totSize"], t["runId"])
                          for k, t in tags.items()},
                         {rec["cand_tag"]: ("candidates-old", None, "0x7", 3, rec["run"]),
                          rec["sel_tag"]: ("selected-old", rec["cand_tag"], "0x5", 3, rec["run"])})
        for st, values in rec["scores"].items():
            got = srv.ok("GET", "/v1/winnow/datasets/%s/tags/%s/scores/%s" % (ds, rec["sel_tag"], st), token=user)
            self.assertEqual(got["scores"], values)
        res = srv.ok("GET", "/v1/winnow/runs/%s/results?selected=all" % rec["run"], token=user)
        self.assertEqual([(i["fileName"], i["selected"]) for i in res["items"]],
                         list(zip(rec["samples"], [True, False, True])))
        self.assertEqual((res["total"], res["candidates"], res["selectedCount"], res["candidatesTagId"],
                          res["selectionTagId"]), (3, 3, 2, rec["cand_tag"], rec["sel_tag"]))
        mapping = srv.ok("GET", "/v1/datasets/%s/mappings?field=fileName" % ds, token=worker)
        self.assertEqual(mapping, rec["samples"])
        pool = srv.ok("GET", "/v1/winnow/datasets/%s/datapools/main" % ds, token=worker)
        self.assertEqual(pool["fileNames"], rec["datapool"])

        # version 5: the old worker token is bound to the worker it registered (old-box): another
        # name is refused, its own found again; the old user owns the old datasets
        me = srv.ok("GET", "/v1/winnow/me", token=worker)
        self.assertEqual(me["workerName"], "old-box")
        r = srv.request("POST", "/v1/docker/worker", {"name": "new-box", "workerType": "FULL"}, token=worker)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(srv.ok("POST", "/v1/docker/worker", {"name": "old-box", "workerType": "FULL", "labels": ["cpu"]},
                                token=worker, status=201)["id"], rec["worker_id"])
        other = srv.token("new-user", "user")
        for d in (ds, ds3):
            self.assertEqual(srv.request("GET", "/v1/datasets/%s" % d, token=other).status, 404)
        self.assertEqual(srv.ok("GET", "/v1/datasets?getAssetsOfTeam=True", token=other), [])

        # Today's writes on the old rows: the OPEN run is claimed and its run created.
        sid = rec["scheduled"]["OPEN"]
        worker = srv.token("new-worker", "worker", worker="new-box")
        wid = srv.ok("POST", "/v1/docker/worker", {"name": "new-box", "workerType": "FULL", "labels": ["gpu"]},
                     token=worker)["id"]
        srv.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "LOCKED"},
               token=worker, status=200)
        srv.ok("POST", "/v1/docker/runs", {"dockerVersion": "new", "datasetId": ds, "scheduledId": sid,
                                           "configId": rec["config_id"]}, token=worker, status=201)

    def test_newer_file_is_refused(self):
        d = webtest.Server().dir
        os.makedirs(d, exist_ok=True)
        db = os.path.join(d, "web.db")
        shutil.copyfile(frozen(frozen_versions(self.current)[-1]), db)
        newer = self.current + 1
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = %d" % newer)
        con.close()
        before = schema(db)
        p = subprocess.run([webtest.WEB, "--listen", "127.0.0.1:%d" % webtest.free_port(), "--db", db],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("%s: schema version %d is newer than this build's %d" % (db, newer, self.current),
                      p.stderr)
        self.assertEqual(user_version(db), newer)
        self.assertEqual(schema(db), before)

    def test_schema_cli_ends_at_this_version(self):
        """`winnow-web schema N` answers 1..current and refuses the next."""
        for v in range(1, self.current + 1):
            self.assertTrue(webtest.cli("schema", str(v)).stdout.strip())
        self.assertEqual(webtest.cli("schema", str(self.current + 1), check=False).returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
