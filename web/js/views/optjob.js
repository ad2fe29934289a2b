// One optimize job (kind "optimize", docs/optimizer.md): the search's live
// progress (phase, candidates, trials of the budget, best E/E_o and its
// accuracy), then the allocation per block (bars of p and of energy share),
// the verification (mean, CI, floor, E/E_o, meets floor) and the baselines
// on an accuracy-against-E/E_o plot with the chosen allocation marked.
// job.js hands a job of this kind over to this view.
import {request, get, post, mayChange, canWrite, ApiError, isAbort} from '../api.js';
import {h, add, replace, message, table, dl} from '../dom.js';
import {fmtP, fmtAcc, fmtInt, fmtNum, DASH} from '../format.js';
import {Chart, optimizeSpec, plotDownloads} from '../plots.js';
import {specSummary, timeCell, ACTIVE, modelLabel} from './common.js';

const POLL_MS = 1000;
const pct = (v) => `${(100 * v).toFixed(1)} %`;

/* A bar of frac (0..1) of 8em; its width set through the CSSOM (the
 * dashboard's CSP refuses style attributes). */
function barEl(cls, attrs, frac) {
	const el = h('span', {class: `alloc-bar ${cls}`, ...attrs});
	el.style.width = `${(8 * Math.max(0, Math.min(1, frac))).toFixed(2)}em`;
	return el;
}

