// Results of a run: the samples as a thumbnail grid with their scores and, for the selected
// ones, selection.csv's columns (each plan entry's objective at its pick, SPEC 4.8), sorted and
// paged on the server; the plan with its stopping reason and each BALANCE entry's target
// against the selection's shares; the weighting score's histogram, the 2-D embeddings,
// corrupt and duplicate files, and the selected file names as a download.
import { get, post, getText, getOrNull, asList, enc } from '../api.js';
import { h, fmtInt, fmtScore, section, table, badge, errorBox, showBanner, setTitle, bitIndices, RUN_STAGES, RUN_FINAL } from '../ui.js';
import { histogram, scatterPlot, rampColor, RAMP_CSS, balanceChart, balanceClasses } from '../charts.js';
import { SCORES_BY_TYPE } from '../config.js';
import { exportMenu } from '../export.js';
import { sampleHref, fileHref } from '../samplelink.js';
import { videoTimeline } from '../timeline.js';

const SHORT = {
	uncertainty_least_confidence: 'least conf.', uncertainty_margin: 'margin', uncertainty_entropy: 'entropy',
	objectness_least_confidence: 'objectness', object_frequency: 'obj. freq.', mean_uncertainty: 'mean unc.',
};
const PAGE_SIZES = [24, 48, 96];
const SCORE_ORDER = [...SCORES_BY_TYPE['object-detection'], ...SCORES_BY_TYPE['keypoint-detection']];

