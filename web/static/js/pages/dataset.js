// A dataset's overview: sample count, datasource, prediction tasks, tags, its runs.
import { api, get, getOrNull, put, asList, enc, ApiError } from '../api.js';
import { h, fmtTime, fmtInt, section, table, badge, progressBar, bitCount, errorBox, setTitle, field, setFieldError, clearFieldErrors, RUN_FINAL, SCHEDULED_FINAL } from '../ui.js';
import { runsList } from './runs.js';

// The datasource form (winnow's route, which also takes an S3 endpoint): purpose, type, the
// folder (absolute, or relative to a --dataset-root) or the bucket prefix and its settings.
const PURPOSES = [['INPUT_OUTPUT', 'Input and .lightly (INPUT_OUTPUT)'], ['INPUT', 'Images only (INPUT)'],
	['LIGHTLY', '.lightly only (LIGHTLY)']];
function sourceForm(did, ctx, hint) {
	const input = (id, attrs = {}) => h('input', { id, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
	const purpose = h('select', { id: 'src-purpose' }, PURPOSES.map(([v, l]) => h('option', { value: v }, l)));
	const type = h('select', { id: 'src-type' }, h('option', { value: 'LOCAL' }, 'Folder (LOCAL)'), h('option', { value: 'S3' }, 'Bucket (S3)'));
	const path = input('src-path', { placeholder: 'my-images, or /srv/datasets/my-images' });
	const s3 = {
		s3Endpoint: input('src-s3-endpoint', { placeholder: 'empty: AWS (https://s3.<region>.amazonaws.com)' }),
		s3Region: input('src-s3-region', { value: 'us-east-1' }),
		s3AccessKeyId: input('src-s3-key'),
		s3SecretAccessKey: input('src-s3-secret', { type: 'password', autocomplete: 'new-password' }),
	};
	const s3Box = h('div', { id: 'src-s3', hidden: true },
		field('Endpoint', s3.s3Endpoint, 'A MinIO or Ceph server; empty for AWS.'), field('Region', s3.s3Region),
		field('Access key id', s3.s3AccessKeyId), field('Secret access key', s3.s3SecretAccessKey));
	const pathHint = () => (type.value === 'S3' ? 's3://bucket/prefix' :
		'A folder on the server: relative to one of its --dataset-root folders, or an absolute path inside one.');
	const pathField = field('Path', path, pathHint());
	type.addEventListener('change', () => {
		s3Box.hidden = type.value !== 'S3';
		pathField.querySelector('.hint').textContent = pathHint();
	});
	const form = h('form', { class: 'inline-form', novalidate: true, id: 'src-form' },
		hint ? h('p', { class: 'muted' }, hint) : null,
		field('Purpose', purpose), field('Type', type), pathField, s3Box,
		h('button', { type: 'submit', class: 'btn' }, 'Set datasource'));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		const body = { purpose: purpose.value, type: type.value, fullPath: path.value.trim() };
		if (type.value === 'S3') for (const [k, el] of Object.entries(s3)) body[k] = el.value.trim() || (k === 's3Endpoint' ? null : '');
		try {
			await put(`/v1/winnow/datasets/${enc(did)}/datasource`, body);
			if (ctx.alive) location.reload();
		} catch (e) {
			const msg = e instanceof ApiError ? e.message : String(e);
			// the server names the field first ("s3Region: ...")
			const k = (msg.match(/^([A-Za-z0-9]+):/) || [])[1];
			setFieldError(s3[k] || (k === 'purpose' ? purpose : k === 'type' ? type : path), msg);
		}
	});
	return form;
}

// The datasources, one per purpose (Lightly's list; the endpoint from winnow's route).
async function sourceList(did) {
	const all = await get(`/v1/datasets/${enc(did)}/datasource/all`);
	return Promise.all(all.map(async (s) => {
		let ep = null;
		if (s.type === 'S3') {
			const w = await getOrNull(`/v1/winnow/datasets/${enc(did)}/datasource?purpose=${enc(s.purpose)}`);
			ep = w && w.purpose === s.purpose ? w.s3Endpoint : null;
		}
		return h('div', { class: 'src-row' }, h('span', { class: 'pill' }, s.purpose), ' ', h('span', { class: 'pill' }, s.type), ' ',
			h('code', null, s.fullPath || '(the dataset root)'), s.type === 'S3' ? h('span', { class: 'muted' }, ` at ${ep || 'AWS'}`) : null);
	}));
}

