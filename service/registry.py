"""The per-ticker model registry: register versions, promote, retain, activate, mark broken."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import and_, event, func, select, update
from sqlalchemy.orm import Session, SessionTransaction

from models import checkpoints
from models.errors import CheckpointError, InsufficientData
from models.evaluate import score
from models.predict import Predictor
from models.train import TrainResult
from service.bars import parse_moment
from service.db import unlink_after_commit
from service.errors import Conflict, InvalidInput, NotFound
from service.pricearrays import PriceArray, load_price_array
from service.series import bump_revision, get_ticker
from service.settings import Settings
from service.tables import ModelCheckpoint, ModelStatus, ModelVersion, PricePoint, Ticker

log = logging.getLogger("pricecast.registry")
MIN_COMPARE_DAYS = 20
CHECKPOINT_FOLDER = "checkpoints"  # under PRICECAST_DATA_DIR (Settings.checkpoint_dir)
DB_PREFIX = "db:"  # a stored checkpoint_path naming a model_checkpoint row rather than a file


def checkpoint_name(*, ticker_id: int, job_id: int, attempt: int) -> str:
    """Where a training attempt saves its checkpoint, relative to the data directory.

    Built from ids only (a ticker name never becomes a path) and unique per attempt, so a
    re-queued attempt never overwrites a file another attempt may still register.
    """
    return f"{CHECKPOINT_FOLDER}/t{ticker_id}-j{job_id}-a{attempt}.safetensors"


def checkpoint_file(settings: Settings, stored: str) -> Path:
    """The absolute path of a checkpoint from its stored (data-directory relative) location."""
    return settings.data_dir / stored


def is_file(stored: str) -> bool:
    """Whether a stored checkpoint location is a file (PRICECAST_CHECKPOINT_STORE=files) or a database row."""
    return not stored.startswith(DB_PREFIX)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint ready to register: its location, sha256, and (database store) the bytes to insert with the row."""

    path: str
    sha256: str
    data: bytes | None = None


