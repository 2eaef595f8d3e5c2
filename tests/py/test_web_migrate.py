"""winnow-web schema migrations: a version-1 database file, built here with
the sqlite3 module from the server's own version-1 SQL (`winnow-web schema
1`), is migrated at start to the current version and keeps its rows; a file
from a newer build is refused.
"""
import hashlib
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

TOKEN = "ab" * 32


def build_v1(path):
    sql = webtest.cli("schema", "1").stdout
    con = sqlite3.connect(path)
    con.executescript(sql)
    con.execute("PRAGMA user_version = 1")
    con.execute("INSERT INTO tokens (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                ("aaaaaaaaaaaaaaaaaaaaaaaa", "old-user", "user", hashlib.sha256(TOKEN.encode()).digest(), 1000))
    con.execute("INSERT INTO datasets (id, name, user_id, created_at, last_modified_at) VALUES (?, ?, ?, ?, ?)",
                ("bbbbbbbbbbbbbbbbbbbbbbbb", "kept dataset", "aaaaaaaaaaaaaaaaaaaaaaaa", 2000, 2000))
    con.execute("INSERT INTO samples (dataset_id, idx, file_name) VALUES (?, ?, ?)",
                ("bbbbbbbbbbbbbbbbbbbbbbbb", 0, "a.jpg"))
    con.commit()
    con.close()


def version(path):
    con = sqlite3.connect(path)
    v = con.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    return v, tables


class TestMigrate(unittest.TestCase):
    def test_v1_file_is_migrated_and_keeps_rows(self):
        srv = webtest.Server()
        os.makedirs(srv.dir, exist_ok=True)
        build_v1(srv.db)
        v, tables = version(srv.db)
        self.assertEqual(v, 1)
        self.assertNotIn("sessions", tables)
        with srv:
            me = srv.request("GET", "/v1/me", token=TOKEN)
            self.assertEqual(me.status, 200, me)
            self.assertEqual((me.json["name"], me.json["userId"]), ("old-user", "a" * 24))
            ds = srv.ok("GET", "/v1/datasets", token=TOKEN)
            self.assertEqual([(d["id"], d["name"], d["nSamples"]) for d in ds], [("b" * 24, "kept dataset", 1)])
            # the v2 table works: a login session
            r = srv.request("POST", "/login", {"token": TOKEN})
            self.assertEqual(r.status, 200)
        self.assertIn("migrated to schema version 3", srv.log_text())
        v, tables = version(srv.db)
        self.assertEqual(v, 3)
        self.assertIn("sessions", tables)
        self.assertIn("released_runs", tables)
        # a second start has nothing to migrate
        with srv:
            self.assertEqual(srv.request("GET", "/v1/me", token=TOKEN).status, 200)
        self.assertEqual(srv.log_text().count("migrated to schema version 3"), 1)

    def test_fresh_file_gets_every_version(self):
        srv = webtest.Server()
        os.makedirs(srv.dir, exist_ok=True)
        srv.token("u", "user")
        v, tables = version(srv.db)
        self.assertEqual(v, 3)
        self.assertTrue({"tokens", "datasets", "scheduled", "runs", "tags", "scores", "sessions",
                         "released_runs"} <= tables)
        self.assertEqual(webtest.cli("schema", "4", check=False).returncode, 2)

    def test_newer_file_is_refused(self):
        d = os.path.join(os.getcwd(), "newer")
        os.makedirs(d)
        db = os.path.join(d, "web.db")
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.close()
        p = subprocess.run([webtest.WEB, "--listen", "127.0.0.1:%d" % webtest.free_port(), "--db", db],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("newer", p.stderr)
        self.assertEqual(version(db)[0], 99)


if __name__ == "__main__":
    unittest.main(verbosity=2)
