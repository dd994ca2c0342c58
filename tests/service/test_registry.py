"""The model registry as domain functions: promotion, activation, broken versions, retention, staleness."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service import registry
from service.errors import Conflict, NotFound
from service.series import get_ticker
from service.store import store_prices
from service.tables import ModelCheckpoint, ModelStatus, TrainingJob
from tests.factories import make_series, make_upload, queue_job, run_job, train_model


def test_second_version_promotion_is_explained_and_policy_always_promotes(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    train_model(factory, settings)
    second = queue_job(factory, settings, seed=7)
    run_job(factory, settings, second)
    with factory() as s:
        job = s.get(TrainingJob, second)
        assert job.message.startswith("version 2: ")
        assert ("promoted" in job.message) == (job.model_version.status == ModelStatus.ACTIVE)
        assert "on the" in job.message and "days from" in job.message
    always = settings.model_copy(update={"promotion_policy": "always"})
    train_model(factory, always, seed=8)
    with factory() as s:
        rows = registry.list_models(s, symbol="TEST")
        assert [(r.version, r.status) for r in rows][0] == (3, ModelStatus.ACTIVE)
        assert sum(r.status == ModelStatus.ACTIVE for r in rows) == 1


@pytest.fixture
def two_versions(factory, settings) -> None:
    """TEST with version 1 retired and version 2 active (policy "always")."""
    always = settings.model_copy(update={"promotion_policy": "always"})
    with factory() as s:
        make_series(s, n=400)
    train_model(factory, always)
    train_model(factory, always, seed=1)


def test_activation_retires_the_active_version_says_so_and_moves_the_revision(factory, two_versions):
    with factory() as s:
        before = get_ticker(s, symbol="TEST").revision
        row = registry.activate_model(s, symbol="TEST", version=1)
        s.commit()
        assert row.status == ModelStatus.ACTIVE and row.promotion == "activated by hand (was retired)"
        assert registry.get_model(s, symbol="TEST", version=2).status == ModelStatus.RETIRED
        s.expire_all()
        assert get_ticker(s, symbol="TEST").revision == before + 1
        with pytest.raises(NotFound):
            registry.get_model(s, symbol="TEST", version=9)


def test_a_broken_version_is_never_activated_and_breaking_the_active_one_moves_the_revision(factory, two_versions):
    with factory() as s:
        ticker = get_ticker(s, symbol="TEST")
        retired, active = registry.get_model(s, symbol="TEST", version=1), registry.get_model(s, symbol="TEST", version=2)
        revision = ticker.revision
        registry.mark_broken(s, model_id=retired.id, reason="hash mismatch")
        s.commit()
        s.expire_all()
        assert get_ticker(s, symbol="TEST").revision == revision  # not served: no cached answer changes
        registry.mark_broken(s, model_id=active.id, reason="hash mismatch")
        s.commit()
        s.expire_all()
        assert get_ticker(s, symbol="TEST").revision == revision + 1
        assert registry.find_active(s, ticker_id=ticker.id) is None
        assert registry.get_model(s, symbol="TEST", version=2).promotion == "broken: hash mismatch"
        with pytest.raises(Conflict):
            registry.activate_model(s, symbol="TEST", version=2)


@pytest.mark.parametrize("store", ["database", "files"])
def test_retention_removes_old_rows_and_their_checkpoints_after_commit(factory, settings, store):
    keep1 = settings.model_copy(update={"keep_versions": 1, "promotion_policy": "always", "checkpoint_store": store})
    with factory() as s:
        make_series(s, n=400)
    for seed in range(3):
        train_model(factory, keep1, seed=seed)
    with factory() as s:
        rows = registry.list_models(s, symbol="TEST")
        assert [r.version for r in rows] == [3, 2]
        stored = sorted(s.scalars(select(ModelCheckpoint.model_version_id)))
    if store == "files":
        files = sorted(p.name for p in keep1.checkpoint_dir.iterdir())
        assert len(files) == 2 and not any("-j1-" in f for f in files) and stored == []
    else:  # the bytes went with their row (the foreign key cascades); nothing on disk
        assert stored == sorted(r.id for r in rows) and not keep1.checkpoint_dir.exists()


def test_checkpoint_names_come_from_ids_only(settings):
    name = registry.checkpoint_name(ticker_id=3, job_id=7, attempt=2)
    assert name == "checkpoints/t3-j7-a2.safetensors"
    assert registry.checkpoint_file(settings, name) == settings.data_dir / "checkpoints" / "t3-j7-a2.safetensors"
    assert registry.checkpoint_file(settings, name).parent == settings.checkpoint_dir


def test_staleness_counts_prices_past_the_training_data(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    train_model(factory, settings)
    with factory() as s:
        model = registry.find_active(s, ticker_id=get_ticker(s, symbol="TEST").id)
        assert registry.prices_past(s, model_ids=[model.id]) == {}
        store_prices(s, symbol="TEST", upload=make_upload(n=420))
        s.commit()
        behind = registry.prices_past(s, model_ids=[model.id])[model.id]
    assert behind == 20
    assert registry.is_stale(settings.model_copy(update={"stale_after": 20}), behind)
    assert not registry.is_stale(settings.model_copy(update={"stale_after": 21}), behind)
