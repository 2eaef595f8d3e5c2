/*
 * checkpoint: the run's checkpoints (SPEC 6), their codec and their keys:
 * saved after the long stages, loaded by a resumed run when its config,
 * listing and inputs are unchanged.
 */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "version.h"

#define WINNOW_VERSION_STR WINNOW_VERSION

/*
 * A checkpoint holds the state of the run after its stage (item table,
 * descriptors or candidate rows, scores, stage timings). The built-in
 * descriptors (nitems x 204 doubles, 16 MB at 10,000 images) are written
 * once, in images.bin; the later checkpoints refer to that file by its
 * checksum for them and for the candidate rows, which are descriptor rows,
 * instead of writing them again (four copies cost more than the stages they
 * follow). A later checkpoint whose images.bin is gone or changed is invalid.
 * Native byte order (the file never leaves the machine). Layout:
 *   magic[8] u32 version u32 stage  cfg_hash[16] list_hash[16]
 *   u64 nitems, per item: u8 state, u32 reason length (~0: none), reason,
 *       u64 hash.low64, u64 hash.high64, u64 size, u32 width, u32 height,
 *       img_meta: u32 decode_w, u32 decode_h, f64 luminance, snr, sharpness,
 *       uniform_row_ratio (since version 3; older checkpoints are ignored)
 *   u8 desc: 0 none | 1 [nitems x DESC_DIM f64] | 2 [u64 checksum of images.bin]
 *   u8 has_emb   [u64 ncand, u64 d, u64 zero_rows, ncand u64 item indexes,
 *                 u8 rows: 1 [ncand x d f64 raw] | 2 [u64 checksum of images.bin]]
 *   u8 has_scores [u64 nscores, u64 no_predictions, ncand x nscores f64,
 *                 ncand u8 no-predictions flags] (version 4: no weights column; a 2.2
 *                 config's weights are a column of the scores; version 5: the flags)
 *   u32 STAGE_COUNT, per stage: u8 ran, f64 seconds, summary[192]
 *   u64 XXH3-64 of everything before it
 * The normalised rows (X) are recomputed from raw: embed_normalize is deterministic.
 * A plan with PREDICTIONS inputs saves no scores checkpoint: its class
 * vectors are not kept, so a retry resumes after the embeddings and reads
 * the predictions again.
 */
#define CKPT_MAGIC "WNWCKPT\n"
#define CKPT_VERSION 5u
#define CKPT_INLINE 1
#define CKPT_IN_IMAGES 2
#define CKPT_DIR ".checkpoint"

static const enum stage ckpt_stages[] = {
	STAGE_IMAGES, STAGE_DUPLICATES, STAGE_EMBEDDINGS, STAGE_SCORES,
};

static char *ckpt_path(const struct run *run, enum stage s)
{
	return xasprintf("%s/" CKPT_DIR "/%s.bin", run->o->run_dir, stage_name(s));
}

static void put_u8(struct buf *b, uint8_t v) { buf_append(b, &v, 1); }
static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, sizeof(v)); }
static void put_u64(struct buf *b, uint64_t v) { buf_append(b, &v, sizeof(v)); }
static void put_f64s(struct buf *b, const double *v, size_t n)
{
	if (n > 0)
		buf_append(b, v, n * sizeof(double));
}
static void put_hash(struct buf *b, XXH128_hash_t h)
{
	put_u64(b, h.low64);
	put_u64(b, h.high64);
}

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static void get(struct rd *r, void *out, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		if (out != NULL)
			memset(out, 0, n);
		return;
	}
	if (out != NULL)
		memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
}
static uint8_t get_u8(struct rd *r) { uint8_t v; get(r, &v, 1); return v; }
static uint32_t get_u32(struct rd *r) { uint32_t v; get(r, &v, sizeof(v)); return v; }
static uint64_t get_u64(struct rd *r) { uint64_t v; get(r, &v, sizeof(v)); return v; }
static XXH128_hash_t get_hash(struct rd *r)
{
	XXH128_hash_t h;

	h.low64 = get_u64(r);
	h.high64 = get_u64(r);
	return h;
}

