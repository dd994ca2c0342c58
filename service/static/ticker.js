// One ticker: a header with tabs, and the overview tab (price and forecast, backtest, metrics,
// live accuracy). The training and models tabs live in their own modules.

import { api, ApiError } from "./api.js";
import { Chart } from "./charts.js";
import { h, clear, fixed, int, price, pct, num, signedPct, plural, when } from "./dom.js";
import { card, describe, edgeBadge, loading, trendMark } from "./ui.js";
import { trainingTab } from "./training.js";
import { modelsTab } from "./models.js";

const PRICE_RANGES = [["1M", 21], ["3M", 63], ["6M", 126], ["1Y", 252], ["5Y", 1260], ["All", Infinity]];
/** Ranges in bars for an intraday series: `perSession` bars make a session (day). */
const intradayRanges = (perSession) =>
  [["1D", perSession], ["5D", 5 * perSession], ["1M", 21 * perSession], ["3M", 63 * perSession], ["All", Infinity]];

/** The most bars any of the last 20 sessions had (a half day has fewer). */
function barsPerSession(points) {
  const counts = new Map();
  for (let i = Math.max(0, points.length - 20 * 400); i < points.length; i++) {
    counts.set(points[i].date, (counts.get(points[i].date) || 0) + 1);
  }
  return Math.max(1, ...[...counts.values()].slice(-20));
}

/** A time as the page shows it: a date, or "YYYY-MM-DD HH:MM" in the exchange's zone. */
export const when_ = (t) => (t && t.length > 10 ? t.slice(0, 16).replace("T", " ") : t);
const TEST_RANGES = [["1M", 21], ["3M", 63], ["6M", 126], ["1Y", 252], ["All", Infinity]];
const TABS = [["overview", "Overview"], ["train", "Training"], ["models", "Models"]];

export async function tickerView(main, route, ctx) {
  const { ticker, tab } = route;
  const base = `#/t/${encodeURIComponent(ticker)}`;
  const meta = h("p.meta", "\u00a0");
  const body = h("div.tab-body", loading());
  clear(main,
    h("div.page-head", h("h1", ticker), meta),
    h("nav.tabs", { role: "tablist" }, TABS.map(([key, label]) =>
      h(`a.tab${key === tab ? ".on" : ""}`, { href: key === "overview" ? base : `${base}/${key}`, role: "tab",
        "aria-selected": String(key === tab), "data-tab": key }, label))),
    body);
  // The ticker itself sorts first among the tickers it prefixes: one row, whatever the universe's size.
  api.listSeries({ prefix: ticker, limit: 1 }).then(({ series }) => {
    const s = series.find((x) => x.ticker === ticker);
    if (ctx.alive() && s) {
      const bars = s.frequency === "1d" ? "daily" : `${s.frequency} bars`;
      clear(meta, h("span", { "data-testid": "series-meta" },
        `${int(s.rows)} rows · ${bars} · ${s.calendar} (${s.timezone}) · ${when_(s.first)} → ${when_(s.last)}`));
    }
  }).catch(() => {});
  if (tab === "train") return trainingTab(body, ticker, ctx);
  if (tab === "models") return modelsTab(body, ticker, ctx);
  return overviewTab(body, ticker, ctx);
}

const orNull = (promise, statuses = [404, 409]) =>
  promise.catch((e) => { if (e instanceof ApiError && statuses.includes(e.status)) return null; throw e; });

