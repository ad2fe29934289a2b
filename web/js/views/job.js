// One job: live progress, plots, per-block policy, the results table, downloads, cancel/delete.
import {request, get, post, del, session, mayChange, canWrite, ApiError, isAbort, API} from '../api.js';
import {h, add, replace, message, table, dl, confirmButton, select} from '../dom.js';
import {fmtP, fmtAcc, fmtInt, fmtNum, fmtReduction, fmtBestReduction, fmtCI, fmtDuration, rawValue, eta, DASH} from '../format.js';
import {Chart, accuracySpec, energySpec, yieldSpec, isNested, jobColor, plotDownloads} from '../plots.js';
import {parseBlockP, policyP, ruleText} from '../spec.js';
import {stateBadge, progressBar, timeLeftText, timeCell, specSummary, jobSwatch, ACTIVE, modelLabel} from './common.js';
import * as optjob from './optjob.js';

const POLL_MS = 1000;

export async function render(root, ctx) {
	const id = Number(ctx.params[0]);
	add(root, h('p', {class: 'crumbs'}, h('a', {href: '#/jobs'}, '← Jobs')));

	let first;
	try {
		first = await request(`jobs/${id}`, {signal: ctx.signal});
	} catch (e) {
		if (isAbort(e)) return;
		add(root, h('h1', null, `Job #${id}`),
			ctx.errorBox(e, e instanceof ApiError && e.status === 404 ? 'No such job' : 'The job could not be loaded'));
		return;
	}
	ctx.setTitle(`Job #${id}`);
	if (first.data.kind === 'optimize') return optjob.render(root, ctx, first);
	let job = first.data;
	let etag = first.etag;
	let results = null;
	let model = null;

	/* ---- skeleton ---- */
	const stateEl = h('span', {id: 'job-state', class: 'state'});
	const jobName = h('span', {class: 'job-name', id: 'job-name'});
	const actions = h('div', {class: 'actions', id: 'job-actions'});
	const actionMsg = h('p', {class: 'form-error', role: 'alert', hidden: true, id: 'job-action-error'});
	const subtitle = h('p', {class: 'lead'});
	const bar = h('progress', {id: 'job-progress', max: 1, value: 0});
	const pct = h('span', {class: 'pct', id: 'job-percent'});
	const leftEl = h('span', {id: 'job-left'});
	const stats = h('div', {class: 'progress-stats'});
	const errorBox = h('div', {id: 'job-error'});
	const specBox = h('div', {id: 'job-spec'});
	const plotAcc = h('div', {class: 'plot', id: 'plot-accuracy', role: 'img', 'aria-label': 'accuracy against p'});
	const plotEnergy = h('div', {class: 'plot', id: 'plot-energy', role: 'img', 'aria-label': 'accuracy against energy per inference'});
	const plotYield = h('div', {class: 'plot', id: 'plot-yield', role: 'img', 'aria-label': 'chip yield at the accuracy floor against energy per inference'});
	const accNote = h('p', {class: 'plot-note muted'});
	const energyNote = h('p', {class: 'plot-note muted'});
	const yieldNote = h('p', {class: 'plot-note muted', id: 'yield-plot-note'});
	const sampleNote = h('p', {class: 'plot-note warn-note', id: 'yield-note', hidden: true});
	const csv = h('a', {id: 'download-csv', class: 'button secondary', href: `${API}/jobs/${id}/results?format=csv`,
		download: `brownout-job-${id}.csv`}, 'Download CSV');
	const json = h('a', {id: 'download-json', class: 'button secondary', href: `${API}/jobs/${id}/results`,
		download: `brownout-job-${id}.json`}, 'Download JSON');
	const downloadMsg = h('span', {class: 'muted', role: 'status', id: 'download-status'});
	const resultsBox = h('div', {id: 'job-results'});
	const plotsBox = h('div', {class: 'grid-2 plots', id: 'job-plots'});
	const noPlots = h('div', {id: 'job-no-plots', hidden: true});
	const blocksBox = h('div', {id: 'job-blocks'});

	add(root, 
		h('div', {class: 'view-head'},
			h('h1', null, jobSwatch({id}), `Job #${id} `, jobName, stateEl),
			actions),
		subtitle,
		actionMsg,
		h('section', {class: 'panel progress-panel', 'aria-label': 'progress'},
			h('div', {class: 'progress-line'}, h('label', {for: 'job-progress'}, 'Progress'), bar, pct, leftEl),
			stats,
			errorBox),
		plotsBox,
		noPlots,
		h('section', {'aria-labelledby': 'h-results'},
			h('div', {class: 'section-head'}, h('h2', {id: 'h-results'}, 'Results'),
				h('div', {class: 'downloads'}, csv, ' ', json, ' ', downloadMsg)),
			resultsBox),
		h('div', {class: 'grid-2'},
			h('section', {'aria-labelledby': 'h-spec'}, h('h2', {id: 'h-spec'}, 'Sweep'), specBox),
			h('section', {'aria-labelledby': 'h-blocks'}, h('h2', {id: 'h-blocks'}, 'Blocks and fault policy'), blocksBox)));

	const chartAcc = new Chart(plotAcc, {height: 320});
	const chartEnergy = new Chart(plotEnergy, {height: 320});
	const chartYield = new Chart(plotYield, {height: 320});
	const fileName = (what) => () => `brownout-job-${id}-${what}`;
	add(plotsBox,
		h('figure', null, plotAcc, h('div', {class: 'plot-tools'}, plotDownloads(chartAcc, fileName('accuracy-p'))), h('figcaption', null, accNote)),
		h('figure', null, plotEnergy, h('div', {class: 'plot-tools'}, plotDownloads(chartEnergy, fileName('accuracy-energy'))), h('figcaption', null, energyNote)),
		h('figure', {id: 'job-yield'}, plotYield, h('div', {class: 'plot-tools'}, plotDownloads(chartYield, fileName('yield-energy'))),
			h('figcaption', null, yieldNote, sampleNote)));
	ctx.onCleanup(() => {
		chartAcc.dispose();
		chartEnergy.dispose();
		chartYield.dispose();
	});

	/* ---- downloads: fetched with the token, offered as Blob URLs ---- */
	const blobs = [];
	ctx.onCleanup(() => blobs.forEach((u) => URL.revokeObjectURL(u)));
	const resetDownloads = () => {
		generation += 1;
		for (const a of [csv, json]) {
			delete a.dataset.ready;
			a.href = a.dataset.src;
		}
	};
	/* Fetch A's results into a Blob URL (once per version of the results). */
	let generation = 0;
	const prepare = async (a) => {
		if (a.dataset.ready === '1') return true;
		const gen = generation;
		const {response} = await request(a.dataset.src, {raw: true, signal: ctx.signal});
		const blob = await response.blob();
		if (gen !== generation || !ctx.alive()) return false;
		const url = URL.createObjectURL(blob);
		blobs.push(url);
		a.href = url;
		a.dataset.ready = '1';
		return true;
	};
	csv.dataset.src = `${API}/jobs/${id}/results?format=csv`;
	json.dataset.src = `${API}/jobs/${id}/results`;
	for (const a of [csv, json]) {
		a.addEventListener('click', async (ev) => {
			if (a.dataset.ready === '1' || !session.token) return; // a Blob URL, or public reading
			ev.preventDefault();
			downloadMsg.textContent = 'Preparing…';
			try {
				if (await prepare(a)) {
					downloadMsg.textContent = '';
					a.click();
				}
			} catch (e) {
				if (!isAbort(e)) downloadMsg.textContent = `Download failed: ${e instanceof ApiError ? e.describe() : e}`;
			}
		});
	}
	/* Once the job is over its results stay as they are: have both files ready. */
	const prefetchDownloads = () => {
		if (!session.token || ACTIVE.has(job.state)) return;
		for (const a of [csv, json]) prepare(a).catch(() => {});
	};

	/* ---- rendering ---- */
	const renderHeader = () => {
		replace(stateEl, job.state);
		jobName.textContent = typeof job.name === 'string' && job.name ? `${job.name} ` : '';
		stateEl.className = `state state-${job.state}`;
		const tags = Array.isArray(job.tags) ? job.tags.filter((t) => typeof t === 'string') : [];
		replace(subtitle,
			h('a', {href: `#/models/${job.model}`, 'data-field': 'model'}, modelLabel(job.model_name, job.model_version)), ' on ', job.dataset_name,
			` · ${job.owner} · priority ${job.priority} · `, specSummary(job.spec),
			tags.length ? [' ', h('span', {class: 'tags'}, tags.map((t) => h('span', {class: 'tag'}, t)))] : null);
		const frac = fraction(job);
		bar.value = frac;
		bar.textContent = `${Math.round(frac * 100)} %`;
		pct.textContent = `${(frac * 100).toFixed(frac < 1 && frac > 0.995 ? 1 : 0)} %`;
		leftEl.textContent = job.state === 'running' || job.state === 'queued' ? timeLeftText(job)
			: job.state === 'done' ? `finished in ${fmtDuration(elapsed(job))}` : job.state;
		const pr = job.progress;
		replace(stats,
			h('span', null, `${pr.points_done}/${pr.points_total} points`),
			h('span', null, `${pr.trials_done}/${job.state === 'cancelled' && job.spec.trials ? job.spec.p.length * job.spec.trials : pr.trials_total} trials`),
			h('span', null, job.state === 'cancelled' ? `${fmtInt(pr.images_done)} images`
				: `${fmtInt(pr.images_done)}/${fmtInt(pr.images_total)} images`),
			job.state === 'running' ? h('span', null, `${fmtNum(pr.images_per_second, 3)} images/s`) : null,
			h('span', null, 'created ', timeCell(job.created_at)),
			job.started_at ? h('span', null, 'started ', timeCell(job.started_at)) : null,
			job.finished_at ? h('span', null, 'finished ', timeCell(job.finished_at)) : null);
		replace(errorBox, job.state === 'failed'
			? message('error', h('strong', null, 'The job failed: '), job.error || 'no reason given')
			: job.state === 'cancelled' ? message('warn', 'This job was cancelled; the results hold the trials finished before.') : null);
		renderActions();
	};

	const renderActions = () => {
		const items = [h('a', {class: 'button secondary', href: `#/compare?jobs=${id}`}, 'Compare…')];
		if (canWrite()) items.push(h('a', {class: 'button secondary', href: `#/submit?from=${id}`, id: 'rerun-job'}, 'Edit and resubmit'));
		if (mayChange(job.owner)) {
			if (ACTIVE.has(job.state)) {
				items.push(h('button', {type: 'button', id: 'cancel-job', class: 'warn', onclick: cancel}, 'Cancel job'));
			}
			items.push(confirmButton({id: 'delete-job', label: 'Delete', question: `Delete job #${id} and its results?`,
				confirmLabel: 'Yes, delete', onConfirm: remove}));
		}
		replace(actions, ...items);
	};

	const cancel = async (ev) => {
		const button = ev.currentTarget;
		button.disabled = true;
		actionMsg.hidden = true;
		try {
			job = await post(`jobs/${id}/cancel`, undefined, {signal: ctx.signal});
			etag = null;
			renderHeader();
			startPolling();
		} catch (e) {
			if (isAbort(e)) return;
			actionMsg.textContent = `Not cancelled: ${e instanceof ApiError ? e.describe() : e}`;
			actionMsg.hidden = false;
			button.disabled = false;
		}
	};

	const remove = async () => {
		actionMsg.hidden = true;
		try {
			await del(`jobs/${id}`);
			ctx.navigate('#/jobs');
		} catch (e) {
			actionMsg.textContent = `Not deleted: ${e instanceof ApiError ? e.describe() : e}`;
			actionMsg.hidden = false;
		}
	};

	const renderSpec = () => {
		const s = job.spec;
		replace(specBox, dl([
			['Deviation', s.deviation === 'bm' ? 'BM (bit masking)' : 'erasure'],
			['Target', s.target],
			['Activation sites', s.activation_sites],
			job.warnings && job.warnings.length ? ['Warnings', h('span', {id: 'job-warnings'}, job.warnings.join('; '))] : null,
			['p', s.p.map(fmtP).join(', ')],
			['Trials', s.ci_target ? `adaptive: until the 95 % CI half-width ≤ ${s.ci_target} (${s.min_trials} to ${s.max_trials})` : String(s.trials)],
			['Evaluation images (N)', s.limit ? fmtInt(s.limit) : 'all'],
			['Images per trial (n)', s.images_per_trial === 'auto' ? 'auto: a pilot per point picks n (see each point\'s images)'
				: typeof s.images_per_trial === 'number' ? fmtInt(s.images_per_trial) : 'all'],
			['Seed', String(s.seed)],
			['Bits', String(s.bits)],
			['Calibration images', fmtInt(s.calib)],
			['Energy constant a', fmtNum(s.energy_a, 6)],
			['References', s.references.length ? h('span', null, s.references.map((r, i) => [i ? ', ' : '', h('a', {href: `#/models/${r}`}, `#${r}`)])) : 'none'],
			['Normalisation', s.mean ? `mean ${s.mean.map((v) => fmtNum(v, 4)).join(', ')}, std ${(s.std || []).map((v) => fmtNum(v, 4)).join(', ')}` : 'the model\'s'],
			['Block map', s.blocks || 'the model\'s'],
			['Block policy', s.block_p || 'uniform (every part at p)'],
			['Priority', String(s.priority)],
		]));
	};

	let blockP = null;
	const renderBlocks = () => {
		const s = job.spec;
		const parsed = s.block_p ? parseBlockP(s.block_p) : {rules: null};
		const rules = parsed.rules || null;
		const intro = h('p', null, s.block_p
			? ['Policy ', h('code', {id: 'job-block-p'}, s.block_p), ': each block\'s p from the point\'s p; ', h('code', null, '*'), ' sets the blocks no rule names.']
			: ['No per-block policy: every block at the point\'s p (', h('span', {id: 'job-block-p'}, 'uniform'), ').']);
		if (!model) {
			replace(blocksBox, intro, message('info', modelError || 'Loading the model\'s blocks…'));
			return;
		}
		const pList = s.p;
		if (blockP === null || !pList.includes(blockP)) blockP = pList[Math.floor((pList.length - 1) / 2)];
		const pSel = select('block-p-at', pList.map((p) => [String(p), fmtP(p)]), String(blockP), {id: 'block-p-at'});
		pSel.addEventListener('change', () => {
			blockP = Number(pSel.value);
			renderBlocks();
			document.getElementById('block-p-at')?.focus();
		});
		const faultW = s.target !== 'activations';
		const faultA = s.target !== 'weights';
		let total = 0;
		const rows = model.info.blocks.map((b) => {
			const pb = policyP(rules, b.name, blockP);
			const pw = faultW ? pb : 0;
			const pa = faultA ? pb : 0;
			const e = eta(pw, s.energy_a) * b.parameters + eta(pa, s.energy_a) * b.activations;
			total += e;
			return h('tr', {'data-block': b.name},
				h('td', null, b.name === '' ? h('em', null, '(outside every block)') : h('code', null, b.name)),
				h('td', {class: 'num'}, fmtInt(b.parameters)),
				h('td', {class: 'num'}, fmtInt(b.activations)),
				h('td', null, ruleText(rules, b.name)),
				h('td', {class: 'num', 'data-field': 'block_p', 'data-value': String(pb)}, fmtP(pb)),
				h('td', {class: 'num'}, fmtNum(eta(pb, s.energy_a), 3)),
				h('td', {class: 'num'}, fmtInt(e)));
		});
		const point = results && results.points.find((pt) => pt.p === blockP);
		const sameSites = model.info.activation_sites === s.activation_sites && !s.blocks;
		replace(blocksBox, intro,
			h('div', {class: 'field inline'}, h('label', {for: 'block-p-at'}, 'At the point p = '), pSel),
			table([{label: 'Block'}, {label: 'Parameters', class: 'num'}, {label: 'Activations', class: 'num'},
				{label: 'Rule'}, {label: 'p of the block', class: 'num'}, {label: 'η(p)', class: 'num'},
				{label: 'Energy', class: 'num', title: 'η(p_weights) × parameters + η(p_activations) × activations'}],
			rows, {id: 'job-blocks-table', class: 'blocks-table'}),
			h('p', {class: 'muted'}, `Sum of the blocks: ${fmtInt(total)} per inference`,
				point && point.energy !== null && sameSites ? ` (the job reports ${fmtInt(point.energy)})` : '',
				sameSites ? '' : '; the table uses the model\'s own block map and activation sites, which this job changes',
				`. Only the ${s.target === 'both' ? 'weights and activations' : s.target} are faulty; the rest is at η = 1.`));
	};

	const renderResults = () => {
		if (!results) {
			replace(resultsBox, message('info', 'Loading results…'));
			return;
		}
		const pts = results.points;
		const anyTrial = pts.some((pt) => pt.trials > 0);
		const rows = pts.map((pt) => h('tr', {'data-p': String(pt.p), class: pt.trials ? '' : 'pending'},
			cell('p', pt.p, fmtP(pt.p)),
			cell('accuracy_mean', pt.accuracy_mean, fmtAcc(pt.accuracy_mean)),
			cell('accuracy_std', pt.accuracy_std, fmtAcc(pt.accuracy_std)),
			h('td', {class: 'num ci', 'data-field': 'ci95', 'data-value': pt.ci95 ? pt.ci95.map(String).join(',') : ''}, fmtCI(pt.ci95)),
			cell('trials', pt.trials, String(pt.trials), pt.trial_accuracies.length
				? `trial accuracies: ${pt.trial_accuracies.map((a) => a.toFixed(4)).join(', ')}` : null),
			cell('images', pt.images, fmtInt(pt.images), typeof pt.n === 'number' && pt.n > 0
				? `${fmtInt(pt.n)} images a trial${pt.pilot ? `, n chosen by a pilot of ${pt.pilot.trials} trials at ${fmtInt(pt.pilot.images_per_trial)} images`
					+ ` (${fmtNum(pt.pilot.seconds_per_trial * 1000, 3)} ms a trial, ${fmtNum(pt.pilot.seconds_per_image * 1000, 3)} ms an image)` : ''}` : null),
			cell('yield', pt.yield ?? null, pt.yield === null || pt.yield === undefined ? DASH : fmtAcc(pt.yield, 3),
				pt.yield_lo !== null && pt.yield_lo !== undefined && pt.yield_hi !== null && pt.yield_hi !== undefined
					? `Clopper-Pearson 95 %: [${fmtAcc(pt.yield_lo)}, ${fmtAcc(pt.yield_hi)}]; accuracy floor ${fmtAcc(pt.accuracy_floor)}${pt.yield_note ? `; ${pt.yield_note}` : ''}` : null),
			cell('eta', pt.eta, fmtNum(pt.eta, 3)),
			cell('energy', pt.energy, fmtInt(pt.energy)),
			cell('energy_reduction', pt.energy_reduction, fmtReduction(pt.energy_reduction),
				pt.energy_reduction === null && results.references.length && pt.accuracy_mean !== null
					? 'undefined: the accuracy lies outside the references\' range' : null)));
		const best = pts.reduce((b, pt) => (pt.energy_reduction !== null && (b === null || pt.energy_reduction > b.energy_reduction) ? pt : b), null);
		replace(resultsBox,
			dl([
				['Clean accuracy', h('span', {id: 'clean-accuracy', 'data-value': rawValue(results.clean_accuracy)}, fmtAcc(results.clean_accuracy))],
				['E_o (reliable)', results.parameters !== null ? `${fmtInt(results.parameters + results.activations)} = ${fmtInt(results.parameters)} parameters + ${fmtInt(results.activations)} activations` : DASH],
				['Complete', h('span', {id: 'results-complete'}, results.complete ? 'yes'
					: job.state === 'failed' ? `no: the job failed${anyTrial ? '; the numbers cover the trials finished before' : ' before any trial finished'}`
					: job.state === 'cancelled' ? `no: the job was cancelled${anyTrial ? '; the numbers cover the trials finished before' : ' before any trial finished'}`
					: 'not yet: the numbers cover the trials finished so far')],
				results.references.length ? ['References', results.references.map((r) => `${r.model}: ${fmtInt(r.energy)}, ${fmtAcc(r.accuracy)}`).join('; ')] : null,
				best && best.energy_reduction > 1 ? ['Best energy reduction', `${fmtBestReduction(best.energy_reduction)} at p = ${fmtP(best.p)}`]
					: best ? ['Energy reduction', `none: every point needs more energy than the references at its accuracy (at best ${fmtReduction(best.energy_reduction)} at p = ${fmtP(best.p)})`] : null,
			], 'facts facts-inline'),
			anyTrial || pts.length ? table([
				{label: 'p', class: 'num'}, {label: 'Accuracy (mean)', class: 'num'}, {label: 'Std', class: 'num'},
				{label: '95 % CI', class: 'num'}, {label: 'Trials', class: 'num'}, {label: 'Images', class: 'num'},
				{label: 'Yield', class: 'num', title: 'the fraction of trials (chips) at or above the accuracy floor (spec 4c)'},
				{label: 'η', class: 'num', title: 'normalised energy of the faulty memory'},
				{label: 'Energy', class: 'num', title: 'energy per inference (memory accesses)'},
				{label: 'Energy vs references', class: 'num', title: 'against the reliable references at equal accuracy: E_ref(accuracy) / energy; “× less” is a reduction, “× more” an increase'},
			], rows, {id: 'results-table', class: 'results-table'}) : message('empty', 'No points.'));
	};

	const renderPlots = () => {
		if (!results) return;
		const done = results.points.filter((pt) => pt.trials > 0).length;
		// a job that ended without a trial has nothing to draw: say so instead of two empty plots
		const empty = !done && !ACTIVE.has(job.state);
		plotsBox.hidden = empty;
		noPlots.hidden = !empty;
		if (empty) {
			chartAcc.destroy();
			chartEnergy.destroy();
			chartYield.destroy();
			replace(noPlots, message('empty', `No plots: the job ${job.state === 'failed' ? 'failed' : 'ended'} before any trial finished.`));
			return;
		}
		chartAcc.set(accuracySpec(results, jobColor(id)));
		chartEnergy.set(energySpec(results, jobColor(id)));
		const ys = yieldSpec(results, jobColor(id));
		chartYield.set(ys);
		const nested = isNested(results);
		const zero = results.points.some((pt) => pt.p === 0);
		accNote.textContent = [
			done ? `${done} of ${results.points.length} points have trials.` : 'No trial has finished yet.',
			'Band: 95 % CI (clipped to [0, 1]); light band between dashed lines: the chips\' q05 to q95, dotted: their median; dots: single trials (chips); dashed grey: clean accuracy.',
			nested ? 'Weight faults nested: trial t is chip t at every p, and each thin grey line is one chip across the sweep.' : '',
			zero ? 'p = 0 is not on the log axis (see the table).' : '',
		].filter(Boolean).join(' ');
		replace(yieldNote, yieldText(results, ys.state, nested));
		const notes = [...new Set(results.points.map((pt) => pt.yield_note).filter((t) => typeof t === 'string' && t))];
		sampleNote.hidden = !notes.length;
		sampleNote.textContent = notes.join(' ');
		energyNote.textContent = !results.references.length && job.spec.references.length
			? (ACTIVE.has(job.state)
				? 'The reference models are not evaluated yet: their frontier appears once their clean accuracy on these images is in.'
				: 'The reference models were not evaluated before the job ended, so there is no frontier.')
			: results.references.length
			? 'Black: the reliable reference models (E_o, clean accuracy); the dashed frontier joins the non-dominated ones (linear in log E). Energy reduction = E_ref(accuracy) / energy; below 1 it is an increase, shown as “× more”.'
			: 'This job has no reference models, so there is no frontier to compare with: submit it with references (e.g. narrower models of the same family) for the iso-accuracy energy reduction, or use Compare with references.';
	};

	/* ---- data ---- */
	let modelError = null;
	get(`models/${job.model}`, {signal: ctx.signal}).then((m) => {
		model = m;
		if (ctx.alive()) renderBlocks();
	}).catch((e) => {
		if (isAbort(e)) return;
		modelError = e instanceof ApiError && e.status === 404
			? 'The model was deleted; its block table is gone.' : `The model could not be loaded: ${e.describe ? e.describe() : e}`;
		if (ctx.alive()) renderBlocks();
	});

	const loadResults = async () => {
		try {
			results = await get(`jobs/${id}/results`, {signal: ctx.signal});
			resultsError = null;
		} catch (e) {
			if (isAbort(e)) throw e;
			resultsError = e;
		}
		if (!ctx.alive()) return;
		resetDownloads();
		if (resultsError) {
			replace(resultsBox, ctx.errorBox(resultsError, 'The results could not be loaded'));
			return;
		}
		renderResults();
		renderPlots();
		renderBlocks();
		prefetchDownloads();
	};
	let resultsError = null;

	renderHeader();
	renderSpec();
	renderBlocks();
	renderResults();
	await loadResults();

	/* ---- live: poll with If-None-Match while queued or running ---- */
	let timer = null;
	let polling = false;
	let failures = 0;
	const tick = async () => {
		timer = null;
		if (!ctx.alive()) return;
		if (document.hidden) {
			timer = setTimeout(tick, POLL_MS);
			return;
		}
		try {
			const r = await request(`jobs/${id}`, {etag, signal: ctx.signal});
			failures = 0;
			if (r.status !== 304) {
				job = r.data;
				etag = r.etag;
				renderHeader();
				await loadResults();
			}
		} catch (e) {
			if (isAbort(e) || !ctx.alive()) return;
			failures += 1;
			if (e instanceof ApiError && e.status === 404) {
				replace(errorBox, message('error', 'This job no longer exists (deleted).'));
				polling = false;
				return;
			}
			replace(errorBox, message('error', `Live updates interrupted: ${e.describe ? e.describe() : e}. Retrying…`));
		}
		if (!ctx.alive()) return;
		if (ACTIVE.has(job.state)) {
			timer = setTimeout(tick, failures ? Math.min(10000, POLL_MS * 2 ** failures) : POLL_MS);
		} else {
			polling = false;
		}
	};
	const startPolling = () => {
		if (polling) return;
		polling = true;
		timer = setTimeout(tick, POLL_MS);
	};
	ctx.onCleanup(() => {
		if (timer) clearTimeout(timer);
		polling = false;
	});
	if (ACTIVE.has(job.state)) startPolling();
}

