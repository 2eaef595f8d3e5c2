/*
 * winnowctl: the status CLI, a small program of its own (like OpenBSD's
 * ntpctl). `winnowctl [--state-dir DIR | --config FILE] status|jobs|show JOB
 * [--json]` reads the daemon's SQLite queue and its run folders; it never
 * writes them and never talks to the daemon, so it works the same whether
 * winnowd runs or not.
 *
 * DESIGN. The database is opened SQLITE_OPEN_READONLY. While winnowd runs,
 * WAL mode lets this reader see the last committed state without blocking
 * the daemon. When winnowd is down and its -wal and -shm files are gone (a
 * clean exit checkpoints and removes them), the file is opened as
 * `file:...?immutable=1`: SQLite then needs neither a -shm file nor any lock,
 * so a user who may read the folder but not write it can still look. Whether
 * winnowd runs is told by the lock it holds on <state dir>/winnowd.pid (a
 * stale file holds no lock), never by the pid alone.
 *
 * Exit status (also in `winnowctl --help` and systemd/README.md):
 *   0  ok
 *   1  status: winnowd is not running; show: the job failed or was aborted
 *   2  usage, or an unreadable --config
 *   3  the database is missing or unreadable (or from a newer winnowd)
 *   4  show: no such job
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "dconf.h"
#include "log.h"
#include "queue.h"
#include "sanity.h"
#include "util.h"

enum {
	EXIT_OK = 0,
	EXIT_NOT_RUNNING = 1,	/* also: the job failed */
	EXIT_USAGE = 2,
	EXIT_DB = 3,
	EXIT_NO_JOB = 4,
};

struct ctl {
	char *state_dir;
	const char *config;	/* --config, borrowed from argv */
	bool json;
	sqlite3 *db;
	char *db_path;
	bool immutable;
	int version;
	int running;		/* 1 running, 0 not, -1 unknown */
	long pid;
};

static void usage(FILE *f)
{
	fputs("usage: winnowctl [--state-dir DIR | --config FILE] status|jobs|show JOB [--json]\n"
	      "  status     is winnowd running, the worker, the web app, jobs per state, the current run\n"
	      "  jobs       one line per job, newest first\n"
	      "  show JOB   one job (scheduled run id or run id): stages, timings, error, run folder\n"
	      "  --json     one JSON document on stdout\n"
	      "The state dir is --state-dir, else the config's state_dir (--config, else "
	      DCONF_DEFAULT_PATH " when it exists), else /var/lib/winnow.\n"
	      "Exit: 0 ok; 1 winnowd not running (status) or the job failed or was aborted (show);\n"
	      "      2 usage; 3 database missing or unreadable; 4 no such job (show)\n", f);
}

/* An error before or instead of the answer: a line on stderr, and with --json a document too. */
static int fail(struct ctl *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct ctl *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "winnowctl: %s\n", msg);
	if (c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "error", msg);
		cJSON_AddNumberToObject(o, "exit", code);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	}
	free(msg);
	return code;
}

/* ---- where the state is -------------------------------------------------- */

/*
 * The config's state_dir, read without dconf_load: that one insists on a
 * token, which the person running winnowctl may not be allowed to read.
 */
static int state_dir_from_config(struct ctl *c, const char *path, char *err, size_t len)
{
	char *text = NULL;
	size_t n;
	int rc = read_file(path, 1 << 20, &text, &n);

	if (rc < 0) {
		snprintf(err, len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	cJSON *root = cJSON_ParseWithLength(text, n);
	free(text);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		snprintf(err, len, "%s: not a JSON object", path);
		return -EINVAL;
	}
	cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "state_dir");
	if (sd != NULL && (!cJSON_IsString(sd) || sd->valuestring[0] == '\0')) {
		cJSON_Delete(root);
		snprintf(err, len, "%s: state_dir must be a non-empty string", path);
		return -EINVAL;
	}
	c->state_dir = xstrdup(sd ? sd->valuestring : "/var/lib/winnow");
	cJSON_Delete(root);
	return 0;
}

/*
 * 1 when a winnowd holds the lock on <state dir>/winnowd.pid (its pid in
 * *pid), 0 when none does, -1 when the file cannot be read. F_GETLK only
 * looks: it takes no lock, so it never gets in the way of a starting winnowd.
 */
