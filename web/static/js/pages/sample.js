// The sample view (docs/web.md "Sample view"): one image in full, scaled to fit (small images
// scaled up to at least 400 px wide, or the stage's width when narrower), zoomable (buttons,
// + / - / 0 keys, the wheel) and pannable (drag, or the scroll bars) when zoomed; its
// predictions drawn as an SVG layer in the image's pixel coordinates (viewBox = natural size):
// boxes with class and score, segmentation masks (Lightly's row-major RLE decoded onto a
// canvas shown as an SVG image) and keypoints; every score and plan objective of the sample,
// its selected state, its metadata and file name; previous/next by the results grid's order
// (buttons, ArrowLeft/ArrowRight), Escape back to the results page at the grid page holding it.
//
// Two URL forms (CONTEXT16's contract, web/static/js/samplelink.js):
//   #/datasets/{did}/runs/{sid}/sample?at=N&<the results page's query>
//   #/datasets/{did}/sample?name=FILE[&list=browse|corrupt|duplicate&at=N&run=RUNID]
// The run form asks GET /v1/winnow/runs/{runId}/results with the page's query and
// offset = at-1, limit = 3: the sample and its neighbours in the grid's order.
import { get, getText, asList, enc, ApiError } from '../api.js';
import { h, clear, fmtScore, fmtInt, section, setTitle, errorBox } from '../ui.js';
import { sampleHref, fileHref } from '../samplelink.js';
import { frameInfo } from '../framebox.js';

const SVGNS = 'http://www.w3.org/2000/svg';
const MIN_WIDTH = 400;
const ZOOM_STEP = 1.25, ZOOM_MAX = 16;
// Colours by category index (a mask's pixels drawn at ~45% opacity).
const COLOURS = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
	[70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190], [0, 128, 128]];
const colour = (i, a = 1) => { const c = COLOURS[((i % COLOURS.length) + COLOURS.length) % COLOURS.length]; return `rgba(${c[0]},${c[1]},${c[2]},${a})`; };

const runCache = new Map();	// `${did}/${sid}` -> { ds, run, rid, task }
const chosenTask = new Map();	// datasetId -> the task picked in the selector
let focusAfter = null;		// 'prev' | 'next': the button to focus once the next sample shows

// Replies fetched ahead for the next sample (results page, predictions, metadata): url ->
// { at, promise }, used once and only within PREFETCH_MS, so a step forward waits for nothing.
const PREFETCH_MS = 10000;
const ahead = new Map();
function fetchAhead(url) {
	for (const [u, a] of ahead) if (Date.now() - a.at >= PREFETCH_MS) ahead.delete(u);
	if (!ahead.has(url)) {
		const promise = get(url);
		promise.catch(() => {});	// a failure shows when the page asks for it
		ahead.set(url, { at: Date.now(), promise });
	}
}
function getFresh(url) {
	const a = ahead.get(url);
	ahead.delete(url);
	return a && Date.now() - a.at < PREFETCH_MS ? a.promise : get(url);
}

function svg(tag, attrs) {
	const el = document.createElementNS(SVGNS, tag);
	for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
	return el;
}

async function runInfo(did, sid) {
	const key = `${did}/${sid}`;
	if (runCache.has(key)) return runCache.get(key);
	const [ds, run] = await Promise.all([get(`/v1/datasets/${enc(did)}`), get(`/v1/docker/runs/schedule/${enc(sid)}`)]);
	let task = null;
	try {
		const cfg = await get(`/v1/docker/worker/config/${enc(run.configId)}`);
		const al = cfg && cfg.config && cfg.config.docker && cfg.config.docker.active_learning;
		task = (al && al.task_name) || null;
	} catch { /* the config is gone: no default task */ }
	const info = { ds, run, rid: run.id, task };
	// a finished run's facts do not change; a running one's are asked again next time
	if (['COMPLETED', 'FAILED', 'ABORTED', 'CRASHED'].includes(run.state)) runCache.set(key, info);
	return info;
}

