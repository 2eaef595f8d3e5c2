// Links to the sample view (CONTEXT16's URL contract, docs/web.md "Sample view").
//
// sampleHref(datasetId, scheduledId, at, query): the at-th sample (0-based) of a run's results
// grid; query (a URLSearchParams, a plain object or a query string) is the results page's query
// (sort, order, selected, limit and any filter), passed on unchanged to the results route so
// that previous/next follow the grid's order. Its at= and name= are replaced; give name= in
// extra form as query.name to say which file is expected at `at`.
//
// fileHref(datasetId, name, extra): one file of a dataset without a run; extra may hold
// list ('browse', 'corrupt' or 'duplicate'), at (the position in that list) and run (the
// run id whose corrupt or duplicate list it is).
const enc = encodeURIComponent;

function params(query) {
	if (query instanceof URLSearchParams) return new URLSearchParams(query);
	if (typeof query === 'string') return new URLSearchParams(query.replace(/^\?/, ''));
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) p.set(k, String(v));
	return p;
}

export function sampleHref(datasetId, scheduledId, at, query) {
	const p = params(query);
	p.delete('at');
	const q = new URLSearchParams({ at: String(at) });
	for (const [k, v] of p) q.append(k, v);
	return `#/datasets/${enc(datasetId)}/runs/${enc(scheduledId)}/sample?${q}`;
}

export function fileHref(datasetId, name, extra) {
	const q = new URLSearchParams({ name });
	for (const [k, v] of params(extra)) if (k !== 'name') q.set(k, v);
	return `#/datasets/${enc(datasetId)}/sample?${q}`;
}
