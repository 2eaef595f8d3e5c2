#!/usr/bin/env node
// A stand-in for bin/winnow-web, in memory, for working on the pages without the C server:
//   node tests/browser/mock-server.mjs --listen 127.0.0.1:8090 --dataset-root DIR \
//        [--static web/static] [--user-token U] [--worker-token W]
// It answers the routes of docs/api.md that the pages and the worker use, loosely (no
// persistence, simplified validation). Not used by the test suite, which runs the real server.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const [host, port] = opt('--listen', '127.0.0.1:8090').split(':');
const roots = args.flatMap((a, i) => (a === '--dataset-root' ? [path.resolve(args[i + 1])] : []));
const staticDir = path.resolve(opt('--static', path.join(here, '../../web/static')));
const TOKENS = { [opt('--user-token', 'user-token')]: { role: 'user', name: 'alice', userId: 'u'.padEnd(24, '0') },
	[opt('--worker-token', 'worker-token')]: { role: 'worker', name: 'worker', userId: 'w'.padEnd(24, '0') } };
const sessions = new Map();
const id = () => crypto.randomBytes(12).toString('hex');
const now = () => Date.now();
const db = { datasets: new Map(), sources: new Map(), configs: new Map(), sched: new Map(), runs: new Map(), logs: new Map(),
	samples: new Map(), tags: new Map(), scores: new Map(), workers: new Map(), artifacts: new Map() };
const SCORES = {
	'classification': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy'],
	'semantic-segmentation': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy'],
	'object-detection': ['uncertainty_least_confidence', 'uncertainty_margin', 'uncertainty_entropy', 'objectness_least_confidence', 'object_frequency'],
	'keypoint-detection': ['mean_uncertainty'],
};
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.png': 'image/png',
	'.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.bmp': 'image/bmp', '.json': 'application/json', '.svg': 'image/svg+xml' };

class HttpErr extends Error { constructor(s, m, code, errors) { super(m); this.s = s; this.code = code || 'ERROR'; this.errors = errors; } }
const fail = (s, m, c, e) => { throw new HttpErr(s, m, c, e); };

function validate(docker) {
	const errs = [];
	const d = docker || {};
	const known = ['enable_corruptness_check', 'remove_exact_duplicates', 'method', 'stopping_condition', 'scorer', 'scorer_config', 'active_learning',
		'embeddings', 'normalize_embeddings', 'relevant_filenames_file', 'datapool', 'corruptness_check', 'seed', 'enable_training', 'pretagging', 'pretagging_debug'];
	for (const k of Object.keys(d)) if (!known.includes(k)) errs.push({ path: `docker.${k}`, message: `docker.${k}: unknown key` });
	if (d.method !== undefined && !['random', 'coreset', 'coral', 'active_learning'].includes(d.method)) errs.push({ path: 'docker.method', message: `docker.method: ${JSON.stringify(d.method)} is not one of random, coreset, coral, active_learning` });
	const sc = d.stopping_condition || {};
	const n = sc.n_samples;
	if (n !== undefined && !(typeof n === 'number' && (n === -1 || (n > 0 && n <= 1) || (n >= 2 && Number.isInteger(n)))))
		errs.push({ path: 'docker.stopping_condition.n_samples', message: `docker.stopping_condition.n_samples: ${JSON.stringify(n)} is not -1, a fraction in (0,1] or a count >= 2` });
	const md = sc.min_distance;
	if (md !== undefined && !(typeof md === 'number' && (md === -1 || md >= 0))) errs.push({ path: 'docker.stopping_condition.min_distance', message: `docker.stopping_condition.min_distance: ${JSON.stringify(md)} is not -1 or >= 0` });
	for (const k of ['frequency_penalty', 'min_score']) {
		const v = (d.scorer_config || {})[k];
		if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) errs.push({ path: `docker.scorer_config.${k}`, message: `docker.scorer_config.${k}: ${JSON.stringify(v)} is not in [0,1]` });
	}
	if (['coral', 'active_learning'].includes(d.method) && !(d.active_learning || {}).task_name) errs.push({ path: 'docker.active_learning.task_name', message: 'docker.active_learning.task_name: required for method ' + d.method });
	return errs;
}

