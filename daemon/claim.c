/*
 * claim: a scheduled run the poll found becomes this worker's job, "queued"
 * with everything its attempts need: LOCKED, the run created, the config
 * (parsed here, once, and handed to the first attempt), the datasource, and
 * when the config asks for them the datapool and the query tags.
 *
 * DESIGN. The claim protocol (SPEC 6), one step at a time, each step's
 * effect committed before the next: an intent row (job "claimed"); PUT
 * LOCKED (a repeat by the same worker answers 200); POST the run (the same
 * scheduledId gives the same run; its id is stored); GET the config and the
 * datasource, and with a datapool.name the datapool (stored with them, SPEC
 * 4.7); job "queued". A kill -9 between any two steps leaves a "claimed"
 * row that the next start resumes at the first step whose result is not
 * stored; at start the daemon also asks for the runs it holds LOCKED and
 * adds an intent row for any it does not know.
 */
#include "winnowd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "bitmask.h"
#include "log.h"
#include "util.h"
#include "version.h"

/* ---- claims ------------------------------------------------------------- */

enum claim_step {
	CLAIM_LOCK, CLAIM_RUN, CLAIM_CONFIG, CLAIM_DATASOURCE, CLAIM_DATAPOOL, CLAIM_TAGS,
	CLAIM_MAPPINGS,
};

static const char *const claim_step_names[] = {
	"LOCKED", "create run", "config", "datasource", "datapool", "tags", "sample order",
};

struct claim {
	struct wd *d;
	struct job j;
	enum claim_step step;
	char *config;		/* the config reply's "config" object, JSON */
	struct run_config *cfg;	/* config, parsed: here, once, and handed on to the first attempt */
	char *datasource;	/* the datasource reply */
	char *pool_names;	/* the datapool's member names, a JSON array; NULL without one */
	int pool_members;
	struct strvec qtags;	/* the plan's query tag names (SPEC 4.8), each once */
	struct strvec qmasks;	/* their bitMaskData, from the tags reply */
	char *query_tags;	/* {tag name: [file names]}, JSON; NULL when the plan names none */
};

static void claim_free(struct claim *c)
{
	job_clear(&c->j);
	free(c->config);
	if (c->cfg != NULL) {
		config_free(c->cfg);
		free(c->cfg);
	}
	free(c->datasource);
	free(c->pool_names);
	strvec_free(&c->qtags);
	strvec_free(&c->qmasks);
	free(c->query_tags);
	free(c);
}

/* Removes and returns the parsed config kept for sched, or NULL. */
struct parsed_config *parsed_take(struct wd *d, const char *sched)
{
	for (struct parsed_config **p = &d->parsed; *p; p = &(*p)->next) {
		if (strcmp((*p)->sched_id, sched) == 0) {
			struct parsed_config *pc = *p;
			*p = pc->next;
			return pc;
		}
	}
	return NULL;
}

void parsed_free(struct parsed_config *pc)
{
	if (pc == NULL)
		return;
	config_free(&pc->cfg);
	free(pc);
}

/* The JSON path of the first plan entry that names query tag name. */
static char *qtag_path(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->nentries; i++)
		if (p->entries[i].tag_name && strcmp(p->entries[i].tag_name, name) == 0)
			return xasprintf("selection.strategies[%zu].input.tagName", i);
	return xstrdup("selection");
}

/*
 * The datapool's names from winnow's {fileNames} (the answer adds name and
 * added: tolerated), kept as a JSON array text for the job row.
 */
static int claim_datapool(struct claim *c, const struct http_reply *rep)
{
	struct api_datapool dp;
	char err[256];

	if (api_parse_datapool(rep->body, rep->len, API_PARSE_EXTRA_OK, &dp, err,
			       sizeof(err)) < 0) {
		log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: datapool \"%s\": the reply "
			"is no datapool: %s", c->j.sched_id, c->cfg->datapool_name, err);
		api_datapool_free(&dp);
		return -EPROTO;
	}
	c->pool_names = api_build_strs(&dp.file_names);
	c->pool_members = (int)dp.file_names.n;
	api_datapool_free(&dp);
	return 0;
}

