// Browser tests of winnow-web's pages: headless Debian Chromium driven by playwright-core.
//
// Starts the real bin/winnow-web on 127.0.0.1 (free port, temp db, a user and a worker token),
// generates datasets with tests/tools/mkdataset under a --dataset-root, and then, in the
// browser: logs in, creates a dataset, schedules a coral run through the wizard, and watches
// it live while the real daemon (winnowd's objects with its test seams: winnowd-test, started
// by this file with the worker token and WINNOWD_TEST_DELAY_MS) claims and runs it. The results page is checked against local mode
// (`bin/winnowd select` with the same config on the same folder, run here as the independent
// check): thumbnails, scores, sorting, paging, the selected filter, histogram, scatter,
// corrupt and duplicate lists, the download. Then cancel (an OPEN run, the daemon busy) and
// abort (a running one: the daemon reports ABORTED and takes the next run). Screenshots:
// $BUILD/test-artifacts/screenshots/.
//
// Without bin/winnow-web the server tests skip (saying why); the static smoke test still runs.
// WINNOW_WEB_MOCK=1 runs tests/browser/mock-server.mjs instead (for work on the pages only;
// the daemon tests need the real server).
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = process.env.WINNOW_ROOT || path.resolve(HERE, '../..');
const BIN = path.resolve(ROOT, process.env.BIN || 'bin');
const BUILD = path.resolve(ROOT, process.env.BUILD || 'build');
const WEB_BIN = path.join(BIN, 'winnow-web');
const WINNOWD = path.join(BIN, 'winnowd');
// winnowd with its test seams (tests/tools/winnowd_test.c): the live run is slowed down.
const WINNOWD_TEST = path.join(BUILD, 'tests/tools/winnowd-test');
const STATIC = path.join(ROOT, 'web/static');
const SHOTS = path.join(BUILD, 'test-artifacts/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MOCK = process.env.WINNOW_WEB_MOCK === '1';
const PY = '/usr/bin/python3';
const T = 15000;	// default wait for the pages

fs.mkdirSync(SHOTS, { recursive: true });
for (const f of fs.readdirSync(SHOTS)) if (/^failed-\d+\.png$/.test(f)) fs.rmSync(path.join(SHOTS, f));	// an earlier run's
const TMP = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'winnow-pages-'));

// playwright-core comes from web/package.json's devDependencies (npm ci --prefix web).
function loadPlaywright() {
	const req = createRequire(path.join(ROOT, 'web/package.json'));
	try { return req('playwright-core'); } catch {
		console.log('# installing web/node_modules (npm ci --prefix web)');
		execFileSync('npm', ['ci', '--prefix', path.join(ROOT, 'web'), '--no-audit', '--no-fund'], { stdio: 'inherit' });
		return req('playwright-core');
	}
}
const { chromium } = loadPlaywright();

async function launch() {
	const profile = fs.mkdtempSync(path.join(TMP, 'profile-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1360, height: 900 },
		acceptDownloads: true,
	});
	const page = context.pages()[0] || await context.newPage();
	const problems = [];
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
	page.setDefaultTimeout(T);
	return { context, page, problems };
}

const shot = (page, name, fullPage = true) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
		s.on('error', reject);
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
test('static pages load: login form, modules and the chart library, no script errors', async () => {
	// a plain file server for web/static whose /v1/winnow/me says 401: the pages must show the login
	const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://x');
		if (u.pathname.startsWith('/v1/') || u.pathname === '/login') {
			res.writeHead(401, { 'Content-Type': 'application/json' });
			return res.end('{"error":"no valid token","code":"UNAUTHORIZED"}');
		}
		const f = path.join(STATIC, u.pathname === '/' ? 'index.html' : path.normalize(u.pathname));
		if (!f.startsWith(STATIC) || !fs.existsSync(f)) { res.writeHead(404); return res.end('not found'); }
		res.writeHead(200, { 'Content-Type': MIME[path.extname(f)] || 'application/octet-stream' });
		res.end(fs.readFileSync(f));
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	const { context, page, problems } = await launch();
	try {
		await page.goto(`http://127.0.0.1:${srv.address().port}/`);
		await page.locator('#login-token').waitFor();
		assert.equal(await page.evaluate(() => typeof window.Chart), 'function', 'web/static/vendor/chart.umd.min.js (make web-assets)');
		await page.fill('#login-token', 'not-a-token');
		await page.click('button[type=submit]');
		await page.locator('#login-token-error').filter({ hasText: 'Login refused' }).waitFor();
		await shot(page, 'login-refused', false);
		assert.deepEqual(problems, []);
	} finally {
		await context.close();
		srv.close();
	}
});

// ---------------------------------------------------------------------------------------
const missing = [WEB_BIN, WINNOWD, WINNOWD_TEST].filter((f) => !fs.existsSync(f)).map((f) => path.relative(ROOT, f));
const skipWhy = MOCK || !missing.length ? false : `${missing.join(' and ')} not built yet (build with make): the server tests skip`;
if (skipWhy) console.log(`# SKIP ${skipWhy}`);

