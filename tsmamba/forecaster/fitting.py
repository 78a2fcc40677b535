"""Fit and forecast for the forecasters, on the library's one path: recipes, windows, training, prediction.

``fit_state`` turns a validated panel and a forecaster's keywords into a :class:`FittedState` (configs from
:mod:`tsmamba.recipes`, the ``WindowDataset`` and ``fit_model`` of the benchmark, its ``StandardScaler`` and
device choice); ``forecast`` and ``score_windows`` predict through ``predict_windows`` / ``evaluate_windows``,
exactly as ``tsmamba bench`` does. Nothing here mutates the forecaster: callers decide whether a new state
replaces the fitted one (``fit``) or is thrown away (``cross_validation``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tsmamba.data.scaler import fit_scaler
from tsmamba.data.windows import WindowDataset
from tsmamba.evaluation import evaluate_windows
from tsmamba.forecaster.checks import check_int
from tsmamba.forecaster.frames import Panel
from tsmamba.forecaster.loss_columns import check_loss
from tsmamba.forecaster.state import FittedState
from tsmamba.losses import PointForecast, sort_quantiles
from tsmamba.models.registry import build_model
from tsmamba.recipes import resolve
from tsmamba.training import ForecastModule, TrainConfig, fit_model, predict_windows, resolve_device

INFERENCE_BATCH = 1024  # windows per forward pass at inference: one pass for typical predict/CV calls
AUTO_VAL_FRACTION = 0.1  # val_size=None with early stopping: hold out this share of the timestamps (at least h)

# forecaster keyword -> TrainConfig field; None keeps the recipe's value
_TRAIN_KEYWORDS = {
    "max_epochs": "max_epochs",
    "max_steps": "max_steps",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "lr_schedule": "lr_schedule",
    "gradient_clip": "gradient_clip",
    "early_stopping_patience": "patience",
    "val_check_steps": "val_check_steps",
    "loss": "loss",
    "accelerator": "accelerator",
    "devices": "devices",
    "precision": "precision",
}


def run_configs(params: Any) -> tuple[Any, TrainConfig]:
    """The model config and ``TrainConfig`` a forecaster's keywords describe: its recipe, then the keywords."""
    model_over = {k: getattr(params, k) for k in params.model_params if getattr(params, k) is not None}
    train_over: dict[str, Any] = {
        field: getattr(params, kw) for kw, field in _TRAIN_KEYWORDS.items() if getattr(params, kw) is not None
    }
    if train_over.get("patience") == 0:
        train_over["patience"] = None  # early_stopping_patience=0: never stop early
    if params.trainer_kwargs is not None:
        train_over["trainer_kwargs"] = dict(params.trainer_kwargs)
    train_over["seed"] = params.random_state
    train_over["drop_last"] = False  # a forecaster trains on every window of the user's (often short) frame
    return resolve(params.model_name, params.recipe, model_over, train_over)


def validation_size(params: Any, n_times: int, patience: int | None, val_size: int | None = None) -> int:
    """``val_size`` (the call's, else the forecaster's), or when both are None: 0 without early stopping, else
    10% of the timestamps (>= h)."""
    if val_size is None:
        val_size = params.val_size
    if val_size is not None:
        return int(val_size)
    if patience is None:
        return 0
    return max(int(params.h), math.ceil(AUTO_VAL_FRACTION * n_times))


def check_length(params: Any, n_times: int, val: int, what: str, auto_val: bool | None = None) -> None:
    """An error naming the parameters to change when ``n_times`` cannot hold one training and validation part."""
    lookback, horizon = int(params.input_size), int(params.h)
    need = lookback + horizon + val
    if n_times < need:
        auto = (
            f" (val_size=None held out {val} steps for the recipe's early stopping; pass val_size=0 to train "
            "without a validation part)"
            if (params.val_size is None if auto_val is None else auto_val) and val
            else ""
        )
        raise ValueError(
            f"{what}: series have {n_times} timestamps; fitting needs at least input_size + h + val_size = {need}"
            f"{auto}. Pass a longer history or lower input_size/h/val_size."
        )


def calibration_scores(params: Any, panel: Panel, freq: str | int, val_size: int | None) -> np.ndarray:
    """Absolute errors ``[n, h, M]`` (original scale) of a model trained before the last ``h + n - 1`` steps,
    on the ``n = conformal_windows`` windows after it (origins one step apart): out-of-sample residuals."""
    n, horizon = int(params.conformal_windows), int(params.h)
    head = panel.n_times - horizon - n + 1
    if head < 1:
        raise ValueError(
            f"conformal_windows={n} needs more than h + n - 1 = {horizon + n - 1} timestamps; the series have "
            f"{panel.n_times}. Lower conformal_windows or pass a longer history."
        )
    _, train_config = run_configs(params)
    check_length(params, head, validation_size(params, head, train_config.patience, val_size), "conformal calibration")
    prefix = Panel(panel.values[:head], panel.index[:head], panel.series, panel.layout, panel.backend)
    state = fit_state(params, prefix, freq, val_size, calibrate=False)
    ends = list(range(head, head + n))
    predicted = forecast(state, panel.values, ends)
    actual = np.stack([panel.values[e : e + horizon] for e in ends])
    return np.abs(actual - predicted)


