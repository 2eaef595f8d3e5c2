/*
 * api: the one wire contract between winnowd and winnow-web (SPEC 7).
 *
 * Every body winnowd sends or reads is a C struct here, with a builder
 * (struct -> JSON text) and a strict parser (JSON text -> struct), using the
 * field names and enums of lightly v1.5.20's generated client
 * (lightly/openapi_generated/swagger_client/models/). Every path is a row of
 * one route table (api.c), filled by api_path().
 *
 * ONE WIRE. Every path of the table is SPEC 7's, and winnow-web serves
 * each one: api_path() has no other. Lightly's routes carry Lightly's models
 * exactly; winnow's extras (progress, run files, samples, datapools, the
 * datasource with its S3 endpoint) are under /v1/winnow/. An older winnowd's
 * queue may hold calls on the paths of before; daemon/queue.c's migration to
 * version 5 rewrites them.
 *
 * RULES. Builders do not validate (winnowd's outbox puts placeholders such as
 * "@CANDTAG@" in ids, substituted when sent); they return NULL only when an
 * enum value is out of range or memory runs out. Parsers are strict like
 * Lightly's models: a wrong type, a missing required field, a value outside
 * Lightly's enum or pattern, a string over its cap, and (without
 * API_PARSE_EXTRA_OK) a key the model does not define, all give -EINVAL with
 * a message naming the field (e.g. "logs[3].level: \"LOUD\" is not one of
 * VERBOSE, ...").  JSON null is the same as an absent key. Structs own their
 * strings; each has an api_*_free. Absent optional values: NULL strings,
 * -1 enums and integers (Lightly's are all >= 0), NAN numbers.
 */
#ifndef WINNOW_API_H
#define WINNOW_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Lightly client version whose models this wire follows (SPEC 7): the
 * version route's answer. */
#define API_LIGHTLY_VERSION "1.5.20"

/* ---- enums: the index is the C value, the text Lightly's ---------------- */

enum api_enum {
	API_E_WORKER_TYPE,	/* DockerWorkerType */
	API_E_WORKER_STATE,	/* DockerWorkerState */
	API_E_CREATOR,		/* Creator */
	API_E_TAG_CREATOR,	/* TagCreator */
	API_E_PRIORITY,		/* DockerRunScheduledPriority */
	API_E_SCHED_STATE,	/* DockerRunScheduledState */
	API_E_RUN_STATE,	/* DockerRunState */
	API_E_LOG_LEVEL,	/* DockerRunLogLevel */
	API_E_ARTIFACT_TYPE,	/* DockerRunArtifactType */
	API_E_STORAGE,		/* DockerRunArtifactStorageLocation */
	API_E_IMAGE_TYPE,	/* ImageType */
	API_E_PURPOSE,		/* DatasourcePurpose */
	API_E_S3_REGION,	/* S3Region */
	API_E_ERROR_CODE,	/* ApiErrorCode */
	API_E_DS_TYPE,		/* DatasourceConfig's discriminator: the types winnow supports */
	API_E_RUN_FILE_TYPE,	/* winnow's own run files (SPEC 7) */
	API_E_COUNT
};

