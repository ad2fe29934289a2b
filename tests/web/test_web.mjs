// Browser tests of the brownoutd dashboard (web/): Debian's chromium,
// headless, driven by playwright-core, against a brownoutd of the test's
// own with a finished job in it.
//   node tests/web/test_web.mjs BUILD [--docs] [FILTER ...]
// FILTER: run only the tests whose name contains one of them. --docs
// writes the screenshots (PNG) to docs/screenshots/ instead of
// $BO_TEST_OUT_DIR/web/ (default build/test-output/web/); at 1400x1000, and
// some views at 390x844 too (NAME-phone.png). BO_KEEP_TMP=1
// keeps the data directory and the daemon's log; BO_WEB=DIR serves another
// dashboard directory than web/. Prints
// "web: N passed, N failed"; exits non-zero if a test failed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Api, Daemon, FIXTURES, FMNIST, REPO, adminCmd, sleep, startWorker } from './harness.mjs';

const CHROMIUM = process.env.BO_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
	'--disable-component-update', '--no-first-run'];
const VIEWPORT = { width: 1400, height: 1000 };
const PHONE = { width: 390, height: 844 };
const TOKEN_KEY = 'brownout.token';
const RESULT_FIELDS = ['accuracy_mean', 'accuracy_std', 'trials', 'energy', 'energy_reduction'];

// ---- arguments ------------------------------------------------------------

const argv = process.argv.slice(2);
const docs = argv.includes('--docs');
const positional = argv.filter((a) => a !== '--docs');
const build = path.resolve(positional[0] || path.join(REPO, 'build'));
const filters = positional.slice(1);
const outDir = path.resolve(REPO, process.env.BO_TEST_OUT_DIR || 'build/test-output', 'web');
const shotDir = docs ? path.join(REPO, 'docs', 'screenshots') : outDir;
fs.mkdirSync(outDir, { recursive: true });
fs.mkdirSync(shotDir, { recursive: true });
for (const f of fs.readdirSync(outDir))
	if (f.endsWith('.png'))
		fs.rmSync(path.join(outDir, f));

// ---- state shared by the tests ---------------------------------------------

const S = {
	tmp: null, daemon: null, api: null, browser: null,
	alice: null, bob: null,
	models: {}, dataset: null, job1: null, job2: null, formJob: null,
	w: null, // the remote-workers daemon (workersDaemon())
};

// ---- small helpers -----------------------------------------------------------

function log(msg) {
	console.log('    ' + msg);
}

// fn() until it answers truthy; that answer. Past the deadline: throws
// `what`, with the last answer (or error) seen.
async function poll(fn, what, timeoutMs = 10000, intervalMs = 50) {
	const end = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			last = await fn();
			if (last)
				return last;
		} catch (e) {
			last = 'error: ' + e.message.split('\n')[0];
		}
		if (Date.now() > end)
			throw new Error(`${what} (not within ${timeoutMs / 1000} s; last seen: ${JSON.stringify(last)})`);
		await sleep(intervalMs);
	}
}

function url(hash) {
	return `${S.daemon.base}/${hash}`;
}

async function goto(page, hash) {
	const resp = await page.goto(url(hash));
	if (resp && resp.status() !== 200)
		throw new Error(`GET ${url(hash)}: ${resp.status()}`);
}

async function waitView(page, view, timeoutMs = 10000) {
	try {
		await page.waitForSelector(`[data-view="${view}"]`, { state: 'visible', timeout: timeoutMs });
	} catch {
		const shown = await page.evaluate(() =>
			Array.from(document.querySelectorAll('[data-view]'), (e) => e.getAttribute('data-view')));
		throw new Error(`view "${view}" did not render its [data-view="${view}"] root within ` +
			`${timeoutMs / 1000} s (data-view roots present: ${JSON.stringify(shown)}, URL ${page.url()})`);
	}
}

// text of the element if it is visible, else null
async function visibleText(page, selector) {
	return page.evaluate((sel) => {
		for (const el of document.querySelectorAll(sel)) {
			const r = el.getBoundingClientRect();
			const st = getComputedStyle(el);
			if (r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none')
				return el.textContent.trim();
		}
		return null;
	}, selector);
}

async function storedToken(page) {
	return page.evaluate((k) => localStorage.getItem(k), TOKEN_KEY);
}

// What the canvases under `container` show: size, distinct colours, pixels
// not of the background (the first pixel's colour), and "chromatic" pixels
// (clearly not grey: a series rather than an axis or the grid).
async function canvasInfo(page, container) {
	return page.evaluate((sel) => {
		const out = [];
		for (const c of document.querySelectorAll(`${sel} canvas`)) {
			const info = { w: c.width, h: c.height, colors: 0, nonbg: 0, chromatic: 0 };
			out.push(info);
			if (!c.width || !c.height)
				continue;
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			const colors = new Set();
			const bg = [d[0], d[1], d[2], d[3]];
			for (let i = 0; i < d.length; i += 4) {
				if (colors.size < 4096)
					colors.add((d[i] << 24 | d[i + 1] << 16 | d[i + 2] << 8 | d[i + 3]) >>> 0);
				if (d[i] !== bg[0] || d[i + 1] !== bg[1] || d[i + 2] !== bg[2] || d[i + 3] !== bg[3])
					info.nonbg++;
				if (d[i + 3] > 128 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60)
					info.chromatic++;
			}
			info.colors = colors.size;
		}
		return out;
	}, container);
}

// The plot in `container` has a canvas with something drawn on it.
async function expectPlot(page, container) {
	await page.waitForSelector(`${container} canvas`, { state: 'attached', timeout: 10000 })
		.catch(() => { throw new Error(`no canvas in ${container}`); });
	const infos = await poll(async () => {
		const all = await canvasInfo(page, container);
		return all.some((i) => i.colors > 1 && i.nonbg > i.w * i.h / 1000) ? all : null;
	}, `${container}: a canvas with something drawn on it`, 8000, 100);
	const best = infos.reduce((a, b) => (b.nonbg > a.nonbg ? b : a));
	log(`${container}: canvas ${best.w}x${best.h}, ${best.colors} colours, ` +
		`${best.nonbg} non-background pixels, ${best.chromatic} coloured`);
}

// The results table shows exactly the API's points: one row per point,
// data-value of each field as String(value), "" for null.
async function checkResultsTable(page, points) {
	const want = points.map((pt) => ({
		key: String(pt.p),
		fields: Object.fromEntries(RESULT_FIELDS.map((f) => [f, pt[f] === null || pt[f] === undefined ? '' : String(pt[f])])),
	}));
	await page.waitForSelector('table#results-table', { state: 'visible', timeout: 10000 })
		.catch(() => { throw new Error('no visible table#results-table'); });
	await poll(() => page.evaluate((n) => document.querySelectorAll('#results-table tbody tr').length === n, want.length),
		`table#results-table: ${want.length} rows in tbody (one per point of the API's results)`, 10000);
	const bad = await page.evaluate(([rows, fields]) => {
		const out = [];
		for (const r of rows) {
			const trs = document.querySelectorAll(`#results-table tbody tr[data-p="${CSS.escape(r.key)}"]`);
			if (trs.length !== 1) {
				const have = Array.from(document.querySelectorAll('#results-table tbody tr'), (t) => t.getAttribute('data-p'));
				out.push(`${trs.length} rows with data-p="${r.key}" (data-p of the rows: ${JSON.stringify(have)})`);
				continue;
			}
			for (const f of fields) {
				const td = trs[0].querySelector(`td[data-field="${f}"]`);
				if (!td) {
					out.push(`p=${r.key}: no td[data-field="${f}"]`);
					continue;
				}
				const got = td.getAttribute('data-value');
				if (got !== r.fields[f])
					out.push(`p=${r.key} ${f}: data-value ${JSON.stringify(got)}, the API says ${JSON.stringify(r.fields[f])}`);
				else if (r.fields[f] !== '' && td.textContent.trim() === '')
					out.push(`p=${r.key} ${f}: the cell shows no text for ${r.fields[f]}`);
				else if (f === 'energy_reduction' && r.fields[f] !== '' &&
					 !td.textContent.includes(Number(r.fields[f]) < 1 ? 'more' : 'less'))
					out.push(`p=${r.key} ${f}: ratio ${r.fields[f]} shown as "${td.textContent}" (below 1 is an increase, "× more")`);
			}
		}
		return out;
	}, [want, RESULT_FIELDS]);
	assert.ok(bad.length === 0, 'results table differs from GET /api/v1/jobs/ID/results:\n      ' + bad.join('\n      '));
}

// Select, in the <select> `selector`, the option of object {id, name}
// (value = id, or text containing the name); its value.
async function chooseOption(page, selector, obj, timeoutMs = 10000) {
	const value = await poll(() => page.evaluate(([sel, id, name]) => {
		const s = document.querySelector(sel);
		if (!s)
			return null;
		for (const o of s.options)
			if (o.value === id)
				return o.value;
		for (const o of s.options)
			if (o.textContent.includes(name))
				return o.value;
		return null;
	}, [selector, String(obj.id), obj.name]), `${selector} offers an option for ${obj.name} (id ${obj.id})`, timeoutMs);
	await page.selectOption(selector, value);
	return value;
}

async function fillForm(page, values) {
	for (const [name, v] of Object.entries(values))
		await page.fill(`#submit-form [name="${name}"]`, v);
}

async function jobCount() {
	return (await S.api.jobs()).length;
}

async function screenshot(page, name) {
	await page.screenshot({ path: path.join(shotDir, name + '.png') });
}

async function tabTo(page, selector, maxTabs = 150) {
	for (let i = 0; i <= maxTabs; i++) {
		if (await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), selector))
			return i;
		await page.keyboard.press('Tab');
	}
	const at = await page.evaluate(() => document.activeElement && document.activeElement.outerHTML.slice(0, 120));
	throw new Error(`${maxTabs} Tab presses never focused ${selector} (focus is on ${at})`);
}

// ---- the test runner -------------------------------------------------------------

