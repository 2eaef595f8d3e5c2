"""winnow-web authorization between users and workers (SPEC 8 "Roles" and "Workers").

The matrix: every route `winnow-web routes` prints (so a new route cannot
escape it), called with the real ids of one user's objects by six principals:
the owner, another user, a user the dataset is shared with, an admin, the
worker holding the owner's run (bound) and a worker holding nothing
(unbound). Each cell asserts what authorization decides: 403 for a role the
route does not take or an act the principal may not do, 404 for an object it
may not see (exactly as if absent), and neither (nor a 5xx) where it may.
Then the lists, worker binding, the S3 secret, sharing, the caps, paging,
the bounded poll and the purge of expired sessions.
"""
import os
import sqlite3
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

OK, NF, FB = "ok", 404, 403
PRINCIPALS = ("owner", "other", "shared", "admin", "wbound", "wunbound")
USERS = ("owner", "other", "shared", "admin")


def routes():
    out = []
    for line in webtest.cli("routes").stdout.splitlines():
        if line.strip():
            m, p, roles = line.split(" ")
            out.append((m, p, roles))
    return out


def expected(method, pattern, roles, who):
    """What authorization answers: OK (the handler runs), NF (404) or FB (403)."""
    worker = who.startswith("w")
    if worker and "worker" not in roles.split(","):
        return FB
    if not worker and "user" not in roles.split(","):
        return FB
    params = [s[1:-1] for s in pattern.split("/") if s.startswith("{")]
    objects = [p for p in params if p in ("datasetId", "runId", "scheduledId", "tagId", "artifactId", "configId")]
    if who in ("owner", "admin", "wbound"):
        return OK
    if who == "shared":
        if "/shares" in pattern and method != "GET":
            return FB       # only the owner or an admin shares
        if pattern == "/v1/docker/worker/{workerId}" and method == "DELETE":
            return FB       # only the worker's owner or an admin deletes it
        if pattern == "/v1/datasets/{datasetId}" and method in ("PUT", "DELETE"):
            return FB       # only the owner or an admin renames or deletes a dataset
        return OK
    if who == "other":
        if objects:
            return NF
        if pattern == "/v1/docker/worker/{workerId}" and method == "DELETE":
            return FB
        return OK
    # the unbound worker: another worker's id is 403, the owner's objects 404
    if pattern.endswith("/docker/worker/{workerId}/schedule/{scheduledId}"):
        return FB       # the claim: the dataset and scheduled run exist, the worker is not its own
    for p in params:
        if p == "workerId":
            return FB
        if p in objects:
            return NF
    return OK


