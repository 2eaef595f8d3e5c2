// A dataset's overview: sample count, datasource, prediction tasks, tags, its runs.
import { get, getOrNull, put, asList, enc, ApiError } from '../api.js';
import { h, fmtTime, fmtInt, section, table, badge, progressBar, bitCount, errorBox, setTitle, field, setFieldError, clearFieldErrors, RUN_FINAL, SCHEDULED_FINAL } from '../ui.js';

// A dataset without a datasource (its folder was refused at creation): set it here.
function sourceForm(did, ctx) {
	const path = h('input', { id: 'src-path', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '/srv/datasets/my-images' });
	const form = h('form', { class: 'inline-form', novalidate: true },
		h('p', { class: 'muted' }, 'None set yet.'),
		field('Folder (LOCAL datasource)', path, 'A folder on the server, inside one of its --dataset-root folders.'),
		h('button', { type: 'submit', class: 'btn' }, 'Set datasource'));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		try {
			await put(`/v1/datasets/${enc(did)}/datasource`, { type: 'LOCAL', fullPath: path.value.trim() });
			if (ctx.alive) location.reload();
		} catch (e) { setFieldError(path, e instanceof ApiError ? e.message : String(e)); }
	});
	return form;
}

export async function datasetPage(main, ctx) {
	const [did] = ctx.params;
	const ds = await get(`/v1/datasets/${enc(did)}`);
	setTitle(ds.name || 'Dataset');
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/datasets' }, 'Datasets'), ' / ', ds.name));
	main.appendChild(h('div', { class: 'page-head' },
		h('h1', null, ds.name || ds.id),
		h('a', { class: 'btn btn-primary', href: `#/datasets/${enc(did)}/schedule`, id: 'schedule-run' }, 'Schedule run')));

	const srcBox = h('dd', { id: 'ds-source' }, '…');
	main.appendChild(section('Overview', h('dl', { class: 'facts' },
		h('dt', null, 'Samples'), h('dd', { id: 'ds-samples' }, fmtInt(ds.nSamples)),
		h('dt', null, 'Datasource'), srcBox,
		h('dt', null, 'Created'), h('dd', null, fmtTime(ds.createdAt)),
		h('dt', null, 'Id'), h('dd', null, h('code', null, ds.id)))));

	const runsBox = h('div', { id: 'ds-runs' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Runs', runsBox));
	const tasksBox = h('div', { id: 'ds-tasks' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Prediction tasks', tasksBox));
	const tagsBox = h('div', { id: 'ds-tags' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Tags', tagsBox));

	getOrNull(`/v1/datasets/${enc(did)}/datasource`).then((s) => {
		srcBox.replaceChildren(s ? h('span', null, h('span', { class: 'pill' }, s.type || 'LOCAL'), ' ', h('code', null, s.fullPath || '')) : sourceForm(did, ctx));
	}).catch((e) => srcBox.replaceChildren(errorBox(e)));

	get(`/v1/datasets/${enc(did)}/tasks`).then((t) => {
		const tasks = asList(t, 'tasks');
		tasksBox.replaceChildren(table(['Task', 'Type', 'Scores'], tasks.map((x) => h('tr', null,
			h('td', null, x.name), h('td', null, x.taskType),
			h('td', null, (x.scores || []).map((s) => h('span', { class: s === x.defaultScore ? 'pill pill-strong' : 'pill' }, s))))),
		{ empty: 'No prediction tasks in the datasource (.lightly/predictions/tasks.json).' }));
	}).catch((e) => tasksBox.replaceChildren(errorBox(e)));

	// winnow's list: Lightly's tags plus who made each (creator is not in Lightly's TagData)
	get(`/v1/winnow/datasets/${enc(did)}/tags`).then((t) => {
		const tags = asList(t, 'tags').sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
		tagsBox.replaceChildren(table(['Tag', 'Samples', 'Creator', 'Created'], tags.map((x) => h('tr', null,
			h('td', null, x.name), h('td', { class: 'num' }, fmtInt(bitCount(x.bitMaskData))),
			h('td', null, x.creator || '—'), h('td', null, fmtTime(x.createdAt)))),
		{ empty: 'No tags yet: a completed run adds two.' }));
	}).catch((e) => tagsBox.replaceChildren(errorBox(e)));

	ctx.poll(async () => {
		const [sched, runs] = await Promise.all([
			get(`/v1/winnow/datasets/${enc(did)}/schedule`),
			get(`/v1/winnow/runs?datasetId=${enc(did)}`),
		]);
		if (!ctx.alive) return false;
		const rows = joinRuns(asList(sched, 'scheduled'), asList(runs, 'runs'));
		runsBox.replaceChildren(runsTable(rows, did));
		return rows.some((r) => !isFinished(r));
	}, 2000, (e) => runsBox.replaceChildren(errorBox(e)));
}

export function joinRuns(scheduled, runs) {
	const bySched = new Map(runs.map((r) => [r.scheduledId, r]));
	const rows = scheduled.map((s) => ({ sched: s, run: bySched.get(s.id) || null }));
	const known = new Set(scheduled.map((s) => s.id));
	for (const r of runs) if (!known.has(r.scheduledId)) rows.push({ sched: null, run: r });
	rows.sort((a, b) => ((b.sched || b.run).createdAt || 0) - ((a.sched || a.run).createdAt || 0));
	return rows;
}

export function isFinished({ sched, run }) {
	if (run && RUN_FINAL.has(run.state)) return true;
	if (sched && SCHEDULED_FINAL.has(sched.state) && (!run || RUN_FINAL.has(run.state))) return true;
	return false;
}

export function runLink(did, row) {
	if (row.sched) return `#/datasets/${enc(did)}/runs/${enc(row.sched.id)}`;
	return `#/run/${enc(row.run.id)}`;
}

export function runsTable(rows, did, { showDataset = null } = {}) {
	const head = ['Scheduled', ...(showDataset ? ['Dataset'] : []), 'Priority', 'Schedule state', 'Run state', 'Progress', ''];
	return table(head, rows.map((row) => {
		const { sched, run } = row;
		const d = did || (sched && sched.datasetId) || (run && run.datasetId);
		const link = runLink(d, row);
		return h('tr', { 'data-scheduled-id': sched ? sched.id : '', 'data-run-id': run ? run.id : '' },
			h('td', null, h('a', { href: link }, fmtTime((sched || run).createdAt))),
			showDataset ? h('td', null, h('a', { href: `#/datasets/${enc(d)}` }, showDataset(d))) : null,
			h('td', null, sched ? sched.priority || '—' : '—'),
			h('td', null, sched ? badge(sched.state) : '—'),
			h('td', { class: 'run-state' }, run ? badge(run.state) : h('span', { class: 'muted' }, sched && sched.state === 'OPEN' ? 'waiting for a worker' : '—')),
			h('td', { class: 'progress-cell' }, run ? progressBar(run.progress, 'run progress') : ''),
			h('td', null, run && run.state === 'COMPLETED' && sched ? h('a', { href: `${link}/results` }, 'Results') : h('a', { href: link }, 'Open')));
	}), { caption: 'Runs', empty: 'No runs yet.' });
}
