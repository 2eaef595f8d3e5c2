// Links to the sample view (CONTEXT16's URL contract; helper A's sample view reads them).
// sampleHref: the N-th sample (0-based) of a run's results grid, the grid's query passed on;
// fileHref: one file of a dataset with no run (browsing, corrupt and duplicate lists).
const enc = encodeURIComponent;

function queryOf(x) {
	if (!x) return new URLSearchParams();
	if (x instanceof URLSearchParams) return new URLSearchParams(x);
	if (typeof x === 'string') return new URLSearchParams(x.replace(/^[?&]/, ''));
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(x)) if (v !== undefined && v !== null) q.set(k, String(v));
	return q;
}

// #/datasets/{datasetId}/runs/{scheduledId}/sample?at=N&<query>
export function sampleHref(datasetId, scheduledId, at, query) {
	const q = queryOf(query);
	q.delete('at');
	const rest = q.toString();
	return `#/datasets/${enc(datasetId)}/runs/${enc(scheduledId)}/sample?at=${Number(at)}${rest ? `&${rest}` : ''}`;
}

// #/datasets/{datasetId}/sample?name=FILE[&list=browse|corrupt|duplicate&at=N]
export function fileHref(datasetId, name, extra) {
	const q = new URLSearchParams({ name });
	for (const [k, v] of queryOf(extra)) if (k !== 'name') q.set(k, v);
	return `#/datasets/${enc(datasetId)}/sample?${q}`;
}
