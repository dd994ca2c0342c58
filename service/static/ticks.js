// Axis ticks: round numbers for values, calendar boundaries for trading days.

/** About `count` round values covering [lo, hi] (1, 2, 5 times a power of ten). */
export function ticksLinear(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(count, 1);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const first = Math.floor(lo / step) * step;
  const out = [];
  for (let v = first; v <= hi + step * 0.5 && out.length < 50; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  if (out[out.length - 1] < hi) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

/** Ticks for a log axis: 1-2-5 per decade, thinned to decades over a wide range. */
export function ticksLog(lo, hi) {
  const out = [];
  const d0 = Math.floor(Math.log10(lo)), d1 = Math.ceil(Math.log10(hi));
  const mults = d1 - d0 > 4 ? [1] : d1 - d0 > 2 ? [1, 3] : [1, 2, 5];
  for (let d = d0; d <= d1; d++) {
    for (const m of mults) {
      const v = Number((m * 10 ** d).toPrecision(12));
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out.length >= 2 ? out : ticksLinear(lo, hi, 4);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const UNITS = [  // [months per tick, label]
  [1, "month"], [3, "month"], [6, "month"], [12, "year"], [24, "year"], [60, "year"], [120, "year"],
];

const ym = (s) => [Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1];

/** [[index, label]...] at month or year boundaries in dates[i0..i1], at most `max` of them.
 * Intraday labels (YYYY-MM-DDTHH:MM..., in the exchange's zone) get session (day) and hour ticks
 * when the window is short: the axis is the bar index, so nights and weekends take no room. */
export function dateTicks(dates, i0, i1, max) {
  if (i1 <= i0) return i1 === i0 && dates[i0] ? [[i0, dates[i0].slice(0, 16).replace("T", " ")]] : [];
  if (dates[i0].length > 10) {
    const days = new Set();
    for (let i = i0; i <= i1 && days.size <= max; i++) days.add(dates[i].slice(0, 10));
    if (days.size > max) return dateTicks(dates.map((d) => d.slice(0, 10)), i0, i1, max);
    return sessionTicks(dates, i0, i1, max);
  }
  for (const [months, kind] of UNITS) {
    const keyOf = (s) => {
      const [y, m] = ym(s);
      return Math.floor((y * 12 + m) / months);
    };
    const out = [];
    let prev = keyOf(dates[i0]);
    for (let i = i0 + 1; i <= i1; i++) {
      const key = keyOf(dates[i]);
      if (key !== prev) {
        const [y, m] = ym(dates[i]);
        out.push([i, kind === "year" || m === 0 ? String(y) : MONTHS[m]]);
        if (out.length > max) break;
      }
      prev = key;
    }
    if (months === 1 && out.length < 2) break;  // a month or two: day ticks read better
    if (out.length >= 1 && out.length <= max) return out;
  }
  // Short windows: every k-th trading day, labelled "12 Mar".
  const k = Math.max(1, Math.ceil((i1 - i0 + 1) / max));
  const out = [];
  for (let i = i0; i <= i1; i += k) {
    const [, m] = ym(dates[i]);
    out.push([i, `${Number(dates[i].slice(8, 10))} ${MONTHS[m]}`]);
  }
  return out;
}

/** Intraday: a tick at each session's first bar ("12 Mar"), and, when few sessions show, at round hours. */
function sessionTicks(dates, i0, i1, max) {
  const out = [];
  const day = (s) => `${Number(s.slice(8, 10))} ${MONTHS[Number(s.slice(5, 7)) - 1]}`;
  for (let i = i0; i <= i1; i++) {
    if (i === i0 || dates[i].slice(0, 10) !== dates[i - 1].slice(0, 10)) out.push([i, day(dates[i]), 0]);
  }
  const hours = [];
  for (const step of [1, 2, 3, 6]) {
    hours.length = 0;
    for (let i = i0 + 1; i <= i1; i++) {
      const h = Number(dates[i].slice(11, 13)), prev = Number(dates[i - 1].slice(11, 13));
      if (h !== prev && h % step === 0 && dates[i].slice(0, 10) === dates[i - 1].slice(0, 10)) {
        hours.push([i, dates[i].slice(11, 16), 1]);
      }
    }
    if (out.length + hours.length <= max) break;
  }
  const all = out.length + hours.length <= max ? [...out, ...hours].sort((a, b) => a[0] - b[0]) : out;
  return all.map(([i, label]) => [i, label]);
}

/** Labels for value ticks with just the decimals their spacing needs ("2,400", "0.25"). */
export function tickLabels(ticks) {
  const step = ticks.length > 1 ? Math.min(...ticks.slice(1).map((v, k) => v - ticks[k])) : Math.abs(ticks[0]) || 1;
  const decimals = (v) => {
    for (let d = 0; d < 8; d++) if (Math.abs(v * 10 ** d - Math.round(v * 10 ** d)) < 1e-6) return d;
    return 8;
  };
  const d = Math.min(8, Math.max(...ticks.map(decimals), step >= 1 ? 0 : decimals(step)));
  return ticks.map((v) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
}
