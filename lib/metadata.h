/*
 * metadata: Lightly's custom metadata files (SPEC 3), read for the keys a
 * plan names: .lightly/metadata/<image path without extension>.json, key
 * paths into nested objects ("weather.temp"), the optional
 * .lightly/metadata/schema.json that types keys and gives defaults. Also the
 * names of winnow's computed image metadata (lightly.*, SPEC 4.8), which the
 * image pass makes and this module never reads from files.
 */
#ifndef WINNOW_METADATA_H
#define WINNOW_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct dataset;

#define META_DIR		".lightly/metadata"
#define META_SCHEMA_FILE	META_DIR "/schema.json"
/* A key path longer than this, or with more components, is refused. */
#define META_KEY_MAX		256
#define META_KEY_PARTS		32
/* A category value (its JSON text) longer than this is an error. */
#define META_CATEGORY_MAX	1024

enum meta_kind {
	META_NUMERIC,	/* WEIGHTS, THRESHOLD: a finite number */
	META_CATEGORY,	/* BALANCE: any scalar, named by its JSON text */
};

/* One key a plan names, and how it is used. */
struct meta_request {
	const char *key;	/* a key path, e.g. "weather.temp" */
	enum meta_kind kind;
};

/* The values of one key for every image given to metadata_load. */
struct meta_column {
	char *key;
	enum meta_kind kind;
	size_t n;
	bool *has;		/* n: the image has a value (its own or the schema's default) */
	double *num;		/* numeric: n values, 0 where !has */
	uint32_t *cat;		/* category: n indexes into classes, 0 where !has */
	struct strvec classes;	/* category: every value that occurs, sorted bytewise */
};

/*
 * Loads the requested keys (nreq, borrowed) for the images paths[0..n-1]
 * (borrowed; the candidates in path order) into out[0..nreq-1], which the
 * caller frees with meta_column_free. Reads schema.json when present, then
 * each image's metadata file on `threads` threads (S3: prefetched); an image
 * without one has no value unless the schema gives a default. Fails with a
 * negative errno and a message naming the file and the field ("FILE: FIELD:
 * what is wrong"): for the first invalid file in path order, whatever the
 * thread timing. -EINVAL also for a key path that is empty, has an empty
 * component, is too long or names computed metadata (lightly.*); out is
 * then left empty.
 */
int metadata_load(const struct dataset *ds, char *const *paths, size_t n,
		  const struct meta_request *req, size_t nreq, int threads,
		  struct meta_column *out, char *err, size_t errlen);

void meta_column_free(struct meta_column *c);

/* Scalar values of one file, one per requested key (the parse's output). */
struct meta_value {
	enum { MV_NONE, MV_NUM, MV_CAT } type;
	double num;
	char *cat;		/* owned */
};

/*
 * Parses one metadata file's text (borrowed), labelled `label` in errors, for
 * the image image_path (what file_name must equal), filling vals[0..nreq-1]
 * (free each with meta_value_clear). Schema types and defaults are applied
 * by metadata_load, not here: a numeric request takes a number, a category
 * request any scalar. Exposed for tests and fuzzing.
 */
int metadata_parse_file(const char *text, size_t len, const char *label, const char *image_path,
			const struct meta_request *req, size_t nreq, struct meta_value *vals,
			char *err, size_t errlen);
void meta_value_clear(struct meta_value *v);

/* winnow's computed image metadata (SPEC 4.8), in this order. */
enum meta_computed {
	META_SIZE_IN_BYTES,	/* lightly.sizeInBytes */
	META_WIDTH,		/* lightly.width */
	META_HEIGHT,		/* lightly.height */
	META_LUMINANCE,		/* lightly.luminance */
	META_SNR,		/* lightly.snr */
	META_SHARPNESS,		/* lightly.sharpness */
	META_UNIFORM_ROW_RATIO,	/* lightly.uniformRowRatio */
	META_COMPUTED_COUNT,
};

struct img_meta;

/*
 * The value of computed metadatum m of an image: from its image pass's
 * img_meta, and width and height from its header (the file's, exact).
 */
double metadata_computed_value(enum meta_computed m, const struct img_meta *meta,
			       uint32_t width, uint32_t height);

/* Whether m comes from the decoded pixels (the grey statistics), not the file or its header. */
bool metadata_computed_from_pixels(enum meta_computed m);

/* The key of a computed metadatum ("lightly.width"), or NULL. */
const char *metadata_computed_name(enum meta_computed m);
/* The computed metadatum a key names, or -1 when it names none. */
int metadata_computed_parse(const char *key);

#endif
