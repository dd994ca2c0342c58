import numpy as np
import pytest

from models.evaluate import drift_forecast, errors, score
from models.predict import Predictor
from models.train import train
from tests.models.synthetic import random_walk_prices, tiny_config


def test_error_metrics_by_hand():
    actual = np.array([100.0, 110.0])
    predicted = np.array([101.0, 107.0])
    m = errors(actual, predicted, naive_mae=4.0)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 9) / 2))
    assert m["mae"] == pytest.approx(2.0)
    assert m["mape"] == pytest.approx(100 * (0.01 + 3 / 110) / 2)
    assert m["mase"] == pytest.approx(0.5)


def test_drift_uses_only_past_prices():
    p = np.array([10.0, 11.0, 12.0, 13.0, 100.0])
    np.testing.assert_allclose(drift_forecast(p, np.array([2, 3, 4])), [12.0, 13.0, 14.0])


def test_backtest_metrics_match_the_rows(tiny_result):
    m, rows = tiny_result.metrics, tiny_result.backtest
    actual = np.array([r["actual"] for r in rows])
    pred = np.array([r["predicted"] for r in rows])
    last = np.array([r["persistence"] for r in rows])
    assert m["n_test"] == len(rows) == 80 and rows[0]["date"] == m["test_start"] == "d0320"
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - actual) ** 2)))
    assert m["persistence_rmse"] == pytest.approx(np.sqrt(np.mean((last - actual) ** 2)))
    assert m["always_up_directional_accuracy"] == pytest.approx(np.mean(actual > last))
    base_up = m["base_rate_prob_up"] >= 0.5
    assert m["base_rate_direction"] == ("up" if base_up else "down")
    assert m["base_rate"] == m["base_rate_directional_accuracy"] == pytest.approx(np.mean((actual > last) == base_up))
    assert m["base_rate_brier"] == pytest.approx(np.mean((m["base_rate_prob_up"] - (actual > last)) ** 2))
    assert m["skill_rmse"] == pytest.approx(1 - m["rmse"] / m["persistence_rmse"])
    for level in (80, 95):
        lo_l, hi_l = np.array([r[f"low_{level}"] for r in rows]), np.array([r[f"high_{level}"] for r in rows])
        assert m[f"width_{level}"] == pytest.approx(100 * np.mean((hi_l - lo_l) / last))
        assert 0 < m[f"ewma_width_{level}"] and 0 <= m[f"ewma_coverage_{level}"] <= 1
    lo, hi = np.array([r["low_80"] for r in rows]), np.array([r["high_95"] for r in rows])
    assert m["coverage_80"] == pytest.approx(np.mean((actual >= lo) & (actual <= [r["high_80"] for r in rows])))
    assert np.all(lo < hi) and all(0 < r["prob_up"] < 1 for r in rows)
    band = 1.96 * np.sqrt(m["base_rate"] * (1 - m["base_rate"]) / m["n_test"])
    edge = m["rmse"] < m["persistence_rmse"] and m["directional_accuracy"] - m["base_rate"] > band
    assert m["no_edge"] is (not edge)


def test_forecasts_use_only_the_past(tiny_result, tiny_prices):
    """Changing prices from day k on leaves every forecast of days <= k unchanged."""
    predictor = Predictor.from_result(tiny_result)
    targets = np.arange(320, 400)
    before = predictor.forecast(tiny_prices, targets)
    changed = tiny_prices.copy()
    changed[360:] *= 2.0
    after = predictor.forecast(changed, targets)
    np.testing.assert_array_equal(before["predicted"][:41], after["predicted"][:41])
    assert not np.allclose(before["predicted"][42:], after["predicted"][42:])


def test_base_rate_is_the_majority_class_of_the_training_part():
    """A falling series: down days are the majority, so the base rate says down, not always-up."""
    prices = random_walk_prices(600, drift=-0.004, sigma=0.01, seed=1)
    m = train(prices, tiny_config(), seed=0).metrics
    assert m["base_rate_direction"] == "down" and m["base_rate_prob_up"] < 0.5
    assert m["base_rate_directional_accuracy"] == pytest.approx(1 - m["always_up_directional_accuracy"])
    assert m["base_rate_directional_accuracy"] > m["always_up_directional_accuracy"]
    band = 1.96 * np.sqrt(m["base_rate"] * (1 - m["base_rate"]) / m["n_test"])
    assert m["direction_noise_band"] == pytest.approx(band)
    if m["point_forecast"] == "persistence":  # no edge: its direction is the base rate's
        assert m["directional_accuracy"] == m["base_rate_directional_accuracy"] and m["no_edge"]


def test_score_compares_model_and_persistence(tiny_result, tiny_prices):
    predictor = Predictor.from_result(tiny_result)
    s = score(predictor, tiny_prices, 350)
    assert s["n"] == 50
    last, actual = tiny_prices[349:-1], tiny_prices[350:]
    assert s["persistence_rmse"] == pytest.approx(np.sqrt(np.mean((actual - last) ** 2)))
    assert s["skill_rmse"] == pytest.approx(1 - s["rmse"] / s["persistence_rmse"])
