"""The sample view's routes and export for labelling (issue 16), against the
real winnow-web on 127.0.0.1, a generated dataset and a real run by winnowd.

- .../samples/image: the file's bytes as stored, typed by its magic bytes, with
  an ETag (304 on If-None-Match); a BMP converted to PNG; hostile names 400,
  absent 404, a link out of the root 403, a mislabelled file 422, over 32 MiB 413;
- .../samples/predictions: the prediction file's entries (lib's parser decides
  validity: a malformed file is 422 naming the field), "no predictions" flagged;
- .../samples/metadata: the metadata file's "metadata" object;
- another user's dataset or run: 404;
- /v1/winnow/runs/{runId}/export: filenames, csv and labelstudio equal local
  mode's selected_filenames.txt and scores.csv; the Label Studio URLs load
  without a token; tampered or expired ones 403;
- S3 answers exactly as LOCAL.
"""
import csv
import hashlib
import hmac
import io
import json
import os
import shutil
import struct
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402
import test_daemon as td  # noqa: E402
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402

DET = "my-detection-task"
SEG = "my-segmentation-task"
KP = "my-keypoint-task"
CORAL = dict(td.CORAL, stopping_condition={"n_samples": 0.25, "min_distance": -1},
             active_learning={"task_name": DET, "score_name": "uncertainty_margin"})


def q(name):
    return urllib.parse.quote(name, safe="/")


