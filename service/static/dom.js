// Tiny DOM and formatting helpers: no framework, text always set as text (never parsed as HTML).

/** h("div.card#x", {attrs}, ...children): children are nodes, strings, numbers, arrays or null. */
export function h(spec, attrs, ...children) {
  if (attrs == null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const [, tag = "div", rest = ""] = spec.match(/^([a-z0-9-]*)(.*)$/i);
  const node = document.createElement(tag || "div");
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") node.classList.add(part.slice(1));
    else node.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const isNum = (x) => typeof x === "number" && Number.isFinite(x);

/** A price with as many decimals as its size needs (0.0753, 12.34, 2506.85). */
export function price(x) {
  if (!isNum(x)) return "—";
  const a = Math.abs(x);
  const digits = a >= 1000 ? 2 : a >= 1 ? 2 : a >= 0.01 ? 4 : 6;
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A number with `sig` significant digits, thousands separated. */
export function num(x, sig = 4) {
  if (!isNum(x)) return "—";
  if (x !== 0 && (Math.abs(x) >= 1e9 || Math.abs(x) < 1e-4)) return x.toExponential(2);
  return Number(x.toPrecision(sig)).toLocaleString("en-US", { maximumFractionDigits: 8 });
}

export function fixed(x, digits = 2) {
  return isNum(x) ? x.toFixed(digits) : "—";
}

export function bytes(n) {
  return n < 1024 ? `${n} bytes` : n < 1024 ** 2 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export function pct(x, digits = 1) {
  return isNum(x) ? (x * 100).toFixed(digits) + "%" : "—";
}

export function signedPct(x, digits = 2) {
  return isNum(x) ? (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x * 100).toFixed(digits) + "%" : "—";
}

export function int(x) {
  return isNum(x) ? Math.round(x).toLocaleString("en-US") : "—";
}

export function seconds(s) {
  if (!isNum(s)) return "—";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 90 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "2026-11-27T14:32:17Z" -> "2026-11-27 14:32" in the viewer's time zone. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function plural(n, word) {
  return `${int(n)} ${word}${n === 1 ? "" : "s"}`;
}
