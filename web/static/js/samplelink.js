// Links to the sample view (issue 16's URL contract, docs/web.md):
//   #/datasets/{datasetId}/runs/{scheduledId}/sample?at=N&<the results page's query>
//   #/datasets/{datasetId}/sample?name=FILE[&list=browse|corrupt|duplicate&at=N]
// `query` and `extra` are URLSearchParams, a query string or a plain object.

const enc = encodeURIComponent;

function params(q) {
	if (!q) return new URLSearchParams();
	if (q instanceof URLSearchParams) return new URLSearchParams(q);
	if (typeof q === 'string') return new URLSearchParams(q.replace(/^\?/, ''));
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) p.set(k, String(v));
	return p;
}

// The N-th sample (0-based) of the results grid under `query` (sort, order, selected and the
// results page's filters, passed unchanged to GET /v1/winnow/runs/{runId}/results).
export function sampleHref(datasetId, scheduledId, at, query) {
	const out = new URLSearchParams({ at: String(at) });
	for (const [k, v] of params(query)) if (k !== 'at') out.append(k, v);
	return `#/datasets/${enc(datasetId)}/runs/${enc(scheduledId)}/sample?${out}`;
}

// One file of the dataset, with no run (dataset browsing, the corrupt and duplicate lists).
export function fileHref(datasetId, name, extra) {
	const out = new URLSearchParams({ name: String(name) });
	for (const [k, v] of params(extra)) if (k !== 'name') out.append(k, v);
	return `#/datasets/${enc(datasetId)}/sample?${out}`;
}
