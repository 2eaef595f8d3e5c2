// The results page as a labelling team uses it (issue 16: items 2, 9, 10, 11's lists, 7's
// grid), in headless Chromium against the real winnow-web and a real winnowd run, checked
// against local mode (`winnowd select`) on the same folder:
// - a run followed from the results page says what it does (never "no samples match" or "no
//   scores") and the page refreshes by itself when it ends (WINNOWD_TEST_DELAY_MS slows it);
// - samples without predictions say so on their cards, and the predictions filter's count is
//   local mode's filenames/no_predictions_filenames.txt;
// - a histogram bin (a bar, or its button by keyboard) filters the grid to that bin's count,
//   counted from local mode's data/scores.csv; "clear filter" undoes it;
// - hovering a plot point shows that sample's thumbnail; a click opens its sample view URL;
//   colour-by changes the legend; a lasso makes a tag holding exactly the lassoed files (read
//   back through Lightly's tags and mappings);
// - corrupt and duplicate rows have thumbnails (or say the file cannot be read) and reasons in
//   words; at 390 px the grid has two cards a row; keyboard-only: a card, a bin and a point.
// Screenshots: $BUILD/test-artifacts/screenshots/results-*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { H, skipWhy as harnessSkip, startWeb, openBrowser, mkdataset, schedule, runToEnd, localSelect, gridAfter, lines, sleep } from './harness.mjs';

// The daemon with its test seams (build/tests/tools/winnowd-test: WINNOWD_TEST_DELAY_MS sleeps
// at each progress report of the image stage, every 32 images), configured as the harness's
// startDaemon configures bin/winnowd.
const WINNOWD_TEST = path.join(H.BUILD, 'tests/tools/winnowd-test');
const skipWhy = harnessSkip || (fs.existsSync(WINNOWD_TEST) ? false : `${path.relative(H.ROOT, WINNOWD_TEST)} not built yet (make): the suite skips`);
function startTestDaemon(web, name, env) {
	const dir = path.join(web.tmp, `winnowd-${name}`);
	fs.mkdirSync(dir, { recursive: true });
	const conf = path.join(dir, 'winnowd.json');
	fs.writeFileSync(conf, JSON.stringify({ url: web.base, worker_name: name, token: web.workerToken(name), state_dir: path.join(dir, 'state'),
		poll_interval: 0.3, concurrent_runs: 1, threads_per_run: 1 }));
	const proc = spawn(WINNOWD_TEST, ['--config', conf], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, ...env } });
	return {
		async stop() {
			if (proc.exitCode !== null || proc.signalCode !== null) return;
			const exited = new Promise((r) => proc.once('exit', r));
			proc.kill('SIGTERM');
			if (await Promise.race([exited.then(() => 'ok'), sleep(30000).then(() => 'timeout')]) === 'timeout') { proc.kill('SIGKILL'); await exited; }
		},
	};
}

const DOCKER = {
	enable_corruptness_check: true, remove_exact_duplicates: true, method: 'coral',
	stopping_condition: { n_samples: 0.3, min_distance: -1 },
	active_learning: { task_name: 'my-detection-task', score_name: 'uncertainty_margin' },
};
const SCORE = 'uncertainty_margin';

// The page's bins (charts.js binValues), recomputed here from scores.csv: 20 bins over
// [min(0, v), max(1, v)], value v in bin b when edges[b] <= v < edges[b + 1] (the last closed).
function bins(values, n = 20) {
	let lo = 0, hi = 1;
	for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
	const w = (hi - lo) / n;
	const edges = Array.from({ length: n + 1 }, (_, b) => (b === n ? Math.max(hi, lo + b * w) : lo + b * w));
	const counts = new Array(n).fill(0);
	for (const v of values) {
		let b = n - 1;
		while (b > 0 && v < edges[b]) b--;
		counts[b]++;
	}
	return { edges, counts };
}

