/*
 * fuzz_web: the JSON bodies of every POST and PUT route of winnow-web that
 * takes one, fed to the route handlers themselves (routes_worker.c,
 * routes_user.c) with a fake struct req over an in-memory SQLite database
 * (web/db.c), so that parsing, validation and what a valid body then does to
 * the database are all covered.
 *
 * Input: the first byte picks the route (modulo the table below); the rest
 * is the body. The database holds one of each object the routes name (a
 * dataset with samples, a worker, a config, an OPEN and a LOCKED scheduled
 * run, a run, a tag), with the fixed ids below, so that bodies can refer to
 * them; it is restored from a template before every input, and getrandom()
 * is replaced by a counter reset with it, so an input always does the same.
 * The reply must be a status in 200..499 with a JSON body (204: none): a 5xx
 * for a body is a bug.
 *
 * FUZZ_WEB_SHOW=1 in the environment prints each request's reply.
 *
 * Left out: PUT /v1/winnow/artifacts/{id}/content (its body is the artifact's
 * bytes, stored as they are) and /login (server.c's, static; it reads one
 * string with the same helpers).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "db.h"
#include "http.h"
#include "log.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned flags);
const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					       const char *key);

#define USER_ID		"aaaaaaaaaaaaaaaaaaaaaaaa"
#define WORKER_TOK_ID	"bbbbbbbbbbbbbbbbbbbbbbbb"
#define DATASET		"d00000000000000000000001"
#define WORKER		"e00000000000000000000001"
#define CONFIG		"c00000000000000000000001"
#define SCHED_OPEN	"5c0000000000000000000001"
#define SCHED_LOCKED	"5c0000000000000000000002"
#define RUN		"a00000000000000000000001"
#define TAG		"7a0000000000000000000001"

static const char seed_sql[] =
	"INSERT INTO datasets VALUES ('" DATASET "', 'ds', '" USER_ID "', 1, 1);"
	"INSERT INTO datasources (dataset_id, purpose, type, full_path, last_modified_at) "
	"  VALUES ('" DATASET "', 'INPUT_OUTPUT', 'LOCAL', '/nonexistent', 1);"
	"INSERT INTO samples VALUES ('" DATASET "', 0, 'a.jpg', NULL), ('" DATASET "', 1, 'b/c.png', NULL),"
	"  ('" DATASET "', 2, 'd.webp', '{\"x\": 1}'), ('" DATASET "', 3, 'e.bmp', NULL);"
	"INSERT INTO workers VALUES ('" WORKER "', '" USER_ID "', 'w1', 'FULL', 'IDLE', '[\"gpu\"]', 1, 1, 1);"
	"INSERT INTO configs VALUES ('" CONFIG "', '" USER_ID "', '{\"docker\": {}}', NULL, 1);"
	"INSERT INTO scheduled (id, dataset_id, config_id, user_id, priority, priority_rank, runs_on,"
	"  state, worker_id, created_at, last_modified_at) VALUES"
	"  ('" SCHED_OPEN "', '" DATASET "', '" CONFIG "', '" USER_ID "', 'MID', 1, '[]', 'OPEN', NULL, 1, 1),"
	"  ('" SCHED_LOCKED "', '" DATASET "', '" CONFIG "', '" USER_ID "', 'MID', 1, '[\"gpu\"]', 'LOCKED',"
	"   '" WORKER "', 1, 1);"
	"INSERT INTO runs (id, user_id, dataset_id, config_id, scheduled_id, docker_version, state,"
	"  created_at, last_modified_at) VALUES ('" RUN "', '" WORKER_TOK_ID "', '" DATASET "', '" CONFIG "',"
	"  '" SCHED_LOCKED "', '1.0', 'STARTED', 1, 1);"
	"INSERT INTO tags VALUES ('" TAG "', '" DATASET "', 'initial-tag', NULL, '0xf', 4, 'USER_WORKER',"
	"  NULL, 1);";

struct froute {
	const char *method, *pattern;
	enum role role;
	const char *params[3];
};

/* Every POST and PUT route with a JSON body, its caller's role and parameters. */
static const struct froute froutes[] = {
	{ "POST", "/v1/docker/worker", ROLE_WORKER, { NULL } },
	{ "POST", "/v1/docker/worker/config", ROLE_USER, { NULL } },
	{ "POST", "/v1/winnow/configs/validate", ROLE_USER, { NULL } },
	{ "PUT", "/v1/docker/worker/{workerId}", ROLE_WORKER, { WORKER } },
	{ "POST", "/v1/docker/runs", ROLE_WORKER, { NULL } },
	{ "PUT", "/v1/docker/runs/{runId}", ROLE_WORKER, { RUN } },
	{ "POST", "/v1/winnow/runs/{runId}/abort", ROLE_USER, { RUN } },
	{ "PUT", "/v1/docker/runs/{runId}/logs", ROLE_WORKER, { RUN } },
	{ "POST", "/v1/docker/runs/{runId}/artifacts", ROLE_WORKER, { RUN } },
	{ "POST", "/v1/datasets", ROLE_USER, { NULL } },
	{ "PUT", "/v1/datasets/{datasetId}/datasource", ROLE_USER, { DATASET } },
	{ "POST", "/v1/winnow/datasets/{datasetId}/samples/batch", ROLE_WORKER, { DATASET } },
	{ "POST", "/v1/datasets/{datasetId}/tags", ROLE_WORKER, { DATASET } },
	{ "POST", "/v1/datasets/{datasetId}/tags/{tagId}/scores", ROLE_WORKER, { DATASET, TAG } },
	{ "PUT", "/v1/winnow/datasets/{datasetId}/datapools/{name}", ROLE_WORKER, { DATASET, "pool-1" } },
	{ "POST", "/v1/datasets/{datasetId}/docker/worker/schedule", ROLE_USER, { DATASET } },
	{ "PUT", "/v1/datasets/{datasetId}/docker/worker/schedule/{scheduledId}", ROLE_USER,
	  { DATASET, SCHED_OPEN } },
	{ "PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}/schedule/{scheduledId}", ROLE_WORKER,
	  { DATASET, WORKER, SCHED_OPEN } },
	{ "PUT", "/v1/datasets/{datasetId}/docker/worker/{workerId}/schedule/{scheduledId}", ROLE_WORKER,
	  { DATASET, WORKER, SCHED_LOCKED } },
	{ "PUT", "/v1/winnow/datasets/{datasetId}/datasource", ROLE_USER, { DATASET } },
	/* Appended, so that the seeds of the rows above keep their index. */
	{ "PUT", "/v1/winnow/runs/{runId}/progress", ROLE_WORKER, { RUN } },
	{ "POST", "/v1/winnow/runs/{runId}/files", ROLE_WORKER, { RUN } },
};
#define NFROUTES (sizeof(froutes) / sizeof(froutes[0]))