// The run form: #/datasets/{did}/runs/{sid}/sample?at=N&...
export async function samplePage(main, ctx) {
	const [did, sid] = ctx.params;
	const q = ctx.query;
	const at = Math.max(0, parseInt(q.get('at') || '0', 10) || 0);
	const info = await runInfo(did, sid);
	if (!ctx.alive) return;
	const resultsUrl = (n) => {
		const rq = new URLSearchParams(q);
		for (const k of ['at', 'name', 'page', 'offset', 'limit', 'task']) rq.delete(k);
		rq.set('offset', String(Math.max(0, n - 1)));
		rq.set('limit', '3');
		return `/v1/winnow/runs/${enc(info.rid)}/results?${rq}`;
	};
	const res = await getFresh(resultsUrl(at));
	if (!ctx.alive) return;
	const items = asList(res, 'items');
	const ci = at > 0 ? 1 : 0;
	const cur = items[ci];
	const gridLimit = Number(q.get('limit')) || 24;
	const bq = new URLSearchParams(q);
	bq.delete('at');
	bq.delete('name');
	bq.set('page', String(Math.floor(at / gridLimit)));
	const backHref = `#/datasets/${enc(did)}/runs/${enc(sid)}/results?${bq}`;
	const crumbs = [h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: `#/datasets/${enc(did)}` }, info.ds.name), ' / ',
		h('a', { href: `#/datasets/${enc(did)}/runs/${enc(sid)}` }, 'Run'), ' / ', h('a', { href: backHref }, 'Results'), ' / Sample'];
	if (!cur) {
		setTitle('Sample');
		main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, crumbs));
		main.appendChild(h('div', { class: 'card' }, h('h1', null, 'No such sample'),
			h('p', null, `There is no sample at position ${fmtInt(at + 1)}: the list has ${fmtInt(res.total ?? 0)}.`),
			h('p', null, h('a', { href: backHref, id: 'sample-back' }, 'Back to the results'))));
		return;
	}
	const base = new URLSearchParams(q);
	base.delete('name');
	const href = (k) => { const b = new URLSearchParams(base); b.set('name', items[k].fileName); return sampleHref(did, sid, at + (k - ci), b); };
	render(main, ctx, {
		did, name: cur.fileName, item: cur, crumbs, backHref, backLabel: 'Back to results',
		position: `${fmtInt(at + 1)} of ${fmtInt(res.total ?? 0)}`,
		prevHref: ci > 0 ? href(ci - 1) : null,
		nextHref: items[ci + 1] ? href(ci + 1) : null,
		nextName: items[ci + 1] ? items[ci + 1].fileName : null,
		nextResults: items[ci + 1] ? resultsUrl(at + 1) : null,
		prevName: ci > 0 ? items[ci - 1].fileName : null,
		prevResults: ci > 0 ? resultsUrl(at - 1) : null,
		moved: q.get('name') && q.get('name') !== cur.fileName ? q.get('name') : null,
		task: info.task, selectionColumns: asList(res, 'selectionColumns'), scoreTypes: asList(res, 'scoreTypes'),
	});
}

// A run's corrupt or duplicate list (its artifacts), as file names in file order.
async function artifactList(runId, list) {
	const run = await get(`/v1/winnow/runs/${enc(runId)}`);
	const want = list === 'corrupt' ? 'corrupt_filenames.txt' : 'duplicate_filenames.txt';
	const a = asList(run, 'artifacts').find((x) => x.fileName === want);
	if (!a) return null;
	const text = await getText(`/v1/winnow/runs/${enc(runId)}/artifacts/${enc(a.artifactId || a.id)}/content`);
	return text.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
}

