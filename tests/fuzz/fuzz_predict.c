/*
 * fuzz_predict: prediction files (with segmentation RLE) and schema files of
 * lib/predict.c. The first byte picks what the rest is:
 *   0-3  a prediction file of that task type (classification, detection,
 *        segmentation, keypoints) for "img/a.jpg", schema ids 0, 1, 2;
 *        bytes 1 and 2 are the image's width and height for the RLE check
 *        (0 x 0: unknown)
 *   4    a schema.json
 *
 * predict.c is compiled into this file so that the two readers of a
 * prediction file can be compared: whenever the fast path (yajl) accepts a
 * file, the slow path (cJSON) must accept it too with the same values, as its
 * DESIGN comment promises. The archive's predict.o is then never linked.
 */
#include "../../lib/predict.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct task_schema schemas[TASK_TYPE_COUNT];

static void schemas_init(void)
{
	char err[256];

	for (int t = 0; t < TASK_TYPE_COUNT; t++) {
		char *s = xasprintf("{\"task_type\": \"%s\", \"categories\": [{\"id\": 0, \"name\": "
				    "\"a\"}, {\"id\": 1, \"name\": \"b\"}, {\"id\": 2, \"name\": "
				    "\"c\"}]}", task_type_name((enum task_type)t));
		if (predict_parse_schema(s, strlen(s), "schema.json", &schemas[t], err,
					 sizeof(err)) != 0)
			abort();
		free(s);
	}
}

static bool same_num(double a, double b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same_vec(const double *a, const double *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!same_num(a[i], b[i]))
			return false;
	return true;
}

/* What predict.h promises of an accepted file: ids of the schema, values in [0, 1]. */
static void check_values(const struct pred_image *p, enum task_type t, struct img_size isz)
{
	if (!p->has_file)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct pred_entry *e = &p->e[i];
		if (e->category_id < 0 || e->category_id > 2)
			abort();
		if (t == TASK_CLASSIFICATION ? !isnan(e->score) : !(e->score >= 0 && e->score <= 1))
			abort();
		for (size_t k = 0; k < e->nprobs; k++)
			if (!(e->probs[k] >= 0 && e->probs[k] <= 1))
				abort();
		for (size_t k = 0; k < e->nkp; k++)
			if (!(e->kp_conf[k] >= 0 && e->kp_conf[k] <= 1))
				abort();
		if (t == TASK_KEYPOINT_DETECTION && e->nkp == 0)
			abort();
		if (isz.w != 0 && isz.h != 0 && e->pixels > (uint64_t)isz.w * isz.h)
			abort();
	}
}

static void compare(const struct pred_image *f, const struct pred_image *s)
{
	if (f->has_file != s->has_file || f->n != s->n)
		abort();
	for (size_t i = 0; i < f->n; i++) {
		const struct pred_entry *a = &f->e[i], *b = &s->e[i];
		if (a->category_id != b->category_id || !same_num(a->score, b->score) ||
		    a->nprobs != b->nprobs || (a->probs == NULL) != (b->probs == NULL) ||
		    !same_vec(a->bbox, b->bbox, 4) || a->pixels != b->pixels || a->nkp != b->nkp)
			abort();
		if (a->probs != NULL && !same_vec(a->probs, b->probs, a->nprobs))
			abort();
		if (a->nkp > 0 && !same_vec(a->kp_conf, b->kp_conf, a->nkp))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char err[512];

	if (!ready) {
		schemas_init();
		ready = true;
	}
	if (size < 3)
		return 0;
	unsigned mode = data[0] % 5;
	struct img_size isz = { data[1], data[2] };
	size -= 3;
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);
	memcpy(text, data + 3, size);

	if (mode == 4) {
		struct task_schema s;
		memset(&s, 0, sizeof(s));
		err[0] = '\0';
		if (predict_parse_schema(text, size, "schema.json", &s, err, sizeof(err)) == 0) {
			for (size_t i = 1; i < s.ncats; i++)
				if (s.cats[i - 1].id >= s.cats[i].id)
					abort();
		} else if (err[0] == '\0') {
			abort();
		}
		task_schema_free(&s);
	} else {
		const struct task_schema *sch = &schemas[mode];
		struct pred_image fast, slow;
		memset(&fast, 0, sizeof(fast));
		if (parse_file_fast(text, size, "img/a.jpg", sch, isz, &fast)) {
			err[0] = '\0';
			if (parse_file_slow(text, size, "p.json", "img/a.jpg", sch, isz, &slow, err,
					    sizeof(err)) != 0) {
				fprintf(stderr, "fast path accepted, slow path refused: %s\n", err);
				abort();
			}
			compare(&fast, &slow);
			check_values(&slow, (enum task_type)mode, isz);
			pred_image_free(&slow);
			pred_image_free(&fast);
		} else {
			pred_image_free(&fast);
			err[0] = '\0';
			if (predict_parse_file(text, size, "p.json", "img/a.jpg", sch, isz, &slow, err,
					       sizeof(err)) == 0) {
				check_values(&slow, (enum task_type)mode, isz);
				pred_image_free(&slow);
			}
			else if (err[0] == '\0')
				abort();
		}
	}
	free(text);
	return 0;
}
