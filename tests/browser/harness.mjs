// The browser suites' shared set-up: the real bin/winnow-web on a free 127.0.0.1 port with a
// temp database and dataset root, tokens made by `winnow-web token create`, the real
// bin/winnowd as a daemon, headless Debian Chromium through playwright-core (no browser is
// downloaded), screenshots under $BUILD/test-artifacts/screenshots/<prefix>-*.png, and the
// waits every suite needs. A suite imports what it uses:
//
//   import { H, startWeb, startDaemon, openBrowser, skipWhy } from './harness.mjs';
//   describe('...', { skip: skipWhy }, () => {
//     let web, br;
//     before(async () => { web = await startWeb('sample'); br = await openBrowser(web, 'sample'); });
//     after(async () => { await br?.close(); await web?.stop(); });
//   });
//
// Nothing here asserts what a page shows: that is each suite's own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = process.env.WINNOW_ROOT || path.resolve(HERE, '../..');
const BIN = path.resolve(ROOT, process.env.BIN || 'bin');
const BUILD = path.resolve(ROOT, process.env.BUILD || 'build');

export const H = {
	ROOT, BIN, BUILD,
	WEB_BIN: path.join(BIN, 'winnow-web'),
	WINNOWD: path.join(BIN, 'winnowd'),
	STATIC: path.join(ROOT, 'web/static'),
	SHOTS: path.join(BUILD, 'test-artifacts/screenshots'),
	CHROMIUM: process.env.CHROMIUM || '/usr/bin/chromium',
	PY: '/usr/bin/python3',
	MKDATASET: path.join(ROOT, 'tests/tools/mkdataset'),
	T: 15000,
	DESKTOP: { width: 1400, height: 900 },
	PHONE: { width: 390, height: 844 },
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A timeout for a race that must not keep node alive once the race is won.
const deadline = (ms) => new Promise((r) => setTimeout(r, ms).unref());
export const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean);

const missing = [H.WEB_BIN, H.WINNOWD].filter((f) => !fs.existsSync(f)).map((f) => path.relative(ROOT, f));
// A suite's skip reason when the binaries are not built (node's test runner prints it).
export const skipWhy = missing.length ? `${missing.join(' and ')} not built yet (build with make): the suite skips` : false;
if (skipWhy) console.log(`# SKIP ${skipWhy}`);

export function loadPlaywright() {
	const req = createRequire(path.join(ROOT, 'web/package.json'));
	try { return req('playwright-core'); } catch {
		execFileSync('npm', ['ci', '--prefix', path.join(ROOT, 'web'), '--no-audit', '--no-fund'], { stdio: 'inherit' });
		return req('playwright-core');
	}
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
		s.on('error', reject);
	});
}

// A temp folder of the suite's own (removed at the web app's stop unless WINNOW_KEEP_TMP is set).
export function tmpDir(prefix) {
	return fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `winnow-${prefix}-`));
}

