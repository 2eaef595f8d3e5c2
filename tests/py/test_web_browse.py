"""A dataset's files before any run: GET /v1/winnow/datasets/{datasetId}/files
(web/routes_browse.c, docs/api.md).

The expected listing is computed here from the folder with SPEC 3's rules
(image extensions in any case, names starting with a dot skipped at any
depth, links to folders not followed, a link to a file only when it stays in
the root, names with TAB, CR, LF or a comma excluded), sorted bytewise, and
compared with the pages the route answers; the same folder on the tests' S3
server (tests/tools/s3server.js) answers the same names. Hostile paging and
prefixes answer 400, another user's dataset 404, and a listing past the cap
says it is truncated.
"""
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def expected(root):
    """SPEC 3's listing of a LOCAL folder, written independently of lib/ds_local.c."""
    out = []
    real_root = os.path.realpath(root)

    def walk(rel):
        for name in os.listdir(os.path.join(root, rel) if rel else root):
            if name.startswith("."):
                continue
            p = os.path.join(rel, name) if rel else name
            full = os.path.join(root, p)
            if os.path.islink(full):
                if os.path.isdir(full):
                    continue
                target = os.path.realpath(full)
                if not target.startswith(real_root + os.sep):
                    continue
            elif os.path.isdir(full):
                walk(p)
                continue
            if not name.lower().endswith(IMAGE_EXT):
                continue
            if any(c in p for c in "\t\r\n,"):
                continue
            out.append(p)
    walk("")
    return sorted(out, key=lambda s: s.encode())


def make_folder(root):
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(os.path.join(root, ".lightly", "predictions"))
    os.makedirs(os.path.join(root, ".hidden"))
    names = ["a.jpg", "B.PNG", "c.jpeg", "d.webp", "e.bmp", "f.txt", "Z.jpg", "sub/x.jpg",
             "sub/y.png", "sub/deeper/z.jpg", "sub/deeper/readme.md", ".lightly/predictions/p.jpg",
             ".hidden/h.jpg", "._apple.jpg", "with,comma.jpg", "sub/ä-umlaut.jpg"]
    for i in range(25):
        names.append("many/img_%03d.jpg" % i)
    os.makedirs(os.path.join(root, "many"))
    for n in names:
        with open(os.path.join(root, n), "wb") as f:
            f.write(b"\xff\xd8 not decoded by the listing " + n.encode())
    outside = os.path.join(os.path.dirname(root), "outside.jpg")
    with open(outside, "wb") as f:
        f.write(b"\xff\xd8 outside")
    os.symlink(outside, os.path.join(root, "escape.jpg"))               # out of the root: not listed
    os.symlink(os.path.join(root, "a.jpg"), os.path.join(root, "inner-link.jpg"))   # inside: listed
    os.symlink(os.path.join(root, "sub"), os.path.join(root, "folder-link"))        # folder: not followed


class BrowseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("browse")
        cls.root = os.path.join(cls.dir, "datasets")
        cls.folder = os.path.join(cls.root, "imgs")
        os.makedirs(cls.folder)
        make_folder(cls.folder)
        cls.want = expected(cls.folder)
        cls.web = webtest.Server(workdir=cls.dir, roots=[cls.root],
                                 extra=[]).start()
        cls.alice = cls.web.token("alice", "user")
        cls.bob = cls.web.token("bob", "user")
        cls.ds = cls.web.ok("POST", "/v1/datasets", {"name": "browse-me"}, cls.alice)["id"]
        cls.web.ok("PUT", "/v1/datasets/%s/datasource" % cls.ds,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": cls.folder}, cls.alice)

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()

    def files(self, query="", token=None, ds=None):
        return self.web.request("GET", "/v1/winnow/datasets/%s/files%s" % (ds or self.ds, query),
                                token=token or self.alice)

    def all_pages(self, limit, ds=None, prefix=""):
        got, off = [], 0
        while True:
            q = "?offset=%d&limit=%d" % (off, limit)
            if prefix:
                q += "&prefix=" + urllib.parse.quote(prefix)
            r = self.files(q, ds=ds)
            self.assertEqual(r.status, 200, r)
            j = r.json
            self.assertLessEqual(len(j["fileNames"]), limit)
            got += j["fileNames"]
            off += limit
            if off >= j["total"]:
                return got, j

    def test_listing_is_specs_sorted_and_paged(self):
        self.assertIn("inner-link.jpg", self.want)
        self.assertNotIn("escape.jpg", self.want)
        got, j = self.all_pages(7)
        self.assertEqual(got, self.want)
        self.assertEqual(j["total"], len(self.want))
        self.assertFalse(j["truncated"])
        self.assertEqual(j["excluded"], 2)      # with,comma.jpg and the link out of the root
        self.assertNotIn("escape.jpg", got)
        self.assertFalse(any(n.startswith(".") or "/." in n for n in got))
        # one page equals a slice
        r = self.files("?offset=3&limit=4").json
        self.assertEqual(r["fileNames"], self.want[3:7])
        self.assertEqual((r["offset"], r["limit"]), (3, 4))
        # past the end: empty, total still said
        r = self.files("?offset=1000&limit=5").json
        self.assertEqual(r["fileNames"], [])
        self.assertEqual(r["total"], len(self.want))

    def test_prefix_filters_to_a_folder(self):
        got, j = self.all_pages(10, prefix="sub/")
        self.assertEqual(got, [n for n in self.want if n.startswith("sub/")])
        self.assertEqual(j["total"], len(got))
        self.assertEqual(self.files("?prefix=nothing-here/").json["total"], 0)
        got, _ = self.all_pages(10, prefix="sub/ä")
        self.assertEqual(got, ["sub/ä-umlaut.jpg"])

    def test_hostile_queries_answer_400(self):
        for q in ("?offset=-1", "?offset=abc", "?offset=1e3", "?offset=", "?offset=99999999999999999999",
                  "?limit=0", "?limit=-5", "?limit=1001", "?limit=x", "?limit=1.5",
                  "?prefix=/etc", "?prefix=../", "?prefix=sub/../..", "?prefix=./sub",
                  "?prefix=%01", "?prefix=%ff%fe", "?prefix=" + "a" * 1100, "?refresh=yes"):
            r = self.files(q)
            self.assertEqual(r.status, 400, q)
            self.assertEqual(r.json["code"], "BAD_REQUEST", q)

    def test_another_users_dataset_is_404(self):
        r = self.files("", token=self.bob)
        self.assertEqual(r.status, 404, r)
        r = self.files("", ds="0123456789abcdef01234567")
        self.assertEqual(r.status, 404, r)
        r = self.files("", token="not-a-token")
        self.assertEqual(r.status, 401, r)

    def test_no_datasource_yet_is_404(self):
        ds = self.web.ok("POST", "/v1/datasets", {"name": "empty-one"}, self.alice)["id"]
        r = self.files("", ds=ds)
        self.assertEqual(r.status, 404, r)

    def test_new_files_show_after_refresh(self):
        ds = self.web.ok("POST", "/v1/datasets", {"name": "growing"}, self.alice)["id"]
        folder = os.path.join(self.root, "growing")
        os.makedirs(folder)
        with open(os.path.join(folder, "one.jpg"), "wb") as f:
            f.write(b"x")
        self.web.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                    {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": folder}, self.alice)
        self.assertEqual(self.files("", ds=ds).json["total"], 1)
        with open(os.path.join(folder, "two.jpg"), "wb") as f:
            f.write(b"x")
        self.assertEqual(self.files("", ds=ds).json["total"], 1)        # the cached listing
        self.assertEqual(self.files("?refresh=1", ds=ds).json["total"], 2)


class BrowseCapTest(unittest.TestCase):
    """Past the cap (WINNOW_WEB_BROWSE_CAP, the tests' way to make it small) the reply says so."""

    def test_truncated_listing_says_so(self):
        d = wt.tmpdir("browsecap")
        root = os.path.join(d, "datasets")
        folder = os.path.join(root, "big")
        os.makedirs(folder)
        for i in range(30):
            with open(os.path.join(folder, "f%02d.jpg" % i), "wb") as f:
                f.write(b"x")
        web = webtest.Server(workdir=d, roots=[root])
        old = os.environ.get("WINNOW_WEB_BROWSE_CAP")
        os.environ["WINNOW_WEB_BROWSE_CAP"] = "10"
        try:
            web.start()
        finally:
            if old is None:
                del os.environ["WINNOW_WEB_BROWSE_CAP"]
            else:
                os.environ["WINNOW_WEB_BROWSE_CAP"] = old
        try:
            tok = web.token("carol", "user")
            ds = web.ok("POST", "/v1/datasets", {"name": "big-one"}, tok)["id"]
            web.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": folder}, tok)
            j = web.ok("GET", "/v1/winnow/datasets/%s/files?limit=100" % ds, token=tok)
            self.assertTrue(j["truncated"])
            self.assertEqual(j["cap"], 10)
            self.assertEqual(j["total"], 10)
            self.assertEqual(len(j["fileNames"]), 10)
            self.assertEqual(j["fileNames"], sorted(j["fileNames"]))
            self.assertTrue(set(j["fileNames"]) <= {"f%02d.jpg" % i for i in range(30)})
        finally:
            web.stop()


class BrowseS3Test(unittest.TestCase):
    """The same folder on the tests' S3 server lists the same names (links aside: S3 has none)."""

    def test_s3_equals_local(self):
        try:
            import s3util
        except ImportError as e:     # pragma: no cover
            self.skipTest("tests/py/s3util.py: %s" % e)
        d = wt.tmpdir("browses3")
        root = os.path.join(d, "datasets")
        folder = os.path.join(root, "imgs")
        os.makedirs(folder)
        make_folder(folder)
        # S3 has no links: the same folder without them, on both sides
        for n in ("escape.jpg", "inner-link.jpg", "folder-link"):
            os.remove(os.path.join(folder, n))
        s3 = s3util.S3Server(d, ["data"])
        web = webtest.Server(workdir=d, roots=[root]).start()
        try:
            s3.upload_dir("data", "imgs/", folder)
            tok = web.token("dave", "user")
            local = web.ok("POST", "/v1/datasets", {"name": "local-one"}, tok)["id"]
            web.ok("PUT", "/v1/datasets/%s/datasource" % local,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": folder}, tok)
            remote = web.ok("POST", "/v1/datasets", {"name": "s3-one"}, tok)["id"]
            web.ok("PUT", "/v1/winnow/datasets/%s/datasource" % remote,
                   {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://data/imgs",
                    "s3Endpoint": s3.endpoint, "s3Region": "us-east-1",
                    "s3AccessKeyId": s3util.KEY_ID, "s3SecretAccessKey": s3util.SECRET}, tok)
            a = web.ok("GET", "/v1/winnow/datasets/%s/files?limit=1000" % local, token=tok)
            b = web.ok("GET", "/v1/winnow/datasets/%s/files?limit=1000" % remote, token=tok)
            self.assertEqual(a["fileNames"], expected(folder))
            self.assertEqual(b["fileNames"], a["fileNames"])
            self.assertEqual(b["total"], a["total"])
            p = web.ok("GET", "/v1/winnow/datasets/%s/files?prefix=sub/&limit=2&offset=1" % remote, token=tok)
            self.assertEqual(p["fileNames"], [n for n in a["fileNames"] if n.startswith("sub/")][1:3])
        finally:
            web.stop()
            s3.stop()


if __name__ == "__main__":
    unittest.main()
