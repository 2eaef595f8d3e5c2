/*
 * daemon: `winnowd [--config FILE]`, the worker daemon. Registers with the
 * web app, polls for scheduled runs, claims them, runs them on worker
 * threads and reports the results through the outbox.
 *
 * This file starts and stops it: the loop and its tick, the signals (SIGHUP
 * re-reads the config), the drain and the shutdown. register.c keeps the
 * worker registered and polls, claim.c claims, jobs.c runs the jobs and
 * ends them, outbox.c sends what they queue.
 *
 * DESIGN. One libuv loop thread owns everything that is not a stage: the
 * curl multi handle (http.c), the SQLite connection (queue.c), the timers
 * and the signals. Worker threads (dispatch.c) get a struct exec and send
 * events back; the only state both sides write is the exec's cancel flag.
 */
#include "winnowd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "hooks.h"
#include "log.h"
#include "notify.h"
#include "util.h"
#include "version.h"

#define HEARTBEAT_MS 15000
#define TICK_MS 1000

char *wd_run_dir(struct wd *d, const char *sched)
{
	return xasprintf("%s/runs/%s", d->conf.state_dir, sched);
}

/*
 * The web app's URL of a path from api_path() (lib/api.c, the wire
 * contract of SPEC 7). Takes path; NULL stays NULL.
 */
char *wd_url(struct wd *d, char *path)
{
	char *url = path ? xasprintf("%s%s", d->conf.url, path) : NULL;

	free(path);
	return url;
}

/* ---- signals and shutdown ----------------------------------------------- */

static void on_close_noop(uv_handle_t *h)
{
	(void)h;
}

static void close_all(struct wd *d)
{
	uv_handle_t *hs[] = {
		(uv_handle_t *)&d->poll_timer, (uv_handle_t *)&d->hb_timer,
		(uv_handle_t *)&d->tick_timer, (uv_handle_t *)&d->outbox_timer,
		(uv_handle_t *)&d->reg_timer, (uv_handle_t *)&d->stop_timer, (uv_handle_t *)&d->wd_timer,
		(uv_handle_t *)&d->sig_term, (uv_handle_t *)&d->sig_int, (uv_handle_t *)&d->sig_hup,
	};

	d->stopping = true;
	outbox_abandon(d);
	http_free(d->http);
	d->http = NULL;
	dispatch_free(d->disp);
	d->disp = NULL;
	for (size_t i = 0; i < ARRAY_LEN(hs); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], on_close_noop);
}

static void on_stop_timer(uv_timer_t *t)
{
	struct wd *d = t->data;

	log_info("stopped");
	close_all(d);
}

static void on_offline_reply(void *ud, const struct http_reply *rep)
{
	struct wd *d = ud;

	(void)rep;
	/* Not from inside the HTTP client's callback: the timer closes the client. */
	if (!d->stopping)
		uv_timer_start(&d->stop_timer, on_stop_timer, 0, 0);
}

/* After a drain: once no run is on a thread and no claim is in flight, exit. */
void shutdown_maybe(struct wd *d)
{
	if (!d->draining || d->active != NULL || d->claim_busy || d->stopping ||
	    uv_is_active((uv_handle_t *)&d->stop_timer))
		return;
	uv_timer_stop(&d->poll_timer);
	uv_timer_stop(&d->hb_timer);
	uv_timer_stop(&d->tick_timer);
	uv_timer_stop(&d->wd_timer);
	uv_timer_stop(&d->outbox_timer);
	uv_timer_stop(&d->reg_timer);
	/* Tell the web app, briefly; the outbox keeps everything else for the next start. */
	uv_timer_start(&d->stop_timer, on_stop_timer, 2000, 0);
	if (d->registered)
		worker_offline(d, on_offline_reply);
}

static void start_drain(struct wd *d, const char *why)
{
	if (d->draining)
		return;
	d->draining = true;
	(void)notify_send("STOPPING=1");
	log_info("%s: draining (no new claims; running stages stop at the next image)", why);
	uv_timer_stop(&d->poll_timer);
	for (struct active *a = d->active; a; a = a->next)
		cancel_request(&a->ex->cancel);
	status_update(d);
	shutdown_maybe(d);
}