class Fixture:
    """One owner's objects: a dataset (LOCAL datasource, samples, tags, a score, a datapool),
    a config, a scheduled run LOCKED by the bound worker with its run and an uploaded artifact."""

    def __init__(self, srv, root):
        self.srv = srv
        t = self.tok = {
            "owner": srv.token("owner", "user"),
            "other": srv.token("other", "user"),
            "shared": srv.token("carol", "user"),
            "admin": srv.token("boss", "admin"),
            "wbound": srv.token("wb", "worker", worker="bound-box"),
            "wunbound": srv.token("wu", "worker", worker="idle-box"),
        }
        srv.token("dave", "user")
        srv.start()
        own = t["owner"]
        self.ds = srv.ok("POST", "/v1/datasets", {"name": "owned data"}, own, 201)["id"]
        srv.ok("PUT", "/v1/datasets/%s/datasource" % self.ds,
               {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": root}, own, 200)
        self.cfg = srv.ok("POST", "/v1/docker/worker/config",
                          {"config": {"workerType": "FULL", "docker": webtest.PRESET, "lightly": {}}}, own, 201)["id"]
        self.sid = srv.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds, {"configId": self.cfg}, own, 201)["id"]
        # the owner registers the worker through Lightly's route; its bound token finds it
        self.wid = srv.ok("POST", "/v1/docker/worker", {"name": "bound-box", "workerType": "FULL"}, own, 201)["id"]
        wb = t["wbound"]
        self.assertEq(srv.ok("POST", "/v1/docker/worker", {"name": "bound-box", "workerType": "FULL"}, wb, 201)["id"],
                      self.wid)
        self.idle = srv.ok("POST", "/v1/docker/worker", {"name": "idle-box", "workerType": "FULL"}, t["wunbound"], 201)["id"]
        srv.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.wid, self.sid), {"state": "LOCKED"}, wb, 200)
        self.run = srv.ok("POST", "/v1/docker/runs", {"dockerVersion": "t", "datasetId": self.ds, "scheduledId": self.sid,
                                                      "configId": self.cfg}, wb, 201)["id"]
        srv.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, [{"fileName": "a.jpg"}, {"fileName": "b.jpg"}], wb, 200)
        srv.ok("PUT", "/v1/winnow/datasets/%s/datapools/pool-1" % self.ds, {"fileNames": ["a.jpg"]}, wb, 200)
        self.tag = srv.ok("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "run-tag", "prevTagId": None, "bitMaskData": "0x3",
                                                                      "totSize": 2, "creator": "USER_WORKER", "runId": self.run},
                          wb, 201)["id"]
        srv.ok("POST", "/v1/datasets/%s/tags/%s/scores" % (self.ds, self.tag),
               {"scoreType": "uncertainty_margin", "scores": [0.5, 0.25]}, wb, 201)
        self.score = srv.ok("GET", "/v1/datasets/%s/tags/%s/scores" % (self.ds, self.tag), token=own)[0]["id"]
        art = srv.ok("POST", "/v1/docker/runs/%s/artifacts" % self.run, {"fileName": "report.json", "type": "REPORT_JSON"},
                     wb, 201)
        url = urllib.parse.urlsplit(art["signedWriteUrl"])
        assert srv.request("PUT", url.path + "?" + url.query, raw=b"{}").status == 200
        self.art = art["artifactId"]
        srv.ok("PUT", "/v1/winnow/datasets/%s/shares" % self.ds, {"user": "carol"}, own, 200)

    @staticmethod
    def assertEq(a, b):
        assert a == b, (a, b)

    def path(self, pattern):
        fill = {"datasetId": self.ds, "runId": self.run, "scheduledId": self.sid, "tagId": self.tag,
                "artifactId": self.art, "configId": self.cfg, "workerId": self.wid, "scoreId": self.score,
                "name": "pool-1", "scoreType": "uncertainty_margin", "datasetName": "owned data",
                "userName": "dave"}
        return "/".join(urllib.parse.quote(fill[s[1:-1]], safe="") if s.startswith("{") else s
                        for s in pattern.split("/"))


class TestMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        os.makedirs(cls.srv.dir, exist_ok=True)
        root = os.path.join(cls.srv.dir, "root")
        os.makedirs(os.path.join(root, "imgs"))
        cls.srv.roots = [root]
        cls.fx = Fixture(cls.srv, os.path.join(root, "imgs"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_every_route_every_principal(self):
        fx, n = self.fx, 0
        table = routes()
        self.assertGreater(len(table), 70)
        for method, pattern, roles in table:
            if roles in ("none", "public"):
                continue    # a signed URL's sig, or no credential at all: nothing to authorize
            path = fx.path(pattern)
            body = b"{}" if method in ("POST", "PUT") else None
            for who in PRINCIPALS:
                want = expected(method, pattern, roles, who)
                with self.subTest(route=(method, pattern), who=who):
                    r = self.srv.request(method, path, raw=body, token=fx.tok[who])
                    if want == OK:
                        self.assertNotIn(r.status, (401, 403, 404), (method, path, who, r))
                        self.assertLess(r.status, 500, (method, path, who, r))
                    else:
                        self.assertEqual(r.status, want, (method, path, who, r))
                        if want == NF:      # exactly as if absent: the same reply as for a made-up id
                            self.assertEqual(r.json["code"], "NOT_FOUND")
                    n += 1
        self.assertGreater(n, 300)
        self.assertTrue(self.srv.alive())

    def test_absent_and_hidden_read_the_same(self):
        """Another user's dataset answers byte for byte what a made-up id answers."""
        fx = self.fx
        for pattern in ("/v1/datasets/%s", "/v1/datasets/%s/tags", "/v1/winnow/datasets/%s/datasource"):
            hidden = self.srv.request("GET", pattern % fx.ds, token=fx.tok["other"])
            absent = self.srv.request("GET", pattern % ("0" * 24), token=fx.tok["other"])
            self.assertEqual((hidden.status, hidden.body), (absent.status, absent.body))

    def test_lists_hold_what_one_may_see(self):
        fx, s = self.fx, self.srv
        ids = lambda who, q="": [d["id"] for d in s.ok("GET", "/v1/datasets" + q, token=fx.tok[who])]   # noqa: E731
        self.assertEqual(ids("owner"), [fx.ds])
        self.assertEqual(ids("other"), [])
        self.assertEqual(ids("other", "?getAssetsOfTeam=True"), [])
        self.assertEqual(ids("shared"), [])                         # default: mine
        self.assertEqual(ids("shared", "?shared=True"), [fx.ds])     # shared with me
        self.assertEqual(ids("shared", "?getAssetsOfTeam=True"), [fx.ds])
        self.assertEqual(ids("owner", "?shared=True"), [])
        self.assertEqual(ids("admin"), [])                          # an admin's own
        self.assertEqual(ids("admin", "?getAssetsOfTeam=True"), [fx.ds])     # and everything
        byname = "/v1/datasets/query/name/owned%20data?exact=True"
        self.assertEqual(s.ok("GET", byname, token=fx.tok["other"]), [])
        self.assertEqual([d["id"] for d in s.ok("GET", byname, token=fx.tok["owner"])], [fx.ds])
        for path in ("/v1/docker/runs", "/v1/winnow/runs"):
            self.assertEqual(s.ok("GET", path, token=fx.tok["other"]), [], path)
            for who in ("owner", "shared", "admin"):
                self.assertEqual([x["id"] for x in s.ok("GET", path, token=fx.tok[who])], [fx.run], (path, who))
        # every user sees every worker (the wizard's check)
        for who in USERS:
            names = {w["name"] for w in s.ok("GET", "/v1/docker/worker", token=fx.tok[who])}
            self.assertEqual(names, {"bound-box", "idle-box"}, who)

    def test_me_says_role_and_binding(self):
        fx, s = self.fx, self.srv
        self.assertEqual(s.ok("GET", "/v1/winnow/me", token=fx.tok["admin"])["role"], "admin")
        self.assertEqual(s.ok("GET", "/v1/winnow/me", token=fx.tok["owner"])["role"], "user")
        me = s.ok("GET", "/v1/winnow/me", token=fx.tok["wbound"])
        self.assertEqual((me["role"], me["workerName"]), ("worker", "bound-box"))
        # an admin logs in to the pages as a user does
        self.assertEqual(s.request("POST", "/login", {"token": fx.tok["admin"]}).status, 200)


class Base(unittest.TestCase):
    def setUp(self):
        self.srv = webtest.Server()
        os.makedirs(self.srv.dir, exist_ok=True)
        self.user = self.srv.token("alice", "user")
        self.srv.start()

    def tearDown(self):
        self.srv.stop()

    def db(self):
        con = sqlite3.connect(self.srv.db, timeout=30, isolation_level=None)
        self.addCleanup(con.close)
        return con

    def dataset(self, name="data set"):
        return self.srv.ok("POST", "/v1/datasets", {"name": name}, self.user, 201)["id"]

    def config(self):
        return self.srv.ok("POST", "/v1/docker/worker/config",
                           {"config": {"workerType": "FULL", "docker": webtest.PRESET, "lightly": {}}}, self.user, 201)["id"]


class TestWorkers(Base):
    def test_token_bound_to_its_worker(self):
        tok = self.srv.token("box-token", "worker", worker="gpu-box")
        reg = lambda name, t=tok: self.srv.request("POST", "/v1/docker/worker", {"name": name, "workerType": "FULL"}, t)   # noqa: E731
        r = reg("cpu-box")
        self.assertEqual((r.status, r.json["code"]), (403, "FORBIDDEN"))
        self.assertIn("gpu-box", r.json["error"])
        wid = reg("gpu-box").json["id"]
        self.assertEqual(reg("gpu-box").json["id"], wid)        # finds it again
        # default binding: the token's own name
        plain = self.srv.token("plain-box", "worker")
        self.assertEqual(reg("plain-box", plain).status, 201)
        self.assertEqual(reg("gpu-box", plain).status, 403)
        # as another worker: 403 on its id, its poll and its state
        for m, p in (("GET", "/v1/docker/worker/%s/schedule" % wid), ("PUT", "/v1/docker/worker/%s" % wid),
                     ("GET", "/v1/docker/worker/%s" % wid)):
            self.assertEqual(self.srv.request(m, p, {"state": "IDLE"} if m == "PUT" else None, plain).status, 403, p)
        listing = webtest.cli("token", "list", "--db", self.srv.db).stdout
        line = [l for l in listing.splitlines() if l.startswith("box-token ")][0]
        self.assertIn(" worker ", line)
        self.assertTrue(line.endswith(" worker=gpu-box"), line)
        for bad in (["--role", "user", "--worker", "x-box"], ["--role", "admin", "--worker", "x-box"],
                    ["--role", "worker", "--worker", "bad name"], ["--role", "superuser"]):
            p = webtest.cli("token", "create", "t-%d" % len(bad[1]), *bad, "--db", self.srv.db, check=False)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertIn("winnow-web:", p.stderr)

    def test_a_user_registers_workers_others_do_not_change_or_delete_them(self):
        bob = self.srv.token("bob", "user")
        admin = self.srv.token("root", "admin")
        wid = self.srv.ok("POST", "/v1/docker/worker", {"name": "alices-box", "workerType": "FULL", "labels": ["a"]},
                          self.user, 201)["id"]
        r = self.srv.request("POST", "/v1/docker/worker", {"name": "alices-box", "workerType": "FULL", "labels": ["b"]}, bob)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.srv.ok("GET", "/v1/docker/worker/%s" % wid, token=bob)["labels"], ["a"])
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % wid, token=bob).status, 403)
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % wid, token=self.user).status, 204)
        wid = self.srv.ok("POST", "/v1/docker/worker", {"name": "alices-box", "workerType": "FULL"}, self.user, 201)["id"]
        self.assertEqual(self.srv.request("DELETE", "/v1/docker/worker/%s" % wid, token=admin).status, 204)

    def test_runs_only_by_their_holder_secret_only_while_held(self):
        ds, cfg = self.dataset(), self.config()
        self.srv.ok("PUT", "/v1/winnow/datasets/%s/datasource" % ds,
                    {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://bucket/p", "s3Region": "us-east-1",
                     "s3AccessKeyId": "AKIA", "s3SecretAccessKey": "s3cr3t", "s3Endpoint": "http://127.0.0.1:9"},
                    self.user, 200)
        sid = self.srv.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, self.user, 201)["id"]
        a, b = self.srv.worker_token("box-a"), self.srv.worker_token("box-b")
        wa = self.srv.ok("POST", "/v1/docker/worker", {"name": "box-a", "workerType": "FULL"}, a, 201)["id"]
        wb = self.srv.ok("POST", "/v1/docker/worker", {"name": "box-b", "workerType": "FULL"}, b, 201)["id"]
        # any worker whose labels fit polls and claims an OPEN run of any dataset
        self.assertEqual([x["id"] for x in self.srv.ok("GET", "/v1/docker/worker/%s/schedule" % wb, token=b)], [sid])
        claim = "/v1/datasets/%s/docker/worker/%%s/schedule/%s" % (ds, sid)
        self.assertEqual(self.srv.request("PUT", claim % wa, {"state": "LOCKED"}, b).status, 403)   # as another
        self.srv.ok("PUT", claim % wa, {"state": "LOCKED"}, a, 200)
        body = {"dockerVersion": "t", "datasetId": ds, "scheduledId": sid, "configId": cfg}
        self.assertEqual(self.srv.request("POST", "/v1/docker/runs", body, b).status, 404)
        key = {"Idempotency-Key": sid + ":run"}
        r = self.srv.request("POST", "/v1/docker/runs", body, a, headers=key)
        self.assertEqual(r.status, 201, r)
        run = r.json["id"]
        # another worker repeating the holder's key and body gets no stored answer of its
        r = self.srv.request("POST", "/v1/docker/runs", body, b, headers=key)
        self.assertEqual(r.status, 404, r)
        # the holder's new token (the same worker) finds its own
        a2 = self.srv.token("box-a-new", "worker", worker="box-a")
        r = self.srv.request("POST", "/v1/docker/runs", body, a2, headers=key)
        self.assertEqual((r.status, r.json["id"]), (201, run))
        for m, p, bd in (("PUT", "/v1/docker/runs/%s" % run, {"state": "EMBEDDING"}),
                         ("PUT", "/v1/docker/runs/%s/logs" % run, [{"ts": 1, "level": "INFO", "group": "g", "msg": "m"}]),
                         ("PUT", "/v1/winnow/runs/%s/progress" % run, {"progress": 0.5}),
                         ("POST", "/v1/docker/runs/%s/artifacts" % run, {"fileName": "r.json", "type": "REPORT_JSON"}),
                         ("GET", "/v1/docker/runs/%s" % run, None),
                         ("GET", "/v1/datasets/%s" % ds, None),
                         ("POST", "/v1/datasets/%s/tags" % ds, {"name": "t-b", "bitMaskData": "0x0", "totSize": 0,
                                                               "prevTagId": None, "creator": "USER_WORKER"})):
            self.assertEqual(self.srv.request(m, p, bd, b).status, 404, (m, p))      # not its run
            self.assertLess(self.srv.request(m, p, bd, a).status, 300, (m, p))       # its holder's
        wp = "/v1/winnow/datasets/%s/datasource" % ds
        self.assertEqual(self.srv.ok("GET", wp, token=a)["s3SecretAccessKey"], "s3cr3t")
        self.assertEqual(self.srv.request("GET", wp, token=b).status, 404)
        admin = self.srv.token("root", "admin")
        for t in (self.user, admin):
            self.assertEqual(self.srv.ok("GET", wp, token=t)["s3SecretAccessKey"], "********")
        # a tag naming another worker's run is refused
        self.srv.ok("PUT", claim % wa, {"state": "DONE"}, a, 200)
        self.assertEqual(self.srv.ok("GET", wp, token=a)["s3SecretAccessKey"], "********")   # no longer held


