"""DLinear: decomposition as in the paper's code, shapes, gradients, per-dataset defaults, a tiny overfit."""

from __future__ import annotations

import pytest
import torch

from tsmamba.data.synthetic import synthetic_series
from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel, MovingAverage
from tsmamba.models.registry import build_model, get_model_spec, make_config
from tsmamba.training import TrainConfig, fit_model, predict_windows


def reference_moving_average(x: torch.Tensor, k: int) -> torch.Tensor:
    """Loop version: mean over a k-window centred on each step, edges padded by repeating the end values."""
    pad = (k - 1) // 2
    padded = torch.cat([x[:, :1].repeat(1, pad, 1), x, x[:, -1:].repeat(1, pad, 1)], dim=1)
    return torch.stack([padded[:, t : t + k].mean(dim=1) for t in range(x.shape[1])], dim=1)


def test_moving_average_matches_the_loop_reference() -> None:
    x = torch.randn(2, 40, 3, dtype=torch.float64)
    torch.testing.assert_close(MovingAverage(25)(x), reference_moving_average(x, 25))
    const = torch.full((1, 30, 2), 3.5)
    torch.testing.assert_close(MovingAverage(25)(const), const)


def test_even_kernel_is_rejected() -> None:
    with pytest.raises(ValueError, match="odd kernel"):
        DLinearModel(DLinearConfig(moving_avg=24), 96, 24, 3)


@pytest.mark.parametrize("individual", [False, True])
def test_shapes_and_parameter_counts(individual: bool) -> None:
    model = DLinearModel(DLinearConfig(individual=individual), lookback=48, horizon=12, n_vars=5)
    assert model(torch.randn(4, 48, 5)).shape == (4, 12, 5)
    heads = 5 if individual else 1
    assert sum(p.numel() for p in model.parameters()) == heads * 2 * (48 * 12 + 12)


def test_forecast_is_the_sum_of_the_two_linear_heads() -> None:
    model = DLinearModel(DLinearConfig(), lookback=30, horizon=6, n_vars=2)
    x = torch.randn(3, 30, 2)
    trend = reference_moving_average(x, 25)
    expected = model.seasonal[0]((x - trend).transpose(1, 2)) + model.trend[0](trend.transpose(1, 2))
    torch.testing.assert_close(model(x), expected.transpose(1, 2))


def test_individual_heads_keep_variates_independent() -> None:
    model = DLinearModel(DLinearConfig(individual=True), lookback=30, horizon=6, n_vars=3)
    x = torch.randn(2, 30, 3)
    x2 = x.clone()
    x2[:, :, 2] += 5.0
    out, out2 = model(x), model(x2)
    torch.testing.assert_close(out[:, :, :2], out2[:, :, :2])
    assert not torch.allclose(out[:, :, 2], out2[:, :, 2])


def test_every_parameter_gets_a_gradient() -> None:
    model = DLinearModel(DLinearConfig(individual=True), 30, 6, 3)
    model(torch.randn(2, 30, 3)).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_wrong_input_shape_is_explained() -> None:
    with pytest.raises(ValueError, match=r"expects input \(batch, 30, 3\)"):
        DLinearModel(DLinearConfig(), 30, 6, 3)(torch.randn(2, 31, 3))


def test_registry_defaults_follow_the_official_scripts() -> None:
    spec = get_model_spec("dlinear")
    assert spec.dataset_defaults("ETTh1")["train"]["learning_rate"] == 0.005
    assert spec.dataset_defaults("ETTh1")["train"]["batch_size"] == 32
    assert spec.dataset_defaults("ETTm1")["train"] == {
        "max_epochs": 10,
        "patience": 3,
        "lr_schedule": "type1",
        "drop_last": True,
        "learning_rate": 0.0001,
        "batch_size": 8,
    }
    assert make_config("dlinear", "ETTh1", {"individual": True}).individual is True
    with pytest.raises(ValueError, match="Valid options: individual, moving_avg"):
        make_config("dlinear", None, {"kernel": 3})


def test_overfits_a_tiny_noiseless_seasonal_series() -> None:
    torch.manual_seed(0)
    values = synthetic_series(300, 3, period=12, seed=0, noise=0.0)
    train = WindowDataset((values - values.mean(0)) / values.std(0), 48, 12)
    model = build_model("dlinear", make_config("dlinear"), 48, 12, 3)
    before = ((predict_windows(model, train) - train.gather(torch.arange(len(train)))[1]) ** 2).mean()
    result = fit_model(model, train, None, TrainConfig(learning_rate=0.01, max_epochs=15, batch_size=32))
    after = ((predict_windows(result.model, train) - train.gather(torch.arange(len(train)))[1]) ** 2).mean()
    assert after < 0.02 * before and after < 0.02
