// "Schedule run": the wizard. Form fields and the JSON editor edit one config and stay in
// sync both ways; the server validates (POST config) and each error lands next to its field.
// Two forms (SPEC 2.1): a 2.2-era `method` config, shown with the plan it means (SPEC 4.8), or
// a V4 plan built entry by entry (input, strategy, their fields, strength) and stored through
// POST /v1/docker/worker/config/vX.
import { get, post, asList, enc, ApiError } from '../api.js';
import { h, field, section, setFieldError, clearFieldErrors, showBanner, setTitle, fmtInt } from '../ui.js';
import { PRESETS, METHODS, SCORES_BY_TYPE, getPath, setPath, parseNumberish, normalizeErrorPath,
	planOfMethod, INPUTS, STRATEGIES, ALLOWED, ONCE, newEntry, PLAN_PRESETS, parseTarget, targetText,
	budgetOf, kPreview, parseLabels } from '../config.js';
import { matchWorkers } from '../workers_match.js';

const PRIORITIES = ['LOW', 'MID', 'HIGH', 'CRITICAL'];
// winnow's computed image metadata (SPEC 4.8), offered beside the custom keys.
const LIGHTLY_KEYS = ['lightly.sizeInBytes', 'lightly.width', 'lightly.height', 'lightly.luminance',
	'lightly.snr', 'lightly.sharpness', 'lightly.uniformRowRatio'];
const BUDGETS = [['nSamples', 'nSamples — a count ≥ 1'], ['proportionSamples', 'proportionSamples — a fraction in [0,1]'], ['', 'none (a stopping condition ends it)']];
const isV4 = (c) => !!(c && typeof c === 'object' && 'selection' in c);

// A form control's label in words (for errors): its <label>, with the plan entry it is in.
function fieldLabelOf(control) {
	const l = control.id ? document.querySelector(`label[for="${CSS.escape(control.id)}"]`) : null;
	const text = (l ? l.textContent : control.getAttribute('aria-label') || control.name || control.id).trim();
	const entry = control.closest('.plan-entry');
	return entry ? `Entry ${Number(entry.dataset.index) + 1}, ${text}` : text;
}

