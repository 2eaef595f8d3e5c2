// The results page's per-video timeline (docs/web.md "Video frames", issue 17): for a run whose
// samples include videos' frames (SPEC 3.1 names: clips/a-099-mp4.png), one row per video: a
// bar over the video's frame count with a mark for each selected frame and, in another colour,
// each corrupt frame of the run's corrupt list; a mark links to that frame's sample view.
//
// The selected frames are the run's selection as GET /v1/winnow/runs/{runId}/export?format=
// filenames lists them (its selected_filenames.txt: every frame of a chosen sequence); a
// video's frame count comes from GET /v1/winnow/datasets/{did}/samples/frame for one of its
// frames (a demux pass of the video on the server). Positions are set through element.style
// (the CSP forbids inline style attributes).
import { get, getText, enc } from './api.js';
import { h, fmtInt, section, errorBox } from './ui.js';
import { fileHref } from './samplelink.js';
import { FRAME_RE } from './framebox.js';

const MAX_VIDEOS = 200;

// name -> { video key "<stem>.<ext>", index } or null.
export function parseFrame(name) {
	const m = FRAME_RE.exec(name);
	return m ? { video: `${m[1]}.${m[3]}`, index: Number(m[2]) } : null;
}

// Groups frame names by video: Map video -> { selected: [{name, index}], corrupt: [...] },
// videos in name order, marks in index order.
export function groupFrames(selected, corrupt) {
	const by = new Map();
	const add = (name, kind) => {
		const f = parseFrame(name);
		if (!f) return;
		if (!by.has(f.video)) by.set(f.video, { selected: [], corrupt: [] });
		by.get(f.video)[kind].push({ name, index: f.index });
	};
	for (const n of selected) add(n, 'selected');
	for (const n of corrupt) add(n, 'corrupt');
	const keys = [...by.keys()].sort();
	const out = new Map();
	for (const k of keys) {
		const v = by.get(k);
		v.selected.sort((a, b) => a.index - b.index);
		v.corrupt.sort((a, b) => a.index - b.index);
		out.set(k, v);
	}
	return out;
}

function mark(did, f, n, kind) {
	const a = h('a', { class: `tl-mark tl-${kind}`, href: fileHref(did, f.name), 'data-name': f.name,
		'data-index': String(f.index), title: `${kind === 'corrupt' ? 'Corrupt frame' : 'Frame'} ${f.index}`,
		'aria-label': `${kind === 'corrupt' ? 'Corrupt frame' : 'Selected frame'} ${f.index} of ${n}` });
	a.style.left = `${(100 * (f.index + 0.5)) / Math.max(n, 1)}%`;
	return a;
}

function row(did, video, v, n) {
	const bar = h('div', { class: 'tl-bar', role: 'group', 'aria-label': `Frames of ${video}` });
	for (const f of v.corrupt) if (f.index < n) bar.appendChild(mark(did, f, n, 'corrupt'));
	for (const f of v.selected) if (f.index < n) bar.appendChild(mark(did, f, n, 'selected'));
	return h('li', { class: 'tl-row', 'data-video': video, 'data-frames': String(n), 'data-selected': String(v.selected.length) },
		h('div', { class: 'tl-head' }, h('code', { class: 'tl-video' }, video),
			h('span', { class: 'muted tl-count' }, `${fmtInt(v.selected.length)} selected` +
				(v.corrupt.length ? `, ${fmtInt(v.corrupt.length)} corrupt` : '') + ` of ${fmtInt(n)} frames`)),
		bar,
		h('div', { class: 'tl-axis muted', 'aria-hidden': 'true' }, h('span', null, '0'), h('span', null, String(Math.max(n - 1, 0)))));
}

// The section (an empty, hidden one until the run's names show frames). corrupt: file names.
export function videoTimeline(did, rid, corrupt) {
	const body = h('div', { id: 'video-timeline', 'aria-busy': 'true' });
	const sec = section('Video timelines', body);
	sec.classList.add('tl-section');
	sec.hidden = true;
	(async () => {
		try {
			const text = await getText(`/v1/winnow/runs/${enc(rid)}/export?format=filenames`);
			const videos = groupFrames(text.split('\n').filter(Boolean), corrupt || []);
			if (!videos.size) return;
			sec.hidden = false;
			const keys = [...videos.keys()].slice(0, MAX_VIDEOS);
			const counts = await Promise.all(keys.map(async (k) => {
				const v = videos.get(k);
				const any = (v.selected[0] || v.corrupt[0]).name;
				try {
					return (await get(`/v1/winnow/datasets/${enc(did)}/samples/frame?fileName=${enc(any)}`)).frames;
				} catch (e) { return null; }
			}));
			const list = h('ul', { class: 'tl-list' });
			keys.forEach((k, i) => {
				const v = videos.get(k);
				// the frame count unknown (the video gone): the highest index seen stands in
				const n = counts[i] ?? [...v.selected, ...v.corrupt].reduce((m, f) => Math.max(m, f.index), -1) + 1;
				list.appendChild(row(did, k, v, n));
			});
			body.replaceChildren(h('p', { class: 'muted tl-legend' }, h('span', { class: 'tl-key tl-selected' }), ' selected ',
				h('span', { class: 'tl-key tl-corrupt' }), ' corrupt · a mark opens the frame'), list);
			if (videos.size > MAX_VIDEOS) body.appendChild(h('p', { class: 'muted' }, `The first ${MAX_VIDEOS} of ${fmtInt(videos.size)} videos.`));
		} catch (e) {
			// no selection yet (409) or no run: nothing to draw
			if (e && e.status && e.status !== 409 && e.status !== 404) { sec.hidden = false; body.replaceChildren(errorBox(e)); }
		} finally {
			body.removeAttribute('aria-busy');
		}
	})();
	return sec;
}
