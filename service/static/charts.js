// Hand-drawn SVG charts. One class draws every chart on the page: lines over a trading-day (or
// epoch) axis, shaded bands, an optional next-step forecast fan after the last point, a range
// selector, a navigator to brush a window, drag to pan, ctrl+wheel to zoom, and a hover readout.
// Long series are thinned to a min/max pair per pixel column, so 5,000 points cost no more to
// draw than the chart is wide.

import { ticksLinear, ticksLog, dateTicks, tickLabels } from "./ticks.js";

import { svg, finite, clamp, thin } from "./svg.js";
import { Navigator } from "./navigator.js";

export class Chart {
  /**
   * opts: height, navigator (bool), ranges ([[label, points]...]), initialRange (label),
   * xKind ("date" | "number"), yFormat (fn), logToggle (bool), label (for screen readers),
   * hint (bool: show the zoom/pan hint), minWindow (points).
   */
  constructor(root, opts = {}) {
    this.root = root;
    this.opts = { height: 300, xKind: "date", yFormat: (v) => String(v), minWindow: 8, ...opts };
    this.data = { x: [], series: [], bands: [], forecast: null };
    this.i0 = 0;
    this.i1 = -1;
    this.log = false;
    this.hover = null;
    this.frame = 0;
    this.build();
    this.resizer = new ResizeObserver(() => this.schedule());
    this.resizer.observe(this.root);
  }

