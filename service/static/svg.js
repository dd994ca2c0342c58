// SVG building blocks shared by the chart and its navigator.

const NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

export const finite = Number.isFinite;
export const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

/** Column buckets of [i0, i1] at most `cols` wide: each gives the indices of its min and max. */
export function thin(values, i0, i1, cols) {
  const n = i1 - i0 + 1;
  if (n <= cols * 2) {
    const out = [];
    for (let i = i0; i <= i1; i++) if (finite(values[i])) out.push(i);
    return out;
  }
  const out = [];
  const per = n / cols;
  for (let c = 0; c < cols; c++) {
    const a = i0 + Math.floor(c * per);
    const b = Math.min(i1, i0 + Math.floor((c + 1) * per) - 1);
    let lo = -1, hi = -1;
    for (let i = a; i <= b; i++) {
      const v = values[i];
      if (!finite(v)) continue;
      if (lo < 0 || v < values[lo]) lo = i;
      if (hi < 0 || v > values[hi]) hi = i;
    }
    if (lo < 0) continue;
    if (lo === hi) out.push(lo);
    else out.push(Math.min(lo, hi), Math.max(lo, hi));
  }
  return out;
}
