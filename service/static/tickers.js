// The tickers list and the CSV upload box.

import { api, ApiError, rules } from "./api.js";
import { h, bytes, clear, int, price, signedPct, pct, plural } from "./dom.js";
import { card, describe, edgeBadge, loading, trendMark } from "./ui.js";

// Tickers per page: one page is one batch forecast, so 10,000 tickers never load at once.
const PAGE_SIZE = 50;

export async function tickersView(main, ctx) {
  const list = h("div.tickers-body", loading());
  const search = h("input#ticker-search", { type: "search", placeholder: "Search tickers (prefix)", spellcheck: "false",
    autocomplete: "off", "aria-label": "Search tickers", "data-testid": "ticker-search" });
  const summary = h("span.muted.small", { "data-testid": "tickers-summary", "aria-live": "polite" });
  const prev = h("button.btn.small", { type: "button", "data-testid": "tickers-prev", disabled: true }, "← Previous");
  const next = h("button.btn.small", { type: "button", "data-testid": "tickers-next", disabled: true }, "Next →");
  const bar = h("div.tickers-bar", search, summary, h("span.pager", prev, " ", next));
  clear(main,
    h("div.page-head", h("h1", "Tickers"),
      h("p.lede", "Each series has its own LSTM. Every forecast is judged against persistence, the naive " +
        "forecast “tomorrow = today”; when a model does not beat it, the page says so.")),
    card("tickers", null, bar, list),
    uploadBox(() => refresh()));

  // cursors[k] is the `after` of page k (page 0 starts at the beginning); a newer request wins.
  let cursors = [""], pageNo = 0, asked = 0;
  async function refresh() {
    const mine = ++asked;
    const prefix = search.value.trim();
    const { series, total, next: after } = await api.listSeries({ prefix, after: cursors[pageNo], limit: PAGE_SIZE });
    if (!ctx.alive() || mine !== asked) return;
    const byTicker = new Map();
    if (series.length) {
      try {
        const batch = await api.forecasts(series.map((s) => s.ticker));
        for (const f of batch.forecasts) byTicker.set(f.ticker, f);
        for (const e of batch.errors) byTicker.set(e.ticker, { error: e });
      } catch (error) {
        if (error instanceof ApiError && error.isAuth) throw error;
        for (const s of series) byTicker.set(s.ticker, { error: { message: describe(error) } });
      }
    }
    if (!ctx.alive() || mine !== asked) return;
    cursors[pageNo + 1] = after || "";
    prev.disabled = pageNo === 0;
    next.disabled = !after;
    const first = pageNo * PAGE_SIZE;
    const starting = prefix ? ` starting with ${prefix.toUpperCase()}` : "";
    summary.textContent = series.length
      ? `${int(first + 1)}–${int(first + series.length)} of ${int(total)}${starting}`
      : (prefix ? `no ticker starts with ${prefix.toUpperCase()}` : "");
    clear(list, series.length ? tickerTable(series, byTicker) : (prefix ? h("p.muted", "No match.") : emptyState()));
  }
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { cursors = [""]; pageNo = 0; refresh().catch(showError); }, 200);
  });
  prev.addEventListener("click", () => { if (pageNo > 0) { pageNo -= 1; refresh().catch(showError); } });
  next.addEventListener("click", () => { if (cursors[pageNo + 1]) { pageNo += 1; refresh().catch(showError); } });
  function showError(error) {
    if (ctx.alive()) clear(list, h("p.rejected", describe(error)));
  }
  await refresh();
}

function emptyState() {
  return h("div.empty",
    h("p", "No series yet."),
    h("p.muted", "Upload a CSV below, or load the samples from a terminal with ", h("code", "pricecast demo"), "."));
}

function tickerTable(series, forecasts) {
  const head = ["Ticker", "Rows", "From", "Last date", "Active model", "Next step", "Forecast", "vs persistence", ""];
  return h("table.grid.tickers-table", { "data-testid": "tickers" },
    h("thead", h("tr", head.map((c, k) => h(k === 1 || k === 6 ? "th.num" : "th", c)))),
    h("tbody", series.map((s) => {
      const f = forecasts.get(s.ticker);
      const link = `#/t/${encodeURIComponent(s.ticker)}`;
      const cells = f && !f.error
        ? [h("td", h("a", { href: `${link}/models` }, `v${f.model.version}`), f.stale ? h("span.badge.stale", { title: "the series has grown well past this model's training data" }, "stale") : null),
          h("td", trendMark(f.trend), h("span.muted.small", ` P(up) ${pct(f.prob_up, 0)}`)),
          h("td.num", price(f.predicted_price), h("span.muted.small", ` ${signedPct(f.predicted_return)}`)),
          h("td", edgeBadge(f.no_edge))]
        : [h("td.muted", f?.error?.code === "conflict" ? "none yet" : "—"),
          h("td", { colspan: 2 }, h("a.small", { href: `${link}/train` }, f?.error?.code === "conflict" ? "train a model →" : f?.error?.message || "")),
          h("td", "")];
      return h("tr", { "data-ticker": s.ticker },
        h("td", h("a.ticker", { href: link }, s.ticker)),
        h("td.num", int(s.rows)),
        h("td.muted", s.first_date),
        h("td", s.last_date),
        cells,
        h("td.actions", h("a.small", { href: `${link}/train` }, "train"), " ", h("a.small", { href: `${link}/models` }, "models")));
    })));
}