export async function schedulePage(main, ctx) {
	const [did] = ctx.params;
	const ds = await get(`/v1/datasets/${enc(did)}`);
	setTitle(`Schedule run · ${ds.name}`);
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
		h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: `#/datasets/${enc(did)}` }, ds.name), ' / Schedule run'));
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Schedule run')));

	let cfg = { docker: structuredClone(PRESETS[0].docker), lightly: {} };
	let tasks = [];
	let tasksError = null;
	let tags = [];
	let serverPlan = null;	// the plan the validate route answered for the config shown

	// --- inputs -----------------------------------------------------------------------
	const el = {
		method: h('select', { id: 'f-method', name: 'method' }, METHODS.map(([v, l]) => h('option', { value: v }, l))),
		nSamples: h('input', { id: 'f-n-samples', name: 'n_samples', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'default -1 (off)' }),
		minDistance: h('input', { id: 'f-min-distance', name: 'min_distance', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'default -1 (off)' }),
		task: h('select', { id: 'f-task', name: 'task_name' }),
		score: h('select', { id: 'f-score', name: 'score_name' }),
		scorer: h('input', { id: 'f-scorer', name: 'scorer', type: 'checkbox' }),
		freqPenalty: h('input', { id: 'f-frequency-penalty', name: 'frequency_penalty', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'default 0.25' }),
		minScore: h('input', { id: 'f-min-score', name: 'min_score', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'default 0.9' }),
		corrupt: h('input', { id: 'f-corruptness', name: 'enable_corruptness_check', type: 'checkbox' }),
		dups: h('input', { id: 'f-duplicates', name: 'remove_exact_duplicates', type: 'checkbox' }),
		priority: h('select', { id: 'f-priority', name: 'priority' }, PRIORITIES.map((p) => h('option', { value: p, selected: p === 'MID' }, p))),
		datapool: h('input', { id: 'f-datapool', name: 'datapool_name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'empty: no datapool' }),
		useDatapool: h('input', { id: 'f-use-datapool', name: 'useDatapool', type: 'checkbox' }),
		runsOn: h('input', { id: 'f-runs-on', name: 'runsOn', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'empty: any worker' }),
		json: h('textarea', { id: 'f-json', name: 'config', rows: 24, spellcheck: 'false', autocomplete: 'off', class: 'code' }),
	};
	// Each form field and the config path it edits (error paths map to these).
	const FIELDS = [
		{ el: el.method, path: 'docker.method', kind: 'select', dflt: 'coreset', label: 'Method' },
		{ el: el.nSamples, path: 'docker.stopping_condition.n_samples', kind: 'number', label: 'Number of samples' },
		{ el: el.minDistance, path: 'docker.stopping_condition.min_distance', kind: 'number', label: 'Minimum distance' },
		{ el: el.task, path: 'docker.active_learning.task_name', kind: 'select', dflt: '', label: 'Prediction task' },
		{ el: el.score, path: 'docker.active_learning.score_name', kind: 'select', dflt: 'uncertainty_margin', label: 'Score' },
		{ el: el.scorer, path: 'docker.scorer', kind: 'scorer', label: 'Object-frequency scorer' },
		{ el: el.freqPenalty, path: 'docker.scorer_config.frequency_penalty', kind: 'number', label: 'Frequency penalty' },
		{ el: el.minScore, path: 'docker.scorer_config.min_score', kind: 'number', label: 'Minimum score' },
		{ el: el.corrupt, path: 'docker.enable_corruptness_check', kind: 'bool', dflt: true, label: 'Corruptness check' },
		{ el: el.dups, path: 'docker.remove_exact_duplicates', kind: 'bool', dflt: true, label: 'Remove exact duplicates' },
		{ el: el.datapool, path: 'docker.datapool.name', kind: 'text', label: 'Datapool name' },
	];
	// The dataset's size (the browse listing's total) and the k it means, under each budget field.
	let datasetSize = null;	// {total, truncated} once known
	const sizeBox = h('p', { id: 'wizard-size', class: 'wizard-size muted', 'aria-live': 'polite' }, 'Counting the dataset’s images…');
	const kMethod = h('p', { id: 'k-preview-method', class: 'k-preview', 'aria-live': 'polite' });
	const kPlan = h('p', { id: 'k-preview-plan', class: 'k-preview', 'aria-live': 'polite' });
	const workerBox = h('div', { id: 'worker-check', class: 'worker-check', 'aria-live': 'polite' });

	const summary = h('div', { id: 'wizard-errors', class: 'error-summary', role: 'alert', tabindex: '-1', hidden: true });
	const jsonStatus = h('p', { class: 'hint', id: 'f-json-status' }, 'The full config, {"docker": …, "lightly": …}. Edits here update the form.');
	const warnBox = h('ul', { class: 'warnings', id: 'wizard-warnings', hidden: true, 'aria-label': 'Warnings' });
	const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'wizard-submit' }, 'Schedule run');
	const presetBtns = PRESETS.map((p) => h('button', { type: 'button', class: 'btn', id: p.id, onclick: () => applyPreset(p) }, p.label));
	const planPresetBtns = PLAN_PRESETS.map((p) => h('button', { type: 'button', class: 'btn', id: p.id, onclick: () => applyPlanPreset(p) }, p.label));

	// --- the form's two shapes -----------------------------------------------------------
	const modeMethod = h('input', { type: 'radio', name: 'config-form', id: 'form-method', value: 'method' });
	const modePlan = h('input', { type: 'radio', name: 'config-form', id: 'form-plan', value: 'plan' });
	const modeGroup = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Config form' },
		h('label', null, modeMethod, ' 2.2-era method'), h('label', null, modePlan, ' V4 selection plan'));
	const methodPlan = h('div', { id: 'method-plan', class: 'plan-view', 'aria-live': 'polite' });
	const toPlanBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'method-to-plan' }, 'Edit as a V4 plan');
	const budgetKind = h('select', { id: 'f-budget-kind', name: 'budget' }, BUDGETS.map(([v, l]) => h('option', { value: v }, l)));
	const budgetValue = h('input', { id: 'f-budget-value', name: 'budget_value', type: 'text', inputmode: 'decimal', autocomplete: 'off' });
	const entriesBox = h('ol', { id: 'plan-entries', class: 'plan-entries' });
	const addInput = h('select', { id: 'plan-add-input', 'aria-label': 'Input of the new entry' }, Object.keys(INPUTS).map((k) => h('option', { value: k }, `${k} — ${INPUTS[k].label}`)));
	const addBtn = h('button', { type: 'button', class: 'btn', id: 'plan-add' }, 'Add entry');
	const keyList = h('datalist', { id: 'metadata-keys' }, LIGHTLY_KEYS.map((k) => h('option', { value: k })));
	const tagList = h('datalist', { id: 'dataset-tags' });
	const planBox = h('div', { id: 'plan-editor', hidden: true },
		h('fieldset', null, h('legend', null, 'Budget'),
			h('div', { class: 'row2' },
				field('Budget', budgetKind, 'Not both: a count or a fraction of the candidates left after thresholds.'),
				field('Value', budgetValue)), kPlan),
		h('fieldset', null, h('legend', null, 'Datapool'),
			h('div', { class: 'field field-check' }, el.useDatapool, h('label', { for: el.useDatapool.id }, 'Use the datapool (V4: the one named “default”)')),
			h('p', { class: 'hint' }, 'Incremental selection: picks already in the datapool count as selected, and this run’s picks join it.')),
		h('fieldset', null, h('legend', null, 'Plan entries (multiplied left to right)'),
			entriesBox,
			h('div', { class: 'actions' }, addInput, addBtn),
			keyList, tagList));

	const form = h('form', { id: 'wizard', class: 'wizard', novalidate: true, 'aria-busy': 'true' },
		summary,
		sizeBox,
		h('div', { class: 'presets', role: 'group', 'aria-label': 'Presets' }, h('span', { class: 'muted' }, 'Presets:'), presetBtns),
		h('div', { class: 'presets', role: 'group', 'aria-label': 'Plan presets' }, h('span', { class: 'muted' }, 'Plans (Lightly’s examples):'), planPresetBtns),
		h('div', { class: 'presets' }, h('span', { class: 'muted' }, 'Form:'), modeGroup),
		h('div', { class: 'wizard-cols' },
			h('div', { class: 'wizard-form' },
				planBox,
				h('div', { id: 'method-form' },
				h('fieldset', null, h('legend', null, 'Selection'),
					field('Method', el.method),
					h('div', { class: 'row2' },
						field('Number of samples (n_samples)', el.nSamples, 'A fraction in (0,1], a count ≥ 2, or -1 (off).'),
						field('Minimum distance (min_distance)', el.minDistance, '-1 (off) or a distance ≥ 0.')),
					kMethod,
					h('div', { class: 'field' }, h('span', { class: 'label' }, 'The plan this method means (SPEC 4.8)'), methodPlan, h('div', null, toPlanBtn))),
				h('fieldset', null, h('legend', null, 'Active learning'),
					field('Prediction task', el.task, 'Needed by coral and active_learning.'),
					field('Score', el.score, 'The score that weights the selection; only those of the task’s type.')),
				h('fieldset', null, h('legend', null, 'Object-frequency scorer'),
					h('div', { class: 'field field-check' }, el.scorer, h('label', { for: el.scorer.id }, 'Scorer on (object-detection tasks)')),
					h('div', { class: 'row2' },
						field('Frequency penalty (frequency_penalty)', el.freqPenalty, 'In [0, 1].'),
						field('Minimum score (min_score)', el.minScore, 'In [0, 1].'))),
				h('fieldset', null, h('legend', null, 'Checks'),
					h('div', { class: 'field field-check' }, el.corrupt, h('label', { for: el.corrupt.id }, 'Corruptness check')),
					h('div', { class: 'field field-check' }, el.dups, h('label', { for: el.dups.id }, 'Remove exact duplicates'))),
				h('fieldset', null, h('legend', null, 'Datapool'),
					field('Datapool name', el.datapool, 'Incremental selection (docker.datapool.name): picks already in this datapool count as selected, and this run’s picks join it. Letters, digits, . _ -.'))),
				h('fieldset', null, h('legend', null, 'Scheduling'),
					field('Priority', el.priority),
					field('Worker labels (runsOn)', el.runsOn, 'Comma-separated: only a worker with every one of these labels takes the run. Empty: any worker.'),
					workerBox)),
			h('div', { class: 'wizard-json' },
				h('div', { class: 'field' }, h('label', { for: el.json.id }, 'Config as JSON (for experts)'), el.json, jsonStatus, warnBox))),
		h('div', { class: 'actions' }, submit, h('a', { href: `#/datasets/${enc(did)}`, class: 'btn btn-ghost' }, 'Back')));
	main.appendChild(section(`Run on “${ds.name}”`, form));

	// --- sync -------------------------------------------------------------------------
	function ensureOption(select, value, label) {
		if ([...select.options].some((o) => o.value === value)) return;
		select.appendChild(h('option', { value, 'data-extra': '1' }, label || value));
	}

	function taskOf(name) { return tasks.find((t) => t.name === name); }
	function scoresOf(task) {
		if (!task) return null;
		return (task.scores && task.scores.length) ? task.scores : (SCORES_BY_TYPE[task.taskType] || []);
	}
	function defaultScoreOf(task) {
		if (!task) return 'uncertainty_margin';
		const s = scoresOf(task);
		return task.defaultScore || (s.includes('uncertainty_margin') ? 'uncertainty_margin' : s[0]);
	}

	function fillTasks() {
		el.task.replaceChildren(h('option', { value: '' }, '(none)'),
			...tasks.map((t) => h('option', { value: t.name }, t.taskType ? `${t.name} (${t.taskType})` : `${t.name} (unreadable: ${t.error || 'no schema'})`)));
	}

	function fillScores() {
		const tname = getPath(cfg, 'docker.active_learning.task_name') || '';
		const cur = getPath(cfg, 'docker.active_learning.score_name');
		const t = taskOf(tname);
		const list = scoresOf(t);
		if (list) {
			el.score.replaceChildren(...list.map((s) => h('option', { value: s }, s === defaultScoreOf(t) ? `${s} (default)` : s)));
			el.score.disabled = false;
		} else {
			// no task chosen, or a task the datasource does not have: keep what the config says
			el.score.replaceChildren(h('option', { value: cur || 'uncertainty_margin' }, cur || 'uncertainty_margin'));
			el.score.disabled = !tname;
		}
		if (cur !== undefined) ensureOption(el.score, String(cur), `${cur} (not a score of this task)`);
	}

	// --- the plan of a 2.2-era config, read-only ------------------------------------------
	function entryText(e) {
		const i = (e && e.input) || {}, st = (e && e.strategy) || {};
		const args = ['task', 'score', 'name', 'key', 'tagName', 'randomSeed'].filter((k) => i[k] !== undefined && i[k] !== '').map((k) => `${k}=${i[k]}`);
		const sargs = Object.entries(st).filter(([k]) => k !== 'type').map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`);
		return `${i.type || '?'}${args.length ? `(${args.join(', ')})` : ''} / ${st.type || '?'}${sargs.length ? ` (${sargs.join(', ')})` : ''}`;
	}
	function budgetText(p) {
		if (p.nSamples !== undefined && p.nSamples !== -1) return `nSamples ${p.nSamples}`;
		if (p.proportionSamples !== undefined) return `proportionSamples ${p.proportionSamples}`;
		return 'no budget';
	}
	function renderMethodPlan() {
		const plan = serverPlan || planOfMethod(cfg.docker);
		methodPlan.dataset.source = serverPlan ? 'server' : 'table';
		if (!plan) { methodPlan.replaceChildren(h('p', { class: 'muted' }, 'No plan: the method is not one of the four.')); return; }
		methodPlan.replaceChildren(
			h('p', { class: 'muted' }, `${budgetText(plan)}${serverPlan ? '' : ' (the server checks the config next)'}`),
			h('ol', { class: 'plan-list' }, (plan.strategies || []).map((e) => h('li', { class: 'plan-item' }, entryText(e)))));
	}

	// --- the V4 plan editor ----------------------------------------------------------------
	let planFields = [];	// {el, path} of the plan editor, for the server's error paths
	const sel = () => cfg.selection && typeof cfg.selection === 'object' && !Array.isArray(cfg.selection) ? cfg.selection : (cfg.selection = {});
	const entries = () => (Array.isArray(sel().strategies) ? sel().strategies : (sel().strategies = []));
	const obj = (e, k) => (e[k] && typeof e[k] === 'object' && !Array.isArray(e[k]) ? e[k] : (e[k] = {}));

	function firstTask(types) {
		return tasks.find((t) => types.includes(t.taskType)) || tasks.find((t) => t.taskType) || null;
	}
	function presetValues() {
		const t = firstTask(['classification']);
		return { task: t ? t.name : 'my-classification-task', score: t ? defaultScoreOf(t) : 'uncertainty_margin',
			tag: tags.length ? tags[0].name : 'my-query-tag' };
	}

	function valueText(f, v) {
		if (v === undefined || v === null) return '';
		if (f.kind === 'target') return targetText(v);
		if (f.kind === 'categories') return Array.isArray(v) ? v.join(', ') : (typeof v === 'string' ? v : JSON.stringify(v));
		return typeof v === 'string' ? v : JSON.stringify(v);
	}
	function valueOf(f, text) {
		const t = String(text);
		if (t.trim() === '') return undefined;
		if (f.kind === 'number') return parseNumberish(t);
		if (f.kind === 'target') return parseTarget(t);
		if (f.kind === 'categories') return t.split(',').map((x) => x.trim()).filter(Boolean);
		return t;
	}

	// One control for a field of an entry's input or strategy; edits go to part[f.key].
	function planControl(id, f, part, structural) {
		const v = part[f.key];
		let c;
		if (f.kind === 'task') {
			c = h('select', { id }, h('option', { value: '' }, '(choose a task)'),
				tasks.map((t) => h('option', { value: t.name }, t.taskType ? `${t.name} (${t.taskType})` : t.name)));
			if (v !== undefined && v !== '') ensureOption(c, String(v), `${v} (not in this dataset)`);
		} else if (f.kind === 'score') {
			const list = scoresOf(taskOf(part.task)) || [];
			c = h('select', { id }, h('option', { value: '' }, '(choose a score)'), list.map((x) => h('option', { value: x }, x)));
			if (v !== undefined && v !== '') ensureOption(c, String(v), `${v} (not a score of this task)`);
		} else if (f.kind === 'enum') {
			c = h('select', { id }, f.required ? null : h('option', { value: '' }, '(default)'), f.values.map((x) => h('option', { value: x }, x)));
			if (v !== undefined && v !== '') ensureOption(c, String(v));
		} else {
			c = h('input', { id, type: 'text', autocomplete: 'off', spellcheck: 'false',
				inputmode: f.kind === 'number' ? 'decimal' : null,
				list: f.kind === 'key' ? 'metadata-keys' : f.kind === 'tag' ? 'dataset-tags' : null });
		}
		c.value = valueText(f, v);
		const isSelect = c.tagName === 'SELECT';
		c.addEventListener(isSelect ? 'change' : 'input', () => {
			const nv = valueOf(f, c.value);
			if (nv === undefined) delete part[f.key]; else part[f.key] = nv;
			if (f.kind === 'task') {
				// a SCORES entry keeps its score only when the new task has it
				const list = scoresOf(taskOf(nv));
				if ('score' in part || structural === 'scores') part.score = list && list.includes(part.score) ? part.score : (taskOf(nv) ? defaultScoreOf(taskOf(nv)) : part.score);
			}
			changed(isSelect);
		});
		return c;
	}

	function changed(structural) {
		if (structural) renderPlan();
		writeJson();
		validateSoon();
	}

	function renderPlan() {
		const focusId = document.activeElement && document.activeElement.id;
		planFields = [];
		const s = sel();
		const kind = 'nSamples' in s ? 'nSamples' : ('proportionSamples' in s ? 'proportionSamples' : '');
		budgetKind.value = kind;
		budgetValue.disabled = !kind;
		budgetValue.value = kind ? valueText({ kind: 'number' }, s[kind]) : '';
		planFields.push({ el: budgetKind, path: 'selection' }, { el: budgetValue, path: 'selection.nSamples' },
			{ el: budgetValue, path: 'selection.proportionSamples' }, { el: addBtn, path: 'selection.strategies' });
		const list = entries();
		entriesBox.replaceChildren(...list.map((e, i) => renderEntry(e, i, list.length)));
		if (!list.length) entriesBox.appendChild(h('li', { class: 'muted' }, 'No entries yet: add one.'));
		// only DIVERSITY, SIMILARITY and TYPICALITY are limited to one entry each
		if (focusId && document.getElementById(focusId) && document.getElementById(focusId) !== document.activeElement) document.getElementById(focusId).focus();
	}

	function renderEntry(e, i, n) {
		if (!e || typeof e !== 'object' || Array.isArray(e)) {
			const li = h('li', { class: 'plan-entry', 'data-index': i }, h('p', { class: 'field-error-text' }, `Entry ${i + 1} is not an object {input, strategy}; edit it in the JSON.`));
			return li;
		}
		const input = obj(e, 'input'), strat = obj(e, 'strategy');
		const pre = `f-e${i}`;
		const inSel = h('select', { id: `${pre}-input` }, Object.keys(INPUTS).map((k) => h('option', { value: k }, `${k} — ${INPUTS[k].label}`)));
		if (input.type !== undefined) ensureOption(inSel, String(input.type), `${input.type} (unknown)`);
		inSel.value = input.type ?? 'EMBEDDINGS';
		const allowed = ALLOWED[input.type] || Object.keys(STRATEGIES);
		const taken = (t) => ONCE.includes(t) && entries().some((x, k) => k !== i && x && x.strategy && x.strategy.type === t);
		const stSel = h('select', { id: `${pre}-strategy` }, allowed.map((k) => h('option', { value: k, disabled: taken(k) && strat.type !== k }, `${k} — ${STRATEGIES[k].label}${taken(k) && strat.type !== k ? ' (already in the plan)' : ''}`)));
		if (strat.type !== undefined) ensureOption(stSel, String(strat.type), `${strat.type} (not allowed with ${input.type})`);
		stSel.value = strat.type ?? allowed[0];
		inSel.addEventListener('change', () => {
			const fresh = newEntry(inSel.value, freeStrategy(inSel.value, strat.type, i));
			if (strat.strength !== undefined && STRATEGIES[fresh.strategy.type].strength) fresh.strategy.strength = strat.strength;
			if (fresh.strategy.type === strat.type) fresh.strategy = strat;
			if (inSel.value === 'SCORES' || inSel.value === 'PREDICTIONS') {
				const t = firstTask(inSel.value === 'PREDICTIONS' ? ['classification', 'object-detection'] : ['classification']);
				if (t) { fresh.input.task = t.name; if (inSel.value === 'SCORES') fresh.input.score = defaultScoreOf(t); }
			}
			entries()[i] = fresh;
			changed(true);
		});
		stSel.addEventListener('change', () => {
			const fresh = newEntry(input.type in ALLOWED ? input.type : 'EMBEDDINGS', stSel.value).strategy;
			fresh.type = stSel.value;
			if (strat.strength !== undefined && STRATEGIES[stSel.value] && STRATEGIES[stSel.value].strength) fresh.strength = strat.strength;
			e.strategy = fresh;
			changed(true);
		});
		const ctl = (part, f, side) => {
			const c = planControl(`${pre}-${side}-${f.key}`, f, part, part === input && input.type === 'SCORES' ? 'scores' : null);
			planFields.push({ el: c, path: `selection.strategies.${i}.${side === 'in' ? 'input' : 'strategy'}.${f.key}` });
			return field(f.label + (f.required ? '' : ''), c, f.hint);
		};
		const inDef = INPUTS[input.type], stDef = STRATEGIES[strat.type];
		const strength = stDef && stDef.strength ? { key: 'strength', label: 'Strength', kind: 'number', hint: 'Default 1; negative prefers low objectives; 0 ignores the entry.' } : null;
		const up = h('button', { type: 'button', class: 'btn btn-small', id: `${pre}-up`, disabled: i === 0, 'aria-label': `Move entry ${i + 1} up` }, '↑');
		const down = h('button', { type: 'button', class: 'btn btn-small', id: `${pre}-down`, disabled: i === n - 1, 'aria-label': `Move entry ${i + 1} down` }, '↓');
		const rm = h('button', { type: 'button', class: 'btn btn-small btn-danger', id: `${pre}-remove`, 'aria-label': `Remove entry ${i + 1}` }, 'Remove');
		const move = (to) => {
			const l = entries();
			[l[i], l[to]] = [l[to], l[i]];
			changed(false);
			renderPlan();
			document.getElementById(`f-e${to}-${to < i ? 'up' : 'down'}`)?.focus();
		};
		up.addEventListener('click', () => move(i - 1));
		down.addEventListener('click', () => move(i + 1));
		rm.addEventListener('click', () => { entries().splice(i, 1); changed(true); addBtn.focus(); });
		planFields.push({ el: stSel, path: `selection.strategies.${i}` }, { el: inSel, path: `selection.strategies.${i}.input` },
			{ el: inSel, path: `selection.strategies.${i}.input.type` }, { el: stSel, path: `selection.strategies.${i}.strategy` },
			{ el: stSel, path: `selection.strategies.${i}.strategy.type` });
		return h('li', { class: 'plan-entry', 'data-index': i, 'data-input': input.type ?? '', 'data-strategy': strat.type ?? '' },
			h('div', { class: 'plan-entry-head' },
				h('strong', null, `Entry ${i + 1}`), h('span', { class: 'muted' }, ` ${strat.type ?? '?'} on ${input.type ?? '?'}`),
				h('span', { class: 'actions plan-entry-moves' }, up, down, rm)),
			h('div', { class: 'row2' }, field('Input', inSel), field('Strategy', stSel)),
			h('div', { class: 'row2' },
				h('div', null, (inDef ? inDef.fields : []).filter((f) => !f.only || f.only.includes(strat.type) || input[f.key] !== undefined).map((f) => ctl(input, f, 'in'))),
				h('div', null, (stDef ? stDef.fields : []).map((f) => ctl(strat, f, 'st')), strength ? ctl(strat, strength, 'st') : null)));
	}

	// The strategy an entry (index i; -1: a new one) of this input gets: prefer if allowed and
	// free, else the first allowed one that another entry does not hold already (DIVERSITY,
	// SIMILARITY and TYPICALITY are allowed once each, SPEC 4.8).
	function freeStrategy(input, prefer, i) {
		const taken = (st) => ONCE.includes(st) && entries().some((x, k) => k !== i && x && x.strategy && x.strategy.type === st);
		const allowed = ALLOWED[input] || [];
		if (allowed.includes(prefer) && !taken(prefer)) return prefer;
		return allowed.find((st) => !taken(st)) || allowed[0];
	}

	budgetKind.addEventListener('change', () => {
		const s = sel();
		const old = 'nSamples' in s ? s.nSamples : s.proportionSamples;
		delete s.nSamples;
		delete s.proportionSamples;
		if (budgetKind.value === 'nSamples') s.nSamples = typeof old === 'number' && old >= 1 ? old : 100;
		if (budgetKind.value === 'proportionSamples') s.proportionSamples = typeof old === 'number' && old <= 1 ? old : 0.1;
		changed(true);
	});
	budgetValue.addEventListener('input', () => {
		const v = valueOf({ kind: 'number' }, budgetValue.value);
		if (budgetKind.value) { if (v === undefined) delete sel()[budgetKind.value]; else sel()[budgetKind.value] = v; }
		changed(false);
	});
	addBtn.addEventListener('click', () => {
		const e = newEntry(addInput.value);
		const t = firstTask(addInput.value === 'PREDICTIONS' ? ['classification', 'object-detection'] : ['classification']);
		if (t && (addInput.value === 'SCORES' || addInput.value === 'PREDICTIONS')) {
			e.input.task = t.name;
			if (addInput.value === 'SCORES') e.input.score = defaultScoreOf(t);
		}
		e.strategy = newEntry(addInput.value, freeStrategy(addInput.value, e.strategy.type, -1)).strategy;
		entries().push(e);
		changed(true);
		document.getElementById(`f-e${entries().length - 1}-input`)?.focus();
	});

	// Switching the form: a method becomes the plan it means; a plan goes back to the default preset.
	function setMode(plan) {
		if (plan === isV4(cfg)) return;
		if (plan) {
			const p = serverPlan || planOfMethod(cfg.docker) || { strategies: [] };
			const { method, ...selection } = structuredClone(p);
			void method;
			cfg = { workerType: 'FULL', docker: {}, lightly: cfg.lightly || {}, selection };
		} else {
			cfg = { docker: structuredClone(PRESETS[0].docker), lightly: cfg.lightly || {} };
		}
		serverPlan = null;
		clearFieldErrors(form);
		summary.hidden = true;
		renderForm();
		writeJson();
		validateSoon();
	}
	modeMethod.addEventListener('change', () => setMode(false));
	modePlan.addEventListener('change', () => setMode(true));
	toPlanBtn.addEventListener('click', () => { setMode(true); modePlan.focus(); });

	function applyPlanPreset(p) {
		cfg = { workerType: 'FULL', docker: {}, lightly: cfg.lightly || {}, selection: p.selection(presetValues()) };
		serverPlan = null;
		clearFieldErrors(form);
		summary.hidden = true;
		renderForm();
		writeJson();
		validateSoon();
	}

	function renderForm() {
		const v4 = isV4(cfg);
		modePlan.checked = v4;
		modeMethod.checked = !v4;
		planBox.hidden = !v4;
		form.querySelector('#method-form').hidden = v4;
		if (v4) { el.useDatapool.checked = getPath(cfg, 'docker.useDatapool') === true; renderPlan(); return; }
		renderMethodPlan();
		const tname = getPath(cfg, 'docker.active_learning.task_name');
		fillTasks();
		if (tname) ensureOption(el.task, String(tname), `${tname} (not in this dataset)`);
		fillScores();
		for (const f of FIELDS) {
			const v = getPath(cfg, f.path);
			if (f.kind === 'select') {
				const val = v === undefined ? f.dflt : String(v);
				ensureOption(f.el, val);
				f.el.value = val;
			} else if (f.kind === 'number' || f.kind === 'text') {
				f.el.value = v === undefined || v === null ? '' : (typeof v === 'string' ? v : JSON.stringify(v));
			} else if (f.kind === 'bool') {
				f.el.checked = v === undefined ? f.dflt : !!v;
			} else if (f.kind === 'scorer') {
				f.el.checked = v === undefined ? true : v !== '';
			}
		}
		const scorerOn = el.scorer.checked;
		el.freqPenalty.disabled = !scorerOn;
		el.minScore.disabled = !scorerOn;
	}

	function writeJson() {
		updatePreview();
		el.json.value = JSON.stringify(cfg, null, 2);
		jsonStatus.classList.remove('field-error-text');
		jsonStatus.textContent = 'The full config, {"docker": …, "lightly": …}. Edits here update the form.';
	}

	function fromField(f) {
		if (f.kind === 'select') return f.el.value;
		if (f.kind === 'bool') return f.el.checked;
		if (f.kind === 'scorer') return f.el.checked ? 'object-frequency' : '';
		if (f.kind === 'text') return f.el.value.trim() === '' ? undefined : f.el.value.trim();
		return f.el.value.trim() === '' ? undefined : parseNumberish(f.el.value);
	}

	for (const f of FIELDS) {
		f.el.addEventListener(f.el.tagName === 'SELECT' || f.el.type === 'checkbox' ? 'change' : 'input', () => { serverPlan = null; }, { capture: true });
		const evname = f.el.tagName === 'SELECT' || f.el.type === 'checkbox' ? 'change' : 'input';
		f.el.addEventListener(evname, () => {
			const v = fromField(f);
			if (v === undefined) {
				// an emptied field: the key goes, so the default applies
				const keys = f.path.split('.');
				const parent = getPath(cfg, keys.slice(0, -1).join('.'));
				if (parent && typeof parent === 'object') delete parent[keys[keys.length - 1]];
			} else setPath(cfg, f.path, v);
			if (f.el === el.task) {
				const t = taskOf(v);
				const scores = scoresOf(t);
				const cur = getPath(cfg, 'docker.active_learning.score_name');
				if (scores && !scores.includes(cur)) setPath(cfg, 'docker.active_learning.score_name', defaultScoreOf(t));
			}
			if (f.kind !== 'number' && f.kind !== 'text') renderForm();
			else { el.freqPenalty.disabled = !el.scorer.checked; el.minScore.disabled = !el.scorer.checked; }
			writeJson();
			validateSoon();
		});
	}

	el.json.addEventListener('input', () => {
		let parsed;
		try { parsed = JSON.parse(el.json.value); } catch (e) {
			jsonStatus.textContent = `Not valid JSON: ${e.message}`;
			jsonStatus.classList.add('field-error-text');
			return;
		}
		if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
			jsonStatus.textContent = 'The config must be a JSON object.';
			jsonStatus.classList.add('field-error-text');
			return;
		}
		const bare = !('docker' in parsed) && !('lightly' in parsed) && !isV4(parsed) && !('workerType' in parsed);
		cfg = bare ? { docker: parsed, lightly: {} } : { ...parsed, docker: parsed.docker ?? {}, lightly: parsed.lightly ?? {} };
		serverPlan = null;
		if (!cfg.docker || typeof cfg.docker !== 'object') cfg.docker = {};
		jsonStatus.classList.remove('field-error-text');
		jsonStatus.textContent = bare ? 'Read as the docker part.' : 'In sync with the form.';
		renderForm();
		updatePreview();
		validateSoon();
	});

	function applyPreset(p) {
		cfg = { docker: structuredClone(p.docker), lightly: cfg.lightly || {} };
		serverPlan = null;
		const t = taskOf(cfg.docker.active_learning.task_name);
		if (t && !scoresOf(t).includes(cfg.docker.active_learning.score_name)) cfg.docker.active_learning.score_name = defaultScoreOf(t);
		clearFieldErrors(form);
		summary.hidden = true;
		renderForm();
		writeJson();
		validateSoon();
	}

	// --- the dataset's size, the k it means, and the workers that would take the run ----------
	function updatePreview() {
		const b = budgetOf(cfg);
		const text = kPreview(b, datasetSize);
		kMethod.textContent = text;
		kPlan.textContent = text;
		kMethod.hidden = isV4(cfg);
		kPlan.hidden = !isV4(cfg);
	}

	let workersSeq = 0, workersTimer = null;
	ctx.onLeave(() => clearTimeout(workersTimer));
	async function checkWorkers() {
		const my = ++workersSeq;
		const want = parseLabels(el.runsOn.value);
		let workers;
		try { workers = asList(await get('/v1/winnow/workers'), 'workers'); } catch (e) {
			if (my === workersSeq && ctx.alive) workerBox.replaceChildren(h('p', { class: 'muted' }, `The workers could not be read: ${e instanceof ApiError ? e.message : e}`));
			return;
		}
		if (my !== workersSeq || !ctx.alive) return;
		const { matching, online } = matchWorkers(workers, want);
		const labelsText = want.length ? `the labels ${want.map((l) => `“${l}”`).join(', ')}` : 'no labels';
		workerBox.classList.toggle('is-warning', !matching.length);
		workerBox.dataset.matching = String(matching.length);
		if (!matching.length) {
			workerBox.replaceChildren(h('p', { role: 'status' }, h('strong', null, 'No online worker would take this run. '),
				online.length ? `${online.length} worker${online.length === 1 ? ' is' : 's are'} online, but none has ${labelsText}. ` : 'No worker is online. ',
				'It stays OPEN (waiting for a worker) until one with these labels polls. You can still schedule it. ',
				h('a', { href: '#/workers', id: 'worker-check-link' }, 'See the workers')));
		} else {
			workerBox.replaceChildren(h('p', null, `${matching.length} online worker${matching.length === 1 ? '' : 's'}${want.length ? ` with ${labelsText}` : ''} would take it: `),
				h('ul', null, matching.map((w) => h('li', null, h('strong', null, w.name), ` (${w.state}${(w.labels || []).length ? `; labels ${w.labels.join(', ')}` : ''})`))));
		}
		workerBox.dataset.checked = el.runsOn.value;
	}
	el.runsOn.addEventListener('input', () => {
		clearTimeout(workersTimer);
		setFieldError(el.runsOn, '');
		el.runsOn.removeAttribute('aria-invalid');
		workersTimer = setTimeout(checkWorkers, 300);
	});
	el.useDatapool.addEventListener('change', () => {
		if (!cfg.docker || typeof cfg.docker !== 'object') cfg.docker = {};
		if (el.useDatapool.checked) cfg.docker.useDatapool = true; else delete cfg.docker.useDatapool;
		writeJson();
		validateSoon();
	});

	// --- errors -----------------------------------------------------------------------
	function fieldForPath(p) {
		const np = normalizeErrorPath(p);
		const all = isV4(cfg) ? [...planFields, { el: el.useDatapool, path: 'docker.useDatapool', label: 'Use the datapool' }] : FIELDS;
		let best = all.find((f) => f.path === np);
		// the longest field path the error lies under ("...target.\"cat\"" -> the target field)
		if (!best) best = all.filter((f) => np.startsWith(`${f.path}.`)).sort((a, b) => b.path.length - a.path.length)[0];
		if (!best) best = all.find((f) => np && f.path.startsWith(`${np}.`));
		return best || null;
	}

	// Live check while editing: the server's validate route, debounced; its errors sit next to
	// the fields (the summary only once a submit showed it), its warnings under the JSON.
	let vSeq = 0, vTimer = null;
	ctx.onLeave(() => clearTimeout(vTimer));
	function validateSoon() {
		clearTimeout(vTimer);
		vTimer = setTimeout(validateNow, 600);
	}
	async function validateNow() {
		const my = ++vSeq;
		let r;
		try { r = await post('/v1/winnow/configs/validate', configBody()); } catch { return; /* submit reports it */ }
		if (my !== vSeq || !ctx.alive) return;
		const errs = (r && Array.isArray(r.errors)) ? r.errors : [];
		const warns = (r && Array.isArray(r.warnings)) ? r.warnings : [];
		if (errs.length) showErrors(errs, null, { live: true });
		else { clearFieldErrors(form); summary.hidden = true; }
		serverPlan = r && r.plan && typeof r.plan === 'object' ? r.plan : null;
		if (!isV4(cfg)) renderMethodPlan();
		form.dataset.validated = String(my);
		warnBox.replaceChildren(...warns.map((w) => h('li', null, typeof w === 'string' ? w : `${w.path ? w.path + ': ' : ''}${w.message || ''}`)));
		warnBox.hidden = !warns.length;
	}
	function configBody() {
		if (isV4(cfg)) return { version: 'V4', config: { ...cfg, workerType: cfg.workerType ?? 'FULL', docker: cfg.docker ?? {}, lightly: cfg.lightly || {} } };
		return { config: { ...cfg, workerType: 'FULL', docker: cfg.docker, lightly: cfg.lightly || {} } };
	}

	function showErrors(errors, general, { live = false } = {}) {
		const wasShown = !summary.hidden;
		clearFieldErrors(form);
		const items = [];
		if (general) items.push(h('li', null, general));
		for (const e of errors) {
			const path = e.path || e.field || '';
			const msg = e.message || e.error || String(e);
			const f = fieldForPath(path);
			const text = path && !msg.startsWith(path) ? `${path}: ${msg}` : msg;
			if (f) {
				// in words at the field and in the summary: the field's label; the JSON path as a detail
				const label = f.label || fieldLabelOf(f.el);
				const words = msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
				setFieldError(f.el, `${label}: ${words}`);
				items.push(h('li', null, h('a', { href: `#${f.el.id}`, onclick: (ev) => { ev.preventDefault(); f.el.focus(); } }, `${label}: ${words}`),
					path ? h('span', { class: 'field-error-detail' }, `in the config at ${path}`) : null));
			} else {
				setFieldError(el.json, text);
				items.push(h('li', null, h('a', { href: `#${el.json.id}`, onclick: (ev) => { ev.preventDefault(); el.json.focus(); } }, text)));
			}
		}
		summary.replaceChildren(h('h2', null, items.length === 1 ? 'The config has an error' : `The config has ${items.length} errors`), h('ul', null, items));
		if (live && !wasShown) return;
		summary.hidden = false;
		if (!live) summary.focus();
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		summary.hidden = true;
		try { JSON.parse(el.json.value); } catch (e) {
			showErrors([], null);
			setFieldError(el.json, `Not valid JSON: ${e.message}`);
			summary.replaceChildren(h('h2', null, 'The JSON config is not valid'), h('p', null, e.message));
			summary.hidden = false;
			return;
		}
		submit.disabled = true;
		submit.textContent = 'Scheduling…';
		try {
			const body = configBody();
			clearTimeout(vTimer);
			vSeq++;	// a live check still under way must not overwrite what the submit shows
			let configId;
			try {
				configId = (await post(isV4(cfg) ? '/v1/docker/worker/config/vX' : '/v1/docker/worker/config', body)).id;
			} catch (e) {
				if (e instanceof ApiError && e.code === 'DOCKER_WORKER_CONFIG_INVALID') {
					// Lightly's error reply holds a message only: the list, each next to its field,
					// comes from the validate route.
					const v = await post('/v1/winnow/configs/validate', body).catch(() => null);
					const errs = v && Array.isArray(v.errors) ? v.errors : [];
					showErrors(errs, errs.length ? null : e.message);
					return;
				}
				if (e instanceof ApiError && e.status === 400) { showErrors([], e.message); return; }
				throw e;
			}
			const runsOn = parseLabels(el.runsOn.value);
			let sched;
			try {
				sched = await post(`/v1/datasets/${enc(did)}/docker/worker/schedule`, { configId, priority: el.priority.value, ...(runsOn.length ? { runsOn } : {}) });
			} catch (e) {
				if (e instanceof ApiError && e.status === 400 && /runsOn/.test(e.message)) {
					setFieldError(el.runsOn, `Worker labels: ${e.message.replace(/^runsOn[^:]*: /, '')}`);
					el.runsOn.focus();
					return;
				}
				throw e;
			}
			ctx.go(`#/datasets/${enc(did)}/runs/${enc(sched.id)}`);
		} catch (e) {
			showBanner(e);
		} finally {
			submit.disabled = false;
			submit.textContent = 'Schedule run';
		}
	});

	// --- start: tasks of the dataset, then the default preset ------------------------
	try {
		tasks = asList(await get(`/v1/winnow/datasets/${enc(did)}/tasks`), 'tasks');
	} catch (e) {
		tasksError = e;
	}
	try {
		tags = asList(await get(`/v1/datasets/${enc(did)}/tags`), 'tags');
		tagList.replaceChildren(...tags.map((t) => h('option', { value: t.name })));
	} catch { /* no tags offered: the field still takes a name */ }
	get(`/v1/winnow/datasets/${enc(did)}/files?limit=1`).then((r) => {
		if (!ctx.alive) return;
		datasetSize = { total: r.total, truncated: !!r.truncated };
		sizeBox.textContent = `This dataset: ${fmtInt(r.total)}${r.truncated ? '+' : ''} image${r.total === 1 ? '' : 's'} in its datasource${r.truncated ? ' (the listing stopped there)' : ''}. Corrupt and duplicate images are removed before the selection.`;
		sizeBox.dataset.total = String(r.total);
		updatePreview();
	}).catch((e) => {
		if (!ctx.alive) return;
		sizeBox.textContent = e instanceof ApiError && e.status === 404 ? 'The dataset has no datasource yet: its size is unknown.' : `The dataset’s size could not be read: ${e instanceof ApiError ? e.message : e}`;
	});
	checkWorkers();
	if (!ctx.alive) return;
	const preset = ctx.query.get('preset');
	const planPreset = PLAN_PRESETS.find((p) => p.id === `plan-${ctx.query.get('plan')}`);
	if (planPreset) applyPlanPreset(planPreset);
	else applyPreset(PRESETS.find((p) => p.id === `preset-${preset}`) || PRESETS[0]);
	if (tasksError) setFieldError(el.task, `The task list could not be read: ${tasksError instanceof ApiError ? tasksError.message : tasksError}`);
	else if (!tasks.length) el.task.closest('.field').appendChild(h('p', { class: 'hint' }, 'This datasource has no prediction tasks.'));
	form.setAttribute('aria-busy', 'false');
}