/* A newly allocated copy of n doubles from r, or NULL (r->bad set) when short. */
static double *get_f64s(struct rd *r, uint64_t n)
{
	if (r->bad || n > r->left / sizeof(double)) {
		r->bad = true;
		return NULL;
	}
	double *v = xcalloc(n ? (size_t)n : 1, sizeof(double));
	get(r, v, (size_t)n * sizeof(double));
	return v;
}

static void hash_str(XXH3_state_t *st, const char *s)
{
	XXH3_128bits_update(st, s, strlen(s) + 1);
}

static void hash_stat(XXH3_state_t *st, int rc, const struct stat *sb)
{
	int64_t v[3] = { -1, -1, -1 };

	if (rc == 0) {
		v[0] = (int64_t)sb->st_size;
		v[1] = (int64_t)sb->st_mtim.tv_sec;
		v[2] = (int64_t)sb->st_mtim.tv_nsec;
	}
	XXH3_128bits_update(st, v, sizeof(v));
}

/*
 * The checkpoints' keys: the effective config (and the program's version),
 * and the listing: the root, each listed path with its size and mtime, the
 * listing's exclusions, every file under .lightly (predictions, embeddings)
 * and the embeddings CSV's bytes.
 */
void ckpt_hashes(struct run *run)
{
	XXH3_state_t *st = XXH3_createState();
	char *cfg = config_effective_json(run->cfg);
	struct strvec tree = { 0 };
	struct stat sb;
	uint32_t v = CKPT_VERSION;

	if (st == NULL)
		fatalx("out of memory");
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, &v, sizeof(v));
	hash_str(st, WINNOW_VERSION_STR);
	hash_str(st, cfg ? cfg : "");
	run->cfg_hash = XXH3_128bits_digest(st);
	free(cfg);

	XXH3_128bits_reset(st);
	hash_str(st, run->o->input);
	for (size_t i = 0; i < run->nitems; i++) {
		const char *p = run->items[i].path;
		/* A frame: its video's size and time. */
		const char *sp = run->items[i].video >= 0 ? run->videos[run->items[i].video].path : p;
		hash_str(st, p);
		hash_stat(st, run->emb_only ? -1 : dataset_stat(&run->ds, sp, &sb), &sb);
	}
	for (size_t i = 0; i < run->ds.nexcluded; i++) {
		hash_str(st, run->ds.excluded[i].path);
		hash_str(st, run->ds.excluded[i].reason);
	}
	dataset_tree(&run->ds, ".lightly", &tree);
	strvec_sort(&tree);
	for (size_t i = 0; i < tree.n; i++)
		hash_str(st, tree.v[i]);
	strvec_free(&tree);
	XXH3_128bits_update(st, &run->csv_hash, sizeof(run->csv_hash));
	run->list_hash = XXH3_128bits_digest(st);
	XXH3_freeState(st);
}

/* Saves the state after stage s. A failure is logged only: the run goes on. */
/* Whether the run's plan reads PREDICTIONS (their class vectors are not checkpointed). */
static bool plan_has_predictions(const struct run *run)
{
	for (size_t e = 0; run->plan && e < run->plan->nentries; e++)
		if (run->plan->entries[e].input == PLAN_INPUT_PREDICTIONS)
			return true;
	return false;
}

