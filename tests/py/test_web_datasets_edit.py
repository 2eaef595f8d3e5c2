"""Renaming and deleting a dataset: Lightly's PUT and DELETE /v1/datasets/{datasetId}
(update_dataset_by_id with DatasetUpdateRequest, delete_dataset_by_id; web/routes_browse.c).

Rename: a name of SPEC 7's dataset pattern, 204; a bad name 400; a name another
dataset of the owner has 409 DATASET_NAME_EXISTS; a user it is shared with 403;
another user 404. Delete: every row of the dataset goes from web.db (read with
sqlite3 on the real file), other datasets' rows stay, the folder stays byte for
byte; a dataset with a LOCKED run answers 409 and keeps everything; a
database error answers 503. Every reply is checked against Lightly's models
(tests/py/conformance.py).
"""
import hashlib
import os
import sqlite3
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

# Every table with a dataset's rows, and how a dataset's rows are found in it.
ROWS = {
    "datasets": "id = :d",
    "datasources": "dataset_id = :d",
    "dataset_shares": "dataset_id = :d",
    "scheduled": "dataset_id = :d",
    "runs": "dataset_id = :d",
    "run_logs": "run_id IN (SELECT id FROM runs WHERE dataset_id = :d)",
    "artifacts": "run_id IN (SELECT id FROM runs WHERE dataset_id = :d)",
    "samples": "dataset_id = :d",
    "tags": "dataset_id = :d",
    "datapools": "dataset_id = :d",
}


