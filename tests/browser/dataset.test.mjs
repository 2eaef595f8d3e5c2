// The dataset page and the wizard (issue 16, items 3, 6, 8 and 11), in headless Chromium against
// the real web app and the real daemon (tests/browser/harness.mjs), at 1400x900, at 390x844 and
// with the keyboard only:
// - the dataset page shows thumbnails of its files before any run (the count is the folder's
//   images, listed here from the folder), pages through them, and a card opens the sample
//   view's URL (CONTEXT16's contract);
// - a tag shows its name, count and creator and opens its samples (the names its bitmask
//   means), with its file-name export;
// - the wizard shows the dataset's size and "k = N of M images" for a fraction and a V4
//   proportion, warns with a link to Workers when no online worker has the runsOn labels and
//   not once the daemon with that label is up, and shows a bad n_samples at its field in words;
// - rename and delete through the page (a dialog; Escape cancels); the files stay.
// Screenshots: $BUILD/test-artifacts/screenshots/dataset-*.png.
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { H, startWeb, startDaemon, openBrowser, mkdataset, sleep, skipWhy } from './harness.mjs';

const IMAGE = /\.(jpe?g|png|webp|bmp)$/i;
// SPEC 3's listing of a folder, written here (no links in these folders): sorted bytewise.
function imagesOf(root) {
	const out = [];
	const walk = (rel) => {
		for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
			if (e.name.startsWith('.')) continue;
			const p = rel ? `${rel}/${e.name}` : e.name;
			if (e.isDirectory()) walk(p);
			else if (e.isFile() && IMAGE.test(e.name) && !/[\t\r\n,]/.test(p)) out.push(p);
		}
	};
	walk('');
	return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
function folderState(root) {
	const out = [];
	const walk = (rel) => {
		for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
			const p = rel ? `${rel}/${e.name}` : e.name;
			if (e.isDirectory()) walk(p);
			else out.push(`${p}:${fs.readFileSync(path.join(root, p)).toString('base64')}`);
		}
	};
	walk('');
	return out.join('\n');
}

