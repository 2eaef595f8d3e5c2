/*
 * Unit tests of lib/api.c, the wire contract of SPEC 7: every body round
 * trips (a struct built and parsed back is the same struct; a Lightly-shaped
 * sample, written here from lightly v1.5.20's generated models, parsed and
 * built again is the same JSON), and every parser refuses an unknown enum
 * value, a missing required field, a wrong type, an oversized string and a
 * key the model does not define, naming the field. The route table gives
 * SPEC 7's paths and, for winnow's extras, the paths today's web app serves.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "api.h"
#include "util.h"

#define ID1 "0123456789abcdef01234567"
#define ID2 "aaaaaaaaaaaaaaaaaaaaaaaa"
#define ID3 "bbbbbbbbbbbbbbbbbbbbbbbb"

/* ---- one generic round trip per body ------------------------------------ */

/* Parses text with the body's parser, builds it again; 0 and *out, or the parser's error. */
typedef int (*rt_fn)(const char *text, unsigned flags, char **out, char *err, size_t errlen);

#define RT(name, T, build)                                                               \
	static int rt_##name(const char *text, unsigned flags, char **out, char *err,    \
			     size_t errlen)                                              \
	{                                                                                \
		T s;                                                                     \
		int rc = api_parse_##name(text, strlen(text), flags, &s, err, errlen);   \
		*out = rc == 0 ? build : NULL;                                           \
		api_##name##_free(&s);                                                   \
		return rc;                                                               \
	}

RT(entity, struct api_entity, api_build_entity(&s))
RT(worker_register, struct api_worker_register, api_build_worker_register(&s))
RT(worker_update, struct api_worker_update, api_build_worker_update(&s))
RT(scheduled_list, struct api_scheduled_list, api_build_scheduled_list(&s))
RT(sched_update, struct api_sched_update, api_build_sched_update(&s))
RT(config_data, struct api_config_data, api_build_config_data(&s))
RT(run_create, struct api_run_create, api_build_run_create(&s))
RT(run_update, struct api_run_update, api_build_run_update(&s))
RT(progress, struct api_progress, api_build_progress(&s))
RT(abort_reply, struct api_abort_reply, api_build_abort_reply(&s))
RT(log_list, struct api_log_list, api_build_log_list(&s))
RT(log_data, struct api_log_data, api_build_log_data(&s))
RT(datasource, struct api_datasource, api_build_datasource(&s))
RT(initial_tag, struct api_initial_tag, api_build_initial_tag(&s))
RT(tag_create, struct api_tag_create, api_build_tag_create(&s))
RT(scores, struct api_scores, api_build_scores(&s))
RT(artifact_create, struct api_artifact_create, api_build_artifact_create(&s))
RT(run_file_create, struct api_artifact_create, api_build_run_file_create(&s))
RT(artifact_created, struct api_artifact_created, api_build_artifact_created(&s))
RT(datapool, struct api_datapool, api_build_datapool(&s))
RT(sample_list, struct api_sample_list, api_build_sample_list(&s))
RT(strs, struct api_strs, api_build_strs(&s))
RT(error, struct api_error, api_build_error(&s))

struct sample {
	const char *model;
	rt_fn rt;
	const char *json;
};