def bmp_24(w, h):
    """A w x h 24-bit BMP: a red-green gradient."""
    row = (w * 3 + 3) & ~3
    px = bytearray()
    for y in range(h):
        line = bytearray()
        for x in range(w):
            line += bytes((0, y * 255 // max(h - 1, 1), x * 255 // max(w - 1, 1)))   # B, G, R
        px += line + b"\0" * (row - len(line))
    head = struct.pack("<2sIHHI", b"BM", 54 + len(px), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(px), 2835, 2835, 0, 0)
    return head + info + bytes(px)


class SampleRoutes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = wt.tmpdir("smp")
        cls.root = os.path.join(cls.dir, "data")
        os.makedirs(cls.root)
        cls.path = os.path.join(cls.root, "set")
        cls.man = wt.mkdataset(cls.path, "--n", 60, "--predictions", "--subdirs", "--seed", 5)
        # The extra files a test needs, in a second dataset (the run's stays as generated).
        cls.extra = os.path.join(cls.root, "extra")
        shutil.copytree(cls.path, cls.extra)
        cls.web = webtest.Server(roots=[cls.root], workdir=os.path.join(cls.dir, "web"))
        os.makedirs(cls.web.dir, exist_ok=True)
        cls.wtok = cls.web.token("worker1", "worker")
        cls.utok = cls.web.token("alice", "user")
        cls.btok = cls.web.token("bob", "user")
        cls.web.start()
        cls.ds = cls.mkds(cls.path)
        cls.xds = cls.mkds(cls.extra)
        d = td.Daemon("http://127.0.0.1:%d" % cls.web.port, cls.wtok, os.path.join(cls.dir, "wd"))
        cls.daemon = d.start()
        cfg = cls.web.ok("POST", "/v1/docker/worker/config",
                         {"config": {"workerType": "FULL", "docker": CORAL, "lightly": {}}}, cls.utok, 201)["id"]
        cls.sched = cls.web.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % cls.ds,
                               {"configId": cfg}, cls.utok, 201)["id"]
        cls.local = os.path.join(wt.tmpdir("local"), "out")
        wt.run_select(CORAL, cls.path, cls.local)
        deadline = time.time() + 240
        run = None
        while time.time() < deadline:
            r = cls.web.request("GET", "/v1/docker/runs/schedule/%s" % cls.sched, token=cls.utok)
            run = r.json if r.status == 200 else None
            if run and run["state"] in td.FINAL:
                break
            time.sleep(0.2)
        cls.rundata = run
        cls.daemon.stop()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.web.stop()

    @classmethod
    def mkds(cls, path, tok=None):
        tok = tok or cls.utok
        ds = cls.web.ok("POST", "/v1/datasets", {"name": "ds-" + os.path.basename(path)}, tok, 201)["id"]
        cls.web.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path}, tok, 200)
        return ds

    def get(self, path, tok=None, headers=None):
        return self.web.request("GET", path, token=self.utok if tok is None else tok, headers=headers)

    def image(self, ds, name, tok=None, headers=None):
        return self.get("/v1/winnow/datasets/%s/samples/image?fileName=%s" % (ds, q(name)), tok, headers)

    def preds(self, ds, name, task=None):
        return self.get("/v1/winnow/datasets/%s/samples/predictions?fileName=%s%s"
                        % (ds, q(name), "&task=" + task if task else ""))

    # ---- the image ----
    def test_image_as_stored_typed_by_magic_with_etag(self):
        forms = self.man["forms"]
        seen = set()
        for name in self.man["candidates"]:
            kind = forms[name].split("-")[0]
            if kind in seen:
                continue
            seen.add(kind)
            with self.subTest(name=name):
                r = self.image(self.ds, name)
                self.assertEqual(r.status, 200, r)
                with open(os.path.join(self.path, name), "rb") as f:
                    self.assertEqual(r.body, f.read())
                self.assertEqual(r.header("Content-Type"),
                                 {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[kind])
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
                self.assertIn("private", r.header("Cache-Control"))
                etag = r.header("ETag")
                self.assertTrue(etag and etag.startswith('"'), etag)
                again = self.image(self.ds, name, headers={"If-None-Match": etag})
                self.assertEqual(again.status, 304, again)
                self.assertEqual(again.body, b"")
                other = self.image(self.ds, name, headers={"If-None-Match": '"x"'})
                self.assertEqual(other.status, 200)
        self.assertEqual(seen, {"jpeg", "png", "webp"})

    def test_bmp_converted_to_png(self):
        with open(os.path.join(self.extra, "pic a+b&c.bmp"), "wb") as f:
            f.write(bmp_24(7, 5))
        r = self.image(self.xds, "pic a+b&c.bmp")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "image/png")
        self.assertEqual(r.body[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", r.body[16:24]), (7, 5))

    def test_bad_files(self):
        # BMP bytes named .jpg: the name never decides the type
        with open(os.path.join(self.extra, "liar.jpg"), "wb") as f:
            f.write(bmp_24(4, 4))
        r = self.image(self.xds, "liar.jpg")
        self.assertEqual(r.status, 422, r)
        self.assertIn("BMP data", r.json["error"])
        with open(os.path.join(self.extra, "big.png"), "wb") as f:
            f.truncate((32 << 20) + 1)
        r = self.image(self.xds, "big.png")
        self.assertEqual(r.status, 413, r)
        self.assertIn("32 MiB", r.json["error"])
        os.symlink("/etc/hostname", os.path.join(self.extra, "out.png"))
        r = self.image(self.xds, "out.png")
        self.assertIn(r.status, (403, 404), r)
        self.assertNotIn(b"hostname", r.body)

    def test_hostile_names(self):
        for name, status in (("../set/" + self.man["candidates"][0], 400), ("/etc/passwd.jpg", 400),
                             ("a/../a/x.jpg", 400), ("./x.jpg", 400), (".lightly/x.png", 400),
                             ("a/.hidden.png", 400), ("x.txt", 400), ("a//x.jpg", 400),
                             ("nope.jpg", 404), ("a/nope/x.png", 404)):
            with self.subTest(name=name):
                r = self.image(self.ds, name)
                self.assertEqual(r.status, status, r)
                r = self.preds(self.ds, name)
                self.assertEqual(r.status, status, r)
        for raw in ("x%00.jpg", "x%0a.jpg", "%2e%2e/x.jpg", ""):
            r = self.get("/v1/winnow/datasets/%s/samples/image?fileName=%s" % (self.ds, raw))
            self.assertEqual(r.status, 400, (raw, r))
        r = self.get("/v1/winnow/datasets/%s/samples/image" % self.ds)
        self.assertEqual(r.status, 400, r)

    def test_another_users_dataset_is_404(self):
        name = self.man["candidates"][0]
        for route in ("image", "predictions", "metadata"):
            r = self.get("/v1/winnow/datasets/%s/samples/%s?fileName=%s" % (self.ds, route, q(name)),
                         tok=self.btok)
            self.assertEqual(r.status, 404, (route, r))
        r = self.get("/v1/winnow/datasets/%s/samples/image?fileName=%s" % (self.ds, q(name)), tok="")
        self.assertEqual(r.status, 401, r)
        r = self.get("/v1/winnow/runs/%s/export?format=filenames" % self.rundata["id"], tok=self.btok)
        self.assertEqual(r.status, 404, r)

    # ---- predictions ----
    def pred_file(self, root, task, name):
        stem = os.path.splitext(name)[0]
        p = os.path.join(root, ".lightly", "predictions", task, stem + ".json")
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    def test_predictions_equal_the_files(self):
        t = self.man["tasks"]
        for task, key in ((DET, "bbox"), (SEG, "segmentation"), (KP, "keypoints")):
            cats = {c["id"]: c["name"] for c in t[task]["categories"]}
            names = [n for n in t[task]["files"] if n not in t[task]["empty"]][:4]
            self.assertTrue(names)
            for name in names:
                with self.subTest(task=task, name=name):
                    r = self.preds(self.ds, name, task)
                    self.assertEqual(r.status, 200, r)
                    got = r.json
                    want = self.pred_file(self.path, task, name)
                    self.assertEqual(got["task"], task)
                    self.assertEqual(got["taskType"], t[task]["type"])
                    with open(os.path.join(self.path, ".lightly", "predictions", "tasks.json")) as f:
                        self.assertEqual(got["tasks"], json.load(f))
                    self.assertEqual({c["id"]: c["name"] for c in got["categories"]}, cats)
                    self.assertEqual(got["imageSize"], {"width": 160, "height": 120})
                    self.assertTrue(got["hasFile"])
                    self.assertFalse(got["noPredictions"])
                    self.assertEqual(len(got["predictions"]), len(want["predictions"]))
                    for g, w in zip(got["predictions"], want["predictions"]):
                        self.assertEqual(g["categoryId"], w["category_id"])
                        self.assertEqual(g["categoryName"], cats[w["category_id"]])
                        self.assertEqual(g["score"], w["score"])
                        self.assertEqual(g[key], w[key])
                    if task == SEG:
                        self.assertEqual(sum(got["predictions"][0]["segmentation"]), 160 * 120)

    def test_no_predictions_flagged(self):
        t = self.man["tasks"][DET]
        empty = t["empty"][0]
        r = self.preds(self.ds, empty, DET)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["hasFile"], r.json["noPredictions"], r.json["predictions"]), (True, True, []))
        nofile = [n for n in self.man["candidates"] if n not in t["files"] and n not in t["empty"]]
        if nofile:
            r = self.preds(self.ds, nofile[0], DET)
            self.assertEqual((r.json["hasFile"], r.json["noPredictions"]), (False, True))
        # the default task is tasks.json's first
        r = self.preds(self.ds, empty)
        self.assertEqual(r.json["task"], "my-classification-task")
        r = self.preds(self.ds, empty, "no-such-task")
        self.assertEqual(r.status, 404, r)
        r = self.preds(self.ds, empty, "../x")
        self.assertEqual(r.status, 404, r)

    def test_malformed_prediction_is_422_naming_the_field(self):
        name = [n for n in self.man["tasks"][DET]["files"] if n not in self.man["tasks"][DET]["empty"]][0]
        p = os.path.join(self.extra, ".lightly", "predictions", DET, os.path.splitext(name)[0] + ".json")
        with open(p) as f:
            good = json.load(f)
        bad = json.loads(json.dumps(good))
        bad["predictions"][0]["bbox"][2] = -3
        with open(p, "w") as f:
            json.dump(bad, f)
        try:
            r = self.preds(self.xds, name, DET)
            self.assertEqual(r.status, 422, r)
            self.assertIn("predictions[0].bbox", r.json["error"])
            with open(p, "w") as f:
                f.write('{"file_name": "%s", "predictions": [' % name)
            r = self.preds(self.xds, name, DET)
            self.assertEqual(r.status, 422, r)
            self.assertIn("invalid JSON", r.json["error"])
        finally:
            with open(p, "w") as f:
                json.dump(good, f)
        self.assertEqual(self.preds(self.xds, name, DET).status, 200)

    def test_metadata(self):
        name = self.man["candidates"][1]
        p = os.path.join(self.extra, ".lightly", "metadata", os.path.splitext(name)[0] + ".json")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        meta = {"weather": {"temp": 10.5}, "scene": "highway"}
        with open(p, "w") as f:
            json.dump({"file_name": name, "type": "image", "metadata": meta}, f)
        url = "/v1/winnow/datasets/%s/samples/metadata?fileName=%s"
        r = self.get(url % (self.xds, q(name)))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"fileName": name, "hasFile": True, "metadata": meta})
        r = self.get(url % (self.xds, q(self.man["candidates"][2])))
        self.assertEqual(r.json["hasFile"], False)
        self.assertIsNone(r.json["metadata"])
        with open(p, "w") as f:
            json.dump({"file_name": "other.png", "metadata": meta}, f)
        r = self.get(url % (self.xds, q(name)))
        self.assertEqual(r.status, 422, r)
        self.assertIn("file_name", r.json["error"])

    # ---- export ----
    def export(self, fmt, tok=None, extra=""):
        return self.get("/v1/winnow/runs/%s/export?format=%s%s" % (self.rundata["id"], fmt, extra), tok)

    def test_export_equals_local_mode(self):
        self.assertEqual(self.rundata["state"], "COMPLETED", self.rundata)
        selected = wt.read_lines(os.path.join(self.local, "filenames", "selected_filenames.txt"))
        r = self.export("filenames")
        self.assertEqual(r.status, 200, r)
        self.assertIn("attachment", r.header("Content-Disposition"))
        got = r.body.decode().splitlines()
        self.assertEqual(sorted(got), sorted(selected))
        self.assertEqual(got, wt.bsorted(got))
        with open(os.path.join(self.local, "data", "scores.csv")) as f:
            rows = list(csv.reader(f))
        head, rows = rows[0], rows[1:]
        r = self.export("csv")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/csv; charset=utf-8")
        out = list(csv.reader(io.StringIO(r.body.decode())))
        ohead, orows = out[0], out[1:]
        self.assertEqual(ohead[:2], ["filenames", "selected"])
        self.assertEqual(sorted(ohead[2:2 + len(head) - 1]), sorted(head[1:]))
        self.assertIn("selection:rank", ohead)
        self.assertEqual([x[0] for x in orows], [x[0] for x in rows])
        sel = set(selected)
        for o, w in zip(orows, rows):
            self.assertEqual(o[1], "1" if o[0] in sel else "0")
            for k, col in enumerate(head[1:], start=1):
                self.assertEqual(float(o[ohead.index(col)]), float(w[k]), (o[0], col))
            rank = o[ohead.index("selection:rank")]
            self.assertEqual(rank != "", o[0] in sel)
        r = self.export("labelstudio")
        self.assertEqual(r.status, 200, r)
        tasks = r.json
        self.assertEqual([t["meta"]["fileName"] for t in tasks], got)
        byname = {x[0]: x for x in rows}
        t0 = tasks[0]
        for col in head[1:]:
            self.assertEqual(t0["meta"]["scores"][col], float(byname[t0["meta"]["fileName"]][head.index(col)]))
        u = urllib.parse.urlsplit(t0["data"]["image"])
        self.assertEqual((u.scheme, u.netloc), ("http", "127.0.0.1:%d" % self.web.port))
        path = u.path + "?" + u.query
        r = self.web.request("GET", path)     # no token
        self.assertEqual(r.status, 200, r)
        with open(os.path.join(self.path, t0["meta"]["fileName"]), "rb") as f:
            self.assertEqual(r.body, f.read())
        # tampered: another file under the same signature, or the signature changed
        qs = urllib.parse.parse_qs(u.query)
        other = [n for n in self.man["candidates"] if n != qs["fileName"][0]][0]
        for bad in (path.replace(q(qs["fileName"][0]), q(other)), path[:-1] + ("0" if path[-1] != "0" else "1"),
                    path.replace("expires=", "expires=1")):
            r = self.web.request("GET", bad)
            self.assertEqual(r.status, 403, (bad, r))
        r = self.web.request("GET", u.path + "?fileName=" + q(other))    # no signature at all
        self.assertEqual(r.status, 401, r)
        # expired: signed with the server's key, an expiry passed
        with open(self.web.db + ".urlkey") as f:
            key = bytes.fromhex(f.read().strip())
        exp = int(time.time()) - 5
        msg = "GET\n%s?fileName=%s\n%d" % (u.path, qs["fileName"][0], exp)
        sig = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
        r = self.web.request("GET", "%s?fileName=%s&expires=%d&sig=%s" % (u.path, q(qs["fileName"][0]), exp, sig))
        self.assertEqual(r.status, 403, r)
        self.assertIn("expired", r.json["error"])
        # the same, not expired: works (the test signs as the server does)
        exp = int(time.time()) + 60
        msg = "GET\n%s?fileName=%s\n%d" % (u.path, qs["fileName"][0], exp)
        sig = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
        r = self.web.request("GET", "%s?fileName=%s&expires=%d&sig=%s" % (u.path, q(qs["fileName"][0]), exp, sig))
        self.assertEqual(r.status, 200, r)

    def test_export_tags_and_bad_arguments(self):
        self.assertEqual(self.export("xml").status, 400)
        self.assertEqual(self.export("csv", extra="&tagId=nothex").status, 400)
        # the candidates tag: every candidate
        tags = {t["name"]: t for t in self.web.ok("GET", "/v1/winnow/datasets/%s/tags" % self.ds, None, self.utok, 200)}
        cand = tags["run-%s-candidates" % self.rundata["id"]]
        r = self.export("filenames", extra="&tagId=" + cand["id"])
        self.assertEqual(r.status, 200, r)
        with open(os.path.join(self.local, "data", "scores.csv")) as f:
            self.assertEqual(r.body.decode().splitlines(), [x[0] for x in list(csv.reader(f))[1:]])
        # as CSV: selected still the run's selection, inTag every candidate
        r = self.export("csv", extra="&tagId=" + cand["id"])
        rows = list(csv.reader(io.StringIO(r.body.decode())))
        self.assertEqual(rows[0][:3], ["filenames", "selected", "inTag"])
        selected = set(wt.read_lines(os.path.join(self.local, "filenames", "selected_filenames.txt")))
        self.assertEqual([(x[1], x[2]) for x in rows[1:]], [("1" if x[0] in selected else "0", "1") for x in rows[1:]])
        tasks = self.export("labelstudio", extra="&tagId=" + cand["id"]).json
        self.assertEqual(len(tasks), len(rows) - 1)
        self.assertEqual(sum(t["meta"]["selected"] for t in tasks), len(selected))
        # a tag of another dataset
        xtags = self.web.ok("GET", "/v1/winnow/datasets/%s/tags" % self.xds, None, self.utok, 200)
        if xtags:
            self.assertEqual(self.export("filenames", extra="&tagId=" + xtags[0]["id"]).status, 404)
        self.assertEqual(self.export("filenames", extra="&tagId=" + "0" * 24).status, 404)


