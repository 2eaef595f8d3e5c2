/*
 * dconf: winnowd's own config file (/etc/winnow/winnowd.json): where the web
 * app is, who this worker is, where its state lives, how much it runs.
 */
#ifndef WINNOWD_DCONF_H
#define WINNOWD_DCONF_H

#include <stdbool.h>

#include "log.h"
#include "util.h"

#define DCONF_DEFAULT_PATH "/etc/winnow/winnowd.json"

struct dconf {
	char *url;		/* the web app, "http://host:port" without a trailing slash */
	bool allow_http;	/* plain http:// to a host that is not loopback (default false) */
	char *name;		/* worker name (default: the host name) */
	struct strvec labels;
	struct strvec dataset_roots;	/* where relative LOCAL fullPaths resolve (SPEC 3); absolute
					   ones must lie beneath one when any is set */
	char *token;		/* never logged */
	char *token_source;	/* "token", "token_file PATH", "$WINNOW_TOKEN", "credential" */
	char *state_dir;	/* default /var/lib/winnow */
	double poll_interval;	/* seconds, default 5 */
	double poll_wait;	/* seconds the web app may hold a poll open (long poll), 0: off; default 25 */
	int concurrent_runs;	/* default 1 */
	int threads_per_run;	/* default 0: all cores */
	int keep_runs;		/* run folders kept, default 20 */
	enum log_level log_level;	/* default info */
	char *ca_file;		/* PEM CA bundle that signs the web app's certificate, or NULL: the system's */
	/*
	 * "s3": {"endpoint", "region", "access_key_id", "secret_access_key",
	 * "path_style"}: for S3 datasources whose settings in the web app leave
	 * them out (all optional; the secret is never logged).
	 */
	char *s3_endpoint, *s3_region, *s3_access_key_id, *s3_secret_access_key;
	int s3_path_style;	/* -1 (default): path style with a custom endpoint */
};

/*
 * Reads and validates the file at path. Returns 0 and fills c (free with
 * dconf_free), or a negative errno with a message naming the file and the key
 * in err. The token comes from "token", else "token_file", else
 * $WINNOW_TOKEN, else $CREDENTIALS_DIRECTORY/winnow-token.
 */
int dconf_load(const char *path, struct dconf *c, char *err, size_t errlen);
void dconf_free(struct dconf *c);

#endif