const tests = [];
function test(name, fn, timeoutMs = 30000) {
	tests.push({ name, fn, timeoutMs });
}

// One test's pages: each in a context of its own (its own localStorage),
// 1400x1000 (or the viewport given), console errors and uncaught exceptions collected on page.errors.
class TestCtx {
	constructor(name) {
		this.name = name;
		this.contexts = [];
		this.pages = [];
	}

	async newPage({ token = null, viewport = VIEWPORT } = {}) {
		const context = await S.browser.newContext({ viewport, acceptDownloads: true });
		this.contexts.push(context);
		if (token)
			await context.addInitScript(([k, t]) => localStorage.setItem(k, t), [TOKEN_KEY, token]);
		const page = await context.newPage();
		page.setDefaultTimeout(10000);
		page.errors = [];
		page.on('console', (m) => {
			if (m.type() === 'error') {
				const loc = m.location();
				page.errors.push(`console.error: ${m.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
			}
		});
		page.on('pageerror', (e) => page.errors.push(`uncaught: ${e.message}`));
		this.pages.push(page);
		return page;
	}

	async close() {
		for (const c of this.contexts)
			await c.close().catch(() => {});
	}
}

function slug(s) {
	return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

// ---- setup: brownoutd with users, models, a dataset, two finished jobs ----------

async function setup() {
	S.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-web-'));
	const data = path.join(S.tmp, 'data');
	S.alice = adminCmd(build, data, 'user', 'add', 'alice', '--admin');
	S.bob = adminCmd(build, data, 'user', 'add', 'bob');
	S.daemon = await new Daemon(build, data, path.join(S.tmp, 'brownoutd.log')).start();
	S.api = new Api(S.daemon.base, S.alice);
	const up = (file, name) => S.api.uploadModel(path.join(FIXTURES, file), name);
	S.models.f8 = await up('fmnist_preact_f8.onnx', 'f8');
	S.models.f4 = await up('fmnist_preact_f4.onnx', 'f4');
	S.models.f6 = await up('fmnist_preact_f6.onnx', 'f6');
	S.models.f8e = await up('fmnist_preact_f8_erasure.onnx', 'f8-erasure');
	S.models.scratch = await up('fmnist_preact_f4.onnx', 'scratch-ref');
	S.models.other = await S.api.ok('POST', '/models?name=other-cnn&mean=0.286&std=0.353', fs.readFileSync(path.join(FIXTURES, 'other', 'other.onnx')));
	S.dataset = await S.api.ok('POST', '/datasets', { name: 'fashion-mnist', path: FMNIST });
	const refs = [S.models.f4.id, S.models.f6.id];
	const p = [1e-3, 3e-3, 1e-2];
	S.job1 = (await S.api.ok('POST', '/jobs', { model: S.models.f8.id, dataset: S.dataset.id, p, trials: 3,
		limit: 300, references: refs })).id;
	S.job2 = (await S.api.ok('POST', '/jobs', { model: S.models.f8e.id, dataset: S.dataset.id, p, trials: 3,
		limit: 300, deviation: 'erasure', references: refs })).id;
	const [browser] = await Promise.all([
		chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
		S.api.waitJob(S.job1), S.api.waitJob(S.job2)]);
	S.browser = browser;
	log(`brownoutd at ${S.daemon.base}, chromium ${browser.version()}, jobs ${S.job1} and ${S.job2} done`);
}

// ---- the tests ---------------------------------------------------------------------------

test('sign-in: a wrong token shows #sign-in-error, alice\'s token signs in, #sign-out signs out', async (t) => {
	const page = await t.newPage();
	await goto(page, '#/overview');
	await page.waitForSelector('#token-input', { state: 'visible' });
	await screenshot(page, 'sign-in');
	await page.fill('#token-input', 'bo_' + 'A'.repeat(43));
	await page.click('#sign-in');
	const err = await poll(() => visibleText(page, '#sign-in-error'), 'a wrong token: #sign-in-error visible and not empty');
	log(`wrong token: #sign-in-error says ${JSON.stringify(err)}`);
	assert.ok(!((await visibleText(page, '#whoami')) || '').includes('alice'), 'a wrong token must not sign in');
	assert.equal(await storedToken(page), null, 'a wrong token must not be stored');

	await page.fill('#token-input', S.alice);
	await page.click('#sign-in');
	await poll(async () => ((await visibleText(page, '#whoami')) || '').includes('alice'), '#whoami shows "alice" after signing in');
	assert.equal(await storedToken(page), S.alice, `localStorage ${TOKEN_KEY} holds the token`);
	assert.ok(!(await visibleText(page, '#sign-in-error')), '#sign-in-error is hidden or empty once signed in');

	await page.click('#sign-out');
	await poll(async () => (await storedToken(page)) === null, `#sign-out removes localStorage ${TOKEN_KEY}`);
	await poll(async () => !((await visibleText(page, '#whoami')) || '').includes('alice'), '#whoami no longer shows alice after #sign-out');
});

test('sign-in: #token=TOKEN in the URL signs in, once (the token leaves the URL)', async (t) => {
	const page = await t.newPage();
	await goto(page, '#token=' + S.bob);
	await poll(async () => ((await visibleText(page, '#whoami')) || '').includes('bob'), '#whoami shows "bob" after #token=');
	assert.equal(await storedToken(page), S.bob, `localStorage ${TOKEN_KEY} holds the token from the URL`);
	await poll(() => !page.url().includes(S.bob), 'the token is removed from the URL', 3000);
	await poll(() => page.evaluate(() => !!document.querySelector('[data-view]')), 'a view renders after #token=');
});

test('job view: state, progress, both plots drawn, results table equal to the API', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await poll(async () => /done/i.test((await visibleText(page, '#job-state')) || ''), '#job-state says done');
	const prog = await page.evaluate(() => {
		const p = document.querySelector('progress#job-progress');
		return p && { value: p.value, max: p.max };
	});
	assert.deepEqual(prog, { value: 1, max: 1 }, 'progress#job-progress of a done job: value 1, max 1');
	assert.ok(await page.$('#job-left'), '#job-left exists');
	await expectPlot(page, '#plot-accuracy');
	await expectPlot(page, '#plot-energy');
	const results = await S.api.get(`/jobs/${S.job1}/results`);
	assert.ok(results.points.some((pt) => pt.energy_reduction === null) &&
		results.points.some((pt) => pt.energy_reduction !== null), 'setup: job 1 has null and non-null energy_reduction');
	await checkResultsTable(page, results.points);
	assert.deepEqual(page.errors, [], 'console errors');
});

test('job view: #download-json and #download-csv download the results', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	const results = await S.api.get(`/jobs/${S.job1}/results`);
	const download = async (sel) => {
		await page.waitForSelector(sel, { state: 'visible' });
		const [dl] = await Promise.all([
			page.waitForEvent('download', { timeout: 8000 }).catch(() => {
				throw new Error(`clicking ${sel} started no download within 8 s`);
			}),
			page.click(sel)]);
		const file = await dl.path();
		return { name: dl.suggestedFilename(), text: fs.readFileSync(file, 'utf8') };
	};
	const json = await download('#download-json');
	assert.match(json.name, /\.json$/, 'the JSON download is named *.json');
	const parsed = JSON.parse(json.text);
	assert.deepEqual(parsed.points, results.points, 'the JSON download holds the API\'s points');
	const csv = await download('#download-csv');
	assert.match(csv.name, /\.csv$/, 'the CSV download is named *.csv');
	const lines = csv.text.split(/\r?\n/).filter((l) => l !== '');
	assert.equal(lines.length, results.points.length + 1, 'the CSV download: a header and one line per point');
	assert.match(lines[0], /accuracy_mean/, 'the CSV header names accuracy_mean');
	log(`downloads: ${json.name} (${json.text.length} B), ${csv.name} (${csv.text.length} B)`);
	assert.deepEqual(page.errors, [], 'console errors');
});

test('submit: the form creates a job, shows it advancing to done, the jobs list has it', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/submit');
	await waitView(page, 'submit');
	await page.waitForSelector('form#submit-form', { state: 'visible' });
	await chooseOption(page, '#submit-form select[name="model"]', S.models.f8);
	await chooseOption(page, '#submit-form select[name="dataset"]', S.dataset);
	await fillForm(page, { p: '1e-3,1e-2', trials: '2', limit: '2000', images_per_trial: '500', accuracy_floor: '0.9' });
	await screenshot(page, 'submit');
	const before = await jobCount();
	const t0 = Date.now();
	await page.click('#submit-button');
	await page.waitForURL(/#\/jobs\/[0-9]+$/, { timeout: 10000 }).catch(async () => {
		const err = await visibleText(page, '#submit-error');
		throw new Error(`submitting did not navigate to #/jobs/ID (URL ${page.url()}, #submit-error ${JSON.stringify(err)})`);
	});
	const id = Number(/#\/jobs\/([0-9]+)$/.exec(page.url())[1]);
	S.formJob = id;
	assert.equal(await jobCount(), before + 1, 'one job created');
	const job = await S.api.get(`/jobs/${id}`);
	assert.equal(job.owner, 'alice');
	assert.equal(job.model, S.models.f8.id, 'the job\'s model');
	assert.equal(job.dataset, S.dataset.id, 'the job\'s dataset');
	assert.deepEqual(job.spec.p, [1e-3, 1e-2], 'the job\'s p');
	assert.equal(job.spec.trials, 2, 'the job\'s trials');
	assert.equal(job.spec.limit, 2000, 'the job\'s limit');
	assert.equal(job.spec.images_per_trial, 500, 'the job\'s images per trial (spec 4a)');
	assert.equal(job.spec.accuracy_floor, 0.9, 'the job\'s yield floor (spec 4c)');
	assert.equal(job.spec.activation_sites, 'activations', 'the form\'s default activation sites');
	await waitView(page, 'job');

	// follow progress#job-progress until #job-state says done
	const seen = [];
	const end = Date.now() + 60000;
	let final = null;
	for (;;) {
		const s = await page.evaluate(() => {
			const p = document.querySelector('progress#job-progress');
			const st = document.querySelector('#job-state');
			return { value: p ? p.value : null, max: p ? p.max : null, state: st ? st.textContent.trim() : null };
		});
		if (s.value !== null && (seen.length === 0 || seen[seen.length - 1] !== s.value))
			seen.push(s.value);
		if (/done/i.test(s.state || '')) {
			final = s;
			break;
		}
		assert.ok(Date.now() < end, `#job-state did not say done within 60 s (last: ${JSON.stringify(s)}, progress seen ${JSON.stringify(seen)})`);
		await sleep(50);
	}
	log(`job ${id}: done after ${((Date.now() - t0) / 1000).toFixed(1)} s; progress values seen ${JSON.stringify(seen.map((v) => +v.toFixed(3)))}`);
	assert.equal(final.max, 1, 'progress#job-progress max is 1');
	assert.ok(seen.every((v) => v >= 0 && v <= 1), 'progress values within [0, 1]');
	assert.ok(seen.some((v, i) => seen.slice(i + 1).some((w) => w > v)) && seen.length >= 2,
		`progress#job-progress value increases while the job runs (saw ${JSON.stringify(seen)})`);
	await poll(() => page.evaluate(() => document.querySelector('progress#job-progress').value === 1),
		'progress#job-progress reaches 1 once done', 5000);

	await goto(page, '#/jobs');
	await waitView(page, 'jobs');
	await page.waitForSelector(`tr[data-job-id="${id}"]`, { state: 'visible' })
		.catch(() => { throw new Error(`#/jobs has no row tr[data-job-id="${id}"]`); });
	assert.ok(await page.$(`tr[data-job-id="${id}"] a[href="#/jobs/${id}"]`), `the row of job ${id} links to #/jobs/${id}`);
	assert.deepEqual(page.errors, [], 'console errors');
}, 90000);

test('submit: an optimize job from the form (kind selector); its page shows the search, then the allocation bars, the verification and the baselines plot', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/submit');
	await waitView(page, 'submit');
	await page.waitForSelector('form#submit-form', { state: 'visible' });
	await page.selectOption('#submit-form select[name="kind"]', 'optimize');
	await page.waitForSelector('#optimize-options', { state: 'visible' });
	assert.ok(await page.isHidden('#submit-form [name="p"]'), 'p is hidden for an optimize job');
	await chooseOption(page, '#submit-form select[name="model"]', S.models.f8);
	await chooseOption(page, '#submit-form select[name="dataset"]', S.dataset);
	await fillForm(page, { limit: '64', calib: '32', max_loss: '0.01', block_p_grid: '1e-3,1e-2', budget_trials: '40',
		curve_trials: '1', min_trials: '2', max_trials: '4', verify_trials: '3', baseline_trials: '1', seed: '3' });
	assert.equal((await page.textContent('#submit-button')).trim(), 'Submit optimize job');
	await page.click('#submit-button');
	await page.waitForURL(/#\/jobs\/[0-9]+$/, { timeout: 10000 }).catch(async () => {
		const err = await visibleText(page, '#submit-error');
		throw new Error(`submitting did not navigate to #/jobs/ID (URL ${page.url()}, #submit-error ${JSON.stringify(err)})`);
	});
	const id = Number(/#\/jobs\/([0-9]+)$/.exec(page.url())[1]);
	const job = await S.api.get(`/jobs/${id}`);
	assert.equal(job.kind, 'optimize');
	assert.deepEqual([job.spec.block_p_grid, job.spec.budget_trials, job.spec.max_loss, job.spec.limit, job.spec.seed],
		[[1e-3, 1e-2], 40, 0.01, 64, 3], 'the spec the form sent');
	await page.waitForSelector('#opt-results', { state: 'visible', timeout: 60000 })
		.catch(async () => { throw new Error(`#opt-results not shown within 60 s (state ${await visibleText(page, '#job-state')}, ${await visibleText(page, '#opt-stats')})`); });
	const res = await S.api.get(`/jobs/${id}/results`);
	assert.equal(res.complete, true);
	// one row per block, its bars' widths from the result's p and energy share
	const rows = await page.$$eval('#opt-allocation tr.alloc-row', (trs) => trs.map((tr) => ({
		block: tr.dataset.block,
		p: Number(tr.querySelector('.alloc-p').dataset.p),
		share: Number(tr.querySelector('.alloc-share').dataset.share),
		shareWidth: tr.querySelector('.alloc-share').getBoundingClientRect().width,
		pWidth: tr.querySelector('.alloc-p').getBoundingClientRect().width,
	})));
	assert.deepEqual(rows.map((r) => [r.block, r.p, r.share]), res.allocation.map((a) => [a.block, a.p, a.energy_share]),
		'the allocation table is the result\'s');
	const big = rows.reduce((a, b) => (b.share > a.share ? b : a));
	const small = rows.reduce((a, b) => (b.share < a.share ? b : a));
	assert.ok(big.shareWidth > small.shareWidth, `energy-share bars scale with the share (${JSON.stringify(rows)})`);
	for (const r of rows)
		assert.equal(r.pWidth > 0.5, r.p > 0, `a p bar exactly where p > 0 (${r.block}: p ${r.p}, width ${r.pWidth})`);
	const v = res.verification;
	const text = async (f) => (await page.textContent(`#opt-verification [data-field="${f}"]`)).trim();
	assert.equal(await text('accuracy'), v.accuracy.toFixed(4));
	assert.equal(await text('energy_ratio'), String(Number(v.energy_ratio.toPrecision(4))));
	assert.match(await text('meets_floor'), v.meets_floor ? /^yes/ : /^no/);
	assert.match(await text('ci'), new RegExp(`^\\[${v.ci_lo.toFixed(4)}, ${v.ci_hi.toFixed(4)}\\]$`));
	assert.deepEqual(await page.$$eval('#opt-baselines tr[data-baseline]', (trs) => trs.map((tr) => tr.dataset.baseline)),
		['uniform', 'paper']);
	await expectPlot(page, '#plot-optimize');
	const series = await page.evaluate(() => document.querySelector('#plot-optimize').uplot.series.map((x) => x.label));
	assert.ok(series.includes('chosen allocation (verified)'), `the allocation is marked on the plot (${series})`);
	await screenshot(page, 'optimize-job');
	assert.deepEqual(page.errors, [], 'console errors');
}, 90000);

