// A dataset's overview: sample count, datasource, its images (listed from the datasource
// before any run), prediction tasks, tags (each opens its samples), its runs; rename and
// delete for its owner or an admin.
import { api, get, getText, getOrNull, put, asList, enc, ApiError } from '../api.js';
import { h, fmtTime, fmtInt, section, table, bitCount, errorBox, setTitle, field, setFieldError, clearFieldErrors } from '../ui.js';
import { runsList } from './runs.js';
import { fileHref } from '../samplelink.js';

const PAGE_SIZES = [24, 48, 96];

// The dataset's images as a paged thumbnail grid: the datasource's listing (GET
// /v1/winnow/datasets/{id}/files), or one tag's samples (its file-name export). Each card
// links to the sample view. The state (tag, page, size) is kept in the address.
function browseBox(did, ctx, tagsById) {
	const st = {
		tag: ctx.query.get('tag') || '',
		page: Math.max(0, Number.parseInt(ctx.query.get('page') || '0', 10) || 0),
		limit: PAGE_SIZES.includes(Number(ctx.query.get('size'))) ? Number(ctx.query.get('size')) : PAGE_SIZES[0],
	};
	let tagNames = null;	// the open tag's file names, in the export's order
	let seq = 0;
	const heading = h('h2', { id: 'browse-heading', tabindex: '-1' }, 'Images');
	const info = h('p', { id: 'browse-info', class: 'muted', 'aria-live': 'polite' }, 'Loading…');
	const tagBar = h('div', { id: 'browse-tag', class: 'browse-tag', hidden: true });
	const grid = h('div', { class: 'grid browse-grid', id: 'browse-grid', 'aria-busy': 'true', 'aria-labelledby': 'browse-heading' });
	const prev = h('button', { type: 'button', class: 'btn', id: 'browse-prev' }, '← Previous');
	const next = h('button', { type: 'button', class: 'btn', id: 'browse-next' }, 'Next →');
	const pageInfo = h('span', { id: 'browse-page', class: 'muted' });
	const size = h('select', { id: 'browse-size', 'aria-label': 'Images per page' }, PAGE_SIZES.map((n) => h('option', { value: n, selected: n === st.limit }, `${n} per page`)));
	const box = h('section', { class: 'card', id: 'ds-browse' }, heading, info, tagBar, grid,
		h('div', { class: 'pager' }, prev, pageInfo, next, size));

	function remember() {
		const q = new URLSearchParams();
		if (st.tag) q.set('tag', st.tag);
		if (st.page) q.set('page', String(st.page));
		if (st.limit !== PAGE_SIZES[0]) q.set('size', String(st.limit));
		const qs = q.toString();
		history.replaceState(null, '', `#/datasets/${enc(did)}${qs ? `?${qs}` : ''}`);
	}

	function card(name, at) {
		const img = h('img', { src: `/v1/winnow/datasets/${enc(did)}/samples/thumbnail?fileName=${enc(name)}`, alt: name, loading: 'lazy', decoding: 'async' });
		img.addEventListener('error', () => { img.classList.add('broken'); img.alt = `${name} (no thumbnail)`; });
		const href = st.tag ? fileHref(did, name) : fileHref(did, name, { list: 'browse', at });
		return h('figure', { class: 'sample browse-card', 'data-file': name, 'data-index': at },
			h('a', { class: 'browse-link', href, 'aria-label': `Open ${name}` },
				h('div', { class: 'thumb' }, img),
				h('figcaption', null, h('span', { class: 'fname', title: name }, name))));
	}

	async function load() {
		const my = ++seq;
		grid.setAttribute('aria-busy', 'true');
		let names, total, note = '';
		try {
			if (st.tag) {
				if (!tagNames) {
					const text = await getText(`/v1/datasets/${enc(did)}/tags/${enc(st.tag)}/export/basic/filenames`);
					tagNames = text.split('\n').map((x) => x.replace(/\r$/, '')).filter(Boolean);
				}
				total = tagNames.length;
				names = tagNames.slice(st.page * st.limit, (st.page + 1) * st.limit);
			} else {
				const r = await get(`/v1/winnow/datasets/${enc(did)}/files?offset=${st.page * st.limit}&limit=${st.limit}`);
				total = r.total;
				names = r.fileNames;
				if (r.truncated) note = ` The listing stopped at ${fmtInt(r.total)} files (at most ${fmtInt(r.cap)} files or ${r.capSeconds} s of listing): the folder holds more.`;
				if (r.excluded) note += ` ${fmtInt(r.excluded)} file${r.excluded === 1 ? '' : 's'} left out (unsupported names or links leaving the folder).`;
			}
		} catch (e) {
			if (my !== seq || !ctx.alive) return;
			grid.setAttribute('aria-busy', 'false');
			const none = e instanceof ApiError && e.status === 404 && !st.tag;
			info.textContent = none ? 'No images yet: set a datasource above.' : '';
			grid.replaceChildren(none ? '' : errorBox(e));
			prev.disabled = next.disabled = true;
			return;
		}
		if (my !== seq || !ctx.alive) return;
		const pages = Math.max(1, Math.ceil(total / st.limit));
		if (st.page >= pages && total > 0) { st.page = pages - 1; load(); return; }
		const tag = st.tag ? tagsById.get(st.tag) : null;
		info.textContent = st.tag
			? `${fmtInt(total)} sample${total === 1 ? '' : 's'} in the tag ${tag ? tag.name : st.tag}.`
			: `${fmtInt(total)} image${total === 1 ? '' : 's'} in the datasource, before any run.${note}`;
		tagBar.hidden = !st.tag;
		if (st.tag) {
			const all = h('button', { type: 'button', class: 'btn btn-small', id: 'browse-all' }, 'Show all images');
			all.addEventListener('click', () => showTag(''));
			tagBar.replaceChildren(h('span', { class: 'pill pill-strong' }, `Tag: ${tag ? tag.name : st.tag}`), ' ', all, ' ',
				h('a', { class: 'btn btn-small', id: 'browse-export', href: `/v1/datasets/${enc(did)}/tags/${enc(st.tag)}/export/basic/filenames`, download: `${tag ? tag.name : st.tag}.txt` }, 'Export file names'));
		}
		grid.replaceChildren(...(names.length ? names.map((n, i) => card(n, st.page * st.limit + i)) : [h('p', { class: 'muted empty' }, st.tag ? 'The tag holds no samples.' : 'The datasource holds no images.')]));
		grid.dataset.total = String(total);
		grid.setAttribute('aria-busy', 'false');
		pageInfo.textContent = total ? `Page ${st.page + 1} of ${pages}` : '';
		prev.disabled = st.page <= 0;
		next.disabled = st.page >= pages - 1;
		remember();
	}

	function showTag(id) {
		st.tag = id;
		st.page = 0;
		tagNames = null;
		load();
		heading.textContent = id ? 'Images of a tag' : 'Images';
		box.scrollIntoView({ block: 'start' });
		heading.focus({ preventScroll: true });
	}
	prev.addEventListener('click', () => { st.page--; load(); });
	next.addEventListener('click', () => { st.page++; load(); });
	size.addEventListener('change', () => { st.page = Math.floor(st.page * st.limit / Number(size.value)); st.limit = Number(size.value); load(); });
	if (st.tag) heading.textContent = 'Images of a tag';
	return { box, load, showTag };
}

