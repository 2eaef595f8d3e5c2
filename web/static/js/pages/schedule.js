// "Schedule run": the wizard. Form fields and the JSON editor edit one config and stay in
// sync both ways; the server validates (POST config) and each error lands next to its field.
import { get, post, asList, enc, ApiError } from '../api.js';
import { h, field, section, setFieldError, clearFieldErrors, showBanner, setTitle } from '../ui.js';
import { PRESETS, METHODS, SCORES_BY_TYPE, getPath, setPath, parseNumberish, normalizeErrorPath } from '../config.js';

const PRIORITIES = ['LOW', 'MID', 'HIGH', 'CRITICAL'];

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
		json: h('textarea', { id: 'f-json', name: 'config', rows: 24, spellcheck: 'false', autocomplete: 'off', class: 'code' }),
	};
	// Each form field and the config path it edits (error paths map to these).
	const FIELDS = [
		{ el: el.method, path: 'docker.method', kind: 'select', dflt: 'coreset' },
		{ el: el.nSamples, path: 'docker.stopping_condition.n_samples', kind: 'number' },
		{ el: el.minDistance, path: 'docker.stopping_condition.min_distance', kind: 'number' },
		{ el: el.task, path: 'docker.active_learning.task_name', kind: 'select', dflt: '' },
		{ el: el.score, path: 'docker.active_learning.score_name', kind: 'select', dflt: 'uncertainty_margin' },
		{ el: el.scorer, path: 'docker.scorer', kind: 'scorer' },
		{ el: el.freqPenalty, path: 'docker.scorer_config.frequency_penalty', kind: 'number' },
		{ el: el.minScore, path: 'docker.scorer_config.min_score', kind: 'number' },
		{ el: el.corrupt, path: 'docker.enable_corruptness_check', kind: 'bool', dflt: true },
		{ el: el.dups, path: 'docker.remove_exact_duplicates', kind: 'bool', dflt: true },
	];

	const summary = h('div', { id: 'wizard-errors', class: 'error-summary', role: 'alert', tabindex: '-1', hidden: true });
	const jsonStatus = h('p', { class: 'hint', id: 'f-json-status' }, 'The full config, {"docker": …, "lightly": …}. Edits here update the form.');
	const warnBox = h('ul', { class: 'warnings', id: 'wizard-warnings', hidden: true, 'aria-label': 'Warnings' });
	const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'wizard-submit' }, 'Schedule run');
	const presetBtns = PRESETS.map((p) => h('button', { type: 'button', class: 'btn', id: p.id, onclick: () => applyPreset(p) }, p.label));

	const form = h('form', { id: 'wizard', class: 'wizard', novalidate: true, 'aria-busy': 'true' },
		summary,
		h('div', { class: 'presets', role: 'group', 'aria-label': 'Presets' }, h('span', { class: 'muted' }, 'Presets:'), presetBtns),
		h('div', { class: 'wizard-cols' },
			h('div', { class: 'wizard-form' },
				h('fieldset', null, h('legend', null, 'Selection'),
					field('Method', el.method),
					h('div', { class: 'row2' },
						field('n_samples', el.nSamples, 'A fraction in (0,1], a count ≥ 2, or -1 (off).'),
						field('min_distance', el.minDistance, '-1 (off) or a distance ≥ 0.'))),
				h('fieldset', null, h('legend', null, 'Active learning'),
					field('Prediction task', el.task, 'Needed by coral and active_learning.'),
					field('Score', el.score, 'The score that weights the selection; only those of the task’s type.')),
				h('fieldset', null, h('legend', null, 'Object-frequency scorer'),
					h('div', { class: 'field field-check' }, el.scorer, h('label', { for: el.scorer.id }, 'Scorer on (object-detection tasks)')),
					h('div', { class: 'row2' },
						field('frequency_penalty', el.freqPenalty, 'In [0, 1].'),
						field('min_score', el.minScore, 'In [0, 1].'))),
				h('fieldset', null, h('legend', null, 'Checks'),
					h('div', { class: 'field field-check' }, el.corrupt, h('label', { for: el.corrupt.id }, 'Corruptness check')),
					h('div', { class: 'field field-check' }, el.dups, h('label', { for: el.dups.id }, 'Remove exact duplicates'))),
				h('fieldset', null, h('legend', null, 'Scheduling'),
					field('Priority', el.priority))),
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

	function renderForm() {
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
			} else if (f.kind === 'number') {
				f.el.value = v === undefined ? '' : (typeof v === 'string' ? v : JSON.stringify(v));
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
		el.json.value = JSON.stringify(cfg, null, 2);
		jsonStatus.classList.remove('field-error-text');
		jsonStatus.textContent = 'The full config, {"docker": …, "lightly": …}. Edits here update the form.';
	}

	function fromField(f) {
		if (f.kind === 'select') return f.el.value;
		if (f.kind === 'bool') return f.el.checked;
		if (f.kind === 'scorer') return f.el.checked ? 'object-frequency' : '';
		return f.el.value.trim() === '' ? undefined : parseNumberish(f.el.value);
	}

	for (const f of FIELDS) {
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
			if (f.kind !== 'number') renderForm();
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
		const bare = !('docker' in parsed) && !('lightly' in parsed);
		cfg = bare ? { docker: parsed, lightly: {} } : { ...parsed, docker: parsed.docker ?? {}, lightly: parsed.lightly ?? {} };
		if (!cfg.docker || typeof cfg.docker !== 'object') cfg.docker = {};
		jsonStatus.classList.remove('field-error-text');
		jsonStatus.textContent = bare ? 'Read as the docker part.' : 'In sync with the form.';
		renderForm();
		validateSoon();
	});

	function applyPreset(p) {
		cfg = { docker: structuredClone(p.docker), lightly: cfg.lightly || {} };
		const t = taskOf(cfg.docker.active_learning.task_name);
		if (t && !scoresOf(t).includes(cfg.docker.active_learning.score_name)) cfg.docker.active_learning.score_name = defaultScoreOf(t);
		clearFieldErrors(form);
		summary.hidden = true;
		renderForm();
		writeJson();
		validateSoon();
	}

	// --- errors -----------------------------------------------------------------------
	function fieldForPath(p) {
		const np = normalizeErrorPath(p);
		let best = FIELDS.find((f) => f.path === np);
		if (!best) best = FIELDS.find((f) => np.startsWith(`${f.path}.`));
		if (!best) best = FIELDS.find((f) => np && f.path.startsWith(`${np}.`));
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
		try { r = await post('/v1/docker/worker/config/validate', configBody()); } catch { return; /* submit reports it */ }
		if (my !== vSeq || !ctx.alive) return;
		const errs = (r && Array.isArray(r.errors)) ? r.errors : [];
		const warns = (r && Array.isArray(r.warnings)) ? r.warnings : [];
		if (errs.length) showErrors(errs, null, { live: true });
		else { clearFieldErrors(form); summary.hidden = true; }
		warnBox.replaceChildren(...warns.map((w) => h('li', null, typeof w === 'string' ? w : `${w.path ? w.path + ': ' : ''}${w.message || ''}`)));
		warnBox.hidden = !warns.length;
	}
	function configBody() {
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
				setFieldError(f.el, msg);
				items.push(h('li', null, h('a', { href: `#${f.el.id}`, onclick: (ev) => { ev.preventDefault(); f.el.focus(); } }, text)));
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
				configId = (await post('/v1/docker/worker/config', body)).id;
			} catch (e) {
				if (e instanceof ApiError && e.errors.length) { showErrors(e.errors, null); return; }
				if (e instanceof ApiError && e.status === 400) { showErrors([], e.message); return; }
				throw e;
			}
			const sched = await post(`/v1/datasets/${enc(did)}/docker/worker/schedule`, { configId, priority: el.priority.value });
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
		tasks = asList(await get(`/v1/datasets/${enc(did)}/tasks`), 'tasks');
	} catch (e) {
		tasksError = e;
	}
	if (!ctx.alive) return;
	const preset = ctx.query.get('preset');
	applyPreset(PRESETS.find((p) => p.id === `preset-${preset}`) || PRESETS[0]);
	if (tasksError) setFieldError(el.task, `The task list could not be read: ${tasksError instanceof ApiError ? tasksError.message : tasksError}`);
	else if (!tasks.length) el.task.closest('.field').appendChild(h('p', { class: 'hint' }, 'This datasource has no prediction tasks.'));
	form.setAttribute('aria-busy', 'false');
}
