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
// or over the data's own range when it leaves [0, 1].
export function histogram(canvas, values, selectedMask, { bins = 20, label = 'score' } = {}) {
	const Chart = chartLib();
	let lo = 0, hi = 1;
	for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
	const w = (hi - lo) / bins || 1;
	const sel = new Array(bins).fill(0), rest = new Array(bins).fill(0);
	values.forEach((v, i) => {
		if (v === null || v === undefined || !Number.isFinite(Number(v))) return;
		const b = Math.min(bins - 1, Math.max(0, Math.floor((Number(v) - lo) / w)));
		if (selectedMask && selectedMask[i]) sel[b]++; else rest[b]++;
	});
	const labels = sel.map((_, b) => `${(lo + b * w).toFixed(2)}–${(lo + (b + 1) * w).toFixed(2)}`);
	const datasets = selectedMask
		? [{ label: 'selected', data: sel, backgroundColor: SEL_FILL, borderColor: SEL, borderWidth: 1 },
			{ label: 'not selected', data: rest, backgroundColor: REST_FILL, borderColor: REST, borderWidth: 1 }]
		: [{ label: 'all candidates', data: rest, backgroundColor: REST_FILL }];
	return new Chart(canvas, {
		type: 'bar',
		data: { labels, datasets },
		options: {
			animation: false, responsive: true, maintainAspectRatio: false,
			scales: {
				x: { stacked: true, title: { display: true, text: label }, ticks: { maxRotation: 60, autoSkip: true } },
				y: { stacked: true, title: { display: true, text: 'samples' }, beginAtZero: true, ticks: { precision: 0 } },
			},
			plugins: { legend: { position: 'top' }, tooltip: { mode: 'index', intersect: false } },
		},
	});
}

// Scatter of the 2-D embeddings (filenames,x,y), the selected points marked and drawn on top.
export function scatter(canvas, points, selectedSet) {
	const Chart = chartLib();
	const sel = [], rest = [];
	for (const p of points) (selectedSet.has(p.f) ? sel : rest).push(p);
	const big = points.length > 20000;
	return new Chart(canvas, {
		type: 'scatter',
		data: {
			datasets: [
				{ label: `selected (${sel.length})`, data: sel, backgroundColor: SEL, borderColor: 'rgba(120,50,0,0.9)', borderWidth: 1, pointRadius: big ? 2 : 4.5, pointHoverRadius: 6 },
				{ label: `not selected (${rest.length})`, data: rest, backgroundColor: REST, borderWidth: 0, pointRadius: big ? 1 : 3, pointHoverRadius: 5 },
			],
		},
		options: {
			animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
			scales: { x: { title: { display: true, text: 'PC 1' } }, y: { title: { display: true, text: 'PC 2' } } },
			plugins: {
				legend: { position: 'top' },
				tooltip: { callbacks: { label: (c) => `${c.raw.f} (${c.raw.x.toFixed(3)}, ${c.raw.y.toFixed(3)})` } },
			},
		},
	});
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
