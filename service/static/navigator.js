// The strip under a chart showing the whole series: drag the window, its edges, or a new span.

import { svg, clamp, thin } from "./svg.js";

const HEIGHT = 46;

export class Navigator {
  constructor(chart) {
    this.chart = chart;
    this.el = svg("svg", { class: "chart-nav", "aria-label": "drag to choose the window shown above" });
    this.dirty = true;
    this.geo = null;
    chart.root.append(this.el);
    this.wire();
  }

  /** The data changed: redraw the overview line on the next render. */
  invalidate() { this.dirty = true; }

  render(width) {
    const chart = this.chart;
    const h = HEIGHT;
    const primary = chart.data.series[0];
    const n = chart.data.x.length;
    if (!primary || n < 2) { this.el.replaceChildren(); return; }
    const left = chart.geo.box.left, right = chart.geo.box.right;
    const xOf = (i) => left + (i / (n - 1)) * (right - left);
    if (this.dirty || this.width !== width) {
      this.dirty = false;
      this.width = width;
      this.el.setAttribute("viewBox", `0 0 ${width} ${h}`);
      this.el.setAttribute("width", width);
      this.el.setAttribute("height", h);
      const idx = thin(primary.values, 0, n - 1, Math.round(right - left));
      let lo = Infinity, hi = -Infinity;
      for (const i of idx) { lo = Math.min(lo, primary.values[i]); hi = Math.max(hi, primary.values[i]); }
      const yOf = (v) => h - 4 - ((v - lo) / (hi - lo || 1)) * (h - 8);
      const d = idx.map((i, k) => (k ? "L" : "M") + xOf(i).toFixed(1) + "," + yOf(primary.values[i]).toFixed(1)).join("");
      this.el.replaceChildren();
      svg("rect", { class: "nav-bg", x: left, y: 0, width: right - left, height: h }, this.el);
      svg("path", { class: "nav-line", d }, this.el);
      this.shadeL = svg("rect", { class: "nav-shade", y: 0, height: h }, this.el);
      this.shadeR = svg("rect", { class: "nav-shade", y: 0, height: h }, this.el);
      this.win = svg("rect", { class: "nav-window", y: 0.5, height: h - 1 }, this.el);
      this.h0 = svg("rect", { class: "nav-handle", y: h / 2 - 9, width: 6, height: 18, rx: 2 }, this.el);
      this.h1 = svg("rect", { class: "nav-handle", y: h / 2 - 9, width: 6, height: 18, rx: 2 }, this.el);
    }
    const a = xOf(chart.i0), b = xOf(chart.i1);
    this.shadeL.setAttribute("x", left);
    this.shadeL.setAttribute("width", Math.max(a - left, 0));
    this.shadeR.setAttribute("x", b);
    this.shadeR.setAttribute("width", Math.max(right - b, 0));
    this.win.setAttribute("x", a);
    this.win.setAttribute("width", Math.max(b - a, 1));
    this.h0.setAttribute("x", a - 3);
    this.h1.setAttribute("x", b - 3);
    this.geo = { left, right, n };
  }

  wire() {
    const chart = this.chart;
    let drag = null;
    const indexAt = (e) => {
      const { left, right, n } = this.geo;
      const px = e.clientX - this.el.getBoundingClientRect().left;
      return clamp(((px - left) / (right - left)) * (n - 1), 0, n - 1);
    };
    this.el.addEventListener("pointerdown", (e) => {
      if (!this.geo) return;
      const i = indexAt(e);
      const tol = ((this.geo.n - 1) / (this.geo.right - this.geo.left)) * 6;
      if (Math.abs(i - chart.i0) < tol) drag = { mode: "left" };
      else if (Math.abs(i - chart.i1) < tol) drag = { mode: "right" };
      else if (i > chart.i0 && i < chart.i1) drag = { mode: "move", at: i, i0: chart.i0, i1: chart.i1 };
      else drag = { mode: "new", at: i };
      this.el.setPointerCapture(e.pointerId);
    });
    this.el.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const i = indexAt(e);
      if (drag.mode === "left") chart.setWindow(Math.min(i, chart.i1 - chart.opts.minWindow), chart.i1);
      else if (drag.mode === "right") chart.setWindow(chart.i0, Math.max(i, chart.i0 + chart.opts.minWindow));
      else if (drag.mode === "move") chart.setWindow(drag.i0 + i - drag.at, drag.i1 + i - drag.at);
      else chart.setWindow(Math.min(drag.at, i), Math.max(drag.at, i));
    });
    const end = () => { drag = null; };
    this.el.addEventListener("pointerup", end);
    this.el.addEventListener("pointercancel", end);
  }
}
