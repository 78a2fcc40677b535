"""Evaluation over every window: per-window metrics, standardised and original scale; rolling origins.

Metrics follow the field's convention on the standardised scale and also report
the original scale: each window's MSE/MAE is the mean over its H x M values, and
the reported figure is the mean over *all* windows (no ``drop_last``, no
batch-size weighting artefacts).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsmamba.data.scaler import StandardScaler
from tsmamba.data.windows import WindowDataset
from tsmamba.training import iter_predictions


@dataclass(frozen=True)
class WindowMetrics:
    """Mean over windows of per-window MSE and MAE; ``*_raw`` on the original scale (None without a scaler)."""

    mse: float
    mae: float
    mse_raw: float | None
    mae_raw: float | None
    n_windows: int

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain dict, for results files."""
        return {
            "mse": self.mse,
            "mae": self.mae,
            "mse_raw": self.mse_raw,
            "mae_raw": self.mae_raw,
            "n_windows": self.n_windows,
        }


def per_window_errors(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window MSE and MAE (mean over horizon and variates) of [B, H, M] tensors, in float64."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape.")
    err = prediction.double() - target.double()
    return err.pow(2).mean(dim=(1, 2)), err.abs().mean(dim=(1, 2))


def evaluate_windows(
    model: nn.Module,
    windows: WindowDataset,
    scaler: StandardScaler | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> WindowMetrics:
    """Metrics of ``model`` over every window of ``windows`` (standardised values; ``scaler`` maps them back)."""
    sums = torch.zeros(4, dtype=torch.float64)
    count = 0
    for _, pred, target in iter_predictions(model, windows, batch_size, device):
        mse, mae = per_window_errors(pred, target)
        sums[0] += mse.sum().cpu()
        sums[1] += mae.sum().cpu()
        if scaler is not None:
            mse_raw, mae_raw = per_window_errors(
                scaler.inverse_transform(pred.double()), scaler.inverse_transform(target.double())
            )
            sums[2] += mse_raw.sum().cpu()
            sums[3] += mae_raw.sum().cpu()
        count += len(pred)
    means = (sums / count).tolist()
    return WindowMetrics(
        means[0], means[1], means[2] if scaler is not None else None, means[3] if scaler is not None else None, count
    )


@dataclass(frozen=True)
class RollingFold:
    """One rolling origin: fit on rows ``[0, cutoff)``, forecast rows ``[cutoff, cutoff + horizon)``."""

    cutoff: int
    horizon: int

    @property
    def test(self) -> tuple[int, int]:
        """The ``[start, end)`` rows forecast from this origin."""
        return self.cutoff, self.cutoff + self.horizon


def rolling_origin(
    n_obs: int, horizon: int, n_windows: int = 1, step: int | None = None, min_train: int = 1
) -> list[RollingFold]:
    """Origins for rolling-origin evaluation, oldest first; the last forecast ends at the last row.

    ``step`` (default ``horizon``) separates consecutive origins. Raises when the first origin would leave
    fewer than ``min_train`` rows to fit on.
    """
    step = horizon if step is None else step
    if horizon <= 0 or n_windows <= 0 or step <= 0 or min_train <= 0:
        raise ValueError(
            f"horizon, n_windows, step and min_train must be positive; got horizon={horizon}, "
            f"n_windows={n_windows}, step={step}, min_train={min_train}."
        )
    last_cutoff = n_obs - horizon
    first_cutoff = last_cutoff - (n_windows - 1) * step
    if first_cutoff < min_train:
        raise ValueError(
            f"{n_windows} windows of horizon {horizon} every {step} steps need at least "
            f"{min_train + horizon + (n_windows - 1) * step} rows (min_train={min_train}); the series "
            f"has {n_obs}. Use fewer windows, a smaller step or horizon."
        )
    return [RollingFold(first_cutoff + k * step, horizon) for k in range(n_windows)]
