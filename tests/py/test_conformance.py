"""The conformance checker itself (tests/py/conformance.py): hand-made good
values of Lightly's models pass; each kind of problem is found, at its JSON
path; replies are matched to Lightly's routes and checked for status, body and
error shape. No server: pure data.
"""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance as cf  # noqa: E402
import lightly_models as lm  # noqa: E402

ID1 = "5f1c2b3a4d5e6f7a8b9c0d1e"
ID2 = "0123456789abcdef01234567"
ID3 = "aaaaaaaaaaaaaaaaaaaaaaaa"

RUN = {
    "id": ID1, "userId": "u1", "dockerVersion": "winnow 1.0", "state": "COMPLETED",
    "datasetId": ID2, "configId": ID3, "scheduledId": ID3, "createdAt": 1700000000000,
    "lastModifiedAt": 1700000001000, "message": "done",
    "artifacts": [{"id": ID2, "type": "REPORT_JSON", "fileName": "report.json"}],
}
TAG = {
    "id": ID1, "datasetId": ID2, "prevTagId": None, "name": "initial-tag", "bitMaskData": "0x59",
    "totSize": 10, "createdAt": 1700000000000,
}
LOCAL = {"type": "LOCAL", "purpose": "INPUT", "fullPath": "images/", "thumbSuffix": ".lightly/thumbnails/[filename]_thumb.[extension]",
         "webServerLocation": "http://localhost:3456"}
S3 = {"type": "S3", "purpose": "LIGHTLY", "fullPath": "s3://bucket/x/", "s3Region": "eu-central-1",
      "s3AccessKeyId": "AKIA", "s3SecretAccessKey": "********"}
V4_CONFIG = {
    "id": ID1, "version": "V4", "createdAt": 1700000000000,
    "config": {
        "workerType": "FULL",
        "docker": {"enableTraining": False},
        "selection": {
            "nSamples": 3, "autoTasks": [],
            "strategies": [
                {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.2}},
                {"input": {"type": "RANDOM", "randomSeed": 42}, "strategy": {"type": "WEIGHTS", "strength": 1}},
            ],
        },
    },
}
WORKER = {"id": ID1, "userId": "u1", "name": "gpu-box", "workerType": "FULL", "state": "IDLE",
          "createdAt": 1, "lastModifiedAt": 2, "labels": ["gpu"]}
LOGS = {"cursor": 2, "logs": [{"ts": 1, "level": "INFO", "msg": "hello", "state": "EMBEDDING"},
                              {"ts": 2, "level": "WARNING", "msg": "x", "state": "SAMPLING", "group": "g"}]}


def has(problems, *words):
    """Is there one problem holding every word?"""
    return any(all(w in p for w in words) for p in problems)


class TestGoodValues(unittest.TestCase):
    def test_good_values_pass(self):
        for model, value in (("DockerRunData", RUN), ("TagData", TAG), ("DatasourceConfig", LOCAL),
                             ("DatasourceConfig", S3), ("DockerWorkerConfigVXData", V4_CONFIG),
                             ("DockerWorkerRegistryEntryData", WORKER), ("DockerRunLogData", LOGS),
                             ("list[TagData]", [TAG, dict(TAG, prevTagId=ID3, name="r-candidates")]),
                             ("CreateEntityResponse", {"id": ID1}),
                             ("ApiErrorResponse", {"code": "NOT_FOUND", "error": "no such run"}),
                             ("DockerRunState", "CRASHED"), ("list[str]", []), ("list[str]", ["a.jpg"])):
            with self.subTest(model=model):
                self.assertEqual(cf.check(model, value), [])

    def test_optional_fields_may_be_absent_or_null(self):
        run = {k: v for k, v in RUN.items() if k not in ("message", "artifacts", "datasetId")}
        self.assertEqual(cf.check("DockerRunData", run), [])
        self.assertEqual(cf.check("DockerRunData", dict(RUN, message=None, archived=None)), [])

    def test_number_takes_int_and_float(self):
        self.assertEqual(cf.check("ActiveLearningScoreCreateRequest", {"scoreType": "s", "scores": [0.5, 1, 0]}), [])


