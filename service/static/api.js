// The JSON API client: same origin, relative URLs, the API key from this browser only.

const KEY_STORAGE = "pricecast.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_" + status;
    this.details = err.details ?? null;
    this.requestId = body && body.request_id;
  }
  get isAuth() { return this.status === 401 || this.status === 403; }
}

export function getKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch { /* storage disabled: the key lives only for this page */ }
}

const listeners = new Set();
/** Call fn(error) whenever a request is refused for want of a valid key. */
export function onAuthError(fn) { listeners.add(fn); }

/** Send one request; resolve to the parsed JSON body, or throw ApiError. */
export async function request(method, path, { json, body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal };
  const key = getKey();
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  // Relative to the page, so the app also works below a path prefix behind a proxy.
  const url = new URL(path.replace(/^\//, ""), document.baseURI);
  let response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, { error: { code: "network", message: `cannot reach the server (${exc.message})` } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { message: text.slice(0, 200) } }; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (error.isAuth) listeners.forEach((fn) => fn(error));
    throw error;
  }
  return data;
}

export const t = (ticker) => encodeURIComponent(ticker);

let rulesPromise = null;
/** The server's input rules (GET /config: ticker pattern, levels, training bounds), fetched once. */
export function rules() {
  rulesPromise ??= request("GET", "config").catch((error) => { rulesPromise = null; throw error; });
  return rulesPromise;
}

export const api = {
  /** A page of tickers by symbol: { series, total, next }; pass `next` back as `after`. */
  listSeries: ({ prefix = "", after = "", limit = 0 } = {}) => {
    const q = new URLSearchParams();
    if (prefix) q.set("prefix", prefix);
    if (after) q.set("after", after);
    if (limit) q.set("limit", String(limit));
    return request("GET", "series" + (q.size ? `?${q}` : ""));
  },
  getSeries: (ticker, limit) => request("GET", `series/${t(ticker)}` + (limit ? `?limit=${limit}` : "")),
  upload: (ticker, file, mode = "merge") => {
    const form = new FormData();
    form.append("file", file, file.name || "upload.csv");
    return request("POST", `series/${t(ticker)}?mode=${mode}`, { body: form });
  },
  train: (ticker, params) => request("POST", `series/${t(ticker)}/train`, { json: params }),
  job: (id) => request("GET", `jobs/${id}`),
  jobs: (ticker, limit = 10) => request("GET", `jobs?ticker=${t(ticker)}&limit=${limit}`),
  cancel: (id) => request("POST", `jobs/${id}/cancel`),
  models: (ticker) => request("GET", `series/${t(ticker)}/models`),
  backtest: (ticker, version) => request("GET", `series/${t(ticker)}/models/${version}/backtest`),
  activate: (ticker, version) => request("POST", `series/${t(ticker)}/models/${version}/activate`),
  forecast: (ticker) => request("POST", "forecast", { json: { ticker } }),
  forecasts: (tickers) => request("POST", "forecast", { json: { tickers } }),
  accuracy: (ticker) => request("GET", `series/${t(ticker)}/accuracy`),
};
