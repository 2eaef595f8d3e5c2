// Browser tests of selection plans in winnow-web's pages (SPEC 2.1, 4.8): headless Debian
// Chromium driven by playwright-core against the real bin/winnow-web and the real bin/winnowd.
//
// The wizard builds a V4 plan entry by entry (add, reorder, remove; each input's and strategy's
// fields; only SPEC 4.8's allowed pairs offered), shows a 2.2-era config as the plan it means,
// and shows the server's refusal of a bad plan next to the field. The plan is scheduled, the
// daemon runs it, and the results page shows each entry's objective per selected sample
// (selection.csv's columns, sorted on the server) and each BALANCE entry's target against the
// selection's shares, all checked against local mode (`bin/winnowd select` run here with the
// config the wizard stored, on the same folder). A 2.2-era coral run's results show its plan
// and sort by selection.csv's columns the same way. Screenshots:
// $BUILD/test-artifacts/screenshots/plans-*.png.
import { test, describe, before, after, afterEach } from 'node:test';
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
const WEB_BIN = path.join(BIN, 'winnow-web');
const WINNOWD = path.join(BIN, 'winnowd');
const STATIC = path.join(ROOT, 'web/static');
const SHOTS = path.join(BUILD, 'test-artifacts/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PY = '/usr/bin/python3';
const T = 15000;

fs.mkdirSync(SHOTS, { recursive: true });
for (const f of fs.readdirSync(SHOTS)) if (/^plans-failed-\d+\.png$/.test(f)) fs.rmSync(path.join(SHOTS, f));	// an earlier run's
const TMP = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'winnow-plans-'));

function loadPlaywright() {
	const req = createRequire(path.join(ROOT, 'web/package.json'));
	try { return req('playwright-core'); } catch {
		execFileSync('npm', ['ci', '--prefix', path.join(ROOT, 'web'), '--no-audit', '--no-fund'], { stdio: 'inherit' });
		return req('playwright-core');
	}
}
const { chromium } = loadPlaywright();

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `plans-${name}.png`), fullPage: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A selection.csv value as a number: '' is NaN (no value), inf and -inf as winnowd writes them.
const num = (v) => (v === '' || v === undefined ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean);

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
		s.on('error', reject);
	});
}

// selection.csv of local mode: header and rows as {column: text}. winnowd writes file names
// as they are (no quoting), and the test's names have no commas.
function readSelection(out) {
	const ls = lines(path.join(out, 'data/selection.csv'));
	const header = ls[0].split(',');
	return { header, rows: ls.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v]))) };
}

const missing = [WEB_BIN, WINNOWD].filter((f) => !fs.existsSync(f)).map((f) => path.relative(ROOT, f));
const skipWhy = missing.length ? `${missing.join(' and ')} not built yet (build with make): the plan tests skip` : false;
if (skipWhy) console.log(`# SKIP ${skipWhy}`);

