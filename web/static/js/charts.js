// Charts of the results page, drawn with Chart.js (web/static/vendor/, from npm by `make web-assets`).

const SEL = 'rgba(234, 108, 0, 0.9)';
const SEL_FILL = 'rgba(234, 108, 0, 0.75)';
const REST = 'rgba(90, 110, 140, 0.45)';
const REST_FILL = 'rgba(90, 110, 140, 0.55)';

export function chartLib() {
	if (typeof window.Chart !== 'function') {
		throw new Error('the charting library is missing: run `make web-assets` (copies chart.js into web/static/vendor/)');
	}
	return window.Chart;
}

// Histogram of one score: selected against not selected, bins over [0, 1] (scores lie there)
// or over the data's own range when it leaves [0, 1]. A value is in bin b when
// edges[b] <= v < edges[b + 1] (the last bin also holds edges[bins]): the results route's
// score filter (min=edges[b], max=edges[b + 1], no max for the last bin) answers the same set.
// skip[i] set: value i is left out (a sample without predictions). onBin(b) on a bar's click.
export function histogram(canvas, values, selectedMask, { bins = 20, label = 'score', skip = null, onBin = null } = {}) {
	const Chart = chartLib();
	const { edges, sel, rest } = binValues(values, selectedMask, bins, skip);
	const labels = sel.map((_, b) => `${edges[b].toFixed(2)}–${edges[b + 1].toFixed(2)}`);
	const datasets = selectedMask
		? [{ label: 'selected', data: sel, backgroundColor: SEL_FILL, borderColor: SEL, borderWidth: 1 },
			{ label: 'not selected', data: rest, backgroundColor: REST_FILL, borderColor: REST, borderWidth: 1 }]
		: [{ label: 'all candidates', data: rest, backgroundColor: REST_FILL }];
	const chart = new Chart(canvas, {
		type: 'bar',
		data: { labels, datasets },
		options: {
			animation: false, responsive: true, maintainAspectRatio: false,
			scales: {
				x: { stacked: true, title: { display: true, text: label }, ticks: { maxRotation: 60, autoSkip: true } },
				y: { stacked: true, title: { display: true, text: 'samples' }, beginAtZero: true, ticks: { precision: 0 } },
			},
			plugins: { legend: { position: 'top' }, tooltip: { mode: 'index', intersect: false, callbacks: { footer: () => (onBin ? 'click: show these samples' : '') } } },
			onHover: (ev, els) => { canvas.style.cursor = onBin && els.length ? 'pointer' : 'default'; },
			onClick: (ev) => {
				if (!onBin) return;
				const els = chart.getElementsAtEventForMode(ev, 'index', { intersect: false }, false);
				if (els.length) onBin(els[0].index);
			},
		},
	});
	chart.$bins = { edges, counts: sel.map((v, b) => v + rest[b]) };
	return chart;
}

export function binValues(values, selectedMask, bins = 20, skip = null) {
	let lo = 0, hi = 1;
	for (let i = 0; i < values.length; i++) {
		const v = values[i];
		if ((skip && skip[i]) || v === null || v === undefined || !Number.isFinite(Number(v))) continue;
		if (v < lo) lo = v;
		if (v > hi) hi = v;
	}
	const w = (hi - lo) / bins || 1;
	const edges = Array.from({ length: bins + 1 }, (_, b) => (b === bins ? Math.max(hi, lo + b * w) : lo + b * w));
	const sel = new Array(bins).fill(0), rest = new Array(bins).fill(0);
	for (let i = 0; i < values.length; i++) {
		if (skip && skip[i]) continue;
		const v = values[i];
		if (v === null || v === undefined || !Number.isFinite(Number(v))) continue;
		const b = binOf(edges, Number(v));
		if (selectedMask && selectedMask[i]) sel[b]++; else rest[b]++;
	}
	return { edges, sel, rest };
}

