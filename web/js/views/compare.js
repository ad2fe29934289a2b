// Compare: several jobs' curves on one plot (accuracy against p and against
// energy), and the iso-accuracy analysis against chosen reference models.
import {get, listAll, canWrite, ApiError, isAbort} from '../api.js';
import {h, add, replace, message, table, dl} from '../dom.js';
import {fmtP, fmtAcc, fmtInt, fmtReduction, fmtBestReduction, DASH} from '../format.js';
import {Chart, compareSpec, jobColors, fmtSI, plotDownloads} from '../plots.js';
import {stateBadge, specSummary, ACTIVE, poll} from './common.js';

const MAX_JOBS = 12;

function idList(text) {
	return [...new Set(String(text || '').split(/[\s,;#]+/).filter(Boolean).map(Number)
		.filter((n) => Number.isInteger(n) && n > 0))];
}

export async function render(root, ctx) {
	const q = ctx.query;
	let ids = idList(q.get('jobs')).slice(0, MAX_JOBS);
	const state = {
		pe2: q.get('pe2') === '1',
		ci: q.get('ci') !== '0',
		refs: idList(q.get('refs')),
	};

	const jobsInput = h('input', {type: 'text', id: 'compare-jobs', name: 'jobs', value: ids.join(', '),
		placeholder: 'e.g. 3, 4, 7', autocomplete: 'off', 'aria-describedby': 'compare-jobs-hint'});
	const pe2 = h('input', {type: 'checkbox', id: 'erasure-half', name: 'pe2', checked: state.pe2});
	const ci = h('input', {type: 'checkbox', id: 'show-ci', name: 'ci', checked: state.ci});
	const form = h('form', {id: 'compare-form', class: 'panel compare-form'},
		h('div', {class: 'field'}, h('label', {for: 'compare-jobs'}, 'Jobs to compare'), jobsInput,
			h('small', {class: 'hint', id: 'compare-jobs-hint'}, `job ids separated by commas (at most ${MAX_JOBS}); or tick jobs below`)),
		h('button', {type: 'submit'}, 'Show'),
		h('div', {class: 'checks'},
			h('label', {class: 'check'}, pe2, ' erasure at p_e = 2p (draw erasure jobs at p = p_e / 2)'),
			h('label', {class: 'check'}, ci, ' 95 % CI error bars')));
	const status = h('div', {id: 'compare-status'});
	const plotP = h('div', {class: 'plot', id: 'plot-compare', role: 'img', 'aria-label': 'accuracy against p, several jobs'});
	const plotE = h('div', {class: 'plot', id: 'plot-compare-energy', role: 'img', 'aria-label': 'accuracy against energy, several jobs'});
	const legend = h('div', {id: 'compare-jobs-table'});
	const picker = h('details', {class: 'picker', id: 'compare-picker', open: ids.length === 0},
		h('summary', null, 'Pick from recent jobs'), h('div', null, message('info', 'Loading jobs…')));
	const analysis = h('section', {class: 'panel', 'aria-labelledby': 'h-analysis', id: 'analysis'});
	add(root, 
		h('div', {class: 'view-head'}, h('h1', null, 'Compare jobs')),
		h('p', {class: 'muted'}, 'Overlay sweeps: BM against erasure (tick "erasure at p_e = 2p"), standard against erasure-trained models, one model against another, or one block against the others.'),
		form, picker, status,
		h('div', {class: 'grid-2 plots'},
			h('figure', null, plotP, h('figcaption', {class: 'muted'}, 'Mean accuracy against p (log axis); bars: 95 % CI, clipped to [0, 1].')),
			h('figure', null, plotE, h('figcaption', {class: 'muted', id: 'compare-energy-note'},
				'Mean accuracy against energy per inference; the dashed black line is the reliable references\' frontier when there is one.'))),
		legend,
		analysis);

	const chartP = new Chart(plotP, {height: 340});
	const chartE = new Chart(plotE, {height: 340});
	const fileName = (what) => () => `brownout-compare-${ids.join('-')}-${what}`;
	plotP.after(h('div', {class: 'plot-tools'}, plotDownloads(chartP, fileName('accuracy-p'))));
	plotE.after(h('div', {class: 'plot-tools'}, plotDownloads(chartE, fileName('accuracy-energy'))));
	ctx.onCleanup(() => {
		chartP.dispose();
		chartE.dispose();
	});

	const syncUrl = () => {
		const p = new URLSearchParams();
		if (ids.length) p.set('jobs', ids.join(','));
		if (state.pe2) p.set('pe2', '1');
		if (!state.ci) p.set('ci', '0');
		if (state.refs.length) p.set('refs', state.refs.join(','));
		const hash = `#/compare${p.toString() ? `?${p.toString().replace(/%2C/g, ',')}` : ''}`;
		if (location.hash !== hash) history.replaceState(null, '', hash);
	};

	/* ---- data ---- */
	const loaded = new Map(); // id -> {job, results, error}
	const loadJob = async (id) => {
		try {
			const [job, results] = await Promise.all([
				get(`jobs/${id}`, {signal: ctx.signal}),
				get(`jobs/${id}/results`, {signal: ctx.signal}),
			]);
			loaded.set(id, {job, results});
		} catch (e) {
			if (isAbort(e)) throw e;
			loaded.set(id, {error: e});
		}
	};
	const loadAll = async () => {
		await Promise.all(ids.map(loadJob));
	};

	let analysisResult = null;

	const draw = () => {
		const ok = ids.map((id) => [id, loaded.get(id)]).filter(([, v]) => v && v.job);
		const bad = ids.map((id) => [id, loaded.get(id)]).filter(([, v]) => v && v.error);
		replace(status,
			!ids.length ? message('empty', 'No jobs chosen yet — type job ids above, tick jobs under "Pick from recent jobs", or select them in the ',
				h('a', {href: '#/jobs'}, 'jobs list'), '.') : null,
			bad.map(([id, v]) => (v.error instanceof ApiError && v.error.status === 401 ? ctx.errorBox(v.error)
				: message('error', `Job #${id}: ${v.error instanceof ApiError ? v.error.describe() : v.error}`))));
		const curvesP = [];
		const curvesE = [];
		const colors = jobColors(ok.map(([id]) => id));
		ok.forEach(([id, {job, results}]) => {
			const color = colors.get(id);
			const erasure = job.spec.deviation === 'erasure';
			const shift = erasure && state.pe2 ? 0.5 : 1;
			const what = `${erasure ? 'erasure' : 'BM'} ${job.spec.target}${job.spec.block_p ? ` ${job.spec.block_p}` : ''}`;
			const label = `#${id} ${job.model_name}, ${what}${shift !== 1 ? ' at p_e/2' : ''}`;
			const dash = erasure ? [6, 3] : undefined;
			const pts = results.points.filter((pt) => pt.accuracy_mean !== null);
			const bounds = (pt) => (pt.ci95 ? [Math.max(0, pt.ci95[0]), Math.min(1, pt.ci95[1])] : [null, null]);
			curvesP.push({label, color, dash, points: pts.map((pt) => {
				const [lo, hi] = bounds(pt);
				return {x: pt.p * shift, y: pt.accuracy_mean, lo, hi};
			})});
			curvesE.push({label: `#${id} ${job.model_name}, ${what}`, color, dash, points: pts.filter((pt) => pt.energy > 0).map((pt) => {
				const [lo, hi] = bounds(pt);
				return {x: pt.energy, y: pt.accuracy_mean, lo, hi};
			})});
		});
		// the frontier: the analysis' references, else the first job that has references
		let refs = null;
		let refNote = '';
		if (analysisResult && analysisResult.jobs.length) {
			refs = analysisResult.jobs[0].references.map((r) => ({energy: r.energy, accuracy: r.accuracy, name: r.name}));
			refNote = `Frontier: the references of the analysis below, on job #${analysisResult.jobs[0].job}'s images.`;
		} else {
			const withRefs = ok.find(([, v]) => v.results.references.length);
			if (withRefs) {
				refs = withRefs[1].results.references.map((r) => ({energy: r.energy, accuracy: r.accuracy, name: r.model}));
				refNote = `Frontier: job #${withRefs[0]}'s references.`;
			}
		}
		chartP.set(compareSpec({curves: curvesP, xLabel: state.pe2 ? 'p (erasure jobs at p_e / 2)' : 'p', xFmt: fmtP,
			title: 'Accuracy against p', fallback: [1e-4, 1e-1], showCI: state.ci}));
		chartE.set(compareSpec({curves: curvesE, xLabel: 'energy per inference', xFmt: fmtInt, tickFmt: fmtSI,
			title: 'Accuracy against energy', fallback: [1e4, 1e6], fullMags: false, showCI: state.ci, refs}));
		const note = root.querySelector('#compare-energy-note');
		note.textContent = `Mean accuracy against energy per inference. ${refNote || 'No references yet: choose some in the analysis below to draw their frontier.'}`;

		replace(legend, ok.length ? table([
			{label: ''}, {label: 'Job'}, {label: 'State'}, {label: 'Model'}, {label: 'Dataset'}, {label: 'Sweep'},
			{label: 'Images/trial', class: 'num'}, {label: 'Clean acc.', class: 'num'}, {label: 'Best reduction', class: 'num'}, {label: ''},
		], ok.map(([id, {job, results}]) => {
			const best = results.points.reduce((b, pt) => (pt.energy_reduction !== null && (b === null || pt.energy_reduction > b) ? pt.energy_reduction : b), null);
			const swatch = h('span', {class: 'swatch', 'aria-hidden': 'true', 'data-color': colors.get(id)});
			swatch.style.background = colors.get(id);
			if (job.spec.deviation === 'erasure') swatch.classList.add('swatch-dashed');
			return h('tr', {'data-job-id': id},
				h('td', null, swatch),
				h('td', null, h('a', {href: `#/jobs/${id}`}, `#${id}`)),
				h('td', null, stateBadge(job.state)),
				h('td', null, h('a', {href: `#/models/${job.model}`}, job.model_name)),
				h('td', null, job.dataset_name),
				h('td', {class: 'spec'}, specSummary(job.spec)),
				h('td', {class: 'num'}, job.spec.limit ? fmtInt(job.spec.limit) : 'all'),
				h('td', {class: 'num'}, fmtAcc(results.clean_accuracy)),
				h('td', {class: 'num'}, fmtBestReduction(best)),
				h('td', null, h('button', {type: 'button', class: 'link', 'aria-label': `remove job ${id} from the comparison`,
					onclick: () => {
						ids = ids.filter((x) => x !== id);
						jobsInput.value = ids.join(', ');
						syncUrl();
						draw();
						drawPicker();
						jobsChanged();
					}}, 'Remove')));
		}), {class: 'compare-table'}) : null);
	};

	/* ---- the job picker ---- */
	let recent = null;
	const drawPicker = () => {
		const box = picker.querySelector('div');
		if (!recent) return;
		if (recent instanceof Error) {
			replace(box, ctx.errorBox(recent, 'Jobs could not be listed'));
			return;
		}
		if (!recent.length) {
			replace(box, message('empty', 'No jobs yet', canWrite() ? [' — ', h('a', {href: '#/submit'}, 'submit one'), '.'] : '.'));
			return;
		}
		replace(box, h('ul', {class: 'pick-list'}, recent.map((j) => h('li', null,
			h('label', {class: 'check'},
				h('input', {type: 'checkbox', value: j.id, checked: ids.includes(j.id), 'data-pick-job': j.id,
					onchange: async (ev) => {
						if (ev.target.checked && !ids.includes(j.id)) ids.push(j.id);
						if (!ev.target.checked) ids = ids.filter((x) => x !== j.id);
						ids = ids.slice(0, MAX_JOBS);
						jobsInput.value = ids.join(', ');
						syncUrl();
						if (ev.target.checked && !loaded.has(j.id)) await loadJob(j.id);
						if (ctx.alive()) {
							draw();
							jobsChanged();
						}
					}}),
				` #${j.id} `, stateBadge(j.state), ` ${j.model_name} on ${j.dataset_name}: ${specSummary(j.spec)}`)))));
	};
	get('jobs?limit=50', {signal: ctx.signal}).then((page) => {
		recent = page.items;
		if (ctx.alive()) drawPicker();
	}).catch((e) => {
		if (isAbort(e)) return;
		recent = e;
		if (ctx.alive()) drawPicker();
	});

	/* ---- controls ---- */
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		ids = idList(jobsInput.value).slice(0, MAX_JOBS);
		jobsInput.value = ids.join(', ');
		syncUrl();
		await Promise.all(ids.filter((id) => !loaded.has(id) || loaded.get(id).error).map(loadJob));
		if (ctx.alive()) {
			draw();
			drawPicker();
			jobsChanged();
		}
	});
	pe2.addEventListener('change', () => {
		state.pe2 = pe2.checked;
		syncUrl();
		draw();
	});
	ci.addEventListener('change', () => {
		state.ci = ci.checked;
		syncUrl();
		draw();
	});

	/* ---- analysis against references ---- */
	const refSelect = h('select', {id: 'analysis-references', name: 'references', multiple: true, size: 5});
	const runButton = h('button', {type: 'button', id: 'run-analysis'}, 'Analyse');
	const analysisOut = h('div', {id: 'analysis-result', 'aria-live': 'polite'});
	replace(analysis,
		h('h2', {id: 'h-analysis'}, 'Iso-accuracy energy reduction'),
		h('p', {class: 'muted'}, 'Choose reliable reference models (say, narrower models of the family). For each point, brownoutd '
			+ 'interpolates the references\' energy at the point\'s accuracy (linearly in log E) and divides it by the point\'s energy. '
			+ 'A reference needs its clean accuracy on the same images (a job on the same dataset and image count that swept it or listed it as a reference).'),
		h('div', {class: 'row'},
			h('div', {class: 'field'}, h('label', {for: 'analysis-references'}, 'Reference models'), refSelect,
				h('small', {class: 'hint'}, 'Ctrl- or Shift-click to choose several')),
			h('div', {class: 'field field-button'}, runButton)),
		analysisOut);
	listAll('models', {signal: ctx.signal}).then((ms) => {
		for (const m of ms) {
			refSelect.appendChild(h('option', {value: m.id, selected: state.refs.includes(m.id)},
				`${m.name} (#${m.id}, E_o ${fmtInt(m.info.parameters + m.info.activations)})`));
		}
	}).catch((e) => {
		if (!isAbort(e)) replace(analysisOut, ctx.errorBox(e, 'Models could not be listed'));
	});

	const runAnalysis = async () => {
		state.refs = [...refSelect.selectedOptions].map((o) => Number(o.value));
		syncUrl();
		if (!ids.length) {
			replace(analysisOut, message('warn', 'Choose jobs to analyse first.'));
			return;
		}
		if (!state.refs.length) {
			replace(analysisOut, message('warn', 'Choose at least one reference model.'));
			return;
		}
		runButton.disabled = true;
		replace(analysisOut, message('info', 'Asking brownoutd…'));
		try {
			analysisResult = await get(`analysis?jobs=${ids.join(',')}&references=${state.refs.join(',')}`, {signal: ctx.signal});
			drawAnalysis();
			draw();
		} catch (e) {
			if (isAbort(e)) return;
			analysisResult = null;
			drawAnalysisError(e);
			draw();
		} finally {
			runButton.disabled = false;
		}
	};
	runButton.addEventListener('click', runAnalysis);
	/* The analysis follows the chosen jobs once it has been asked for. */
	function jobsChanged() {
		if (analysisResult || analysisOut.childNodes.length) {
			if (ids.length && state.refs.length) runAnalysis();
			else {
				analysisResult = null;
				replace(analysisOut);
				draw();
			}
		}
	}

	const drawAnalysisError = (e) => {
		if (e instanceof ApiError && e.status === 409) {
			// a reference lacks its clean accuracy on some job's images: offer the clean sweeps
			const combos = new Map();
			for (const id of ids) {
				const v = loaded.get(id);
				if (v && v.job) combos.set(`${v.job.dataset}:${v.job.spec.limit}`, {dataset: v.job.dataset, name: v.job.dataset_name, limit: v.job.spec.limit});
			}
			const links = [];
			for (const ref of state.refs) {
				const opt = [...refSelect.options].find((o) => Number(o.value) === ref);
				for (const c of combos.values()) {
					links.push(h('li', null, h('a', {href: `#/submit?model=${ref}&dataset=${c.dataset}&p=0&trials=1&limit=${c.limit}`},
						`Sweep ${opt ? opt.textContent.replace(/ \(.*$/, '') : `model #${ref}`} clean on ${c.name} (${c.limit ? `${c.limit} images` : 'all images'})`)));
				}
			}
			replace(analysisOut, message('warn', h('strong', null, 'Not yet: '), e.message),
				canWrite() && links.length ? [h('p', null, 'One-trial sweeps at p = 0 give the references their clean accuracy on these images:'), h('ul', null, links)] : null);
			return;
		}
		replace(analysisOut, ctx.errorBox(e, 'The analysis failed'));
	};

	const drawAnalysis = () => {
		const a = analysisResult;
		const refs = a.jobs.length ? a.jobs[0].references : [];
		replace(analysisOut,
			h('h3', null, 'References'),
			table([{label: 'Model'}, {label: 'E_o', class: 'num'}, {label: 'Clean accuracy (job\'s images)', class: 'num'}],
				refs.map((r) => h('tr', null, h('td', null, h('a', {href: `#/models/${r.model}`}, r.name)),
					h('td', {class: 'num'}, fmtInt(r.energy)), h('td', {class: 'num'}, fmtAcc(r.accuracy))))),
			h('h3', null, 'Jobs'),
			a.jobs.map((j) => h('div', {class: 'analysis-job', 'data-analysis-job': j.job},
				h('h4', null, h('a', {href: `#/jobs/${j.job}`}, `Job #${j.job}`), ` ${j.model} `, stateBadge(j.state),
					h('span', {class: 'muted'}, ` · clean ${fmtAcc(j.clean_accuracy)} · best reduction `),
					h('strong', {'data-field': 'best_energy_reduction', 'data-value': j.best_energy_reduction === null ? '' : String(j.best_energy_reduction)},
						fmtBestReduction(j.best_energy_reduction))),
				table([{label: 'p', class: 'num'}, {label: 'Accuracy (mean)', class: 'num'}, {label: 'Energy', class: 'num'}, {label: 'Energy vs references', class: 'num'}],
					j.points.map((pt) => h('tr', {'data-p': String(pt.p)},
						h('td', {class: 'num'}, fmtP(pt.p)),
						h('td', {class: 'num'}, fmtAcc(pt.accuracy_mean)),
						h('td', {class: 'num'}, fmtInt(pt.energy)),
						h('td', {class: 'num', 'data-field': 'energy_reduction', 'data-value': pt.energy_reduction === null ? '' : String(pt.energy_reduction)},
							fmtReduction(pt.energy_reduction)))), {class: 'compact'}))),
			h('p', {class: 'muted'}, 'A dash: the accuracy lies outside the references\' range (never extrapolated), or no trial is in yet.'));
	};

	/* ---- first load, then follow running jobs ---- */
	await loadAll();
	if (!ctx.alive()) return;
	draw();
	if (state.refs.length && ids.length) runAnalysis();
	poll(ctx, 3000, async () => {
		const active = ids.filter((id) => {
			const v = loaded.get(id);
			return v && v.job && ACTIVE.has(v.job.state);
		});
		if (!active.length) return true;
		await Promise.all(active.map(loadJob));
		if (ctx.alive()) draw();
		return true;
	});
}