static void claim_next(struct claim *c);

static void claim_end(struct claim *c, bool failed)
{
	struct wd *d = c->d;

	if (failed) {
		double wait = wd_backoff(d->claim_failures++);
		/* Kept in memory as well when the queue cannot take it (a full disk). */
		if (queue_job_set_lease(d->q, c->j.sched_id, queue_now_ms() + (int64_t)(wait * 1000)) < 0)
			d->claim_hold_until = queue_now_ms() + (int64_t)(wait * 1000);
	} else {
		d->claim_failures = 0;
	}
	d->claim_busy = false;
	claim_free(c);
	if (d->draining) {
		shutdown_maybe(d);
		return;
	}
	try_dispatch(d);
	claim_kick(d);
	worker_state_update(d, false);
}

/*
 * The run cannot start: its config is invalid or does not fit the dataset
 * (a query tag that is absent). A config error fails the run at once (SPEC
 * 2), with the messages in its log.
 */
static void claim_config_error(struct claim *c, const char *prefix, const struct strvec *errs)
{
	struct buf m = { 0 };

	buf_puts(&m, prefix);
	for (size_t i = 0; i < errs->n; i++)
		buf_printf(&m, "%s%s", i ? "; " : "", errs->v[i]);
	end_job(c->d, c->j.sched_id, "FAILED", m.data, errs);
	buf_free(&m);
	claim_end(c, false);
}

/*
 * Parses the config, once for the job (the parse goes on to its first
 * attempt), and takes what the claim's next steps need from it. Returns
 * false when the run ended on a config error.
 */
static bool claim_parse(struct claim *c)
{
	struct strvec errs = { 0 };

	c->cfg = xcalloc(1, sizeof(*c->cfg));
	if (config_parse(c->config, strlen(c->config), c->cfg, &errs) < 0) {
		free(c->cfg);	/* config_parse freed what it held */
		c->cfg = NULL;
		claim_config_error(c, "invalid config: ", &errs);
		strvec_free(&errs);
		return false;
	}
	const struct plan *p = config_plan(c->cfg);
	for (size_t i = 0; i < p->nentries; i++) {
		const struct plan_entry *e = &p->entries[i];
		if (e->input != PLAN_INPUT_EMBEDDINGS || e->tag_name == NULL)
			continue;
		if (e->dataset_id != NULL && strcmp(e->dataset_id, c->j.dataset_id) != 0) {
			char *m = xasprintf("selection.strategies[%zu].input.datasetId: \"%s\" is not "
					    "the run's dataset %s (a query tag must be of the run's "
					    "own dataset)", i, e->dataset_id, c->j.dataset_id);
			strvec_push(&errs, m);
			free(m);
			continue;
		}
		bool seen = false;
		for (size_t k = 0; k < c->qtags.n && !seen; k++)
			seen = strcmp(c->qtags.v[k], e->tag_name) == 0;
		if (!seen)
			strvec_push(&c->qtags, e->tag_name);
	}
	if (errs.n > 0) {
		claim_config_error(c, "invalid config: ", &errs);
		strvec_free(&errs);
		return false;
	}
	return true;
}

/*
 * The tags reply (List[TagData]): the bitMaskData of every query tag.
 * Returns 1 when all were found, 0 when the run ended (a tag is absent),
 * -1 when the reply is not a list of tags (retried).
 */
static int claim_tags(struct claim *c, cJSON *o)
{
	struct strvec errs = { 0 };
	cJSON *t;

	if (!cJSON_IsArray(o))
		return -1;
	for (size_t i = 0; i < c->qtags.n; i++) {
		const char *mask = NULL;
		cJSON_ArrayForEach(t, o) {
			const char *name = json_text(t, "name");
			if (name != NULL && strcmp(name, c->qtags.v[i]) == 0) {
				mask = json_text(t, "bitMaskData");
				break;
			}
		}
		if (mask != NULL) {
			strvec_push(&c->qmasks, mask);
			continue;
		}
		char *path = qtag_path(config_plan(c->cfg), c->qtags.v[i]);
		char *m = xasprintf("%s: the dataset has no tag named \"%s\"", path, c->qtags.v[i]);
		strvec_push(&errs, m);
		free(m);
		free(path);
	}
	if (errs.n > 0) {
		claim_config_error(c, "", &errs);
		strvec_free(&errs);
		return 0;
	}
	return 1;
}