  build() {
    const { opts } = this;
    this.root.classList.add("chart");
    this.head = document.createElement("div");
    this.head.className = "chart-head";
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    this.tools = document.createElement("div");
    this.tools.className = "chart-tools";
    this.head.append(this.legend, this.tools);
    if (opts.ranges) {
      for (const [label, points] of opts.ranges) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "range";
        b.textContent = label;
        b.dataset.range = label;
        b.addEventListener("click", () => this.showLast(points, label));
        this.tools.append(b);
      }
    }
    if (opts.logToggle) {
      const lab = document.createElement("label");
      lab.className = "logtoggle";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.addEventListener("change", () => { this.log = box.checked; this.schedule(); });
      lab.append(box, " log scale");
      this.tools.append(lab);
    }
    const body = document.createElement("div");
    body.className = "chart-body";
    this.svg = svg("svg", { class: "chart-main", role: "img", "aria-label": opts.label || "chart" });
    this.gGrid = svg("g", { class: "grid" }, this.svg);
    this.gBands = svg("g", { class: "bands" }, this.svg);
    this.gLines = svg("g", { class: "lines" }, this.svg);
    this.gForecast = svg("g", { class: "forecast" }, this.svg);
    this.gAxes = svg("g", { class: "axes" }, this.svg);
    this.gHover = svg("g", { class: "hover" }, this.svg);
    this.tip = document.createElement("div");
    this.tip.className = "chart-tip";
    this.tip.hidden = true;
    body.append(this.svg, this.tip);
    this.root.append(this.head, body);
    if (opts.navigator) {
      this.nav = new Navigator(this);
    }
    if (opts.hint) {
      const hint = document.createElement("div");
      hint.className = "chart-hint";
      hint.textContent = "drag to pan · ctrl + wheel to zoom · double-click to show all";
      this.root.append(hint);
    }
    this.wireMain();
  }

  /** Replace the data; keep the window (anchored to the end when it was showing the end). */
  setData(data) {
    const oldN = this.data.x.length;
    const atEnd = oldN === 0 || this.i1 >= oldN - 1;
    this.data = { series: [], bands: [], forecast: null, ...data };
    const n = this.data.x.length;
    if (oldN === 0 || !this.opts.ranges) {
      const initial = this.opts.ranges?.find(([l]) => l === this.opts.initialRange);
      this.setWindow(initial ? n - initial[1] : 0, n - 1, initial?.[0] ?? null);
    } else if (atEnd) {
      this.setWindow(this.i0 + (n - oldN), n - 1, this.rangeLabel);
    } else {
      this.setWindow(this.i0, this.i1, null);
    }
    this.renderLegend();
    this.nav?.invalidate();
    this.schedule();
  }

  showLast(points, label = null) {
    const n = this.data.x.length;
    this.setWindow(n - points, n - 1, label);
  }

  setWindow(i0, i1, label = null) {
    const n = this.data.x.length;
    const min = Math.min(this.opts.minWindow, Math.max(n - 1, 0));
    let span = clamp(Math.round(i1 - i0), min, Math.max(n - 1, 0));
    i0 = clamp(Math.round(i0), 0, Math.max(n - 1 - span, 0));
    this.i0 = i0;
    this.i1 = Math.min(i0 + span, n - 1);
    this.rangeLabel = label;
    for (const b of this.tools.querySelectorAll("button.range")) {
      b.classList.toggle("on", b.dataset.range === label);
    }
    this.root.dataset.window = `${this.i0}:${this.i1}`;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  destroy() {
    this.resizer.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }

  renderLegend() {
    const items = [];
    for (const s of this.data.series) items.push([s.cls, s.label, "line"]);
    for (const b of this.data.bands) items.push([b.cls, b.label, "band"]);
    if (this.data.forecast) {
      items.push(["forecast-line", "next-step forecast", "line"]);
      for (const b of this.data.forecast.bands) items.push([`band band-${b.level}`, `${b.level}% band`, "band"]);
    }
    this.legend.replaceChildren(...items.map(([cls, label, kind]) => {
      const item = document.createElement("span");
      item.className = "key";
      const sw = svg("svg", { width: 18, height: 10, "aria-hidden": "true" });
      if (kind === "line") svg("line", { x1: 1, x2: 17, y1: 5, y2: 5, class: cls }, sw);
      else svg("rect", { x: 1, y: 1, width: 16, height: 8, class: cls }, sw);
      item.append(sw, label);
      return item;
    }));
  }

  /** The geometry of the current render: scales and plot box. */
  layout() {
    const width = Math.max(this.root.clientWidth, 200);
    const height = this.opts.height;
    const { x, forecast } = this.data;
    const n = x.length;
    const showForecast = !!forecast && this.i1 === n - 1;
    // The y domain: everything visible, plus the forecast band when it is drawn.
    let lo = Infinity, hi = -Infinity;
    const take = (arr) => {
      for (let i = this.i0; i <= this.i1; i++) {
        const v = arr[i];
        if (finite(v) && (!this.log || v > 0)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      }
    };
    for (const s of this.data.series) take(s.values);
    for (const b of this.data.bands) { take(b.low); take(b.high); }
    if (showForecast) {
      for (const b of forecast.bands) { lo = Math.min(lo, b.low); hi = Math.max(hi, b.high); }
      lo = Math.min(lo, forecast.point); hi = Math.max(hi, forecast.point);
    }
    if (!finite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { const d = Math.abs(lo) * 0.01 || 1; lo -= d; hi += d; }
    const useLog = this.log && lo > 0;
    const ticks = useLog ? ticksLog(lo, hi) : ticksLinear(lo, hi, Math.max(3, Math.round(height / 60)));
    if (!useLog) { lo = Math.min(lo, ticks[0]); hi = Math.max(hi, ticks[ticks.length - 1]); }
    const labels = tickLabels(ticks);
    const left = 12 + 7 * Math.max(4, ...labels.map((l) => l.length));
    const gutter = showForecast ? clamp(Math.round(width * 0.09), 56, 110) : 0;
    const box = { left, top: 10, right: width - 14, bottom: height - 24 };
    const histRight = box.right - gutter;
    const span = Math.max(this.i1 - this.i0, 1);
    const xOf = (i) => (this.i1 === this.i0 ? (box.left + histRight) / 2 : box.left + ((i - this.i0) / span) * (histRight - box.left));
    const t = useLog ? Math.log : (v) => v;
    const tlo = t(lo), thi = t(hi);
    const pad = (thi - tlo) * 0.04;
    const yOf = (v) => box.bottom - ((t(v) - tlo + pad) / (thi - tlo + 2 * pad)) * (box.bottom - box.top);
    const iOf = (px) => this.i0 + ((px - box.left) / (histRight - box.left)) * span;
    return { width, height, box, histRight, gutter, showForecast, xOf, yOf, iOf, ticks, labels, useLog,
             forecastX: histRight + gutter * 0.62 };
  }

  render() {
    const t0 = performance.now();
    const g = (this.geo = this.layout());
    const { width, height, box, xOf, yOf } = g;
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
    this.renderAxes(g);
    const cols = Math.max(Math.round(g.histRight - box.left), 10);
    const lines = this.data.series.map((s) => {
      const idx = thin(s.values, this.i0, this.i1, cols);
      let d = "";
      let prev = -2;
      for (const i of idx) {
        d += (i === prev + 1 || (prev >= 0 && !hasGap(s.values, prev, i)) ? "L" : "M") +
          xOf(i).toFixed(1) + "," + yOf(s.values[i]).toFixed(1);
        prev = i;
      }
      return [s, d, idx.length];
    });
    sync(this.gLines, "path", lines.length, (p, k) => {
      const [s, d, count] = lines[k];
      p.setAttribute("class", `series ${s.cls}`);
      p.setAttribute("d", d);
      p.dataset.label = s.label;
      p.dataset.points = count;
    });
    sync(this.gBands, "path", this.data.bands.length, (p, k) => {
      const b = this.data.bands[k];
      p.setAttribute("class", `band ${b.cls}`);
      p.setAttribute("d", bandPath(b.low, b.high, thin(b.high, this.i0, this.i1, cols), xOf, yOf));
    });
    this.renderForecast(g);
    this.renderHover();
    if (this.nav) this.nav.render(width);
    // The window this drawing shows: `data-window` changes at once, the drawing on the next frame.
    this.root.dataset.renderedWindow = `${this.i0}:${this.i1}`;
    this.root.dataset.rendered = String((Number(this.root.dataset.rendered) || 0) + 1);
    this.root.dataset.renderMs = (performance.now() - t0).toFixed(2);
  }

  renderAxes(g) {
    const { box, ticks, labels, yOf, xOf } = g;
    const grid = [];
    const texts = [];
    ticks.forEach((v, k) => {
      const y = yOf(v);
      if (y < box.top - 1 || y > box.bottom + 1) return;
      grid.push(["line", { x1: box.left, x2: box.right, y1: y.toFixed(1), y2: y.toFixed(1), class: "gridline" }]);
      texts.push(["text", { x: box.left - 8, y: (y + 4).toFixed(1), class: "ylabel", "text-anchor": "end" }, labels[k]]);
    });
    const { x } = this.data;
    const xt = this.opts.xKind === "date"
      ? dateTicks(x, this.i0, this.i1, Math.max(2, Math.floor((g.histRight - box.left) / 90)))
      : ticksLinear(this.i0, this.i1, Math.max(2, Math.floor((g.histRight - box.left) / 70)))
        .filter((i) => Number.isInteger(i) && i >= this.i0 && i <= this.i1).map((i) => [i, String(x[i])]);
    for (const [i, label] of xt) {
      const px = xOf(i);
      grid.push(["line", { x1: px.toFixed(1), x2: px.toFixed(1), y1: box.top, y2: box.bottom, class: "gridline v" }]);
      texts.push(["text", { x: px.toFixed(1), y: box.bottom + 17, class: "xlabel", "text-anchor": "middle" }, label]);
    }
    grid.push(["line", { x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom, class: "axisline" }]);
    if (g.showForecast) {
      const f = this.data.forecast;
      grid.push(["rect", { x: g.histRight, y: box.top, width: box.right - g.histRight, height: box.bottom - box.top, class: "gutter" }]);
      texts.push(["text", { x: g.forecastX, y: box.bottom + 17, class: "xlabel forecast-date", "text-anchor": "middle" }, f.label]);
    }
    this.gGrid.replaceChildren(...grid.map(([tag, a]) => svg(tag, a)));
    this.gAxes.replaceChildren(...texts.map(([tag, a, text]) => { const t = svg(tag, a); t.textContent = text; return t; }));
  }

  renderForecast(g) {
    this.gForecast.replaceChildren();
    if (!g.showForecast) return;
    const f = this.data.forecast;
    const x0 = g.xOf(this.data.x.length - 1), y0 = g.yOf(f.from), x1 = g.forecastX;
    // Widest band first so the narrower one sits on top of it.
    for (const b of [...f.bands].sort((a, c) => c.level - a.level)) {
      svg("path", {
        class: `band band-${b.level}`, "data-level": b.level,
        d: `M${x0.toFixed(1)},${y0.toFixed(1)}L${x1.toFixed(1)},${g.yOf(b.high).toFixed(1)}` +
           `L${(x1 + 5).toFixed(1)},${g.yOf(b.high).toFixed(1)}L${(x1 + 5).toFixed(1)},${g.yOf(b.low).toFixed(1)}` +
           `L${x1.toFixed(1)},${g.yOf(b.low).toFixed(1)}Z`,
      }, this.gForecast);
    }
    svg("line", { class: "asof", x1: x0, x2: x0, y1: g.box.top, y2: g.box.bottom }, this.gForecast);
    svg("path", { class: "forecast-line", d: `M${x0.toFixed(1)},${y0.toFixed(1)}L${x1.toFixed(1)},${g.yOf(f.point).toFixed(1)}` }, this.gForecast);
    svg("circle", { class: "forecast-point", cx: x1, cy: g.yOf(f.point), r: 4 }, this.gForecast);
  }

  wireMain() {
    let drag = null;
    this.svg.addEventListener("pointerdown", (e) => {
      if (!this.geo || e.button !== 0) return;
      drag = { x: e.clientX, i0: this.i0, i1: this.i1 };
      this.svg.setPointerCapture(e.pointerId);
    });
    this.svg.addEventListener("pointermove", (e) => {
      if (!this.geo) return;
      const px = e.clientX - this.svg.getBoundingClientRect().left;
      if (drag && Math.abs(e.clientX - drag.x) > 2) {
        const perPx = (drag.i1 - drag.i0) / (this.geo.histRight - this.geo.box.left);
        const shift = (drag.x - e.clientX) * perPx;
        this.setWindow(drag.i0 + shift, drag.i1 + shift, null);
        this.svg.classList.add("dragging");
      }
      this.hover = px;
      this.renderHover();
    });
    const end = () => { drag = null; this.svg.classList.remove("dragging"); };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
    this.svg.addEventListener("pointerleave", () => { this.hover = null; this.renderHover(); });
    this.svg.addEventListener("dblclick", () => this.setWindow(0, this.data.x.length - 1, this.opts.ranges ? "All" : null));
    this.svg.addEventListener("wheel", (e) => {
      if (!(e.ctrlKey || e.metaKey) || !this.geo || !this.opts.ranges) return;
      e.preventDefault();
      const at = clamp(this.geo.iOf(e.clientX - this.svg.getBoundingClientRect().left), this.i0, this.i1);
      const factor = e.deltaY > 0 ? 1.25 : 0.8;
      this.setWindow(at - (at - this.i0) * factor, at + (this.i1 - at) * factor, null);
    }, { passive: false });
  }

  renderHover() {
    this.gHover.replaceChildren();
    const g = this.geo;
    if (this.hover == null || !g || !this.data.x.length) { this.tip.hidden = true; return; }
    const px = this.hover;
    const fmt = this.opts.yFormat;
    const rows = [];
    let at;
    if (g.showForecast && px > g.histRight) {
      const f = this.data.forecast;
      at = g.forecastX;
      rows.push(["", `forecast for ${f.label}`], ["forecast-line", fmt(f.point)]);
      for (const b of f.bands) rows.push([`band band-${b.level}`, `${b.level}%: ${fmt(b.low)} – ${fmt(b.high)}`]);
      svg("circle", { class: "hoverdot forecast-point", cx: at, cy: g.yOf(f.point), r: 5 }, this.gHover);
    } else {
      const i = clamp(Math.round(g.iOf(px)), this.i0, this.i1);
      at = g.xOf(i);
      rows.push(["", String(this.data.x[i])]);
      for (const s of this.data.series) {
        const v = s.values[i];
        if (!finite(v)) continue;
        rows.push([s.cls, `${s.label} ${fmt(v)}`]);
        svg("circle", { class: `hoverdot ${s.cls}`, cx: at, cy: g.yOf(v), r: 3.5 }, this.gHover);
      }
      for (const b of this.data.bands) {
        if (finite(b.low[i])) rows.push([`band ${b.cls}`, `${b.label}: ${fmt(b.low[i])} – ${fmt(b.high[i])}`]);
      }
    }
    svg("line", { class: "hoverline", x1: at, x2: at, y1: g.box.top, y2: g.box.bottom }, this.gHover);
    this.tip.replaceChildren(...rows.map(([cls, text], k) => {
      const row = document.createElement("div");
      row.className = k === 0 ? "tip-title" : "tip-row " + cls.replace(/\bband\b/, "").trim();
      row.textContent = text;
      return row;
    }));
    this.tip.hidden = false;
    const tipW = this.tip.offsetWidth;
    this.tip.style.left = `${at + 14 + tipW > g.width ? at - 14 - tipW : at + 14}px`;
    this.tip.style.top = `${g.box.top + 4}px`;
  }
}

function hasGap(values, a, b) {
  for (let i = a + 1; i < b; i++) if (!finite(values[i])) return true;
  return false;
}

function bandPath(low, high, idx, xOf, yOf) {
  const pts = idx.filter((i) => finite(low[i]) && finite(high[i]));
  if (!pts.length) return "";
  const up = pts.map((i, k) => (k ? "L" : "M") + xOf(i).toFixed(1) + "," + yOf(high[i]).toFixed(1)).join("");
  const down = pts.reverse().map((i) => "L" + xOf(i).toFixed(1) + "," + yOf(low[i]).toFixed(1)).join("");
  return up + down + "Z";
}

/** Keep exactly `count` children of `tag` in `parent`, then update each. */
function sync(parent, tag, count, update) {
  while (parent.childElementCount > count) parent.lastElementChild.remove();
  while (parent.childElementCount < count) svg(tag, {}, parent);
  [...parent.children].forEach(update);
}