/* Lightly-shaped bodies, every field of each model present (optional ones too where we can). */
static const struct sample samples[] = {
	{ "CreateEntityResponse", rt_entity, "{\"id\":\"" ID1 "\"}" },
	{ "CreateDockerWorkerRegistryEntryRequest", rt_worker_register,
	  "{\"name\":\"gpu-box 1\",\"workerType\":\"FULL\",\"labels\":[\"gpu\",\"eu\"],"
	  "\"creator\":\"USER_PIP\",\"dockerVersion\":\"2.1.0\"}" },
	{ "CreateDockerWorkerRegistryEntryRequest (minimal)", rt_worker_register,
	  "{\"name\":\"abc\",\"workerType\":\"FULL\"}" },
	{ "UpdateDockerWorkerRegistryEntryRequest", rt_worker_update,
	  "{\"state\":\"BUSY\",\"dockerVersion\":\"2.1.0\"}" },
	{ "List[DockerRunScheduledData]", rt_scheduled_list,
	  "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"userId\":\"someone\",\"configId\":\"" ID3
	  "\",\"priority\":\"CRITICAL\",\"runsOn\":[\"gpu\"],\"state\":\"OPEN\","
	  "\"createdAt\":1700000000000,\"lastModifiedAt\":1700000000001,\"owner\":\"" ID2 "\"},"
	  "{\"id\":\"" ID2 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"runsOn\":[],\"state\":\"LOCKED\",\"createdAt\":0,"
	  "\"lastModifiedAt\":9007199254740992}]" },
	{ "List[DockerRunScheduledData] (empty)", rt_scheduled_list, "[]" },
	{ "DockerRunScheduledUpdateRequest", rt_sched_update,
	  "{\"state\":\"LOCKED\",\"priority\":\"HIGH\",\"runsOn\":[\"a\",\"b\"]}" },
	{ "DockerWorkerConfigV0Data", rt_config_data,
	  "{\"id\":\"" ID1 "\",\"version\":\"V0\",\"createdAt\":5,"
	  "\"config\":{\"enableTraining\":false,\"method\":\"coreset\"},\"configOrig\":{}}" },
	{ "DockerWorkerConfigV4Data", rt_config_data,
	  "{\"id\":\"" ID1 "\",\"version\":\"V4\",\"createdAt\":5,\"config\":{\"worker\":{},"
	  "\"selection\":{\"nSamples\":10,\"strategies\":[]}}}" },
	{ "DockerRunCreateRequest", rt_run_create,
	  "{\"dockerVersion\":\"0.9.0\",\"datasetId\":\"" ID1 "\",\"scheduledId\":\"" ID2
	  "\",\"configId\":\"" ID3 "\",\"message\":\"hi\",\"creator\":\"USER_WORKER\"}" },
	{ "DockerRunUpdateRequest", rt_run_update,
	  "{\"state\":\"COMPUTING_ACTIVE_LEARNING_SCORES\",\"message\":\"scores 3/9\","
	  "\"ts\":1700000000000}" },
	{ "winnow progress", rt_progress, "{\"progress\":0.25}" },
	{ "winnow progress reply", rt_abort_reply, "{\"abortRequested\":true}" },
	{ "List[DockerRunLogCreateEntryData]", rt_log_list,
	  "[{\"ts\":1,\"level\":\"INFO\",\"group\":\"winnowd\",\"origin\":\"pipeline.c:12\","
	  "\"msg\":\"embedding\",\"state\":\"EMBEDDING\"},"
	  "{\"ts\":2,\"level\":\"CRITICAL\",\"group\":\"g\",\"msg\":\"\"}]" },
	{ "DockerRunLogData", rt_log_data,
	  "{\"cursor\":2,\"logs\":[{\"ts\":1,\"level\":\"DEBUG\",\"msg\":\"m\",\"state\":\"STARTED\"},"
	  "{\"ts\":2,\"level\":\"ERROR\",\"group\":\"x\",\"msg\":\"n\",\"state\":\"FAILED\"}]}" },
	{ "DockerRunLogData (no logs)", rt_log_data, "{\"logs\":[]}" },
	{ "DatasourceConfigLOCAL", rt_datasource,
	  "{\"id\":\"" ID1 "\",\"purpose\":\"INPUT\",\"type\":\"LOCAL\",\"thumbSuffix\":"
	  "\".lightly/thumbnails/[filename]_thumb.[extension]\",\"fullPath\":\"images/set1\","
	  "\"webServerLocation\":\"http://localhost:3456\"}" },
	{ "DatasourceConfigS3", rt_datasource,
	  "{\"purpose\":\"LIGHTLY\",\"type\":\"S3\",\"fullPath\":\"s3://bucket/lightly\","
	  "\"s3Region\":\"eu-central-1\",\"s3AccessKeyId\":\"AKIA\",\"s3SecretAccessKey\":\"sec\","
	  "\"s3ServerSideEncryptionKMSKey\":\"arn:aws:kms:eu-central-1:123456789012:key/abc\"}" },
	{ "InitialTagCreateRequest", rt_initial_tag,
	  "{\"name\":\"initial-tag\",\"creator\":\"USER_WORKER\",\"imgType\":\"full\",\"runId\":\""
	  ID1 "\"}" },
	{ "TagCreateRequest", rt_tag_create,
	  "{\"name\":\"run-1 sel@x\",\"prevTagId\":\"" ID1 "\",\"queryTagId\":\"" ID2
	  "\",\"preselectedTagId\":\"" ID3 "\",\"bitMaskData\":\"0x59\",\"totSize\":10,"
	  "\"creator\":\"SAMPLER_CORESET\",\"runId\":\"" ID1 "\"}" },
	{ "ActiveLearningScoreCreateRequest", rt_scores,
	  "{\"scoreType\":\"uncertainty_entropy\",\"scores\":[0.1,1,0.30000000000000004,1e-300]}" },
	{ "DockerRunArtifactCreateRequest", rt_artifact_create,
	  "{\"fileName\":\"report.json\",\"type\":\"REPORT_JSON\",\"storageLocation\":\"LIGHTLY\"}" },
	{ "winnow run file", rt_run_file_create,
	  "{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}" },
	{ "DockerRunArtifactCreatedData", rt_artifact_created,
	  "{\"signedWriteUrl\":\"http://h/v1/winnow/artifacts/x/content?sig=1\",\"artifactId\":\"" ID1
	  "\"}" },
	{ "winnow datapool", rt_datapool, "{\"fileNames\":[\"a.jpg\",\"b/c.png\"]}" },
	{ "winnow samples", rt_sample_list,
	  "[{\"fileName\":\"a.jpg\",\"metaData\":{}},{\"fileName\":\"b.jpg\",\"metaData\":"
	  "{\"k\":[1,2]}},{\"fileName\":\"c.jpg\"}]" },
	{ "List[str] (mappings)", rt_strs, "[\"a.jpg\",\"b.jpg\"]" },
	{ "ApiErrorResponse", rt_error,
	  "{\"code\":\"DOCKER_WORKER_SCHEDULE_UNKNOWN\",\"error\":\"no such run\","
	  "\"requestId\":\"r1\",\"errorLabels\":[\"x\"]}" },
};