// The ticker rule comes from the server (GET /config), never from a copy here.
function tickerFromName(name, rule) {
  const stem = name.replace(/\.[^.]*$/, "").toUpperCase();
  return rule ? stem.replace(new RegExp(`[^${rule.characters}]`, "g"), "_").slice(0, rule.max_length) : stem;
}

/** The upload form; `after` runs when an upload succeeds. */
function uploadBox(after) {
  const tickerInput = h("input#upload-ticker", { name: "ticker", required: true, placeholder: "e.g. IBM", spellcheck: "false", autocomplete: "off" });
  const rule = rules().then((r) => { tickerInput.maxLength = r.ticker.max_length; return r.ticker; }).catch(() => null);
  const fileInput = h("input#upload-file", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
  const mode = h("select#upload-mode", { name: "mode" },
    h("option", { value: "merge" }, "merge into the series"),
    h("option", { value: "replace" }, "replace the whole series"));
  const button = h("button.btn.primary", { type: "submit" }, "Upload");
  const report = h("div.report", { "data-testid": "upload-report", "aria-live": "polite" });
  const drop = h("label.drop", { for: "upload-file" },
    h("span.drop-title", "Choose a CSV file"), h("span.muted", " or drop it here"), fileInput);
  let autoTicker = true;
  tickerInput.addEventListener("input", () => { autoTicker = tickerInput.value === ""; });
  const picked = async () => {
    const file = fileInput.files[0];
    drop.querySelector(".drop-title").textContent = file ? `${file.name} (${bytes(file.size)})` : "Choose a CSV file";
    if (file && autoTicker) tickerInput.value = tickerFromName(file.name, await rule);
  };
  fileInput.addEventListener("change", picked);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) { fileInput.files = e.dataTransfer.files; picked(); }
  });

  const form = h("form.upload", { "data-testid": "upload-form" },
    h("div.field", h("label", { for: "upload-ticker" }, "Ticker"), tickerInput),
    h("div.field.grow", h("span.label", "File"), drop),
    h("div.field", h("label", { for: "upload-mode" }, "Mode"), mode),
    h("div.field", h("span.label", "\u00a0"), button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = fileInput.files[0];
    const ticker = tickerInput.value.trim();
    if (!file || !ticker) return;
    const r = await rule;
    if (r && !new RegExp(r.pattern).test(ticker)) {
      clear(report, h("div.rejected", { "data-result": "rejected" },
        h("p", h("strong", `${ticker} is not a ticker: `), `use ${r.description}.`)));
      return;
    }
    button.disabled = true;
    clear(report, loading(`Uploading ${file.name}…`));
    try {
      const result = await api.upload(ticker, file, mode.value);
      clear(report, successReport(result));
      after();
    } catch (error) {
      clear(report, rejectionReport(error, file.name));
    } finally {
      button.disabled = false;
    }
  });
  return card("upload", "Upload a CSV",
    h("p.muted", "A header row with ", h("code", "date,close"), " and optionally ",
      h("code", "open,high,low,adj_close,volume"), "; one row per trading day. Merging adds new dates and " +
      "updates changed ones; a file with any bad row is rejected whole, and the report below names each one."),
    form, report);
}

function successReport(r) {
  const parts = [`${int(r.rows_inserted)} inserted`, `${int(r.rows_updated)} updated`, `${int(r.rows_unchanged)} unchanged`];
  if (r.rows_deleted) parts.push(`${int(r.rows_deleted)} deleted`);
  const link = `#/t/${encodeURIComponent(r.ticker)}`;
  return h("div.ok", { "data-result": "accepted" },
    h("p", h("strong", `${r.ticker}: stored ${plural(r.rows_received, "row")}`), ` (${parts.join(", ")}), `,
      `${r.first_date} → ${r.last_date}, revision ${r.revision}.`),
    r.warnings.length ? h("ul.warnings", r.warnings.map((w) => h("li", typeof w === "string" ? w : JSON.stringify(w)))) : null,
    h("p", h("a.btn.small", { href: link }, `Open ${r.ticker}`), " ", h("a.btn.small.primary", { href: `${link}/train` }, `Train ${r.ticker}`)));
}

function rejectionReport(error, filename) {
  const rows = error instanceof ApiError && Array.isArray(error.details?.rows) ? error.details.rows : null;
  const omitted = error.details?.omitted || 0;
  return h("div.rejected", { "data-result": "rejected" },
    h("p", h("strong", `Rejected ${filename}, nothing was stored: `), describe(error).replace(/;? ?nothing was stored\.?$/, "")),
    rows ? h("table.grid.compact.problems", { "data-testid": "upload-problems" },
      h("thead", h("tr", h("th.num", "Line"), h("th", "Column"), h("th", "Value"), h("th", "Problem"))),
      h("tbody", rows.map((row) => h("tr",
        h("td.num", row.line ?? "—"), h("td", row.column ?? "—"),
        h("td", h("code", row.value == null ? "(empty)" : String(row.value))), h("td", row.reason))))) : null,
    omitted ? h("p.muted", `…and ${plural(omitted, "more bad row")} not listed.`) : null);
}
