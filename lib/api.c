/*
 * api: the wire contract of SPEC 7 (see api.h for the inventory and rules).
 *
 * DESIGN. Each body is a table of field descriptors (JSON key, kind,
 * required, offset in the struct, enum, cap, pattern); one generic builder
 * and one generic parser walk the tables, so a field's name, type and enum
 * are written once, here, and the same table serves both directions. The
 * facts are lightly v1.5.20's generated models; the tables are written from
 * them by hand (no code of theirs is copied).
 */
#include "api.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "util.h"

/* ---- enums -------------------------------------------------------------- */

static const char *const e_worker_type[] = { "FULL", NULL };
static const char *const e_worker_state[] = { "OFFLINE", "CRASHED", "IDLE", "BUSY", NULL };
static const char *const e_creator[] = {
	"UNKNOWN", "USER_WEBAPP", "USER_PIP", "USER_PIP_LIGHTLY_MAGIC", "USER_WORKER", NULL
};
static const char *const e_tag_creator[] = {
	"UNKNOWN", "USER_WEBAPP", "USER_PIP", "USER_PIP_LIGHTLY_MAGIC", "USER_WORKER",
	"SAMPLER_ACTIVE_LEARNING", "SAMPLER_CORAL", "SAMPLER_CORESET", "SAMPLER_RANDOM", NULL
};
static const char *const e_priority[] = { "LOW", "MID", "HIGH", "CRITICAL", NULL };
static const char *const e_sched_state[] = { "OPEN", "LOCKED", "DONE", "CANCELED", NULL };
static const char *const e_run_state[] = {
	"STARTED", "INITIALIZING", "LOADING_DATASET", "LOADING_METADATA", "LOADING_PREDICTION",
	"CHECKING_CORRUPTNESS", "INITIALIZING_OBJECT_CROPS", "COMPUTING_METADATA", "TRAINING",
	"EMBEDDING", "EMBEDDING_OBJECT_CROPS", "PRETAGGING", "COMPUTING_ACTIVE_LEARNING_SCORES",
	"SAMPLING", "EMBEDDING_FULL_IMAGES", "SAVING_RESULTS", "UPLOADING_DATASET",
	"GENERATING_REPORT", "UPLOADING_REPORT", "UPLOADED_REPORT", "UPLOADING_ARTIFACTS",
	"UPLOADED_ARTIFACTS", "COMPLETED", "FAILED", "CRASHED", "ABORTED", NULL
};
static const char *const e_log_level[] = {
	"VERBOSE", "NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", NULL
};
static const char *const e_artifact_type[] = {
	"LOG", "MEMLOG", "CHECKPOINT", "REPORT_PDF", "REPORT_JSON", "REPORT_V2_JSON",
	"CORRUPTNESS_CHECK_INFORMATION", "SEQUENCE_INFORMATION", "RELEVANT_FILENAMES", NULL
};
static const char *const e_storage[] = { "LIGHTLY", "DATASOURCE", NULL };
static const char *const e_image_type[] = { "full", "thumbnail", "meta", NULL };
static const char *const e_purpose[] = { "INPUT_OUTPUT", "INPUT", "LIGHTLY", NULL };
static const char *const e_s3_region[] = {
	"us-east-2", "us-east-1", "us-west-1", "us-west-2", "af-south-1", "ap-east-1",
	"ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-south-1", "ap-northeast-3",
	"ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1",
	"cn-northwest-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-south-1", "eu-west-3",
	"eu-north-1", "eu-south-2", "eu-central-2", "me-south-1", "me-central-1", "sa-east-1",
	"us-gov-east", "us-gov-west", NULL
};
static const char *const e_error_code[] = {
	"BAD_REQUEST", "NOT_IMPLEMENTED", "FORBIDDEN", "UNAUTHORIZED", "NOT_FOUND", "NOT_MODIFIED",
	"CONFLICT", "MALFORMED_REQUEST", "MALFORMED_RESPONSE", "PAYLOAD_TOO_LARGE", "JWT_INVALID",
	"JWT_MALFORMED", "CREATION_FAILED", "JOB_CREATION_FAILED", "JOB_UNKNOWN", "USER_NOT_KNOWN",
	"USER_ACCOUNT_DEACTIVATED", "USER_ACCOUNT_BLOCKED", "TEAM_ACCOUNT_PLAN_INSUFFICIENT",
	"ILLEGAL_ACTION_RESOURCE_IN_USE", "DATASET_UNKNOWN", "DATASET_NOT_SUPPORTED",
	"DATASET_TAG_INVALID", "DATASET_NAME_EXISTS", "DATASET_AT_MAX_CAPACITY",
	"DATASET_DATASOURCE_UNKNOWN", "DATASET_DATASOURCE_CREDENTIALS_ERROR",
	"DATASET_DATASOURCE_INVALID", "DATASET_DATASOURCE_ACTION_NOT_IMPLEMENTED",
	"DATASET_DATASOURCE_ILLEGAL_ACTION", "DATASET_DATASOURCE_FILE_TOO_LARGE",
	"DATASET_DATASOURCE_RELEVANT_FILENAMES_INVALID", "ACCESS_CONTROL_UNKNOWN",
	"EMBEDDING_UNKNOWN", "EMBEDDING_NAME_EXISTS", "EMBEDDING_INVALID", "EMBEDDING_NOT_READY",
	"EMBEDDING_ROW_COUNT_UNKNOWN", "EMBEDDING_ROW_COUNT_INVALID", "EMBEDDING_2D_UNKNOWN",
	"TAG_UNKNOWN", "TAG_NAME_EXISTS", "TAG_INITIAL_EXISTS", "TAG_UNDELETABLE_NOT_A_LEAF",
	"TAG_UNDELETABLE_IS_INITIAL", "TAG_NO_TAG_IN_DATASET", "TAG_PREVTAG_NOT_IN_DATASET",
	"TAG_QUERYTAG_NOT_IN_DATASET", "TAG_PRESELECTEDTAG_NOT_IN_DATASET",
	"TAG_NO_SCORES_AVAILABLE", "SAMPLE_UNKNOWN", "SAMPLE_THUMBNAME_UNKNOWN",
	"SAMPLE_CREATE_REQUEST_INVALID_FORMAT", "SAMPLE_CREATE_REQUEST_INVALID_CROP_DATA",
	"PREDICTION_TASK_SCHEMA_UNKNOWN", "PREDICTION_TASK_SCHEMA_CATEGORIES_NOT_UNIQUE",
	"SCORE_UNKNOWN", "SCORES_CANNOT_BE_SET", "DOCKER_RUN_UNKNOWN",
	"DOCKER_RUN_DATASET_UNAVAILABLE", "DOCKER_RUN_REPORT_UNAVAILABLE",
	"DOCKER_RUN_ARTIFACT_UNKNOWN", "DOCKER_RUN_ARTIFACT_EXISTS",
	"DOCKER_RUN_ARTIFACT_UNAVAILABLE", "DOCKER_WORKER_UNKNOWN", "DOCKER_WORKER_CONFIG_UNKNOWN",
	"DOCKER_WORKER_CONFIG_NOT_COMPATIBLE_WITH_DATASOURCE",
	"DOCKER_WORKER_CONFIG_REFERENCES_INVALID_FILES", "DOCKER_WORKER_CONFIG_IN_USE",
	"DOCKER_WORKER_CONFIG_INVALID", "DOCKER_WORKER_SCHEDULE_UNKNOWN",
	"DOCKER_WORKER_SCHEDULE_UPDATE_FAILED", "METADATA_CONFIGURATION_UNKNOWN",
	"CUSTOM_METADATA_AT_MAX_SIZE", "ONPREM_SUBSCRIPTION_INSUFFICIENT",
	"ACCOUNT_SUBSCRIPTION_INSUFFICIENT", "TEAM_UNKNOWN", NULL
};
static const char *const e_ds_type[] = { "LOCAL", "S3", NULL };
static const char *const e_run_file_type[] = {
	"SCORES_CSV", "SELECTION_CSV", "EMBEDDINGS_2D", "NO_PREDICTIONS", NULL
};

