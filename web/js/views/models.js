// Models: the list, one model's details (per-block table), the upload form.
import {get, del, upload, canWrite, mayChange, ApiError, isAbort} from '../api.js';
import {h, add, replace, message, table, dl, field, setFieldError, clearFieldErrors, confirmButton} from '../dom.js';
import {fmtInt, fmtBytes, fmtShape, fmtNum, DASH} from '../format.js';
import {jobRow, JOB_COLS, timeCell, pagedList, modelLabel} from './common.js';

export async function render(root, ctx) {
	if (ctx.view === 'model') return renderModel(root, ctx, Number(ctx.params[0]));
	return renderList(root, ctx);
}

/* ---- list ---- */

async function renderList(root, ctx) {
	const list = h('div', {id: 'models-list'}, message('info', 'Loading models…'));
	add(root, h('div', {class: 'view-head'}, h('h1', null, 'Models')), list);
	if (canWrite()) add(root, uploadForm(ctx, () => load()));
	else add(root, message('info', 'Sign in to upload models.'));

	const load = pagedList(ctx, list, {
		path: 'models', what: 'models',
		empty: () => message('empty', 'No models yet — ',
			canWrite() ? 'upload an ONNX classifier below.' : 'sign in to upload one.'),
		render: (rows) => table([
			{label: 'Id', class: 'num'}, {label: 'Name'}, {label: 'Description'}, {label: 'Parameters', class: 'num'},
			{label: 'Activations', class: 'num'}, {label: 'Input'}, {label: 'Size', class: 'num'}, {label: 'Owner'},
			{label: 'Uploaded'}, {label: ''},
		], rows.map((m) => h('tr', {'data-model-id': m.id},
			h('td', {class: 'num'}, m.id),
			h('td', null, h('a', {href: `#/models/${m.id}`, 'data-field': 'name'}, modelLabel(m.name, m.version))),
			h('td', {class: 'desc'}, m.description || ''),
			h('td', {class: 'num'}, fmtInt(m.info.parameters)),
			h('td', {class: 'num'}, fmtInt(m.info.activations)),
			h('td', null, fmtShape(m.info.input_shape)),
			h('td', {class: 'num'}, fmtBytes(m.size)),
			h('td', null, m.owner),
			h('td', null, timeCell(m.created_at)),
			h('td', {class: 'actions'}, canWrite() ? h('a', {href: `#/submit?model=${m.id}`}, 'Sweep') : null))),
		{class: 'models-table'}),
	});
	await load();
}

// Where the model's normalisation comes from: the upload's mean/std, the
// file's metadata, or none (raw [0,1] pixels), as the daemon recorded it.
function normText(m, info) {
	const values = (mean, std) => `mean ${mean.map((v) => fmtNum(v, 4)).join(', ')}; std ${std ? std.map((v) => fmtNum(v, 4)).join(', ') : DASH}`;
	const n = info.normalisation;
	if (n && n.source === 'none (raw pixels)') return 'none (raw [0,1] pixels)';
	if (n) return `${n.source === 'upload' ? 'given at upload' : 'from the file\'s metadata'}: ${values(n.mean, n.std)}`;
	// uploaded before the daemon recorded it
	return m.mean ? `given at upload: ${values(m.mean, m.std)}` : 'not recorded (the file\'s metadata, if it has any)';
}

