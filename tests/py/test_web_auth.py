"""winnow-web auth: every /v1 route, from the list written below (not from the
server under test), answers 401 without a token and with a wrong one, 403 to
the other role where the route is role-restricted, and neither to its roles;
the list equals what `winnow-web routes` prints, both ways, roles included;
the token CLI (create, list, revoke), tokens stored hashed, the login
cookie's flags, and no token in the logs.
"""
import hashlib
import http.client
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lightly_models  # noqa: E402
import webtest  # noqa: E402

# Every /v1 route with the roles that may call it, from docs/api.md (worker
# routes, user routes, "also role user") and the route table in web/routes.c.
# Written here so that a route dropped from, added to or loosened in the
# server's table fails test_route_list_is_the_servers instead of escaping the
# checks. "none": the signed artifact upload and read URL, whose credential is their sig;
# "public": no credential at all (Lightly's version route, SPEC 7).
W, U, A, NONE, PUBLIC = "worker", "user", "worker,user", "none", "public"
ROUTES = (
    ("GET", "/v1/winnow/me", A),
    ("GET", "/v1/versions/pip/minimum", PUBLIC),
    ("GET", "/v1/versions/pip/latest", PUBLIC),
    ("GET", "/v1/docker/worker", U),
    ("POST", "/v1/docker/worker", A),
    ("POST", "/v1/docker/worker/config", U),
    ("POST", "/v1/winnow/configs/validate", U),
    ("POST", "/v1/docker/worker/config/vX", U),
    ("GET", "/v1/docker/worker/config/vX/{configId}", A),
    ("GET", "/v1/docker/worker/config/{configId}", A),
    ("GET", "/v1/docker/worker/{workerId}", A),
    ("PUT", "/v1/docker/worker/{workerId}", W),
    ("DELETE", "/v1/docker/worker/{workerId}", U),
    ("GET", "/v1/docker/worker/{workerId}/schedule", W),
    ("GET", "/v1/docker/runs", U),
    ("POST", "/v1/docker/runs", W),
    ("GET", "/v1/docker/runs/query/datasetId/{datasetId}", U),
    ("GET", "/v1/docker/runs/schedule/{scheduledId}", A),
    ("GET", "/v1/docker/runs/{runId}", A),
    ("PUT", "/v1/docker/runs/{runId}", W),
    ("GET", "/v1/docker/runs/{runId}/tags", U),
    ("GET", "/v1/docker/runs/{runId}/logs", U),
    ("PUT", "/v1/docker/runs/{runId}/logs", W),
    ("POST", "/v1/docker/runs/{runId}/artifacts", W),
    ("GET", "/v1/docker/runs/{runId}/artifacts/{artifactId}/readurl", U),
    ("PUT", "/v1/docker/runs/{runId}/artifacts/{artifactId}/confirmUpload", W),
    ("PUT", "/v1/winnow/artifacts/{artifactId}/content", NONE),
    ("PUT", "/v1/artifacts/{artifactId}/content", NONE),
    ("GET", "/v1/winnow/workers", U),
    ("PUT", "/v1/winnow/runs/{runId}/progress", W),
    ("GET", "/v1/winnow/runs/{runId}/files", U),
    ("POST", "/v1/winnow/runs/{runId}/files", W),
    ("GET", "/v1/winnow/runs/{runId}/files/{artifactId}/content", U),
    ("POST", "/v1/winnow/datasets/{datasetId}/samples/batch", W),
    ("GET", "/v1/winnow/datasets/{datasetId}/datapools/{name}", W),
    ("PUT", "/v1/winnow/datasets/{datasetId}/datapools/{name}", W),
    ("GET", "/v1/winnow/datasets/{datasetId}/tags", U),
    ("POST", "/v1/winnow/datasets/{datasetId}/tags", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/schedule", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/shares", U),
    ("PUT", "/v1/winnow/datasets/{datasetId}/shares", U),
    ("POST", "/v1/winnow/datasets/{datasetId}/shares", U),
    ("DELETE", "/v1/winnow/datasets/{datasetId}/shares/{userName}", U),
    ("GET", "/v1/winnow/runs", U),
    ("GET", "/v1/winnow/schedule", U),
    ("GET", "/v1/winnow/runs/{runId}", U),
    ("POST", "/v1/winnow/runs/{runId}/abort", U),
    ("GET", "/v1/winnow/runs/{runId}/results", U),
    ("GET", "/v1/winnow/runs/{runId}/artifacts/{artifactId}/content", U),
    ("GET", "/v1/winnow/runs/{runId}/artifacts/{artifactId}/download", NONE),
    ("GET", "/v1/winnow/datasets/{datasetId}/datasource", A),
    ("PUT", "/v1/winnow/datasets/{datasetId}/datasource", U),
    ("GET", "/v1/datasets", U),
    ("GET", "/v1/datasets/query/name/{datasetName}", U),
    ("POST", "/v1/datasets", U),
    ("GET", "/v1/datasets/{datasetId}", A),
    ("PUT", "/v1/datasets/{datasetId}", U),
    ("DELETE", "/v1/datasets/{datasetId}", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/files", U),
    ("GET", "/v1/datasets/{datasetId}/datasource", A),
    ("PUT", "/v1/datasets/{datasetId}/datasource", U),
    ("GET", "/v1/datasets/{datasetId}/datasource/all", A),
    ("GET", "/v1/winnow/datasets/{datasetId}/tasks", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/thumbnail", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/image", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/image/signed", NONE),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/predictions", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/metadata", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/samples/frame", U),
    ("GET", "/v1/winnow/runs/{runId}/export", U),
    ("GET", "/v1/datasets/{datasetId}/mappings", A),
    ("GET", "/v1/datasets/{datasetId}/tags", A),
    ("POST", "/v1/datasets/{datasetId}/tags", W),
    ("POST", "/v1/datasets/{datasetId}/tags/initial", A),
    ("GET", "/v1/datasets/{datasetId}/tags/{tagId}", A),
    ("GET", "/v1/datasets/{datasetId}/tags/{tagId}/export/basic/filenames", U),
    ("GET", "/v1/datasets/{datasetId}/tags/{tagId}/scores", U),
    ("POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores", W),
    ("GET", "/v1/datasets/{datasetId}/tags/{tagId}/scores/{scoreId}", U),
    ("GET", "/v1/winnow/datasets/{datasetId}/tags/{tagId}/scores/{scoreType}", U),
    ("GET", "/v1/datasets/{datasetId}/docker/worker/schedule", U),
    ("POST", "/v1/datasets/{datasetId}/docker/worker/schedule", U),
    ("PUT", "/v1/datasets/{datasetId}/docker/worker/schedule/{scheduledId}", U),
    ("PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}/schedule/{scheduledId}", W),
)

# Served routes outside /v1/winnow/ that are not Lightly's, each with why it stays. Only the
# upload's path of before the move (issue 14): a signedWriteUrl issued before it can still be
# handed out by web.db's Idempotency-Key store (7 days) or held across an upgrade (web/routes.c).
NOT_LIGHTLY = {
    ("PUT", "/v1/artifacts/{artifactId}/content"): "signedWriteUrls issued before the move",
}
# Served outside /v1 besides the static pages (server.c): the pages' session.
PAGE_ROUTES = {("POST", "/login"), ("POST", "/logout")}

FILL = {"name": "pool-1", "scoreType": "uncertainty_margin", "datasetName": "some-dataset", "userName": "bob"}
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

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assert_json_error(self, r, status, what):
        self.assertEqual(r.status, status, what)
        self.assertEqual(r.header("Content-Type"), "application/json", what)
        self.assertIn("error", r.json, what)

    def test_route_list_is_the_servers(self):
        """ROUTES and `winnow-web routes` hold the same routes with the same roles."""
        self.assertEqual(len(set((m, p) for m, p, _ in ROUTES)), len(ROUTES), "a route twice in ROUTES")
        printed = [l for l in webtest.cli("routes").stdout.splitlines() if l.strip()]
        served = {}
        for line in printed:
            f = line.split(" ")
            self.assertEqual(len(f), 3, "not METHOD PATTERN ROLES: %r" % line)
            self.assertIn(f[2], (W, U, A, NONE, PUBLIC), line)
            self.assertNotIn((f[0], f[1]), served, "printed twice: %r" % line)
            served[(f[0], f[1])] = f[2]
        want = {(m, p): r for m, p, r in ROUTES}
        self.assertEqual(sorted(set(want) - set(served)), [], "in the test's list, not printed by winnow-web routes")
        self.assertEqual(sorted(set(served) - set(want)), [], "printed by winnow-web routes, not in the test's list")
        self.assertEqual({k: (v, want[k]) for k, v in served.items() if v != want[k]}, {},
                         "roles differ: route -> (server's, test's)")

    def test_no_extra_on_a_lightly_looking_path(self):
        """SPEC 7: winnow's own routes live under /v1/winnow/; every other served route is a
        route of Lightly's (method and path template as lightly_models.ROUTES has it, whatever
        the parameters are called), so a winnow extra cannot land on a path that looks like
        Lightly's."""
        def shape(path):
            return "/".join("{}" if s.startswith("{") else s for s in path.split("/"))
        lightly = {(r[0], shape(r[1])) for r in lightly_models.ROUTES}
        printed = [l.split(" ")[:2] for l in webtest.cli("routes").stdout.splitlines() if l.strip()]
        self.assertGreater(len(printed), 0)
        stray = []
        for method, path in printed:
            if path.startswith("/v1/winnow/") or (method, path) in NOT_LIGHTLY:
                continue
            if not path.startswith("/v1/"):
                if (method, path) not in PAGE_ROUTES:
                    stray.append((method, path))
                continue
            if (method, shape(path)) not in lightly:
                stray.append((method, path))
        self.assertEqual(stray, [], "served outside /v1/winnow/ but not Lightly's routes (lightly_models.ROUTES)")
        # each exception is still served (remove it here when its route goes)
        served = {(m, p) for m, p in printed}
        self.assertEqual(sorted(set(NOT_LIGHTLY) - served), [], "an exception no longer served")

    def test_every_route_needs_a_token(self):
        for method, pattern, roles in ROUTES:
            path = fill(pattern)
            body = b"{}" if method in ("POST", "PUT") else None
            with self.subTest(route=(method, pattern)):
                if roles == PUBLIC:
                    for tok in (None, "f" * 64):
                        r = self.srv.request(method, path, raw=body, token=tok)
                        self.assertEqual((r.status, r.header("Content-Type")), (200, "application/json"), (method, path))
                    continue
                self.assert_json_error(self.srv.request(method, path, raw=body), 401, "no token")
                self.assert_json_error(self.srv.request(method, path, raw=body, token="f" * 64), 401, "wrong token")
                self.assert_json_error(self.srv.request(method, path + "?token=" + "e" * 64, raw=body), 401, "wrong ?token")
                self.assert_json_error(self.srv.request(method, path, raw=body, headers={"Cookie": "winnow_session=" + "d" * 64}),
                                       401, "wrong cookie")
                if roles == W:
                    self.assert_json_error(self.srv.request(method, path, raw=body, token=self.user), 403, "user on a worker route")
                elif roles == U:
                    self.assert_json_error(self.srv.request(method, path, raw=body, token=self.worker), 403, "worker on a user route")
                # each role the route names gets past auth (a 404 for the made-up ids, a 400
                # for the empty body, but never 401 or 403), and the server does not fail
                for role, tok in ((W, self.worker), (U, self.user)):
                    if role in roles.split(","):
                        r = self.srv.request(method, path, raw=body, token=tok)
                        self.assertNotIn(r.status, (401, 403), (method, path, role, r))
                        self.assertLess(r.status, 500, (method, path, role, r))
        self.assertTrue(self.srv.alive())

    def test_query_token(self):
        r = self.srv.request("GET", "/v1/winnow/me?token=" + self.worker)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["role"], "worker")
        self.assertEqual(r.json["name"], "w1")
        self.srv.request("GET", "/v1/winnow/me?token=" + self.user)
        self.srv.request("GET", "/v1/winnow/me", token=self.user)
        log = self.srv.log_text()
        self.assertIn("GET /v1/winnow/me", log)
        self.assertNotIn(self.worker, log)
        self.assertNotIn(self.user, log)

    def test_token_cli_list_revoke(self):
        tok = self.srv.token("temp-user", "user")
        self.assertRegex(tok, r"^[0-9a-f]{64}$")
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", token=tok).status, 200)
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
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", token=tok).status, 401)
        self.assertIn("revoked", [l for l in webtest.cli("token", "list", "--db", self.srv.db).stdout.splitlines()
                                  if l.startswith("temp-user ")][0])
        again = webtest.cli("token", "revoke", "temp-user", "--db", self.srv.db, check=False)
        self.assertEqual(again.returncode, 1)
        for args in (["token", "create", "x", "--db", self.srv.db], ["token", "create", "x", "--role", "root", "--db", self.srv.db],
                     ["token", "create", "x", "--role", "user", "--worker", "w", "--db", self.srv.db],
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
        me = self.srv.request("GET", "/v1/winnow/me", headers={"Cookie": "winnow_session=" + value})
        self.assertEqual((me.status, me.json["role"]), (200, "user"))
        self.assertEqual(self.srv.request("POST", "/login", {"token": self.worker}).status, 403)
        self.assertEqual(self.srv.request("POST", "/login", {"token": "0" * 64}).status, 401)
        self.assertEqual(self.srv.request("GET", "/login").status, 405)
        out = self.srv.request("POST", "/logout", headers={"Cookie": "winnow_session=" + value})
        self.assertEqual(out.status, 200)
        self.assertIn("Max-Age=0", out.header("Set-Cookie"))
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", headers={"Cookie": "winnow_session=" + value}).status, 401)

    def test_revoke_ends_sessions(self):
        tok = self.srv.token("sess-user", "user")
        r = self.srv.request("POST", "/login", {"token": tok})
        value = r.header("Set-Cookie").split(";")[0].split("=", 1)[1]
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", headers={"Cookie": "winnow_session=" + value}).status, 200)
        webtest.cli("token", "revoke", "sess-user", "--db", self.srv.db)
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", headers={"Cookie": "winnow_session=" + value}).status, 401)

    def test_artifact_upload_needs_its_signature(self):
        # The one route without a token: a wrong or missing signature is 401.
        for path in ("/v1/winnow/artifacts/%s/content" % SOME_ID, "/v1/artifacts/%s/content" % SOME_ID):
            self.assertEqual(self.srv.request("PUT", path, raw=b"x", token=self.worker).status, 401, path)
            self.assertEqual(self.srv.request("PUT", path + "?sig=" + "a" * 64, raw=b"x").status, 401, path)

    def test_read_url_needs_its_signature(self):
        # A read URL's credential is its signature: a token does not replace it.
        path = "/v1/winnow/runs/%s/artifacts/%s/download" % (SOME_ID, SOME_ID)
        for query, tok in (("", self.user), ("?expires=9999999999&sig=" + "a" * 64, None),
                           ("?expires=9999999999&sig=" + "a" * 64, self.user)):
            self.assert_json_error(self.srv.request("GET", path + query, token=tok), 401, query)


if __name__ == "__main__":
    unittest.main(verbosity=2)
