"""Evaluation: per-window averages over every window, both scales; rolling origins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tsmamba.data.scaler import StandardScaler
from tsmamba.data.windows import WindowDataset
from tsmamba.evaluation import evaluate_windows, per_window_errors, rolling_origin


class LastValue(nn.Module):
    """Repeats the last observed step: a fixed, parameter-light forecaster with known errors."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1:].expand(-1, self.horizon, -1) + self.dummy


def loop_metrics(values: np.ndarray, lookback: int, horizon: int) -> tuple[float, float]:
    """Straightforward loop over every window: mean of per-window MSE / MAE of the last-value forecast."""
    mses, maes = [], []
    for i in range(len(values) - lookback - horizon + 1):
        err = values[i + lookback : i + lookback + horizon] - values[i + lookback - 1]
        mses.append((err**2).mean())
        maes.append(np.abs(err).mean())
    return float(np.mean(mses)), float(np.mean(maes))


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_every_window_is_evaluated_and_averaged_per_window(batch_size: int) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(10.0, 3.0, (123, 2)).cumsum(axis=0)
    scaler = StandardScaler().fit(raw[:60])
    scaled = scaler.transform(raw)
    ds = WindowDataset(scaled, lookback=10, horizon=5)
    metrics = evaluate_windows(LastValue(5), ds, scaler, batch_size=batch_size)
    assert metrics.n_windows == 123 - 10 - 5 + 1
    mse, mae = loop_metrics(scaled.astype(np.float32).astype(np.float64), 10, 5)
    assert metrics.mse == pytest.approx(mse, rel=1e-6) and metrics.mae == pytest.approx(mae, rel=1e-6)
    mse_raw, mae_raw = loop_metrics(raw, 10, 5)
    assert metrics.mse_raw == pytest.approx(mse_raw, rel=1e-5) and metrics.mae_raw == pytest.approx(mae_raw, rel=1e-5)


def test_without_scaler_raw_metrics_are_absent() -> None:
    ds = WindowDataset(np.random.default_rng(1).normal(size=(50, 3)), 8, 4)
    metrics = evaluate_windows(LastValue(4), ds)
    assert metrics.mse_raw is None and metrics.mae_raw is None
    assert set(metrics.as_dict()) == {"mse", "mae", "mse_raw", "mae_raw", "n_windows"}


def test_per_window_errors_shape_check() -> None:
    mse, mae = per_window_errors(torch.ones(2, 3, 4), torch.zeros(2, 3, 4))
    assert mse.tolist() == [1.0, 1.0] and mae.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="differ in shape"):
        per_window_errors(torch.ones(2, 3, 4), torch.zeros(2, 4, 3))


def test_rolling_origin_ends_at_the_last_row() -> None:
    folds = rolling_origin(100, horizon=10, n_windows=3, step=5)
    assert [f.cutoff for f in folds] == [80, 85, 90]
    assert folds[-1].test == (90, 100)
    assert [f.cutoff for f in rolling_origin(100, horizon=10, n_windows=2)] == [80, 90]  # step defaults to horizon


def test_rolling_origin_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError, match="need at least 61 rows"):
        rolling_origin(50, horizon=10, n_windows=6, step=10, min_train=1)
    with pytest.raises(ValueError, match="must be positive"):
        rolling_origin(50, horizon=0)
