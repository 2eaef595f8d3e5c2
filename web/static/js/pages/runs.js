// All runs of all datasets, with their live state.
import { get, asList, enc } from '../api.js';
import { h, section, errorBox, setTitle } from '../ui.js';
import { joinRuns, runsTable, isFinished } from './dataset.js';

export async function runsPage(main, ctx) {
	setTitle('Runs');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Runs')));
	const box = h('div', { id: 'runs-list' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('All runs, newest first', box));
	ctx.poll(async () => {
		const datasets = asList(await get('/v1/datasets?getAssetsOfTeam=True'), 'datasets');
		const names = new Map(datasets.map((d) => [d.id, d.name]));
		const per = await Promise.all(datasets.map(async (d) => {
			const [s, r] = await Promise.all([
				get(`/v1/winnow/datasets/${enc(d.id)}/schedule`),
				get(`/v1/winnow/runs?datasetId=${enc(d.id)}`),
			]);
			return joinRuns(asList(s, 'scheduled'), asList(r, 'runs'));
		}));
		if (!ctx.alive) return false;
		const rows = per.flat().sort((a, b) => ((b.sched || b.run).createdAt || 0) - ((a.sched || a.run).createdAt || 0));
		box.replaceChildren(runsTable(rows, null, { showDataset: (id) => names.get(id) || id }));
		// live while something runs; slower when all is finished (a new run may appear)
		return true;
	}, 2000, (e) => box.replaceChildren(errorBox(e)));
}
