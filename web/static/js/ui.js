// Small DOM helpers shared by the pages.
import { ApiError } from './api.js';

// h('div', {class: 'x', onclick: fn}, child, 'text', [more children])
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	if (attrs) {
		for (const [k, v] of Object.entries(attrs)) {
			if (v === undefined || v === null || v === false) continue;
			if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
			else if (k === 'class') el.className = v;
			else if (k === 'dataset') Object.assign(el.dataset, v);
			else if (k === 'value') el.value = v;
			else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') el[k] = !!v;
			else if (v === true) el.setAttribute(k, '');
			else el.setAttribute(k, String(v));
		}
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c === undefined || c === null || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else if (c instanceof Node) el.appendChild(c);
		else el.appendChild(document.createTextNode(String(c)));
	}
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function fmtTime(ms) {
	if (ms === undefined || ms === null || ms === '') return '—';
	const d = new Date(Number(ms));
	if (isNaN(d)) return '—';
	const p = (n) => String(n).padStart(2, '0');
	return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtScore(v) {
	if (v === undefined || v === null || v === '') return '—';
	const n = Number(v);
	return Number.isFinite(n) ? n.toFixed(4) : String(v);
}

export function fmtInt(n) {
	if (n === undefined || n === null) return '—';
	return Number(n).toLocaleString('en-US');
}

export const RUN_STAGES = [
	['LOADING_DATASET', 'Loading dataset'],
	['CHECKING_CORRUPTNESS', 'Corruptness check & duplicates'],
	['EMBEDDING', 'Embeddings'],
	['COMPUTING_ACTIVE_LEARNING_SCORES', 'Active-learning scores'],
	['SAMPLING', 'Selection'],
	['SAVING_RESULTS', 'Saving results'],
	['UPLOADING_ARTIFACTS', 'Uploading artifacts'],
];
export const RUN_FINAL = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'ABORTED']);
export const SCHEDULED_FINAL = new Set(['DONE', 'CANCELED']);

// Colours by outcome; the badge's text always says the state too (not colour alone).
const STATE_CLASS = {
	COMPLETED: 'ok', DONE: 'ok', IDLE: 'ok',
	FAILED: 'bad', CRASHED: 'bad', ABORTED: 'warn', CANCELED: 'muted', OFFLINE: 'muted',
	OPEN: 'wait', LOCKED: 'busy', BUSY: 'busy', STARTED: 'busy',
};
export function badge(state, label) {
	const s = state || 'UNKNOWN';
	const cls = STATE_CLASS[s] || (RUN_STAGES.some(([k]) => k === s) ? 'busy' : 'muted');
	return h('span', { class: `badge badge-${cls}`, 'data-state': s }, label || s);
}

// A scheduled run's badge that says how it ended: DONE with a run that FAILED, CRASHED or
// was ABORTED reads "DONE · FAILED" in the run's colour (data-state stays the scheduled
// state, data-outcome is the run's end state).
export function schedBadge(sched, run) {
	if (!sched) return h('span', { class: 'muted' }, '—');
	const b = badge(sched.state);
	if (sched.state === 'DONE' && run && RUN_FINAL.has(run.state)) {
		b.className = `badge badge-${STATE_CLASS[run.state] || 'muted'}`;
		b.textContent = run.state === 'COMPLETED' ? 'DONE' : `DONE · ${run.state}`;
		b.dataset.outcome = run.state;
	}
	return b;
}

// One state for a row of a runs list: the run's state once it has one, else the scheduled
// run's (OPEN, LOCKED, CANCELED).
export function outcomeBadge(sched, run) {
	if (run) return badge(run.state);
	return sched ? badge(sched.state, sched.state === 'OPEN' ? 'OPEN · waiting' : sched.state) : badge('UNKNOWN');
}

export function progressBar(frac, label) {
	const p = Math.max(0, Math.min(1, Number(frac) || 0));
	const pct = Math.round(p * 100);
	// the width through the CSSOM: CSP refuses a style attribute
	const fill = h('div', { class: 'progress-fill' });
	fill.style.width = `${pct}%`;
	return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
		'aria-valuenow': pct, 'aria-label': label || 'progress' },
	fill,
	h('span', { class: 'progress-text' }, `${pct}%`));
}

// The banner shows errors of calls that have no field to sit next to.
export function showBanner(msg, kind = 'error') {
	const area = document.getElementById('banner');
	// no answer at all is said in words (errorText), not as "Failed to fetch"
	const text = msg instanceof Error ? errorText(msg) : String(msg);
	// the same message twice stays one banner
	for (const b of area.querySelectorAll('.banner')) if (b.dataset.text === text) return b;
	const b = h('div', { class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { text } },
		h('span', { class: 'banner-text' }, text),
		h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': 'Dismiss', onclick: () => b.remove() }, '×'));
	area.appendChild(b);
	return b;
}
export function clearBanners() { clear(document.getElementById('banner')); }

// An error region inside a page section (role=alert, so screen readers hear it).
export function errorBox(err) {
	return h('p', { class: 'error-box', role: 'alert' }, errorText(err));
}

// Field errors: <p class="field-error" id="<input id>-error">, tied with aria-describedby.
export function setFieldError(input, msg) {
	if (!input) return;
	const id = `${input.id}-error`;
	let p = document.getElementById(id);
	if (!p) {
		p = h('p', { class: 'field-error', id, role: 'alert' });
		const wrap = input.closest('.field') || input.parentElement;
		wrap.appendChild(p);
	}
	const prev = p.textContent;
	p.textContent = prev && msg && !prev.includes(msg) ? `${prev} ${msg}` : (msg || '');
	p.hidden = !msg;
	if (msg) {
		input.setAttribute('aria-invalid', 'true');
		const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter((x) => x && x !== id);
		input.setAttribute('aria-describedby', [id, ...ids].join(' '));
		input.closest('.field')?.classList.add('has-error');
	}
}
export function clearFieldErrors(root) {
	for (const p of root.querySelectorAll('.field-error')) { p.textContent = ''; p.hidden = true; }
	for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
	for (const el of root.querySelectorAll('.has-error')) el.classList.remove('has-error');
}

export function field(label, input, hint) {
	const hintEl = hint ? h('p', { class: 'hint', id: `${input.id}-hint` }, hint) : null;
	if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
	return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl);
}

