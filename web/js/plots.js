// uPlot charts: accuracy against p (log x) and accuracy against energy.
import uPlot from '../vendor/uplot/uPlot.esm.js';
import {fmtP, fmtInt, fmtAcc} from './format.js';

export const PALETTE = ['#1f5fa8', '#c0392b', '#2e8b57', '#8e44ad', '#d35400', '#16a085',
	'#7f8c8d', '#b7950b', '#2c3e50', '#e84393'];

const AXIS = {stroke: '#333', grid: {stroke: '#e4e4e4', width: 1}, ticks: {stroke: '#ccc', width: 1}};

function near(a, b) {
	return Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b));
}

/* Labels for a log axis: as many of 1..9, 1-2-5, 1-3 or 1 x 10^k as fit
 * without overlapping. */
function logValues(fmt) {
	const mant = (v) => v / 10 ** Math.floor(Math.log10(v) + 1e-9);
	const sets = [
		() => true,
		(m) => near(m, 1) || near(m, 2) || near(m, 5),
		(m) => near(m, 1) || near(m, 3),
		(m) => near(m, 1),
	];
	return (u, splits, axisIdx) => {
		const key = u.axes[axisIdx].scale;
		for (let k = 0; k < sets.length; k++) {
			const keep = (v) => v > 0 && sets[k](mant(v));
			const kept = splits.filter(keep);
			const labels = kept.map(fmt);
			let fits = true;
			for (let i = 1; i < kept.length && fits; i++) {
				const gap = Math.abs(u.valToPos(kept[i], key) - u.valToPos(kept[i - 1], key));
				fits = gap >= (labels[i].length + labels[i - 1].length) * 3.6 + 12;
			}
			if (fits || k === sets.length - 1) return splits.map((v) => (keep(v) ? fmt(v) : ''));
		}
		return splits.map(() => '');
	};
}

/* Ticks of a log axis at 1..9 x 10^k inside [min, max] (uPlot starts them at min). */
function logSplits(u, axisIdx, min, max) {
	const out = [];
	if (!(min > 0) || !(max > 0)) return out;
	for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
		for (let m = 1; m < 10; m++) {
			const v = Number((m * 10 ** e).toPrecision(6));
			if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
		}
	}
	return out;
}

/* A log range: whole decades (p), or a 15 % margin around the data (energy). */
function logRange(fallback, fullMags = true) {
	return (u, min, max) => {
		if (min === null || max === null || !(min > 0) || !(max > 0)) return fallback;
		if (max / min < 1.2) return [min / 2, max * 2];
		if (!fullMags) return [min / 1.15, max * 1.15];
		return uPlot.rangeLog(min, max, 10, true);
	};
}

/* The y range [lo, hi] in steps of 0.05 around the values given, within [0, 1]. */
export function accuracyRange(values) {
	let lo = Infinity;
	let hi = -Infinity;
	for (const v of values) {
		if (v === null || v === undefined || !isFinite(v)) continue;
		lo = Math.min(lo, v);
		hi = Math.max(hi, v);
	}
	if (lo === Infinity) return [0, 1];
	lo = Math.max(0, Math.floor((lo - 0.01) * 20) / 20);
	hi = Math.min(1, Math.ceil((hi + 0.01) * 20) / 20);
	if (hi - lo < 0.05) lo = Math.max(0, hi - 0.05);
	return [lo, hi];
}

/* Accuracy tick labels: 0.9, 0.925, 0.95 (no float noise, no rounding clash). */
const accValues = (u, splits) => splits.map((v) => (v === null ? '' : String(Number(v.toFixed(3)))));

const clip01 = (v) => (v === null || v === undefined ? null : Math.min(1, Math.max(0, v)));

/* A chart in a container: created on first set(), updated in place while the
 * series stay the same, recreated when they change, resized with the container. */
export class Chart {
	constructor(container, {height = 300} = {}) {
		this.el = container;
		this.height = height;
		this.u = null;
		this.key = null;
		this.ro = new ResizeObserver(() => this.resize());
		this.ro.observe(container);
	}

	width() {
		return Math.max(260, Math.floor(this.el.clientWidth || 600));
	}

	/* spec: {key, opts (uPlot options without size), data, state} */
	set(spec) {
		this.state = spec.state;
		if (this.u && this.key === spec.key) {
			this.u.setData(spec.data, true);
			return;
		}
		this.destroy();
		this.key = spec.key;
		const self = this;
		const scales = {...(spec.opts.scales || {})};
		if (spec.state && spec.state.yr) {
			scales.y = {...(scales.y || {}), range: () => (self.state && self.state.yr) || [0, 1]};
		}
		const opts = {
			...spec.opts,
			scales,
			width: this.width(),
			height: this.height,
			hooks: {
				...(spec.opts.hooks || {}),
				draw: [...((spec.opts.hooks || {}).draw || []).map((f) => (u) => f(u, self.state))],
			},
		};
		this.u = new uPlot(opts, spec.data, this.el);
	}