test('overview: a running job is listed with its progress, which advances', async (t) => {
	// 40000 images, tens of seconds: cancelled once seen advancing
	const long = await S.api.ok('POST', '/jobs', { model: S.models.f8.id, dataset: S.dataset.id,
		p: [1e-3, 1e-2], trials: 10, limit: 2000, seed: 3 });
	try {
		await S.api.waitJob(long.id, 20000, 'running');
		const page = await t.newPage({ token: S.alice });
		await goto(page, '#/overview');
		await waitView(page, 'overview');
		await page.waitForSelector(`[data-running-job="${long.id}"] progress`, { state: 'attached' })
			.catch(() => { throw new Error(`#/overview shows no [data-running-job="${long.id}"] containing a progress`); });
		const v = await poll(() => page.evaluate((sel) => {
			const p = document.querySelector(sel);
			return p && p.value > 0 && p.value;
		}, `[data-running-job="${long.id}"] progress`), `the progress of job ${long.id} on #/overview advances past 0`, 20000, 100);
		log(`overview: job ${long.id} at ${v.toFixed(3)}`);
		// the Images/s card is the running jobs' own rates (as their pages say), not the lagging /metrics gauge
		const rates = await poll(() => page.evaluate(() => {
			const card = document.querySelector('[data-health="images_per_second"]');
			const jobs = [...document.querySelectorAll('[data-running-job] .rj-ips')].map((e) => Number(e.dataset.value));
			if (!card || card.dataset.value === undefined || !jobs.length || !(jobs[0] > 0)) return null;
			return { card: Number(card.dataset.value), jobs };
		}), 'the Images/s card and the running job\'s images/s shown, above 0', 10000, 100);
		const sum = rates.jobs.reduce((a, b) => a + b, 0);
		assert.ok(Math.abs(rates.card - sum) <= 1e-9 * Math.max(1, sum),
			`the Images/s card says ${rates.card}, the running jobs ${JSON.stringify(rates.jobs)} (sum ${sum})`);
		const apiRate = (await S.api.get(`/jobs/${long.id}`)).progress.images_per_second;
		log(`overview: Images/s card ${rates.card.toFixed(0)}, job ${long.id}'s page rate now ${apiRate.toFixed(0)}`);
		await sleep(300);
		await screenshot(page, 'overview-running');
		assert.deepEqual(page.errors, [], 'console errors');
	} finally {
		await S.api.request('POST', `/jobs/${long.id}/cancel`);
		await S.api.waitJob(long.id, 20000, 'cancelled').catch((e) => log('cancelling: ' + e.message));
	}
});