function uploadForm(ctx, onDone) {
	const file = h('input', {type: 'file', accept: '.onnx,application/octet-stream', required: true});
	const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
	const desc = h('input', {type: 'text', autocomplete: 'off'});
	const mean = h('input', {type: 'text', placeholder: 'e.g. 0.286 or 0.4914,0.4822,0.4465', autocomplete: 'off'});
	const std = h('input', {type: 'text', placeholder: 'e.g. 0.353', autocomplete: 'off'});
	const blocks = h('input', {type: 'text', placeholder: "e.g. /layer1/=early,~^/layer[34]/=late", autocomplete: 'off'});
	const raw = h('input', {type: 'checkbox', name: 'normalize'});
	const bar = h('progress', {max: 1, value: 0, hidden: true, 'aria-label': 'upload progress'});
	const error = h('p', {class: 'form-error', id: 'model-upload-error', role: 'alert', hidden: true});
	const done = h('p', {class: 'form-ok', role: 'status', hidden: true});
	const button = h('button', {type: 'submit', id: 'model-upload-button'}, 'Upload model');
	file.addEventListener('change', () => {
		const f = file.files[0];
		if (f && !name.value) name.value = f.name.replace(/\.onnx$/i, '');
	});
	const form = h('form', {id: 'model-upload-form', class: 'panel form-grid', novalidate: true},
		h('h2', null, 'Upload a model'),
		h('p', {class: 'muted'}, 'An ONNX classifier as PyTorch exports it. The daemon loads it at once and refuses what brownout cannot run.'),
		field({name: 'file', label: 'ONNX file', control: file}),
		field({name: 'name', label: 'Name', control: name}),
		field({name: 'description', label: 'Description', control: desc, cls: 'wide'}),
		field({name: 'mean', label: 'Normalisation mean', control: mean, hint: 'one value, or one per channel; empty: the file\'s metadata brownout.mean (a file without it needs a value or raw pixels)'}),
		field({name: 'std', label: 'Normalisation std', control: std, hint: 'as mean'}),
		field({name: 'normalize', label: 'Raw pixels', control: raw, hint: 'the model takes raw [0,1] pixels: no normalisation (normalize=none)'}),
		field({name: 'blocks', label: 'Block map', control: blocks, hint: 'PREFIX=BLOCK or ~REGEX=BLOCK rules; empty: first name component', cls: 'wide'}),
		h('div', {class: 'form-actions'}, button, bar, done),
		error);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		error.hidden = true;
		done.hidden = true;
		const f = file.files[0];
		let bad = false;
		if (!f) {
			setFieldError(form, 'file', 'Choose an .onnx file.');
			bad = true;
		}
		if (!name.value.trim()) {
			setFieldError(form, 'name', 'Give the model a name.');
			bad = true;
		}
		for (const [ctl, key] of [[mean, 'mean'], [std, 'std']]) {
			const v = ctl.value.trim();
			if (v && !v.split(',').every((x) => x.trim() !== '' && isFinite(Number(x)))) {
				setFieldError(form, key, 'Numbers separated by commas.');
				bad = true;
			} else if (v && key === 'std' && !v.split(',').every((x) => Number(x) > 0)) {
				setFieldError(form, key, 'std values must be above 0.');
				bad = true;
			}
		}
		if (bad) {
			form.querySelector('[aria-invalid]')?.focus();
			return;
		}
		const q = new URLSearchParams({name: name.value.trim()});
		for (const [ctl, key] of [[desc, 'description'], [mean, 'mean'], [std, 'std'], [blocks, 'blocks']]) {
			if (ctl.value.trim()) q.set(key, ctl.value.trim());
		}
		if (raw.checked) q.set('normalize', 'none');
		button.disabled = true;
		bar.hidden = false;
		bar.value = 0;
		try {
			const res = await upload(`models?${q}`, f, {contentType: 'application/octet-stream',
				onProgress: (x) => { bar.value = x; }, signal: ctx.signal});
			form.reset();
			done.hidden = false;
			replace(done, 'Uploaded ', h('a', {href: `#/models/${res.data.id}`}, res.data.name), '.');
			onDone();
		} catch (e) {
			if (isAbort(e)) return;
			const known = e instanceof ApiError && e.field && setFieldError(form, e.field === 'body' ? 'file' : e.field, e.message);
			if (!known) {
				error.textContent = e instanceof ApiError ? `Upload refused: ${e.describe()}` : String(e);
				error.hidden = false;
			}
		} finally {
			button.disabled = false;
			bar.hidden = true;
		}
	});
	return form;
}

/* ---- one model ---- */