// The dataset form: #/datasets/{did}/sample?name=FILE[&list=...&at=N&run=RUNID]
export async function datasetSamplePage(main, ctx) {
	const [did] = ctx.params;
	const q = ctx.query;
	const ds = await get(`/v1/datasets/${enc(did)}`);
	if (!ctx.alive) return;
	const list = q.get('list');
	let at = q.has('at') ? Math.max(0, parseInt(q.get('at'), 10) || 0) : null;
	let name = q.get('name');
	let names = null, note = null, browse = null;
	if (list === 'corrupt' || list === 'duplicate') {
		try {
			// the run named, else the dataset's newest run that has the list
			let runId = q.get('run');
			if (!runId) {
				const want = list === 'corrupt' ? 'corrupt_filenames.txt' : 'duplicate_filenames.txt';
				const runs = asList(await get(`/v1/winnow/runs?datasetId=${enc(did)}&pageSize=20`), 'runs');
				const r = runs.find((x) => asList(x, 'artifacts').some((a) => a.fileName === want && a.uploaded !== false));
				runId = r ? r.id : null;
			}
			names = runId ? await artifactList(runId, list) : null;
			if (!names) note = `No run of this dataset has a ${list} list: previous and next are off.`;
		} catch (e) { note = `The ${list} list could not be read: ${e.message || e}`; }
	} else if (list === 'browse' && at !== null) {
		// the dataset's listing (GET .../files, bytewise order) around at: previous, this, next
		try {
			const from = Math.max(0, at - 1);
			const r = await get(`/v1/winnow/datasets/${enc(did)}/files?offset=${from}&limit=${at - from + 2}`);
			if (!ctx.alive) return;
			const win = r.fileNames || [];
			if (!name) name = win[at - from];
			if (win[at - from] !== name) note = `The dataset's listing changed: ${name} is no longer at position ${fmtInt(at + 1)}; previous and next follow the listing.`;
			browse = { total: r.total, prev: at > 0 ? win[0] || null : null, next: win[at - from + 1] || null };
		} catch (e) { note = `The dataset's listing could not be read: ${e.message || e}`; }
	}
	if (names && at !== null && !name) name = names[at];
	if (names && name && (at === null || names[at] !== name)) { const i = names.indexOf(name); at = i >= 0 ? i : null; }
	if (browse) names = null;
	if (!name) {
		setTitle('Sample');
		main.appendChild(h('div', { class: 'card' }, h('h1', null, 'No file named'),
			h('p', null, 'This link names no file. ', h('a', { href: `#/datasets/${enc(did)}` }, 'Back to the dataset.'))));
		return;
	}
	const extra = (i) => ({ list, at: i, run: q.get('run') || undefined });
	const backHref = `#/datasets/${enc(did)}`;
	render(main, ctx, {
		did, name, item: null, backHref, backLabel: 'Back to the dataset',
		crumbs: [h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: backHref }, ds.name), ' / Sample'],
		...(browse ? {
			position: `${fmtInt(at + 1)} of ${fmtInt(browse.total)} (the dataset's files)`,
			prevHref: browse.prev ? fileHref(did, browse.prev, extra(at - 1)) : null,
			nextHref: browse.next ? fileHref(did, browse.next, extra(at + 1)) : null,
			nextName: browse.next, prevName: browse.prev,
		} : {
			position: names && at !== null ? `${fmtInt(at + 1)} of ${fmtInt(names.length)} (${list} list)` : null,
			prevHref: names && at > 0 ? fileHref(did, names[at - 1], extra(at - 1)) : null,
			nextHref: names && at !== null && at + 1 < names.length ? fileHref(did, names[at + 1], extra(at + 1)) : null,
			nextName: names && at !== null ? names[at + 1] || null : null,
		}),
		note, task: null, selectionColumns: [], scoreTypes: [],
	});
}

function imageUrl(did, name) {
	return `/v1/winnow/datasets/${enc(did)}/samples/image?fileName=${enc(name)}`;
}

