/*
 * embed: embeddings (SPEC 4.3): Lightly's embeddings CSV (read and write),
 * winnow's built-in descriptor, L2 normalisation, and the 2-D PCA projection.
 */
#ifndef WINNOW_EMBED_H
#define WINNOW_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <xxhash.h>

#include "image.h"

/* Built-in descriptor: 64 grey layout + 128 gradient orientation + 12 colour. */
#define DESC_GREY 64
#define DESC_HOG 128
#define DESC_COLOUR 12
#define DESC_DIM (DESC_GREY + DESC_HOG + DESC_COLOUR)

/* Computes the descriptor of a thumbnail into out[DESC_DIM]. Deterministic. */
void embed_descriptor(const struct img_thumb *t, double *out);

/* An embeddings table read from a CSV. */
struct emb_table {
	size_t n, d;
	char **names;		/* n names, as in the file */
	double *rows;		/* n x d */
	size_t *order;		/* indices sorted by name, for lookup */
};

/*
 * Reads a Lightly embeddings CSV (header filenames,embedding_0..,labels).
 * Errors (format, NaN/Inf, a name twice, wrong field counts) return -EINVAL
 * with a message naming the line in err; I/O errors a negative errno.
 */
int emb_table_read(const char *path, struct emb_table *t, char *err, size_t errlen);

/*
 * Reads the CSV from fd (borrowed, read to EOF) in blocks, so the text is
 * never all in memory, parsing each block's lines on `threads` threads (<= 0:
 * cpu_count()). label names the source in errors. With hash non-NULL, sets
 * *hash to XXH3-128 of the bytes read. Errors as emb_table_read.
 */
/* emb_table_read_fd's block size (32 MiB; a line longer than a block grows it). Tests lower it. */
extern size_t emb_read_block_bytes;

int emb_table_read_fd(int fd, const char *label, int threads, XXH128_hash_t *hash,
		      struct emb_table *t, char *err, size_t errlen);

/*
 * The same from any source: rd reads up to n bytes into buf, fewer only at
 * the end (0 there), or returns a negative errno. size_hint: the expected
 * size in bytes, or 0.
 */
typedef ssize_t (*emb_read_fn)(void *ud, void *buf, size_t n);
int emb_table_read_stream(emb_read_fn rd, void *ud, uint64_t size_hint, const char *label,
			  int threads, XXH128_hash_t *hash, struct emb_table *t, char *err,
			  size_t errlen);

/*
 * Parses CSV text held in memory (borrowed); label names the source in errors.
 * Values are read as the correctly rounded float64 (what strtod gives), in
 * parallel on cpu_count() threads for large texts.
 */
int emb_table_parse(const char *text, size_t len, const char *label, struct emb_table *t,
		    char *err, size_t errlen);

/* The same on `threads` threads (<= 0: cpu_count()). */
int emb_table_parse_mt(const char *text, size_t len, const char *label, int threads,
		       struct emb_table *t, char *err, size_t errlen);

/* Row index of name, or -1. */
long emb_table_find(const struct emb_table *t, const char *name);

void emb_table_free(struct emb_table *t);

/*
 * Writes names[i] with rows (n x d) in Lightly's format, labels 0; with idx,
 * rows idx[0..n) in that order. Rows are formatted on `threads` threads (<=
 * 0: cpu_count()) and written in order. Returns 0 or -errno.
 */
int emb_csv_write(FILE *f, char *const *names, const size_t *idx, size_t n,
		  const double *rows, size_t d, int threads);

/* L2-normalises each row in place; returns the number of all-zero rows. */
size_t embed_normalize(double *rows, size_t n, size_t d);

/*
 * 2-D PCA of rows (n x d) into xy (n x 2): centred, top two principal axes
 * (the covariance's eigenvectors from LAPACK for d <= 512, else subspace
 * iteration), each axis's sign chosen so that its largest-magnitude loading is
 * positive. Deterministic.
 */
void embed_pca2d(const double *rows, size_t n, size_t d, double *xy);

#endif