test('submit: p outside [0,1] is refused next to its field; a server error (deleted reference) is shown; no job made', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/submit');
	await waitView(page, 'submit');
	await chooseOption(page, '#submit-form select[name="model"]', S.models.f8);
	await chooseOption(page, '#submit-form select[name="dataset"]', S.dataset);
	await fillForm(page, { p: '2', trials: '1', limit: '100', images_per_trial: 'some' });
	const before = await jobCount();
	await page.click('#submit-button');
	const perr = await poll(() => visibleText(page, '.field-error[data-field="p"]'),
		'p "2": .field-error[data-field="p"] visible with a message');
	log(`p "2": .field-error[data-field="p"] says ${JSON.stringify(perr)}`);
	const nerr = await poll(() => visibleText(page, '.field-error[data-field="images_per_trial"]'),
		'images per trial "some": .field-error[data-field="images_per_trial"] visible');
	assert.match(nerr, /whole number/, 'the images-per-trial error says what it takes');
	// auto is a design of its own now (a pilot picks n per point): no error
	await page.fill('#submit-form [name="images_per_trial"]', 'auto');
	await page.click('#submit-button');
	await poll(async () => (await visibleText(page, '.field-error[data-field="images_per_trial"]')) === null,
		'images per trial "auto": no .field-error[data-field="images_per_trial"]');
	await page.fill('#submit-form [name="images_per_trial"]', '');
	await screenshot(page, 'submit-errors');
	await sleep(300);
	assert.match(page.url(), /#\/submit/, 'still on #/submit after a refused p');
	assert.equal(await jobCount(), before, 'p "2" creates no job');

	// a reference the server no longer has: the form still offers it
	await page.fill('#submit-form [name="p"]', '1e-3');
	await chooseOption(page, '#submit-form select[name="references"]', S.models.scratch);
	await S.api.ok('DELETE', `/models/${S.models.scratch.id}`);
	await page.click('#submit-button');
	const serr = await poll(async () => (await visibleText(page, '.field-error[data-field="references"]')) ||
		(await visibleText(page, '#submit-error')), 'the server\'s error (404 on references) shown ' +
		'in .field-error[data-field="references"] or #submit-error');
	log(`deleted reference: the form says ${JSON.stringify(serr)}`);
	assert.ok(!(await visibleText(page, '.field-error[data-field="p"]')), 'the old error of p is cleared once p is valid');
	await sleep(300);
	assert.match(page.url(), /#\/submit/, 'still on #/submit after a server error');
	assert.equal(await jobCount(), before, 'no job created');
});

// Each view from a fresh page load of its URL: its root renders, its data
// shows, no console errors; a screenshot of each.
const VIEWS = [
	['overview', () => '#/overview', null],
	['models', () => '#/models', async (page) => {
		await poll(() => page.evaluate(() => /f8/.test(document.querySelector('[data-view="models"]').textContent) &&
			/f4/.test(document.querySelector('[data-view="models"]').textContent)), 'the models view lists f8 and f4');
	}],
	['model', () => `#/models/${S.models.f8.id}`, async (page) => {
		await poll(() => page.evaluate(() => /f8/.test(document.querySelector('[data-view="model"]').textContent)),
			'the model view names the model (f8)');
		// f8 was uploaded without mean/std: its metadata's apply, and the page says so
		await poll(() => page.evaluate(() => /from the file's metadata: mean 0\.286; std 0\.353/.test(document.querySelector('[data-view="model"]').textContent)),
			'the model view says the normalisation comes from the file\'s metadata, with its values');
	}],
	['datasets', () => '#/datasets', async (page) => {
		await poll(() => page.evaluate(() => /fashion-mnist/.test(document.querySelector('[data-view="datasets"]').textContent)),
			'the datasets view lists fashion-mnist');
	}],
	['jobs', () => '#/jobs', async (page) => {
		await page.waitForSelector(`tr[data-job-id="${S.job1}"] a[href="#/jobs/${S.job1}"]`)
			.catch(() => { throw new Error(`no tr[data-job-id="${S.job1}"] with a link to #/jobs/${S.job1}`); });
	}],
	['job', () => `#/jobs/${S.job1}`, async (page) => {
		await expectPlot(page, '#plot-accuracy');
		await expectPlot(page, '#plot-energy');
		await page.waitForSelector('#results-table tbody tr');
	}],
	['compare', () => `#/compare?jobs=${S.job1},${S.job2}`, async (page) => {
		await expectPlot(page, '#plot-compare');
	}],
	['submit', () => '#/submit', async (page) => {
		await page.waitForSelector('form#submit-form', { state: 'visible' });
		await chooseOption(page, '#submit-form select[name="model"]', S.models.f8);
	}],
];
for (const [view, hash, ready] of VIEWS) {
	test(`view ${view}: renders [data-view="${view}"] from its URL, no console errors`, async (t) => {
		const page = await t.newPage({ token: S.alice });
		await goto(page, hash());
		await waitView(page, view);
		if (ready)
			await ready(page);
		await sleep(250);
		await screenshot(page, view);
		assert.deepEqual(page.errors, [], `console errors on ${hash()}`);
		// no JavaScript value leaked into the page as text
		const text = await page.evaluate(() => document.querySelector('main').innerText);
		assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object /, `stray value on ${hash()}`);
	});
}

test('keyboard: Tab reaches every nav link, Enter opens its view; model and job views from their lists', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/overview');
	await waitView(page, 'overview');
	for (const view of ['overview', 'models', 'datasets', 'jobs', 'compare', 'workers', 'submit']) {
		const sel = `nav a[href="#/${view}"]`;
		assert.ok(await page.$(sel), `there is a ${sel}`);
		await tabTo(page, sel);
		await page.keyboard.press('Enter');
		await waitView(page, view);
		await poll(() => page.url().endsWith(`#/${view}`), `Enter on ${sel} goes to #/${view}`, 3000);
	}
	await goto(page, '#/models');
	await waitView(page, 'models');
	await page.waitForSelector(`[data-view="models"] a[href="#/models/${S.models.f8.id}"]`)
		.catch(() => { throw new Error(`the models view has no link a[href="#/models/${S.models.f8.id}"]`); });
	await tabTo(page, `[data-view="models"] a[href="#/models/${S.models.f8.id}"]`);
	await page.keyboard.press('Enter');
	await waitView(page, 'model');
	await goto(page, '#/jobs');
	await waitView(page, 'jobs');
	await page.waitForSelector(`[data-view="jobs"] a[href="#/jobs/${S.job1}"]`);
	await tabTo(page, `[data-view="jobs"] a[href="#/jobs/${S.job1}"]`, 300);
	await page.keyboard.press('Enter');
	await waitView(page, 'job');
	assert.deepEqual(page.errors, [], 'console errors');
}, 60000);

// ---- issue 16: plots, colours, presets, lists, phones ------------------------------

// What the x axis of the uPlot chart in `container` labels, and where:
// {labels: [{v, text, x0, x1}], min, max, width}, x in CSS pixels of the chart.
async function xTicks(page, container) {
	return page.evaluate((sel) => {
		const u = document.querySelector(sel).uplot;
		if (!u) return null;
		const ax = u.axes[0];
		const r = window.devicePixelRatio || 1;
		const ctx = document.createElement('canvas').getContext('2d');
		ctx.font = ax.font[0];
		const labels = [];
		ax._splits.forEach((v, i) => {
			const text = ax._values[i] === null || ax._values[i] === undefined ? '' : String(ax._values[i]);
			if (!text) return;
			const c = u.bbox.left / r + u.valToPos(v, 'x');
			const w = ctx.measureText(text).width / r;
			labels.push({ v, text, x0: c - w / 2, x1: c + w / 2 });
		});
		return { labels, min: u.scales.x.min, max: u.scales.x.max, width: u.width };
	}, container);
}

function checkEnergyAxis(where, t) {
	assert.ok(t, `${where}: no uPlot chart`);
	const texts = t.labels.map((l) => l.text);
	assert.ok(t.labels.length >= 2, `${where}: at least two labelled ticks (labels ${JSON.stringify(texts)})`);
	for (const l of t.labels) {
		assert.match(l.text, /^[0-9]+(\.[0-9]+)?[kMG]?$/, `${where}: tick label "${l.text}" of ${l.v} in SI form (1k, 10k, 1M)`);
		const m = /^([0-9.]+)([kMG]?)$/.exec(l.text);
		const val = Number(m[1]) * { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m[2]];
		assert.ok(Math.abs(val - l.v) <= 0.01 * l.v, `${where}: tick label "${l.text}" names its value ${l.v}`);
		assert.ok(l.x0 >= 0 && l.x1 <= t.width, `${where}: tick label "${l.text}" spans x ${l.x0.toFixed(1)}..${l.x1.toFixed(1)}, outside the chart's 0..${t.width}: clipped`);
	}
	for (let e = Math.ceil(Math.log10(t.min)); 10 ** e <= t.max; e++)
		assert.ok(t.labels.some((l) => Math.abs(l.v - 10 ** e) < 1e-6 * 10 ** e),
			`${where}: the decade ${10 ** e} in [${t.min}, ${t.max}] has no label (labels ${JSON.stringify(texts)})`);
	log(`${where}: x ticks ${JSON.stringify(texts)} on [${Math.round(t.min)}, ${Math.round(t.max)}]`);
}

async function download(page, sel) {
	await page.waitForSelector(sel, { state: 'visible' });
	const [dl] = await Promise.all([
		page.waitForEvent('download', { timeout: 8000 }).catch(() => {
			throw new Error(`clicking ${sel} started no download within 8 s`);
		}),
		page.click(sel)]);
	return { name: dl.suggestedFilename(), bytes: fs.readFileSync(await dl.path()) };
}

test('plots: energy axes labelled per decade in SI form (1k, 100k, 1M), no label clipped, on the job and compare pages', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-energy');
	checkEnergyAxis('job #plot-energy', await xTicks(page, '#plot-energy'));
	const acc = await xTicks(page, '#plot-accuracy');
	for (const l of acc.labels)
		assert.ok(l.x0 >= 0 && l.x1 <= acc.width, `#plot-accuracy: tick label "${l.text}" clipped (x ${l.x0.toFixed(1)}..${l.x1.toFixed(1)} of ${acc.width})`);
	await goto(page, `#/compare?jobs=${S.job1},${S.job2}`);
	await waitView(page, 'compare');
	await expectPlot(page, '#plot-compare-energy');
	checkEnergyAxis('compare #plot-compare-energy', await xTicks(page, '#plot-compare-energy'));
	assert.deepEqual(page.errors, [], 'console errors');
});