async function overviewTab(body, ticker, ctx) {
  const started = performance.now();
  // Accuracy after the forecast, so that it counts the forecast this page has just been served.
  let [series, [forecast, accuracy], models] = await Promise.all([
    api.getSeries(ticker),
    // A forecast that fails (a broken checkpoint, say) leaves the rest of the page standing.
    api.forecast(ticker).catch((e) => (e instanceof ApiError && e.isAuth ? Promise.reject(e) : { error: e }))
      .then(async (f) => [f, await orNull(api.accuracy(ticker))]),
    api.models(ticker),
  ]);
  if (!ctx.alive()) return;
  const loaded = performance.now();
  const active = models.models.find((m) => m.status === "active") || null;
  const failed = forecast?.error;
  if (failed) forecast = null;
  const field = forecast?.price_field || active?.price_field ||
    (series.points.every((p) => p.adj_close != null) ? "adj_close" : "close");

  const priceBox = h("div", { "data-testid": "price-chart" });
  const backtestBox = h("div", { "data-testid": "backtest-chart" });
  const edgeBox = h("div", { "data-testid": "edge-chart" });
  clear(body,
    h("div.row.top",
      card("wide", `Price (${field})`, priceBox),
      forecastCard(ticker, forecast, failed)),
    active ? [
      card("backtest", `Backtest of v${active.version} over its ${plural(active.comparison.n_test, "test day")}`,
        h("p.muted", "Each day the model forecast the next price from the days before it; persistence " +
          "forecast that it would not move. The shaded band is the model's 80% interval."),
        backtestBox,
        h("h3", "Running total of squared error, model minus persistence"),
        h("p.muted", "Falling means the model is pulling ahead of “tomorrow = today”; rising, falling behind."),
        edgeBox),
      h("div.row",
        card("metrics", "Test metrics next to the baselines", metricsBlock(active.comparison)),
        card("live", "Live accuracy", liveAccuracy(accuracy)))]
      : card("empty", "No active model", h("p", `${ticker} has no active model yet, so there is no forecast, backtest or metrics to show.`),
        h("p", h("a.btn.primary", { href: `#/t/${encodeURIComponent(ticker)}/train` }, `Train ${ticker}`))));

  const values = series.points.map((p) => p[field] ?? null);
  const intraday = series.frequency && series.frequency !== "1d";
  const chart = new Chart(priceBox, {
    height: 340, navigator: true, ranges: intraday ? intradayRanges(barsPerSession(series.points)) : PRICE_RANGES,
    initialRange: intraday ? "5D" : "1Y", logToggle: true, hint: true,
    yFormat: price, label: `${ticker} ${field} with the next-step forecast`,
  });
  chart.setData({
    x: series.points.map((p) => p.time || p.date),
    series: [{ label: field, values, cls: "actual" }],
    forecast: forecast && {
      label: intraday ? when_(forecast.target) : forecast.target_date, from: forecast.last_price, point: forecast.predicted_price,
      bands: forecast.intervals.map((b) => ({ level: b.level, low: b.low, high: b.high })),
    },
  });
  ctx.onCleanup(() => chart.destroy());
  window.pricecast.timings = { points: values.length, fetch_ms: loaded - started, setup_ms: performance.now() - loaded };

  if (active) {
    let bt;
    try {
      bt = await api.backtest(ticker, active.version);
    } catch (error) {
      if (ctx.alive()) clear(backtestBox, h("p.error", `No backtest: ${describe(error)}`));
      return;
    }
    if (!ctx.alive()) return;
    const charts = drawBacktest(backtestBox, edgeBox, bt);
    ctx.onCleanup(() => charts.forEach((c) => c.destroy()));
  }
}

