/*
 * routes: the table of winnow-web's /v1 routes (method, path pattern, the
 * roles allowed, the handler) and the handlers themselves, which live in
 * routes_worker.c (SPEC 7's worker calls) and routes_user.c (the pages' and
 * Lightly's user calls).
 */
#ifndef WINNOW_WEB_ROUTES_H
#define WINNOW_WEB_ROUTES_H

#include <stdbool.h>
#include <stdio.h>

#include "bitmask.h"
#include "http.h"

struct route {
	const char *method;
	const char *pattern;	/* "/v1/datasets/{datasetId}"; a {..Id} must be an id */
	unsigned roles;		/* ROLE_* bits; ROLE_NONE: the handler checks its own credential;
				   ROLE_PUBLIC: no credential at all (the version route) */
	void (*fn)(struct req *r, struct resp *out);
	size_t max_body;	/* the largest body taken (413 past it); 0: HTTP_DEFAULT_BODY */
};

/* A route's body cap (SPEC 8): its max_body, or HTTP_DEFAULT_BODY. */
size_t routes_max_body(const struct route *rt);

extern const struct route routes[];
extern const size_t nroutes;

/*
 * Finds the route for method and path (a copy is split into segments in
 * buf, which holds the parameters afterwards). Returns the route, or NULL
 * with *status 404 (no pattern matches) or 405 (a pattern matches, not the
 * method; allow then lists the methods, comma-separated, in allow_len bytes).
 */
const struct route *routes_match(const char *method, const char *path, char *buf, size_t buflen,
				 const char **params, int *status, char *allow, size_t allow_len);

/*
 * Copies the name of pattern's index-th {parameter} (0-based) into name, size
 * bytes. Returns false when the pattern has no such parameter or its name does
 * not fit.
 */
bool routes_param_name(const char *pattern, int index, char *name, size_t size);

/* Prints "METHOD PATTERN ROLES" a line. */
void routes_print(FILE *f);

/* Worker routes (routes_worker.c). */
void h_worker_register(struct req *r, struct resp *out);
void h_worker_state(struct req *r, struct resp *out);
void h_worker_poll(struct req *r, struct resp *out);
void h_schedule_claim(struct req *r, struct resp *out);
void h_config_get(struct req *r, struct resp *out);
void h_run_create(struct req *r, struct resp *out);
void h_run_state(struct req *r, struct resp *out);
void h_run_logs_put(struct req *r, struct resp *out);
void h_run_progress(struct req *r, struct resp *out);
void h_artifact_confirm(struct req *r, struct resp *out);
void h_run_file_create(struct req *r, struct resp *out);
void h_run_files_list(struct req *r, struct resp *out);
/* Does the route store Idempotency-Key answers (server.c)? Its creates do. */
bool routes_idempotent(const struct route *rt);
/* What an Idempotency-Key is stored under: method, path, the body's sha256 and the caller. */
char *routes_idem_route(struct req *r);
void h_samples_batch(struct req *r, struct resp *out);
void h_mappings(struct req *r, struct resp *out);
void h_tags_list(struct req *r, struct resp *out);
void h_winnow_tags_list(struct req *r, struct resp *out);
void h_run_tags(struct req *r, struct resp *out);
void h_tag_initial(struct req *r, struct resp *out);
void h_tag_export_filenames(struct req *r, struct resp *out);
void h_tag_create(struct req *r, struct resp *out);
void h_tag_get(struct req *r, struct resp *out);
void h_scores_post(struct req *r, struct resp *out);
void h_datapool_get(struct req *r, struct resp *out);
void h_datapool_put(struct req *r, struct resp *out);
void h_artifact_create(struct req *r, struct resp *out);
void h_artifact_upload(struct req *r, struct resp *out);

/*
 * The paging of winnow's own lists (/v1/winnow/...): Lightly's pageSize and
 * pageOffset query arguments; no pageSize, or one past WINNOW_PAGE_MAX, is
 * WINNOW_PAGE_MAX. 0, or -1 after replying 400.
 */
#define WINNOW_PAGE_MAX 1000
int winnow_paging(struct req *r, struct resp *out, int64_t *limit, int64_t *offset);

/* Sharing (routes_user.c): GET, PUT/POST and DELETE .../datasets/{datasetId}/shares. */
void h_shares_list(struct req *r, struct resp *out);
void h_share_add(struct req *r, struct resp *out);
void h_share_delete(struct req *r, struct resp *out);

