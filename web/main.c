/*
 * winnow-web: the web app's entry point. Parses the command line, runs the
 * token and maintenance subcommands, or starts the server and waits for
 * SIGINT/SIGTERM, sweeping silent workers to OFFLINE every few seconds.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "models.h"
#include "readurl.h"
#include "routes.h"
#include "server.h"
#include "util.h"
#include "workers.h"

#define DB_POOL 8

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fputs("usage: winnow-web --listen HOST:PORT --db PATH [--dataset-root DIR]... [--static DIR]\n"
	      "                  [--s3-endpoint-allow http(s)://HOST[:PORT]]...\n"
	      "                  [--worker-timeout SECONDS] [--tls-cert PEM --tls-key PEM]\n"
	      "                  [--public-url URL] [--read-url-ttl SECONDS]\n"
	      "                  [--read-timeout SECONDS] [--max-connections N]\n"
	      "                  [--max-connections-per-address N] [--failed-auth-burst N]\n"
	      "       winnow-web token create NAME --role admin|user|worker [--worker WORKERNAME] --db PATH\n"
	      "       winnow-web token list --db PATH\n"
	      "       winnow-web token revoke NAME --db PATH\n"
	      "       winnow-web routes          (prints every route: METHOD PATTERN ROLES)\n"
	      "       winnow-web schema VERSION  (prints the SQL of migration VERSION)\n", f);
}

static _Noreturn __attribute__((format(printf, 1, 2))) void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "winnow-web: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

/* The value after argv[*i] (an option's argument), or exit 2. */
static const char *optarg_of(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", argv[*i]);
	return argv[++*i];
}

static struct db *open_db(const char *path)
{
	struct db *db;
	char err[512];

	if (path == NULL)
		bad_usage("%s", "--db PATH is required");
	if (db_open(path, DB_POOL, &db, err, sizeof(err)) < 0) {
		fprintf(stderr, "winnow-web: %s\n", err);
		exit(1);
	}
	return db;
}

static int cmd_token(int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : NULL, *name = NULL, *role = NULL, *dbpath = NULL;
	const char *worker = NULL;

	if (sub == NULL)
		bad_usage("%s", "token: create, list or revoke?");
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0)
			dbpath = optarg_of(argc, argv, &i);
		else if (strcmp(argv[i], "--role") == 0)
			role = optarg_of(argc, argv, &i);
		else if (strcmp(argv[i], "--worker") == 0)
			worker = optarg_of(argc, argv, &i);
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			bad_usage("token: unexpected argument %s", argv[i]);
	}
	if (strcmp(sub, "create") == 0) {
		if (name == NULL)
			bad_usage("%s", "token create: NAME is required");
		if (role == NULL || (strcmp(role, "worker") != 0 && strcmp(role, "user") != 0 &&
				     strcmp(role, "admin") != 0))
			bad_usage("%s", "token create: --role admin|user|worker is required");
		if (worker != NULL && strcmp(role, "worker") != 0)
			bad_usage("%s", "token create: --worker is for --role worker");
	} else if (strcmp(sub, "revoke") == 0) {
		if (name == NULL)
			bad_usage("%s", "token revoke: NAME is required");
	} else if (strcmp(sub, "list") == 0) {
		if (name != NULL)
			bad_usage("token list: unexpected argument %s", name);
	} else {
		bad_usage("token: unknown subcommand %s", sub);
	}
	struct db *db = open_db(dbpath);
	struct dbconn *c = db_acquire(db);
	int rc = 0;
	if (strcmp(sub, "create") == 0) {
		char tok[65];
		rc = auth_token_create(c, name, role, worker, tok);
		if (rc == 0)
			printf("%s\n", tok);
		else if (rc == -EEXIST)
			fprintf(stderr, "winnow-web: a token named %s exists\n", name);
		else if (rc == -EINVAL)
			fprintf(stderr, "winnow-web: token and worker names are 1-100 of [A-Za-z0-9._@-]\n");
	} else if (strcmp(sub, "list") == 0) {
		rc = auth_token_list(c, stdout);
	} else {
		rc = auth_token_revoke(c, name);
		if (rc == -ENOENT)
			fprintf(stderr, "winnow-web: no live token named %s\n", name);
		else if (rc == 0)
			printf("revoked %s\n", name);
	}
	if (rc == -EIO)
		fprintf(stderr, "winnow-web: database error: %s\n", sqlite3_errmsg(db_handle(c)));
	db_release(db, c);
	db_close(db);
	return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}

/*
 * --public-url: http(s)://HOST[:PORT][/PREFIX], the address clients reach the
 * app at (the read URLs are built on it); no query, fragment, credentials,
 * spaces or quotes.
 */
