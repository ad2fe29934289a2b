// Pieces shared by the views.
import {get, isAbort} from '../api.js';
import {h, replace} from '../dom.js';
import {fmtDuration, fmtTime, fmtAgo, fmtP, fmtAcc, fmtNum, DASH} from '../format.js';
import {jobColor, PALETTE} from '../plots.js';

export const STATES = ['queued', 'running', 'done', 'failed', 'cancelled'];
export const ACTIVE = new Set(['queued', 'running']);

export function stateBadge(state, attrs = {}) {
	return h('span', {class: `state state-${state}`, ...attrs}, state);
}

/* A model's name with its version, "f8 v2": model objects carry `version`,
 * jobs `model_version` (an upload of a used name is version n+1); the name
 * alone where the API gives no version. */
export function modelLabel(name, version) {
	return Number.isInteger(version) && version > 0 ? `${name} v${version}` : name;
}

export function timeCell(iso) {
	return h('time', {datetime: iso || '', title: iso || ''}, iso ? `${fmtTime(iso)} (${fmtAgo(iso)})` : DASH);
}

/* progress element with value = fraction (0..1), max = 1. */
export function progressBar(job, attrs = {}) {
	const pr = job.progress;
	const frac = job.state === 'done' ? 1 : Math.max(0, Math.min(1, pr.fraction || 0));
	const bar = h('progress', {max: 1, value: frac, ...attrs,
		'aria-label': `job ${job.id}: ${Math.round(frac * 100)} % done`});
	bar.textContent = `${Math.round(frac * 100)} %`;
	return bar;
}

export function timeLeftText(job) {
	const pr = job.progress;
	if (job.state === 'queued') return 'waiting for a worker';
	if (job.state !== 'running') return DASH;
	if (pr.seconds_left === null || pr.seconds_left === undefined) return 'estimating…';
	return `about ${fmtDuration(pr.seconds_left)} left`;
}

/* A one-line summary of a sweep spec: "BM on both, 9 p from 0.001 to 0.1, 10 trials". */
export function specSummary(spec) {
	if (spec.kind === 'optimize') {
		const g = spec.block_p_grid || [];
		return [`optimize: ${spec.deviation === 'erasure' ? 'erasure' : 'BM'} on ${spec.target}`,
			spec.accuracy_floor !== null ? `floor ${spec.accuracy_floor}` : `max loss ${spec.max_loss}`,
			`${g.length} grid p from ${fmtP(Math.min(...g))} to ${fmtP(Math.max(...g))}`,
			`budget ${spec.budget_trials} trials`].join(', ');
	}
	const p = spec.p || [];
	const pText = p.length === 1 ? `p ${fmtP(p[0])}`
		: `${p.length} p from ${fmtP(Math.min(...p))} to ${fmtP(Math.max(...p))}`;
	const trials = spec.ci_target ? `CI ±${spec.ci_target}` : `${spec.trials} trial${spec.trials === 1 ? '' : 's'}`;
	const parts = [`${spec.deviation === 'erasure' ? 'erasure' : 'BM'} on ${spec.target}`, pText, trials];
	if (spec.block_p) parts.push(`block_p ${spec.block_p}`);
	if (spec.references && spec.references.length) parts.push(`${spec.references.length} reference${spec.references.length > 1 ? 's' : ''}`);
	return parts.join(', ');
}

export function jobLink(job) {
	return h('a', {href: `#/jobs/${job.id}`}, `#${job.id}`);
}

export function pctText(job) {
	const frac = job.state === 'done' ? 1 : (job.progress.fraction || 0);
	return `${Math.round(frac * 100)} %`;
}

/* Seconds a job ran (started to finished, or to now while it runs); null
 * before it started. */
export function jobDuration(job, now = Date.now()) {
	if (!job.started_at) return null;
	const end = job.finished_at ? Date.parse(job.finished_at) : (job.state === 'running' ? now : null);
	if (end === null) return null;
	return Math.max(0, (end - Date.parse(job.started_at)) / 1000);
}

/* Images/s of a job: the daemon's live rate while it runs; once over, the
 * images done over its duration (null under a second: not measurable from
 * whole-second timestamps). */
export function jobRate(job) {
	if (job.state === 'running') return job.progress.images_per_second;
	const d = jobDuration(job);
	if (d === null || d < 1 || !job.progress.images_done) return null;
	return job.progress.images_done / d;
}

/* Name and tags of a job, where the API has them (optional fields). */
function jobTitle(job) {
	const tags = Array.isArray(job.tags) ? job.tags.filter((t) => typeof t === 'string') : [];
	return [
		typeof job.name === 'string' && job.name ? h('span', {class: 'job-name', 'data-field': 'name'}, job.name) : null,
		tags.length ? h('span', {class: 'tags', 'data-field': 'tags'}, tags.map((t) => h('span', {class: 'tag'}, t))) : null,
	];
}

/* The job's colour (the same in every view). */
export function jobSwatch(job) {
	const c = jobColor(job.id);
	return h('span', {class: `swatch swatch-${PALETTE.indexOf(c)}`, 'data-color': c, 'aria-hidden': 'true'});
}

