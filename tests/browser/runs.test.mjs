// The run pages of issue 16 (docs/web.md): end-state badges, confirmations, "Abort requested"
// gone after ABORTED, run again, the no-worker / busy-worker notice, the runs lists (method or
// plan, k, counts, duration, worker; filters and paging served by the server), phone cards,
// error pages with a way back and Retry, and the results URL `make demo` prints. Real
// winnow-web, real winnowd, headless Chromium (tests/browser/harness.mjs), at 1400x900,
// 390x844 and keyboard-only. Screenshots: $BUILD/test-artifacts/screenshots/runs-*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { H, startWeb, startDaemon, openBrowser, skipWhy, mkdataset, schedule, runToEnd } from './harness.mjs';

const DOCKER = {
	enable_corruptness_check: true, remove_exact_duplicates: true, enable_training: false, pretagging: false, pretagging_debug: false,
	method: 'coreset', stopping_condition: { n_samples: 0.25, min_distance: -1 },
};
const CORESET = { workerType: 'FULL', docker: DOCKER, lightly: {} };
// fails in the daemon: the task it asks for is not in the datasource
const MISSING_TASK = { workerType: 'FULL', lightly: {}, docker: { ...DOCKER, method: 'active_learning',
	active_learning: { task_name: 'no-such-task', score_name: 'uncertainty_margin' } } };
const PLAN = { workerType: 'FULL', docker: {}, lightly: {}, selection: { nSamples: 7, strategies: [
	{ input: { type: 'EMBEDDINGS' }, strategy: { type: 'DIVERSITY' } }] } };
// winnowd with its test seams (tests/tools/winnowd_test.c): WINNOWD_TEST_STAGE_DELAY holds a
// run at the start of its image stage until it is aborted, so the run to abort is surely running
const WINNOWD_TEST = path.join(H.BUILD, 'tests/tools/winnowd-test');
const RUNNING = ['STARTED', 'LOADING_DATASET', 'CHECKING_CORRUPTNESS', 'EMBEDDING', 'COMPUTING_ACTIVE_LEARNING_SCORES', 'SAMPLING', 'SAVING_RESULTS', 'UPLOADING_ARTIFACTS'];

const skip = skipWhy || (!fs.existsSync(WINNOWD_TEST) && `${path.relative(H.ROOT, WINNOWD_TEST)} not built yet (make check builds it): the suite skips`);

