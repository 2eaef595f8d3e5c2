"""winnow-web bad input: invalid JSON, wrong types, a 17 MiB body, unknown
routes, wrong methods, malformed ids, static paths that try to leave the
static folder. Each answer is a 4xx with a JSON error body, and the server
is still up after each.
"""
import http.client
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
from webtest import PRESET  # noqa: E402


class TestBadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        os.makedirs(cls.srv.dir, exist_ok=True)
        cls.static = os.path.join(cls.srv.dir, "static")
        os.makedirs(cls.static)
        with open(os.path.join(cls.static, "index.html"), "w") as f:
            f.write("<!doctype html><title>winnow</title>")
        with open(os.path.join(cls.srv.dir, "private.txt"), "w") as f:
            f.write("secret")
        cls.srv.extra = ["--static", cls.static]
        cls.root = os.path.join(cls.srv.dir, "datasets")
        os.makedirs(os.path.join(cls.root, "imgs"))
        cls.outside = os.path.join(cls.srv.dir, "outside")
        os.makedirs(cls.outside)
        os.symlink(cls.outside, os.path.join(cls.root, "link-out"))
        cls.srv.roots = [cls.root]
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token("w1", "worker")
        cls.srv.start()
        cls.ds = cls.srv.ok("POST", "/v1/datasets", {"name": "dataset"}, cls.user, 201)["id"]
        cls.cfg = cls.srv.ok("POST", "/v1/docker/worker/config", {"config": {"docker": PRESET}}, cls.user, 201)["id"]
        # SPEC 8: the worker's calls touch the dataset of a run it holds
        cls.worker, cls.wid, _, cls.run_id = cls.srv.hold(cls.user, cls.ds, "worker")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def check(self, r, statuses, what):
        if isinstance(statuses, int):
            statuses = (statuses,)
        self.assertIn(r.status, statuses, (what, r))
        self.assertEqual(r.header("Content-Type"), "application/json", what)
        self.assertIsInstance(r.json.get("error"), str, what)
        self.assertIsInstance(r.json.get("code"), str, what)
        self.assertTrue(self.srv.alive(), what)

    def test_invalid_json(self):
        for raw in (b"{", b"{\"name\": }", b"nul", b"{\"name\": \"x\"} trailing", b"\xff\xfe", b"", b"{\"name\": \"a\"}\x00junk",
                    b"[" * 5000 + b"]" * 5000):
            for method, path, tok in (("POST", "/v1/datasets", self.user), ("POST", "/v1/docker/worker", self.worker),
                                      ("PUT", "/v1/docker/runs/%s/logs" % self.run_id, self.worker)):
                self.check(self.srv.request(method, path, raw=raw, token=tok), 400, (raw[:20], path))

    def test_names_follow_lightlys_patterns(self):
        """SPEC 7: datasets and workers ^[a-zA-Z0-9][a-zA-Z0-9 _-]{2,}$, tags
        ^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]{2,}$ (winnow: at most 200 bytes)."""
        good_ds = ["abc", "My data 2", "a_b-c", "x" * 200]
        bad_ds = ["ab", "", "-abc", " abc", "a.bc", "a/bc", "caf\u00e9", "a\tbc", "x" * 201, "ab:c"]
        for name in good_ds:
            r = self.srv.request("POST", "/v1/datasets", {"name": name}, self.user)
            self.assertEqual(r.status, 201, (name, r))
            r = self.srv.request("POST", "/v1/docker/worker", {"name": name, "labels": []}, self.user)   # a user registers any name
            self.assertEqual(r.status, 201, (name, r))
        for name in bad_ds:
            for path, tok in (("/v1/datasets", self.user), ("/v1/docker/worker", self.worker)):
                r = self.srv.request("POST", path, {"name": name}, tok)
                self.check(r, 400, (path, name))
                self.assertEqual(r.json["code"], "BAD_REQUEST")
                self.assertIn("name: 3 to 200 characters", r.json["error"])
        tag = {"bitMaskData": "0x0", "totSize": 0, "prevTagId": None}
        for name in ["run-1.a:b;c=d@e_f", "abc", "9 lives"]:
            r = self.srv.request("POST", "/v1/datasets/%s/tags" % self.ds, dict(tag, name=name), self.worker)
            self.assertEqual(r.status, 201, (name, r))
        for name in ["ab", ".abc", "a/bc", "a,bc", "a\nbc", "t" * 201]:
            r = self.srv.request("POST", "/v1/datasets/%s/tags" % self.ds, dict(tag, name=name), self.worker)
            self.check(r, 400, name)
            self.assertIn("name: 3 to 200 characters", r.json["error"])

    def test_wrong_types(self):
        cases = [
            ("POST", "/v1/datasets", {"name": 5}, self.user),
            ("POST", "/v1/datasets", ["name"], self.user),
            ("POST", "/v1/datasets", {"name": ""}, self.user),
            ("POST", "/v1/docker/worker", {"name": "worker-x", "labels": "gpu"}, self.worker),
            ("POST", "/v1/docker/worker", {"name": "worker-x", "labels": [1]}, self.worker),
            ("POST", "/v1/docker/worker", {"name": "worker-x", "workerType": "HALF"}, self.worker),
            ("PUT", "/v1/docker/worker/%s" % self.wid, {"state": 3}, self.worker),
            ("POST", "/v1/docker/worker/config", {"config": "coreset"}, self.user),
            ("POST", "/v1/docker/worker/config", {"config": {"docker": []}}, self.user),
            ("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds, {"configId": self.cfg, "priority": "URGENT"}, self.user),
            ("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds, {"configId": "nope"}, self.user),
            ("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds, {"configId": "0" * 24}, self.user),
            ("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds, {"configId": self.cfg, "runsOn": "gpu"}, self.user),
            ("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, {"fileName": "a.jpg"}, self.worker),
            ("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, [{"fileName": 1}], self.worker),
            ("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, [{"fileName": "a\nb.jpg"}], self.worker),
            ("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, [{"fileName": "x%d" % i} for i in range(10001)], self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "tag-t", "bitMaskData": 89, "totSize": 0}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "tag-t", "bitMaskData": "0x0", "totSize": 1.5}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "tag-t", "bitMaskData": "0x0", "totSize": 10 ** 30}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "tag-t", "bitMaskData": "0x0", "totSize": 0, "prevTagId": "zz"}, self.worker),
            ("PUT", "/v1/datasets/%s/datasource" % self.ds, {"type": "FTP", "fullPath": "/x"}, self.user),
            ("PUT", "/v1/datasets/%s/datasource" % self.ds, {"type": "LOCAL", "fullPath": None}, self.user),
            ("PUT", "/v1/datasets/%s/datasource" % self.ds, {"type": "S3", "fullPath": "s3://b"}, self.user),
            ("PUT", "/v1/winnow/datasets/%s/datapools/p" % self.ds, {"fileNames": [1, 2]}, self.worker),
            ("POST", "/v1/docker/runs", {"dockerVersion": 1, "datasetId": self.ds, "scheduledId": "0" * 24, "configId": self.cfg}, self.worker),
            ("POST", "/v1/docker/runs", {"dockerVersion": "v", "datasetId": "short", "scheduledId": "0" * 24, "configId": self.cfg}, self.worker),
            ("POST", "/login", {"token": 12}, None),
        ]
        for method, path, body, tok in cases:
            self.check(self.srv.request(method, path, body, tok), 400, (method, path, str(body)[:60]))

    def test_datasource(self):
        """Lightly's datasource types winnow does not support, a missing or unknown purpose,
        LOCAL paths that leave every root: 400 naming the field; an unknown dataset 404.
        The bodies are what lightly v1.5.20's set_*_config sends."""
        p = "/v1/datasets/%s/datasource" % self.ds
        thumb = ".lightly/thumbnails/[filename]_thumb.[extension]"
        unsupported = [
            {"type": "LIGHTLY", "fullPath": "x", "purpose": "INPUT"},
            {"type": "S3DelegatedAccess", "fullPath": "s3://b/p", "s3Region": "eu-central-1",
             "s3ExternalId": "external-id-1", "s3ARN": "arn:aws:iam::123456789012:role/r", "purpose": "INPUT"},
            {"type": "GCS", "fullPath": "gs://b/p", "gcsProjectId": "p", "gcsCredentials": "{}", "purpose": "INPUT"},
            {"type": "AZURE", "fullPath": "c/p", "accountName": "a", "accountKey": "k", "purpose": "INPUT"},
            {"type": "OBS", "fullPath": "obs://b/p", "obsEndpoint": "https://obs.x", "obsAccessKeyId": "a",
             "obsSecretAccessKey": "s", "purpose": "INPUT"},
        ]
        for body in unsupported:
            body["thumbSuffix"] = thumb
            for path in (p, "/v1/winnow/datasets/%s/datasource" % self.ds):
                r = self.srv.request("PUT", path, body, self.user)
                self.check(r, 400, body["type"])
                self.assertTrue(r.json["error"].startswith("type:"), r.json)
                self.assertIn(body["type"], r.json["error"])
        local = {"type": "LOCAL", "fullPath": "imgs", "thumbSuffix": thumb, "webServerLocation": "http://localhost:3456"}
        bad = [
            (local, "purpose"),                                     # missing
            (dict(local, purpose="OUTPUT"), "purpose"),
            (dict(local, purpose="INPUT", fullPath="../outside"), "fullPath"),
            (dict(local, purpose="INPUT", fullPath="imgs/../../outside"), "fullPath"),
            (dict(local, purpose="INPUT", fullPath="link-out"), "fullPath"),
            (dict(local, purpose="INPUT", fullPath=self.outside), "fullPath"),
            (dict(local, purpose="INPUT", fullPath=os.path.join(self.root, "link-out")), "fullPath"),
            (dict(local, purpose="INPUT", fullPath="missing"), "fullPath"),
            (dict(local, purpose="INPUT", webServerLocation="ftp://x"), "webServerLocation"),
            ({"type": "S3", "purpose": "INPUT", "fullPath": "s3://b/p", "s3Region": "eu-central-1",
              "s3AccessKeyId": "a"}, "s3SecretAccessKey"),
            ({"type": "S3", "purpose": "INPUT", "fullPath": "s3://b/p", "s3Region": "mars-1",
              "s3AccessKeyId": "a", "s3SecretAccessKey": "s"}, "s3Region"),
            ({"type": "S3", "purpose": "INPUT", "fullPath": "/not/a/bucket", "s3Region": "eu-central-1",
              "s3AccessKeyId": "a", "s3SecretAccessKey": "s"}, "fullPath"),
        ]
        for body, field in bad:
            r = self.srv.request("PUT", p, body, self.user)
            self.check(r, 400, (body, field))
            self.assertTrue(r.json["error"].startswith(field), (field, r.json))
        self.assertEqual(self.srv.request("GET", p, token=self.user).status, 404)   # nothing was stored
        r = self.srv.request("PUT", "/v1/winnow/datasets/%s/datasource" % self.ds,
                             dict(local, purpose="INPUT", s3Endpoint="http://127.0.0.1:9"), self.user)
        self.check(r, 400, "an endpoint on LOCAL")
        self.assertIn("s3Endpoint", r.json["error"])
        for path in ("/v1/datasets/%s/datasource", "/v1/datasets/%s/datasource/all",
                     "/v1/winnow/datasets/%s/datasource"):
            self.check(self.srv.request("GET", path % ("0" * 24), token=self.user), 404, path)
        self.check(self.srv.request("PUT", p.replace(self.ds, "0" * 24), dict(local, purpose="INPUT"), self.user),
                   404, "unknown dataset")
        # and the good one is taken
        self.assertEqual(self.srv.request("PUT", p, dict(local, purpose="INPUT"), self.user).status, 200)

    def test_paging_and_export(self):
        """Lightly's pageSize/pageOffset: integers, pageSize >= 1, pageOffset >= 0,
        named in the 400; the export of an unknown tag, or another dataset's, 404."""
        r = self.srv.request("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, [{"fileName": "p%d.jpg" % i} for i in range(3)],
                             self.worker)
        self.assertEqual(r.status, 200, r)
        tag = self.srv.ok("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "pg-tag", "bitMaskData": "0x5", "totSize": 3,
                                                                      "prevTagId": None}, self.worker)["id"]
        other = self.srv.ok("POST", "/v1/datasets", {"name": "d-other"}, self.user, 201)["id"]
        export = "/v1/datasets/%s/tags/%s/export/basic/filenames" % (self.ds, tag)
        mappings = "/v1/datasets/%s/mappings?field=fileName" % self.ds
        for path in (export + "?", mappings + "&"):
            for q, name in (("pageSize=0", "pageSize"), ("pageSize=-1", "pageSize"), ("pageSize=abc", "pageSize"),
                            ("pageSize=", "pageSize"), ("pageSize=5&pageOffset=-1", "pageOffset"),
                            ("pageOffset=1e3", "pageOffset"), ("pageSize=99999999999999999999999", "pageSize")):
                r = self.srv.request("GET", path + q, token=self.user)
                self.check(r, 400, (path, q))
                self.assertIn(name, r.json["error"], (path, q))
        # the pages themselves (a text page past the end is empty, not an error)
        for q, want in (("", "p0.jpg\np2.jpg"), ("?pageSize=1", "p0.jpg"), ("?pageSize=1&pageOffset=1", "p2.jpg"),
                        ("?pageSize=5&pageOffset=2", "")):
            r = self.srv.request("GET", export + q, token=self.user)
            self.assertEqual((r.status, r.body.decode()), (200, want), q)
            self.assertTrue(r.header("Content-Type").startswith("text/plain"), q)
        r = self.srv.request("GET", mappings + "&pageSize=1&pageOffset=1", token=self.worker)
        self.assertEqual((r.status, r.json), (200, ["p1.jpg"]))
        for path in ("/v1/datasets/%s/tags/%s/export/basic/filenames" % (other, tag),
                     "/v1/datasets/%s/tags/%s/export/basic/filenames" % (self.ds, "0" * 24),
                     "/v1/datasets/%s/tags/%s/export/basic/filenames" % ("0" * 24, tag)):
            self.check(self.srv.request("GET", path, token=self.user), 404, path)

    def test_oversized_body(self):
        big = b"[" + b"1," * (17 * 1024 * 1024 // 2) + b"1]"
        self.assertGreater(len(big), 16 * 1024 * 1024)
        for method, path, tok in (("POST", "/v1/winnow/datasets/%s/samples/batch" % self.ds, self.worker),
                                  ("POST", "/v1/datasets", self.user),
                                  ("PUT", "/v1/winnow/artifacts/%s/content" % ("0" * 24), None),
                                  ("POST", "/login", None)):
            self.check(self.srv.request(method, path, raw=big, token=tok), 413, path)
        # exactly at the limit is read (and then judged on its content): 16 MiB on a data
        # route, 1 MiB on the others (SPEC 8), one byte more is 413
        batch = "/v1/winnow/datasets/%s/samples/batch" % self.ds
        at = b" " * (16 * 1024 * 1024 - 2) + b"{}"
        self.check(self.srv.request("POST", batch, raw=at, token=self.worker), 400, "16 MiB")
        at = b" " * (1024 * 1024 - 2) + b"{}"
        self.check(self.srv.request("POST", "/v1/datasets", raw=at, token=self.user), 400, "1 MiB")
        self.check(self.srv.request("POST", "/v1/datasets", raw=b" " + at, token=self.user), 413, "1 MiB + 1")

    def test_unknown_routes(self):
        for path in ("/v1/nope", "/v1/datasets/%s/nope" % self.ds, "/v1/", "/v1/datasets/", "/v1//datasets",
                     "/v1/winnow/runs/%s/results/extra" % ("0" * 24), "/nope.html", "/v2/datasets"):
            self.check(self.srv.request("GET", path, token=self.user), 404, path)

    def test_wrong_methods(self):
        for method, path in (("DELETE", "/v1/datasets"), ("PATCH", "/v1/datasets/%s" % self.ds),
                             ("PUT", "/v1/docker/runs"), ("POST", "/v1/winnow/me"), ("GET", "/v1/winnow/artifacts/%s/content" % ("0" * 24)),
                             ("DELETE", "/index.html"), ("GET", "/logout")):
            r = self.srv.request(method, path, token=self.user)
            self.check(r, 405, (method, path))
            self.assertTrue(r.header("Allow"), (method, path))

    def test_bad_ids(self):
        for path in ("/v1/datasets/xyz", "/v1/datasets/%s" % ("0" * 23), "/v1/datasets/%s" % ("0" * 25),
                     "/v1/datasets/%s" % ("A" * 24), "/v1/docker/runs/%s" % ("g" * 24), "/v1/docker/worker/config/..",
                     "/v1/datasets/%s/tags/notatag" % self.ds):
            r = self.srv.request("GET", path, token=self.user)
            self.check(r, 400, path)     # docs/api.md: a malformed id in the path is 400 MALFORMED_REQUEST
            self.assertEqual(r.json["code"], "MALFORMED_REQUEST", path)
        for path in ("/v1/datasets/%s" % ("0" * 24), "/v1/docker/runs/%s" % ("0" * 24), "/v1/docker/worker/config/%s" % ("0" * 24)):
            self.check(self.srv.request("GET", path, token=self.user), 404, path)
        self.check(self.srv.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.wid, "0" * 24),
                                    {"state": "LOCKED"}, self.worker), 404, "claim of an unknown scheduled run")
        self.check(self.srv.request("GET", "/v1/winnow/datasets/%s/samples/thumbnail" % self.ds, token=self.user), 400, "no fileName")

    def test_static_files(self):
        r = self.srv.request("GET", "/")
        self.assertEqual((r.status, r.body), (200, b"<!doctype html><title>winnow</title>"))
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        for path in ("/../private.txt", "/%2e%2e/private.txt", "/.hidden", "/a/../../private.txt", "/index.html/.."):
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
            c.putrequest("GET", path, skip_accept_encoding=True)
            c.endheaders()
            resp = c.getresponse()
            body = resp.read()
            c.close()
            self.assertIn(resp.status, (400, 404), path)
            self.assertNotIn(b"secret", body, path)
        link = os.path.join(self.static, "out.txt")
        os.symlink(os.path.join(self.srv.dir, "private.txt"), link)
        self.check(self.srv.request("GET", "/out.txt"), 404, "a link out of the static folder")

    def test_garbage_on_the_socket(self):
        for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET " + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
            try:
                s.sendall(junk)
                s.recv(1000)
            except OSError:
                pass
            s.close()
            self.assertTrue(self.srv.alive())
        self.assertEqual(self.srv.request("GET", "/v1/winnow/me", token=self.user).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