void ckpt_save(struct run *run, enum stage s)
{
	struct buf b = { 0 };
	char *dir, *path;
	int rc;

	if (!run->o->resume || (s == STAGE_SCORES && plan_has_predictions(run)))
		return;
	buf_append(&b, CKPT_MAGIC, 8);
	put_u32(&b, CKPT_VERSION);
	put_u32(&b, (uint32_t)s);
	put_hash(&b, run->cfg_hash);
	put_hash(&b, run->list_hash);
	put_u64(&b, run->nitems);
	for (size_t i = 0; i < run->nitems; i++) {
		const struct item *it = &run->items[i];
		put_u8(&b, (uint8_t)it->state);
		if (it->reason == NULL) {
			put_u32(&b, UINT32_MAX);
		} else {
			size_t n = strlen(it->reason);
			put_u32(&b, (uint32_t)n);
			buf_append(&b, it->reason, n);
		}
		put_hash(&b, it->hash);
		put_u64(&b, it->size);
		put_u32(&b, it->width);
		put_u32(&b, it->height);
		put_u32(&b, it->meta.decode_w);
		put_u32(&b, it->meta.decode_h);
		put_f64s(&b, &it->meta.luminance, 1);
		put_f64s(&b, &it->meta.snr, 1);
		put_f64s(&b, &it->meta.sharpness, 1);
		put_f64s(&b, &it->meta.uniform_row_ratio, 1);
	}
	/* Descriptor data lives in images.bin when that one was saved. */
	bool ref = s != STAGE_IMAGES && run->images_sum != 0 && !run->have_csv;
	if (run->desc == NULL) {
		put_u8(&b, 0);
	} else if (ref) {
		put_u8(&b, CKPT_IN_IMAGES);
		put_u64(&b, run->images_sum);
	} else {
		put_u8(&b, CKPT_INLINE);
		put_f64s(&b, run->desc, run->nitems * DESC_DIM);
	}
	bool emb = s >= STAGE_EMBEDDINGS;
	put_u8(&b, emb);
	if (emb) {
		put_u64(&b, run->ncand);
		put_u64(&b, run->d);
		put_u64(&b, run->r->counts.zero_rows);
		for (size_t c = 0; c < run->ncand; c++)
			put_u64(&b, run->cand[c]);
		if (ref) {
			put_u8(&b, CKPT_IN_IMAGES);
			put_u64(&b, run->images_sum);
		} else {
			put_u8(&b, CKPT_INLINE);
			put_f64s(&b, run->raw, run->ncand * run->d);
		}
	}
	bool sc = s >= STAGE_SCORES && run->scores != NULL;
	put_u8(&b, sc);
	if (sc) {
		put_u64(&b, run->nscores);
		put_u64(&b, run->r->counts.no_predictions);
		put_f64s(&b, run->scores, run->ncand * run->nscores);
		if (run->nopred != NULL)
			buf_append(&b, run->nopred, run->ncand);
		else
			for (size_t i = 0; i < run->ncand; i++)
				put_u8(&b, 0);
	}
	put_u32(&b, STAGE_COUNT);
	for (int k = 0; k < STAGE_COUNT; k++) {
		put_u8(&b, run->r->ran[k]);
		put_f64s(&b, &run->r->seconds[k], 1);
		buf_append(&b, run->r->summary[k], sizeof(run->r->summary[k]));
	}
	uint64_t sum = XXH3_64bits(b.data, b.len);
	put_u64(&b, sum);

	dir = xasprintf("%s/" CKPT_DIR, run->o->run_dir);
	path = ckpt_path(run, s);
	rc = mkdir_p(dir, 0755);
	/*
	 * No fsync: a checkpoint ends with its own checksum, so one torn by a
	 * power loss is found and ignored (the stage reruns). Syncing ~50 MB
	 * per run at 10,000 images cost more than the daemon's whole overhead.
	 */
	if (rc == 0)
		rc = write_file_replace(path, b.data, b.len);
	if (s == STAGE_IMAGES)
		run->images_sum = rc == 0 ? sum | 1 : 0;	/* | 1: never 0, which means none */
	if (rc < 0)
		run_log(run, LOG_LVL_WARNING, "checkpoint after stage %s not saved: %s: %s",
			stage_name(s), path, strerror(-rc));
	else
		run_log(run, LOG_LVL_DEBUG, "checkpoint after stage %s saved (%zu bytes)",
			stage_name(s), b.len);
	free(path);
	free(dir);
	buf_free(&b);
}

static int ckpt_parse(struct run *run, enum stage s, const uint8_t *data, size_t len,
		      char *why, size_t whylen, double **desc_out);

/*
 * The descriptors of images.bin, whose checksum a later checkpoint gives as
 * sum. Returns them (the caller frees), or NULL with why in why.
 */
