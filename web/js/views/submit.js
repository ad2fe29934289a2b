// Submit: the sweep builder, with the paper's experiments as presets.
import {get, post, listAll, canWrite, ApiError, isAbort} from '../api.js';
import {h, add, replace, message, field, select, setFieldError, clearFieldErrors} from '../dom.js';
import {fmtInt, fmtP, fmtNum} from '../format.js';
import {parseP, parseBlockP, parseFloats, parseNumber, intField, TRIAL_CAP} from '../spec.js';

const FIG5_P = '3e-4, 5e-4, 1e-3, 1.4e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1';
const PAPER_POLICY = 'layer1=p,layer2=2p,layer3=2p,layer4=10p';

/* The presets: the paper's experiments (docs/experiments.md). */
const PRESETS = {
	single: {
		label: 'One sweep',
		help: 'A single job with the settings below.',
		values: {},
	},
	arch: {
		label: 'Architecture comparison',
		help: 'The same uniform BM sweep (weights and activations) on several models: one job per model ticked below, then compared.',
		values: {deviation: 'bm', target: 'both', p: '1e-4:1e-1:10', trials: '10', ci_target: '', limit: '2000', block_p: ''},
	},
	'bm-erasure': {
		label: 'BM against erasure (Fig. 3)',
		help: 'Two jobs, weights only: BM at p, and erasure at p_e = 2p. The comparison draws the erasure curve at p_e / 2.',
		values: {deviation: 'bm', target: 'weights', p: '1e-3:1e-1:9', trials: '10', ci_target: '', limit: '2000', block_p: ''},
	},
	'per-block': {
		label: 'Per-block sensitivity (Fig. 4)',
		help: 'One job per block of the model: BM in that block only (block_p "BLOCK=p,*=0"), weights and activations.',
		values: {deviation: 'bm', target: 'both', p: '1e-3:3e-1:11', trials: '5', ci_target: '', limit: '2000', block_p: ''},
	},
	energy: {
		label: 'Energy at iso-accuracy (Fig. 5)',
		help: 'BM on weights and activations with reliable reference models: energy reduction at equal accuracy. The preset ticks the model\'s family as references (same architecture, one model per size, no erasure-trained or unrelated models); change them under References.',
		values: {deviation: 'bm', target: 'both', p: FIG5_P, trials: '20', ci_target: '', limit: '2000', block_p: ''},
	},
};