class TestSharing(Base):
    def test_share_list_add_remove(self):
        bob, carol = self.srv.token("bob", "user"), self.srv.token("carol", "user")
        self.srv.token("wk", "worker")
        ds = self.dataset()
        sh = "/v1/winnow/datasets/%s/shares" % ds
        got = self.srv.ok("GET", sh, token=self.user)
        self.assertEqual((got["ownerName"], got["users"]), ("alice", []))
        self.assertEqual(self.srv.request("GET", sh, token=bob).status, 404)
        self.assertEqual(self.srv.request("PUT", sh, {"user": "bob"}, bob).status, 404)
        got = self.srv.ok("PUT", sh, {"user": "bob"}, self.user, 200)
        self.assertEqual([u["name"] for u in got["users"]], ["bob"])
        self.assertEqual(self.srv.ok("POST", sh, {"user": "bob"}, self.user, 200)["users"], got["users"])   # once
        self.assertEqual(self.srv.ok("GET", "/v1/datasets/%s" % ds, token=bob)["id"], ds)
        # a user it is shared with sees, but does not share further
        self.assertEqual(self.srv.request("PUT", sh, {"user": "carol"}, bob).status, 403)
        self.assertEqual(self.srv.request("DELETE", sh + "/bob", token=bob).status, 403)
        for name in ("nobody", "wk"):      # no such user; a worker token is no user
            r = self.srv.request("PUT", sh, {"user": name}, self.user)
            self.assertEqual((r.status, r.json["code"]), (404, "USER_NOT_KNOWN"), name)
        self.assertEqual(self.srv.request("PUT", sh, {}, self.user).status, 400)
        admin = self.srv.token("root", "admin")
        self.assertEqual([u["name"] for u in self.srv.ok("PUT", sh, {"user": "carol"}, admin, 200)["users"]], ["bob", "carol"])
        self.assertEqual([u["name"] for u in self.srv.ok("DELETE", sh + "/bob", token=self.user)["users"]], ["carol"])
        self.assertEqual(self.srv.request("GET", "/v1/datasets/%s" % ds, token=bob).status, 404)
        self.assertEqual(self.srv.ok("GET", "/v1/datasets/%s" % ds, token=carol)["id"], ds)
        # a revoked token's shares no longer open anything
        webtest.cli("token", "revoke", "carol", "--db", self.srv.db)
        self.assertEqual(self.srv.request("GET", "/v1/datasets/%s" % ds, token=carol).status, 401)

    def test_shared_user_schedules_with_the_owners_config_not_others(self):
        bob = self.srv.token("bob", "user")
        ds, cfg = self.dataset(), self.config()
        self.srv.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, self.user, 201)
        self.srv.ok("PUT", "/v1/winnow/datasets/%s/shares" % ds, {"user": "bob"}, self.user, 200)
        self.assertEqual(self.srv.ok("GET", "/v1/docker/worker/config/%s" % cfg, token=bob)["id"], cfg)
        self.srv.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, bob, 201)
        # bob's own dataset cannot use a config of alice's he sees nowhere
        other_cfg = self.config()
        mine = self.srv.ok("POST", "/v1/datasets", {"name": "bobs"}, bob, 201)["id"]
        r = self.srv.request("POST", "/v1/datasets/%s/docker/worker/schedule" % mine, {"configId": other_cfg}, bob)
        self.assertEqual(r.status, 400)