enum api_worker_state { API_WORKER_OFFLINE, API_WORKER_CRASHED, API_WORKER_IDLE, API_WORKER_BUSY };
enum api_sched_state { API_SCHED_OPEN, API_SCHED_LOCKED, API_SCHED_DONE, API_SCHED_CANCELED };
enum api_priority { API_PRIO_LOW, API_PRIO_MID, API_PRIO_HIGH, API_PRIO_CRITICAL };
enum api_log_level {
	API_LOG_VERBOSE, API_LOG_NOTSET, API_LOG_DEBUG, API_LOG_INFO, API_LOG_WARNING,
	API_LOG_ERROR, API_LOG_CRITICAL
};
enum api_creator {
	API_CREATOR_UNKNOWN, API_CREATOR_USER_WEBAPP, API_CREATOR_USER_PIP,
	API_CREATOR_USER_PIP_LIGHTLY_MAGIC, API_CREATOR_USER_WORKER
};
/* TagCreator: Creator's five, then the samplers. */
enum api_tag_creator {
	API_TAG_UNKNOWN, API_TAG_USER_WEBAPP, API_TAG_USER_PIP, API_TAG_USER_PIP_LIGHTLY_MAGIC,
	API_TAG_USER_WORKER, API_TAG_SAMPLER_ACTIVE_LEARNING, API_TAG_SAMPLER_CORAL,
	API_TAG_SAMPLER_CORESET, API_TAG_SAMPLER_RANDOM
};
enum api_artifact_type {
	API_ART_LOG, API_ART_MEMLOG, API_ART_CHECKPOINT, API_ART_REPORT_PDF, API_ART_REPORT_JSON,
	API_ART_REPORT_V2_JSON, API_ART_CORRUPTNESS_CHECK_INFORMATION,
	API_ART_SEQUENCE_INFORMATION, API_ART_RELEVANT_FILENAMES
};
enum api_run_file_type {
	API_FILE_SCORES_CSV, API_FILE_SELECTION_CSV, API_FILE_EMBEDDINGS_2D, API_FILE_NO_PREDICTIONS
};
enum api_image_type { API_IMG_FULL, API_IMG_THUMBNAIL, API_IMG_META };
enum api_purpose { API_PURPOSE_INPUT_OUTPUT, API_PURPOSE_INPUT, API_PURPOSE_LIGHTLY };
enum api_ds_type { API_DS_LOCAL, API_DS_S3 };
enum api_storage { API_STORAGE_LIGHTLY, API_STORAGE_DATASOURCE };
/* DockerRunState: Lightly's 26, in Lightly's order. */
enum api_run_state {
	API_RUN_STARTED, API_RUN_INITIALIZING, API_RUN_LOADING_DATASET, API_RUN_LOADING_METADATA,
	API_RUN_LOADING_PREDICTION, API_RUN_CHECKING_CORRUPTNESS, API_RUN_INITIALIZING_OBJECT_CROPS,
	API_RUN_COMPUTING_METADATA, API_RUN_TRAINING, API_RUN_EMBEDDING,
	API_RUN_EMBEDDING_OBJECT_CROPS, API_RUN_PRETAGGING, API_RUN_COMPUTING_ACTIVE_LEARNING_SCORES,
	API_RUN_SAMPLING, API_RUN_EMBEDDING_FULL_IMAGES, API_RUN_SAVING_RESULTS,
	API_RUN_UPLOADING_DATASET, API_RUN_GENERATING_REPORT, API_RUN_UPLOADING_REPORT,
	API_RUN_UPLOADED_REPORT, API_RUN_UPLOADING_ARTIFACTS, API_RUN_UPLOADED_ARTIFACTS,
	API_RUN_COMPLETED, API_RUN_FAILED, API_RUN_CRASHED, API_RUN_ABORTED
};

/* The text of value v of enum e, or NULL when out of range. */
const char *api_enum_name(enum api_enum e, int v);
/* The value of text s in enum e, or -1 (exact, case-sensitive match). */
int api_enum_value(enum api_enum e, const char *s);
/* The enum's values, NULL-terminated (for messages and conformance tables). */
const char *const *api_enum_names(enum api_enum e);

/* ---- routes ------------------------------------------------------------- */

enum api_call {
	API_WORKER_REGISTER,	/* POST /v1/docker/worker */
	API_WORKER_UPDATE,	/* PUT /v1/docker/worker/{workerId} */
	API_POLL,		/* GET /v1/docker/worker/{workerId}/schedule?state={state} */
	API_SCHED_UPDATE,	/* PUT /v1/datasets/{d}/docker/worker/{w}/schedule/{s} */
	API_CONFIG_V0,		/* GET /v1/docker/worker/config/{configId} */
	API_CONFIG_VX,		/* GET /v1/docker/worker/config/vX/{configId} */
	API_RUN_CREATE,		/* POST /v1/docker/runs */
	API_RUN_UPDATE,		/* PUT /v1/docker/runs/{runId} */
	API_RUN_PROGRESS,	/* PUT /v1/winnow/runs/{runId}/progress */
	API_RUN_LOGS,		/* PUT /v1/docker/runs/{runId}/logs */
	API_DATASOURCE,		/* GET /v1/datasets/{datasetId}/datasource */
	API_DATASOURCE_WINNOW,	/* GET /v1/winnow/datasets/{datasetId}/datasource */
	API_SAMPLES,		/* POST /v1/winnow/datasets/{datasetId}/samples/batch */
	API_MAPPINGS,		/* GET /v1/datasets/{datasetId}/mappings?field=fileName */
	API_TAGS_LIST,		/* GET /v1/datasets/{datasetId}/tags */
	API_TAG_INITIAL,	/* POST /v1/datasets/{datasetId}/tags/initial */
	API_TAG_CREATE,		/* POST /v1/datasets/{datasetId}/tags */
	API_SCORES,		/* POST /v1/datasets/{datasetId}/tags/{tagId}/scores */
	API_DATAPOOL_GET,	/* GET /v1/winnow/datasets/{datasetId}/datapools/{name} */
	API_DATAPOOL_PUT,	/* PUT /v1/winnow/datasets/{datasetId}/datapools/{name} */
	API_ARTIFACT_CREATE,	/* POST /v1/docker/runs/{runId}/artifacts */
	API_ARTIFACT_CONFIRM,	/* PUT /v1/docker/runs/{runId}/artifacts/{artifactId}/confirmUpload */
	API_RUN_FILE_CREATE,	/* POST /v1/winnow/runs/{runId}/files */
	API_RUN_FILES_LIST,	/* GET /v1/winnow/runs/{runId}/files (the pages) */
	API_CALL_COUNT
};

