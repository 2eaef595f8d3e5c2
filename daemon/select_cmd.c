/*
 * select_cmd: `winnowd select --config FILE --input DIR --output DIR`, local
 * mode. Parses arguments, loads and validates the config, runs the stage
 * runner with a progress display on stderr, and prints a summary.
 *
 * DESIGN (the datapool, SPEC 4.7). With datapool.name set, --datapool-dir DIR
 * holds DIR/<name>/datapool_latest.csv in Lightly's embeddings CSV format:
 * the members' names and raw rows, in the order they were selected. The file
 * is read before the run (absent: a new, empty datapool); after a successful
 * run with new picks it is replaced atomically (temp file, fsync, rename,
 * fsync of the folder) by the old rows followed by the new picks' rows. With
 * datapool.keep_history (the default) the replaced file is first hard-linked
 * as DIR/<name>/datapool_<N>.csv, N = 1 + the highest N there, so
 * datapool_1.csv is the datapool after its first run. An flock on
 * DIR/<name>/.lock keeps two local runs from updating one datapool at once.
 * datapool.name without --datapool-dir is a usage error (exit 2): a datapool
 * the run could not keep would silently make the next run start over.
 */
#include "select_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/file.h>

#include "config.h"
#include "embed.h"
#include "log.h"
#include "pipeline.h"
#include "util.h"

static volatile int cancel_flag;

static void on_signal(int sig)
{
	if (cancel_flag)
		_exit(128 + sig);	/* a second signal exits at once */
	cancel_request(&cancel_flag);
}

struct display {
	bool tty, verbose;
	size_t total;
	int last_pct;
	double last_draw;
};

static void draw_bar(struct display *d, enum stage s, size_t done, size_t total)
{
	char bar[31];
	size_t fill = total ? done * 30 / total : 30;

	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r%-11s [%s] %zu/%zu", stage_name(s), bar, done, total);
}

static void ev_stage_begin(void *ud, enum stage s, size_t total)
{
	struct display *d = ud;	/* the first member of struct select_ud */

	d->total = total;
	d->last_pct = -1;
	d->last_draw = 0;
	if (d->tty && total > 0)
		draw_bar(d, s, 0, total);
	else if (!d->tty)
		fprintf(stderr, "%s: started\n", stage_name(s));
}

static void ev_progress(void *ud, enum stage s, size_t done, size_t total)
{
	struct display *d = ud;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (d->tty) {
		double t = now_seconds();
		if (t - d->last_draw < 0.05 && done != total)
			return;
		d->last_draw = t;
		draw_bar(d, s, done, total);
	} else if (pct / 10 != d->last_pct / 10) {
		d->last_pct = pct;
		fprintf(stderr, "%s: %zu/%zu (%d%%)\n", stage_name(s), done, total, pct);
	}
}

static void ev_stage_end(void *ud, enum stage s, double secs, const char *summary)
{
	struct display *d = ud;

	if (d->tty)
		fprintf(stderr, "\r\033[K%-11s %7.2f s  %s\n", stage_name(s), secs, summary);
	else
		fprintf(stderr, "%s: done in %.2f s: %s\n", stage_name(s), secs, summary);
}

static void ev_log(void *ud, enum log_level lvl, const char *msg)
{
	struct display *d = ud;

	if (lvl <= LOG_LVL_WARNING || d->verbose) {
		if (d->tty)
			fputs("\r\033[K", stderr);
		log_msg(lvl, "%s", msg);
	}
}

/* ---- the datapool of local mode ------------------------------------------ */

struct local_pool {
	char *dir;		/* DIR/<name> */
	char *latest;		/* DIR/<name>/datapool_latest.csv */
	int lockfd;
	bool existed;		/* datapool_latest.csv was there */
	struct emb_table t;	/* its members, in file order */
	/* the run's new picks, from the selected event */
	bool got;
	size_t nnew, d;
	char **names;
	double *rows;
	/* what pool_write did */
	char *history;		/* the history copy made, or NULL */
};

/*
 * Locks and reads DIR/<name>. Returns 0, or a negative errno with a message
 * logged (naming the file, and the line for a malformed CSV).
 */
