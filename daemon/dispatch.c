/*
 * dispatch: worker threads for the stage runner.
 *
 * DESIGN. Redis's bio.c shape: a fixed set of threads, a job list guarded by
 * a mutex and a condition variable, results back to the loop. The loop only
 * submits when it knows a thread is free, so the list never holds more than
 * the pool can take. A thread runs pipeline_run with callbacks that append
 * events to one mutex-protected FIFO and wake the loop with uv_async_send
 * (which coalesces wake-ups; the loop drains the whole FIFO each time).
 * Progress is coalesced per run: while an unread progress event of that run
 * is in the FIFO it is updated in place, so a fast image pass cannot flood
 * the loop. Long stages never touch libuv's shared thread pool.
 */
#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "util.h"

struct dispatch {
	uv_loop_t *loop;
	uv_async_t async;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct exec *todo[64];	/* submitted, not yet taken; at most nthreads */
	int ntodo;
	bool stop;
	int nthreads, busy;
	pthread_t *threads;
	struct exec_event *head, *tail;	/* events for the loop */
	dispatch_event_cb cb;
	void *ud;
};

struct ctx {
	struct dispatch *d;
	struct exec *ex;
};

void exec_free(struct exec *ex)
{
	if (ex == NULL)
		return;
	config_free(&ex->cfg);
	free(ex->input);
	if (ex->input_fd >= 0)
		close(ex->input_fd);
	if (ex->lightly_fd >= 0)
		close(ex->lightly_fd);
	free(ex->run_dir);
	strvec_free(&ex->datapool);
	for (size_t i = 0; i < ex->nqtags; i++) {
		free(ex->qtags[i].name);
		strvec_free(&ex->qtags[i].names);
	}
	free(ex->qtags);
	free(ex->s3_endpoint);
	free(ex->s3_region);
	free(ex->s3_key_id);
	free_secret(ex->s3_secret);
	free(ex->lightly);
	free(ex->lt_s3_endpoint);
	free(ex->lt_s3_region);
	free(ex->lt_s3_key_id);
	free_secret(ex->lt_s3_secret);
	free(ex->res);
	free(ex);
}

static void push_event(struct dispatch *d, struct exec_event *e)
{
	e->next = NULL;
	if (d->tail)
		d->tail->next = e;
	else
		d->head = e;
	d->tail = e;
}

static void post(struct dispatch *d, struct exec *ex, enum exec_event_type type, enum stage s,
		 size_t done, size_t total, enum log_level lvl, const char *msg)
{
	struct exec_event *e = xcalloc(1, sizeof(*e));

	e->type = type;
	e->ex = ex;
	e->stage = s;
	e->done = done;
	e->total = total;
	e->level = lvl;
	e->msg = msg ? xstrdup(msg) : NULL;
	pthread_mutex_lock(&d->lock);
	push_event(d, e);
	pthread_mutex_unlock(&d->lock);
	uv_async_send(&d->async);
}

static bool ctx_cancelled(void *arg)
{
	struct ctx *c = arg;

	return cancel_requested(&c->ex->cancel);
}

static void ev_stage_begin(void *ud, enum stage s, size_t total)
{
	struct ctx *c = ud;
	struct dispatch *d = c->d;

	post(d, c->ex, EXEC_STAGE_BEGIN, s, 0, total, LOG_LVL_INFO, NULL);
	/* The test driver's hold of a stage (hooks.h); a drain or an abort ends it. */
	if (wd_hooks.stage_begin != NULL)
		wd_hooks.stage_begin((int)s, ctx_cancelled, c);
}

static void ev_stage_end(void *ud, enum stage s, double secs, const char *summary)
{
	struct ctx *c = ud;

	(void)secs;
	post(c->d, c->ex, EXEC_STAGE_END, s, 0, 0, LOG_LVL_INFO, summary);
}

static void ev_log(void *ud, enum log_level lvl, const char *msg)
{
	struct ctx *c = ud;

	post(c->d, c->ex, EXEC_LOG, 0, 0, 0, lvl, msg);
}

static void ev_progress(void *ud, enum stage s, size_t done, size_t total)
{
	struct ctx *c = ud;
	struct dispatch *d = c->d;
	bool fresh = false;

	if (wd_hooks.progress != NULL)
		wd_hooks.progress((int)s);
	pthread_mutex_lock(&d->lock);
	struct exec_event *e = c->ex->pending_progress;
	if (e == NULL || e->stage != s) {
		e = xcalloc(1, sizeof(*e));
		e->type = EXEC_PROGRESS;
		e->ex = c->ex;
		push_event(d, e);
		c->ex->pending_progress = e;
		fresh = true;
	}
	e->stage = s;
	e->done = done;
	e->total = total;
	pthread_mutex_unlock(&d->lock);
	if (fresh)
		uv_async_send(&d->async);
}

/*
 * The pipeline's query tags (SPEC 4.8), from what the claim fetched. A name
 * the claim did not fetch cannot be asked for (the claim fetches every tag
 * the plan names), but is a config error rather than a crash.
 */
