// Datasets: the list, registering a server path, uploading files.
import {del, post, upload, canWrite, mayChange, ApiError, isAbort} from '../api.js';
import {h, add, message, table, field, select, setFieldError, clearFieldErrors, confirmButton} from '../dom.js';
import {fmtInt, fmtBytes, fmtShape} from '../format.js';
import {timeCell, pagedList} from './common.js';

export async function render(root, ctx) {
	const list = h('div', {id: 'datasets-list'}, message('info', 'Loading datasets…'));
	add(root, h('div', {class: 'view-head'}, h('h1', null, 'Datasets')), list);
	if (canWrite()) {
		add(root, h('div', {class: 'grid-2'}, registerForm(ctx, () => load()), uploadForm(ctx, () => load())));
	} else {
		add(root, message('info', 'Sign in to register or upload datasets.'));
	}

	const listError = h('p', {class: 'form-error', role: 'alert', hidden: true});
	const load = pagedList(ctx, list, {
		path: 'datasets', what: 'datasets', before: listError,
		empty: () => message('empty', 'No datasets yet — ',
			canWrite() ? 'register a directory on the server or upload files below.' : 'sign in to add one.'),
		render: (rows) => table([
			{label: 'Id', class: 'num'}, {label: 'Name'}, {label: 'Images', class: 'num'}, {label: 'Image shape'},
			{label: 'Format'}, {label: 'Split'}, {label: 'Source'}, {label: 'Owner'}, {label: 'Added'}, {label: ''},
		], rows.map((d) => h('tr', {'data-dataset-id': d.id},
			h('td', {class: 'num'}, d.id),
			h('td', null, h('strong', null, d.name), d.description ? h('div', {class: 'muted desc'}, d.description) : null),
			h('td', {class: 'num'}, fmtInt(d.images)),
			h('td', null, fmtShape(d.shape)),
			h('td', null, d.format),
			h('td', null, d.split),
			h('td', {class: 'path'}, d.source === 'path' ? h('code', null, d.path) : `upload, ${fmtBytes(d.size)}`),
			h('td', null, d.owner),
			h('td', null, timeCell(d.created_at)),
			h('td', {class: 'actions'}, mayChange(d.owner) ? confirmButton({
				id: `delete-dataset-${d.id}`, label: 'Delete', question: `Delete ${d.name}?`, confirmLabel: 'Yes, delete',
				onConfirm: async () => {
					listError.hidden = true;
					try {
						await del(`datasets/${d.id}`);
						await load();
					} catch (e) {
						listError.textContent = e instanceof ApiError ? `Not deleted: ${e.describe()}` : String(e);
						listError.hidden = false;
					}
				}}) : null))),
		{class: 'datasets-table'}),
	});
	await load();
}

function showError(form, slot, e, map = {}) {
	if (e instanceof ApiError && e.field && setFieldError(form, map[e.field] || e.field, e.message)) return;
	slot.textContent = e instanceof ApiError ? `Refused: ${e.describe()}` : String(e);
	slot.hidden = false;
}

function registerForm(ctx, onDone) {
	const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
	const path = h('input', {type: 'text', required: true, placeholder: '/usr/share/datasets/fashion-mnist', autocomplete: 'off'});
	const format = select('format', [['auto', 'auto-detect'], ['idx', 'IDX (MNIST)'], ['cifar', 'CIFAR-10 binary'], ['npy', 'NumPy .npy']], 'auto');
	const split = select('split', [['test', 'test'], ['train', 'train']], 'test');
	const desc = h('input', {type: 'text', autocomplete: 'off'});
	const error = h('p', {class: 'form-error', id: 'dataset-register-error', role: 'alert', hidden: true});
	const done = h('p', {class: 'form-ok', role: 'status', hidden: true});
	const button = h('button', {type: 'submit', id: 'dataset-register-button'}, 'Register');
	const form = h('form', {id: 'dataset-register-form', class: 'panel', novalidate: true},
		h('h2', null, 'Register a directory on the server'),
		h('p', {class: 'muted'}, 'The path must lie under one of brownoutd\'s --dataset-root directories.'),
		field({name: 'name', label: 'Name', control: name}),
		field({name: 'path', label: 'Path on the server', control: path}),
		h('div', {class: 'row'},
			field({name: 'format', label: 'Format', control: format}),
			field({name: 'split', label: 'Split', control: split})),
		field({name: 'description', label: 'Description', control: desc}),
		h('div', {class: 'form-actions'}, button, done),
		error);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		error.hidden = true;
		done.hidden = true;
		let bad = false;
		if (!name.value.trim()) {
			setFieldError(form, 'name', 'Give the dataset a name.');
			bad = true;
		}
		if (!path.value.trim()) {
			setFieldError(form, 'path', 'The directory (or CIFAR-10 .bin file) on the server.');
			bad = true;
		}
		if (bad) {
			form.querySelector('[aria-invalid]')?.focus();
			return;
		}
		const body = {name: name.value.trim(), path: path.value.trim(), format: format.value, split: split.value};
		if (desc.value.trim()) body.description = desc.value.trim();
		button.disabled = true;
		try {
			const d = await post('datasets', body, {signal: ctx.signal});
			form.reset();
			done.hidden = false;
			done.textContent = `Registered ${d.name}: ${fmtInt(d.images)} images of ${fmtShape(d.shape)}.`;
			onDone();
		} catch (e) {
			if (!isAbort(e)) showError(form, error, e);
		} finally {
			button.disabled = false;
		}
	});
	return form;
}

