"""Where this configuration keeps its data, and what is there: `pricecast info` and the CLI's "looked in" hints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from service.settings import Settings, mask_url


def database_label(settings: Settings) -> str:
    """The database as a person should read it (password masked): the SQLite file's path, or the URL."""
    if settings.db_url.startswith("sqlite:///"):
        return settings.db_url.removeprefix("sqlite:///")
    return mask_url(settings.db_url) or ""


def checkpoint_store(settings: Settings) -> str:
    """Where model weights are kept: rows in the database, or files under the data directory."""
    if settings.checkpoint_store == "database":
        return "in the database (table model_checkpoint)"
    return str(settings.checkpoint_dir)


@dataclass(frozen=True)
class InfoRead:
    data_dir: str
    database: str
    database_url: str
    queue: str
    checkpoints: str
    embedded_worker: bool
    schema_revision: str | None
    head_revision: str | None
    tickers: int | None
    models: int | None
    active_models: int | None
    api_keys: int | None
    access: str
    problem: str | None = None

    def data(self) -> dict:
        return asdict(self)


def read_info(settings: Settings) -> InfoRead:
    """Describe the data location and count what is stored, without creating or migrating anything."""
    from sqlalchemy import func, select

    from service import migrate
    from service.db import make_engine
    from service.tables import ApiKey, ModelStatus, ModelVersion, Ticker

    counts: dict = {"tickers": None, "models": None, "active_models": None, "api_keys": None}
    revision, problem = None, None
    head = migrate.head_revision(settings)
    file = Path(settings.db_url.removeprefix("sqlite:///")) if settings.db_url.startswith("sqlite:///") else None
    if file is not None and not file.exists():
        problem = "the database file does not exist yet: `pricecast import`, `pricecast demo` or `pricecast serve` creates it"
    else:
        engine = make_engine(settings.db_url)
        try:
            revision = migrate.current_revision(engine)
            if revision is None:
                problem = "the database has no pricecast schema yet: run `pricecast migrate`"
            else:
                with engine.connect() as conn:
                    counts = {
                        "tickers": conn.scalar(select(func.count()).select_from(Ticker)),
                        "models": conn.scalar(select(func.count()).select_from(ModelVersion)),
                        "active_models": conn.scalar(select(func.count()).select_from(ModelVersion)
                                                     .where(ModelVersion.status == ModelStatus.ACTIVE)),
                        "api_keys": conn.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))),
                    }
                if revision != head:
                    problem = f"the schema is at {revision}, the code expects {head}: run `pricecast migrate`"
        except Exception as exc:  # noqa: BLE001 - info reports what it cannot read, secrets masked
            problem = f"cannot read the database: {type(exc).__name__}: {settings.redact(str(exc))}"
        finally:
            engine.dispose()
    keys = (counts["api_keys"] or 0) + (settings.bootstrap_key is not None)
    if keys:
        access = "API key required" + (" for writes (PRICECAST_PUBLIC_READS=true)" if settings.public_reads else "")
    else:
        access = "open: no API key configured (allowed on a loopback address only)"
    return InfoRead(
        data_dir=str(settings.data_dir), database=database_label(settings), database_url=mask_url(settings.db_url) or "",
        queue=mask_url(settings.queue) or "", checkpoints=checkpoint_store(settings),
        embedded_worker=settings.embedded_worker, schema_revision=revision, head_revision=head, access=access,
        problem=problem, **counts)
