// A video frame's place in its video, for the sample view (docs/web.md "Video frames"): when a
// sample's name is shaped as a frame's (SPEC 3.1: clips/a-099-mp4.png), asks
// GET /v1/winnow/datasets/{did}/samples/frame and shows the video's name, the frame's index
// of the frame count and its time in seconds. A name that is no frame (404) shows nothing.
import { get, enc, ApiError } from './api.js';
import { h, clear, fmtInt } from './ui.js';

// "<stem>-<digits>-<video extension>.png" (the extensions of SPEC 3.1, any case).
export const FRAME_RE = /^(.*)-(\d+)-(mp4|mov|avi|mkv|webm)\.png$/i;

export function isFrameName(name) { return FRAME_RE.test(name); }

// The frame's time as shown: seconds with 3 decimals ("12.345 s"), or "—" when the video has none.
export function fmtFrameTime(t) { return typeof t === 'number' && Number.isFinite(t) ? `${t.toFixed(3)} s` : '—'; }

// An element (empty until the reply) describing frame `name` of dataset `did`; null when the
// name is not shaped as a frame's.
export function frameInfo(did, name, alive = () => true) {
	if (!isFrameName(name)) return null;
	const box = h('dl', { class: 'kv sample-frame', id: 'sample-frame', 'aria-busy': 'true' });
	(async () => {
		try {
			const f = await get(`/v1/winnow/datasets/${enc(did)}/samples/frame?fileName=${enc(name)}`);
			if (!alive()) return;
			clear(box);
			box.removeAttribute('aria-busy');
			box.appendChild(h('dt', null, 'Video'));
			box.appendChild(h('dd', null, h('code', { id: 'sample-video' }, f.video)));
			box.appendChild(h('dt', null, 'Frame'));
			box.appendChild(h('dd', { id: 'sample-frame-index', 'data-index': String(f.index), 'data-frames': String(f.frames) },
				`${fmtInt(f.index)} of ${fmtInt(f.frames)} (0-based)`));
			box.appendChild(h('dt', null, 'Time'));
			box.appendChild(h('dd', { id: 'sample-frame-time', 'data-time': f.time === null ? '' : String(f.time) }, fmtFrameTime(f.time)));
		} catch (e) {
			if (!alive()) return;
			clear(box);
			box.removeAttribute('aria-busy');
			if (!(e instanceof ApiError && e.status === 404))
				box.appendChild(h('dd', { class: 'muted' }, `Frame details unavailable: ${e.message || e}`));
		}
	})();
	return box;
}
