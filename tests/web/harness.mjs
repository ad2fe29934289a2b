// What the browser tests need besides the browser: brownoutd on a free
// loopback port in a temporary data directory, its admin commands, and
// plain API calls. Node's standard library only.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const FIXTURES = path.join(REPO, 'tests', 'fixtures');
export const DATASETS_ROOT = '/usr/share/datasets';
export const FMNIST = path.join(DATASETS_ROOT, 'fashion-mnist');
export const WEB = process.env.BO_WEB || path.join(REPO, 'web');  // BO_WEB: another dashboard directory

const START_DEADLINE_MS = 30000;
const STOP_DEADLINE_MS = 30000;
const TOKEN_RE = /^bo_[A-Za-z0-9_-]{43}$/;
const LISTEN_RE = /^brownoutd: listening on (http:\/\/127\.0\.0\.1:[0-9]+)\/$/;

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// `brownoutd user add ...`: the one token line it prints.
export function adminCmd(build, data, ...args) {
	const binary = path.join(build, 'brownoutd');
	const r = spawnSync(binary, [...args, '--data', data], { encoding: 'utf8', timeout: 60000 });
	if (r.status !== 0)
		throw new Error(`brownoutd ${args.join(' ')}: exit ${r.status}: ${r.stderr || r.error}`);
	const lines = r.stdout.split('\n').filter((l) => l !== '');
	if (lines.length !== 1 || !TOKEN_RE.test(lines[0]))
		throw new Error(`brownoutd ${args.join(' ')} must print one token line, printed ${JSON.stringify(r.stdout)}`);
	return lines[0];
}

// One brownoutd on 127.0.0.1 with a port of its choosing; its stderr goes
// to logPath.
export class Daemon {
	constructor(build, data, logPath, extra = []) {
		this.binary = path.join(build, 'brownoutd');
		this.data = data;
		this.logPath = logPath;
		this.extra = extra;
		this.proc = null;
		this.base = null;
		this.exit = null;
	}

	argv() {
		return ['--listen', '127.0.0.1:0', '--data', this.data, '--workers', '2',
			'--threads-per-worker', '1', '--dataset-root', DATASETS_ROOT,
			'--dataset-root', FIXTURES, '--web', WEB, ...this.extra];
	}

	async start() {
		const log = fs.openSync(this.logPath, 'a');
		this.proc = spawn(this.binary, this.argv(), { stdio: ['ignore', 'pipe', log] });
		fs.closeSync(log);
		this.exited = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
			});
		});
		const seen = [];
		const lines = readline.createInterface({ input: this.proc.stdout });
		const listening = new Promise((resolve) => {
			lines.on('line', (line) => {
				seen.push(line);
				const m = LISTEN_RE.exec(line);
				if (m && !this.base) {
					this.base = m[1];
					resolve('listening');
				}
			});
		});
		const r = await Promise.race([listening, this.exited.then(() => 'exited'),
			sleep(START_DEADLINE_MS).then(() => 'timeout')]);
		if (r === 'listening')
			return this;
		if (r === 'timeout')
			this.proc.kill('SIGKILL');
		throw new Error(`brownoutd ${r === 'timeout' ? `printed no 'listening on' line within ${START_DEADLINE_MS / 1000} s`
			: `exited (${JSON.stringify(this.exit)}) before listening`}; stdout: ${JSON.stringify(seen)}\n${this.logTail()}`);
	}

	// SIGTERM; the exit {code, signal}, or null if it did not exit in time
	// (then it is killed).
	async stop() {
		if (!this.proc)
			return null;
		if (this.exit)
			return this.exit;
		this.proc.kill('SIGTERM');
		const r = await Promise.race([this.exited, sleep(STOP_DEADLINE_MS).then(() => null)]);
		if (r === null) {
			this.proc.kill('SIGKILL');
			await this.exited;
			return null;
		}
		return r;
	}

	kill() {
		if (this.proc && !this.exit)
			this.proc.kill('SIGKILL');
	}

	logTail(n = 40) {
		let text;
		try {
			text = fs.readFileSync(this.logPath, 'utf8');
		} catch {
			return '(no log)';
		}
		const lines = text.split('\n');
		return `brownoutd stderr (last ${n} lines of ${this.logPath}):\n` +
			lines.slice(-n).map((l) => '  ' + l).join('\n');
	}
}

// The API as one user: api.get('/jobs/1') etc. Answers {status, body}
// (body parsed as JSON where it is JSON, else text); api.ok(...) throws
// unless the status is 2xx.
export class Api {
	constructor(base, token) {
		this.base = base;
		this.token = token;
	}

	async request(method, p, body, headers = {}) {
		const h = { ...headers };
		if (this.token)
			h.Authorization = 'Bearer ' + this.token;
		let payload;
		if (body instanceof Uint8Array) {
			payload = body;
			h['Content-Type'] ??= 'application/octet-stream';
		} else if (body !== undefined) {
			payload = JSON.stringify(body);
			h['Content-Type'] ??= 'application/json';
		}
		const resp = await fetch(this.base + '/api/v1' + p, { method, headers: h, body: payload });
		const text = await resp.text();
		let parsed = text;
		if ((resp.headers.get('content-type') || '').includes('json') && text !== '')
			parsed = JSON.parse(text);
		return { status: resp.status, body: parsed, text };
	}

	async ok(method, p, body, headers) {
		const r = await this.request(method, p, body, headers);
		if (r.status < 200 || r.status > 299)
			throw new Error(`${method} /api/v1${p}: ${r.status} ${r.text.slice(0, 300)}`);
		return r.body;
	}

	get(p) {
		return this.ok('GET', p);
	}

	uploadModel(file, name) {
		return this.ok('POST', `/models?name=${encodeURIComponent(name)}`, fs.readFileSync(file));
	}

	// all jobs (every page of the list)
	async jobs() {
		const all = [];
		let after = null;
		for (;;) {
			const page = await this.get(`/jobs?limit=200${after === null ? '' : `&after=${after}`}`);
			all.push(...page.items);
			if (page.next_after === null)
				return all;
			after = page.next_after;
		}
	}

	// the job once it is done (failed, cancelled or past the deadline: throws)
	async waitJob(id, deadlineMs = 60000, want = 'done') {
		const end = Date.now() + deadlineMs;
		for (;;) {
			const job = await this.get(`/jobs/${id}`);
			if (job.state === want)
				return job;
			if (['done', 'failed', 'cancelled'].includes(job.state))
				throw new Error(`job ${id} ended ${job.state}, not ${want}: ${JSON.stringify(job.error)}`);
			if (Date.now() > end)
				throw new Error(`job ${id} still ${job.state} after ${deadlineMs / 1000} s`);
			await sleep(100);
		}
	}
}

// `brownout worker` against BASE with a worker token, its stderr to
// logPath; {proc, exited} (exited: a promise of {code, signal}).
export function startWorker(build, base, token, name, cache, logPath) {
	const log = fs.openSync(logPath, 'a');
	const proc = spawn(path.join(build, 'brownout'), ['worker', '--server', base, '--token', token,
		'--name', name, '--cache', cache], { stdio: ['ignore', 'ignore', log] });
	fs.closeSync(log);
	const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	return { proc, exited };
}