static int ev_query_tag(void *ud, const char *name, struct strvec *names, char *err,
			size_t errlen)
{
	struct ctx *c = ud;

	for (size_t i = 0; i < c->ex->nqtags; i++) {
		const struct exec_query_tag *t = &c->ex->qtags[i];
		if (strcmp(t->name, name) != 0)
			continue;
		for (size_t k = 0; k < t->names.n; k++)
			strvec_push(names, t->names.v[k]);
		return 0;
	}
	snprintf(err, errlen, "the dataset has no tag named \"%s\"", name);
	return -ENOENT;
}

static void *thread_main(void *arg)
{
	struct dispatch *d = arg;
	static const struct pipeline_events ev = {
		.stage_begin = ev_stage_begin, .progress = ev_progress,
		.stage_end = ev_stage_end, .log = ev_log,
	};

	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (d->ntodo == 0 && !d->stop)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->ntodo == 0 && d->stop) {
			pthread_mutex_unlock(&d->lock);
			return NULL;
		}
		struct exec *ex = d->todo[0];
		memmove(d->todo, d->todo + 1, (size_t)(d->ntodo - 1) * sizeof(d->todo[0]));
		d->ntodo--;
		pthread_mutex_unlock(&d->lock);

		struct ctx c = { d, ex };
		struct s3_conf s3 = {
			.endpoint = ex->s3_endpoint, .region = ex->s3_region,
			.access_key_id = ex->s3_key_id, .secret_access_key = ex->s3_secret,
			.path_style = ex->s3_path_style,
		};
		struct s3_conf lt_s3 = {
			.endpoint = ex->lt_s3_endpoint, .region = ex->lt_s3_region,
			.access_key_id = ex->lt_s3_key_id, .secret_access_key = ex->lt_s3_secret,
			.path_style = ex->s3_path_style,
		};
		struct pipeline_opts po = {
			.s3 = &s3,
			.lightly = ex->lightly, .lightly_s3 = &lt_s3,
			.cfg = &ex->cfg, .input = ex->input, .run_dir = ex->run_dir,
			.input_fd = ex->input_fd >= 0 ? &ex->input_fd : NULL,
			.lightly_fd = ex->lightly_fd >= 0 ? &ex->lightly_fd : NULL,
			.threads = ex->threads, .ev = &ev, .ud = &c, .cancel = &ex->cancel,
			.resume = ex->resume,
			.datapool = ex->datapool.v, .ndatapool = ex->datapool.n,
			.datapool_label = "the web app's datapool",
			.query_tag = ev_query_tag,
			.dataset_id = ex->dataset_id,
		};
		ex->res = xcalloc(1, sizeof(*ex->res));
		ex->rc = pipeline_run(&po, ex->res);
		post(d, ex, EXEC_FINISHED, 0, 0, 0, LOG_LVL_INFO, NULL);
	}
}

static void on_async(uv_async_t *a)
{
	struct dispatch *d = a->data;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		struct exec_event *e = d->head;
		if (e != NULL) {
			d->head = e->next;
			if (d->head == NULL)
				d->tail = NULL;
			if (e->ex->pending_progress == e)
				e->ex->pending_progress = NULL;
		}
		pthread_mutex_unlock(&d->lock);
		if (e == NULL)
			return;
		if (e->type == EXEC_FINISHED)
			d->busy--;
		/* The callback may free e->ex on EXEC_FINISHED, its last event. */
		d->cb(d->ud, e);
		free(e->msg);
		free(e);
	}
}

struct dispatch *dispatch_new(uv_loop_t *loop, int nthreads, dispatch_event_cb cb, void *ud)
{
	struct dispatch *d = xcalloc(1, sizeof(*d));

	if (nthreads < 1 || nthreads > (int)ARRAY_LEN(d->todo)) {
		free(d);
		return NULL;
	}
	d->loop = loop;
	d->cb = cb;
	d->ud = ud;
	d->nthreads = nthreads;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (uv_async_init(loop, &d->async, on_async) < 0) {
		free(d);
		return NULL;
	}
	d->async.data = d;
	d->threads = xcalloc((size_t)nthreads, sizeof(*d->threads));
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&d->threads[i], NULL, thread_main, d) != 0)
			fatalx("dispatch: cannot start a worker thread");
	return d;
}

int dispatch_submit(struct dispatch *d, struct exec *ex)
{
	if (d->busy >= d->nthreads)
		return -EBUSY;
	d->busy++;
	pthread_mutex_lock(&d->lock);
	d->todo[d->ntodo++] = ex;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int dispatch_free_threads(const struct dispatch *d)
{
	return d->nthreads - d->busy;
}

static void on_async_closed(uv_handle_t *h)
{
	struct dispatch *d = h->data;

	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}

void dispatch_free(struct dispatch *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	free(d->threads);
	/* Events nobody will read: their runs were drained already. */
	while (d->head) {
		struct exec_event *e = d->head;
		d->head = e->next;
		free(e->msg);
		free(e);
	}
	uv_close((uv_handle_t *)&d->async, on_async_closed);
}
