"""The model contract's types: what every model module provides (``SPEC``) and the input check it runs.

A model module defines a config dataclass (every field with a default), an ``nn.Module`` built as
``Model(config, lookback, horizon, n_vars)`` mapping ``x[batch, lookback, n_vars] -> y[batch, horizon, n_vars]``,
and ``SPEC: ModelSpec``. These types live apart from the registry (which only maps names to modules) so a model
module depends on its contract, not on the lookup table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn


@dataclass(frozen=True)
class ModelSpec:
    """What the training and benchmark code needs to know about one model.

    ``dataset_defaults(dataset)`` returns ``{"model": {...}, "train": {...}}``: per-dataset overrides of the
    model config and of ``TrainConfig`` (e.g. the PatchTST paper's scripts); ``None`` is the model's generic
    recipe. Read them through :mod:`tsmamba.recipes`, the one place that turns them into configs.
    ``channel_independent(config)`` is True when a model built from ``config`` applies the same weights to
    each variate on its own (no channel mixing, no per-variate parameters): it then runs as one global
    univariate model over any number of series (:class:`tsmamba.models.channel_independent.ChannelIndependent`).
    """

    name: str
    config_cls: type
    model_cls: Callable[..., nn.Module]
    dataset_defaults: Callable[[str | None], dict[str, dict[str, Any]]]
    channel_independent: Callable[[Any], bool] = lambda config: False


def check_input_window(model: str, x: Tensor, lookback: int, n_vars: int) -> None:
    """Enforce the model contract's input: a (batch, lookback, n_vars) window, else a clear error with the fix."""
    if x.dim() != 3 or x.shape[1:] != (lookback, n_vars):
        raise ValueError(
            f"{model} expects input (batch, {lookback}, {n_vars}), got {tuple(x.shape)}: build the model with the "
            "lookback and number of variates of the data."
        )