/*
 * The sample order reply: each query tag's bits read against it (bit k =
 * the k-th name, SPEC 7) into c->query_tags. Returns 1, 0 when the run
 * ended (a mask the sample order cannot hold), -1 when the reply is not a
 * list of names (retried).
 */
static int claim_mappings(struct claim *c, cJSON *o)
{
	struct strvec errs = { 0 };
	size_t n = (size_t)cJSON_GetArraySize(o), k = 0;
	const char **names;
	cJSON *e, *out;

	if (!cJSON_IsArray(o))
		return -1;
	names = xcalloc(n + 1, sizeof(*names));
	cJSON_ArrayForEach(e, o) {
		if (!cJSON_IsString(e)) {
			free(names);
			return -1;
		}
		names[k++] = e->valuestring;
	}
	out = cJSON_CreateObject();
	for (size_t i = 0; i < c->qtags.n; i++) {
		struct bitmask bm = { 0 };
		int rc = bitmask_parse(c->qmasks.v[i], n, &bm);
		if (rc < 0) {
			char *path = qtag_path(config_plan(c->cfg), c->qtags.v[i]);
			char *m = rc == -ERANGE ?
				xasprintf("%s: tag \"%s\" (%s) names samples beyond the dataset's %zu",
					  path, c->qtags.v[i], c->qmasks.v[i], n) :
				xasprintf("%s: tag \"%s\": bitMaskData \"%.64s\" is not a bitmask",
					  path, c->qtags.v[i], c->qmasks.v[i]);
			strvec_push(&errs, m);
			free(m);
			free(path);
			continue;
		}
		cJSON *a = cJSON_CreateArray();
		for (size_t b = 0; b < n; b++)
			if (bitmask_get(&bm, b))
				cJSON_AddItemToArray(a, cJSON_CreateString(names[b]));
		cJSON_AddItemToObject(out, c->qtags.v[i], a);
		bitmask_free(&bm);
	}
	free(names);
	if (errs.n > 0) {
		cJSON_Delete(out);
		claim_config_error(c, "", &errs);
		strvec_free(&errs);
		return 0;
	}
	c->query_tags = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (c->query_tags == NULL)
		fatalx("out of memory");
	return 1;
}

/*
 * The last step: what the claim fetched and what it took from the config,
 * stored in one transaction; the job is "queued", and its parsed config
 * waits in memory for its first attempt.
 */
static void claim_finish(struct claim *c)
{
	struct wd *d = c->d;
	const char *creator = plan_tag_creator(config_plan(c->cfg));

	if (queue_begin(d->q) < 0 ||
	    queue_job_set_sources(d->q, c->j.sched_id, c->config, c->datasource, c->pool_names) < 0 ||
	    queue_job_set_plan(d->q, c->j.sched_id, c->cfg->datapool_name, creator,
			       c->query_tags) < 0 ||
	    queue_commit(d->q) < 0) {
		queue_rollback(d->q);
		claim_end(c, true);
		return;
	}
	struct buf m = { 0 };
	if (c->pool_names != NULL)
		buf_printf(&m, "; datapool \"%s\": %d members", c->cfg->datapool_name, c->pool_members);
	for (size_t i = 0; i < c->qtags.n; i++)
		buf_printf(&m, "; query tag \"%s\"", c->qtags.v[i]);
	log_info("run %s: claimed scheduled run %s (selection tag by %s%s)", c->j.run_id,
		 c->j.sched_id, creator, m.data ? m.data : "");
	buf_free(&m);
	parsed_free(parsed_take(d, c->j.sched_id));
	struct parsed_config *pc = xcalloc(1, sizeof(*pc));
	snprintf(pc->sched_id, sizeof(pc->sched_id), "%s", c->j.sched_id);
	pc->cfg = *c->cfg;
	free(c->cfg);
	c->cfg = NULL;
	pc->next = d->parsed;
	d->parsed = pc;
	claim_end(c, false);
}

