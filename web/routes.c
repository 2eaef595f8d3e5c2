/*
 * routes: the route table and its matcher. The table is the one place that
 * says which role may call what; `winnow-web routes` prints it and the auth
 * test walks it. Routes with more literal segments come first, so that
 * /v1/docker/runs/schedule/{id} is tried before /v1/docker/runs/{runId}/...
 */
#include "routes.h"

#include "datasource.h"

#include <stdio.h>
#include <string.h>

#define W ROLE_WORKER
#define U ROLE_USER
#define A ROLE_ANY
/* The body cap of the routes that carry data (samples, scores, tags, files);
   the others take HTTP_DEFAULT_BODY (1 MiB). */
#define BIG HTTP_MAX_BODY

/* A row without a body cap takes the default (routes_max_body): max_body left out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct route routes[] = {
	{ "GET", "/v1/winnow/me", A, h_me },
	{ "GET", "/v1/versions/pip/minimum", ROLE_PUBLIC, h_version },
	{ "GET", "/v1/versions/pip/latest", ROLE_PUBLIC, h_version },
	{ "GET", "/v1/docker/worker", U, h_workers_list },
	{ "POST", "/v1/docker/worker", A, h_worker_register },
	{ "POST", "/v1/docker/worker/config", U, h_config_create },
	{ "POST", "/v1/winnow/configs/validate", U, h_config_validate },
	{ "POST", "/v1/docker/worker/config/vX", U, h_config_create_vx },
	{ "GET", "/v1/docker/worker/config/vX/{configId}", A, h_config_get },
	{ "GET", "/v1/docker/worker/config/{configId}", A, h_config_get },
	{ "GET", "/v1/docker/worker/{workerId}", A, h_worker_get },
	{ "PUT", "/v1/docker/worker/{workerId}", W, h_worker_state },
	{ "DELETE", "/v1/docker/worker/{workerId}", U, h_worker_delete },
	{ "GET", "/v1/docker/worker/{workerId}/schedule", W, h_worker_poll },
	{ "GET", "/v1/docker/runs", U, h_runs_list },
	{ "POST", "/v1/docker/runs", W, h_run_create },
	{ "GET", "/v1/docker/runs/query/datasetId/{datasetId}", U, h_runs_by_dataset },
	{ "GET", "/v1/docker/runs/schedule/{scheduledId}", A, h_run_by_scheduled },
	{ "GET", "/v1/docker/runs/{runId}", A, h_run_get },
	{ "PUT", "/v1/docker/runs/{runId}", W, h_run_state },
	{ "GET", "/v1/docker/runs/{runId}/tags", U, h_run_tags },
	{ "GET", "/v1/docker/runs/{runId}/logs", U, h_run_logs_get },
	{ "PUT", "/v1/docker/runs/{runId}/logs", W, h_run_logs_put, BIG },
	{ "POST", "/v1/docker/runs/{runId}/artifacts", W, h_artifact_create },
	{ "GET", "/v1/docker/runs/{runId}/artifacts/{artifactId}/readurl", U, h_artifact_readurl },
	{ "PUT", "/v1/docker/runs/{runId}/artifacts/{artifactId}/confirmUpload", W,
	  h_artifact_confirm },
	{ "PUT", "/v1/winnow/artifacts/{artifactId}/content", ROLE_NONE, h_artifact_upload, BIG },
	/*
	 * The upload's path before it moved under /v1/winnow/ (issue 14), kept
	 * for uploads only: a signedWriteUrl issued before the move is still
	 * handed out by the Idempotency-Key store (web.db's idempotency table
	 * keeps a create's reply, its URL inside, 7 days, and a winnowd that
	 * repeats a create after a restart gets that reply), or held by a
	 * winnowd or Lightly client between its create and its PUT across an
	 * upgrade. winnowd's own queue never holds the URL (daemon/outbox.c
	 * takes it from the create's answer). Not a Lightly path; remove it a
	 * release after the move, once no stored reply can name it.
	 */
	{ "PUT", "/v1/artifacts/{artifactId}/content", ROLE_NONE, h_artifact_upload, BIG },
	{ "GET", "/v1/winnow/workers", U, h_winnow_workers_list },
	{ "PUT", "/v1/winnow/runs/{runId}/progress", W, h_run_progress },
	{ "GET", "/v1/winnow/runs/{runId}/files", U, h_run_files_list },
	{ "POST", "/v1/winnow/runs/{runId}/files", W, h_run_file_create },
	{ "GET", "/v1/winnow/runs/{runId}/files/{artifactId}/content", U, h_artifact_download },
	{ "POST", "/v1/winnow/datasets/{datasetId}/samples/batch", W, h_samples_batch, BIG },
	{ "GET", "/v1/winnow/datasets/{datasetId}/datapools/{name}", W, h_datapool_get },
	{ "PUT", "/v1/winnow/datasets/{datasetId}/datapools/{name}", W, h_datapool_put, BIG },
	{ "GET", "/v1/winnow/datasets/{datasetId}/tags", U, h_winnow_tags_list },
	{ "POST", "/v1/winnow/datasets/{datasetId}/tags", U, h_winnow_tag_create, BIG },
	{ "GET", "/v1/winnow/datasets/{datasetId}/tags/{tagId}/scores/{scoreType}", U,
	  h_winnow_score_by_type },
	{ "GET", "/v1/winnow/datasets/{datasetId}/schedule", U, h_winnow_schedule_list },
	{ "GET", "/v1/winnow/datasets/{datasetId}/shares", U, h_shares_list },
	{ "PUT", "/v1/winnow/datasets/{datasetId}/shares", U, h_share_add },
	{ "POST", "/v1/winnow/datasets/{datasetId}/shares", U, h_share_add },
	{ "DELETE", "/v1/winnow/datasets/{datasetId}/shares/{userName}", U, h_share_delete },
	{ "GET", "/v1/winnow/runs", U, h_winnow_runs_list },
	{ "GET", "/v1/winnow/schedule", U, h_winnow_schedule_all },
	{ "GET", "/v1/winnow/runs/{runId}", U, h_winnow_run_get },
	{ "POST", "/v1/winnow/runs/{runId}/abort", U, h_run_abort },
	{ "GET", "/v1/winnow/runs/{runId}/results", U, h_results },
	{ "GET", "/v1/winnow/runs/{runId}/artifacts/{artifactId}/content", U, h_artifact_download },
	{ "GET", "/v1/winnow/runs/{runId}/artifacts/{artifactId}/download", ROLE_NONE, h_artifact_read },
	{ "GET", "/v1/datasets", U, h_datasets_list },
	{ "GET", "/v1/datasets/query/name/{datasetName}", U, h_datasets_by_name },
	{ "POST", "/v1/datasets", U, h_dataset_create },
	{ "GET", "/v1/datasets/{datasetId}", A, h_dataset_get },
	{ "PUT", "/v1/datasets/{datasetId}", U, h_dataset_update },
	{ "DELETE", "/v1/datasets/{datasetId}", U, h_dataset_delete },
	{ "GET", "/v1/winnow/datasets/{datasetId}/files", U, h_browse_files },
	{ "GET", "/v1/winnow/datasets/{datasetId}/datasource", A, h_winnow_datasource_get },
	{ "PUT", "/v1/winnow/datasets/{datasetId}/datasource", U, h_winnow_datasource_put },
	{ "GET", "/v1/datasets/{datasetId}/datasource", A, h_datasource_get },
	{ "GET", "/v1/datasets/{datasetId}/datasource/all", A, h_datasource_all },
	{ "PUT", "/v1/datasets/{datasetId}/datasource", U, h_datasource_put },
	{ "GET", "/v1/winnow/datasets/{datasetId}/tasks", U, h_tasks },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/thumbnail", U, h_thumbnail },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/image", U, h_sample_image },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/image/signed", ROLE_NONE, h_sample_image_signed },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/predictions", U, h_sample_predictions },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/metadata", U, h_sample_metadata },
	{ "GET", "/v1/winnow/datasets/{datasetId}/samples/frame", U, h_sample_frame },
	{ "GET", "/v1/winnow/runs/{runId}/export", U, h_run_export },
	{ "GET", "/v1/datasets/{datasetId}/mappings", A, h_mappings },
	{ "GET", "/v1/datasets/{datasetId}/tags", A, h_tags_list },
	{ "POST", "/v1/datasets/{datasetId}/tags", W, h_tag_create, BIG },
	{ "POST", "/v1/datasets/{datasetId}/tags/initial", A, h_tag_initial, BIG },
	{ "GET", "/v1/datasets/{datasetId}/tags/{tagId}", A, h_tag_get },
	{ "GET", "/v1/datasets/{datasetId}/tags/{tagId}/export/basic/filenames", U,
	  h_tag_export_filenames },
	{ "GET", "/v1/datasets/{datasetId}/tags/{tagId}/scores", U, h_scores_list },
	{ "POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores", W, h_scores_post, BIG },
	{ "GET", "/v1/datasets/{datasetId}/tags/{tagId}/scores/{scoreId}", U, h_score_get },
	{ "GET", "/v1/datasets/{datasetId}/docker/worker/schedule", U, h_schedule_list },
	{ "POST", "/v1/datasets/{datasetId}/docker/worker/schedule", U, h_schedule_create },
	{ "PUT", "/v1/datasets/{datasetId}/docker/worker/schedule/{scheduledId}", U, h_schedule_cancel },
	{ "PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}/schedule/{scheduledId}", W,
	  h_schedule_claim },
};
#pragma GCC diagnostic pop
const size_t nroutes = sizeof(routes) / sizeof(routes[0]);

