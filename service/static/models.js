// The models tab: every kept version side by side, each next to persistence; activate one.

import { api } from "./api.js";
import { h, clear, fixed, num, pct, signedPct, int, when } from "./dom.js";
import { card, describe, edgeBadge, loading, pill } from "./ui.js";

export async function modelsTab(body, ticker, ctx) {
  const box = h("div", loading());
  const note = h("p.form-note", { "aria-live": "polite" });
  clear(body, card("models", "Model versions",
    h("p.muted", "Each version is scored on its own test days (the last fifth of the data it was trained on), " +
      "always next to persistence. The active version answers forecasts; activating another takes effect at once."),
    note, box));

  async function refresh() {
    const { models } = await api.models(ticker);
    if (!ctx.alive()) return;
    if (!models.length) {
      clear(box, h("p", "No versions yet. ", h("a", { href: `#/t/${encodeURIComponent(ticker)}/train` }, `Train ${ticker}`), "."));
      return;
    }
    clear(box, h("div.scroll", versionTable(models.slice().sort((a, b) => b.version - a.version), activate)));
  }

  async function activate(model, button) {
    button.disabled = true;
    note.textContent = `Activating v${model.version}…`;
    try {
      await api.activate(ticker, model.version);
      note.textContent = `v${model.version} is now active: forecasts for ${ticker} come from it.`;
      await refresh();
    } catch (error) {
      note.textContent = describe(error);
      button.disabled = false;
    }
  }

  await refresh();
}

const ROWS = [  // [label, (model) -> cell content, section?]
  ["Status", (m) => pill(m.status)],
  ["", (m) => (m.status === "active"
    ? h("span.muted.small", "serving forecasts")
    : h("button.btn.small", { type: "button", "data-activate": m.version, disabled: m.status === "broken" || null }, "Activate"))],
  ["Trained", (m) => when(m.trained_at)],
  ["Data", (m) => `${m.data_start} → ${m.data_end} (${int(m.n_rows)} rows)`],
  ["Settings", (m) => `window ${m.config.window}, ${m.config.layers}×${m.config.hidden_size} LSTM, dropout ${m.config.dropout}, seed ${m.seed}`],
  ["Epochs run", (m) => `${int(m.metrics.epochs_run)} (best ${int(m.metrics.best_epoch)})`],
  ["Test days", (m) => `${int(m.comparison?.n_test)}: ${m.comparison?.test_start} → ${m.comparison?.test_end}`],
  ["Verdict", (m) => edgeBadge(m.comparison?.no_edge)],
  ["§Price error (lower is better)"],
  ["RMSE, model", (m) => num(m.comparison?.model.rmse), "model"],
  ["RMSE, persistence", (m) => num(m.comparison?.persistence.rmse), "persistence"],
  ["RMSE skill vs persistence", (m) => signedPct(m.comparison?.skill_rmse)],
  ["MAE, model", (m) => num(m.comparison?.model.mae), "model"],
  ["MAE, persistence", (m) => num(m.comparison?.persistence.mae), "persistence"],
  ["MASE, model / persistence", (m) => `${num(m.comparison?.model.mase, 3)} / ${num(m.comparison?.persistence.mase, 3)}`],
  ["§Direction"],
  ["Direction right, model", (m) => pct(m.comparison?.model.directional_accuracy), "model"],
  ["Base rate (training majority)", (m) => (m.comparison?.base_rate
    ? `${pct(m.comparison.base_rate.directional_accuracy)} (always ${m.comparison.base_rate.direction})` : "—"), "persistence"],
  ["Always “up”", (m) => pct(m.comparison?.always_up.directional_accuracy), "persistence"],
  ["Noise band", (m) => `±${pct(m.comparison?.direction_noise_band)}`],
  ["§Calibration"],
  ["Brier score", (m) => fixed(m.comparison?.model.brier, 3), "model"],
  ["Brier score, base rate", (m) => fixed(m.comparison?.base_rate?.brier, 3), "persistence"],
  ["80% band covered / EWMA", (m) => `${pct(m.comparison?.model.coverage_80)} / ${pct(m.comparison?.ewma?.coverage_80)}`],
  ["95% band covered / EWMA", (m) => `${pct(m.comparison?.model.coverage_95)} / ${pct(m.comparison?.ewma?.coverage_95)}`],
  ["80% band width / EWMA", (m) => `${fixed(m.comparison?.model.width_80, 2)}% / ${fixed(m.comparison?.ewma?.width_80, 2)}%`],
  ["95% band width / EWMA", (m) => `${fixed(m.comparison?.model.width_95, 2)}% / ${fixed(m.comparison?.ewma?.width_95, 2)}%`],
  ["§Registry"],
  ["Promotion", (m) => h("span.small", m.promotion || "—")],
  ["Job", (m) => (m.job_id != null ? `#${m.job_id}` : "—")],
];

function versionTable(models, activate) {
  const table = h("table.grid.versions", { "data-testid": "versions" },
    h("thead", h("tr", h("th", "Version"), models.map((m) =>
      h(`th.version${m.status === "active" ? ".active" : ""}`, { "data-version": m.version }, `v${m.version}`)))),
    h("tbody", ROWS.map(([label, cell, cls]) => (label.startsWith("§")
      ? h("tr.section", h("th", { colspan: models.length + 1 }, label.slice(1)))
      : h(`tr${cls ? "." + cls : ""}`, h("th", label), models.map((m) =>
        h(`td${m.status === "active" ? ".active" : ""}`, { "data-version": m.version }, cell(m))))))));
  table.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-activate]");
    if (!button) return;
    const version = Number(button.dataset.activate);
    activate(models.find((m) => m.version === version), button);
  });
  return table;
}