def fit_state(
    params: Any, panel: Panel, freq: str | int, val_size: int | None = None, calibrate: bool = True
) -> FittedState:
    """Train a new model on ``panel`` as the keywords of ``params`` (a forecaster) say; return its fitted state.

    The last ``val_size`` steps (the call's, else the forecaster's keyword) are held out for early stopping;
    the scaler is fitted on the rest only. With ``conformal_windows > 0`` (and ``calibrate``) a calibration
    model is trained first and its rolling-window errors kept for prediction intervals.
    Weights are initialised from ``random_state``, so two calls with the same seed give the same model.
    """
    config, train_config = run_configs(params)
    device = resolve_device(train_config.accelerator)  # fail before training on an unknown accelerator
    scores = calibration_scores(params, panel, freq, val_size) if calibrate and params.conformal_windows else None
    n, _ = panel.values.shape
    val = validation_size(params, n, train_config.patience, val_size)
    check_length(params, n, val, "fit", auto_val=params.val_size is None and val_size is None)
    lookback, horizon = int(params.input_size), int(params.h)
    train_end = n - val
    scaler = fit_scaler(panel.values, train_end)
    scaled = scaler.transform(panel.values)
    train_windows = WindowDataset(scaled, lookback, horizon, 0, train_end)
    val_windows = WindowDataset(scaled, lookback, horizon, train_end - lookback, n) if val else None
    torch.manual_seed(params.random_state)
    loss = train_config.loss_function  # MQLoss: the model forecasts h * Q steps, read as [Q, h] (tsmamba.losses)
    model = build_model(params.model_name, config, lookback, horizon * loss.n_outputs, panel.values.shape[1])
    result = fit_model(model, train_windows, val_windows, train_config)
    return FittedState(
        model=result.model.to(device).eval(),
        lookback=lookback,
        horizon=horizon,
        model_config=config,
        scaler=scaler,
        freq=freq,
        series=list(panel.series),
        layout=panel.layout,
        backend=panel.backend,
        last_window=panel.values[-lookback:].copy(),
        history_end=panel.index[-1],
        train_range=(panel.index[0], panel.index[-1], n),
        lightning_module=ForecastModule(result.model, train_config, train_windows, val_windows),
        training_history=result.history,
        time_type=panel.time_type,
        conformal_scores=scores,
        loss=loss,
    )


def _diverged(count: int) -> FloatingPointError:
    return FloatingPointError(
        f"The model produced NaN/inf forecasts ({count} values); training diverged. "
        "Lower learning_rate, set gradient_clip, or check the input scale."
    )


def forecast_outputs(state: FittedState, values: np.ndarray, ends: Sequence[int]) -> np.ndarray:
    """Original-scale outputs ``[len(ends), Q, h, M]`` (``Q`` = the loss's outputs, quantiles ascending and sorted
    so they never cross; ``Q = 1`` for point losses) from the ``lookback`` rows of ``values`` before each end."""
    lookback = state.lookback
    windows = WindowDataset(state.scaler.transform(values), lookback, 0)
    scaled = predict_windows(state.model, windows, INFERENCE_BATCH, indices=[e - lookback for e in ends])
    split = sort_quantiles(state.loss.split_outputs(scaled, state.horizon))
    out = np.asarray(state.scaler.inverse_transform(split.double().numpy()))
    if not np.isfinite(out).all():
        raise _diverged(int((~np.isfinite(out)).sum()))
    return out


def forecast(state: FittedState, values: np.ndarray, ends: Sequence[int]) -> np.ndarray:
    """Original-scale point forecasts ``[len(ends), h, M]`` (``<Model>``; the median of an MQLoss model)."""
    return forecast_outputs(state, values, ends)[:, state.loss.point_index]


def score_windows(state: FittedState, values: np.ndarray) -> float:
    """Mean per-window MSE (standardised scale) over every window of ``values``: the benchmark's metric."""
    windows = WindowDataset(state.scaler.transform(values), state.lookback, state.horizon)
    point = PointForecast(state.model, state.loss, state.horizon)
    mse = evaluate_windows(point, windows, batch_size=INFERENCE_BATCH).mse
    if not math.isfinite(mse):
        raise _diverged(1)
    return mse


def check_val_size(params: Any, val_size: int | None) -> None:
    """``val_size`` (a keyword or a ``fit``/``cross_validation`` argument): None, 0 or at least ``h``, and not 0
    while early stopping is asked for explicitly."""
    if val_size is None:
        return
    check_int("val_size", val_size, 0)
    if val_size and val_size < params.h:
        raise ValueError(f"val_size={val_size} must be 0 or at least h={params.h} (one validation window).")
    if params.early_stopping_patience and val_size == 0:
        raise ValueError("early_stopping_patience needs a validation part: set val_size >= h (or None).")


def check_common(params: Any) -> None:
    """Checks of the shared keywords (run at fit time, never in ``__init__``)."""
    check_int("h", params.h, 1)
    check_int("input_size", params.input_size, 1)
    check_int("random_state", params.random_state, 0)
    check_val_size(params, params.val_size)
    if params.early_stopping_patience is not None:
        check_int("early_stopping_patience", params.early_stopping_patience, 0)
    for name in ("max_epochs", "batch_size"):
        if getattr(params, name) is not None:
            check_int(name, getattr(params, name), 1)
    check_int("conformal_windows", params.conformal_windows, 0)
    check_loss(params)
    if params.max_steps is not None:
        check_int("max_steps", params.max_steps, 1)
    if params.val_check_steps is not None:
        check_int("val_check_steps", params.val_check_steps, 1)
    if params.trainer_kwargs is not None and not isinstance(params.trainer_kwargs, dict):
        raise TypeError(f"trainer_kwargs must be a dict or None, got {type(params.trainer_kwargs).__name__}.")