	resize() {
		if (!this.u) return;
		const w = this.width();
		if (Math.abs(w - this.u.width) > 2) this.u.setSize({width: w, height: this.height});
	}

	destroy() {
		if (this.u) {
			this.u.destroy();
			this.u = null;
		}
	}

	dispose() {
		this.ro.disconnect();
		this.destroy();
	}
}

/* ---- canvas drawing helpers for hooks ---- */

function hline(u, y, color, label) {
	if (y === null || y === undefined) return;
	const ctx = u.ctx;
	const py = u.valToPos(y, 'y', true);
	const {left, top, width, height} = u.bbox;
	if (py < top || py > top + height) return;
	ctx.save();
	ctx.strokeStyle = color;
	ctx.lineWidth = 1.5 * uPlot.pxRatio;
	ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
	ctx.beginPath();
	ctx.moveTo(left, py);
	ctx.lineTo(left + width, py);
	ctx.stroke();
	if (label) {
		ctx.setLineDash([]);
		ctx.fillStyle = color;
		ctx.font = `${11 * uPlot.pxRatio}px system-ui, sans-serif`;
		ctx.textAlign = 'right';
		ctx.textBaseline = 'bottom';
		ctx.fillText(label, left + width - 4 * uPlot.pxRatio, py - 2 * uPlot.pxRatio);
	}
	ctx.restore();
}

function dots(u, pts, color, r = 2) {
	const ctx = u.ctx;
	const {left, top, width, height} = u.bbox;
	ctx.save();
	ctx.fillStyle = color;
	for (const [x, y] of pts) {
		if (x === null || y === null || (u.scales.x.distr === 3 && !(x > 0))) continue;
		const px = u.valToPos(x, 'x', true);
		const py = u.valToPos(y, 'y', true);
		if (px < left || px > left + width || py < top || py > top + height) continue;
		ctx.beginPath();
		ctx.arc(px, py, r * uPlot.pxRatio, 0, 2 * Math.PI);
		ctx.fill();
	}
	ctx.restore();
}

/* Text labels next to points; kept inside the plot, shifted up when they
 * would overlap an earlier one. */
function labels(u, items, color) {
	const ctx = u.ctx;
	const r = uPlot.pxRatio;
	const {left, top, width} = u.bbox;
	const placed = [];
	ctx.save();
	ctx.fillStyle = color;
	ctx.font = `${11 * r}px system-ui, sans-serif`;
	ctx.textBaseline = 'bottom';
	for (const {x, y, text} of items) {
		if (!(x > 0) || y === null) continue;
		const px = u.valToPos(x, 'x', true);
		let py = u.valToPos(y, 'y', true) - 4 * r;
		const w = ctx.measureText(text).width;
		let x0 = px + 5 * r;
		if (x0 + w > left + width) x0 = Math.max(left, px - 5 * r - w);
		const h = 12 * r;
		for (let k = 0; k < 10 && placed.some((b) => x0 < b.x1 && x0 + w > b.x0 && py > b.y0 && py - h < b.y1); k++) py -= h;
		if (py - h < top) py = top + h;
		placed.push({x0, x1: x0 + w, y0: py - h, y1: py});
		ctx.textAlign = 'left';
		ctx.fillText(text, x0, py);
	}
	ctx.restore();
}

function errorBars(u, bars, color) {
	const ctx = u.ctx;
	ctx.save();
	ctx.strokeStyle = color;
	ctx.lineWidth = 1 * uPlot.pxRatio;
	const cap = 3 * uPlot.pxRatio;
	for (const [x, lo, hi] of bars) {
		if (!(x > 0) || lo === null || hi === null) continue;
		const px = u.valToPos(x, 'x', true);
		const p1 = u.valToPos(lo, 'y', true);
		const p2 = u.valToPos(hi, 'y', true);
		ctx.beginPath();
		ctx.moveTo(px, p1);
		ctx.lineTo(px, p2);
		ctx.moveTo(px - cap, p1);
		ctx.lineTo(px + cap, p1);
		ctx.moveTo(px - cap, p2);
		ctx.lineTo(px + cap, p2);
		ctx.stroke();
	}
	ctx.restore();
}

/* Union of sorted x values of several tables [[x...], [y...]...] -> aligned data. */
export function align(tables) {
	const xs = [...new Set(tables.flatMap((t) => t[0]))].sort((a, b) => a - b);
	const index = new Map(xs.map((x, i) => [x, i]));
	const data = [xs];
	for (const t of tables) {
		for (let s = 1; s < t.length; s++) {
			const col = new Array(xs.length).fill(null);
			t[0].forEach((x, i) => {
				col[index.get(x)] = t[s][i];
			});
			data.push(col);
		}
	}
	return data;
}

