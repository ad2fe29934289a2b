// Workers: the remote `brownout worker` processes (GET /api/v1/workers),
// refreshed every 2 s. A heartbeat's age is taken against the daemon's own
// clock (the answer's Date header), so a skewed browser clock does not
// change it.
import {request, isAbort} from '../api.js';
import {h, add, replace, message, table} from '../dom.js';
import {fmtNum, fmtInt, fmtDuration, rawValue} from '../format.js';
import {poll} from './common.js';

const REFRESH_MS = 2000;

const COLS = [
	{label: 'Name'}, {label: 'State'}, {label: 'Task'},
	{label: 'Last heartbeat', title: 'since its last claim, heartbeat or results, by the daemon\'s clock'},
	{label: 'Images/s', class: 'num', title: 'images of its committed trials per second since it was first seen'},
	{label: 'Tasks done', class: 'num', title: 'results reports that recorded trials'},
	{label: 'Images', class: 'num'},
];

/* Seconds from ISO `at` to the server's `now` (ms), never below 0. */
export function ageSeconds(at, nowMs) {
	const t = Date.parse(at);
	if (!isFinite(t) || !isFinite(nowMs)) return null;
	return Math.max(0, Math.round((nowMs - t) / 1000));
}

function workerRow(w, nowMs) {
	const age = ageSeconds(w.last_heartbeat, nowMs);
	return h('tr', {'data-worker': w.name, class: `row-worker-${w.state}`},
		h('td', {'data-field': 'name'}, h('strong', null, w.name), w.host ? h('span', {class: 'muted'}, ` on ${w.host}`) : null),
		h('td', {'data-field': 'state', 'data-value': w.state}, h('span', {class: `state state-worker-${w.state}`}, w.state)),
		h('td', {'data-field': 'task', 'data-value': rawValue(w.task)},
			w.task === null ? h('span', {class: 'muted'}, 'none')
				: ['task ', String(w.task), ' of ', h('a', {href: `#/jobs/${w.job}`, 'data-job-link': w.job}, `job #${w.job}`)]),
		h('td', {'data-field': 'last_heartbeat', 'data-value': rawValue(age), title: w.last_heartbeat},
			age === null ? w.last_heartbeat : age < 1 ? 'just now' : `${fmtDuration(age)} ago`),
		h('td', {class: 'num', 'data-field': 'images_per_second', 'data-value': rawValue(w.images_per_second)},
			fmtNum(w.images_per_second, 3)),
		h('td', {class: 'num', 'data-field': 'tasks_done', 'data-value': rawValue(w.tasks_done)}, fmtInt(w.tasks_done)),
		h('td', {class: 'num', 'data-field': 'images', 'data-value': rawValue(w.images)}, fmtInt(w.images)));
}

export async function render(root, ctx) {
	const summary = h('p', {class: 'muted', id: 'workers-summary'});
	const list = h('div', {id: 'workers-list'}, message('info', 'Loading workers…'));
	add(root,
		h('div', {class: 'view-head'}, h('h1', null, 'Workers')),
		h('p', {class: 'lead'}, 'Remote ', h('code', null, 'brownout worker'), ' processes that claimed tasks since brownoutd started; the daemon\'s own worker threads are counted on the overview.'),
		summary,
		list);

	const refresh = async () => {
		let r;
		try {
			r = await request('workers', {signal: ctx.signal});
		} catch (e) {
			if (isAbort(e)) throw e;
			if (ctx.alive()) replace(list, ctx.errorBox(e, 'The workers could not be loaded'));
			return true;
		}
		if (!ctx.alive()) return false;
		const items = r.data.items.slice().sort((a, b) => a.name.localeCompare(b.name));
		const server = Date.parse(r.headers.get('Date') || '');
		const nowMs = isFinite(server) ? server : Date.now();
		const count = (s) => items.filter((w) => w.state === s).length;
		const ips = items.filter((w) => w.state !== 'offline').reduce((a, w) => a + w.images_per_second, 0);
		summary.textContent = items.length
			? `${items.length} worker${items.length === 1 ? '' : 's'}: ${count('busy')} busy, ${count('idle')} idle, ${count('offline')} offline; ${fmtNum(ips, 3)} images/s from those online.`
			: '';
		if (!items.length) {
			replace(list, message('empty', 'No remote worker has claimed a task since brownoutd started. Start one on any machine with ',
				h('code', null, 'brownout worker --server URL --token TOKEN'), ' (a worker token: ',
				h('code', null, 'brownoutd token create NAME --worker'), '); see docs/cluster.md.'));
			return true;
		}
		replace(list, table(COLS, items.map((w) => workerRow(w, nowMs)), {id: 'workers-table', class: 'workers-table'}));
		return true;
	};
	await refresh();
	poll(ctx, REFRESH_MS, refresh);
}