static const char *const *const enums[API_E_COUNT] = {
	[API_E_WORKER_TYPE] = e_worker_type,
	[API_E_WORKER_STATE] = e_worker_state,
	[API_E_CREATOR] = e_creator,
	[API_E_TAG_CREATOR] = e_tag_creator,
	[API_E_PRIORITY] = e_priority,
	[API_E_SCHED_STATE] = e_sched_state,
	[API_E_RUN_STATE] = e_run_state,
	[API_E_LOG_LEVEL] = e_log_level,
	[API_E_ARTIFACT_TYPE] = e_artifact_type,
	[API_E_STORAGE] = e_storage,
	[API_E_IMAGE_TYPE] = e_image_type,
	[API_E_PURPOSE] = e_purpose,
	[API_E_S3_REGION] = e_s3_region,
	[API_E_ERROR_CODE] = e_error_code,
	[API_E_DS_TYPE] = e_ds_type,
	[API_E_RUN_FILE_TYPE] = e_run_file_type,
};

const char *const *api_enum_names(enum api_enum e)
{
	return (unsigned)e < API_E_COUNT ? enums[e] : NULL;
}

const char *api_enum_name(enum api_enum e, int v)
{
	const char *const *t = api_enum_names(e);

	if (t == NULL || v < 0)
		return NULL;
	for (int i = 0; t[i]; i++)
		if (i == v)
			return t[i];
	return NULL;
}

int api_enum_value(enum api_enum e, const char *s)
{
	const char *const *t = api_enum_names(e);

	if (t == NULL || s == NULL)
		return -1;
	for (int i = 0; t[i]; i++)
		if (strcmp(t[i], s) == 0)
			return i;
	return -1;
}

/* ---- routes ------------------------------------------------------------- */

/* SPEC 7's paths, the only ones winnowd calls and winnow-web serves. */
static const struct api_route routes[API_CALL_COUNT] = {
	[API_WORKER_REGISTER] = { "POST", "/v1/docker/worker", 0 },
	[API_WORKER_UPDATE] = { "PUT", "/v1/docker/worker/{workerId}", 1 },
	[API_POLL] = { "GET", "/v1/docker/worker/{workerId}/schedule?state={state}", 2 },
	[API_SCHED_UPDATE] = { "PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}"
			       "/schedule/{scheduledId}", 3 },
	[API_CONFIG_V0] = { "GET", "/v1/docker/worker/config/{configId}", 1 },
	[API_CONFIG_VX] = { "GET", "/v1/docker/worker/config/vX/{configId}", 1 },
	[API_RUN_CREATE] = { "POST", "/v1/docker/runs", 0 },
	[API_RUN_UPDATE] = { "PUT", "/v1/docker/runs/{runId}", 1 },
	[API_RUN_PROGRESS] = { "PUT", "/v1/winnow/runs/{runId}/progress", 1 },
	[API_RUN_LOGS] = { "PUT", "/v1/docker/runs/{runId}/logs", 1 },
	[API_DATASOURCE] = { "GET", "/v1/datasets/{datasetId}/datasource", 1 },
	/* The INPUT datasource with winnow's s3Endpoint (null: AWS) and, for a worker
	 * while a run of the dataset is LOCKED, the S3 secret (web/datasource.c). */
	[API_DATASOURCE_WINNOW] = { "GET", "/v1/winnow/datasets/{datasetId}/datasource", 1 },
	[API_SAMPLES] = { "POST", "/v1/winnow/datasets/{datasetId}/samples/batch", 1 },
	[API_MAPPINGS] = { "GET", "/v1/datasets/{datasetId}/mappings?field=fileName", 1 },
	[API_TAGS_LIST] = { "GET", "/v1/datasets/{datasetId}/tags", 1 },
	[API_TAG_INITIAL] = { "POST", "/v1/datasets/{datasetId}/tags/initial", 1 },
	[API_TAG_CREATE] = { "POST", "/v1/datasets/{datasetId}/tags", 1 },
	[API_SCORES] = { "POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores", 2 },
	[API_DATAPOOL_GET] = { "GET", "/v1/winnow/datasets/{datasetId}/datapools/{name}", 2 },
	[API_DATAPOOL_PUT] = { "PUT", "/v1/winnow/datasets/{datasetId}/datapools/{name}", 2 },
	[API_ARTIFACT_CREATE] = { "POST", "/v1/docker/runs/{runId}/artifacts", 1 },
	[API_ARTIFACT_CONFIRM] = { "PUT", "/v1/docker/runs/{runId}/artifacts/{artifactId}"
				   "/confirmUpload", 2 },
	[API_RUN_FILE_CREATE] = { "POST", "/v1/winnow/runs/{runId}/files", 1 },
	[API_RUN_FILES_LIST] = { "GET", "/v1/winnow/runs/{runId}/files", 1 },
};

const struct api_route *api_route(enum api_call c)
{
	return (unsigned)c < API_CALL_COUNT ? &routes[c] : NULL;
}

const char *api_method(enum api_call c)
{
	return (unsigned)c < API_CALL_COUNT ? routes[c].method : NULL;
}

static bool keep_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       strchr("-._~@:", ch) != NULL;
}