struct api_route {
	const char *method;
	const char *path;	/* SPEC 7's template: {name} stands for a parameter */
	int nparams;
};

const struct api_route *api_route(enum api_call c);

/*
 * The call's path with its nparams parameters filled in, in the template's
 * order (each percent-escaped but for [A-Za-z0-9._~@:-], so the outbox's
 * "@CANDTAG@" survives). Caller frees; NULL when a parameter is NULL or
 * empty.
 */
char *api_path(enum api_call c, ...);
const char *api_method(enum api_call c);

/* ---- bodies ------------------------------------------------------------- */

/* Caps of the parsers (bytes of a string). */
#define API_MAX_NAME 1024	/* names of datasets, workers, tags, score types, labels */
#define API_MAX_FILENAME 4096	/* file names and paths */
#define API_MAX_TEXT 65536	/* messages, log lines, URLs */
#define API_MAX_LIST 50000000	/* items of any list (a dataset's sample order is one) */

#define API_PARSE_EXTRA_OK 1u	/* tolerate keys the model does not define */

struct api_strs {
	char **v;
	size_t n;
	bool set;		/* present (possibly empty) */
};

struct api_nums {
	double *v;
	size_t n;
};

/* CreateEntityResponse {id} */
struct api_entity {
	char *id;
};

/* CreateDockerWorkerRegistryEntryRequest */
struct api_worker_register {
	char *name;			/* required, ^[a-zA-Z0-9][a-zA-Z0-9 _-]+$, >= 3 */
	int worker_type;		/* required, DockerWorkerType (0: FULL) */
	struct api_strs labels;
	int creator;			/* Creator or -1 */
	char *docker_version;
};

/* UpdateDockerWorkerRegistryEntryRequest */
struct api_worker_update {
	int state;			/* required, enum api_worker_state */
	char *docker_version;
};

/* DockerRunScheduledData */
struct api_scheduled {
	char *id, *dataset_id, *config_id;	/* required ids */
	char *user_id;
	int priority;				/* required */
	struct api_strs runs_on;		/* required */
	int state;				/* required */
	int64_t created_at, last_modified_at;	/* required, >= 0 */
	char *owner;
};

struct api_scheduled_list {
	struct api_scheduled *v;
	size_t n;
};

/* DockerRunScheduledUpdateRequest */
struct api_sched_update {
	int state;			/* required */
	int priority;			/* -1: absent */
	struct api_strs runs_on;
};

/* DockerWorkerConfigV0Data and the V0/V4 members of DockerWorkerConfigVXData */
struct api_config_data {
	char *id;			/* required */
	char *version;			/* required: "V0".."V4" */
	int64_t created_at;		/* required */
	char *config;			/* required: the object, as JSON text */
	char *config_orig;		/* object text or NULL */
};

/* DockerRunCreateRequest */
struct api_run_create {
	char *docker_version;		/* required */
	char *dataset_id, *scheduled_id, *config_id;
	char *message;
	int creator;			/* Creator or -1 */
};

/* DockerRunUpdateRequest (the progress goes to API_RUN_PROGRESS) */
struct api_run_update {
	int state;			/* required, DockerRunState */
	char *message;
	int64_t ts;			/* -1: absent */
};