static int daemon_running(const char *dir, long *pid)
{
	char *path = xasprintf("%s/winnowd.pid", dir);
	struct flock lk = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	free(path);
	*pid = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fcntl(fd, F_GETLK, &lk) < 0) {
		rc = -1;
	} else if (lk.l_type == F_UNLCK) {
		rc = 0;		/* a file left by an earlier winnowd */
	} else {
		*pid = (long)lk.l_pid;
		rc = 1;
	}
	close(fd);
	return rc;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* "file:" URI of an absolute path, with the characters a URI gives meaning to escaped. */
static char *file_uri(const char *abs)
{
	struct buf b = { 0 };

	buf_puts(&b, "file:");
	for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p <= 0x20 || *p >= 0x7f)
			buf_printf(&b, "%%%02X", *p);
		else
			buf_append(&b, p, 1);
	}
	buf_puts(&b, "?immutable=1");
	return b.data;
}

static int db_open(struct ctl *c)
{
	char *wal = NULL, *shm = NULL, *uri = NULL, real[4096];
	sqlite3_stmt *st = NULL;
	int rc = EXIT_DB;

	c->db_path = xasprintf("%s/winnowd.db", c->state_dir);
	if (!exists(c->db_path)) {
		int e = errno;
		return fail(c, EXIT_DB, "%s: %s (has winnowd run with this state dir?)", c->db_path,
			    strerror(e));
	}
	wal = xasprintf("%s-wal", c->db_path);
	shm = xasprintf("%s-shm", c->db_path);
	/*
	 * immutable=1 only when nothing can change under us: no daemon, and no
	 * WAL left by one that died (its frames would be ignored).
	 */
	c->immutable = c->running == 0 && !exists(wal) && !exists(shm) &&
		       realpath(c->db_path, real) != NULL;
	int flags = SQLITE_OPEN_READONLY;
	if (c->immutable) {
		uri = file_uri(real);
		flags |= SQLITE_OPEN_URI;
	}
	if (sqlite3_open_v2(uri ? uri : c->db_path, &c->db, flags, NULL) != SQLITE_OK) {
		rc = fail(c, EXIT_DB, "%s: %s", c->db_path,
			  c->db ? sqlite3_errmsg(c->db) : "out of memory");
		goto out;
	}
	if (sqlite3_busy_timeout(c->db, 3000) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = fail(c, EXIT_DB, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto out;
	}
	c->version = sqlite3_column_int(st, 0);
	if (c->version < 1 || c->version > QUEUE_VERSION) {
		rc = fail(c, EXIT_DB, "%s: schema version %d; this winnowctl reads 1 to %d", c->db_path,
			  c->version, QUEUE_VERSION);
		goto out;
	}
	rc = EXIT_OK;
out:
	(void)sqlite3_finalize(st);
	free(uri);
	free(wal);
	free(shm);
	return rc;
}

/* ---- small readers -------------------------------------------------------- */

static sqlite3_stmt *prepare(struct ctl *c, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "winnowctl: %s: %s\n", c->db_path, sqlite3_errmsg(c->db));
		return NULL;
	}
	return st;
}

/* A meta value (owned), or NULL. */
static char *meta(struct ctl *c, const char *key)
{
	sqlite3_stmt *st = prepare(c, "SELECT value FROM meta WHERE key = ?");
	char *v = NULL;

	if (st == NULL)
		return NULL;
	(void)sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	(void)sqlite3_finalize(st);
	return v;
}

