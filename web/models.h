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

/*
 * Each sets *out to a new object (caller frees) and returns 0, or returns
 * -ENOENT when the id is unknown (404) or -EIO on a database error (503),
 * with *out NULL.
 */
int model_worker(struct dbconn *c, const char *id, cJSON **out);
/* winnow's worker (GET /v1/winnow/workers): Lightly's fields and lastSeenAt. */
int model_worker_winnow(struct dbconn *c, const char *id, cJSON **out);
/* Lightly's DockerRunScheduledData, exactly. */
int model_scheduled(struct dbconn *c, const char *id, cJSON **out);
/* winnow's scheduled run (GET /v1/winnow/...): Lightly's fields, workerId, originScheduledId. */
int model_scheduled_winnow(struct dbconn *c, const char *id, cJSON **out);
/* Lightly's DockerRunData, exactly: its artifacts only of Lightly's types, and uploaded. */
int model_run(struct dbconn *c, const char *id, cJSON **out);
/*
 * winnow's run (GET /v1/winnow/runs/{runId}): Lightly's fields, progress,
 * abortRequested, and every artifact and run file with uploaded and size.
 */
int model_run_winnow(struct dbconn *c, const char *id, cJSON **out);
/* True when type is one of Lightly's DockerRunArtifactType values. */
bool artifact_type_lightly(const char *type);
int model_tag(struct dbconn *c, const char *id, cJSON **out);
/* winnow's tag (GET /v1/winnow/datasets/{id}/tags): Lightly's TagData plus creator. */
int model_tag_winnow(struct dbconn *c, const char *id, cJSON **out);
int model_dataset(struct dbconn *c, const char *id, cJSON **out);

/* Adds an int64 (ms times, counts) as a JSON number. */
void json_add_i64(cJSON *o, const char *key, int64_t v);
/*
 * A JSON number that reads back as exactly v (cJSON's own printing rounds
 * to 15 digits when the value is "close enough"; scores must round-trip).
 */
cJSON *json_exact_number(double v);

/* Adds text or null. */
void json_add_str_or_null(cJSON *o, const char *key, const char *s);

/* 0 when a dataset with this id exists, -ENOENT when not, -EIO on a database error. */
int dataset_lookup(struct dbconn *c, const char *id);

#endif