static double *ckpt_images_desc(struct run *run, uint64_t sum, char *why, size_t whylen)
{
	char *path = ckpt_path(run, STAGE_IMAGES), *data = NULL, sub[192];
	double *desc = NULL;
	size_t len = 0;
	uint64_t have;
	int rc = read_file(path, (size_t)1 << 36, &data, &len);

	free(path);
	if (rc < 0) {
		snprintf(why, whylen, "its images checkpoint: %s", strerror(-rc));
		return NULL;
	}
	if (len < 8 || (memcpy(&have, data + len - 8, 8), (have | 1) != sum))
		snprintf(why, whylen, "its images checkpoint is not the one it was saved with");
	else if (ckpt_parse(run, STAGE_IMAGES, (const uint8_t *)data, len, sub, sizeof(sub), &desc) < 0)
		snprintf(why, whylen, "its images checkpoint: %s", sub);
	free(data);
	return desc;
}

/*
 * Parses a checkpoint of stage s into the run. Returns 0, or -1 with why in
 * why (the run is then untouched). With desc_out, the run is left alone in
 * any case and a valid checkpoint's descriptors go to *desc_out.
 */
static int ckpt_parse(struct run *run, enum stage s, const uint8_t *data, size_t len,
		      char *why, size_t whylen, double **desc_out)
{
	struct rd r = { data, len, false };
	char magic[8];
	uint64_t sum;
	struct item *items = NULL;
	double *desc = NULL, *raw = NULL, *scores = NULL;
	unsigned char *nopredf = NULL;
	size_t *cand = NULL;
	uint64_t nitems, ncand = 0, d = 0, zero_rows = 0, nscores = 0, nopred = 0;
	uint64_t images_sum = 0;
	uint8_t desc_mode, rows_mode;
	bool has_emb, has_sc;
	char sub[224];
	struct pipeline_result meta;

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); goto bad; } while (0)
	if (len < 8 + 8 + 32 + 8)
		BAD("truncated (%zu bytes)", len);
	memcpy(&sum, data + len - 8, 8);
	if (sum != XXH3_64bits(data, len - 8))
		BAD("corrupt (checksum mismatch)");
	r.left = len - 8;
	get(&r, magic, 8);
	if (memcmp(magic, CKPT_MAGIC, 8) != 0)
		BAD("not a checkpoint (bad magic)");
	uint32_t version = get_u32(&r), stage = get_u32(&r);
	if (version != CKPT_VERSION)
		BAD("format version %u, not %u", version, CKPT_VERSION);
	if (stage != (uint32_t)s)
		BAD("holds stage %u", stage);
	XXH128_hash_t ch = get_hash(&r), lh = get_hash(&r);
	if (!XXH128_isEqual(ch, run->cfg_hash))
		BAD("the config changed");
	if (!XXH128_isEqual(lh, run->list_hash))
		BAD("the dataset changed (listing, sizes, mtimes or .lightly files)");
	nitems = get_u64(&r);
	if (nitems != run->nitems)
		BAD("%llu items, the listing has %zu", (unsigned long long)nitems, run->nitems);
	items = xcalloc(run->nitems ? run->nitems : 1, sizeof(*items));
	for (size_t i = 0; i < run->nitems && !r.bad; i++) {
		struct item *it = &items[i];
		uint8_t st = get_u8(&r);
		uint32_t rl = get_u32(&r);
		if (st > IT_DUPLICATE)
			BAD("bad item state");
		it->state = (enum item_state)st;
		if (rl != UINT32_MAX) {
			if (rl > r.left)
				BAD("truncated");
			it->reason = xcalloc(1, (size_t)rl + 1);
			get(&r, it->reason, rl);
		}
		it->hash = get_hash(&r);
		it->size = get_u64(&r);
		it->width = get_u32(&r);
		it->height = get_u32(&r);
		it->meta.size_bytes = it->size;
		it->meta.decode_w = get_u32(&r);
		it->meta.decode_h = get_u32(&r);
		get(&r, &it->meta.luminance, sizeof(double));
		get(&r, &it->meta.snr, sizeof(double));
		get(&r, &it->meta.sharpness, sizeof(double));
		get(&r, &it->meta.uniform_row_ratio, sizeof(double));
		it->path = run->items[i].path;
		it->video = run->items[i].video;
		it->frame = run->items[i].frame;
	}
	desc_mode = get_u8(&r);
	if ((desc_mode != 0) != (s < STAGE_EMBEDDINGS && !run->have_csv))
		BAD("descriptors %s", desc_mode ? "not expected" : "missing");
	if (desc_mode == CKPT_INLINE) {
		if ((desc = get_f64s(&r, (uint64_t)run->nitems * DESC_DIM)) == NULL)
			BAD("truncated");
	} else if (desc_mode == CKPT_IN_IMAGES && s != STAGE_IMAGES) {
		images_sum = get_u64(&r);
		if (r.bad)
			BAD("truncated");
		if ((desc = ckpt_images_desc(run, images_sum, sub, sizeof(sub))) == NULL)
			BAD("%s", sub);
	} else if (desc_mode != 0) {
		BAD("bad descriptor mode");
	}
	has_emb = get_u8(&r);
	if (has_emb != (s >= STAGE_EMBEDDINGS))
		BAD("candidate rows %s", has_emb ? "not expected" : "missing");
	if (has_emb) {
		ncand = get_u64(&r);
		d = get_u64(&r);
		zero_rows = get_u64(&r);
		if (ncand > run->nitems || d != (run->have_csv ? run->csv.d : DESC_DIM))
			BAD("bad candidate table");
		cand = xcalloc(ncand ? ncand : 1, sizeof(*cand));
		for (size_t c = 0; c < ncand; c++) {
			cand[c] = (size_t)get_u64(&r);
			if (cand[c] >= run->nitems || items[cand[c]].state != IT_OK)
				BAD("bad candidate index");
		}
		if (d != 0 && ncand > SIZE_MAX / d)
			BAD("bad candidate table");
		rows_mode = get_u8(&r);
		if (rows_mode == CKPT_INLINE) {
			if ((raw = get_f64s(&r, ncand * d)) == NULL)
				BAD("truncated");
		} else if (rows_mode == CKPT_IN_IMAGES && !run->have_csv) {
			/* The built-in descriptor: candidate rows are descriptor rows. */
			images_sum = get_u64(&r);
			if (r.bad)
				BAD("truncated");
			double *all = ckpt_images_desc(run, images_sum, sub, sizeof(sub));
			if (all == NULL)
				BAD("%s", sub);
			raw = xcalloc(ncand ? ncand : 1, d * sizeof(double));
			for (size_t c = 0; c < ncand; c++)
				memcpy(raw + c * d, all + cand[c] * DESC_DIM, DESC_DIM * sizeof(double));
			free(all);
		} else {
			BAD("bad candidate rows mode");
		}
	}
	has_sc = get_u8(&r);
	if (has_sc != (s >= STAGE_SCORES))
		BAD("scores %s", has_sc ? "not expected" : "missing");
	if (has_sc) {
		nscores = get_u64(&r);
		nopred = get_u64(&r);
		if (nscores != run->nscores || nopred > ncand)
			BAD("bad score table");
		if ((scores = get_f64s(&r, ncand * nscores)) == NULL)
			BAD("truncated");
		nopredf = xcalloc(ncand ? ncand : 1, 1);
		get(&r, nopredf, ncand);
	}
	if (get_u32(&r) != STAGE_COUNT)
		BAD("bad stage table");
	for (int k = 0; k < STAGE_COUNT; k++) {
		meta.ran[k] = get_u8(&r) != 0;
		get(&r, &meta.seconds[k], sizeof(double));
		get(&r, meta.summary[k], sizeof(meta.summary[k]));
		meta.summary[k][sizeof(meta.summary[k]) - 1] = '\0';
	}
	if (r.bad || r.left != 0)
		BAD(r.bad ? "truncated" : "trailing bytes");