size_t routes_max_body(const struct route *rt)
{
	return rt->max_body ? rt->max_body : HTTP_DEFAULT_BODY;
}

/* Splits path at '/' into buf; returns the number of segments or -1. */
static int split(const char *path, char *buf, size_t buflen, char **seg, int maxseg)
{
	size_t n = strlen(path);
	int k = 0;

	if (n + 1 > buflen || path[0] != '/')
		return -1;
	memcpy(buf, path + 1, n);
	for (char *p = buf;;) {
		if (k == maxseg)
			return -1;
		seg[k++] = p;
		char *slash = strchr(p, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return k;
}

/* Does a pattern match the segments? Fills params when it does. */
static bool match(const char *pattern, char **seg, int nseg, const char **params)
{
	const char *p = pattern + 1;
	int k = 0, np = 0;

	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (k == nseg || seg[k][0] == '\0')
			return false;
		if (p[0] == '{') {
			if (np == HTTP_MAX_PARAMS)
				return false;
			params[np++] = seg[k];
		} else if (strlen(seg[k]) != len || memcmp(seg[k], p, len) != 0) {
			return false;
		}
		k++;
		p += len;
		if (*p == '/')
			p++;
	}
	return k == nseg;
}

const struct route *routes_match(const char *method, const char *path, char *buf, size_t buflen,
				 const char **params, int *status, char *allow, size_t allow_len)
{
	char *seg[16];
	int nseg = split(path, buf, buflen, seg, 16);
	bool any = false;

	allow[0] = '\0';
	*status = 404;
	if (nseg < 0)
		return NULL;
	for (size_t i = 0; i < nroutes; i++) {
		const char *tmp[HTTP_MAX_PARAMS];
		if (!match(routes[i].pattern, seg, nseg, tmp))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(params, tmp, sizeof(tmp));
			return &routes[i];
		}
		if (strstr(allow, routes[i].method) == NULL) {
			size_t used = strlen(allow);
			snprintf(allow + used, allow_len - used, "%s%s", any ? ", " : "",
				 routes[i].method);
		}
		any = true;
	}
	if (any)
		*status = 405;
	return NULL;
}

bool routes_param_name(const char *pattern, int index, char *name, size_t size)
{
	const char *p = pattern;

	for (int i = 0; (p = strchr(p, '{')) != NULL; i++, p++) {
		if (i != index)
			continue;
		const char *end = strchr(p, '}');
		if (end == NULL || (size_t)(end - p - 1) >= size)
			return false;
		snprintf(name, size, "%.*s", (int)(end - p - 1), p + 1);
		return true;
	}
	return false;
}

void routes_print(FILE *f)
{
	for (size_t i = 0; i < nroutes; i++) {
		unsigned ro = routes[i].roles;
		fprintf(f, "%s %s %s\n", routes[i].method, routes[i].pattern,
			ro == ROLE_ANY ? "worker,user" : ro == ROLE_WORKER ? "worker" :
			ro == ROLE_USER ? "user" : ro == ROLE_PUBLIC ? "public" : "none");
	}
}
