// The sample view (issue 16) in headless Chromium against the real winnow-web and a real run
// by winnowd on a generated dataset with predictions of all four task types: the image at least
// 400 px wide, the SVG boxes equal to the prediction file's, masks and keypoints drawn, the
// scores equal to local mode's data/scores.csv, ArrowRight/ArrowLeft in the results route's
// order, a keyboard-only walk, "no predictions" said, the phone layout, and the Label Studio
// export's signed URL loading the image without a login. Screenshots: sample-*.png.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { H, startWeb, startDaemon, openBrowser, skipWhy, mkdataset, schedule, runToEnd, localSelect } from './harness.mjs';

const DET = 'my-detection-task', SEG = 'my-segmentation-task', KP = 'my-keypoint-task';
const DOCKER = {
	enable_corruptness_check: true, remove_exact_duplicates: true, enable_training: false, pretagging: false,
	method: 'coral', stopping_condition: { n_samples: 0.25, min_distance: -1 },
	active_learning: { task_name: DET, score_name: 'uncertainty_margin' },
};
// the grid's order the links carry (as the results page passes its state on)
const QUERY = { sort: 'fileName', order: 'asc', selected: 'all', limit: 24 };

function readCsv(file) {
	const [head, ...rows] = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(','));
	return { head, rows: new Map(rows.map((r) => [r[0], r])) };
}