export async function resultsPage(main, ctx) {
	const [did, sid] = ctx.params;
	const [ds, run0] = await Promise.all([get(`/v1/datasets/${enc(did)}`), getOrNull(`/v1/docker/runs/schedule/${enc(sid)}`)]);
	setTitle(`Results · ${ds.name}`);
	const runHref = `#/datasets/${enc(did)}/runs/${enc(sid)}`;
	// a scheduled run no worker has started yet: no run, nothing to show but its wait
	const run = run0 || { id: null, state: 'OPEN', configId: null, createdAt: 0 };
	const rid = run.id;
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
		h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: `#/datasets/${enc(did)}` }, ds.name), ' / ',
		h('a', { href: runHref }, 'Run'), ' / Results'));
	const dlBtn = h('button', { type: 'button', class: 'btn btn-primary', id: 'download-selected' }, 'Download selected file names');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Results'), h('div', { class: 'actions' }, badge(run.state), dlBtn)));
	main.querySelector('.page-head .actions').appendChild(exportMenu(did, rid));

	// --- a run still going: what it does, and the page again when it ends (item 9) ----------
	const live = !RUN_FINAL.has(run.state);
	if (live) {
		const liveBox = h('div', { class: 'banner banner-info run-status', id: 'run-live', role: 'status', 'aria-live': 'polite' });
		main.appendChild(liveBox);
		const showLive = (state, progress, schedState) => {
			const stage = (RUN_STAGES.find(([k]) => k === state) || [])[1];
			const pct = Math.round(Math.max(0, Math.min(1, Number(progress) || 0)) * 100);
			const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'aria-label': 'run progress' },
				h('div', { class: 'progress-fill' }), h('span', { class: 'progress-text' }, `${pct}%`));
			bar.firstChild.style.width = `${pct}%`;
			const what = rid ? `The run is going: ${stage || state}${stage ? ` (${state})` : ''}, ${pct}% done. `
				: `The run has not started: the scheduled run is ${schedState || 'OPEN'}, waiting for a worker. `;
			liveBox.dataset.state = state;
			liveBox.replaceChildren(badge(state), h('span', { id: 'run-live-text' }, what,
				'This page shows its results as far as the worker has reported them and reloads by itself when the run ends. '),
			rid ? bar : '', h('a', { href: runHref }, 'Follow the run'));
		};
		showLive(run.state, 0);
		ctx.poll(async () => {
			const r = await getOrNull(`/v1/docker/runs/schedule/${enc(sid)}`);
			if (!ctx.alive) return false;
			if (!r) {
				const list = asList(await get(`/v1/winnow/datasets/${enc(did)}/schedule`).catch(() => []), 'items', 'data');
				const sch = list.find((x) => x && x.id === sid);
				if (!ctx.alive) return false;
				showLive(sch && sch.state === 'CANCELED' ? 'CANCELED' : 'OPEN', 0, sch && sch.state);
				return !(sch && sch.state === 'CANCELED');
			}
			if (!rid) { reloadPage(); return false; }	// a worker took it: the page with its run
			const w = await get(`/v1/winnow/runs/${enc(rid)}`);
			if (!ctx.alive) return false;
			if (RUN_FINAL.has(w.state)) { reloadPage(); return false; }
			showLive(w.state, w.progress);
			return true;
		}, 1500);
	}
	const summaryBox = h('div', { id: 'results-summary' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Summary', summaryBox));
	const planBox = h('div', { id: 'results-plan', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Selection plan', planBox));

	// --- what the run left: config, tags, score types, artifacts ------------------------
	const cfg = run.configId ? await getOrNull(`/v1/docker/worker/config/${enc(run.configId)}`).catch(() => null) : null;
	const docker = (cfg && cfg.config && cfg.config.docker) || {};
	const al = docker.active_learning || {};
	const tags = asList(await get(`/v1/datasets/${enc(did)}/tags`), 'tags');
	const { cand, sel } = rid ? runTags(tags, run) : { cand: null, sel: null };
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
	if (rid) {
		try {
			artifacts = asList(await get(`/v1/winnow/runs/${enc(rid)}`), 'artifacts');
		} catch (e) {
			if (Array.isArray(run.artifacts)) artifacts = run.artifacts; else showBanner(e);
		}
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
	const num = (v) => (v !== null && v !== '' && Number.isFinite(Number(v)) ? v : '');
	const state = {
		filter: ['1', '0', 'all'].includes(q.get('selected')) ? q.get('selected') : '1',
		sort: q.get('sort') || weightScore || 'fileName',
		order: q.get('order') === 'asc' ? 'asc' : (q.get('order') === 'desc' ? 'desc' : (q.get('sort') === 'fileName' || !weightScore ? 'asc' : 'desc')),
		limit: PAGE_SIZES.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : 24,
		page: Math.max(0, Number(q.get('page')) || 0),
		// filters: predictions=none|some (the run's NO_PREDICTIONS file), a histogram bin
		// score=TYPE&min=&max= (min <= value < max, either bound left out)
		pred: ['none', 'some'].includes(q.get('predictions')) ? q.get('predictions') : 'all',
		score: q.get('score') && scoreTypes.includes(q.get('score')) ? q.get('score') : '',
		min: num(q.get('min')), max: num(q.get('max')),
	};
	// the query of GET .../results the grid shows (and the sample view's prev/next follow)
	const resultsQuery = () => {
		const o = { sort: state.sort, order: state.order, selected: state.filter };
		if (state.pred !== 'all') o.predictions = state.pred;
		if (state.score) { o.score = state.score; if (state.min !== '') o.min = state.min; if (state.max !== '') o.max = state.max; }
		return o;
	};
	const filterGroup = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Show' },
		[['1', 'Selected'], ['0', 'Not selected'], ['all', 'All']].map(([v, l]) => h('label', null,
			h('input', { type: 'radio', name: 'sel-filter', value: v, id: `filter-${v}`, checked: state.filter === v }), ' ', l)));
	const predSel = h('select', { id: 'pred-filter' }, h('option', { value: 'all' }, 'all'),
		h('option', { value: 'some' }, 'with predictions'), h('option', { value: 'none' }, 'without predictions'));
	predSel.value = state.pred;
	const predLabel = h('label', { class: 'inline', hidden: true }, 'Predictions ', predSel);
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
	const chipBox = h('div', { id: 'grid-filters' });
	const samplesSection = section('Samples',
		h('div', { class: 'toolbar' },
			filterGroup, predLabel,
			h('label', { class: 'inline' }, 'Sort by ', sortSel),
			h('label', { class: 'inline' }, 'Order ', orderSel),
			h('label', { class: 'inline' }, 'Show ', sizeSel)),
		chipBox, gridErr, grid,
		h('div', { class: 'pager' }, prevBtn, pageInfo, nextBtn));
	main.appendChild(samplesSection);
	function showChip() {
		if (!state.score) { chipBox.replaceChildren(); return; }
		const lo = state.min === '' ? '−∞' : fmtScore(state.min), hi = state.max === '' ? '∞' : fmtScore(state.max);
		const clearBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'clear-filter' }, 'Clear filter ×');
		clearBtn.addEventListener('click', () => {
			state.score = ''; state.min = state.max = ''; state.page = 0;
			// the predictions filter the bin set goes with it
			if (binSetPred) { state.pred = 'all'; predSel.value = 'all'; binSetPred = false; }
			markBin(-1);
			loadPage();
		});
		chipBox.replaceChildren(h('p', null, h('span', { class: 'filter-chip', id: 'score-filter', 'data-score': state.score, 'data-min': state.min, 'data-max': state.max },
			`${state.score} in [${lo}, ${hi})`, clearBtn)));
	}

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
		offerColorColumns(cols);
	}

	let loadSeq = 0, firstPage = null;
	async function loadPage() {
		const my = ++loadSeq;
		showChip();
		if (!rid) {
			grid.replaceChildren(h('p', { class: 'muted empty' }, 'No worker has started this run yet: its samples appear here once it has scored them.'));
			grid.setAttribute('aria-busy', 'false');
			grid.dataset.total = '0';
			return;
		}
		const rq = resultsQuery();
		const url = `/v1/winnow/runs/${enc(rid)}/results?${new URLSearchParams({ ...rq, offset: state.page * state.limit, limit: state.limit })}`;
		grid.setAttribute('aria-busy', 'true');
		let page;
		try { page = await get(url); } catch (e) {
			if (my === loadSeq) { gridErr.replaceChildren(errorBox(e)); grid.setAttribute('aria-busy', 'false'); }
			return;
		}
		if (my !== loadSeq || !ctx.alive) return;
		if (!firstPage) firstPage = page;
		gridErr.replaceChildren();
		offerSelectionColumns(Array.isArray(page.selectionColumns) ? page.selectionColumns.map(String) : []);
		csvErr.replaceChildren(...(page.selectionError ? [h('p', { class: 'error-box', role: 'alert' }, `The run’s selection.csv could not be read: ${page.selectionError}`)] : []));
		if (page.predictionsKnown) {
			predLabel.hidden = false;
			predSel.options[2].textContent = `without predictions (${fmtInt(page.noPredictionsCount)})`;
		}
		const items = asList(page, 'items');
		const total = Number(page.total ?? items.length);
		const pages = Math.max(1, Math.ceil(total / state.limit));
		if (state.page >= pages && total > 0) { state.page = pages - 1; return loadPage(); }
		const shownScores = scoreTypes.length ? scoreTypes : Object.keys((items[0] && items[0].scores) || {});
		const off = state.page * state.limit;
		const empty = live ? `The run is still going: no sample ${rid && page.candidates ? 'matches yet' : 'has been scored yet'}. The grid fills when the run ends.`
			: (state.score || state.pred !== 'all' ? 'No samples match these filters.' : 'No samples match.');
		grid.replaceChildren(...(items.length ? items.map((it, i) => card(it, shownScores, off + i, rq)) : [h('p', { class: 'muted empty' }, empty)]));
		grid.setAttribute('aria-busy', 'false');
		grid.dataset.total = String(total);
		pageInfo.textContent = total ? `Page ${state.page + 1} of ${pages} · ${fmtInt(total)} samples` : '0 samples';
		prevBtn.disabled = state.page <= 0;
		nextBtn.disabled = state.page >= pages - 1;
		const qs = new URLSearchParams({ ...rq, limit: state.limit, page: state.page });
		history.replaceState(null, '', `#/datasets/${enc(did)}/runs/${enc(sid)}/results?${qs}`);
	}

	const thumbUrl = (name) => `/v1/winnow/datasets/${enc(did)}/samples/thumbnail?fileName=${enc(name)}`;
	function card(it, shownScores, at, rq) {
		const href = sampleHref(did, sid, at, { ...rq, name: it.fileName });
		const img = h('img', { src: thumbUrl(it.fileName), alt: it.fileName, loading: 'lazy', decoding: 'async' });
		img.addEventListener('error', () => { img.classList.add('broken'); img.alt = `${it.fileName} (no thumbnail)`; });
		const scores = it.scores || {};
		const nopred = it.predictions === false;
		return h('figure', { class: `sample${it.selected ? ' is-selected' : ''}`, 'data-file': it.fileName, 'data-index': it.index, 'data-at': at,
			'data-predictions': it.predictions === undefined ? null : String(it.predictions) },
		h('a', { class: 'thumb-link', href, 'aria-label': `Open ${it.fileName}` },
			h('div', { class: 'thumb' }, img, it.selected ? h('span', { class: 'sel-mark', title: 'selected' }, 'selected') : null)),
		h('figcaption', null,
			h('a', { class: 'fname', title: it.fileName, href, tabindex: '-1' }, it.fileName),
			nopred ? h('span', { class: 'no-preds', title: 'The worker found no prediction for this sample: its uncertainty scores say nothing.' }, 'no predictions')
				: h('dl', { class: 'scores' }, shownScores.map((s) => [
					h('dt', { title: s, class: s === state.sort ? 'sorted' : null }, SHORT[s] || s),
					h('dd', { 'data-score': s, 'data-value': scores[s] ?? '', class: s === state.sort ? 'sorted' : null }, fmtScore(scores[s]))])),
			it.selection && typeof it.selection === 'object' ? h('dl', { class: 'scores objectives' }, Object.entries(it.selection).map(([c, v]) => {
				const on = `selection:${c}` === state.sort ? 'sorted' : null;
				return [h('dt', { title: c, class: on }, c), h('dd', { 'data-objective': c, 'data-value': v ?? '', class: on }, c === 'rank' ? fmtInt(v) : fmtScore(v))];
			})) : null));
	}

	filterGroup.addEventListener('change', (ev) => { state.filter = ev.target.value; state.page = 0; loadPage(); });
	predSel.addEventListener('change', () => { state.pred = predSel.value; state.page = 0; loadPage(); });
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
	let offerColorColumns = () => {};
	let markBin = () => {};
	let binSetPred = false;	// a bin click set predictions=some: "clear filter" undoes it
	await loadPage();

	// candidates without predictions, by rank (the score lists' order): left out of the bins
	let skip = null, nSkip = 0;
	if (rid && firstPage && firstPage.predictionsKnown && firstPage.noPredictionsCount > 0 && cand) {
		try {
			const r = await get(`/v1/winnow/runs/${enc(rid)}/results?limit=1&selected=all&noPredictionRanks=1`);
			skip = new Uint8Array(Number(r.candidates) || 0);
			for (const k of asList(r, 'noPredictionRanks')) if (k >= 0 && k < skip.length) { skip[k] = 1; nSkip++; }
		} catch (e) { showBanner(e); }
	}

	// --- histogram --------------------------------------------------------------------
	const histCanvas = h('canvas', { id: 'histogram', role: 'img', 'aria-label': 'Histogram of the weighting score, selected against not selected' });
	const histSel = h('select', { id: 'hist-score' }, scoreTypes.map((s) => h('option', { value: s }, s === weightScore ? `${s} (weighting)` : s)));
	if (weightScore) histSel.value = weightScore;
	const histMsg = h('div');
	const histNote = h('p', { class: 'hist-note muted', id: 'hist-nopred' });
	const binsBox = h('div', { class: 'hist-bins', id: 'hist-bins', role: 'group', 'aria-label': 'Bins: show a bin’s samples in the grid' });
	const histBox = h('div', { class: 'chart-box' }, histCanvas);
	main.appendChild(section('Score histogram',
		h('div', { class: 'toolbar', hidden: !scoreTypes.length }, h('label', { class: 'inline' }, 'Score ', histSel)),
		histMsg, histNote, histBox, binsBox));
	let histChart = null;
	ctx.onLeave(() => histChart && histChart.destroy());
	// selected flags in the candidates tag's order (ascending bit order, as the score lists)
	let selMask = null;
	if (cand && sel) {
		const candIdx = bitIndices(cand.bitMaskData);
		const selSet = new Set(bitIndices(sel.bitMaskData));
		selMask = Uint8Array.from(candIdx, (i) => (selSet.has(i) ? 1 : 0));
	}
	const scoreCache = new Map();
	async function scoresOf(st) {
		if (!scoreCache.has(st)) scoreCache.set(st, get(`/v1/winnow/datasets/${enc(did)}/tags/${enc(cand.id)}/scores/${enc(st)}`).then((r) => (r && r.scores) || []));
		return scoreCache.get(st);
	}
	markBin = (b) => { for (const x of binsBox.children) x.setAttribute('aria-pressed', String(Number(x.dataset.bin) === b)); };
	function applyBin(st, edges, b) {
		state.score = st;
		state.min = String(edges[b]);
		state.max = b === edges.length - 2 ? '' : String(edges[b + 1]);
		state.filter = 'all';
		filterGroup.querySelector('#filter-all').checked = true;
		if (skip && state.pred !== 'some') { state.pred = 'some'; predSel.value = 'some'; binSetPred = true; }
		state.page = 0;
		markBin(b);
		loadPage();
		samplesSection.scrollIntoView({ block: 'start' });
	}
	async function drawHistogram() {
		const st = histSel.value;
		if (!st || !cand) {
			histMsg.replaceChildren(h('p', { class: 'muted', id: 'hist-empty' }, live
				? 'The run is still going: the scores are drawn here once it has computed them.'
				: 'This run has no scores (no prediction task).'));
			histBox.hidden = true;
			return;
		}
		try {
			const values = await scoresOf(st);
			if (!ctx.alive) return;
			if (histChart) histChart.destroy();
			const sk = skip && skip.length === values.length ? skip : null;
			histChart = histogram(histCanvas, values, selMask && selMask.length === values.length ? selMask : null,
				{ label: st, skip: sk, onBin: (b) => applyBin(st, histChart.$bins.edges, b) });
			histCanvas.dataset.points = String(values.length - (sk ? nSkip : 0));
			histNote.textContent = sk ? `${fmtInt(nSkip)} samples without predictions are left out of the bins (their scores say nothing).` : '';
			histNote.dataset.count = String(sk ? nSkip : 0);
			const { edges, counts } = histChart.$bins;
			binsBox.replaceChildren(...counts.map((n, b) => h('button', { type: 'button', 'data-bin': b, 'data-count': n,
				'aria-pressed': String(state.score === st && state.min === String(edges[b])), disabled: n === 0,
				title: `${st} in [${edges[b]}, ${edges[b + 1]}${b === counts.length - 1 ? ']' : ')'}: show these ${n} samples` },
			`${edges[b].toFixed(2)}–${edges[b + 1].toFixed(2)}: ${n}`)));
			for (const btn of binsBox.children) btn.addEventListener('click', () => applyBin(st, edges, Number(btn.dataset.bin)));
			histMsg.replaceChildren();
		} catch (e) { histMsg.replaceChildren(errorBox(e)); }
	}
	histSel.addEventListener('change', drawHistogram);
	await drawHistogram();

	// --- scatter ------------------------------------------------------------------------
	const scCanvas = h('canvas', { id: 'scatter', tabindex: '0', role: 'img',
		'aria-label': '2-D embeddings: point at a sample to see it, click to open it; arrow keys move between points, Enter opens' });
	const scBox = h('div', { class: 'scatter-box' }, scCanvas);
	const tip = h('a', { class: 'scatter-tip', id: 'scatter-tip', hidden: true });
	const scMsg = h('div');
	const colorSel = h('select', { id: 'color-by' }, h('option', { value: '' }, 'selected / not selected'),
		h('optgroup', { label: 'score', id: 'color-scores' }, scoreTypes.map((s) => h('option', { value: `score:${s}` }, s))));
	const lassoBtn = h('button', { type: 'button', class: 'btn', id: 'lasso-toggle', 'aria-pressed': 'false' }, 'Lasso');
	const legend = h('div', { class: 'legend', id: 'scatter-legend' });
	const lassoBox = h('div', { id: 'lasso-box' });
	main.appendChild(section('Embeddings (2-D)', scMsg,
		h('div', { class: 'toolbar' }, h('label', { class: 'inline' }, 'Colour by ', colorSel), lassoBtn,
			h('span', { class: 'muted' }, 'Lasso (or shift + drag): draw around points to make a tag of them.')),
		legend, lassoBox, h('div', { class: 'scatter-wrap' }, scBox, tip)));
	let plot = null;
	ctx.onLeave(() => plot && plot.destroy());
	offerColorColumns = (cols) => {
		const objs = cols.filter((c) => c !== 'rank');
		if (objs.length) colorSel.appendChild(h('optgroup', { label: 'plan objective (selected samples)' }, objs.map((c) => h('option', { value: `selection:${c}` }, c))));
	};
	if (selCols) offerColorColumns(selCols);
	const embArt = byType('EMBEDDINGS_2D')[0];
	if (!embArt) {
		scMsg.replaceChildren(h('p', { class: 'muted' }, live ? 'The run is still going: the 2-D embeddings are drawn here when it has uploaded them.'
			: 'The run uploaded no EMBEDDINGS_2D artifact.'));
		scBox.hidden = true;
		colorSel.disabled = lassoBtn.disabled = true;
	} else {
		try {
			const [csv, names, candNames] = await Promise.all([getText(artUrl(embArt)), getSelectedNames(),
				cand ? getText(`/v1/datasets/${enc(did)}/tags/${enc(cand.id)}/export/basic/filenames`) : Promise.resolve('')]);
			if (ctx.alive) {
				const t = parseCsv(csv);
				const [fi, xi, yi] = ['filenames', 'x', 'y'].map((k) => t.header.indexOf(k));
				if (fi < 0 || xi < 0 || yi < 0) throw new Error(`${embArt.fileName}: expected the columns filenames,x,y`);
				const pts = t.rows.map((r) => ({ f: r[fi], x: Number(r[xi]), y: Number(r[yi]) })).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
				const selSet = new Set(names);
				const selected = Uint8Array.from(pts, (p) => (selSet.has(p.f) ? 1 : 0));
				// each point's rank among the candidates: its position in the grid by index
				const rankOf = new Map(candNames.split('\n').filter(Boolean).map((n, k) => [n, k]));
				const hrefOf = (i) => {
					const r = rankOf.get(pts[i].f);
					return r === undefined ? fileHref(did, pts[i].f) : sampleHref(did, sid, r, { sort: 'index', order: 'asc', selected: 'all', name: pts[i].f });
				};
				const thumbs = new Map();
				const thumb = (f) => {
					let im = thumbs.get(f);
					if (!im) { im = new Image(); im.decoding = 'async'; im.alt = f; im.src = thumbUrl(f); thumbs.set(f, im); }
					return im;
				};
				ctx.onLeave(() => thumbs.clear());
				let tipFor = -1;
				const showTip = (i, px, py) => {
					if (i < 0) { tip.hidden = true; tipFor = -1; delete tip.dataset.file; return; }
					if (i !== tipFor) {
						tipFor = i;
						const f = pts[i].f;
						tip.href = hrefOf(i);
						tip.dataset.file = f;
						tip.replaceChildren(thumb(f), h('span', null, f), h('span', { class: 'muted' }, selected[i] ? 'selected' : 'not selected'));
						// the neighbours' thumbnails too: the next hover answers from the cache
						for (const j of plot.near(px, py, 12, 40)) thumb(pts[j].f);
					}
					const bw = scBox.clientWidth, left = scBox.offsetLeft;
					tip.style.left = `${left + (px + 14 + 150 > bw ? px - 14 - 150 : px + 14)}px`;
					tip.style.top = `${Math.max(0, py - 60)}px`;
					tip.hidden = false;
				};
				const open = (i, ev) => {
					const href = hrefOf(i);
					if (ev && (ev.button === 1 || ev.ctrlKey || ev.metaKey)) window.open(href, '_blank', 'noopener');
					else location.hash = href;
				};
				plot = scatterPlot(scCanvas, pts, selected, {
					onHover: showTip,
					onClick: open,
					onLasso: (idx) => lassoForm(idx.map((i) => pts[i].f)),
				});
				scCanvas.dataset.points = String(pts.length);
				scCanvas.dataset.selected = String(selected.reduce((a, b) => a + b, 0));
				// keyboard: the arrows walk to the nearest point that way, Enter opens it
				let cur = -1;
				scCanvas.addEventListener('keydown', (ev) => {
					const dir = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
					if (ev.key === 'Enter' && cur >= 0) { ev.preventDefault(); open(cur, ev); return; }
					if (ev.key === 'Escape') { cur = -1; showTip(-1); return; }
					if (!dir || !pts.length) return;
					ev.preventDefault();
					if (cur < 0) cur = selected.indexOf(1) >= 0 ? selected.indexOf(1) : 0;
					else {
						const [x0, y0] = plot.at(cur);
						let best = -1, bd = Infinity;
						for (let i = 0; i < pts.length; i++) {
							const [x, y] = plot.at(i), dx = x - x0, dy = y - y0;
							const along = dx * dir[0] + dy * dir[1], across = Math.abs(dx * dir[1] - dy * dir[0]);
							if (along <= 0.5) continue;
							const d = along + 2 * across;
							if (d < bd) { bd = d; best = i; }
						}
						if (best >= 0) cur = best;
					}
					const [x, y] = plot.at(cur);
					showTip(cur, x, y);
				});
				scCanvas.addEventListener('blur', () => { if (cur >= 0 && !tip.matches(':focus')) { /* keep the tip while it has focus */ } });
				lassoBtn.addEventListener('click', () => {
					const on = lassoBtn.getAttribute('aria-pressed') !== 'true';
					lassoBtn.setAttribute('aria-pressed', String(on));
					scBox.classList.toggle('lasso-on', on);
					plot.setLasso(on);
				});
				// colour by a score or a plan objective: a ramp from its smallest to its largest value
				const showLegend = (label, lo, hi, nNone) => {
					if (label === null) {
						const k = selected.reduce((a, b) => a + b, 0);
						legend.replaceChildren(h('span', null, h('span', { class: 'sw sw-sel' }), `selected (${fmtInt(k)})`),
							h('span', null, h('span', { class: 'sw sw-rest' }), `not selected (${fmtInt(pts.length - k)})`));
						legend.children[0].firstChild.style.background = 'rgba(234, 108, 0, 0.9)';
						legend.children[1].firstChild.style.background = 'rgba(90, 110, 140, 0.6)';
						legend.dataset.by = '';
						return;
					}
					const ramp = h('span', { class: 'ramp' });
					ramp.style.background = RAMP_CSS;
					const none = h('span', null, h('span', { class: 'sw' }), `no value (${fmtInt(nNone)})`);
					none.firstChild.style.background = 'rgba(150,150,150,0.5)';
					legend.replaceChildren(h('span', null, h('strong', null, label), ': ', fmtScore(lo), ramp, fmtScore(hi)), nNone ? none : '');
					legend.dataset.by = label;
				};
				showLegend(null);
				let selRows = null;
				colorSel.addEventListener('change', async () => {
					const v = colorSel.value;
					try {
						if (!v) { plot.setColors(null); showLegend(null); return; }
						let valOf;
						if (v.startsWith('score:')) {
							const vals = await scoresOf(v.slice(6));
							valOf = (f) => { const r = rankOf.get(f); return r === undefined || (skip && skip[r]) ? null : vals[r]; };
						} else {
							const col = v.slice(10);
							if (!selRows) {
								const a = byType('SELECTION_CSV')[0];
								selRows = a ? parseCsv(await getText(artUrl(a))) : { header: [], rows: [] };
							}
							const ci = selRows.header.indexOf(col), fi2 = selRows.header.indexOf('filenames');
							const m = new Map(selRows.rows.map((r) => [r[fi2], Number(r[ci])]));
							valOf = (f) => { const x = m.get(f); return x === undefined || !Number.isFinite(x) ? null : x; };
						}
						const vals = pts.map((p) => valOf(p.f));
						let lo = Infinity, hi = -Infinity, nNone = 0;
						for (const x of vals) { if (x === null || !Number.isFinite(Number(x))) { nNone++; continue; } if (x < lo) lo = x; if (x > hi) hi = x; }
						const span = hi - lo || 1;
						plot.setColors(vals.map((x) => (x === null || !Number.isFinite(Number(x)) ? 'rgba(150,150,150,0.5)' : rampColor((x - lo) / span))));
						showLegend(v.replace(/^(score|selection):/, ''), lo, hi, nNone);
					} catch (e) { showBanner(e); }
				});
				// the lassoed files as a new tag (POST /v1/winnow/datasets/{id}/tags)
				const lassoForm = (files) => {
					if (!files.length) { lassoBox.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'No point inside the lasso.')); return; }
					const d = new Date();
					const pad = (x) => String(x).padStart(2, '0');
					const name = h('input', { id: 'lasso-name', 'aria-label': 'Tag name', value: `lasso-${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}` });
					const make = h('button', { type: 'button', class: 'btn btn-primary', id: 'lasso-make' }, `Make a tag of these ${fmtInt(files.length)} samples`);
					const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: 'lasso-cancel' }, 'Cancel');
					const msg = h('span', { id: 'lasso-msg', role: 'status' });
					lassoBox.replaceChildren(h('div', { class: 'lasso-form', 'data-count': files.length }, h('strong', null, `${fmtInt(files.length)} lassoed`), name, make, cancel, msg));
					cancel.addEventListener('click', () => lassoBox.replaceChildren());
					make.addEventListener('click', async () => {
						make.disabled = true;
						try {
							const r = await post(`/v1/winnow/datasets/${enc(did)}/tags`, { name: name.value.trim(), prevTagId: cand ? cand.id : null, fileNames: files });
							lassoBox.replaceChildren(h('p', { class: 'banner banner-info', role: 'status', id: 'lasso-done', 'data-tag-id': r.id },
								`Tag `, h('code', null, name.value.trim()), ` made with ${fmtInt(files.length)} samples.`));
						} catch (e) { msg.replaceChildren(errorBox(e)); make.disabled = false; }
					});
					name.focus();
				};
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
	const none = infoArts.length ? 'None.' : (live ? 'The run is still going: its lists come when it ends.' : 'The run uploaded no CORRUPTNESS_CHECK_INFORMATION artifact.');
	// "duplicate of X (bytes)" / "(embedding)": said in words, X a link
	const reasonOf = (kind, r, list) => {
		if (kind !== 'duplicate') return r.reason || '—';
		const m = /^(.*) \((bytes|embedding)\)$/.exec(r.reason);
		const other = m ? m[1] : r.reason;
		const how = m ? (m[2] === 'bytes' ? 'same bytes as ' : 'same embedding as ') : 'duplicate of ';
		return [how, h("a", { href: fileHref(did, other) }, other)];
	};
	const fileList = (rows, id, kind) => {
		if (!rows.length) return h('div', { id }, h('p', { class: 'muted' }, none));
		return h('ul', { class: 'file-list', id }, rows.map((r, i) => {
			const href = fileHref(did, r.path, kind === 'excluded' ? null : { list: kind, at: i });
			const mini = h('a', { class: 'mini', href, tabindex: '-1', 'aria-hidden': 'true' });
			const img = h('img', { src: thumbUrl(r.path), alt: '', loading: 'lazy' });
			img.addEventListener('error', () => mini.replaceChildren(kind === 'corrupt' ? 'cannot be read' : 'no image'));
			mini.appendChild(img);
			return h('li', { 'data-path': r.path, 'data-reason': r.reason },
				mini, h('div', { class: 'what' }, h('a', { class: 'fpath', href }, r.path), h('span', { class: 'reason' }, reasonOf(kind, r, kind))));
		}));
	};
	if (rid) main.appendChild(videoTimeline(did, rid, lists.corrupt.map((r) => r.path)));	// videos' frames (timeline.js)
	main.appendChild(section(`Corrupt files (${lists.corrupt.length})`, infoErr, fileList(lists.corrupt, 'corrupt-list', 'corrupt')));
	main.appendChild(section(`Duplicates removed (${lists.duplicate.length})`, fileList(lists.duplicate, 'duplicate-list', 'duplicate')));
	if (lists.excluded.length) main.appendChild(section(`Excluded files (${lists.excluded.length})`, fileList(lists.excluded, 'excluded-list', 'excluded')));

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

// The page again, from the router (the run ended, or a worker took it).
function reloadPage() { window.dispatchEvent(new HashChangeEvent('hashchange')); }
