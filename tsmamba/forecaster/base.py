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
* ``predict(df)`` forecasts after the end of ``df`` with the scaler fitted in ``fit`` (new history, same series);
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

from tsmamba.forecaster import fitting
from tsmamba.forecaster.checks import check_int
from tsmamba.forecaster.classes import register
from tsmamba.forecaster.cross_validation import cross_validate
from tsmamba.forecaster.frames import Columns, Panel, forecast_frame, to_panel
from tsmamba.forecaster.frequency import future_index, resolve_freq
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
    model_ = _fitted("model", "The trained nn.Module: x[B, input_size, M] -> y[B, h, M] on standardised data.")
    model_config_ = _fitted("model_config", "The model's config dataclass, as trained.")
    scaler_ = _fitted("scaler", "The StandardScaler fitted on the training part, per series.")
    freq_ = _fitted("freq", "Frequency of the training frame (pandas alias; an int step for integer timestamps).")
    series_ = _fitted("series", "Series ids (long) or value columns (wide), in model order.")
    n_vars_ = _fitted("n_vars", "Number of series.")
    layout_ = _fitted("layout", "'long' or 'wide': the training frame's shape.")
    backend_ = _fitted("backend", "'pandas' or 'polars': the training frame's library.")
    last_window_ = _fitted("last_window", "The last input_size rows of the training frame (original scale).")
    history_end_ = _fitted("history_end", "The last training timestamp.")
    train_range_ = _fitted("train_range", "(first timestamp, last timestamp, number of timestamps) of training.")
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
        self._validate_params()
        fitting.check_val_size(self, val_size)
        panel = to_panel(df, self.frame_columns())
        self.state_ = fitting.fit_state(self, panel, resolve_freq(panel.index, self.freq), val_size)
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

    def _history_panel(self, df: Any, min_length: int, what: str) -> tuple[Panel, str | int]:
        """Validate a new-history frame against what the model was fitted on."""
        panel = to_panel(df, self.frame_columns())
        missing = [s for s in self.series_ if s not in panel.series]
        unknown = [s for s in panel.series if s not in self.series_]
        if unknown or missing:
            raise ValueError(
                f"{what}: df must hold exactly the series/columns the model was fitted on {self.series_}; "
                f"unknown: {unknown}, missing: {missing}. Fit a new forecaster for other series."
            )
        order = [panel.series.index(s) for s in self.series_]
        panel = Panel(
            panel.values[:, order], panel.index, list(self.series_), panel.layout, panel.backend, panel.time_type
        )
        fitted_int = isinstance(self.freq_, int)
        if fitted_int != pd.api.types.is_integer_dtype(panel.index.dtype):
            raise ValueError(
                f"{what}: df has {'datetime' if fitted_int else 'integer'} timestamps but the model was fitted on "
                f"{'integer' if fitted_int else 'datetime'} ones. Pass the time column in the fitted kind."
            )
        fitted_tz, new_tz = getattr(self.history_end_, "tz", None), getattr(panel.index, "tz", None)
        if (fitted_tz is None) != (new_tz is None):
            raise ValueError(
                f"{what}: df has {'timezone-aware' if new_tz else 'naive'} timestamps but the model was fitted on "
                f"{'timezone-aware' if fitted_tz else 'naive'} ones. Convert them to match (tz_localize/tz_convert)."
            )
        if panel.n_times < min_length:
            raise ValueError(
                f"{what}: series have {panel.n_times} timestamps, need at least {min_length} "
                f"(input_size={self.state_.lookback}). Pass a longer history."
            )
        freq = resolve_freq(panel.index, self.freq_) if panel.n_times > 1 else self.freq_
        return panel, freq

    def _check_levels(self, level: Any, format: str = "long") -> list[float]:
        levels = check_levels(level)
        if levels and not self.conformal_windows:
            raise ValueError(level_error(check_loss(self)))
        if levels and format != "long":
            raise ValueError("level= needs format='long' (one <Model>-lo-<level> / -hi-<level> column each).")
        return levels

    def predict(self, df: Any = None, h: int | None = None, format: str = "long", level: Any = None) -> Any:
        """Forecast ``h`` steps after the training data, or after the end of ``df`` (new history, same series).

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
        if df is None:
            history, last, backend = self.last_window_, self.history_end_, self.backend_
            time_type = self.state_.time_type
        else:
            panel, _ = self._history_panel(df, self.state_.lookback, "predict")
            history, last, backend = panel.values[-self.state_.lookback :], panel.index[-1], panel.backend
            time_type = panel.time_type
        outputs = fitting.forecast_outputs(self.state_, history, [len(history)])[0, :, :h]  # [Q, h, M]
        forecast = outputs[self.state_.loss.point_index]
        extra = loss_columns(self.output_name(), self.state_.loss, outputs)
        if levels:
            extra.update(interval_columns(self.output_name(), forecast, self.state_.conformal_scores, levels))
        return forecast_frame(
            forecast,
            future_index(last, self.freq_, h),
            self.series_,
            self.frame_columns(),
            self.output_name(),
            format,
            backend,
            time_type,
            extra,
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
        check_is_fitted(self, "model_")
        panel, _ = self._history_panel(df, self.state_.lookback + self.state_.horizon, "score")
        return -fitting.score_windows(self.state_, panel.values)

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