def save_checkpoint(settings: Settings, result: TrainResult, *, ticker_id: int, job_id: int,
                    attempt: int) -> StoredCheckpoint:
    """Serialise a trained model for register_model: bytes for the database store, a written file for the file store.

    With the database store nothing touches the disk: the bytes go into model_checkpoint in the
    transaction that adds the registry row, so there is never a file without its row or a row
    without its bytes.
    """
    name = checkpoint_name(ticker_id=ticker_id, job_id=job_id, attempt=attempt)
    if settings.checkpoint_store == "database":
        data = checkpoints.to_bytes(result)
        return StoredCheckpoint(DB_PREFIX + name, checkpoints.sha256(data), data)
    path = checkpoint_file(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return StoredCheckpoint(name, checkpoints.save(path, result))


def discard_checkpoint(settings: Settings, stored: StoredCheckpoint) -> None:
    """Forget a checkpoint that was never registered (a file store's file is removed)."""
    if stored.data is None and is_file(stored.path):
        checkpoint_file(settings, stored.path).unlink(missing_ok=True)


def read_checkpoints(session: Session, settings: Settings,
                     locations: dict[int, str]) -> dict[int, bytes | CheckpointError]:
    """The bytes of many versions' checkpoints (by model id): database rows in one query, files one by one."""
    out: dict[int, bytes | CheckpointError] = {}
    in_db = [mid for mid, stored in locations.items() if not is_file(stored)]
    for chunk in range(0, len(in_db), 5000):  # bound the statement's parameters
        ids = in_db[chunk:chunk + 5000]
        out.update(session.execute(select(ModelCheckpoint.model_version_id, ModelCheckpoint.data)
                                   .where(ModelCheckpoint.model_version_id.in_(ids))).all())
    for mid, stored in locations.items():
        if mid in out:
            continue
        if not is_file(stored):
            out[mid] = CheckpointError(f"model id {mid}: its checkpoint row is missing from the database")
            continue
        try:
            out[mid] = checkpoint_file(settings, stored).read_bytes()
        except OSError as exc:
            out[mid] = CheckpointError(f"path={stored!r}: cannot read checkpoint ({exc.strerror})")
    return out


def read_checkpoint(session: Session, settings: Settings, version: ModelVersion) -> bytes:
    """One version's checkpoint bytes (CheckpointError when they cannot be read)."""
    data = read_checkpoints(session, settings, {version.id: version.checkpoint_path})[version.id]
    if isinstance(data, CheckpointError):
        raise data
    return data


def list_models(session: Session, *, symbol: str) -> list[ModelVersion]:
    """Every version of a ticker, newest first."""
    ticker = get_ticker(session, symbol=symbol)
    return list(session.scalars(select(ModelVersion).where(ModelVersion.ticker_id == ticker.id)
                                .order_by(ModelVersion.version.desc())))


def get_model(session: Session, *, symbol: str, version: int) -> ModelVersion:
    """One version of a ticker, or NotFound."""
    ticker = get_ticker(session, symbol=symbol)
    row = session.scalar(select(ModelVersion).where(ModelVersion.ticker_id == ticker.id,
                                                    ModelVersion.version == version))
    if row is None:
        raise NotFound(f"{symbol} has no model version {version}; list them with GET /series/{symbol}/models",
                       details={"ticker": symbol, "version": version})
    return row


def find_active(session: Session, *, ticker_id: int) -> ModelVersion | None:
    """The active version of a ticker, or None."""
    return session.scalar(select(ModelVersion).where(ModelVersion.ticker_id == ticker_id,
                                                     ModelVersion.status == ModelStatus.ACTIVE))


def activate_model(session: Session, *, symbol: str, version: int) -> ModelVersion:
    """Make a version active (rollback or manual promotion); the previous active one is retired."""
    row = get_model(session, symbol=symbol, version=version)
    if row.status == ModelStatus.BROKEN:
        raise Conflict(f"{symbol} version {version} is broken (its checkpoint failed its hash check); "
                       "train a new version", details={"ticker": symbol, "version": version, "status": row.status})
    if row.status != ModelStatus.ACTIVE:
        row.promotion = f"activated by hand (was {row.status})"
    _set_active(session, row)
    session.flush()
    return row


def _set_active(session: Session, row: ModelVersion) -> None:
    session.execute(update(ModelVersion).where(ModelVersion.ticker_id == row.ticker_id,
                                               ModelVersion.status == ModelStatus.ACTIVE, ModelVersion.id != row.id)
                    .values(status=ModelStatus.RETIRED))
    row.status = ModelStatus.ACTIVE
    bump_revision(session, ticker_id=row.ticker_id)


def mark_broken(session: Session, *, model_id: int, reason: str) -> None:
    """Record that a version's checkpoint failed verification; it is never served again."""
    row = session.execute(select(ModelVersion.ticker_id, ModelVersion.version, ModelVersion.status)
                          .where(ModelVersion.id == model_id)).one_or_none()
    if row is None:
        return
    ticker_id, version, status = row
    log.error("model version id=%s (v%s) is broken: %s", model_id, version, reason)
    session.execute(update(ModelVersion).where(ModelVersion.id == model_id)
                    .values(status=ModelStatus.BROKEN, promotion=f"broken: {reason}"))
    if status == ModelStatus.ACTIVE:  # the ticker's forecasts change
        bump_revision(session, ticker_id=ticker_id)
    session.flush()


def mark_broken_after(session: Session, *, model_id: int, reason: str) -> None:
    """Mark a version broken in a transaction of its own once this session's transaction ends.

    The forecast path finds broken checkpoints inside a request whose own transaction may roll
    back (the request fails) or may hold SQLite's write lock (a second session now would wait
    for it): recording after the end avoids both.
    """
    session.info.setdefault(_BROKEN_KEY, []).append((model_id, reason))


_BROKEN_KEY = "pricecast_mark_broken"


@event.listens_for(Session, "after_transaction_end")
def _mark_pending_broken(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or not session.info.get(_BROKEN_KEY):
        return
    pending = session.info.pop(_BROKEN_KEY)
    try:
        with Session(bind=session.get_bind()) as own:
            for model_id, reason in pending:
                mark_broken(own, model_id=model_id, reason=reason)
            own.commit()
    except Exception:  # noqa: BLE001 - the next request that loads the checkpoint marks it again
        log.exception("could not mark model versions %s broken", [m for m, _ in pending])


def load_predictor(session: Session, settings: Settings, version: ModelVersion) -> Predictor:
    """Load and verify a version's checkpoint (CheckpointError when it fails)."""
    return checkpoints.from_bytes(read_checkpoint(session, settings, version),
                                  expected_sha256=version.checkpoint_sha256,
                                  name=f"{version.ticker.symbol} version {version.version}")


def _compare(settings: Settings, session: Session, active: ModelVersion, result: TrainResult,
             data: PriceArray) -> tuple[bool, str]:
    """Score both models on the latest days neither trained or early-stopped on."""
    starts = [str(active.metrics.get("test_start")), str(result.metrics.get("test_start"))]
    try:
        cutoff = max(parse_moment(s) for s in starts)
    except ValueError:
        return False, f"not compared: a test start is unreadable ({starts}); activate it by hand if you want it"
    first = int(np.searchsorted(data.ts, cutoff)) if data.ts is not None else len(data.dates)
    n_days = len(data.dates) - first
    cutoff_label = data.dates[first] if first < len(data.dates) else max(starts)
    if n_days < MIN_COMPARE_DAYS:
        return False, (f"not compared: only {n_days} days since {cutoff_label} are unseen by both models "
                       f"(need {MIN_COMPARE_DAYS}); activate it by hand if you want it")
    try:
        old = load_predictor(session, settings, active)
    except CheckpointError as exc:
        mark_broken(session, model_id=active.id, reason=str(exc))
        session.refresh(active)
        return True, f"promoted: the active version {active.version} is broken ({exc})"
    new = Predictor.from_result(result)
    try:
        old_prices = data.prices if old.price_field == data.price_field else \
            load_price_array(session, ticker_id=active.ticker_id, price_field=old.price_field).prices
        old_score = score(old, old_prices, first, slots=data.slots)
        new_score = score(new, data.prices, first, slots=data.slots)
    except InsufficientData as exc:
        return False, f"not compared: {exc}"
    key = "rmse" if old.price_field == data.price_field else "skill_rmse"
    better = new_score[key] <= old_score[key] if key == "rmse" else new_score[key] >= old_score[key]
    verdict = "promoted" if better else "kept as candidate"
    return better, (f"{verdict}: {key} {new_score[key]:.6g} vs active version {active.version} "
                    f"{old_score[key]:.6g} on the {n_days} days from {data.dates[first]} "
                    f"(persistence rmse {new_score['persistence_rmse']:.6g})")


def register_model(session: Session, *, settings: Settings, ticker: Ticker, result: TrainResult,
                   checkpoint_path: str, checkpoint_sha256: str, job_id: int | None,
                   data: PriceArray, data_revision: int, checkpoint_data: bytes | None = None) -> ModelVersion:
    """Add a version for a saved checkpoint, decide promotion, and apply retention.

    checkpoint_data (the database store): the checkpoint's bytes, inserted in this transaction.
    """
    latest = session.scalar(select(ModelVersion.version).where(ModelVersion.ticker_id == ticker.id)
                            .order_by(ModelVersion.version.desc()).limit(1)) or 0
    row = ModelVersion(
        ticker_id=ticker.id, version=latest + 1, status=ModelStatus.CANDIDATE, checkpoint_path=checkpoint_path,
        checkpoint_sha256=checkpoint_sha256, config=result.config.to_dict(), price_field=result.price_field,
        data_start_ts=int(data.ts[0]) if data.ts is not None and data.ts.size else None,
        data_end_ts=int(data.ts[-1]) if data.ts is not None and data.ts.size else None,
        n_rows=result.n_rows, data_revision=data_revision, metrics=result.metrics, backtest=result.backtest,
        seed=result.seed, job_id=job_id,
    )
    session.add(row)
    session.flush()
    if checkpoint_data is not None:
        session.add(ModelCheckpoint(model_version_id=row.id, sha256=checkpoint_sha256, size=len(checkpoint_data),
                                    data=checkpoint_data))
    active = find_active(session, ticker_id=ticker.id)
    if active is None:
        promote, reason = True, "promoted: first model of this ticker"
    elif settings.promotion_policy == "always":
        promote, reason = True, "promoted: PRICECAST_PROMOTION_POLICY=always"
    else:
        promote, reason = _compare(settings, session, active, result, data)
    row.promotion = reason
    if promote:
        _set_active(session, row)
    else:  # any registry change moves the revision: cached answers for explicit versions must go too
        bump_revision(session, ticker_id=ticker.id)
    session.flush()
    apply_retention(session, settings=settings, ticker_id=ticker.id)
    return row


def apply_retention(session: Session, *, settings: Settings, ticker_id: int) -> list[int]:
    """Keep the active version and the newest keep_versions others; delete the rest and their checkpoints."""
    rows = session.scalars(select(ModelVersion).where(ModelVersion.ticker_id == ticker_id)
                           .order_by(ModelVersion.version.desc())).all()
    removed = [r for r in rows if r.status != ModelStatus.ACTIVE][settings.keep_versions:]
    for row in removed:
        session.delete(row)
    session.flush()
    # Database checkpoints go with their rows (the foreign key cascades). Files go after the
    # commit: a crash leaves an orphan file, never a row without its file.
    unlink_after_commit(session, [checkpoint_file(settings, r.checkpoint_path) for r in removed
                                  if is_file(r.checkpoint_path)])
    return [r.version for r in removed]


def delete_checkpoints(session: Session, *, settings: Settings, ticker_id: int) -> None:
    """Schedule every checkpoint file of a ticker for deletion when the transaction commits (rows cascade)."""
    paths = session.scalars(select(ModelVersion.checkpoint_path).where(ModelVersion.ticker_id == ticker_id)).all()
    unlink_after_commit(session, [checkpoint_file(settings, p) for p in paths if is_file(p)])


MAX_IMPORT_BYTES = 64 * 1024 * 1024  # a checkpoint is tens of KB; anything near this is not one


def export_checkpoint(session: Session, *, settings: Settings, symbol: str,
                      version: int | None) -> tuple[ModelVersion, bytes]:
    """A version's checkpoint bytes (the active one when version is None), verified against the registry's sha256."""
    if version is None:
        row = find_active(session, ticker_id=get_ticker(session, symbol=symbol).id)
        if row is None:
            raise NotFound(f"{symbol} has no active model; name one with --version", details={"ticker": symbol})
    else:
        row = get_model(session, symbol=symbol, version=version)
    try:
        data = read_checkpoint(session, settings, row)
        checkpoints.verify(data, expected_sha256=row.checkpoint_sha256, name=f"{symbol} version {row.version}")
    except CheckpointError as exc:
        raise Conflict(f"{symbol} version {row.version}: {exc}",
                       details={"ticker": symbol, "version": row.version}) from None
    return row, data


def import_checkpoint(session: Session, *, settings: Settings, symbol: str, data: bytes,
                      expected_sha256: str | None = None) -> ModelVersion:
    """Register a checkpoint file as a new version of a ticker: active if it has none, else a candidate.

    The bytes are parsed as safetensors only (never unpickled); their metadata, weights hash
    and (when given) file sha256 must check out and the model must load, or nothing is stored.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"file: {len(data)} bytes; a checkpoint is at most {MAX_IMPORT_BYTES}",
                           details={"field": "file", "size": len(data)})
    try:
        meta, _ = checkpoints.verify(data, expected_sha256=expected_sha256, name="file")
        checkpoints.from_bytes(data, name="file")
    except CheckpointError as exc:
        raise InvalidInput(f"file: {exc}", details={"field": "file"}) from None
    field = meta.get("price_field")
    if field not in ("close", "adj_close"):
        raise InvalidInput(f"file: price_field={field!r} in its metadata; expected close or adj_close",
                           details={"field": "price_field", "value": field})
    ticker = get_ticker(session, symbol=symbol)
    try:
        start, end = (parse_moment(str(meta[k])) if meta.get(k) else None for k in ("data_start", "data_end"))
    except ValueError:
        raise InvalidInput(f"file: data_start={meta.get('data_start')!r} or data_end={meta.get('data_end')!r} "
                           "is not a date or time", details={"field": "data_start"}) from None
    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.ticker_id == ticker.id)) or 0
    sha = checkpoints.sha256(data)
    row = ModelVersion(ticker_id=ticker.id, version=latest + 1, status=ModelStatus.CANDIDATE, checkpoint_path="",
                       checkpoint_sha256=sha, config=meta["config"], price_field=field, data_start_ts=start,
                       data_end_ts=end, n_rows=int(meta.get("n_rows") or 0), data_revision=ticker.revision,
                       metrics=dict(meta.get("metrics") or {}), backtest=[], seed=int(meta.get("seed") or 0),
                       job_id=None)
    session.add(row)
    session.flush()
    name = f"{CHECKPOINT_FOLDER}/t{ticker.id}-m{row.id}-import.safetensors"  # ids only, never the ticker's name
    if settings.checkpoint_store == "database":
        row.checkpoint_path = DB_PREFIX + name
        session.add(ModelCheckpoint(model_version_id=row.id, sha256=sha, size=len(data), data=data))
    else:
        path = checkpoint_file(settings, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoints.write(path, data)
        row.checkpoint_path = name
    if find_active(session, ticker_id=ticker.id) is None:
        row.promotion = "imported: first model of this ticker"
        _set_active(session, row)
    else:
        row.promotion = f"imported as a candidate; activate it with POST /series/{symbol}/models/{row.version}/activate"
        bump_revision(session, ticker_id=ticker.id)
    session.flush()
    return row


def prices_past(session: Session, *, model_ids: list[int]) -> dict[int, int]:
    """For each model version: how many stored prices (bars) lie after its training data (by model id)."""
    if not model_ids:
        return {}
    rows = session.execute(select(ModelVersion.id, func.count(PricePoint.ts))
                           .join(PricePoint, and_(PricePoint.ticker_id == ModelVersion.ticker_id,
                                                  PricePoint.ts > ModelVersion.data_end_ts))
                           .where(ModelVersion.id.in_(model_ids))
                           .group_by(ModelVersion.id)).all()
    return dict(rows)


def is_stale(settings: Settings, prices_after: int) -> bool:
    """The one meaning of `stale`: PRICECAST_STALE_AFTER or more prices past a model's training data.

    Forecasts carry it, and `POST /train {"stale": true}` retrains exactly the tickers whose
    active model it holds for.
    """
    return prices_after >= settings.stale_after
