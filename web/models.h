/*
 * models: the JSON reply models of winnow-web (worker, scheduled run, run,
 * tag, dataset), built from the database: Lightly's models exactly, and
 * winnow's views of them with its extras (SPEC 7), and the enums they use.
 */
#ifndef WINNOW_WEB_MODELS_H
#define WINNOW_WEB_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct dbconn;

extern const char *const worker_states[];	/* OFFLINE CRASHED IDLE BUSY */
extern const char *const run_states[];		/* STARTED .. ABORTED */
extern const char *const scheduled_states[];	/* OPEN LOCKED DONE CANCELED */
extern const char *const priorities[];		/* LOW MID HIGH CRITICAL (rank = index) */
extern const char *const tag_creators[];
extern const char *const artifact_types[];
extern const char *const log_levels[];

/* True for COMPLETED, FAILED, CRASHED, ABORTED. */
bool run_state_final(const char *state);

/* Seconds without a heartbeat after which a worker counts as OFFLINE (default 60). */
extern int worker_timeout_seconds;

/* Each returns a new object (caller frees), or NULL when the id is unknown. */
cJSON *model_worker(struct dbconn *c, const char *id);
/* winnow's worker (GET /v1/winnow/workers): Lightly's fields and lastSeenAt. */
cJSON *model_worker_winnow(struct dbconn *c, const char *id);
/* Lightly's DockerRunScheduledData, exactly. */
cJSON *model_scheduled(struct dbconn *c, const char *id);
/* winnow's scheduled run (GET /v1/winnow/...): Lightly's fields, workerId, originScheduledId. */
cJSON *model_scheduled_winnow(struct dbconn *c, const char *id);
/* Lightly's DockerRunData, exactly: its artifacts only of Lightly's types, and uploaded. */
cJSON *model_run(struct dbconn *c, const char *id);
/*
 * winnow's run (GET /v1/winnow/runs/{runId}): Lightly's fields, progress,
 * abortRequested, and every artifact and run file with uploaded and size.
 */
cJSON *model_run_winnow(struct dbconn *c, const char *id);
/* True when type is one of Lightly's DockerRunArtifactType values. */
bool artifact_type_lightly(const char *type);
cJSON *model_tag(struct dbconn *c, const char *id);
/* winnow's tag (GET /v1/winnow/datasets/{id}/tags): Lightly's TagData plus creator. */
cJSON *model_tag_winnow(struct dbconn *c, const char *id);
cJSON *model_dataset(struct dbconn *c, const char *id);

/* Adds an int64 (ms times, counts) as a JSON number. */
void json_add_i64(cJSON *o, const char *key, int64_t v);
/*
 * A JSON number that reads back as exactly v (cJSON's own printing rounds
 * to 15 digits when the value is "close enough"; scores must round-trip).
 */
cJSON *json_exact_number(double v);

/* Adds text or null. */
void json_add_str_or_null(cJSON *o, const char *key, const char *s);

/* True when a row with this id exists in the dataset table. */
bool dataset_exists_id(struct dbconn *c, const char *id);

#endif
