"""Train a forecaster's model through the library's training spine (``tsmamba.training.fit_model``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from tsmamba.data.windows import WindowDataset
from tsmamba.training import FitResult, ForecastModule, TrainConfig, fit_model


def train_config(params: Any) -> TrainConfig:
    """The ``TrainConfig`` a forecaster's keywords describe."""
    values: dict[str, Any] = {
        "learning_rate": params.learning_rate,
        "batch_size": params.batch_size,
        "max_epochs": params.max_epochs,
        "patience": params.early_stopping_patience,
        "lr_schedule": params.lr_schedule,
        "precision": params.precision,
        "gradient_clip": params.gradient_clip,
        "seed": params.random_state,
        "accelerator": params.accelerator,
        "devices": params.devices,
    }
    if params.max_steps is not None:
        values["max_steps"] = params.max_steps
    if params.trainer_kwargs is not None:
        values["trainer_kwargs"] = dict(params.trainer_kwargs)
    return TrainConfig(**values)


def train(model: nn.Module, scaled: np.ndarray, train_end: int, params: Any) -> tuple[FitResult, ForecastModule]:
    """Fit ``model`` on windows of ``scaled[:train_end]``, early-stopping on the rest when ``val_size > 0``.

    Returns the spine's ``FitResult`` and a ``ForecastModule`` (LightningModule) over the same model and
    windows, for users who continue training their own way.
    """
    lookback, horizon = int(params.input_size), int(params.h)
    train_windows = WindowDataset(scaled, lookback, horizon, 0, train_end)
    val_windows = (
        WindowDataset(scaled, lookback, horizon, train_end - lookback, len(scaled)) if params.val_size else None
    )
    config = train_config(params)
    result = fit_model(model, train_windows, val_windows, config)
    return result, ForecastModule(result.model, config, train_windows, val_windows)