class TestProblems(unittest.TestCase):
    def test_unknown_key(self):
        p = cf.check("DockerWorkerRegistryEntryData", dict(WORKER, lastSeenAt=5))
        self.assertEqual(p, ["$: unknown key 'lastSeenAt' (not in DockerWorkerRegistryEntryData)"])

    def test_missing_required(self):
        cfg = copy.deepcopy(V4_CONFIG)
        del cfg["config"]["selection"]["strategies"][0]["input"]["type"]
        p = cf.check("DockerWorkerConfigVXData", cfg)
        self.assertEqual(len(p), 1, p)
        self.assertIn("$.config.selection.strategies[0].input.type: missing required key", p[0])
        p = cf.check("TagData", {k: v for k, v in TAG.items() if k != "prevTagId"})
        self.assertTrue(has(p, "$.prevTagId", "missing required"), p)   # required though nullable

    def test_null_where_not_nullable(self):
        p = cf.check("DockerRunData", dict(RUN, state=None))
        self.assertEqual(p, ["$.state: null where DockerRunState is wanted"])
        p = cf.check("TagCreateRequest", {"name": "abc", "prevTagId": None, "bitMaskData": "0x1", "totSize": 1})
        self.assertTrue(has(p, "$.prevTagId", "null"), p)

    def test_wrong_types(self):
        p = cf.check("DockerRunData", dict(RUN, createdAt="1700000000000", archived=1, message=7))
        self.assertTrue(has(p, "$.createdAt", "where int"), p)
        self.assertTrue(has(p, "$.archived", "where bool"), p)
        self.assertTrue(has(p, "$.message", "where str"), p)
        self.assertEqual(len(p), 3, p)
        self.assertTrue(has(cf.check("TagData", dict(TAG, totSize=True)), "$.totSize", "bool", "where int"))
        self.assertTrue(has(cf.check("TagData", dict(TAG, totSize=1.5)), "$.totSize", "where int"))
        self.assertTrue(has(cf.check("ActiveLearningScoreData", {"id": ID1, "tagId": ID2, "scoreType": "s", "createdAt": 1,
                                                                 "scores": [0.1, "x"]}), "$.scores[1]", "number"))
        self.assertTrue(has(cf.check("DockerRunLogData", {"cursor": 0, "logs": {}}), "$.logs", "object", "list"))
        self.assertTrue(has(cf.check("DockerRunLogData", []), "$", "list", "DockerRunLogData"))
        self.assertTrue(has(cf.check("list[str]", ["a", None]), "$[1]", "null"))

    def test_strict_float(self):
        self.assertEqual(cf.check_type("float", 1.0), [])
        self.assertTrue(has(cf.check_type("float", 1), "int", "float"))

    def test_enum_out_of_range(self):
        p = cf.check("DockerRunData", dict(RUN, artifacts=[{"id": ID2, "type": "SCORES_CSV", "fileName": "s.csv"}]))
        self.assertEqual(len(p), 1, p)
        self.assertTrue(p[0].startswith("$.artifacts[0].type: 'SCORES_CSV' is not in DockerRunArtifactType"), p)
        self.assertTrue(has(cf.check("DockerRunLogEntryData", {"ts": 1, "level": "WARN", "msg": "m", "state": "STARTED"}),
                            "$.level", "DockerRunLogLevel"))
        self.assertTrue(has(cf.check("LightlyTrainerPrecisionV2", 16.0), "LightlyTrainerPrecisionV2"))
        self.assertEqual(cf.check("LightlyTrainerPrecisionV2", 16), [])

    def test_pattern_and_length(self):
        p = cf.check("TagData", dict(TAG, id="5F1C2B3A4D5E6F7A8B9C0D1E", bitMaskData="0X59"))
        self.assertTrue(has(p, "$.id", "does not match ^[a-f0-9]{24}$"), p)
        self.assertTrue(has(p, "$.bitMaskData", "does not match"), p)
        p = cf.check("TagData", dict(TAG, name="ab"))
        self.assertTrue(has(p, "$.name", "shorter than 3"), p)
        p = cf.check("DockerWorkerRegistryEntryData", dict(WORKER, name="-bad"))
        self.assertTrue(has(p, "$.name", "does not match"), p)

    def test_number_bounds(self):
        p = cf.check("DockerRunData", dict(RUN, createdAt=-1))
        self.assertEqual(p, ["$.createdAt: -1 is < 0"])

    def test_one_of_discriminator(self):
        p = cf.check("DatasourceConfig", dict(LOCAL, type="FTP"))
        self.assertTrue(has(p, "$.type", "'FTP'", "DatasourceConfig"), p)
        p = cf.check("DatasourceConfig", {k: v for k, v in LOCAL.items() if k != "type"})
        self.assertTrue(has(p, "$.type", "missing"), p)
        p = cf.check("DatasourceConfig", dict(LOCAL, datasourceType="LOCAL"))
        self.assertEqual(p, ["$: unknown key 'datasourceType' (not in DatasourceConfigLOCAL)"])
        p = cf.check("DatasourceConfig", {k: v for k, v in S3.items() if k != "s3Region"})
        self.assertTrue(has(p, "$.s3Region", "missing required key of DatasourceConfigS3"), p)
        p = cf.check("DockerWorkerConfigVXData", {k: v for k, v in V4_CONFIG.items() if k != "version"})
        self.assertTrue(has(p, "$.version", "missing"), p)

    def test_snake_case_key_is_the_wire_name(self):
        cfg = copy.deepcopy(V4_CONFIG)
        st = cfg["config"]["selection"]["strategies"][0]["strategy"]
        st["stoppingConditionMinimumDistance"] = st.pop("stopping_condition_minimum_distance")
        p = cf.check("DockerWorkerConfigVXData", cfg)
        self.assertTrue(has(p, "unknown key 'stoppingConditionMinimumDistance'"), p)

    def test_several_problems_all_reported(self):
        p = cf.check("DockerRunScheduledData", {"id": "x", "datasetId": ID1, "configId": ID2, "priority": "URGENT",
                                                "state": "OPEN", "createdAt": 1, "lastModifiedAt": 1, "originScheduledId": ID3})
        self.assertTrue(has(p, "$.id", "does not match"), p)
        self.assertTrue(has(p, "$.priority", "URGENT"), p)
        self.assertTrue(has(p, "$.runsOn", "missing"), p)
        self.assertTrue(has(p, "unknown key 'originScheduledId'"), p)
        self.assertEqual(len(p), 4, p)

    def test_unknown_type_is_an_error_of_the_test(self):
        with self.assertRaises(KeyError):
            cf.check("NoSuchModel", {})


