// Run config helpers for the wizard: SPEC 2's presets and defaults, paths into the config.

// Lightly's web-app default (SPEC 2, first preset).
export const PRESET_DEFAULT = {
	enable_corruptness_check: true, remove_exact_duplicates: true, enable_training: false,
	pretagging: false, pretagging_debug: false, method: 'coreset',
	stopping_condition: { n_samples: 0.1, min_distance: -1 },
	scorer: 'object-frequency', scorer_config: { frequency_penalty: 0.25, min_score: 0.9 },
	active_learning: { task_name: '', score_name: 'uncertainty_margin' },
};

// The seed's active-learning example (SPEC 2, second preset).
export const PRESET_CORAL = {
	...structuredClone(PRESET_DEFAULT),
	method: 'coral',
	active_learning: { task_name: 'my-classification-task', score_name: 'uncertainty_margin' },
};

export const PRESETS = [
	{ id: 'preset-default', label: 'Lightly web-app default (coreset, 10 %)', docker: PRESET_DEFAULT },
	{ id: 'preset-coral', label: 'Active learning example (coral)', docker: PRESET_CORAL },
];

// The 2.2-era methods, one row each: its label and the plan it means (SPEC 4.8's table; the
// server answers the same plan from the validate route, this is for a config it has not seen).
// A row's plan(d) reads the docker object d with SPEC 2's defaults.
const nSamplesOf = (d) => getPath(d, 'stopping_condition.n_samples') ?? -1;
const minDistOf = (d) => getPath(d, 'stopping_condition.min_distance') ?? -1;
const scoresEntry = (d) => ({
	input: { type: 'SCORES', task: getPath(d, 'active_learning.task_name') ?? '', score: getPath(d, 'active_learning.score_name') ?? 'uncertainty_margin' },
	strategy: { type: 'WEIGHTS', strength: 1 },
});
const diversityEntry = (d) => ({
	input: { type: 'EMBEDDINGS' },
	strategy: { type: 'DIVERSITY', strength: 1, ...(minDistOf(d) >= 0 ? { stopping_condition_minimum_distance: minDistOf(d) } : {}) },
});
export const METHOD_ROWS = [
	{ name: 'random', label: 'random — a uniform random subset',
		entries: (d) => [{ input: { type: 'RANDOM', randomSeed: d.seed ?? 1 }, strategy: { type: 'WEIGHTS', strength: 1 } }] },
	{ name: 'coreset', label: 'coreset — diversity (farthest-first)', entries: (d) => [diversityEntry(d)] },
	{ name: 'coral', label: 'coral — diversity × active-learning score', entries: (d) => [diversityEntry(d), scoresEntry(d)] },
	{ name: 'active_learning', label: 'active_learning — top k by score', entries: (d) => [scoresEntry(d)] },
];
export const METHODS = METHOD_ROWS.map((m) => [m.name, m.label]);

// The plan a 2.2-era docker object means, in the server's shape (plan_to_json): the budget as
// nSamples or proportionSamples (SPEC 2's n_samples rule), "method", the entries.
export function planOfMethod(docker) {
	const d = docker || {};
	const row = METHOD_ROWS.find((m) => m.name === (d.method ?? 'coreset'));
	if (!row) return null;
	const n = nSamplesOf(d);
	const budget = typeof n !== 'number' || n === -1 ? {} : (n > 0 && n <= 1 ? { proportionSamples: n } : { nSamples: n });
	return { method: row.name, ...budget, strategies: row.entries(d) };
}