describe('dataset page and wizard', { skip: skipWhy }, () => {
	let web, br, page, daemon;
	const S = {};
	const U = (m, p, b) => web.call(m, p, b);
	const idle = () => page.waitForFunction(() => document.querySelector('#browse-grid')?.getAttribute('aria-busy') === 'false');
	const cards = () => page.$$eval('#browse-grid .browse-card', (els) => els.map((e) => e.dataset.file));
	// A page load of its own (the same address again would not render the page anew, and a
	// wait could then match the page before it).
	const open = async (hash) => { await page.goto('about:blank'); await page.goto(`${web.base}/${hash}`); };

	before(async () => {
		web = await startWeb('dataset');
		S.dir = mkdataset(path.join(web.root, 'shop'), ['--n', '60', '--subdirs']);
		S.names = imagesOf(S.dir);
		S.did = await web.dataset('shop', S.dir);
		S.other = mkdataset(path.join(web.root, 'spare'), ['--n', '4']);
		S.spare = await web.dataset('spare', S.other);
		// a tag made as a worker makes it (a run's samples, then a tag with a bitmask)
		const wtok = web.workerToken('tagger');
		const W = (m, p, b) => web.call(m, p, b, wtok);
		const cfg = (await U('POST', '/v1/docker/worker/config', { config: { workerType: 'FULL', docker: {}, lightly: {} } })).id;
		const sid = (await U('POST', `/v1/datasets/${S.did}/docker/worker/schedule`, { configId: cfg, runsOn: ['tagging-only'] })).id;
		const wid = (await W('POST', '/v1/docker/worker', { name: 'tagger', workerType: 'FULL', labels: ['tagging-only'] })).id;
		await W('PUT', `/v1/datasets/${S.did}/docker/worker/${wid}/schedule/${sid}`, { state: 'LOCKED' });
		const run = (await W('POST', '/v1/docker/runs', { dockerVersion: 't', datasetId: S.did, scheduledId: sid, configId: cfg })).id;
		await W('POST', `/v1/winnow/datasets/${S.did}/samples/batch`, S.names.map((fileName) => ({ fileName })));
		S.tagIdx = [1, 4, 9, 16, 25, 36, 49];
		S.tagNames = S.tagIdx.map((i) => S.names[i]);
		const mask = S.tagIdx.reduce((m, i) => m | (1n << BigInt(i)), 0n);
		S.tag = (await W('POST', `/v1/datasets/${S.did}/tags`, { name: 'hand-picked', prevTagId: null, bitMaskData: `0x${mask.toString(16)}`, totSize: S.names.length, creator: 'USER_WORKER', runId: run })).id;
		await W('PUT', `/v1/docker/runs/${run}`, { state: 'COMPLETED' });
		await W('PUT', `/v1/datasets/${S.did}/docker/worker/${wid}/schedule/${sid}`, { state: 'DONE' });
		br = await openBrowser(web, 'dataset');
		page = br.page;
	});
	// The harness's stop() races the exit against a 20-30 s timer that then keeps node running
	// that long: the processes are ended here first (stop() then only cleans up).
	const ended = (proc) => (proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve()
		: new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }));
	after(async () => {
		await br?.close();
		if (daemon) { await ended(daemon.proc); await daemon.stop(); }
		if (web) { await ended(web.proc); await web.stop(); }
		assert.equal(web.proc.exitCode, 0, `winnow-web exited ${web.proc.exitCode} ${web.proc.signalCode}:\n${web.log().slice(-3000)}`);
	});
	let n = 0;
	afterEach(async (t) => {
		n++;
		if (page && t && t.passed === false) await br.shot(`failed-${n}`).catch(() => {});
	});

	test('the page shows the folder\'s images before any run, paged; a card opens the sample view', async () => {
		assert.ok(S.names.length > 50, `${S.names.length} images`);
		await open(`#/datasets/${S.did}`);
		await idle();
		assert.equal(Number(await page.getAttribute('#browse-grid', 'data-total')), S.names.length);
		assert.match(await page.textContent('#browse-info'), new RegExp(`^${S.names.length} images in the datasource`));
		assert.deepEqual(await cards(), S.names.slice(0, 24));
		// the thumbnails are the web app's (loaded, not broken)
		await page.waitForFunction(() => [...document.querySelectorAll('#browse-grid img')].slice(0, 4).every((i) => i.complete && i.naturalWidth > 0));
		await br.shot('browse-desktop');
		// next page: the listing's next 24
		const answered = page.waitForResponse((r) => r.url().includes('/files?offset=24&limit=24') && r.status() === 200);
		await page.click('#browse-next');
		await answered;
		await idle();
		assert.deepEqual(await cards(), S.names.slice(24, 48));
		assert.match(await page.textContent('#browse-page'), /Page 2 of 3/);
		assert.match(page.url(), /#\/datasets\/[0-9a-f]{24}\?page=1$/);
		// a card: the sample view's URL of that file, at its place in the listing
		const first = page.locator('#browse-grid .browse-link').first();
		await first.click();
		await page.waitForURL(/\/sample\?/);
		const q = new URLSearchParams(new URL(page.url()).hash.split('?')[1]);
		assert.match(new URL(page.url()).hash, new RegExp(`^#/datasets/${S.did}/sample\\?`));
		assert.equal(q.get('name'), S.names[24]);
		assert.equal(q.get('list'), 'browse');
		assert.equal(q.get('at'), '24');
		// its sample view walks the listing (GET .../files): ArrowRight lands on the next file
		await page.waitForFunction((n) => document.querySelector('#sample-name')?.textContent === n, S.names[24]);
		assert.match(await page.textContent('#sample-position'), new RegExp(`^25 of ${S.names.length} `));
		assert.equal(await page.isDisabled('#sample-prev'), false);
		await page.keyboard.press('ArrowRight');
		await page.waitForFunction((n) => document.querySelector('#sample-name')?.textContent === n, S.names[25]);
		assert.match(page.url(), /[?&]at=25(&|$)/);
		assert.match(page.url(), /[?&]list=browse(&|$)/);
		assert.match(await page.textContent('#sample-position'), new RegExp(`^26 of ${S.names.length} `));
	});

	test('tags show name, count, creator; a click opens the tag\'s samples with their export', async () => {
		await open(`#/datasets/${S.did}`);
		const row = page.locator('#ds-tags tr[data-tag-id]', { hasText: 'hand-picked' });
		await row.waitFor();
		const cells = await row.locator('td').allTextContents();
		assert.equal(cells[0].trim(), 'hand-picked');
		assert.equal(cells[1].trim(), String(S.tagIdx.length));
		assert.equal(cells[2].trim(), 'USER_WORKER');
		assert.doesNotMatch(cells.join(' '), /0x[0-9a-f]+/, 'no hex bitmask shown');
		await idle();
		await row.locator('button.tag-open').click();
		await page.locator('#browse-tag:not([hidden])').waitFor();
		await page.waitForFunction((k) => document.querySelector('#browse-grid')?.dataset.total === String(k) && document.querySelector('#browse-grid').getAttribute('aria-busy') === 'false', S.tagIdx.length);
		assert.deepEqual((await cards()).slice().sort(), S.tagNames.slice().sort());
		assert.match(await page.textContent('#browse-info'), /7 samples in the tag hand-picked/);
		assert.match(page.url(), new RegExp(`\\?tag=${S.tag}$`));
		const href = await page.getAttribute('#browse-export', 'href');
		assert.equal(href, `/v1/datasets/${S.did}/tags/${S.tag}/export/basic/filenames`);
		const text = await page.evaluate((u) => fetch(u, { credentials: 'same-origin' }).then((r) => r.text()), href);
		assert.deepEqual(text.split('\n').filter(Boolean).sort(), S.tagNames.slice().sort());
		await br.shot('tag-open');
		// back to all
		await page.click('#browse-all');
		await page.waitForFunction((k) => document.querySelector('#browse-grid')?.dataset.total === String(k), S.names.length);
	});

	test('keyboard only: a tag, a card, rename with Escape and a refused name', async () => {
		await open(`#/datasets/${S.did}`);
		await page.locator('#ds-tags button.tag-open').waitFor();
		await idle();
		await page.focus('#ds-tags button.tag-open');
		await page.keyboard.press('Enter');
		await page.waitForFunction((k) => document.querySelector('#browse-grid')?.dataset.total === String(k), S.tagIdx.length);
		assert.equal(await page.evaluate(() => document.activeElement.id), 'browse-heading', 'focus moves to the grid');
		for (let i = 0; i < 6 && !(await page.evaluate(() => document.activeElement.classList.contains('browse-link'))); i++) await page.keyboard.press('Tab');
		const name = await page.evaluate(() => document.activeElement.closest('.browse-card').dataset.file);
		await page.keyboard.press('Enter');
		await page.waitForURL(/\/sample\?/);
		assert.equal(new URLSearchParams(new URL(page.url()).hash.split('?')[1]).get('name'), name);
		assert.ok(S.tagNames.includes(name));
		// rename: Escape cancels, a bad name is refused at the field in words
		await open(`#/datasets/${S.did}`);
		await page.locator('#ds-rename').waitFor();
		await page.focus('#ds-rename');
		await page.keyboard.press('Enter');
		await page.locator('#rename-dialog[open]').waitFor();
		assert.equal(await page.evaluate(() => document.activeElement.id), 'rename-name');
		await page.keyboard.press('Escape');
		await page.waitForFunction(() => !document.querySelector('#rename-dialog'));
		assert.equal(await page.evaluate(() => document.activeElement.id), 'ds-rename', 'focus back on the button');
		assert.equal((await U('GET', `/v1/datasets/${S.did}`)).name, 'shop');
		await page.keyboard.press('Enter');
		await page.locator('#rename-dialog[open]').waitFor();
		await page.keyboard.press('Control+A');
		await page.keyboard.type('x!');
		await page.keyboard.press('Enter');
		await page.locator('#rename-name-error:not([hidden])').waitFor();
		assert.match(await page.textContent('#rename-name-error'), /letter or digit|characters/i);
		await br.shot('rename-refused');
		await page.keyboard.press('Control+A');
		await page.keyboard.type('spare');
		await page.keyboard.press('Enter');
		await page.locator('#rename-name-error', { hasText: 'already have a dataset named' }).waitFor();
		await page.keyboard.press('Control+A');
		await page.keyboard.type('shop renamed');
		await page.keyboard.press('Enter');
		await page.locator('h1', { hasText: 'shop renamed' }).waitFor();
		assert.equal((await U('GET', `/v1/datasets/${S.did}`)).name, 'shop renamed');
	});

	test('delete through the page: a confirmation, Escape cancels; the files stay', async () => {
		const before = folderState(S.other);
		await open(`#/datasets/${S.spare}`);
		await page.locator('#ds-delete').click();
		await page.locator('#delete-dialog[open]').waitFor();
		assert.match(await page.textContent('#delete-dialog'), /files in its datasource are not touched/);
		await br.shot('delete-confirm');
		await page.keyboard.press('Escape');
		await page.waitForFunction(() => !document.querySelector('#delete-dialog'));
		assert.equal((await U('GET', `/v1/datasets/${S.spare}`)).id, S.spare);
		await page.locator('#ds-delete').click();
		await page.locator('#delete-confirm').click();
		await page.waitForURL(/#\/datasets$/);
		await assert.rejects(U('GET', `/v1/datasets/${S.spare}`), /404/);
		assert.equal(folderState(S.other), before);
	});

	test('wizard: the size and k for a fraction and a V4 proportion; errors in words at the field', async () => {
		const M = S.names.length;
		await open(`#/datasets/${S.did}/schedule`);
		await page.locator('#wizard-size[data-total]').waitFor();
		assert.match(await page.textContent('#wizard-size'), new RegExp(`${M} images`));
		await page.waitForFunction((t) => document.querySelector('#k-preview-method')?.textContent === t, `k = ${Math.ceil(0.1 * M - 1e-6)} of ${M} images`);
		await page.fill('#f-n-samples', '0.5');
		await page.waitForFunction((t) => document.querySelector('#k-preview-method')?.textContent === t, `k = ${Math.ceil(0.5 * M - 1e-6)} of ${M} images`);
		await page.fill('#f-n-samples', '0.33');
		await page.waitForFunction((t) => document.querySelector('#k-preview-method')?.textContent === t, `k = ${Math.ceil(0.33 * M - 1e-6)} of ${M} images`);
		await page.fill('#f-n-samples', '7');
		await page.waitForFunction((t) => document.querySelector('#k-preview-method')?.textContent === t, `k = 7 of ${M} images`);
		// a bad n_samples: its message at the field, with the field's name in words
		await page.fill('#f-n-samples', '2.5');
		await page.click('#wizard-submit');
		await page.locator('#f-n-samples-error:not([hidden])').waitFor();
		const err = await page.textContent('#f-n-samples-error');
		assert.match(err, /^Number of samples: .*2\.5/);
		assert.doesNotMatch(err, /docker\.stopping_condition/);
		assert.match(await page.textContent('#wizard-errors'), /Number of samples: /);
		await br.shot('wizard-error');
		// a V4 plan with a proportion
		await page.click('#plan-diversity');
		await page.waitForFunction((t) => document.querySelector('#k-preview-plan')?.textContent === t, `k = ${Math.ceil(0.1 * M - 1e-6)} of ${M} images`);
		await page.fill('#f-budget-value', '0.25');
		await page.waitForFunction((t) => document.querySelector('#k-preview-plan')?.textContent === t, `k = ${Math.ceil(0.25 * M - 1e-6)} of ${M} images`);
		assert.ok(await page.isHidden('#k-preview-method'));
		// the datapool: V4's useDatapool in the JSON
		await page.check('#f-use-datapool');
		assert.equal(JSON.parse(await page.inputValue('#f-json')).docker.useDatapool, true);
		await br.shot('wizard-plan');
	});

	test('wizard: the worker check warns with a link, and not once the daemon with the label is up', async () => {
		await open(`#/datasets/${S.did}/schedule`);
		await page.locator('#worker-check[data-matching]').waitFor();
		await page.fill('#f-runs-on', 'gpu, big');
		await page.waitForFunction(() => document.querySelector('#worker-check')?.dataset.checked === 'gpu, big');
		assert.ok(await page.locator('#worker-check.is-warning').isVisible());
		assert.match(await page.textContent('#worker-check'), /No online worker would take this run/);
		assert.equal(await page.getAttribute('#worker-check-link', 'href'), '#/workers');
		await br.shot('wizard-no-worker');
		daemon = startDaemon(web, 'gpu-box', { labels: ['gpu', 'big'] });
		// until it has registered (polled as runToEnd polls)
		for (const end = Date.now() + 30000; Date.now() < end; await sleep(100)) {
			const ws = await U('GET', '/v1/winnow/workers');
			if (ws.some((w) => w.name === 'gpu-box' && w.state !== 'OFFLINE')) break;
		}
		await page.fill('#f-runs-on', 'gpu,big');
		await page.waitForFunction(() => document.querySelector('#worker-check')?.dataset.checked === 'gpu,big');
		assert.equal(await page.locator('#worker-check.is-warning').count(), 0);
		assert.match(await page.textContent('#worker-check'), /1 online worker with the labels “gpu”, “big” would take it/);
		assert.match(await page.textContent('#worker-check'), /gpu-box/);
		// a label the daemon lacks: the warning again
		await page.fill('#f-runs-on', 'gpu,tpu');
		await page.waitForFunction(() => document.querySelector('#worker-check')?.dataset.checked === 'gpu,tpu');
		assert.equal(await page.locator('#worker-check.is-warning').count(), 1);
		// scheduling is still allowed: the run waits OPEN with those labels (the daemon lacks tpu)
		await page.click('#wizard-submit');
		await page.waitForURL(/#\/datasets\/[0-9a-f]{24}\/runs\/[0-9a-f]{24}$/);
		const sid = page.url().match(/\/runs\/([0-9a-f]{24})$/)[1];
		const waiting = (await U('GET', `/v1/datasets/${S.did}/docker/worker/schedule?state=OPEN`)).find((x) => x.id === sid);
		assert.ok(waiting, 'the scheduled run is OPEN');
		assert.deepEqual(waiting.runsOn, ['gpu', 'tpu']);
		await U('PUT', `/v1/datasets/${S.did}/docker/worker/schedule/${sid}`);
	});

	test('phone 390x844: the grid is two cards a row, nothing scrolls sideways', async () => {
		await br.setViewport(H.PHONE);
		try {
			await open(`#/datasets/${S.did}`);
			await idle();
			const boxes = await page.$$eval('#browse-grid .browse-card', (els) => els.slice(0, 3).map((e) => e.getBoundingClientRect()).map((r) => ({ x: r.x, y: r.y, w: r.width })));
			assert.equal(boxes[0].y, boxes[1].y, 'two cards on the first row');
			assert.ok(boxes[2].y > boxes[0].y, 'the third on the next');
			assert.ok(boxes[0].w > 120, `cards ${boxes[0].w}px wide`);
			assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scroll');
			await br.shot('browse-phone');
			await open(`#/datasets/${S.did}/schedule`);
			await page.locator('#wizard-size[data-total]').waitFor();
			await page.locator('#k-preview-method').waitFor();
			await br.shot('wizard-phone');
		} finally {
			await br.setViewport(H.DESKTOP);
		}
		assert.deepEqual(br.problems, []);
	});
});
