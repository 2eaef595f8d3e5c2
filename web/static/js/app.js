// winnow-web pages: hash router, login and the shared layout.
import { api, get, onUnauthorized, ApiError } from './api.js';
import { h, clear, showBanner, clearBanners, setFieldError, clearFieldErrors, field, setTitle, errorPanel } from './ui.js';
import { datasetsPage } from './pages/datasets.js';
import { datasetPage } from './pages/dataset.js';
import { schedulePage } from './pages/schedule.js';
import { runsPage } from './pages/runs.js';
import { runPage, runByIdPage, runResultsByIdPage } from './pages/run.js';
import { resultsPage } from './pages/results.js';
import { workersPage } from './pages/workers.js';
import { samplePage, datasetSamplePage } from './pages/sample.js';

const ID = '([^/]+)';
const routes = [
	[/^\/login$/, loginPage, null],
	[/^\/datasets$/, datasetsPage, 'datasets'],
	[new RegExp(`^/datasets/${ID}$`), datasetPage, 'datasets'],
	[new RegExp(`^/datasets/${ID}/schedule$`), schedulePage, 'datasets'],
	[new RegExp(`^/datasets/${ID}/runs/${ID}$`), runPage, 'runs'],
	[new RegExp(`^/datasets/${ID}/runs/${ID}/results$`), resultsPage, 'runs'],
	[/^\/runs$/, runsPage, 'runs'],
	[new RegExp(`^/run/${ID}$`), runByIdPage, 'runs'],
	[new RegExp(`^/runs/${ID}/results$`), runResultsByIdPage, 'runs'],
	[/^\/workers$/, workersPage, 'workers'],
	[new RegExp(`^/datasets/${ID}/runs/${ID}/sample$`), samplePage, 'runs'],
	[new RegExp(`^/datasets/${ID}/sample$`), datasetSamplePage, 'datasets'],
];

let me = null;
let current = null;	// the page context of the page shown

// A page context: pages register timers and clean-ups on it; leaving the page ends them.
function newContext(params, query) {
	const ctx = {
		alive: true, params, query, me,
		cleanups: [],
		onLeave(fn) { this.cleanups.push(fn); },
		// Calls fn now and again `ms` after each call ends, while the page is shown and fn
		// does not return false. Errors go to onError (default: the banner) and polling goes on.
		poll(fn, ms, onError) {
			let timer = null, banner = null;
			const tick = async () => {
				if (!ctx.alive) return;
				let again = true;
				try {
					again = (await fn()) !== false;
					// the call works again: its error banner goes
					if (banner && banner.remove) { banner.remove(); banner = null; }
				} catch (e) { banner = (onError || showBanner)(e); }
				if (ctx.alive && again) timer = setTimeout(tick, ms);
			};
			ctx.onLeave(() => clearTimeout(timer));
			tick();
		},
		go(hash) { location.hash = hash; },
	};
	return ctx;
}

function leave() {
	if (!current) return;
	current.alive = false;
	for (const fn of current.cleanups) { try { fn(); } catch { /* ignore */ } }
	current = null;
}