static void test_samples_round_trip(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		char err[512] = "", *out = NULL, *again = NULL;
		int rc = samples[i].rt(samples[i].json, 0, &out, err, sizeof(err));
		if (rc != 0)
			fail_msg("%s: %s", samples[i].model, err);
		assert_non_null(out);
		cJSON *a = cJSON_Parse(samples[i].json), *b = cJSON_Parse(out);
		assert_non_null(a);
		assert_non_null(b);
		if (!cJSON_Compare(a, b, true))
			fail_msg("%s: built %s from %s", samples[i].model, out, samples[i].json);
		/* And the built text parses to the same struct: it builds the same text again. */
		assert_int_equal(samples[i].rt(out, 0, &again, err, sizeof(err)), 0);
		assert_string_equal(out, again);
		cJSON_Delete(a);
		cJSON_Delete(b);
		free(out);
		free(again);
	}
}

/* ---- bad input, per parser ---------------------------------------------- */

struct bad {
	rt_fn rt;
	const char *json;
	const char *says;	/* a part of the message: the field it names */
};

static char long_name_json[2 * API_MAX_NAME + 200];
static char long_file_json[2 * API_MAX_FILENAME + 200];

static const struct bad bads[] = {
	/* not JSON, not an object */
	{ rt_entity, "{\"id\":", "not JSON" },
	{ rt_entity, "[]", "must be an object" },
	{ rt_entity, "{}", "id: missing" },
	{ rt_entity, "{\"id\":\"0123\"}", "id: \"0123\" does not match" },
	{ rt_entity, "{\"id\":\"" ID1 "\",\"created\":true}", "created: not a field" },
	/* register */
	{ rt_worker_register, "{\"workerType\":\"FULL\"}", "name: missing" },
	{ rt_worker_register, "{\"name\":\"ab\",\"workerType\":\"FULL\"}", "name: shorter" },
	{ rt_worker_register, "{\"name\":\"-abc\",\"workerType\":\"FULL\"}", "name: \"-abc\"" },
	{ rt_worker_register, "{\"name\":\"abc\",\"workerType\":\"PART\"}", "workerType: \"PART\"" },
	{ rt_worker_register, "{\"name\":\"abc\",\"workerType\":\"FULL\",\"labels\":\"gpu\"}",
	  "labels: must be an array" },
	{ rt_worker_register, "{\"name\":\"abc\",\"workerType\":\"FULL\",\"labels\":[1]}",
	  "labels[0]: must be a string" },
	{ rt_worker_register, "{\"name\":\"abc\",\"workerType\":\"FULL\",\"creator\":\"ME\"}",
	  "creator: \"ME\" is not one of UNKNOWN" },
	{ rt_worker_register, long_name_json, "name: longer than 1024" },
	/* heartbeat */
	{ rt_worker_update, "{\"state\":\"SLEEPING\"}", "state: \"SLEEPING\"" },
	{ rt_worker_update, "{\"state\":3}", "state: must be a string, not a number" },
	{ rt_worker_update, "{}", "state: missing" },
	/* poll */
	{ rt_scheduled_list, "{}", "must be an array" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"URGENT\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":0,"
	  "\"lastModifiedAt\":0}]", "[0].priority: \"URGENT\"" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"state\":\"OPEN\",\"createdAt\":0,\"lastModifiedAt\":0}]",
	  "[0].runsOn: missing" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":-1,"
	  "\"lastModifiedAt\":0}]", "[0].createdAt: must be a whole number" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":1.5,"
	  "\"lastModifiedAt\":0}]", "[0].createdAt: must be a whole number" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":0,"
	  "\"lastModifiedAt\":0,\"workerId\":null}]", "[0].workerId: not a field" },
	{ rt_scheduled_list, "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
	  "\",\"priority\":\"LOW\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":0,"
	  "\"lastModifiedAt\":18446744073709551616}]", "[0].lastModifiedAt: must be a whole number" },
	/* claim */
	{ rt_sched_update, "{\"state\":\"TAKEN\"}", "state: \"TAKEN\"" },
	{ rt_sched_update, "{\"priority\":\"LOW\"}", "state: missing" },
	{ rt_sched_update, "{\"state\":\"DONE\",\"runsOn\":[true]}", "runsOn[0]: must be a string" },
	/* config */
	{ rt_config_data, "{\"id\":\"" ID1 "\",\"createdAt\":5,\"config\":{}}", "version: missing" },
	{ rt_config_data, "{\"id\":\"" ID1 "\",\"version\":\"V9\",\"createdAt\":5,\"config\":{}}",
	  "version: \"V9\"" },
	{ rt_config_data, "{\"id\":\"" ID1 "\",\"version\":\"V4\",\"createdAt\":5,\"config\":[]}",
	  "config: must be an object" },
	/* create run */
	{ rt_run_create, "{\"datasetId\":\"" ID1 "\"}", "dockerVersion: missing" },
	{ rt_run_create, "{\"dockerVersion\":1}", "dockerVersion: must be a string" },
	{ rt_run_create, "{\"dockerVersion\":\"1\",\"scheduledId\":\"XYZ\"}", "scheduledId: \"XYZ\"" },
	{ rt_run_create, "{\"dockerVersion\":\"1\",\"creator\":\"USER_ROBOT\"}",
	  "creator: \"USER_ROBOT\"" },
	/* run state */
	{ rt_run_update, "{\"state\":\"DANCING\"}", "state: \"DANCING\" is not one of STARTED" },
	{ rt_run_update, "{\"message\":\"x\"}", "state: missing" },
	{ rt_run_update, "{\"state\":\"FAILED\",\"message\":false}", "message: must be a string" },
	{ rt_run_update, "{\"state\":\"FAILED\",\"ts\":\"now\"}", "ts: must be a whole number" },
	/* progress */
	{ rt_progress, "{\"progress\":1.5}", "progress: must lie in [0, 1]" },
	{ rt_progress, "{\"progress\":\"half\"}", "progress: must be a number" },
	{ rt_abort_reply, "{\"abortRequested\":1}", "abortRequested: must be true or false" },
	{ rt_abort_reply, "{}", "abortRequested: missing" },
	/* logs */
	{ rt_log_list, "[{\"ts\":1,\"level\":\"LOUD\",\"group\":\"g\",\"msg\":\"m\"}]",
	  "[0].level: \"LOUD\"" },
	{ rt_log_list, "[{\"ts\":1,\"level\":\"INFO\",\"msg\":\"m\"}]", "[0].group: missing" },
	{ rt_log_list, "[{\"ts\":1,\"level\":\"INFO\",\"group\":\"g\",\"msg\":\"m\",\"load\":{}}]",
	  "[0].load: not supported" },
	{ rt_log_list, "[{\"ts\":1,\"level\":\"INFO\",\"group\":\"g\",\"msg\":\"m\","
	  "\"state\":\"NAPPING\"}]", "[0].state: \"NAPPING\"" },
	{ rt_log_data, "[]", "must be an object" },
	{ rt_log_data, "{\"cursor\":0}", "logs: missing" },
	{ rt_log_data, "{\"logs\":[{\"ts\":1,\"level\":\"INFO\",\"msg\":\"m\"}]}",
	  "logs[0].state: missing" },
	{ rt_log_data, "{\"logs\":[],\"next\":1}", "next: not a field" },
	/* datasource */
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"GCS\",\"fullPath\":\"x\"}",
	  "type: \"GCS\" is not supported" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"S3DelegatedAccess\",\"fullPath\":\"x\"}",
	  "type: \"S3DelegatedAccess\" is not supported" },
	{ rt_datasource, "{\"type\":\"LOCAL\",\"fullPath\":\"x\"}", "purpose: missing" },
	{ rt_datasource, "{\"purpose\":\"OUTPUT\",\"type\":\"LOCAL\",\"fullPath\":\"x\"}",
	  "purpose: \"OUTPUT\"" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"LOCAL\",\"fullPath\":\"x\","
	  "\"lastModifiedAt\":1}", "lastModifiedAt: not a field" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"LOCAL\",\"fullPath\":\"x\","
	  "\"webServerLocation\":\"ftp://h\"}", "webServerLocation: \"ftp://h\" does not match" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"S3\",\"fullPath\":\"s3://b\","
	  "\"s3Region\":\"mars-1\",\"s3AccessKeyId\":\"a\",\"s3SecretAccessKey\":\"b\"}",
	  "s3Region: \"mars-1\"" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"S3\",\"fullPath\":\"s3://b\","
	  "\"s3Region\":\"us-east-1\",\"s3AccessKeyId\":\"a\"}", "s3SecretAccessKey: missing" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"S3\",\"fullPath\":\"s3://b\","
	  "\"s3Region\":\"us-east-1\",\"s3AccessKeyId\":\"\",\"s3SecretAccessKey\":\"b\"}",
	  "s3AccessKeyId: shorter" },
	{ rt_datasource, "{\"purpose\":\"INPUT\",\"type\":\"LOCAL\",\"fullPath\":\"x\","
	  "\"s3Region\":\"us-east-1\"}", "s3Region: not a field" },
	{ rt_datasource, long_file_json, "fullPath: longer than 4096" },
	/* tags */
	{ rt_initial_tag, "{\"name\":\"initial-tag\"}", "imgType: missing" },
	{ rt_initial_tag, "{\"imgType\":\"FULL\"}", "imgType: \"FULL\"" },
	{ rt_tag_create, "{\"name\":\"sel\",\"bitMaskData\":\"0x1\",\"totSize\":1}",
	  "prevTagId: missing" },
	{ rt_tag_create, "{\"name\":\"sel\",\"prevTagId\":\"" ID1 "\",\"bitMaskData\":\"0X1\","
	  "\"totSize\":1}", "bitMaskData: \"0X1\" does not match" },
	{ rt_tag_create, "{\"name\":\"sel/1\",\"prevTagId\":\"" ID1 "\",\"bitMaskData\":\"0x1\","
	  "\"totSize\":1}", "name: \"sel/1\" does not match" },
	{ rt_tag_create, "{\"name\":\"sel\",\"prevTagId\":\"" ID1 "\",\"bitMaskData\":\"0x1\","
	  "\"totSize\":\"1\"}", "totSize: must be a whole number" },
	{ rt_tag_create, "{\"name\":\"sel\",\"prevTagId\":\"" ID1 "\",\"bitMaskData\":\"0x1\","
	  "\"totSize\":1,\"creator\":\"SAMPLER_MAGIC\"}", "creator: \"SAMPLER_MAGIC\"" },
	{ rt_tag_create, "{\"name\":\"sel\",\"prevTagId\":\"" ID1 "\",\"bitMaskData\":\"0x1\","
	  "\"totSize\":1,\"changes\":{}}", "changes: not supported" },
	/* scores */
	{ rt_scores, "{\"scoreType\":\"a b\",\"scores\":[1]}", "scoreType: \"a b\" does not match" },
	{ rt_scores, "{\"scoreType\":\"a\",\"scores\":[]}", "scores: must hold 1" },
	{ rt_scores, "{\"scoreType\":\"a\",\"scores\":[1,\"2\"]}", "scores[1]: must be a finite" },
	{ rt_scores, "{\"scores\":[1]}", "scoreType: missing" },
	/* artifacts */
	{ rt_artifact_create, "{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}",
	  "type: \"SCORES_CSV\" is not one of LOG" },
	{ rt_artifact_create, "{\"type\":\"LOG\"}", "fileName: missing" },
	{ rt_artifact_create, "{\"fileName\":\"l\",\"type\":\"LOG\",\"storageLocation\":\"S3\"}",
	  "storageLocation: \"S3\"" },
	{ rt_run_file_create, "{\"fileName\":\"r.json\",\"type\":\"REPORT_JSON\"}",
	  "type: \"REPORT_JSON\" is not one of SCORES_CSV" },
	{ rt_artifact_created, "{\"signedWriteUrl\":\"u\"}", "artifactId: missing" },
	{ rt_artifact_created, "{\"signedWriteUrl\":7,\"artifactId\":\"a\"}",
	  "signedWriteUrl: must be a string" },
	/* winnow's */
	{ rt_datapool, "{\"fileNames\":[\"a\",null]}", "fileNames[1]: must be a string" },
	{ rt_datapool, "{}", "fileNames: missing" },
	{ rt_sample_list, "[{\"metaData\":{}}]", "[0].fileName: missing" },
	{ rt_sample_list, "[{\"fileName\":\"a\",\"metaData\":[]}]", "[0].metaData: must be an object" },
	{ rt_strs, "[\"a\",1]", "the list[1]: must be a string" },
	{ rt_strs, "{\"a\":1}", "the list: must be an array" },
	/* errors */
	{ rt_error, "{\"code\":\"BAD_ID\",\"error\":\"x\"}", "code: \"BAD_ID\" is not one of" },
	{ rt_error, "{\"code\":\"NOT_FOUND\"}", "error: missing" },
};

