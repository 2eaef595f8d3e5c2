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
        cls.user = cls.srv.token("alice", "user")
        cls.worker = cls.srv.token("w1", "worker")
        cls.srv.start()
        cls.ds = cls.srv.ok("POST", "/v1/datasets", {"name": "d"}, cls.user, 201)["id"]
        cls.cfg = cls.srv.ok("POST", "/v1/docker/worker/config", {"config": {"docker": PRESET}}, cls.user, 201)["id"]
        cls.wid = cls.srv.ok("POST", "/v1/docker/worker", {"name": "w", "labels": []}, cls.worker, 201)["id"]

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
                                      ("PUT", "/v1/docker/runs/%s/logs" % ("0" * 24), self.worker)):
                self.check(self.srv.request(method, path, raw=raw, token=tok), 400, (raw[:20], path))

    def test_wrong_types(self):
        cases = [
            ("POST", "/v1/datasets", {"name": 5}, self.user),
            ("POST", "/v1/datasets", ["name"], self.user),
            ("POST", "/v1/datasets", {"name": ""}, self.user),
            ("POST", "/v1/docker/worker", {"name": "x", "labels": "gpu"}, self.worker),
            ("POST", "/v1/docker/worker", {"name": "x", "labels": [1]}, self.worker),
            ("POST", "/v1/docker/worker", {"name": "x", "workerType": "HALF"}, self.worker),
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
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "t", "bitMaskData": 89, "totSize": 0}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "t", "bitMaskData": "0x0", "totSize": 1.5}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "t", "bitMaskData": "0x0", "totSize": 10 ** 30}, self.worker),
            ("POST", "/v1/datasets/%s/tags" % self.ds, {"name": "t", "bitMaskData": "0x0", "totSize": 0, "prevTagId": "zz"}, self.worker),
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
                                  ("PUT", "/v1/artifacts/%s/content" % ("0" * 24), None),
                                  ("POST", "/login", None)):
            self.check(self.srv.request(method, path, raw=big, token=tok), 413, path)
        # exactly at the limit is read (and then judged on its content)
        at = b" " * (16 * 1024 * 1024 - 2) + b"{}"
        self.check(self.srv.request("POST", "/v1/datasets", raw=at, token=self.user), 400, "16 MiB")

    def test_unknown_routes(self):
        for path in ("/v1/nope", "/v1/datasets/%s/nope" % self.ds, "/v1/", "/v1/datasets/", "/v1//datasets",
                     "/v1/docker/runs/%s/results/extra" % ("0" * 24), "/nope.html", "/v2/datasets"):
            self.check(self.srv.request("GET", path, token=self.user), 404, path)

    def test_wrong_methods(self):
        for method, path in (("DELETE", "/v1/datasets"), ("PATCH", "/v1/datasets/%s" % self.ds),
                             ("PUT", "/v1/docker/runs"), ("POST", "/v1/me"), ("GET", "/v1/artifacts/%s/content" % ("0" * 24)),
                             ("DELETE", "/index.html"), ("GET", "/logout")):
            r = self.srv.request(method, path, token=self.user)
            self.check(r, 405, (method, path))
            self.assertTrue(r.header("Allow"), (method, path))

    def test_bad_ids(self):
        for path in ("/v1/datasets/xyz", "/v1/datasets/%s" % ("0" * 23), "/v1/datasets/%s" % ("0" * 25),
                     "/v1/datasets/%s" % ("A" * 24), "/v1/docker/runs/%s" % ("g" * 24), "/v1/docker/worker/config/..",
                     "/v1/datasets/%s/tags/notatag" % self.ds):
            r = self.srv.request("GET", path, token=self.user)
            self.check(r, 400, path)     # docs/api.md: a malformed id in the path is 400 BAD_ID
            self.assertEqual(r.json["code"], "BAD_ID", path)
        for path in ("/v1/datasets/%s" % ("0" * 24), "/v1/docker/runs/%s" % ("0" * 24), "/v1/docker/worker/config/%s" % ("0" * 24)):
            self.check(self.srv.request("GET", path, token=self.user), 404, path)
        self.check(self.srv.request("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (self.ds, self.wid, "0" * 24),
                                    {"state": "LOCKED"}, self.worker), 404, "claim of an unknown scheduled run")
        self.check(self.srv.request("GET", "/v1/datasets/%s/samples/thumbnail" % self.ds, token=self.user), 400, "no fileName")

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
        self.assertEqual(self.srv.request("GET", "/v1/me", token=self.user).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