// A modal dialog (<dialog>, so Escape cancels and focus stays inside): title, body, buttons.
// Resolves on close; the buttons' handlers decide what closing means.
function openDialog(id, title, body, actions) {
	const dlg = h('dialog', { id, class: 'ds-dialog', 'aria-labelledby': `${id}-title` },
		h('h2', { id: `${id}-title` }, title), body, h('div', { class: 'actions' }, actions));
	document.body.appendChild(dlg);
	dlg.addEventListener('close', () => dlg.remove());
	dlg.showModal();
	return dlg;
}

// Rename and delete (Lightly's PUT and DELETE /v1/datasets/{id}); the owner or an admin.
function editButtons(ds, ctx) {
	const rename = h('button', { type: 'button', class: 'btn', id: 'ds-rename' }, 'Rename');
	const del = h('button', { type: 'button', class: 'btn btn-danger', id: 'ds-delete' }, 'Delete');
	rename.addEventListener('click', () => {
		const name = h('input', { id: 'rename-name', type: 'text', autocomplete: 'off', spellcheck: 'false', value: ds.name });
		const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'rename-save' }, 'Rename');
		const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: 'rename-cancel' }, 'Cancel');
		const form = h('form', { novalidate: true, id: 'rename-form' },
			field('New name', name, 'At least 3 characters: letters, digits, space, _ and -, starting with a letter or digit.'),
			h('div', { class: 'actions' }, save, cancel));
		const dlg = openDialog('rename-dialog', `Rename “${ds.name}”`, form, []);
		cancel.addEventListener('click', () => dlg.close());
		dlg.addEventListener('close', () => rename.focus());
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			clearFieldErrors(form);
			const v = name.value.trim();
			save.disabled = true;
			try {
				await put(`/v1/datasets/${enc(ds.id)}`, { name: v });
				dlg.close();
				if (ctx.alive) location.reload();
			} catch (e) {
				const msg = e instanceof ApiError ? e.message.replace(/^name: /, '') : String(e);
				setFieldError(name, e instanceof ApiError && e.code === 'DATASET_NAME_EXISTS' ? `You already have a dataset named “${v}”.` : msg);
				name.focus();
			} finally { save.disabled = false; }
		});
		name.select();
	});
	del.addEventListener('click', () => {
		const yes = h('button', { type: 'button', class: 'btn btn-danger', id: 'delete-confirm' }, 'Delete dataset');
		const no = h('button', { type: 'button', class: 'btn btn-ghost', id: 'delete-cancel' }, 'Cancel');
		const err = h('div', { id: 'delete-error' });
		const dlg = openDialog('delete-dialog', `Delete “${ds.name}”?`, h('div', null,
			h('p', null, 'Its runs, tags, scores, samples, shares and scheduled runs are removed from winnow. ',
				h('strong', null, 'The files in its datasource are not touched.')),
			h('p', { class: 'muted' }, 'A dataset with a running run cannot be deleted: abort the run first.'), err), [yes, no]);
		no.addEventListener('click', () => dlg.close());
		dlg.addEventListener('close', () => { if (document.body.contains(del)) del.focus(); });
		yes.addEventListener('click', async () => {
			yes.disabled = true;
			try {
				await api('DELETE', `/v1/datasets/${enc(ds.id)}`);
				dlg.close();
				ctx.go('#/datasets');
			} catch (e) {
				err.replaceChildren(errorBox(e instanceof ApiError && e.status === 409 ? e.message : e));
				yes.disabled = false;
			}
		});
		no.focus();
	});
	return [rename, del];
}

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
	const me = ctx.me || await getOrNull('/v1/winnow/me');
	const mayEdit = me && (me.role === 'admin' || me.userId === ds.userId);
	main.appendChild(h('div', { class: 'page-head' },
		h('h1', null, ds.name || ds.id),
		h('div', { class: 'actions' }, mayEdit ? editButtons(ds, ctx) : null,
			h('a', { class: 'btn btn-primary', href: `#/datasets/${enc(did)}/schedule`, id: 'schedule-run' }, 'Schedule run'))));

	const srcBox = h('dd', { id: 'ds-source' }, '…');
	const ownerBox = h('dd', { id: 'ds-owner' }, '…');
	main.appendChild(section('Overview', h('dl', { class: 'facts' },
		h('dt', null, 'Samples'), h('dd', { id: 'ds-samples' }, fmtInt(ds.nSamples)),
		h('dt', null, 'Owner'), ownerBox,
		h('dt', null, 'Datasource'), srcBox,
		h('dt', null, 'Created'), h('dd', null, fmtTime(ds.createdAt)),
		h('dt', null, 'Id'), h('dd', null, h('code', null, ds.id)))));

	const tagsById = new Map();
	const browse = browseBox(did, ctx, tagsById);
	main.appendChild(browse.box);
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
	// a tag's name opens its samples in the image grid above
	get(`/v1/winnow/datasets/${enc(did)}/tags`).then((t) => {
		const tags = asList(t, 'tags').sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
		for (const x of tags) tagsById.set(x.id, x);
		const open = (x) => {
			const b = h('button', { type: 'button', class: 'linkish tag-open', 'data-tag-id': x.id }, x.name);
			b.addEventListener('click', () => browse.showTag(x.id));
			return b;
		};
		tagsBox.replaceChildren(table(['Tag', 'Samples', 'Creator', 'Created', ''], tags.map((x) => h('tr', { 'data-tag-id': x.id },
			h('td', null, open(x)), h('td', { class: 'num' }, fmtInt(bitCount(x.bitMaskData))),
			h('td', null, x.creator || '—'), h('td', null, fmtTime(x.createdAt)),
			h('td', null, h('a', { href: `/v1/datasets/${enc(did)}/tags/${enc(x.id)}/export/basic/filenames`, download: `${x.name}.txt`, 'aria-label': `Export the file names of ${x.name}` }, 'File names')))),
		{ empty: 'No tags yet: a completed run adds two.' }));
		browse.load();
	}).catch((e) => { tagsBox.replaceChildren(errorBox(e)); browse.load(); });

}
