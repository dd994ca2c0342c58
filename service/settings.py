"""One Settings object, read from PRICECAST_* environment variables, built once and passed down."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """Where data lives when PRICECAST_DATA_DIR is unset, the same from any working directory.

    In a source checkout (pricecast installed editable, as scripts/quickstart does) it is `var/`
    beside the code, so the server and the CLI find one database wherever they are started;
    an installed package uses the user's data directory ($XDG_DATA_HOME/pricecast, by default
    ~/.local/share/pricecast).
    """
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "migrations").is_dir():
        return PROJECT_ROOT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "pricecast"


class Settings(BaseSettings):
    """pricecast configuration. Every field maps to PRICECAST_<FIELD> in the environment."""

    model_config = SettingsConfigDict(env_prefix="PRICECAST_", extra="ignore")

    # Absolute once built: a relative PRICECAST_DATA_DIR is read against the directory the process
    # started in, and everything after (the SQLite URL, checkpoints, messages) names the full path.
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_upload_rows: int = Field(200_000, ge=1)
    series_page_default: int = Field(10_000, ge=1)
    series_page_max: int = Field(100_000, ge=1)

    # Jobs: the queue, workers and their limits
    queue_url: str | None = None
    embedded_worker: bool = True
    embedded_training: Literal["process", "thread"] = "process"  # bench/jobs.py measures both
    torch_threads: int = Field(1, ge=1, le=256)
    workers: int | None = Field(None, ge=1, le=256)  # embedded consumer's training processes; None: the cores
    train_group_size: int = Field(8, ge=1, le=1024)  # bulk jobs one worker trains together (models/stacked.py)
    job_heartbeat_timeout: float = Field(60.0, gt=0)
    job_reap_interval: float = Field(10.0, gt=0)
    job_max_attempts: int = Field(3, ge=1, le=100)
    job_redeliver_after: float = Field(900.0, gt=0)  # re-send queued jobs the broker may have lost
    job_timeout: float = Field(3600.0, gt=0)  # checked between batches, as cancel is
    # Training cost, estimated before a job is queued (models.train.estimate_cost): refused above these
    max_train_memory: int = Field(4 * 1024**3, ge=64 * 1024**2)  # bytes one training run may take
    max_epoch_seconds: float = Field(600.0, gt=0)  # estimated seconds of one epoch
    # SIGTERM: a running job gets this long to stop at its next batch and be re-queued, then is killed
    shutdown_timeout: float = Field(10.0, gt=0, le=300)
    max_queued_jobs: int = Field(1000, ge=1)
    max_bulk_tickers: int = Field(1000, ge=1)
    jobs_page_max: int = Field(500, ge=1)

    # Model registry
    promotion_policy: Literal["better", "always"] = "better"
    # Where checkpoints live: rows of model_checkpoint (API and workers need only the database) or
    # files under data_dir/checkpoints (every API and worker host must then share that folder).
    checkpoint_store: Literal["database", "files"] = "database"
    keep_versions: int = Field(5, ge=0, le=1000)
    retrain_after: int | None = Field(None, ge=1)

    # Access and limits
    bootstrap_key: SecretStr | None = None
    public_reads: bool = False
    allow_open: bool = False
    rate_limit: str = "100/second"
    train_rate_limit: str = "20/minute"
    auth_cache_seconds: float = Field(1.0, ge=0, le=60)  # reads only: writes always ask the database
    log_format: Literal["auto", "json", "text"] = "auto"

    # Market time: the calendar of a new series unless its upload names one (?calendar=)
    default_calendar: str = "XNYS"

    # The HTTP edge: what one client may hold (README "Limits"; service/api/protocol.py)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    header_timeout: float = Field(10.0, gt=0, le=600)
    body_timeout: float = Field(60.0, gt=0, le=3600)
    keepalive_timeout: float = Field(5.0, gt=0, le=600)
    max_connections: int = Field(1000, ge=16, le=1_000_000)
    max_json_depth: int = Field(32, ge=4, le=1000)

    # Forecasts
    stale_after: int = Field(20, ge=1)  # prices past a model's training data before it is `stale`
    warm_models: bool = True  # load the newest active models into the cache at start (in the background)
    model_cache_mb: float = Field(1024.0, gt=0)  # loaded models, by their estimated bytes
    model_cache_size: int | None = Field(None, ge=1)  # an optional cap on their count as well (older setting)
    forecast_cache_size: int = Field(20_000, ge=1)  # serialised answers, about 1 KB each
    max_batch_tickers: int = Field(1000, ge=1)

    # Upload shape limits (H2): every CSV costs time and memory linear in its size. Blank lines
    # count toward max_upload_rows.
    max_upload_columns: int = Field(100, ge=2, le=100_000)
    max_upload_line_bytes: int = Field(10_000, ge=64)
    max_upload_tickers: int = Field(1000, ge=1)  # distinct tickers in one long-format file

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("rate_limit", "train_rate_limit")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("default_calendar")
    @classmethod
    def _check_calendar(cls, value: str) -> str:
        if value != "XNYS":  # the default needs no check (which imports exchange_calendars, about 1 s)
            from service.calendars import CALENDAR_RULE, calendar_names

            if value not in calendar_names():
                raise ValueError(f"unknown calendar; give {CALENDAR_RULE}")
        return value

    @field_validator("bootstrap_key")
    @classmethod
    def _check_bootstrap(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        return value

    @field_validator("queue_url")
    @classmethod
    def _check_queue_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite://", "redis://", "rediss://")):
            raise ValueError("must start with sqlite:// or redis://")  # load_settings shows the value masked
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @property
    def db_url(self) -> str:
        """The database URL: the setting, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pricecast.db').resolve()}"

    @property
    def is_embedded(self) -> bool:
        """True when running on the default SQLite file (it migrates itself at start)."""
        return self.database_url is None

    @property
    def checkpoint_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def queue(self) -> str:
        """The job queue URL: the setting, or an embedded SQLite file under the data directory."""
        return self.queue_url or f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"

    @property
    def embedded_workers(self) -> int:
        """Training processes of the consumer inside `serve`: PRICECAST_WORKERS, else one per usable core."""
        if self.workers is not None:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)

    @property
    def heartbeat_interval(self) -> float:
        return max(0.2, min(self.job_heartbeat_timeout / 4, 10.0))

    def redact(self, text: str) -> str:
        """`text` with every secret of these settings (URL passwords, the bootstrap key) masked."""
        for url in (self.database_url, self.queue_url):
            if url:
                text = text.replace(url, mask_url(url))
        for secret in sorted(self._secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> set[str]:
        found = set()
        if self.bootstrap_key is not None:
            found.add(self.bootstrap_key.get_secret_value())
        for url in (self.database_url, self.queue_url):
            password = url_password(url)
            if password:
                # A driver may echo the password decoded, or a fragment of one that holds '@' or ':'.
                found |= {password, unquote(password)} | {p for p in re.split(r"[@:/]", password) if len(p) >= 4}
        return {s for s in found if len(s) >= 3}


# Settings whose values are never printed, and URLs printed only with their password masked.
SECRET_FIELDS = frozenset({"bootstrap_key"})
URL_FIELDS = frozenset({"database_url", "queue_url"})
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&;])[^=&;]*(?:password|secret|token)[^=&;]*=)[^&;]*")