/* An integer option in [min, max]. */
static long int_arg(int argc, char **argv, int *i, long min, long max)
{
	const char *name = argv[*i], *v = optarg_of(argc, argv, i);
	char *end;
	long n = strtol(v, &end, 10);

	if (*v == '\0' || *end != '\0' || n < min || n > max)
		bad_usage("%s %s: expected a number in [%ld, %ld]", name, v, min, max);
	return n;
}

static bool public_url_ok(const char *v)
{
	size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;

	if (scheme == 0 || strlen(v) > 512 || v[scheme] == '\0' || v[scheme] == '/')
		return false;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("?#@\\\"'<>", *p))
			return false;
	return true;
}

/* The static folder: --static, else ../web/static beside the binary, else ./web/static. */
static char *find_static(const char *given)
{
	char exe[PATH_MAX], real[PATH_MAX];

	if (given != NULL)
		return realpath(given, real) ? xstrdup(real) : NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *cand = xasprintf("%s/../web/static", exe);
			char *ok = realpath(cand, real) ? xstrdup(real) : NULL;
			free(cand);
			if (ok)
				return ok;
		}
	}
	return realpath("web/static", real) ? xstrdup(real) : NULL;
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *dbpath = NULL, *static_arg = NULL, *tls_cert = NULL, *tls_key = NULL;
	struct strvec roots = { 0 }, s3_allow = { 0 };
	struct web_settings ws = { .read_url_ttl = 3600, .read_timeout = 10, .max_conns = 1024,
				   .max_conns_per_addr = 32, .failed_auth_burst = 10 };
	char *public_url = NULL;

	log_init("winnow-web", LOG_LVL_INFO);
	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return cmd_token(argc, argv);
	if (argc > 1 && strcmp(argv[1], "routes") == 0) {
		routes_print(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "schema") == 0) {
		const char *sql = argc > 2 ? db_migration_sql(atoi(argv[2])) : NULL;
		if (sql == NULL)
			bad_usage("schema: VERSION must be 1..%d", DB_SCHEMA_VERSION);
		fputs(sql, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0) {
			listen = optarg_of(argc, argv, &i);
		} else if (strcmp(argv[i], "--db") == 0) {
			dbpath = optarg_of(argc, argv, &i);
		} else if (strcmp(argv[i], "--dataset-root") == 0) {
			const char *d = optarg_of(argc, argv, &i);
			char real[PATH_MAX];
			if (realpath(d, real) == NULL)
				bad_usage("--dataset-root %s: no such folder", d);
			strvec_push(&roots, real);
		} else if (strcmp(argv[i], "--s3-endpoint-allow") == 0) {
			/* S3 endpoints users may set (SPEC 8); without a port: any port of the host. */
			const char *u = optarg_of(argc, argv, &i);
			const char *h = strncmp(u, "http://", 7) == 0 ? u + 7
					: strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;
			if (h == NULL || h[0] == '\0' || h[0] == ':' || strpbrk(h, "/?#@ ") != NULL)
				bad_usage("--s3-endpoint-allow %s: expected http(s)://host[:port]", u);
			strvec_push(&s3_allow, u);
		} else if (strcmp(argv[i], "--tls-cert") == 0) {
			tls_cert = optarg_of(argc, argv, &i);
		} else if (strcmp(argv[i], "--tls-key") == 0) {
			tls_key = optarg_of(argc, argv, &i);
		} else if (strcmp(argv[i], "--static") == 0) {
			static_arg = optarg_of(argc, argv, &i);
		} else if (strcmp(argv[i], "--worker-timeout") == 0) {
			const char *v = optarg_of(argc, argv, &i);
			char *end;
			long s = strtol(v, &end, 10);
			if (*end != '\0' || s < 1 || s > 86400)
				bad_usage("--worker-timeout %s: expected seconds in [1, 86400]", v);
			worker_timeout_seconds = (int)s;
		} else if (strcmp(argv[i], "--public-url") == 0) {
			const char *v = optarg_of(argc, argv, &i);
			if (!public_url_ok(v))
				bad_usage("--public-url %s: expected http(s)://HOST[:PORT][/PREFIX]", v);
			free(public_url);
			public_url = xstrdup(v);
			while (public_url[strlen(public_url) - 1] == '/')
				public_url[strlen(public_url) - 1] = '\0';
		} else if (strcmp(argv[i], "--read-url-ttl") == 0) {
			/* 0: every read URL has expired when given (the tests' expired URL). */
			const char *v = optarg_of(argc, argv, &i);
			char *end;
			long s = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || s < 0 || s > 7 * 86400)
				bad_usage("--read-url-ttl %s: expected seconds in [0, 604800]", v);
			ws.read_url_ttl = s;
		} else if (strcmp(argv[i], "--read-timeout") == 0) {
			/* A connection silent this long is closed (SPEC 8). */
			ws.read_timeout = (int)int_arg(argc, argv, &i, 1, 3600);
		} else if (strcmp(argv[i], "--max-connections") == 0) {
			ws.max_conns = (int)int_arg(argc, argv, &i, 1, 65536);
		} else if (strcmp(argv[i], "--max-connections-per-address") == 0) {
			ws.max_conns_per_addr = (int)int_arg(argc, argv, &i, 1, 65536);
		} else if (strcmp(argv[i], "--failed-auth-burst") == 0) {
			/* Wrong tokens and logins from one address before 429 (then 1 a second). */
			ws.failed_auth_burst = (int)int_arg(argc, argv, &i, 1, 1000000000);
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			bad_usage("unknown argument %s", argv[i]);
		}
	}
	if (listen == NULL)
		bad_usage("%s", "--listen HOST:PORT is required");
	if (dbpath == NULL)
		bad_usage("%s", "--db PATH is required");
	/* The links the server builds are on --public-url, else on --listen (never on Host). */
	if (public_url == NULL && (strncmp(listen, "0.0.0.0:", 8) == 0 ||
				   strncmp(listen, "[::]:", 5) == 0 || listen[0] == ':'))
		bad_usage("--listen %s is every address: give --public-url, the URL clients reach the "
			  "app at (upload and read URLs are built on it)", listen);

	if ((tls_cert == NULL) != (tls_key == NULL))
		bad_usage("%s", "--tls-cert and --tls-key go together");
	if (tls_cert != NULL) {
		size_t len;
		int rc = read_file(tls_cert, 1 << 20, &ws.tls_cert, &len);
		if (rc < 0)
			bad_usage("--tls-cert %s: %s", tls_cert, strerror(-rc));
		rc = read_file(tls_key, 1 << 20, &ws.tls_key, &len);
		if (rc < 0)
			bad_usage("--tls-key %s: %s", tls_key, strerror(-rc));
	}
	ws.static_dir = find_static(static_arg);
	if (static_arg != NULL && ws.static_dir == NULL)
		bad_usage("--static %s: no such folder", static_arg);
	if (ws.static_dir == NULL)
		log_warnx("no web/static folder found; only the API is served");
	ws.db = open_db(dbpath);
	char *keypath = xasprintf("%s.urlkey", dbpath), kerr[512];
	if (readurl_key_load(keypath, ws.url_key, kerr, sizeof(kerr)) < 0) {
		fprintf(stderr, "winnow-web: %s\n", kerr);
		db_close(ws.db);
		return 1;
	}
	free(keypath);
	ws.public_url = public_url;
	ws.dataset_roots = roots.v;
	ws.nroots = roots.n;
	ws.s3_allow = s3_allow.v;
	ws.ns3_allow = s3_allow.n;
	ws.thumbs_dir = xasprintf("%s.thumbs", dbpath);
	ws.listen = listen;

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* A descriptor for every connection the caps allow, and the database's and files' besides. */
	struct rlimit rl;
	rlim_t want = (rlim_t)ws.max_conns + (rlim_t)ws.max_conns / 8 + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want)
			log_warnx("open files limited to %llu: fewer than --max-connections %d needs (%llu); "
				  "raise LimitNOFILE=", (unsigned long long)rl.rlim_cur, ws.max_conns,
				  (unsigned long long)want);
	}

	struct server *srv;
	if (server_start(listen, &ws, &srv) < 0) {
		db_close(ws.db);
		return 1;
	}
	log_info("listening on %s (%s), database %s, %zu dataset root(s), worker timeout %d s",
		 listen, ws.tls_cert ? "https" : "http", dbpath, roots.n, worker_timeout_seconds);
	if (worker_timeout_seconds < 30)
		log_warnx("--worker-timeout %d: winnowd heartbeats every 15 s; a timeout under 30 s "
			  "marks live workers OFFLINE and takes their runs back", worker_timeout_seconds);
	/* Sweep a few times per timeout, at most every 5 s. */
	int64_t up_since = db_now_ms();
	int every = worker_timeout_seconds / 4 < 1 ? 1 : worker_timeout_seconds / 4 > 5 ? 5 :
		    worker_timeout_seconds / 4;
	for (int tick = 0; !stop_flag; tick++) {
		sleep(1);
		if (tick % every == 0)
			(void)workers_sweep(ws.db, worker_timeout_seconds, up_since);
	}
	log_info("stopping");
	server_stop(srv);
	db_close(ws.db);
	strvec_free(&roots);
	strvec_free(&s3_allow);
	free(ws.static_dir);
	free(ws.thumbs_dir);
	free(public_url);
	OPENSSL_cleanse(ws.url_key, sizeof(ws.url_key));
	free_secret(ws.tls_key);
	free(ws.tls_cert);
	return 0;
}
