// Workers: the daemons registered with this web app, their state and last contact
// (winnow's GET /v1/winnow/workers: Lightly's worker model plus lastSeenAt).
import { get, asList } from '../api.js';
import { h, fmtTime, section, table, badge, errorBox, setTitle } from '../ui.js';

export async function workersPage(main, ctx) {
	setTitle('Workers');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Workers')));
	const box = h('div', { id: 'workers-list' }, h('p', { class: 'muted' }, 'Loading…'));
	main.appendChild(section('Registered workers', box,
		h('p', { class: 'hint' }, 'A worker is OFFLINE after 60 s without a heartbeat. Runs go to workers whose labels include the run’s runsOn labels.')));
	ctx.poll(async () => {
		const list = asList(await get('/v1/winnow/workers'), 'workers');
		if (!ctx.alive) return false;
		list.sort((a, b) => String(a.name).localeCompare(String(b.name)));
		box.replaceChildren(table(['Name', 'State', 'Type', 'Labels', 'Last contact', 'Id'], list.map((w) => h('tr', null,
			h('td', null, w.name), h('td', null, badge(w.state)), h('td', null, w.workerType || '—'),
			h('td', null, (w.labels || []).length ? (w.labels || []).map((l) => h('span', { class: 'pill' }, l)) : h('span', { class: 'muted' }, 'none')),
			h('td', null, fmtTime(w.lastSeenAt)), h('td', null, h('code', null, w.id)))),
		{ caption: 'Workers', empty: 'No worker has registered yet. Start winnowd with a worker token.' }));
		return true;
	}, 5000, (e) => box.replaceChildren(errorBox(e)));
}