export function section(title, ...children) {
	return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

// A table; on a phone (max-width 640px) it becomes cards: each row a card, each cell with
// its column's name (data-label) before it (app.css, `table.cards`). cards: false keeps
// the table (it then scrolls sideways in .table-wrap, with a visible cue).
export function table(headers, rows, { caption, empty = 'Nothing yet.', cls, cards = true } = {}) {
	if (!rows.length) return h('p', { class: 'muted empty' }, empty);
	if (cards) for (const tr of rows) labelCells(tr, headers);
	return h('div', { class: cards ? 'table-wrap' : 'table-wrap scroll-x' }, h('table', { class: `${cls || 'data'}${cards ? ' cards' : ''}` },
		caption ? h('caption', { class: 'sr-only' }, caption) : null,
		h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
		h('tbody', null, rows)));
}

// Count of set bits of a tag bitmask ("0x..." hex).
export function bitCount(hex) {
	if (!hex) return 0;
	const s = String(hex).replace(/^0x/i, '');
	const pc = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];
	let n = 0;
	for (const ch of s) n += pc[parseInt(ch, 16)] || 0;
	return n;
}

// Indices of the set bits, ascending (bit 0 = least significant = last hex digit).
export function bitIndices(hex) {
	const s = String(hex || '').replace(/^0x/i, '');
	const out = [];
	for (let p = 0; p < s.length; p++) {
		const v = parseInt(s[s.length - 1 - p], 16) || 0;
		for (let b = 0; b < 4; b++) if (v & (1 << b)) out.push(p * 4 + b);
	}
	return out;
}

export function setTitle(t) { document.title = t ? `${t} · winnow` : 'winnow'; }

// Sets data-label on the cells of a row (the header's text), for the phone's card layout.
export function labelCells(tr, headers) {
	const cells = [...tr.children];
	cells.forEach((td, i) => {
		const t = headers[i];
		if (typeof t === 'string' && t && !td.hasAttribute('data-label')) td.setAttribute('data-label', t);
	});
	return tr;
}

// An error in words: "Failed to fetch" (no answer) says the server could not be reached.
export function errorText(e) {
	if (e instanceof ApiError) {
		if (e.status === 0) return 'The server did not answer: the network may be down or winnow-web stopped.';
		return e.describe();
	}
	const m = (e && e.message) || String(e);
	if (/Failed to fetch|NetworkError|Load failed/i.test(m)) return 'The server did not answer: the network may be down or winnow-web stopped.';
	return m;
}

// A confirmation as an accessible modal <dialog> (focus moves into it, Escape or Cancel
// answers false, the confirm button true). Resolves once, when the dialog closes.
export function confirmDialog({ title, text, confirm = 'Confirm', cancel = 'Cancel', danger = false, id = 'confirm-dialog' }) {
	document.getElementById(id)?.remove();
	const opener = document.activeElement;
	const titleId = `${id}-title`, textId = `${id}-text`;
	const no = h('button', { type: 'button', class: 'btn', value: 'cancel', 'data-answer': 'cancel' }, cancel);
	const yes = h('button', { type: 'button', class: danger ? 'btn btn-danger-solid' : 'btn btn-primary', value: 'confirm', 'data-answer': 'confirm' }, confirm);
	const dlg = h('dialog', { id, class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': textId },
		h('h2', { id: titleId }, title), h('p', { id: textId }, text), h('div', { class: 'actions dialog-actions' }, no, yes));
	document.body.appendChild(dlg);
	return new Promise((resolve) => {
		let answer = false;
		no.addEventListener('click', () => dlg.close());
		yes.addEventListener('click', () => { answer = true; dlg.close(); });
		dlg.addEventListener('close', () => {
			dlg.remove();
			if (opener && opener.focus && document.contains(opener)) opener.focus();
			resolve(answer);
		});
		dlg.showModal();
		no.focus();	// the safe answer first
	});
}

// An error page body: what went wrong in words, a way back (the parent page) and Retry.
export function errorPanel(e, { back, retry, title, text } = {}) {
	const is404 = e instanceof ApiError && e.status === 404;
	const net = e instanceof ApiError ? e.status === 0 : /Failed to fetch|NetworkError/i.test(String(e && e.message));
	const heading = title || (is404 ? 'Not found' : net ? 'No answer from the server' : 'Something went wrong');
	const retryBtn = retry ? h('button', { type: 'button', class: 'btn btn-primary', id: 'error-retry' }, 'Retry') : null;
	if (retryBtn) retryBtn.addEventListener('click', () => { retryBtn.disabled = true; retry(); });
	return h('div', { class: 'card error-page', id: 'error-page', 'data-status': e instanceof ApiError ? String(e.status) : '' },
		h('h1', null, heading),
		h('p', { class: 'error-box', role: 'alert' }, text || errorText(e)),
		h('div', { class: 'actions' }, back ? h('a', { class: 'btn', href: back[0], id: 'error-back' }, `← ${back[1]}`) : null, retryBtn));
}