static void test_bad_input(void **state)
{
	snprintf(long_name_json, sizeof(long_name_json),
		 "{\"name\":\"a%0*d\",\"workerType\":\"FULL\"}", API_MAX_NAME, 0);
	snprintf(long_file_json, sizeof(long_file_json),
		 "{\"purpose\":\"INPUT\",\"type\":\"LOCAL\",\"fullPath\":\"a%0*d\"}",
		 API_MAX_FILENAME, 0);
	for (size_t i = 0; i < ARRAY_LEN(bads); i++) {
		char err[512] = "", *out = NULL;
		int rc = bads[i].rt(bads[i].json, 0, &out, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("bad %zu (%.80s): rc %d, built %s", i, bads[i].json, rc,
				 out ? out : "-");
		if (strstr(err, bads[i].says) == NULL)
			fail_msg("bad %zu (%.80s): \"%s\" lacks \"%s\"", i, bads[i].json, err,
				 bads[i].says);
		assert_null(out);
	}
}

/* Keys the model lacks are refused, or tolerated with API_PARSE_EXTRA_OK (today's web app). */
static void test_extra_keys(void **state)
{
	const char *today = "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"" ID3
			    "\",\"priority\":\"MID\",\"runsOn\":[],\"state\":\"OPEN\","
			    "\"workerId\":null,\"originScheduledId\":null,\"createdAt\":1,"
			    "\"lastModifiedAt\":2,\"userId\":\"u\"}]";
	struct api_scheduled_list l;
	char err[256];

	assert_int_equal(api_parse_scheduled_list(today, strlen(today), 0, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "[0].workerId: not a field"));
	api_scheduled_list_free(&l);
	assert_int_equal(api_parse_scheduled_list(today, strlen(today), API_PARSE_EXTRA_OK, &l, err,
						  sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].id, ID1);
	assert_string_equal(l.v[0].dataset_id, ID2);
	assert_string_equal(l.v[0].config_id, ID3);
	assert_int_equal(l.v[0].priority, API_PRIO_MID);
	assert_int_equal(l.v[0].state, API_SCHED_OPEN);
	assert_true(l.v[0].runs_on.set);
	assert_int_equal(l.v[0].runs_on.n, 0);
	assert_int_equal(l.v[0].last_modified_at, 2);
	assert_null(l.v[0].owner);
	api_scheduled_list_free(&l);
	/* Tolerance is for keys only: a bad value is still refused. */
	const char *bad = "[{\"id\":\"" ID1 "\",\"datasetId\":\"" ID2 "\",\"configId\":\"x\","
			  "\"priority\":\"MID\",\"runsOn\":[],\"state\":\"OPEN\",\"createdAt\":1,"
			  "\"lastModifiedAt\":2}]";
	assert_int_equal(api_parse_scheduled_list(bad, strlen(bad), API_PARSE_EXTRA_OK, &l, err,
						  sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[0].configId"));
	api_scheduled_list_free(&l);
}

/* ---- struct -> text -> struct ------------------------------------------- */

static void test_worker_register_struct(void **state)
{
	struct api_worker_register r, p;
	char *labels[] = { "gpu", "eu" };
	char err[256];

	api_worker_register_init(&r);
	r.name = "worker 1";
	r.worker_type = 0;
	r.labels = (struct api_strs){ labels, 2, true };
	char *s = api_build_worker_register(&r);
	assert_string_equal(s, "{\"name\":\"worker 1\",\"workerType\":\"FULL\","
			    "\"labels\":[\"gpu\",\"eu\"]}");
	assert_int_equal(api_parse_worker_register(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, r.name);
	assert_int_equal(p.worker_type, r.worker_type);
	assert_int_equal(p.labels.n, 2);
	assert_string_equal(p.labels.v[1], "eu");
	assert_int_equal(p.creator, -1);
	assert_null(p.docker_version);
	api_worker_register_free(&p);
	free(s);
	/* An enum value out of range builds nothing. */
	r.worker_type = 1;
	assert_null(api_build_worker_register(&r));
}

/* Integers up to 2^53 come back exact (cJSON's own printing would round them to 15 digits). */
static void test_scheduled_struct(void **state)
{
	struct api_scheduled v = { .id = ID1, .dataset_id = ID2, .config_id = ID3,
				   .priority = API_PRIO_CRITICAL, .state = API_SCHED_LOCKED,
				   .created_at = 1700000000123, .last_modified_at = 9007199254740992,
				   .owner = ID3 };
	struct api_scheduled_list l = { &v, 1 }, p;
	char err[256];

	char *s = api_build_scheduled_list(&l);
	assert_non_null(strstr(s, "\"lastModifiedAt\":9007199254740992"));
	assert_non_null(strstr(s, "\"runsOn\":[]"));	/* required: present even when empty */
	assert_null(strstr(s, "userId"));
	assert_int_equal(api_parse_scheduled_list(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.v[0].created_at, 1700000000123);
	assert_int_equal(p.v[0].last_modified_at, 9007199254740992);
	assert_int_equal(p.v[0].priority, API_PRIO_CRITICAL);
	assert_int_equal(p.v[0].state, API_SCHED_LOCKED);
	assert_string_equal(p.v[0].owner, ID3);
	api_scheduled_list_free(&p);
	free(s);
}

static void test_run_update_struct(void **state)
{
	struct api_run_update u, p;
	char err[256];

	api_run_update_init(&u);
	u.state = API_RUN_SAVING_RESULTS;
	u.message = "saving results";
	/* Exactly DockerRunUpdateRequest: the progress has winnow's own route. */
	char *s = api_build_run_update(&u);
	assert_string_equal(s, "{\"state\":\"SAVING_RESULTS\",\"message\":\"saving results\"}");
	assert_int_equal(api_parse_run_update(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.state, u.state);
	assert_string_equal(p.message, u.message);
	assert_int_equal(p.ts, -1);
	api_run_update_free(&p);
	free(s);
	/* An older winnowd's progress on this route is a key the model lacks. */
	const char *old = "{\"state\":\"EMBEDDING\",\"progress\":0.5}";
	assert_int_equal(api_parse_run_update(old, strlen(old), 0, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "progress"));
	api_run_update_free(&p);
	u.state = API_RUN_ABORTED + 1;
	assert_null(api_build_run_update(&u));
}

static void test_log_list_struct(void **state)
{
	struct api_log_entry e[2];
	struct api_log_list l = { e, 2 }, p;
	char err[256];

	api_log_entry_init(&e[0]);
	api_log_entry_init(&e[1]);
	e[0] = (struct api_log_entry){ .ts = 10, .level = API_LOG_INFO, .group = "winnowd",
				       .msg = "a \"quoted\"\nline", .state = API_RUN_EMBEDDING };
	e[1] = (struct api_log_entry){ .ts = 11, .level = API_LOG_ERROR, .group = "winnowd",
				       .msg = "b", .state = -1 };
	char *s = api_build_log_list(&l);
	/* Lightly's fields only: the Idempotency-Key replaced winnow's seq. */
	assert_string_equal(s, "[{\"ts\":10,\"level\":\"INFO\",\"group\":\"winnowd\","
			    "\"msg\":\"a \\\"quoted\\\"\\nline\",\"state\":\"EMBEDDING\"},"
			    "{\"ts\":11,\"level\":\"ERROR\",\"group\":\"winnowd\",\"msg\":\"b\"}]");
	assert_int_equal(api_parse_log_list(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(p.v[i].ts, e[i].ts);
		assert_int_equal(p.v[i].level, e[i].level);
		assert_string_equal(p.v[i].group, e[i].group);
		assert_string_equal(p.v[i].msg, e[i].msg);
		assert_int_equal(p.v[i].state, e[i].state);
		assert_null(p.v[i].origin);
	}
	api_log_list_free(&p);
	free(s);
	/* An older winnowd's seq is refused, naming it. */
	const char *old = "[{\"ts\":1,\"level\":\"INFO\",\"group\":\"g\",\"msg\":\"m\",\"seq\":3}]";
	assert_int_equal(api_parse_log_list(old, strlen(old), 0, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "seq"));
	api_log_list_free(&p);
}

static void test_tag_and_scores_struct(void **state)
{
	struct api_tag_create t, p;
	char err[256];

	api_tag_create_init(&t);
	t.name = "run-" ID1 "-candidates";
	t.prev_tag_id = ID2;
	t.bit_mask_data = "0x59";
	t.tot_size = 10;
	t.creator = API_TAG_USER_WORKER;
	t.run_id = ID1;
	char *s = api_build_tag_create(&t);
	assert_int_equal(api_parse_tag_create(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, t.name);
	assert_string_equal(p.prev_tag_id, t.prev_tag_id);
	assert_string_equal(p.bit_mask_data, t.bit_mask_data);
	assert_int_equal(p.tot_size, 10);
	assert_int_equal(p.creator, API_TAG_USER_WORKER);
	assert_string_equal(p.run_id, ID1);
	assert_null(p.query_tag_id);
	api_tag_create_free(&p);
	free(s);
	/* Today's candidates tag has no previous tag: null, which SPEC 7's parser refuses. */
	t.prev_tag_id = NULL;
	s = api_build_tag_create(&t);
	assert_non_null(strstr(s, "\"prevTagId\":null"));
	assert_int_equal(api_parse_tag_create(s, strlen(s), 0, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "prevTagId: missing"));
	api_tag_create_free(&p);
	free(s);

	/* Scores: the very doubles come back. */
	double v[] = { 0.1, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, 0 };
	struct api_scores sc = { "uncertainty_margin", { v, ARRAY_LEN(v) } }, sp;
	s = api_build_scores(&sc);
	assert_int_equal(api_parse_scores(s, strlen(s), 0, &sp, err, sizeof(err)), 0);
	assert_string_equal(sp.score_type, sc.score_type);
	assert_int_equal(sp.scores.n, ARRAY_LEN(v));
	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		assert_true(sp.scores.v[i] == v[i]);
	api_scores_free(&sp);
	free(s);
}

static void test_datasource_struct(void **state)
{
	struct api_datasource d = { 0 }, p;
	char err[256];

	d.purpose = API_PURPOSE_INPUT_OUTPUT;
	d.type = API_DS_S3;
	d.full_path = "s3://bucket/x";
	d.s3_region = "eu-west-1";
	d.s3_access_key_id = "AKIA";
	d.s3_secret_access_key = "secret";
	char *s = api_build_datasource(&d);
	assert_int_equal(api_parse_datasource(s, strlen(s), 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.purpose, API_PURPOSE_INPUT_OUTPUT);
	assert_int_equal(p.type, API_DS_S3);
	assert_string_equal(p.full_path, d.full_path);
	assert_string_equal(p.s3_region, d.s3_region);
	assert_string_equal(p.s3_access_key_id, d.s3_access_key_id);
	assert_string_equal(p.s3_secret_access_key, d.s3_secret_access_key);
	assert_null(p.s3_kms_key);
	assert_null(p.id);
	api_datasource_free(&p);
	free(s);
	/* A LOCAL datasource builds no S3 fields, even when the struct holds some. */
	d.type = API_DS_LOCAL;
	d.full_path = "images";
	s = api_build_datasource(&d);
	assert_string_equal(s, "{\"purpose\":\"INPUT_OUTPUT\",\"type\":\"LOCAL\","
			    "\"fullPath\":\"images\"}");
	free(s);
}

/* winnowd's bodies through the contract: the exact bytes it sends. */
static void test_wire_bytes(void **state)
{
	struct api_worker_update wu = { .state = API_WORKER_OFFLINE };
	struct api_sched_update su = { .state = API_SCHED_LOCKED, .priority = -1 };
	struct api_run_create rc = { .docker_version = "0.14.0", .dataset_id = ID1,
				     .scheduled_id = ID2, .config_id = ID3, .creator = -1 };
	struct api_artifact_create ac;
	struct api_sample smp[2] = { { "a.jpg", "{}" }, { "b c.jpg", "{}" } };
	struct api_sample_list sl = { smp, 2 };
	char *s;

	s = api_build_worker_update(&wu);
	assert_string_equal(s, "{\"state\":\"OFFLINE\"}");
	free(s);
	s = api_build_sched_update(&su);
	assert_string_equal(s, "{\"state\":\"LOCKED\"}");
	free(s);
	s = api_build_run_create(&rc);
	assert_string_equal(s, "{\"dockerVersion\":\"0.14.0\",\"datasetId\":\"" ID1
			    "\",\"scheduledId\":\"" ID2 "\",\"configId\":\"" ID3 "\"}");
	free(s);
	api_artifact_create_init(&ac);
	ac.file_name = "scores.csv";
	ac.type = API_FILE_SCORES_CSV;
	s = api_build_run_file_create(&ac);
	assert_string_equal(s, "{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}");
	free(s);
	ac.type = API_ART_LOG;
	s = api_build_artifact_create(&ac);
	assert_string_equal(s, "{\"fileName\":\"scores.csv\",\"type\":\"LOG\"}");
	free(s);
	s = api_build_sample_list(&sl);
	assert_string_equal(s, "[{\"fileName\":\"a.jpg\",\"metaData\":{}},"
			    "{\"fileName\":\"b c.jpg\",\"metaData\":{}}]");
	free(s);
	struct api_progress pr = { 0.5 };
	s = api_build_progress(&pr);
	assert_string_equal(s, "{\"progress\":0.5}");
	free(s);
	/* Each route takes only its own types: a run file is no artifact, and back. */
	char err[256];
	struct api_artifact_create p;
	const char *f = "{\"fileName\":\"scores.csv\",\"type\":\"SCORES_CSV\"}";
	assert_int_equal(api_parse_artifact_create(f, strlen(f), 0, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "type"));
	api_artifact_create_free(&p);
	const char *a = "{\"fileName\":\"log.txt\",\"type\":\"LOG\"}";
	assert_int_equal(api_parse_run_file_create(a, strlen(a), 0, &p, err, sizeof(err)), -EINVAL);
	api_artifact_create_free(&p);
	assert_int_equal(api_parse_run_file_create(f, strlen(f), 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.type, API_FILE_SCORES_CSV);
	api_artifact_create_free(&p);
}

static void test_enums(void **state)
{
	assert_string_equal(api_enum_name(API_E_RUN_STATE, API_RUN_ABORTED), "ABORTED");
	assert_string_equal(api_enum_name(API_E_RUN_STATE, API_RUN_COMPUTING_ACTIVE_LEARNING_SCORES),
			    "COMPUTING_ACTIVE_LEARNING_SCORES");
	assert_null(api_enum_name(API_E_RUN_STATE, API_RUN_ABORTED + 1));
	assert_null(api_enum_name(API_E_RUN_STATE, -1));
	assert_int_equal(api_enum_value(API_E_TAG_CREATOR, "SAMPLER_RANDOM"), API_TAG_SAMPLER_RANDOM);
	assert_int_equal(api_enum_value(API_E_TAG_CREATOR, "sampler_random"), -1);
	assert_int_equal(api_enum_value(API_E_LOG_LEVEL, "WARNING"), API_LOG_WARNING);
	assert_int_equal(api_enum_value(API_E_IMAGE_TYPE, "thumbnail"), API_IMG_THUMBNAIL);
	assert_int_equal(api_enum_value(API_E_ARTIFACT_TYPE, "RELEVANT_FILENAMES"),
			 API_ART_RELEVANT_FILENAMES);
	assert_int_equal(api_enum_value(API_E_WORKER_STATE, "BUSY"), API_WORKER_BUSY);
	assert_int_equal(api_enum_value(API_E_S3_REGION, "us-gov-west"), 29);
	assert_int_equal(api_enum_value(API_E_ERROR_CODE, "TEAM_UNKNOWN") > 0, 1);
	assert_null(api_enum_names(API_E_COUNT));
}

/* ---- routes ------------------------------------------------------------- */

static void test_paths(void **state)
{
	char *p;

	p = api_path(API_SCHED_UPDATE, ID1, ID2, ID3);
	assert_string_equal(p, "/v1/datasets/" ID1 "/docker/worker/" ID2 "/schedule/" ID3);
	free(p);
	p = api_path(API_POLL, ID1, "OPEN");
	assert_string_equal(p, "/v1/docker/worker/" ID1 "/schedule?state=OPEN");
	free(p);
	/* winnow's extras: SPEC 7's paths under /v1/winnow/. */
	p = api_path(API_SAMPLES, ID1);
	assert_string_equal(p, "/v1/winnow/datasets/" ID1 "/samples/batch");
	free(p);
	p = api_path(API_DATAPOOL_PUT, ID1, "pool_1.a");
	assert_string_equal(p, "/v1/winnow/datasets/" ID1 "/datapools/pool_1.a");
	free(p);
	p = api_path(API_RUN_FILE_CREATE, ID1);
	assert_string_equal(p, "/v1/winnow/runs/" ID1 "/files");
	free(p);
	/* winnowd reads the datasource (endpoint, secret) on winnow's route (SPEC 7). */
	p = api_path(API_DATASOURCE_WINNOW, ID1);
	assert_string_equal(p, "/v1/winnow/datasets/" ID1 "/datasource");
	free(p);
	p = api_path(API_RUN_PROGRESS, ID1);
	assert_string_equal(p, "/v1/winnow/runs/" ID1 "/progress");
	free(p);
	p = api_path(API_ARTIFACT_CONFIRM, ID1, ID2);
	assert_string_equal(p, "/v1/docker/runs/" ID1 "/artifacts/" ID2 "/confirmUpload");
	free(p);
	/* The outbox's placeholders survive; anything else is escaped. */
	p = api_path(API_SCORES, ID1, "@CANDTAG@");
	assert_string_equal(p, "/v1/datasets/" ID1 "/tags/@CANDTAG@/scores");
	free(p);
	p = api_path(API_DATAPOOL_GET, ID1, "../a b?x=1&y#");
	assert_string_equal(p, "/v1/winnow/datasets/" ID1 "/datapools/..%2Fa%20b%3Fx%3D1%26y%23");
	free(p);
	assert_null(api_path(API_WORKER_UPDATE, NULL));
	assert_null(api_path(API_WORKER_UPDATE, ""));
	assert_null(api_path(API_CALL_COUNT));
	/* Every row: a method, a /v1 path with as many {} as nparams. */
	for (int c = 0; c < API_CALL_COUNT; c++) {
		const struct api_route *r = api_route((enum api_call)c);
		int n = 0;
		assert_non_null(r);
		assert_non_null(r->method);
		assert_int_equal(strncmp(r->path, "/v1/", 4), 0);
		for (const char *q = r->path; (q = strchr(q, '{')) != NULL; q++)
			n++;
		assert_int_equal(n, r->nparams);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples_round_trip),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_extra_keys),
		cmocka_unit_test(test_worker_register_struct),
		cmocka_unit_test(test_scheduled_struct),
		cmocka_unit_test(test_run_update_struct),
		cmocka_unit_test(test_log_list_struct),
		cmocka_unit_test(test_tag_and_scores_struct),
		cmocka_unit_test(test_datasource_struct),
		cmocka_unit_test(test_wire_bytes),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