static struct db *db;
static sqlite3 *template_db;
static struct web_settings ws;
static char root[PATH_MAX];
static const struct route *handler[NFROUTES];
static uint64_t rnd_counter;

/* Deterministic "random" bytes: ids and signatures repeat from input to input. */
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned flags)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		rnd_counter = rnd_counter * 6364136223846793005ULL + 1442695040888963407ULL;
		b[i] = (uint8_t)(rnd_counter >> 56);
	}
	return (ssize_t)len;
}

/* No connection behind the request: no query arguments, headers or cookies. */
const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					       const char *key)
{
	return NULL;
}

static void fuzz_init(void)
{
	char err[256];

	log_init("fuzz_web", LOG_LVL_ERR);
	if (db_open(":memory:", 1, &db, err, sizeof(err)) < 0) {
		fprintf(stderr, "db_open: %s\n", err);
		abort();
	}
	struct dbconn *c = db_acquire(db);
	if (db_exec(c, seed_sql) != SQLITE_OK) {
		fprintf(stderr, "seed: %s\n", sqlite3_errmsg(db_handle(c)));
		abort();
	}
	if (sqlite3_open(":memory:", &template_db) != SQLITE_OK)
		abort();
	sqlite3_backup *b = sqlite3_backup_init(template_db, "main", db_handle(c), "main");
	if (b == NULL || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
		abort();
	db_release(db, c);

	if (realpath(".", root) == NULL)
		abort();
	static char *roots[1];
	roots[0] = root;
	ws.db = db;
	ws.dataset_roots = roots;
	ws.nroots = 1;
	ws.listen = "127.0.0.1:9";

	for (size_t i = 0; i < NFROUTES; i++) {
		for (size_t k = 0; k < nroutes && handler[i] == NULL; k++)
			if (strcmp(routes[k].method, froutes[i].method) == 0 &&
			    strcmp(routes[k].pattern, froutes[i].pattern) == 0)
				handler[i] = &routes[k];
		if (handler[i] == NULL) {
			fprintf(stderr, "no route %s %s\n", froutes[i].method, froutes[i].pattern);
			abort();
		}
	}
}

static void db_restore(void)
{
	struct dbconn *c = db_acquire(db);
	sqlite3_backup *b = sqlite3_backup_init(db_handle(c), "main", template_db, "main");

	if (b == NULL || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK) {
		fprintf(stderr, "restore: %s\n", sqlite3_errmsg(db_handle(c)));
		abort();
	}
	db_release(db, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < 1)
		return 0;
	const struct froute *fr = &froutes[data[0] % NFROUTES];
	const struct route *rt = handler[data[0] % NFROUTES];
	struct req r;
	struct resp out;
	/* The server hands handlers a NUL-terminated copy of the body. */
	char *body = malloc(size);

	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	db_restore();
	rnd_counter = 0;

	memset(&r, 0, sizeof(r));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	r.method = fr->method;
	r.path = fr->pattern;
	for (int i = 0; i < 3; i++)
		r.params[i] = fr->params[i];
	r.body = body;
	r.body_len = size - 1;
	r.ws = &ws;
	r.who.role = fr->role;
	snprintf(r.who.id, sizeof(r.who.id), "%s", fr->role == ROLE_USER ? USER_ID : WORKER_TOK_ID);
	snprintf(r.who.name, sizeof(r.who.name), "%s", fr->role == ROLE_USER ? "user" : "worker");

	rt->fn(&r, &out);
	req_db_release(&r);

	if (out.status < 200 || out.status > 499 || out.body == NULL || out.fd >= 0) {
		fprintf(stderr, "%s %s: status %d: %.*s\n", fr->method, fr->pattern, out.status,
			(int)(out.body ? out.len : 0), out.body ? out.body : "");
		abort();
	}
	if (getenv("FUZZ_WEB_SHOW") != NULL)	/* to see what a corpus does */
		fprintf(stderr, "%s %s -> %d %.*s\n", fr->method, fr->pattern, out.status,
			(int)out.len, out.body);
	/* A JSON body, or none with 204 (Lightly's cancel: no body either way). */
	cJSON *reply = out.status == 204 && out.len == 0 ? cJSON_CreateNull() :
		       cJSON_ParseWithLength(out.body, out.len);
	if (reply == NULL)
		abort();
	cJSON_Delete(reply);
	free(out.body);
	free(out.set_cookie);
	free(out.extra_header_name);
	free(out.extra_header_value);
	free(body);
	return 0;
}
