/*
 * select_cmd: `winnowd select --config FILE --input DIR --output DIR`, local
 * mode. Parses arguments, loads and validates the config, runs the stage
 * runner with a progress display on stderr, and prints a summary.
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

#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "util.h"

static volatile int cancel_flag;

static void on_signal(int sig)
{
	if (cancel_flag)
		_exit(128 + sig);	/* a second signal exits at once */
	cancel_flag = 1;
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
	struct display *d = ud;

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

static void usage(FILE *f)
{
	fputs("usage: winnowd select --config FILE --input DIR --output DIR [--threads N]\n"
	      "                      [--force] [--verbose]\n"
	      "  --config FILE   run config (JSON: {\"docker\": {...}, \"lightly\": {...}} or the docker object)\n"
	      "  --input DIR     the datasource folder (images, .lightly/)\n"
	      "  --output DIR    the run folder; must be empty or absent unless --force\n"
	      "  --threads N     threads for the image pass (default: all cores)\n"
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
		"data/selection.csv", "data/scores.csv", "data/embeddings.csv",
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
		{ "force", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfgpath = NULL, *input = NULL, *output = NULL;
	int threads = 0, ch, rc;
	bool force = false, verbose = false;
	struct run_config cfg;
	struct strvec errors = { 0 };
	struct stat st;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:i:o:t:fvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 'i': input = optarg; break;
		case 'o': output = optarg; break;
		case 'f': force = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
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
	if (stat(input, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_msg(LOG_LVL_ERR, "input folder %s: %s", input,
			errno == 0 || S_ISDIR(st.st_mode) ? "not a folder" : strerror(errno));
		config_free(&cfg);
		return 1;
	}

	struct display disp = { .tty = isatty(STDERR_FILENO), .verbose = verbose };
	struct pipeline_events ev = {
		.stage_begin = ev_stage_begin, .progress = ev_progress,
		.stage_end = ev_stage_end, .log = ev_log,
	};
	struct pipeline_opts po = {
		.cfg = &cfg, .input = input, .run_dir = output, .threads = threads,
		.ev = &ev, .ud = &disp, .cancel = &cancel_flag,
	};
	struct pipeline_result *res = xcalloc(1, sizeof(*res));
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = pipeline_run(&po, res);
	bool config_error = res->config_error;
	/* A failure was already reported through the run's log (ev_log). */
	if (rc == 0)
		print_summary(res, output);
	free(res);
	config_free(&cfg);
	return rc == 0 ? 0 : rc == -ECANCELED ? 130 : config_error ? 2 : 1;
}
