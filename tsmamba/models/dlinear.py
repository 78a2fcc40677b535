"""DLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?", AAAI 2023).

Faithful to the official LTSF-Linear code: the input window is split by a
moving average (kernel 25, edges padded by repeating the first/last step) into
a trend and a seasonal remainder; one linear map lookback -> horizon per
component (shared across variates, or one per variate with ``individual``);
the forecast is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tsmamba.models.registry import ModelSpec, check_input_window


@dataclass
class DLinearConfig:
    """DLinear options (defaults: the paper's)."""

    moving_avg: int = 25  # kernel of the trend moving average; odd, so the trend keeps the window's length
    individual: bool = False  # one pair of linear heads per variate (DLinear-I) instead of shared heads


class MovingAverage(nn.Module):
    """Moving average along time with edge replication, so the output has the input's length."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"moving_avg must be a positive odd kernel size, got {kernel_size}.")
        self.kernel_size = kernel_size
        self.pool = nn.AvgPool1d(kernel_size=kernel_size, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x[B, L, M] -> trend[B, L, M]."""
        pad = (self.kernel_size - 1) // 2
        padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        return self.pool(padded.transpose(1, 2)).transpose(1, 2)


class DLinearModel(nn.Module):
    """Decomposition-linear forecaster: x[B, L, M] -> y[B, H, M]."""

    def __init__(self, config: DLinearConfig, lookback: int, horizon: int, n_vars: int) -> None:
        super().__init__()
        if lookback <= 0 or horizon <= 0 or n_vars <= 0:
            raise ValueError(f"lookback, horizon and n_vars must be positive, got {lookback}, {horizon}, {n_vars}.")
        self.config, self.lookback, self.horizon, self.n_vars = config, lookback, horizon, n_vars
        self.decomposition = MovingAverage(config.moving_avg)
        heads = n_vars if config.individual else 1
        self.seasonal = nn.ModuleList(nn.Linear(lookback, horizon) for _ in range(heads))
        self.trend = nn.ModuleList(nn.Linear(lookback, horizon) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast ``horizon`` steps of every variate from a window ``x[B, L, M]``."""
        check_input_window("DLinear", x, self.lookback, self.n_vars)
        trend = self.decomposition(x)
        seasonal = (x - trend).transpose(1, 2)
        trend = trend.transpose(1, 2)
        if self.config.individual:
            out = torch.stack(
                [self.seasonal[k](seasonal[:, k]) + self.trend[k](trend[:, k]) for k in range(self.n_vars)], dim=1
            )
        else:
            out = self.seasonal[0](seasonal) + self.trend[0](trend)
        return out.transpose(1, 2)


# The official LTSF-Linear scripts (scripts/EXP-LongForecasting/Linear/*.sh, seq_len 336) with run_longExp.py's
# defaults: 10 epochs, patience 3, 'type1' schedule (halve the lr every epoch); its training loader drops the last
# partial batch (evaluation here never does). Exchange's script uses batch 8 for
# horizons 96/192 and 32 for 336/720; the defaults here cannot depend on the horizon, so they take 32.
_TRAIN_DEFAULTS = {"max_epochs": 10, "patience": 3, "lr_schedule": "type1", "drop_last": True}
_PER_DATASET = {
    "etth1": {"learning_rate": 0.005, "batch_size": 32},
    "etth2": {"learning_rate": 0.05, "batch_size": 32},
    "ettm1": {"learning_rate": 0.0001, "batch_size": 8},
    "ettm2": {"learning_rate": 0.01, "batch_size": 32},
    "weather": {"learning_rate": 0.0001, "batch_size": 16},
    "exchange": {"learning_rate": 0.0005, "batch_size": 32},
    "ili": {"learning_rate": 0.01, "batch_size": 32},
}


def dataset_defaults(dataset: str | None) -> dict[str, dict[str, Any]]:
    """Training defaults of the official DLinear scripts for ``dataset`` (model options keep their defaults)."""
    train = dict(_TRAIN_DEFAULTS)
    train.update(_PER_DATASET.get((dataset or "").lower(), {"learning_rate": 0.0001, "batch_size": 32}))
    return {"model": {}, "train": train}


SPEC = ModelSpec(
    name="dlinear",
    config_cls=DLinearConfig,
    model_cls=DLinearModel,
    dataset_defaults=dataset_defaults,
    channel_independent=lambda config: not config.individual,  # individual: one head pair per variate
)
