"""`pricecast forecast`: the same forecast as POST /forecast, from the local database or a server."""

from __future__ import annotations

import httpx
import typer
from rich.table import Table

from service import forecasting
from service.cli.app import app, console, fail, print_json, settings_of
from service.cli.series import open_sessions
from service.errors import PricecastError
from service.uploads import normalise_ticker


def render(forecasts: list[dict]) -> None:
    table = Table("ticker", "as of", "last", "next", "trend", "P(up)", "80%", "95%", "model", "vs persistence")
    for f in forecasts:
        bands = {i["level"]: f"{i['low']:.2f} .. {i['high']:.2f}" for i in f["intervals"]}
        m = f["model"]
        edge = "no edge" if f["no_edge"] else "edge"
        table.add_row(f["ticker"], f["as_of"], f"{f['last_price']:.2f}", f"{f['predicted_price']:.2f}", f["trend"],
                      f"{f['prob_up']:.3f}", bands.get(80, ""), bands.get(95, ""),
                      f"v{m['version']}{' (stale)' if f['stale'] else ''}",
                      f"skill {m['metrics']['skill_rmse']:+.4f}, {edge}")
    console.print(table)


@app.command()
def forecast(
    ctx: typer.Context,
    tickers: list[str] = typer.Argument(..., help="one or more tickers"),
    url: str = typer.Option(None, help="ask a running server (e.g. http://127.0.0.1:8000) instead of the local database"),
    version: int = typer.Option(None, "--version", help="use this model version instead of the active one"),
    levels: list[int] = typer.Option(None, "--level", help="interval level in percent (repeatable; default 80 and 95)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON exactly as POST /forecast answers"),
) -> None:
    """Forecast the next step for tickers, next to the naive baseline.

    Example: pricecast forecast SPX MSFT    |    pricecast forecast SPX --url http://127.0.0.1:8000 --json
    """
    body: dict = {"tickers": tickers} if len(tickers) > 1 else {"ticker": tickers[0]}
    if version:
        body["model_version"] = version
    if levels:
        body["levels"] = levels
    if url:
        try:
            r = httpx.post(url.rstrip("/") + "/forecast", json=body, timeout=30)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {url}: {exc}", hint="is `pricecast serve` running there?")
        out = r.json()
        if r.status_code != 200:
            fail(out["error"]["message"], hint=f"request id {out.get('request_id')}")
    else:
        settings = settings_of(ctx)
        try:
            symbols = [normalise_ticker(t) for t in tickers]
            lv = forecasting.check_levels(levels or None)
            with open_sessions(settings)() as session:
                results = forecasting.forecast_batch(session, settings=settings, caches=forecasting.Caches(settings),
                                                     symbols=symbols, version=version, levels=lv)
                session.commit()
        except PricecastError as exc:
            fail(exc.message)
        errors = [{"ticker": s, "code": r.code, "message": r.message} for s, r in results.items()
                  if isinstance(r, PricecastError)]
        forecasts = [results[s] for s in symbols if not isinstance(results[s], PricecastError)]
        out = {"forecasts": forecasts, "errors": errors}
        if "ticker" in body:
            if errors:
                hint = {"not_found": f"pricecast import {symbols[0]} FILE.csv",
                        "conflict": f"pricecast train {symbols[0]}"}.get(errors[0]["code"])
                fail(errors[0]["message"], hint=hint)
            out = forecasts[0]
    if json_out:
        print_json(out)
        return
    render([out] if "ticker" in out else out["forecasts"])
    for err in out.get("errors", []):
        console.print(f"[red]{err['ticker']}[/]: {err['message']}", highlight=False)