class TestCaps(Base):
    def fill(self, sql, rows):
        con = self.db()
        con.execute("BEGIN")
        con.executemany(sql, rows)
        con.execute("COMMIT")

    def test_scheduled_runs_per_dataset(self):
        ds, cfg = self.dataset(), self.config()
        path = "/v1/datasets/%s/docker/worker/schedule" % ds
        sid = self.srv.ok("POST", path, {"configId": cfg}, self.user, 201)["id"]
        row = self.db().execute("SELECT user_id, created_at FROM scheduled WHERE id = ?", (sid,)).fetchone()
        self.fill("INSERT INTO scheduled (id, dataset_id, config_id, user_id, priority, priority_rank, runs_on, state, "
                  "created_at, last_modified_at) VALUES (?, ?, ?, ?, 'MID', 2, '[]', ?, ?, ?)",
                  [("%024x" % (i + 1), ds, cfg, row[0], "OPEN" if i % 2 else "LOCKED", row[1], row[1]) for i in range(998)])
        self.srv.ok("POST", path, {"configId": cfg}, self.user, 201)      # the 1,000th
        r = self.srv.request("POST", path, {"configId": cfg}, self.user)
        self.assertEqual((r.status, r.json["code"]), (409, "DATASET_AT_MAX_CAPACITY"), r)
        self.assertIn("1000", r.json["error"])
        # a run that ends makes room; another dataset is not affected
        self.srv.request("PUT", path + "/" + sid, token=self.user)
        self.srv.ok("POST", path, {"configId": cfg}, self.user, 201)
        self.srv.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.dataset("other"), {"configId": cfg}, self.user, 201)
        # the poll answers a bounded list, the highest priority first
        tok = self.srv.worker_token("poller")
        wid = self.srv.ok("POST", "/v1/docker/worker", {"name": "poller", "workerType": "FULL"}, tok, 201)["id"]
        polled = self.srv.ok("GET", "/v1/docker/worker/%s/schedule" % wid, token=tok)
        self.assertEqual(len(polled), 100)
        # winnow's schedule list is paged
        page = self.srv.ok("GET", "/v1/winnow/datasets/%s/schedule?pageSize=7&pageOffset=3" % ds, token=self.user)
        every = self.srv.ok("GET", "/v1/winnow/datasets/%s/schedule" % ds, token=self.user)
        self.assertEqual(len(every), 1000)      # at most a page of 1,000 without pageSize
        self.assertEqual([x["id"] for x in page], [x["id"] for x in every[3:10]])

    def test_tags_per_dataset(self):
        ds = self.dataset()
        tok, wid, sid, run = self.srv.hold(self.user, ds, "tagger")
        self.fill("INSERT INTO tags (id, dataset_id, name, bit_mask_data, tot_size, creator, created_at) "
                  "VALUES (?, ?, ?, '0x0', 0, 'USER_WORKER', 0)",
                  [("%024x" % (i + 1), ds, "t%05d" % i) for i in range(9999)])
        tag = {"bitMaskData": "0x0", "totSize": 0, "prevTagId": None, "creator": "USER_WORKER"}
        self.srv.ok("POST", "/v1/datasets/%s/tags" % ds, dict(tag, name="last-one"), tok, 201)
        r = self.srv.request("POST", "/v1/datasets/%s/tags" % ds, dict(tag, name="one-more"), tok)
        self.assertEqual((r.status, r.json["code"]), (409, "DATASET_AT_MAX_CAPACITY"), r)
        # winnow's tag list is paged
        page = self.srv.ok("GET", "/v1/winnow/datasets/%s/tags?pageSize=2&pageOffset=5" % ds, token=self.user)
        self.assertEqual([t["name"] for t in page], ["t00005", "t00006"])
        self.assertEqual(len(self.srv.ok("GET", "/v1/winnow/datasets/%s/tags" % ds, token=self.user)), 1000)

    def test_workers(self):
        self.fill("INSERT INTO workers (id, user_id, name, worker_type, state, labels, created_at, last_modified_at, "
                  "last_seen_at) VALUES (?, 'x', ?, 'FULL', 'IDLE', '[]', 0, 0, 0)",
                  [("%024x" % (i + 1), "w%04d" % i) for i in range(999)])
        self.srv.ok("POST", "/v1/docker/worker", {"name": "the-last", "workerType": "FULL"}, self.user, 201)
        r = self.srv.request("POST", "/v1/docker/worker", {"name": "one-more", "workerType": "FULL"}, self.user)
        self.assertEqual((r.status, r.json["code"]), (409, "CREATION_FAILED"), r)
        # a known one is still found (a restart of a registered worker)
        self.srv.ok("POST", "/v1/docker/worker", {"name": "the-last", "workerType": "FULL"}, self.user, 201)
        page = self.srv.ok("GET", "/v1/winnow/workers?pageSize=3&pageOffset=1", token=self.user)
        self.assertEqual([w["name"] for w in page], ["w0000", "w0001", "w0002"])   # by name: the-last first


class TestSessions(Base):
    def test_expired_sessions_purged_at_login(self):
        con = self.db()
        tid = con.execute("SELECT id FROM tokens WHERE name = 'alice'").fetchone()[0]
        con.execute("INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, 0, ?)",
                    (b"\x01" * 32, tid, int(time.time() * 1000) - 1000))
        con.execute("INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, 0, ?)",
                    (b"\x02" * 32, tid, int(time.time() * 1000) + 3600 * 1000))
        self.assertEqual(self.srv.request("POST", "/login", {"token": self.user}).status, 200)
        left = sorted(h for (h,) in con.execute("SELECT hash FROM sessions"))
        self.assertNotIn(b"\x01" * 32, left)
        self.assertIn(b"\x02" * 32, left)
        self.assertEqual(len(left), 2)      # the live one and the new login


if __name__ == "__main__":
    unittest.main(verbosity=2)