/* count(*) of a query with an optional text parameter; -1 on error. */
static int count(struct ctl *c, const char *sql, const char *arg)
{
	sqlite3_stmt *st = prepare(c, sql);
	int n = -1;

	if (st == NULL)
		return -1;
	if (arg != NULL)
		(void)sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	(void)sqlite3_finalize(st);
	return n;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

/* "2024-05-01 12:00:03" in local time; "-" for 0. */
static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

static const char *fmt_ago(int64_t ms, char *buf, size_t len)
{
	double s = (double)(queue_now_ms() - ms) / 1000.0;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%.0f s ago", s);
	else if (s < 7200)
		snprintf(buf, len, "%.0f min ago", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%.1f h ago", s / 3600);
	else
		snprintf(buf, len, "%.1f days ago", s / 86400);
	return buf;
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static void print_json(cJSON *o)
{
	char *s = cJSON_Print(o);

	puts(s);
	free(s);
}

#define JOB_COLS "sched_id, run_id, state, stage, progress, attempts, deaths, updated_at, " \
	"created_at, error, dataset_id, config_id, cand_tag, lease, datasource"

/*
 * The run's progress, 0..1. The daemon stops counting at 0.9 when the stages
 * end (the rest is reporting); a job that is done is all done.
 */
static double job_progress(sqlite3_stmt *st)
{
	return strcmp(col(st, 2), "done") == 0 ? 1.0 : sqlite3_column_double(st, 4);
}

/* The columns every job view shares, as a JSON object. */
static cJSON *job_json(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "scheduled_id", col(st, 0));
	add_str_or_null(o, "run_id", col(st, 1));
	cJSON_AddStringToObject(o, "state", col(st, 2));
	add_str_or_null(o, "stage", col(st, 3));
	cJSON_AddNumberToObject(o, "progress", job_progress(st));
	cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(st, 5));
	cJSON_AddNumberToObject(o, "deaths", sqlite3_column_int(st, 6));
	cJSON_AddNumberToObject(o, "updated", (double)sqlite3_column_int64(st, 7));
	cJSON_AddNumberToObject(o, "created", (double)sqlite3_column_int64(st, 8));
	add_str_or_null(o, "error", col(st, 9));
	return o;
}

/* A job found "running" while no winnowd runs was interrupted; the next start requeues it. */
static bool stale_running(const struct ctl *c, const char *state)
{
	return c->running == 0 && strcmp(state, "running") == 0;
}

/* ---- status ------------------------------------------------------------- */

static int cmd_status(struct ctl *c)
{
	char *wid = meta(c, "worker_id"), *wname = meta(c, "worker_name"), *lc = meta(c, "last_contact");
	int64_t last = lc ? strtoll(lc, NULL, 10) : 0;
	int counts[JOB_STATE_COUNT] = { 0 }, outbox = count(c, "SELECT count(*) FROM outbox", NULL);
	char live_msg[1024] = "";
	int live = 1;		/* 1: not checked */
	struct dconf conf;
	char t1[32], t2[32];

	/* With --config, also ask the web app now (the token is read, never shown). */
	if (c->config != NULL) {
		if (dconf_load(c->config, &conf, live_msg, sizeof(live_msg)) < 0) {
			live = -1;
		} else {
			if (wname == NULL)
				wname = xstrdup(conf.name);
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
				snprintf(live_msg, sizeof(live_msg), "libcurl: curl_global_init failed");
				live = -1;
			} else {
				live = sanity_web(conf.url, conf.token, conf.ca_file, live_msg,
						  sizeof(live_msg)) == 0 ? 0 : -1;
				curl_global_cleanup();
			}
			dconf_free(&conf);
		}
	}
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		counts[s] = count(c, "SELECT count(*) FROM jobs WHERE state = ?", job_state_name(s));
	sqlite3_stmt *cur = prepare(c, "SELECT " JOB_COLS " FROM jobs WHERE state IN "
				    "('claimed', 'running', 'reporting') ORDER BY updated_at DESC, rowid DESC");
	if (cur == NULL || outbox < 0) {
		(void)sqlite3_finalize(cur);
		free(wid);
		free(wname);
		free(lc);
		return fail(c, EXIT_DB, "%s: cannot read the jobs", c->db_path);
	}

	if (c->json) {
		cJSON *o = cJSON_CreateObject(), *dm = cJSON_AddObjectToObject(o, "daemon");
		if (c->running < 0)
			cJSON_AddNullToObject(dm, "running");
		else
			cJSON_AddBoolToObject(dm, "running", c->running == 1);
		if (c->pid > 0)
			cJSON_AddNumberToObject(dm, "pid", (double)c->pid);
		cJSON_AddStringToObject(o, "state_dir", c->state_dir);
		cJSON *db = cJSON_AddObjectToObject(o, "database");
		cJSON_AddStringToObject(db, "path", c->db_path);
		cJSON_AddNumberToObject(db, "version", c->version);
		cJSON_AddBoolToObject(db, "immutable", c->immutable);
		cJSON *w = cJSON_AddObjectToObject(o, "worker");
		add_str_or_null(w, "name", wname);
		add_str_or_null(w, "id", wid);
		cJSON *web = cJSON_AddObjectToObject(o, "web");
		if (last > 0)
			cJSON_AddNumberToObject(web, "last_contact", (double)last);
		else
			cJSON_AddNullToObject(web, "last_contact");
		if (live != 1) {
			cJSON *l = cJSON_AddObjectToObject(web, "live");
			cJSON_AddBoolToObject(l, "ok", live == 0);
			cJSON_AddStringToObject(l, "message", live_msg);
		}
		cJSON *jobs = cJSON_AddObjectToObject(o, "jobs");
		for (int s = 0; s < JOB_STATE_COUNT; s++)
			cJSON_AddNumberToObject(jobs, job_state_name(s), counts[s]);
		cJSON_AddNumberToObject(o, "outbox", outbox);
		cJSON *runs = cJSON_AddArrayToObject(o, "current");
		while (sqlite3_step(cur) == SQLITE_ROW) {
			cJSON *j = job_json(cur);
			cJSON_AddBoolToObject(j, "interrupted", stale_running(c, col(cur, 2)));
			cJSON_AddItemToArray(runs, j);
		}
		print_json(o);
		cJSON_Delete(o);
	} else {
		if (c->running == 1)
			printf("winnowd:  running (pid %ld)\n", c->pid);
		else if (c->running == 0)
			printf("winnowd:  not running\n");
		else
			printf("winnowd:  unknown (%s/winnowd.pid is unreadable)\n", c->state_dir);
		printf("worker:   %s, id %s\n", wname ? wname : "(unknown)",
		       wid ? wid : "(not registered yet)");
		if (last > 0)
			printf("web app:  last contact %s (%s)\n", fmt_time(last, t1, sizeof(t1)),
			       fmt_ago(last, t2, sizeof(t2)));
		else
			printf("web app:  never reached\n");
		if (live != 1)
			printf("          now: %s%s\n", live == 0 ? "" : "FAIL: ", live_msg);
		printf("jobs:    ");
		int any = 0;
		for (int s = 0; s < JOB_STATE_COUNT; s++)
			if (counts[s] > 0)
				printf("%s %d %s", any++ ? "," : "", counts[s], job_state_name(s));
		printf("%s\n", any ? "" : " none");
		printf("outbox:   %d call%s to send\n", outbox, outbox == 1 ? "" : "s");
		while (sqlite3_step(cur) == SQLITE_ROW) {
			const char *state = col(cur, 2), *stage = col(cur, 3);
			printf("run:      %s (scheduled %s): %s", col(cur, 1)[0] ? col(cur, 1) : "(not created)",
			       col(cur, 0), state);
			if (stage[0])
				printf(", stage %s, %.0f%%", stage, 100 * job_progress(cur));
			printf("%s\n", stale_running(c, state) ?
			       " (interrupted: requeued when winnowd starts)" : "");
		}
		printf("state:    %s (database version %d%s)\n", c->state_dir, c->version,
		       c->immutable ? ", opened immutable" : "");
	}
	(void)sqlite3_finalize(cur);
	free(wid);
	free(wname);
	free(lc);
	return c->running == 0 ? EXIT_NOT_RUNNING : EXIT_OK;
}