/* User routes (routes_user.c). */
void h_me(struct req *r, struct resp *out);
void h_datasets_list(struct req *r, struct resp *out);
void h_datasets_by_name(struct req *r, struct resp *out);
void h_dataset_create(struct req *r, struct resp *out);
void h_dataset_get(struct req *r, struct resp *out);
void h_tasks(struct req *r, struct resp *out);
void h_config_create(struct req *r, struct resp *out);
void h_config_validate(struct req *r, struct resp *out);
void h_config_create_vx(struct req *r, struct resp *out);
void h_schedule_create(struct req *r, struct resp *out);
void h_schedule_list(struct req *r, struct resp *out);
void h_winnow_schedule_list(struct req *r, struct resp *out);
void h_schedule_cancel(struct req *r, struct resp *out);
void h_runs_list(struct req *r, struct resp *out);
void h_runs_by_dataset(struct req *r, struct resp *out);
void h_run_get(struct req *r, struct resp *out);
void h_winnow_runs_list(struct req *r, struct resp *out);
void h_winnow_run_get(struct req *r, struct resp *out);
void h_run_by_scheduled(struct req *r, struct resp *out);
void h_run_abort(struct req *r, struct resp *out);
void h_run_logs_get(struct req *r, struct resp *out);
void h_artifact_download(struct req *r, struct resp *out);
void h_artifact_readurl(struct req *r, struct resp *out);
void h_artifact_read(struct req *r, struct resp *out);
void h_workers_list(struct req *r, struct resp *out);
void h_worker_get(struct req *r, struct resp *out);
void h_worker_delete(struct req *r, struct resp *out);
void h_winnow_workers_list(struct req *r, struct resp *out);
void h_scores_list(struct req *r, struct resp *out);
void h_score_get(struct req *r, struct resp *out);
void h_winnow_score_by_type(struct req *r, struct resp *out);
void h_results(struct req *r, struct resp *out);
/*
 * A run's dataset and its two tags (routes_user.c), as the results and the
 * export read them: the candidates tag (no previous tag) and the selection
 * tag (after it); an id is "" and its mask empty while the tag is absent.
 */
struct run_tags {
	char dataset[25];
	char cand_id[25];
	char sel_id[25];
	struct bitmask cand;
	struct bitmask sel;
};
/*
 * Fills *t for run_id. Returns 0, -ENOENT when there is no such run, or -EIO
 * when a read failed; run_tags_free(t) afterwards in every case.
 */
int run_tags_load(struct dbconn *c, const char *run_id, struct run_tags *t);
void run_tags_free(struct run_tags *t);
/*
 * Appends the candidates tag's score lists (those with one value per
 * candidate) to types and *vals (the caller's: each vals[i] and the array
 * freed by it). Returns 0 or -EIO.
 */
struct strvec;
int run_scores_load(struct dbconn *c, const struct run_tags *t, struct strvec *types,
		    double ***vals);
/*
 * The run's newest uploaded SELECTION_CSV, parsed into *csv (*have set) or its
 * error text in *err (caller frees); neither when there is none. Returns 0 or
 * -EIO.
 */
struct selcsv;
int run_selcsv_load(struct dbconn *c, const char *run_id, struct selcsv *csv, bool *have,
		    char **err);
void h_thumbnail(struct req *r, struct resp *out);
void h_version(struct req *r, struct resp *out);
/* routes_tags.c */
void h_winnow_tag_create(struct req *r, struct resp *out);

/* The sample view (routes_sample.c): the full image, its predictions and metadata. */
void h_sample_image(struct req *r, struct resp *out);
void h_sample_image_signed(struct req *r, struct resp *out);
void h_sample_predictions(struct req *r, struct resp *out);
void h_sample_metadata(struct req *r, struct resp *out);
/*
 * The absolute, signed URL of image fn of dataset for the signed route,
 * expiring --read-url-ttl seconds after now (unix seconds). Caller frees.
 */
char *sample_signed_url(const struct web_settings *ws, const char *dataset, const char *fn,
			int64_t now);

/* Export for labelling (routes_export.c): GET /v1/winnow/runs/{runId}/export. */
void h_run_export(struct req *r, struct resp *out);
/* winnow's run lists (routes_runs.c): filtered, paged, each item with its summary. */
void winnow_schedule_of_dataset(struct req *r, struct resp *out);
void h_winnow_schedule_all(struct req *r, struct resp *out);
void winnow_runs(struct req *r, struct resp *out);
/* A dataset's files before any run, rename and delete (routes_browse.c). */
void h_browse_files(struct req *r, struct resp *out);
void h_dataset_update(struct req *r, struct resp *out);
void h_dataset_delete(struct req *r, struct resp *out);

/* Video frames (routes_video.c): a frame's video, index, frame count and time. */
void h_sample_frame(struct req *r, struct resp *out);

#endif
