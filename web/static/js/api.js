// The HTTP calls of the pages (docs/api.md). Every failure becomes an ApiError that
// carries the status and Lightly's ApiErrorResponse: the server's message and code.

export class ApiError extends Error {
	constructor(status, body, method, path) {
		const msg = (body && (body.error || body.message)) || (status ? `HTTP ${status}` : 'network error');
		super(msg);
		this.name = 'ApiError';
		this.status = status;
		this.code = (body && body.code) || '';
		this.method = method;
		this.path = path;
	}
	// One line for a banner: what was asked and what the server said.
	describe() {
		const where = `${this.method} ${this.path.replace(/[?].*$/, '')}`;
		const st = this.status ? `${this.status}${this.code ? ' ' + this.code : ''}` : 'no answer';
		return `${where} failed (${st}): ${this.message}`;
	}
}

let unauthorizedHandler = null;
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export async function api(method, path, body, { raw = false, signal } = {}) {
	const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', signal };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch (e) {
		if (e && e.name === 'AbortError') throw e;
		throw new ApiError(0, { error: `the server did not answer (${e.message})` }, method, path);
	}
	if (!res.ok) {
		let data = null;
		const text = await res.text().catch(() => '');
		try { data = JSON.parse(text); } catch { data = { error: text.trim().slice(0, 300) || res.statusText || `HTTP ${res.status}` }; }
		const err = new ApiError(res.status, data, method, path);
		if (res.status === 401 && unauthorizedHandler && !path.startsWith('/login')) unauthorizedHandler(err);
		throw err;
	}
	if (raw) return res;
	const text = await res.text();
	if (!text) return null;
	try { return JSON.parse(text); } catch {
		throw new ApiError(res.status, { error: 'the answer is not JSON' }, method, path);
	}
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);

export async function getText(path) {
	const res = await api('GET', path, undefined, { raw: true });
	return res.text();
}

// 404 means "not there (yet)": null instead of an error.
export async function getOrNull(path) {
	try { return await get(path); } catch (e) {
		if (e instanceof ApiError && e.status === 404) return null;
		throw e;
	}
}

export const enc = encodeURIComponent;

// Lists may come bare or wrapped ({items: [...]}, {data: [...]}).
export function asList(x, ...keys) {
	if (Array.isArray(x)) return x;
	if (x && typeof x === 'object') {
		for (const k of [...keys, 'items', 'data', 'results']) if (Array.isArray(x[k])) return x[k];
	}
	return [];
}