/* ---- one job: accuracy against p ---- */

/* results: the API's Results. Points at p = 0 cannot sit on a log axis; the
 * clean accuracy is the dashed line. */
export function accuracySpec(results) {
	const pts = results.points.filter((pt) => pt.p > 0).slice().sort((a, b) => a.p - b.p);
	const x = pts.map((pt) => pt.p);
	const mean = pts.map((pt) => pt.accuracy_mean);
	const lo = pts.map((pt) => (pt.ci95 ? clip01(pt.ci95[0]) : null));
	const hi = pts.map((pt) => (pt.ci95 ? clip01(pt.ci95[1]) : null));
	const trials = pts.flatMap((pt) => pt.trial_accuracies.map((a) => [pt.p, a]));
	const clean = results.clean_accuracy;
	const yr = accuracyRange([...mean, ...lo, ...hi, ...trials.map((t) => t[1]), clean]);
	const color = PALETTE[0];
	return {
		key: 'acc-p',
		data: [x, mean, lo, hi],
		state: {trials, clean, yr},
		opts: {
			title: 'Accuracy against bit-fault probability p',
			scales: {
				x: {time: false, distr: 3, log: 10, range: logRange([1e-4, 1e-1])},
				y: {},
			},
			axes: [
				{...AXIS, label: 'p (log scale)', splits: logSplits, filter: (u, s) => s, values: logValues(fmtP)},
				{...AXIS, label: 'accuracy', values: accValues, size: 56},
			],
			series: [
				{label: 'p', value: (u, v) => (v === null ? '—' : fmtP(v))},
				{label: 'mean accuracy', stroke: color, width: 2, points: {show: true, size: 7},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: '95 % CI low', stroke: 'rgba(31,95,168,0.35)', width: 1, points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: '95 % CI high', stroke: 'rgba(31,95,168,0.35)', width: 1, points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
			],
			bands: [{series: [3, 2], fill: 'rgba(31,95,168,0.14)'}],
			hooks: {
				draw: [(u, st) => {
					dots(u, st.trials, 'rgba(60,60,60,0.45)', 1.8);
					if (st.clean !== null && st.clean !== undefined) {
						hline(u, st.clean, '#555', `clean accuracy ${fmtAcc(st.clean)}`);
					}
				}],
			},
		},
	};
}

/* The references' frontier: non-dominated (energy, accuracy), sorted by energy. */
export function frontier(refs) {
	const sorted = refs.slice().sort((a, b) => a.energy - b.energy || b.accuracy - a.accuracy);
	const out = [];
	for (const r of sorted) {
		if (!out.length || r.accuracy > out[out.length - 1].accuracy) out.push(r);
	}
	return out;
}

/* ---- one job: accuracy against energy, with the references' frontier ---- */

export function energySpec(results) {
	const pts = results.points.filter((pt) => pt.energy !== null && pt.energy > 0)
		.slice().sort((a, b) => a.energy - b.energy);
	const refs = results.references || [];
	const front = frontier(refs);
	const E0 = results.parameters !== null && results.activations !== null
		? results.parameters + results.activations : null;
	const tables = [
		[pts.map((p) => p.energy), pts.map((p) => p.accuracy_mean),
			pts.map((p) => (p.ci95 ? clip01(p.ci95[0]) : null)), pts.map((p) => (p.ci95 ? clip01(p.ci95[1]) : null))],
	];
	const series = [
		{label: 'energy', value: (u, v) => (v === null ? '—' : fmtInt(v))},
		{label: 'mean accuracy (this job)', stroke: PALETTE[0], width: 2, points: {show: true, size: 7},
			spanGaps: true, value: (u, v) => fmtAcc(v)},
		{label: '95 % CI low', stroke: 'rgba(31,95,168,0.35)', width: 1, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
		{label: '95 % CI high', stroke: 'rgba(31,95,168,0.35)', width: 1, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
	];
	if (refs.length) {
		tables.push([front.map((r) => r.energy), front.map((r) => r.accuracy)]);
		series.push({label: 'reliable references (frontier)', stroke: PALETTE[1], width: 2,
			dash: [5, 3], points: {show: true, size: 8}, spanGaps: true, value: (u, v) => fmtAcc(v)});
	}
	if (E0 !== null && results.clean_accuracy !== null) {
		tables.push([[E0], [results.clean_accuracy]]);
		series.push({label: 'clean model (η = 1)', stroke: '#555', width: 0, paths: () => null,
			points: {show: true, size: 9, fill: '#fff', stroke: '#555'}, value: (u, v) => fmtAcc(v)});
	}
	const data = align(tables);
	const yr = accuracyRange([...data.slice(1).flat(), ...refs.map((r) => r.accuracy)]);
	const dominated = refs.filter((r) => !front.includes(r));
	return {
		key: `acc-energy-${series.length}`,
		data,
		state: {
			yr,
			labels: refs.map((r) => ({x: r.energy, y: r.accuracy, text: r.model})),
			dominated: dominated.map((r) => [r.energy, r.accuracy]),
		},
		opts: {
			title: 'Accuracy against energy per inference',
			scales: {
				x: {time: false, distr: 3, log: 10, range: logRange([1e4, 1e6], false)},
				y: {},
			},
			axes: [
				{...AXIS, label: 'energy per inference (memory accesses, log scale)', splits: logSplits, filter: (u, s) => s, values: logValues(fmtInt), size: 44},
				{...AXIS, label: 'accuracy', values: accValues, size: 56},
			],
			series,
			bands: [{series: [3, 2], fill: 'rgba(31,95,168,0.14)'}],
			hooks: {
				draw: [(u, st) => {
					labels(u, st.labels, PALETTE[1]);
					dots(u, st.dominated, PALETTE[1], 3);
				}],
			},
		},
	};
}

/* ---- several jobs: accuracy against p, and against energy ---- */

/* curves: [{label, color, points: [{x, y, lo, hi}]}] */
export function compareSpec({curves, xLabel, xFmt, title, fallback, fullMags = true, showCI, extraDraw, refs}) {
	const tables = curves.map((c) => {
		const pts = c.points.filter((p) => p.x > 0).slice().sort((a, b) => a.x - b.x);
		return [pts.map((p) => p.x), pts.map((p) => p.y)];
	});
	const front = refs ? frontier(refs) : [];
	if (refs) tables.push([front.map((r) => r.energy), front.map((r) => r.accuracy)]);
	const data = align(tables);
	const bars = curves.map((c) => ({color: c.color, bars: c.points.map((p) => [p.x, p.lo, p.hi])}));
	const yr = accuracyRange([...data.slice(1).flat(),
		...(showCI ? bars.flatMap((b) => b.bars.flatMap((x) => [x[1], x[2]])) : [])]);
	const series = [{label: xLabel, value: (u, v) => (v === null ? '—' : xFmt(v))},
		...curves.map((c) => ({label: c.label, stroke: c.color, width: 2, spanGaps: true,
			dash: c.dash, points: {show: true, size: 6}, value: (u, v) => fmtAcc(v)}))];
	if (refs) {
		series.push({label: 'reliable references (frontier)', stroke: '#222', width: 1.5, dash: [5, 3],
			points: {show: true, size: 8}, spanGaps: true, value: (u, v) => fmtAcc(v)});
	}
	return {
		key: `cmp-${title}-${series.map((s) => s.label + (s.stroke || '')).join('|')}`,
		data,
		state: {yr, bars: showCI ? bars : [], labels: refs ? refs.map((r) => ({x: r.energy, y: r.accuracy, text: r.name || r.model})) : []},
		opts: {
			title,
			scales: {
				x: {time: false, distr: 3, log: 10, range: logRange(fallback, fullMags)},
				y: {},
			},
			axes: [
				{...AXIS, label: `${xLabel} (log scale)`, splits: logSplits, filter: (u, s) => s, values: logValues(xFmt), size: 44},
				{...AXIS, label: 'accuracy', values: accValues, size: 56},
			],
			series,
			hooks: {
				draw: [(u, st) => {
					for (const b of st.bars) errorBars(u, b.bars, b.color);
					labels(u, st.labels, '#222');
					if (extraDraw) extraDraw(u, st);
				}],
			},
		},
	};
}

/* ---- overview: images/s over time ---- */

export function loadSpec(samples) {
	return {
		key: 'load',
		data: [samples.map((s) => s.t), samples.map((s) => s.ips), samples.map((s) => s.queue)],
		state: {yr: null},
		opts: {
			title: 'Throughput while this page is open',
			scales: {x: {time: true}, y: {range: (u, min, max) => [0, Math.max(10, max * 1.15)]},
				q: {range: (u, min, max) => [0, Math.max(5, max * 1.15)]}},
			axes: [
				{...AXIS, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
					values: (u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString('en-GB'))},
				{...AXIS, label: 'images/s', size: 56, scale: 'y'},
				{...AXIS, label: 'queued tasks', side: 1, scale: 'q', grid: {show: false}, size: 50},
			],
			series: [
				{label: 'time'},
				{label: 'images/s (all workers)', stroke: PALETTE[0], width: 2, fill: 'rgba(31,95,168,0.1)',
					value: (u, v) => (v === null ? '—' : v.toFixed(0))},
				{label: 'queued tasks', stroke: PALETTE[3], width: 1.5, scale: 'q',
					value: (u, v) => (v === null ? '—' : String(v))},
			],
		},
	};
}

export {uPlot};