/* The job table's columns: label, sort key (null: not sortable), cell. */
export const JOB_COLUMNS = [
	{key: 'id', label: 'Job', sort: (j) => j.id,
		cell: (j) => h('td', {class: 'c-job'}, jobSwatch(j), jobLink(j), jobTitle(j))},
	{key: 'state', label: 'State', sort: (j) => STATES.indexOf(j.state),
		cell: (j) => h('td', {class: 'c-state'}, stateBadge(j.state),
			j.state === 'failed' && j.error ? h('div', {class: 'failure', 'data-field': 'error', title: j.error}, j.error) : null)},
	{key: 'model', label: 'Model', sort: (j) => j.model_name.toLowerCase(),
		cell: (j) => h('td', null, h('a', {href: `#/models/${j.model}`}, modelLabel(j.model_name, j.model_version)))},
	{key: 'dataset', label: 'Dataset', sort: (j) => j.dataset_name.toLowerCase(), cell: (j) => h('td', null, j.dataset_name)},
	{key: 'sweep', label: 'Sweep', sort: null, cell: (j) => h('td', {class: 'spec'}, specSummary(j.spec))},
	{key: 'progress', label: 'Progress', sort: (j) => (j.state === 'done' ? 1 : j.progress.fraction || 0),
		cell: (j) => h('td', {class: 'c-progress'}, progressBar(j), ' ', h('span', {class: 'muted'}, pctText(j)))},
	{key: 'duration', label: 'Duration', class: 'num', title: 'started to finished (to now while it runs)', sort: (j) => jobDuration(j),
		cell: (j) => {
			const d = jobDuration(j);
			return h('td', {class: 'num', 'data-field': 'duration', 'data-value': d === null ? '' : String(d)},
				d === null ? DASH : d < 1 ? 'under 1 s' : fmtDuration(d));
		}},
	{key: 'rate', label: 'Images/s', class: 'num', title: 'live while it runs; over the whole run once over', sort: (j) => jobRate(j),
		cell: (j) => {
			const r = jobRate(j);
			return h('td', {class: 'num', 'data-field': 'images_per_second', 'data-value': r === null ? '' : String(r)},
				r === null ? DASH : fmtNum(r, 3));
		}},
	{key: 'clean', label: 'Clean acc.', class: 'num', title: 'clean accuracy on the job\'s images', sort: (j) => j.clean_accuracy,
		cell: (j) => h('td', {class: 'num'}, j.clean_accuracy === null ? DASH : fmtAcc(j.clean_accuracy))},
	{key: 'owner', label: 'Owner', sort: (j) => j.owner, cell: (j) => h('td', null, j.owner)},
	{key: 'created', label: 'Created', sort: (j) => j.created_at, cell: (j) => h('td', null, timeCell(j.created_at))},
];

/* A table row for a job (jobs list, overview). */
export function jobRow(job, {select, onSelect, selected} = {}) {
	return h('tr', {'data-job-id': job.id, class: `row-${job.state}`},
		select ? h('td', {class: 'c-select'}, h('input', {type: 'checkbox', value: job.id,
			checked: selected, 'aria-label': `select job ${job.id} for comparison`,
			onchange: (ev) => onSelect && onSelect(job.id, ev.target.checked)})) : null,
		JOB_COLUMNS.map((c) => c.cell(job)));
}

export const JOB_COLS = JOB_COLUMNS.map((c) => ({label: c.label, class: c.class, title: c.title}));

/* Sort jobs by column KEY (asc or desc); nulls last either way. */
export function sortJobs(jobs, key, dir) {
	const col = JOB_COLUMNS.find((c) => c.key === key && c.sort);
	if (!col) return jobs;
	const sign = dir === 'desc' ? -1 : 1;
	return jobs.slice().sort((a, b) => {
		const x = col.sort(a);
		const y = col.sort(b);
		if (x === null || x === undefined) return y === null || y === undefined ? b.id - a.id : 1;
		if (y === null || y === undefined) return -1;
		return (x < y ? -1 : x > y ? 1 : 0) * sign || b.id - a.id;
	});
}

/* Poll FN every MS while the view lives; skips ticks while the tab is hidden. */
export function poll(ctx, ms, fn) {
	let timer = null;
	let stopped = false;
	const tick = async () => {
		if (stopped || !ctx.alive()) return;
		if (!document.hidden) {
			try {
				const more = await fn();
				if (more === false) {
					stopped = true;
					return;
				}
			} catch (e) {
				if (e && e.name === 'AbortError') return;
			}
		}
		if (!stopped && ctx.alive()) timer = setTimeout(tick, ms);
	};
	timer = setTimeout(tick, ms);
	const stop = () => {
		stopped = true;
		clearTimeout(timer);
	};
	ctx.onCleanup(stop);
	return stop;
}

/* A table fed by a paged list endpoint (`path`, e.g. "models"): the first
 * page into `list`, "Load more" appends the next. render(rows) makes the
 * table, empty() the empty state; `before` (may be null) goes above the
 * table. Returns load(): call it to show the list, and again to refresh. */
export function pagedList(ctx, list, {path, what, render, empty, before = null}) {
	let after = null;
	const rows = [];
	const load = async (more = false) => {
		if (!more) {
			after = null;
			rows.length = 0;
		}
		let page;
		try {
			page = await get(`${path}?limit=50${after ? `&after=${after}` : ''}`, {signal: ctx.signal});
		} catch (e) {
			if (isAbort(e)) return;
			replace(list, ctx.errorBox(e, `The ${what} could not be loaded`));
			return;
		}
		rows.push(...page.items);
		after = page.next_after;
		if (!rows.length) {
			replace(list, empty());
			return;
		}
		replace(list, before, render(rows),
			after ? h('button', {type: 'button', class: 'secondary', onclick: () => load(true)}, 'Load more') : null);
	};
	return load;
}