/* After step `done`: the next step the config asks for, or the end of the claim. */
static void claim_advance(struct claim *c, enum claim_step done)
{
	if (done < CLAIM_DATAPOOL && c->cfg->datapool_name != NULL) {
		c->step = CLAIM_DATAPOOL;
	} else if (done < CLAIM_TAGS && c->qtags.n > 0) {
		c->step = CLAIM_TAGS;
	} else if (done == CLAIM_TAGS) {
		c->step = CLAIM_MAPPINGS;
	} else {
		claim_finish(c);
		return;
	}
	claim_next(c);
}

static void on_claim_reply(void *ud, const struct http_reply *rep)
{
	struct claim *c = ud;
	struct wd *d = c->d;
	cJSON *o = NULL;
	int rc;

	if (d->stopping) {
		claim_free(c);
		return;
	}
	if (rep->status > 0)
		wd_contact(d);
	if (rep->status == 409 || (rep->status == 404 && c->step <= CLAIM_RUN)) {
		/* Another worker has it, or it was cancelled or deleted: forget the intent. */
		log_msg(LOG_LVL_NOTICE, "claim of scheduled run %s: not ours (HTTP %ld): %.200s",
			c->j.sched_id, rep->status, rep->body);
		(void)queue_job_delete(d->q, c->j.sched_id);
		claim_end(c, false);
		return;
	}
	if (rep->status < 200 || rep->status >= 300) {
		log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: %s: %s%.200s", c->j.sched_id,
			claim_step_names[c->step], rep->status ? "refused: " : rep->curl_error,
			rep->status ? rep->body : "");
		claim_end(c, true);
		return;
	}
	o = cJSON_ParseWithLength(rep->body, rep->len);
	switch (c->step) {
	case CLAIM_LOCK:
		c->step = CLAIM_RUN;
		break;
	case CLAIM_RUN: {
		struct api_entity e;
		char err[256];
		if (api_parse_entity(rep->body, rep->len, API_PARSE_EXTRA_OK, &e, err,
				     sizeof(err)) < 0) {
			log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: create run: the answer "
				"is no CreateEntityResponse: %s", c->j.sched_id, err);
			api_entity_free(&e);
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		if (queue_job_set_run(d->q, c->j.sched_id, e.id) < 0) {
			api_entity_free(&e);
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		snprintf(c->j.run_id, sizeof(c->j.run_id), "%s", e.id);
		api_entity_free(&e);
		c->step = CLAIM_CONFIG;
		break;
	}
	case CLAIM_CONFIG: {
		cJSON *cfg = cJSON_GetObjectItemCaseSensitive(o, "config");
		if (!cJSON_IsObject(cfg)) {
			cJSON_Delete(o);
			claim_end(c, true);
			return;
		}
		c->config = cJSON_PrintUnformatted(cfg);
		cJSON_Delete(o);
		if (claim_parse(c)) {
			c->step = CLAIM_DATASOURCE;
			claim_next(c);
		}
		return;
	}
	case CLAIM_DATASOURCE:
		c->datasource = xstrdup(rep->body ? rep->body : "");
		cJSON_Delete(o);
		claim_advance(c, CLAIM_DATASOURCE);
		return;
	case CLAIM_DATAPOOL:
		/*
		 * The datapool is fetched once, here, and stored with the job: every
		 * attempt of the run (after a death, a drain, a failure) preselects
		 * the same members, and this run's own picks, PUT when it reports,
		 * never count as members of itself.
		 */
		cJSON_Delete(o);
		if (claim_datapool(c, rep) < 0) {
			claim_end(c, true);
			return;
		}
		claim_advance(c, CLAIM_DATAPOOL);
		return;
	case CLAIM_TAGS:
	case CLAIM_MAPPINGS:
		/*
		 * The query tags (SPEC 4.8) are fetched once, here, like the
		 * datapool: the worker thread reads them from the job and never
		 * calls the web app, and every attempt queries the same names.
		 */
		rc = c->step == CLAIM_TAGS ? claim_tags(c, o) : claim_mappings(c, o);
		if (rc < 0)
			log_msg(LOG_LVL_WARNING, "claim of scheduled run %s: %s: the reply is not "
				"a list of %s", c->j.sched_id, claim_step_names[c->step],
				c->step == CLAIM_TAGS ? "tags" : "file names");
		cJSON_Delete(o);
		if (rc < 0)
			claim_end(c, true);
		else if (rc > 0)
			claim_advance(c, c->step);
		return;
	}
	cJSON_Delete(o);
	claim_next(c);
}