test('plots: PNG and SVG downloads of a plot hold the plot (size, ticks, series, colour)', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-energy');
	const want = await page.evaluate(() => {
		const u = document.querySelector('#plot-energy').uplot;
		return { w: u.ctx.canvas.width, h: u.ctx.canvas.height, cssW: u.width,
			ticks: u.axes[0]._values.filter((v) => v !== null && v !== ''), yticks: u.axes[1]._values.filter((v) => v !== null && v !== ''),
			n: u.data[1].filter((v) => v !== null).length,
			color: document.querySelector('h1 .swatch').dataset.color };
	});
	const png = await download(page, '#plot-energy-png');
	assert.match(png.name, /\.png$/, 'the PNG download is named *.png');
	assert.ok(png.bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'the PNG download is a PNG');
	const pw = png.bytes.readUInt32BE(16);
	const ph = png.bytes.readUInt32BE(20);
	assert.equal(pw, want.w, 'the PNG is as wide as the plot\'s canvas');
	assert.ok(ph > want.h, `the PNG (${pw}x${ph}) holds the canvas (${want.w}x${want.h}) and the title and legend`);
	const svg = await download(page, '#plot-energy-svg');
	assert.match(svg.name, /\.svg$/, 'the SVG download is named *.svg');
	const text = svg.bytes.toString('utf8');
	assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="([0-9.]+)"/, 'the SVG download is an SVG document');
	assert.equal(Number(/width="([0-9.]+)"/.exec(text)[1]), want.cssW, 'the SVG is as wide as the plot');
	const ticks = [...text.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
	assert.deepEqual(ticks, [...want.ticks, ...want.yticks], 'the SVG\'s tick labels are the plot\'s (x, then y)');
	assert.match(text, /Accuracy against energy per inference/, 'the SVG has the title');
	assert.match(text, /energy per inference \(memory accesses, log scale\)/, 'the SVG has the x axis label');
	const line = /<polyline class="series" data-series="mean accuracy \(this job\)" points="([^"]*)"[^>]*stroke="([^"]*)"/.exec(text);
	assert.ok(line, 'the SVG draws the job\'s mean accuracy as a polyline');
	assert.equal(line[1].trim().split(/\s+/).length, want.n, 'one vertex per point of the plot');
	assert.equal(line[2], want.color, 'in the job\'s colour');
	assert.match(text, /<polygon class="band"/, 'the SVG has the 95 % CI band');
	assert.ok((text.match(/<circle /g) || []).length >= want.n, 'the SVG has the points');
	log(`downloads: ${png.name} ${pw}x${ph}, ${svg.name} ${text.length} B, ticks ${JSON.stringify(ticks)}`);
	assert.deepEqual(page.errors, [], 'console errors');
});

// The yield plot's data as the page holds it: x, the yield series and the
// Clopper-Pearson bars, the curve series (by label) and the caption.
async function yieldPlot(page) {
	return page.evaluate(() => {
		const el = document.querySelector('#plot-yield');
		const u = el && el.uplot;
		if (!u) return null;
		const curve = u.series.findIndex((s) => /minimum energy/.test(s.label || ''));
		return { x: u.data[0], y: u.data[1], bars: el.plotState.bars, byEnergy: el.plotState.byEnergy,
			curve: curve > 0 ? u.data[curve] : null, floor: el.plotState.floor,
			caption: document.querySelector('#yield-plot-note').textContent,
			note: (() => { const n = document.querySelector('#yield-note'); return n.hidden ? null : n.textContent; })(),
			accChips: document.querySelector('#plot-accuracy').plotState.chips,
			accSeries: document.querySelector('#plot-accuracy').uplot.data.length };
	});
}

// what the yield plot must hold for results r: the points with trials, by energy
function wantYield(r) {
	const pts = r.points.filter((pt) => pt.trials > 0 && pt.energy > 0).sort((a, b) => a.energy - b.energy);
	return { x: pts.map((pt) => pt.energy), y: pts.map((pt) => pt.yield),
		bars: pts.map((pt) => [pt.energy, pt.yield_lo, pt.yield_hi]) };
}

test('yield: the job page plots each point\'s yield at the floor against energy with its Clopper-Pearson bars; the image-sampling note when n < N', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-yield');
	const r = await S.api.get(`/jobs/${S.job1}/results`);
	const want = wantYield(r);
	assert.ok(want.x.length >= 2 && r.points.every((pt) => pt.yield_note === null), 'setup: job 1 has points with energies and every image per trial');
	const got = await poll(() => yieldPlot(page), '#plot-yield has a uPlot');
	assert.equal(got.byEnergy, true, 'the x axis is the energy per inference');
	assert.deepEqual(got.x, want.x, 'one x per point: its energy, ascending');
	assert.deepEqual(got.y, want.y, 'the yield of each point, as the API gives it');
	assert.deepEqual(got.bars, want.bars, 'error bars: [energy, yield_lo, yield_hi] of each point');
	assert.equal(got.floor, r.accuracy_floor, 'the floor named on the axis is the results\' accuracy_floor');
	assert.equal(got.curve, null, 'independent weight faults: no chips\' yield curve');
	assert.deepEqual(got.accChips, [], 'independent weight faults: no chip trajectories on the accuracy plot');
	assert.ok(got.caption.includes(r.accuracy_floor.toFixed(4)) && /Clopper-Pearson/.test(got.caption), `the caption names the floor and the interval: ${got.caption}`);
	assert.equal(got.note, null, 'no image-sampling note when every trial sees every image');
	const quant = await page.evaluate(() => {
		const u = document.querySelector('#plot-accuracy').uplot;
		const col = (re) => u.data[u.series.findIndex((s) => re.test(s.label || ''))];
		return { x: u.data[0], q05: col(/^chips q05/), q95: col(/^chips q95/), q50: col(/^chips median/) };
	});
	const byP = r.points.filter((pt) => pt.p > 0).sort((a, b) => a.p - b.p);
	assert.deepEqual(quant, { x: byP.map((pt) => pt.p), q05: byP.map((pt) => pt.q05), q95: byP.map((pt) => pt.q95), q50: byP.map((pt) => pt.q50) },
		'the accuracy plot carries each point\'s q05, q95 (band) and q50');
	const cells = await page.evaluate(() => [...document.querySelectorAll('#results-table td[data-field="yield"]')].map((td) => [td.closest('tr').dataset.p, td.dataset.value, td.title]));
	assert.deepEqual(cells.map((c) => c.slice(0, 2)), r.points.map((pt) => [String(pt.p), String(pt.yield)]), 'the results table\'s Yield column');
	assert.ok(cells.every((c, i) => c[2].includes(r.points[i].yield_lo.toFixed(4))), 'each Yield cell\'s title holds its interval');

	// a subset design (n < N): the page says so next to the yield
	const id = (await S.api.ok('POST', '/jobs', { model: S.models.f8.id, dataset: S.dataset.id, p: [1e-3, 1e-2], trials: 3,
		limit: 200, images_per_trial: 50 })).id;
	await S.api.waitJob(id);
	const r2 = await S.api.get(`/jobs/${id}/results`);
	assert.ok(r2.points.every((pt) => typeof pt.yield_note === 'string' && pt.yield_note), 'setup: n < N gives a yield_note');
	await goto(page, `#/jobs/${id}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-yield');
	const got2 = await poll(async () => { const g = await yieldPlot(page); return g && g.x.length === 2 ? g : null; }, `job ${id}: #plot-yield with its 2 points`);
	assert.deepEqual({ x: got2.x, y: got2.y, bars: got2.bars }, wantYield(r2), `job ${id}: the yield plot`);
	assert.equal(got2.note, r2.points[0].yield_note, '#yield-note shows the API\'s yield_note');
	assert.ok(await visibleText(page, '#yield-note'), '#yield-note is visible');
	await page.locator('#job-yield').scrollIntoViewIfNeeded();
	await screenshot(page, 'job-yield');
	assert.deepEqual(page.errors, [], 'console errors');
}, 60000);

// spec 4b/4c on results r: each chip's minimum energy (the smallest point
// energy from which up the chip stays at the floor; null: never) and the
// fraction of chips with a minimum energy at most E, at each point's E
function nestedChips(r) {
	const pts = r.points.slice().sort((a, b) => b.energy - a.energy);
	const T = Math.min(...pts.map((pt) => pt.trial_accuracies.length));
	const floor = r.accuracy_floor;
	const min = [];
	for (let t = 0; t < T; t++) {
		let m = null;
		for (const pt of pts) {
			if (pt.trial_accuracies[t] >= floor) m = pt.energy;
			else break;
		}
		min.push(m);
	}
	const curve = pts.map((pt) => pt.energy).sort((a, b) => a - b).map((E) =>
		({ energy: E, eta: r.points.find((pt) => pt.energy === E).eta, yield: min.filter((m) => m !== null && m <= E).length / T }));
	return { accuracy_floor: floor, min_energy: min, min_eta: min.map(() => null), yield_curve: curve };
}

