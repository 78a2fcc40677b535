"""The shared base class of the scikit-learn-style forecasters: fit / predict / cross_validation / score / save.

A subclass only names its registry model (``model_name``), its output column (``display_name``) and the
``__init__`` keywords forwarded to the model config (``model_params``); everything else is here, so the API does
not care which model it wraps. scikit-learn rules hold: every hyperparameter is an explicit ``__init__`` keyword
stored as given, nothing is validated or built in ``__init__``, ``fit`` returns ``self`` and fitted attributes
end in ``_``.

Decisions (documented in the README):

* rows may come in any order: timestamps are sorted; duplicates are an error;
* the frequency is inferred, or checked against ``freq``; irregular spacing is an error;
* ``h`` at predict time may be smaller than the fitted horizon (the forecast is truncated), never larger;
* ``predict(df)`` forecasts after the end of each series of ``df``: a fitted series with the scaler fitted in
  ``fit``; a global model (PatchTST, DLinear, TSM2 without channel mixers) also any subset and new series
  (scaled by their own history), a multivariate one (TSM2 with its channel mixers) exactly the fitted series,
  aligned;
* long frames may be ragged panels for a global model (each series on its own timestamps); TSM2 with channel
  mixers refuses them with the reason (it mixes channels, so it needs every series on the same timestamps);
* ``cross_validation`` trains on the data before the first cutoff (again at every cutoff with ``refit=True``),
  as neuralforecast does, on the side: only ``fit`` replaces the fitted state;
* training settings not given come from the model's recipe (:mod:`tsmamba.recipes`), as in ``tsmamba bench``.

The fitted state is one :class:`~tsmamba.forecaster.state.FittedState` (``state_``); ``model_``, ``scaler_``,
``series_``, ... are read-only views of it. Training and prediction run in :mod:`tsmamba.forecaster.fitting`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tsmamba.data.scaler import fit_scaler
from tsmamba.forecaster import fitting
from tsmamba.forecaster.checks import check_int, check_no_y
from tsmamba.forecaster.classes import register
from tsmamba.forecaster.cross_validation import cross_validate
from tsmamba.forecaster.frames import Columns, Panel, SeriesSet, forecast_frame, series_forecast_frame, to_series_set
from tsmamba.forecaster.frequency import future_index
from tsmamba.forecaster.intervals import check_levels, interval_columns
from tsmamba.forecaster.loss_columns import check_loss, level_error, loss_columns
from tsmamba.forecaster.persistence import load_forecaster, save_forecaster
from tsmamba.forecaster.plotting import plot_forecasts


def _fitted(field: str, doc: str) -> property:
    """A read-only fitted attribute backed by ``state_``; absent (AttributeError) before ``fit``."""

    def get(self: BaseForecaster) -> Any:
        state = self.__dict__.get("state_")
        if state is None:
            raise AttributeError(f"{type(self).__name__} is not fitted: {field} exists after fit().")
        return getattr(state, field)

    return property(get, doc=doc)


class BaseForecaster(BaseEstimator):
    """Fit a registry model on a pandas/polars frame and forecast its future; see the module docstring."""

    model_name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    model_params: ClassVar[tuple[str, ...]] = ()

    # Fitted attributes: views of ``state_`` (a FittedState), the one owner of what fit learned.
    model_ = _fitted(
        "model",
        "The trained nn.Module: x[B, input_size, M] -> y[B, h, M] on standardised data (PatchTST/DLinear: a "
        "ChannelIndependent global model, any M).",
    )
    model_config_ = _fitted("model_config", "The model's config dataclass, as trained.")
    scaler_ = _fitted("scaler", "The StandardScaler fitted on the training part, per series.")
    freq_ = _fitted("freq", "Frequency of the training frame (pandas alias; an int step for integer timestamps).")
    series_ = _fitted("series", "Series ids (long) or value columns (wide), in model order.")
    n_vars_ = _fitted("n_vars", "Number of series.")
    layout_ = _fitted("layout", "'long' or 'wide': the training frame's shape.")
    backend_ = _fitted("backend", "'pandas' or 'polars': the training frame's library.")
    last_window_ = _fitted("last_window", "[input_size, M]: the last input_size rows of each series (original scale).")
    history_end_ = _fitted("history_end", "The latest last training timestamp (each series': state_.series_ends).")
    train_range_ = _fitted(
        "train_range", "(earliest timestamp, latest timestamp, length of the longest series) of training."
    )
    lightning_module_ = _fitted("lightning_module", "The LightningModule the model was trained with (None if loaded).")
    training_history_ = _fitted("training_history", "Per epoch: lr, train_loss, val_loss.")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.model_name:
            register(cls)

    @property
    def scaler_mean_(self) -> np.ndarray:
        """Per-series mean of the training part."""
        return self.scaler_.mean

    @property
    def scaler_scale_(self) -> np.ndarray:
        """Per-series standard deviation of the training part."""
        return self.scaler_.scale

    # ------------------------------------------------------------------ parameters
    def output_name(self) -> str:
        """Name of the forecast column: ``alias`` or the model's display name (e.g. ``"DLinear"``)."""
        return self.alias or self.display_name

    def frame_columns(self) -> Columns:
        """The column names of the user's frames (``id_col``, ``time_col``, ``target_col``)."""
        return Columns(self.id_col, self.time_col, self.target_col)

    def _validate_params(self) -> None:
        fitting.check_common(self)
        fitting.run_configs(self)  # recipe name, option types and values: errors before any data is read

    # ------------------------------------------------------------------ fit
    def fit(self, df: Any, y: None = None, val_size: int | None = None) -> BaseForecaster:
        """Validate ``df`` (long or wide, pandas or polars), scale per series on the training part, train.

        Replaces any earlier fitted state. The last ``val_size`` steps are held out for early stopping: the
        argument (neuralforecast's ``fit(df, val_size=)``) overrides the keyword for this call; both None: 10%
        of the timestamps, at least ``h``, when the recipe early-stops. Weights are re-initialised from
        ``random_state`` on every call, so two fits with the same seed are equal.
        """
        check_no_y(y, "fit")
        self._validate_params()
        fitting.check_val_size(self, val_size)
        data = to_series_set(df, self.frame_columns())
        self.state_ = fitting.fit_state(self, data, data.resolve_freq(self.freq), val_size)
        return self

    # ------------------------------------------------------------------ inference
    def _check_h(self, h: int | None) -> int:
        if h is None:
            return self.state_.horizon
        h = check_int("h", h, 1)
        if h > self.state_.horizon:
            raise ValueError(
                f"h={h} is larger than the fitted horizon h={self.state_.horizon}. Re-fit with h={h} (the model's "
                "output length is fixed at fit time); a smaller h truncates the forecast."
            )
        return h

    def _history(self, df: Any, min_length: int, what: str) -> tuple[SeriesSet, np.ndarray, np.ndarray]:
        """Validate a new-history frame against the fitted model; also each series' scaler mean and scale.

        A global (channel-independent) model takes any series with ``min_length`` timestamps: a fitted id
        keeps the scaler fitted in ``fit``, a new id is scaled by its own history in ``df``. A multivariate
        model takes exactly the fitted series, aligned.
        """
        state = self.state_
        data = to_series_set(df, self.frame_columns())
        fitted_int = isinstance(self.freq_, int)
        if fitted_int != pd.api.types.is_integer_dtype(data.index[0].dtype):
            raise ValueError(
                f"{what}: df has {'datetime' if fitted_int else 'integer'} timestamps but the model was fitted on "
                f"{'integer' if fitted_int else 'datetime'} ones. Pass the time column in the fitted kind."
            )
        fitted_tz, new_tz = getattr(self.history_end_, "tz", None), getattr(data.index[0], "tz", None)
        if (fitted_tz is None) != (new_tz is None):
            raise ValueError(
                f"{what}: df has {'timezone-aware' if new_tz else 'naive'} timestamps but the model was fitted on "
                f"{'timezone-aware' if fitted_tz else 'naive'} ones. Convert them to match (tz_localize/tz_convert)."
            )
        position = {s: k for k, s in enumerate(self.series_)}
        if not state.global_model:
            why, fix = fitting.aligned_reason(self, state.model_config)
            panel = data.to_panel(why, fix)
            missing = [s for s in self.series_ if s not in panel.series]
            unknown = [s for s in panel.series if s not in position]
            if unknown or missing:
                raise ValueError(
                    f"{what}: {why}, and its forecasts need exactly the series/columns it was fitted on "
                    f"{self.series_}; df has unknown: {unknown}, missing: {missing}. Pass all fitted series "
                    f"(aligned), or fit a new forecaster for other series. {fix}"
                )
            order = [panel.series.index(s) for s in self.series_]
            data = SeriesSet.from_panel(
                Panel(
                    panel.values[:, order],
                    panel.index,
                    list(self.series_),
                    panel.layout,
                    panel.backend,
                    panel.time_type,
                )
            )
        lengths = data.lengths
        if lengths.min() < min_length:
            plus_h = f", + h={state.horizon}" if min_length > state.lookback else ""
            need = f"at least {min_length} (input_size={state.lookback}{plus_h})"
            if data.aligned:
                names = f"{data.series[:5]}{' ...' if len(data.series) > 5 else ''}"
                raise ValueError(
                    f"{what}: series {names} have {lengths[0]} timestamps, need {need}. Pass a longer history."
                )
            short = [f"{s!r} ({n} timestamps)" for s, n in zip(data.series, lengths, strict=True) if n < min_length]
            raise ValueError(
                f"{what}: series {', '.join(short[:5])}{' ...' if len(short) > 5 else ''} too short: each needs "
                f"{need} timestamps. Pass a longer history for them, or leave them out of df."
            )
        data.resolve_freq(self.freq_)
        fitted_mean, fitted_scale = np.asarray(state.scaler.mean), np.asarray(state.scaler.scale)
        mean, scale = np.empty(len(data.series)), np.empty(len(data.series))
        for k, (series, values) in enumerate(zip(data.series, data.values, strict=True)):
            if series in position:
                mean[k], scale[k] = fitted_mean[position[series]], fitted_scale[position[series]]
            else:  # a new series of a global model: its own history gives its scale
                own = fit_scaler(values[:, None], len(values))
                mean[k], scale[k] = np.asarray(own.mean)[0], np.asarray(own.scale)[0]
        return data, mean, scale

    def _check_levels(self, level: Any, format: str = "long") -> list[float]:
        levels = check_levels(level)
        if levels and not self.conformal_windows:
            raise ValueError(level_error(check_loss(self)))
        if levels and format != "long":
            raise ValueError("level= needs format='long' (one <Model>-lo-<level> / -hi-<level> column each).")
        return levels

    def predict(self, df: Any = None, h: int | None = None, format: str = "long", level: Any = None) -> Any:
        """Forecast ``h`` steps after each training series, or after the end of each series of ``df``.

        With ``df``: forecasts for the ids in ``df``, from their own history (a global model: any subset of the
        fitted ids and new ids with ``input_size`` timestamps; TSM2: exactly the fitted series).

        Returns a long frame ``unique_id, ds, <ModelName>`` (``format="wide"``: a timestamp column and one
        column per series, point forecasts only) in the library of ``df`` (of the training frame when ``df`` is
        None). A quantile ``loss`` adds its columns (``<ModelName>-lo-80``, ...; see ``loss_columns``). ``level``
        (e.g. ``[80, 90]``, with ``conformal_windows`` set at fit) adds conformal intervals as neuralforecast
        names them: ``<ModelName>-lo-80``, ``<ModelName>-hi-80``, ...
        """
        check_is_fitted(self, "model_")
        h = self._check_h(h)
        if format not in ("long", "wide"):
            raise ValueError(f"format must be 'long' or 'wide', got {format!r}.")
        levels = check_levels(level)
        if levels and self.state_.conformal_scores is None:
            raise ValueError(level_error(self.state_.loss))
        if levels and format != "long":
            raise ValueError("level= needs format='long' (one <Model>-lo-<level> / -hi-<level> column each).")
        state = self.state_
        if df is None:
            series, backend, time_type = list(self.series_), state.backend, state.time_type
            values = [state.last_window[:, k] for k in range(len(series))]
            lasts, mean, scale = state.series_ends, state.scaler.mean, state.scaler.scale
        else:
            data, mean, scale = self._history(df, state.lookback, "predict")
            series, values, backend, time_type = data.series, data.values, data.backend, data.time_type
            lasts = [index[-1] for index in data.index]
        scores = None
        if levels:
            position = {s: k for k, s in enumerate(self.series_)}
            new = [s for s in series if s not in position]
            if new:
                raise ValueError(
                    f"predict(level=): series {new[:5]} were not in the fitted frame, so they have no calibration "
                    "residuals; intervals exist for the fitted series only. Leave level= out for them, or re-fit "
                    "with them."
                )
            scores = np.asarray(state.conformal_scores)[:, :, [position[s] for s in series]]
        ends = [[len(v)] for v in values]
        outputs = [o[0, :, :h] for o in fitting.forecast_series_outputs(state, values, ends, mean, scale)]  # [Q, h]
        forecasts = [o[state.loss.point_index] for o in outputs]
        future = [future_index(last, self.freq_, h) for last in lasts]
        quantiles = loss_columns(self.output_name(), state.loss, np.stack(outputs, axis=-1))  # name -> [h, M]
        extra = {name: [column[:, k] for k in range(len(forecasts))] for name, column in quantiles.items()}
        if levels:
            columns = interval_columns(self.output_name(), np.stack(forecasts, axis=-1), scores, levels)
            extra.update({name: [band[:, k] for k in range(len(forecasts))] for name, band in columns.items()})
        if format == "wide":
            if any(not index.equals(future[0]) for index in future[1:]):
                raise ValueError(
                    "format='wide' needs every series to end at the same timestamp (one row per forecast "
                    f"timestamp); these series end at {sorted({str(last) for last in lasts})[:5]}. Use "
                    "format='long'."
                )
            return forecast_frame(
                np.stack(forecasts, axis=1),
                future[0],
                series,
                self.frame_columns(),
                self.output_name(),
                "wide",
                backend,
                time_type,
            )
        return series_forecast_frame(
            series, future, forecasts, self.frame_columns(), self.output_name(), backend, time_type, extra
        )

    # ------------------------------------------------------------------ evaluation
    def cross_validation(
        self,
        df: Any,
        n_windows: int | None = None,
        step_size: int | None = None,
        test_size: int | None = None,
        val_size: int | None = None,
        refit: bool | int = False,
        level: Any = None,
    ) -> Any:
        """Rolling-origin forecasts of the last windows of ``df``, beside the actual ``y`` (neuralforecast's shape).

        The windows: ``n_windows`` (default 1) cutoffs ``step_size`` apart (default ``h``), the last ``h`` steps
        before the end; or ``test_size`` = ``h + (n_windows - 1) * step_size`` final timestamps (both given must
        agree). A model is trained on the data up to the first cutoff, holding out ``val_size`` steps for early
        stopping (None: the forecaster's ``val_size``), and re-trained at every cutoff with ``refit=True``, at
        every ``refit``-th window with an integer, never with ``False``/``0``, as neuralforecast does, but on
        the side: the forecaster's own fitted state (from ``fit``) is left as it was, so ``predict()`` and
        ``save()`` afterwards use the model ``fit`` trained. ``level`` adds conformal intervals (needs
        ``conformal_windows``), each calibrated before its own cutoff.
        Output: long frame ``unique_id, ds, cutoff, <ModelName>, [intervals], y`` in the library of ``df``.
        """
        self._validate_params()
        fitting.check_val_size(self, val_size)
        levels = self._check_levels(level)
        return cross_validate(self, df, n_windows, step_size, test_size, val_size, refit, levels)

    def score(self, df: Any, y: None = None) -> float:
        """Negative MSE over every rolling window of ``df`` (standardised scale, fitted scaler).

        Higher is better, as scikit-learn's model selection expects. ``df`` needs at least ``input_size + h``
        timestamps: give the test fold ``input_size`` steps of context (see ``TimeSeriesWindowSplit``).
        """
        check_no_y(y, "score")
        check_is_fitted(self, "model_")
        data, mean, scale = self._history(df, self.state_.lookback + self.state_.horizon, "score")
        return -fitting.score_windows(self.state_, data, mean, scale)

    # ------------------------------------------------------------------ persistence and plots
    def save(self, path: str, overwrite: bool = False) -> None:
        """Write ``config.json``, ``model.safetensors`` and ``scaler.safetensors`` into directory ``path``.

        A directory that exists and is not empty is refused unless ``overwrite=True`` (which replaces those
        three files and leaves anything else in it alone).
        """
        check_is_fitted(self, "model_")
        save_forecaster(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str, map_location: str | torch.device | None = None) -> BaseForecaster:
        """Load a saved forecaster; the class comes from ``config.json`` (an error if it is not ``cls``)."""
        return load_forecaster(path, map_location=map_location, expected=cls)

    def plot(self, df: Any, forecasts: Any = None, max_history: int | None = 200, max_series: int = 8) -> Any:
        """Plot the history in ``df`` and ``forecasts`` (default: ``predict(df)``) per series; returns the Figure.

        With ``forecasts`` given (e.g. a ``cross_validation`` frame) the forecaster need not be fitted.
        """
        if forecasts is None:
            check_is_fitted(self, "model_")
            forecasts = self.predict(df)
        return plot_forecasts(df, forecasts, self.frame_columns(), max_history=max_history, max_series=max_series)

    def __sklearn_is_fitted__(self) -> bool:
        return self.__dict__.get("state_") is not None