static int pool_open(struct local_pool *lp, const char *root, const char *name)
{
	char err[1024];
	char *lock;
	int rc;

	memset(lp, 0, sizeof(*lp));
	lp->lockfd = -1;
	lp->dir = xasprintf("%s/%s", root, name);
	lp->latest = xasprintf("%s/datapool_latest.csv", lp->dir);
	if ((rc = mkdir_p(lp->dir, 0755)) < 0) {
		log_msg(LOG_LVL_ERR, "datapool folder %s: %s", lp->dir, strerror(-rc));
		return rc;
	}
	lock = xasprintf("%s/.lock", lp->dir);
	lp->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lp->lockfd < 0 || flock(lp->lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		log_msg(LOG_LVL_ERR, "datapool %s: %s", lock, rc == -EWOULDBLOCK ?
			"in use by another winnowd select" : strerror(-rc));
		free(lock);
		return rc;
	}
	free(lock);
	rc = emb_table_read(lp->latest, &lp->t, err, sizeof(err));
	if (rc == -ENOENT)
		return 0;
	if (rc == -EINVAL) {
		log_msg(LOG_LVL_ERR, "datapool: %s", err);
		return rc;
	}
	if (rc < 0) {
		log_msg(LOG_LVL_ERR, "datapool %s: %s", lp->latest, strerror(-rc));
		return rc;
	}
	lp->existed = true;
	return 0;
}

static void pool_close(struct local_pool *lp)
{
	if (lp->lockfd >= 0)
		close(lp->lockfd);	/* drops the lock */
	if (lp->existed)
		emb_table_free(&lp->t);
	for (size_t i = 0; i < lp->nnew; i++)
		free(lp->names[i]);
	free(lp->names);
	free(lp->rows);
	free(lp->dir);
	free(lp->latest);
	free(lp->history);
	memset(lp, 0, sizeof(*lp));
	lp->lockfd = -1;
}

/* The next history name: datapool_<1 + the highest N>.csv. */
static char *pool_history_name(const struct local_pool *lp)
{
	DIR *d = opendir(lp->dir);
	struct dirent *de;
	unsigned long max = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		unsigned long v;
		int end = 0;
		if (sscanf(de->d_name, "datapool_%lu.csv%n", &v, &end) == 1 &&
		    de->d_name[end] == '\0' && v > max)
			max = v;
	}
	if (d != NULL)
		closedir(d);
	return xasprintf("%s/datapool_%lu.csv", lp->dir, max + 1);
}

/*
 * Writes the old members and the new picks as the new datapool_latest.csv,
 * keeping the old file as history first when asked. Returns 0 or a negative
 * errno with a message logged.
 */