def tree_digest(root):
    """Every path, link target and file byte under root."""
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for n in sorted(files + [x for x in dirs if os.path.islink(os.path.join(d, x))]):
            p = os.path.join(d, n)
            h.update(p.encode() + b"\0")
            if os.path.islink(p):
                h.update(os.readlink(p).encode())
            else:
                st = os.stat(p)
                h.update(str((st.st_size, st.st_mtime_ns, st.st_mode)).encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


class DatasetEditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("dsedit")
        cls.root = os.path.join(cls.dir, "datasets")
        os.makedirs(cls.root)
        cls.srv = webtest.Server(workdir=cls.dir, roots=[cls.root]).start()
        cls.web = conformance.Checked(cls.srv)
        cls.alice = cls.srv.token("alice", "user")
        cls.bob = cls.srv.token("bob", "user")
        cls.carol = cls.srv.token("carol", "user")
        cls.admin = cls.srv.token("root", "admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def tearDown(self):
        self.assertEqual(self.web.problems(), [])

    def ok(self, method, path, body=None, token=None, status=200):
        r = self.web.request(method, path, body=body, token=token or self.alice)
        self.assertEqual(r.status, status, "%s %s: %r" % (method, path, r))
        return r.json if r.body else None

    def dataset(self, name, token=None):
        return self.ok("POST", "/v1/datasets", {"name": name}, token, 201)["id"]

    def name_of(self, ds):
        return self.ok("GET", "/v1/datasets/%s" % ds)["name"]

    def count(self, table, ds):
        with sqlite3.connect("file:%s?mode=ro" % self.srv.db, uri=True) as c:
            return c.execute("SELECT count(*) FROM %s WHERE %s" % (table, ROWS[table]), {"d": ds}).fetchone()[0]

    # ---- rename --------------------------------------------------------------------
    def test_rename(self):
        ds = self.dataset("first-name")
        before = self.ok("GET", "/v1/datasets/%s" % ds)
        r = self.web.request("PUT", "/v1/datasets/%s" % ds, body={"name": "Second name_2"}, token=self.alice)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        after = self.ok("GET", "/v1/datasets/%s" % ds)
        self.assertEqual(after["name"], "Second name_2")
        self.assertGreaterEqual(after["lastModifiedAt"], before["lastModifiedAt"])
        self.assertEqual(after["createdAt"], before["createdAt"])
        # its own name again: fine
        self.ok("PUT", "/v1/datasets/%s" % ds, {"name": "Second name_2"}, status=204)
        # the name query finds it by the new name only
        self.assertEqual([d["id"] for d in self.ok("GET", "/v1/datasets/query/name/Second%20name_2")], [ds])
        self.assertEqual(self.ok("GET", "/v1/datasets/query/name/first-name"), [])

    def test_rename_bad_names(self):
        ds = self.dataset("bad-names")
        for body in ({"name": "ab"}, {"name": "-dash-first"}, {"name": "has/slash"}, {"name": "dot.name"},
                     {"name": ""}, {"name": 5}, {"name": None}, {}, {"name": "ok-name", "extra": 1},
                     {"name": "x" * 300}, {"name": "ünïcode"}):
            r = self.web.request("PUT", "/v1/datasets/%s" % ds, body=body, token=self.alice)
            self.assertEqual(r.status, 400, body)
            self.assertEqual(r.json["code"], "BAD_REQUEST", body)
        for raw in (b"[]", b"not json", b'"name"'):
            r = self.web.request("PUT", "/v1/datasets/%s" % ds, raw=raw, token=self.alice,
                                 headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 400, raw)
        self.assertEqual(self.name_of(ds), "bad-names")

    def test_rename_duplicate(self):
        a = self.dataset("dup-a")
        b = self.dataset("dup-b")
        r = self.web.request("PUT", "/v1/datasets/%s" % b, body={"name": "dup-a"}, token=self.alice)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json["code"], "DATASET_NAME_EXISTS")
        self.assertEqual(self.name_of(b), "dup-b")
        self.assertEqual(self.name_of(a), "dup-a")
        # another user's dataset of that name is no conflict
        c = self.dataset("dup-c", self.bob)
        self.ok("PUT", "/v1/datasets/%s" % c, {"name": "dup-a"}, self.bob, 204)

    def test_rename_other_users(self):
        ds = self.dataset("alices-own")
        r = self.web.request("PUT", "/v1/datasets/%s" % ds, body={"name": "bobs-now"}, token=self.bob)
        self.assertEqual(r.status, 404, r)
        r = self.web.request("PUT", "/v1/datasets/0123456789abcdef01234567", body={"name": "nobodys"},
                             token=self.alice)
        self.assertEqual(r.status, 404, r)
        # shared with carol: she sees it, may not rename it
        self.ok("PUT", "/v1/winnow/datasets/%s/shares" % ds, {"user": "carol"})
        r = self.web.request("PUT", "/v1/datasets/%s" % ds, body={"name": "carols-now"}, token=self.carol)
        self.assertEqual(r.status, 403, r)
        # a worker token: not a route of workers
        wtok = self.srv.worker_token("w-edit")
        self.assertEqual(self.web.request("PUT", "/v1/datasets/%s" % ds, body={"name": "x-worker"},
                                          token=wtok).status, 403)
        self.assertEqual(self.name_of(ds), "alices-own")
        self.ok("PUT", "/v1/datasets/%s" % ds, {"name": "admin-renamed"}, self.admin, 204)
        self.assertEqual(self.name_of(ds), "admin-renamed")

    # ---- delete --------------------------------------------------------------------
    def populated(self, name):
        """A dataset with a datasource on a real folder, a share, a run that completed
        (logs, samples, tags, scores, an artifact, a datapool) and an OPEN scheduled run."""
        folder = os.path.join(self.root, name)
        os.makedirs(os.path.join(folder, ".lightly", "predictions"))
        for i in range(5):
            with open(os.path.join(folder, "img_%d.jpg" % i), "wb") as f:
                f.write(bytes([i]) * 100)
        with open(os.path.join(folder, ".lightly", "predictions", "tasks.json"), "w") as f:
            f.write("[]")
        ds = self.dataset(name)
        self.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": folder})
        self.ok("PUT", "/v1/winnow/datasets/%s/shares" % ds, {"user": "carol"})
        wtok, wid, sid, run = self.srv.hold(self.alice, ds, "w-" + name)
        self.ok("PUT", "/v1/docker/runs/%s/logs" % run,
                [{"msg": "hello", "level": "INFO", "ts": 1, "group": "g"}], wtok, 200)
        self.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % ds,
                [{"fileName": "img_%d.jpg" % i} for i in range(5)], wtok)
        tag = self.ok("POST", "/v1/datasets/%s/tags" % ds,
                      {"name": "initial-tag", "bitMaskData": "0x1f", "totSize": 5, "runId": run}, wtok, 201)["id"]
        self.ok("POST", "/v1/datasets/%s/tags/%s/scores" % (ds, tag),
                {"scoreType": "uncertainty_margin", "scores": [0.1, 0.2, 0.3, 0.4, 0.5]}, wtok, 201)
        self.ok("PUT", "/v1/winnow/datasets/%s/datapools/pool1" % ds, {"fileNames": ["img_0.jpg"]}, wtok)
        self.ok("POST", "/v1/docker/runs/%s/artifacts" % run,
                {"fileName": "report.pdf", "type": "REPORT_PDF"}, wtok, 201)
        self.ok("PUT", "/v1/docker/runs/%s" % run, {"state": "COMPLETED"}, wtok)
        self.ok("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "DONE"}, wtok)
        cfg = self.ok("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": {}, "lightly": {}}}, self.alice, 201)["id"]
        self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % ds, {"configId": cfg}, self.alice, 201)
        return ds, folder, tag

    def test_delete_removes_rows_and_keeps_files(self):
        keep, _, _ = self.populated("keep-me")
        ds, folder, tag = self.populated("delete-me")
        for t in ROWS:
            self.assertGreater(self.count(t, ds), 0, t)
        digest = tree_digest(folder)
        before_keep = {t: self.count(t, keep) for t in ROWS}
        # a user it is shared with may not delete it; another user does not see it
        self.assertEqual(self.web.request("DELETE", "/v1/datasets/%s" % ds, token=self.carol).status, 403)
        self.assertEqual(self.web.request("DELETE", "/v1/datasets/%s" % ds, token=self.bob).status, 404)
        self.assertEqual(self.web.request("DELETE", "/v1/datasets/%s?force=maybe" % ds, token=self.alice).status, 400)
        r = self.web.request("DELETE", "/v1/datasets/%s" % ds, token=self.alice)
        self.assertEqual(r.status, 204, r)
        for t in ROWS:
            self.assertEqual(self.count(t, ds), 0, t)
        with sqlite3.connect("file:%s?mode=ro" % self.srv.db, uri=True) as c:
            self.assertEqual(c.execute("SELECT count(*) FROM scores WHERE tag_id = ?", (tag,)).fetchone()[0], 0)
        self.assertEqual({t: self.count(t, keep) for t in ROWS}, before_keep)
        self.assertEqual(tree_digest(folder), digest)
        # gone for everyone, and a second delete is 404
        self.assertEqual(self.web.request("GET", "/v1/datasets/%s" % ds, token=self.alice).status, 404)
        self.assertEqual(self.web.request("DELETE", "/v1/datasets/%s" % ds, token=self.alice).status, 404)
        self.assertNotIn(ds, [d["id"] for d in self.ok("GET", "/v1/datasets")])
        self.assertNotIn(ds, [d["id"] for d in self.ok("GET", "/v1/datasets?shared=true", token=self.carol)])

    def test_delete_refused_while_a_run_is_locked(self):
        ds = self.dataset("busy-one")
        _, _, sid, run = self.srv.hold(self.alice, ds, "w-busy")
        r = self.web.request("DELETE", "/v1/datasets/%s" % ds, token=self.alice)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json["code"], "CONFLICT")
        self.assertIn("LOCKED", r.json["error"])
        self.assertEqual(self.count("datasets", ds), 1)
        self.assertEqual(self.count("runs", ds), 1)

    def test_admin_deletes_anyones(self):
        ds = self.dataset("for-admin", self.bob)
        self.ok("DELETE", "/v1/datasets/%s" % ds, token=self.admin, status=204)
        self.assertEqual(self.count("datasets", ds), 0)

    def test_db_error_is_503(self):
        """A write lock held on the real file: the web app's writes wait out their busy
        timeout and answer 503 (retry), never 404, and change nothing."""
        ds = self.dataset("locked-db")
        holder = sqlite3.connect(self.srv.db, timeout=30, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            results = {}

            def call(key, method, body):
                results[key] = self.srv.request(method, "/v1/datasets/%s" % ds, body=body, token=self.alice)
            ts = [threading.Thread(target=call, args=("put", "PUT", {"name": "renamed-locked"})),
                  threading.Thread(target=call, args=("del", "DELETE", None))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for k in ("put", "del"):
            self.assertEqual(results[k].status, 503, (k, results[k]))
            self.assertEqual(results[k].json["code"], "ILLEGAL_ACTION_RESOURCE_IN_USE")
            self.assertEqual(results[k].header("Retry-After"), "1")
            self.assertEqual(conformance.check_reply("PUT", "/v1/datasets/%s" % ds, 503, results[k].body), [])
        self.assertEqual(self.name_of(ds), "locked-db")
        self.assertEqual(self.count("datasets", ds), 1)


if __name__ == "__main__":
    unittest.main()