#undef BAD
	if (desc_out != NULL) {
		for (size_t i = 0; i < run->nitems; i++)
			free(items[i].reason);
		free(items);
		free(cand);
		free(raw);
		free(scores);
		free(nopredf);
		*desc_out = desc;
		return 0;
	}
	run->images_sum = s == STAGE_IMAGES ? sum | 1 : images_sum;

	/* Valid: it replaces the run's state. */
	for (size_t i = 0; i < run->nitems; i++)
		free(run->items[i].reason);
	free(run->items);
	run->items = items;
	free(run->desc);
	run->desc = desc;
	if (has_emb) {
		run->cand = cand;
		run->ncand = ncand;
		run->d = d;
		run->raw = raw;
		run->X = xcalloc(ncand ? ncand : 1, d * sizeof(double));
		memcpy(run->X, raw, ncand * d * sizeof(double));
		if (run->cfg->normalize_embeddings)
			(void)embed_normalize(run->X, ncand, d);
		run->r->counts.zero_rows = zero_rows;
	}
	if (has_sc) {
		run->scores = scores;
		free(run->nopred);
		run->nopred = nopredf;
		run->r->counts.no_predictions = nopred;
	}
	/* The stages the checkpoint covers keep their timings for report.json. */
	for (int k = STAGE_IMAGES; k <= (int)s; k++) {
		run->r->ran[k] = meta.ran[k];
		run->r->seconds[k] = meta.seconds[k];
		memcpy(run->r->summary[k], meta.summary[k], sizeof(meta.summary[k]));
	}
	return 0;
