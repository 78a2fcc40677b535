"""Train a forecaster's model through the library's training spine (``tsmamba.training``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn


def train(model: nn.Module, scaled: np.ndarray, train_end: int, params: Any) -> Any:
    """Fit ``model`` on windows of ``scaled[:train_end]``, validating on the rest; returns the LightningModule."""
    from tsmamba.data.windows import WindowDataset
    from tsmamba.training import TrainConfig, fit_model

    lookback, horizon = int(params.input_size), int(params.h)
    train_windows = WindowDataset(scaled, lookback, horizon, 0, train_end)
    val_windows = WindowDataset(scaled, lookback, horizon, train_end - lookback, len(scaled)) if params.val_size else None
    config = TrainConfig(
        learning_rate=params.learning_rate,
        batch_size=params.batch_size,
        max_epochs=params.max_epochs,
        patience=params.early_stopping_patience,
        lr_schedule=params.lr_schedule,
        precision=params.precision,
        gradient_clip=params.gradient_clip,
        seed=params.random_state,
        accelerator=params.accelerator,
        devices=params.devices,
    )
    return fit_model(model, train_windows, val_windows, config)