static void claim_next(struct claim *c)
{
	struct wd *d = c->d;
	char *path = NULL, *body = NULL;
	enum api_call call = API_CONFIG_V0;

	switch (c->step) {
	case CLAIM_LOCK: {
		struct api_sched_update u = { .state = API_SCHED_LOCKED, .priority = -1 };
		call = API_SCHED_UPDATE;
		path = api_path(call, c->j.dataset_id, d->worker_id, c->j.sched_id);
		body = api_build_sched_update(&u);
		break;
	}
	case CLAIM_RUN: {
		struct api_run_create r = { .docker_version = WINNOW_VERSION,
					    .dataset_id = c->j.dataset_id,
					    .scheduled_id = c->j.sched_id,
					    .config_id = c->j.config_id, .creator = -1 };
		call = API_RUN_CREATE;
		path = api_path(call);
		body = api_build_run_create(&r);
		break;
	}
	case CLAIM_CONFIG:
		/* The 2.2-era route answers V4 configs too (SPEC 7 also has .../vX/). */
		call = API_CONFIG_V0;
		path = api_path(call, c->j.config_id);
		break;
	case CLAIM_DATASOURCE:
		/* winnow's route: the INPUT datasource with its S3 endpoint and secret (SPEC 7). */
		call = API_DATASOURCE_WINNOW;
		path = api_path(call, c->j.dataset_id);
		break;
	case CLAIM_DATAPOOL:
		/* The name is [A-Za-z0-9._-] (config.c); api_path escapes anything else. */
		call = API_DATAPOOL_GET;
		path = api_path(call, c->j.dataset_id, c->cfg->datapool_name);
		break;
	case CLAIM_TAGS:
		call = API_TAGS_LIST;
		path = api_path(call, c->j.dataset_id);
		break;
	case CLAIM_MAPPINGS:
		call = API_MAPPINGS;
		path = api_path(call, c->j.dataset_id);
		break;
	}
	const char *method = api_method(call);
	char *url = wd_url(d, path);
	/*
	 * SPEC 7's Idempotency-Key: the job and the claim step ("<job>:lock",
	 * "<job>:run", "<job>:config", ...), the same for every retry of the step.
	 */
	static const char *const step_keys[] = {
		"lock", "run", "config", "datasource", "datapool", "tags", "mappings",
	};
	char key[64];
	snprintf(key, sizeof(key), "%s:%s", c->j.sched_id, step_keys[c->step]);
	if (url == NULL || http_request_key(d->http, method, url, d->conf.token, key, body,
					    body ? strlen(body) : 0, 30, on_claim_reply, c) < 0) {
		free(url);
		free(body);
		claim_end(c, true);
		return;
	}
	free(url);
	free(body);
}

/* Advances the oldest due "claimed" job by its next step; one claim at a time. */
void claim_kick(struct wd *d)
{
	struct strvec ids = { 0 };
	int64_t now = queue_now_ms();

	if (d->claim_busy || d->draining || !d->registered || now < d->claim_hold_until)
		return;
	if (queue_job_ids(d->q, JOB_CLAIMED, &ids) < 0)
		return;
	for (size_t i = 0; i < ids.n; i++) {
		struct claim *c = xcalloc(1, sizeof(*c));
		c->d = d;
		if (queue_job_get(d->q, ids.v[i], &c->j) < 0 || c->j.lease > now) {
			job_clear(&c->j);
			free(c);
			continue;
		}
		/* With a run id stored, LOCKED and the run were both done before. */
		c->step = c->j.run_id[0] ? CLAIM_CONFIG : CLAIM_LOCK;
		d->claim_busy = true;
		claim_next(c);
		break;
	}
	strvec_free(&ids);
}