export async function render(root, ctx) {
	const q = ctx.query;
	add(root, h('div', {class: 'view-head'}, h('h1', null, 'Submit a sweep')));
	if (!canWrite()) {
		add(root, message('warn', h('strong', null, 'Sign in to submit. '),
			'You can fill in the form, but brownoutd takes sweeps only with a token.'));
	}

	/* ---- controls (names are the API's fields) ---- */
	const c = {
		kind: select('kind', [['sweep', 'Sweep: accuracy against p'], ['optimize', 'Optimize: per-block p of least energy at an accuracy floor']], 'sweep'),
		model: select('model', [['', '— choose a model —']], ''),
		dataset: select('dataset', [['', '— choose a dataset —']], ''),
		deviation: select('deviation', [['bm', 'BM (bit masking)'], ['erasure', 'erasure']], 'bm'),
		target: select('target', [['both', 'weights and activations'], ['weights', 'weights'], ['activations', 'activations']], 'both'),
		activation_sites: select('activation_sites', [['activations', 'activations (outputs of every activation function)'], ['activations-gated', 'activations-gated (also SE gated products x * sigmoid(y))'], ['relu', 'relu (ReLU outputs only)'], ['conv-inputs', 'conv-inputs (inputs of Conv/Gemm/MatMul)']], 'activations'),
		p: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. 1e-3, 1e-2 or 1e-4:1e-1:7'}),
		trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '5'}),
		ci_target: h('input', {type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'e.g. 0.01'}),
		min_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '3'}),
		max_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '100'}),
		seed: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '1'}),
		limit: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '0 (all)', value: '1000'}),
		images_per_trial: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'all'}),
		accuracy_floor: h('input', {type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: 'clean − 0.01'}),
		bits: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '8'}),
		calib: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '256'}),
		energy_a: h('input', {type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '12.8'}),
		blocks: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: "the model's (e.g. /layer1/=early,~^/layer[34]/=late)"}),
		block_p: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. layer1=p,*=0'}),
		references: h('select', {name: 'references', multiple: true, size: 4}),
		mean: h('input', {type: 'text', autocomplete: 'off', placeholder: "the model's"}),
		std: h('input', {type: 'text', autocomplete: 'off', placeholder: "the model's"}),
		priority: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '0'}),
		// the optimizer's (kind "optimize", docs/optimizer.md)
		max_loss: h('input', {type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '0.01'}),
		block_p_grid: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '1e-4:1e-1:10'}),
		budget_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '2000'}),
		curve_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '3'}),
		verify_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '10'}),
		baseline_trials: h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '5'}),
		baseline_p: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'the grid'}),
		policy_blocks: h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'layer1,layer2,layer3,layer4'}),
	};
	for (const [name, el] of Object.entries(c)) el.name = name;

	const blockHint = h('span', {id: 'model-blocks'});
	const presetBox = h('div', {class: 'presets', role: 'group', 'aria-label': 'Presets: the paper\'s experiments'});
	const presetHelp = h('p', {class: 'muted', id: 'preset-help'});
	const alsoModels = h('fieldset', {class: 'also-models', id: 'also-models', hidden: true},
		h('legend', null, 'Also run on these models'), h('div', {class: 'checks'}));
	const plan = h('div', {id: 'batch-plan', class: 'batch-plan', 'aria-live': 'polite'});
	const estimate = h('p', {class: 'muted', id: 'submit-estimate'});
	const submitError = h('div', {id: 'submit-error', class: 'form-error', role: 'alert', hidden: true});
	const button = h('button', {type: 'submit', id: 'submit-button'}, 'Submit sweep');

	for (const [key, pr] of Object.entries(PRESETS)) {
		presetBox.appendChild(h('button', {type: 'button', class: 'preset', 'data-preset': key, 'aria-pressed': 'false',
			onclick: () => applyPreset(key, true)}, pr.label));
	}

	const presetPanel = h('fieldset', {class: 'panel'}, h('legend', null, 'Preset'), presetBox, presetHelp, alsoModels);
	const optPanel = h('fieldset', {class: 'panel', id: 'optimize-options', hidden: true}, h('legend', null, 'Optimizer'),
		h('p', {class: 'muted'}, 'The search picks each block\'s p on the grid (or 0) for the least energy whose accuracy meets the floor: A* = clean − max loss, or the accuracy floor under Trials. Min/max trials are per candidate (defaults 4 and 16).'),
		h('div', {class: 'row'},
			field({name: 'max_loss', label: 'Max accuracy loss', control: c.max_loss, hint: 'A* = clean accuracy − this; or give the accuracy floor'}),
			field({name: 'block_p_grid', label: 'p grid', control: c.block_p_grid, hint: 'a list or LO:HI:N, ascending, above 0'})),
		h('div', {class: 'row'},
			field({name: 'budget_trials', label: 'Budget (trials)', control: c.budget_trials, hint: 'the whole search, at most 100000'}),
			field({name: 'curve_trials', label: 'Curve trials', control: c.curve_trials, hint: 'per block and grid p'})),
		h('div', {class: 'row'},
			field({name: 'verify_trials', label: 'Verification trials', control: c.verify_trials, hint: 'fresh chips'}),
			field({name: 'baseline_trials', label: 'Baseline trials', control: c.baseline_trials, hint: 'per baseline p'})),
		h('div', {class: 'row'},
			field({name: 'baseline_p', label: 'Baselines\' p', control: c.baseline_p}),
			field({name: 'policy_blocks', label: 'Paper policy blocks', control: c.policy_blocks, hint: 'B1,B2,B3,B4: p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1'})));
	const form = h('form', {id: 'submit-form', class: 'submit-form', novalidate: true},
		h('fieldset', {class: 'panel'}, h('legend', null, 'Kind'), field({name: 'kind', label: 'What the job runs', control: c.kind})),
		presetPanel, optPanel,
		h('div', {class: 'form-columns'},
			h('fieldset', {class: 'panel'}, h('legend', null, 'What to sweep'),
				field({name: 'model', label: 'Model', control: c.model}),
				field({name: 'dataset', label: 'Dataset', control: c.dataset}),
				field({name: 'references', label: 'Reference models (reliable, for the energy reduction)', control: c.references,
					hint: 'optional; Ctrl- or Shift-click for several'}),
				h('div', {class: 'row'},
					field({name: 'mean', label: 'Normalisation mean', control: c.mean}),
					field({name: 'std', label: 'Normalisation std', control: c.std})),
				field({name: 'priority', label: 'Priority', control: c.priority, hint: '−10 to 10, higher first'})),
			h('fieldset', {class: 'panel'}, h('legend', null, 'Faults'),
				h('div', {class: 'row row-fit'},
					field({name: 'deviation', label: 'Deviation', control: c.deviation}),
					field({name: 'target', label: 'Target', control: c.target})),
				field({name: 'p', label: 'Bit-fault probability p', control: c.p,
					hint: 'a list (1e-3, 1e-2) or LO:HI:N, N log-spaced values; each in [0, 1]'}),
				field({name: 'activation_sites', label: 'Activation sites', control: c.activation_sites}),
				field({name: 'block_p', label: 'Per-block policy (block_p)', control: c.block_p,
					hint: h('span', null, 'BLOCK=EXPR rules, EXPR a probability, p or Kp; * for the rest. ', blockHint)}),
				field({name: 'blocks', label: 'Block map (blocks)', control: c.blocks, hint: 'PREFIX=BLOCK, ~REGEX=BLOCK; empty: the model\'s'})),
			h('fieldset', {class: 'panel'}, h('legend', null, 'Trials and evaluation'),
				h('div', {class: 'row'},
					field({name: 'trials', label: 'Trials per point', control: c.trials, hint: 'one trial = one chip'}),
					field({name: 'ci_target', label: 'or CI target', control: c.ci_target, hint: '95 % CI half-width; adaptive trials'})),
				h('div', {class: 'row'},
					field({name: 'min_trials', label: 'Min trials', control: c.min_trials, hint: 'with a CI target'}),
					field({name: 'max_trials', label: 'Max trials', control: c.max_trials, hint: 'with a CI target'})),
				h('div', {class: 'row'},
					field({name: 'limit', label: 'Evaluation images (N)', control: c.limit, hint: 'the first N; 0: all'}),
					field({name: 'seed', label: 'Seed', control: c.seed})),
				h('div', {class: 'row'},
					field({name: 'images_per_trial', label: 'Images per trial (n)', control: c.images_per_trial,
						hint: 'all (the paper\'s design), n ≤ N drawn per chip, or auto (a pilot picks n per point)'}),
					field({name: 'accuracy_floor', label: 'Yield floor', control: c.accuracy_floor, hint: 'accuracy a chip must reach'})),
				h('div', {class: 'row'},
					field({name: 'bits', label: 'Bits', control: c.bits, hint: '2 to 16'}),
					field({name: 'calib', label: 'Calibration images', control: c.calib})),
				field({name: 'energy_a', label: 'Energy constant a', control: c.energy_a, hint: 'p(η) = exp(−a η), η the normalised memory energy'}))),
		plan,
		submitError,
		h('div', {class: 'form-actions sticky-actions'}, button, estimate));
	add(root, form);

	/* ---- state ---- */
	let models = [];
	let datasets = [];
	let preset = 'single';
	let showErrors = false;

	const modelById = (id) => models.find((m) => String(m.id) === String(id));
	const datasetById = (id) => datasets.find((d) => String(d.id) === String(id));

	/* ---- lists ---- */
	try {
		[models, datasets] = await Promise.all([listAll('models', {signal: ctx.signal}), listAll('datasets', {signal: ctx.signal})]);
	} catch (e) {
		if (isAbort(e)) return;
		form.before(ctx.errorBox(e, 'Models and datasets could not be loaded'));
	}
	if (!ctx.alive()) return;
	for (const m of models) {
		c.model.appendChild(h('option', {value: m.id}, `${m.name} (#${m.id})`));
		c.references.appendChild(h('option', {value: m.id}, `${m.name} (#${m.id}, E_o ${fmtInt(m.info.parameters + m.info.activations)})`));
	}
	for (const d of datasets) {
		c.dataset.appendChild(h('option', {value: d.id}, `${d.name} (#${d.id}, ${fmtInt(d.images)} images)`));
	}
	if (models.length === 1) c.model.value = String(models[0].id);
	if (datasets.length === 1) c.dataset.value = String(datasets[0].id);
	if (!models.length || !datasets.length) {
		form.before(message('empty', !models.length ? 'No models yet — ' : 'No datasets yet — ',
			!models.length ? h('a', {href: '#/models'}, 'upload a model') : h('a', {href: '#/datasets'}, 'register a dataset'),
			' first.'));
	}

	/* ---- filling the form ---- */
	const setValues = (vals) => {
		for (const [k, v] of Object.entries(vals)) {
			if (k === 'references') {
				const want = new Set((v || []).map(String));
				for (const o of c.references.options) o.selected = want.has(o.value);
			} else if (c[k]) {
				c[k].value = v === null || v === undefined ? '' : String(v);
			}
		}
	};

	const applyPreset = (key, fill) => {
		preset = key;
		for (const b of presetBox.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.preset === key));
		presetHelp.textContent = PRESETS[key].help;
		if (fill) setValues(PRESETS[key].values);
		if (fill && key === 'energy' && models.length) {
			setValues({references: referenceFamily(modelById(c.model.value), models).map((x) => x.id)});
		}
		c.block_p.disabled = key === 'per-block';
		c.block_p.placeholder = key === 'per-block' ? 'one job per block: BLOCK=p,*=0' : 'e.g. layer1=p,*=0';
		c.deviation.disabled = key === 'bm-erasure';
		alsoModels.hidden = key !== 'arch';
		drawAlso();
		update();
	};

	const drawAlso = () => {
		const box = alsoModels.querySelector('.checks');
		const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
		replace(box, models.filter((m) => String(m.id) !== c.model.value).map((m) =>
			h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'also_models', value: m.id,
				checked: checked.has(String(m.id)), onchange: update}), ` ${m.name} (#${m.id})`)));
		if (!box.childNodes.length) box.appendChild(h('span', {class: 'muted'}, 'No other models.'));
	};

	/* ---- checking ---- */
	const isOpt = () => c.kind.value === 'optimize';
	/* the fields a sweep takes and an optimize job does not */
	const SWEEP_ONLY = ['p', 'trials', 'ci_target', 'images_per_trial', 'block_p', 'references'];
	const showKind = () => {
		const opt = isOpt();
		presetPanel.hidden = opt;
		optPanel.hidden = !opt;
		for (const name of SWEEP_ONLY) {
			const wrap = form.querySelector(`[data-field-wrap="${name}"]`);
			if (wrap) wrap.hidden = opt;
		}
		if (opt && preset !== 'single') applyPreset('single', false);
	};

	/* what a sweep and an optimize job check alike: the integer fields of
	 * `ints` ([name, min, max, what]), energy_a, the block map, mean and std */
	const sharedFields = (errs, body, ints) => {
		for (const [name, min, max, what] of ints) {
			const r = intField(c[name].value, min, max, what);
			if (r.error) errs[name] = r.error;
			else if (r.value !== undefined) body[name] = r.value;
		}
		if (c.energy_a.value.trim()) {
			const v = parseNumber(c.energy_a.value);
			if (v === null || !(v > 0)) errs.energy_a = 'a must be a number above 0 (the paper\'s 65 nm fit: 12.8).';
			else body.energy_a = v;
		}
		const blocks = c.blocks.value.trim();
		if (blocks) {
			if (blocks.startsWith('@')) errs.blocks = '@file maps are for the CLI; write the map itself.';
			else body.blocks = blocks;
		}
		for (const name of ['mean', 'std']) {
			if (!c[name].value.trim()) continue;
			const v = parseFloats(c[name].value);
			if (!v) errs[name] = 'Numbers separated by commas: one, or one per channel.';
			else if (name === 'std' && v.some((x) => !(x > 0))) errs.std = 'std values must be above 0.';
			else body[name] = v;
		}
		if (body.mean && body.std && body.mean.length !== body.std.length && body.mean.length !== 1 && body.std.length !== 1) {
			errs.std = 'mean and std need the same number of values (or one of them a single value).';
		}
	};

	/* an optimize job's spec (daemon/jobs.c get_opt_field, opt_finish) */
	const validateOpt = (errs, body, m, d) => {
		body.kind = 'optimize';
		const ints = [
			['min_trials', 2, 1000, 'Min trials'], ['max_trials', 2, 1000, 'Max trials'],
			['seed', 0, null, 'The seed'], ['limit', 0, null, 'Evaluation images'], ['bits', 2, 16, 'Bits'],
			['calib', 1, 1 << 24, 'Calibration images'], ['priority', -10, 10, 'Priority'],
			['budget_trials', 0, 100000, 'The budget'], ['curve_trials', 1, 1000, 'Curve trials'],
			['verify_trials', 2, 1000, 'Verification trials'], ['baseline_trials', 1, 1000, 'Baseline trials'],
		];
		sharedFields(errs, body, ints);
		if ((body.min_trials ?? 4) > (body.max_trials ?? 16)) errs.min_trials = 'Min trials must be at most max trials.';
		const floor = c.accuracy_floor.value.trim();
		const loss = c.max_loss.value.trim();
		if (floor && loss) {
			errs.max_loss = 'Give a max loss or an accuracy floor, not both.';
		} else if (floor) {
			const v = parseNumber(floor);
			if (v === null || !(v > 0 && v <= 1)) errs.accuracy_floor = 'The floor is an accuracy in (0, 1], e.g. 0.9.';
			else body.accuracy_floor = v;
		} else {
			const v = loss ? parseNumber(loss) : 0.01;
			if (v === null || !(v > 0 && v < 1)) errs.max_loss = 'The max loss is an accuracy loss in (0, 1), e.g. 0.01.';
			else body.max_loss = v;
		}
		for (const name of ['block_p_grid', 'baseline_p']) {
			if (!c[name].value.trim()) continue;
			const g = parseP(c[name].value);
			if (g.error) errs[name] = g.error;
			else if (g.points.length > 64) errs[name] = 'At most 64 values.';
			else if (g.points.some((x, i) => !(x > 0) || (i && !(x > g.points[i - 1])))) errs[name] = 'The values must be above 0 and ascend.';
			else body[name] = g.value;
		}
		if (c.policy_blocks.value.trim()) body.policy_blocks = c.policy_blocks.value.trim();
		return {errs, body, jobs: [body], model: m, dataset: d, points: []};
	};

	const validate = () => {
		const errs = {};
		const body = {};
		const m = modelById(c.model.value);
		const d = datasetById(c.dataset.value);
		if (!c.model.value) errs.model = 'Choose a model.';
		else body.model = Number(c.model.value);
		if (!c.dataset.value) errs.dataset = 'Choose a dataset.';
		else body.dataset = Number(c.dataset.value);
		if (m && d && JSON.stringify(m.info.input_shape) !== JSON.stringify(d.shape)) {
			errs.dataset = `${d.name}'s images are ${d.shape.join('×')}, the model takes ${m.info.input_shape.join('×')}.`;
		}
		body.deviation = c.deviation.value;
		body.target = c.target.value;
		body.activation_sites = c.activation_sites.value;
		if (isOpt()) return validateOpt(errs, body, m, d);
		const p = parseP(c.p.value);
		if (p.error) errs.p = p.error;
		else body.p = p.value;
		const ints = [
			['trials', 1, TRIAL_CAP, 'Trials'], ['min_trials', 2, TRIAL_CAP, 'Min trials'], ['max_trials', 2, TRIAL_CAP, 'Max trials'],
			['seed', 0, null, 'The seed'], ['limit', 0, null, 'Evaluation images'], ['bits', 2, 16, 'Bits'],
			['calib', 1, 1 << 24, 'Calibration images'], ['priority', -10, 10, 'Priority'],
		];
		sharedFields(errs, body, ints);
		const ipt = c.images_per_trial.value.trim().toLowerCase();
		if (ipt === 'auto') {
			body.images_per_trial = 'auto'; // a pilot per point picks its n (docs/fault-models.md 4a)
		} else if (ipt && ipt !== 'all') {
			const r = intField(ipt, 1, null, 'Images per trial');
			if (r.error) errs.images_per_trial = r.error;
			else if (body.limit && r.value > body.limit) errs.images_per_trial = `At most the evaluation images (${body.limit}).`;
			else if (d && r.value > d.images) errs.images_per_trial = `At most the dataset's ${d.images} images.`;
			else body.images_per_trial = r.value;
		}
		if (c.accuracy_floor.value.trim()) {
			const v = parseNumber(c.accuracy_floor.value);
			if (v === null || !(v > 0 && v <= 1)) errs.accuracy_floor = 'The yield floor is an accuracy in (0, 1], e.g. 0.9.';
			else body.accuracy_floor = v;
		}
		if (c.ci_target.value.trim()) {
			const v = parseNumber(c.ci_target.value);
			if (v === null || !(v > 0 && v < 1)) errs.ci_target = 'The CI target is a half-width between 0 and 1, e.g. 0.01.';
			else body.ci_target = v;
			if (body.trials !== undefined) errs.trials = 'Give trials or a CI target, not both.';
		} else {
			if (body.min_trials !== undefined && !errs.min_trials) errs.min_trials = 'Min trials goes with a CI target.';
			if (body.max_trials !== undefined && !errs.max_trials) errs.max_trials = 'Max trials goes with a CI target.';
		}
		if (body.ci_target !== undefined && (body.min_trials ?? 3) > (body.max_trials ?? 100)) {
			errs.min_trials = 'Min trials must be at most max trials.';
		}
		if (preset !== 'per-block' && c.block_p.value.trim()) {
			const r = parseBlockP(c.block_p.value);
			if (r.error) {
				errs.block_p = r.error;
			} else {
				if (m && !body.blocks) {
					const names = new Set(m.info.blocks.map((b) => b.name));
					const unknown = r.rules.filter((x) => x.block !== '*' && !names.has(x.block)).map((x) => x.block);
					if (unknown.length) {
						errs.block_p = `${m.name} has no block ${unknown.map((u) => `"${u}"`).join(', ')}; its blocks: ${[...names].filter(Boolean).join(', ')}.`;
					}
				}
				body.block_p = c.block_p.value.trim();
			}
		}
		const refs = [...c.references.selectedOptions].map((o) => Number(o.value));
		if (refs.length > 32) errs.references = 'At most 32 reference models.';
		if (refs.length) body.references = refs;
		// the jobs this submission creates
		let jobs = [body];
		if (!Object.keys(errs).length) {
			if (preset === 'arch') {
				const also = [...alsoModels.querySelectorAll('input:checked')].map((i) => Number(i.value));
				jobs = [body, ...also.map((id) => ({...body, model: id}))];
			} else if (preset === 'bm-erasure') {
				const er = {...body, deviation: 'erasure'};
				const doubled = doubleP(body.p);
				if (doubled.error) errs.p = doubled.error;
				else er.p = doubled.value;
				jobs = [{...body, deviation: 'bm'}, er];
			} else if (preset === 'per-block') {
				if (!m) {
					errs.model = 'Choose the model whose blocks to sweep.';
				} else {
					const names = m.info.blocks.map((b) => b.name).filter(Boolean);
					jobs = names.map((b) => ({...body, block_p: `${b}=p,*=0`}));
					if (!jobs.length) errs.model = `${m.name} has no named blocks.`;
				}
			}
		}
		return {errs, body, jobs, model: m, dataset: d, points: p.points || []};
	};

	const showClientErrors = (errs) => {
		clearFieldErrors(form);
		for (const [name, text] of Object.entries(errs)) setFieldError(form, name, text);
	};

	/* ---- the plan and the cost ---- */
	const update = () => {
		const v = validate();
		if (showErrors) showClientErrors(v.errs);
		const m = v.model;
		replace(blockHint, m ? `Blocks of ${m.name}: ${m.info.blocks.map((b) => b.name).filter(Boolean).join(', ')}.` : '');
		const n = v.jobs.length;
		button.textContent = n > 1 ? `Submit ${n} jobs` : isOpt() ? 'Submit optimize job' : 'Submit sweep';
		if (n > 1 && !Object.keys(v.errs).length) {
			replace(plan, h('h2', null, `This submits ${n} jobs`), h('ol', null, v.jobs.map((j) => h('li', null,
				`${modelById(j.model)?.name || `model #${j.model}`}: ${j.deviation}, ${j.target}, p ${
					Array.isArray(j.p) ? j.p.map(fmtP).join(', ') : j.p}${j.block_p ? `, block_p ${j.block_p}` : ''}`))),
			h('p', {class: 'muted'}, 'Then the comparison opens.'));
		} else {
			replace(plan);
		}
		const d = v.dataset;
		if (isOpt()) {
			estimate.textContent = d ? `At most ${fmtInt(v.body.budget_trials ?? 2000)} search trials + verification and baselines, each of ${fmtInt(v.body.limit ? Math.min(v.body.limit, d.images) : d.images)} images.` : '';
		} else if (d && v.points.length) {
			const all = v.body.limit ? Math.min(v.body.limit, d.images) : d.images;
			// auto: at most N a trial (and a pilot of min_trials at min(N, 256) before)
			const per = typeof v.body.images_per_trial === 'number' ? v.body.images_per_trial : all;
			const trials = v.body.ci_target !== undefined ? (v.body.min_trials ?? 3) : (v.body.trials ?? 5);
			const total = per * trials * v.points.length * n;
			estimate.textContent = `${n > 1 ? `${n} jobs × ` : ''}${v.points.length} point${v.points.length > 1 ? 's' : ''} × ${trials} trial${trials > 1 ? 's' : ''}`
				+ `${v.body.ci_target !== undefined ? ' (at least)' : ''} × ${fmtInt(per)} images${v.body.images_per_trial === 'auto' ? ' (at most: auto picks n ≤ N after a pilot)' : ''} = ${fmtInt(total)} faulty inferences.`;
		} else {
			estimate.textContent = '';
		}
	};
	form.addEventListener('input', update);
	form.addEventListener('change', (ev) => {
		if (ev.target === c.kind) showKind();
		if (ev.target === c.model) drawAlso();
		if (ev.target === c.model && preset === 'energy') {
			setValues({references: referenceFamily(modelById(c.model.value), models).map((x) => x.id)});
		}
		update();
	});
	// a CI target replaces the trial count the user did not type
	c.ci_target.addEventListener('input', () => {
		if (c.ci_target.value.trim() && c.trials.dataset.typed !== '1') c.trials.value = '';
	});
	c.trials.addEventListener('input', () => {
		c.trials.dataset.typed = '1';
	});

	/* ---- submitting ---- */
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		showErrors = true;
		submitError.hidden = true;
		replace(submitError);
		const v = validate();
		showClientErrors(v.errs);
		if (Object.keys(v.errs).length) {
			const firstBad = form.querySelector('[aria-invalid="true"]');
			if (firstBad) firstBad.focus();
			return;
		}
		button.disabled = true;
		const created = [];
		try {
			for (const spec of v.jobs) {
				const job = await post('jobs', spec, {signal: ctx.signal});
				created.push(job.id);
			}
		} catch (e) {
			if (isAbort(e)) return;
			button.disabled = false;
			showServerError(e, created, v.jobs.length);
			return;
		}
		button.disabled = false;
		if (created.length === 1) ctx.navigate(`#/jobs/${created[0]}`);
		else ctx.navigate(`#/compare?jobs=${created.join(',')}${preset === 'bm-erasure' ? '&pe2=1' : ''}`);
	});

	const showServerError = (e, created, total) => {
		const partial = created.length ? [h('p', null, `${created.length} of ${total} jobs were queued before this one was refused: `,
			created.map((id, i) => [i ? ', ' : '', h('a', {href: `#/jobs/${id}`}, `#${id}`)]), '.')] : [];
		if (e instanceof ApiError && e.status === 401) {
			submitError.hidden = false;
			replace(submitError, h('strong', null, 'Sign in first: '), 'brownoutd takes sweeps only with a token (paste yours at the top).', partial);
			return;
		}
		if (e instanceof ApiError && e.field && !partial.length && setFieldError(form, e.field, `${e.message}`)) {
			const ctl = form.querySelector(`[name="${e.field}"]`);
			if (ctl) ctl.focus();
			return;
		}
		if (e instanceof ApiError && e.field) setFieldError(form, e.field, e.message);
		submitError.hidden = false;
		replace(submitError, h('strong', null, 'Not submitted: '), e instanceof ApiError ? e.describe() : String(e), partial);
	};

	/* ---- initial values: ?from=JOB, ?preset=, or single fields ---- */
	if (q.get('from')) {
		try {
			const job = await get(`jobs/${Number(q.get('from'))}`, {signal: ctx.signal});
			const s = job.spec;
			if (s.kind === 'optimize') {
				c.kind.value = 'optimize';
				setValues({
					model: modelById(s.model) ? s.model : '', dataset: datasetById(s.dataset) ? s.dataset : '',
					deviation: s.deviation, target: s.target, activation_sites: s.activation_sites,
					max_loss: s.max_loss ?? '', accuracy_floor: s.accuracy_floor ?? '',
					block_p_grid: s.block_p_grid.map(String).join(', '), baseline_p: s.baseline_p.map(String).join(', '),
					budget_trials: s.budget_trials, curve_trials: s.curve_trials, verify_trials: s.verify_trials,
					baseline_trials: s.baseline_trials, policy_blocks: s.policy_blocks ?? '',
					min_trials: s.min_trials, max_trials: s.max_trials,
					seed: s.seed, limit: s.limit, bits: s.bits, calib: s.calib, energy_a: fmtNum(s.energy_a, 10),
					blocks: s.blocks ?? '', mean: s.mean ? s.mean.map((x) => fmtNum(x, 6)).join(', ') : '',
					std: s.std ? s.std.map((x) => fmtNum(x, 6)).join(', ') : '', priority: s.priority,
				});
			} else setValues({
				model: modelById(s.model) ? s.model : '', dataset: datasetById(s.dataset) ? s.dataset : '',
				deviation: s.deviation, target: s.target, activation_sites: s.activation_sites,
				p: s.p.map(String).join(', '), trials: s.trials ?? '', ci_target: s.ci_target ?? '',
				min_trials: s.ci_target ? s.min_trials : '', max_trials: s.ci_target ? s.max_trials : '',
				seed: s.seed, limit: s.limit, bits: s.bits, calib: s.calib, energy_a: fmtNum(s.energy_a, 10),
				images_per_trial: s.images_per_trial === 'all' || s.images_per_trial == null ? '' : s.images_per_trial,
				accuracy_floor: s.accuracy_floor ?? '',
				blocks: s.blocks ?? '', block_p: s.block_p ?? '', references: s.references,
				mean: s.mean ? s.mean.map((x) => fmtNum(x, 6)).join(', ') : '', std: s.std ? s.std.map((x) => fmtNum(x, 6)).join(', ') : '',
				priority: s.priority,
			});
			if (s.trials !== null) c.trials.dataset.typed = '1';
			form.before(message('info', 'Filled in from ', h('a', {href: `#/jobs/${job.id}`}, `job #${job.id}`), '. Change what you like and submit.'));
		} catch (e) {
			if (isAbort(e)) return;
			form.before(ctx.errorBox(e, `Job #${q.get('from')} could not be loaded`));
		}
	}
	const fromQuery = {};
	for (const k of ['model', 'dataset', 'deviation', 'target', 'p', 'trials', 'ci_target', 'limit', 'images_per_trial', 'accuracy_floor', 'seed', 'block_p', 'activation_sites', 'priority']) {
		if (q.has(k)) fromQuery[k] = q.get(k);
	}
	if (q.has('references')) fromQuery.references = q.get('references').split(',');
	if (q.get('kind') === 'optimize') c.kind.value = 'optimize';
	const start = PRESETS[q.get('preset')] && !isOpt() ? q.get('preset') : 'single';
	applyPreset(start, start !== 'single');
	setValues(fromQuery);
	if (fromQuery.trials) c.trials.dataset.typed = '1';
	drawAlso();
	showKind();
	update();
}

/* A model trained against erasure (its name or description says so): not
 * a reliable reference. */
const erasureTrained = (m) => /erasure|erase/i.test(`${m.name} ${m.description || ''}`);

/* The architecture: input shape, block names and the operators used. */
const archKey = (m) => JSON.stringify([m.info.input_shape, (m.info.blocks || []).map((b) => b.name),
	Object.keys(m.info.ops || {}).sort()]);

/* The Fig. 5 references of model M: its reliable family, the models of the
 * same architecture (input shape, blocks, operators: not unrelated CNNs),
 * one per size E_o (parameters + activations), a standard-trained one
 * rather than an erasure-trained one, M itself rather than a copy, else the
 * oldest. Without a model chosen: none. */
export function referenceFamily(m, models) {
	if (!m) return [];
	const bySize = new Map();
	const rank = (x) => [erasureTrained(x) ? 1 : 0, x.id === m.id ? 0 : 1, x.id];
	const better = (a, b) => {
		const ra = rank(a);
		const rb = rank(b);
		for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] < rb[i];
		return false;
	};
	for (const x of models) {
		if (archKey(x) !== archKey(m)) continue;
		const size = x.info.parameters + x.info.activations;
		const have = bySize.get(size);
		if (!have || better(x, have)) bySize.set(size, x);
	}
	return [...bySize.values()].filter((x) => !erasureTrained(x)).sort((a, b) => a.id - b.id);
}

/* p_e = 2p for the erasure job of the BM-against-erasure preset. */
function doubleP(p) {
	if (Array.isArray(p)) {
		const out = p.map((x) => x * 2);
		if (out.some((x) => x > 1)) return {error: 'Erasure at p_e = 2p needs every p ≤ 0.5.'};
		return {value: out};
	}
	const [lo, hi, n] = p.split(':');
	const l = Number(lo) * 2;
	const u = Number(hi) * 2;
	if (u > 1) return {error: 'Erasure at p_e = 2p needs HI ≤ 0.5.'};
	return {value: `${l}:${u}:${n}`};
}