def _split_userinfo(url: str) -> tuple[str, str, str | None, str] | None:
    """(scheme://, user, password or None, rest after '@'); None when the URL has no user part.

    The user part ends at the last '@' (a password may hold an unescaped '@' or '/')."""
    scheme, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return None
    userinfo, _, rest = tail.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return scheme + sep, user, password if colon else None, rest


def url_password(url: str | None) -> str | None:
    parts = _split_userinfo(url) if url else None
    return parts[2] if parts else None


def mask_url(url: str | None) -> str | None:
    """The URL with its password (and any password= parameter) replaced by ***: safe to print."""
    if url is None:
        return None
    parts = _split_userinfo(url)
    if parts is not None:
        scheme, user, password, rest = parts
        url = f"{scheme}{user}{':***' if password is not None else ''}@{rest}"
    return _PASSWORD_PARAM.sub(r"\1***", url)


RATE_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def parse_rate(value: str) -> tuple[float, float] | None:
    """'100/second' -> (capacity 100, refill per second 100); 'off' -> None."""
    if value.strip().lower() == "off":
        return None
    count, _, unit = value.partition("/")
    try:
        n = float(count)
    except ValueError:
        n = -1
    unit = unit.strip().lower().rstrip("s")
    if n <= 0 or unit not in RATE_UNITS:
        raise ValueError(f"{value!r}: expected N/second, N/minute, N/hour or off")
    return n, n / RATE_UNITS[unit]


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            value = err.get("input")
            if field in SECRET_FIELDS:
                shown = "(value hidden)"
            elif field in URL_FIELDS and isinstance(value, str):
                shown = repr(mask_url(value))
            else:
                shown = repr(value)
            problems.append(f"PRICECAST_{field.upper()}={shown}: {err['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