// Who owns the dataset and whom it is shared with (SPEC 8); the owner or an admin shares it
// with another user by their token's name, and takes a share back.
function shareBox(did, ownerBox, ctx) {
	const box = h('div', { id: 'ds-shares' }, h('p', { class: 'muted' }, 'Loading…'));
	const path = `/v1/winnow/datasets/${enc(did)}/shares`;
	const render = (s, me) => {
		ownerBox.textContent = s.ownerName || s.ownerId;
		const mayShare = me && (me.role === 'admin' || me.userId === s.ownerId);
		const rows = s.users.map((u) => h('tr', null, h('td', null, u.name), h('td', null, fmtTime(u.createdAt)),
			h('td', null, mayShare ? removeButton(u.name) : null)));
		const parts = [table(['User', 'Shared', ''], rows, { empty: 'Not shared: only its owner (and admins) see it.' })];
		if (mayShare) {
			const name = h('input', { id: 'share-user', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'user name' });
			const form = h('form', { class: 'inline-form', novalidate: true, id: 'share-form' },
				field('Share with', name, 'The name of a user token (winnow-web token list).'),
				h('button', { type: 'submit', class: 'btn' }, 'Share'));
			form.addEventListener('submit', async (ev) => {
				ev.preventDefault();
				clearFieldErrors(form);
				try {
					const got = await put(path, { user: name.value.trim() });
					if (ctx.alive) render(got, me);
				} catch (e) {
					setFieldError(name, e instanceof ApiError ? e.message : String(e));
				}
			});
			parts.push(form);
		}
		box.replaceChildren(...parts);
	};
	const removeButton = (user) => {
		const b = h('button', { type: 'button', class: 'btn', 'data-user': user }, 'Remove');
		b.addEventListener('click', async () => {
			try {
				const got = await api('DELETE', `${path}/${enc(user)}`);
				if (ctx.alive) load(got);
			} catch (e) {
				box.appendChild(errorBox(e));
			}
		});
		return b;
	};
	let me = null;
	const load = async (s) => {
		me = me || await getOrNull('/v1/winnow/me');
		render(s || await get(path), me);
	};
	load().catch((e) => box.replaceChildren(errorBox(e)));
	return box;
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
	const ownerBox = h('dd', { id: 'ds-owner' }, '…');
	main.appendChild(section('Overview', h('dl', { class: 'facts' },
		h('dt', null, 'Samples'), h('dd', { id: 'ds-samples' }, fmtInt(ds.nSamples)),
		h('dt', null, 'Owner'), ownerBox,
		h('dt', null, 'Datasource'), srcBox,
		h('dt', null, 'Created'), h('dd', null, fmtTime(ds.createdAt)),
		h('dt', null, 'Id'), h('dd', null, h('code', null, ds.id)))));

	// the runs list of pages/runs.js (filters, paging, method, k, counts, duration, worker)
	const runsBox = h('div', { id: 'ds-runs' }, runsList(ctx, { datasetId: did }));
	main.appendChild(section('Runs', runsBox));
	const tasksBox = h('div', { id: 'ds-tasks' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Prediction tasks', tasksBox));
	const tagsBox = h('div', { id: 'ds-tags' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Tags', tagsBox));
	main.appendChild(section('Sharing', shareBox(did, ownerBox, ctx)));

	sourceList(did).then((rows) => {
		if (!rows.length) {
			srcBox.replaceChildren(sourceForm(did, ctx, 'None set yet.'));
			return;
		}
		const change = h('button', { type: 'button', class: 'btn', id: 'src-change' }, 'Change datasource');
		change.addEventListener('click', () => change.replaceWith(sourceForm(did, ctx)));
		srcBox.replaceChildren(...rows, change);
	}).catch((e) => srcBox.replaceChildren(errorBox(e)));

	get(`/v1/winnow/datasets/${enc(did)}/tasks`).then((t) => {
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