export async function render(root, ctx, first) {
	let job = first.data;
	let etag = first.etag;
	const id = job.id;
	let results = null;

	const stateEl = h('span', {id: 'job-state', class: 'state'});
	const actions = h('div', {class: 'actions', id: 'job-actions'});
	const actionMsg = h('p', {class: 'form-error', role: 'alert', hidden: true, id: 'job-action-error'});
	const subtitle = h('p', {class: 'lead'});
	const bar = h('progress', {id: 'job-progress', max: 1, value: 0});
	const phaseEl = h('span', {id: 'opt-phase'});
	const stats = h('div', {class: 'progress-stats', id: 'opt-stats'});
	const errorBox = h('div', {id: 'job-error'});
	const allocBox = h('div', {id: 'opt-allocation'});
	const verBox = h('div', {id: 'opt-verification'});
	const baseBox = h('div', {id: 'opt-baselines'});
	const plotEl = h('div', {class: 'plot', id: 'plot-optimize', role: 'img', 'aria-label': 'accuracy against E/E_o: the allocation and the baselines'});
	const resultsSection = h('section', {id: 'opt-results', 'aria-labelledby': 'h-alloc', hidden: true},
		h('div', {class: 'grid-2'},
			h('section', {'aria-labelledby': 'h-alloc'}, h('h2', {id: 'h-alloc'}, 'Allocation per block'), allocBox),
			h('section', {'aria-labelledby': 'h-ver'}, h('h2', {id: 'h-ver'}, 'Verification'), verBox)),
		h('section', {'aria-labelledby': 'h-base'}, h('h2', {id: 'h-base'}, 'Against the baselines'),
			h('figure', null, plotEl), baseBox));
	add(root,
		h('div', {class: 'view-head'}, h('h1', null, `Optimize job #${id} `, stateEl), actions),
		subtitle,
		actionMsg,
		h('section', {class: 'panel progress-panel', 'aria-label': 'progress'},
			h('div', {class: 'progress-line'}, h('label', {for: 'job-progress'}, 'Search'), bar, phaseEl),
			stats,
			errorBox),
		resultsSection);
	const chart = new Chart(plotEl, {height: 320});
	add(plotEl.parentNode, h('div', {class: 'plot-tools'}, plotDownloads(chart, () => `brownout-job-${id}-optimize`)));
	ctx.onCleanup(() => chart.dispose());

	const renderHeader = () => {
		stateEl.textContent = job.state;
		stateEl.className = `state state-${job.state}`;
		replace(subtitle,
			h('a', {href: `#/models/${job.model}`}, modelLabel(job.model_name, job.model_version)), ' on ', job.dataset_name,
			` · ${job.owner} · `, specSummary(job.spec));
		const pr = job.optimize;
		bar.max = pr && pr.budget > 0 ? pr.budget : 1;
		bar.value = job.state === 'done' ? bar.max : pr ? Math.min(pr.trials, bar.max) : 0;
		phaseEl.textContent = pr ? `phase ${pr.phase}: ${pr.phase_name}` : job.state;
		replace(stats,
			pr ? h('span', {'data-field': 'candidates'}, `${fmtInt(pr.candidates)} candidates`) : null,
			pr ? h('span', {'data-field': 'trials'}, `${fmtInt(pr.trials)}/${fmtInt(pr.budget)} trials`) : null,
			pr && pr.best_energy_ratio !== null ? h('span', {'data-field': 'best'},
				`best E/E_o ${fmtNum(pr.best_energy_ratio, 4)} at accuracy ${fmtAcc(pr.best_accuracy)}`) : null,
			pr && pr.cached ? h('span', {'data-field': 'cached', title: 'trials found stored by an earlier, interrupted run'},
				`${fmtInt(pr.cached)} trials resumed`) : null,
			h('span', null, 'created ', timeCell(job.created_at)),
			job.finished_at ? h('span', null, 'finished ', timeCell(job.finished_at)) : null);
		replace(errorBox, job.state === 'failed'
			? message('error', h('strong', null, 'The job failed: '), job.error || 'no reason given')
			: job.state === 'cancelled' ? message('warn', 'This job was cancelled.') : null);
		const items = [];
		if (canWrite()) items.push(h('a', {class: 'button secondary', href: `#/submit?from=${id}`, id: 'rerun-job'}, 'Edit and resubmit'));
		if (mayChange(job.owner) && ACTIVE.has(job.state)) {
			items.push(h('button', {type: 'button', id: 'cancel-job', class: 'warn', onclick: cancel}, 'Cancel job'));
		}
		replace(actions, ...items);
	};

	const cancel = async (ev) => {
		ev.currentTarget.disabled = true;
		try {
			job = await post(`jobs/${id}/cancel`, undefined, {signal: ctx.signal});
			etag = null;
			renderHeader();
		} catch (e) {
			if (isAbort(e)) return;
			actionMsg.textContent = `Not cancelled: ${e instanceof ApiError ? e.describe() : e}`;
			actionMsg.hidden = false;
		}
	};

	/* p on the grid's log scale (0: reliable, no bar) */
	const pWidth = (p, grid) => {
		if (!(p > 0)) return 0;
		const lo = Math.log(Math.min(...grid)) - Math.log(2);
		const hi = Math.log(Math.max(...grid));
		return Math.max(0.03, Math.min(1, (Math.log(p) - lo) / (hi - lo)));
	};

	const renderResults = () => {
		const r = results;
		resultsSection.hidden = false;
		const grid = job.spec.block_p_grid;
		replace(allocBox,
			h('p', {class: 'muted'}, `E/E_o ${fmtNum(r.energy_ratio, 4)}: p per block on the grid (bar: log p) and its share of the energy.`),
			table([{label: 'Block'}, {label: 'p'}, {label: 'η', class: 'num'}, {label: 'Energy share'}], r.allocation.map((a) => h('tr', {class: 'alloc-row', 'data-block': a.block},
				h('td', null, a.block),
				h('td', {class: 'bar-cell'}, barEl('alloc-p', {'data-p': String(a.p)}, pWidth(a.p, grid)), ' ', a.p > 0 ? fmtP(a.p) : '0 (reliable)'),
				h('td', {class: 'num'}, fmtNum(a.eta, 3)),
				h('td', {class: 'bar-cell'}, barEl('alloc-share', {'data-share': String(a.energy_share)}, a.energy_share), ' ', pct(a.energy_share)))),
			{id: 'opt-allocation-table'}));
		const v = r.verification;
		replace(verBox,
			dl([
				['Mean accuracy', h('span', {'data-field': 'accuracy'}, fmtAcc(v.accuracy))],
				['95 % CI', h('span', {'data-field': 'ci'}, `[${fmtAcc(v.ci_lo)}, ${fmtAcc(v.ci_hi)}]`)],
				['Floor A*', h('span', {'data-field': 'floor'}, fmtAcc(r.accuracy_floor))],
				['E/E_o', h('span', {'data-field': 'energy_ratio'}, fmtNum(v.energy_ratio, 4))],
				['Meets the floor', h('span', {'data-field': 'meets_floor', class: v.meets_floor ? 'ok' : 'warn'},
					v.meets_floor ? 'yes (the CI reaches A*)' : 'no (the CI lies below A*)')],
				['Trials', `${v.trials} fresh chips, seed ${v.seed}`],
				['Search', `${fmtInt(r.search.candidates)} candidates, ${fmtInt(r.search.trials)}/${fmtInt(r.search.budget_trials)} trials, ${r.search.moves} moves; clean accuracy ${fmtAcc(r.clean_accuracy)}`],
			]),
			r.note ? h('p', {class: 'muted'}, r.note) : null);
		replace(baseBox, table([{label: 'Baseline'}, {label: 'E/E_o at the verified accuracy', class: 'num'}, {label: 'The allocation uses', class: 'num'}],
			v.baselines.map((b) => h('tr', {'data-baseline': b.name},
				h('td', null, b.name === 'paper' ? 'paper policy' : b.name),
				h('td', {class: 'num'}, b.reached ? fmtNum(b.iso_energy_ratio, 4) : (b.why || DASH)),
				h('td', {class: 'num'}, b.reached ? `${pct(Math.abs(b.saving))} ${b.saving >= 0 ? 'less' : 'more'} energy` : DASH)))));
		chart.set(optimizeSpec(r));
	};

	const loadResults = async () => {
		if (job.state !== 'done') return;
		try {
			results = await get(`jobs/${id}/results`, {signal: ctx.signal});
		} catch (e) {
			if (isAbort(e)) throw e;
			replace(errorBox, ctx.errorBox(e, 'The results could not be loaded'));
			return;
		}
		if (ctx.alive() && results.complete) renderResults();
	};

	renderHeader();
	await loadResults();

	let timer = null;
	const tick = async () => {
		timer = null;
		if (!ctx.alive()) return;
		try {
			const r = await request(`jobs/${id}`, {etag, signal: ctx.signal});
			if (r.status !== 304) {
				job = r.data;
				etag = r.etag;
				renderHeader();
				await loadResults();
			}
		} catch (e) {
			if (isAbort(e) || !ctx.alive()) return;
			replace(errorBox, message('error', `Live updates interrupted: ${e.describe ? e.describe() : e}. Retrying…`));
		}
		if (ctx.alive() && ACTIVE.has(job.state)) timer = setTimeout(tick, POLL_MS);
	};
	if (ACTIVE.has(job.state)) timer = setTimeout(tick, POLL_MS);
	ctx.onCleanup(() => {
		if (timer) clearTimeout(timer);
	});
}
