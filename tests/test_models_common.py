"""Contract tests shared by the TSM2 and PatchTST modules: shapes, gradients, seeding, overfitting, errors."""

from __future__ import annotations

import math

import pytest
import torch

from tsmamba.models.registry import build_model, get_model_spec, make_config
from tsmamba.training import TrainConfig

# Tiny configurations: the contract does not depend on size, and CI runs on two shared CPU cores.
TINY = {
    "tsm2": {"d_model": 16, "n_layers": 2, "d_state": 4, "patch_len": 8, "stride": 4, "dropout": 0.0},
    "patchtst": {"d_model": 16, "n_heads": 4, "d_ff": 32, "n_layers": 2, "patch_len": 8, "stride": 4, "dropout": 0.0},
}
MODELS = sorted(TINY)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(name: str, lookback: int = 32, horizon: int = 8, n_vars: int = 3, **overrides) -> torch.nn.Module:
    return build_model(name, make_config(name, None, {**TINY[name], **overrides}), lookback, horizon, n_vars)


def seasonal_windows(n_windows: int, lookback: int, horizon: int, n_vars: int, seed: int = 0):
    """Stride-1 windows of a noiseless multivariate seasonal series with per-variate phase, period and level."""
    gen = torch.Generator().manual_seed(seed)
    length = n_windows + lookback + horizon - 1
    t = torch.arange(length, dtype=torch.float32)[:, None]
    period = 6.0 + 3.0 * torch.arange(n_vars, dtype=torch.float32)
    phase = 2 * math.pi * torch.rand(n_vars, generator=gen)
    series = torch.sin(2 * math.pi * t / period + phase) + 0.5 * torch.cos(2 * math.pi * t / 24.0)
    series = series + torch.arange(n_vars)
    idx = torch.arange(n_windows)[:, None]
    x = series[idx + torch.arange(lookback)]
    y = series[idx + lookback + torch.arange(horizon)]
    return x, y


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("lookback", "horizon", "n_vars"), [(32, 8, 3), (37, 5, 1), (20, 30, 4)])
def test_forward_shape(name: str, lookback: int, horizon: int, n_vars: int) -> None:
    torch.manual_seed(0)
    model = tiny_model(name, lookback, horizon, n_vars)
    y = model(torch.randn(2, lookback, n_vars))
    assert y.shape == (2, horizon, n_vars)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_every_parameter_receives_a_gradient(name: str) -> None:
    torch.manual_seed(0)
    model = tiny_model(name, revin_affine=True)
    x = torch.randn(4, 32, 3)
    model(x).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_predictions(name: str) -> None:
    x = torch.randn(4, 32, 3)

    def predict(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        model = tiny_model(name, dropout=0.1)
        model.train()
        model(x)  # a training-mode pass (dropout draws, BatchNorm statistics) must also be reproducible
        model.eval()
        with torch.no_grad():
            return model(x)

    assert torch.equal(predict(1), predict(1))
    assert not torch.allclose(predict(1), predict(2))


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m == "tsm2" else m for m in MODELS])
def test_overfits_a_tiny_series(name: str) -> None:
    torch.manual_seed(0)
    x, y = seasonal_windows(32, 32, 8, 3)
    model = tiny_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = torch.nn.functional.mse_loss(model(x), y).item()
    for _ in range(120):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(model(x), y).item()
    assert final < 5e-3, f"{name} reached training MSE {final:.4f} (start {start:.4f})"


@pytest.mark.parametrize("name", MODELS)
def test_wrong_input_shape_is_a_clear_error(name: str) -> None:
    model = tiny_model(name, 32, 8, 3)
    with pytest.raises(ValueError, match="expects input"):
        model(torch.randn(2, 31, 3))
    with pytest.raises(ValueError, match="expects input"):
        model(torch.randn(2, 32, 4))


@pytest.mark.parametrize("name", MODELS)
def test_lookback_shorter_than_a_patch_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match="shorter than patch_len"):
        tiny_model(name, lookback=7)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_and_invalid_options_are_clear_errors(name: str) -> None:
    with pytest.raises(ValueError, match="Unknown option"):
        make_config(name, None, {"d_modle": 8})
    with pytest.raises(ValueError, match="dropout"):
        make_config(name, None, {"dropout": 1.5})


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dataset", ["ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", None])
def test_dataset_defaults_build_a_model(name: str, dataset: str | None) -> None:
    spec = get_model_spec(name)
    defaults = spec.dataset_defaults(dataset)
    assert set(defaults) == {"model", "train"}
    TrainConfig.from_dict(defaults["train"])  # every training key is a TrainConfig field with a valid value
    model = build_model(name, make_config(name, dataset), 96, 24, 7)
    assert model(torch.randn(2, 96, 7)).shape == (2, 24, 7)
