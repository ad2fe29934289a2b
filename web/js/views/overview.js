// Overview: the queue, running jobs with progress and ETA, recent jobs, worker load.
import {get, metrics, ApiError, isAbort, canWrite} from '../api.js';
import {h, add, replace, message, table} from '../dom.js';
import {fmtDuration, fmtNum, fmtInt} from '../format.js';
import {Chart, loadSpec} from '../plots.js';
import {jobRow, JOB_COLS, progressBar, timeLeftText, specSummary, stateBadge, poll, pctText, jobSwatch} from './common.js';

const MAX_SAMPLES = 300;

export async function render(root, ctx) {
	const cards = h('div', {class: 'cards', id: 'health'});
	const running = h('div', {class: 'running-jobs', id: 'running-jobs'});
	const queued = h('div', {id: 'queued-jobs'});
	const recent = h('div', {id: 'recent-jobs'});
	const loadText = h('p', {class: 'muted', id: 'load-text'});
	const plotEl = h('div', {class: 'plot plot-small', id: 'plot-load'});
	const status = h('div', {id: 'overview-status'});
	add(root, 
		h('div', {class: 'view-head'}, h('h1', null, 'Overview'),
			canWrite() ? h('a', {class: 'button', href: '#/submit'}, 'Submit a sweep') : null),
		status,
		cards,
		h('div', {class: 'grid-2'},
			h('section', {'aria-labelledby': 'h-running'}, h('h2', {id: 'h-running'}, 'Running jobs'), running),
			h('section', {'aria-labelledby': 'h-load'}, h('h2', {id: 'h-load'}, 'Worker load'), loadText, plotEl, h('p', null, h('a', {href: '#/workers'}, 'Remote workers →')))),
		h('section', {'aria-labelledby': 'h-queued'}, h('h2', {id: 'h-queued'}, 'Queued jobs'), queued),
		h('section', {'aria-labelledby': 'h-recent'}, h('h2', {id: 'h-recent'}, 'Recent jobs'), recent,
			h('p', null, h('a', {href: '#/jobs'}, 'All jobs →'))));

	const chart = new Chart(plotEl, {height: 200});
	ctx.onCleanup(() => chart.dispose());
	const samples = [];
	const cardEls = new Map();
	const runningEls = new Map();

	const card = (key, label, value, note) => {
		let el = cardEls.get(key);
		if (!el) {
			el = {value: h('div', {class: 'card-value', 'data-health': key}), note: h('div', {class: 'card-note'})};
			cards.appendChild(h('div', {class: 'card'}, h('div', {class: 'card-label'}, label), el.value, el.note));
			cardEls.set(key, el);
		}
		el.value.textContent = value;
		el.note.textContent = note || '';
	};

	const renderRunning = (items) => {
		if (!items.length) {
			runningEls.clear();
			replace(running, message('empty', 'No job is running right now.'));
			return;
		}
		const msg = running.querySelector('.msg');
		if (msg) msg.remove();
		const seen = new Set();
		for (const job of items) {
			seen.add(job.id);
			let el = runningEls.get(job.id);
			const pr = job.progress;
			const body = [
				h('div', {class: 'rj-head'}, jobSwatch(job), h('a', {href: `#/jobs/${job.id}`}, `Job #${job.id}`), ' ',
					stateBadge(job.state), ' ', h('span', {class: 'muted'}, `${job.model_name} on ${job.dataset_name} · ${job.owner}`)),
				h('div', {class: 'rj-spec muted'}, specSummary(job.spec)),
				h('div', {class: 'rj-progress'}, progressBar(job), h('span', {class: 'rj-pct'}, pctText(job))),
				h('div', {class: 'rj-stats'},
					h('span', null, `${pr.trials_done}/${pr.trials_total} trials · ${pr.points_done}/${pr.points_total} points`),
					h('span', {class: 'rj-ips', 'data-value': String(pr.images_per_second)}, `${fmtNum(pr.images_per_second, 3)} images/s`),
					h('span', {class: 'rj-left'}, timeLeftText(job))),
			];
			if (!el) {
				el = h('article', {class: 'running-job', 'data-running-job': job.id});
				running.appendChild(el);
				runningEls.set(job.id, el);
			}
			replace(el, ...body);
		}
		for (const [id, el] of runningEls) {
			if (!seen.has(id)) {
				el.remove();
				runningEls.delete(id);
			}
		}
	};

	const renderJobs = (target, items, empty) => {
		if (!items.length) {
			replace(target, message('empty', ...empty));
			return;
		}
		replace(target, table(JOB_COLS, items.map((j) => jobRow(j)), {class: 'jobs-table'}));
	};

	// Without a token on a daemon that wants one, stop asking for jobs (each try is a 401).
	let jobsBlocked = false;
	const blocked = Promise.reject(new ApiError(401, 'unauthorized', 'sign in needed'));
	blocked.catch(() => {});
	const refresh = async () => {
		const signal = ctx.signal;
		const [health, mets, run, que, rec] = await Promise.allSettled([
			get('health', {signal}),
			metrics(signal),
			jobsBlocked ? blocked : get('jobs?state=running&limit=50', {signal}),
			jobsBlocked ? blocked : get('jobs?state=queued&limit=20', {signal}),
			jobsBlocked ? blocked : get('jobs?limit=10', {signal}),
		]);
		if (!ctx.alive()) return;
		for (const r of [health, mets, run, que, rec]) {
			if (r.status === 'rejected' && isAbort(r.reason)) return;
		}
		if (health.status === 'rejected') {
			replace(status, ctx.errorBox(health.reason, 'brownoutd does not answer'));
			return;
		}
		const hl = health.value;
		const m = mets.status === 'fulfilled' ? mets.value : {};
		// images/s: the running jobs' own rates (what their pages show); the
		// /metrics gauge averages over ~10 s and lags, so only without the jobs
		const fromJobs = run.status === 'fulfilled';
		const ips = fromJobs ? run.value.items.reduce((a, j) => a + (j.progress.images_per_second || 0), 0)
			: m.brownout_images_per_second ?? null;
		replace(status);
		card('queue_depth', 'Queued tasks', fmtInt(hl.queue_depth), 'a task is one point × trials');
		card('queued_jobs', 'Queued jobs', m.brownout_queued_jobs === undefined ? '—' : fmtInt(m.brownout_queued_jobs));
		card('running_jobs', 'Running jobs', fmtInt(hl.running_jobs));
		card('workers', 'Workers', fmtInt(hl.workers), 'local threads and remote workers online');
		card('images_per_second', 'Images/s', ips === null ? '—' : fmtNum(ips, 3),
			fromJobs ? 'the running jobs together' : 'all workers, over the last 10 s');
		cardEls.get('images_per_second').value.dataset.value = ips === null ? '' : String(ips);
		card('uptime', 'Uptime', fmtDuration(hl.uptime_seconds), `brownoutd ${hl.version}`);

		samples.push({t: Date.now() / 1000, ips: ips ?? 0, queue: hl.queue_depth});
		if (samples.length > MAX_SAMPLES) samples.shift();
		const perWorker = ips !== null && hl.workers ? ips / hl.workers : null;
		let state = 'idle';
		if (hl.queue_depth > 0) state = `all busy, ${hl.queue_depth} task${hl.queue_depth === 1 ? '' : 's'} waiting`;
		else if (hl.running_jobs > 0) state = 'running the last tasks of the queue';
		loadText.textContent = `${hl.workers} worker${hl.workers === 1 ? '' : 's'}: ${state}`
			+ (perWorker !== null ? `; ${fmtNum(ips, 3)} images/s in all, ${fmtNum(perWorker, 3)} per worker.` : '.');
		chart.set(loadSpec(samples));

		if (run.status === 'rejected') {
			if (run.reason instanceof ApiError && run.reason.status === 401) jobsBlocked = true;
			const box = ctx.errorBox(run.reason, 'Jobs could not be loaded');
			replace(running, box);
			runningEls.clear();
			replace(queued);
			replace(recent);
			return;
		}
		renderRunning(run.value.items);
		if (que.status === 'fulfilled') {
			renderJobs(queued, que.value.items, ['Nothing is waiting.']);
		}
		if (rec.status === 'fulfilled') {
			renderJobs(recent, rec.value.items, canWrite()
				? ['No jobs yet — ', h('a', {href: '#/submit'}, 'submit one'), '.']
				: ['No jobs yet.']);
		}
	};

	await refresh();
	poll(ctx, 2000, refresh);
}