static void reload(struct wd *d)
{
	struct dconf n;
	char err[512];

	if (dconf_load(d->conf_path, &n, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "SIGHUP: %s; keeping the running config", err);
		return;
	}
	if (strcmp(n.url, d->conf.url) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: url changed: needs a restart");
	if (strcmp(n.name, d->conf.name) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: worker_name changed: needs a restart");
	if ((n.ca_file == NULL) != (d->conf.ca_file == NULL) ||
	    (n.ca_file != NULL && strcmp(n.ca_file, d->conf.ca_file) != 0))
		log_msg(LOG_LVL_NOTICE, "SIGHUP: ca_file changed: needs a restart");
	if (strcmp(n.state_dir, d->conf.state_dir) != 0)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: state_dir changed: needs a restart");
	if (n.concurrent_runs != d->conf.concurrent_runs)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: concurrent_runs changed: needs a restart");
	if (n.threads_per_run != d->conf.threads_per_run)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: threads_per_run changed: needs a restart");
	bool labels_same = n.labels.n == d->conf.labels.n;
	for (size_t i = 0; labels_same && i < n.labels.n; i++)
		labels_same = strcmp(n.labels.v[i], d->conf.labels.v[i]) == 0;
	if (!labels_same)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: labels changed: needs a restart");
	/* The live ones: swap them in. */
	char *t = d->conf.token;
	d->conf.token = n.token;
	n.token = t;
	char *ts = d->conf.token_source;
	d->conf.token_source = n.token_source;
	n.token_source = ts;
	/*
	 * dataset_roots are read on this thread only, when a job starts
	 * (jobs.c resolves the folders into the job's own strings), so the new
	 * list applies to the next claim and never to a running job.
	 */
	bool roots_same = n.dataset_roots.n == d->conf.dataset_roots.n;
	for (size_t i = 0; roots_same && i < n.dataset_roots.n; i++)
		roots_same = strcmp(n.dataset_roots.v[i], d->conf.dataset_roots.v[i]) == 0;
	if (!roots_same) {
		struct strvec r = d->conf.dataset_roots;
		d->conf.dataset_roots = n.dataset_roots;
		n.dataset_roots = r;
		log_info("SIGHUP: dataset_roots now %zu folder%s, for the runs claimed from now on",
			 d->conf.dataset_roots.n, d->conf.dataset_roots.n == 1 ? "" : "s");
	}
	d->conf.poll_interval = n.poll_interval;
	d->conf.poll_wait = n.poll_wait;
	d->conf.keep_runs = n.keep_runs;
	d->conf.log_level = n.log_level;
	log_set_level(n.log_level);
	log_info("SIGHUP: config re-read (poll_interval %.1f s, keep_runs %d, token from %s)",
		 d->conf.poll_interval, d->conf.keep_runs, d->conf.token_source);
	dconf_free(&n);
	if (!d->draining && d->recovered) {
		uv_timer_stop(&d->poll_timer);
		schedule_poll(d);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct wd *d = s->data;

	if (signum == SIGHUP) {
		reload(d);
	} else if (signum == SIGINT && d->sigints++ > 0) {
		log_msg(LOG_LVL_WARNING, "second SIGINT: exiting at once");
		_exit(130);
	} else {
		start_drain(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

/* ---- the tick ----------------------------------------------------------- */

/* WATCHDOG=1 at half of WatchdogSec (SPEC 6): the loop is alive. */
static void on_wd_timer(uv_timer_t *t)
{
	(void)t;
	(void)notify_send("WATCHDOG=1");
}

static void on_tick(uv_timer_t *t)
{
	struct wd *d = t->data;

	jobs_tick(d);
	outbox_kick(d);
	claim_kick(d);
	try_dispatch(d);
}

/* ---- main --------------------------------------------------------------- */

/*
 * <state dir>/winnowd.pid holds this process's id under a POSIX write lock
 * for as long as it runs: a second winnowd on the same state dir refuses to
 * start, and winnowctl tells a live daemon from a stale file with F_GETLK,
 * which tests the lock without taking it (so a winnowctl never makes a
 * starting winnowd fail). The kernel drops the lock when the process dies,
 * kill -9 included. Nothing else in winnowd may open this file: closing any
 * descriptor of it would drop a POSIX lock. Returns the descriptor (kept open
 * until exit) or a negative errno (-EAGAIN: another winnowd holds it).
 */
static int pidfile_lock(const char *state_dir)
{
	char *path = xasprintf("%s/winnowd.pid", state_dir);
	char buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc;

	free(path);
	if (fd < 0)
		return -errno;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &lk) < 0) {
		rc = errno == EACCES ? -EAGAIN : -errno;
		close(fd);
		return rc;
	}
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void usage(FILE *f)
{
	fputs("usage: winnowd [--config FILE]     the daemon (default " DCONF_DEFAULT_PATH ")\n"
	      "       winnowd select ...          local mode (winnowd select --help)\n"
	      "       winnowd sanity-check [--config FILE]\n"
	      "       winnowd --version\n", f);
}

int daemon_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wd *d = xcalloc(1, sizeof(*d));
	char err[1024];
	int ch, rc = 1, pidfd = -1;

	d->conf_path = xstrdup(DCONF_DEFAULT_PATH);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			free(d->conf_path);
			d->conf_path = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			free(d->conf_path);
			free(d);
			return 0;
		default:
			usage(stderr);
			free(d->conf_path);
			free(d);
			return 2;
		}
	}
	if (optind < argc) {
		log_msg(LOG_LVL_ERR, "unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		free(d->conf_path);
		free(d);
		return 2;
	}
	if (dconf_load(d->conf_path, &d->conf, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "config: %s", err);
		free(d->conf_path);
		free(d);
		return 2;
	}
	log_set_level(d->conf.log_level);
	/* The test driver may shorten both waits (hooks.h); winnowd leaves them 0. */
	d->retry_ms = wd_hooks.retry_ms > 0 ? wd_hooks.retry_ms : 10000;
	d->heartbeat_ms = wd_hooks.heartbeat_ms > 0 ? wd_hooks.heartbeat_ms : HEARTBEAT_MS;
	/*
	 * Fixed malloc thresholds: glibc otherwise raises its mmap threshold to
	 * the size of the largest block freed (up to 32 MB) and its trim
	 * threshold to twice that, so a run's 16 MB tables leave tens of MB in a
	 * worker thread's arena that neither free() nor malloc_trim() return
	 * (malloc_trim does not trim the top of a thread arena). Blocks of 1 MB
	 * and more are mapped and unmapped on their own.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	srandom((unsigned)(time(NULL) ^ getpid()));

	char *runs = xasprintf("%s/runs", d->conf.state_dir);
	int mr = mkdir_p(runs, 0750);
	free(runs);
	if (mr < 0) {
		log_msg(LOG_LVL_ERR, "state_dir %s: %s", d->conf.state_dir, strerror(-mr));
		goto out_conf;
	}
	pidfd = pidfile_lock(d->conf.state_dir);
	if (pidfd < 0) {
		log_msg(LOG_LVL_ERR, "%s/winnowd.pid: %s", d->conf.state_dir, pidfd == -EAGAIN ?
			"another winnowd runs on this state dir" : strerror(-pidfd));
		goto out_conf;
	}
	char *dbp = xasprintf("%s/winnowd.db", d->conf.state_dir);
	int qr = queue_open(dbp, &d->q, err, sizeof(err));
	free(dbp);
	if (qr < 0) {
		log_msg(LOG_LVL_ERR, "queue: %s", err);
		goto out_conf;
	}
	(void)queue_meta_get(d->q, "worker_id", d->worker_id, sizeof(d->worker_id));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(LOG_LVL_ERR, "curl_global_init failed");
		goto out_queue;
	}
	d->loop = uv_default_loop();
	d->http = http_new(d->loop);
	if (d->http != NULL && d->conf.ca_file != NULL)
		http_set_ca_file(d->http, d->conf.ca_file);
	d->disp = dispatch_new(d->loop, d->conf.concurrent_runs, on_exec_event, d);
	if (d->http == NULL || d->disp == NULL) {
		log_msg(LOG_LVL_ERR, "cannot start the HTTP client or the worker threads");
		goto out_curl;
	}
	uv_timer_t *timers[] = { &d->poll_timer, &d->hb_timer, &d->tick_timer, &d->outbox_timer,
				 &d->reg_timer, &d->stop_timer, &d->wd_timer };
	for (size_t i = 0; i < ARRAY_LEN(timers); i++) {
		uv_timer_init(d->loop, timers[i]);
		timers[i]->data = d;
	}
	uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
	int signums[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		uv_signal_init(d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	d->watchdog_interval = notify_watchdog_seconds();

	log_info("winnowd %s starting: web app %s, worker %s, state %s, token from %s",
		 WINNOW_VERSION, d->conf.url, d->conf.name, d->conf.state_dir, d->conf.token_source);
	if (recover_local(d) < 0)
		log_msg(LOG_LVL_WARNING, "recovery of interrupted runs failed; continuing");
	uv_timer_start(&d->tick_timer, on_tick, TICK_MS, TICK_MS);
	if (d->watchdog_interval > 0) {
		/* Its own timer, not the 1 s tick: at half of WatchdogSec whatever WatchdogSec is. */
		uint64_t half_ms = (uint64_t)(d->watchdog_interval * 500);
		uv_timer_start(&d->wd_timer, on_wd_timer, half_ms ? half_ms : 1, half_ms ? half_ms : 1);
	}
	do_register(d);
	uv_run(d->loop, UV_RUN_DEFAULT);
	rc = 0;
	if (uv_loop_close(d->loop) != 0)
		log_msg(LOG_LVL_WARNING, "the loop had handles left at exit");
	goto out_curl_only;
out_curl:
	outbox_abandon(d);
	http_free(d->http);
	dispatch_free(d->disp);
	uv_run(d->loop, UV_RUN_NOWAIT);
out_curl_only:
	curl_global_cleanup();
out_queue:
	while (d->active)
		active_free(d, d->active);
	while (d->parsed)
		parsed_free(parsed_take(d, d->parsed->sched_id));
	queue_close(d->q);
out_conf:
	if (pidfd >= 0)
		close(pidfd);
	dconf_free(&d->conf);
	free(d->conf_path);
	free(d);
	return rc;
}
