"""Fit and forecast for the forecasters, on the library's one path: recipes, windows, training, prediction.

``fit_state`` turns validated series and a forecaster's keywords into a :class:`FittedState` (configs from
:mod:`tsmamba.recipes`, the ``WindowDataset`` and ``fit_model`` of the benchmark, or ``PanelWindowDataset`` for a
ragged panel, a ``StandardScaler`` per series and the device choice); ``forecast_series`` and ``score_windows``
predict through ``predict_windows`` / ``evaluate_windows``, exactly as ``tsmamba bench`` does. A
channel-independent model (``SPEC.channel_independent``) is one global univariate model (``ChannelIndependent``)
for any series; any other (TSM2 with its channel mixers) is multivariate over the fitted, aligned series.
Nothing here mutates the forecaster: callers decide whether a new state replaces the fitted one (``fit``) or is
thrown away (``cross_validation``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tsmamba.data.panel import PanelWindowDataset
from tsmamba.data.scaler import StandardScaler, fit_scaler
from tsmamba.data.windows import WindowDataset
from tsmamba.evaluation import evaluate_windows
from tsmamba.forecaster.checks import check_int
from tsmamba.forecaster.frames import SeriesSet
from tsmamba.forecaster.loss_columns import check_loss
from tsmamba.forecaster.state import FittedState
from tsmamba.losses import PointForecast, sort_quantiles
from tsmamba.models.channel_independent import ChannelIndependent
from tsmamba.models.registry import build_model, get_model_spec
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


# Trainer arguments a neuralforecast user passes in trainer_kwargs: those that are this forecaster's own keywords
# (an error names the keyword), and those that are TrainConfig fields the forecaster has no keyword for
_TRAINER_ARG_KEYWORDS = {
    "max_epochs": "max_epochs",
    "max_steps": "max_steps",
    "accelerator": "accelerator",
    "devices": "devices",
    "precision": "precision",
    "gradient_clip_val": "gradient_clip",
    "val_check_interval": "val_check_steps",
    "check_val_every_n_epoch": "val_check_steps",
}
_TRAINER_ARG_FIELDS = {"enable_progress_bar": "progress_bar", "deterministic": "deterministic", "strategy": "strategy"}


def run_configs(params: Any) -> tuple[Any, TrainConfig]:
    """The model config and ``TrainConfig`` a forecaster's keywords describe: its recipe, then the keywords."""
    model_over = {k: getattr(params, k) for k in params.model_params if getattr(params, k) is not None}
    train_over: dict[str, Any] = {
        field: getattr(params, kw) for kw, field in _TRAIN_KEYWORDS.items() if getattr(params, kw) is not None
    }
    if train_over.get("patience") == 0:
        train_over["patience"] = None  # early_stopping_patience=0: never stop early
    if params.trainer_kwargs is not None:
        extra = dict(params.trainer_kwargs)
        own = sorted(k for k in extra if k in _TRAINER_ARG_KEYWORDS)
        if own:
            keywords = ", ".join(sorted({f"{_TRAINER_ARG_KEYWORDS[k]}=" for k in own}))
            raise ValueError(f"trainer_kwargs {own} are set through this forecaster's own keywords: pass {keywords}.")
        train_over.update({field: extra.pop(k) for k, field in _TRAINER_ARG_FIELDS.items() if k in extra})
        train_over["trainer_kwargs"] = extra
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


def channel_independent(params: Any, config: Any) -> bool:
    """Whether ``params``' model with ``config`` is a global univariate model (shared weights, no per-series
    parameters: PatchTST and DLinear without ``individual``), which fits and forecasts any panel of series."""
    return bool(get_model_spec(params.model_name).channel_independent(config))


def aligned_reason(params: Any, config: Any) -> tuple[str, str]:
    """Why a multivariate forecaster needs its series aligned (and exactly the fitted ones), and what to do."""
    if params.model_name == "tsm2" and config.channel_mixer:
        why = (
            "TSM2 mixes channels (channel_mixer=True: each forecast reads every series at the same timestamps), so "
            "it needs all series aligned on the same timestamps"
        )
        fix = (
            "Align the series on a common time grid, or set channel_mixer=False (its token mixers alone are one "
            "global univariate model, as PatchTSTForecaster and DLinearForecaster are) for a panel of series of "
            "different lengths and start dates."
        )
        return why, fix
    keywords = [k for k in ("individual", "revin_affine") if getattr(config, k, False)]
    named = " and ".join(f"{k}=True" for k in keywords)
    why = (
        f"{params.display_name} with {named} has parameters per series (it is a multivariate model over the "
        "fitted series), so it needs all series aligned on the same timestamps"
    )
    fix = f"Align the series on a common time grid, or set {named.replace('True', 'False')} for a global model."
    return why, fix