function forecastCard(ticker, f, failed) {
  if (failed && !(failed instanceof ApiError && failed.status === 409)) {
    return card("forecast", "Next step", h("p.error", `No forecast: ${describe(failed)}`));
  }
  if (!f) {
    return card("forecast", "Next step", h("p.muted", "No forecast: no active model yet."),
      h("a.btn.primary", { href: `#/t/${encodeURIComponent(ticker)}/train` }, `Train ${ticker}`));
  }
  const band = (level) => f.intervals.find((b) => b.level === level);
  const m = f.model.metrics;
  return card("forecast", "Next step",
    h("p.muted", { "data-testid": "forecast-when" }, f.frequency && f.frequency !== "1d"
      ? `for the ${f.frequency} bar at ${when_(f.target)} (${f.calendar}), after the last bar at ${when_(f.as_of)}`
      : `for ${f.target_date} (the next ${f.calendar || ""} session), after the last price on ${f.as_of}`),
    h("div.big", { "data-testid": "predicted-price" }, price(f.predicted_price),
      h("span.change", ` ${signedPct(f.predicted_return)}`)),
    h("p", h("span", { title: "the direction of the point forecast" }, trendMark(f.trend)),
      h("span", { title: "the model's calibrated probability that the price rises" }, ` · chance of a rise ${pct(f.prob_up, 1)} `),
      edgeBadge(f.no_edge),
      f.stale ? h("span.badge.stale", "stale") : null),
    h("table.kv",
      h("tr", h("th", "Last price"), h("td.num", price(f.last_price))),
      h("tr.model", h("th", "Model"), h("td.num", price(f.predicted_price))),
      h("tr.persistence", h("th", "Persistence"), h("td.num", price(f.last_price))),
      [80, 95].map((level) => band(level) && h(`tr.band-${level}`, h("th", `${level}% band`),
        h("td.num", `${price(band(level).low)} – ${price(band(level).high)}`)))),
    f.no_edge ? h("p.note", "On its test days this model did not beat persistence beyond noise: read this as " +
      "“about the same as today”, with an honest band around it.") : null,
    f.stale ? h("p.note", "Stale: the series has moved well past the data this model was trained on; retrain it.") : null,
    h("p.muted.small", `v${f.model.version}, trained ${when(f.model.trained_at)} on ${when_(f.model.data_start)} → ${when_(f.model.data_end)}. ` +
      `Test RMSE ${num(m.rmse)} vs persistence ${num(m.persistence_rmse)}; direction right ${pct(m.directional_accuracy)} ` +
      `vs ${pct(m.base_rate)} base rate.`));
}

function drawBacktest(box, edgeBox, bt) {
  const pts = bt.points;
  const x = pts.map((p) => p.date);
  const chart = new Chart(box, { height: 300, ranges: TEST_RANGES, initialRange: "3M", navigator: true, yFormat: price,
    label: "backtest: actual, model and persistence over the test days" });
  chart.setData({
    x,
    series: [
      { label: "actual", values: pts.map((p) => p.actual), cls: "actual" },
      { label: "model", values: pts.map((p) => p.predicted), cls: "model" },
      { label: "persistence", values: pts.map((p) => p.persistence), cls: "persistence" },
    ],
    bands: [{ label: "model 80%", low: pts.map((p) => p.low_80), high: pts.map((p) => p.high_80), cls: "band-80" }],
  });
  let total = 0;
  const gap = pts.map((p) => (total += (p.predicted - p.actual) ** 2 - (p.persistence - p.actual) ** 2));
  const edge = new Chart(edgeBox, { height: 150, yFormat: (v) => num(v, 3), label: "cumulative squared error difference" });
  edge.setData({ x, series: [{ label: "model − persistence", values: gap, cls: "model" }] });
  return [chart, edge];
}

const LOWER = ["rmse", "mae", "mape", "mase", "brier"];

/** A formatter giving every value of a row the same decimals: four significant digits of the largest. */
function sameDecimals(values, suffix) {
  const top = Math.max(...values.filter(Number.isFinite).map(Math.abs), 0);
  const digits = top > 0 ? Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(top)))) : 2;
  return (v) => (Number.isFinite(v)
    ? v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) + suffix : "—");
}

