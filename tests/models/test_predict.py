import numpy as np
import pytest

from models.errors import ConfigError, InsufficientData
from models.predict import Prediction, Predictor, predict_many
from models.train import train
from tests.models.synthetic import ar1_prices, tiny_config


def test_predict_shape_and_consistency_with_the_backtest(tiny_result, tiny_prices):
    predictor = Predictor.from_result(tiny_result)
    assert predictor.window == 8 and predictor.price_field == "adj_close" and predictor.data_end == "d0399"
    pred = predictor.predict(tiny_prices[:390], levels=(95, 50, 80))
    assert isinstance(pred, Prediction) and pred.last_price == tiny_prices[389]
    row = tiny_result.backtest[390 - 320]
    # The net runs in float32, and one window vs a batch may take different kernels: agreement is
    # to float32 precision of the net's output, i.e. about 1e-7 of a daily volatility in price.
    sigma = predictor.forecast(tiny_prices, np.array([390]))["sigma"][0]
    assert pred.predicted_price == pytest.approx(row["predicted"], abs=1e-6 * sigma * pred.last_price)
    assert pred.predicted_return == pytest.approx(pred.predicted_price / pred.last_price - 1)
    mu = np.log(pred.predicted_price / pred.last_price)
    assert pred.trend == ("up" if mu > 0 or (mu == 0 and predictor.calibration.p0 >= 0.5) else "down")
    assert [lv for lv, _, _ in pred.intervals] == [50, 80, 95]
    lows = [lo for _, lo, _ in pred.intervals]
    highs = [hi for _, _, hi in pred.intervals]
    assert lows == sorted(lows, reverse=True) and highs == sorted(highs)
    assert 0 < pred.prob_up < 1


def test_predict_reads_history_prices_and_degrades_to_window_plus_one(tiny_result, tiny_prices):
    predictor = Predictor.from_result(tiny_result)
    assert predictor.history == 150  # the volatility filter's 149 returns (decay 0.94) + 1
    assert predictor.predict(tiny_prices) == predictor.predict(tiny_prices[-150:])
    short = predictor.predict(tiny_prices[-9:])  # fewer: the filter starts from the training variance
    assert short.last_price == tiny_prices[-1] and 0 < short.prob_up < 1
    with pytest.raises(InsufficientData) as info:
        predictor.predict(tiny_prices[-8:])
    assert (info.value.needed, info.value.available) == (9, 8)
    with pytest.raises(ConfigError, match="levels="):
        predictor.predict(tiny_prices, levels=(80, 100))


def test_predict_many_matches_single_predictions(tiny_result, tiny_prices):
    other = Predictor.from_result(train(ar1_prices(400, seed=4), tiny_config(), seed=2))
    wide = Predictor.from_result(train(ar1_prices(400, seed=4), tiny_config(hidden_size=6), seed=2))
    base = Predictor.from_result(tiny_result)
    predictors = [base, other, wide, base]
    arrays = [tiny_prices, tiny_prices[:-5], ar1_prices(50, seed=8), tiny_prices[:200]]
    batched = predict_many(predictors, arrays, levels=(80,))
    for pred, prices, got in zip(predictors, arrays, batched):
        single = pred.predict(prices, levels=(80,))
        assert got.predicted_price == pytest.approx(single.predicted_price, rel=1e-6)
        assert got.intervals[0][1] == pytest.approx(single.intervals[0][1], rel=1e-6)
        assert got.prob_up == pytest.approx(single.prob_up, abs=0.02)
    with pytest.raises(ConfigError, match="price_arrays=1"):
        predict_many(predictors, arrays[:1])
