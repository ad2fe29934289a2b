// uPlot charts: accuracy against p (log x) and accuracy against energy.
import uPlot from '../vendor/uplot/uPlot.esm.js';
import {fmtP, fmtInt, fmtAcc, fmtNum} from './format.js';

/* Series colours; no grey (the clean model and the references are grey
 * and black). */
export const PALETTE = ['#1f5fa8', '#c0392b', '#2e8b57', '#8e44ad', '#d35400', '#16a085',
	'#a0522d', '#b7950b', '#0e7c9e', '#e84393'];

/* A job's colour, the same in every view: its id hashed into the palette
 * (id × 3 mod 10: consecutive jobs differ). */
export function jobColor(id) {
	const n = PALETTE.length;
	return PALETTE[(((Number(id) * 3) % n) + n) % n];
}

/* Colours for jobs drawn together: each its own colour, unless an earlier
 * one has it; then the next free one of the palette. */
export function jobColors(ids) {
	const used = new Set();
	const out = new Map();
	for (const id of ids) {
		let c = jobColor(id);
		for (let k = 1; used.has(c) && k < PALETTE.length; k++) {
			c = PALETTE[(PALETTE.indexOf(jobColor(id)) + k) % PALETTE.length];
		}
		used.add(c);
		out.set(id, c);
	}
	return out;
}

/* '#rrggbb' at opacity a. */
export function rgba(hex, a) {
	const v = parseInt(hex.slice(1), 16);
	return `rgba(${(v >> 16) & 255},${(v >> 8) & 255},${v & 255},${a})`;
}

/* Energies and other large counts for axis ticks, with SI suffixes: 500,
 * 1k, 20k, 100k, 1.5M, 2G. */
export function fmtSI(v) {
	if (v === null || v === undefined || !isFinite(v)) return '';
	const a = Math.abs(v);
	for (const [d, suf] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
		if (a >= d) return `${Number((v / d).toPrecision(3))}${suf}`;
	}
	return String(Number(v.toPrecision(3)));
}

/* the reliable references and their frontier */
const REF_COLOR = '#222';

const AXIS = {stroke: '#333', grid: {stroke: '#e4e4e4', width: 1}, ticks: {stroke: '#ccc', width: 1}};

function near(a, b) {
	return Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b));
}

/* Labels for a log axis: the densest of 1..9, 1-2-3-5, 1-2-5, 1-3 or 1 x 10^k that
 * fits without overlapping and labels at least two ticks; failing that,
 * 1 x 10^k (a label per decade), or, in a range without a decade tick,
 * the ends. */
