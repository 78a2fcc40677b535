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
  as neuralforecast does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tsmamba.data.scaler import fit_scaler
from tsmamba.forecaster import training_adapter
from tsmamba.forecaster.checks import check_int
from tsmamba.forecaster.cross_validation import cross_validate
from tsmamba.forecaster.frames import Columns, Panel, forecast_frame, to_panel
from tsmamba.forecaster.frequency import future_index, resolve_freq
from tsmamba.forecaster.persistence import FORECASTER_CLASSES, load_forecaster, save_forecaster
from tsmamba.forecaster.plotting import plot_forecasts
from tsmamba.models.registry import build_model, make_config
from tsmamba.training import resolve_device

_INFERENCE_BATCH = 1024  # windows per forward pass at inference: one pass for typical predict/CV calls


def _inference_device(accelerator: str) -> torch.device:
    """Where a freshly trained model predicts: the training accelerator's device (CPU for unknown strings)."""
    return resolve_device(accelerator) if accelerator in ("auto", "cpu", "gpu", "cuda") else torch.device("cpu")


class BaseForecaster(BaseEstimator):
    """Fit a registry model on a pandas/polars frame and forecast its future; see the module docstring."""

    model_name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    model_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.model_name:
            FORECASTER_CLASSES[cls.__name__] = cls

    # ------------------------------------------------------------------ parameters
    def output_name(self) -> str:
        """Name of the forecast column: ``alias`` or the model's display name (e.g. ``"DLinear"``)."""
        return self.alias or self.display_name

    def _columns(self) -> Columns:
        return Columns(self.id_col, self.time_col, self.target_col)

    def _model_overrides(self) -> dict[str, Any]:
        """Model-config overrides from the ``__init__`` keywords; ``None`` keeps the model's own default."""
        return {k: getattr(self, k) for k in self.model_params if getattr(self, k) is not None}

    def _validate_params(self) -> None:
        check_int("h", self.h, 1)
        check_int("input_size", self.input_size, 1)
        check_int("val_size", self.val_size, 0)
        check_int("random_state", self.random_state, 0)
        if self.val_size and self.val_size < self.h:
            raise ValueError(f"val_size={self.val_size} must be 0 or at least h={self.h} (one validation window).")
        if self.early_stopping_patience is not None and not self.val_size:
            raise ValueError("early_stopping_patience needs a validation part: set val_size >= h.")
        if self.trainer_kwargs is not None and not isinstance(self.trainer_kwargs, dict):
            raise TypeError(f"trainer_kwargs must be a dict or None, got {type(self.trainer_kwargs).__name__}.")

    # ------------------------------------------------------------------ fit
    def fit(self, df: Any, y: None = None) -> BaseForecaster:
        """Validate ``df`` (long or wide, pandas or polars), scale per series on the training part, train.

        The last ``val_size`` steps are held out for early stopping when ``val_size > 0``. Weights are
        re-initialised from ``random_state`` on every call, so two fits with the same seed are equal.
        """
        self._validate_params()
        panel = to_panel(df, self._columns())
        return self._fit_panel(panel, resolve_freq(panel.index, self.freq))

    def _fit_panel(self, panel: Panel, freq: str) -> BaseForecaster:
        n, n_vars = panel.values.shape
        need = self.input_size + self.h + self.val_size
        if n < need:
            raise ValueError(
                f"Series have {n} timestamps; fitting needs at least input_size + h + val_size = {need}. "
                "Pass a longer history or lower input_size/h/val_size."
            )
        train_end = n - self.val_size
        scaler = fit_scaler(panel.values, train_end)
        mean, scale = scaler.mean, scaler.scale
        scaled = scaler.transform(panel.values).astype(np.float32)

        config = make_config(self.model_name, None, self._model_overrides())
        torch.manual_seed(self.random_state)
        model = build_model(self.model_name, config, self.input_size, self.h, n_vars)
        result, self.lightning_module_ = training_adapter.train(model, scaled, train_end, self)
        self.model_ = result.model.to(_inference_device(self.accelerator)).eval()
        self.training_history_ = result.history

        self.model_config_ = config
        self.freq_ = freq
        self.series_ = list(panel.series)
        self.n_vars_ = n_vars
        self.layout_ = panel.layout
        self.backend_ = panel.backend
        self.scaler_mean_ = mean
        self.scaler_scale_ = scale
        self.last_window_ = panel.values[-self.input_size :].copy()
        self.history_end_ = panel.index[-1]
        self.train_range_ = (panel.index[0], panel.index[-1], n)
        return self

    # ------------------------------------------------------------------ inference
    def _forward(self, windows: np.ndarray) -> np.ndarray:
        """Forecast original-scale windows ``[B, input_size, M]`` -> ``[B, h, M]``; one batched forward pass."""
        return (
            self._forward_scaled((windows - self.scaler_mean_) / self.scaler_scale_) * self.scaler_scale_
            + self.scaler_mean_
        )

    def _forward_scaled(self, scaled: np.ndarray) -> np.ndarray:
        device = next(self.model_.parameters()).device
        self.model_.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(scaled), _INFERENCE_BATCH):
                chunk = torch.tensor(
                    np.ascontiguousarray(scaled[start : start + _INFERENCE_BATCH]), dtype=torch.float32
                )
                outputs.append(self.model_(chunk.to(device)).float().cpu().numpy())
        out = np.concatenate(outputs).astype(np.float64)
        if not np.isfinite(out).all():
            raise FloatingPointError(
                f"The model produced NaN/inf forecasts ({int((~np.isfinite(out)).sum())} values); training diverged. "
                "Lower learning_rate, set gradient_clip, or check the input scale."
            )
        return out

    def _check_h(self, h: int | None) -> int:
        if h is None:
            return int(self.h)
        h = check_int("h", h, 1)
        if h > self.h:
            raise ValueError(
                f"h={h} is larger than the fitted horizon h={self.h}. Re-fit with h={h} (the model's output length "
                "is fixed at fit time); a smaller h truncates the forecast."
            )
        return h

    def _history_panel(self, df: Any, min_length: int, what: str) -> tuple[Panel, str]:
        """Validate a new-history frame against what the model was fitted on."""
        panel = to_panel(df, self._columns())
        missing = [s for s in self.series_ if s not in panel.series]
        unknown = [s for s in panel.series if s not in self.series_]
        if unknown or missing:
            raise ValueError(
                f"{what}: df must hold exactly the series/columns the model was fitted on {self.series_}; "
                f"unknown: {unknown}, missing: {missing}. Fit a new forecaster for other series."
            )
        order = [panel.series.index(s) for s in self.series_]
        panel = Panel(panel.values[:, order], panel.index, list(self.series_), panel.layout, panel.backend)
        fitted_tz, new_tz = self.history_end_.tz, panel.index.tz
        if (fitted_tz is None) != (new_tz is None):
            raise ValueError(
                f"{what}: df has {'timezone-aware' if new_tz else 'naive'} timestamps but the model was fitted on "
                f"{'timezone-aware' if fitted_tz else 'naive'} ones. Convert them to match (tz_localize/tz_convert)."
            )
        if panel.n_times < min_length:
            raise ValueError(
                f"{what}: series have {panel.n_times} timestamps, need at least {min_length} "
                f"(input_size={self.input_size}). Pass a longer history."
            )
        freq = resolve_freq(panel.index, self.freq_) if panel.n_times > 1 else self.freq_
        return panel, freq

    def predict(self, df: Any = None, h: int | None = None, format: str = "long") -> Any:
        """Forecast ``h`` steps after the training data, or after the end of ``df`` (new history, same series).

        Returns a long frame ``unique_id, ds, <ModelName>`` (``format="wide"``: a timestamp column and one
        column per series) in the library of ``df`` (of the training frame when ``df`` is None).
        """
        check_is_fitted(self, "model_")
        h = self._check_h(h)
        if format not in ("long", "wide"):
            raise ValueError(f"format must be 'long' or 'wide', got {format!r}.")
        if df is None:
            history, last, backend = self.last_window_, self.history_end_, self.backend_
        else:
            panel, _ = self._history_panel(df, self.input_size, "predict")
            history, last, backend = panel.values[-self.input_size :], panel.index[-1], panel.backend
        forecast = self._forward(history[None])[0, :h]
        return forecast_frame(
            forecast,
            future_index(last, self.freq_, h),
            self.series_,
            self._columns(),
            self.output_name(),
            format,
            backend,
        )

    # ------------------------------------------------------------------ evaluation
    def cross_validation(self, df: Any, n_windows: int = 1, step_size: int | None = None, refit: bool = False) -> Any:
        """Rolling-origin forecasts of the last ``n_windows`` windows of ``df``, beside the actual ``y``.

        The model is trained on the data up to the first cutoff (and re-trained at every cutoff when
        ``refit=True``). Output: long frame ``unique_id, ds, cutoff, <ModelName>, y`` in the library of ``df``.
        """
        self._validate_params()
        return cross_validate(self, df, n_windows, step_size, refit)

    def score(self, df: Any, y: None = None) -> float:
        """Negative MSE over every rolling window of ``df`` (standardised scale, fitted scaler).

        Higher is better, as scikit-learn's model selection expects. ``df`` needs at least ``input_size + h``
        timestamps: give the test fold ``input_size`` steps of context (see ``TimeSeriesWindowSplit``).
        """
        check_is_fitted(self, "model_")
        panel, _ = self._history_panel(df, self.input_size + self.h, "score")
        scaled = (panel.values - self.scaler_mean_) / self.scaler_scale_
        span = self.input_size + self.h
        windows = np.lib.stride_tricks.sliding_window_view(scaled, span, axis=0).transpose(0, 2, 1)
        forecast = self._forward_scaled(windows[:, : self.input_size])
        return -float(np.mean((forecast - windows[:, self.input_size :]) ** 2))

    # ------------------------------------------------------------------ persistence and plots
    def save(self, path: str) -> None:
        """Write ``config.json``, ``model.safetensors`` and ``scaler.safetensors`` into directory ``path``."""
        check_is_fitted(self, "model_")
        save_forecaster(self, path)

    @classmethod
    def load(cls, path: str, map_location: str | torch.device | None = None) -> BaseForecaster:
        """Load a saved forecaster; the class comes from ``config.json`` (an error if it is not ``cls``)."""
        return load_forecaster(path, map_location=map_location, expected=cls)

    def plot(self, df: Any, forecasts: Any = None, max_history: int | None = 200, max_series: int = 8) -> Any:
        """Plot the history in ``df`` and ``forecasts`` (default: ``predict(df)``) per series; returns the Figure."""
        check_is_fitted(self, "model_")
        if forecasts is None:
            forecasts = self.predict(df)
        return plot_forecasts(df, forecasts, self._columns(), max_history=max_history, max_series=max_series)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")