// Decodes Lightly's row-major RLE (0-run, 1-run, ...) onto a w x h canvas in rgba; the count of set pixels.
function maskCanvas(runs, w, h, rgba) {
	const cv = document.createElement('canvas');
	cv.width = w;
	cv.height = h;
	const c2 = cv.getContext('2d');
	const img = c2.createImageData(w, h);
	const d = img.data, total = w * h;
	let pos = 0, on = 0;
	for (let k = 0; k < runs.length && pos < total; k++) {
		const end = Math.min(total, pos + runs[k]);
		if (k % 2 === 1) {
			for (let p = pos; p < end; p++) { const o = p * 4; d[o] = rgba[0]; d[o + 1] = rgba[1]; d[o + 2] = rgba[2]; d[o + 3] = rgba[3]; }
			on += end - pos;
		}
		pos = end;
	}
	c2.putImageData(img, 0, 0);
	return { url: cv.toDataURL('image/png'), on };
}

function render(main, ctx, s) {
	setTitle(`Sample · ${s.name}`);
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, s.crumbs));
	const prevBtn = h('button', { type: 'button', class: 'btn', id: 'sample-prev', disabled: !s.prevHref, 'aria-keyshortcuts': 'ArrowLeft' }, '← Previous');
	const nextBtn = h('button', { type: 'button', class: 'btn', id: 'sample-next', disabled: !s.nextHref, 'aria-keyshortcuts': 'ArrowRight' }, 'Next →');
	const back = h('a', { href: s.backHref, class: 'btn btn-ghost', id: 'sample-back', 'aria-keyshortcuts': 'Escape' }, s.backLabel);
	const go = (which) => {
		const href = which === 'prev' ? s.prevHref : s.nextHref;
		if (!href) return;
		focusAfter = which;
		ctx.go(href);
	};
	prevBtn.addEventListener('click', () => go('prev'));
	nextBtn.addEventListener('click', () => go('next'));
	main.appendChild(h('div', { class: 'page-head sample-head' },
		h('h1', { class: 'sample-title' }, h('span', { class: 'muted' }, 'Sample '), h('code', { id: 'sample-name' }, s.name)),
		h('div', { class: 'actions sample-nav' },
			s.position ? h('span', { class: 'muted', id: 'sample-position' }, s.position) : null,
			prevBtn, nextBtn, back)));
	if (s.moved) {
		main.appendChild(h('p', { class: 'banner banner-info', role: 'status' },
			`The list changed since the link was made: ${s.moved} is no longer at this position; this is the sample there now.`));
	}
	if (s.note) main.appendChild(h('p', { class: 'banner banner-info', role: 'status' }, s.note));

	// ---- the stage: image + SVG layer ----
	const img = h('img', { class: 'sample-img', alt: `Image ${s.name}`, draggable: 'false' });
	const layer = svg('svg', { class: 'sample-overlay', id: 'sample-overlay', 'aria-hidden': 'true', preserveAspectRatio: 'none' });
	const canvas = h('div', { class: 'sample-canvas' }, img);
	canvas.appendChild(layer);
	const stage = h('div', { class: 'sample-stage', id: 'sample-stage', tabindex: '0', role: 'group',
		'aria-label': 'Image; + and - zoom, 0 fits, drag to pan' }, canvas);
	const zoomOut = h('button', { type: 'button', class: 'btn btn-small', id: 'zoom-out', 'aria-label': 'Zoom out', 'aria-keyshortcuts': '-' }, '−');
	const zoomIn = h('button', { type: 'button', class: 'btn btn-small', id: 'zoom-in', 'aria-label': 'Zoom in', 'aria-keyshortcuts': '+' }, '+');
	const zoomFit = h('button', { type: 'button', class: 'btn btn-small', id: 'zoom-fit', 'aria-keyshortcuts': '0' }, 'Fit');
	const zoomLabel = h('span', { class: 'muted', id: 'zoom-level', 'aria-live': 'polite' }, '');
	const imgStatus = h('p', { class: 'muted', id: 'sample-image-status', role: 'status' }, 'Loading the image…');
	const viewer = h('div', { class: 'sample-viewer' }, stage,
		h('div', { class: 'sample-zoom' }, zoomOut, zoomFit, zoomIn, zoomLabel), imgStatus);

	// ---- the info panel ----
	const predBox = h('div', { id: 'sample-predictions', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
	const metaBox = h('div', { id: 'sample-metadata', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
	const aside = h('aside', { class: 'sample-info', 'aria-label': 'About this sample' });
	aside.appendChild(h('p', { class: 'sample-file' }, 'File ', h('code', null, s.name)));
	const frame = frameInfo(s.did, s.name, () => ctx.alive);	// a video's frame: video, index, time
	if (frame) aside.appendChild(frame);
	if (s.item) {
		aside.appendChild(h('p', { id: 'sample-selected', class: s.item.selected ? 'sel-yes' : 'sel-no', 'data-selected': s.item.selected ? '1' : '0' },
			s.item.selected ? '✔ Selected' : 'Not selected'));
		const sc = s.item.scores || {};
		const types = s.scoreTypes.length ? s.scoreTypes : Object.keys(sc);
		aside.appendChild(section('Scores', types.length
			? h('dl', { class: 'kv', id: 'sample-scores' }, types.map((t) => [h('dt', null, t),
				h('dd', { 'data-score': t, 'data-value': sc[t] ?? '' }, fmtScore(sc[t]))]))
			: h('p', { class: 'muted' }, 'This run has no scores.')));
		const sel = s.item.selection || null;
		aside.appendChild(section('Plan objectives', s.selectionColumns.length === 0
			? h('p', { class: 'muted' }, 'This run has no selection.csv columns.')
			: !sel ? h('p', { class: 'muted', id: 'sample-objectives' }, 'Not selected: no objective values.')
				: h('dl', { class: 'kv', id: 'sample-objectives' }, s.selectionColumns.map((c) => [h('dt', null, c),
					h('dd', { 'data-column': c, 'data-value': sel[c] ?? '' }, sel[c] === null || sel[c] === undefined ? '—' : fmtScore(sel[c]))]))));
	}
	aside.appendChild(section('Predictions', predBox));
	aside.appendChild(section('Metadata', metaBox));
	main.appendChild(h('div', { class: 'sample-layout' }, viewer, aside));

	// ---- sizing and zoom ----
	let W = 0, H = 0, base = 1, zoom = 1;
	const narrow = () => window.matchMedia('(max-width: 760px)').matches;
	function fit() {
		if (!W) return;
		const sw = stage.clientWidth || 1;
		const sh = narrow() ? window.innerHeight * 0.6 : (stage.clientHeight || 1);
		base = Math.min(sw / W, sh / H);
		if (W * base < MIN_WIDTH) base = Math.min(MIN_WIDTH, sw) / W;
		apply();
	}
	function apply(cx, cy) {
		const old = { w: canvas.offsetWidth || 1, l: stage.scrollLeft, t: stage.scrollTop };
		const scale = base * zoom;
		canvas.style.width = `${Math.round(W * scale)}px`;
		canvas.style.height = `${Math.round(H * scale)}px`;
		if (narrow()) stage.style.height = `${Math.min(Math.round(H * base), Math.round(window.innerHeight * 0.6))}px`;
		else stage.style.height = '';
		stage.classList.toggle('zoomed', zoom > 1);
		zoomLabel.textContent = `${Math.round(scale * 100)}%`;
		zoomOut.disabled = zoom <= 1;
		zoomIn.disabled = zoom >= ZOOM_MAX;
		// labels keep their screen size
		for (const t of layer.querySelectorAll('.pred-label')) t.setAttribute('font-size', String(13 / scale));
		for (const t of layer.querySelectorAll('.kp')) t.setAttribute('r', String(Math.max(3 / scale, 0.5)));
		if (cx !== undefined) {
			const f = canvas.offsetWidth / old.w;
			stage.scrollLeft = (old.l + cx) * f - cx;
			stage.scrollTop = (old.t + cy) * f - cy;
		}
	}
	function setZoom(z, cx, cy) {
		zoom = Math.min(ZOOM_MAX, Math.max(1, z));
		apply(cx ?? stage.clientWidth / 2, cy ?? stage.clientHeight / 2);
	}
	zoomIn.addEventListener('click', () => setZoom(zoom * ZOOM_STEP));
	zoomOut.addEventListener('click', () => setZoom(zoom / ZOOM_STEP));
	zoomFit.addEventListener('click', () => setZoom(1));
	stage.addEventListener('wheel', (ev) => {
		if (!W) return;
		ev.preventDefault();
		const r = stage.getBoundingClientRect();
		setZoom(zoom * (ev.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP), ev.clientX - r.left, ev.clientY - r.top);
	}, { passive: false });
	let drag = null;
	stage.addEventListener('pointerdown', (ev) => {
		if (zoom <= 1 || ev.button !== 0) return;
		drag = { x: ev.clientX, y: ev.clientY, l: stage.scrollLeft, t: stage.scrollTop };
		stage.setPointerCapture(ev.pointerId);
		stage.classList.add('dragging');
	});
	stage.addEventListener('pointermove', (ev) => {
		if (!drag) return;
		stage.scrollLeft = drag.l - (ev.clientX - drag.x);
		stage.scrollTop = drag.t - (ev.clientY - drag.y);
	});
	const endDrag = () => { drag = null; stage.classList.remove('dragging'); };
	stage.addEventListener('pointerup', endDrag);
	stage.addEventListener('pointercancel', endDrag);
	// fitted again whenever the stage's size changes (window, scroll bars, late layout)
	let lastSize = '';
	const ro = new ResizeObserver(() => {
		const sz = `${stage.clientWidth}x${narrow() ? window.innerHeight : stage.clientHeight}`;
		if (sz !== lastSize) { lastSize = sz; fit(); }
	});
	ro.observe(stage);
	ctx.onLeave(() => ro.disconnect());

	// ---- keys ----
	const onKey = (ev) => {
		if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
		const t = ev.target;
		if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
		if (ev.key === 'ArrowLeft' && s.prevHref) { ev.preventDefault(); go('prev'); }
		else if (ev.key === 'ArrowRight' && s.nextHref) { ev.preventDefault(); go('next'); }
		else if (ev.key === 'Escape') { ev.preventDefault(); ctx.go(s.backHref); }
		else if (ev.key === '+' || ev.key === '=') { ev.preventDefault(); setZoom(zoom * ZOOM_STEP); }
		else if (ev.key === '-') { ev.preventDefault(); setZoom(zoom / ZOOM_STEP); }
		else if (ev.key === '0') { ev.preventDefault(); setZoom(1); }
	};
	document.addEventListener('keydown', onKey);
	ctx.onLeave(() => document.removeEventListener('keydown', onKey));

	// ---- loading: the image, the predictions, the metadata ----
	let preds = null, imgReady = false;
	const drawn = () => { if (imgReady && preds) { draw(); stage.dataset.drawn = '1'; } };
	img.addEventListener('load', () => {
		if (!ctx.alive) return;
		W = img.naturalWidth;
		H = img.naturalHeight;
		layer.setAttribute('viewBox', `0 0 ${W} ${H}`);
		stage.dataset.naturalWidth = String(W);
		stage.dataset.naturalHeight = String(H);
		imgStatus.textContent = `${W} × ${H} px`;
		imgReady = true;
		fit();
		drawn();
	});
	img.addEventListener('error', async () => {
		if (!ctx.alive) return;
		stage.classList.add('broken');
		imgStatus.setAttribute('role', 'alert');
		imgStatus.className = 'error-box';
		let why = 'The image could not be shown.';
		try { await get(imageUrl(s.did, s.name)); } catch (e) { if (e instanceof ApiError) why = `The image could not be shown: ${e.message}`; }
		imgStatus.textContent = why;
		stage.dataset.drawn = 'error';
	});
	img.src = imageUrl(s.did, s.name);

	async function loadPredictions(task) {
		predBox.setAttribute('aria-busy', 'true');
		try {
			try {
				preds = await getFresh(predUrl(s.name, task));
			} catch (e) {
				if (!(task && e instanceof ApiError && e.status === 404)) throw e;
				preds = await get(predUrl(s.name, null));	// the task is not in this dataset's tasks.json
			}
		} catch (e) {
			preds = { error: e, predictions: [], tasks: [] };
		}
		if (!ctx.alive) return;
		showPredictions();
		drawn();
	}
	function showPredictions() {
		clear(predBox);
		predBox.removeAttribute('aria-busy');
		const p = preds;
		if (p.tasks && p.tasks.length > 1) {
			const sel = h('select', { id: 'sample-task' }, p.tasks.map((t) => h('option', { value: t }, t)));
			sel.value = p.task;
			sel.addEventListener('change', () => { chosenTask.set(s.did, sel.value); loadPredictions(sel.value); });
			predBox.appendChild(h('label', { class: 'inline' }, 'Task ', sel));
		} else if (p.task) {
			predBox.appendChild(h('p', null, 'Task ', h('code', null, p.task)));
		}
		if (p.error) {
			predBox.appendChild(h('p', { class: 'error-box', role: 'alert', id: 'sample-pred-status', 'data-state': 'error' },
				p.error instanceof ApiError ? p.error.message : String(p.error)));
			return;
		}
		if (p.noPredictions) {
			predBox.appendChild(h('p', { class: 'banner banner-info', id: 'sample-pred-status', 'data-state': 'none' },
				!p.task ? 'No predictions: the dataset has no .lightly/predictions/tasks.json.'
					: p.hasFile ? `No predictions for this image in ${p.task} (its prediction file lists none): its scores are 0, not a confident prediction.`
						: `No predictions for this image in ${p.task} (no prediction file): its scores are 0, not a confident prediction.`));
			return;
		}
		predBox.appendChild(h('p', { id: 'sample-pred-status', 'data-state': 'some' },
			`${p.predictions.length} prediction${p.predictions.length === 1 ? '' : 's'} (${p.taskType})`));
		if (p.taskType === 'classification') {
			const e = p.predictions[0];
			const cats = p.categories || [];
			predBox.appendChild(h('p', { id: 'sample-class', 'data-category': e.categoryName }, 'Class ', h('strong', null, e.categoryName)));
			if (e.probabilities) {
				predBox.appendChild(h('dl', { class: 'kv' }, e.probabilities.map((v, i) => [h('dt', null, cats[i] ? cats[i].name : String(i)), h('dd', null, fmtScore(v))])));
			}
			return;
		}
		const list = h('ol', { class: 'pred-list' });
		p.predictions.forEach((e, i) => {
			list.appendChild(h('li', null, h('span', { class: 'swatch', 'data-i': i }), `${e.categoryName} `, h('span', { class: 'muted' }, fmtScore(e.score))));
		});
		for (const sw of list.querySelectorAll('.swatch')) {
			const e = p.predictions[Number(sw.dataset.i)];
			sw.style.background = colour(catIndex(e.categoryId));
		}
		predBox.appendChild(list);
	}
	const catIndex = (id) => {
		const cats = (preds && preds.categories) || [];
		const i = cats.findIndex((c) => c.id === id);
		return i < 0 ? 0 : i;
	};
	function draw() {
		while (layer.firstChild) layer.removeChild(layer.firstChild);
		const p = preds;
		if (!p || p.error || !p.predictions) return;
		layer.dataset.task = p.task || '';
		layer.dataset.taskType = p.taskType || '';
		if (p.taskType === 'semantic-segmentation') {
			for (const e of p.predictions) {
				const ci = catIndex(e.categoryId), c = COLOURS[ci % COLOURS.length];
				const m = maskCanvas(e.segmentation || [], W, H, [c[0], c[1], c[2], 115]);
				const im = svg('image', { class: 'pred-mask', x: 0, y: 0, width: W, height: H, href: m.url, preserveAspectRatio: 'none',
					'data-category': e.categoryName, 'data-category-id': e.categoryId, 'data-score': e.score, 'data-pixels': m.on });
				layer.appendChild(im);
			}
		} else if (p.taskType === 'object-detection') {
			for (const e of p.predictions) {
				const [x, y, w, hh] = e.bbox;
				const col = colour(catIndex(e.categoryId));
				const g = svg('g', { class: 'pred-box', 'data-category': e.categoryName, 'data-category-id': e.categoryId,
					'data-score': e.score, 'data-x': x, 'data-y': y, 'data-w': w, 'data-h': hh });
				g.appendChild(svg('rect', { x, y, width: w, height: hh, fill: 'none', stroke: col, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
				const t = svg('text', { class: 'pred-label', x, y, dy: '-0.25em', fill: col, 'paint-order': 'stroke', stroke: 'rgba(0,0,0,0.75)', 'stroke-width': 3, 'vector-effect': 'non-scaling-stroke' });
				t.textContent = `${e.categoryName} ${Number(e.score).toFixed(2)}`;
				g.appendChild(t);
				layer.appendChild(g);
			}
		} else if (p.taskType === 'keypoint-detection') {
			for (const e of p.predictions) {
				const col = colour(catIndex(e.categoryId));
				const g = svg('g', { class: 'pred-keypoints', 'data-category': e.categoryName, 'data-score': e.score, 'data-count': (e.keypoints || []).length / 3 });
				const k = e.keypoints || [];
				for (let i = 0; i + 2 < k.length; i += 3) {
					g.appendChild(svg('circle', { class: 'kp', cx: k[i], cy: k[i + 1], r: 2, fill: col, stroke: 'white', 'stroke-width': 1,
						'vector-effect': 'non-scaling-stroke', 'data-x': k[i], 'data-y': k[i + 1], 'data-c': k[i + 2], opacity: 0.35 + 0.65 * k[i + 2] }));
				}
				layer.appendChild(g);
			}
		}
		apply();
	}
	const predUrl = (name, task) => `/v1/winnow/datasets/${enc(s.did)}/samples/predictions?fileName=${enc(name)}${task ? `&task=${enc(task)}` : ''}`;
	const metaUrl = (name) => `/v1/winnow/datasets/${enc(s.did)}/samples/metadata?fileName=${enc(name)}`;
	const firstTask = chosenTask.get(s.did) || s.task;
	loadPredictions(firstTask);
	// the next and previous samples, fetched ahead: image (browser cache), results page,
	// predictions, metadata
	for (const [name, resUrl] of [[s.nextName, s.nextResults], [s.prevName, s.prevResults]]) {
		if (!name) continue;
		const pre = new Image();
		pre.src = imageUrl(s.did, name);
		if (resUrl) fetchAhead(resUrl);
		fetchAhead(predUrl(name, firstTask));
		fetchAhead(metaUrl(name));
	}

	(async () => {
		try {
			const m = await getFresh(metaUrl(s.name));
			if (!ctx.alive) return;
			clear(metaBox);
			metaBox.removeAttribute('aria-busy');
			if (!m.hasFile || !m.metadata || Object.keys(m.metadata).length === 0) {
				metaBox.appendChild(h('p', { class: 'muted' }, 'No custom metadata for this image.'));
				return;
			}
			const rows = [];
			const walk = (o, pre) => {
				for (const [k, v] of Object.entries(o)) {
					if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, `${pre}${k}.`);
					else rows.push([`${pre}${k}`, typeof v === 'string' ? v : JSON.stringify(v)]);
				}
			};
			walk(m.metadata, '');
			metaBox.appendChild(h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', { 'data-key': k, class: 'text' }, v)])));
		} catch (e) {
			if (!ctx.alive) return;
			clear(metaBox);
			metaBox.removeAttribute('aria-busy');
			metaBox.appendChild(errorBox(e));
		}
	})();

	if (focusAfter) {
		const b = focusAfter === 'prev' ? prevBtn : nextBtn;
		(b.disabled ? (focusAfter === 'prev' ? nextBtn : prevBtn) : b).focus();
		focusAfter = null;
	} else {
		stage.focus({ preventScroll: true });
	}
}