char *api_path(enum api_call c, ...)
{
	if ((unsigned)c >= API_CALL_COUNT)
		return NULL;
	const char *t = routes[c].path;
	struct buf b = { 0 };
	va_list ap;
	va_start(ap, c);
	for (const char *p = t; *p;) {
		if (*p != '{') {
			buf_append(&b, p++, 1);
			continue;
		}
		const char *v = va_arg(ap, const char *);
		if (v == NULL || *v == '\0') {
			va_end(ap);
			free(b.data);
			return NULL;
		}
		for (const unsigned char *q = (const unsigned char *)v; *q; q++) {
			if (keep_char(*q))
				buf_append(&b, q, 1);
			else
				buf_printf(&b, "%%%02X", *q);
		}
		const char *close = strchr(p, '}');
		p = close ? close + 1 : p + strlen(p);
	}
	va_end(ap);
	if (b.data == NULL)
		buf_puts(&b, "");
	return b.data;
}

/* ---- field tables ------------------------------------------------------- */

enum kind {
	K_STR,		/* char * */
	K_ENUM,		/* int, index into enums[en] */
	K_ENUMSTR,	/* char *, one of enums[en] */
	K_INT,		/* int64_t >= 0; -1 absent */
	K_NUM,		/* double; NAN absent */
	K_BOOL,		/* bool, required */
	K_STRS,		/* struct api_strs */
	K_NUMS,		/* struct api_nums */
	K_OBJ,		/* char *: a JSON object as text */
	K_REFUSE,	/* a field of Lightly's model that winnow does not support */
};

typedef bool (*pattern_fn)(const char *s);

struct field {
	const char *key;
	enum kind kind;
	bool required;
	size_t off;
	enum api_enum en;
	size_t max;		/* cap in bytes (strings and items of string lists) */
	size_t min;		/* least length (strings) or items (number lists) */
	pattern_fn pat;
	const char *pat_text;
};

static bool pat_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 24;
}

static bool pat_name_chars(const char *s, const char *extra)
{
	for (size_t i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || strchr(extra, ch) == NULL))
			return false;
	}
	return s[0] != '\0';
}

static bool pat_worker_name(const char *s)
{
	return pat_name_chars(s, " _-");
}

static bool pat_tag_name(const char *s)
{
	return pat_name_chars(s, " .:;=@_-");
}

static bool pat_bitmask(const char *s)
{
	if (strncmp(s, "0x", 2) != 0 || s[2] == '\0')
		return false;
	for (s += 2; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static bool pat_score_type(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      strchr("_+=,.@:/-", ch) != NULL))
			return false;
	}
	return true;
}

static bool pat_http_url(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]);
}

