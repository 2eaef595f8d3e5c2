// Videos' frames in the pages (issue 17), in headless Chromium against the real winnow-web and
// a real winnowd run on a folder of two short clips (made here with ffmpeg's CLI) and three
// images, checked against local mode (`winnowd select`) on the same folder:
// - the results grid shows frames' thumbnails (decoded images, not broken ones);
// - the results page has one timeline row per video, with a mark for each selected frame: as
//   many as local mode's selected_filenames.txt lists for that video, at those indices; and a
//   corrupt mark for each of a damaged clip's frames local mode's corrupt_filenames.txt lists;
// - a click on a mark opens that frame's sample view, which shows the video's name, the
//   frame's index of the frame count and its time (the frame's pts, as ffprobe reads it);
// at 1400x900 and 390x844. Screenshots: $BUILD/test-artifacts/screenshots/video-*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { H, skipWhy as harnessSkip, startWeb, startDaemon, openBrowser, schedule, runToEnd, localSelect, lines } from './harness.mjs';

const which = (p) => { try { return execFileSync('sh', ['-c', `command -v ${p}`], { encoding: 'utf8' }).trim(); } catch { return ''; } };
const FFMPEG = which('ffmpeg'), FFPROBE = which('ffprobe');
const skipWhy = harnessSkip || (FFMPEG && FFPROBE ? false : 'ffmpeg and ffprobe are needed to make the clips: the suite skips');