// `tests/tools/mkdataset` into `dir` (args as its command line: ['--n', '60', '--predictions']).
export function mkdataset(dir, args = []) {
	execFileSync(H.PY, [H.MKDATASET, '--out', dir, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
	return dir;
}

// The real web app. opts: { args: [...extra options], root: dataset root (default: a new one
// under the suite's temp folder) }. Returns { base, port, db, root, tmp, userToken,
// workerToken(workerName), token(name, role, worker), call(method, path, body, token),
// log(), stop() }.
export async function startWeb(prefix, opts = {}) {
	const tmp = tmpDir(prefix);
	const root = opts.root || path.join(tmp, 'datasets');
	fs.mkdirSync(root, { recursive: true });
	const db = path.join(tmp, 'web.db');
	const port = await freePort();
	const base = `http://127.0.0.1:${port}`;
	const token = (name, role, worker) => {
		const out = execFileSync(H.WEB_BIN, ['token', 'create', name, '--role', role, ...(worker ? ['--worker', worker] : []), '--db', db], { encoding: 'utf8' });
		const words = out.match(/[A-Za-z0-9_\-.~+/=]{20,}/g);
		return words[words.length - 1];
	};
	const userToken = token('alice', 'user');
	let log = '';
	const proc = spawn(H.WEB_BIN, ['--listen', `127.0.0.1:${port}`, '--db', db, '--dataset-root', root, '--static', H.STATIC, ...(opts.args || [])],
		{ stdio: ['ignore', 'pipe', 'pipe'] });
	proc.stdout.on('data', (d) => { log += d; });
	proc.stderr.on('data', (d) => { log += d; });
	let up = false;
	for (const deadline = Date.now() + 30000; !up && Date.now() < deadline;) {
		if (proc.exitCode !== null) break;
		try { const r = await fetch(`${base}/v1/winnow/me`); up = r.status === 401 || r.ok; } catch { await sleep(100); }
	}
	assert.ok(up, `winnow-web did not come up:\n${log}`);
	async function call(method, p, body, tok = userToken) {
		const res = await fetch(new URL(p, base), {
			method, headers: { Authorization: `Bearer ${tok}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await res.text();
		if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
		const ct = res.headers.get('content-type') || '';
		return text && ct.includes('json') ? JSON.parse(text) : text;
	}
	return {
		base, port, db, root, tmp, userToken, token, call, proc,
		workerToken: (workerName) => token(`w-${workerName}`, 'worker', workerName),
		log: () => log,
		// A dataset with a LOCAL datasource on a folder under the root: its id.
		async dataset(name, dir) {
			const ds = await call('POST', '/v1/datasets', { name });
			await call('PUT', `/v1/datasets/${ds.id}/datasource`, { type: 'LOCAL', purpose: 'INPUT_OUTPUT', fullPath: dir });
			return ds.id;
		},
		async stop() {
			if (proc.exitCode === null && proc.signalCode === null) {
				const exited = new Promise((r) => proc.once('exit', r));
				proc.kill('SIGTERM');
				await Promise.race([exited, deadline(20000)]);
			}
			if (!process.env.WINNOW_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
		},
	};
}

// The real daemon against `web`, as the worker `name` (its token bound to that name). opts:
// { env: {...}, labels: [...], pollInterval }. Returns { proc, log(), stop() }.
export function startDaemon(web, name, opts = {}) {
	const dir = path.join(web.tmp, `winnowd-${name}`);
	fs.mkdirSync(dir, { recursive: true });
	const conf = path.join(dir, 'winnowd.json');
	fs.writeFileSync(conf, JSON.stringify({
		url: web.base, worker_name: name, token: web.workerToken(name), state_dir: path.join(dir, 'state'),
		poll_interval: opts.pollInterval || 0.3, concurrent_runs: 1, threads_per_run: 1, log_level: 'debug',
		...(opts.labels ? { labels: opts.labels } : {}),
	}));
	let log = '';
	const proc = spawn(H.WINNOWD, ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) } });
	proc.stdout.on('data', (d) => { log += d; });
	proc.stderr.on('data', (d) => { log += d; });
	return {
		proc, log: () => log,
		async stop() {
			if (proc.exitCode !== null || proc.signalCode !== null) return;
			const exited = new Promise((r) => proc.once('exit', r));
			proc.kill('SIGTERM');
			if (await Promise.race([exited.then(() => 'ok'), deadline(30000).then(() => 'timeout')]) === 'timeout') { proc.kill('SIGKILL'); await exited; }
		},
	};
}

// Schedules `config` (a 2.2-era {docker, lightly} or a V4 {workerType, selection, ...}) on a
// dataset through Lightly's routes: the scheduled run's id.
export async function schedule(web, datasetId, config, extra = {}) {
	const v4 = config.selection !== undefined;
	const cfg = await web.call('POST', v4 ? '/v1/docker/worker/config/vX' : '/v1/docker/worker/config',
		v4 ? { version: 'V4', config, creator: 'USER_PIP' } : { name: 'cfg', config });
	const s = await web.call('POST', `/v1/datasets/${datasetId}/docker/worker/schedule`, { configId: cfg.id, priority: 'MID', ...extra });
	return s.id;
}

// Waits until the run of scheduled run `sid` has ended and its scheduled run is DONE: the run.
export async function runToEnd(web, datasetId, sid, ms = 120000) {
	for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(300)) {
		const r = await fetch(new URL(`/v1/docker/runs/schedule/${sid}`, web.base), { headers: { Authorization: `Bearer ${web.userToken}` } });
		if (r.status === 200) {
			const run = await r.json();
			if (['COMPLETED', 'FAILED', 'CRASHED', 'ABORTED'].includes(run.state)) {
				const done = await web.call('GET', `/v1/datasets/${datasetId}/docker/worker/schedule?state=DONE`);
				if (done.find((s) => s.id === sid)) return run;
			}
		}
	}
	throw new Error(`run of ${sid} did not end`);
}

// Local mode on a folder with a config: the output folder (the independent check).
export function localSelect(tmp, name, config, input) {
	const cfgFile = path.join(tmp, `${name}.json`);
	fs.writeFileSync(cfgFile, JSON.stringify(config));
	const out = path.join(tmp, `local-${name}`);
	return new Promise((resolve, reject) => {
		const p = spawn(H.WINNOWD, ['select', '--config', cfgFile, '--input', input, '--output', out, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
		let err = '';
		p.stderr.on('data', (d) => { err += d; });
		p.stdout.resume();
		p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`winnowd select exited ${code}: ${err.slice(-2000)}`))));
	});
}

// Headless Chromium logged in to `web` as `token` (default the user). opts: { viewport,
// prefix }. Returns { context, page, problems (page errors), shot(name), setViewport(v),
// close() }. Screenshots: $BUILD/test-artifacts/screenshots/<prefix>-<name>.png.
export async function openBrowser(web, prefix, opts = {}) {
	const { chromium } = loadPlaywright();
	fs.mkdirSync(H.SHOTS, { recursive: true });
	for (const f of fs.readdirSync(H.SHOTS)) if (f.startsWith(`${prefix}-failed-`)) fs.rmSync(path.join(H.SHOTS, f));
	const profile = fs.mkdtempSync(path.join(web.tmp, 'profile-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: H.CHROMIUM, headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: opts.viewport || H.DESKTOP,
	});
	const page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(H.T);
	const problems = [];
	page.on('pageerror', (e) => problems.push(e.message));
	await page.goto(`${web.base}/`);
	await page.fill('#login-token', opts.token || web.userToken);
	await page.click('button[type=submit]');
	await page.locator('h1', { hasText: 'Datasets' }).waitFor();
	return {
		context, page, problems,
		shot: (name) => page.screenshot({ path: path.join(H.SHOTS, `${prefix}-${name}.png`), fullPage: true }),
		setViewport: (v) => page.setViewportSize(v),
		close: () => context.close().catch(() => {}),
	};
}

// Waits for a results-grid reload: the results call whose query has every key of `want`
// answers 200 and the grid has rendered (aria-busy false).
export async function gridAfter(page, action, want) {
	const answered = page.waitForResponse((r) => {
		const u = new URL(r.url());
		return u.pathname.endsWith('/results') && Object.entries(want).every(([k, v]) => u.searchParams.get(k) === String(v));
	}, { timeout: H.T });
	await action();
	const r = await answered;
	assert.equal(r.status(), 200, r.url());
	await page.waitForFunction(() => document.querySelector('#sample-grid')?.getAttribute('aria-busy') === 'false', null, { timeout: H.T });
}
