// Small DOM helpers. Text from the API is only ever set as text, never as HTML.

const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'multiple',
	'required', 'readOnly', 'max', 'min', 'step', 'open']);

/* h('tr', {class: 'x', 'data-job-id': 3, onclick: fn}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	if (attrs) {
		for (const [k, v] of Object.entries(attrs)) {
			if (v === undefined || v === null || v === false) {
				continue;
			} else if (k.startsWith('on') && typeof v === 'function') {
				el.addEventListener(k.slice(2), v);
			} else if (k === 'class') {
				el.className = v;
			} else if (k === 'text') {
				el.textContent = v;
			} else if (k === 'for') {
				el.htmlFor = v;
			} else if (PROPS.has(k)) {
				el[k] = v;
			} else {
				el.setAttribute(k, v === true ? '' : String(v));
			}
		}
	}
	append(el, children);
	return el;
}

export function append(el, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else if (c instanceof Node) el.appendChild(c);
		else el.appendChild(document.createTextNode(String(c)));
	}
	return el;
}

/* el.append(...) without the DOM's habit of writing null as "null". */
export function add(el, ...children) {
	return append(el, children);
}

export function clear(el) {
	while (el.firstChild) el.removeChild(el.firstChild);
	return el;
}

export function replace(el, ...children) {
	clear(el);
	return append(el, children);
}

/* A message box: kind is 'error', 'info', 'empty' or 'warn'. */
export function message(kind, ...children) {
	return h('div', {class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : null}, ...children);
}

/* A table: cols = [{label, class}], rows = array of <tr>; in a box that
 * scrolls sideways when the table is wider than the screen. */
export function table(cols, rows, attrs = {}) {
	return h('div', {class: 'table-scroll'}, h('table', attrs,
		h('thead', null, h('tr', null, cols.map((c) => h('th', {scope: 'col', class: c.class, title: c.title}, c.label)))),
		h('tbody', null, rows)));
}

/* A definition list from [[term, value], ...]; null values are left out. */
export function dl(pairs, cls = 'facts') {
	return h('dl', {class: cls}, pairs.filter((p) => p && p[1] !== null && p[1] !== undefined)
		.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
}

let uid = 0;
export function nextId(prefix) {
	uid += 1;
	return `${prefix}-${uid}`;
}

/* A labelled form control with a .field-error slot.
 * opts: {name, label, control (element), hint, wide} */
export function field({name, label, control, hint, cls}) {
	const id = control.id || nextId(`f-${name}`);
	control.id = id;
	if (!control.name) control.name = name;
	const errId = `${id}-error`;
	const hintId = hint ? `${id}-hint` : null;
	control.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
	return h('div', {class: `field ${cls || ''}`.trim(), 'data-field-wrap': name},
		h('label', {for: id}, label),
		control,
		hint ? h('small', {class: 'hint', id: hintId}, hint) : null,
		h('p', {class: 'field-error', 'data-field': name, id: errId, hidden: true, 'aria-live': 'polite'}));
}

/* Show or clear the .field-error of NAME inside root. */
export function setFieldError(root, name, text) {
	const slot = root.querySelector(`.field-error[data-field="${cssEscape(name)}"]`);
	const control = root.querySelector(`[name="${cssEscape(name)}"]`);
	if (!slot) return false;
	slot.textContent = text || '';
	slot.hidden = !text;
	if (control) {
		if (text) control.setAttribute('aria-invalid', 'true');
		else control.removeAttribute('aria-invalid');
	}
	return true;
}

export function clearFieldErrors(root) {
	for (const slot of root.querySelectorAll('.field-error')) {
		slot.textContent = '';
		slot.hidden = true;
	}
	for (const c of root.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

export function cssEscape(s) {
	return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
}

export function select(name, options, value, attrs = {}) {
	return h('select', {name, ...attrs}, options.map((o) => {
		const [v, label] = Array.isArray(o) ? o : [o, o];
		return h('option', {value: v, selected: String(v) === String(value)}, label);
	}));
}

/* A two-step confirmation: the button turns into "Really …? [Yes] [No]". */
export function confirmButton({id, label, confirmLabel, question, onConfirm, cls = 'danger'}) {
	const wrap = h('span', {class: 'confirm'});
	const button = h('button', {type: 'button', id, class: cls}, label);
	const render = (asking) => {
		clear(wrap);
		if (!asking) {
			wrap.appendChild(button);
			return;
		}
		const yes = h('button', {type: 'button', id: id ? `${id}-confirm` : null, class: cls,
			onclick: async () => {
				yes.disabled = true;
				try {
					await onConfirm();
				} finally {
					if (wrap.isConnected) render(false);
				}
			}}, confirmLabel || label);
		const no = h('button', {type: 'button', class: 'secondary', id: id ? `${id}-keep` : null,
			onclick: () => { render(false); button.focus(); }}, 'Keep');
		append(wrap, [h('span', {class: 'confirm-q'}, question), ' ', yes, ' ', no]);
		yes.focus();
	};
	button.addEventListener('click', () => render(true));
	render(false);
	return wrap;
}
