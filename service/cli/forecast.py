"""`pricecast forecast`: the same forecast as POST /forecast, from the local database or a server."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from service.cli.app import app, console, err_console, fail, fail_with, looked_in, print_json, runtime_of
from service.errors import PricecastError


def render(forecasts: list[dict]) -> None:
    table = Table("ticker", "as of", "target", "last", "next", "trend", "P(up)", "80%", "95%", "model", "vs persistence")
    for f in forecasts:
        bands = {i["level"]: f"{i['low']:.2f} .. {i['high']:.2f}" for i in f["intervals"]}
        m = f["model"]
        edge = "no edge" if f["no_edge"] else "edge"
        table.add_row(f["ticker"], f["as_of"], f["target"], f"{f['last_price']:.2f}", f"{f['predicted_price']:.2f}", f["trend"],
                      f"{f['prob_up']:.3f}", bands.get(80, ""), bands.get(95, ""),
                      f"v{m['version']}{' (stale)' if f['stale'] else ''}",
                      f"skill {m['metrics']['skill_rmse']:+.4f}, {edge}")
    console.print(table)


def _request(body: dict):
    from pydantic import ValidationError

    from service.schemas.forecasts import ForecastRequest

    try:
        return ForecastRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"{where}: {first['msg']}" if where else first["msg"], hint="pricecast forecast --help")


@app.command()
def forecast(
    ctx: typer.Context,
    tickers: list[str] = typer.Argument(..., help="one or more tickers"),
    url: str = typer.Option(None, envvar="PRICECAST_URL", show_envvar=True,
                            help="ask a running server (e.g. http://127.0.0.1:8000) instead of the local database"),
    key: str = typer.Option(None, envvar="PRICECAST_API_KEY", show_envvar=True, show_default=False,
                            help="the API key for --url, once the server has keys (`pricecast keys create`)"),
    version: int = typer.Option(None, "--version", help="use this model version instead of the active one"),
    levels: list[int] = typer.Option(None, "--level", help="interval level in percent (repeatable; default 80 and 95)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON exactly as POST /forecast answers"),
) -> None:
    """Forecast the next step for tickers, next to the naive baseline. Exits 1 if any ticker failed.

    Example: pricecast forecast SPX MSFT    |    pricecast forecast SPX --url http://127.0.0.1:8000 --key pc_... --json
    """
    body: dict = {"tickers": tickers} if len(tickers) > 1 else {"ticker": tickers[0]}
    if version is not None:
        body["model_version"] = version
    if levels:
        body["levels"] = levels
    from_command_line = getattr(ctx.get_parameter_source("key"), "name", "") == "COMMANDLINE"
    if key and not url and from_command_line:
        fail("--key (PRICECAST_API_KEY) is for a server: give --url too (or PRICECAST_URL)",
             hint="the local database needs no key: pricecast forecast " + " ".join(tickers))
    if url:
        out = _remote(url, body, key=key)
    else:
        from service.usecases import forecasts

        try:
            out = forecasts.forecast(runtime_of(ctx), _request(body)).data()
        except PricecastError as exc:
            hint = {"not_found": f"pricecast import {tickers[0].upper()} FILE.csv",
                    "conflict": f"pricecast train {tickers[0].upper()}"}.get(exc.code)
            fail_with(exc, hint=hint)
    if json_out:
        print_json(out)
    else:
        render([out] if "ticker" in out else out["forecasts"])
    errors = out.get("errors", [])
    for err in errors:  # with --json they are in the JSON too; stdout carries only the JSON
        (err_console if json_out else console).print(f"[red]{escape(err['ticker'])}[/]: {escape(err['message'])}",
                                                     highlight=False)
    if any(err.get("code") == "not_found" for err in errors):
        where = f"looked on the server {url}" if url else looked_in()
        err_console.print(f"[dim]hint:[/] {escape(where or '')}", highlight=False)
    if errors:
        raise typer.Exit(1)


def _remote(url: str, body: dict, *, key: str | None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        r = httpx.post(url.rstrip("/") + "/forecast", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}", hint="is `pricecast serve` running there?")
    try:
        out = r.json()
    except ValueError:
        fail(f"{url} answered {r.status_code} with a body that is not JSON", hint="is this a pricecast server?")
    if r.status_code != 200:
        error = out.get("error", {}) if isinstance(out, dict) else {}
        hint = {401: "this server needs an API key: pass --key KEY or set PRICECAST_API_KEY" if not key
                else "the key was refused (unknown or revoked): `pricecast keys list` on the server's database",
                403: "this key is read-only for this request",
                404: f"looked on the server {url}"}.get(r.status_code, "")
        fail(f"{url} answered {r.status_code}: {error.get('message', r.text[:200])}",
             hint=f"{hint + '; ' if hint else ''}request id {out.get('request_id') if isinstance(out, dict) else '-'}")
    return out