describe('results page', { skip: skipWhy }, () => {
	let web, daemon, br, page, did, sid, out, dir;
	const L = {};	// local mode's outputs

	before(async () => {
		web = await startWeb('results');
		dir = mkdataset(path.join(web.root, 'ds'), ['--n', '60', '--predictions', '--subdirs']);
		did = await web.dataset('results-ds', dir);
		br = await openBrowser(web, 'results');
		page = br.page;
		out = localSelect(web.tmp, 'res', { ...DOCKER }, dir);
	});
	after(async () => {
		if (page && test.failed) await br.shot('failed-1').catch(() => {});
		await br?.close();
		await daemon?.stop();
		await web?.stop();
	});

	test('a run followed from the results page says what it does and refreshes when it ends', async () => {
		sid = await schedule(web, did, { docker: DOCKER, lightly: {} });
		await page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results`);
		// no worker yet: the page says the run waits, not that nothing matches
		await page.locator('#run-live').waitFor();
		assert.match(await page.textContent('#run-live-text'), /has not started|is going/);
		daemon = startTestDaemon(web, 'res-winnowd', { WINNOWD_TEST_DELAY_MS: '2000' });
		// the worker takes it: the page follows the run's state
		await page.waitForFunction(() => /is going/.test(document.querySelector('#run-live-text')?.textContent || ''), null, { timeout: 30000 });
		await page.locator('#sample-grid[aria-busy=false]').waitFor();
		await page.locator('#hist-empty, #histogram').first().waitFor({ state: 'attached' });
		const text = await page.textContent('main');
		assert.doesNotMatch(text, /No samples match|This run has no scores/);
		assert.match(await page.textContent('#sample-grid'), /still going|not started/);
		await br.shot('live');
		// the run ends: the page reloads by itself into the finished results
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor({ timeout: 60000 });
		assert.equal(await page.locator('#run-live').count(), 0);
		await runToEnd(web, did, sid);
		L.out = await out;
		L.nopred = lines(path.join(L.out, 'filenames/no_predictions_filenames.txt'));
		const rows = lines(path.join(L.out, 'data/scores.csv')).map((l) => l.split(','));
		const head = rows.shift();
		L.scores = new Map(rows.map((r) => [r[0], Number(r[head.indexOf(SCORE)])]));
		L.selected = lines(path.join(L.out, 'filenames/selected_filenames.txt'));
		assert.ok(L.nopred.length > 0, 'the dataset has candidates without predictions');
	});

	test('samples without predictions say so, and the filter counts them', async () => {
		await gridAfter(page, () => page.check('#filter-all'), { selected: 'all' });
		const cards = await page.$$eval('#sample-grid figure', (fs) => fs.map((f) => ({
			file: f.dataset.file, pred: f.dataset.predictions, says: f.querySelector('.no-preds')?.textContent || '', scores: f.querySelectorAll('dd[data-score]').length })));
		for (const c of cards) {
			const none = L.nopred.includes(c.file);
			assert.equal(c.pred, String(!none), c.file);
			if (none) { assert.equal(c.says, 'no predictions'); assert.equal(c.scores, 0, `${c.file} shows no scores`); } else assert.ok(c.scores > 0);
		}
		await gridAfter(page, () => page.selectOption('#pred-filter', 'none'), { predictions: 'none', selected: 'all' });
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), L.nopred.length);
		assert.match(await page.textContent('#pred-filter'), new RegExp(`without predictions \\(${L.nopred.length}\\)`));
		const shown = await page.$$eval('#sample-grid figure', (fs) => fs.map((f) => f.dataset.file));
		assert.deepEqual(shown.sort(), [...L.nopred].sort().slice(0, 24));
		await br.shot('no-predictions');
		await gridAfter(page, () => page.selectOption('#pred-filter', 'all'), { selected: 'all' });
		// the histogram leaves them out and says how many
		await page.locator('#hist-bins button').first().waitFor();
		assert.equal(await page.getAttribute('#hist-nopred', 'data-count'), String(L.nopred.length));
	});

	test('a histogram bin filters the grid to that bin’s count; clear filter', async () => {
		const vals = [...L.scores].filter(([f]) => !L.nopred.includes(f)).map(([, v]) => v);
		const { counts } = bins(vals);
		assert.deepEqual(await page.$$eval('#hist-bins button', (bs) => bs.map((b) => Number(b.dataset.count))), counts);
		// a click on the tallest bar of the chart
		const b = counts.indexOf(Math.max(...counts));
		await page.locator('#histogram').scrollIntoViewIfNeeded();
		const at = await page.evaluate((k) => {
			const c = window.Chart.getChart(document.getElementById('histogram'));
			const bar = c.getDatasetMeta(1).data[k] || c.getDatasetMeta(0).data[k];
			const r = c.canvas.getBoundingClientRect();
			return { x: r.left + bar.x, y: r.top + (bar.y + bar.base) / 2 };
		}, b);
		await gridAfter(page, () => page.mouse.click(at.x, at.y), { score: SCORE, selected: 'all', predictions: 'some' });
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), counts[b]);
		assert.equal(await page.getAttribute(`#hist-bins button[data-bin="${b}"]`, 'aria-pressed'), 'true');
		for (const f of await page.$$eval('#sample-grid figure', (fs) => fs.map((x) => x.dataset.file))) assert.ok(!L.nopred.includes(f));
		await br.shot('bin-filter');
		await gridAfter(page, () => page.click('#clear-filter'), { selected: 'all' });
		assert.equal(await page.locator('#score-filter').count(), 0);
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), L.scores.size);
	});

	test('the plot: hover shows the thumbnail, click opens the sample, colour by, lasso makes a tag', async () => {
		const emb = lines(path.join(L.out, 'data/embeddings_2d.csv')).slice(1).map((l) => l.split(',')).map(([f, x, y]) => ({ f, x: Number(x), y: Number(y) }));
		await page.locator('#scatter').scrollIntoViewIfNeeded();
		assert.equal(await page.getAttribute('#scatter', 'data-points'), String(emb.length));
		const box = await page.locator('#scatter').boundingBox();
		// the page's layout (equal scales, centred, 8 px inside the edges), recomputed here
		const xs = emb.map((p) => p.x), ys = emb.map((p) => p.y);
		const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
		const cx = (Math.max(...xs) + Math.min(...xs)) / 2, cy = (Math.max(...ys) + Math.min(...ys)) / 2;
		const place = (bx) => {
			const s = (Math.min(bx.width, bx.height) - 16) / span;
			return emb.map((p) => ({ f: p.f, x: bx.x + bx.width / 2 + (p.x - cx) * s, y: bx.y + bx.height / 2 - (p.y - cy) * s }));
		};
		const px = place(box);
		for (const p of px) assert.ok(p.x >= box.x + 3 && p.x <= box.x + box.width - 3 && p.y >= box.y + 3 && p.y <= box.y + box.height - 3, `${p.f} not clipped`);
		// the most isolated point: no other within its hover radius
		const iso = px.map((p) => ({ p, d: Math.min(...px.filter((q) => q !== p).map((q) => Math.hypot(q.x - p.x, q.y - p.y))) })).sort((a, b) => b.d - a.d)[0].p;
		await page.mouse.move(iso.x, iso.y);
		await page.locator(`#scatter-tip[data-file="${iso.f}"]:visible`).waitFor();
		await page.waitForFunction(() => { const i = document.querySelector('#scatter-tip img'); return i && i.complete && i.naturalWidth > 0; });
		assert.equal(await page.getAttribute('#scatter-tip img', 'alt'), iso.f);
		await br.shot('hover');
		// colour by a score: the legend says which, with its range
		assert.equal(await page.getAttribute('#scatter-legend', 'data-by'), '');
		await page.selectOption('#color-by', `score:${SCORE}`);
		await page.waitForFunction((sc) => document.querySelector('#scatter-legend')?.dataset.by === sc, SCORE);
		assert.match(await page.textContent('#scatter-legend'), new RegExp(`${SCORE}: .*no value \\(${L.nopred.length}\\)`));
		// a lasso around the left third of the plot: a tag of exactly those files
		await page.click('#lasso-toggle');
		const x0 = box.x + 2, x1 = box.x + box.width / 3, y0 = box.y + 2, y1 = box.y + box.height - 2;
		const want = px.filter((p) => p.x > x0 && p.x < x1 && p.y > y0 && p.y < y1).map((p) => p.f).sort();
		assert.ok(want.length > 0);
		await page.mouse.move(x0, y0);
		await page.mouse.down();
		for (const [x, y] of [[x1, y0], [x1, y1], [x0, y1], [x0, y0 + 1]]) await page.mouse.move(x, y, { steps: 4 });
		await page.mouse.up();
		assert.equal(Number(await page.getAttribute('.lasso-form', 'data-count')), want.length);
		await page.fill('#lasso-name', 'lassoed left third');
		await page.click('#lasso-make');
		const tagId = await page.getAttribute('#lasso-done', 'data-tag-id');
		const tag = (await web.call('GET', `/v1/datasets/${did}/tags`)).find((t) => t.id === tagId);
		assert.equal(tag.name, 'lassoed left third');
		const names = await web.call('GET', `/v1/datasets/${did}/mappings?field=fileName`);
		const bits = BigInt(tag.bitMaskData);
		assert.deepEqual(names.filter((_, i) => (bits >> BigInt(i)) & 1n).sort(), want);
		await page.click('#lasso-toggle');
		// a click on a point opens its sample view (the plot has moved: the tag's message is above)
		await page.locator('#scatter').scrollIntoViewIfNeeded();
		const at = place(await page.locator('#scatter').boundingBox()).find((p) => p.f === iso.f);
		await page.mouse.click(at.x, at.y);
		await page.waitForFunction((f) => location.hash.includes('/sample?') && new URLSearchParams(location.hash.split('?')[1]).get('name') === f, iso.f);
		const hash = await page.evaluate(() => location.hash);
		assert.match(hash, new RegExp(`^#/datasets/${did}/runs/${sid}/sample\\?at=\\d+&`));
		await page.goBack();
		await page.locator('#sample-grid[aria-busy=false]').waitFor();
	});

	test('corrupt and duplicate lists: thumbnails, reasons in words, links to the sample view', async () => {
		const corrupt = lines(path.join(L.out, 'filenames/corrupt_filenames.txt')).map((l) => l.split('\t'));
		const dups = lines(path.join(L.out, 'filenames/duplicate_filenames.txt')).map((l) => l.split('\t'));
		assert.ok(corrupt.length > 0 && dups.length > 0);
		await page.locator('#corrupt-list li').first().scrollIntoViewIfNeeded();
		await page.waitForFunction(() => [...document.querySelectorAll('#corrupt-list .mini, #duplicate-list .mini')].every((m) => { const i = m.querySelector('img'); return !i || i.complete; }));
		const rows = (sel) => page.$$eval(`${sel} li`, (ls) => ls.map((l) => ({
			path: l.dataset.path, reason: l.querySelector('.reason').textContent, href: l.querySelector('a.fpath').getAttribute('href'),
			thumb: l.querySelector('.mini img')?.naturalWidth > 0, says: l.querySelector('.mini').textContent })));
		const cr = await rows('#corrupt-list');
		assert.deepEqual(cr.map((r) => [r.path, r.reason]), corrupt);
		for (const r of cr) {
			assert.ok(r.thumb || r.says === 'cannot be read', `${r.path}: a thumbnail or why not`);
			assert.ok(r.href.startsWith(`#/datasets/${did}/sample?name=${encodeURIComponent(r.path)}`), r.href);
		}
		const dr = await rows('#duplicate-list');
		assert.deepEqual(dr.map((r) => r.path), dups.map((d) => d[0]));
		dr.forEach((r, i) => {
			const m = /^duplicate of (.*) \((bytes|embedding)\)$/.exec(dups[i][1]);
			assert.equal(r.reason, `${m[2] === 'bytes' ? 'same bytes as' : 'same embedding as'} ${m[1]}`);
			assert.ok(r.thumb, `${r.path} has a thumbnail`);
		});
		assert.doesNotMatch(await page.textContent('#duplicate-list'), /\(bytes\)|\(embedding\)/);
		await br.shot('lists');
	});

	test('keyboard only: a card, a bin and a plot point', async () => {
		await page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results?selected=all&sort=fileName&order=asc`);
		await page.locator('#sample-grid[aria-busy=false] figure').first().waitFor();
		const first = await page.getAttribute('#sample-grid figure', 'data-file');
		await page.focus('#page-size');
		// Tab from the toolbar to the first card's link, Enter opens it
		await page.keyboard.press('Tab');
		for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement?.classList.contains('thumb-link'))); i++) await page.keyboard.press('Tab');
		assert.equal(await page.evaluate(() => document.activeElement?.closest('figure')?.dataset.file), first);
		await page.keyboard.press('Enter');
		await page.waitForFunction(() => location.hash.includes('/sample?at=0&'));
		assert.equal(new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]).get('name'), first);
		await page.goBack();
		await page.locator('#hist-bins button:not([disabled])').first().waitFor();
		const bin = page.locator('#hist-bins button:not([disabled])').last();
		const n = Number(await bin.getAttribute('data-count'));
		await bin.focus();
		await gridAfter(page, () => page.keyboard.press('Enter'), { score: SCORE });
		assert.equal(Number(await page.getAttribute('#sample-grid', 'data-total')), n);
		await page.focus('#scatter');
		await page.keyboard.press('ArrowRight');
		await page.locator('#scatter-tip:visible').waitFor();
		const f = await page.getAttribute('#scatter-tip', 'data-file');
		await page.keyboard.press('Enter');
		await page.waitForFunction((x) => new URLSearchParams(location.hash.split('?')[1] || '').get('name') === x, f);
	});

	test('phone: two cards a row', async () => {
		await br.setViewport(H.PHONE);
		await page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results?selected=all`);
		await page.locator('#sample-grid[aria-busy=false] figure').nth(1).waitFor();
		const tops = await page.$$eval('#sample-grid figure', (fs) => fs.slice(0, 4).map((f) => Math.round(f.getBoundingClientRect().top)));
		assert.equal(tops[0], tops[1], 'two cards on the first row');
		assert.notEqual(tops[1], tops[2]);
		const wide = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
		assert.ok(wide, 'the page does not scroll sideways');
		await br.shot('phone');
		assert.deepEqual(br.problems, []);
		await br.setViewport(H.DESKTOP);
	});
});