function uploadForm(ctx, onDone) {
	const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
	const format = select('format', [['npy', 'NumPy .npy'], ['idx', 'IDX (MNIST, raw or .gz)'], ['cifar', 'CIFAR-10 binary']], 'npy');
	const split = select('split', [['test', 'test'], ['train', 'train']], 'test');
	const desc = h('input', {type: 'text', autocomplete: 'off'});
	const images = h('input', {type: 'file', required: true});
	const labels = h('input', {type: 'file'});
	const bar = h('progress', {max: 1, value: 0, hidden: true, 'aria-label': 'upload progress'});
	const error = h('p', {class: 'form-error', id: 'dataset-upload-error', role: 'alert', hidden: true});
	const done = h('p', {class: 'form-ok', role: 'status', hidden: true});
	const button = h('button', {type: 'submit', id: 'dataset-upload-button'}, 'Upload');
	const form = h('form', {id: 'dataset-upload-form', class: 'panel', novalidate: true},
		h('h2', null, 'Upload files'),
		h('p', {class: 'muted'}, 'Images and labels as .npy arrays or IDX files; CIFAR-10 binary batches carry their labels.'),
		h('div', {class: 'row'},
			field({name: 'name', label: 'Name', control: name}),
			field({name: 'format', label: 'Format', control: format}),
			field({name: 'split', label: 'Split', control: split})),
		field({name: 'images', label: 'Images file', control: images}),
		field({name: 'labels', label: 'Labels file', control: labels, hint: 'not needed for CIFAR-10'}),
		field({name: 'description', label: 'Description', control: desc}),
		h('div', {class: 'form-actions'}, button, bar, done),
		error);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearFieldErrors(form);
		error.hidden = true;
		done.hidden = true;
		let bad = false;
		if (!name.value.trim()) {
			setFieldError(form, 'name', 'Give the dataset a name.');
			bad = true;
		}
		if (!images.files[0]) {
			setFieldError(form, 'images', 'Choose the images file.');
			bad = true;
		}
		if (format.value !== 'cifar' && !labels.files[0]) {
			setFieldError(form, 'labels', 'Choose the labels file (only CIFAR-10 batches go without).');
			bad = true;
		}
		if (bad) {
			form.querySelector('[aria-invalid]')?.focus();
			return;
		}
		const q = new URLSearchParams({name: name.value.trim(), format: format.value, split: split.value});
		if (desc.value.trim()) q.set('description', desc.value.trim());
		const fd = new FormData();
		fd.append('images', images.files[0]);
		if (labels.files[0] && format.value !== 'cifar') fd.append('labels', labels.files[0]);
		button.disabled = true;
		bar.hidden = false;
		bar.value = 0;
		try {
			const res = await upload(`datasets?${q}`, fd, {onProgress: (x) => { bar.value = x; }, signal: ctx.signal});
			form.reset();
			done.hidden = false;
			done.textContent = `Uploaded ${res.data.name}: ${fmtInt(res.data.images)} images of ${fmtShape(res.data.shape)}.`;
			onDone();
		} catch (e) {
			if (!isAbort(e)) showError(form, error, e);
		} finally {
			button.disabled = false;
			bar.hidden = true;
		}
	});
	return form;
}
