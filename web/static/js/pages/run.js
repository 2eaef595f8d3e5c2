// A run: scheduled state, run state, progress per stage, live log lines, cancel and abort
// (each confirmed in a dialog), run again, and whether a worker can take it while it waits.
import { get, post, put, asList, enc, ApiError } from '../api.js';
import { h, fmtTime, fmtInt, section, badge, schedBadge, progressBar, errorBox, showBanner, setTitle, confirmDialog, errorText,
	RUN_STAGES, RUN_FINAL } from '../ui.js';
import { selectionText, kText, countsText, fmtDuration } from './runs.js';
import { matchWorkers } from '../workers_match.js';

const LOG_PAGE = 1000;

export async function runByIdPage(main, ctx) {
	const [rid] = ctx.params;
	const run = await get(`/v1/docker/runs/${enc(rid)}`);
	if (run.datasetId && run.scheduledId) { location.replace(`#/datasets/${enc(run.datasetId)}/runs/${enc(run.scheduledId)}`); return; }
	main.appendChild(h('p', null, `Run ${rid} has no scheduled run.`));
}

// #/runs/{runId}/results (what `make demo` printed before): the run's results page.
export async function runResultsByIdPage(main, ctx) {
	const [rid] = ctx.params;
	const run = await get(`/v1/winnow/runs/${enc(rid)}`);
	location.replace(`#/datasets/${enc(run.datasetId)}/runs/${enc(run.scheduledId)}/results`);
}

// Who can take a run that waits (runsOn: the labels a worker must all have): null when an
// online worker matches and is free, else { kind: 'none' | 'busy', text }.
export function workerVerdict(runsOn, workers) {
	const need = runsOn || [];
	const labelText = need.length ? `runsOn ${need.join(', ')}` : 'no runsOn labels';
	const { fit, online, matching: fitOnline } = matchWorkers(workers, need);
	if (!fitOnline.length) {
		let why;
		if (!workers.length) why = 'no worker has registered yet.';
		else if (fit.length) why = `the workers with the labels (${labelText}) are offline: ${fit.map((w) => `${w.name} ${w.state}, last seen ${fmtTime(w.lastSeenAt)}`).join('; ')}.`;
		else {
			why = `no worker has the labels this run asks for (${labelText})` + (online.length ? `; online: ${online.map((w) => `${w.name} [${(w.labels || []).join(', ') || 'no labels'}]`).join(', ')}.` : '; no worker is online.');
		}
		return { kind: 'none', text: `No online worker can take this run: ${why}` };
	}
	if (fitOnline.every((w) => w.state === 'BUSY')) {
		return { kind: 'busy', text: `The workers that can take this run are busy (${fitOnline.map((w) => w.name).join(', ')}): it starts when one is free.` };
	}
	return null;
}

