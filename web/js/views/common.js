// Pieces shared by the views.
import {get, isAbort} from '../api.js';
import {h, replace} from '../dom.js';
import {fmtDuration, fmtTime, fmtAgo, fmtP, fmtAcc, DASH} from '../format.js';

export const STATES = ['queued', 'running', 'done', 'failed', 'cancelled'];
export const ACTIVE = new Set(['queued', 'running']);

export function stateBadge(state, attrs = {}) {
	return h('span', {class: `state state-${state}`, ...attrs}, state);
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

/* A table row for a job (jobs list, overview). */
export function jobRow(job, {select, onSelect, selected} = {}) {
	return h('tr', {'data-job-id': job.id, class: `row-${job.state}`},
		select ? h('td', {class: 'c-select'}, h('input', {type: 'checkbox', value: job.id,
			checked: selected, 'aria-label': `select job ${job.id} for comparison`,
			onchange: (ev) => onSelect && onSelect(job.id, ev.target.checked)})) : null,
		h('td', {class: 'num'}, jobLink(job)),
		h('td', null, stateBadge(job.state)),
		h('td', null, h('a', {href: `#/models/${job.model}`}, job.model_name)),
		h('td', null, job.dataset_name),
		h('td', {class: 'spec'}, specSummary(job.spec)),
		h('td', {class: 'c-progress'}, progressBar(job), ' ', h('span', {class: 'muted'}, pctText(job))),
		h('td', {class: 'num'}, job.clean_accuracy === null ? DASH : fmtAcc(job.clean_accuracy)),
		h('td', null, job.owner),
		h('td', null, timeCell(job.created_at)));
}

export const JOB_COLS = [
	{label: 'Job'}, {label: 'State'}, {label: 'Model'}, {label: 'Dataset'}, {label: 'Sweep'},
	{label: 'Progress'}, {label: 'Clean acc.', class: 'num', title: 'clean accuracy on the job\'s images'},
	{label: 'Owner'}, {label: 'Created'},
];

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
