// Results of a run: the samples as a thumbnail grid with their scores and, for the selected
// ones, selection.csv's columns (each plan entry's objective at its pick, SPEC 4.8), sorted and
// paged on the server; the plan with its stopping reason and each BALANCE entry's target
// against the selection's shares; the weighting score's histogram, the 2-D embeddings,
// corrupt and duplicate files, and the selected file names as a download.
import { get, post, getText, getOrNull, asList, enc } from '../api.js';
import { h, fmtInt, fmtScore, section, table, badge, errorBox, showBanner, setTitle, bitIndices } from '../ui.js';
import { histogram, scatter, balanceChart, balanceClasses } from '../charts.js';
import { SCORES_BY_TYPE } from '../config.js';
import { exportMenu } from '../export.js';

const SHORT = {
	uncertainty_least_confidence: 'least conf.', uncertainty_margin: 'margin', uncertainty_entropy: 'entropy',
	objectness_least_confidence: 'objectness', object_frequency: 'obj. freq.', mean_uncertainty: 'mean unc.',
};
const PAGE_SIZES = [24, 48, 96];
const SCORE_ORDER = [...SCORES_BY_TYPE['object-detection'], ...SCORES_BY_TYPE['keypoint-detection']];

export async function resultsPage(main, ctx) {
	const [did, sid] = ctx.params;
	const [ds, run] = await Promise.all([get(`/v1/datasets/${enc(did)}`), get(`/v1/docker/runs/schedule/${enc(sid)}`)]);
	setTitle(`Results · ${ds.name}`);
	const rid = run.id;
	const runHref = `#/datasets/${enc(did)}/runs/${enc(sid)}`;
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
		h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: `#/datasets/${enc(did)}` }, ds.name), ' / ',
		h('a', { href: runHref }, 'Run'), ' / Results'));
	const dlBtn = h('button', { type: 'button', class: 'btn btn-primary', id: 'download-selected' }, 'Download selected file names');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Results'), h('div', { class: 'actions' }, badge(run.state), dlBtn)));
	main.querySelector('.page-head .actions').appendChild(exportMenu(did, rid));

	if (run.state !== 'COMPLETED') {
		main.appendChild(h('p', { class: 'banner banner-info', role: 'status' },
			`The run is ${run.state}: its results are shown as far as the worker has reported them. `, h('a', { href: runHref }, 'Follow the run.')));
	}
	const summaryBox = h('div', { id: 'results-summary' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Summary', summaryBox));
	const planBox = h('div', { id: 'results-plan', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Selection plan', planBox));

	// --- what the run left: config, tags, score types, artifacts ------------------------
	const cfg = await getOrNull(`/v1/docker/worker/config/${enc(run.configId)}`).catch(() => null);
	const docker = (cfg && cfg.config && cfg.config.docker) || {};
	const al = docker.active_learning || {};
	const tags = asList(await get(`/v1/datasets/${enc(did)}/tags`), 'tags');
	const { cand, sel } = runTags(tags, run);
	let scoreTypes = [];
	if (cand) {
		scoreTypes = asList(await get(`/v1/datasets/${enc(did)}/tags/${enc(cand.id)}/scores`), 'scores')
			.map((x) => (typeof x === 'string' ? x : x.scoreType)).filter(Boolean);
		// SPEC 4.4's column order, then any other score by name
		const rank = (s) => { const i = SCORE_ORDER.indexOf(s); return i < 0 ? SCORE_ORDER.length : i; };
		scoreTypes.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
	}
	// every artifact and run file of the run, from winnow's run (Lightly's lists only its own types)
	let artifacts = [];
	try {
		artifacts = asList(await get(`/v1/winnow/runs/${enc(rid)}`), 'artifacts');
	} catch (e) {
		if (Array.isArray(run.artifacts)) artifacts = run.artifacts; else showBanner(e);
	}
	const artId = (a) => a.artifactId || a.id;
	const artUrl = (a) => `/v1/winnow/runs/${enc(rid)}/artifacts/${enc(artId(a))}/content`;
	const byType = (t) => artifacts.filter((a) => a.type === t);
	const weightScore = scoreTypes.includes(al.score_name) ? al.score_name : (scoreTypes.includes('uncertainty_margin') ? 'uncertainty_margin' : scoreTypes[0]);

	// selected names in selection order: SELECTION_CSV, else the results route page by page
	let selectedNames = null;
	async function getSelectedNames() {
		if (selectedNames) return selectedNames;
		const a = byType('SELECTION_CSV')[0];
		if (a) {
			const rows = parseCsv(await getText(artUrl(a)));
			const col = rows.header.indexOf('filenames');
			if (col >= 0) { selectedNames = rows.rows.map((r) => r[col]); return selectedNames; }
		}
		const names = [];
		for (let off = 0; ; off += 1000) {
			const page = await get(`/v1/winnow/runs/${enc(rid)}/results?selected=1&sort=fileName&order=asc&offset=${off}&limit=1000`);
			const items = asList(page, 'items');
			for (const it of items) names.push(it.fileName);
			if (!items.length || names.length >= (page.total ?? 0)) break;
		}
		selectedNames = names;
		return names;
	}

	dlBtn.addEventListener('click', async () => {
		dlBtn.disabled = true;
		try {
			const names = await getSelectedNames();
			const blob = new Blob([names.map((n) => `${n}\n`).join('')], { type: 'text/plain' });
			const url = URL.createObjectURL(blob);
			const a = h('a', { href: url, download: `${sel ? sel.name : 'run-' + rid}-selected_filenames.txt`, hidden: true });
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 10000);
		} catch (e) { showBanner(e); } finally { dlBtn.disabled = false; }
	});

	// --- summary ----------------------------------------------------------------------
	const reportArt = byType('REPORT_JSON')[0];
	const facts = (counts) => h('dl', { class: 'facts facts-wide' },
		h('dt', null, 'Method'), h('dd', null, cfg && cfg.config && cfg.config.selection ? 'V4 selection plan' : (docker.method || 'coreset')),
		h('dt', null, 'Task / weighting score'), h('dd', null, al.task_name ? `${al.task_name} / ${al.score_name || 'default'}` : 'none'),
		h('dt', null, 'Candidates'), h('dd', { id: 'count-candidates' }, fmtInt(counts.candidates ?? (cand ? countBits(cand) : undefined))),
		h('dt', null, 'Selected'), h('dd', { id: 'count-selected' }, fmtInt(counts.selected ?? (sel ? countBits(sel) : undefined))),
		h('dt', null, 'Listed / excluded'), h('dd', null, `${fmtInt(counts.listed)} / ${fmtInt(counts.excluded)}`),
		h('dt', null, 'Corrupt / duplicates'), h('dd', null, `${fmtInt(counts.corrupt)} / ${fmtInt(counts.duplicates)}`),
		h('dt', null, 'Tags'), h('dd', null, cand ? h('code', null, cand.name) : '—', ' ', sel ? h('code', null, sel.name) : ''));
	const balanceCharts = [];
	ctx.onLeave(() => balanceCharts.forEach((c) => c.destroy()));
	// report.json is the worker's upload: anything not of the expected shape is said, not drawn
	async function showPlan(rep) {
		let plan = rep && rep.plan && typeof rep.plan === 'object' ? rep.plan : null;
		let source = 'report.json';
		if (!plan && cfg && cfg.config) {
			// a run from before plans: the plan its config means, from the server's validate route
			const body = cfg.config.selection ? { version: 'V4', config: cfg.config } : { config: cfg.config };
			const r = await post('/v1/winnow/configs/validate', body).catch(() => null);
			if (r && r.plan) { plan = r.plan; source = 'config'; }
		}
		const items = [];
		if (plan) {
			const budget = plan.nSamples !== undefined && plan.nSamples !== -1 ? `nSamples ${plan.nSamples}`
				: (plan.proportionSamples !== undefined ? `proportionSamples ${plan.proportionSamples}` : 'no budget');
			items.push(h('p', null, plan.method ? `The 2.2-era method ${plan.method} means this plan; ` : '', budget,
				rep && typeof rep.stop_reason === 'string' ? ['; stopped: ', h('strong', { id: 'stop-reason' }, rep.stop_reason)] : '',
				h('span', { class: 'muted' }, ` (from ${source})`)));
			const list = Array.isArray(plan.strategies) ? plan.strategies : [];
			items.push(h('ol', { class: 'plan-list', id: 'plan-entries-view' }, list.map((e) => {
				const i = (e && e.input) || {}, st = (e && e.strategy) || {};
				const args = ['task', 'score', 'name', 'key', 'tagName'].filter((k) => typeof i[k] === 'string').map((k) => i[k]);
				return h('li', { 'data-strategy': String(st.type ?? ''), 'data-input': String(i.type ?? '') },
					`${st.type ?? '?'} on ${i.type ?? '?'}${args.length ? ` (${args.join(', ')})` : ''}`,
					st.strength !== undefined && st.type !== 'THRESHOLD' ? h('span', { class: 'muted' }, ` strength ${st.strength}`) : '');
			})));
		} else items.push(h('p', { class: 'muted' }, 'The run’s plan is not known (no report.json plan and no stored config).'));
		const bal = rep && Array.isArray(rep.balance) ? rep.balance : [];
		if (bal.length) {
			const boxes = h('div', { class: 'balance-charts' });
			items.push(h('h3', null, 'Class balance: target against the selection'), boxes);
			bal.forEach((b, k) => {
				const ok = b && typeof b === 'object' && balanceClasses(b).length > 0 && balanceClasses(b).length <= 1000;
				if (!ok) { boxes.appendChild(errorBox(new Error(`report.json: balance[${k}] is not {entry, classes, target, candidate_share, selection_share}`))); return; }
				const entry = Number.isInteger(b.entry) ? b.entry : k;
				const canvas = h('canvas', { id: `balance-${entry}`, class: 'balance-chart', role: 'img', 'data-entry': entry,
					'aria-label': `BALANCE entry ${entry + 1}: target, candidates' and selection's shares per class` });
				boxes.appendChild(h('div', { class: 'chart-box' }, canvas));
				try {
					balanceCharts.push(balanceChart(canvas, b, { title: `Entry ${entry + 1}: BALANCE` }));
					canvas.dataset.classes = String(balanceClasses(b).length);
				} catch (e) { boxes.appendChild(errorBox(e)); }
			});
		}
		planBox.replaceChildren(...items);
		planBox.setAttribute('aria-busy', 'false');
	}
	if (reportArt) {
		getText(artUrl(reportArt)).then((t) => {
			const rep = JSON.parse(t);
			summaryBox.replaceChildren(facts(rep.counts || {}));
			if ((rep.warnings || []).length) summaryBox.appendChild(h('ul', { class: 'warnings' }, rep.warnings.map((w) => h('li', null, w))));
			return showPlan(rep);
		}).catch((e) => { summaryBox.replaceChildren(facts({}), errorBox(e)); return showPlan(null); })
			.catch((e) => { planBox.replaceChildren(errorBox(e)); planBox.setAttribute('aria-busy', 'false'); });
	} else {
		summaryBox.replaceChildren(facts({}));
		showPlan(null).catch((e) => { planBox.replaceChildren(errorBox(e)); planBox.setAttribute('aria-busy', 'false'); });
	}

	// --- the grid ---------------------------------------------------------------------
	const q = ctx.query;
	const state = {
		filter: ['1', '0', 'all'].includes(q.get('selected')) ? q.get('selected') : '1',
		sort: q.get('sort') || weightScore || 'fileName',
		order: q.get('order') === 'asc' ? 'asc' : (q.get('order') === 'desc' ? 'desc' : (q.get('sort') === 'fileName' || !weightScore ? 'asc' : 'desc')),
		limit: PAGE_SIZES.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : 24,
		page: Math.max(0, Number(q.get('page')) || 0),
	};
	const filterGroup = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Show' },
		[['1', 'Selected'], ['0', 'Not selected'], ['all', 'All']].map(([v, l]) => h('label', null,
			h('input', { type: 'radio', name: 'sel-filter', value: v, id: `filter-${v}`, checked: state.filter === v }), ' ', l)));
	const sortSel = h('select', { id: 'sort-by' }, h('option', { value: 'fileName' }, 'file name'),
		scoreTypes.map((s) => h('option', { value: s }, s)));
	sortSel.value = state.sort;
	const orderSel = h('select', { id: 'sort-order' }, h('option', { value: 'desc' }, 'descending'), h('option', { value: 'asc' }, 'ascending'));
	orderSel.value = state.order;
	const sizeSel = h('select', { id: 'page-size' }, PAGE_SIZES.map((n) => h('option', { value: n }, `${n} a page`)));
	sizeSel.value = String(state.limit);
	const prevBtn = h('button', { type: 'button', class: 'btn', id: 'page-prev' }, '← Previous');
	const nextBtn = h('button', { type: 'button', class: 'btn', id: 'page-next' }, 'Next →');
	const pageInfo = h('span', { id: 'page-info', role: 'status' }, '');
	const grid = h('div', { class: 'grid', id: 'sample-grid', 'aria-busy': 'true' });
	const gridErr = h('div');
	main.appendChild(section('Samples',
		h('div', { class: 'toolbar' },
			filterGroup,
			h('label', { class: 'inline' }, 'Sort by ', sortSel),
			h('label', { class: 'inline' }, 'Order ', orderSel),
			h('label', { class: 'inline' }, 'Show ', sizeSel)),
		gridErr, grid,
		h('div', { class: 'pager' }, prevBtn, pageInfo, nextBtn)));

	// selection.csv's columns (rank, weight, distance, score, one per plan entry): sort keys
	// "selection:<column>", offered once the first results answer names them
	let selCols = null;
	const csvErr = h('div', { id: 'selection-csv-error' });
	grid.before(csvErr);
	function offerSelectionColumns(cols) {
		if (selCols) return;
		selCols = cols;
		if (!cols.length) return;
		sortSel.appendChild(h('optgroup', { label: 'selection.csv (selected samples)' },
			cols.map((c) => h('option', { value: `selection:${c}` }, c))));
		sortSel.value = state.sort;
	}

	let loadSeq = 0;
	async function loadPage() {
		const my = ++loadSeq;
		const url = `/v1/winnow/runs/${enc(rid)}/results?sort=${enc(state.sort)}&order=${state.order}`
			+ `&offset=${state.page * state.limit}&limit=${state.limit}&selected=${state.filter}`;
		grid.setAttribute('aria-busy', 'true');
		let page;
		try { page = await get(url); } catch (e) {
			if (my === loadSeq) { gridErr.replaceChildren(errorBox(e)); grid.setAttribute('aria-busy', 'false'); }
			return;
		}
		if (my !== loadSeq || !ctx.alive) return;
		gridErr.replaceChildren();
		offerSelectionColumns(Array.isArray(page.selectionColumns) ? page.selectionColumns.map(String) : []);
		csvErr.replaceChildren(...(page.selectionError ? [h('p', { class: 'error-box', role: 'alert' }, `The run’s selection.csv could not be read: ${page.selectionError}`)] : []));
		const items = asList(page, 'items');
		const total = Number(page.total ?? items.length);
		const pages = Math.max(1, Math.ceil(total / state.limit));
		if (state.page >= pages && total > 0) { state.page = pages - 1; return loadPage(); }
		const shownScores = scoreTypes.length ? scoreTypes : Object.keys((items[0] && items[0].scores) || {});
		grid.replaceChildren(...(items.length ? items.map((it) => card(it, shownScores)) : [h('p', { class: 'muted empty' }, 'No samples match.')]));
		grid.setAttribute('aria-busy', 'false');
		grid.dataset.total = String(total);
		pageInfo.textContent = total ? `Page ${state.page + 1} of ${pages} · ${fmtInt(total)} samples` : '0 samples';
		prevBtn.disabled = state.page <= 0;
		nextBtn.disabled = state.page >= pages - 1;
		const qs = new URLSearchParams({ selected: state.filter, sort: state.sort, order: state.order, limit: state.limit, page: state.page });
		history.replaceState(null, '', `#/datasets/${enc(did)}/runs/${enc(sid)}/results?${qs}`);
	}

	function card(it, shownScores) {
		const img = h('img', { src: `/v1/winnow/datasets/${enc(did)}/samples/thumbnail?fileName=${enc(it.fileName)}`,
			alt: it.fileName, loading: 'lazy', decoding: 'async' });
		img.addEventListener('error', () => { img.classList.add('broken'); img.alt = `${it.fileName} (no thumbnail)`; });
		const scores = it.scores || {};
		return h('figure', { class: `sample${it.selected ? ' is-selected' : ''}`, 'data-file': it.fileName, 'data-index': it.index },
			h('div', { class: 'thumb' }, img, it.selected ? h('span', { class: 'sel-mark', title: 'selected' }, 'selected') : null),
			h('figcaption', null,
				h('span', { class: 'fname', title: it.fileName }, it.fileName),
				h('dl', { class: 'scores' }, shownScores.map((s) => [
					h('dt', { title: s, class: s === state.sort ? 'sorted' : null }, SHORT[s] || s),
					h('dd', { 'data-score': s, 'data-value': scores[s] ?? '', class: s === state.sort ? 'sorted' : null }, fmtScore(scores[s]))])),
				it.selection && typeof it.selection === 'object' ? h('dl', { class: 'scores objectives' }, Object.entries(it.selection).map(([c, v]) => {
					const on = `selection:${c}` === state.sort ? 'sorted' : null;
					return [h('dt', { title: c, class: on }, c), h('dd', { 'data-objective': c, 'data-value': v ?? '', class: on }, c === 'rank' ? fmtInt(v) : fmtScore(v))];
				})) : null));
	}

	filterGroup.addEventListener('change', (ev) => { state.filter = ev.target.value; state.page = 0; loadPage(); });
	sortSel.addEventListener('change', () => {
		state.sort = sortSel.value;
		state.order = state.sort === 'fileName' || state.sort === 'selection:rank' ? 'asc' : 'desc';
		orderSel.value = state.order;
		state.page = 0;
		loadPage();
	});
	orderSel.addEventListener('change', () => { state.order = orderSel.value; state.page = 0; loadPage(); });
	sizeSel.addEventListener('change', () => { state.limit = Number(sizeSel.value); state.page = 0; loadPage(); });
	prevBtn.addEventListener('click', () => { if (state.page > 0) { state.page--; loadPage(); } });
	nextBtn.addEventListener('click', () => { state.page++; loadPage(); });
	await loadPage();

	// --- histogram --------------------------------------------------------------------
	const histCanvas = h('canvas', { id: 'histogram', role: 'img', 'aria-label': 'Histogram of the weighting score, selected against not selected' });
	const histSel = h('select', { id: 'hist-score' }, scoreTypes.map((s) => h('option', { value: s }, s === weightScore ? `${s} (weighting)` : s)));
	if (weightScore) histSel.value = weightScore;
	const histMsg = h('div');
	main.appendChild(section('Score histogram',
		h('div', { class: 'toolbar' }, h('label', { class: 'inline' }, 'Score ', histSel)),
		histMsg, h('div', { class: 'chart-box' }, histCanvas)));
	let histChart = null;
	ctx.onLeave(() => histChart && histChart.destroy());
	// selected flags in the candidates tag's order (ascending bit order, as the score lists)
	let selMask = null;
	if (cand && sel) {
		const candIdx = bitIndices(cand.bitMaskData);
		const selSet = new Set(bitIndices(sel.bitMaskData));
		selMask = Uint8Array.from(candIdx, (i) => (selSet.has(i) ? 1 : 0));
	}
	async function drawHistogram() {
		const st = histSel.value;
		if (!st || !cand) { histMsg.replaceChildren(h('p', { class: 'muted' }, 'This run has no scores (no prediction task).')); histCanvas.hidden = true; return; }
		try {
			const r = await get(`/v1/winnow/datasets/${enc(did)}/tags/${enc(cand.id)}/scores/${enc(st)}`);
			if (!ctx.alive) return;
			const values = (r && r.scores) || [];
			if (histChart) histChart.destroy();
			histChart = histogram(histCanvas, values, selMask && selMask.length === values.length ? selMask : null, { label: st });
			histCanvas.dataset.points = String(values.length);
			histMsg.replaceChildren();
		} catch (e) { histMsg.replaceChildren(errorBox(e)); }
	}
	histSel.addEventListener('change', drawHistogram);
	await drawHistogram();

	// --- scatter ------------------------------------------------------------------------
	const scCanvas = h('canvas', { id: 'scatter', role: 'img', 'aria-label': '2-D embeddings, selected points marked' });
	const scMsg = h('div');
	main.appendChild(section('Embeddings (2-D)', scMsg, h('div', { class: 'chart-box chart-square' }, scCanvas)));
	let scChart = null;
	ctx.onLeave(() => scChart && scChart.destroy());
	const embArt = byType('EMBEDDINGS_2D')[0];
	if (!embArt) {
		scMsg.replaceChildren(h('p', { class: 'muted' }, 'The run uploaded no EMBEDDINGS_2D artifact.'));
		scCanvas.hidden = true;
	} else {
		try {
			const [csv, names] = await Promise.all([getText(artUrl(embArt)), getSelectedNames()]);
			if (ctx.alive) {
				const t = parseCsv(csv);
				const [fi, xi, yi] = ['filenames', 'x', 'y'].map((k) => t.header.indexOf(k));
				if (fi < 0 || xi < 0 || yi < 0) throw new Error(`${embArt.fileName}: expected the columns filenames,x,y`);
				const pts = t.rows.map((r) => ({ f: r[fi], x: Number(r[xi]), y: Number(r[yi]) })).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
				scChart = scatter(scCanvas, pts, new Set(names));
				scCanvas.dataset.points = String(pts.length);
			}
		} catch (e) { scMsg.replaceChildren(errorBox(e)); }
	}

	// --- corrupt, duplicate and excluded files -------------------------------------------
	const lists = { corrupt: [], duplicate: [], excluded: [] };
	const infoArts = byType('CORRUPTNESS_CHECK_INFORMATION');
	const infoErr = h('div');
	for (const a of infoArts) {
		try { addInfo(lists, a.fileName || '', await getText(artUrl(a))); } catch (e) { infoErr.appendChild(errorBox(e)); }
	}
	const none = infoArts.length ? 'None.' : 'The run uploaded no CORRUPTNESS_CHECK_INFORMATION artifact.';
	const listTable = (rows, id, head) => h('div', { id }, table(['File', head], rows.map((r) => h('tr', null,
		h('td', null, h('code', null, r.path)), h('td', null, r.reason))), { empty: none }));
	main.appendChild(section(`Corrupt files (${lists.corrupt.length})`, infoErr, listTable(lists.corrupt, 'corrupt-list', 'Reason')));
	main.appendChild(section(`Duplicates removed (${lists.duplicate.length})`, listTable(lists.duplicate, 'duplicate-list', 'Duplicate of')));
	if (lists.excluded.length) main.appendChild(section(`Excluded files (${lists.excluded.length})`, listTable(lists.excluded, 'excluded-list', 'Reason')));

	// --- other artifacts ----------------------------------------------------------------
	main.appendChild(section('Artifacts', table(['File', 'Type', ''], artifacts.map((a) => h('tr', null,
		h('td', null, h('code', null, a.fileName)), h('td', null, a.type),
		h('td', null, h('a', { href: artUrl(a), download: (a.fileName || 'artifact').split('/').pop() }, 'Download')))),
	{ empty: 'No artifacts.' })));

}

function countBits(tag) { return bitIndices(tag.bitMaskData).length; }

// The run's two tags: "<run>-candidates" (no prevTagId) and "<run>" (prevTagId = candidates).
export function runTags(tags, run) {
	let mine = tags.filter((t) => t.runId === run.id);
	if (!mine.length) {
		// tags without runId: the newest candidates/selection pair made since the run started
		const pairs = tags.filter((t) => /-candidates$/.test(t.name)).map((c) => ({ c, s: tags.find((t) => t.prevTagId === c.id && t.name === c.name.replace(/-candidates$/, '')) }))
			.filter((p) => p.s && (p.c.createdAt || 0) >= (run.createdAt || 0) - 1000)
			.sort((a, b) => (b.c.createdAt || 0) - (a.c.createdAt || 0));
		if (pairs.length) mine = [pairs[0].c, pairs[0].s];
	}
	const cand = mine.find((t) => /-candidates$/.test(t.name)) || mine.find((t) => !t.prevTagId) || null;
	const sel = mine.find((t) => t !== cand && (!cand || t.prevTagId === cand.id)) || mine.find((t) => t !== cand) || null;
	return { cand, sel };
}

export function parseCsv(text) {
	const lines = text.split(/\r?\n/).filter((l) => l.length);
	const header = (lines.shift() || '').split(',');
	return { header, rows: lines.map((l) => l.split(',')) };
}

// CORRUPTNESS_CHECK_INFORMATION: winnow's "path<TAB>reason" files (corrupt, duplicate and
// excluded lists, told apart by file name), or Lightly's JSON
// {"corrupt_samples": [...], "sample_messages": {path: reason}}.
export function addInfo(lists, fileName, text) {
	const t = text.trim();
	if (t.startsWith('{') || t.startsWith('[')) {
		const j = JSON.parse(t);
		const msgs = j.sample_messages || {};
		const take = (arr, kind) => {
			if (Array.isArray(arr)) for (const x of arr) {
				if (typeof x === 'string') lists[kind].push({ path: x, reason: msgs[x] || '' });
				else if (x && typeof x === 'object') lists[kind].push({ path: x.fileName || x.path || x.filename || '', reason: x.reason || x.message || x.duplicateOf || '' });
			} else if (arr && typeof arr === 'object') for (const [p, r] of Object.entries(arr)) lists[kind].push({ path: p, reason: String(r) });
		};
		for (const [k, v] of Object.entries(Array.isArray(j) ? { corrupt: j } : j)) {
			if (k === 'sample_messages') continue;
			if (/dup/i.test(k)) take(v, 'duplicate');
			else if (/exclu/i.test(k)) take(v, 'excluded');
			else if (/corrupt/i.test(k)) take(v, 'corrupt');
		}
		if (!j.corrupt_samples && j.sample_messages && !Object.keys(j).some((k) => /corrupt/i.test(k) && k !== 'sample_messages')) take(j.sample_messages, 'corrupt');
		return;
	}
	const base = fileName.split('/').pop();
	for (const line of text.split(/\r?\n/)) {
		if (!line.trim()) continue;
		const tab = line.indexOf('\t');
		const path = tab < 0 ? line : line.slice(0, tab);
		const reason = tab < 0 ? '' : line.slice(tab + 1);
		let kind = 'corrupt';
		if (/duplicate/i.test(base) || /^duplicate of /.test(reason)) kind = 'duplicate';
		else if (/exclu/i.test(base)) kind = 'excluded';
		lists[kind].push({ path, reason: kind === 'duplicate' ? reason.replace(/^duplicate of /, '') : reason });
	}
}