describe('selection plans in the pages, against the real server and daemon', { skip: skipWhy }, () => {
	const S = {};
	let server = null, serverLog = '', context = null, page = null;
	const daemon = {
		proc: null, log: '',
		start() {
			const dir = path.join(TMP, 'winnowd');
			fs.mkdirSync(dir, { recursive: true });
			const conf = path.join(dir, 'winnowd.json');
			fs.writeFileSync(conf, JSON.stringify({
				url: S.base, worker_name: 'plans-winnowd', token: S.workerToken, state_dir: path.join(dir, 'state'),
				poll_interval: 0.3, concurrent_runs: 1, threads_per_run: 1, log_level: 'debug',
			}));
			this.proc = spawn(WINNOWD, ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
			this.proc.stdout.on('data', (d) => { this.log += d; });
			this.proc.stderr.on('data', (d) => { this.log += d; });
		},
		async stop() {
			const p = this.proc;
			if (!p || p.exitCode !== null || p.signalCode !== null) return;
			const exited = new Promise((r) => p.once('exit', r));
			p.kill('SIGTERM');
			if (await Promise.race([exited.then(() => 'ok'), sleep(30000).then(() => 'timeout')]) === 'timeout') { p.kill('SIGKILL'); await exited; }
		},
	};

	async function call(method, p, body, token = S.userToken) {
		const res = await fetch(new URL(p, S.base), {
			method, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await res.text();
		if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
		return text ? JSON.parse(text) : null;
	}
	const U = (m, p, b) => call(m, p, b);

	function tokenCreate(name, role, worker) {
		// a worker token is bound to one worker name (SPEC 8)
		const out = execFileSync(WEB_BIN, ['token', 'create', name, '--role', role, ...(worker ? ['--worker', worker] : []), '--db', S.db], { encoding: 'utf8' });
		const words = out.match(/[A-Za-z0-9_\-.~+/=]{20,}/g);
		return words[words.length - 1];
	}

	// local mode with the config the wizard stored (the whole stored config: a V4 one keeps its
	// workerType and selection), on the dataset's folder: the independent check
	function localSelect(name, config) {
		const cfgFile = path.join(TMP, `${name}.json`);
		fs.writeFileSync(cfgFile, JSON.stringify(config));
		const out = path.join(TMP, `local-${name}`);
		return new Promise((resolve, reject) => {
			const p = spawn(WINNOWD, ['select', '--config', cfgFile, '--input', S.dsDir, '--output', out, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
			let err = '';
			p.stderr.on('data', (d) => { err += d; });
			p.stdout.resume();
			p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`winnowd select exited ${code}: ${err.slice(-2000)}`))));
		});
	}

	// The wizard, opened afresh (through another page: the same address would not reload it).
	async function openWizard(query) {
		await page.goto(`${S.base}/#/datasets`);
		await page.locator('h1', { hasText: 'Datasets' }).waitFor();
		await page.goto(`${S.base}/#/datasets/${S.did}/schedule?${query}`);
		await page.locator('#wizard[aria-busy=false]').waitFor();
	}
	// The plan as the wizard shows it in its JSON editor.
	const jsonOf = async () => JSON.parse(await page.inputValue('#f-json'));
	// The live check has answered for the config shown (the wizard counts its answers).
	async function validated(action) {
		const answered = page.waitForResponse((r) => r.url().endsWith('/v1/winnow/configs/validate'), { timeout: T });
		await action();
		await answered;
		await page.waitForFunction(() => document.querySelector('#wizard')?.dataset.validated !== undefined);
	}

	// A results-grid reload: the results call with these parameters answers 200 and the grid
	// has rendered it (aria-busy false, the address carrying the sort).
	async function gridAfter(action, want) {
		const answered = page.waitForResponse((r) => {
			const u = new URL(r.url());
			return u.pathname.endsWith('/results') && Object.entries(want).every(([k, v]) => u.searchParams.get(k) === String(v));
		}, { timeout: T });
		await action();
		const r = await answered;
		assert.equal(r.status(), 200, r.url());
		await page.waitForFunction((w) => {
			const g = document.querySelector('#sample-grid');
			const q = new URLSearchParams(location.hash.split('?')[1] || '');
			return g && g.getAttribute('aria-busy') === 'false' && q.get('sort') === w.sort && q.get('order') === w.order;
		}, want, { timeout: T });
	}
	const cards = () => page.$$eval('#sample-grid figure', (fs) => fs.map((f) => ({
		file: f.dataset.file,
		sel: Object.fromEntries([...f.querySelectorAll('dd[data-objective]')].map((d) => [d.dataset.objective, d.dataset.value])),
	})));

	async function runToCompletion(sid) {
		for (const deadline = Date.now() + 120000; Date.now() < deadline; await sleep(300)) {
			const r = await fetch(new URL(`/v1/docker/runs/schedule/${sid}`, S.base), { headers: { Authorization: `Bearer ${S.userToken}` } });
			if (r.status === 200) {
				const run = await r.json();
				if (['COMPLETED', 'FAILED', 'CRASHED', 'ABORTED'].includes(run.state)) {
					const sched = (await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule?state=DONE`)).find((s) => s.id === sid);
					if (sched) return run;
				}
			}
		}
		throw new Error(`run of ${sid} did not end`);
	}

	// The results page of a finished run, its grid and plan drawn.
	async function openResults(sid) {
		await page.goto(`${S.base}/#/datasets/${S.did}/runs/${sid}/results`);
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor();
		await page.locator('#results-plan[aria-busy=false]').waitFor();
	}

	// Sorted by a selection.csv column both ways: the selected cards in the order of local
	// mode's values (empty values last), the values themselves equal.
	async function checkSortedBy(col, rows) {
		for (const order of ['desc', 'asc']) {
			if (order === 'desc') await gridAfter(() => page.selectOption('#sort-by', `selection:${col}`), { sort: `selection:${col}`, order: col === 'rank' ? 'asc' : 'desc', selected: '1' });
			if (await page.inputValue('#sort-order') !== order) await gridAfter(() => page.selectOption('#sort-order', order), { sort: `selection:${col}`, order, selected: '1' });
			const got = await cards();
			const byName = new Map(rows.map((r) => [r.filenames, r]));
			for (const c of got) {
				const want = byName.get(c.file);
				assert.ok(want, `${c.file} is in local mode's selection`);
				for (const k of Object.keys(want)) if (k !== 'filenames') {
					const [p, l] = [num(c.sel[k]), num(want[k])];
					assert.ok(Number.isFinite(l) ? Math.abs(p - l) <= 1e-12 * Math.max(1, Math.abs(l)) : Object.is(p, l), `${c.file} ${k}: page ${c.sel[k]}, local ${want[k]}`);
				}
			}
			const vals = got.map((c) => num(c.sel[col]));
			const expect = rows.map((r) => num(r[col]))
				.sort((a, b) => (Number.isNaN(a) - Number.isNaN(b)) || (order === 'desc' ? b - a : a - b)).slice(0, vals.length);
			assert.deepEqual(vals.map(String), expect.map(String), `sorted by ${col} ${order}`);
			assert.equal(await page.getAttribute('#sample-grid dd.sorted', 'data-objective'), col);
		}
	}

	before(async () => {
		S.root = path.join(TMP, 'datasets');
		S.dsDir = path.join(S.root, 'plans');
		fs.mkdirSync(S.root, { recursive: true });
		execFileSync(PY, [path.join(ROOT, 'tests/tools/mkdataset'), '--out', S.dsDir, '--n', '60', '--predictions', '--subdirs']);
		S.db = path.join(TMP, 'web.db');
		S.port = await freePort();
		S.base = `http://127.0.0.1:${S.port}`;
		S.userToken = tokenCreate('alice', 'user');
		S.workerToken = tokenCreate('worker-1', 'worker', 'plans-winnowd');
		S.seedToken = tokenCreate('seeder-1', 'worker', 'hostile-seeder');
		server = spawn(WEB_BIN, ['--listen', `127.0.0.1:${S.port}`, '--db', S.db, '--dataset-root', S.root, '--static', STATIC], { stdio: ['ignore', 'pipe', 'pipe'] });
		server.stdout.on('data', (d) => { serverLog += d; });
		server.stderr.on('data', (d) => { serverLog += d; });
		let up = false;
		for (const deadline = Date.now() + 30000; !up && Date.now() < deadline;) {
			if (server.exitCode !== null) break;
			try { const r = await fetch(`${S.base}/v1/winnow/me`); up = r.status === 401 || r.ok; } catch { await sleep(100); }
		}
		assert.ok(up, `winnow-web did not come up:\n${serverLog}`);
		const ds = await U('POST', '/v1/datasets', { name: 'plans' });
		S.did = ds.id;
		await U('PUT', `/v1/datasets/${S.did}/datasource`, { type: 'LOCAL', purpose: 'INPUT_OUTPUT', fullPath: S.dsDir });
		const profile = fs.mkdtempSync(path.join(TMP, 'profile-'));
		context = await chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM, headless: true,
			args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
			viewport: { width: 1360, height: 900 },
		});
		page = context.pages()[0] || await context.newPage();
		page.setDefaultTimeout(T);
		S.problems = [];
		page.on('pageerror', (e) => S.problems.push(e.message));
		await page.goto(`${S.base}/`);
		await page.fill('#login-token', S.userToken);
		await page.click('button[type=submit]');
		await page.locator('h1', { hasText: 'Datasets' }).waitFor();
		daemon.start();
	});

	let nTest = 0;
	afterEach(async (t) => {
		nTest++;
		if (page && t && t.passed === false) await shot(page, `failed-${nTest}`).catch(() => {});
	});

	after(async () => {
		if (context) await context.close().catch(() => {});
		await daemon.stop();
		if (server && server.exitCode === null) {
			const exited = new Promise((r) => server.once('exit', r));
			server.kill('SIGTERM');
			await Promise.race([exited, sleep(20000)]);
		}
		if (daemon.log.trim()) console.log(daemon.log.split('\n').slice(-25).map((l) => `# winnowd: ${l}`).join('\n'));
	});

	test('wizard: a 2.2-era config is shown as the plan it means (the server answers it)', async () => {
		await openWizard('preset=coral');
		assert.ok(await page.isChecked('#form-method'));
		assert.ok(await page.isHidden('#plan-editor'));
		await page.waitForFunction(() => document.querySelector('#method-plan')?.dataset.source === 'server');
		assert.deepEqual(await page.$$eval('#method-plan .plan-item', (ls) => ls.map((l) => l.textContent)),
			['EMBEDDINGS / DIVERSITY (strength=1)', 'SCORES(task=my-classification-task, score=uncertainty_margin) / WEIGHTS (strength=1)']);
		assert.match(await page.textContent('#method-plan'), /proportionSamples 0\.1/);
		// the method changes, the plan follows: active_learning is the WEIGHTS entry alone
		await validated(() => page.selectOption('#f-method', 'active_learning'));
		await page.waitForFunction(() => document.querySelectorAll('#method-plan .plan-item').length === 1 && document.querySelector('#method-plan').dataset.source === 'server');
		assert.match(await page.textContent('#method-plan .plan-item'), /^SCORES\(task=my-classification-task, score=uncertainty_margin\) \/ WEIGHTS/);
		await validated(() => page.selectOption('#f-method', 'random'));
		await page.waitForFunction(() => /^RANDOM\(randomSeed=1\) \/ WEIGHTS/.test(document.querySelector('#method-plan .plan-item')?.textContent || '') && document.querySelector('#method-plan').dataset.source === 'server');
		await shot(page, 'method-plan');
	});

	test('wizard: builds a three-entry plan (add, reorder, remove), only allowed pairs offered', async () => {
		await openWizard('preset=coral');
		// the coral method, edited as a plan: its two entries (the plan the server answered)
		await page.waitForFunction(() => document.querySelector('#method-plan')?.dataset.source === 'server');
		await page.click('#method-to-plan');
		assert.ok(await page.isChecked('#form-plan'));
		assert.ok(await page.isHidden('#method-form'));
		let j = await jsonOf();
		assert.deepEqual(j.selection.strategies.map((e) => `${e.input.type}/${e.strategy.type}`), ['EMBEDDINGS/DIVERSITY', 'SCORES/WEIGHTS']);
		assert.equal(j.selection.proportionSamples, 0.1);
		assert.equal(j.selection.method, undefined, 'a plan has no method');
		// only SPEC 4.8's pairs: each input offers exactly its strategies
		const offered = async (i) => page.$$eval(`#f-e${i}-strategy option`, (os) => os.map((o) => o.value));
		assert.deepEqual(await offered(0), ['DIVERSITY', 'SIMILARITY', 'TYPICALITY']);
		assert.deepEqual(await offered(1), ['WEIGHTS', 'THRESHOLD']);
		// add RANDOM (removed below) and PREDICTIONS
		await page.selectOption('#plan-add-input', 'RANDOM');
		await page.click('#plan-add');
		assert.deepEqual(await offered(2), ['WEIGHTS']);
		await page.selectOption('#plan-add-input', 'PREDICTIONS');
		await page.click('#plan-add');
		assert.deepEqual(await offered(3), ['BALANCE']);
		assert.equal(await page.inputValue('#f-e3-in-task'), 'my-classification-task');
		assert.equal(await page.inputValue('#f-e3-in-name'), 'CLASS_DISTRIBUTION');
		// METADATA offers WEIGHTS, THRESHOLD and BALANCE; a second DIVERSITY is not offered
		await page.selectOption('#f-e2-input', 'METADATA');
		assert.deepEqual(await offered(2), ['WEIGHTS', 'THRESHOLD', 'BALANCE']);
		await page.selectOption('#f-e2-input', 'EMBEDDINGS');
		assert.equal(await page.inputValue('#f-e2-strategy'), 'SIMILARITY', 'DIVERSITY is taken by entry 1');
		assert.ok(await page.locator('#f-e2-strategy option[value=DIVERSITY]').isDisabled());
		await page.selectOption('#f-e2-input', 'RANDOM');
		// the BALANCE entry's fields: a target over the task's classes, a strength
		await page.selectOption('#f-e3-st-distribution', 'TARGET');
		await page.fill('#f-e3-st-target', 'cat: 0.4, dog: 0.3, bird: 0.2, fish: 0.1');
		await page.fill('#f-e3-st-strength', '2');
		// the SCORES entry: another score of the task, through its select
		assert.deepEqual(await page.$$eval('#f-e1-in-score option', (os) => os.map((o) => o.value).filter(Boolean)),
			['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy']);
		await page.selectOption('#f-e1-in-score', 'uncertainty_entropy');
		// reorder: the PREDICTIONS entry up over RANDOM; then RANDOM (now last) removed
		await page.click('#f-e3-up');
		assert.equal(await page.getAttribute('#plan-entries li:nth-child(3)', 'data-input'), 'PREDICTIONS');
		await page.click('#f-e3-remove');
		// and the SCORES entry first, then back down under DIVERSITY
		await page.click('#f-e1-up');
		assert.equal(await page.getAttribute('#plan-entries li:nth-child(1)', 'data-input'), 'SCORES');
		await page.click('#f-e0-down');
		// the budget: a count
		await page.selectOption('#f-budget-kind', 'nSamples');
		await validated(() => page.fill('#f-budget-value', '12'));
		j = await jsonOf();
		assert.deepEqual(j.selection, {
			nSamples: 12,
			strategies: [
				{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY', strength: 1 } },
				{ input: { type: 'SCORES', task: 'my-classification-task', score: 'uncertainty_entropy' }, strategy: { type: 'WEIGHTS', strength: 1 } },
				{ input: { type: 'PREDICTIONS', name: 'CLASS_DISTRIBUTION', task: 'my-classification-task' },
					strategy: { type: 'BALANCE', distribution: 'TARGET', target: { cat: 0.4, dog: 0.3, bird: 0.2, fish: 0.1 }, strength: 2 } },
			],
		});
		assert.equal(j.workerType, 'FULL');
		assert.deepEqual(await page.$$eval('#plan-entries li.plan-entry', (ls) => ls.map((l) => `${l.dataset.input}/${l.dataset.strategy}`)),
			['EMBEDDINGS/DIVERSITY', 'SCORES/WEIGHTS', 'PREDICTIONS/BALANCE']);
		S.plan = j.selection;
		await shot(page, 'wizard-plan');
	});

	test('wizard: a plan the server refuses shows each error at its field; nothing is scheduled', async () => {
		// fractions summing over 1 (SPEC 4.8), a strength that is not a number
		await validated(() => page.fill('#f-e2-st-target', 'cat: 0.7, dog: 0.6'));
		await page.locator('#f-e2-st-target-error:not([hidden])').waitFor();
		assert.match(await page.textContent('#f-e2-st-target-error'), /summing to 1\.2999\d*, more than 1/);
		await page.fill('#f-e1-st-strength', 'strong');
		await page.click('#wizard-submit');
		await page.locator('#f-e1-st-strength-error:not([hidden])').waitFor();
		assert.match(await page.textContent('#f-e1-st-strength-error'), /"strong" is not a number/);
		assert.match(await page.textContent('#f-e2-st-target-error'), /more than 1/);
		assert.ok(await page.isVisible('#wizard-errors'));
		assert.match(await page.textContent('#wizard-errors'), /selection\.strategies\[1\]\.strategy\.strength/);
		assert.match(page.url(), /\/schedule(\?|$)/, 'no run was scheduled');
		await shot(page, 'wizard-plan-refused');
		// a missing required field: the score of a SCORES entry
		await page.selectOption('#f-e1-in-score', '');
		await page.click('#wizard-submit');
		await page.locator('#f-e1-in-score-error:not([hidden])').waitFor();
		assert.match(await page.textContent('#f-e1-in-score-error'), /missing/);
		// fixed again
		await page.selectOption('#f-e1-in-score', 'uncertainty_entropy');
		await page.fill('#f-e1-st-strength', '1');
		await validated(() => page.fill('#f-e2-st-target', 'cat: 0.4, dog: 0.3, bird: 0.2, fish: 0.1'));
		assert.deepEqual((await jsonOf()).selection, S.plan);
		const sched = await U('GET', `/v1/winnow/datasets/${S.did}/schedule`);
		assert.equal(sched.length, 0, 'nothing scheduled');
	});

	test('the plan scheduled, run by the daemon; results show each entry\'s objective, sort by it, and BALANCE\'s shares', async () => {
		await page.click('#wizard-submit');
		await page.waitForURL(/#\/datasets\/[0-9a-f]{24}\/runs\/[0-9a-f]{24}$/);
		const sid = page.url().match(/\/runs\/([0-9a-f]{24})$/)[1];
		const sched = (await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule?state=OPEN`)).concat(await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule`)).find((s) => s.id === sid);
		const stored = await U('GET', `/v1/docker/worker/config/vX/${sched.configId}`);
		assert.deepEqual(stored.config.selection, S.plan, 'the config stored is the plan built');
		const local = localSelect('plan', stored.config);
		local.catch(() => {});
		const run = await runToCompletion(sid);
		S.planSid = sid;
		assert.equal(run.state, 'COMPLETED', `run ${run.state}: ${run.message}\n${daemon.log.slice(-3000)}`);
		const out = await local;
		const { header, rows } = readSelection(out);
		const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
		// the objective columns of SPEC 4.8: after rank,filenames,weight,distance, score and one per entry
		const objCols = header.slice(4);
		assert.equal(objCols[0], 'score');
		assert.equal(objCols.length, 1 + 3, `an objective column per entry: ${header}`);
		await openResults(sid);
		assert.deepEqual(await page.$$eval('#sort-by optgroup option', (os) => os.map((o) => o.value)),
			['rank', 'weight', 'distance', ...objCols].map((c) => `selection:${c}`));
		// each entry's objective per selected sample, sorted by one (the BALANCE entry) and by the product
		await checkSortedBy(objCols[3], rows);
		await checkSortedBy('score', rows);
		await page.locator('#results-plan').scrollIntoViewIfNeeded();
		assert.equal(await page.textContent('#stop-reason'), report.stop_reason);
		assert.deepEqual(await page.$$eval('#plan-entries-view li', (ls) => ls.map((l) => `${l.dataset.input}/${l.dataset.strategy}`)),
			['EMBEDDINGS/DIVERSITY', 'SCORES/WEIGHTS', 'PREDICTIONS/BALANCE']);
		// BALANCE: one chart, its classes and values those of local mode's report.json
		assert.equal(report.balance.length, 1);
		const b = report.balance[0];
		const drawn = await page.evaluate((id) => {
			const c = window.Chart.getChart(document.getElementById(id));
			return c && { labels: c.data.labels, data: c.data.datasets.map((d) => [d.label, d.data]) };
		}, `balance-${b.entry}`);
		assert.ok(drawn, 'the BALANCE chart is drawn');
		assert.deepEqual(drawn.labels, b.classes.map(String));
		const arr = (v) => b.classes.map((c, i) => (Array.isArray(v) ? v[i] : v[c]) ?? null);
		assert.deepEqual(drawn.data, [['target', arr(b.target)], ['candidates', arr(b.candidate_share)], ['selection', arr(b.selection_share)]]);
		await shot(page, 'results-plan');
		assert.deepEqual(S.problems, []);
	});

	test('a 2.2-era coral run: its plan from the config, selection.csv\'s columns sortable, equal to local mode', async () => {
		const cfg = { workerType: 'FULL', docker: { method: 'coral', stopping_condition: { n_samples: 10, min_distance: -1 },
			active_learning: { task_name: 'my-classification-task', score_name: 'uncertainty_margin' } }, lightly: {} };
		const { id: configId } = await U('POST', '/v1/docker/worker/config', { config: cfg });
		const { id: sid } = await U('POST', `/v1/datasets/${S.did}/docker/worker/schedule`, { configId });
		const local = localSelect('coral', cfg);
		local.catch(() => {});
		const run = await runToCompletion(sid);
		assert.equal(run.state, 'COMPLETED', `run ${run.state}: ${run.message}`);
		const { header, rows } = readSelection(await local);
		assert.deepEqual(header.slice(0, 4), ['rank', 'filenames', 'weight', 'distance']);
		await openResults(sid);
		assert.deepEqual(await page.$$eval('#sort-by optgroup option', (os) => os.map((o) => o.value)),
			header.filter((c) => c !== 'filenames').map((c) => `selection:${c}`));
		assert.deepEqual(await page.$$eval('#plan-entries-view li', (ls) => ls.map((l) => `${l.dataset.input}/${l.dataset.strategy}`)),
			['EMBEDDINGS/DIVERSITY', 'SCORES/WEIGHTS']);
		await checkSortedBy('weight', rows);
		await checkSortedBy('distance', rows);
		await checkSortedBy('rank', rows);
		await shot(page, 'results-coral');
		assert.deepEqual(S.problems, []);
	});

	test('a phone-sized window: the plan editor (a preset) and the plan\'s results reflow, nothing runs off the side', async () => {
		await page.setViewportSize({ width: 400, height: 860 });
		try {
			await openWizard('plan=balance');
			assert.ok(await page.isChecked('#form-plan'));
			assert.deepEqual(await page.$$eval('#plan-entries li.plan-entry', (ls) => ls.map((l) => `${l.dataset.input}/${l.dataset.strategy}`)),
				['EMBEDDINGS/DIVERSITY', 'PREDICTIONS/BALANCE']);
			assert.equal(await page.inputValue('#f-e1-in-task'), 'my-classification-task');
			assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'wizard: no horizontal scrolling');
			await shot(page, 'narrow-wizard');
			await openResults(S.planSid);
			assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'results: no horizontal scrolling');
			await shot(page, 'narrow-results');
		} finally {
			await page.setViewportSize({ width: 1360, height: 900 });
		}
		assert.deepEqual(S.problems, []);
	});

	test('hostile artifacts: a bad selection.csv and a malformed balance are said on the page, the rest still shown', async () => {
		// a run held by a separate worker (runsOn a label the daemon lacks), its artifacts hand-made
		const seed = (m, p, b) => call(m, p, b, S.seedToken);
		const did = (await U('POST', '/v1/datasets', { name: 'hostile' })).id;
		const cfgId = (await U('POST', '/v1/docker/worker/config/vX', { version: 'V4', config: { workerType: 'FULL', docker: {}, selection: S.plan } })).id;
		const sid = (await U('POST', `/v1/datasets/${did}/docker/worker/schedule`, { configId: cfgId, runsOn: ['hostile-seed'] })).id;
		const wid = (await seed('POST', '/v1/docker/worker', { name: 'hostile-seeder', workerType: 'FULL', labels: ['hostile-seed'] })).id;
		await seed('PUT', `/v1/datasets/${did}/docker/worker/${wid}/schedule/${sid}`, { state: 'LOCKED' });
		const rid = (await seed('POST', '/v1/docker/runs', { dockerVersion: 'hostile', datasetId: did, scheduledId: sid, configId: cfgId })).id;
		const names = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'];
		await seed('POST', `/v1/winnow/datasets/${did}/samples/batch`, names.map((fileName) => ({ fileName, metaData: {} })));
		const cand = (await seed('POST', `/v1/datasets/${did}/tags`, { name: `run-${rid}-candidates`, prevTagId: null, bitMaskData: '0xf', totSize: 4, creator: 'USER_WORKER', runId: rid })).id;
		await seed('POST', `/v1/datasets/${did}/tags`, { name: `run-${rid}`, prevTagId: cand, bitMaskData: '0x3', totSize: 4, creator: 'USER_WORKER', runId: rid });
		const up = async (fileName, type, text) => {
			// winnow's own files on winnow's route, Lightly's artifacts on Lightly's (SPEC 7)
			const winnow = ['SCORES_CSV', 'SELECTION_CSV', 'EMBEDDINGS_2D', 'NO_PREDICTIONS'].includes(type);
			const a = await seed('POST', winnow ? `/v1/winnow/runs/${rid}/files` : `/v1/docker/runs/${rid}/artifacts`, { fileName, type });
			assert.ok((await fetch(new URL(a.signedWriteUrl, S.base), { method: 'PUT', body: text })).ok);
		};
		await up('selection.csv', 'SELECTION_CSV', 'rank,filenames,weight,distance,score\n1,a.jpg,0.5,inf,0.5\n2,b.jpg,oops,1,0.25\n');
		await up('report.json', 'REPORT_JSON', JSON.stringify({ counts: { candidates: 4, selected: 2 }, plan: S.plan, stop_reason: 'budget',
			balance: [{ entry: 2, classes: 'not a list' }, { entry: 2, classes: ['cat', 'dog'], target: [0.5, 0.5], candidate_share: { cat: 0.75, dog: 0.25 }, selection_share: [1, 'x'] }] }));
		await seed('PUT', `/v1/docker/runs/${rid}`, { state: 'COMPLETED', message: 'hand-made' });
		await page.goto(`${S.base}/#/datasets/${did}/runs/${sid}/results`);
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor();
		await page.locator('#results-plan[aria-busy=false]').waitFor();
		// the CSV's error, with its line and field, above a grid that still works; no columns offered
		assert.match(await page.textContent('#selection-csv-error'), /selection\.csv: line 3: field 3 \(weight\): "oops" is not a number/);
		assert.equal(await page.locator('#sort-by optgroup').count(), 0);
		assert.equal(await page.locator('#sample-grid figure').count(), 2);
		assert.equal(await page.locator('#sample-grid dd[data-objective]').count(), 0);
		// the balance element of the wrong shape is said; the other is drawn, its bad value left out
		assert.match(await page.textContent('#results-plan'), /report\.json: balance\[0\] is not \{entry, classes, target, candidate_share, selection_share\}/);
		const drawn = await page.evaluate(() => window.Chart.getChart(document.getElementById('balance-2')).data.datasets.map((d) => [d.label, d.data]));
		assert.deepEqual(drawn, [['target', [0.5, 0.5]], ['candidates', [0.75, 0.25]], ['selection', [1, null]]]);
		assert.equal(await page.textContent('#stop-reason'), 'budget');
		await shot(page, 'results-hostile');
		assert.deepEqual(S.problems, []);
	});
});
