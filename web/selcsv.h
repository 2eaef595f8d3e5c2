/*
 * selcsv: the run's data/selection.csv (uploaded by winnowd as its
 * SELECTION_CSV artifact), read for the results route: rank, filenames,
 * weight, distance, and for a plan `score` and one objective column per
 * non-THRESHOLD entry (SPEC 4.8). The artifact is a worker's upload, so it
 * is read as hostile input: bounded sizes, every field checked, and a clear
 * message naming the line on anything else; it never takes the route down.
 */
#ifndef WINNOW_WEB_SELCSV_H
#define WINNOW_WEB_SELCSV_H

#include <stddef.h>

/* Bounds: the upload cap of the server, and what a plan can have (SPEC 4.8). */
#define SELCSV_MAX_BYTES (16u << 20)
#define SELCSV_MAX_COLS 128
#define SELCSV_MAX_FIELD 4096

struct selcsv {
	size_t ncols;		/* the numeric columns: every column but filenames */
	char **cols;		/* their names, in file order ("rank", "weight", ...) */
	size_t nrows;
	char **names;		/* filenames of each row */
	double *vals;		/* nrows x ncols; NaN where the field is empty */
};

/*
 * Parses text (len bytes, not NUL-terminated) into out. CSV as RFC 4180
 * (quoted fields may hold commas, quotes doubled, CRLF or LF line ends).
 * The header must start with rank,filenames; column names are printable
 * ASCII, not empty, not repeated; every row has the header's field count;
 * every field but filenames is empty or a number (inf and -inf too: a
 * distance at the first pick is +inf; NaN is refused); rank is an
 * integer >= 1; a file name is not empty and appears once. Returns 0, or
 * -1 with a message in err ("line 7: field 3 (weight): \"x\" is not a
 * number") and out empty.
 */
int selcsv_parse(const char *text, size_t len, struct selcsv *out, char *err, size_t errlen);

/* The column's index among out->cols, or -1. */
int selcsv_col(const struct selcsv *s, const char *name);

void selcsv_free(struct selcsv *s);

#endif
