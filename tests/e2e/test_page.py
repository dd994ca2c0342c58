"""The web page in a real browser: headless Chromium (Debian's package) driven by Playwright,
against a real `pricecast serve` process.

A user's path through the page: a rejected upload and its report, an accepted upload, training
with live progress and loss curves, cancel, the forecast band, activating a version; then the
5,000-point chart's speed, the API-key field, and the caching headers. Screenshots of each view
go to test-artifacts/page/; with PRICECAST_SCREENSHOTS_TO_DOCS=1 they are also copied into
docs/screenshots/ (that is how the committed ones are made).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import data_file
from tests.e2e.server import ROOT, ServerProcess
from tests.e2e.test_jobs import train, upload, wait_for, finished

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("PRICECAST_CHROMIUM", "/usr/bin/chromium"))
# Without these the browser stalls on the closed network or on first-run work.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "page"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1360, "height": 900}
BAD_CSV = b"date,close\n2024-01-02,101.5\n2024-01-03,abc\n2024-13-01,5\n2024-01-05,-3\n"
KEY = "page-test-key-0123456789-abcdefghijklmnop"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium, or set PRICECAST_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


class Browser:
    """One Chromium with a fresh profile; records page errors, CSP reports and every URL asked for."""

    def __init__(self, playwright, profile: Path) -> None:
        self.context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT)
        self.context.set_default_timeout(30_000)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.requests: list[tuple[str, dict]] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("console", self._console)
        self.page.on("request", lambda r: (self.urls.append(r.url), self.requests.append((r.url, r.headers))))

    def _console(self, message) -> None:
        # A 4xx the page handles (a rejected upload, a ticker with no model) is logged as a failed
        # resource; anything else at error level, a CSP violation included, is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser(playwright, tmp_path) -> Iterator[Browser]:
    b = Browser(playwright, tmp_path / "profile")
    yield b
    b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("page")
    with ServerProcess(tmp / "server.log", data_dir=str(tmp / "var")) as s:
        yield s


def shoot(browser: Browser, name: str, *, to_docs: bool = True) -> Path:
    """Save a full-page screenshot, check it is not blank, and copy it to docs/ when asked to."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    browser.page.screenshot(path=str(path), full_page=True)
    colours = distinct_colours(browser, path)
    assert colours > 200, f"{path} looks blank: {colours} distinct colours"
    if to_docs and os.environ.get("PRICECAST_SCREENSHOTS_TO_DOCS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / f"{name}.png")
    return path


def distinct_colours(browser: Browser, png: Path) -> int:
    """Decode the PNG in a blank tab and count its distinct RGB colours."""
    tab = browser.context.new_page()
    try:
        return tab.evaluate("""async (data) => {
            const img = new Image();
            img.src = "data:image/png;base64," + data;
            await img.decode();
            const c = document.createElement("canvas");
            c.width = img.width; c.height = img.height;
            const g = c.getContext("2d");
            g.drawImage(img, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < px.length; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
            return seen.size;
        }""", base64.b64encode(png.read_bytes()).decode())
    finally:
        tab.close()


def job_status(page) -> str:
    return page.locator("[data-testid=job] .job-head .pill").get_attribute("data-status")


def start_training(page, **params) -> None:
    page.locator("details.params summary").click()
    for name, value in params.items():
        page.fill(f"#param-{name}", str(value))
    page.click("[data-testid=start-training]")


def wait_status(page, statuses: str, timeout: float = 120_000) -> None:
    selector = ", ".join(f"[data-testid=job] .job-head .pill[data-status={s}]" for s in statuses.split())
    page.wait_for_selector(selector, timeout=timeout)


@pytest.fixture
def api(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_upload_train_watch_forecast_and_activate(server, browser, api):
    page = browser.page
    page.goto(server.url + "/")
    page.wait_for_selector("text=No series yet.")

    # A bad file: rejected whole, every bad row on its own line, nothing stored.
    page.set_input_files("#upload-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD_CSV}])
    # taken from the file name, with the server's ticker rule (GET /config)
    page.wait_for_function("() => document.querySelector('#upload-ticker').value === 'BAD'")
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("[data-result=rejected]")
    rows = page.locator("[data-testid=upload-problems] tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in rows] == [["3", "close"], ["4", "date"], ["5", "close"]], rows
    assert "not a number" in rows[0] and "month must be in 1..12" in rows[1] and "must be > 0" in rows[2]
    assert "nothing was stored" in page.inner_text("[data-result=rejected]")
    assert api.get("/series").json()["series"] == []
    shoot(browser, "upload-rejected")

    # A good one: the report, then the ticker in the list.
    ibm = data_file("IBM.csv")
    page.set_input_files("#upload-file", str(ibm))
    page.wait_for_function("() => document.querySelector('#upload-ticker').value === 'IBM'")
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("[data-result=accepted]")
    n_rows = len(ibm.read_text().strip().splitlines()) - 1
    assert f"IBM: stored {n_rows:,} rows ({n_rows:,} inserted" in page.inner_text("[data-result=accepted]")
    page.wait_for_selector("tr[data-ticker=IBM]")
    assert "none yet" in page.inner_text("tr[data-ticker=IBM]")

    # Train it from the page and watch the job reach `succeeded`.
    page.click("[data-result=accepted] >> text=Train IBM")
    page.wait_for_selector("[data-testid=start-training]")
    start_training(page, epochs=8, patience=8)
    wait_status(page, "succeeded")
    job = api.get("/jobs", params={"ticker": "IBM"}).json()["jobs"][0]
    assert job["status"] == "succeeded" and job["model_version"] == 1
    epochs = job["progress"]["epoch"]
    assert page.inner_text("[data-stat=epoch]") == f"{epochs} / 8"
    assert page.get_attribute("[data-testid=loss-chart]", "data-epochs") == str(epochs)
    lines = page.locator("[data-testid=loss-chart] path.series")
    assert lines.count() == 2 and {lines.nth(i).get_attribute("data-label") for i in range(2)} == {"train", "validation"}
    assert "version 1" in page.inner_text("[data-testid=job]")

    # A long job: progress and the loss curves move while it runs; then cancel it.
    page.fill("#param-epochs", "1000")  # small batches: many steps per epoch, so it runs until cancelled
    page.fill("#param-patience", "1000")
    page.fill("#param-batch_size", "8")
    page.fill("#param-seed", "7")
    page.click("[data-testid=start-training]")
    page.wait_for_function("""() => {
        const pill = document.querySelector('[data-testid=job] .pill');
        const stat = document.querySelector('[data-stat=epoch]');
        return pill && pill.dataset.status === 'running' && stat && parseInt(stat.textContent) >= 2;
    }""", timeout=120_000)
    first = int(page.get_attribute("[data-testid=loss-chart]", "data-epochs"))
    # The "Recent jobs" row of the running job moves with the card (it once stayed at "0 / 1,000").
    page.wait_for_function("""() => {
        const id = document.querySelector('[data-testid=job] .job-head strong').textContent.replace('Job ', '');
        const cell = document.querySelector(`tr[data-job="${id}"] td[data-col=epochs]`);
        const stat = document.querySelector('[data-stat=epoch]');
        return cell && parseInt(cell.textContent) >= 2 && cell.textContent === stat.textContent;
    }""", timeout=10_000)
    page.wait_for_function(f"""() => parseInt(document.querySelector('[data-testid=loss-chart]').dataset.epochs) > {first}""")
    assert re.search(r"\d", page.inner_text("[data-stat=eta]")), "no ETA while running"
    shoot(browser, "training")
    page.click("[data-testid=cancel-job]")
    wait_status(page, "cancelled")
    assert api.get("/jobs", params={"ticker": "IBM", "limit": 1}).json()["jobs"][0]["status"] == "cancelled"

    # The overview: the forecast and its bands drawn after the last price.
    page.click("a.tab[data-tab=overview]")
    band80 = page.wait_for_selector("[data-testid=price-chart] g.forecast path.band[data-level='80']")
    forecast = api.post("/forecast", json={"ticker": "IBM"}).json()
    geometry = page.evaluate("""() => {
        const root = document.querySelector('[data-testid=price-chart]');
        const box = (sel) => { const b = root.querySelector(sel).getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
        const d = root.querySelector('path.series.actual').getAttribute('d');
        const last = d.match(/([\\d.]+),([\\d.]+)$/);
        return { b80: box("path.band[data-level='80']"), b95: box("path.band[data-level='95']"),
                 point: box('circle.forecast-point'), lastX: +last[1], lastY: +last[2] };
    }""")
    assert band80.get_attribute("d")
    b80, b95 = geometry["b80"], geometry["b95"]
    assert abs(b80[0] - geometry["lastX"]) < 1 and b80[2] > geometry["lastX"] + 20  # starts at the last price, drawn after it
    assert b95[1] < b80[1] and b95[3] > b80[3]  # the 95% band is wider than the 80% band
    assert b80[1] <= geometry["point"][1] and geometry["point"][3] <= b80[3] + 5  # the forecast sits inside it
    assert page.text_content("[data-testid=price-chart] .forecast-date") == forecast["target_date"]
    shown = page.inner_text("[data-testid=predicted-price]").split()[0].replace(",", "")
    assert float(shown) == pytest.approx(forecast["predicted_price"], abs=0.006)
    # model, persistence, drift, base rate, always up, EWMA band; widths next to the EWMA band's
    assert page.locator("[data-testid=metrics] tr[data-metric=rmse] td").count() == 6
    width = page.locator("[data-testid=metrics] tr[data-metric=width_80] td").all_inner_texts()
    assert width[0].endswith("%") and width[5].endswith("%") and width[1] == "—"
    assert page.locator("[data-testid=backtest-chart] path.series").count() == 3  # actual, model, persistence
    verdict = page.inner_text("[data-testid=verdict]")
    assert ("No edge" in verdict) == forecast["no_edge"]
    shoot(browser, "overview-ibm", to_docs=False)

    # A second version, then activate whichever one is not active.
    page.click("a.tab[data-tab=train]")
    page.wait_for_selector("[data-testid=start-training]")
    start_training(page, epochs=8, patience=8, seed=3)
    page.wait_for_function("() => /version 2/.test(document.querySelector('[data-testid=job]').textContent)",
                           timeout=120_000)
    page.click("a.tab[data-tab=models]")
    page.wait_for_selector("[data-testid=versions] th[data-version='2']")
    active = {m["version"] for m in api.get("/series/IBM/models").json()["models"] if m["status"] == "active"}
    target = 1 if active == {2} else 2
    page.click(f"button[data-activate='{target}']")
    page.wait_for_selector(f"td[data-version='{target}'] .pill[data-status=active]")
    statuses = {m["version"]: m["status"] for m in api.get("/series/IBM/models").json()["models"]}
    assert statuses[target] == "active" and list(statuses.values()).count("active") == 1
    assert f"v{target} is now active" in page.inner_text(".card.models")
    shoot(browser, "models")

    page.click("a.brand")
    page.wait_for_selector("tr[data-ticker=IBM] .trend")
    assert f"v{target}" in page.inner_text("tr[data-ticker=IBM]")

    assert browser.errors == []
    offsite = [u for u in browser.urls if not u.startswith(server.url + "/") and not u.startswith("data:")]
    assert offsite == [], "the page must work offline"


def test_price_chart_is_fast_on_5000_points(server, browser, api):
    upload(api, "SPX", "SPX.csv")
    assert wait_for(api, train(api, "SPX", epochs=8)["id"], finished)[-1]["status"] == "succeeded"
    n = next(s["rows"] for s in api.get("/series").json()["series"] if s["ticker"] == "SPX")
    assert n >= 5000
    page = browser.page
    page.goto(server.url + "/#/t/SPX")
    page.wait_for_selector("[data-testid=price-chart] g.forecast path.band[data-level='95']")
    page.wait_for_selector("[data-testid=backtest-chart] path.series.model")
    timings = page.evaluate("() => window.pricecast.timings")
    assert timings["points"] == n
    shoot(browser, "overview")
    render_ms = []
    for label in ("All", "5Y", "1M", "All", "3M", "All"):
        before = int(page.get_attribute("[data-testid=price-chart]", "data-rendered"))
        page.click(f"[data-testid=price-chart] button[data-range='{label}']")
        page.wait_for_function(f"() => document.querySelector('[data-testid=price-chart]').dataset.rendered > {before}")
        render_ms.append(float(page.get_attribute("[data-testid=price-chart]", "data-render-ms")))
        window = page.get_attribute("[data-testid=price-chart]", "data-window")
        if label == "All":
            assert window == f"0:{n - 1}"
            drawn = int(page.get_attribute("[data-testid=price-chart] path.series.actual", "data-points"))
            assert drawn <= 2 * VIEWPORT["width"], f"{drawn} points drawn for a chart narrower than {VIEWPORT['width']}px"
    assert max(render_ms) < 250, f"render times {render_ms} ms for {n} points"
    # Zoom with ctrl+wheel over the chart, pan by dragging: the window follows.
    box = page.locator("[data-testid=price-chart] svg.chart-main").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)
    page.keyboard.up("Control")
    page.wait_for_function(f"() => document.querySelector('[data-testid=price-chart]').dataset.window !== '0:{n - 1}'")
    zoomed = page.get_attribute("[data-testid=price-chart]", "data-window")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    panned = page.get_attribute("[data-testid=price-chart]", "data-window")
    a0, a1 = map(int, zoomed.split(":"))
    b0, b1 = map(int, panned.split(":"))
    assert b0 < a0 and b1 - b0 == a1 - a0, (zoomed, panned)  # dragged right: earlier days, same span
    # Brush a new window on the navigator, outside the current one: from a fifth to nearly half of the series.
    page.click("[data-testid=price-chart] button[data-range='1M']")
    nav = page.locator("[data-testid=price-chart] svg.chart-nav").bounding_box()
    page.mouse.move(nav["x"] + nav["width"] * 0.2, nav["y"] + nav["height"] / 2)
    page.mouse.down()
    page.mouse.move(nav["x"] + nav["width"] * 0.45, nav["y"] + nav["height"] / 2, steps=5)
    page.mouse.up()
    c0, c1 = map(int, page.get_attribute("[data-testid=price-chart]", "data-window").split(":"))
    assert 0.1 * n < c0 < 0.3 * n and 0.35 * n < c1 < 0.55 * n, (c0, c1, n)

    # The next price arrives: the forecast this page was served resolves, and live accuracy shows it.
    served = api.post("/forecast", json={"ticker": "SPX"}).json()
    r = api.post("/series/SPX", content="date,close,adj_close\n2019-01-02,2510.03,2510.03\n",
                 headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    page.reload()
    live = page.wait_for_selector("[data-testid=live-accuracy] table")
    assert "1 resolved" in page.inner_text("[data-testid=live-accuracy]")
    rows = dict(line.split("\t")[:2] for line in live.inner_text().splitlines() if "\t" in line)
    persistence_error = abs(served["last_price"] - 2510.03)
    assert float(rows["MAE, persistence"].replace(",", "")) == pytest.approx(persistence_error, rel=2e-3)
    assert float(rows["Resolved"]) == 1

    page.click("a.brand")
    page.wait_for_selector("tr[data-ticker=SPX] .trend")
    shoot(browser, "tickers")
    assert browser.errors == []


def test_api_key_field(playwright, tmp_path, browser):
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"), bootstrap_key=KEY) as s:
        page = browser.page
        page.goto(s.url + "/")
        page.wait_for_selector("#banner:not([hidden])")
        assert "needs an API key" in page.inner_text("#banner") and "API key" in page.inner_text("#banner")
        assert "attention" in page.get_attribute("#keybox", "class")
        shoot(browser, "api-key-needed")

        page.fill("#api-key", "wrong-key")
        page.click("#keybox button[type=submit]")
        page.wait_for_function("() => document.querySelector('#banner').textContent.includes('was refused')")

        page.fill("#api-key", KEY)
        page.click("#keybox button[type=submit]")
        page.wait_for_selector("text=No series yet.")
        assert page.is_hidden("#banner")
        assert page.evaluate("() => localStorage.getItem('pricecast.apiKey')") == KEY
        assert page.inner_text("#api-key-state") == "saved in this browser"
        api_calls = [h for u, h in browser.requests if u.startswith(s.url + "/series")]
        assert api_calls and api_calls[-1].get("authorization") == f"Bearer {KEY}"

        page.reload()  # kept in this browser across loads
        page.wait_for_selector("text=No series yet.")
        page.click("#api-key-forget")
        page.wait_for_selector("#banner:not([hidden])")
        assert page.evaluate("() => localStorage.getItem('pricecast.apiKey')") is None


def test_page_and_assets_headers(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert client.get("/", headers={"if-none-match": index.headers["etag"]}).status_code == 304
        assets = re.findall(r'(?:href|src)="(static/[^"]+)"', index.text)
        assert {a.rsplit("/", 1)[1] for a in assets} >= {"app.js", "app.css", "favicon.svg"}
        for asset in assets:
            r = client.get("/" + asset)
            assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable", asset
        version = assets[0].split("/")[1]
        js = client.get(f"/static/{version}/app.js")
        assert "javascript" in js.headers["content-type"]
        old = client.get("/static/0ld0ld0ld0ld/app.js")
        assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"
        assert client.get(f"/static/{version}/nope.js").status_code == 404
        assert client.get(f"/static/{version}/..%2F..%2Fsettings.py").status_code == 404
        assert client.get(f"/static/{version}/index.html").status_code == 404
        # Every asset ships inside the package and nothing names another host.
        for path in (ROOT / "service" / "static").rglob("*"):
            if path.is_file():
                assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", path.read_text()), path


def test_an_intraday_series_is_charted_by_sessions_without_overnight_gaps(server, browser, api):
    """5-minute NASDAQ bars: the page names the bar size and calendar, the axis ticks each session and round
    hours (the axis is the bar index, so nights and weekends take no room), the forecast is for the next bar."""
    from tests.api.test_market_time_api import five_minute_csv

    days = [d for d in (date(2024, 1, 2) + timedelta(days=k) for k in range(30))
            if d.weekday() < 5 and d != date(2024, 1, 15)]
    r = api.post("/series/QQQ", params={"calendar": "XNAS"}, content=five_minute_csv(days),
                 headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert wait_for(api, train(api, "QQQ", epochs=3)["id"], finished)[-1]["status"] == "succeeded"
    forecast = api.post("/forecast", json={"ticker": "QQQ"}).json()
    assert forecast["target"] == "2024-02-01T09:30:00-05:00"  # after Wednesday's close: Thursday's open
    page = browser.page
    page.goto(server.url + "/#/t/QQQ")
    page.wait_for_selector("[data-testid=price-chart] g.forecast path.band[data-level='80']")
    meta = page.text_content("[data-testid=series-meta]")
    assert "5m bars · XNAS (America/New_York)" in meta and "2024-01-02 09:30" in meta
    assert page.text_content("[data-testid=price-chart] .forecast-date") == "2024-02-01 09:30"
    assert "for the 5m bar at 2024-02-01 09:30 (XNAS)" in page.text_content("[data-testid=forecast-when]")
    # 5 sessions shown by default: one tick per session, labelled with its day, plus round hours.
    assert page.get_attribute("[data-testid=price-chart]", "data-window").endswith(f":{78 * len(days) - 1}")
    labels = page.eval_on_selector_all("[data-testid=price-chart] text.xlabel:not(.forecast-date)",
                                       "els => els.map(e => e.textContent)")
    assert {"25 Jan", "26 Jan", "29 Jan", "30 Jan", "31 Jan"} <= set(labels), labels
    shoot(browser, "intraday")
    page.click("[data-testid=price-chart] button[data-range='1D']")  # one session: its day and round hours
    page.wait_for_function("() => (document.querySelector('[data-testid=price-chart]').dataset.renderedWindow || '')"
                           f".startsWith('{78 * (len(days) - 1)}:')")
    labels = page.eval_on_selector_all("[data-testid=price-chart] text.xlabel:not(.forecast-date)",
                                       "els => els.map(e => e.textContent)")
    assert labels[0] == "31 Jan" and {"10:00", "12:00", "15:00"} <= set(labels), labels
    assert browser.errors == []


def test_the_ticker_list_stays_usable_with_ten_thousand_tickers(playwright, tmp_path, browser):
    """10,000 tickers: the list shows one page of 50 (one batch forecast), a search narrows it, and paging walks it."""
    symbols = [f"T{i:05d}" for i in range(10_000)]
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var")) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        for k in range(0, len(symbols), 1000):  # PRICECAST_MAX_UPLOAD_TICKERS per file
            body = "ticker,date,close\n" + "".join(f"{t},2024-01-02,1\n{t},2024-01-03,2\n" for t in symbols[k:k + 1000])
            r = client.post("/series", content=body, headers={"content-type": "text/csv"})
            assert r.status_code == 200, r.text
        page = browser.page
        page.goto(server.url + "/")
        summary = page.locator("[data-testid=tickers-summary]")
        summary.filter(has_text="1–50 of 10,000").wait_for()
        rows = page.locator("[data-testid=tickers] tbody tr")
        assert rows.count() == 50 and rows.first.get_attribute("data-ticker") == "T00000"
        page.click("[data-testid=tickers-next]")
        summary.filter(has_text="51–100 of 10,000").wait_for()
        assert rows.first.get_attribute("data-ticker") == "T00050"
        page.click("[data-testid=tickers-prev]")
        summary.filter(has_text="1–50 of 10,000").wait_for()
        assert page.locator("[data-testid=tickers-prev]").is_disabled()
        page.fill("[data-testid=ticker-search]", "t0999")
        summary.filter(has_text="1–10 of 10 starting with T0999").wait_for()
        assert [rows.nth(i).get_attribute("data-ticker") for i in range(rows.count())] == \
            [f"T0999{d}" for d in range(10)]
        assert page.locator("[data-testid=tickers-next]").is_disabled()
        page.fill("[data-testid=ticker-search]", "ZZ")
        summary.filter(has_text="no ticker starts with ZZ").wait_for()
        page.fill("[data-testid=ticker-search]", "")
        summary.filter(has_text="1–50 of 10,000").wait_for()
        shoot(browser, "tickers-10000", to_docs=False)
        # A ticker's own page finds its summary among 10,000 with one row asked for.
        page.goto(server.url + "/#/t/T09999")
        page.locator("[data-testid=series-meta]").filter(has_text="2 rows").wait_for()
        assert any("prefix=T09999&limit=1" in u for u in browser.urls)
    assert browser.errors == []


def test_api_docs_render_offline_from_the_service(server, browser):
    # Swagger UI's files come from the service itself: the browser asks nothing of any other host
    # (this machine has no internet, so a CDN link would leave the page blank).
    page = browser.page
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path")
    paths = page.eval_on_selector_all(".swagger-ui .opblock-summary-path", "els => els.map(e => e.textContent)")
    assert "/forecast" in paths and "/healthz" in paths
    # The security scheme gives the Authorize button and a lock on the operations that need a key.
    assert page.locator(".swagger-ui .auth-wrapper .authorize").count() == 1
    assert page.locator(".swagger-ui .opblock .authorization__btn").count() >= 10
    assert [u for u in browser.urls if not u.startswith((server.url, "data:"))] == []
    shoot(browser, "api-docs", to_docs=False)
    assert browser.errors == []