function tasksOf(did) {
	const src = db.sources.get(did);
	if (!src) fail(404, 'the dataset has no datasource', 'NO_DATASOURCE');
	const base = path.join(src.fullPath, '.lightly/predictions');
	let names = [];
	try { names = JSON.parse(fs.readFileSync(path.join(base, 'tasks.json'), 'utf8')); } catch { return []; }
	return names.map((name) => {
		const s = JSON.parse(fs.readFileSync(path.join(base, name, 'schema.json'), 'utf8'));
		return { name, taskType: s.task_type, scores: SCORES[s.task_type] || [], defaultScore: s.task_type === 'keypoint-detection' ? 'mean_uncertainty' : 'uncertainty_margin' };
	});
}
function bits(hex) { let b = BigInt(hex || '0x0'); const out = []; for (let i = 0; b > 0n; i++, b >>= 1n) if (b & 1n) out.push(i); return out; }

async function handle(req, res, who, url, body) {
	const p = url.pathname; const m = req.method; const seg = p.split('/').filter(Boolean);
	const json = (o, s = 200) => { res.writeHead(s, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(o)); };
	const need = (role) => { if (!who) fail(401, 'no valid token', 'UNAUTHORIZED'); if (who.role !== role) fail(403, `this route is for role ${role}`, 'FORBIDDEN'); };
	const either = () => { if (!who) fail(401, 'no valid token', 'UNAUTHORIZED'); };
	const ds = (i) => db.datasets.get(i) || fail(404, 'no such dataset', 'NOT_FOUND');
	// winnow's own worker routes (SPEC 7), served by the mock's handlers of the same calls
	if (seg[1] === 'winnow' && seg[2] === 'datasets' && (seg[4] === 'samples' || seg[4] === 'datapools')) {
		return handle(req, res, who, new URL(url.href.replace('/v1/winnow/datasets/', '/v1/datasets/')), body);
	}
	if (seg[1] === 'winnow' && seg[2] === 'runs' && seg[4] === 'files' && m === 'POST') {
		return handle(req, res, who, new URL(url.href.replace('/v1/winnow/runs/', '/v1/docker/runs/').replace(/\/files$/, '/artifacts')), body);
	}
	if (seg[1] === 'winnow' && seg[2] === 'runs' && seg[4] === 'progress' && m === 'PUT') {
		need('worker'); const r = db.runs.get(seg[3]) || fail(404, 'no such run', 'NOT_FOUND');
		r.progress = body.progress; r.lastModifiedAt = now(); return json({ abortRequested: !!r.abortRequested });
	}
	if (seg[2] === 'runs' && seg[4] === 'artifacts' && seg[6] === 'confirmUpload' && m === 'PUT') { need('worker'); return json({}); }
	if (p === '/login' && m === 'POST') {
		const t = TOKENS[body && body.token];
		if (!t || t.role !== 'user') fail(401, 'not a valid user token', 'UNAUTHORIZED');
		const sid = id(); sessions.set(sid, t);
		res.setHeader('Set-Cookie', `winnow_session=${sid}; HttpOnly; SameSite=Strict; Path=/`);
		return json({ userId: t.userId, name: t.name });
	}
	if (p === '/logout' && m === 'POST') { res.setHeader('Set-Cookie', 'winnow_session=; Max-Age=0; Path=/'); return json({}); }
	if (p === '/v1/winnow/me') { either(); return json({ userId: who.userId, name: who.name, role: who.role }); }
	// SPEC 8's sharing, as the dataset page reads it (one user in the mock: nobody to share with)
	if (seg[1] === 'winnow' && seg[2] === 'datasets' && seg[4] === 'shares' && m === 'GET') {
		need('user'); const d = ds(seg[3]); return json({ ownerId: d.userId || who.userId, ownerName: who.name, users: [] });
	}
	if (p === '/v1/datasets' && m === 'GET') { need('user'); return json([...db.datasets.values()].map((d) => ({ ...d, nSamples: (db.samples.get(d.id) || []).length }))); }
	if (p === '/v1/datasets' && m === 'POST') {
		need('user');
		if (!body.name || typeof body.name !== 'string') fail(400, 'name: required', 'BAD_REQUEST');
		if ([...db.datasets.values()].some((d) => d.name === body.name)) fail(409, `a dataset named "${body.name}" exists`, 'CONFLICT');
		const d = { id: id(), name: body.name, userId: who.userId, type: 'Images', sizeInBytes: 0, createdAt: now(), lastModifiedAt: now() };
		db.datasets.set(d.id, d); db.samples.set(d.id, []); return json({ id: d.id }, 201);
	}
	if (seg[0] === 'v1' && seg[1] === 'winnow' && seg[2] === 'datasets' && seg[4] === 'tags' && seg.length === 5 && m === 'GET') {
		need('user'); return json([...db.tags.values()].filter((t) => t.datasetId === seg[3]));
	}
	if (seg[0] === 'v1' && seg[1] === 'datasets' && seg.length >= 3) {
		const did = seg[2]; const rest = seg.slice(3).join('/');
		if (rest === '' && m === 'GET') { either(); const d = ds(did); return json({ ...d, nSamples: db.samples.get(did).length }); }
		if (rest === 'datasource' && m === 'PUT') {
			need('user'); ds(did);
			const fp = path.resolve(String(body.fullPath || ''));
			if (!roots.some((r) => fp === r || fp.startsWith(r + '/'))) fail(400, `fullPath: ${body.fullPath} is not under a --dataset-root (${roots.join(', ')})`, 'DATASET_DATASOURCE_INVALID');
			if (!fs.existsSync(fp)) fail(400, `fullPath: ${body.fullPath}: no such folder`, 'DATASET_DATASOURCE_INVALID');
			db.sources.set(did, { type: 'LOCAL', fullPath: fp }); return json({});
		}
		if (rest === 'datasource' && m === 'GET') { either(); ds(did); return json(db.sources.get(did) || fail(404, 'no datasource', 'NOT_FOUND')); }
		if (rest === 'tasks') { need('user'); ds(did); return json(tasksOf(did)); }
		if (rest === 'docker/worker/schedule' && m === 'POST') {
			need('user'); ds(did);
			if (!db.configs.has(body.configId)) fail(400, 'configId: no such config', 'BAD_REQUEST');
			const s = { id: id(), datasetId: did, configId: body.configId, priority: body.priority || 'MID', runsOn: body.runsOn || [], state: 'OPEN', createdAt: now(), lastModifiedAt: now() };
			db.sched.set(s.id, s); return json({ id: s.id }, 201);
		}
		if (rest === 'docker/worker/schedule' && m === 'GET') { either(); return json([...db.sched.values()].filter((s) => s.datasetId === did)); }
		if (seg[3] === 'docker' && seg[4] === 'worker' && seg[5] === 'schedule' && seg.length === 7 && m === 'PUT') {
			need('user'); const s = db.sched.get(seg[6]) || fail(404, 'no such scheduled run', 'NOT_FOUND');
			if (s.state !== 'OPEN') fail(409, `the scheduled run is ${s.state}`, 'CONFLICT');
			s.state = 'CANCELED'; s.lastModifiedAt = now(); res.writeHead(204); return res.end();
		}
		if (seg[3] === 'docker' && seg[4] === 'worker' && seg[6] === 'schedule' && m === 'PUT') {
			need('worker'); const s = db.sched.get(seg[7]) || fail(404, 'no such scheduled run', 'NOT_FOUND');
			if (body.state === 'LOCKED' && s.workerId && s.workerId !== seg[5]) fail(409, 'another worker holds it', 'CONFLICT');
			s.state = body.state; s.workerId = seg[5]; s.lastModifiedAt = now(); return json({});
		}
		if (rest === 'samples/batch' && m === 'POST') {
			need('worker'); const list = db.samples.get(did);
			for (const x of body) if (!list.includes(x.fileName)) list.push(x.fileName);
			return json({});
		}
		if (rest === 'mappings') { either(); return json(db.samples.get(did)); }
		if (rest === 'tags' && m === 'GET') { either(); return json([...db.tags.values()].filter((t) => t.datasetId === did)); }
		if (rest === 'tags' && m === 'POST') {
			need('worker');
			const ex = [...db.tags.values()].find((t) => t.datasetId === did && t.name === body.name);
			if (ex) return json({ id: ex.id });
			const t = { id: id(), datasetId: did, ...body, createdAt: now() }; db.tags.set(t.id, t); return json({ id: t.id }, 201);
		}
		if (seg[3] === 'tags' && seg[5] === 'scores' && m === 'POST') { need('worker'); db.scores.set(`${seg[4]}/${body.scoreType}`, body.scores); return json({}); }
		if (seg[3] === 'tags' && seg[5] === 'scores' && seg.length === 6) { either(); return json([...db.scores.keys()].filter((k) => k.startsWith(seg[4] + '/')).map((k) => ({ scoreType: k.split('/')[1] }))); }
		if (seg[3] === 'tags' && seg[5] === 'scores' && seg.length === 7) { either(); const s = db.scores.get(`${seg[4]}/${seg[6]}`) || fail(404, 'no such score', 'NOT_FOUND'); return json({ scoreType: seg[6], scores: s }); }
		if (rest === 'samples/thumbnail') {
			either(); const src = db.sources.get(did) || fail(404, 'no datasource', 'NOT_FOUND');
			const f = path.resolve(src.fullPath, url.searchParams.get('fileName') || '');
			if (!f.startsWith(src.fullPath + '/') || !fs.existsSync(f)) fail(404, 'no such sample', 'NOT_FOUND');
			res.writeHead(200, { 'Content-Type': MIME[path.extname(f).toLowerCase()] || 'application/octet-stream' }); return res.end(fs.readFileSync(f));
		}
	}
	// winnow's own views (SPEC 7): every scheduled state with workerId; runs with progress and the abort flag
	if (seg[1] === 'winnow' && seg[2] === 'datasets' && seg[4] === 'schedule' && seg.length === 5 && m === 'GET') { need('user'); ds(seg[3]); return json([...db.sched.values()].filter((s) => s.datasetId === seg[3])); }
	if (p === '/v1/winnow/runs' && m === 'GET') {
		need('user'); const d = url.searchParams.get('datasetId'), s = url.searchParams.get('scheduledId');
		return json([...db.runs.values()].filter((r) => (!d || r.datasetId === d) && (!s || r.scheduledId === s)).map((r) => ({ ...r, abortRequested: !!r.abortRequested })));
	}
	if (seg[1] === 'winnow' && seg[2] === 'runs' && seg.length >= 4) {
		need('user'); const r = db.runs.get(seg[3]) || fail(404, 'no such run', 'NOT_FOUND');
		if (seg.length === 4 && m === 'GET') return json({ ...r, abortRequested: !!r.abortRequested });
		if (seg[4] === 'abort' && m === 'POST') { if (['COMPLETED', 'FAILED', 'CRASHED', 'ABORTED'].includes(r.state)) fail(409, `the run is ${r.state}`, 'CONFLICT'); r.abortRequested = true; return json({ ...r }); }
	}
	if (p === '/v1/docker/worker/config' && m === 'POST') {
		need('user'); const errs = validate(body.config && body.config.docker);
		if (errs.length) return json({ code: 'DOCKER_WORKER_CONFIG_INVALID', error: `invalid config (${errs.length} error(s))` }, 400);
		const c = { id: id(), config: body.config, createdAt: now() }; db.configs.set(c.id, c); return json({ id: c.id }, 201);
	}
	if (p === '/v1/winnow/configs/validate') { need('user'); return json({ errors: validate(body.config && body.config.docker) }); }
	if (seg[2] === 'worker' && seg[3] === 'config' && seg.length === 5) { either(); return json(db.configs.get(seg[4]) || fail(404, 'no such config', 'NOT_FOUND')); }
	if (p === '/v1/docker/worker' && m === 'POST') {
		need('worker'); let w = [...db.workers.values()].find((x) => x.name === body.name);
		if (!w) { w = { id: id(), userId: who.userId, name: body.name, workerType: body.workerType || 'FULL', labels: body.labels || [], state: 'IDLE', createdAt: now(), lastModifiedAt: now() }; db.workers.set(w.id, w); }
		return json({ id: w.id });
	}
	if (p === '/v1/docker/worker' && m === 'GET') { need('user'); return json([...db.workers.values()]); }
	if (p === '/v1/winnow/workers' && m === 'GET') { need('user'); return json([...db.workers.values()].map((w) => ({ ...w, lastSeenAt: w.lastModifiedAt }))); }
	if (seg[2] === 'worker' && seg.length === 4 && m === 'PUT') { need('worker'); const w = db.workers.get(seg[3]) || fail(404, 'no such worker', 'NOT_FOUND'); w.state = body.state; w.lastModifiedAt = now(); return json({}); }
	if (seg[2] === 'worker' && seg.length === 4 && m === 'GET') { either(); return json(db.workers.get(seg[3]) || fail(404, 'no such worker', 'NOT_FOUND')); }
	if (seg[2] === 'worker' && seg[4] === 'schedule') { need('worker'); const st = url.searchParams.get('state') || 'OPEN'; return json([...db.sched.values()].filter((s) => s.state === st && (st === 'OPEN' || s.workerId === seg[3]))); }
	if (p === '/v1/docker/runs' && m === 'POST') {
		need('worker'); let r = [...db.runs.values()].find((x) => x.scheduledId === body.scheduledId);
		if (!r) { r = { id: id(), userId: who.userId, dockerVersion: body.dockerVersion, datasetId: body.datasetId, scheduledId: body.scheduledId, configId: body.configId, state: 'STARTED', message: '', progress: 0, createdAt: now(), lastModifiedAt: now() }; db.runs.set(r.id, r); db.logs.set(r.id, []); }
		return json({ id: r.id });
	}
	if (p === '/v1/docker/runs' && m === 'GET') { need('user'); const d = url.searchParams.get('datasetId'); return json([...db.runs.values()].filter((r) => !d || r.datasetId === d)); }
	if (seg[2] === 'runs' && seg[3] === 'schedule') { either(); return json([...db.runs.values()].find((r) => r.scheduledId === seg[4]) || fail(404, 'no run for this scheduled run yet', 'NOT_FOUND')); }
	if (seg[2] === 'runs' && seg.length >= 4) {
		const r = db.runs.get(seg[3]) || fail(404, 'no such run', 'NOT_FOUND');
		const rest = seg.slice(4).join('/');
		// winnow's run (the pages') adds every artifact and run file; Lightly's has none of winnow's fields here
		if (rest === '' && m === 'GET') {
			either(); if (seg[1] !== 'winnow') return json(r);
			return json({ ...r, artifacts: [...db.artifacts.values()].filter((a) => a.runId === r.id).map((a) => ({ id: a.id, type: a.type, fileName: a.fileName, uploaded: a.content !== null, size: a.content ? a.content.length : 0 })) });
		}
		if (rest === '' && m === 'PUT') { need('worker'); Object.assign(r, { state: body.state, message: body.message ?? r.message, progress: body.state === 'COMPLETED' ? 1 : r.progress, lastModifiedAt: now() }); return json({}); }
		if (rest === 'abort') { need('user'); if (['COMPLETED', 'FAILED', 'CRASHED', 'ABORTED'].includes(r.state)) fail(409, `the run is ${r.state}`, 'CONFLICT'); r.abortRequested = true; return json({}); }
		if (rest === 'logs' && m === 'PUT') { need('worker'); const L = db.logs.get(r.id); for (const l of body) L.push(l); return json({}); }
		if (rest === 'logs' && m === 'GET') { either(); const c = Number(url.searchParams.get('cursor') ?? 0); const L = db.logs.get(r.id).slice(c); return json({ cursor: c + L.length, logs: L }); }
		if (rest === 'artifacts' && m === 'POST') {
			need('worker'); let a = [...db.artifacts.values()].find((x) => x.runId === r.id && x.fileName === body.fileName);
			if (!a) { a = { id: id(), runId: r.id, fileName: body.fileName, type: body.type, sig: id(), content: null }; db.artifacts.set(a.id, a); }
			return json({ signedWriteUrl: `http://${req.headers.host}/v1/winnow/artifacts/${a.id}/content?sig=${a.sig}`, artifactId: a.id });
		}
		if (seg[1] === 'winnow' && seg[4] === 'artifacts' && seg[6] === 'content') { either(); const a = db.artifacts.get(seg[5]) || fail(404, 'no such artifact', 'NOT_FOUND'); res.writeHead(200, { 'Content-Type': 'application/octet-stream' }); return res.end(a.content); }
		if (seg[1] === 'winnow' && rest === 'results') {
			either(); const did = r.datasetId; const names = db.samples.get(did);
			const tags = [...db.tags.values()].filter((t) => t.runId === r.id);
			const cand = tags.find((t) => !t.prevTagId); const sel = tags.find((t) => t.prevTagId);
			if (!cand) fail(404, 'the run has no results yet', 'NOT_FOUND');
			const ci = bits(cand.bitMaskData); const ss = new Set(sel ? bits(sel.bitMaskData) : []);
			const types = [...db.scores.keys()].filter((k) => k.startsWith(cand.id + '/')).map((k) => k.split('/')[1]);
			let items = ci.map((i, k) => ({ index: i, fileName: names[i], selected: ss.has(i), scores: Object.fromEntries(types.map((t) => [t, db.scores.get(`${cand.id}/${t}`)[k]])) }));
			const f = url.searchParams.get('selected') || 'all';
			if (f === '1') items = items.filter((x) => x.selected); else if (f === '0') items = items.filter((x) => !x.selected);
			const sort = url.searchParams.get('sort') || 'fileName'; const dir = url.searchParams.get('order') === 'desc' ? -1 : 1;
			if (sort !== 'fileName' && !types.includes(sort)) fail(400, `sort: unknown score type ${sort}`, 'BAD_REQUEST');
			items.sort((a, b) => { const va = sort === 'fileName' ? a.fileName : a.scores[sort]; const vb = sort === 'fileName' ? b.fileName : b.scores[sort]; return (va < vb ? -1 : va > vb ? 1 : a.index - b.index) * (va === vb ? 1 : dir); });
			const off = Number(url.searchParams.get('offset') || 0), lim = Number(url.searchParams.get('limit') || 50);
			return json({ total: items.length, items: items.slice(off, off + lim) });
		}
	}
	if (seg[1] === 'winnow' && seg[2] === 'artifacts' && seg[4] === 'content' && m === 'PUT') {
		const a = db.artifacts.get(seg[3]) || fail(404, 'no such artifact', 'NOT_FOUND');
		if (url.searchParams.get('sig') !== a.sig) fail(403, 'bad signature', 'FORBIDDEN');
		a.content = body; return json({});
	}
	if (p.startsWith('/v1/')) fail(404, `no route ${m} ${p}`, 'NOT_FOUND');
	// static files
	let f = path.join(staticDir, path.normalize(decodeURIComponent(p)).replace(/^(\.\.[/\\])+/, ''));
	if (p.endsWith('/')) f = path.join(f, 'index.html');
	if (!f.startsWith(staticDir) || !fs.existsSync(f) || fs.statSync(f).isDirectory()) fail(404, 'not found', 'NOT_FOUND');
	res.writeHead(200, { 'Content-Type': MIME[path.extname(f)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
	res.end(fs.readFileSync(f));
}

http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', async () => {
		const url = new URL(req.url, 'http://x');
		const raw = Buffer.concat(chunks);
		const auth = (req.headers.authorization || '').replace(/^Bearer /, '') || url.searchParams.get('token');
		const cookie = (req.headers.cookie || '').match(/winnow_session=([0-9a-f]+)/);
		const who = TOKENS[auth] || (cookie && sessions.get(cookie[1])) || null;
		let body = raw;
		if (!url.pathname.startsWith('/v1/winnow/artifacts/')) { try { body = raw.length ? JSON.parse(raw) : {}; } catch { body = {}; } }
		try { await handle(req, res, who, url, body); } catch (e) {
			if (!(e instanceof HttpErr)) console.error(e);
			res.writeHead(e.s || 500, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: e.message, code: e.code || 'INTERNAL', ...(e.errors ? { errors: e.errors } : {}) }));
		}
	});
}).listen(Number(port), host, () => console.log(`mock winnow-web on http://${host}:${port}`));