// The bin of v: the last b with edges[b] <= v (the first bin for anything below).
function binOf(edges, v) {
	let a = 0, z = edges.length - 2;
	while (a < z) {
		const m = (a + z + 1) >> 1;
		if (edges[m] <= v) a = m; else z = m - 1;
	}
	return a;
}

// A colour ramp for a value in [0, 1] (viridis-like, dark blue to yellow).
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
export function rampColor(t) {
	const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
	const i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
	const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
	return `rgb(${c[0]},${c[1]},${c[2]})`;
}
export const RAMP_CSS = `linear-gradient(to right, ${RAMP.map((c) => `rgb(${c.join(',')})`).join(', ')})`;

// The 2-D embeddings as an interactive scatter on a canvas of its own (fast at 100,000 points:
// the points are drawn once into a bitmap, hover looks them up in a grid of cells).
// pts: [{f, x, y}]; selected: Uint8Array by point. Equal scales on both axes, the points kept
// a radius inside the edges. Options: onHover(i|-1, px, py), onClick(i, ev), onLasso(indexes).
export function scatterPlot(canvas, pts, selected, opts = {}) {
	const n = pts.length;
	let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
	for (const p of pts) { if (p.x < xmin) xmin = p.x; if (p.x > xmax) xmax = p.x; if (p.y < ymin) ymin = p.y; if (p.y > ymax) ymax = p.y; }
	if (!n) { xmin = ymin = 0; xmax = ymax = 1; }
	const span = Math.max(xmax - xmin, ymax - ymin) || 1, cx = (xmin + xmax) / 2, cy = (ymin + ymax) / 2;
	const R = n > 20000 ? 1.6 : 3.5, PAD = 8;
	let W = 0, H = 0, dpr = 1, scale = 1, sx = new Float32Array(n), sy = new Float32Array(n);
	let colors = null;	// per point CSS colour, or null: selection colours
	let cells = null, CELL = 12, ncx = 0, ncy = 0;
	let hover = -1, lasso = null, lassoMode = false;
	const base = document.createElement('canvas');
	const order = [...Array(n).keys()].sort((a, b) => selected[a] - selected[b]);	// selected on top

	function layout() {
		const r = canvas.getBoundingClientRect();
		dpr = window.devicePixelRatio || 1;
		W = Math.max(50, r.width); H = Math.max(50, r.height);
		canvas.width = base.width = Math.round(W * dpr);
		canvas.height = base.height = Math.round(H * dpr);
		const side = Math.min(W, H) - 2 * PAD;
		scale = side / span;
		for (let i = 0; i < n; i++) {
			sx[i] = W / 2 + (pts[i].x - cx) * scale;
			sy[i] = H / 2 - (pts[i].y - cy) * scale;
		}
		ncx = Math.ceil(W / CELL) + 1; ncy = Math.ceil(H / CELL) + 1;
		const counts = new Uint32Array(ncx * ncy + 1);
		const cellOf = (i) => Math.floor(sy[i] / CELL) * ncx + Math.floor(sx[i] / CELL);
		for (let i = 0; i < n; i++) counts[cellOf(i) + 1]++;
		for (let c = 1; c < counts.length; c++) counts[c] += counts[c - 1];
		const idx = new Uint32Array(n), fill = counts.slice(0, -1);
		for (let i = 0; i < n; i++) idx[fill[cellOf(i)]++] = i;
		cells = { start: counts, idx };
		paintBase();
		paint();
	}
	function paintBase() {
		const g = base.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, W, H);
		g.fillStyle = '#fbfcfd';
		g.fillRect(0, 0, W, H);
		g.strokeStyle = '#dde2ea';
		g.strokeRect(0.5, 0.5, W - 1, H - 1);
		// batch by colour: one path per colour
		const groups = new Map();
		for (const i of order) {
			const c = colors ? colors[i] : (selected[i] ? SEL : REST);
			let a = groups.get(c);
			if (!a) groups.set(c, (a = []));
			a.push(i);
		}
		for (const [c, a] of groups) {
			g.fillStyle = c;
			g.beginPath();
			for (const i of a) { g.moveTo(sx[i] + R, sy[i]); g.arc(sx[i], sy[i], R, 0, 2 * Math.PI); }
			g.fill();
		}
		if (!colors) {
			g.strokeStyle = 'rgba(120,50,0,0.9)';
			g.lineWidth = 0.6;
			g.beginPath();
			for (let i = 0; i < n; i++) if (selected[i]) { g.moveTo(sx[i] + R, sy[i]); g.arc(sx[i], sy[i], R, 0, 2 * Math.PI); }
			g.stroke();
		}
	}
	function paint() {
		const g = canvas.getContext('2d');
		g.setTransform(1, 0, 0, 1, 0, 0);
		g.clearRect(0, 0, canvas.width, canvas.height);
		g.drawImage(base, 0, 0);
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		if (hover >= 0) {
			g.strokeStyle = '#14213a'; g.lineWidth = 2;
			g.beginPath(); g.arc(sx[hover], sy[hover], R + 4, 0, 2 * Math.PI); g.stroke();
		}
		if (lasso && lasso.length > 1) {
			g.strokeStyle = '#1d5fd1'; g.lineWidth = 1.5; g.fillStyle = 'rgba(29,95,209,0.08)';
			g.beginPath(); g.moveTo(lasso[0][0], lasso[0][1]);
			for (const [x, y] of lasso) g.lineTo(x, y);
			g.closePath(); g.fill(); g.stroke();
		}
	}
	// The point nearest (x, y) within maxd pixels, or -1.
	function nearest(x, y, maxd = 8) {
		let best = -1, bd = maxd * maxd;
		const c0 = Math.floor((x - maxd) / CELL), c1 = Math.floor((x + maxd) / CELL);
		const r0 = Math.floor((y - maxd) / CELL), r1 = Math.floor((y + maxd) / CELL);
		for (let r = Math.max(0, r0); r <= Math.min(ncy - 1, r1); r++) {
			for (let c = Math.max(0, c0); c <= Math.min(ncx - 1, c1); c++) {
				const k = r * ncx + c;
				for (let j = cells.start[k]; j < cells.start[k + 1]; j++) {
					const i = cells.idx[j], dx = sx[i] - x, dy = sy[i] - y, d = dx * dx + dy * dy;
					if (d < bd || (d === bd && selected[i] > (best >= 0 ? selected[best] : -1))) { bd = d; best = i; }
				}
			}
		}
		return best;
	}
	// The k points nearest (x, y) within maxd pixels, nearest first (the cells around it).
	function near(x, y, k, maxd) {
		const got = [];
		const c0 = Math.max(0, Math.floor((x - maxd) / CELL)), c1 = Math.min(ncx - 1, Math.floor((x + maxd) / CELL));
		const r0 = Math.max(0, Math.floor((y - maxd) / CELL)), r1 = Math.min(ncy - 1, Math.floor((y + maxd) / CELL));
		for (let r = r0; r <= r1; r++) {
			for (let c = c0; c <= c1; c++) {
				const cell = r * ncx + c;
				for (let j = cells.start[cell]; j < cells.start[cell + 1]; j++) {
					const i = cells.idx[j], d = (sx[i] - x) ** 2 + (sy[i] - y) ** 2;
					if (d <= maxd * maxd) got.push([d, i]);
				}
			}
		}
		got.sort((a, b) => a[0] - b[0]);
		return got.slice(0, k).map((g) => g[1]);
	}
	const pos = (ev) => { const r = canvas.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
	function inside(poly, x, y) {
		let c = false;
		for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
			const [xi, yi] = poly[i], [xj, yj] = poly[j];
			if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
		}
		return c;
	}
	const onMove = (ev) => {
		const [x, y] = pos(ev);
		if (lasso) { lasso.push([x, y]); paint(); return; }
		const i = nearest(x, y);
		if (i !== hover) { hover = i; paint(); }
		if (opts.onHover) opts.onHover(i, i >= 0 ? sx[i] : x, i >= 0 ? sy[i] : y);
	};
	const onDown = (ev) => {
		if (!(lassoMode || ev.shiftKey) || ev.button !== 0) return;
		ev.preventDefault();
		canvas.setPointerCapture(ev.pointerId);
		lasso = [pos(ev)];
		hover = -1;
		if (opts.onHover) opts.onHover(-1, 0, 0);
	};
	const onUp = (ev) => {
		if (!lasso) return;
		const poly = lasso;
		lasso = null;
		paint();
		if (poly.length < 3) return;
		const got = [];
		for (let i = 0; i < n; i++) if (inside(poly, sx[i], sy[i])) got.push(i);
		if (opts.onLasso) opts.onLasso(got, ev);
	};
	const onClick = (ev) => {
		if (lassoMode || ev.shiftKey) return;
		const [x, y] = pos(ev);
		const i = nearest(x, y);
		if (i >= 0 && opts.onClick) opts.onClick(i, ev);
	};
	const onLeave = () => { if (!lasso && hover >= 0) { hover = -1; paint(); } if (opts.onHover && !lasso) opts.onHover(-1, 0, 0); };
	canvas.addEventListener('pointermove', onMove);
	canvas.addEventListener('pointerdown', onDown);
	canvas.addEventListener('pointerup', onUp);
	canvas.addEventListener('click', onClick);
	canvas.addEventListener('auxclick', onClick);
	canvas.addEventListener('pointerleave', onLeave);
	const ro = new ResizeObserver(() => layout());
	ro.observe(canvas);
	layout();
	return {
		n,
		// screen position (CSS pixels in the canvas) of point i
		at: (i) => [sx[i], sy[i]],
		nearest, near,
		setColors(c) { colors = c; paintBase(); paint(); },
		setLasso(on) { lassoMode = !!on; },
		destroy() {
			ro.disconnect();
			canvas.removeEventListener('pointermove', onMove);
			canvas.removeEventListener('pointerdown', onDown);
			canvas.removeEventListener('pointerup', onUp);
			canvas.removeEventListener('click', onClick);
			canvas.removeEventListener('auxclick', onClick);
			canvas.removeEventListener('pointerleave', onLeave);
		},
	};
}