async function route() {
	// in-page anchors (#main, #f-n-samples) are not pages
	if (location.hash && !location.hash.startsWith('#/')) return;
	const raw = location.hash.replace(/^#/, '') || '/datasets';
	const [path, qs] = raw.split('?');
	const query = new URLSearchParams(qs || '');
	leave();
	clearBanners();
	const main = document.getElementById('main');
	if (!me && path !== '/login') {
		try { me = await get('/v1/winnow/me'); } catch (e) {
			if (e instanceof ApiError && (e.status === 401 || e.status === 403)) { location.hash = `#/login?next=${encodeURIComponent(raw)}`; return; }
			showLayout(false);
			setTitle('No answer');
			clear(main).appendChild(errorPanel(e, { retry: () => route() }));
			return;
		}
	}
	for (const [re, page, nav] of routes) {
		const m = path.match(re);
		if (!m) continue;
		showLayout(page !== loginPage, nav);
		const ctx = newContext(m.slice(1).map(decodeURIComponent), query);
		current = ctx;
		// each page draws into a box of its own: what a page left behind still adds once
		// another page is shown lands in a detached box, not on the new page
		const box = h('div', { class: 'page' });
		clear(main).appendChild(box);
		try {
			await page(box, ctx);
		} catch (e) {
			if (!ctx.alive || (e && e.name === 'AbortError')) return;
			// the page could not load: say why in words, with a way back and Retry
			const nf = notFound(e);
			setTitle(nf ? nf.title : 'Error');
			clear(box).appendChild(errorPanel(e, { back: parentOf(path), retry: () => route(), ...(nf || {}) }));
		}
		return;
	}
	showLayout(true);
	setTitle('Page not found');
	clear(main).appendChild(h('div', { class: 'card error-page', id: 'error-page', 'data-status': '404' }, h('h1', null, 'Page not found'),
		h('p', null, 'No page at ', h('code', null, path), '.'),
		h('div', { class: 'actions' }, h('a', { class: 'btn', id: 'error-back', href: '#/datasets' }, '← Datasets'))));
}

// The parent page of a path (the nearest shorter path that is a page): [hash, label].
const PAGE_LABEL = [[/^\/datasets\/[^/]+\/runs\/[^/]+$/, 'Run'], [/^\/datasets\/[^/]+$/, 'Dataset'], [/^\/datasets$/, 'Datasets'],
	[/^\/runs$/, 'Runs'], [/^\/workers$/, 'Workers']];
function parentOf(path) {
	const parts = path.split('/');
	for (let n = parts.length - 1; n > 1; n--) {
		const p = parts.slice(0, n).join('/');
		const hit = PAGE_LABEL.find(([re]) => re.test(p));
		if (hit) return [`#${p}`, hit[1]];
	}
	return path.startsWith('/runs') || path.startsWith('/run/') ? ['#/runs', 'Runs'] : ['#/datasets', 'Datasets'];
}

// A 404 of the API names what was not found: { title, text } or null.
function notFound(e) {
	if (!(e instanceof ApiError) || e.status !== 404) return null;
	const p = e.path.replace(/[?].*$/, '');
	const kinds = [[/^\/v1\/datasets\/([^/]+)/, 'Dataset'], [/^\/v1\/(?:docker|winnow)\/runs\/(?:schedule\/)?([^/]+)/, 'Run'],
		[/^\/v1\/docker\/worker\/config\/(?:vX\/)?([^/]+)/, 'Config'], [/^\/v1\/winnow\/datasets\/([^/]+)/, 'Dataset']];
	for (const [re, kind] of kinds) {
		const m = p.match(re);
		if (m) return { title: `${kind} not found`, text: `No ${kind.toLowerCase()} with id ${decodeURIComponent(m[1])}: it does not exist, was deleted, or is not shared with you. (${e.message})` };
	}
	return { title: 'Not found', text: `${e.message} (${e.method} ${p})` };
}

function showLayout(on, nav) {
	document.getElementById('topbar').hidden = !on;
	document.getElementById('user-name').textContent = me ? (me.name || me.userId || '') : '';
	for (const a of document.querySelectorAll('[data-nav]')) {
		if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

async function loginPage(main, ctx) {
	setTitle('Log in');
	const token = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off', required: true,
		spellcheck: 'false', placeholder: 'paste your user token' });
	const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
	const form = h('form', { class: 'login-form', novalidate: true },
		field('User token', token, 'Created with: winnow-web token create NAME --role user --db PATH'),
		btn);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		const t = token.value.trim();
		if (!t) { setFieldError(token, 'Paste a user token.'); token.focus(); return; }
		btn.disabled = true;
		try {
			const r = await api('POST', '/login', { token: t });
			me = await get('/v1/winnow/me').catch(() => ({ userId: r && r.userId, name: r && r.name, role: 'user' }));
			const next = ctx.query.get('next');
			location.hash = next && next !== '/login' ? `#${next}` : '#/datasets';
		} catch (e) {
			const msg = e instanceof ApiError
				? (e.status === 401 || e.status === 403 ? `Login refused: ${e.message}` : e.describe())
				: String(e);
			setFieldError(token, msg);
			token.focus();
		} finally { btn.disabled = false; }
	});
	main.appendChild(h('div', { class: 'login-wrap' },
		h('div', { class: 'card login-card' },
			h('h1', null, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), ' winnow'),
			h('p', { class: 'muted' }, 'Active-learning data selection. Log in with a user token.'),
			form)));
	token.focus();
}

onUnauthorized(() => {
	me = null;
	if (!location.hash.startsWith('#/login')) {
		const raw = location.hash.replace(/^#/, '');
		location.hash = `#/login?next=${encodeURIComponent(raw)}`;
	}
});

document.getElementById('logout').addEventListener('click', async () => {
	try { await api('POST', '/logout', {}); } catch (e) { showBanner(e); return; }
	me = null;
	location.hash = '#/login';
});

document.querySelector('.skip-link').addEventListener('click', (ev) => {
	ev.preventDefault();
	document.getElementById('main').focus();
});

window.addEventListener('hashchange', route);
route();
