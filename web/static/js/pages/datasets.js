// Datasets: the list and the create form (name + a LOCAL folder under the server's --dataset-root).
import { get, post, put, asList, enc, ApiError } from '../api.js';
import { h, fmtTime, fmtInt, field, section, table, setFieldError, clearFieldErrors, showBanner, errorBox, setTitle } from '../ui.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9 _-]{2,}$/;
const NAME_RULE = '3 to 200 characters: letters, digits, space, _ and -, starting with a letter or digit.';

export async function datasetsPage(main, ctx) {
	setTitle('Datasets');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Datasets')));
	const listBox = h('div', { id: 'dataset-list' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('All datasets', listBox));
	main.appendChild(createForm(ctx));

	try {
		const list = asList(await get('/v1/datasets?getAssetsOfTeam=True'), 'datasets');
		list.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
		listBox.replaceChildren(table(['Name', 'Samples', 'Created', 'Id'], list.map((d) => h('tr', null,
			h('td', null, h('a', { href: `#/datasets/${enc(d.id)}` }, d.name || d.id)),
			h('td', { class: 'num' }, fmtInt(d.nSamples)),
			h('td', null, fmtTime(d.createdAt)),
			h('td', null, h('code', null, d.id)))),
		{ caption: 'Datasets', empty: 'No dataset yet: create one below.' }));
	} catch (e) {
		listBox.replaceChildren(errorBox(e));
	}
}

function createForm(ctx) {
	// Lightly's dataset name pattern (SPEC 7), as the server checks it.
	const name = h('input', { id: 'ds-name', name: 'name', type: 'text', autocomplete: 'off', required: true,
		pattern: NAME_RE.source, maxlength: 200 });
	const path = h('input', { id: 'ds-path', name: 'fullPath', type: 'text', autocomplete: 'off', required: true,
		spellcheck: 'false', placeholder: '/srv/datasets/my-images' });
	const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'ds-create' }, 'Create dataset');
	const status = h('p', { class: 'muted', role: 'status' });
	const form = h('form', { id: 'dataset-form', class: 'form-grid', novalidate: true },
		field('Name', name, NAME_RULE),
		field('Folder (LOCAL datasource)', path, 'A folder on the server: relative to one of its --dataset-root folders, or an absolute path inside one.'),
		h('div', { class: 'actions' }, btn, status));
	// A dataset created whose datasource was refused: a retry only sets the datasource.
	let pending = null;
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		const n = name.value.trim(), p = path.value.trim();
		let bad = false;
		if (!n) { setFieldError(name, 'Give the dataset a name.'); bad = true; }
		else if (!NAME_RE.test(n) || n.length > 200) { setFieldError(name, `Not a valid name: ${NAME_RULE}`); bad = true; }
		if (!p) { setFieldError(path, 'Give the folder that holds the images.'); bad = true; }
		if (bad) return;
		btn.disabled = true;
		status.textContent = 'Creating…';
		try {
			let id = pending && pending.name === n ? pending.id : null;
			if (!id) {
				try {
					id = (await post('/v1/datasets', { name: n })).id;
				} catch (e) {
					setFieldError(name, e instanceof ApiError ? e.message : String(e));
					name.focus();
					return;
				}
				pending = { id, name: n };
			}
			try {
				await put(`/v1/datasets/${enc(id)}/datasource`, { type: 'LOCAL', purpose: 'INPUT_OUTPUT', fullPath: p });
			} catch (e) {
				setFieldError(path, e instanceof ApiError ? e.message : String(e));
				path.focus();
				return;
			}
			pending = null;
			ctx.go(`#/datasets/${enc(id)}`);
		} catch (e) {
			showBanner(e);
		} finally {
			btn.disabled = false;
			status.textContent = '';
		}
	});
	return section('Create a dataset', form);
}
