// Number, time and size formatting for people. Exact values stay in data-value.

export const DASH = '—';

export function fmtP(p) {
	if (p === null || p === undefined) return DASH;
	if (p === 0) return '0';
	const r = Number(p.toPrecision(3));
	if (Math.abs(r) < 1e-3) return r.toExponential();
	return String(r);
}

export function fmtAcc(v, digits = 4) {
	return v === null || v === undefined ? DASH : v.toFixed(digits);
}

export function fmtPct(v, digits = 1) {
	return v === null || v === undefined ? DASH : `${(v * 100).toFixed(digits)} %`;
}

export function fmtInt(v) {
	return v === null || v === undefined ? DASH : Math.round(v).toLocaleString('en-US');
}

export function fmtNum(v, digits = 3) {
	if (v === null || v === undefined) return DASH;
	if (Number.isInteger(v)) return String(v);
	return String(Number(v.toPrecision(digits)));
}

/* r = E_ref(accuracy) / energy against the reliable references: r >= 1 is
 * an energy reduction ("1.50× less"), r < 1 an energy increase, shown as
 * such ("1.25× more", 1 / r), never as a "reduction" of 0.8. */
export function fmtReduction(v) {
	if (v === null || v === undefined) return DASH;
	return v >= 1 ? `${v.toFixed(2)}× less` : `${(1 / v).toFixed(2)}× more`;
}

/* The best of a job's ratios: a reduction only when it is one. */
export function fmtBestReduction(v) {
	if (v === null || v === undefined) return DASH;
	return v > 1 ? `${v.toFixed(2)}×` : `none (at best ${(1 / v).toFixed(2)}× more energy)`;
}

export function fmtCI(ci) {
	if (!ci) return DASH;
	return `[${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]`;
}

export function fmtDuration(s) {
	if (s === null || s === undefined || !isFinite(s)) return DASH;
	s = Math.max(0, Math.round(s));
	if (s < 60) return `${s} s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m} min ${s % 60} s`;
	const hr = Math.floor(m / 60);
	if (hr < 48) return `${hr} h ${m % 60} min`;
	return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

function pad(n) {
	return String(n).padStart(2, '0');
}

export function fmtTime(iso) {
	if (!iso) return DASH;
	const d = new Date(iso);
	if (isNaN(d)) return iso;
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtAgo(iso, now = Date.now()) {
	if (!iso) return DASH;
	const t = new Date(iso).getTime();
	if (isNaN(t)) return iso;
	const s = (now - t) / 1000;
	if (s < 45) return 'just now';
	if (s < 3600) return `${Math.round(s / 60)} min ago`;
	if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
	return `${Math.round(s / 86400)} days ago`;
}

export function fmtBytes(n) {
	if (n === null || n === undefined) return DASH;
	if (n < 1024) return `${n} B`;
	const units = ['KiB', 'MiB', 'GiB', 'TiB'];
	let v = n;
	let i = -1;
	do {
		v /= 1024;
		i += 1;
	} while (v >= 1024 && i < units.length - 1);
	return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtShape(s) {
	return Array.isArray(s) ? s.map((d) => (d === null ? '?' : d)).join('×') : DASH;
}

/* String(number) of the API value, "" for null: the data-value contract. */
export function rawValue(v) {
	return v === null || v === undefined ? '' : String(v);
}

/* eta(p) = min(1, -ln p / a), eta(0) = 1 (docs/fault-models.md section 6). */
export function eta(p, a = 12.8) {
	if (p <= 0) return 1;
	return Math.min(1, -Math.log(p) / a);
}
