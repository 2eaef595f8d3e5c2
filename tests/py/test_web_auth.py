"""winnow-web auth: every /v1 route of the server's own route table answers
401 without a token and with a wrong one, and 403 to the other role where
the route is role-restricted; the token CLI (create, list, revoke), tokens
stored hashed, the login cookie's flags, and no token in the logs.
"""
import hashlib
import http.client
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

FILL = {"name": "pool-1", "scoreType": "uncertainty_margin"}
SOME_ID = "0123456789abcdef01234567"


def fill(pattern):
    out = []
    for seg in pattern.split("/"):
        if seg.startswith("{"):
            key = seg[1:-1]
            out.append(SOME_ID if key.endswith("Id") else FILL[key])
        else:
            out.append(seg)
    return "/".join(out)


class TestAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        os.makedirs(cls.srv.dir, exist_ok=True)
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token("w1", "worker")
        cls.srv.start()
        lines = webtest.cli("routes").stdout.splitlines()
        cls.routes = [tuple(l.split(" ")) for l in lines if l.strip()]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assert_json_error(self, r, status, what):
        self.assertEqual(r.status, status, what)
        self.assertEqual(r.header("Content-Type"), "application/json", what)
        self.assertIn("error", r.json, what)

    def test_route_table_is_complete(self):
        # A sample of docs/api.md's routes must be in the table the server prints.
        want = {("POST", "/v1/docker/worker"), ("GET", "/v1/docker/worker/{workerId}/schedule"),
                ("PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}/schedule/{scheduledId}"),
                ("GET", "/v1/docker/runs/{runId}/results"), ("GET", "/v1/datasets/{datasetId}/samples/thumbnail"),
                ("POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores"), ("GET", "/v1/me")}
        have = {(m, p) for m, p, _ in self.routes}
        self.assertTrue(want <= have, want - have)
        self.assertGreater(len(self.routes), 40)
        for m, p, roles in self.routes:
            self.assertIn(roles, ("worker", "user", "worker,user", "none"), (m, p))

    def test_every_route_needs_a_token(self):
        for method, pattern, roles in self.routes:
            path = fill(pattern)
            body = b"{}" if method in ("POST", "PUT") else None
            with self.subTest(route=(method, pattern)):
                self.assert_json_error(self.srv.request(method, path, raw=body), 401, "no token")
                self.assert_json_error(self.srv.request(method, path, raw=body, token="f" * 64), 401, "wrong token")
                self.assert_json_error(self.srv.request(method, path + "?token=" + "e" * 64, raw=body), 401, "wrong ?token")
                self.assert_json_error(self.srv.request(method, path, raw=body, headers={"Cookie": "winnow_session=" + "d" * 64}),
                                       401, "wrong cookie")
                if roles == "worker":
                    self.assert_json_error(self.srv.request(method, path, raw=body, token=self.user), 403, "user on a worker route")
                elif roles == "user":
                    self.assert_json_error(self.srv.request(method, path, raw=body, token=self.worker), 403, "worker on a user route")
                if roles != "none":
                    good = self.user if "user" in roles else self.worker
                    r = self.srv.request(method, path, raw=body, token=good)
                    self.assertNotIn(r.status, (401, 403), (method, path))
                    self.assertLess(r.status, 500, (method, path, r))
        self.assertTrue(self.srv.alive())

    def test_query_token(self):
        r = self.srv.request("GET", "/v1/me?token=" + self.worker)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["role"], "worker")
        self.assertEqual(r.json["name"], "w1")
        self.srv.request("GET", "/v1/me?token=" + self.user)
        self.srv.request("GET", "/v1/me", token=self.user)
        log = self.srv.log_text()
        self.assertIn("GET /v1/me", log)
        self.assertNotIn(self.worker, log)
        self.assertNotIn(self.user, log)

    def test_token_cli_list_revoke(self):
        tok = self.srv.token("temp-user", "user")
        self.assertRegex(tok, r"^[0-9a-f]{64}$")
        self.assertEqual(self.srv.request("GET", "/v1/me", token=tok).status, 200)
        listing = webtest.cli("token", "list", "--db", self.srv.db).stdout
        line = [l for l in listing.splitlines() if l.startswith("temp-user ")]
        self.assertEqual(len(line), 1)
        self.assertIn(" user ", line[0])
        self.assertNotIn(tok, listing)
        # stored hashed: neither the token nor its hex appears in the database file
        con = sqlite3.connect(self.srv.db)
        h = con.execute("SELECT hash FROM tokens WHERE name = 'temp-user'").fetchone()[0]
        con.close()
        self.assertEqual(h, hashlib.sha256(tok.encode()).digest())
        for f in (self.srv.db, self.srv.db + "-wal"):
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    self.assertNotIn(tok.encode(), fh.read())
        dup = webtest.cli("token", "create", "temp-user", "--role", "user", "--db", self.srv.db, check=False)
        self.assertNotEqual(dup.returncode, 0)
        webtest.cli("token", "revoke", "temp-user", "--db", self.srv.db)
        self.assertEqual(self.srv.request("GET", "/v1/me", token=tok).status, 401)
        self.assertIn("revoked", [l for l in webtest.cli("token", "list", "--db", self.srv.db).stdout.splitlines()
                                  if l.startswith("temp-user ")][0])
        again = webtest.cli("token", "revoke", "temp-user", "--db", self.srv.db, check=False)
        self.assertEqual(again.returncode, 1)
        for args in (["token", "create", "x", "--db", self.srv.db], ["token", "create", "x", "--role", "admin", "--db", self.srv.db],
                     ["token", "frobnicate", "--db", self.srv.db], ["token", "list"], ["--listen"], ["--bogus"]):
            p = webtest.cli(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("winnow-web:", p.stderr)

    def test_login_cookie(self):
        r = self.srv.request("POST", "/login", {"token": self.user})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["name"], "alice")
        cookie = r.header("Set-Cookie")
        parts = [p.strip() for p in cookie.split(";")]
        self.assertTrue(parts[0].startswith("winnow_session="))
        self.assertIn("HttpOnly", parts)
        self.assertIn("SameSite=Strict", parts)
        self.assertIn("Path=/", parts)
        self.assertNotIn("Secure", parts)  # plain HTTP here: a Secure cookie would never come back
        value = parts[0].split("=", 1)[1]
        self.assertNotEqual(value, self.user)
        me = self.srv.request("GET", "/v1/me", headers={"Cookie": "winnow_session=" + value})
        self.assertEqual((me.status, me.json["role"]), (200, "user"))
        self.assertEqual(self.srv.request("POST", "/login", {"token": self.worker}).status, 403)
        self.assertEqual(self.srv.request("POST", "/login", {"token": "0" * 64}).status, 401)
        self.assertEqual(self.srv.request("GET", "/login").status, 405)
        out = self.srv.request("POST", "/logout", headers={"Cookie": "winnow_session=" + value})
        self.assertEqual(out.status, 200)
        self.assertIn("Max-Age=0", out.header("Set-Cookie"))
        self.assertEqual(self.srv.request("GET", "/v1/me", headers={"Cookie": "winnow_session=" + value}).status, 401)

    def test_revoke_ends_sessions(self):
        tok = self.srv.token("sess-user", "user")
        r = self.srv.request("POST", "/login", {"token": tok})
        value = r.header("Set-Cookie").split(";")[0].split("=", 1)[1]
        self.assertEqual(self.srv.request("GET", "/v1/me", headers={"Cookie": "winnow_session=" + value}).status, 200)
        webtest.cli("token", "revoke", "sess-user", "--db", self.srv.db)
        self.assertEqual(self.srv.request("GET", "/v1/me", headers={"Cookie": "winnow_session=" + value}).status, 401)

    def test_artifact_upload_needs_its_signature(self):
        # The one route without a token: a wrong or missing signature is 401.
        path = "/v1/artifacts/%s/content" % SOME_ID
        self.assertEqual(self.srv.request("PUT", path, raw=b"x", token=self.worker).status, 401)
        self.assertEqual(self.srv.request("PUT", path + "?sig=" + "a" * 64, raw=b"x").status, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
