// The training tab: start a job, follow its progress and loss curves live, cancel it.

import { api, ApiError, rules } from "./api.js";
import { Chart } from "./charts.js";
import { h, clear, int, num, seconds, when } from "./dom.js";
import { card, describe, loading, pill } from "./ui.js";

const PARAMS = [  // [name, label, step, hint]
  ["epochs", "Epochs", "1", "at most this many passes over the data"],
  ["patience", "Patience", "1", "stop after this many epochs without a better validation loss"],
  ["window", "Window", "1", "days of returns the network sees"],
  ["hidden_size", "Hidden size", "1", "LSTM units per layer"],
  ["layers", "Layers", "1", ""],
  ["dropout", "Dropout", "0.05", ""],
  ["batch_size", "Batch size", "1", ""],
  ["lr", "Learning rate", "any", ""],
  ["seed", "Seed", "1", "same data, settings and seed give the same model"],
];
const POLL_MS = 400;
const LIVE = new Set(["queued", "running"]);

export async function trainingTab(body, ticker, ctx) {
  const inputs = Object.fromEntries(PARAMS.map(([name, , step]) =>
    [name, h("input", { id: `param-${name}`, name, type: "number", step, min: "0", placeholder: "default" })]));
  // Bounds and defaults are the server's (GET /config); the server checks them again anyway.
  rules().then((r) => {
    for (const [name, input] of Object.entries(inputs)) {
      const bound = r.training[name];
      if (!bound) continue;
      Object.assign(input, { min: String(bound.min), max: String(bound.max) });
      if (bound.default != null) input.placeholder = `default ${bound.default}`;
    }
  }).catch(() => {});
  const start = h("button.btn.primary", { type: "submit", "data-testid": "start-training" }, `Train ${ticker}`);
  const note = h("span.form-note", { "aria-live": "polite" });
  const form = h("form.train-form",
    h("details.params",
      h("summary", "Parameters (blank fields use the server's defaults)"),
      h("div.param-grid", PARAMS.map(([name, label, , hint]) =>
        h("div.field", h("label", { for: `param-${name}` }, label), inputs[name], hint ? h("span.hint", hint) : null)))),
    h("div.actions", start, note));

  const jobBox = h("div.job", { "data-testid": "job" }, h("p.muted", "No training job yet for this ticker."));
  const historyBox = h("div", loading());
  clear(body,
    card("train", "Train a new model",
      h("p.muted", "Training runs on the server's job queue, never in this page; you can close it and come back. " +
        "When the job succeeds the new version becomes active only if the server's promotion policy says it " +
        "is better than the current one."),
      form),
    card("jobcard", null, jobBox),
    card("history", "Recent jobs", historyBox));

  let shown = null;   // the job on screen
  let timer = 0;
  let chart = null;
  let chartBox = null;  // the loss chart's element, kept across polls of the same job
  ctx.onCleanup(() => { clearTimeout(timer); chart?.destroy(); });

  const follow = (job) => {
    clearTimeout(timer);
    showJob(job);
    if (LIVE.has(job.status)) timer = setTimeout(() => poll(job.id), POLL_MS);
    else refreshHistory();
  };
  const poll = async (id) => {
    if (!ctx.alive()) return;
    try {
      const job = await api.job(id);
      if (ctx.alive() && shown?.id === id) follow(job);
    } catch (error) {
      if (!ctx.alive()) return;
      const wait = error instanceof ApiError && error.status === 429 ? 2000 : 1500;
      note.textContent = `Lost touch with job ${id}: ${describe(error)}; retrying.`;
      timer = setTimeout(() => poll(id), wait);
    }
  };

  function showJob(job) {
    if (shown?.id !== job.id) {
      chart?.destroy();
      chart = null;
      chartBox = h("div.loss-chart", { "data-testid": "loss-chart" });
    }
    if (shown && shown.id === job.id && shown.status !== job.status) refreshHistory();
    shown = job;
    // The table's row for this job shows what the card shows: it was drawn when the list was
    // last fetched, and a running job's progress moves on every poll.
    const row = historyBox.querySelector(`tr[data-job="${job.id}"]`);
    if (row) row.replaceWith(jobRow(job, follow));
    const p = job.progress || {};
    const fraction = p.max_epochs ? Math.min(p.epoch / p.max_epochs, 1) : 0;
    const live = LIVE.has(job.status);
    const cancel = live && !job.cancel_requested
      ? h("button.btn.danger", { type: "button", "data-testid": "cancel-job", onclick: () => cancelJob(job) }, "Cancel")
      : null;
    const stats = [
      ["Epoch", `${int(p.epoch ?? 0)} / ${int(p.max_epochs)}`],
      ["Elapsed", seconds(p.elapsed_s)],
      ["ETA", live ? (job.status === "queued" ? "waiting for a worker" : seconds(p.eta_s)) : "—"],
      ["Train loss", num(p.train_loss)],
      ["Validation loss", num(p.val_loss)],
    ];
    clear(jobBox,
      h("div.job-head", h("strong", `Job ${job.id}`), " ", pill(job.status),
        job.cancel_requested && live ? h("span.muted", " stopping after this epoch…") : null, cancel),
      h("div.progress", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(p.max_epochs || 0),
        "aria-valuenow": String(p.epoch || 0) },
        h(`div.bar${live ? ".live" : ""}`, { "data-fraction": fraction.toFixed(3) })),
      h("dl.stats", stats.map(([k, v]) => h("div", h("dt", k), h("dd", { "data-stat": k.toLowerCase() }, v)))),
      job.message ? h("p.job-message", job.message) : null,
      job.error ? h("p.error", job.error) : null,
      job.status === "succeeded" && job.model_version != null
        ? h("p", h("a.btn.small", { href: `#/t/${encodeURIComponent(job.ticker)}/models` }, `Compare v${job.model_version} with the other versions`),
          " ", h("a.btn.small", { href: `#/t/${encodeURIComponent(job.ticker)}` }, "See the forecast"))
        : null,
      h("h3", "Loss per epoch"),
      chartBox);
    // The bar's width is set through the CSSOM: the page's CSP forbids inline style attributes.
    jobBox.querySelector(".bar").style.width = `${(fraction * 100).toFixed(1)}%`;
    const hist = job.history || [];
    if (!chart) chart = new Chart(chartBox, { height: 220, xKind: "number", yFormat: (v) => num(v, 3), label: "training and validation loss per epoch" });
    if (hist.length) {
      chart.setData({
        x: hist.map((e) => e.epoch),
        series: [
          { label: "train", values: hist.map((e) => e.train_loss), cls: "train" },
          { label: "validation", values: hist.map((e) => e.val_loss), cls: "val" },
        ],
      });
    }
    chartBox.dataset.epochs = String(hist.length);
    chartBox.hidden = !hist.length;
  }

  async function cancelJob(job) {
    try {
      follow(await api.cancel(job.id));
    } catch (error) {
      note.textContent = describe(error);
      poll(job.id);
    }
  }

  async function refreshHistory() {
    try {
      const { jobs } = await api.jobs(ticker, 10);
      if (!ctx.alive()) return;
      clear(historyBox, jobs.length ? jobTable(jobs, (job) => follow(job)) : h("p.muted", "None yet."));
      return jobs;
    } catch (error) {
      if (ctx.alive()) clear(historyBox, h("p.error", describe(error)));
      return [];
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const params = {};
    for (const [name, input] of Object.entries(inputs)) if (input.value !== "") params[name] = Number(input.value);
    start.disabled = true;
    note.textContent = "";
    try {
      const job = await api.train(ticker, params);
      note.textContent = LIVE.has(job.status) && shown?.id === job.id ? "That job is already under way." : "";
      follow(job);
      refreshHistory();
    } catch (error) {
      note.textContent = describe(error);
    } finally {
      start.disabled = false;
    }
  });

  const jobs = await refreshHistory();
  if (ctx.alive() && jobs.length) follow(jobs.find((j) => LIVE.has(j.status)) || jobs[0]);
}

function jobTable(jobs, open) {
  return h("table.grid.compact.jobs-table",
    h("thead", h("tr", ["Job", "Status", "Created", "Epochs", "Best val loss", "Model", "Message"].map((c) => h("th", c)))),
    h("tbody", jobs.map((j) => jobRow(j, open))));
}

function jobRow(j, open) {
  const best = (j.history || []).reduce((m, e) => (Number.isFinite(e.val_loss) && e.val_loss < m ? e.val_loss : m), Infinity);
  return h("tr.clickable", { "data-job": j.id, tabindex: "0", onclick: () => open(j),
    onkeydown: (e) => { if (e.key === "Enter") open(j); } },
    h("td", `#${j.id}`), h("td", pill(j.status)), h("td", when(j.created_at)),
    h("td", { "data-col": "epochs" }, `${int(j.progress?.epoch ?? 0)} / ${int(j.progress?.max_epochs)}`),
    h("td", Number.isFinite(best) ? num(best) : "—"),
    h("td", j.model_version != null ? `v${j.model_version}` : "—"),
    h("td.small", j.error || j.message || ""));
}
