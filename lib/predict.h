/*
 * predict: Lightly prediction files (SPEC 3): .lightly/predictions/tasks.json,
 * each task's schema.json, and the per-image prediction files of the four
 * task types, validated strictly: any deviation is an error naming the file
 * and the field. Also the table of score names per task type (SPEC 4.4),
 * shared by the daemon and the web app.
 */
#ifndef WINNOW_PREDICT_H
#define WINNOW_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct dataset;

/* Prediction, schema and tasks files larger than this are refused (SPEC 3). */
#define PREDICT_MAX_FILE_BYTES	((size_t)64 << 20)
/* JSON nested deeper than this is refused before it is parsed. */
#define PREDICT_MAX_DEPTH	64

enum task_type {
	TASK_CLASSIFICATION,
	TASK_OBJECT_DETECTION,
	TASK_SEMANTIC_SEGMENTATION,
	TASK_KEYPOINT_DETECTION,
	TASK_TYPE_COUNT,
};

/* "classification", "object-detection", "semantic-segmentation", "keypoint-detection". */
const char *task_type_name(enum task_type t);
/* Parses a task type name; returns -1 when unknown. */
int task_type_parse(const char *name);

/* Score names of a task type, in scores.csv column order (SPEC 4.4). */
size_t task_score_count(enum task_type t);
const char *task_score_name(enum task_type t, size_t i);
/* Column index of a score name for a type, or -1. */
int task_score_index(enum task_type t, const char *name);
/* The default weighting score of a type ("uncertainty_margin"; keypoints "mean_uncertainty"). */
const char *task_default_score(enum task_type t);

struct category {
	long id;
	char *name;
};

struct task_schema {
	enum task_type type;
	struct category *cats;	/* sorted by ascending id; ids unique */
	size_t ncats;
};

/* One prediction entry (a box, a segment, a keypoint instance, the class). */
struct pred_entry {
	long category_id;	/* one of the schema's ids */
	double score;		/* [0,1]; NaN for classification (no score field) */
	double *probs;		/* NULL when absent; else nprobs values, ascending id order;
				   a single value p was expanded to [p, 1-p] (nprobs 2) */
	size_t nprobs;
	double bbox[4];		/* object detection: x, y, w, h */
	uint64_t pixels;	/* semantic segmentation: number of mask pixels set */
	double *kp_conf;	/* keypoint detection: the confidences c of each triplet */
	size_t nkp;
};

struct pred_image {
	bool has_file;		/* false: no prediction file for this image */
	struct pred_entry *e;
	size_t n;		/* 0: no predictions (also for "predictions": []) */
};

/* The predictions of one task for a list of images. */
struct task_preds {
	char *name;
	struct task_schema schema;
	struct pred_image *img;	/* one per image given to predict_load_task */
	size_t nimg;
	size_t files_ignored;	/* prediction files of images that are not candidates */
};

/*
 * Messages read "FILE: FIELD: what is wrong", FILE relative to the datasource
 * root and FIELD a path into the JSON ("predictions[2].probabilities",
 * "categories[0].id"), or "FILE: what is wrong" for the file as a whole
 * ("invalid JSON at line 3, column 5", "larger than 64 MiB, refused"). Keys
 * this module reads are checked strictly (a read key given twice is an
 * error); other keys are ignored wherever they appear (see predict.c).
 */

/*
 * Reads tasks.json: the task names, in file order, appended to tasks (left
 * untouched on error). Returns 0, -ENOENT when the file is absent (no
 * predictions; err untouched), or another negative errno with a message in
 * err naming the file and the field. A name must be one folder name (not
 * empty, ".", "..", no "/" or control character, valid UTF-8), listed once.
 */
int predict_list_tasks(const struct dataset *ds, struct strvec *tasks, char *err, size_t errlen);

/*
 * Reads a task's schema.json. Returns 0 or a negative errno with a message:
 * -ENOENT ("<folder>: missing schema.json") when it is absent, -EINVAL when
 * task is not a valid name or the schema is invalid. Free with task_schema_free.
 */
int predict_load_schema(const struct dataset *ds, const char *task, struct task_schema *s,
			char *err, size_t errlen);

/*
 * Image sizes for the RLE check of segmentation: width and height of image i,
 * or 0 x 0 when unknown (the check is then skipped).
 */
struct img_size {
	uint32_t w, h;
};

/*
 * Loads the predictions of `task` for the images `paths` (n, in path order;
 * borrowed): reads schema.json and each image's prediction file
 * (.lightly/predictions/<task>/<path without extension>.json), validating
 * everything SPEC 3 names. sizes may be NULL. Fails (negative errno, message
 * in err naming the file and the field) on the first invalid file; scores are
 * never computed from a partial set. Two images mapping to one prediction
 * file is an error naming both. Free with task_preds_free.
 */
int predict_load_task(const struct dataset *ds, const char *task, char *const *paths,
		      const struct img_size *sizes, size_t n, int threads,
		      struct task_preds *out, char *err, size_t errlen);

/*
 * Parses one prediction file's text (borrowed) for an image. `label` names
 * the file in errors; `image_path` is what file_name must equal. Exposed for
 * tests and fuzzing.
 */
int predict_parse_file(const char *text, size_t len, const char *label, const char *image_path,
		       const struct task_schema *schema, struct img_size size,
		       struct pred_image *out, char *err, size_t errlen);

/* Parses schema.json text. */
int predict_parse_schema(const char *text, size_t len, const char *label,
			 struct task_schema *s, char *err, size_t errlen);

void pred_image_free(struct pred_image *p);
void task_schema_free(struct task_schema *s);
void task_preds_free(struct task_preds *t);
/* task_preds_free, freeing the images' entries on `threads` threads. */
void task_preds_free_mt(struct task_preds *t, int threads);

/*
 * The strict JSON reading of this module, for other Lightly files
 * (metadata.c): the same limits, checks and message style.
 *
 * predict_read_file: reads rel (beneath the datasource root, at most
 * PREDICT_MAX_FILE_BYTES) into *text (caller frees). Returns 0, -ENOENT when
 * absent (err untouched), or another negative errno with "REL: reason" in err.
 *
 * predict_parse_json: parses a whole file's text (borrowed): UTF-8, no NUL,
 * at most PREDICT_MAX_DEPTH levels, nothing after the value. Returns the tree
 * (free with cJSON_Delete) or NULL with "LABEL: what, at line L, column C".
 *
 * predict_member: member key of obj (borrowed from obj), NULL when absent; a
 * key given twice sets *rc to -EINVAL and err to "LABEL: FIELD: given twice".
 *
 * predict_quote: s in double quotes, escaped and cut for a message; predict_
 * describe: a value's text when short, else its kind ("an object"). Both
 * return a string the caller frees.
 *
 * predict_stem_len: the length of path without its extension (the dot of the
 * last component), as prediction and metadata files are named.
 */
struct cJSON;
int predict_read_file(const struct dataset *ds, const char *rel, uint8_t **text, size_t *len,
		      char *err, size_t errlen);
struct cJSON *predict_parse_json(const char *text, size_t len, const char *label, char *err,
				 size_t errlen);
const struct cJSON *predict_member(const struct cJSON *obj, const char *key, const char *label,
				   const char *field, char *err, size_t errlen, int *rc);
char *predict_quote(const char *s);
char *predict_describe(const struct cJSON *v);
size_t predict_stem_len(const char *path);

#endif