/* ---- jobs --------------------------------------------------------------- */

static int cmd_jobs(struct ctl *c)
{
	sqlite3_stmt *st = prepare(c, "SELECT " JOB_COLS " FROM jobs ORDER BY created_at DESC, rowid DESC");
	cJSON *arr = c->json ? cJSON_CreateArray() : NULL;
	char t[32], prog[16];
	int rc;

	if (st == NULL)
		return fail(c, EXIT_DB, "%s: cannot read the jobs", c->db_path);
	if (!c->json)
		printf("%-24s  %-24s  %-9s  %-10s  %8s  %8s  %6s  %s\n", "SCHEDULED", "RUN", "STATE",
		       "STAGE", "PROGRESS", "ATTEMPTS", "DEATHS", "UPDATED");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->json) {
			cJSON_AddItemToArray(arr, job_json(st));
			continue;
		}
		snprintf(prog, sizeof(prog), "%.0f%%", 100 * job_progress(st));
		printf("%-24s  %-24s  %-9s  %-10s  %8s  %8d  %6d  %s\n", col(st, 0),
		       col(st, 1)[0] ? col(st, 1) : "-", col(st, 2), col(st, 3)[0] ? col(st, 3) : "-",
		       prog, sqlite3_column_int(st, 5), sqlite3_column_int(st, 6),
		       fmt_time(sqlite3_column_int64(st, 7), t, sizeof(t)));
	}
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(arr);
		return fail(c, EXIT_DB, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
	}
	if (c->json) {
		print_json(arr);
		cJSON_Delete(arr);
	}
	return EXIT_OK;
}