test('yield: nested weight faults (results rewritten in the browser): chip trajectories under the mean, the chips\' yield curve', async (t) => {
	const page = await t.newPage({ token: S.alice });
	const real = await S.api.get(`/jobs/${S.job1}/results`);
	// lower the floor so that some chips reach it and some do not: the curve then rises
	const accs = real.points.flatMap((pt) => pt.trial_accuracies).sort((a, b) => a - b);
	const floor = accs[Math.floor(accs.length / 2)];
	const chips = nestedChips({ ...real, accuracy_floor: floor });
	assert.ok(new Set(chips.yield_curve.map((c) => c.yield)).size >= 2, `setup: the curve takes two values at least (${JSON.stringify(chips.yield_curve)})`);
	await page.route(new RegExp(`/api/v1/jobs/${S.job1}/results$`), async (route) => {
		const resp = await route.fetch();
		const body = await resp.json();
		body.config.weight_faults = 'nested';
		body.config.accuracy_floor = floor;
		body.accuracy_floor = floor;
		body.chips = chips;
		await route.fulfill({ response: resp, json: body });
	});
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-yield');
	const got = await poll(async () => { const g = await yieldPlot(page); return g && g.curve ? g : null; }, '#plot-yield draws the chips\' yield curve');
	const E = chips.yield_curve.map((c) => c.energy).sort((a, b) => a - b);
	assert.deepEqual(got.x, E, 'the x of the yield plot: the points\' energies');
	assert.deepEqual(got.curve, E.map((e) => chips.yield_curve.find((c) => c.energy === e).yield), 'the curve series: the fraction of chips with minimum energy <= E');
	assert.equal(got.floor, floor, 'the floor is the chips\' accuracy_floor');
	const ok = chips.min_energy.filter((m) => m !== null).length;
	assert.ok(got.caption.includes(`${ok} of ${chips.min_energy.length} chips`), `the caption counts the chips that reach the floor: ${got.caption}`);
	const byP = real.points.filter((pt) => pt.p > 0).sort((a, b) => a.p - b.p);
	const T = Math.max(...byP.map((pt) => pt.trial_accuracies.length));
	assert.deepEqual(got.accChips, Array.from({ length: T }, (_, c) => byP.map((pt) => [pt.p, pt.trial_accuracies[c] ?? null])),
		'one trajectory per chip on the accuracy plot: chip t is trial t at every p');
	// drawn: the SVG export holds the trajectories' segments, thin grey lines
	const svg = (await download(page, '#plot-accuracy-svg')).bytes.toString('utf8');
	const segs = (svg.match(/<line [^>]*stroke="rgba\(70,70,70,0\.5\)"/g) || []).length;
	assert.equal(segs, T * (byP.length - 1), `the SVG draws ${T} chips x ${byP.length - 1} segments`);
	assert.match(await visibleText(page, '.plot-note') || '', /thin grey line is one chip/, 'the accuracy plot says what the thin lines are');
	await page.locator('#job-yield').scrollIntoViewIfNeeded();
	await screenshot(page, 'job-yield-nested');
	assert.deepEqual(page.errors, [], 'console errors');
});

// pixels of colour `hex` (give or take antialiasing) on the canvases under `container`
async function colourPixels(page, container, hex) {
	return page.evaluate(([sel, hx]) => {
		const v = parseInt(hx.slice(1), 16);
		const [r, g, b] = [(v >> 16) & 255, (v >> 8) & 255, v & 255];
		let n = 0;
		for (const c of document.querySelectorAll(`${sel} canvas`)) {
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			for (let i = 0; i < d.length; i += 4)
				if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) <= 40) n++;
		}
		return n;
	}, [container, hex]);
}

test('colours: a job has one colour in the jobs list, on its page and in the comparison', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/jobs');
	await waitView(page, 'jobs');
	const listColour = async (id) => page.$eval(`tr[data-job-id="${id}"] .swatch`, (e) => e.dataset.color)
		.catch(() => { throw new Error(`the jobs list has no .swatch in the row of job ${id}`); });
	const c1 = await listColour(S.job1);
	const c2 = await listColour(S.job2);
	assert.notEqual(c1, c2, `jobs ${S.job1} and ${S.job2} have different colours`);
	const bg = await page.$eval(`tr[data-job-id="${S.job1}"] .swatch`, (e) => getComputedStyle(e).backgroundColor);
	const v = parseInt(c1.slice(1), 16);
	assert.equal(bg, `rgb(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255})`, 'the swatch shows its colour');
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await expectPlot(page, '#plot-accuracy');
	assert.equal(await page.$eval('h1 .swatch', (e) => e.dataset.color), c1, 'the job page\'s colour is the list\'s');
	const onJob = await colourPixels(page, '#plot-accuracy', c1);
	assert.ok(onJob > 20, `#plot-accuracy draws the job in ${c1} (${onJob} pixels)`);
	await goto(page, `#/compare?jobs=${S.job2},${S.job1}`);
	await waitView(page, 'compare');
	await expectPlot(page, '#plot-compare');
	for (const [id, c] of [[S.job1, c1], [S.job2, c2]]) {
		assert.equal(await page.$eval(`.compare-table tr[data-job-id="${id}"] .swatch`, (e) => e.dataset.color), c,
			`the comparison's colour of job ${id} is the list's`);
		const n = await colourPixels(page, '#plot-compare', c);
		assert.ok(n > 20, `#plot-compare draws job ${id} in ${c} (${n} pixels)`);
	}
	assert.deepEqual(page.errors, [], 'console errors');
});

test('submit: the Fig. 5 preset ticks the model\'s family only (no erasure-trained copy, no unrelated CNN); the Target select fits', async (t) => {
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/submit');
	await waitView(page, 'submit');
	const selected = () => page.evaluate(() => [...document.querySelector('#submit-form select[name="references"]').selectedOptions]
		.map((o) => Number(o.value)).sort((a, b) => a - b));
	const family = [S.models.f4.id, S.models.f6.id, S.models.f8.id].sort((a, b) => a - b);
	for (const m of [S.models.f8, S.models.f8e]) {
		await chooseOption(page, '#submit-form select[name="model"]', m);
		await page.click('button[data-preset="energy"]');
		const got = await selected();
		log(`Fig. 5 preset on ${m.name}: references ${JSON.stringify(got)}`);
		assert.deepEqual(got, family, `Fig. 5 preset on ${m.name}: references f4, f6, f8 (ids ${family}), ` +
			`not f8-erasure (${S.models.f8e.id}), other-cnn (${S.models.other.id}) or a copy of f4 (${S.models.scratch.id})`);
	}
	// the Target select shows its longest option whole, on a laptop and on a phone
	for (const vp of [{ width: 1280, height: 800 }, { width: 1120, height: 800 }, PHONE]) {
		await page.setViewportSize(vp);
		await sleep(50);
		const fit = await page.evaluate(() => {
		const s = document.querySelector('#submit-form select[name="target"]');
		const ctx = document.createElement('canvas').getContext('2d');
		const st = getComputedStyle(s);
		ctx.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
		const text = Math.max(...[...s.options].map((o) => ctx.measureText(o.textContent).width));
		return { text, inner: s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) };
		});
		assert.ok(fit.inner >= fit.text + 12, `at ${vp.width} px the Target select (${fit.inner.toFixed(0)} px inside) shows "weights and activations" (${fit.text.toFixed(0)} px) and its arrow`);
	}
	assert.deepEqual(page.errors, [], 'console errors');
});

test('jobs list: a job\'s name and tags are shown where the API gives them (answers rewritten in the browser)', async (t) => {
	const page = await t.newPage({ token: S.alice });
	// the API is about to gain job name/notes/tags: add them to job 1 on the way in
	await page.route(/\/api\/v1\/jobs(\?|$)/, async (route) => {
		const resp = await route.fetch();
		const body = await resp.json();
		for (const j of body.items)
			if (j.id === S.job1)
				Object.assign(j, { name: 'f8 <baseline>', notes: 'n', tags: ['fig5', 'paper'] });
		await route.fulfill({ response: resp, json: body });
	});
	await goto(page, '#/jobs');
	await waitView(page, 'jobs');
	await page.waitForSelector(`tr[data-job-id="${S.job1}"]`);
	const shown = await page.evaluate((id) => {
		const tr = (n) => document.querySelector(`tr[data-job-id="${n}"]`);
		const q = (n, sel) => tr(n).querySelector(sel);
		return { name: q(id, '[data-field="name"]')?.textContent, tags: [...tr(id).querySelectorAll('.tag')].map((e) => e.textContent),
			otherName: !!document.querySelector(`tr[data-job-id]:not([data-job-id="${id}"]) [data-field="name"]`) };
	}, S.job1);
	assert.equal(shown.name, 'f8 <baseline>', 'the job\'s name, as text');
	assert.deepEqual(shown.tags, ['fig5', 'paper'], 'the job\'s tags');
	assert.equal(shown.otherName, false, 'no name shown for jobs without one');
	assert.deepEqual(page.errors, [], 'console errors');
});

test('phone (390x844): no view scrolls sideways; tables scroll inside their box; forms fit', async (t) => {
	const page = await t.newPage({ token: S.alice, viewport: PHONE });
	for (const [view, hash, name] of [['jobs', '#/jobs', 'jobs'], ['job', `#/jobs/${S.job1}`, 'job'], ['submit', '#/submit', 'submit'],
		['overview', '#/overview', 'overview'], ['models', '#/models', 'models']]) {
		await goto(page, hash);
		await waitView(page, view);
		await page.waitForSelector('[data-view] table, [data-view] form', { state: 'attached' });
		await sleep(200);
		const m = await page.evaluate(() => ({
			page: document.documentElement.scrollWidth,
			boxes: [...document.querySelectorAll('main table:not(.u-legend)')].map((tb) => {
				const box = tb.closest('.table-scroll');
				return { id: tb.id || tb.className, boxed: !!box, boxW: box ? box.getBoundingClientRect().right : null,
					scrolls: box ? getComputedStyle(box).overflowX : null, tableW: tb.scrollWidth };
			}),
			controls: [...document.querySelectorAll('main input, main select, main textarea, main button')]
				.filter((e) => e.getClientRects().length && e.type !== 'checkbox' && e.type !== 'hidden' && !e.closest('.table-scroll'))
				.map((e) => ({ name: e.name || e.id || e.textContent.trim().slice(0, 20), right: e.getBoundingClientRect().right }))
				.filter((c) => c.right > 390 + 0.5),
		}));
		assert.ok(m.page <= PHONE.width, `${hash} at 390 px: the page is ${m.page} px wide (scrolls sideways)`);
		for (const b of m.boxes) {
			assert.ok(b.boxed && b.scrolls === 'auto', `${hash}: table ${b.id} is not in a box that scrolls (${JSON.stringify(b)})`);
			assert.ok(b.boxW <= PHONE.width + 0.5, `${hash}: the box of table ${b.id} ends at ${b.boxW} px`);
		}
		assert.deepEqual(m.controls, [], `${hash}: form controls reaching past the screen's right edge`);
		if (['jobs', 'job', 'submit', 'overview'].includes(name))
			await screenshot(page, `${name}-phone`);
	}
	assert.deepEqual(page.errors, [], 'console errors');
}, 45000);

// ---- remote workers (issue 11), a failed job, the jobs list: a daemon with no local workers ----