static int pool_write(struct local_pool *lp, bool keep_history)
{
	size_t nold = lp->existed ? lp->t.n : 0, n = nold + lp->nnew, d = lp->d;
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	double *rows = xcalloc(n && d ? n * d : 1, sizeof(double));
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	for (size_t i = 0; i < nold; i++) {
		names[i] = lp->t.names[i];
		memcpy(rows + i * d, lp->t.rows + i * d, d * sizeof(double));
	}
	for (size_t i = 0; i < lp->nnew; i++) {
		names[nold + i] = lp->names[i];
		memcpy(rows + (nold + i) * d, lp->rows + i * d, d * sizeof(double));
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		fatalx("datapool: out of memory");
	rc = emb_csv_write(f, names, NULL, n, rows, d, 1);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	free(names);
	free(rows);
	if (rc < 0) {
		log_msg(LOG_LVL_ERR, "datapool %s: %s", lp->latest, strerror(-rc));
		free(text);
		return rc;
	}
	if (keep_history && lp->existed) {
		lp->history = pool_history_name(lp);
		if (link(lp->latest, lp->history) < 0) {
			rc = -errno;
			log_msg(LOG_LVL_ERR, "datapool history %s: %s", lp->history, strerror(-rc));
			free(text);
			return rc;
		}
	}
	rc = write_file_atomic(lp->latest, text, len);
	free(text);
	if (rc < 0) {
		log_msg(LOG_LVL_ERR, "datapool %s: %s", lp->latest, strerror(-rc));
		return rc;
	}
	/* The rename is durable only once the folder is synced. */
	int dfd = open(lp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = -errno;
		log_msg(LOG_LVL_ERR, "datapool folder %s: %s", lp->dir, strerror(-rc));
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

struct select_ud {
	struct display disp;
	struct local_pool *pool;	/* NULL without a datapool */
};

static void ev_selected(void *ud, char *const *names, const double *rows, size_t n, size_t d)
{
	struct local_pool *lp = ((struct select_ud *)ud)->pool;

	if (lp == NULL)
		return;
	lp->got = true;
	lp->nnew = n;
	lp->d = d;
	lp->names = xcalloc(n ? n : 1, sizeof(*lp->names));
	for (size_t i = 0; i < n; i++)
		lp->names[i] = xstrdup(names[i]);
	lp->rows = xcalloc(n && d ? n * d : 1, sizeof(double));
	if (n && d)
		memcpy(lp->rows, rows, n * d * sizeof(double));
}

static void usage(FILE *f)
{
	fputs("usage: winnowd select --config FILE --input DIR --output DIR [--threads N]\n"
	      "                      [--datapool-dir DIR] [--force] [--verbose]\n"
	      "  --config FILE   run config (JSON: {\"docker\": {...}, \"lightly\": {...}} or the docker object)\n"
	      "  --input DIR     the datasource folder (images, .lightly/), or s3://bucket[/prefix]\n"
	      "  --s3-endpoint URL  S3-compatible endpoint (default $AWS_ENDPOINT_URL, else AWS)\n"
	      "  --s3-region R   (default $AWS_REGION, else us-east-1)\n"
	      "  --s3-path-style / --s3-virtual-host  addressing (default: path style with an endpoint)\n"
	      "                  keys: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY\n"
	      "  --output DIR    the run folder; must be empty or absent unless --force\n"
	      "  --threads N     threads for the image pass (default: all cores)\n"
	      "  --datapool-dir DIR  where datapools live: DIR/<datapool.name>/datapool_latest.csv\n"
	      "                  (needed when the config sets datapool.name)\n"
	      "  --force         write into a non-empty output folder (earlier outputs are replaced)\n"
	      "  --verbose       print every log line, not only warnings\n", f);
}

/* 1 if path is a folder with entries, 0 if empty or absent, negative errno otherwise. */
static int dir_nonempty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int found = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/* With --force: remove the outputs of an earlier run, and only those. */
static void remove_old_outputs(const char *out)
{
	static const char *const files[] = {
		"report.json", "log.txt",
		"filenames/corrupt_filenames.txt", "filenames/duplicate_filenames.txt",
		"filenames/excluded_filenames.txt", "filenames/selected_filenames.txt",
		"filenames/no_predictions_filenames.txt", "data/selection.csv", "data/scores.csv", "data/embeddings.csv",
		"data/selected_embeddings.csv", "data/embeddings_2d.csv",
	};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *p = xasprintf("%s/%s", out, files[i]);
		unlink(p);
		free(p);
	}
}

static void print_summary(const struct pipeline_result *r, const char *out)
{
	const struct pipeline_counts *c = &r->counts;

	printf("winnowd select: completed in %.2f s\n", r->total_seconds);
	for (int s = 0; s < STAGE_COUNT; s++)
		if (r->ran[s])
			printf("  %-11s %8.2f s  %s\n", stage_name((enum stage)s), r->seconds[s],
			       r->summary[s]);
	printf("  counts: %zu listed, %zu excluded, %zu corrupt, %zu duplicates, %zu candidates, "
	       "%zu selected\n", c->listed, c->excluded, c->corrupt, c->duplicates, c->candidates,
	       c->selected);
	printf("  output: %s\n", out);
}

int select_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "threads", required_argument, NULL, 't' },
		{ "datapool-dir", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "s3-endpoint", required_argument, NULL, 'E' },
		{ "s3-region", required_argument, NULL, 'R' },
		{ "s3-path-style", no_argument, NULL, 'P' },
		{ "s3-virtual-host", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfgpath = NULL, *input = NULL, *output = NULL, *pooldir = NULL;
	int threads = 0, ch, rc;
	bool force = false, verbose = false;
	struct run_config cfg;
	struct strvec errors = { 0 };
	struct stat st;
	struct s3_conf s3 = {
		.endpoint = getenv("AWS_ENDPOINT_URL"), .region = getenv("AWS_REGION"),
		.access_key_id = getenv("AWS_ACCESS_KEY_ID"),
		.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"), .path_style = -1,
	};

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:i:o:t:fvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 'i': input = optarg; break;
		case 'o': output = optarg; break;
		case 'p': pooldir = optarg; break;
		case 'f': force = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'E': s3.endpoint = optarg; break;
		case 'R': s3.region = optarg; break;
		case 'P': s3.path_style = 1; break;
		case 'V': s3.path_style = 0; break;
		case 't': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || v < 1 || v > 1024) {
				log_msg(LOG_LVL_ERR, "--threads: \"%s\" is not a number from 1 to 1024", optarg);
				return 2;
			}
			threads = (int)v;
			break;
		}
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_msg(LOG_LVL_ERR, "unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (cfgpath == NULL || input == NULL || output == NULL) {
		log_msg(LOG_LVL_ERR, "select needs --config, --input and --output");
		usage(stderr);
		return 2;
	}
	if (config_load_file(cfgpath, &cfg, &errors) < 0) {
		log_msg(LOG_LVL_ERR, "config %s: %zu error%s:", cfgpath, errors.n, errors.n == 1 ? "" : "s");
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "  %s\n", errors.v[i]);
		strvec_free(&errors);
		return 2;
	}
	if (cfg.datapool_name != NULL && pooldir == NULL) {
		log_msg(LOG_LVL_ERR, "config %s sets docker.datapool.name \"%s\": local mode keeps "
			"datapools in a folder; give --datapool-dir DIR (the datapool is "
			"DIR/%s/datapool_latest.csv)", cfgpath, cfg.datapool_name, cfg.datapool_name);
		config_free(&cfg);
		return 2;
	}
	if (cfg.datapool_name == NULL && pooldir != NULL)
		log_msg(LOG_LVL_WARNING, "--datapool-dir %s is ignored: the config sets no "
			"docker.datapool.name", pooldir);
	rc = dir_nonempty(output);
	if (rc < 0) {
		log_msg(LOG_LVL_ERR, "output folder %s: %s", output, strerror(-rc));
		config_free(&cfg);
		return 2;
	}
	if (rc > 0 && !force) {
		log_msg(LOG_LVL_ERR, "output folder %s is not empty (use --force to write into it)", output);
		config_free(&cfg);
		return 2;
	}
	if (rc > 0)
		remove_old_outputs(output);
	/* A server closing a kept-alive connection must not kill local mode. */
	if (strncmp(input, "s3://", 5) == 0)
		signal(SIGPIPE, SIG_IGN);
	if (strncmp(input, "s3://", 5) != 0) {
		/* st is only read when stat succeeded: a failed stat leaves it unset. */
		const char *why = stat(input, &st) < 0 ? strerror(errno) :
			!S_ISDIR(st.st_mode) ? "not a folder" : NULL;
		if (why != NULL) {
			log_msg(LOG_LVL_ERR, "input folder %s: %s", input, why);
			config_free(&cfg);
			return 1;
		}
	}

	struct local_pool pool = { .lockfd = -1 };
	struct select_ud sud = { .disp = { .tty = isatty(STDERR_FILENO), .verbose = verbose } };
	struct pipeline_events ev = {
		.stage_begin = ev_stage_begin, .progress = ev_progress,
		.stage_end = ev_stage_end, .log = ev_log, .selected = ev_selected,
	};
	struct pipeline_opts po = {
		.cfg = &cfg, .input = input, .run_dir = output, .threads = threads,
		.ev = &ev, .ud = &sud, .cancel = &cancel_flag, .s3 = &s3,
	};
	if (cfg.datapool_name != NULL) {
		if (pool_open(&pool, pooldir, cfg.datapool_name) < 0) {
			pool_close(&pool);
			config_free(&cfg);
			return 1;
		}
		sud.pool = &pool;
		po.datapool = pool.existed ? pool.t.names : NULL;
		po.ndatapool = pool.existed ? pool.t.n : 0;
		po.datapool_dim = pool.existed && pool.t.n > 0 ? pool.t.d : 0;
		po.datapool_label = pool.latest;
	}
	struct pipeline_result *res = xcalloc(1, sizeof(*res));
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = pipeline_run(&po, res);
	bool config_error = res->config_error;
	/* A failure was already reported through the run's log (ev_log). */
	if (rc == 0 && sud.pool != NULL && pool.got && pool.nnew > 0) {
		if (pool_write(&pool, cfg.datapool_keep_history) < 0) {
			log_msg(LOG_LVL_ERR, "the run completed (outputs in %s) but datapool \"%s\" "
				"was not updated", output, cfg.datapool_name);
			rc = -EIO;
		}
	}
	if (rc == 0) {
		print_summary(res, output);
		if (sud.pool != NULL) {
			size_t nold = pool.existed ? pool.t.n : 0;
			printf("  datapool \"%s\": %zu members, %zu preselected, %zu not candidates; "
			       "%zu added -> %s (%zu members)%s%s\n", cfg.datapool_name, nold,
			       res->counts.preselected, res->counts.datapool_ignored, pool.nnew,
			       pool.latest, nold + pool.nnew, pool.history ? "; previous kept as " : "",
			       pool.history ? pool.history : "");
		}
	}
	pool_close(&pool);
	free(res);
	config_free(&cfg);
	return rc == 0 ? 0 : rc == -ECANCELED ? 130 : config_error ? 2 : 1;
}