/* ---- show --------------------------------------------------------------- */

/* report.json of a run folder (owned), or NULL when absent or unreadable. */
static cJSON *read_report(const char *run_dir)
{
	char *path = xasprintf("%s/report.json", run_dir), *text = NULL;
	size_t n;
	cJSON *o = NULL;

	if (read_file(path, 64 << 20, &text, &n) == 0)
		o = cJSON_ParseWithLength(text, n);
	free(text);
	free(path);
	if (o != NULL && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static int cmd_show(struct ctl *c, const char *id)
{
	sqlite3_stmt *st = prepare(c, "SELECT " JOB_COLS " FROM jobs WHERE sched_id = ?1 OR run_id = ?1 "
				   "ORDER BY created_at DESC LIMIT 1");
	char t[32];
	int rc;

	if (st == NULL)
		return fail(c, EXIT_DB, "%s: cannot read the jobs", c->db_path);
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		(void)sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return fail(c, EXIT_DB, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
		return fail(c, EXIT_NO_JOB, "no job %s (neither a scheduled run id nor a run id here)", id);
	}
	cJSON *o = job_json(st);
	const char *state = col(st, 2);
	int code = strcmp(state, "failed") == 0 || strcmp(state, "aborted") == 0 ?
		   EXIT_NOT_RUNNING : EXIT_OK;
	char *sched = xstrdup(col(st, 0));
	char *run_dir = xasprintf("%s/runs/%s", c->state_dir, sched);
	struct stat sb;
	bool have_dir = stat(run_dir, &sb) == 0 && S_ISDIR(sb.st_mode);
	cJSON *report = have_dir ? read_report(run_dir) : NULL;
	int outbox = count(c, "SELECT count(*) FROM outbox WHERE job = ?", sched);
	int64_t lease = sqlite3_column_int64(st, 13);
	/* Only the datasource's type and path: a S3 datasource also holds its secret key. */
	cJSON *ds = sqlite3_column_text(st, 14) ? cJSON_Parse(col(st, 14)) : NULL;
	cJSON *dtype = cJSON_GetObjectItemCaseSensitive(ds, "type");
	cJSON *dpath = cJSON_GetObjectItemCaseSensitive(ds, "fullPath");

	add_str_or_null(o, "dataset_id", col(st, 10));
	add_str_or_null(o, "config_id", col(st, 11));
	add_str_or_null(o, "candidates_tag", col(st, 12));
	cJSON_AddNumberToObject(o, "retry_after", lease > queue_now_ms() ? (double)lease : 0);
	cJSON_AddBoolToObject(o, "interrupted", stale_running(c, state));
	if (cJSON_IsString(dtype)) {
		cJSON *d = cJSON_AddObjectToObject(o, "datasource");
		cJSON_AddStringToObject(d, "type", dtype->valuestring);
		add_str_or_null(d, "fullPath", cJSON_IsString(dpath) ? dpath->valuestring : NULL);
	} else {
		cJSON_AddNullToObject(o, "datasource");
	}
	cJSON_AddNumberToObject(o, "outbox", outbox);
	cJSON_AddStringToObject(o, "run_dir", run_dir);
	cJSON_AddBoolToObject(o, "run_dir_exists", have_dir);
	cJSON *stages = cJSON_GetObjectItemCaseSensitive(report, "stages");
	cJSON *counts = cJSON_GetObjectItemCaseSensitive(report, "counts");
	cJSON_AddItemToObject(o, "stages", cJSON_IsArray(stages) ? cJSON_Duplicate(stages, 1) :
			      cJSON_CreateNull());
	cJSON_AddItemToObject(o, "counts", cJSON_IsObject(counts) ? cJSON_Duplicate(counts, 1) :
			      cJSON_CreateNull());

	if (c->json) {
		print_json(o);
	} else {
		const char *run = col(st, 1), *stage = col(st, 3), *err = col(st, 9);
		printf("scheduled run  %s\n", sched);
		printf("run            %s\n", run[0] ? run : "(not created yet)");
		printf("dataset        %s\n", col(st, 10));
		printf("config         %s\n", col(st, 11));
		printf("state          %s%s\n", state, stale_running(c, state) ?
		       " (interrupted: requeued when winnowd starts)" : "");
		if (stage[0])
			printf("stage          %s, %.0f%%\n", stage, 100 * job_progress(st));
		printf("attempts       %d (the run's own failures)\n", sqlite3_column_int(st, 5));
		printf("deaths         %d (daemon deaths while it ran)\n", sqlite3_column_int(st, 6));
		printf("created        %s\n", fmt_time(sqlite3_column_int64(st, 8), t, sizeof(t)));
		printf("updated        %s\n", fmt_time(sqlite3_column_int64(st, 7), t, sizeof(t)));
		if (lease > queue_now_ms())
			printf("retry after    %s\n", fmt_time(lease, t, sizeof(t)));
		if (cJSON_IsString(dtype))
			printf("datasource     %s %s\n", dtype->valuestring,
			       cJSON_IsString(dpath) ? dpath->valuestring : "");
		if (err[0])
			printf("error          %s\n", err);
		printf("outbox         %d call%s to send\n", outbox, outbox == 1 ? "" : "s");
		printf("run dir        %s%s\n", run_dir, have_dir ? "" : " (absent)");
		if (cJSON_IsArray(stages)) {
			cJSON *s;
			printf("stages\n");
			cJSON_ArrayForEach(s, stages) {
				cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");
				cJSON *sec = cJSON_GetObjectItemCaseSensitive(s, "seconds");
				printf("  %-12s %8.3f s\n", cJSON_IsString(n) ? n->valuestring : "?",
				       cJSON_IsNumber(sec) ? sec->valuedouble : 0.0);
			}
		} else {
			printf("stages         (no report.json yet)\n");
		}
		if (cJSON_IsObject(counts)) {
			cJSON *n;
			printf("counts        ");
			cJSON_ArrayForEach(n, counts)
				printf(" %s %.0f", n->string, cJSON_IsNumber(n) ? n->valuedouble : 0.0);
			printf("\n");
		}
	}
	cJSON_Delete(o);
	cJSON_Delete(ds);
	cJSON_Delete(report);
	(void)sqlite3_finalize(st);
	free(run_dir);
	free(sched);
	return code;
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .running = -1 };
	const char *state_dir = NULL;
	char err[1024];
	int ch, rc;

	log_init("winnowctl", LOG_LVL_WARNING);
	while ((ch = getopt_long(argc, argv, "s:c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			state_dir = optarg;
			break;
		case 'c':
			c.config = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	const char *cmd = optind < argc ? argv[optind] : NULL;
	int nargs = argc - optind - 1;
	bool ok = cmd != NULL && (((strcmp(cmd, "status") == 0 || strcmp(cmd, "jobs") == 0) && nargs == 0) ||
				  (strcmp(cmd, "show") == 0 && nargs == 1));
	if (!ok || (state_dir != NULL && c.config != NULL)) {
		if (state_dir != NULL && c.config != NULL)
			fprintf(stderr, "winnowctl: --state-dir and --config exclude each other\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (state_dir != NULL) {
		c.state_dir = xstrdup(state_dir);
	} else {
		const char *path = c.config;
		if (path == NULL && exists(DCONF_DEFAULT_PATH))
			path = DCONF_DEFAULT_PATH;
		if (path == NULL)
			c.state_dir = xstrdup("/var/lib/winnow");
		else if (state_dir_from_config(&c, path, err, sizeof(err)) < 0)
			return fail(&c, EXIT_USAGE, "config %s", err);
	}
	c.running = daemon_running(c.state_dir, &c.pid);
	rc = db_open(&c);
	if (rc == EXIT_OK) {
		if (strcmp(cmd, "status") == 0)
			rc = cmd_status(&c);
		else if (strcmp(cmd, "jobs") == 0)
			rc = cmd_jobs(&c);
		else
			rc = cmd_show(&c, argv[optind + 1]);
	}
	if (c.db != NULL && sqlite3_close(c.db) != SQLITE_OK)
		fprintf(stderr, "winnowctl: close: %s\n", sqlite3_errmsg(c.db));
	free(c.db_path);
	free(c.state_dir);
	fflush(stdout);
	return rc;
}