describe('winnow-web pages against the real server', { skip: skipWhy }, () => {
	const S = {};	// shared state, the tests run in order
	let server = null, serverLog = '', browser = null, page = null;
	// WINNOWD_TEST_DELAY_MS sleeps at each progress report of the image stage, which comes
	// every 32 images (and at the last): with one thread a run, 2.5 s each keeps the 60-image
	// dataset's CHECKING_CORRUPTNESS on screen for about 5 s (the run page polls every 1.5 s,
	// the daemon PUTs a changed state at most every 2 s), and the 224-image one's for about 17 s,
	// long enough to abort it from its page.
	const DELAY_MS = 2500;
	const WORKER_NAME = 'pages-winnowd';

	// The real daemon, bin/winnowd in daemon mode, with its own config file and state dir.
	const daemon = {
		proc: null, log: '', conf: null,
		start() {
			const dir = path.join(TMP, 'winnowd');
			fs.mkdirSync(dir, { recursive: true });
			this.conf = path.join(dir, 'winnowd.json');
			fs.writeFileSync(this.conf, JSON.stringify({
				url: S.base, worker_name: WORKER_NAME, token: S.workerToken, state_dir: path.join(dir, 'state'),
				poll_interval: 0.3, concurrent_runs: 1, threads_per_run: 1, log_level: 'debug',
			}));
			this.proc = spawn(WINNOWD_TEST, ['--config', this.conf], {
				stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WINNOWD_TEST_DELAY_MS: String(DELAY_MS) },
			});
			this.proc.stdout.on('data', (d) => { this.log += d; });
			this.proc.stderr.on('data', (d) => { this.log += d; });
			return this;
		},
		async stop() {
			const p = this.proc;
			if (!p || p.exitCode !== null || p.signalCode !== null) return p ? p.exitCode : null;
			const exited = new Promise((r) => p.once('exit', (code) => r(code)));
			p.kill('SIGTERM');
			const code = await Promise.race([exited, sleep(30000).then(() => 'timeout')]);
			if (code === 'timeout') { p.kill('SIGKILL'); await exited; }
			return code;
		},
	};
	// GET as the user (the pages' role): what the web app holds, to compare with the pages
	const U = (m, p, b) => call(m, p, b, S.userToken);
	// a run's state as the server has it, winnow's view with progress and the abort flag
	// (null before the daemon created the run)
	async function runOf(sid) {
		return (await U('GET', `/v1/winnow/runs?scheduledId=${sid}`))[0] || null;
	}
	// local mode on the same folder with the same config: the independent check of the daemon
	function localSelect(name, docker, lightly, input) {
		const cfgFile = path.join(TMP, `${name}.json`);
		fs.writeFileSync(cfgFile, JSON.stringify({ docker, lightly: lightly || {} }));
		const out = path.join(TMP, `local-${name}`);
		return new Promise((resolve, reject) => {
			const p = spawn(WINNOWD, ['select', '--config', cfgFile, '--input', input, '--output', out, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
			let err = '';
			p.stderr.on('data', (d) => { err += d; });
			p.stdout.resume();
			p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`winnowd select exited ${code}: ${err.slice(-2000)}`))));
		});
	}
	const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean);

	// The results grid after an action that reloads it: waits for the page's results call
	// with these query parameters (call: sort, order, offset, selected) to answer 200, and then
	// for the grid to have rendered that answer: aria-busy false and the page's own address
	// carrying the same sort, order and selected (and `hash`: e.g. its page), which the page
	// sets right after the cards. A sleep could pass on the old cards or fail on a slow
	// machine; this waits for exactly the state the asserts after it read.
	async function gridAfter(action, call, hash = {}) {
		const asked = (url) => {
			const u = new URL(url);
			return u.pathname.endsWith('/results') && Object.entries(call).every(([k, v]) => u.searchParams.get(k) === String(v));
		};
		const answered = page.waitForResponse((r) => asked(r.url()), { timeout: T });
		await action();
		const r = await answered;
		assert.equal(r.status(), 200, `results call ${r.url()}`);
		const shown = { ...Object.fromEntries(Object.entries(call).filter(([k]) => ['sort', 'order', 'selected'].includes(k))), ...hash };
		await page.waitForFunction((want) => {
			const g = document.querySelector('#sample-grid');
			if (!g || g.getAttribute('aria-busy') !== 'false') return false;
			const q = new URLSearchParams(location.hash.split('?')[1] || '');
			return Object.entries(want).every(([k, v]) => q.get(k) === String(v));
		}, shown, { timeout: T });
	}

	// What the run page shows, read in one evaluation once its run badge shows `state`: the
	// badges, every stage's status and the buttons. render() draws them all in one turn, so
	// the snapshot is one state of the page, never half of the next poll's.
	async function runPageWhen(state, timeout = T) {
		const h = await page.waitForFunction((want) => {
			if (document.querySelector('#run-state [data-state]')?.dataset.state !== want) return null;
			return {
				sched: document.querySelector('#sched-state [data-state]')?.dataset.state ?? null,
				stages: Object.fromEntries([...document.querySelectorAll('[data-stage]')].map((e) => [e.dataset.stage, e.dataset.status])),
				abortEnabled: !document.getElementById('run-abort').disabled,
				cancelEnabled: !document.getElementById('run-cancel').disabled,
			};
		}, state, { timeout });
		return h.jsonValue();
	}

	async function call(method, p, body, token = S.userToken) {
		const res = await fetch(new URL(p, S.base), {
			method, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined && !(body instanceof Buffer) ? { 'Content-Type': 'application/json' } : {}) },
			body: body === undefined ? undefined : (body instanceof Buffer ? body : JSON.stringify(body)),
		});
		const text = await res.text();
		if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
		return text ? JSON.parse(text) : null;
	}

	function tokenCreate(name, role, worker) {
		// a worker token is bound to one worker name (SPEC 8)
		const out = execFileSync(WEB_BIN, ['token', 'create', name, '--role', role, ...(worker ? ['--worker', worker] : []), '--db', S.db], { encoding: 'utf8' });
		const words = out.match(/[A-Za-z0-9_\-.~+/=]{20,}/g);
		assert.ok(words && words.length, `no token in the output of token create: ${out}`);
		return words[words.length - 1];
	}

	before(async () => {
		S.root = path.join(TMP, 'datasets');
		S.dsDir = path.join(S.root, 'shop');
		fs.mkdirSync(S.root, { recursive: true });
		execFileSync(PY, [path.join(ROOT, 'tests/tools/mkdataset'), '--out', S.dsDir, '--n', '60', '--predictions', '--subdirs']);
		// a bigger one for the run that is aborted while it runs (no predictions: a coreset run)
		S.slowDir = path.join(S.root, 'slow');
		execFileSync(PY, [path.join(ROOT, 'tests/tools/mkdataset'), '--out', S.slowDir, '--n', '224', '--seed', '7']);
		S.db = path.join(TMP, 'web.db');
		S.port = await freePort();
		S.base = `http://127.0.0.1:${S.port}`;
		let cmd, argv;
		if (MOCK) {
			S.userToken = 'user-token'; S.workerToken = 'worker-token'; S.seedToken = 'worker-token';
			cmd = process.execPath;
			argv = [path.join(HERE, 'mock-server.mjs'), '--listen', `127.0.0.1:${S.port}`, '--dataset-root', S.root, '--static', STATIC];
		} else {
			S.userToken = tokenCreate('alice', 'user');
			S.workerToken = tokenCreate('worker-1', 'worker', WORKER_NAME);
			S.seedToken = tokenCreate('seeder-1', 'worker', 'page-speed-seeder');
			cmd = WEB_BIN;
			argv = ['--listen', `127.0.0.1:${S.port}`, '--db', S.db, '--dataset-root', S.root, '--static', STATIC,
				'--s3-endpoint-allow', 'http://127.0.0.1'];
		}
		server = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
		server.stdout.on('data', (d) => { serverLog += d; });
		server.stderr.on('data', (d) => { serverLog += d; });
		let up = false;
		for (const deadline = Date.now() + 30000; !up && Date.now() < deadline;) {
			if (server.exitCode !== null) break;
			try { const r = await fetch(`${S.base}/v1/winnow/me`); up = r.status === 401 || r.ok; } catch { await sleep(100); }
		}
		assert.ok(up, `winnow-web did not come up on ${S.base}:\n${serverLog}`);
		({ context: browser, page } = await launch());
		S.problems = [];
		page.on('pageerror', (e) => S.problems.push(e.message));
	});

	// a failed test leaves its page as failed-<n>.png, to look at
	let nTest = 0;
	afterEach(async (t) => {
		nTest++;
		if (page && t && t.passed === false) await shot(page, `failed-${nTest}`).catch(() => {});
	});

	after(async () => {
		if (browser) await browser.close().catch(() => {});
		const rc = await daemon.stop();
		if (daemon.proc) console.log(`# winnowd exited ${rc} on SIGTERM`);
		if (server && server.exitCode === null && server.signalCode === null) {
			const exited = new Promise((r) => server.once('exit', r));
			server.kill('SIGTERM');
			if (await Promise.race([exited.then(() => 'exited'), sleep(20000).then(() => 'timeout')]) === 'timeout') {
				console.log('# winnow-web did not exit within 20 s of SIGTERM: killed');
				server.kill('SIGKILL');
				await exited;
			}
		}
		if (daemon.log.trim()) console.log(daemon.log.split('\n').slice(-40).map((l) => `# winnowd: ${l}`).join('\n'));
		if (serverLog.trim()) console.log(serverLog.split('\n').slice(-40).map((l) => `# server: ${l}`).join('\n'));
	});

	test('login: a wrong token is refused next to the field, the user token opens the app', async () => {
		await page.goto(`${S.base}/`);
		await page.locator('#login-token').waitFor();
		await shot(page, 'login', false);
		await page.fill('#login-token', 'wrong-token-0000000000000000');
		await page.click('button[type=submit]');
		await page.locator('#login-token-error').waitFor();
		assert.match(await page.textContent('#login-token-error'), /refused|401|token/i);
		await page.fill('#login-token', S.userToken);
		await page.click('button[type=submit]');
		await page.locator('h1', { hasText: 'Datasets' }).waitFor();
		assert.ok(await page.isVisible('nav[aria-label=Main] >> text=Runs'));
		assert.ok(await page.isVisible('nav[aria-label=Main] >> text=Workers'));
	});

	test('datasets: a name outside Lightly\'s pattern is refused at its field, before any request', async () => {
		const posted = [];
		const seen = (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/datasets') posted.push(r.url()); };
		page.on('request', seen);
		for (const bad of ['ab', '-shop', 'shop.v2']) {
			await page.fill('#ds-name', bad);
			await page.fill('#ds-path', S.dsDir);
			await page.click('#ds-create');
			await page.locator('#ds-name-error').waitFor();
			assert.match(await page.textContent('#ds-name-error'), /Not a valid name: 3 to 200 characters/);
		}
		page.off('request', seen);
		assert.deepEqual(posted, []);
	});

	test('datasets: a folder outside --dataset-root is refused next to the path field; then created', async () => {
		await page.fill('#ds-name', 'shop');
		await page.fill('#ds-path', '/etc');
		await page.click('#ds-create');
		await page.locator('#ds-path-error').waitFor();
		assert.ok((await page.textContent('#ds-path-error')).length > 5);
		await shot(page, 'datasets-path-refused');
		await page.fill('#ds-path', S.dsDir);
		await page.click('#ds-create');
		await page.waitForURL(/#\/datasets\/[0-9a-f]{24}$/);
		S.did = page.url().match(/#\/datasets\/([0-9a-f]{24})$/)[1];
		await page.locator('#ds-tasks td', { hasText: 'my-detection-task' }).waitFor();
		assert.match(await page.textContent('#ds-source'), /shop/);
		await shot(page, 'dataset-new');
		await page.click('nav[aria-label=Main] >> text=Datasets');
		await page.locator('#dataset-list a', { hasText: 'shop' }).waitFor();
		await shot(page, 'datasets');
	});

	test('wizard: presets, tasks from the dataset, scores of the task type, JSON in sync, n_samples 2.5 refused at its field', async () => {
		await page.goto(`${S.base}/#/datasets/${S.did}`);
		await page.click('#schedule-run');
		await page.locator('#wizard[aria-busy=false]').waitFor();
		// the default preset: Lightly's web-app default
		assert.equal(await page.inputValue('#f-method'), 'coreset');
		assert.equal(await page.inputValue('#f-n-samples'), '0.1');
		assert.equal(await page.inputValue('#f-min-distance'), '-1');
		assert.ok(await page.isChecked('#f-corruptness'));
		assert.ok(await page.isChecked('#f-duplicates'));
		assert.ok(await page.isChecked('#f-scorer'));
		const tasks = await page.$$eval('#f-task option', (os) => os.map((o) => o.value));
		for (const t of ['my-classification-task', 'my-detection-task', 'my-segmentation-task', 'my-keypoint-task']) assert.ok(tasks.includes(t), `task ${t} offered: ${tasks}`);
		// the coral preset, then the detection task
		await page.click('#preset-coral');
		assert.equal(await page.inputValue('#f-method'), 'coral');
		assert.equal(await page.inputValue('#f-task'), 'my-classification-task');
		assert.deepEqual(await page.$$eval('#f-score option', (os) => os.map((o) => o.value)),
			['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy']);
		await page.selectOption('#f-task', 'my-detection-task');
		assert.deepEqual(await page.$$eval('#f-score option', (os) => os.map((o) => o.value)),
			['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy', 'objectness_least_confidence', 'object_frequency']);
		assert.equal(await page.inputValue('#f-score'), 'uncertainty_margin');
		await page.selectOption('#f-task', 'my-keypoint-task');
		assert.equal(await page.inputValue('#f-score'), 'mean_uncertainty');
		await page.selectOption('#f-task', 'my-detection-task');
		assert.equal(await page.inputValue('#f-score'), 'uncertainty_margin');
		// form -> JSON
		await page.fill('#f-n-samples', '0.25');
		let j = JSON.parse(await page.inputValue('#f-json'));
		assert.equal(j.docker.stopping_condition.n_samples, 0.25);
		assert.equal(j.docker.active_learning.task_name, 'my-detection-task');
		assert.equal(j.docker.method, 'coral');
		// JSON -> form
		j.docker.scorer_config.min_score = 0.8;
		await page.fill('#f-json', JSON.stringify(j, null, 2));
		assert.equal(await page.inputValue('#f-min-score'), '0.8');
		j.docker.scorer_config.min_score = 0.9;
		await page.fill('#f-json', JSON.stringify(j, null, 2));
		assert.equal(await page.inputValue('#f-min-score'), '0.9');
		await shot(page, 'wizard');
		// while editing, the server's validate route checks the config: min_distance -3 is refused
		// next to its field before any submit, and the message goes when the value is fixed
		await page.fill('#f-min-distance', '-3');
		await page.locator('#f-min-distance-error:not([hidden])').waitFor();
		assert.match(await page.textContent('#f-min-distance-error'), /-3/);
		assert.ok(await page.isHidden('#wizard-errors'), 'the summary waits for a submit');
		await page.fill('#f-min-distance', '-1');
		await page.locator('#f-min-distance-error').waitFor({ state: 'hidden' });
		// a value the server refuses at submit: its message next to the n_samples field
		await page.fill('#f-n-samples', '2.5');
		await page.click('#wizard-submit');
		await page.locator('#f-n-samples-error').waitFor();
		assert.match(await page.textContent('#f-n-samples-error'), /2\.5/);
		assert.ok(await page.isVisible('#wizard-errors'));
		assert.match(page.url(), /\/schedule$/, 'no run was scheduled');
		await shot(page, 'wizard-error');
		// fixed: scheduled, and the run page opens
		await page.fill('#f-n-samples', '0.25');
		await page.click('#wizard-submit');
		await page.waitForURL(/#\/datasets\/[0-9a-f]{24}\/runs\/[0-9a-f]{24}$/);
		S.sid = page.url().match(/\/runs\/([0-9a-f]{24})$/)[1];
		await page.locator('#sched-state [data-state=OPEN]').waitFor();
		assert.ok(await page.isEnabled('#run-cancel'), 'an OPEN run can be canceled');
		assert.ok(await page.isDisabled('#run-abort'));
		await shot(page, 'run-open');
	});

	test('run page: the real winnowd claims the run; state and stages change live, log lines appear, no reload', async () => {
		// every state the run badge shows, recorded in the page itself (no reload in between)
		await page.evaluate(() => {
			window.__sameDocument = true;
			for (const [id, key] of [['run-state', '__states'], ['sched-state', '__schedStates']]) {
				window[key] = [];
				const dd = document.getElementById(id);
				const note = () => {
					const s = dd.querySelector('[data-state]')?.dataset.state;
					if (s && window[key][window[key].length - 1] !== s) window[key].push(s);
				};
				note();
				new MutationObserver(note).observe(dd, { childList: true, subtree: true });
			}
		});
		assert.match(await page.textContent('#run-state'), /waiting for a worker/);
		// the config the wizard stored, run in local mode on the same folder (in parallel)
		const sched = (await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule`)).find((s) => s.id === S.sid);
		const cfg = await U('GET', `/v1/docker/worker/config/${sched.configId}`);
		const docker = cfg.config.docker;
		assert.equal(docker.method, 'coral');
		assert.equal(docker.stopping_condition.n_samples, 0.25);
		assert.equal(docker.active_learning.task_name, 'my-detection-task');
		assert.equal(docker.active_learning.score_name, 'uncertainty_margin');
		const src = await U('GET', `/v1/datasets/${S.did}/datasource`);
		assert.equal(path.resolve(src.fullPath), fs.realpathSync(S.dsDir));
		const local = localSelect('coral', docker, cfg.config.lightly, src.fullPath);
		local.catch(() => {});
		// the daemon: registers, polls, claims the OPEN run and runs it
		daemon.start();
		await page.locator('#sched-state [data-state=LOCKED]').waitFor({ timeout: 30000 });
		// the page as it is while the badge shows CHECKING_CORRUPTNESS, read in one go (the next
		// poll may render the next state at any moment)
		const live = await runPageWhen('CHECKING_CORRUPTNESS', 30000);
		assert.equal(live.stages.LOADING_DATASET, 'done');
		assert.equal(live.stages.CHECKING_CORRUPTNESS, 'active');
		assert.equal(live.stages.SAMPLING, 'pending');
		assert.equal(live.sched, 'LOCKED');
		assert.ok(live.abortEnabled, 'a running run can be aborted');
		assert.ok(!live.cancelEnabled, 'a LOCKED run cannot be canceled');
		await page.locator('#run-log .log-line').first().waitFor();
		await shot(page, 'run-progress');
		await page.locator('#run-state [data-state=COMPLETED]').waitFor({ timeout: 60000 });
		await page.locator('#sched-state [data-state=DONE]').waitFor({ timeout: 30000 });
		await page.locator('#run-results:not([hidden])').waitFor();
		// what the page showed, live: the schedule OPEN -> LOCKED -> DONE, the run through at
		// least one running stage before COMPLETED. Only the image stage is slowed down
		// (WINNOWD_TEST_DELAY_MS); the other stages take milliseconds on 60 images and the daemon
		// PUTs a changed state at most every 2 s, so CHECKING_CORRUPTNESS is the one seen for sure.
		const seen = await page.evaluate(() => window.__states);
		const schedSeen = await page.evaluate(() => window.__schedStates);
		console.log(`# states seen on the run page: schedule ${schedSeen.join(' -> ')}; run ${seen.join(' -> ')}`);
		assert.deepEqual(schedSeen, ['OPEN', 'LOCKED', 'DONE']);
		assert.ok(seen.includes('CHECKING_CORRUPTNESS') && seen.length >= 2, `at least two run states seen live: ${seen}`);
		assert.equal(seen[seen.length - 1], 'COMPLETED');
		for (const [key] of [['LOADING_DATASET'], ['CHECKING_CORRUPTNESS'], ['EMBEDDING'], ['COMPUTING_ACTIVE_LEARNING_SCORES'], ['SAMPLING'], ['SAVING_RESULTS'], ['UPLOADING_ARTIFACTS']]) {
			assert.equal(await page.getAttribute(`[data-stage=${key}]`, 'data-status'), 'done', key);
		}
		const run = await U('GET', `/v1/docker/runs/schedule/${S.sid}`);
		S.rid = run.id;
		assert.equal(await page.textContent('#run-id'), run.id);
		assert.match(await page.textContent('#run-message'), /selected of \d+ candidates/);
		// every log line the daemon sent, once, in order (one more poll after the end brings the last)
		const logs = (await U('GET', `/v1/docker/runs/${run.id}/logs`)).logs;
		assert.ok(logs.length > 3, `log lines: ${logs.length}`);
		await page.waitForFunction((n) => document.querySelectorAll('#run-log .log-line').length === n, logs.length, { timeout: 10000 });
		assert.deepEqual(await page.$$eval('#run-log .log-line', (ls) => ls.map((l) => Number(l.dataset.seq))), logs.map((l, k) => k));
		assert.ok(await page.isDisabled('#run-abort'));
		assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page updated without reloading');
		// the worker that ran it is the daemon
		const workers = await U('GET', '/v1/docker/worker');
		assert.deepEqual(workers.map((w) => w.name), [WORKER_NAME]);
		assert.equal((await U('GET', `/v1/winnow/datasets/${S.did}/schedule`)).find((s) => s.id === S.sid).workerId, workers[0].id);
		// local mode's output: what the results page must show
		const out = await local;
		S.out = out;
		S.candidates = lines(path.join(out, 'data/embeddings.csv')).slice(1).map((l) => l.slice(0, l.indexOf(',')));
		S.selected = lines(path.join(out, 'filenames/selected_filenames.txt'));
		S.nopred = lines(path.join(out, 'filenames/no_predictions_filenames.txt'));
		const scoresCsv = lines(path.join(out, 'data/scores.csv'));
		const header = scoresCsv[0].split(',');
		const rows = scoresCsv.slice(1).map((l) => l.split(','));
		S.scores = {};
		for (let c = 1; c < header.length; c++) S.scores[header[c]] = new Map(rows.map((r) => [r[0], Number(r[c])]));
		// the daemon's tags: run-<runId> and run-<runId>-candidates
		const tags = await U('GET', `/v1/datasets/${S.did}/tags`);
		const cand = tags.find((t) => t.name === `run-${run.id}-candidates`);
		const sel = tags.find((t) => t.name === `run-${run.id}`);
		assert.ok(cand && sel && sel.prevTagId === cand.id, `the run's tags: ${tags.map((t) => t.name)}`);
		S.candTag = cand.id; S.selTag = sel.id;
		await shot(page, 'run-completed');
	});

	test('results: thumbnails with scores, sorting, paging, selected filter, histogram, scatter, lists, download', async () => {
		await page.click('#run-results');
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor();
		const nSel = S.selected.length, nCand = S.candidates.length;
		// default: the selected samples, sorted by the weighting score
		assert.equal(await page.inputValue('#sort-by'), 'uncertainty_margin');
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), nSel);
		assert.equal(await page.locator('#sample-grid figure').count(), Math.min(24, nSel));
		assert.equal(await page.locator('#sample-grid figure.is-selected').count(), Math.min(24, nSel));
		const imagesLoaded = async () => {
			await page.locator('.pager').scrollIntoViewIfNeeded();
			await page.waitForFunction(() => {
				const imgs = [...document.querySelectorAll('#sample-grid img')];
				return imgs.length > 0 && imgs.every((i) => i.complete);
			}, null, { timeout: T });
			return page.$$eval('#sample-grid img', (imgs) => imgs.map((i) => [i.alt, i.naturalWidth]));
		};
		for (const [alt, w] of await imagesLoaded()) assert.ok(w > 0, `thumbnail of ${alt} loaded`);
		// each card's scores are the ones winnowd computed
		// a card of a sample without predictions says so instead of its scores (issue 16 item
		// 2): it is checked to be one of local mode's, and its scores taken as scores.csv's
		const cards = async () => (await page.$$eval('#sample-grid figure', (fs) => fs.map((f) => ({
			file: f.dataset.file, selected: f.classList.contains('is-selected'), nopred: f.dataset.predictions === 'false',
			scores: Object.fromEntries([...f.querySelectorAll('dd[data-score]')].map((d) => [d.dataset.score, d.dataset.value === '' ? null : Number(d.dataset.value)])),
		})))).map((c) => {
			if (!c.nopred) return c;
			assert.ok(S.nopred.includes(c.file), `${c.file}: no predictions, as local mode says`);
			assert.deepEqual(c.scores, {}, `${c.file} shows no scores`);
			return { ...c, scores: Object.fromEntries(Object.keys(S.scores).map((t) => [t, S.scores[t].get(c.file)])) };
		});
		const types = Object.keys(S.scores);
		assert.deepEqual(types, ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy', 'objectness_least_confidence', 'object_frequency']);
		for (const c of await cards()) {
			assert.ok(S.selected.includes(c.file), `${c.file} is selected`);
			for (const t of types) assert.ok(Math.abs(c.scores[t] - S.scores[t].get(c.file)) < 1e-9, `${c.file} ${t}`);
		}
		await page.locator('#histogram').scrollIntoViewIfNeeded();
		await shot(page, 'results');
		// all samples, sorted by a score, both ways; then by file name
		await page.check('#filter-all');
		await page.waitForFunction((n) => document.querySelector('#sample-grid')?.dataset.total === String(n), nCand);
		const expectSorted = async (type, order) => {
			const vals = [...S.scores[type].values()].sort((a, b) => (order === 'desc' ? b - a : a - b));
			const got = (await cards()).map((c) => c.scores[type]);
			assert.deepEqual(got.map((v) => v.toFixed(12)), vals.slice(0, got.length).map((v) => v.toFixed(12)), `${type} ${order}`);
			return vals;
		};
		// a new score sorts descending: the server is asked for it and the grid shows it
		await gridAfter(() => page.selectOption('#sort-by', 'objectness_least_confidence'),
			{ sort: 'objectness_least_confidence', order: 'desc', selected: 'all' });
		assert.equal(await page.inputValue('#sort-order'), 'desc');
		assert.equal(await page.getAttribute('#sample-grid dd.sorted', 'data-score'), 'objectness_least_confidence');
		const sortedDesc = await expectSorted('objectness_least_confidence', 'desc');
		const first = (await cards()).map((c) => c.file);
		await gridAfter(() => page.selectOption('#sort-order', 'asc'), { sort: 'objectness_least_confidence', order: 'asc', selected: 'all' });
		await expectSorted('objectness_least_confidence', 'asc');
		await gridAfter(() => page.selectOption('#sort-order', 'desc'), { sort: 'objectness_least_confidence', order: 'desc', selected: 'all' });
		assert.deepEqual((await cards()).map((c) => c.file), first);
		// paging: page 2 continues the order, no sample twice
		assert.match(await page.textContent('#page-info'), new RegExp(`Page 1 of ${Math.ceil(nCand / 24)}`));
		assert.ok(await page.isDisabled('#page-prev'));
		await gridAfter(() => page.click('#page-next'), { sort: 'objectness_least_confidence', order: 'desc', offset: 24 }, { page: 1 });
		assert.match(await page.textContent('#page-info'), /^Page 2 of/);
		const p2 = await cards();
		assert.equal(p2.length, Math.min(24, nCand - 24));
		assert.deepEqual(p2.map((c) => c.scores.objectness_least_confidence.toFixed(12)), sortedDesc.slice(24, 24 + p2.length).map((v) => v.toFixed(12)));
		for (const c of p2) assert.ok(!first.includes(c.file), `${c.file} on one page only`);
		for (const [alt, w] of await imagesLoaded()) assert.ok(w > 0, `thumbnail of ${alt} loaded (page 2)`);
		await gridAfter(() => page.click('#page-prev'), { sort: 'objectness_least_confidence', offset: 0 }, { page: 0 });
		assert.match(await page.textContent('#page-info'), /^Page 1 of/);
		await gridAfter(() => page.selectOption('#sort-by', 'fileName'), { sort: 'fileName', order: 'asc', offset: 0 });
		assert.equal(await page.locator('#sample-grid dd.sorted').count(), 0, 'no score column marked sorted');
		const byName = [...S.candidates].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
		assert.deepEqual((await cards()).map((c) => c.file), byName.slice(0, 24));
		// not selected
		await page.check('#filter-0');
		await page.waitForFunction((n) => document.querySelector('#sample-grid')?.dataset.total === String(n), nCand - nSel);
		for (const c of await cards()) { assert.ok(!c.selected); assert.ok(!S.selected.includes(c.file)); }
		await page.check('#filter-1');
		await page.waitForFunction((n) => document.querySelector('#sample-grid')?.dataset.total === String(n), nSel);
		// histogram: every candidate with predictions counted, selected against not selected
		// (those without are left out and counted beside it: issue 16 item 2)
		const hist = await page.evaluate(() => {
			const c = window.Chart.getChart(document.getElementById('histogram'));
			return c && c.data.datasets.map((d) => [d.label, d.data.reduce((a, b) => a + b, 0)]);
		});
		const selNoPred = S.nopred.filter((f) => S.selected.includes(f)).length;
		assert.deepEqual(hist, [['selected', nSel - selNoPred], ['not selected', nCand - nSel - (S.nopred.length - selNoPred)]]);
		assert.equal(await page.getAttribute('#hist-nopred', 'data-count'), String(S.nopred.length));
		// scatter (results.js' own canvas): every 2-D point, the selected ones marked
		assert.deepEqual([Number(await page.getAttribute('#scatter', 'data-selected')), Number(await page.getAttribute('#scatter', 'data-points'))], [nSel, nCand]);
		for (const id of ['histogram', 'scatter']) {
			const painted = await page.evaluate((cid) => {
				const cv = document.getElementById(cid);
				const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
				let n = 0;
				for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
				return { w: cv.width, h: cv.height, n };
			}, id);
			assert.ok(painted.w > 100 && painted.h > 100 && painted.n > 1000, `${id} drawn: ${JSON.stringify(painted)}`);
		}
		// corrupt and duplicate files, with their reasons
		const corrupt = fs.readFileSync(path.join(S.out, 'filenames/corrupt_filenames.txt'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
		const dups = fs.readFileSync(path.join(S.out, 'filenames/duplicate_filenames.txt'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
		// (the lists are cards now: each row's file and the reason it came with, data-path and
		// data-reason; tests/browser/results.test.mjs checks the words shown)
		const rowsOf = (sel) => page.$$eval(`${sel} li`, (ls) => ls.map((l) => [l.dataset.path, l.dataset.reason]));
		assert.deepEqual(await rowsOf('#corrupt-list'), corrupt);
		assert.deepEqual(await rowsOf('#duplicate-list'), dups.map(([p, r]) => [p, r.replace(/^duplicate of /, '')]));
		assert.ok(corrupt.length > 0 && dups.length > 0, 'the dataset has corrupt files and duplicates');
		await page.locator('#scatter').scrollIntoViewIfNeeded();
		await shot(page, 'results-charts');
		// the selected file names as a text file, in selection order
		const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download-selected')]);
		const text = fs.readFileSync(await dl.path(), 'utf8');
		assert.deepEqual(text.split('\n').filter(Boolean), S.selected);
		assert.match(dl.suggestedFilename(), /selected_filenames\.txt$/);
		// the artifacts the daemon uploaded, listed with their types
		const arts = await page.$$eval('section.card', (ss) => {
			const s = ss.find((x) => x.querySelector('h2')?.textContent === 'Artifacts');
			return s ? [...s.querySelectorAll('tbody tr')].map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]).sort() : null;
		});
		assert.deepEqual(arts, [['corrupt_filenames.txt', 'CORRUPTNESS_CHECK_INFORMATION'], ['duplicate_filenames.txt', 'CORRUPTNESS_CHECK_INFORMATION'],
			['embeddings_2d.csv', 'EMBEDDINGS_2D'], ['excluded_filenames.txt', 'CORRUPTNESS_CHECK_INFORMATION'], ['log.txt', 'LOG'],
			['no_predictions_filenames.txt', 'NO_PREDICTIONS'], ['report.json', 'REPORT_JSON'], ['scores.csv', 'SCORES_CSV'], ['selection.csv', 'SELECTION_CSV']]);
		// the summary read from the daemon's report.json: its counts, equal to local mode's
		const report = JSON.parse(fs.readFileSync(path.join(S.out, 'report.json'), 'utf8'));
		if (report.counts) {
			assert.equal((await page.textContent('#count-candidates')).replace(/,/g, ''), String(report.counts.candidates ?? nCand));
			assert.equal((await page.textContent('#count-selected')).replace(/,/g, ''), String(report.counts.selected ?? nSel));
		}
		assert.deepEqual(S.problems, []);
	});

	test('cancel an OPEN run while the daemon is busy; abort a running one: ABORTED, and the daemon takes the next run', async () => {
		// a slow run for the daemon: a coreset run on the 224-image dataset
		const slow = (await U('POST', '/v1/datasets', { name: 'slow' })).id;
		await U('PUT', `/v1/datasets/${slow}/datasource`, { type: 'LOCAL', purpose: 'INPUT_OUTPUT', fullPath: S.slowDir });
		const slowCfg = (await U('POST', '/v1/docker/worker/config', { config: { workerType: 'FULL', docker: { method: 'coreset', stopping_condition: { n_samples: 0.1, min_distance: -1 } }, lightly: {} } })).id;
		const abortSid = (await U('POST', `/v1/datasets/${slow}/docker/worker/schedule`, { configId: slowCfg, priority: 'HIGH' })).id;
		S.slowDid = slow;
		await page.goto(`${S.base}/#/datasets/${slow}/runs/${abortSid}`);
		await page.locator('#run-state [data-state=CHECKING_CORRUPTNESS]').waitFor({ timeout: 30000 });
		// cancel: a run scheduled through the wizard with the default preset stays OPEN while the
		// daemon (one run at a time) is busy, and is canceled from its page
		await page.goto(`${S.base}/#/datasets/${S.did}/schedule`);
		await page.locator('#wizard[aria-busy=false]').waitFor();
		await page.click('#preset-default');
		await page.click('#wizard-submit');
		await page.waitForURL(/\/runs\/[0-9a-f]{24}$/);
		const cancelSid = page.url().match(/\/runs\/([0-9a-f]{24})$/)[1];
		await page.locator('#sched-state [data-state=OPEN]').waitFor();
		await page.click('#run-cancel');
		// cancel and abort ask first (runs.test.mjs checks that Escape keeps the run)
		await page.click('#confirm-dialog [data-answer=confirm]');
		await page.locator('#sched-state [data-state=CANCELED]').waitFor();
		assert.ok(await page.isDisabled('#run-cancel'));
		await shot(page, 'run-canceled');
		// the next run, queued behind the slow one
		const nextCfg = (await U('POST', '/v1/docker/worker/config', { config: { workerType: 'FULL', docker: { method: 'random', stopping_condition: { n_samples: 5 } }, lightly: {} } })).id;
		const nextSid = (await U('POST', `/v1/datasets/${S.did}/docker/worker/schedule`, { configId: nextCfg, priority: 'LOW' })).id;
		// abort the slow one from its page while it runs
		await page.goto(`${S.base}/#/datasets/${slow}/runs/${abortSid}`);
		await page.locator('#run-state [data-state=CHECKING_CORRUPTNESS]').waitFor();
		assert.equal((await runOf(abortSid)).state, 'CHECKING_CORRUPTNESS', 'still running when the abort is requested');
		await shot(page, 'run-aborting');
		await page.click('#run-abort');
		await page.click('#confirm-dialog [data-answer=confirm]');
		await page.locator('#run-action-status', { hasText: 'Abort requested' }).waitFor();
		await page.locator('#run-state [data-state=ABORTED]').waitFor({ timeout: 30000 });
		assert.equal(await page.getAttribute('[data-stage=CHECKING_CORRUPTNESS]', 'data-status'), 'failed');
		await page.locator('#sched-state [data-state=DONE]').waitFor({ timeout: 15000 });
		const aborted = await runOf(abortSid);
		assert.equal(aborted.state, 'ABORTED');
		assert.equal(aborted.abortRequested, true);
		assert.ok(!(await U('GET', `/v1/datasets/${slow}/tags`)).some((t) => t.name === `run-${aborted.id}`), 'an aborted run leaves no selection tag');
		await shot(page, 'run-aborted');
		// the daemon takes the next run and completes it; the canceled one never ran
		await page.goto(`${S.base}/#/datasets/${S.did}/runs/${nextSid}`);
		await page.locator('#run-state [data-state=COMPLETED]').waitFor({ timeout: 60000 });
		assert.equal(await runOf(cancelSid), null, 'the canceled run was never started');
		assert.equal((await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule?state=CANCELED`)).find((s) => s.id === cancelSid).state, 'CANCELED');
		S.nextSid = nextSid;
		await shot(page, 'run-next-completed');
	});

	test('results stay fast with 100,000 samples: paged grid, histogram and scatter', async () => {
		// PAGE-SPEED MEASUREMENT, NOT A WORKER SIMULATION. Every run above was executed by the
		// real winnowd; building 100,000 real images and running them through it would take far
		// longer than this suite may. This test only seeds a run's results (samples, the two
		// tags, two score lists, the 2-D embeddings and selection artifacts) through the HTTP
		// API, as fast as possible, to time the results page on 100,000 samples. The seeded run
		// is scheduled with runsOn ['page-speed-seed'], a label the daemon lacks, so the daemon
		// is never offered it; a separate worker, 'page-speed-seeder', holds it.
		const N = 100000, K = 10000;
		const seed = (m, p, b) => call(m, p, b, S.seedToken);
		fs.mkdirSync(path.join(S.root, 'big'), { recursive: true });
		const did = (await U('POST', '/v1/datasets', { name: 'big' })).id;
		await U('PUT', `/v1/datasets/${did}/datasource`, { type: 'LOCAL', purpose: 'INPUT_OUTPUT', fullPath: path.join(S.root, 'big') });
		const cfgId = (await U('POST', '/v1/docker/worker/config', { config: { workerType: 'FULL', docker: { method: 'coral', stopping_condition: { n_samples: K }, active_learning: { task_name: 't', score_name: 'uncertainty_margin' } }, lightly: {} } })).id;
		const sid = (await U('POST', `/v1/datasets/${did}/docker/worker/schedule`, { configId: cfgId, runsOn: ['page-speed-seed'] })).id;
		const seeder = (await seed('POST', '/v1/docker/worker', { name: 'page-speed-seeder', workerType: 'FULL', labels: ['page-speed-seed'] })).id;
		await seed('PUT', `/v1/datasets/${did}/docker/worker/${seeder}/schedule/${sid}`, { state: 'LOCKED' });
		const rid = (await seed('POST', '/v1/docker/runs', { dockerVersion: 'page-speed-seed', datasetId: did, scheduledId: sid, configId: cfgId })).id;
		// the run page shows the progress of winnow's view of the run (Lightly's DockerRunData has none)
		await seed('PUT', `/v1/docker/runs/${rid}`, { state: 'SAMPLING' });
		await seed('PUT', `/v1/winnow/runs/${rid}/progress`, { progress: 0.42 });
		await page.goto(`${S.base}/#/datasets/${did}/runs/${sid}`);
		await page.locator('#run-state [data-state=SAMPLING]').waitFor();
		assert.equal(await page.getAttribute('#run-progress [role=progressbar]', 'aria-valuenow'), '42');
		const name = (i) => `img/${String(i).padStart(6, '0')}.jpg`;
		for (let b = 0; b < N; b += 10000) await seed('POST', `/v1/winnow/datasets/${did}/samples/batch`, Array.from({ length: 10000 }, (_, k) => ({ fileName: name(b + k), metaData: {} })));
		// every 10th sample selected; masks built a hex digit (4 samples) at a time
		const hex = (on) => { let s = ''; for (let d = Math.ceil(N / 4) - 1; d >= 0; d--) { let v = 0; for (let b = 0; b < 4; b++) if (on(d * 4 + b)) v |= 1 << b; s += v.toString(16); } return `0x${s.replace(/^0+/, '') || '0'}`; };
		const cand = (await seed('POST', `/v1/datasets/${did}/tags`, { name: `run-${rid}-candidates`, prevTagId: null, bitMaskData: hex(() => true), totSize: N, creator: 'USER_WORKER', runId: rid })).id;
		await seed('POST', `/v1/datasets/${did}/tags`, { name: `run-${rid}`, prevTagId: cand, bitMaskData: hex((i) => i % 10 === 0), totSize: N, creator: 'SAMPLER_CORAL', runId: rid });
		const margin = Array.from({ length: N }, (_, i) => ((i * 7919) % 100003) / 100003);
		await seed('POST', `/v1/datasets/${did}/tags/${cand}/scores`, { scoreType: 'uncertainty_margin', scores: margin });
		await seed('POST', `/v1/datasets/${did}/tags/${cand}/scores`, { scoreType: 'uncertainty_entropy', scores: margin.map((v) => 1 - v) });
		const up = async (fileName, type, text) => {
			// winnow's own files on winnow's route, Lightly's artifacts on Lightly's (SPEC 7)
			const winnow = ['SCORES_CSV', 'SELECTION_CSV', 'EMBEDDINGS_2D', 'NO_PREDICTIONS'].includes(type);
			const a = await seed('POST', winnow ? `/v1/winnow/runs/${rid}/files` : `/v1/docker/runs/${rid}/artifacts`, { fileName, type });
			const r = await fetch(new URL(a.signedWriteUrl, S.base), { method: 'PUT', body: text });
			assert.ok(r.ok, `${fileName}: ${r.status}`);
		};
		// the artifact names the daemon uses (daemon/results.c)
		await up('embeddings_2d.csv', 'EMBEDDINGS_2D', `filenames,x,y\n${Array.from({ length: N }, (_, i) => `${name(i)},${Math.cos(i) * (i % 97) / 97},${Math.sin(i) * (i % 89) / 89}`).join('\n')}\n`);
		await up('selection.csv', 'SELECTION_CSV', `rank,filenames,weight,distance\n${Array.from({ length: K }, (_, r) => `${r + 1},${name(r * 10)},0.5,0.1`).join('\n')}\n`);
		await seed('PUT', `/v1/docker/runs/${rid}`, { state: 'COMPLETED', message: 'seeded for the page-speed measurement' });
		S.seedRid = rid;
		await seed('PUT', `/v1/datasets/${did}/docker/worker/${seeder}/schedule/${sid}`, { state: 'DONE' });

		const resultCalls = [];
		const onReq = (r) => { if (/\/results\?/.test(r.url())) resultCalls.push(new URL(r.url()).searchParams.get('limit')); };
		page.on('request', onReq);
		const t0 = Date.now();
		await page.goto(`${S.base}/#/datasets/${did}/runs/${sid}/results`);
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor({ timeout: 30000 });
		const tGrid = Date.now() - t0;
		await page.locator('#scatter[data-points]').waitFor({ timeout: 30000 });
		const tAll = Date.now() - t0;
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), K);
		assert.equal(await page.locator('#sample-grid figure').count(), 24);
		assert.deepEqual(await page.evaluate(() => window.Chart.getChart(document.getElementById('histogram')).data.datasets.map((d) => d.data.reduce((a, b) => a + b, 0))), [K, N - K]);
		assert.deepEqual([Number(await page.getAttribute('#scatter', 'data-selected')), Number(await page.getAttribute('#scatter', 'data-points'))], [K, N]);
		// sorting all 100,000 by a score and paging stay quick
		await page.check('#filter-all');
		await page.waitForFunction((n) => document.querySelector('#sample-grid')?.dataset.total === String(n), N);
		const t1 = Date.now();
		await page.selectOption('#sort-order', 'asc');
		await page.waitForFunction(() => document.querySelector('#sample-grid[aria-busy=false] dd[data-score=uncertainty_margin]')?.dataset.value === '0');
		await page.click('#page-next');
		await page.locator('#page-info', { hasText: `Page 2 of ${Math.ceil(N / 24)}` }).waitFor();
		const tSort = Date.now() - t1;
		page.off('request', onReq);
		console.log(`# 100,000 samples: time to first render (grid) ${tGrid} ms, grid + charts ${tAll} ms, sort + page ${tSort} ms`);
		assert.ok(resultCalls.length > 0 && resultCalls.every((l) => Number(l) <= 1000), `results fetched a page at a time: ${resultCalls}`);
		assert.ok(tGrid < 5000, `grid in ${tGrid} ms`);
		assert.ok(tAll < 15000, `grid and charts in ${tAll} ms`);
		assert.ok(tSort < 5000, `sort and page in ${tSort} ms`);
		await page.locator('#scatter').scrollIntoViewIfNeeded();
		await shot(page, 'results-100k', false);
	});

	test('runs list, dataset overview and workers page show the live states', async () => {
		await page.click('nav[aria-label=Main] >> text=Runs');
		await page.locator('#runs-list tbody tr').first().waitFor();
		// shop: the coral run, the canceled one, the next one; slow: the aborted one; big: the seeded one
		await page.waitForFunction(() => document.querySelectorAll('#runs-list tbody tr').length === 5);
		for (const st of ['COMPLETED', 'ABORTED', 'CANCELED']) assert.ok(await page.locator(`#runs-list [data-state=${st}]`).count() >= 1, st);
		// progress comes from winnow's view of the runs (Lightly's DockerRunData has none): the seeded run reported 1
		assert.equal(await page.getAttribute(`#runs-list tr[data-run-id="${S.seedRid}"] [role=progressbar]`, 'aria-valuenow'), '100');
		await shot(page, 'runs');
		await page.goto(`${S.base}/#/datasets/${S.did}`);
		await page.locator('#ds-runs tbody tr').first().waitFor();
		await page.waitForFunction(() => document.querySelectorAll('#ds-runs tbody tr').length === 3);
		await page.locator('#ds-tags td', { hasText: `run-${S.rid}-candidates` }).waitFor();
		// the creator comes from winnow's own tag list (it is not in Lightly's TagData)
		const candRow = page.locator('#ds-tags tr', { hasText: `run-${S.rid}-candidates` });
		assert.equal((await candRow.locator('td').nth(2).textContent()).trim(), 'USER_WORKER', 'dataset page: tag creator');
		assert.equal((await page.textContent('#ds-samples')).replace(/,/g, ''), String(S.candidates.length));
		await shot(page, 'dataset');
		await page.click('nav[aria-label=Main] >> text=Workers');
		await page.locator('#workers-list td', { hasText: WORKER_NAME }).waitFor();
		// the last contact comes from winnow's own route (lastSeenAt is not in Lightly's worker model)
		const seenCell = await page.locator('#workers-list tr', { hasText: WORKER_NAME }).locator('td').nth(4).textContent();
		assert.match(seenCell, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'workers page: last contact');
		assert.ok(!('lastSeenAt' in (await U('GET', '/v1/docker/worker'))[0]), 'no lastSeenAt on Lightly\'s route');
		await shot(page, 'workers');
		// a dataset without a datasource gets one from its page (refused first, then set)
		const bare = (await call('POST', '/v1/datasets', { name: 'no-source-yet' }, S.userToken)).id;
		await page.goto(`${S.base}/#/datasets/${bare}`);
		await page.fill('#src-path', '/proc');
		await page.click('#ds-source button[type=submit]');
		await page.locator('#src-path-error:not([hidden])').waitFor();
		await page.fill('#src-path', S.dsDir);
		await page.click('#ds-source button[type=submit]');
		await page.locator('#ds-source code', { hasText: 'shop' }).waitFor();
		await page.locator('#ds-tasks td', { hasText: 'my-keypoint-task' }).waitFor();
		assert.match(await page.textContent('#ds-source'), /INPUT_OUTPUT/);
		// a second datasource for LIGHTLY, an S3 bucket with its endpoint (winnow's route); a bad region first
		await page.click('#src-change');
		await page.selectOption('#src-purpose', 'LIGHTLY');
		await page.selectOption('#src-type', 'S3');
		await page.fill('#src-path', 's3://labels/run-1');
		await page.fill('#src-s3-endpoint', 'http://127.0.0.1:9');
		await page.fill('#src-s3-region', 'mars-1');
		await page.fill('#src-s3-key', 'KEYID');
		await page.fill('#src-s3-secret', 'SECRET');
		await page.click('#ds-source button[type=submit]');
		await page.locator('#src-s3-region-error:not([hidden])').waitFor();
		await page.fill('#src-s3-region', 'eu-west-1');
		await page.click('#ds-source button[type=submit]');
		await page.locator('#ds-source code', { hasText: 's3://labels/run-1' }).waitFor();
		const srcText = await page.textContent('#ds-source');
		assert.match(srcText, /LIGHTLY.*S3.*at http:\/\/127\.0\.0\.1:9/s);
		assert.match(srcText, /INPUT\b.*LOCAL/s, 'the INPUT_OUTPUT folder now serves INPUT');
		assert.doesNotMatch(srcText, /SECRET/);
		const winnowSrc = await U('GET', `/v1/winnow/datasets/${bare}/datasource?purpose=LIGHTLY`);
		assert.deepEqual([winnowSrc.s3Endpoint, winnowSrc.s3Region, winnowSrc.s3AccessKeyId, winnowSrc.s3SecretAccessKey],
			['http://127.0.0.1:9', 'eu-west-1', 'KEYID', '********']);
		// the owner, and sharing (SPEC 8): the owner shares the dataset with another user by the
		// name of their token (an unknown name is said at the field), and takes the share back
		await page.locator('#ds-owner', { hasText: 'alice' }).waitFor();
		if (!MOCK) {
			tokenCreate('bob', 'user');
			await page.fill('#share-user', 'nobody');
			await page.click('#share-form button[type=submit]');
			await page.locator('#share-user-error:not([hidden])').waitFor();
			await page.fill('#share-user', 'bob');
			await page.click('#share-form button[type=submit]');
			await page.locator('#ds-shares td', { hasText: 'bob' }).waitFor();
			assert.deepEqual((await U('GET', `/v1/winnow/datasets/${bare}/shares`)).users.map((u) => u.name), ['bob']);
			await page.click('#ds-shares button[data-user=bob]');
			await page.waitForFunction(() => !document.querySelector('#ds-shares button[data-user=bob]'));
			assert.deepEqual((await U('GET', `/v1/winnow/datasets/${bare}/shares`)).users, []);
		}
		// a phone-sized window: the pages reflow, nothing runs off the side
		await page.setViewportSize({ width: 400, height: 860 });
		for (const [hash, name, sel] of [[`#/datasets/${S.did}/runs/${S.sid}/results`, 'narrow-results', '#sample-grid figure'],
			[`#/datasets/${S.did}/schedule`, 'narrow-wizard', '#wizard[aria-busy=false]'], [`#/datasets/${S.did}/runs/${S.sid}`, 'narrow-run', '#run-state [data-state]']]) {
			await page.goto(`${S.base}/${hash}`);
			await page.locator(sel).first().waitFor();
			assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), `${name}: no horizontal scrolling`);
			await shot(page, name, false);
		}
		await page.setViewportSize({ width: 1360, height: 900 });
		await page.click('#logout');
		await page.locator('#login-token').waitFor();
		assert.deepEqual(S.problems, []);
	});
});