// One BALANCE entry of report.json (SPEC 4.8): per class, the target against the candidates'
// and the selection's shares. Each of target, candidate_share and selection_share is a list in
// the order of classes, or an object {class: share}; a class without a value is left out.
export function balanceChart(canvas, b, { title = 'BALANCE' } = {}) {
	const Chart = chartLib();
	const classes = balanceClasses(b);
	const ds = (label, v, color, fill) => ({ label, data: classes.map((c, i) => shareOf(v, c, i)), backgroundColor: fill, borderColor: color, borderWidth: 1 });
	return new Chart(canvas, {
		type: 'bar',
		data: {
			labels: classes,
			datasets: [
				ds('target', b.target, 'rgba(30,122,70,0.9)', 'rgba(30,122,70,0.55)'),
				ds('candidates', b.candidate_share, REST, REST_FILL),
				ds('selection', b.selection_share, SEL, SEL_FILL),
			],
		},
		options: {
			animation: false, responsive: true, maintainAspectRatio: false,
			scales: { y: { beginAtZero: true, suggestedMax: 1, title: { display: true, text: 'share' } } },
			plugins: { legend: { position: 'top' }, title: { display: true, text: title } },
		},
	});
}

export function balanceClasses(b) {
	if (Array.isArray(b.classes)) return b.classes.map(String);
	const o = [b.target, b.candidate_share, b.selection_share].find((x) => x && typeof x === 'object' && !Array.isArray(x));
	return o ? Object.keys(o) : [];
}

// A share of class c (index i): null when the value is missing or not a finite number.
export function shareOf(v, c, i) {
	const x = Array.isArray(v) ? v[i] : (v && typeof v === 'object' ? v[c] : undefined);
	return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
