// The page: a hash router over three kinds of view, the API-key field and the error banner.

import { api, getKey, setKey, onAuthError } from "./api.js";
import { h, clear } from "./dom.js";
import { authMessage, describe, hideBanner, showBanner } from "./ui.js";
import { tickersView } from "./tickers.js";
import { tickerView } from "./ticker.js";

const main = document.getElementById("main");
let current = null;  // the view on screen: { alive, cleanup }

function wireKeyField() {
  const form = document.getElementById("keybox");
  const input = document.getElementById("api-key");
  const state = document.getElementById("api-key-state");
  const show = () => {
    state.textContent = getKey() ? "saved in this browser" : "none";
    input.value = getKey();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setKey(input.value.trim());
    form.classList.remove("attention");
    hideBanner();
    show();
    route();
  });
  document.getElementById("api-key-forget").addEventListener("click", () => {
    setKey("");
    show();
    route();
  });
  onAuthError((error) => {
    form.classList.add("attention");
    showBanner(authMessage(error));
  });
  show();
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "t" && parts[1]) return { view: "ticker", ticker: parts[1], tab: parts[2] || "overview" };
  return { view: "tickers" };
}

async function route() {
  if (current?.cleanup) current.cleanup();
  const r = parseRoute();
  const crumbs = document.getElementById("crumbs");
  clear(crumbs, h("a", { href: "#/" }, "Tickers"), r.view === "ticker" ? [h("span.sep", "/"), h("strong", r.ticker)] : null);
  document.title = r.view === "ticker" ? `${r.ticker} · pricecast` : "pricecast";
  const view = { cleanup: null, alive: true };
  current = view;
  const ctx = { alive: () => view.alive && current === view, onCleanup: (fn) => { view.cleanup = chain(view.cleanup, fn); } };
  view.cleanup = () => { view.alive = false; };
  try {
    if (r.view === "ticker") await tickerView(main, r, ctx);
    else await tickersView(main, ctx);
  } catch (error) {
    if (!ctx.alive()) return;
    if (error.isAuth) {
      // The banner says what the server refused; here, only what to do about it.
      clear(main, h("section.card.empty", h("h2", "An API key is needed"),
        h("p.muted", "Paste a key in the field at the top right and press Save. It is kept in this browser only " +
          "and sent to this server with every request.")));
      document.getElementById("api-key").focus();
      return;
    }
    clear(main, h("section.card", h("h1", "Something went wrong"), h("p.error", describe(error)),
      h("p", h("a", { href: "#/" }, "Back to the tickers"))));
  }
}

function chain(a, b) { return () => { b(); if (a) a(); }; }

wireKeyField();
window.addEventListener("hashchange", route);
route();
// For tests and the curious: the same client the page uses.
window.pricecast = { api };
