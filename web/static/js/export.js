// Export for labelling (docs/web.md "Export"): a small menu on the results page that downloads
// a tag of the run's dataset (default: the run's selection) as file names, as CSV with every
// score and plan objective, or as Label Studio tasks whose image URLs are signed and expire
// (GET /v1/winnow/runs/{runId}/export?format=filenames|csv|labelstudio[&tagId=]).
import { get, asList, enc } from './api.js';
import { h } from './ui.js';

const FORMATS = [
	['filenames', 'File names (.txt)', 'one file name a line'],
	['csv', 'CSV with every score', 'all candidates: selected, scores, plan objectives'],
	['labelstudio', 'Label Studio tasks (.json)', 'image URLs that work without a login until they expire'],
];

export function exportMenu(datasetId, runId) {
	const tagSel = h('select', { id: 'export-tag' }, h('option', { value: '' }, 'the run\'s selection'));
	const links = FORMATS.map(([f, label, hint]) => h('li', null,
		h('a', { href: '#', 'data-format': f, download: '', class: 'export-link' }, label), ' ', h('span', { class: 'muted' }, hint)));
	const update = () => {
		for (const li of links) {
			const a = li.querySelector('a');
			a.href = `/v1/winnow/runs/${enc(runId)}/export?format=${a.dataset.format}${tagSel.value ? `&tagId=${enc(tagSel.value)}` : ''}`;
		}
	};
	update();
	tagSel.addEventListener('change', update);
	const box = h('details', { class: 'export-menu', id: 'export-menu' },
		h('summary', { class: 'btn' }, 'Export for labelling'),
		h('div', { class: 'export-body' },
			h('label', { class: 'inline' }, 'Tag ', tagSel),
			h('ul', { class: 'export-list' }, links)));
	let loaded = false;
	box.addEventListener('toggle', async () => {
		if (!box.open || loaded) return;
		loaded = true;
		try {
			for (const t of asList(await get(`/v1/datasets/${enc(datasetId)}/tags`), 'tags')) {
				tagSel.appendChild(h('option', { value: t.id }, t.name));
			}
		} catch { /* the selection stays exportable */ }
	});
	return box;
}