static bool pat_kms(const char *s)
{
	const char *p = s + strlen("arn:aws:kms:");

	if (strncmp(s, "arn:aws:kms:", strlen("arn:aws:kms:")) != 0)
		return false;
	for (; *p && *p != ':'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return false;
	if (*p++ != ':')
		return false;
	for (int i = 0; i < 12; i++, p++)
		if (!(*p >= '0' && *p <= '9'))
			return false;
	return strncmp(p, ":key", 4) == 0 && p[4] != '\0';
}

#define ID "^[a-f0-9]{24}$"
#define F(k, kd, req, st, mem, ...) \
	{ .key = k, .kind = kd, .required = req, .off = offsetof(st, mem), __VA_ARGS__ }
#define F_END { .key = NULL }

static const struct field f_entity[] = {
	F("id", K_STR, true, struct api_entity, id, .max = 24, .pat = pat_id, .pat_text = ID),
	F_END
};

static const struct field f_worker_register[] = {
	F("name", K_STR, true, struct api_worker_register, name, .max = API_MAX_NAME, .min = 3,
	  .pat = pat_worker_name, .pat_text = "^[a-zA-Z0-9][a-zA-Z0-9 _-]+$"),
	F("workerType", K_ENUM, true, struct api_worker_register, worker_type,
	  .en = API_E_WORKER_TYPE),
	F("labels", K_STRS, false, struct api_worker_register, labels, .max = API_MAX_NAME),
	F("creator", K_ENUM, false, struct api_worker_register, creator, .en = API_E_CREATOR),
	F("dockerVersion", K_STR, false, struct api_worker_register, docker_version,
	  .max = API_MAX_NAME),
	F_END
};

static const struct field f_worker_update[] = {
	F("state", K_ENUM, true, struct api_worker_update, state, .en = API_E_WORKER_STATE),
	F("dockerVersion", K_STR, false, struct api_worker_update, docker_version,
	  .max = API_MAX_NAME),
	F_END
};

static const struct field f_scheduled[] = {
	F("id", K_STR, true, struct api_scheduled, id, .max = 24, .pat = pat_id, .pat_text = ID),
	F("datasetId", K_STR, true, struct api_scheduled, dataset_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F("userId", K_STR, false, struct api_scheduled, user_id, .max = API_MAX_NAME),
	F("configId", K_STR, true, struct api_scheduled, config_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F("priority", K_ENUM, true, struct api_scheduled, priority, .en = API_E_PRIORITY),
	F("runsOn", K_STRS, true, struct api_scheduled, runs_on, .max = API_MAX_NAME),
	F("state", K_ENUM, true, struct api_scheduled, state, .en = API_E_SCHED_STATE),
	F("createdAt", K_INT, true, struct api_scheduled, created_at),
	F("lastModifiedAt", K_INT, true, struct api_scheduled, last_modified_at),
	F("owner", K_STR, false, struct api_scheduled, owner, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F_END
};

static const struct field f_sched_update[] = {
	F("state", K_ENUM, true, struct api_sched_update, state, .en = API_E_SCHED_STATE),
	F("priority", K_ENUM, false, struct api_sched_update, priority, .en = API_E_PRIORITY),
	F("runsOn", K_STRS, false, struct api_sched_update, runs_on, .max = API_MAX_NAME),
	F_END
};

static bool pat_config_version(const char *s)
{
	return strcmp(s, "V0") == 0 || strcmp(s, "V2") == 0 || strcmp(s, "V3") == 0 ||
	       strcmp(s, "V4") == 0;
}

static const struct field f_config_data[] = {
	F("id", K_STR, true, struct api_config_data, id, .max = 24, .pat = pat_id, .pat_text = ID),
	F("version", K_STR, true, struct api_config_data, version, .max = 8,
	  .pat = pat_config_version, .pat_text = "V0, V2, V3 or V4"),
	F("createdAt", K_INT, true, struct api_config_data, created_at),
	F("config", K_OBJ, true, struct api_config_data, config),
	F("configOrig", K_OBJ, false, struct api_config_data, config_orig),
	F_END
};

static const struct field f_run_create[] = {
	F("dockerVersion", K_STR, true, struct api_run_create, docker_version, .max = API_MAX_NAME),
	F("datasetId", K_STR, false, struct api_run_create, dataset_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F("scheduledId", K_STR, false, struct api_run_create, scheduled_id, .max = 24,
	  .pat = pat_id, .pat_text = ID),
	F("configId", K_STR, false, struct api_run_create, config_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F("message", K_STR, false, struct api_run_create, message, .max = API_MAX_TEXT),
	F("creator", K_ENUM, false, struct api_run_create, creator, .en = API_E_CREATOR),
	F_END
};

static const struct field f_run_update[] = {
	F("state", K_ENUM, true, struct api_run_update, state, .en = API_E_RUN_STATE),
	F("message", K_STR, false, struct api_run_update, message, .max = API_MAX_TEXT),
	F("ts", K_INT, false, struct api_run_update, ts),
	F_END
};

static const struct field f_progress[] = {
	F("progress", K_NUM, true, struct api_progress, progress),
	F_END
};

static const struct field f_abort_reply[] = {
	F("abortRequested", K_BOOL, true, struct api_abort_reply, abort_requested),
	F_END
};

static const struct field f_log_create[] = {
	F("ts", K_INT, true, struct api_log_entry, ts),
	F("level", K_ENUM, true, struct api_log_entry, level, .en = API_E_LOG_LEVEL),
	F("group", K_STR, true, struct api_log_entry, group, .max = API_MAX_NAME),
	F("origin", K_STR, false, struct api_log_entry, origin, .max = API_MAX_NAME),
	F("msg", K_STR, true, struct api_log_entry, msg, .max = API_MAX_TEXT),
	F("state", K_ENUM, false, struct api_log_entry, state, .en = API_E_RUN_STATE),
	F("load", K_REFUSE, false, struct api_log_entry, ts),
	F_END
};

static const struct field f_log_read[] = {
	F("ts", K_INT, true, struct api_log_entry, ts),
	F("level", K_ENUM, true, struct api_log_entry, level, .en = API_E_LOG_LEVEL),
	F("group", K_STR, false, struct api_log_entry, group, .max = API_MAX_NAME),
	F("origin", K_STR, false, struct api_log_entry, origin, .max = API_MAX_NAME),
	F("msg", K_STR, true, struct api_log_entry, msg, .max = API_MAX_TEXT),
	F("state", K_ENUM, true, struct api_log_entry, state, .en = API_E_RUN_STATE),
	F("load", K_REFUSE, false, struct api_log_entry, ts),
	F_END
};

static const struct field f_log_data[] = {
	F("cursor", K_INT, false, struct api_log_data, cursor),
	/* "logs" is handled by api_parse_log_data itself */
	F_END
};

#define DS_BASE(st)                                                                     \
	F("id", K_STR, false, st, id, .max = 24, .pat = pat_id, .pat_text = ID),        \
	F("purpose", K_ENUM, true, st, purpose, .en = API_E_PURPOSE),                   \
	F("type", K_ENUM, true, st, type, .en = API_E_DS_TYPE),                         \
	F("thumbSuffix", K_STR, false, st, thumb_suffix, .max = API_MAX_FILENAME),      \
	F("fullPath", K_STR, true, st, full_path, .max = API_MAX_FILENAME)

static const struct field f_ds_local[] = {
	DS_BASE(struct api_datasource),
	F("webServerLocation", K_STR, false, struct api_datasource, web_server_location,
	  .max = API_MAX_TEXT, .pat = pat_http_url, .pat_text = "^https?:\\/\\/.+$"),
	F_END
};

static const struct field f_ds_s3[] = {
	DS_BASE(struct api_datasource),
	F("s3Region", K_ENUMSTR, true, struct api_datasource, s3_region, .en = API_E_S3_REGION),
	F("s3AccessKeyId", K_STR, true, struct api_datasource, s3_access_key_id,
	  .max = API_MAX_NAME, .min = 1),
	F("s3SecretAccessKey", K_STR, true, struct api_datasource, s3_secret_access_key,
	  .max = API_MAX_NAME, .min = 1),
	F("s3ServerSideEncryptionKMSKey", K_STR, false, struct api_datasource, s3_kms_key,
	  .max = API_MAX_NAME, .min = 1, .pat = pat_kms,
	  .pat_text = "^arn:aws:kms:[a-zA-Z0-9-]*:[0-9]{12}:key.+$"),
	F_END
};

static const struct field f_initial_tag[] = {
	F("name", K_STR, false, struct api_initial_tag, name, .max = API_MAX_NAME, .min = 3,
	  .pat = pat_tag_name, .pat_text = "^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$"),
	F("creator", K_ENUM, false, struct api_initial_tag, creator, .en = API_E_TAG_CREATOR),
	F("imgType", K_ENUM, true, struct api_initial_tag, img_type, .en = API_E_IMAGE_TYPE),
	F("runId", K_STR, false, struct api_initial_tag, run_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F_END
};

static const struct field f_tag_create[] = {
	F("name", K_STR, true, struct api_tag_create, name, .max = API_MAX_NAME, .min = 3,
	  .pat = pat_tag_name, .pat_text = "^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$"),
	F("prevTagId", K_STR, true, struct api_tag_create, prev_tag_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F("queryTagId", K_STR, false, struct api_tag_create, query_tag_id, .max = 24,
	  .pat = pat_id, .pat_text = ID),
	F("preselectedTagId", K_STR, false, struct api_tag_create, preselected_tag_id, .max = 24,
	  .pat = pat_id, .pat_text = ID),
	F("bitMaskData", K_STR, true, struct api_tag_create, bit_mask_data, .max = (size_t)1 << 28,
	  .pat = pat_bitmask, .pat_text = "^0x[a-f0-9]+$"),
	F("totSize", K_INT, true, struct api_tag_create, tot_size),
	F("creator", K_ENUM, false, struct api_tag_create, creator, .en = API_E_TAG_CREATOR),
	F("changes", K_REFUSE, false, struct api_tag_create, tot_size),
	F("runId", K_STR, false, struct api_tag_create, run_id, .max = 24, .pat = pat_id,
	  .pat_text = ID),
	F_END
};

static const struct field f_scores[] = {
	F("scoreType", K_STR, true, struct api_scores, score_type, .max = API_MAX_NAME, .min = 1,
	  .pat = pat_score_type, .pat_text = "^[a-zA-Z0-9_+=,.@:\\/-]*$"),
	F("scores", K_NUMS, true, struct api_scores, scores, .min = 1),
	F_END
};

static const struct field f_artifact_create[] = {
	F("fileName", K_STR, true, struct api_artifact_create, file_name, .max = API_MAX_FILENAME),
	F("type", K_ENUM, true, struct api_artifact_create, type, .en = API_E_ARTIFACT_TYPE),
	F("storageLocation", K_ENUM, false, struct api_artifact_create, storage_location,
	  .en = API_E_STORAGE),
	F_END
};

static const struct field f_run_file_create[] = {
	F("fileName", K_STR, true, struct api_artifact_create, file_name, .max = API_MAX_FILENAME),
	F("type", K_ENUM, true, struct api_artifact_create, type, .en = API_E_RUN_FILE_TYPE),
	F_END
};

static const struct field f_artifact_created[] = {
	F("signedWriteUrl", K_STR, true, struct api_artifact_created, signed_write_url,
	  .max = API_MAX_TEXT),
	F("artifactId", K_STR, true, struct api_artifact_created, artifact_id, .max = API_MAX_NAME),
	F_END
};

static const struct field f_datapool[] = {
	F("fileNames", K_STRS, true, struct api_datapool, file_names, .max = API_MAX_FILENAME),
	F_END
};

static const struct field f_sample[] = {
	F("fileName", K_STR, true, struct api_sample, file_name, .max = API_MAX_FILENAME),
	F("metaData", K_OBJ, false, struct api_sample, meta_data),
	F_END
};

static const struct field f_error[] = {
	F("code", K_ENUMSTR, true, struct api_error, code, .en = API_E_ERROR_CODE),
	F("error", K_STR, true, struct api_error, error, .max = API_MAX_TEXT),
	F("requestId", K_STR, false, struct api_error, request_id, .max = API_MAX_NAME),
	F("errorLabels", K_STRS, false, struct api_error, error_labels, .max = API_MAX_NAME),
	F_END
};

/* ---- the generic builder ------------------------------------------------ */

#define AT(s, f, T) ((T *)(void *)((char *)(s) + (f)->off))
#define CAT(s, f, T) ((const T *)(const void *)((const char *)(s) + (f)->off))

/*
 * A number as the shortest of %.15g, %.16g, %.17g that reads back as the
 * same double (cJSON's own printing stops at 15 digits when its tolerant
 * comparison says "equal", which loses the last bits and turns the largest
 * doubles into inf).
 */
static cJSON *exact_number(double v)
{
	char b[40];

	if (!isfinite(v))
		return cJSON_CreateNull();
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, v);
		if (strtod(b, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(b);
}

/* Adds s's fields to o; false when an enum value is out of range. */
static bool build_fields(cJSON *o, const struct field *fs, const void *s)
{
	for (const struct field *f = fs; f->key; f++) {
		switch (f->kind) {
		case K_STR:
		case K_ENUMSTR: {
			const char *v = *CAT(s, f, char *);
			if (v != NULL)
				cJSON_AddStringToObject(o, f->key, v);
			else if (f->required)
				cJSON_AddNullToObject(o, f->key);
			break;
		}
		case K_ENUM: {
			int v = *CAT(s, f, int);
			if (v < 0 && !f->required)
				break;
			const char *n = api_enum_name(f->en, v);
			if (n == NULL)
				return false;
			cJSON_AddStringToObject(o, f->key, n);
			break;
		}
		case K_INT: {
			int64_t v = *CAT(s, f, int64_t);
			if (v >= 0 || f->required) {
				char b[24];
				snprintf(b, sizeof(b), "%lld", (long long)v);
				cJSON_AddItemToObject(o, f->key, cJSON_CreateRaw(b));
			}
			break;
		}
		case K_NUM: {
			double v = *CAT(s, f, double);
			if (!isnan(v))
				cJSON_AddItemToObject(o, f->key, exact_number(v));
			break;
		}
		case K_BOOL:
			cJSON_AddBoolToObject(o, f->key, *CAT(s, f, bool));
			break;
		case K_STRS: {
			const struct api_strs *v = CAT(s, f, struct api_strs);
			if (!v->set && v->n == 0 && !f->required)
				break;
			cJSON *a = cJSON_AddArrayToObject(o, f->key);
			for (size_t i = 0; i < v->n; i++)
				cJSON_AddItemToArray(a, cJSON_CreateString(v->v[i]));
			break;
		}
		case K_NUMS: {
			const struct api_nums *v = CAT(s, f, struct api_nums);
			cJSON *a = cJSON_AddArrayToObject(o, f->key);
			for (size_t i = 0; i < v->n; i++)
				cJSON_AddItemToArray(a, exact_number(v->v[i]));
			break;
		}
		case K_OBJ: {
			const char *v = *CAT(s, f, char *);
			cJSON *j = v ? cJSON_Parse(v) : NULL;
			if (j != NULL)
				cJSON_AddItemToObject(o, f->key, j);
			else if (f->required)
				cJSON_AddItemToObject(o, f->key, cJSON_CreateObject());
			break;
		}
		case K_REFUSE:
			break;
		}
	}
	return true;
}

static char *print_take(cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return s;
}

static char *build_one(const struct field *fs, const void *s)
{
	cJSON *o = cJSON_CreateObject();

	if (s == NULL || !build_fields(o, fs, s)) {
		cJSON_Delete(o);
		return NULL;
	}
	return print_take(o);
}

static char *build_list(const struct field *fs, const void *v, size_t n, size_t size)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(a, o);
		if (!build_fields(o, fs, (const char *)v + i * size)) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return print_take(a);
}

/* ---- the generic parser ------------------------------------------------- */

static const char *json_type(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "null";
}

static void enum_list(struct buf *b, enum api_enum e)
{
	const char *const *t = api_enum_names(e);
	size_t i;

	for (i = 0; t[i] && i < 12; i++)
		buf_printf(b, "%s%s", i ? ", " : "", t[i]);
	if (t[i])
		buf_puts(b, ", ...");
}

static int check_str(const struct field *f, const char *where, const char *s, char *err,
		     size_t errlen)
{
	size_t n = strlen(s);

	if (f->max && n > f->max) {
		seterr(err, errlen, "%s: longer than %zu bytes", where, f->max);
		return -EINVAL;
	}
	if (n < f->min) {
		seterr(err, errlen, "%s: shorter than %zu characters", where, f->min);
		return -EINVAL;
	}
	if (f->pat && !f->pat(s)) {
		seterr(err, errlen, "%s: \"%.64s\" does not match %s", where, s, f->pat_text);
		return -EINVAL;
	}
	return 0;
}

static int parse_int(const cJSON *j, const char *where, int64_t *out, char *err, size_t errlen)
{
	double d = j->valuedouble;

	if (!cJSON_IsNumber(j) || d != floor(d) || d < 0 || d > 9007199254740992.0) {
		seterr(err, errlen, "%s: must be a whole number >= 0, not %s", where,
		       cJSON_IsNumber(j) ? "this one" : json_type(j));
		return -EINVAL;
	}
	*out = (int64_t)d;
	return 0;
}

static int parse_strs(const struct field *f, const cJSON *j, const char *where,
		      struct api_strs *out, char *err, size_t errlen)
{
	const cJSON *e;
	size_t i = 0;

	if (!cJSON_IsArray(j)) {
		seterr(err, errlen, "%s: must be an array of strings, not %s", where, json_type(j));
		return -EINVAL;
	}
	size_t n = (size_t)cJSON_GetArraySize(j);
	if (n > API_MAX_LIST) {
		seterr(err, errlen, "%s: more than %d items", where, API_MAX_LIST);
		return -EINVAL;
	}
	out->set = true;
	out->v = xcalloc(n + 1, sizeof(char *));
	cJSON_ArrayForEach(e, j) {
		char w[160];
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!cJSON_IsString(e)) {
			seterr(err, errlen, "%s: must be a string, not %s", w, json_type(e));
			return -EINVAL;
		}
		if (f->max && strlen(e->valuestring) > f->max) {
			seterr(err, errlen, "%s: longer than %zu bytes", w, f->max);
			return -EINVAL;
		}
		out->v[i++] = xstrdup(e->valuestring);
		out->n = i;
	}
	return 0;
}

static int parse_nums(const struct field *f, const cJSON *j, const char *where,
		      struct api_nums *out, char *err, size_t errlen)
{
	const cJSON *e;
	size_t i = 0;

	if (!cJSON_IsArray(j)) {
		seterr(err, errlen, "%s: must be an array of numbers, not %s", where, json_type(j));
		return -EINVAL;
	}
	size_t n = (size_t)cJSON_GetArraySize(j);
	if (n > API_MAX_LIST || n < f->min) {
		seterr(err, errlen, "%s: must hold %zu to %d numbers", where, f->min, API_MAX_LIST);
		return -EINVAL;
	}
	out->v = xcalloc(n + 1, sizeof(double));
	cJSON_ArrayForEach(e, j) {
		if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
			seterr(err, errlen, "%s[%zu]: must be a finite number, not %s", where, i,
			       json_type(e));
			return -EINVAL;
		}
		out->v[i++] = e->valuedouble;
		out->n = i;
	}
	return 0;
}

/* Sets every field of s to "absent" (the parser's start, and the _init functions). */
static void clear_fields(const struct field *fs, void *s)
{
	for (const struct field *f = fs; f->key; f++) {
		switch (f->kind) {
		case K_ENUM:
			*AT(s, f, int) = -1;
			break;
		case K_INT:
			*AT(s, f, int64_t) = -1;
			break;
		case K_NUM:
			*AT(s, f, double) = NAN;
			break;
		default:
			break;
		}
	}
}

static bool known_key(const struct field *fs, const char *k, const char *const *also)
{
	for (const struct field *f = fs; f->key; f++)
		if (strcmp(f->key, k) == 0)
			return true;
	for (; also && *also; also++)
		if (strcmp(*also, k) == 0)
			return true;
	return false;
}

/*
 * Parses object o into s by table fs; prefix names o in messages ("" at the
 * top). also: further keys the caller handles itself.
 */
static int parse_fields(const cJSON *o, const struct field *fs, void *s, unsigned flags,
			const char *prefix, const char *const *also, char *err, size_t errlen)
{
	const cJSON *j;
	char where[256];

	if (!cJSON_IsObject(o)) {
		seterr(err, errlen, "%s: must be an object, not %s", prefix[0] ? prefix : "the body",
		       json_type(o));
		return -EINVAL;
	}
	clear_fields(fs, s);
	if (!(flags & API_PARSE_EXTRA_OK)) {
		cJSON_ArrayForEach(j, o) {
			if (!known_key(fs, j->string, also)) {
				seterr(err, errlen, "%s%s%.64s: not a field of this model", prefix,
				       prefix[0] ? "." : "", j->string);
				return -EINVAL;
			}
		}
	}
	for (const struct field *f = fs; f->key; f++) {
		snprintf(where, sizeof(where), "%s%s%s", prefix, prefix[0] ? "." : "", f->key);
		j = cJSON_GetObjectItemCaseSensitive(o, f->key);
		if (j == NULL || cJSON_IsNull(j)) {
			if (f->required) {
				seterr(err, errlen, "%s: missing (required)", where);
				return -EINVAL;
			}
			continue;
		}
		int rc = 0;
		switch (f->kind) {
		case K_STR:
		case K_ENUMSTR:
		case K_ENUM:
			if (!cJSON_IsString(j)) {
				seterr(err, errlen, "%s: must be a string, not %s", where, json_type(j));
				return -EINVAL;
			}
			if (f->kind == K_STR) {
				if ((rc = check_str(f, where, j->valuestring, err, errlen)) < 0)
					return rc;
				*AT(s, f, char *) = xstrdup(j->valuestring);
				break;
			}
			int v = api_enum_value(f->en, j->valuestring);
			if (v < 0) {
				struct buf b = { 0 };
				enum_list(&b, f->en);
				seterr(err, errlen, "%s: \"%.64s\" is not one of %s", where,
				       j->valuestring, b.data);
				free(b.data);
				return -EINVAL;
			}
			if (f->kind == K_ENUM)
				*AT(s, f, int) = v;
			else
				*AT(s, f, char *) = xstrdup(j->valuestring);
			break;
		case K_INT:
			rc = parse_int(j, where, AT(s, f, int64_t), err, errlen);
			break;
		case K_NUM:
			if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble)) {
				seterr(err, errlen, "%s: must be a number, not %s", where, json_type(j));
				return -EINVAL;
			}
			*AT(s, f, double) = j->valuedouble;
			break;
		case K_BOOL:
			if (!cJSON_IsBool(j)) {
				seterr(err, errlen, "%s: must be true or false, not %s", where,
				       json_type(j));
				return -EINVAL;
			}
			*AT(s, f, bool) = cJSON_IsTrue(j);
			break;
		case K_STRS:
			rc = parse_strs(f, j, where, AT(s, f, struct api_strs), err, errlen);
			break;
		case K_NUMS:
			rc = parse_nums(f, j, where, AT(s, f, struct api_nums), err, errlen);
			break;
		case K_OBJ:
			if (!cJSON_IsObject(j)) {
				seterr(err, errlen, "%s: must be an object, not %s", where, json_type(j));
				return -EINVAL;
			}
			*AT(s, f, char *) = cJSON_PrintUnformatted(j);
			if (*AT(s, f, char *) == NULL)
				fatalx("api: out of memory");
			break;
		case K_REFUSE:
			seterr(err, errlen, "%s: not supported by winnow", where);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Frees the owned members of s by table fs. */
static void free_fields(const struct field *fs, void *s)
{
	for (const struct field *f = fs; f->key; f++) {
		switch (f->kind) {
		case K_STR:
		case K_ENUMSTR:
		case K_OBJ:
			free(*AT(s, f, char *));
			*AT(s, f, char *) = NULL;
			break;
		case K_STRS:
			api_strs_free(AT(s, f, struct api_strs));
			break;
		case K_NUMS: {
			struct api_nums *n = AT(s, f, struct api_nums);
			free(n->v);
			n->v = NULL;
			n->n = 0;
			break;
		}
		default:
			break;
		}
	}
}

static cJSON *parse_text(const char *text, size_t len, char *err, size_t errlen)
{
	cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;

	if (j == NULL)
		seterr(err, errlen, "the body is not JSON");
	return j;
}

static int parse_one(const struct field *fs, const char *text, size_t len, unsigned flags,
		     void *out, size_t size, char *err, size_t errlen)
{
	memset(out, 0, size);
	clear_fields(fs, out);
	cJSON *j = parse_text(text, len, err, errlen);
	if (j == NULL)
		return -EINVAL;
	int rc = parse_fields(j, fs, out, flags, "", NULL, err, errlen);
	cJSON_Delete(j);
	return rc;
}

/* A JSON array of objects of table fs: *v (n items of size bytes). */
static int parse_list_json(const cJSON *j, const struct field *fs, unsigned flags,
			   const char *name, void **v, size_t *n, size_t size, char *err,
			   size_t errlen)
{
	const cJSON *e;
	char where[64];

	*v = NULL;
	*n = 0;
	if (!cJSON_IsArray(j)) {
		seterr(err, errlen, "%s: must be an array, not %s", name, json_type(j));
		return -EINVAL;
	}
	size_t cnt = (size_t)cJSON_GetArraySize(j);
	if (cnt > API_MAX_LIST) {
		seterr(err, errlen, "%s: more than %d items", name, API_MAX_LIST);
		return -EINVAL;
	}
	*v = xcalloc(cnt + 1, size);
	cJSON_ArrayForEach(e, j) {
		snprintf(where, sizeof(where), "%s[%zu]", name, *n);
		void *item = (char *)*v + *n * size;
		(*n)++;
		int rc = parse_fields(e, fs, item, flags, where, NULL, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void free_list(const struct field *fs, void *v, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++)
		free_fields(fs, (char *)v + i * size);
	free(v);
}

/* ---- the bodies --------------------------------------------------------- */

#define ONE(name, T, table)                                                              \
	char *api_build_##name(const T *s)                                              \
	{                                                                               \
		return build_one(table, s);                              \
	}                                                                               \
	int api_parse_##name(const char *text, size_t len, unsigned flags, T *out,      \
			     char *err, size_t errlen)                                  \
	{                                                                               \
		return parse_one(table, text, len, flags, out, sizeof(*out), err, errlen); \
	}                                                                               \
	void api_##name##_free(T *s)                                                    \
	{                                                                               \
		if (s != NULL)                                                          \
			free_fields(table, s);                                          \
	}

ONE(entity, struct api_entity, f_entity)
ONE(worker_register, struct api_worker_register, f_worker_register)
ONE(worker_update, struct api_worker_update, f_worker_update)
ONE(sched_update, struct api_sched_update, f_sched_update)
ONE(config_data, struct api_config_data, f_config_data)
ONE(run_create, struct api_run_create, f_run_create)
ONE(initial_tag, struct api_initial_tag, f_initial_tag)
ONE(tag_create, struct api_tag_create, f_tag_create)
ONE(scores, struct api_scores, f_scores)
ONE(artifact_create, struct api_artifact_create, f_artifact_create)
ONE(artifact_created, struct api_artifact_created, f_artifact_created)
ONE(datapool, struct api_datapool, f_datapool)
ONE(error, struct api_error, f_error)

char *api_build_run_update(const struct api_run_update *s)
{
	return build_one(f_run_update, s);
}

int api_parse_run_update(const char *text, size_t len, unsigned flags, struct api_run_update *out,
			 char *err, size_t errlen)
{
	return parse_one(f_run_update, text, len, flags, out, sizeof(*out), err, errlen);
}

void api_run_update_free(struct api_run_update *s)
{
	if (s != NULL)
		free_fields(f_run_update, s);
}

char *api_build_progress(const struct api_progress *s)
{
	return build_one(f_progress, s);
}

int api_parse_progress(const char *text, size_t len, unsigned flags, struct api_progress *out,
		       char *err, size_t errlen)
{
	int rc = parse_one(f_progress, text, len, flags, out, sizeof(*out), err, errlen);

	if (rc == 0 && (out->progress < 0 || out->progress > 1)) {
		seterr(err, errlen, "progress: must lie in [0, 1]");
		rc = -EINVAL;
	}
	return rc;
}

void api_progress_free(struct api_progress *s)
{
	(void)s;
}

void api_abort_reply_free(struct api_abort_reply *s)
{
	(void)s;
}

void api_run_file_create_free(struct api_artifact_create *s)
{
	if (s != NULL)
		free_fields(f_run_file_create, s);
}

char *api_build_abort_reply(const struct api_abort_reply *s)
{
	return build_one(f_abort_reply, s);
}

int api_parse_abort_reply(const char *text, size_t len, unsigned flags,
			  struct api_abort_reply *out, char *err, size_t errlen)
{
	return parse_one(f_abort_reply, text, len, flags, out, sizeof(*out), err, errlen);
}

char *api_build_run_file_create(const struct api_artifact_create *s)
{
	return build_one(f_run_file_create, s);
}

int api_parse_run_file_create(const char *text, size_t len, unsigned flags,
			      struct api_artifact_create *out, char *err, size_t errlen)
{
	int rc = parse_one(f_run_file_create, text, len, flags, out, sizeof(*out), err, errlen);

	out->storage_location = -1;
	return rc;
}

/* Lists of objects. */
#define LIST(name, T, IT, table, label)                                                 \
	int api_parse_##name(const char *text, size_t len, unsigned flags, T *out,      \
			     char *err, size_t errlen)                                  \
	{                                                                               \
		void *v;                                                                \
		memset(out, 0, sizeof(*out));                                           \
		cJSON *j = parse_text(text, len, err, errlen);                          \
		if (j == NULL)                                                          \
			return -EINVAL;                                                 \
		int rc = parse_list_json(j, table, flags, label, &v, &out->n,           \
					 sizeof(IT), err, errlen);                      \
		out->v = v;                                                             \
		cJSON_Delete(j);                                                        \
		return rc;                                                              \
	}                                                                               \
	void api_##name##_free(T *s)                                                    \
	{                                                                               \
		if (s == NULL)                                                          \
			return;                                                         \
		free_list(table, s->v, s->n, sizeof(IT));                               \
		s->v = NULL;                                                            \
		s->n = 0;                                                               \
	}

LIST(scheduled_list, struct api_scheduled_list, struct api_scheduled, f_scheduled, "")
LIST(log_list, struct api_log_list, struct api_log_entry, f_log_create, "")
LIST(sample_list, struct api_sample_list, struct api_sample, f_sample, "")

char *api_build_scheduled(const struct api_scheduled *s)
{
	return build_one(f_scheduled, s);
}

char *api_build_scheduled_list(const struct api_scheduled_list *s)
{
	return build_list(f_scheduled, s->v, s->n, sizeof(*s->v));
}

char *api_build_log_list(const struct api_log_list *s)
{
	return build_list(f_log_create, s->v, s->n, sizeof(*s->v));
}

char *api_build_sample_list(const struct api_sample_list *s)
{
	return build_list(f_sample, s->v, s->n, sizeof(*s->v));
}

char *api_build_log_data(const struct api_log_data *s)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();

	if (!build_fields(o, f_log_data, s)) {
		cJSON_Delete(o);
		cJSON_Delete(a);
		return NULL;
	}
	cJSON_AddItemToObject(o, "logs", a);
	for (size_t i = 0; i < s->logs.n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToArray(a, e);
		if (!build_fields(e, f_log_read, &s->logs.v[i])) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return print_take(o);
}

int api_parse_log_data(const char *text, size_t len, unsigned flags, struct api_log_data *out,
		       char *err, size_t errlen)
{
	static const char *const also[] = { "logs", NULL };
	void *v = NULL;

	memset(out, 0, sizeof(*out));
	out->cursor = -1;
	cJSON *j = parse_text(text, len, err, errlen);
	if (j == NULL)
		return -EINVAL;
	int rc = parse_fields(j, f_log_data, out, flags, "", also, err, errlen);
	if (rc == 0) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "logs");
		if (l == NULL || cJSON_IsNull(l)) {
			seterr(err, errlen, "logs: missing (required)");
			rc = -EINVAL;
		} else {
			rc = parse_list_json(l, f_log_read, flags, "logs", &v, &out->logs.n,
					     sizeof(struct api_log_entry), err, errlen);
			out->logs.v = v;
		}
	}
	cJSON_Delete(j);
	return rc;
}

void api_log_data_free(struct api_log_data *s)
{
	if (s != NULL)
		api_log_list_free(&s->logs);
}

char *api_build_datasource(const struct api_datasource *s)
{
	return build_one(s->type == API_DS_S3 ? f_ds_s3 : f_ds_local, s);
}

int api_parse_datasource(const char *text, size_t len, unsigned flags, struct api_datasource *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	clear_fields(f_ds_s3, out);
	cJSON *j = parse_text(text, len, err, errlen);
	if (j == NULL)
		return -EINVAL;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
	int rc = 0;
	if (!cJSON_IsObject(j)) {
		seterr(err, errlen, "the body: must be an object, not %s", json_type(j));
		rc = -EINVAL;
	} else if (cJSON_IsString(t) && api_enum_value(API_E_DS_TYPE, t->valuestring) < 0) {
		/* Lightly's other members (LIGHTLY, S3DelegatedAccess, GCS, AZURE, OBS). */
		seterr(err, errlen, "type: \"%.64s\" is not supported by winnow (LOCAL or S3)",
		       t->valuestring);
		rc = -EINVAL;
	} else {
		bool s3 = cJSON_IsString(t) && strcmp(t->valuestring, "S3") == 0;
		rc = parse_fields(j, s3 ? f_ds_s3 : f_ds_local, out, flags, "", NULL, err, errlen);
	}
	cJSON_Delete(j);
	return rc;
}

void api_datasource_free(struct api_datasource *s)
{
	if (s == NULL)
		return;
	free_secret(s->s3_secret_access_key);
	s->s3_secret_access_key = NULL;
	free_fields(f_ds_s3, s);	/* the base and S3's fields */
	free(s->web_server_location);	/* LOCAL's one field outside f_ds_s3 */
	s->web_server_location = NULL;
}

char *api_build_strs(const struct api_strs *s)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < s->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s->v[i]));
	return print_take(a);
}

int api_parse_strs(const char *text, size_t len, unsigned flags, struct api_strs *out, char *err,
		   size_t errlen)
{
	static const struct field f = { .key = "", .kind = K_STRS, .max = API_MAX_FILENAME };

	memset(out, 0, sizeof(*out));
	cJSON *j = parse_text(text, len, err, errlen);
	if (j == NULL)
		return -EINVAL;
	int rc = parse_strs(&f, j, "the list", out, err, errlen);
	cJSON_Delete(j);
	return rc;
}

void api_strs_free(struct api_strs *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void api_worker_register_init(struct api_worker_register *s)
{
	memset(s, 0, sizeof(*s));
	clear_fields(f_worker_register, s);
}

void api_run_update_init(struct api_run_update *s)
{
	memset(s, 0, sizeof(*s));
	clear_fields(f_run_update, s);
}

void api_log_entry_init(struct api_log_entry *s)
{
	memset(s, 0, sizeof(*s));
	clear_fields(f_log_create, s);
}

void api_tag_create_init(struct api_tag_create *s)
{
	memset(s, 0, sizeof(*s));
	clear_fields(f_tag_create, s);
}

void api_artifact_create_init(struct api_artifact_create *s)
{
	memset(s, 0, sizeof(*s));
	clear_fields(f_artifact_create, s);
}

bool api_name_ok(enum api_name kind, const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > API_NAME_MAX)
		return false;
	return kind == API_NAME_TAG ? pat_tag_name(s) : pat_worker_name(s);
}

const char *api_name_rule(enum api_name kind)
{
	return kind == API_NAME_TAG ?
		"3 to 200 characters: letters, digits, space and . : ; = @ _ -, starting with a letter or digit" :
		"3 to 200 characters: letters, digits, space, _ and -, starting with a letter or digit";
}
