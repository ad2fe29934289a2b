// Sweep specs: parsing and checking what the submit form holds, as the daemon
// does (daemon/jobs.c bo_job_spec_parse, common/report.c bo_parse_p_list,
// lib/energy.c bo_block_rules_parse), so that mistakes show before a request.

export const MAX_POINTS = 1024;
export const TRIAL_CAP = 10000;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(s) {
	const t = String(s).trim();
	if (!NUMBER.test(t)) return null;
	const v = Number(t);
	return isFinite(v) ? v : null;
}

/* p: "1e-3, 1e-2 0.1" (a list) or "LO:HI:N" (N log-spaced values).
 * -> {value: array or "LO:HI:N" string, points: [numbers]} or {error}. */
export function parseP(text) {
	const t = String(text || '').trim();
	if (!t) return {error: 'Give at least one p: a list like 1e-3, 1e-2 or a range LO:HI:N.'};
	if (t.includes(':')) {
		const parts = t.split(':').map((x) => x.trim());
		if (parts.length !== 3) return {error: 'A range is LO:HI:N, e.g. 1e-4:1e-1:10.'};
		const lo = parseNumber(parts[0]);
		const hi = parseNumber(parts[1]);
		const n = /^\d+$/.test(parts[2]) ? Number(parts[2]) : null;
		if (lo === null || hi === null) return {error: 'LO and HI must be numbers, e.g. 1e-4:1e-1:10.'};
		if (n === null || n < 1 || n > MAX_POINTS) return {error: `N must be a whole number from 1 to ${MAX_POINTS}.`};
		if (!(lo > 0)) return {error: 'LO must be above 0 (the points are log-spaced).'};
		if (!(hi <= 1)) return {error: 'HI must be at most 1: p is a probability.'};
		if (!(hi >= lo)) return {error: 'HI must be at least LO.'};
		const points = [];
		for (let i = 0; i < n; i++) {
			points.push(n === 1 ? lo : Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * i / (n - 1)));
		}
		points[0] = lo;
		if (n > 1) points[n - 1] = hi;
		return {value: `${parts[0]}:${parts[1]}:${n}`, points};
	}
	const items = t.split(/[\s,;]+/).filter(Boolean);
	if (items.length > MAX_POINTS) return {error: `At most ${MAX_POINTS} values of p.`};
	const points = [];
	for (const it of items) {
		const v = parseNumber(it);
		if (v === null) return {error: `"${it}" is not a number.`};
		if (v < 0 || v > 1) return {error: `p = ${it} is outside [0, 1]: p is a probability.`};
		points.push(v);
	}
	if (!points.length) return {error: 'Give at least one p.'};
	return {value: points, points};
}

/* block_p: "layer1=p,layer2=2p,*=0" -> {rules: [{block, relative, value}]} or {error}. */
export function parseBlockP(text) {
	const t = String(text || '');
	if (!t.trim()) return {error: 'No rules given.'};
	const rules = [];
	const pieces = t.split(',');
	for (let k = 0; k < pieces.length; k++) {
		const rule = pieces[k].trim();
		if (!rule) return {error: `Rule ${k + 1} is empty.`};
		const eq = rule.lastIndexOf('=');
		if (eq < 0) return {error: `"${rule}" is not BLOCK=EXPR (EXPR: a probability like 1e-3, p, or Kp like 2p).`};
		const block = rule.slice(0, eq).trim();
		const expr = rule.slice(eq + 1).trim();
		if (!block) return {error: `"${rule}" has an empty block name.`};
		if (rules.some((r) => r.block === block)) return {error: `Block "${block}" is given twice.`};
		if (!expr) return {error: `"${rule}" has no value.`};
		let relative = false;
		let value;
		if (expr.endsWith('p')) {
			relative = true;
			value = expr.length === 1 ? 1 : parseNumber(expr.slice(0, -1));
			if (value === null) return {error: `"${expr}" is not p or Kp with K a number (like 2p).`};
		} else {
			value = parseNumber(expr);
			if (value === null) return {error: `"${expr}" is not a probability, p or Kp (like 1e-3, p, 2p).`};
			if (value > 1) return {error: `${expr} is above 1.`};
		}
		if (value < 0) return {error: `"${rule}": ${relative ? 'the factor' : 'the probability'} is negative.`};
		rules.push({block, relative, value});
	}
	return {rules};
}

/* The p a block gets at base p under RULES (lib/sweep.c policy_p). */
export function policyP(rules, block, p) {
	if (!rules) return p;
	let star = null;
	for (const r of rules) {
		if (r.block === '*') star = r;
		else if (r.block === block) return r.relative ? Math.min(1, r.value * p) : r.value;
	}
	if (star) return star.relative ? Math.min(1, star.value * p) : star.value;
	return p;
}

export function ruleText(rules, block) {
	if (!rules) return 'p';
	const r = rules.find((x) => x.block === block) || rules.find((x) => x.block === '*');
	if (!r) return 'p (no rule)';
	const v = r.relative ? (r.value === 1 ? 'p' : `${r.value}p`) : String(r.value);
	return r.block === '*' ? `${v} (*)` : v;
}

/* "0.286" or "0.4914, 0.4822, 0.4465" -> [numbers] or null. */
export function parseFloats(text) {
	const items = String(text).split(/[\s,]+/).filter(Boolean);
	if (!items.length) return null;
	const out = items.map(parseNumber);
	return out.some((v) => v === null) ? null : out;
}

/* An integer field: '' -> undefined; else {value} or {error}. */
export function intField(text, min, max, what) {
	const t = String(text ?? '').trim();
	if (t === '') return {value: undefined};
	if (!/^[+-]?\d+$/.test(t)) return {error: `${what} must be a whole number.`};
	const v = Number(t);
	if (!Number.isSafeInteger(v)) return {error: `${what} is too large.`};
	if (min !== null && v < min) return {error: `${what} must be at least ${min}.`};
	if (max !== null && v > max) return {error: `${what} must be at most ${max}.`};
	return {value: v};
}