function metricsBlock(c) {
  const skill = c.skill_rmse;
  // The base rate is the training part's majority class (always up or always down); versions
  // trained before it existed compare with always-up.
  const base = c.base_rate || { direction: "up", directional_accuracy: c.always_up.directional_accuracy };
  const baseName = `always “${base.direction}” (the base rate)`;
  const verdict = c.no_edge
    ? h("p.verdict.noedge", { "data-testid": "verdict" }, h("strong", "No edge. "),
      `Over ${plural(c.n_test, "test day")} (${c.test_start} → ${c.test_end}) the model's RMSE was ${num(c.model.rmse)} ` +
      `against ${num(c.persistence.rmse)} for persistence (skill ${signedPct(skill)}), and it called the direction ` +
      `right ${pct(c.model.directional_accuracy)} of the time against ${pct(base.directional_accuracy)} for ` +
      `${baseName} (noise band ±${pct(c.direction_noise_band)}). It does not beat “tomorrow = today”.`)
    : h("p.verdict.edge", { "data-testid": "verdict" }, h("strong", "Beats persistence. "),
      `Over ${plural(c.n_test, "test day")} (${c.test_start} → ${c.test_end}) the model's RMSE was ${num(c.model.rmse)} ` +
      `against ${num(c.persistence.rmse)} for persistence (skill ${signedPct(skill)}); direction right ` +
      `${pct(c.model.directional_accuracy)} vs ${pct(base.directional_accuracy)} for ${baseName}.`);
  const rows = [
    ["RMSE", "rmse", null], ["MAE", "mae", null], ["MAPE", "mape", "%"],
    ["MASE", "mase", null], ["Direction right", "directional_accuracy", pct],
    ["Brier score of P(up)", "brier", null], ["80% band covered", "coverage_80", pct],
    ["95% band covered", "coverage_95", pct], ["80% band width", "width_80", "%"],
    ["95% band width", "width_95", "%"],
  ];
  const cols = [["Model", c.model], ["Persistence", c.persistence], ["Drift", c.drift],
    [`Base rate (always ${base.direction})`, c.base_rate], ["Always up", c.always_up], ["EWMA band", c.ewma]];
  return [verdict,
    h("table.grid.metrics-table", { "data-testid": "metrics" },
      h("thead", h("tr", h("th", "Test days"), cols.map(([name]) => h("th.num", name)))),
      h("tbody", rows.map(([label, key, how]) => {
        const vals = cols.map(([, o]) => o?.[key]);
        const fmt = typeof how === "function" ? (v) => how(v) : sameDecimals(vals, how || "");
        const finiteVals = vals.filter(Number.isFinite);
        const best = finiteVals.length > 1 && !key.startsWith("coverage")
          ? (LOWER.includes(key) || key.startsWith("width") ? Math.min : Math.max)(...finiteVals) : null;
        return h("tr", { "data-metric": key }, h("th", label),
          vals.map((v, k) => h(`td.num${v === best ? ".best" : ""}${k === 0 ? ".model" : ""}`, fmt(v))));
      }))),
    h("p.muted.small", "Lower is better for the errors and the Brier score; the bands should cover about 80% and " +
      "95% of days, and among bands that do, narrower is better (width in % of the price). Drift extends the " +
      "average daily change; the base rate always says the direction that was more common in training, with " +
      "its up-rate as P(up); the EWMA band is RiskMetrics volatility (decay 0.94) with Gaussian quantiles.")];
}

function liveAccuracy(acc) {
  if (!acc) return h("p.muted", "No forecasts served yet.");
  const o = acc.overall;
  if (!o.resolved) {
    return h("div", { "data-testid": "live-accuracy" },
      h("p", `${plural(acc.served, "forecast")} served, ${int(acc.pending)} waiting for the price of the day it forecast.`),
      h("p.muted", "Each forecast is checked when that day's price is uploaded; accuracy shows here once one has resolved."));
  }
  const cols = [["All", o], ...acc.versions.map((v) => [`v${v.version}`, v])];
  const rows = [
    ["Resolved", (s) => int(s.resolved)],
    ["MAE, model", (s) => num(s.mae)], ["MAE, persistence", (s) => num(s.persistence_mae)],
    ["RMSE, model", (s) => num(s.rmse)], ["RMSE, persistence", (s) => num(s.persistence_rmse)],
    ["Direction right", (s) => pct(s.directional_accuracy)], ["Up days (base rate)", (s) => pct(s.base_rate)],
    ["Brier score", (s) => fixed(s.brier, 3)],
    ["80% band covered", (s) => pct(s.coverage?.["80"])], ["95% band covered", (s) => pct(s.coverage?.["95"])],
  ];
  return h("div", { "data-testid": "live-accuracy" },
    h("p.muted", `${plural(acc.served, "forecast")} served, ${int(o.resolved)} resolved, ${int(acc.pending)} pending.`),
    h("table.grid.compact",
      h("thead", h("tr", h("th", ""), cols.map(([name]) => h("th.num", name)))),
      h("tbody", rows.map(([label, fmt]) => h("tr", h("th", label), cols.map(([, s]) => h("td.num", fmt(s))))))));
}