class SampleRoutesDbErrors(unittest.TestCase):
    """A database error answers 503, never 404 (SPEC 8): the same calls against
    winnow-web-test failing every 17th statement (more than one request makes) answer only 200 or 503."""

    def test_db_errors_are_503(self):
        d = wt.tmpdir("smpdb")
        root = os.path.join(d, "data")
        path = os.path.join(root, "set")
        man = wt.mkdataset(path, "--n", 8, "--predictions", "--seed", 4)
        web = webtest.Server(roots=[root], workdir=os.path.join(d, "web"))
        os.makedirs(web.dir, exist_ok=True)
        tok = web.token("alice", "user")
        with web:
            ds = web.ok("POST", "/v1/datasets", {"name": "dbe"}, tok, 201)["id"]
            web.ok("PUT", "/v1/datasets/%s/datasource" % ds,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path}, tok, 200)
            wtok, _, _, run = web.hold(tok, ds, "dbe-worker")
            names = man["candidates"]
            web.ok("POST", "/v1/winnow/datasets/%s/samples/batch" % ds,
                   [{"fileName": n, "metaData": {}} for n in names], wtok, 200)
            cand = web.ok("POST", "/v1/datasets/%s/tags" % ds,
                          {"name": "run-%s-candidates" % run, "prevTagId": None, "bitMaskData": hex((1 << len(names)) - 1),
                           "totSize": len(names), "creator": "USER_WORKER", "runId": run}, wtok, 201)["id"]
            web.ok("POST", "/v1/datasets/%s/tags" % ds,
                   {"name": "run-%s" % run, "prevTagId": cand, "bitMaskData": "0x5", "totSize": len(names),
                    "creator": "SAMPLER_CORAL", "runId": run}, wtok, 201)
            clean = web.request("GET", "/v1/winnow/runs/%s/export?format=csv" % run, token=tok)
            self.assertEqual(clean.status, 200, clean)
        web.faults = "ioerr:every=17"
        seen = set()
        with web:
            for p in ("/v1/winnow/datasets/%s/samples/image?fileName=%s" % (ds, q(names[0])),
                      "/v1/winnow/datasets/%s/samples/predictions?fileName=%s&task=%s" % (ds, q(names[1]), DET),
                      "/v1/winnow/datasets/%s/samples/metadata?fileName=%s" % (ds, q(names[2])),
                      "/v1/winnow/runs/%s/export?format=csv" % run):
                for i in range(30):
                    for _ in range(i % 3):      # a call or two in between: another phase of the faults
                        web.request("GET", "/v1/winnow/me", token=tok)
                    r = web.request("GET", p, token=tok)
                    self.assertIn(r.status, (200, 503), (p, r))
                    if r.status == 503:
                        self.assertEqual(r.header("Retry-After"), "1")
                    elif "export" in p:
                        self.assertEqual(r.body, clean.body)
                    seen.add((p.split("?")[0].rsplit("/", 1)[1], r.status))
        for route in ("image", "predictions", "metadata", "export"):
            self.assertIn((route, 503), seen)
            self.assertIn((route, 200), seen)