describe('runs: states, confirmations, run again, worker notice, lists, phone, errors', { skip }, () => {
	let web, br, page, daemon, daemon2;
	const S = {};
	const U = (m, p, b) => web.call(m, p, b);
	const rowIds = () => page.$$eval('#runs-list tbody tr', (trs) => trs.map((t) => t.dataset.scheduledId));
	const listed = async (q) => (await U('GET', `/v1/winnow/schedule${q}`)).map((x) => x.id);
	const listSettled = () => page.waitForFunction(() => document.querySelector('#runs-list .runs-box')?.getAttribute('aria-busy') === 'false');

	before(async () => {
		web = await startWeb('runs');
		mkdataset(path.join(web.root, 'shop-a'), ['--n', '40', '--predictions', '--seed', '3']);
		mkdataset(path.join(web.root, 'shop-b'), ['--n', '30', '--seed', '4']);
		// two datasets of one name: the lists tell them apart (owner, short id, folder)
		S.small = await web.dataset('shop', path.join(web.root, 'shop-a'));
		S.big = await web.dataset('shop', path.join(web.root, 'shop-b'));
		br = await openBrowser(web, 'runs');
		page = br.page;
	});
	after(async () => {
		if (page && br) { try { await br.shot('last'); } catch { /* ignore */ } }
		await br?.close();
		await daemon?.stop();
		await daemon2?.stop();
		await web?.stop();
	});

	test('no online worker: the run says so with a link to Workers; the notice goes when a matching daemon takes it; busy is said', async () => {
		S.a = await schedule(web, S.big, CORESET, { runsOn: ['gpu'] });
		await page.goto(`${web.base}/#/datasets/${S.big}/runs/${S.a}`);
		const warn = page.locator('#run-worker-warning[data-kind=none]');
		await warn.waitFor();
		assert.match(await warn.textContent(), /No online worker can take this run: no worker has registered yet/);
		assert.equal(await page.getAttribute('#run-workers-link', 'href'), '#/workers');
		await br.shot('no-worker');
		// keyboard: the link opens Workers
		await page.focus('#run-workers-link');
		await page.keyboard.press('Enter');
		await page.locator('h1', { hasText: 'Workers' }).waitFor();
		await page.goBack();
		await warn.waitFor();
		const plain = H.WINNOWD;
		H.WINNOWD = WINNOWD_TEST;	// startDaemon spawns H.WINNOWD at once
		try {
			daemon = startDaemon(web, 'gpu-box', { labels: ['gpu'], env: { WINNOWD_TEST_STAGE_DELAY: 'images:120000' } });
		} finally { H.WINNOWD = plain; }
		await page.waitForFunction((run) => {
			const s = document.querySelector('#run-state [data-state]')?.dataset.state;
			return s && run.includes(s) && document.getElementById('run-worker-warning').hidden;
		}, RUNNING, { timeout: 30000 });
		S.ra = (await U('GET', `/v1/docker/runs/schedule/${S.a}`)).id;
		// the only matching worker is busy with A: a second gpu run says so (then it is canceled)
		S.b = await schedule(web, S.small, CORESET, { runsOn: ['gpu'] });
		await page.goto(`${web.base}/#/datasets/${S.small}/runs/${S.b}`);
		const busy = page.locator('#run-worker-warning[data-kind=busy]');
		await busy.waitFor();
		assert.match(await busy.textContent(), /workers that can take this run are busy \(gpu-box\)/);
		assert.doesNotMatch(await busy.textContent(), /No online worker/);
		await br.shot('busy-worker');
		await U('PUT', `/v1/datasets/${S.small}/docker/worker/schedule/${S.b}`);
	});

	test('abort asks first (Escape keeps the run), "Abort requested" goes once ABORTED, the badges say ABORTED', async () => {
		await page.goto(`${web.base}/#/datasets/${S.big}/runs/${S.a}`);
		await page.locator('#run-abort:not([disabled])').waitFor();
		// keyboard only: Enter on Abort opens the dialog, focus is in it, Escape closes it
		await page.focus('#run-abort');
		await page.keyboard.press('Enter');
		const dlg = page.locator('#confirm-dialog[open]');
		await dlg.waitFor();
		assert.equal(await page.evaluate(() => document.activeElement?.closest('dialog')?.id), 'confirm-dialog', 'focus moves into the dialog');
		assert.match(await dlg.textContent(), /Abort this run\?/);
		await br.shot('abort-dialog');
		await page.keyboard.press('Escape');
		await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
		assert.equal(await page.evaluate(() => document.activeElement?.id), 'run-abort', 'focus back on Abort');
		assert.equal((await U('GET', `/v1/winnow/runs/${S.ra}`)).abortRequested, false, 'Escape aborted nothing');
		assert.equal(await page.textContent('#run-action-status'), '');
		// now confirmed
		await page.click('#run-abort');
		await page.click('#confirm-dialog [data-answer=confirm]');
		await page.locator('#run-action-status', { hasText: 'Abort requested' }).waitFor();
		assert.equal((await U('GET', `/v1/winnow/runs/${S.ra}`)).abortRequested, true);
		await page.locator('#run-state [data-state=ABORTED]').waitFor({ timeout: 30000 });
		assert.doesNotMatch(await page.textContent('#run-action-status'), /Abort requested/, '"Abort requested" gone after ABORTED');
		const sb = page.locator('#sched-state [data-state=DONE]');
		await sb.waitFor({ timeout: 15000 });
		assert.equal(await sb.getAttribute('data-outcome'), 'ABORTED');
		assert.equal((await sb.textContent()).trim(), 'DONE · ABORTED');
		assert.doesNotMatch(await sb.getAttribute('class'), /badge-ok/, 'not a green DONE');
		assert.ok(await page.isVisible('#run-again'));
		await br.shot('aborted');
		// the rest runs on a plain daemon
		await daemon.stop();
		daemon2 = startDaemon(web, 'gpu-box-2', { labels: ['gpu'] });
	});

	test('a FAILED run: the badges say FAILED in the bad colour', async () => {
		S.f = await schedule(web, S.small, MISSING_TASK, { runsOn: ['gpu'] });
		await runToEnd(web, S.small, S.f, 60000);
		await page.goto(`${web.base}/#/datasets/${S.small}/runs/${S.f}`);
		await page.locator('#run-state [data-state=FAILED]').waitFor();
		const sb = page.locator('#sched-state [data-state=DONE]');
		await sb.waitFor();
		assert.equal(await sb.getAttribute('data-outcome'), 'FAILED');
		assert.equal((await sb.textContent()).trim(), 'DONE · FAILED');
		assert.match(await sb.getAttribute('class'), /badge-bad/);
		assert.ok(await page.isHidden('#run-results'), 'no Results for a failed run');
		await br.shot('failed');
	});

	test('cancel asks first: Escape keeps it OPEN, confirmed it is CANCELED', async () => {
		S.e = await schedule(web, S.small, CORESET, { runsOn: ['nobody-has-this'] });
		await page.goto(`${web.base}/#/datasets/${S.small}/runs/${S.e}`);
		await page.locator('#run-worker-warning[data-kind=none]', { hasText: 'runsOn nobody-has-this' }).waitFor();
		await page.locator('#run-cancel:not([disabled])').waitFor();
		await page.click('#run-cancel');
		await page.locator('#confirm-dialog[open]').waitFor();
		await page.keyboard.press('Escape');
		await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
		const open = await U('GET', `/v1/winnow/datasets/${S.small}/schedule?scheduledId=${S.e}`);
		assert.equal(open[0].state, 'OPEN', 'Escape canceled nothing');
		// the Cancel button of the dialog keeps it too
		await page.click('#run-cancel');
		await page.click('#confirm-dialog [data-answer=cancel]');
		await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
		assert.equal((await U('GET', `/v1/winnow/datasets/${S.small}/schedule?scheduledId=${S.e}`))[0].state, 'OPEN');
		await page.click('#run-cancel');
		await page.click('#confirm-dialog [data-answer=confirm]');
		await page.locator('#sched-state [data-state=CANCELED]').waitFor();
		assert.equal((await U('GET', `/v1/winnow/datasets/${S.small}/schedule?scheduledId=${S.e}`))[0].state, 'CANCELED');
	});

	test('run again schedules the same config, runsOn and priority; the URL make demo prints opens the results page', async () => {
		S.c = await schedule(web, S.small, PLAN, { runsOn: ['gpu'], priority: 'HIGH' });
		S.rc = (await runToEnd(web, S.small, S.c, 60000)).id;
		await page.goto(`${web.base}/#/datasets/${S.small}/runs/${S.c}`);
		await page.locator('#run-state [data-state=COMPLETED]').waitFor();
		await page.locator('#run-again:not([hidden])').waitFor();
		await page.click('#run-again');
		await page.waitForFunction((sid) => /#\/datasets\/[0-9a-f]{24}\/runs\/[0-9a-f]{24}$/.test(location.hash) && !location.hash.endsWith(sid), S.c);
		S.d = page.url().split('/').pop();
		const [c, d] = await Promise.all([S.c, S.d].map(async (sid) => (await U('GET', `/v1/winnow/schedule?scheduledId=${sid}`))[0]));
		assert.notEqual(d.id, c.id);
		assert.deepEqual([d.configId, d.runsOn, d.priority, d.datasetId], [c.configId, ['gpu'], 'HIGH', S.small]);
		await page.locator('#sched-state [data-state]').waitFor();
		S.rd = (await runToEnd(web, S.small, S.d, 60000)).id;
		// the results URL `make demo` prints (tests/tools/demo.py's results_url) for a real run
		const url = execFileSync(H.PY, ['-c', 'import sys; sys.path.insert(0, sys.argv[1]); import demo; print(demo.results_url(*sys.argv[2:]))',
			path.join(H.ROOT, 'tests/tools'), web.base, S.small, S.c], { encoding: 'utf8' }).trim();
		assert.ok(url.startsWith(`${web.base}/#/`), url);
		await page.goto(url);
		await page.locator('#sample-grid figure').first().waitFor();
		assert.equal(await page.locator('h1', { hasText: 'Page not found' }).count(), 0);
		// the link of before (#/runs/{runId}/results) leads there too
		await page.goto(`${web.base}/#/runs/${S.rc}/results`);
		await page.waitForFunction((sid) => location.hash === `#/datasets/${sid[0]}/runs/${sid[1]}/results`, [S.small, S.c]);
		await page.locator('#sample-grid figure').first().waitFor();
	});

	test('runs list: method or plan, k, counts, duration, worker, two datasets of one name; filters and paging as the API', async () => {
		await page.goto(`${web.base}/#/runs`);
		await page.locator('#runs-list tbody tr').first().waitFor();
		await listSettled();
		const all = await U('GET', '/v1/winnow/schedule');
		assert.deepEqual(await rowIds(), all.map((x) => x.id), 'newest first, as the API');
		// nothing the results page loaded late lands on this page (each page draws in a box of its own)
		assert.equal(await page.locator('main section h2', { hasText: /Artifacts|Corrupt files/ }).count(), 0);
		const cell = (sid, cls) => page.locator(`#runs-list tr[data-scheduled-id="${sid}"] td.${cls}`).textContent();
		const res = await U('GET', `/v1/winnow/runs/${S.rc}/results?limit=1`);
		assert.equal((await cell(S.c, 'cell-selection')).trim(), 'plan: EMBEDDINGS/DIVERSITY');
		assert.equal((await page.locator(`#runs-list tr[data-scheduled-id="${S.c}"] td.num`).first().textContent()).trim(), '7');
		assert.equal((await cell(S.c, 'cell-counts')).trim(), `${res.selectedCount} of ${res.candidates}`);
		assert.equal(res.selectedCount, 7);
		assert.match((await cell(S.c, 'cell-duration')).trim(), /^\d+ s$/);
		assert.equal((await cell(S.c, 'cell-worker')).trim(), 'gpu-box-2');
		assert.equal((await cell(S.a, 'cell-worker')).trim(), 'gpu-box');
		assert.equal((await cell(S.a, 'cell-selection')).trim(), 'coreset');
		assert.equal((await page.locator(`#runs-list tr[data-scheduled-id="${S.a}"] td.num`).first().textContent()).trim(), '25%');
		assert.equal((await cell(S.f, 'cell-selection')).trim(), 'active_learning');
		for (const [sid, st] of [[S.a, 'ABORTED'], [S.f, 'FAILED'], [S.c, 'COMPLETED'], [S.e, 'CANCELED'], [S.b, 'CANCELED']]) {
			assert.equal(await page.getAttribute(`#runs-list tr[data-scheduled-id="${sid}"] td.cell-state [data-state]`, 'data-state'), st);
		}
		assert.equal(await page.getAttribute(`#runs-list tr[data-scheduled-id="${S.c}"] a[data-action=results]`, 'href'), `#/datasets/${S.small}/runs/${S.c}/results`);
		// the progress bar's fill is as wide as the run's progress (set through the CSSOM: CSP refuses style attributes)
		const prog = (await U('GET', `/v1/winnow/runs/${S.ra}`)).progress;
		const frac = await page.$eval(`#runs-list tr[data-scheduled-id="${S.a}"] .progress-fill`, (el) => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width);
		assert.ok(Math.abs(frac - Math.round(prog * 100) / 100) < 0.02, `fill ${frac} for progress ${prog}`);
		// the two "shop" datasets: their short ids and folders differ
		const dsA = await cell(S.c, 'cell-dataset'), dsB = await cell(S.a, 'cell-dataset');
		assert.ok(dsA.includes(S.small.slice(-6)) && dsA.includes('shop-a'), dsA);
		assert.ok(dsB.includes(S.big.slice(-6)) && dsB.includes('shop-b'), dsB);
		await br.shot('list');
		// filters, each the API's answer
		const after = async (act, q) => {
			const answered = page.waitForResponse((r) => r.url().includes('/v1/winnow/schedule?') && r.url().includes(q));
			await act();
			await answered;
			await listSettled();
		};
		await after(() => page.selectOption('#runs-filter-state', 'failed'), 'runState=FAILED');
		assert.deepEqual(await rowIds(), await listed('?runState=FAILED&runState=CRASHED'));
		assert.deepEqual(await rowIds(), [S.f]);
		assert.match(page.url(), /#\/runs\?state=failed$/);
		await after(() => page.selectOption('#runs-filter-state', ''), 'pageOffset=0');
		await after(() => page.selectOption('#runs-filter-dataset', S.big), `datasetId=${S.big}`);
		assert.deepEqual(await rowIds(), [S.a]);	// the only run on the other "shop"
		await after(() => page.selectOption('#runs-filter-dataset', ''), 'pageOffset=0');
		await after(() => page.fill('#runs-filter-q', 'nobody-has'), 'q=nobody-has');
		assert.deepEqual(await rowIds(), await listed('?q=nobody-has'));
		assert.deepEqual(await rowIds(), [S.e]);
		await after(() => page.fill('#runs-filter-q', 'zzz-no-such'), 'q=zzz');
		assert.match(await page.textContent('#runs-list'), /No run matches the filter/);
		// paging, two a page
		await page.goto(`${web.base}/#/runs?size=2`);
		await page.locator('#runs-list tbody tr').first().waitFor();
		await listSettled();
		assert.deepEqual(await rowIds(), await listed('?pageSize=2'));
		await after(() => page.click('#runs-next'), 'pageOffset=2');
		assert.deepEqual(await rowIds(), await listed('?pageSize=2&pageOffset=2'));
		await after(() => page.click('#runs-next'), 'pageOffset=4');
		assert.deepEqual(await rowIds(), await listed('?pageSize=2&pageOffset=4'));
		assert.ok(await page.isDisabled('#runs-next'), 'the last page');
		await after(() => page.click('#runs-prev'), 'pageOffset=2');
		assert.deepEqual(await rowIds(), await listed('?pageSize=2&pageOffset=2'));
		// the dataset's page lists its own runs
		await page.goto(`${web.base}/#/datasets/${S.small}`);
		await page.locator('#ds-runs tbody tr').first().waitFor();
		assert.deepEqual(await page.$$eval('#ds-runs tbody tr', (t) => t.map((x) => x.dataset.scheduledId)),
			(await U('GET', `/v1/winnow/datasets/${S.small}/schedule`)).map((x) => x.id).slice(0, 20));
	});

	test('phone (390x844): the runs list is cards, state and Results inside the width', async () => {
		await br.setViewport(H.PHONE);
		for (const [hash, sel] of [['#/runs', '#runs-list'], [`#/datasets/${S.small}`, '#ds-runs']]) {
			await page.goto(`${web.base}/${hash}`);
			await page.locator(`${sel} tbody tr`).first().waitFor();
			await page.waitForFunction((s) => document.querySelector(`${s} .runs-box`)?.getAttribute('aria-busy') === 'false', sel);
			assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), `${hash}: no sideways scrolling`);
			const boxes = await page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => {
				const r = (el) => { const b = el.getBoundingClientRect(); return [b.left, b.right, b.width]; };
				return { state: r(tr.querySelector('td.cell-state [data-state]')), action: r(tr.querySelector('a.row-action')),
					results: !!tr.querySelector('a[data-action=results]'), display: getComputedStyle(tr).display };
			}));
			assert.ok(boxes.length > 0);
			for (const b of boxes) {
				assert.equal(b.display, 'block', 'a row is a card');
				for (const [l, r, w] of [b.state, b.action]) assert.ok(l >= 0 && r <= 390 && w > 0, `${hash}: ${l}..${r} within 390`);
			}
			assert.ok(boxes.some((b) => b.results), 'a Results link is shown');
			await br.shot(hash === '#/runs' ? 'phone-runs' : 'phone-dataset');
		}
		await page.goto(`${web.base}/#/datasets/${S.big}/runs/${S.a}`);
		await page.locator('#run-state [data-state]').waitFor();
		assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'run page: no sideways scrolling');
		await br.shot('phone-run');
		await br.setViewport(H.DESKTOP);
	});

	test('error pages: a 404 names what is missing, a way back and Retry; no answer is said in words and Retry works once it answers', async () => {
		const missing = 'ffffffffffffffffffffffff';
		await page.goto(`${web.base}/#/datasets/${missing}`);
		await page.locator('#error-page h1', { hasText: 'Dataset not found' }).waitFor();
		assert.match(await page.textContent('#error-page'), new RegExp(`No dataset with id ${missing}`));
		assert.equal(await page.getAttribute('#error-back', 'href'), '#/datasets');
		assert.ok(await page.isVisible('#error-retry'));
		await page.goto(`${web.base}/#/datasets/${S.small}/runs/${missing}`);
		await page.locator('#error-page h1', { hasText: 'Run not found' }).waitFor();
		assert.equal(await page.getAttribute('#error-back', 'href'), `#/datasets/${S.small}`);
		await br.shot('not-found');
		// the network is down: the pages' calls fail to fetch
		await page.route('**/v1/**', (r) => r.abort('internetdisconnected'));
		await page.goto(`${web.base}/#/datasets/${S.small}`);
		await page.locator('#error-page').waitFor();
		const text = await page.textContent('#error-page');
		assert.match(text, /did not answer: the network may be down or winnow-web stopped/);
		assert.doesNotMatch(text, /Failed to fetch/);
		await br.shot('no-answer');
		await page.unroute('**/v1/**');
		// keyboard: Retry
		await page.focus('#error-retry');
		await page.keyboard.press('Enter');
		await page.locator('h1', { hasText: 'shop' }).waitFor();
		assert.equal(await page.locator('#error-page').count(), 0);
		// an unknown page: named, with a way back
		await page.goto(`${web.base}/#/no/such/page`);
		await page.locator('#error-page h1', { hasText: 'Page not found' }).waitFor();
		assert.match(await page.textContent('#error-page'), /\/no\/such\/page/);
		assert.deepEqual(br.problems, []);
	});
});