// ---- V4 plans (SPEC 2.1, 4.8) --------------------------------------------------------------
// Each input and strategy type with the fields it reads (JSON names, as Lightly's models spell
// them). kind: text | number | task | score | categories | enum | target | tag | key; only: the
// strategies an input field is for (a field another strategy ignores is not offered).
export const INPUTS = {
	EMBEDDINGS: { label: 'Embeddings', fields: [
		{ key: 'tagName', label: 'Query tag', kind: 'tag', only: ['SIMILARITY'], hint: 'A tag of this dataset: the query set of SIMILARITY.' }] },
	SCORES: { label: 'Active-learning scores', fields: [
		{ key: 'task', label: 'Prediction task', kind: 'task', required: true },
		{ key: 'score', label: 'Score', kind: 'score', required: true }] },
	METADATA: { label: 'Metadata', fields: [
		{ key: 'key', label: 'Metadata key', kind: 'key', required: true, hint: 'A custom key path of .lightly/metadata, or lightly.width, lightly.luminance, …' }] },
	PREDICTIONS: { label: 'Predictions', fields: [
		{ key: 'task', label: 'Prediction task', kind: 'task', required: true },
		{ key: 'name', label: 'Vector', kind: 'enum', values: ['CLASS_DISTRIBUTION', 'CATEGORY_COUNT'], required: true },
		{ key: 'categories', label: 'Categories (optional)', kind: 'categories', hint: 'Comma-separated names of the task’s schema; empty: all.' }] },
	RANDOM: { label: 'Random', fields: [
		{ key: 'randomSeed', label: 'Random seed', kind: 'number', hint: 'Default 1.' }] },
};
export const STRATEGIES = {
	DIVERSITY: { label: 'Diversity', strength: true, fields: [
		{ key: 'stopping_condition_minimum_distance', label: 'Minimum distance', kind: 'number', hint: 'Stop when no candidate is this far from the selection (≥ 0); empty: off.' }] },
	WEIGHTS: { label: 'Weights', strength: true, fields: [
		{ key: 'stoppingConditionMaxSum', label: 'Max sum', kind: 'number', hint: 'Stop once the picks’ values sum to this (≥ 0); empty: off.' }] },
	THRESHOLD: { label: 'Threshold', strength: false, fields: [
		{ key: 'threshold', label: 'Threshold', kind: 'number', required: true },
		{ key: 'operation', label: 'Keep values', kind: 'enum', values: ['SMALLER', 'SMALLER_EQUAL', 'BIGGER', 'BIGGER_EQUAL'], required: true }] },
	BALANCE: { label: 'Class balance', strength: true, fields: [
		{ key: 'distribution', label: 'Distribution', kind: 'enum', values: ['TARGET', 'UNIFORM', 'INPUT'] },
		{ key: 'target', label: 'Target', kind: 'target', hint: 'class: fraction, … or a JSON object (TARGET only; fractions in [0,1] summing to at most 1).' }] },
	SIMILARITY: { label: 'Similarity to the query tag', strength: true, fields: [] },
	TYPICALITY: { label: 'Typicality', strength: true, fields: [
		{ key: 'numNearestNeighbors', label: 'Nearest neighbours (K)', kind: 'number', hint: 'Default 20.' },
		{ key: 'stoppingConditionMinimumTypicality', label: 'Minimum typicality', kind: 'number', hint: 'Stop before a pick below it (> 0); empty: off.' }] },
};
// SPEC 4.8's allowed pairs: the strategies each input may go with (METADATA: numeric keys with
// WEIGHTS and THRESHOLD, category keys with BALANCE).
export const ALLOWED = {
	EMBEDDINGS: ['DIVERSITY', 'SIMILARITY', 'TYPICALITY'],
	SCORES: ['WEIGHTS', 'THRESHOLD'],
	METADATA: ['WEIGHTS', 'THRESHOLD', 'BALANCE'],
	PREDICTIONS: ['BALANCE'],
	RANDOM: ['WEIGHTS'],
};
// At most one entry each (SPEC 4.8).
export const ONCE = ['DIVERSITY', 'SIMILARITY', 'TYPICALITY'];

