/*
 * datasource: a dataset's datasources, one per purpose (SPEC 3 and 7):
 * Lightly's routes (PUT and GET /v1/datasets/{datasetId}/datasource, GET
 * .../datasource/all: exactly DatasourceConfig, the secret masked) and
 * winnow's (GET and PUT /v1/winnow/datasets/{datasetId}/datasource: the same
 * with the S3 endpoint, and the secret for a worker while the dataset has a
 * run LOCKED by a worker; for INPUT, the LIGHTLY one under "lightly" when
 * another datasource serves LIGHTLY).
 */
#ifndef WINNOW_WEB_DATASOURCE_H
#define WINNOW_WEB_DATASOURCE_H

#include "dataset.h"
#include "http.h"

/* The mask that stands for a stored S3 secret in replies (SPEC 8). */
#define DS_SECRET_MASK "********"

/* What a datasource is opened for: its images (INPUT) or its .lightly/ (LIGHTLY). */
enum ds_use { DS_USE_INPUT, DS_USE_LIGHTLY };

void h_datasource_get(struct req *r, struct resp *out);
void h_datasource_put(struct req *r, struct resp *out);
void h_datasource_all(struct req *r, struct resp *out);
void h_winnow_datasource_get(struct req *r, struct resp *out);
void h_winnow_datasource_put(struct req *r, struct resp *out);

/*
 * Opens the datasource that serves use for dataset r->params[0] (a LOCAL
 * folder resolved under the --dataset-root folders, or an S3 prefix) into
 * ds, releasing the database connection. Returns 0, or -1 after replying
 * (404, 409).
 */
int web_datasource_open(struct req *r, struct resp *out, enum ds_use use, struct dataset *ds);

#endif
