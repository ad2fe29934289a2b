// Jobs: the list with filters, selection for comparison, paging.
import {get, listAll, canWrite, isAbort} from '../api.js';
import {h, add, replace, message, select} from '../dom.js';
import {jobRow, JOB_COLUMNS, STATES, ACTIVE, poll, sortJobs} from './common.js';

export async function render(root, ctx) {
	const q = ctx.query;
	const state = select('state', [['', 'any state'], ...STATES.map((s) => [s, s])], q.get('state') || '', {id: 'filter-state'});
	const owner = h('input', {type: 'text', name: 'owner', id: 'filter-owner', value: q.get('owner') || '',
		placeholder: 'user name', autocomplete: 'off'});
	const model = select('model', [['', 'any model']], '', {id: 'filter-model'});
	const filters = h('form', {class: 'filters', id: 'jobs-filters', role: 'search'},
		h('div', {class: 'field'}, h('label', {for: 'filter-state'}, 'State'), state),
		h('div', {class: 'field'}, h('label', {for: 'filter-owner'}, 'Owner'), owner),
		h('div', {class: 'field'}, h('label', {for: 'filter-model'}, 'Model'), model),
		h('button', {type: 'submit', class: 'secondary'}, 'Filter'));
	const selected = new Set((q.get('selected') || '').split(',').filter(Boolean).map(Number));
	const compareLink = h('a', {class: 'button', id: 'compare-selected', href: '#/compare'}, 'Compare selected');
	const selInfo = h('span', {class: 'muted', id: 'selected-count'});
	const list = h('div', {id: 'jobs-list'}, message('info', 'Loading jobs…'));
	add(root, 
		h('div', {class: 'view-head'}, h('h1', null, 'Jobs'),
			canWrite() ? h('a', {class: 'button', href: '#/submit'}, 'Submit a sweep') : null),
		filters,
		h('div', {class: 'toolbar'}, compareLink, selInfo),
		list);

	const updateSelection = () => {
		const ids = [...selected];
		compareLink.href = `#/compare?jobs=${ids.join(',')}`;
		compareLink.classList.toggle('disabled', ids.length === 0);
		compareLink.setAttribute('aria-disabled', ids.length ? 'false' : 'true');
		selInfo.textContent = ids.length ? `${ids.length} selected: ${ids.map((i) => `#${i}`).join(', ')}`
			: 'Tick jobs to overlay their curves.';
	};
	compareLink.addEventListener('click', (ev) => {
		if (!selected.size) ev.preventDefault();
	});
	const onSelect = (id, on) => {
		if (on) selected.add(id);
		else selected.delete(id);
		updateSelection();
	};
	updateSelection();

	filters.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const p = new URLSearchParams();
		if (state.value) p.set('state', state.value);
		if (owner.value.trim()) p.set('owner', owner.value.trim());
		if (model.value) p.set('model', model.value);
		ctx.navigate(`#/jobs${p.toString() ? `?${p}` : ''}`);
	});
	state.addEventListener('change', () => filters.requestSubmit());
	model.addEventListener('change', () => filters.requestSubmit());

	listAll('models', {signal: ctx.signal}).then((ms) => {
		for (const m of ms) model.appendChild(h('option', {value: m.id, selected: String(m.id) === q.get('model')}, `${m.name} (#${m.id})`));
	}).catch(() => {});

	const filterQuery = new URLSearchParams();
	for (const k of ['state', 'owner', 'model']) if (q.get(k)) filterQuery.set(k, q.get(k));
	let rows = [];
	let sort = {key: null, dir: 'asc'}; // the list's own order (newest first) until a header is clicked
	let after = null;
	let pages = 1;
	const load = async ({more = false} = {}) => {
		const params = new URLSearchParams(filterQuery);
		params.set('limit', '50');
		if (more && after) params.set('after', String(after));
		let page;
		try {
			page = await get(`jobs?${params}`, {signal: ctx.signal});
		} catch (e) {
			if (isAbort(e)) throw e;
			replace(list, ctx.errorBox(e, 'The jobs could not be loaded'));
			return false;
		}
		if (!ctx.alive()) return false;
		if (more) {
			rows = rows.concat(page.items);
			pages += 1;
		} else {
			rows = page.items;
		}
		after = page.next_after;
		draw();
		return true;
	};
	const draw = () => {
		if (!rows.length) {
			const filtered = filterQuery.toString() !== '';
			replace(list, message('empty', filtered ? 'No job matches these filters.'
				: ['No jobs yet — ', canWrite() ? h('a', {href: '#/submit'}, 'submit one') : 'sign in to submit one', '.']));
			return;
		}
		// keep the keyboard focus across a refresh
		const active = document.activeElement;
		const activeRow = active && list.contains(active) ? active.closest('tr[data-job-id]') : null;
		const focusKey = activeRow ? [activeRow.dataset.jobId, active.tagName, active.getAttribute('href')] : null;
		const sortFocus = active && list.contains(active) && active.dataset.sort ? active.dataset.sort : null;
		const shown = sort.key ? sortJobs(rows, sort.key, sort.dir) : rows;
		const head = h('tr', null,
			h('th', {scope: 'col', class: 'c-select'}, h('span', {class: 'visually-hidden'}, 'Compare')),
			JOB_COLUMNS.map((c) => {
				const on = sort.key === c.key;
				return h('th', {scope: 'col', class: c.class, title: c.title, 'data-col': c.key,
					'aria-sort': on ? (sort.dir === 'asc' ? 'ascending' : 'descending') : null},
				c.sort ? h('button', {type: 'button', class: 'sort', 'data-sort': c.key,
					onclick: () => {
						sort = {key: c.key, dir: on && sort.dir === 'asc' ? 'desc' : 'asc'};
						draw();
					}}, c.label, h('span', {class: 'sort-mark', 'aria-hidden': 'true'}, on ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''))
					: c.label);
			}));
		replace(list,
			h('div', {class: 'table-scroll'},
				h('table', {class: 'jobs-table', id: 'jobs-table'}, h('thead', null, head),
					h('tbody', null, shown.map((j) => jobRow(j, {select: true, onSelect, selected: selected.has(j.id)}))))),
			after ? h('button', {type: 'button', class: 'secondary', id: 'jobs-more', onclick: () => load({more: true})}, 'Load more') : null);
		if (sortFocus) list.querySelector(`button[data-sort="${sortFocus}"]`)?.focus();
		if (focusKey) {
			const row = list.querySelector(`tr[data-job-id="${focusKey[0]}"]`);
			const target = row && [...row.querySelectorAll(focusKey[1])].find((el) => el.getAttribute('href') === focusKey[2]);
			if (target) target.focus();
		}
	};
	const ok = await load();
	// Refresh the first page while something on it is queued or running.
	if (ok) {
		poll(ctx, 3000, async () => {
			if (pages > 1 || !rows.some((j) => ACTIVE.has(j.state))) return true;
			await load();
			return true;
		});
	}
}