// A new entry of an input type: its first allowed strategy, required fields blank.
export function newEntry(input = 'EMBEDDINGS', strategy) {
	const st = strategy && ALLOWED[input].includes(strategy) ? strategy : ALLOWED[input][0];
	const e = { input: { type: input }, strategy: { type: st } };
	if (input === 'PREDICTIONS') e.input.name = 'CLASS_DISTRIBUTION';
	if (st === 'THRESHOLD') e.strategy.operation = 'BIGGER_EQUAL';
	if (st === 'BALANCE') e.strategy.distribution = 'UNIFORM';
	return e;
}

// Lightly's documented example plans (docs.lightly.ai, "Selection"), as wizard presets.
// TASK / SCORE / TAG are filled in with the dataset's first task, its default score and tag.
export const PLAN_PRESETS = [
	{ id: 'plan-diversity', label: 'Diversity only', selection: () => ({
		proportionSamples: 0.1,
		strategies: [{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } }] }) },
	{ id: 'plan-coral', label: 'Diversity + uncertainty weights (coral-like)', selection: (c) => ({
		proportionSamples: 0.1,
		strategies: [
			{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } },
			{ input: { type: 'SCORES', task: c.task, score: c.score }, strategy: { type: 'WEIGHTS' } }] }) },
	{ id: 'plan-threshold', label: 'Threshold + diversity', selection: (c) => ({
		nSamples: 50,
		strategies: [
			{ input: { type: 'SCORES', task: c.task, score: c.score }, strategy: { type: 'THRESHOLD', threshold: 0.5, operation: 'BIGGER_EQUAL' } },
			{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } }] }) },
	{ id: 'plan-balance', label: 'Class balancing on predictions', selection: (c) => ({
		nSamples: 50,
		strategies: [
			{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } },
			{ input: { type: 'PREDICTIONS', task: c.task, name: 'CLASS_DISTRIBUTION' }, strategy: { type: 'BALANCE', distribution: 'UNIFORM' } }] }) },
	{ id: 'plan-similarity', label: 'Similarity search with a query tag', selection: (c) => ({
		nSamples: 50,
		strategies: [{ input: { type: 'EMBEDDINGS', tagName: c.tag }, strategy: { type: 'SIMILARITY' } }] }) },
	{ id: 'plan-typicality', label: 'Typicality (+ diversity)', selection: () => ({
		nSamples: 50,
		strategies: [
			{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'TYPICALITY', numNearestNeighbors: 20 } },
			{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } }] }) },
];

// "cat: 0.4, dog: 0.3" -> {cat: 0.4, dog: 0.3}; text that does not read so stays text (the
// server then says what is wrong with it, at the field).
export function parseTarget(text) {
	const t = String(text).trim();
	if (!t) return undefined;
	if (t.startsWith('{')) { try { return JSON.parse(t); } catch { return t; } }
	const o = {};
	for (const part of t.split(/[,\n]/)) {
		if (!part.trim()) continue;
		const m = part.match(/^\s*(.+?)\s*[:=]\s*(\S+)\s*$/);
		if (!m || m[1] in o) return t;
		o[m[1]] = parseNumberish(m[2]);
	}
	return o;
}
export function targetText(v) {
	if (v === undefined || v === null) return '';
	if (typeof v !== 'object' || Array.isArray(v)) return typeof v === 'string' ? v : JSON.stringify(v);
	return Object.entries(v).map(([k, x]) => `${k}: ${typeof x === 'string' ? x : JSON.stringify(x)}`).join(', ');
}

// Score names per task type (SPEC 4.4), used only when the server's task list lacks them.
export const SCORES_BY_TYPE = {
	'classification': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy'],
	'semantic-segmentation': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy'],
	'object-detection': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy',
		'objectness_least_confidence', 'object_frequency'],
	'keypoint-detection': ['mean_uncertainty'],
};

export function getPath(obj, path) {
	let o = obj;
	for (const k of path.split('.')) {
		if (o === null || typeof o !== 'object' || !(k in o)) return undefined;
		o = o[k];
	}
	return o;
}