/* The yield plot's caption: the floor, what the points and bars are, and
 * with nested weight faults how many chips reach the floor at all. */
function yieldText(results, st, nested) {
	const parts = [st.floor !== null
		? `Yield: the fraction of a point's trials (chips) with accuracy ≥ ${fmtAcc(st.floor)} (the floor${results.config && results.config.accuracy_floor ? '' : ': clean accuracy − 0.01'}); bars: its Clopper-Pearson 95 % interval.`
		: 'Yield: the fraction of a point\'s trials (chips) at or above the accuracy floor, once the clean accuracy is in; bars: Clopper-Pearson 95 %.'];
	if (!st.byEnergy) parts.push('The energies are not in yet: against η.');
	const chips = results.chips;
	if (nested && chips && Array.isArray(chips.min_energy)) {
		const n = chips.min_energy.length;
		const ok = chips.min_energy.filter((e) => typeof e === 'number' && isFinite(e)).length;
		parts.push(`Dashed black: the chips whose minimum energy (the lowest at which the chip stays at the floor at every higher energy) is at most E; ${ok} of ${n} chips reach the floor within the sweep.`);
	} else if (nested) {
		parts.push('Weight faults nested: the chips\' yield curve appears once the results have it.');
	}
	return parts.join(' ');
}

function cell(name, value, text, title) {
	return h('td', {class: 'num', 'data-field': name, 'data-value': rawValue(value), title}, text);
}

/* The share of the job done: the daemon's fraction; for a cancelled job with a
 * fixed trial count, the trials done out of those planned (the daemon drops
 * the cancelled tasks from its totals). */
function fraction(job) {
	if (job.state === 'done') return 1;
	const pr = job.progress;
	if (job.state === 'cancelled' && job.spec.trials) {
		const planned = job.spec.p.length * job.spec.trials;
		return Math.max(0, Math.min(1, pr.trials_done / planned));
	}
	return Math.max(0, Math.min(1, pr.fraction || 0));
}

function elapsed(job) {
	if (!job.started_at || !job.finished_at) return null;
	return (new Date(job.finished_at) - new Date(job.started_at)) / 1000;
}