class TestRoutes(unittest.TestCase):
    def known(self, t):
        """Is every name in type string t a scalar, enum, model or oneOf of the table?"""
        import re
        base = re.sub(r"^((list|dict)\[)+", "", t).rstrip("]")
        return base in ("str", "int", "float", "number", "bool", "any", "dict", "text") or \
            base in lm.ENUMS or base in lm.MODELS or base in lm.ONE_OF

    def test_table_is_consistent(self):
        for name, fields in lm.MODELS.items():
            for key, spec in fields.items():
                self.assertTrue(self.known(spec["type"]), (name, key, spec))
                self.assertIsInstance(spec["required"], bool)
                self.assertIsInstance(spec["nullable"], bool)
        for name, o in lm.ONE_OF.items():
            for sub in list(o["one_of"]) + list(o["mapping"].values()):
                self.assertIn(sub, lm.MODELS, name)
        for r in lm.ROUTES:
            method, path, req, reply, ok, query, op = r
            for t in (req, reply):
                if t is not None:
                    self.assertTrue(self.known(t), r)
            if method == "POST" and reply == "CreateEntityResponse":
                self.assertEqual(ok, (201,), r)
        self.assertEqual(len({(r[0], r[1]) for r in lm.ROUTES}), len(lm.ROUTES))

    def test_match_prefers_literal_segments(self):
        self.assertEqual(cf.match_route("POST", "/v1/datasets/%s/tags/initial" % ID1)[1], "/v1/datasets/{datasetId}/tags/initial")
        self.assertEqual(cf.match_route("GET", "/v1/datasets/%s/tags/%s" % (ID1, ID2))[1], "/v1/datasets/{datasetId}/tags/{tagId}")
        self.assertEqual(cf.match_route("GET", "/v1/docker/worker/config/vX/%s?token=t" % ID1)[1],
                         "/v1/docker/worker/config/vX/{configId}")
        self.assertEqual(cf.match_route("GET", "/v1/docker/worker/config/%s" % ID1)[1], "/v1/docker/worker/config/{configId}")
        self.assertIsNone(cf.match_route("GET", "/v1/datasets/%s/samples/thumbnail" % ID1))
        self.assertIsNone(cf.match_route("DELETE", "/v1/datasets"))

    def test_match_literal_wins_in_either_order(self):
        saved = lm.ROUTES
        a = ("GET", "/v1/x/{id}", None, "TagData", (200,), (), "a")
        b = ("GET", "/v1/x/all", None, "list[TagData]", (200,), (), "b")
        try:
            for routes in ((a, b), (b, a)):
                lm.ROUTES = routes
                self.assertEqual(cf.match_route("GET", "/v1/x/all")[6], "b")
                self.assertEqual(cf.match_route("GET", "/v1/x/%s" % ID1)[6], "a")
        finally:
            lm.ROUTES = saved

    def test_reply_status(self):
        p = cf.check_reply("POST", "/v1/datasets", 200, json.dumps({"id": ID1}).encode())
        self.assertEqual(len(p), 1, p)
        self.assertIn("status 200", p[0])
        self.assertEqual(cf.check_reply("POST", "/v1/datasets", 201, json.dumps({"id": ID1}).encode()), [])
        self.assertEqual(cf.check_reply("PUT", "/v1/docker/runs/%s" % ID1, 200, b'{"anything": 1}'), [])
        self.assertEqual(cf.check_reply("DELETE", "/v1/docker/worker/%s" % ID1, 204, b""), [])

    def test_reply_body(self):
        p = cf.check_reply("GET", "/v1/docker/runs/%s/logs" % ID1, 200, b"[]")
        self.assertTrue(has(p, "$", "list", "DockerRunLogData"), p)
        p = cf.check_reply("GET", "/v1/docker/worker?token=x", 200, json.dumps([dict(WORKER, lastSeenAt=1)]).encode())
        self.assertEqual(p, ["$[0]: unknown key 'lastSeenAt' (not in DockerWorkerRegistryEntryData)"])
        p = cf.check_reply("GET", "/v1/docker/runs/%s" % ID1, 200, b"<html>")
        self.assertTrue(has(p, "not JSON"), p)

    def test_text_replies(self):
        self.assertEqual(cf.check_reply("GET", "/v1/versions/pip/minimum", 200, b"1.5.20"), [])
        self.assertEqual(cf.check_reply("GET", "/v1/versions/pip/minimum", 200, b'"1.5.20"'), [])
        path = "/v1/datasets/%s/tags/%s/export/basic/filenames" % (ID1, ID2)
        self.assertEqual(cf.check_reply("GET", path, 200, b"a.jpg\nb.jpg"), [])
        self.assertEqual(cf.check_reply("GET", path, 200, b""), [])
        self.assertTrue(has(cf.check_reply("GET", path, 200, b'["a.jpg"]'), "JSON list", "text"))

    def test_error_replies(self):
        path = "/v1/docker/runs/%s" % ID1
        self.assertEqual(cf.check_reply("GET", path, 404, b'{"code": "NOT_FOUND", "error": "no run"}'), [])
        p = cf.check_reply("GET", path, 404, b'{"error": "no run"}')
        self.assertTrue(has(p, "status 404", "$.code", "missing"), p)
        p = cf.check_reply("GET", path, 400, b'{"code": "OOPS", "error": "x", "errors": []}')
        self.assertTrue(has(p, "$.code", "ApiErrorCode"), p)
        self.assertTrue(has(p, "unknown key 'errors'"), p)
        self.assertTrue(has(cf.check_reply("GET", path, 500, b"boom"), "not JSON"))

    def test_winnow_routes_are_not_checked(self):
        self.assertIsNone(cf.check_reply("GET", "/v1/winnow/runs/%s/progress" % ID1, 200, b"{}"))
        self.assertIsNone(cf.check_reply("GET", "/v1/winnow/me", 200, b"{}"))

    def test_request_bodies(self):
        ok = {"configId": ID1, "priority": "MID", "runsOn": [], "creator": "USER_PIP"}
        self.assertEqual(cf.check_request("POST", "/v1/datasets/%s/docker/worker/schedule" % ID1, ok), [])
        p = cf.check_request("POST", "/v1/datasets/%s/docker/worker/schedule" % ID1, {"configId": ID1})
        self.assertTrue(has(p, "$.priority", "missing"), p)
        self.assertEqual(cf.check_request("GET", "/v1/docker/runs", None), [])

    def test_checked_wrapper_records(self):
        class FakeReply:
            def __init__(self, status, body):
                self.status, self.body = status, body

            def header(self, name):
                return None

        class FakeServer:
            def request(self, method, path, body=None, token=None, raw=None, headers=None, **kw):
                if path.startswith("/v1/winnow/"):
                    return FakeReply(200, b"{}")
                return FakeReply(200, json.dumps({"id": ID1}).encode())

        c = cf.Checked(FakeServer())
        self.assertEqual(c.request("POST", "/v1/datasets", {"name": "abc"}).status, 200)
        c.request("POST", "/v1/datasets", {"name": "abd"})
        c.request("GET", "/v1/winnow/x")
        self.assertEqual(len(c.log), 2)
        self.assertEqual(len(c.problems()), 1, c.problems())
        self.assertIn("POST /v1/datasets: status 200", c.problems()[0])


if __name__ == "__main__":
    unittest.main()