/* winnow's progress call {progress} and its answer {abortRequested} */
struct api_progress {
	double progress;		/* required, 0..1 */
};
struct api_abort_reply {
	bool abort_requested;		/* required */
};

/* DockerRunLogCreateEntryData (and DockerRunLogEntryData of the read side) */
struct api_log_entry {
	int64_t ts;			/* required */
	int level;			/* required, enum api_log_level */
	char *group;			/* required on create, optional on read */
	char *origin;
	char *msg;			/* required */
	int state;			/* DockerRunState or -1 (required on read) */
};

struct api_log_list {
	struct api_log_entry *v;
	size_t n;
};

/* DockerRunLogData {cursor, logs} */
struct api_log_data {
	int64_t cursor;			/* -1: absent (Lightly's default 0) */
	struct api_log_list logs;
};

/* DatasourceConfig, its LOCAL and S3 members */
struct api_datasource {
	char *id;
	int purpose;			/* required */
	int type;			/* required, enum api_ds_type */
	char *thumb_suffix;
	char *full_path;		/* required */
	char *web_server_location;	/* LOCAL */
	char *s3_region;		/* S3, required: one of S3Region */
	char *s3_access_key_id;		/* S3, required, >= 1 */
	char *s3_secret_access_key;	/* S3, required, >= 1 */
	char *s3_kms_key;		/* S3: s3ServerSideEncryptionKMSKey */
};

/* InitialTagCreateRequest */
struct api_initial_tag {
	char *name;
	int creator;			/* TagCreator or -1 */
	int img_type;			/* required, ImageType */
	char *run_id;
};

/* TagCreateRequest (changes is refused: winnow does not support it) */
struct api_tag_create {
	char *name;			/* required, ^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$, >= 3 */
	char *prev_tag_id;		/* required (the builder writes null for NULL) */
	char *query_tag_id, *preselected_tag_id;
	char *bit_mask_data;		/* required, ^0x[a-f0-9]+$ */
	int64_t tot_size;		/* required */
	int creator;			/* TagCreator or -1 */
	char *run_id;
};

/* ActiveLearningScoreCreateRequest */
struct api_scores {
	char *score_type;		/* required, ^[a-zA-Z0-9_+=,.@:\/-]*$, >= 1 */
	struct api_nums scores;		/* required, >= 1 item */
};

/* DockerRunArtifactCreateRequest; winnow's run files take the same shape */
struct api_artifact_create {
	char *file_name;		/* required */
	int type;			/* required: api_artifact_type (api_run_file_type for files) */
	int storage_location;		/* -1: absent */
};

/* DockerRunArtifactCreatedData */
struct api_artifact_created {
	char *signed_write_url, *artifact_id;	/* required */
};

/* winnow's datapool {fileNames} (request of PUT, reply of GET: name and added tolerated) */
struct api_datapool {
	struct api_strs file_names;	/* required */
};

/* A sample of winnow's samples/batch: {fileName, metaData} */
struct api_sample {
	char *file_name;		/* required */
	char *meta_data;		/* object text or NULL */
};

struct api_sample_list {
	struct api_sample *v;
	size_t n;
};

/* ApiErrorResponse */
struct api_error {
	char *code;			/* required, one of ApiErrorCode */
	char *error;			/* required */
	char *request_id;
	struct api_strs error_labels;
};

/* Builders: JSON text (caller frees) or NULL. */
char *api_build_entity(const struct api_entity *s);
char *api_build_worker_register(const struct api_worker_register *s);
char *api_build_worker_update(const struct api_worker_update *s);
char *api_build_scheduled(const struct api_scheduled *s);
char *api_build_scheduled_list(const struct api_scheduled_list *s);
char *api_build_sched_update(const struct api_sched_update *s);
char *api_build_config_data(const struct api_config_data *s);
char *api_build_run_create(const struct api_run_create *s);
char *api_build_run_update(const struct api_run_update *s);
char *api_build_progress(const struct api_progress *s);
char *api_build_abort_reply(const struct api_abort_reply *s);
char *api_build_log_list(const struct api_log_list *s);
char *api_build_log_data(const struct api_log_data *s);
char *api_build_datasource(const struct api_datasource *s);
char *api_build_initial_tag(const struct api_initial_tag *s);
char *api_build_tag_create(const struct api_tag_create *s);
char *api_build_scores(const struct api_scores *s);
char *api_build_artifact_create(const struct api_artifact_create *s);
char *api_build_run_file_create(const struct api_artifact_create *s);
char *api_build_artifact_created(const struct api_artifact_created *s);
char *api_build_datapool(const struct api_datapool *s);
char *api_build_sample_list(const struct api_sample_list *s);
char *api_build_strs(const struct api_strs *s);	/* List[str]: the mappings */
char *api_build_error(const struct api_error *s);