describe('sample view', { skip: skipWhy }, () => {
	let web, daemon, daemonStopped, br, did, sid, run, dir, man, scores, order, localOut;
	const predFile = (task, name) => {
		const f = path.join(dir, '.lightly/predictions', task, name.replace(/\.[^./]+$/, '') + '.json');
		return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
	};
	const cats = (task) => new Map(man.tasks[task].categories.map((c) => [c.id, c.name]));
	const sampleUrl = (at, q = QUERY) => `${web.base}/#/datasets/${did}/runs/${sid}/sample?${new URLSearchParams({ at, ...q })}`;
	const fileUrl = (name) => `${web.base}/#/datasets/${did}/sample?${new URLSearchParams({ name })}`;
	// the sample `name` shown, its image and predictions drawn
	async function shown(name) {
		await br.page.waitForFunction((n) => document.querySelector('#sample-name')?.textContent === n
			&& ['1', 'error'].includes(document.querySelector('#sample-stage')?.dataset.drawn), name, { timeout: H.T });
	}
	async function open(url, name) {
		// the page shown before is not taken for the new one
		await br.page.evaluate(() => { const m = document.querySelector('#main'); while (m && m.firstChild) m.removeChild(m.firstChild); });
		await br.page.goto(url);
		await shown(name);
	}

	before(async () => {
		web = await startWeb('sample');
		dir = mkdataset(path.join(web.root, 'set'), ['--n', '40', '--predictions', '--subdirs', '--seed', '5']);
		man = JSON.parse(fs.readFileSync(path.join(dir, '.manifest.json'), 'utf8'));
		did = await web.dataset('sample-set', dir);
		daemon = startDaemon(web, 'sample-worker');
		sid = await schedule(web, did, { docker: DOCKER, lightly: {} });
		const [r, local] = await Promise.all([runToEnd(web, did, sid), localSelect(web.tmp, 'coral', { docker: DOCKER, lightly: {} }, dir)]);
		run = r;
		localOut = local;
		assert.equal(run.state, 'COMPLETED');
		// the daemon is done: its stop (which waits out its long poll) runs beside the tests
		daemonStopped = daemon.stop();
		scores = readCsv(path.join(local, 'data/scores.csv'));
		const res = await web.call('GET', `/v1/winnow/runs/${run.id}/results?sort=fileName&order=asc&selected=all&offset=0&limit=1000`);
		order = res.items.map((it) => it.fileName);
		br = await openBrowser(web, 'sample');
	});
	after(async () => {
		await br?.close();
		await (daemonStopped || daemon?.stop());
		await web?.stop();
	});

	it('shows the image at least 400 px wide with the prediction file\'s boxes and local mode\'s scores (1400x900)', async () => {
		const t = man.tasks[DET];
		const at = order.findIndex((n) => t.files[n] && !t.empty.includes(n));
		const name = order[at];
		await open(sampleUrl(at), name);
		const box = await br.page.locator('#sample-stage img').boundingBox();
		assert.ok(box.width >= 400, `image ${box.width} px wide`);
		const want = predFile(DET, name).predictions;
		const got = await br.page.$$eval('#sample-overlay .pred-box', (els) => els.map((e) => ({ ...e.dataset })));
		assert.equal(got.length, want.length);
		const names = cats(DET);
		got.forEach((g, i) => {
			const w = want[i];
			assert.equal(g.category, names.get(w.category_id));
			assert.equal(Number(g.score), w.score);
			assert.deepEqual([g.x, g.y, g.w, g.h].map(Number), w.bbox);
		});
		// the layer is in the image's pixels: its viewBox is the natural size
		assert.equal(await br.page.getAttribute('#sample-overlay', 'viewBox'), `0 0 ${man.size[0]} ${man.size[1]}`);
		const shown = await br.page.$$eval('#sample-scores dd', (els) => els.map((e) => [e.dataset.score, e.dataset.value]));
		const row = scores.rows.get(name);
		assert.equal(shown.length, scores.head.length - 1);
		for (const [col, v] of shown) assert.equal(Number(v), Number(row[scores.head.indexOf(col)]), col);
		const selected = await br.page.getAttribute('#sample-selected', 'data-selected');
		const res = await web.call('GET', `/v1/winnow/runs/${run.id}/results?sort=fileName&order=asc&selected=all&offset=${at}&limit=1`);
		assert.equal(selected, res.items[0].selected ? '1' : '0');
		assert.deepEqual(br.problems, []);
		await br.shot('desktop');
	});

	it('walks the grid\'s order with ArrowRight and ArrowLeft, and Escape goes back to its grid page', async () => {
		const at = 22;
		await open(sampleUrl(at), order[at]);
		for (const [key, i] of [['ArrowRight', at + 1], ['ArrowRight', at + 2], ['ArrowLeft', at + 1]]) {
			await br.page.keyboard.press(key);
			await shown(order[i]);
			assert.match(br.page.url(), new RegExp(`[?&]at=${i}(&|$)`));
			assert.equal(await br.page.textContent('#sample-name'), order[i]);
		}
		await br.page.keyboard.press('Escape');
		await br.page.locator('h1', { hasText: 'Results' }).waitFor();
		assert.match(br.page.url(), /\/results\?/);
		assert.equal(new URL(br.page.url().replace('#', '')).searchParams.get('page'), String(Math.floor((at + 1) / QUERY.limit)));
	});

	it('is usable by keyboard alone: Tab reaches Next, Enter moves on, focus stays on Next', async () => {
		await open(sampleUrl(0), order[0]);
		assert.equal(await br.page.isDisabled('#sample-prev'), true);
		let found = false;
		for (let i = 0; i < 40 && !found; i++) {
			await br.page.keyboard.press('Tab');
			found = await br.page.evaluate(() => document.activeElement?.id === 'sample-next');
		}
		assert.ok(found, 'Tab never reached the Next button');
		// a visible focus ring
		const outline = await br.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
		assert.notEqual(outline, 'none');
		await br.page.keyboard.press('Enter');
		await shown(order[1]);
		await br.page.waitForFunction(() => document.activeElement?.id === 'sample-next');
		await br.page.keyboard.press('Shift+Tab');
		assert.equal(await br.page.evaluate(() => document.activeElement?.id), 'sample-prev');
		await br.page.keyboard.press('Enter');
		await shown(order[0]);
		// + zooms, 0 fits
		const w0 = (await br.page.locator('#sample-stage img').boundingBox()).width;
		await br.page.keyboard.press('+');
		const w1 = (await br.page.locator('#sample-stage img').boundingBox()).width;
		assert.ok(w1 > w0 * 1.2, `${w0} -> ${w1}`);
		await br.page.keyboard.press('0');
		assert.equal((await br.page.locator('#sample-stage img').boundingBox()).width, w0);
	});

	it('draws segmentation masks and keypoints of those tasks', async () => {
		const seg = man.tasks[SEG];
		const name = order.find((n) => seg.files[n] && !seg.empty.includes(n) && man.tasks[KP].files[n] && !man.tasks[KP].empty.includes(n));
		assert.ok(name, 'a sample with both a segmentation and keypoints');
		await open(fileUrl(name), name);
		await br.page.selectOption('#sample-task', SEG);
		await br.page.waitForFunction((t) => document.querySelector('#sample-overlay')?.dataset.task === t, SEG);
		const masks = await br.page.$$eval('#sample-overlay .pred-mask', (els) => els.map((e) => ({ ...e.dataset })));
		const want = predFile(SEG, name).predictions;
		assert.equal(masks.length, want.length);
		masks.forEach((m, i) => {
			const ones = want[i].segmentation.filter((_, k) => k % 2 === 1).reduce((a, b) => a + b, 0);
			assert.equal(Number(m.pixels), ones);
			assert.equal(m.category, cats(SEG).get(want[i].category_id));
		});
		await br.shot('segmentation');
		await br.page.selectOption('#sample-task', KP);
		await br.page.waitForFunction((t) => document.querySelector('#sample-overlay')?.dataset.task === t, KP);
		const kps = await br.page.$$eval('#sample-overlay .pred-keypoints', (gs) => gs.map((g) => [...g.querySelectorAll('circle')].map((c) => [c.dataset.x, c.dataset.y, c.dataset.c].map(Number))));
		const wk = predFile(KP, name).predictions;
		assert.equal(kps.length, wk.length);
		kps.forEach((pts, i) => assert.deepEqual(pts.flat(), wk[i].keypoints));
		await br.shot('keypoints');
		// the task chosen stays for the next sample of the dataset
		await br.page.selectOption('#sample-task', DET);
		await br.page.waitForFunction((t) => document.querySelector('#sample-overlay')?.dataset.task === t, DET);
	});

	it('says so when a sample has no predictions', async () => {
		const name = order.find((n) => man.tasks[DET].empty.includes(n));
		assert.ok(name);
		await open(sampleUrl(order.indexOf(name)), name);
		const st = br.page.locator('#sample-pred-status');
		assert.equal(await st.getAttribute('data-state'), 'none');
		assert.match(await st.textContent(), /No predictions/);
		assert.equal(await br.page.locator('#sample-overlay .pred-box').count(), 0);
	});

	it('walks the corrupt list of the dataset\'s run and says why a corrupt image is not shown', async () => {
		const corrupt = fs.readFileSync(path.join(localOut, 'filenames/corrupt_filenames.txt'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
		assert.ok(corrupt.length >= 2, 'the dataset has two corrupt files');
		await open(`${web.base}/#/datasets/${did}/sample?${new URLSearchParams({ name: corrupt[0][0], list: 'corrupt', at: 0 })}`, corrupt[0][0]);
		assert.match(await br.page.textContent('#sample-position'), new RegExp(`^1 of ${corrupt.length} \\(corrupt list\\)`));
		assert.equal(await br.page.getAttribute('#sample-stage', 'data-drawn'), 'error');
		assert.match(await br.page.textContent('#sample-image-status'), /could not be shown: .+/);
		await br.page.keyboard.press('ArrowRight');
		await shown(corrupt[1][0]);
		assert.match(br.page.url(), /[?&]at=1(&|$)/);
	});

	it('puts the info below the image on a phone (390x844)', async () => {
		await br.setViewport(H.PHONE);
		try {
			const at = order.findIndex((n) => man.tasks[DET].files[n] && !man.tasks[DET].empty.includes(n));
			await open(sampleUrl(at), order[at]);
			const stage = await br.page.locator('#sample-stage').boundingBox();
			const info = await br.page.locator('.sample-info').boundingBox();
			assert.ok(info.y >= stage.y + stage.height, 'the info panel is below the image');
			const img = await br.page.locator('#sample-stage img').boundingBox();
			assert.ok(img.width >= stage.width - 1, `image ${img.width} of ${stage.width}`);
			assert.ok(await br.page.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth), 'no sideways scroll');
			assert.ok(await br.page.locator('#sample-overlay .pred-box').count() > 0);
			await br.shot('phone');
		} finally {
			await br.setViewport(H.DESKTOP);
		}
	});

	it('the results page\'s export menu downloads the selection as local mode selected it', async () => {
		await br.page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results`);
		await br.page.locator('h1', { hasText: 'Results' }).waitFor();
		await br.page.click('#export-menu summary');
		const hrefs = await br.page.$$eval('#export-menu a.export-link', (as) => as.map((a) => a.getAttribute('href')));
		assert.deepEqual(hrefs.map((u) => new URLSearchParams(u.split('?')[1]).get('format')), ['filenames', 'csv', 'labelstudio']);
		const r = await br.page.request.get(new URL(hrefs[0], web.base).href);
		assert.equal(r.status(), 200);
		assert.match(r.headers()['content-disposition'], /^attachment; filename="winnow-[0-9a-f]{24}-[0-9a-f]{24}-filenames\.txt"$/);
		const got = (await r.text()).split('\n').filter(Boolean);
		const want = fs.readFileSync(path.join(localOut, 'filenames/selected_filenames.txt'), 'utf8').split('\n').filter(Boolean);
		assert.deepEqual([...got].sort(), [...want].sort());
		await br.shot('export-menu');
	});

	it('the Label Studio export\'s image URL loads without a login', async () => {
		const tasks = await web.call('GET', `/v1/winnow/runs/${run.id}/export?format=labelstudio`);
		assert.ok(tasks.length > 0);
		const url = tasks[0].data.image;
		assert.ok(url.startsWith(web.base), url);
		await br.context.clearCookies();
		const resp = await br.page.goto(url);
		assert.equal(resp.status(), 200);
		assert.match(resp.headers()['content-type'], /^image\//);
		const w = await br.page.evaluate(() => document.images[0]?.naturalWidth);
		assert.equal(w, man.size[0]);
		const bad = await br.page.goto(url.replace(/sig=./, (m) => (m.endsWith('0') ? 'sig=1' : 'sig=0')));
		assert.equal(bad.status(), 403);
	});
});
