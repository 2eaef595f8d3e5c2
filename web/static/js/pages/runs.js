// Runs: every scheduled run of every dataset, and the runs list a dataset's page shows too.
// Served filtered and paged by winnow's GET /v1/winnow/schedule (or .../datasets/{id}/schedule):
// each item has a summary (method or plan, k, counts, duration, worker, dataset owner and
// folder, and the run itself). On a phone the table becomes cards (ui.js table()).
import { get, asList, enc } from '../api.js';
import { h, fmtTime, fmtInt, section, table, outcomeBadge, progressBar, errorText, setTitle, RUN_FINAL } from '../ui.js';

// The filter's choices: [value, label, query arguments].
export const RUN_FILTERS = [
	['', 'All states', ''],
	['waiting', 'Waiting for a worker (OPEN)', 'state=OPEN'],
	['running', 'Running (LOCKED)', 'state=LOCKED'],
	['completed', 'Completed', 'runState=COMPLETED'],
	['failed', 'Failed or crashed', 'runState=FAILED&runState=CRASHED'],
	['aborted', 'Aborted', 'runState=ABORTED'],
	['canceled', 'Canceled', 'state=CANCELED'],
];

export function selectionText(sum) {
	if (!sum) return '—';
	if (sum.plan && sum.plan.length) return `plan: ${sum.plan.join(' + ')}`;
	return sum.method || '—';
}

export function kText(sum) {
	if (!sum) return '—';
	if (sum.kCount != null) return fmtInt(sum.kCount);
	if (sum.kFraction != null) return `${+(sum.kFraction * 100).toFixed(4)}%`;
	return 'all';
}

export function countsText(sum) {
	if (!sum || sum.candidates == null) return '—';
	return `${fmtInt(sum.selected)} of ${fmtInt(sum.candidates)}`;
}