// brownoutd --workers 0 with a model, a dataset and two jobs: job A's one
// task held by a claim made here ("w-api"), job B run to the end by a
// `brownout worker` ("w-real"). Made once, by the first test that needs it.
async function workersDaemon() {
	if (S.w)
		return S.w;
	const data = path.join(S.tmp, 'data-workers');
	const token = adminCmd(build, data, 'user', 'add', 'carol', '--admin');
	const wtoken = adminCmd(build, data, 'token', 'create', 'carol', '--worker');
	const daemon = await new Daemon(build, data, path.join(S.tmp, 'brownoutd-workers.log'),
		['--workers', '0', '--lease-seconds', '60']).start();
	const w = { daemon, token, wtoken, worker: null };
	S.w = w;
	w.api = new Api(daemon.base, token);
	w.wapi = new Api(daemon.base, wtoken);
	const health = await w.api.get('/health');
	assert.equal(health.workers, 0, 'the workers daemon has no local workers');
	const model = await w.api.uploadModel(path.join(FIXTURES, 'fmnist_preact_f4.onnx'), 'f4');
	const ds = await w.api.ok('POST', '/datasets', { name: 'fashion-mnist', path: FMNIST });
	w.jobA = (await w.api.ok('POST', '/jobs', { model: model.id, dataset: ds.id, p: [1e-2], trials: 1, limit: 300, seed: 1 })).id;
	const cl = await w.wapi.request('POST', '/worker/claim', { name: 'w-api', host: 'lab-1' });
	assert.equal(cl.status, 200, `w-api's claim: ${cl.status} ${cl.text}`);
	w.claim = cl.body;
	// a lease id may pass 2^53: keep its digits, not a JavaScript number
	w.lease = /"lease":\s*([0-9]+)/.exec(cl.text)[1];
	assert.equal(w.claim.task.job, w.jobA, 'w-api holds job A\'s task');
	w.jobB = (await w.api.ok('POST', '/jobs', { model: model.id, dataset: ds.id, p: [1e-2, 3e-2], trials: 2, limit: 300, seed: 2 })).id;
	w.worker = startWorker(build, daemon.base, wtoken, 'w-real', path.join(S.tmp, 'worker-cache'), path.join(S.tmp, 'worker.log'));
	await w.api.waitJob(w.jobB, 60000);
	return w;
}

async function wPage(t, w) {
	const page = await t.newPage({ token: w.token });
	page.gotoW = async (hash) => {
		const resp = await page.goto(`${w.daemon.base}/${hash}`);
		if (resp) // null: only the fragment changed
			assert.equal(resp.status(), 200, `GET ${hash}`);
	};
	return page;
}

test('workers: the Workers view lists each remote worker (state, task and job, heartbeat age, images/s, tasks done) and refreshes', async (t) => {
	const w = await workersDaemon();
	const page = await wPage(t, w);
	await page.gotoW('#/overview');
	await waitView(page, 'overview');
	await tabTo(page, 'nav a[href="#/workers"]');
	await page.keyboard.press('Enter');
	await waitView(page, 'workers');
	await page.waitForSelector('tr[data-worker="w-real"]').catch(() => { throw new Error('#/workers has no row tr[data-worker="w-real"]'); });
	const api = Object.fromEntries((await w.api.get('/workers')).items.map((x) => [x.name, x]));
	const cells = (name) => page.evaluate((n) => Object.fromEntries([...document.querySelectorAll(`tr[data-worker="${n}"] td`)]
		.map((td) => [td.dataset.field, { value: td.dataset.value, text: td.textContent.trim() }])), name);
	const a = await cells('w-api');
	assert.equal(a.state.value, 'busy', 'w-api holds a task: busy');
	assert.equal(a.task.value, String(w.claim.task.id), 'w-api\'s task id');
	assert.ok(await page.$(`tr[data-worker="w-api"] a[href="#/jobs/${w.jobA}"]`), `w-api's row links to job #${w.jobA}`);
	assert.match(a.name.text, /w-api on lab-1/, 'name and host');
	const r = await cells('w-real');
	assert.equal(r.tasks_done.value, String(api['w-real'].tasks_done), 'w-real\'s tasks done as the API says');
	assert.ok(Number(r.tasks_done.value) >= 1, 'w-real did a task');
	assert.equal(r.images.value, String(api['w-real'].images), 'w-real\'s images as the API says');
	assert.equal(Number(r.images.value), 2 * 2 * 300, 'w-real evaluated job B\'s 2 points x 2 trials x 300 images');
	assert.ok(Number(r.images_per_second.value) > 0 && /[0-9]/.test(r.images_per_second.text), `w-real's images/s shown (${r.images_per_second.text})`);
	assert.ok(['idle', 'busy'].includes(r.state.value), `w-real online (${r.state.value})`);
	const age = Number(r.last_heartbeat.value);
	assert.ok(r.last_heartbeat.value !== '' && age >= 0 && age < 60, `w-real's heartbeat age ${r.last_heartbeat.value} s`);
	await screenshot(page, 'workers');
	// the view refreshes by itself: w-api reports a failure, its row turns idle
	const back = await w.wapi.ok('POST', `/worker/leases/${w.lease}/results`, { failure: 'disk on fire' });
	assert.equal(back.taken, 0, 'a failure records no trial');
	await poll(async () => (await cells('w-api')).state.value === 'idle', 'w-api\'s row says idle once it reported (no reload)', 8000, 100);
	const a2 = await cells('w-api');
	assert.equal(a2.task.value, '', 'w-api holds no task');
	assert.equal(a2.tasks_done.value, '0', 'a failure is no task done');
	assert.deepEqual(page.errors, [], 'console errors');
});

