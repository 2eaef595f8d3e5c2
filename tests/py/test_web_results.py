"""The results route (GET /v1/winnow/runs/{runId}/results) on a real run of the
daemon, checked against local mode on the same folder: the candidates
without predictions (the run file NO_PREDICTIONS, winnowd's
filenames/no_predictions_filenames.txt) marked "predictions": false and
filtered by predictions=none|some, and the score filter score=TYPE&min&max
(a histogram bin, the half-open interval [min, max)) answering exactly the
candidates of local mode's scores.csv in that interval. Hostile queries 400.
And POST /v1/winnow/datasets/{datasetId}/tags (the results page's lasso): a tag
of the named files, listed by Lightly's GET /v1/datasets/{id}/tags as exactly
TagData; SPEC 7's name pattern, the 10,000-tags cap, another user's dataset 404.
"""
import csv
import os
import sqlite3
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
from test_daemon import CORAL, DaemonFixture, dataset  # noqa: E402


class ResultsTest(DaemonFixture):
    def results(self, rid, query):
        """Every item of the route for query, page by page."""
        items, off = [], 0
        while True:
            page = self.ok("GET", "/v1/winnow/runs/%s/results?limit=1000&offset=%d&%s" % (rid, off, query))
            items += page["items"]
            off += 1000
            if off >= page["total"]:
                self.assertEqual(len(items), page["total"])
                return page, items

    def test_no_predictions_and_score_filter_match_local_mode(self):
        path = dataset(self.root, n=60)
        ds = self.make_dataset(path)
        self.daemon().start()
        sched = self.schedule(ds, CORAL)
        run = self.wait_run(sched)
        self.assertEqual(run["state"], "COMPLETED", run)
        self.wait_sched_done(ds, sched)
        rid = run["id"]
        out = self.local_select(CORAL, path)
        nopred = wt.read_lines(os.path.join(out, "filenames", "no_predictions_filenames.txt"))
        self.assertGreater(len(nopred), 0, "the dataset has candidates without predictions")
        with open(os.path.join(out, "data", "scores.csv")) as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]

        # the run file, uploaded by the daemon, equal to local mode's
        files = {f["fileName"]: f for f in self.ok("GET", "/v1/winnow/runs/%s/files" % rid)}
        self.assertEqual(files["no_predictions_filenames.txt"]["type"], "NO_PREDICTIONS")

        page, items = self.results(rid, "selected=all&sort=index")
        self.assertTrue(page["predictionsKnown"])
        self.assertEqual(page["noPredictionsCount"], len(nopred))
        self.assertEqual(sorted(i["fileName"] for i in items if i["predictions"] is False), sorted(nopred))
        self.assertEqual(len(items), len(rows))
        _, none = self.results(rid, "selected=all&predictions=none")
        self.assertEqual(sorted(i["fileName"] for i in none), sorted(nopred))
        _, some = self.results(rid, "selected=all&predictions=some")
        self.assertEqual(sorted(i["fileName"] for i in some), sorted(r[0] for r in rows if r[0] not in set(nopred)))
        self.assertTrue(all(i["predictions"] for i in some))
        # ranks in the score lists' order (the candidates' order: scores.csv's here)
        page = self.ok("GET", "/v1/winnow/runs/%s/results?limit=1&noPredictionRanks=1" % rid)
        self.assertEqual([rows[k][0] for k in page["noPredictionRanks"]], [r[0] for r in rows if r[0] in set(nopred)])
        # with the selected filter: the intersection
        _, selnone = self.results(rid, "selected=1&predictions=none")
        self.assertTrue(all(i["selected"] and not i["predictions"] for i in selnone))

        # the score filter: [min, max), each bound optional, against scores.csv
        col = header.index("uncertainty_margin") if "uncertainty_margin" in header else 1
        st = header[col]
        vals = sorted(float(r[col]) for r in rows)
        mid = vals[len(vals) // 2]
        for lo, hi in ((None, mid), (mid, None), (0.0, 0.5), (mid, mid), (vals[0], vals[-1])):
            q = "selected=all&score=%s" % urllib.parse.quote(st, safe="")
            if lo is not None:
                q += "&min=%r" % lo
            if hi is not None:
                q += "&max=%r" % hi
            want = sorted(r[0] for r in rows if (lo is None or float(r[col]) >= lo) and (hi is None or float(r[col]) < hi))
            page, got = self.results(rid, q)
            self.assertEqual(sorted(i["fileName"] for i in got), want, q)
            self.assertEqual(page["total"], len(want), q)
        # the filters combine: a bin of the samples with predictions
        q = "selected=all&predictions=some&score=%s&min=0" % urllib.parse.quote(st, safe="")
        _, got = self.results(rid, q)
        self.assertEqual(sorted(i["fileName"] for i in got), sorted(r[0] for r in rows if r[0] not in set(nopred)))

        # hostile queries
        for bad in ("predictions=maybe", "score=nope&min=0", "min=0", "score=%s&min=x" % st, "score=%s&max=nan" % st,
                    "score=%s&max=inf" % st, "score=%s&min=1e999" % st):
            r = self.web.request("GET", "/v1/winnow/runs/%s/results?%s" % (rid, bad), token=self.utok)
            self.assertEqual(r.status, 400, bad)



class HostileNoPredictionsTest(unittest.TestCase):
    """A NO_PREDICTIONS run file is a worker's upload: names that are not candidates, CRLF,
    blank and over-long lines, bytes that are not UTF-8 never break the route; the newest
    upload is the one read."""
    NAMES = ["a.jpg", "b,c.jpg", "d.jpg", "e.jpg", "f.jpg"]

    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        cls.user = cls.srv.token("alice", "user")
        cls.srv.start()
        u = lambda m, p, b=None, st=200: cls.srv.ok(m, p, b, cls.user, st)  # noqa: E731
        cls.ds = u("POST", "/v1/datasets", {"name": "nopred"}, 201)["id"]
        tok, wid, sid, rid = cls.srv.hold(cls.user, cls.ds, "np-worker")
        cls.tok, cls.rid = tok, rid
        w = lambda m, p, b=None, st=200: cls.srv.ok(m, p, b, tok, st)  # noqa: E731
        w("POST", "/v1/winnow/datasets/%s/samples/batch" % cls.ds, [{"fileName": x} for x in cls.NAMES])
        cid = w("POST", "/v1/datasets/%s/tags" % cls.ds, {"name": "run-np-candidates", "prevTagId": None,
                                                          "bitMaskData": "0x17", "totSize": 5, "creator": "USER_WORKER",
                                                          "runId": rid}, 201)["id"]    # e.jpg (index 3) not a candidate
        w("POST", "/v1/datasets/%s/tags/%s/scores" % (cls.ds, cid), {"scoreType": "uncertainty_margin", "scores": [0.5, 0, 0.25, 0]}, 201)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def upload(self, data):
        a = self.srv.ok("POST", "/v1/winnow/runs/%s/files" % self.rid, {"fileName": "no_predictions_filenames.txt",
                                                                    "type": "NO_PREDICTIONS"}, self.tok, 201)
        url = urllib.parse.urlsplit(a["signedWriteUrl"])
        self.assertEqual(self.srv.request("PUT", url.path + "?" + url.query, raw=data).status, 200)

    def marks(self, query=""):
        page = self.srv.ok("GET", "/v1/winnow/runs/%s/results?selected=all&sort=index&%s" % (self.rid, query), token=self.user)
        return page, {i["fileName"]: i.get("predictions") for i in page["items"]}

    def test_hostile_file(self):
        page, m = self.marks()
        self.assertFalse(page["predictionsKnown"])
        self.assertEqual(set(m.values()), {None}, "no file: no predictions key")
        self.assertEqual(self.marks("predictions=none")[0]["total"], 0)
        self.upload(b"b,c.jpg\r\n\r\ne.jpg\nnot-a-file.jpg\n" + b"x" * 70000 + b"\n\xff\xfe\x00junk\nf.jpg")
        page, m = self.marks()
        self.assertTrue(page["predictionsKnown"])
        self.assertEqual(m, {"a.jpg": True, "b,c.jpg": False, "d.jpg": True, "f.jpg": False})
        self.assertEqual(page["noPredictionsCount"], 2)
        self.assertEqual([i["fileName"] for i in self.marks("predictions=none")[0]["items"]], ["b,c.jpg", "f.jpg"])
        self.assertEqual(self.marks("noPredictionRanks=1")[0]["noPredictionRanks"], [1, 3])
        # the newest upload wins; an empty file: every candidate has predictions
        self.upload(b"")
        page, m = self.marks()
        self.assertEqual((page["predictionsKnown"], page["noPredictionsCount"]), (True, 0))
        self.assertTrue(all(m.values()))


class LassoTagTest(unittest.TestCase):
    NAMES = ["a/%03d.jpg" % i for i in range(70)]

    @classmethod
    def setUpClass(cls):
        cls.srv = webtest.Server()
        cls.user = cls.srv.token("alice", "user")
        cls.other = cls.srv.token("bob", "user")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def dataset(self, name):
        ds = self.srv.ok("POST", "/v1/datasets", {"name": name}, self.user, 201)["id"]
        tok = self.srv.hold(self.user, ds, "w-" + name)[0]
        self.srv.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": x} for x in self.NAMES], tok, 200)
        return ds

    def post(self, ds, body, token=None):
        return self.srv.request("POST", "/v1/winnow/datasets/%s/tags" % ds, body, token or self.user)

    def test_lasso_tag(self):
        ds = self.dataset("lasso-ds")
        pick = [self.NAMES[i] for i in (0, 3, 64, 69)]
        r = self.post(ds, {"name": "lasso 1: cats@home", "prevTagId": None, "fileNames": pick})
        self.assertEqual(r.status, 201, r.json)
        tid = r.json["id"]
        self.assertEqual(r.json["count"], 4)
        tags = self.srv.ok("GET", "/v1/datasets/%s/tags" % ds, token=self.user)
        t = [x for x in tags if x["id"] == tid][0]
        self.assertEqual(conformance.check("TagData", t), [])
        self.assertEqual(t["name"], "lasso 1: cats@home")
        self.assertEqual(int(t["bitMaskData"], 16), sum(1 << i for i in (0, 3, 64, 69)))
        self.assertEqual(t["totSize"], len(self.NAMES))
        names = self.srv.ok("GET", "/v1/datasets/%s/mappings?field=fileName" % ds, token=self.user)
        bits = int(t["bitMaskData"], 16)
        self.assertEqual([n for i, n in enumerate(names) if bits >> i & 1], pick)
        # a previous tag of the dataset; the same name again is a conflict
        r = self.post(ds, {"name": "lasso-2", "prevTagId": tid, "fileNames": pick[:1]})
        self.assertEqual(r.status, 201, r.json)
        r = self.post(ds, {"name": "lasso-2", "prevTagId": tid, "fileNames": pick[:1]})
        self.assertEqual((r.status, r.json["code"]), (409, "CONFLICT"))
        # hostile bodies
        for body in ({"name": "ab", "fileNames": pick}, {"name": "-bad", "fileNames": pick},
                     {"name": "a/b/c", "fileNames": pick}, {"name": "okay", "fileNames": []},
                     {"name": "okay", "fileNames": ["nope.jpg"]}, {"name": "okay", "fileNames": [pick[0], pick[0]]},
                     {"name": "okay", "fileNames": [1]}, {"name": "okay", "fileNames": "a/000.jpg"},
                     {"name": "okay", "prevTagId": "f" * 24, "fileNames": pick}, {"fileNames": pick}):
            r = self.post(ds, body)
            self.assertEqual(r.status, 400, body)
        # another user's dataset answers as if absent
        r = self.post(ds, {"name": "theirs", "fileNames": pick}, self.other)
        self.assertEqual(r.status, 404)
        self.assertNotIn("okay", [x["name"] for x in self.srv.ok("GET", "/v1/datasets/%s/tags" % ds, token=self.user)])

    def test_cap(self):
        ds = self.dataset("lasso-cap")
        con = sqlite3.connect(self.srv.db)
        con.executemany("INSERT INTO tags (id, dataset_id, name, bit_mask_data, tot_size, creator, created_at) "
                        "VALUES (?, ?, ?, '0x0', 0, 'USER_WORKER', 0)",
                        [("%024x" % (i + 1), ds, "t%05d" % i) for i in range(9999)])
        con.commit()
        con.close()
        self.assertEqual(self.post(ds, {"name": "last-one", "fileNames": self.NAMES[:2]}).status, 201)
        r = self.post(ds, {"name": "one-more", "fileNames": self.NAMES[:2]})
        self.assertEqual((r.status, r.json["code"]), (409, "DATASET_AT_MAX_CAPACITY"))


if __name__ == "__main__":
    unittest.main()