export function fmtDuration(ms) {
	if (ms == null || !Number.isFinite(Number(ms))) return '—';
	const s = Math.max(0, Math.round(Number(ms) / 1000));
	if (s < 60) return `${s} s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m} min ${s % 60} s`;
	return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// The last 6 characters of an id: enough to tell two datasets of one name apart.
export const shortId = (id) => `…${String(id || '').slice(-6)}`;

// The last two parts of a folder or bucket path ("…/datasets/shop-a"); the whole in the title.
function tailPath(p) {
	const parts = String(p).split('/').filter(Boolean);
	return parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : String(p);
}

function duration(sum, run) {
	if (sum.durationMs != null) return fmtDuration(sum.durationMs);
	if (run && !RUN_FINAL.has(run.state)) return `${fmtDuration(Date.now() - run.createdAt)} so far`;
	return '—';
}

function rowOf(s, showDataset) {
	const sum = s.summary || {};
	const run = sum.run || null;
	const link = `#/datasets/${enc(s.datasetId)}/runs/${enc(s.id)}`;
	const action = run && run.state === 'COMPLETED'
		? h('a', { href: `${link}/results`, class: 'row-action', 'data-action': 'results' }, 'Results')
		: h('a', { href: link, class: 'row-action', 'data-action': 'open' }, 'Open');
	return h('tr', { 'data-scheduled-id': s.id, 'data-run-id': run ? run.id : '', 'data-dataset-id': s.datasetId },
		h('td', { class: 'cell-main' }, h('a', { href: link }, fmtTime(s.createdAt))),
		showDataset ? h('td', { class: 'cell-dataset' }, h('a', { href: `#/datasets/${enc(s.datasetId)}` }, sum.datasetName || s.datasetId),
			h('span', { class: 'muted small ds-who', title: s.datasetId }, ` ${sum.datasetOwner || ''} · ${shortId(s.datasetId)}`),
			sum.datasetSource ? h('span', { class: 'muted small ds-src', title: sum.datasetSource }, tailPath(sum.datasetSource)) : null) : null,
		h('td', { class: 'cell-state' }, outcomeBadge(s, run)),
		h('td', { class: 'cell-selection' }, selectionText(sum)),
		h('td', { class: 'num' }, kText(sum)),
		h('td', { class: 'num cell-counts' }, countsText(sum)),
		h('td', { class: 'cell-duration' }, duration(sum, run)),
		h('td', { class: 'cell-worker' }, sum.workerName || h('span', { class: 'muted' }, '—')),
		h('td', { class: 'progress-cell' }, run ? progressBar(run.state === 'COMPLETED' ? 1 : run.progress, 'run progress') : ''),
		h('td', { class: 'cell-action' }, action));
}

// A filtered, paged runs list in box. opts: { datasetId (one dataset's runs), datasets (the
// dataset choices of the filter, [{id, name}]), query (URLSearchParams: state, q, dataset,
// page, size), onQuery(params) (the filter changed) }.
export function runsList(ctx, { datasetId = null, datasets = null, query = new URLSearchParams(), onQuery = null } = {}) {
	const f = {
		state: RUN_FILTERS.some(([v]) => v === query.get('state')) ? query.get('state') : '',
		q: (query.get('q') || '').slice(0, 200),
		dataset: query.get('dataset') || '',
		page: Math.max(0, Number.parseInt(query.get('page') || '0', 10) || 0),
		size: Math.min(100, Math.max(1, Number.parseInt(query.get('size') || '20', 10) || 20)),
	};
	const pre = datasetId ? 'ds-' : '';
	const stateSel = h('select', { id: `${pre}runs-filter-state` }, RUN_FILTERS.map(([v, l]) => h('option', { value: v, selected: v === f.state }, l)));
	const text = h('input', { id: `${pre}runs-filter-q`, type: 'search', value: f.q, maxlength: 200, autocomplete: 'off', spellcheck: 'false',
		placeholder: 'dataset, worker, id, method…' });
	let dsSel = null;
	if (datasets) {
		const count = new Map();
		for (const d of datasets) count.set(d.name, (count.get(d.name) || 0) + 1);
		dsSel = h('select', { id: 'runs-filter-dataset' }, h('option', { value: '' }, 'All datasets'),
			datasets.map((d) => h('option', { value: d.id, selected: d.id === f.dataset }, count.get(d.name) > 1 ? `${d.name} (${shortId(d.id)})` : d.name)));
	}
	const form = h('form', { class: 'toolbar runs-filters', role: 'search', 'aria-label': 'Filter runs' },
		h('label', { class: 'inline' }, 'State ', stateSel),
		dsSel ? h('label', { class: 'inline' }, 'Dataset ', dsSel) : null,
		h('label', { class: 'inline' }, 'Find ', text));
	const box = h('div', { class: 'runs-box', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
	const prev = h('button', { type: 'button', class: 'btn', id: `${pre}runs-prev`, disabled: true }, '← Newer');
	const next = h('button', { type: 'button', class: 'btn', id: `${pre}runs-next`, disabled: true }, 'Older →');
	const pageLabel = h('span', { class: 'muted', id: `${pre}runs-page`, 'aria-live': 'polite' });
	const pager = h('div', { class: 'pager' }, prev, pageLabel, next);

	let seq = 0;
	const params = () => {
		const p = [`pageSize=${f.size + 1}`, `pageOffset=${f.page * f.size}`];
		const st = RUN_FILTERS.find(([v]) => v === f.state);
		if (st && st[2]) p.push(st[2]);
		if (f.q) p.push(`q=${enc(f.q)}`);
		if (!datasetId && f.dataset) p.push(`datasetId=${enc(f.dataset)}`);
		return p.join('&');
	};
	async function load() {
		const my = ++seq;
		box.setAttribute('aria-busy', 'true');
		const path = datasetId ? `/v1/winnow/datasets/${enc(datasetId)}/schedule` : '/v1/winnow/schedule';
		let list;
		try {
			list = asList(await get(`${path}?${params()}`), 'scheduled');
		} catch (e) {
			if (my !== seq || !ctx.alive) return true;
			box.replaceChildren(h('p', { class: 'error-box', role: 'alert' }, errorText(e), ' ',
				h('button', { type: 'button', class: 'btn btn-small', onclick: () => load() }, 'Retry')));
			box.setAttribute('aria-busy', 'false');
			throw e;
		}
		if (my !== seq || !ctx.alive) return true;
		const more = list.length > f.size;
		const rows = list.slice(0, f.size);
		const head = ['Scheduled', ...(datasetId ? [] : ['Dataset']), 'State', 'Method / plan', 'k', 'Selected of candidates', 'Duration', 'Worker', 'Progress', ''];
		const filtered = f.state || f.q || f.dataset;
		box.replaceChildren(table(head, rows.map((s) => rowOf(s, !datasetId)),
			{ caption: 'Runs', cls: 'data runs-table', empty: filtered ? 'No run matches the filter.' : (f.page ? 'No more runs.' : 'No runs yet.') }));
		box.setAttribute('aria-busy', 'false');
		prev.disabled = f.page === 0;
		next.disabled = !more;
		pageLabel.textContent = rows.length ? `Runs ${f.page * f.size + 1}–${f.page * f.size + rows.length}` : '';
		pager.hidden = f.page === 0 && !more;
		// live while something may still change
		return rows.some((s) => !(s.state === 'CANCELED' || (s.summary && s.summary.run && RUN_FINAL.has(s.summary.run.state))));
	}
	const changed = () => {
		if (onQuery) {
			const q = new URLSearchParams();
			if (f.state) q.set('state', f.state);
			if (f.q) q.set('q', f.q);
			if (f.dataset) q.set('dataset', f.dataset);
			if (f.page) q.set('page', String(f.page));
			if (query.get('size')) q.set('size', String(f.size));
			onQuery(q);
		}
		load().catch(() => {});
	};
	stateSel.addEventListener('change', () => { f.state = stateSel.value; f.page = 0; changed(); });
	dsSel?.addEventListener('change', () => { f.dataset = dsSel.value; f.page = 0; changed(); });
	let timer = null;
	text.addEventListener('input', () => {
		clearTimeout(timer);
		timer = setTimeout(() => { f.q = text.value.trim().slice(0, 200); f.page = 0; changed(); }, 250);
	});
	form.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(timer); f.q = text.value.trim(); f.page = 0; changed(); });
	prev.addEventListener('click', () => { f.page = Math.max(0, f.page - 1); changed(); });
	next.addEventListener('click', () => { f.page++; changed(); });
	ctx.onLeave(() => clearTimeout(timer));
	// polls while a run on the page may still change (2 s), else every 10 s (a new run may appear)
	let slow = 0;
	ctx.poll(async () => {
		if (slow > 0) { slow--; return true; }
		const live = await load();
		if (!live) slow = 4;
		return true;
	}, 2000, () => null);
	return h('div', { class: 'runs-list-wrap' }, form, box, pager);
}

export async function runsPage(main, ctx) {
	setTitle('Runs');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Runs')));
	const datasets = asList(await get('/v1/datasets?getAssetsOfTeam=True'), 'datasets').sort((a, b) => String(a.name).localeCompare(String(b.name)));
	const list = runsList(ctx, {
		datasets, query: ctx.query,
		onQuery: (q) => { const s = q.toString(); history.replaceState(null, '', `#/runs${s ? `?${s}` : ''}`); },
	});
	list.id = 'runs-list';
	main.appendChild(section('All runs, newest first', list));
}
