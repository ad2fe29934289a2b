// The brownoutd API: token handling, JSON requests, uploads, downloads.

export const TOKEN_KEY = 'brownout.token';
export const API = '/api/v1';

function readToken() {
	try {
		return localStorage.getItem(TOKEN_KEY) || null;
	} catch {
		return null;
	}
}

/* The session: token (or null), user ({id, name, admin}) once /me answered,
 * publicRead (true when GETs work without a token). */
export const session = {
	token: readToken(),
	user: null,
	publicRead: false,
	onUnauthorized: null, // set by app.js: called when a stored token is refused
};

export function storeToken(token) {
	session.token = token || null;
	try {
		if (token) localStorage.setItem(TOKEN_KEY, token);
		else localStorage.removeItem(TOKEN_KEY);
	} catch {
		/* private mode: keep it in memory */
	}
}

export function canWrite() {
	return Boolean(session.token && session.user);
}

/* Whether the signed-in user may change something owned by OWNER. */
export function mayChange(owner) {
	return Boolean(session.user && (session.user.admin || session.user.name === owner));
}

export class ApiError extends Error {
	constructor(status, code, message, field = null, body = null) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
		this.field = field;
		this.body = body;
	}

	/* "message (404 not_found)", or the network message. */
	describe() {
		if (this.status === 0) return this.message;
		return `${this.message} (${this.status} ${this.code})`;
	}
}

export function isAbort(e) {
	return e && e.name === 'AbortError';
}

async function errorFrom(res) {
	let body = null;
	try {
		body = await res.json();
	} catch {
		/* not JSON */
	}
	const e = body && body.error;
	if (e && typeof e.message === 'string') {
		return new ApiError(res.status, e.code || 'error', e.message, e.field ?? null, body);
	}
	return new ApiError(res.status, 'http', `${res.status} ${res.statusText || 'error'}`.trim(), null, body);
}

function authHeaders(headers, token) {
	const t = token === undefined ? session.token : token;
	if (t) headers.set('Authorization', `Bearer ${t}`);
	return headers;
}

/* request(path, {method, json, body, headers, etag, signal, token, raw})
 * -> {status, data, etag, headers, response}. Throws ApiError (status 0 for
 * network errors) or an AbortError. A 304 (with etag) answers data null. */
export async function request(path, opts = {}) {
	const headers = authHeaders(new Headers(opts.headers || {}), opts.token);
	let body = opts.body;
	if (opts.json !== undefined) {
		headers.set('Content-Type', 'application/json');
		body = JSON.stringify(opts.json);
	}
	if (opts.etag) headers.set('If-None-Match', opts.etag);
	let res;
	try {
		res = await fetch(path.startsWith('/') ? path : `${API}/${path}`, {
			method: opts.method || 'GET',
			headers,
			body,
			signal: opts.signal,
			cache: 'no-store',
			credentials: 'omit',
			redirect: 'error',
		});
	} catch (e) {
		if (isAbort(e)) throw e;
		throw new ApiError(0, 'network', 'Network error: brownoutd cannot be reached. Is it running?');
	}
	const etag = res.headers.get('ETag');
	if (res.status === 304) return {status: 304, data: null, etag, headers: res.headers, response: res};
	if (!res.ok) {
		const err = await errorFrom(res);
		if (res.status === 401 && opts.token === undefined && session.token && session.onUnauthorized) {
			session.onUnauthorized(err);
		}
		throw err;
	}
	if (opts.raw) return {status: res.status, data: null, etag, headers: res.headers, response: res};
	let data = null;
	if (res.status !== 204) {
		const text = await res.text();
		if (text) {
			try {
				data = JSON.parse(text);
			} catch {
				throw new ApiError(res.status, 'malformed', 'The server answered something that is not JSON');
			}
		}
	}
	return {status: res.status, data, etag, headers: res.headers, response: res};
}

export async function get(path, opts) {
	return (await request(path, opts)).data;
}

export async function post(path, json, opts = {}) {
	return (await request(path, {...opts, method: 'POST', json})).data;
}

export async function del(path, opts = {}) {
	return (await request(path, {...opts, method: 'DELETE'})).data;
}

/* Every item of a list endpoint, following next_after (at most maxPages pages). */
export async function listAll(path, opts = {}, maxPages = 20) {
	const items = [];
	let after = null;
	for (let i = 0; i < maxPages; i++) {
		const sep = path.includes('?') ? '&' : '?';
		const page = await get(`${path}${sep}limit=200${after ? `&after=${after}` : ''}`, opts);
		items.push(...page.items);
		if (page.next_after === null || page.next_after === undefined) break;
		after = page.next_after;
	}
	return items;
}

/* Uploads with progress (XMLHttpRequest: fetch cannot report upload progress).
 * body: a File/Blob (raw) or FormData (multipart). -> {status, data}. */
export function upload(path, body, {onProgress, signal, contentType} = {}) {
	return new Promise((resolve, reject) => {
		const xhr = new XMLHttpRequest();
		xhr.open('POST', path.startsWith('/') ? path : `${API}/${path}`);
		if (session.token) xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
		if (contentType) xhr.setRequestHeader('Content-Type', contentType);
		xhr.responseType = 'text';
		if (onProgress) {
			xhr.upload.addEventListener('progress', (ev) => {
				if (ev.lengthComputable) onProgress(ev.loaded / ev.total);
			});
		}
		if (signal) {
			signal.addEventListener('abort', () => xhr.abort());
		}
		xhr.addEventListener('load', () => {
			let body = null;
			try {
				body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
			} catch {
				body = null;
			}
			if (xhr.status >= 200 && xhr.status < 300) {
				resolve({status: xhr.status, data: body});
				return;
			}
			const e = body && body.error;
			const err = e ? new ApiError(xhr.status, e.code, e.message, e.field ?? null, body)
				: new ApiError(xhr.status, 'http', `${xhr.status} ${xhr.statusText}`);
			if (xhr.status === 401 && session.token && session.onUnauthorized) session.onUnauthorized(err);
			reject(err);
		});
		xhr.addEventListener('error', () => reject(new ApiError(0, 'network',
			'Network error during the upload: brownoutd cannot be reached, or it closed the connection (a file over --upload-limit?)')));
		xhr.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
		xhr.send(body);
	});
}

/* Fetch PATH with the token and return a Blob URL (the caller revokes it). */
export async function blobUrl(path, signal) {
	const {response} = await request(path, {raw: true, signal});
	const blob = await response.blob();
	return URL.createObjectURL(blob);
}

/* Prometheus text -> {name: value} for series without labels. */
export function parseMetrics(text) {
	const out = {};
	for (const line of text.split('\n')) {
		if (!line || line.startsWith('#')) continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
		if (!m) continue;
		const v = Number(m[3]);
		if (m[2]) {
			(out[`${m[1]}{}`] ||= []).push({labels: m[2], value: v});
		} else {
			out[m[1]] = v;
		}
	}
	return out;
}

export async function metrics(signal) {
	let res;
	try {
		res = await fetch('/metrics', {cache: 'no-store', signal, credentials: 'omit'});
	} catch (e) {
		if (isAbort(e)) throw e;
		throw new ApiError(0, 'network', 'Network error: brownoutd cannot be reached. Is it running?');
	}
	if (!res.ok) throw await errorFrom(res);
	return parseMetrics(await res.text());
}