class SampleRoutesS3(unittest.TestCase):
    """An S3 datasource answers exactly as its LOCAL copy."""

    def test_s3_equals_local(self):
        d = wt.tmpdir("smps3")
        root = os.path.join(d, "data")
        path = os.path.join(root, "set")
        man = wt.mkdataset(path, "--n", 12, "--predictions", "--subdirs", "--seed", 9)
        s3 = s3util.S3Server(d, ["data"])
        web = webtest.Server(roots=[root], workdir=os.path.join(d, "web"))
        os.makedirs(web.dir, exist_ok=True)
        tok = web.token("alice", "user")
        try:
            s3.upload_dir("data", "set1/", path)
            web.start()
            loc = web.ok("POST", "/v1/datasets", {"name": "loc"}, tok, 201)["id"]
            web.ok("PUT", "/v1/datasets/%s/datasource" % loc,
                   {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": path}, tok, 200)
            rem = web.ok("POST", "/v1/datasets", {"name": "rem"}, tok, 201)["id"]
            web.ok("PUT", "/v1/winnow/datasets/%s/datasource" % rem,
                   {"type": "S3", "purpose": "INPUT_OUTPUT", "fullPath": "s3://data/set1",
                    "s3Endpoint": s3.endpoint, "s3Region": "us-east-1",
                    "s3AccessKeyId": s3util.KEY_ID, "s3SecretAccessKey": s3util.SECRET}, tok, 200)
            for name in man["candidates"][:4] + ["nope.png"]:
                for route in ("image?fileName=%s" % q(name),
                              "predictions?fileName=%s&task=%s" % (q(name), DET),
                              "predictions?fileName=%s&task=%s" % (q(name), SEG),
                              "metadata?fileName=%s" % q(name)):
                    a = web.request("GET", "/v1/winnow/datasets/%s/samples/%s" % (loc, route), token=tok)
                    b = web.request("GET", "/v1/winnow/datasets/%s/samples/%s" % (rem, route), token=tok)
                    self.assertEqual((a.status, a.body, a.header("Content-Type")),
                                     (b.status, b.body, b.header("Content-Type")), (name, route))
                    self.assertEqual(a.status, 404 if name == "nope.png" else 200, (route, a))
        finally:
            web.stop()
            s3.stop()


if __name__ == "__main__":
    unittest.main()
