/*
 * sanity: `winnowd sanity-check`. Every check prints one line, "ok" or
 * "FAIL", and the command exits 0 only when none failed, so a deployment
 * script can run it before enabling the service. Unlike the daemon it talks
 * to the web app with a plain blocking curl easy handle: one request, no loop.
 *
 * The token check is GET /v1/winnow/me: it exists for every role, writes nothing,
 * and needs no worker id (the worker routes that read, such as the poll,
 * take one, and register is a write). Its answer names the token's role, so
 * a user token given to the worker is caught here rather than at the first
 * 403 of the daemon.
 */
#include "sanity.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "dconf.h"
#include "queue.h"
#include "util.h"

#define WEB_TIMEOUT 10L

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	/* /v1/winnow/me answers a few bytes; anything long is not winnow-web. */
	if (b->len + size * n <= 65536)
		buf_append(b, ptr, size * n);
	return size * n;
}

int sanity_web(const char *url, const char *token, const char *ca_file, char *msg, size_t len)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct buf body = { 0 };
	long status = 0;
	int rc;

	if (h == NULL) {
		snprintf(msg, len, "web app: cannot start libcurl");
		return -ENOMEM;
	}
	char *me = xasprintf("%s/v1/winnow/me", url);
	char *auth = xasprintf("Authorization: Bearer %s", token);
	hdr = curl_slist_append(hdr, auth);
	free_secret(auth);
	if (hdr == NULL ||
	    curl_easy_setopt(h, CURLOPT_URL, me) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, WEB_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body) != CURLE_OK ||
	    (ca_file != NULL && curl_easy_setopt(h, CURLOPT_CAINFO, ca_file) != CURLE_OK)) {
		snprintf(msg, len, "web app: cannot set up the request");
		rc = -EINVAL;
		goto out;
	}
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		snprintf(msg, len, "web app %s: the web app's TLS certificate is not trusted; set "
			 "\"ca_file\" in the config to the CA (or self-signed certificate) that signed "
			 "it (%s)", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = -EACCES;
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(msg, len, "web app %s: not reachable: %s", url,
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
		goto out;
	}
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status == 401) {
		snprintf(msg, len, "token: refused by the web app %s (HTTP 401: not a valid token)", url);
		rc = -EACCES;
		goto out;
	}
	if (status != 200) {
		snprintf(msg, len, "web app %s: GET /v1/winnow/me answered HTTP %ld (is it winnow-web?)",
			 url, status);
		rc = -EPROTO;
		goto out;
	}
	cJSON *o = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
	cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "role");
	cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const char *who = cJSON_IsString(name) ? name->valuestring : "?";
	if (!cJSON_IsString(role)) {
		snprintf(msg, len, "web app %s: GET /v1/winnow/me: no role in the answer (is it winnow-web?)",
			 url);
		rc = -EPROTO;
	} else if (strcmp(role->valuestring, "worker") != 0) {
		snprintf(msg, len, "token: a %.20s token (of \"%.60s\"); winnowd needs a worker token",
			 role->valuestring, who);
		rc = -EACCES;
	} else {
		snprintf(msg, len, "web app %s reachable; worker token of \"%.60s\" accepted", url, who);
		rc = 0;
	}
	cJSON_Delete(o);
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	buf_free(&body);
	free(me);
	return rc;
}

int sanity_state_dir(const char *dir, char *msg, size_t len)
{
	struct stat st;
	int rc;

	rc = mkdir_p(dir, 0750);
	if (rc < 0) {
		snprintf(msg, len, "state dir %s: cannot create: %s", dir, strerror(-rc));
		return rc;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(msg, len, "state dir %s: not a folder", dir);
		return -ENOTDIR;
	}
	/* access(W_OK) says yes to root on a read-only mount; a real file says the truth. */
	char *probe = xasprintf("%s/.sanity-XXXXXX", dir);
	int fd = mkstemp(probe);
	if (fd < 0) {
		rc = -errno;
		snprintf(msg, len, "state dir %s: not writable: %s", dir, strerror(-rc));
		free(probe);
		return rc;
	}
	close(fd);
	(void)unlink(probe);
	free(probe);
	snprintf(msg, len, "state dir %s: writable", dir);
	return 0;
}

/* The queue database, when there is one: readable, and not from a newer winnowd. */
static int check_db(const char *dir, char *msg, size_t len)
{
	char *path = xasprintf("%s/winnowd.db", dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0, version = -1;

	if (access(path, F_OK) < 0) {
		snprintf(msg, len, "queue %s: absent (created at the first start)", path);
		goto out;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 2000) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(msg, len, "queue %s: unreadable: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		rc = -EIO;
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > QUEUE_VERSION) {
		snprintf(msg, len, "queue %s: version %d, newer than this winnowd (%d)", path, version,
			 QUEUE_VERSION);
		rc = -EPROTO;
	} else {
		snprintf(msg, len, "queue %s: version %d%s", path, version,
			 version < QUEUE_VERSION ? " (migrated at the next start)" : "");
	}
out:
	(void)sqlite3_finalize(st);
	(void)sqlite3_close(db);
	free(path);
	return rc;
}

static void report(int *failed, int rc, const char *msg)
{
	printf("%-4s  %s\n", rc < 0 ? "FAIL" : "ok", msg);
	if (rc < 0)
		(*failed)++;
}

static void usage(FILE *f)
{
	fputs("usage: winnowd sanity-check [--config FILE]\n"
	      "  checks the state dir and, with a config (default " DCONF_DEFAULT_PATH
	      " when it exists),\n  that the web app answers and takes the token; exit 0 only when "
	      "all pass\n", f);
}

int sanity_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct dconf conf;
	bool have_conf = false;
	char msg[1024];
	int ch, failed = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "winnowd sanity-check: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Like the daemon, the default config file is used when it exists. */
	if (path == NULL && access(DCONF_DEFAULT_PATH, F_OK) == 0)
		path = DCONF_DEFAULT_PATH;
	if (path != NULL) {
		int rc = dconf_load(path, &conf, msg, sizeof(msg));
		if (rc == 0) {
			have_conf = true;
			snprintf(msg, sizeof(msg), "config %s: valid (worker \"%s\", token from %s)",
				 path, conf.name, conf.token_source);
		}
		report(&failed, rc, msg);
	} else {
		printf("--    no config (%s absent): the web app and the token are not checked\n",
		       DCONF_DEFAULT_PATH);
	}
	/* A config that does not load says nothing about where the state lives. */
	if (path == NULL || have_conf) {
		const char *dir = have_conf ? conf.state_dir : "/var/lib/winnow";
		int rc = sanity_state_dir(dir, msg, sizeof(msg));
		report(&failed, rc, msg);
		if (rc == 0) {
			rc = check_db(dir, msg, sizeof(msg));
			report(&failed, rc, msg);
		}
	}
	if (have_conf) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			report(&failed, -ENOMEM, "libcurl: curl_global_init failed");
		} else {
			int rc = sanity_web(conf.url, conf.token, conf.ca_file, msg, sizeof(msg));
			report(&failed, rc, msg);
			curl_global_cleanup();
		}
		dconf_free(&conf);
	}
	if (failed)
		printf("sanity check failed: %d problem%s\n", failed, failed == 1 ? "" : "s");
	else
		printf("sanity check passed\n");
	fflush(stdout);
	return failed ? 1 : 0;
}
