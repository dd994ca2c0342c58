import numpy as np
import pytest
import torch

from models.errors import ConfigError
from models.lstm import BOUNDS, LSTMConfig, PriceLSTM
from models.predict import stacked_forward
from tests.models.synthetic import tiny_config


def test_defaults_are_valid_and_bounds_cover_every_field():
    config = LSTMConfig().validate()
    assert set(BOUNDS) == set(config.to_dict())
    for name, (low, high) in BOUNDS.items():
        assert low <= getattr(config, name) <= high


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window", 0, "window=0: must be between 8 and 512"),
        ("hidden_size", 100000, "hidden_size=100000"),
        ("dropout", 0.95, "dropout=0.95"),
        ("lr", float("nan"), "lr=nan"),
        ("layers", 1.5, "layers=1.5: must be an integer"),
        ("epochs", True, "epochs=True: must be a number"),
        ("batch_size", "32", "batch_size='32'"),
    ],
)
def test_validate_names_field_and_value(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        LSTMConfig(**{field: value}).validate()


def test_from_dict_round_trip_and_unknown_key():
    config = LSTMConfig(window=16, hidden_size=8)
    assert LSTMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="colour='red': unknown config field"):
        LSTMConfig.from_dict({"window": 16, "colour": "red"})
    with pytest.raises(ConfigError, match="window=4"):
        LSTMConfig.from_dict({"window": 4})


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_one_cell_step_by_hand_matches_nn_lstm():
    """The seed equations, gate by gate, against nn.LSTM (PyTorch stacks gates as i, f, g, o)."""
    hidden, inputs = 3, 2
    rng = np.random.default_rng(0)
    w = {g: rng.normal(size=(hidden, hidden + inputs)) for g in "ifgo"}  # W_g acts on [h, x]
    b = {g: rng.normal(size=hidden) for g in "ifgo"}
    h0, c0, x = rng.normal(size=hidden), rng.normal(size=hidden), rng.normal(size=inputs)

    hx = np.concatenate([h0, x])
    f = sigmoid(w["f"] @ hx + b["f"])  # forget gate
    i = sigmoid(w["i"] @ hx + b["i"])  # input gate
    c_tilde = np.tanh(w["g"] @ hx + b["g"])  # candidate
    c1 = f * c0 + i * c_tilde
    o = sigmoid(w["o"] @ hx + b["o"])
    h1 = o * np.tanh(c1)

    lstm = torch.nn.LSTM(inputs, hidden, batch_first=True).double()
    with torch.no_grad():
        order = "ifgo"
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.concatenate([w[g][:, :hidden] for g in order])))
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.concatenate([w[g][:, hidden:] for g in order])))
        lstm.bias_ih_l0.copy_(torch.from_numpy(np.concatenate([b[g] for g in order])))
        lstm.bias_hh_l0.zero_()
        _, (h_t, c_t) = lstm(torch.from_numpy(x).view(1, 1, inputs), (
            torch.from_numpy(h0).view(1, 1, hidden), torch.from_numpy(c0).view(1, 1, hidden)))
    np.testing.assert_allclose(h_t.view(-1).numpy(), h1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_t.view(-1).numpy(), c1, rtol=1e-12, atol=1e-12)


def test_forward_shapes_and_loss():
    net = PriceLSTM(tiny_config(layers=2, dropout=0.2))
    x = torch.randn(5, 8, 1)
    pred, loss = net(x)
    assert pred.shape == (5,) and loss is None
    pred, loss = net(x, torch.zeros(5))
    assert loss.ndim == 0 and loss.item() >= 0


@pytest.mark.parametrize("layers", [1, 2])
def test_stacked_forward_matches_each_net(layers):
    torch.manual_seed(0)
    nets = [PriceLSTM(tiny_config(layers=layers)).eval() for _ in range(3)]
    x = torch.randn(3, 8)
    with torch.inference_mode():
        expected = torch.stack([n(x[i].view(1, 8, 1))[0][0] for i, n in enumerate(nets)])
    torch.testing.assert_close(stacked_forward(nets, x), expected, rtol=1e-5, atol=1e-6)