async function renderModel(root, ctx, id) {
	add(root, h('p', {class: 'crumbs'}, h('a', {href: '#/models'}, '← Models')));
	let m;
	try {
		m = await get(`models/${id}`, {signal: ctx.signal});
	} catch (e) {
		if (isAbort(e)) return;
		add(root, h('h1', null, `Model ${id}`), ctx.errorBox(e, e.status === 404 ? 'No such model' : 'The model could not be loaded'));
		return;
	}
	const label = modelLabel(m.name, m.version);
	ctx.setTitle(`Model ${label}`);
	const info = m.info;
	const total = info.parameters + info.activations;
	const actions = h('div', {class: 'actions'},
		canWrite() ? h('a', {class: 'button', href: `#/submit?model=${m.id}`}, 'Sweep this model') : null,
		mayChange(m.owner) ? confirmButton({id: 'delete-model', label: 'Delete model', question: `Delete model ${m.name}?`,
			confirmLabel: 'Yes, delete', onConfirm: async () => {
				try {
					await del(`models/${m.id}`);
					ctx.navigate('#/models');
				} catch (e) {
					actionError.hidden = false;
					actionError.textContent = e instanceof ApiError ? e.describe() : String(e);
				}
			}}) : null);
	const actionError = h('p', {class: 'form-error', role: 'alert', hidden: true});
	add(root, 
		h('div', {class: 'view-head'}, h('h1', null, `Model ${label}`, h('span', {class: 'muted id'}, ` #${m.id}`)), actions),
		actionError,
		m.description ? h('p', {class: 'lead'}, m.description) : null,
		dl([
			['Parameters', fmtInt(info.parameters)],
			['Activations', `${fmtInt(info.activations)} (sites: ${info.activation_sites})`],
			info.warnings && info.warnings.length ? ['Warnings', h('span', {id: 'model-warnings'}, info.warnings.join('; '))] : null,
			['Reliable energy E_o', fmtInt(total)],
			['Input shape', fmtShape(info.input_shape)],
			['FLOPs per image', fmtInt(info.flops)],
			['Normalisation', normText(m, info)],
			['Block map', m.blocks || 'default (first component of node names)'],
			['ONNX', `opset ${info.opset}, producer ${info.producer || DASH}`],
			['Owner', m.owner],
			['Uploaded', timeCell(m.created_at)],
			['File', `${fmtBytes(m.size)}, sha256 ${m.sha256}`],
		]));

	const blockRows = info.blocks.map((b) => {
		const values = b.parameters + b.activations;
		const share = total ? values / total : 0;
		return h('tr', {'data-block': b.name},
			h('td', null, b.name === '' ? h('em', null, '(outside every block)') : h('code', null, b.name)),
			h('td', {class: 'num'}, fmtInt(b.parameters)),
			h('td', {class: 'num'}, fmtInt(b.activations)),
			h('td', {class: 'num'}, fmtInt(values)),
			h('td', {class: 'c-share'}, h('span', {class: 'share-bar', 'data-share': share.toFixed(4)}),
				h('span', {class: 'num'}, `${(share * 100).toFixed(1)} %`)));
	});
	const blocksTable = table([{label: 'Block'}, {label: 'Parameters', class: 'num'}, {label: 'Activations', class: 'num'},
		{label: 'Stored values', class: 'num'}, {label: 'Share of E_o'}], blockRows, {id: 'blocks-table', class: 'blocks-table'});
	for (const bar of blocksTable.querySelectorAll('.share-bar')) bar.style.width = `${Number(bar.dataset.share) * 100}%`;
	const ops = Object.entries(info.ops).sort((a, b) => b[1] - a[1]);
	add(root, 
		h('div', {class: 'grid-2'},
			h('section', null, h('h2', null, 'Blocks'),
				h('p', {class: 'muted'}, 'Per-block fault policies (block_p) name these blocks. Weights and activations belong to the block of the node that reads them.'),
				blocksTable),
			h('section', null, h('h2', null, 'Graph'),
				table([{label: 'Operator'}, {label: 'Nodes', class: 'num'}], ops.map(([op, n]) =>
					h('tr', null, h('td', null, op), h('td', {class: 'num'}, n)))),
				h('h3', null, 'Inputs and outputs'),
				h('ul', {class: 'plain'},
					info.inputs.map((i) => h('li', null, 'in ', h('code', null, i.name), ` ${fmtShape(i.shape)}`)),
					info.outputs.map((o) => h('li', null, 'out ', h('code', null, o.name)))))));

	const jobsBox = h('div', null, message('info', 'Loading jobs…'));
	add(root, h('section', null, h('h2', null, 'Jobs with this model'), jobsBox));
	try {
		const page = await get(`jobs?model=${m.id}&limit=50`, {signal: ctx.signal});
		if (!page.items.length) {
			replace(jobsBox, message('empty', 'No sweeps of this model yet',
				canWrite() ? [' — ', h('a', {href: `#/submit?model=${m.id}`}, 'submit one'), '.'] : '.'));
		} else {
			replace(jobsBox, table(JOB_COLS, page.items.map((j) => jobRow(j)), {class: 'jobs-table'}));
		}
	} catch (e) {
		if (!isAbort(e)) replace(jobsBox, ctx.errorBox(e, 'The jobs could not be loaded'));
	}
}