test('failed job: its page says why, draws no empty plots, does not say "not yet"; the jobs list shows the reason and durations, and sorts', async (t) => {
	const w = await workersDaemon();
	const failed = await poll(async () => {
		const j = await w.api.get(`/jobs/${w.jobA}`);
		if (j.state === 'running' || j.state === 'queued') {
			// the workers test reports the failure; run alone, report it here
			await w.wapi.request('POST', `/worker/leases/${w.lease}/results`, { failure: 'disk on fire' });
			return null;
		}
		return j;
	}, `job ${w.jobA} failed`, 10000, 100);
	assert.equal(failed.state, 'failed', `job ${w.jobA} failed`);
	assert.match(failed.error, /disk on fire/, 'the job\'s error names the worker\'s failure');
	const page = await wPage(t, w);
	await page.gotoW(`#/jobs/${w.jobA}`);
	await waitView(page, 'job');
	await poll(async () => /failed/.test((await visibleText(page, '#job-state')) || ''), '#job-state says failed');
	const why = await poll(() => visibleText(page, '#job-error'), '#job-error shows the failure');
	assert.ok(why.includes(failed.error), `#job-error shows the reason "${failed.error}" (shows ${JSON.stringify(why)})`);
	await poll(() => visibleText(page, '#results-complete'), '#results-complete shown');
	const complete = await visibleText(page, '#results-complete');
	assert.doesNotMatch(complete, /not yet/, `a failed job is not "not yet" complete (${complete})`);
	assert.match(complete, /failed/, 'Complete: says the job failed');
	assert.equal(await page.$$eval('[data-view="job"] canvas', (cs) => cs.length), 0, 'no (empty) plot drawn for a job without trials');
	assert.ok(await visibleText(page, '#job-no-plots'), '#job-no-plots says why there is no plot');
	await screenshot(page, 'job-failed');

	await page.gotoW('#/jobs');
	await waitView(page, 'jobs');
	await page.waitForSelector(`tr[data-job-id="${w.jobA}"]`);
	const reason = await page.$eval(`tr[data-job-id="${w.jobA}"] [data-field="error"]`, (e) => e.textContent).catch(() => null);
	assert.ok(reason && reason.includes(failed.error), `the failed job's row shows its reason (${JSON.stringify(reason)})`);
	const jb = await w.api.get(`/jobs/${w.jobB}`);
	const dur = (Date.parse(jb.finished_at) - Date.parse(jb.started_at)) / 1000;
	const cell = (f) => page.$eval(`tr[data-job-id="${w.jobB}"] td[data-field="${f}"]`, (e) => ({ value: e.dataset.value, text: e.textContent.trim() }));
	const d = await cell('duration');
	assert.equal(Number(d.value), dur, `job B's duration: finished_at - started_at = ${dur} s`);
	assert.ok(d.text !== '' && d.text !== '—', `job B's duration shown (${d.text})`);
	const ips = await cell('images_per_second');
	if (dur >= 1) {
		assert.ok(Math.abs(Number(ips.value) - jb.progress.images_done / dur) < 1e-9, `job B's images/s = images done / duration (${ips.value})`);
		assert.ok(Number(ips.value) > 0, 'a finished job\'s images/s is not 0');
	} else {
		assert.equal(ips.value, '', 'under a second: no rate');
	}
	// sorting: click the Job header (ascending), again (descending)
	const order = () => page.$$eval('#jobs-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.jobId)));
	const ids = [w.jobA, w.jobB].sort((x, y) => x - y);
	await page.click('th[data-col="id"] button.sort');
	assert.deepEqual(await order(), ids, 'Job header once: ascending ids');
	assert.equal(await page.$eval('th[data-col="id"]', (e) => e.getAttribute('aria-sort')), 'ascending');
	await page.click('th[data-col="id"] button.sort');
	assert.deepEqual(await order(), ids.slice().reverse(), 'Job header twice: descending');
	await page.click('th[data-col="state"] button.sort');
	assert.deepEqual(await order(), [w.jobB, w.jobA], 'State ascending: done before failed');
	await screenshot(page, 'jobs-failed');
	assert.deepEqual(page.errors, [], 'console errors');
}, 60000);

test('versions: a re-uploaded name is "NAME v2" in the models list, on its page, on its job\'s page and in the jobs list', async (t) => {
	const file = path.join(FIXTURES, 'fmnist_preact_f4.onnx');
	const v1 = await S.api.uploadModel(file, 'versioned');
	const v2 = await S.api.uploadModel(file, 'versioned');
	assert.deepEqual([v1.version, v2.version], [1, 2], 'the API numbers the versions');
	const job = await S.api.ok('POST', '/jobs', { model: v2.id, dataset: S.dataset.id, p: [0], trials: 1, limit: 20 });
	assert.equal(job.model_version, 2, 'the job names its model version');
	const page = await t.newPage({ token: S.alice });
	await goto(page, '#/models');
	await waitView(page, 'models');
	await page.waitForSelector(`tr[data-model-id="${v2.id}"]`);
	const names = await page.evaluate(([a, b]) => [a, b].map((id) =>
		document.querySelector(`tr[data-model-id="${id}"] [data-field="name"]`)?.textContent), [v1.id, v2.id]);
	assert.deepEqual(names, ['versioned v1', 'versioned v2'], 'the models list');
	await goto(page, `#/models/${v2.id}`);
	await waitView(page, 'model');
	await poll(async () => (await visibleText(page, '[data-view="model"] h1') || '').startsWith('Model versioned v2'),
		'the model page\'s heading says "Model versioned v2"');
	await goto(page, `#/jobs/${job.id}`);
	await waitView(page, 'job');
	await poll(async () => (await visibleText(page, '[data-view="job"] a[data-field="model"]')) === 'versioned v2',
		'the job page names "versioned v2" next to the dataset');
	await goto(page, '#/jobs');
	await waitView(page, 'jobs');
	await page.waitForSelector(`tr[data-job-id="${job.id}"]`);
	assert.equal(await page.$eval(`tr[data-job-id="${job.id}"] a[href="#/models/${v2.id}"]`, (e) => e.textContent),
		'versioned v2', 'the jobs list');
	assert.deepEqual(page.errors, [], 'console errors');
	await S.api.waitJob(job.id);
});

// docs/experiments.md, Figs. 1 and 2 through the dashboard: the four
// architectures' sweeps (the same BM on weights and activations, p grid,
// trials and images) as jobs, overlaid on the compare view.
test('compare: the four architectures of Figs. 1 and 2 as jobs (BM on weights and activations), overlaid, one colour and one row each', async (t) => {
	const archs = [['fmnist_preact_f8.onnx', null], ['fmnist_resnet18_f8.onnx', 'resnet18-f8'],
		['fmnist_senet18_f8.onnx', 'senet18-f8'], ['fmnist_mobilenetv2_w25.onnx', 'mobilenetv2-x0.25']];
	const ids = [];
	for (const [file, name] of archs) {
		const model = name ? await S.api.uploadModel(path.join(FIXTURES, file), name) : S.models.f8;
		ids.push((await S.api.ok('POST', '/jobs', { model: model.id, dataset: S.dataset.id, deviation: 'bm',
			target: 'both', p: [1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], trials: 2, limit: 200 })).id);
	}
	for (const id of ids)
		await S.api.waitJob(id, 240000);
	const page = await t.newPage({ token: S.alice });
	await goto(page, `#/compare?jobs=${ids.join(',')}`);
	await waitView(page, 'compare');
	await expectPlot(page, '#plot-compare');
	await expectPlot(page, '#plot-compare-energy');
	const colours = [];
	for (const id of ids) {
		const c = await page.$eval(`.compare-table tr[data-job-id="${id}"] .swatch`, (e) => e.dataset.color);
		colours.push(c);
		const n = await colourPixels(page, '#plot-compare', c);
		assert.ok(n > 20, `#plot-compare draws job ${id} in ${c} (${n} pixels)`);
	}
	assert.equal(new Set(colours).size, ids.length, `one colour per job: ${colours}`);
	await screenshot(page, 'compare-architectures');
	assert.deepEqual(page.errors, [], 'console errors');
}, 300000);

test('public read: with --public-read the job view renders without a token', async (t) => {
	const exit = await S.daemon.stop();
	assert.deepEqual(exit, { code: 0, signal: null }, 'brownoutd exits 0 on SIGTERM');
	S.daemon = await new Daemon(build, S.daemon.data, path.join(S.tmp, 'brownoutd-public.log'), ['--public-read']).start();
	S.api.base = S.daemon.base;
	const page = await t.newPage();
	await goto(page, `#/jobs/${S.job1}`);
	await waitView(page, 'job');
	await poll(async () => /done/i.test((await visibleText(page, '#job-state')) || ''), '#job-state says done');
	await expectPlot(page, '#plot-accuracy');
	await expectPlot(page, '#plot-energy');
	await checkResultsTable(page, (await S.api.get(`/jobs/${S.job1}/results`)).points);
	await screenshot(page, 'job-public');
	assert.equal(await storedToken(page), null, 'no token stored');
	// signed out, read-only: nothing provoked an error (no 401 probe)
	assert.deepEqual(page.errors, [], 'console errors');
});

test('public read: submitting without a token creates no job and says why', async (t) => {
	const page = await t.newPage();
	await goto(page, '#/submit');
	await waitView(page, 'submit');
	const form = await page.$('form#submit-form');
	if (!form) {
		log('no form#submit-form without a token');
		return;
	}
	const before = await jobCount();
	await chooseOption(page, '#submit-form select[name="model"]', S.models.f8);
	await chooseOption(page, '#submit-form select[name="dataset"]', S.dataset);
	await fillForm(page, { p: '1e-3', trials: '1', limit: '100' });
	if (!(await page.isEnabled('#submit-button'))) {
		log('#submit-button is disabled without a token');
	} else {
		await page.click('#submit-button');
		const why = await poll(async () => (await visibleText(page, '#submit-error')) ||
			(await visibleText(page, '#sign-in-error')) || (await visibleText(page, '.field-error')),
		'an error shown (#submit-error, #sign-in-error or a .field-error) after submitting without a token');
		log(`submit without a token: ${JSON.stringify(why)}`);
	}
	await sleep(300);
	assert.doesNotMatch(page.url(), /#\/jobs\/[0-9]+$/, 'no navigation to a new job');
	assert.equal(await jobCount(), before, 'no job created');
});

// ---- main ------------------------------------------------------------------------

async function main() {
	const t0 = Date.now();
	let pass = 0;
	let fail = 0;
	const failed = [];
	process.on('exit', () => {
		if (S.daemon)
			S.daemon.kill();
		if (S.w) {
			S.w.daemon.kill();
			if (S.w.worker)
				S.w.worker.proc.kill('SIGKILL');
		}
	});
	for (const sig of ['SIGINT', 'SIGTERM'])
		process.on(sig, () => {
			if (S.daemon)
				S.daemon.kill();
			process.exit(130);
		});
	try {
		await setup();
	} catch (e) {
		console.log('setup failed: ' + (e.stack || e));
		if (S.daemon)
			console.log(S.daemon.logTail());
		await stopAll();
		cleanup();
		console.log('web: 0 passed, 1 failed');
		process.exit(1);
	}
	log(`setup: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	const chosen = tests.filter((x) => filters.length === 0 || filters.some((f) => x.name.includes(f)));
	let n = 0;
	for (const x of chosen) {
		n++;
		const t = new TestCtx(x.name);
		const t1 = Date.now();
		let timer;
		try {
			await Promise.race([x.fn(t), new Promise((_, reject) => {
				timer = setTimeout(() => reject(new Error(`timed out after ${x.timeoutMs / 1000} s`)), x.timeoutMs);
			})]);
			pass++;
			console.log(`ok ${n} - ${x.name} (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
		} catch (e) {
			fail++;
			failed.push(x.name);
			console.log(`FAIL ${n} - ${x.name} (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
			console.log('    ' + String(e && e.message || e).split('\n').join('\n    '));
			for (const [i, page] of t.pages.entries()) {
				if (page.errors.length)
					console.log(`    page ${i} console errors:\n      ` + page.errors.join('\n      '));
				const shot = path.join(outDir, `failed-${slug(x.name)}${i ? '-' + i : ''}.png`);
				await page.screenshot({ path: shot, timeout: 5000 }).then(() => console.log(`    screenshot: ${shot} (${page.url()})`), () => {});
			}
		} finally {
			clearTimeout(timer);
			await t.close();
		}
	}
	const stopped = await stopAll();
	if (stopped !== true) {
		fail++;
		failed.push('brownoutd stops on SIGTERM with status 0');
		console.log(`FAIL ${++n} - brownoutd stops on SIGTERM with status 0: ${JSON.stringify(stopped)}`);
	} else {
		pass++;
		console.log(`ok ${++n} - brownoutd stops on SIGTERM with status 0`);
	}
	if (fail) {
		console.log(S.daemon.logTail(20));
		console.log('failed:\n  ' + failed.join('\n  '));
	}
	cleanup();
	console.log(`screenshots in ${shotDir}; ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
	console.log(`web: ${pass} passed, ${fail} failed`);
	process.exit(fail ? 1 : 0);
}

// Close the browser, stop the daemon: true if it exited 0, else what it did.
async function stopAll() {
	if (S.browser)
		await S.browser.close().catch(() => {});
	if (S.w) {
		if (S.w.worker && S.w.worker.proc.exitCode === null && S.w.worker.proc.signalCode === null) {
			S.w.worker.proc.kill('SIGTERM');
			const r = await Promise.race([S.w.worker.exited, sleep(10000).then(() => null)]);
			if (r === null)
				S.w.worker.proc.kill('SIGKILL');
		}
		const wexit = await S.w.daemon.stop();
		if (!wexit || wexit.code !== 0)
			console.log(`the workers daemon's exit: ${JSON.stringify(wexit)}\n${S.w.daemon.logTail(10)}`);
	}
	if (!S.daemon)
		return null;
	const exit = await S.daemon.stop();
	return exit && exit.code === 0 && exit.signal === null ? true : exit;
}

// Remove the temporary directory unless BO_KEEP_TMP=1.
function cleanup() {
	if (!S.tmp)
		return;
	if (process.env.BO_KEEP_TMP === '1')
		console.log(`kept ${S.tmp}`);
	else
		fs.rmSync(S.tmp, { recursive: true, force: true });
}

main();
