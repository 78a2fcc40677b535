"""The fitted state of a forecaster: what ``fit`` produces, ``predict`` reads and persistence serialises.

One dataclass, so the list of fitted things lives in one place; the forecaster exposes its fields as the
scikit-learn-style attributes ``model_``, ``scaler_``, ``series_``, ... (see ``BaseForecaster``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from tsmamba.data.scaler import StandardScaler
from tsmamba.forecaster.frames import Backend, Layout
from tsmamba.forecaster.time_types import TimeType
from tsmamba.losses import MSE, Loss
from tsmamba.models.channel_independent import ChannelIndependent


@dataclass
class FittedState:
    """Everything ``fit`` learns. ``lightning_module`` and ``training_history`` are not saved by ``save``."""

    model: nn.Module  # x[B, lookback, M] -> y[B, horizon * loss.n_outputs, M] standardised (ChannelIndependent: any M)
    lookback: int  # input_size at fit time (set_params afterwards does not change the trained model)
    horizon: int  # h at fit time
    model_config: Any  # the model's config dataclass, as trained
    scaler: StandardScaler  # per series, fitted on the training part only
    freq: str | int  # pandas frequency alias of the training frame (an int step for integer timestamps)
    series: list[Any]  # series ids (long frames) or value columns (wide frames), in model order
    layout: Layout  # 'long' or 'wide': the training frame's shape
    backend: Backend  # 'pandas' or 'polars': the training frame's library
    last_window: np.ndarray  # [input_size, M]: the last input_size rows of each series (original scale)
    history_end: pd.Timestamp | int  # the latest last training timestamp of any series
    train_range: tuple[Any, Any, int]  # earliest and latest timestamp, number of timestamps of the longest series
    lightning_module: Any = None  # the LightningModule it was trained with (None after load)
    training_history: list[dict[str, float]] = field(default_factory=list)  # per epoch: lr, losses
    time_type: TimeType | None = None  # the training frame's time dtype, restored on predict() outputs
    conformal_scores: np.ndarray | None = None  # [n, h, M] absolute errors of the calibration model (or None)
    ends: list[Any] = field(default_factory=list)  # each series' last training timestamp: predict() follows it

    @property
    def series_ends(self) -> list[Any]:
        """Each series' last training timestamp (``history_end`` for all when ``ends`` was not recorded)."""
        return list(self.ends) if self.ends else [self.history_end] * len(self.series)

    @property
    def global_model(self) -> bool:
        """True for a channel-independent model: one univariate model for any series (a panel), new ones too."""
        return isinstance(self.model, ChannelIndependent)

    loss: Loss = field(default_factory=MSE)  # the training loss: how many outputs per step and which columns

    @property
    def n_vars(self) -> int:
        """Number of series (the model's variates)."""
        return len(self.series)