/*
 * Parsers: 0, or -EINVAL with err naming the field (-ENOMEM never: memory
 * failures abort, as everywhere in winnow). *out is zeroed first and always
 * safe to free.
 */
#define API_PARSER(name, type)                                                          \
	int api_parse_##name(const char *text, size_t len, unsigned flags, type *out,  \
			     char *err, size_t errlen)
API_PARSER(entity, struct api_entity);
API_PARSER(worker_register, struct api_worker_register);
API_PARSER(worker_update, struct api_worker_update);
API_PARSER(scheduled_list, struct api_scheduled_list);
API_PARSER(sched_update, struct api_sched_update);
API_PARSER(config_data, struct api_config_data);
API_PARSER(run_create, struct api_run_create);
API_PARSER(run_update, struct api_run_update);
API_PARSER(progress, struct api_progress);
API_PARSER(abort_reply, struct api_abort_reply);
API_PARSER(log_list, struct api_log_list);
API_PARSER(log_data, struct api_log_data);
API_PARSER(datasource, struct api_datasource);
API_PARSER(initial_tag, struct api_initial_tag);
API_PARSER(tag_create, struct api_tag_create);
API_PARSER(scores, struct api_scores);
API_PARSER(artifact_create, struct api_artifact_create);
API_PARSER(run_file_create, struct api_artifact_create);
API_PARSER(artifact_created, struct api_artifact_created);
API_PARSER(datapool, struct api_datapool);
API_PARSER(sample_list, struct api_sample_list);
API_PARSER(strs, struct api_strs);
API_PARSER(error, struct api_error);
#undef API_PARSER

void api_entity_free(struct api_entity *s);
void api_worker_register_free(struct api_worker_register *s);
void api_worker_update_free(struct api_worker_update *s);
void api_scheduled_list_free(struct api_scheduled_list *s);
void api_sched_update_free(struct api_sched_update *s);
void api_config_data_free(struct api_config_data *s);
void api_run_create_free(struct api_run_create *s);
void api_run_update_free(struct api_run_update *s);
void api_progress_free(struct api_progress *s);		/* nothing owned: for symmetry */
void api_abort_reply_free(struct api_abort_reply *s);	/* nothing owned: for symmetry */
void api_run_file_create_free(struct api_artifact_create *s);
void api_log_list_free(struct api_log_list *s);
void api_log_data_free(struct api_log_data *s);
void api_datasource_free(struct api_datasource *s);
void api_initial_tag_free(struct api_initial_tag *s);
void api_tag_create_free(struct api_tag_create *s);
void api_scores_free(struct api_scores *s);
void api_artifact_create_free(struct api_artifact_create *s);
void api_artifact_created_free(struct api_artifact_created *s);
void api_datapool_free(struct api_datapool *s);
void api_sample_list_free(struct api_sample_list *s);
void api_strs_free(struct api_strs *s);
void api_error_free(struct api_error *s);

/*
 * Lightly's name patterns (SPEC 7), checked at every entry point (API, pages,
 * winnowd's config): datasets and workers ^[a-zA-Z0-9][a-zA-Z0-9 _-]{2,}$,
 * tags ^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]{2,}$; winnow caps them at
 * API_NAME_MAX bytes. api_name_rule says the rule in words, for messages.
 */
#define API_NAME_MAX 200
enum api_name { API_NAME_DATASET, API_NAME_WORKER, API_NAME_TAG };
bool api_name_ok(enum api_name kind, const char *s);
const char *api_name_rule(enum api_name kind);

/* Empty initialisers: every optional field absent. */
void api_worker_register_init(struct api_worker_register *s);
void api_run_update_init(struct api_run_update *s);
void api_log_entry_init(struct api_log_entry *s);
void api_tag_create_init(struct api_tag_create *s);
void api_artifact_create_init(struct api_artifact_create *s);

#endif