export async function runPage(main, ctx) {
	const [did, sid] = ctx.params;
	const ds = await get(`/v1/datasets/${enc(did)}`);
	// the scheduled run with its summary and run (winnow's list, one item); a wrong id is a 404 page
	const loadSched = async () => asList(await get(`/v1/winnow/datasets/${enc(did)}/schedule?scheduledId=${enc(sid)}`), 'scheduled')[0] || null;
	const first = await loadSched();
	if (!first) throw new ApiError(404, { error: 'no such scheduled run in this dataset' }, 'GET', `/v1/winnow/runs/schedule/${sid}`);
	setTitle('Run');
	main.appendChild(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
		h('a', { href: '#/datasets' }, 'Datasets'), ' / ', h('a', { href: `#/datasets/${enc(did)}` }, ds.name), ' / Run'));

	const cancelBtn = h('button', { type: 'button', class: 'btn', id: 'run-cancel', disabled: true }, 'Cancel');
	const abortBtn = h('button', { type: 'button', class: 'btn btn-danger', id: 'run-abort', disabled: true }, 'Abort');
	const againBtn = h('button', { type: 'button', class: 'btn', id: 'run-again', hidden: true }, 'Run again with this config');
	const resultsLink = h('a', { class: 'btn btn-primary', id: 'run-results', href: `#/datasets/${enc(did)}/runs/${enc(sid)}/results`, hidden: true }, 'Results');
	main.appendChild(h('div', { class: 'page-head' }, h('h1', null, 'Run'), h('div', { class: 'actions' }, resultsLink, againBtn, cancelBtn, abortBtn)));
	// while it waits: whether a worker can take it (winnow's GET /v1/winnow/workers)
	const workerWarn = h('div', { class: 'notice', id: 'run-worker-warning', role: 'status', hidden: true });
	main.appendChild(workerWarn);

	const schedState = h('dd', { id: 'sched-state' }, '…');
	const runState = h('dd', { id: 'run-state' }, '…');
	const message = h('dd', { id: 'run-message' }, '—');
	const overall = h('dd', { id: 'run-progress' }, progressBar(0, 'run progress'));
	const times = h('dd', { id: 'run-times' }, '—');
	const ids = h('dd', null, h('code', null, sid));
	const runIdEl = h('dd', { id: 'run-id' }, '—');
	const selEl = h('dd', { id: 'run-selection' }, '—');
	const workerEl = h('dd', { id: 'run-worker' }, '—');
	const countsEl = h('dd', { id: 'run-counts' }, '—');
	const durEl = h('dd', { id: 'run-duration' }, '—');
	const actionMsg = h('p', { class: 'muted', role: 'status', id: 'run-action-status' });
	main.appendChild(section('State', h('dl', { class: 'facts' },
		h('dt', null, 'Schedule'), schedState,
		h('dt', null, 'Run'), runState,
		h('dt', null, 'Progress'), overall,
		h('dt', null, 'Message'), message,
		h('dt', null, 'Selection'), selEl,
		h('dt', null, 'Worker'), workerEl,
		h('dt', null, 'Selected of candidates'), countsEl,
		h('dt', null, 'Duration'), durEl,
		h('dt', null, 'Created / changed'), times,
		h('dt', null, 'Scheduled id'), ids,
		h('dt', null, 'Run id'), runIdEl), actionMsg));

	const stageList = h('ol', { class: 'stages', id: 'run-stages' });
	main.appendChild(section('Stages', stageList));

	const logBox = h('div', { class: 'log', id: 'run-log', role: 'log', 'aria-live': 'polite', tabindex: '0' },
		h('p', { class: 'muted log-empty' }, 'No log lines yet.'));
	main.appendChild(section('Log', logBox));

	const cfgBox = h('pre', { class: 'code', id: 'run-config' }, '…');
	main.appendChild(h('details', { class: 'card' }, h('summary', null, 'Config'), cfgBox));

	let sched = null, run = null, lastSeq = -1, cfgShown = false, lastActive = null;
	const stageSeen = new Map();	// state -> first ts seen in logs
	let finishedPolls = 0;

	cancelBtn.addEventListener('click', async () => {
		const ok = await confirmDialog({ title: 'Cancel this run?', confirm: 'Cancel the run', cancel: 'Keep it', danger: true,
			text: 'It is still waiting for a worker; once canceled it never starts. Its config stays, so it can be run again.' });
		if (!ok || !ctx.alive) return;
		cancelBtn.disabled = true;
		try {
			await put(`/v1/datasets/${enc(did)}/docker/worker/schedule/${enc(sid)}`);	// Lightly's cancel
			actionMsg.textContent = 'Canceled.';
			await refresh();
		} catch (e) {
			actionMsg.textContent = '';
			showBanner(e instanceof ApiError && e.status === 409 ? `Cannot cancel: ${e.message} (only OPEN runs can be canceled)` : e);
			render();
		}
	});
	abortBtn.addEventListener('click', async () => {
		if (!run) return;
		const ok = await confirmDialog({ title: 'Abort this run?', confirm: 'Abort the run', cancel: 'Keep running', danger: true,
			text: 'The worker stops it at its next report; the run ends ABORTED and has no results.' });
		if (!ok || !ctx.alive || !run) return;
		abortBtn.disabled = true;
		try {
			await post(`/v1/winnow/runs/${enc(run.id)}/abort`, {});
			run.abortRequested = true;
			render();
		} catch (e) {
			showBanner(e);
			render();
		}
	});
	// the same config, runsOn and priority on this dataset (Lightly's schedule route), then its page
	againBtn.addEventListener('click', async () => {
		if (!sched) return;
		againBtn.disabled = true;
		try {
			const body = { configId: sched.configId, priority: sched.priority || 'MID' };
			if (sched.runsOn && sched.runsOn.length) body.runsOn = sched.runsOn;
			const made = await post(`/v1/datasets/${enc(did)}/docker/worker/schedule`, body);
			ctx.go(`#/datasets/${enc(did)}/runs/${enc(made.id)}`);
		} catch (e) {
			showBanner(e);
			againBtn.disabled = false;
		}
	});

	function stageStatus(key, i) {
		const cur = run ? run.state : null;
		const idx = RUN_STAGES.findIndex(([k]) => k === cur);
		if (cur === 'COMPLETED') return 'done';
		if (idx >= 0) return i < idx ? 'done' : i === idx ? 'active' : 'pending';
		if (cur && RUN_FINAL.has(cur)) {
			const li = RUN_STAGES.findIndex(([k]) => k === lastActive);
			return li < 0 ? 'pending' : i < li ? 'done' : i === li ? 'failed' : 'pending';
		}
		return 'pending';
	}

	function render() {
		schedState.replaceChildren(sched ? schedBadge(sched, run) : h('span', { class: 'muted' }, 'not found'),
			sched && sched.priority ? h('span', { class: 'muted' }, ` priority ${sched.priority}`) : '',
			sched && sched.runsOn && sched.runsOn.length ? h('span', { class: 'muted' }, ` · runsOn ${sched.runsOn.join(', ')}`) : '');
		const sum = (sched && sched.summary) || {};
		selEl.textContent = `${selectionText(sum)} · k ${kText(sum)}`;
		workerEl.textContent = sum.workerName || '—';
		countsEl.textContent = countsText(sum);
		durEl.textContent = sum.durationMs != null ? fmtDuration(sum.durationMs) : run && !RUN_FINAL.has(run.state) ? `${fmtDuration(Date.now() - run.createdAt)} so far` : '—';
		// "Abort requested" only while the run has not ended
		const aborting = run && run.abortRequested === true && !RUN_FINAL.has(run.state);
		if (aborting) actionMsg.textContent = 'Abort requested: the worker stops at its next report.';
		else if (actionMsg.textContent.startsWith('Abort requested')) actionMsg.textContent = '';
		againBtn.hidden = !(sched && (sched.state === 'DONE' || sched.state === 'CANCELED'));
		if (run) {
			runState.replaceChildren(badge(run.state));
			runIdEl.replaceChildren(h('code', null, run.id));
			overall.replaceChildren(progressBar(run.state === 'COMPLETED' ? 1 : run.progress, 'run progress'));
			message.textContent = run.message || '—';
			times.textContent = `${fmtTime(run.createdAt)} / ${fmtTime(run.lastModifiedAt)}`;
		} else {
			runState.replaceChildren(h('span', { class: 'muted' }, sched && sched.state === 'OPEN' ? 'waiting for a worker to claim it'
				: sched && sched.state === 'CANCELED' ? 'never started' : 'not created yet'));
			times.textContent = sched ? `${fmtTime(sched.createdAt)} / ${fmtTime(sched.lastModifiedAt)}` : '—';
		}
		cancelBtn.disabled = !(sched && sched.state === 'OPEN');
		abortBtn.disabled = !(run && !RUN_FINAL.has(run.state)) || (run && run.abortRequested === true);
		resultsLink.hidden = !(run && run.state === 'COMPLETED');
		stageList.replaceChildren(...RUN_STAGES.map(([key, label], i) => {
			const st = stageStatus(key, i);
			const seen = stageSeen.get(key);
			return h('li', { class: `stage stage-${st}`, 'data-stage': key, 'data-status': st },
				h('span', { class: 'stage-dot', 'aria-hidden': 'true' }),
				h('span', { class: 'stage-label' }, label),
				h('span', { class: 'stage-key muted' }, key),
				h('span', { class: 'stage-status' }, st === 'active' && run ? progressBar(run.progress, `run progress, now at: ${label}`) : h('span', { class: 'sr-label' }, st)),
				seen ? h('span', { class: 'stage-time muted' }, fmtTime(seen)) : null);
		}));
	}

	function appendLogs(lines) {
		if (!lines.length) return;
		const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
		logBox.querySelector('.log-empty')?.remove();
		for (const l of lines) {
			const seq = Number(l.seq);
			if (Number.isFinite(seq) && seq <= lastSeq) continue;
			if (Number.isFinite(seq)) lastSeq = seq;
			if (l.state && !stageSeen.has(l.state)) stageSeen.set(l.state, l.ts);
			if (l.state && RUN_STAGES.some(([k]) => k === l.state)) lastActive = l.state;
			const lvl = String(l.level || 'INFO').toUpperCase();
			logBox.appendChild(h('div', { class: `log-line log-${lvl.toLowerCase()}`, 'data-seq': l.seq },
				h('span', { class: 'log-ts' }, fmtTime(l.ts)), ' ',
				h('span', { class: 'log-level' }, lvl.padEnd(7)), ' ',
				h('span', { class: 'log-msg' }, l.msg ?? l.message ?? '')));
		}
		if (atBottom) logBox.scrollTop = logBox.scrollHeight;
	}

	async function refresh() {
		// winnow's views: every state of the scheduled runs, and the run with its progress and abort flag
		sched = first && !sched ? first : await loadSched();
		const r = sched && sched.summary ? sched.summary.run : null;
		if (sched && sched.state === 'OPEN') await checkWorkers(sched);
		else workerWarn.hidden = true;
		if (r && r.id) {
			run = r;
			if (RUN_STAGES.some(([k]) => k === run.state)) lastActive = run.state;
			if (!stageSeen.has(run.state) && RUN_STAGES.some(([k]) => k === run.state)) stageSeen.set(run.state, run.lastModifiedAt);
			// the lines after the last one seen (DockerRunLogData's cursor = the next line's number),
			// a page at a time; a line's seq is its number; a repeat is dropped by seq
			for (let i = 0; i < 20; i++) {
				const from = lastSeq + 1;
				const logs = asList(await get(`/v1/docker/runs/${enc(run.id)}/logs?cursor=${from}`), 'logs')
					.map((l, k) => ({ ...l, seq: from + k }));
				appendLogs(logs);
				if (logs.length < LOG_PAGE || !ctx.alive) break;
			}
		}
		if (!cfgShown && sched && sched.configId) {
			cfgShown = true;
			get(`/v1/docker/worker/config/${enc(sched.configId)}`)
				.then((c) => { cfgBox.textContent = JSON.stringify(c.config || c, null, 2); })
				.catch((e) => { cfgBox.replaceWith(errorBox(e)); });
		}
		if (!ctx.alive) return false;
		render();
		const finished = (run && RUN_FINAL.has(run.state)) || (sched && sched.state === 'CANCELED')
			|| (!sched && !run);
		if (finished) finishedPolls++;
		// one more poll after the end picks up the last log lines
		return finishedPolls < 2;
	}

	async function checkWorkers(s) {
		let v;
		try {
			v = workerVerdict(s.runsOn, asList(await get('/v1/winnow/workers'), 'workers'));
		} catch (e) {
			v = { kind: 'none', text: `Could not read the workers: ${errorText(e)}` };
		}
		if (!ctx.alive) return;
		workerWarn.hidden = !v;
		if (!v) return;
		workerWarn.className = `notice notice-${v.kind === 'busy' ? 'info' : 'warn'}`;
		workerWarn.dataset.kind = v.kind;
		workerWarn.replaceChildren(h('span', { class: 'notice-text' }, v.text), ' ', h('a', { href: '#/workers', id: 'run-workers-link' }, 'See the workers'));
	}

	ctx.poll(refresh, 1500);
}
