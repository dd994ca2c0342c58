import numpy as np
import pytest

from models.evaluate import drift_forecast, errors
from models.predict import Predictor


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
    assert m["base_rate"] == pytest.approx(np.mean(actual > last))
    assert m["skill_rmse"] == pytest.approx(1 - m["rmse"] / m["persistence_rmse"])
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


def test_score_compares_model_and_persistence(tiny_result, tiny_prices):
    predictor = Predictor.from_result(tiny_result)
    s = predictor.score(tiny_prices, 350)
    assert s["n"] == 50
    last, actual = tiny_prices[349:-1], tiny_prices[350:]
    assert s["persistence_rmse"] == pytest.approx(np.sqrt(np.mean((actual - last) ** 2)))
    assert s["skill_rmse"] == pytest.approx(1 - s["rmse"] / s["persistence_rmse"])