def check_length(params: Any, data: SeriesSet, val: int, what: str, auto_val: bool | None = None) -> None:
    """An error naming the parameters to change (and, in a ragged panel, the series) when a series cannot hold
    one training and validation part."""
    lookback, horizon = int(params.input_size), int(params.h)
    need = lookback + horizon + val
    lengths = data.lengths
    if lengths.min() >= need:
        return
    auto = (
        f" (val_size=None held out {val} steps for the recipe's early stopping; pass val_size=0 to train "
        "without a validation part)"
        if (params.val_size is None if auto_val is None else auto_val) and val
        else ""
    )
    if data.aligned:
        raise ValueError(
            f"{what}: series have {lengths[0]} timestamps; fitting needs at least input_size + h + val_size = "
            f"{need}{auto}. Pass a longer history or lower input_size/h/val_size."
        )
    short = [f"{s!r} ({n} timestamps)" for s, n in zip(data.series, lengths, strict=True) if n < need]
    raise ValueError(
        f"{what}: series {', '.join(short[:5])}{' ...' if len(short) > 5 else ''} are too short; every series "
        f"needs at least input_size + h + val_size = {need} timestamps{auto}. Leave the short series out (or "
        "give them a longer history), or lower input_size/h/val_size."
    )


def calibration_scores(params: Any, data: SeriesSet, freq: str | int, val_size: int | None) -> np.ndarray:
    """Absolute errors ``[n, h, M]`` (original scale) of a model trained before the last ``h + n - 1`` steps of
    each series, on the ``n = conformal_windows`` windows after it (origins one step apart): out-of-sample."""
    n, horizon = int(params.conformal_windows), int(params.h)
    heads = data.lengths - horizon - n + 1
    if heads.min() < 1:
        raise ValueError(
            f"conformal_windows={n} needs more than h + n - 1 = {horizon + n - 1} timestamps; the series have "
            f"{int(data.lengths.min())}. Lower conformal_windows or pass a longer history."
        )
    _, train_config = run_configs(params)
    prefix = data.head(heads)
    check_length(
        params,
        prefix,
        validation_size(params, int(heads.min()), train_config.patience, val_size),
        "conformal calibration",
    )
    state = fit_state(params, prefix, freq, val_size, calibrate=False)
    ends = [list(range(head, head + n)) for head in heads]
    predicted = forecast_series(state, data.values, ends)
    actual = [np.stack([v[e : e + horizon] for e in end]) for v, end in zip(data.values, ends, strict=True)]
    return np.stack([np.abs(a - p) for a, p in zip(actual, predicted, strict=True)], axis=-1)


def series_scaler(data: SeriesSet, train_ends: np.ndarray) -> StandardScaler:
    """Per series, the ``StandardScaler`` of its own first ``train_ends[k]`` rows (the training part): local
    scaling, so no validation or test statistics leak into training."""
    if data.aligned:
        return fit_scaler(np.stack(data.values, axis=1), int(train_ends[0]))
    fitted = [fit_scaler(v[:, None], int(end)) for v, end in zip(data.values, train_ends, strict=True)]
    scaler = StandardScaler()
    scaler.mean = np.concatenate([f.mean for f in fitted if f.mean is not None])
    scaler.scale = np.concatenate([f.scale for f in fitted if f.scale is not None])
    return scaler