bad:
	for (size_t i = 0; items != NULL && i < run->nitems; i++)
		free(items[i].reason);
	free(items);
	free(desc);
	free(cand);
	free(raw);
	free(scores);
	free(nopredf);
	return -1;
}

/* Removes the checkpoints of the stages after s (stale: from other inputs). */
static void ckpt_remove_after(struct run *run, int s)
{
	for (size_t i = 0; i < ARRAY_LEN(ckpt_stages); i++) {
		if ((int)ckpt_stages[i] <= s)
			continue;
		char *p = ckpt_path(run, ckpt_stages[i]);
		(void)unlink(p);
		free(p);
	}
}

void ckpt_remove_all(struct run *run)
{
	char *dir = xasprintf("%s/" CKPT_DIR, run->o->run_dir);

	ckpt_remove_after(run, -1);
	(void)rmdir(dir);
	free(dir);
}

/*
 * Loads the latest valid checkpoint that fits this run. Returns the stage it
 * covers, or -1 (start from the image pass).
 */
int ckpt_load(struct run *run)
{
	int found = -1;

	for (size_t i = ARRAY_LEN(ckpt_stages); i-- > 0 && found < 0;) {
		enum stage s = ckpt_stages[i];
		char *path = ckpt_path(run, s), *data = NULL, why[256];
		size_t len = 0;
		int rc = read_file(path, (size_t)1 << 36, &data, &len);

		if (rc == -ENOENT) {
			free(path);
			continue;
		}
		if (rc < 0)
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		else if ((s == STAGE_DUPLICATES && !run->cfg->remove_exact_duplicates) ||
			 ((s == STAGE_IMAGES || s == STAGE_DUPLICATES) && run->emb_only) ||
			 (s == STAGE_SCORES && (run->ntask == 0 || plan_has_predictions(run))))
			snprintf(why, sizeof(why), "the config has no such stage");
		else if (ckpt_parse(run, s, (const uint8_t *)data, len, why, sizeof(why), NULL) == 0)
			found = (int)s;
		if (found < 0)
			run_log(run, LOG_LVL_WARNING, "checkpoint after stage %s ignored: %s",
				stage_name(s), why);
		free(data);
		free(path);
	}
	if (found >= 0)
		run_log(run, LOG_LVL_NOTICE, "resuming after stage %s (checkpoint %s/%s/%s.bin)",
			stage_name((enum stage)found), run->o->run_dir, CKPT_DIR,
			stage_name((enum stage)found));
	ckpt_remove_after(run, found);
	return found;
}