const DOCKER = { method: 'coreset', stopping_condition: { n_samples: 0.35 } };
const ff = (...args) => execFileSync(FFMPEG, ['-v', 'error', '-y', ...args.map(String)], { stdio: ['ignore', 'ignore', 'pipe'] });
// The first video stream's packet times in presentation order (ffprobe, not winnow).
const ptsTimes = (file) => execFileSync(FFPROBE, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file],
	{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').map((s) => s.replace(/,/g, '').trim()).filter(Boolean).map(Number).sort((a, b) => a - b);
const FRAME = /^(.*)-(\d+)-(mp4|mov|avi|mkv|webm)\.png$/i;

describe('videos in the pages', { skip: skipWhy }, () => {
	let web, daemon, br, page, did, sid, dir, local;
	const VIDEOS = ['clips/a.mp4', 'b.webm', 'c.mp4'];

	before(async () => {
		web = await startWeb('video');
		dir = path.join(web.root, 'vids');
		fs.mkdirSync(path.join(dir, 'clips'), { recursive: true });
		ff('-f', 'lavfi', '-i', 'testsrc=size=160x96:rate=10', '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-g', '5', '-bf', '2', path.join(dir, 'clips/a.mp4'));
		ff('-f', 'lavfi', '-i', 'mandelbrot=size=96x64:rate=10', '-t', '1.5', '-c:v', 'libvpx', path.join(dir, 'b.webm'));
		// damage: bytes overwritten in the middle of an H.264 stream (corrupt frames, as test_video.py)
		const tmpClip = path.join(web.tmp, 'long.mp4');
		ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '4', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-g', '50', '-movflags', '+faststart', tmpClip);
		const bad = fs.readFileSync(tmpClip);
		let x = 1;
		for (let i = bad.length >> 1; i < (bad.length >> 1) + 400; i++) { x = (x * 1103515245 + 12345) >>> 0; bad[i] = x >>> 24; }
		fs.writeFileSync(path.join(dir, 'c.mp4'), bad);
		for (const [i, src] of ['testsrc2', 'rgbtestsrc', 'smptebars'].entries())
			ff('-f', 'lavfi', '-i', `${src}=size=80x60:rate=1`, '-frames:v', '1', path.join(dir, `img${i}.png`));
		did = await web.dataset('video-ds', dir);
		daemon = startDaemon(web, 'worker-video');
		local = localSelect(web.tmp, 'vid', DOCKER, dir);
		sid = await schedule(web, did, { docker: DOCKER, lightly: {} });
		try { await runToEnd(web, did, sid, 60000); } catch (e) { console.error(daemon.log().slice(-3000)); throw e; }
		local = await local;
		br = await openBrowser(web, 'video');
		page = br.page;
	});
	after(async () => {
		await br?.close();
		await daemon?.stop();
		await web?.stop();
	});

	// local mode's frames of a list, by video: selected_filenames.txt or corrupt_filenames.txt (path<TAB>reason)
	const byVideo = (file) => {
		const by = new Map(VIDEOS.map((v) => [v, []]));
		for (const l of lines(path.join(local, 'filenames', file))) {
			const m = FRAME.exec(l.split('\t')[0]);
			if (m) by.get(`${m[1]}.${m[3]}`).push(Number(m[2]));
		}
		for (const v of by.values()) v.sort((a, b) => a - b);
		return by;
	};

	for (const [vp, label] of [[H.DESKTOP, 'desktop'], [H.PHONE, 'phone']]) {
		test(`results: frame thumbnails and one timeline per video (${label})`, async () => {
			await br.setViewport(vp);
			await page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results?selected=all&sort=fileName&order=asc`);
			await page.waitForFunction(() => document.querySelector('#sample-grid')?.getAttribute('aria-busy') === 'false');
			// the grid's frames: thumbnails that decoded
			const thumbs = page.locator('#sample-grid figure.sample[data-file$="-mp4.png"] img, #sample-grid figure.sample[data-file$="-webm.png"] img');
			assert.ok(await thumbs.count() >= 2, 'frames in the grid');
			await page.waitForFunction(() => [...document.querySelectorAll('#sample-grid figure.sample img')]
				.filter((i) => /-(mp4|webm)\.png$/.test(i.closest('figure').dataset.file)).every((i) => i.complete && i.naturalWidth > 0));
			// the timelines
			await page.waitForFunction(() => document.querySelector('#video-timeline')?.getAttribute('aria-busy') === null && document.querySelector('.tl-row'));
			const rows = await page.$$eval('.tl-row', (rs) => rs.map((r) => ({ video: r.dataset.video, frames: Number(r.dataset.frames),
				marks: [...r.querySelectorAll('.tl-mark.tl-selected')].map((m) => Number(m.dataset.index)),
				corrupt: [...r.querySelectorAll('.tl-mark.tl-corrupt')].map((m) => Number(m.dataset.index)) })));
			const want = byVideo('selected_filenames.txt'), bad = byVideo('corrupt_filenames.txt');
			assert.deepEqual(rows.map((r) => r.video), [...VIDEOS].sort());
			for (const r of rows) {
				assert.equal(r.frames, ptsTimes(path.join(dir, r.video)).length, r.video);
				assert.deepEqual(r.marks, want.get(r.video), r.video);
				assert.deepEqual(r.corrupt, bad.get(r.video), r.video);
			}
			assert.ok(rows.every((r) => r.marks.length > 0));
			assert.ok(bad.get('c.mp4').length > 0, 'the damaged clip has corrupt frames');
			await page.locator('#video-timeline').scrollIntoViewIfNeeded();
			await br.shot(`results-${label}`);
		});

		test(`a timeline mark opens the frame's sample view with video, index and time (${label})`, async () => {
			await br.setViewport(vp);
			await page.goto(`${web.base}/#/datasets/${did}/runs/${sid}/results`);
			await page.waitForFunction(() => document.querySelector('.tl-row .tl-mark'));
			const mark = page.locator('.tl-row[data-video="clips/a.mp4"] .tl-mark.tl-selected').last();
			const name = await mark.getAttribute('data-name');
			const index = Number(await mark.getAttribute('data-index'));
			await mark.click();
			await page.waitForFunction((n) => document.querySelector('#sample-name')?.textContent === n, name);
			await page.waitForFunction(() => document.querySelector('#sample-frame-time'));
			assert.equal(await page.textContent('#sample-video'), 'clips/a.mp4');
			const idx = page.locator('#sample-frame-index');
			const times = ptsTimes(path.join(dir, 'clips/a.mp4'));
			assert.equal(Number(await idx.getAttribute('data-index')), index);
			assert.equal(Number(await idx.getAttribute('data-frames')), times.length);
			assert.match(await idx.textContent(), new RegExp(`^${index} of ${times.length}`));
			const t = Number(await page.getAttribute('#sample-frame-time', 'data-time'));
			assert.ok(Math.abs(t - times[index]) < 1e-3, `${t} vs ${times[index]}`);
			assert.equal(await page.textContent('#sample-frame-time'), `${times[index].toFixed(3)} s`);
			// the frame itself drew
			await page.waitForFunction(() => { const i = document.querySelector('.sample-img'); return i && i.complete && i.naturalWidth > 0; });
			assert.equal(await page.$eval('.sample-img', (i) => i.naturalWidth), 160);
			await br.shot(`sample-${label}`);
			assert.deepEqual(br.problems, []);
		});
	}
});