function logValues(fmt) {
	const mant = (v) => v / 10 ** Math.floor(Math.log10(v) + 1e-9);
	const sets = [
		() => true,
		(m) => near(m, 1) || near(m, 2) || near(m, 3) || near(m, 5),
		(m) => near(m, 1) || near(m, 2) || near(m, 5),
		(m) => near(m, 1) || near(m, 3),
		(m) => near(m, 1),
	];
	return (u, splits, axisIdx) => {
		const key = u.axes[axisIdx].scale;
		const fitsAll = (kept) => {
			const labels = kept.map(fmt);
			for (let i = 1; i < kept.length; i++) {
				const gap = Math.abs(u.valToPos(kept[i], key) - u.valToPos(kept[i - 1], key));
				if (gap < (labels[i].length + labels[i - 1].length) * 3.6 + 12) return false;
			}
			return true;
		};
		const want = Math.min(2, splits.filter((v) => v > 0).length);
		for (let k = 0; k < sets.length; k++) {
			const keep = (v) => v > 0 && sets[k](mant(v));
			const kept = splits.filter(keep);
			if (kept.length >= want && fitsAll(kept)) return splits.map((v) => (keep(v) ? fmt(v) : ''));
		}
		const decades = splits.filter((v) => v > 0 && near(mant(v), 1));
		if (decades.length) return splits.map((v) => (decades.includes(v) ? fmt(v) : ''));
		return splits.map((v, i) => (i === 0 || i === splits.length - 1 ? fmt(v) : ''));
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

/* m x 10^k (m in 1..9) at or below v, or at or above it. */
function snapLog(v, up) {
	const e = Math.floor(Math.log10(v) + 1e-9);
	const m = v / 10 ** e;
	const k = up ? Math.ceil(m - 1e-9) : Math.floor(m + 1e-9);
	return Number((Math.max(1, Math.min(10, k)) * 10 ** e).toPrecision(6));
}

/* A log range: whole decades (p), or a 15 % margin around the data widened
 * to the next ticks (energy), so that both ends carry a tick. */
function logRange(fallback, fullMags = true) {
	return (u, min, max) => {
		if (min === null || max === null || !(min > 0) || !(max > 0)) return fallback;
		if (!fullMags) return [snapLog(min / 1.15, false), snapLog(max * 1.15, true)];
		if (max / min < 1.2) return [min / 2, max * 2];
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
		this.spec = spec;
		if (this.u && this.key === spec.key) {
			this.el.plotState = spec.state;
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
			// room on the right for the last x tick label (centred on its tick)
			padding: [12, 28, 0, 0],
			...spec.opts,
			scales,
			width: this.width(),
			height: this.height,
			hooks: {
				...(spec.opts.hooks || {}),
				// drawAxes: under the series (chip trajectories); draw: over them
				draw: [...((spec.opts.hooks || {}).draw || []).map((f) => (u) => f(u, self.state))],
				drawAxes: [...((spec.opts.hooks || {}).drawAxes || []).map((f) => (u) => f(u, self.state))],
			},
		};
		this.u = new uPlot(opts, spec.data, this.el);
		this.el.uplot = this.u; // for the downloads and the browser tests
		this.el.plotState = spec.state;
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
			this.el.uplot = null;
		}
	}

	dispose() {
		this.ro.disconnect();
		this.destroy();
	}
}

/* ---- downloads: PNG (the canvas) and SVG (drawn again from the data) ---- */

const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n2 = (v) => String(Math.round(v * 100) / 100);
const TITLE_H = 28;
const LEGEND_ROW = 18;

/* The series a legend shows: a label, a colour, a dash; not the CI bounds. */
function legendItems(chart) {
	const u = chart.u;
	return chart.spec.opts.series.map((sr, i) => ({sr, i})).filter(({sr, i}) => i > 0 && sr.stroke &&
		u.series[i].show !== false && !/^95 % CI|^Clopper-Pearson|^chips q95/.test(sr.label));
}

function legendHeight(chart, width) {
	const per = Math.max(1, Math.floor(width / 260));
	return Math.ceil(legendItems(chart).length / per) * LEGEND_ROW + 8;
}

/* The chart as an SVG document: title, grid, ticks and their labels (the
 * ones uPlot drew), axis labels, CI bands, series lines and points, what
 * the draw hooks add (trials, clean line, error bars, labels) and a legend. */
export function svgOf(chart) {
	const u = chart.u;
	const r = uPlot.pxRatio;
	const W = u.width;
	const H = u.height;
	const legendH = legendHeight(chart, W);
	const left = u.bbox.left / r;
	const top = u.bbox.top / r;
	const pw = u.bbox.width / r;
	const ph = u.bbox.height / r;
	const out = [];
	const o = (x) => out.push(x);
	o(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + TITLE_H + legendH}" viewBox="0 0 ${W} ${H + TITLE_H + legendH}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
	o(`<rect width="100%" height="100%" fill="#fff"/>`);
	o(`<text x="${n2(W / 2)}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(chart.spec.opts.title || '')}</text>`);
	o(`<g transform="translate(0,${TITLE_H})">`);
	o(`<defs><clipPath id="plot-area"><rect x="${n2(left)}" y="${n2(top)}" width="${n2(pw)}" height="${n2(ph)}"/></clipPath></defs>`);
	// axes
	u.axes.forEach((ax, ai) => {
		if (ax.show === false || !ax._splits) return;
		const side = ax.side;
		const ori = side % 2;
		const scale = ax.scale;
		const tick = ax.ticks && ax.ticks.show !== false ? ax.ticks.size || 10 : 0;
		const gap = ax.gap ?? 5;
		const pos = ax._pos;
		const sopt = chart.spec.opts.axes[ai] || {};
		const gridOn = !(sopt.grid && sopt.grid.show === false);
		o(`<g class="axis axis-${ai}" data-scale="${esc(scale)}">`);
		ax._splits.forEach((v, k) => {
			if (v === null || v === undefined) return;
			const p = u.valToPos(v, scale);
			if (!isFinite(p)) return;
			const label = ax._values && ax._values[k] !== null && ax._values[k] !== undefined ? String(ax._values[k]) : '';
			if (ori === 0) {
				const x = left + p;
				if (gridOn) o(`<line x1="${n2(x)}" y1="${n2(top)}" x2="${n2(x)}" y2="${n2(top + ph)}" stroke="#e4e4e4"/>`);
				o(`<line x1="${n2(x)}" y1="${n2(pos)}" x2="${n2(x)}" y2="${n2(pos + tick)}" stroke="#ccc"/>`);
				if (label) o(`<text class="tick" x="${n2(x)}" y="${n2(pos + tick + gap + 10)}" text-anchor="middle">${esc(label)}</text>`);
			} else {
				const y = top + p;
				const dir = side === 3 ? -1 : 1;
				if (gridOn) o(`<line x1="${n2(left)}" y1="${n2(y)}" x2="${n2(left + pw)}" y2="${n2(y)}" stroke="#e4e4e4"/>`);
				o(`<line x1="${n2(pos)}" y1="${n2(y)}" x2="${n2(pos + dir * tick)}" y2="${n2(y)}" stroke="#ccc"/>`);
				if (label) o(`<text class="tick" x="${n2(pos + dir * (tick + gap))}" y="${n2(y + 4)}" text-anchor="${side === 3 ? 'end' : 'start'}">${esc(label)}</text>`);
			}
		});
		if (sopt.label) {
			if (ori === 0) {
				o(`<text class="axis-label" x="${n2(left + pw / 2)}" y="${n2(pos + ax._size - 6)}" text-anchor="middle" font-weight="bold">${esc(sopt.label)}</text>`);
			} else {
				const x = side === 3 ? pos - ax._size + 14 : pos + ax._size - 6;
				o(`<text class="axis-label" transform="translate(${n2(x)},${n2(top + ph / 2)}) rotate(-90)" text-anchor="middle" font-weight="bold">${esc(sopt.label)}</text>`);
			}
		}
		o('</g>');
	});
	o(`<rect x="${n2(left)}" y="${n2(top)}" width="${n2(pw)}" height="${n2(ph)}" fill="none" stroke="#999"/>`);
	o('<g clip-path="url(#plot-area)">');
	const xs = u.data[0];
	const xy = (i, k) => {
		const sc = u.series[i].scale || 'y';
		const x = xs[k];
		const y = u.data[i][k];
		if (x === null || y === null || y === undefined || (u.scales.x.distr === 3 && !(x > 0))) return null;
		return [left + u.valToPos(x, 'x'), top + u.valToPos(y, sc)];
	};
	const pointsOf = (i) => xs.map((_, k) => xy(i, k)).filter(Boolean);
	// bands
	for (const b of chart.spec.opts.bands || []) {
		const [hiI, loI] = b.series;
		if (u.series[hiI].show === false || u.series[loI].show === false) continue;
		const both = xs.map((_, k) => [xy(hiI, k), xy(loI, k)]).filter(([a, c]) => a && c);
		if (both.length < 2) continue;
		const ptsB = [...both.map(([a]) => a), ...both.map(([, c]) => c).reverse()];
		o(`<polygon class="band" points="${ptsB.map(([x, y]) => `${n2(x)},${n2(y)}`).join(' ')}" fill="${esc(b.fill)}" stroke="none"/>`);
	}
	// series
	chart.spec.opts.series.forEach((sr, i) => {
		if (i === 0 || !sr.stroke || u.series[i].show === false) return;
		const pts = pointsOf(i);
		const line = !sr.paths && (sr.width ?? 1) > 0;
		if (line && pts.length > 1) {
			o(`<polyline class="series" data-series="${esc(sr.label)}" points="${pts.map(([x, y]) => `${n2(x)},${n2(y)}`).join(' ')}" fill="none" stroke="${esc(sr.stroke)}" stroke-width="${sr.width ?? 1}"${sr.dash ? ` stroke-dasharray="${sr.dash.join(' ')}"` : ''}/>`);
		}
		if (sr.points && sr.points.show) {
			const rad = (sr.points.size || 6) / 2;
			for (const [x, y] of pts) {
				o(`<circle class="point" data-series="${esc(sr.label)}" cx="${n2(x)}" cy="${n2(y)}" r="${n2(rad)}" fill="${esc(sr.points.fill || sr.stroke)}" stroke="${esc(sr.points.stroke || sr.stroke)}"/>`);
			}
		}
	});
	// what the hooks draw
	u.rec = [];
	try {
		u.batch(() => u.redraw(false, false)); // synchronously: the hooks record into u.rec
		for (const it of u.rec) {
			if (it.t === 'line') {
				o(`<line x1="${n2(it.x1 / r)}" y1="${n2(it.y1 / r)}" x2="${n2(it.x2 / r)}" y2="${n2(it.y2 / r)}" stroke="${esc(it.color)}" stroke-width="${n2(it.width / r)}"${it.dash ? ` stroke-dasharray="${it.dash.join(' ')}"` : ''}/>`);
			} else if (it.t === 'circle') {
				o(`<circle cx="${n2(it.x / r)}" cy="${n2(it.y / r)}" r="${n2(it.r / r)}" fill="${esc(it.fill)}"/>`);
			} else if (it.t === 'text') {
				o(`<text x="${n2(it.x / r)}" y="${n2(it.y / r - 2)}" text-anchor="${it.anchor}" fill="${esc(it.color)}" font-size="11">${esc(it.text)}</text>`);
			}
		}
	} finally {
		u.rec = null;
	}
	o('</g>');
	// legend
	const per = Math.max(1, Math.floor(W / 260));
	legendItems(chart).forEach(({sr}, k) => {
		const x = 10 + (k % per) * (W / per);
		const y = H + 12 + Math.floor(k / per) * LEGEND_ROW;
		o(`<line x1="${n2(x)}" y1="${n2(y)}" x2="${n2(x + 22)}" y2="${n2(y)}" stroke="${esc(sr.stroke)}" stroke-width="2"${sr.dash ? ` stroke-dasharray="${sr.dash.join(' ')}"` : ''}/>`);
		o(`<text class="legend" x="${n2(x + 28)}" y="${n2(y + 4)}">${esc(sr.label)}</text>`);
	});
	o('</g></svg>');
	return out.join('\n');
}

/* The chart as a PNG: the canvas on white, with the title above and the
 * legend below (the page draws those in HTML). */
export function pngOf(chart) {
	const u = chart.u;
	const r = uPlot.pxRatio;
	const src = u.ctx.canvas;
	const legendH = legendHeight(chart, u.width);
	const c = document.createElement('canvas');
	c.width = src.width;
	c.height = src.height + Math.round((TITLE_H + legendH) * r);
	const g = c.getContext('2d');
	g.fillStyle = '#fff';
	g.fillRect(0, 0, c.width, c.height);
	g.fillStyle = '#222';
	g.font = `bold ${14 * r}px Helvetica, Arial, sans-serif`;
	g.textAlign = 'center';
	g.fillText(chart.spec.opts.title || '', c.width / 2, 18 * r);
	g.drawImage(src, 0, TITLE_H * r);
	const per = Math.max(1, Math.floor(u.width / 260));
	g.font = `${12 * r}px Helvetica, Arial, sans-serif`;
	g.textAlign = 'left';
	legendItems(chart).forEach(({sr}, k) => {
		const x = (10 + (k % per) * (u.width / per)) * r;
		const y = (TITLE_H + u.height + 12 + Math.floor(k / per) * LEGEND_ROW) * r;
		g.strokeStyle = sr.stroke;
		g.lineWidth = 2 * r;
		g.setLineDash(sr.dash ? sr.dash.map((d) => d * r) : []);
		g.beginPath();
		g.moveTo(x, y);
		g.lineTo(x + 22 * r, y);
		g.stroke();
		g.fillStyle = '#222';
		g.fillText(sr.label, x + 28 * r, y + 4 * r);
	});
	return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas gave no PNG'))), 'image/png'));
}

function offer(blob, name) {
	const url = URL.createObjectURL(blob);
	const a = document.createElement('a');
	a.href = url;
	a.download = name;
	document.body.appendChild(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/* "PNG" and "SVG" buttons for a chart (ids CONTAINER-png, CONTAINER-svg). */
export function plotDownloads(chart, name) {
	const id = chart.el.id;
	const mk = (kind) => {
		const b = document.createElement('button');
		b.type = 'button';
		b.className = 'secondary small';
		b.id = `${id}-${kind}`;
		b.textContent = kind.toUpperCase();
		b.setAttribute('aria-label', `download this plot as ${kind.toUpperCase()}`);
		b.addEventListener('click', async () => {
			if (!chart.u) return;
			if (kind === 'svg') offer(new Blob([svgOf(chart)], {type: 'image/svg+xml'}), `${name()}.svg`);
			else offer(await pngOf(chart), `${name()}.png`);
		});
		return b;
	};
	const box = document.createElement('span');
	box.className = 'plot-downloads';
	box.append('Download ', mk('png'), ' ', mk('svg'));
	return box;
}

/* ---- canvas drawing helpers for hooks ----
 * Each also records what it draws (canvas pixels) in u.rec when that is an
 * array: the SVG export (svgOf below) redraws with it set. */

function rec(u, item) {
	if (Array.isArray(u.rec)) u.rec.push(item);
}

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
	rec(u, {t: 'line', x1: left, y1: py, x2: left + width, y2: py, color, width: 1.5 * uPlot.pxRatio, dash: [6, 4]});
	if (label) {
		rec(u, {t: 'text', x: left + width - 4 * uPlot.pxRatio, y: py - 2 * uPlot.pxRatio, text: label, color, anchor: 'end'});
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
		rec(u, {t: 'circle', x: px, y: py, r: r * uPlot.pxRatio, fill: color});
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
		rec(u, {t: 'text', x: x0, y: py, text, color, anchor: 'start'});
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
		for (const [x1, y1, x2, y2] of [[px, p1, px, p2], [px - cap, p1, px + cap, p1], [px - cap, p2, px + cap, p2]]) {
			rec(u, {t: 'line', x1, y1, x2, y2, color, width: uPlot.pxRatio});
		}
	}
	ctx.restore();
}

/* Thin polylines, each [[x, y], ...] (a chip across the sweep), clipped to
 * the plot; a null y (a chip without that trial) breaks the line. */
function polylines(u, lines, color, width = 1) {
	const ctx = u.ctx;
	const r = uPlot.pxRatio;
	const {left, top, width: w, height} = u.bbox;
	ctx.save();
	ctx.beginPath();
	ctx.rect(left, top, w, height);
	ctx.clip();
	ctx.strokeStyle = color;
	ctx.lineWidth = width * r;
	for (const line of lines) {
		let prev = null;
		ctx.beginPath();
		for (const [x, y] of line) {
			if (!(x > 0) || y === null || y === undefined) {
				prev = null;
				continue;
			}
			const px = u.valToPos(x, 'x', true);
			const py = u.valToPos(y, 'y', true);
			if (prev) {
				ctx.lineTo(px, py);
				rec(u, {t: 'line', x1: prev[0], y1: prev[1], x2: px, y2: py, color, width: width * r});
			} else {
				ctx.moveTo(px, py);
			}
			prev = [px, py];
		}
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

/* ---- chips (spec 4b, 4c) ---- */

const num = (v) => (typeof v === 'number' && isFinite(v) ? v : null);

/* Results of a job with nested weight faults (trial t is chip t at every
 * point): its `chips` object, or its config says so. Independent jobs have
 * neither. */
export function isNested(results) {
	const c = results.chips;
	return (c !== null && typeof c === 'object' && !Array.isArray(c)) ||
		!!(results.config && results.config.weight_faults === 'nested');
}

/* Each chip's trajectory across p: [[p, accuracy of trial t], ...] for every
 * chip t (points at p > 0, by p); [] unless nested. */
export function chipTrajectories(results) {
	if (!isNested(results)) return [];
	const pts = results.points.filter((pt) => pt.p > 0).slice().sort((a, b) => a.p - b.p);
	const T = Math.max(0, ...pts.map((pt) => (Array.isArray(pt.trial_accuracies) ? pt.trial_accuracies.length : 0)));
	const out = [];
	for (let t = 0; t < T; t++) out.push(pts.map((pt) => [pt.p, num((pt.trial_accuracies || [])[t])]));
	return out;
}

/* ---- one job: accuracy against p ---- */

/* results: the API's Results. Points at p = 0 cannot sit on a log axis; the
 * clean accuracy is the dashed line. Beside the mean and its CI, the chips'
 * distribution: q05..q95 as a light band, q50 dotted (spec 4c); with nested
 * weight faults each chip's trajectory, thin, under the mean (spec 4b). */
export function accuracySpec(results, color = PALETTE[0]) {
	const pts = results.points.filter((pt) => pt.p > 0).slice().sort((a, b) => a.p - b.p);
	const x = pts.map((pt) => pt.p);
	const mean = pts.map((pt) => pt.accuracy_mean);
	const lo = pts.map((pt) => (pt.ci95 ? clip01(pt.ci95[0]) : null));
	const hi = pts.map((pt) => (pt.ci95 ? clip01(pt.ci95[1]) : null));
	const q05 = pts.map((pt) => num(pt.q05));
	const q50 = pts.map((pt) => num(pt.q50));
	const q95 = pts.map((pt) => num(pt.q95));
	const trials = pts.flatMap((pt) => pt.trial_accuracies.map((a) => [pt.p, a]));
	const chips = chipTrajectories(results);
	const clean = results.clean_accuracy;
	const yr = accuracyRange([...mean, ...lo, ...hi, ...q05, ...q95, ...trials.map((t) => t[1]), clean]);
	return {
		key: 'acc-p',
		data: [x, mean, lo, hi, q05, q95, q50],
		state: {trials, clean, yr, chips},
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
				{label: '95 % CI low', stroke: rgba(color, 0.35), width: 1, points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: '95 % CI high', stroke: rgba(color, 0.35), width: 1, points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: 'chips q05 to q95', stroke: rgba(color, 0.55), width: 1, dash: [4, 3], points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: 'chips q95', stroke: rgba(color, 0.55), width: 1, dash: [4, 3], points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
				{label: 'chips median (q50)', stroke: rgba(color, 0.8), width: 1, dash: [1, 3], points: {show: false},
					value: (u, v) => fmtAcc(v), spanGaps: true},
			],
			bands: [{series: [3, 2], fill: rgba(color, 0.14)}, {series: [5, 4], fill: rgba(color, 0.05)}],
			hooks: {
				drawAxes: [(u, st) => {
					if (st.chips && st.chips.length) polylines(u, st.chips, 'rgba(70,70,70,0.5)', 1);
				}],
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

export function energySpec(results, color = PALETTE[0]) {
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
		{label: 'mean accuracy (this job)', stroke: color, width: 2, points: {show: true, size: 7},
			spanGaps: true, value: (u, v) => fmtAcc(v)},
		{label: '95 % CI low', stroke: rgba(color, 0.35), width: 1, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
		{label: '95 % CI high', stroke: rgba(color, 0.35), width: 1, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
	];
	if (refs.length) {
		tables.push([front.map((r) => r.energy), front.map((r) => r.accuracy)]);
		series.push({label: 'reliable references (frontier)', stroke: REF_COLOR, width: 2,
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
				{...AXIS, label: 'energy per inference (memory accesses, log scale)', splits: logSplits, filter: (u, s) => s, values: logValues(fmtSI), size: 44},
				{...AXIS, label: 'accuracy', values: accValues, size: 56},
			],
			series,
			bands: [{series: [3, 2], fill: rgba(color, 0.14)}],
			hooks: {
				draw: [(u, st) => {
					labels(u, st.labels, REF_COLOR);
					dots(u, st.dominated, REF_COLOR, 3);
				}],
			},
		},
	};
}

/* ---- one job: chip yield against energy (spec 4c) ---- */

/* The yield at the accuracy floor of each point (the fraction of its trials
 * at or above it) with its Clopper-Pearson 95 % interval as error bars,
 * against the energy per inference (log); against eta where the energies
 * are not known yet. With nested weight faults also the sweep's yield
 * curve: the fraction of chips whose minimum energy is at most E. */
export function yieldSpec(results, color = PALETTE[0]) {
	const withTrials = results.points.filter((pt) => pt.trials > 0 && num(pt.yield) !== null);
	const byEnergy = withTrials.every((pt) => num(pt.energy) !== null && pt.energy > 0);
	const xOf = (pt) => num(byEnergy ? pt.energy : pt.eta);
	const pts = withTrials.filter((pt) => xOf(pt) > 0).sort((a, b) => xOf(a) - xOf(b));
	const xFmt = byEnergy ? fmtInt : (v) => String(Number(v.toPrecision(3)));
	const tables = [[pts.map(xOf), pts.map((pt) => pt.yield), pts.map((pt) => num(pt.yield_lo)), pts.map((pt) => num(pt.yield_hi))]];
	const series = [
		{label: byEnergy ? 'energy' : 'η', value: (u, v) => (v === null ? '—' : xFmt(v))},
		{label: 'yield at the floor (trials of a point)', stroke: color, width: 1.5, points: {show: true, size: 7},
			spanGaps: true, value: (u, v) => fmtAcc(v)},
		{label: 'Clopper-Pearson 95 % low', stroke: rgba(color, 0), width: 0, paths: () => null, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
		{label: 'Clopper-Pearson 95 % high', stroke: rgba(color, 0), width: 0, paths: () => null, points: {show: false}, spanGaps: true,
			value: (u, v) => fmtAcc(v)},
	];
	const chips = isNested(results) && results.chips && Array.isArray(results.chips.yield_curve) ? results.chips : null;
	const curve = chips ? chips.yield_curve
		.map((c) => [num(byEnergy ? c.energy : c.eta), num(c.yield)])
		.filter(([cx, cy]) => cx > 0 && cy !== null).sort((a, b) => a[0] - b[0]) : [];
	if (chips) {
		tables.push([curve.map((c) => c[0]), curve.map((c) => c[1])]);
		series.push({label: 'chips with minimum energy ≤ E (nested)', stroke: REF_COLOR, width: 2, dash: [6, 3],
			points: {show: true, size: 5}, spanGaps: true, value: (u, v) => fmtAcc(v)});
	}
	const floor = num(chips && chips.accuracy_floor) ?? num(results.accuracy_floor) ?? (pts.length ? num(pts[0].accuracy_floor) : null);
	return {
		key: `yield-${byEnergy ? 'E' : 'eta'}-${series.length}`,
		data: align(tables),
		state: {
			yr: [-0.03, 1.05],
			bars: pts.map((pt) => [xOf(pt), num(pt.yield_lo), num(pt.yield_hi)]),
			byEnergy, floor, curve,
		},
		opts: {
			title: `Chip yield against ${byEnergy ? 'energy per inference' : 'η'}`,
			scales: {
				x: {time: false, distr: 3, log: 10, range: logRange(byEnergy ? [1e4, 1e6] : [1e-2, 1], false)},
				y: {},
			},
			axes: [
				{...AXIS, label: byEnergy ? 'energy per inference (memory accesses, log scale)' : 'η, normalised memory energy (log scale)',
					splits: logSplits, filter: (u, s) => s, values: logValues(byEnergy ? fmtSI : xFmt), size: 44},
				{...AXIS, label: floor !== null ? `yield: accuracy ≥ ${fmtAcc(floor)}` : 'yield', values: accValues, size: 56},
			],
			series,
			hooks: {
				draw: [(u, st) => errorBars(u, st.bars, color)],
			},
		},
	};
}

/* ---- several jobs: accuracy against p, and against energy ---- */

/* curves: [{label, color, points: [{x, y, lo, hi}]}] */
export function compareSpec({curves, xLabel, xFmt, tickFmt = xFmt, title, fallback, fullMags = true, showCI, extraDraw, refs}) {
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
				{...AXIS, label: `${xLabel} (log scale)`, splits: logSplits, filter: (u, s) => s, values: logValues(tickFmt), size: 44},
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

/* ---- an optimize job: the allocation against the baselines ---- */

/* Accuracy against E/E_o: each baseline's grid points (uniform p, the
 * paper's policy; verified on the allocation's fresh seed), the floor
 * A*, and the chosen allocation (its verified mean, the 95 % CI as an
 * error bar) marked. results: `brownout optimize --json`. */
export function optimizeSpec(results) {
	const v = results.verification;
	const colors = {uniform: PALETTE[0], paper: PALETTE[2]};
	const tables = [];
	const series = [{label: 'E/E_o', value: (u, x) => (x === null ? '—' : fmtNum(x, 4))}];
	const xs = [results.energy_ratio];
	for (const b of v.baselines) {
		const pts = b.points.slice().sort((a, c) => a.energy_ratio - c.energy_ratio);
		tables.push([pts.map((q) => q.energy_ratio), pts.map((q) => q.accuracy)]);
		xs.push(...pts.map((q) => q.energy_ratio));
		series.push({label: b.name === 'paper' ? 'paper policy (p, 2p, 2p, 10p)' : `${b.name} p`,
			stroke: colors[b.name] || PALETTE[3], width: 2, points: {show: true, size: 7}, spanGaps: true,
			value: (u, y) => fmtAcc(y)});
	}
	const lo = Math.min(...xs);
	const hi = Math.max(...xs);
	tables.push([[lo, hi], [results.accuracy_floor, results.accuracy_floor]]);
	series.push({label: `floor A* ${fmtAcc(results.accuracy_floor)}`, stroke: '#888', width: 1, dash: [4, 4],
		points: {show: false}, spanGaps: true, value: (u, y) => fmtAcc(y)});
	tables.push([[results.energy_ratio], [v.accuracy]]);
	series.push({label: 'chosen allocation (verified)', stroke: '#c0392b', width: 0, paths: () => null,
		points: {show: true, size: 12, fill: '#c0392b', stroke: '#c0392b'}, value: (u, y) => fmtAcc(y)});
	const data = align(tables);
	const yr = accuracyRange([...data.slice(1).flat(), v.ci_lo, v.ci_hi]);
	return {
		key: `optimize-${series.length}`,
		data,
		state: {yr, bar: [results.energy_ratio, clip01(v.ci_lo), clip01(v.ci_hi)]},
		opts: {
			title: 'Accuracy against energy (E/E_o): the allocation and the baselines',
			scales: {x: {time: false, range: (u, a, b) => [Math.max(0, a - 0.05), Math.min(1.05, b + 0.05)]}, y: {}},
			axes: [
				{...AXIS, label: 'E / E_o (energy per inference, relative to reliable memory)', values: (u, sp) => sp.map((x) => fmtNum(x, 3)), size: 44},
				{...AXIS, label: 'accuracy', values: accValues, size: 56},
			],
			series,
			hooks: {
				draw: [(u, st) => {
					const [x, y0, y1] = st.bar;
					if (y0 === null || y1 === null) return;
					const ctx = u.ctx;
					const px = u.valToPos(x, 'x', true);
					ctx.save();
					ctx.strokeStyle = '#c0392b';
					ctx.lineWidth = 2 * uPlot.pxRatio;
					ctx.beginPath();
					ctx.moveTo(px, u.valToPos(y0, 'y', true));
					ctx.lineTo(px, u.valToPos(y1, 'y', true));
					ctx.stroke();
					ctx.restore();
				}],
			},
		},
	};
}

export {uPlot};
