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

export const METHODS = [
	['random', 'random — a uniform random subset'],
	['coreset', 'coreset — diversity (farthest-first)'],
	['coral', 'coral — diversity × active-learning score'],
	['active_learning', 'active_learning — top k by score'],
];

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
	if (!/^(docker|lightly)(\.|$)/.test(s)) s = `docker.${s}`;
	return s;
}