export function setPath(obj, path, value) {
	const keys = path.split('.');
	let o = obj;
	for (const k of keys.slice(0, -1)) {
		if (o[k] === null || typeof o[k] !== 'object' || Array.isArray(o[k])) o[k] = {};
		o = o[k];
	}
	o[keys[keys.length - 1]] = value;
}

// A text field's value as JSON: numbers when they read as numbers, else the text itself
// (the server then says what is wrong with it, next to the field).
export function parseNumberish(text) {
	const t = String(text).trim();
	if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
	return t;
}

// Normalises an error path of the server to a path into {docker, lightly}:
// "docker.stopping_condition.n_samples", "config.docker.method", "stopping_condition.n_samples",
// "$.docker.method", "docker.foo[2]".
export function normalizeErrorPath(p) {
	let s = String(p || '').trim().replace(/^\$\.?/, '').replace(/^config\./, '').replace(/\[(\d+)\]/g, '.$1');
	if (!s) return '';
	if (!/^(docker|lightly|selection|workerType)(\.|$)/.test(s)) s = `docker.${s}`;
	return s;
}

// ---- the wizard's preview of k and its worker check (issue 16) -----------------------------

// The budget a config means: {kind: 'fraction'|'count'|'none'|'invalid', value}. A 2.2-era
// config's n_samples (SPEC 2: (0,1] a fraction, an integral >= 2 a count, -1 off); a V4
// selection's proportionSamples ([0,1]) or nSamples (>= 1; -1 none) (SPEC 4.8).
export function budgetOf(cfg) {
	const c = cfg || {};
	if (c.selection && typeof c.selection === 'object') {
		const s = c.selection;
		if (s.proportionSamples !== undefined) {
			const f = s.proportionSamples;
			return typeof f === 'number' && f >= 0 && f <= 1 ? { kind: 'fraction', value: f } : { kind: 'invalid', value: f };
		}
		if (s.nSamples !== undefined && s.nSamples !== -1) {
			const n = s.nSamples;
			return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? { kind: 'count', value: n } : { kind: 'invalid', value: n };
		}
		return { kind: 'none' };
	}
	const n = getPath(c, 'docker.stopping_condition.n_samples');
	if (n === undefined || n === -1) return { kind: 'none', minDistance: (getPath(c, 'docker.stopping_condition.min_distance') ?? -1) !== -1 };
	if (typeof n !== 'number') return { kind: 'invalid', value: n };
	if (n > 0 && n <= 1) return { kind: 'fraction', value: n };
	if (n >= 2 && Number.isInteger(n)) return { kind: 'count', value: n };
	return { kind: 'invalid', value: n };
}

const fmt = (n) => Number(n).toLocaleString('en-US');

// "k = 1,204 of 12,040 images" for a budget and the dataset's size ({total, truncated}; null:
// unknown). k = ceil(f*n - 1e-6) for a fraction (SPEC 2 and 4.8), min(count, n) for a count.
export function kPreview(b, size) {
	if (!b || b.kind === 'invalid') return '';
	if (b.kind === 'none') return b.minDistance ? 'No sample count: the minimum distance ends the selection.' : 'No budget: every candidate is ranked and selected.';
	if (!size) return b.kind === 'fraction' ? `k = ${b.value} of the images (the dataset’s size is not known yet)` : `k = ${fmt(b.value)} images at most`;
	const n = size.total;
	const k = b.kind === 'fraction' ? Math.max(0, Math.ceil(b.value * n - 1e-6)) : Math.min(b.value, n);
	const more = size.truncated ? '+' : '';
	return `k = ${fmt(k)} of ${fmt(n)}${more} images${b.kind === 'count' && b.value > n ? ` (${fmt(b.value)} asked; the dataset has fewer)` : ''}`;
}

// "a, b ,c" -> ["a", "b", "c"]: the runsOn labels of a text field.
export function parseLabels(text) {
	return String(text || '').split(',').map((x) => x.trim()).filter(Boolean);
}