def fit_state(
    params: Any, data: SeriesSet, freq: str | int, val_size: int | None = None, calibrate: bool = True
) -> FittedState:
    """Train a new model on the series of ``data`` as the keywords of ``params`` (a forecaster) say.

    The last ``val_size`` steps of each series (the call's, else the forecaster's keyword) are held out for
    early stopping; each series' scaler is fitted on the rest of it only. A channel-independent model
    (PatchTST, DLinear, TSM2 without channel mixers) is one univariate model shared by all series, trained on
    the windows of every series (aligned series: the benchmark's multivariate windows, folded into the batch;
    ragged ones: the windows of each series, never across two); a multivariate one (TSM2 with its channel
    mixers) needs aligned series. With
    ``conformal_windows > 0`` (and ``calibrate``) a calibration model is trained first and its rolling-window
    errors kept for prediction intervals. Weights are initialised from ``random_state``.
    """
    config, train_config = run_configs(params)
    device = resolve_device(train_config.accelerator)  # fail before training on an unknown accelerator
    independent = channel_independent(params, config)
    if not independent:
        data.to_panel(*aligned_reason(params, config))  # the error that says why, before any training
    scores = calibration_scores(params, data, freq, val_size) if calibrate and params.conformal_windows else None
    lengths = data.lengths
    val = validation_size(params, int(lengths.min()), train_config.patience, val_size)
    check_length(params, data, val, "fit", auto_val=params.val_size is None and val_size is None)
    lookback, horizon = int(params.input_size), int(params.h)
    train_ends = lengths - val
    scaler = series_scaler(data, train_ends)
    mean, scale = np.asarray(scaler.mean), np.asarray(scaler.scale)
    scaled = [(v - m) / sd for v, m, sd in zip(data.values, mean, scale, strict=True)]
    train_windows: WindowDataset
    if data.aligned:
        dense, n = np.stack(scaled, axis=1), int(lengths[0])
        train_windows = WindowDataset(dense, lookback, horizon, 0, n - val)
        val_windows = WindowDataset(dense, lookback, horizon, n - val - lookback, n) if val else None
    else:
        train_windows = PanelWindowDataset(scaled, lookback, horizon, ends=train_ends)
        val_windows = PanelWindowDataset(scaled, lookback, horizon, starts=train_ends - lookback) if val else None
    torch.manual_seed(params.random_state)
    loss = train_config.loss_function  # MQLoss: the model forecasts h * Q steps, read as [Q, h] (tsmamba.losses)
    n_vars = 1 if independent else len(data.series)
    model = build_model(params.model_name, config, lookback, horizon * loss.n_outputs, n_vars)
    if independent:
        model = ChannelIndependent(model)
    result = fit_model(model, train_windows, val_windows, train_config)
    ends = [index[-1] for index in data.index]
    return FittedState(
        model=result.model.to(device).eval(),
        lookback=lookback,
        horizon=horizon,
        model_config=config,
        scaler=scaler,
        freq=freq,
        series=list(data.series),
        layout=data.layout,
        backend=data.backend,
        last_window=np.stack([v[-lookback:] for v in data.values], axis=1),
        history_end=max(ends),
        train_range=(min(index[0] for index in data.index), max(ends), int(lengths.max())),
        lightning_module=ForecastModule(result.model, train_config, train_windows, val_windows),
        training_history=result.history,
        time_type=data.time_type,
        conformal_scores=scores,
        ends=ends,
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


def forecast_series_outputs(
    state: FittedState,
    values: Sequence[np.ndarray],
    ends: Sequence[Sequence[int]],
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Original-scale outputs ``[len(ends[k]), Q, h]`` of each series ``k`` (``Q`` as in ``forecast_outputs``)
    from the ``lookback`` rows of ``values[k]`` before each of its ends. ``mean``/``scale``: each series' scaler
    (default: the fitted series' own, in fitted order). A multivariate model needs the fitted series, aligned,
    with equal ends."""
    if not isinstance(state.model, ChannelIndependent):
        out = forecast_outputs(state, np.stack(values, axis=1), ends[0])
        return [out[..., k] for k in range(out.shape[-1])]
    mean = np.asarray(state.scaler.mean if mean is None else mean, dtype=np.float64)
    scale = np.asarray(state.scaler.scale if scale is None else scale, dtype=np.float64)
    lookback = state.lookback
    windows = PanelWindowDataset([(v - m) / sd for v, m, sd in zip(values, mean, scale, strict=True)], lookback, 0)
    series = np.repeat(np.arange(len(values)), [len(e) for e in ends])
    starts = np.concatenate([np.asarray(e, dtype=np.int64) for e in ends]) - lookback
    indices = windows.window_index(series, starts)
    scaled = predict_windows(state.model, windows, INFERENCE_BATCH, indices=indices.tolist())
    split = sort_quantiles(state.loss.split_outputs(scaled, state.horizon))[..., 0]  # [n, Q, h]
    out = split.double().numpy() * scale[series, None, None] + mean[series, None, None]
    if not np.isfinite(out).all():
        raise _diverged(int((~np.isfinite(out)).sum()))
    return np.split(out, np.cumsum([len(e) for e in ends])[:-1])


def forecast_series(
    state: FittedState,
    values: Sequence[np.ndarray],
    ends: Sequence[Sequence[int]],
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Original-scale point forecasts ``[len(ends[k]), h]`` of each series (see ``forecast_series_outputs``)."""
    point = state.loss.point_index
    return [out[:, point] for out in forecast_series_outputs(state, values, ends, mean, scale)]


def score_windows(state: FittedState, data: SeriesSet, mean: np.ndarray, scale: np.ndarray) -> float:
    """Mean per-window MSE (standardised scale) of the point forecast over every window of every series: the
    benchmark's metric."""
    scaled = [(v - m) / sd for v, m, sd in zip(data.values, mean, scale, strict=True)]
    windows: WindowDataset
    if isinstance(state.model, ChannelIndependent):
        windows = PanelWindowDataset(scaled, state.lookback, state.horizon)
    else:
        windows = WindowDataset(np.stack(scaled, axis=1), state.lookback, state.horizon)
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
    roles = {params.id_col: "id_col", params.time_col: "time_col", params.target_col: "target_col", "cutoff": "cutoff"}
    name = params.output_name()
    if name in roles:
        raise ValueError(
            f"The forecast column would be named {name!r} ({'alias' if params.alias else 'the model name'}), which "
            f"is also the {roles[name]} column of the frames, so the forecasts would replace it. Pass another alias=."
        )
