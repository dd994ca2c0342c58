// Shared bits of the page: the banner, error wording, status pills and small tables.

import { ApiError, getKey } from "./api.js";
import { h, clear } from "./dom.js";

/** Show a message above the page; `kind` is "error" or "info". */
export function showBanner(message, kind = "error") {
  const banner = document.getElementById("banner");
  banner.className = `banner ${kind}`;
  clear(banner, h("span", message),
    h("button.close", { type: "button", "aria-label": "dismiss", onclick: hideBanner }, "×"));
  banner.hidden = false;
}

export function hideBanner() { document.getElementById("banner").hidden = true; }

export function authMessage(error) {
  const why = error.status === 403
    ? "This API key may only read"
    : getKey() ? "The saved API key was refused" : "This server needs an API key";
  return `${why} (${error.status} ${error.code}: ${error.message}). ` +
    "Paste a valid key in the “API key” field at the top right and press Save.";
}

/** A one-line description of a failed request, for banners and inline notes. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error?.message || error);
  if (error.isAuth) return authMessage(error);
  return error.status >= 500 && error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
}

export function pill(status) {
  return h(`span.pill.s-${status}`, { "data-status": status }, status);
}

/** The verdict against persistence, in words, as a badge. */
export function edgeBadge(noEdge) {
  if (noEdge == null) return h("span.badge.muted", "—");
  return noEdge
    ? h("span.badge.noedge", { title: "On its test days this model did not beat 'tomorrow = today' by more than noise" }, "no edge")
    : h("span.badge.edge", { title: "On its test days this model beat 'tomorrow = today'" }, "beats persistence");
}

export function trendMark(trend) {
  const arrow = trend === "up" ? "▲" : trend === "down" ? "▼" : "▬";
  return h(`span.trend.t-${trend || "flat"}`, `${arrow} ${trend || "flat"}`);
}

/** A card with a title and body. */
export function card(cls, title, ...body) {
  return h(`section.card${cls ? "." + cls : ""}`, title ? h("h2", title) : null, ...body);
}

export function loading(text = "Loading…") {
  return h("p.muted.loading", text);
}
