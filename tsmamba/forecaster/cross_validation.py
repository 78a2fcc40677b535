"""Rolling-origin cross-validation, MSE/MAE evaluation of its output, and a time-ordered splitter for GridSearchCV.

``cross_validate`` follows neuralforecast: each series' cutoffs are its last ``n_windows`` origins spaced
``step_size`` apart (default ``h``; or as many as ``test_size`` holds), the last one ``h`` steps before its own end
(``evaluation.rolling_origin``, the benchmark's; a series too short for them is an error naming it); a model is
trained on the data up to the first cutoff (again every ``refit`` windows: ``True`` is every window) and the
windows sharing a model are forecast in one batched pass. The trained models are thrown away: the forecaster's
fitted state is never replaced here.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import torch
from sklearn.model_selection import BaseCrossValidator, TimeSeriesSplit

from tsmamba.evaluation import per_window_errors, rolling_origin
from tsmamba.forecaster import fitting
from tsmamba.forecaster.checks import check_int
from tsmamba.forecaster.frames import backend_of, long_pandas, to_series_set
from tsmamba.forecaster.intervals import INTERVAL_COLUMN, interval_columns
from tsmamba.forecaster.loss_columns import loss_columns
from tsmamba.forecaster.time_types import restore

if TYPE_CHECKING:
    from tsmamba.forecaster.base import BaseForecaster


def window_count(h: int, step: int, n_windows: int | None, test_size: int | None) -> int:
    """The number of windows from ``n_windows`` and/or ``test_size`` (= ``h + (n_windows - 1) * step``)."""
    if n_windows is not None:
        n_windows = check_int("n_windows", n_windows, 1)
    if test_size is None:
        return 1 if n_windows is None else n_windows
    test_size = check_int("test_size", test_size, h)
    windows, rest = divmod(test_size - h, step)
    if rest:
        raise ValueError(
            f"test_size={test_size} does not fit whole windows: it must be h + k * step_size (h={h}, "
            f"step_size={step}), e.g. {h + windows * step} or {h + (windows + 1) * step}."
        )
    if n_windows is not None and n_windows != windows + 1:
        raise ValueError(
            f"n_windows={n_windows} and test_size={test_size} disagree: test_size = h + (n_windows - 1) * step_size "
            f"= {h + (n_windows - 1) * step} for h={h}, step_size={step}. Pass only one of them."
        )
    return windows + 1


def refit_every(refit: bool | int) -> int:
    """``refit`` as a period in windows: ``True`` -> 1 (every window), ``False``/0 -> 0 (never), ``k`` -> k."""
    if isinstance(refit, (bool, np.bool_)):
        return int(bool(refit))
    if isinstance(refit, numbers.Integral) and refit >= 0:
        return int(refit)
    raise ValueError(f"refit must be a bool or an integer >= 0 (re-train every refit windows), got {refit!r}.")


def cross_validate(
    forecaster: BaseForecaster,
    df: Any,
    n_windows: int | None,
    step_size: int | None,
    test_size: int | None,
    val_size: int | None,
    refit: bool | int,
    levels: list[float] | None = None,
) -> Any:
    """See :meth:`BaseForecaster.cross_validation`; ``forecaster``'s own fitted state is never touched."""
    h, lookback = int(forecaster.h), int(forecaster.input_size)
    step = h if step_size is None else check_int("step_size", step_size, 1)
    n_windows = window_count(h, step, n_windows, test_size)
    every = refit_every(refit)
    columns = forecaster.frame_columns()
    data = to_series_set(df, columns)
    config, train_config = fitting.run_configs(forecaster)
    if not fitting.channel_independent(forecaster, config):
        data.to_panel(*fitting.aligned_reason(forecaster, config))
    freq = data.resolve_freq(forecaster.freq)
    lengths = data.lengths
    first = lengths - h - (n_windows - 1) * step  # per series: timestamps before its first cutoff
    val = fitting.validation_size(forecaster, max(int(first.min()), 0), train_config.patience, val_size)
    need = lookback + h + val
    if first.min() < need:
        if data.aligned:
            raise ValueError(
                f"Cross-validation with n_windows={n_windows}, step_size={step}, h={h} leaves {first[0]} timestamps "
                f"before the first cutoff; training needs input_size + h + val_size = {need}. Use fewer windows, a "
                f"smaller step_size, or a longer history (it has {lengths[0]} timestamps)."
            )
        short = [
            f"{s!r} ({n} timestamps, {f} before its first cutoff)"
            for s, n, f in zip(data.series, lengths, first, strict=True)
            if f < need
        ]
        raise ValueError(
            f"Cross-validation with n_windows={n_windows}, step_size={step}, h={h} cuts the last "
            f"h + (n_windows - 1) * step_size = {h + (n_windows - 1) * step} timestamps of each series; series "
            f"{', '.join(short[:5])}{' ...' if len(short) > 5 else ''} then keep fewer than input_size + h + "
            f"val_size = {need} for training. Use fewer windows or a smaller step_size, or leave the short series out."
        )
    # per series: its own cutoffs, the last h + (n_windows - 1) * step timestamps before its own end
    cutoffs = [[fold.cutoff for fold in rolling_origin(int(n), h, n_windows, step, min_train=need)] for n in lengths]

    # windows [start, start + every) share the model trained at the cutoff of window `start`
    starts = list(range(0, n_windows, every)) if every else [0]
    forecasts: list[list[np.ndarray]] = [[] for _ in data.series]  # per series: [windows, h] blocks
    bands: list[list[dict[str, np.ndarray]]] = [[] for _ in data.series]
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n_windows
        state = fitting.fit_state(forecaster, data.head([c[start] for c in cutoffs]), freq, val_size)
        outputs = fitting.forecast_series_outputs(state, data.values, [c[start:stop] for c in cutoffs])
        for k, output in enumerate(outputs):  # [windows, Q, h]
            block = output[:, state.loss.point_index]
            forecasts[k].append(block)
            found = loss_columns(forecaster.output_name(), state.loss, output[..., None])  # quantile-loss columns
            if levels and state.conformal_scores is not None:  # fit_state keeps scores when conformal_windows is set
                scores = state.conformal_scores[:, :, k : k + 1]
                found.update(interval_columns(forecaster.output_name(), block[:, :, None], scores, levels))
            bands[k].append({name: band[:, :, 0] for name, band in found.items()})

    name = forecaster.output_name()
    parts = []
    for k, series in enumerate(data.series):
        values, index, cuts = data.values[k], data.index[k], np.asarray(cutoffs[k])
        rows = (cuts[:, None] + np.arange(h)[None, :]).reshape(-1)
        block = np.concatenate(forecasts[k]).reshape(-1)
        extra = {c: np.concatenate([b[c] for b in bands[k]]).reshape(-1) for c in bands[k][0]} if bands[k] else {}
        parts.append(
            pd.DataFrame(
                {
                    columns.id_col: [series] * len(rows),
                    columns.time_col: index[rows],
                    "cutoff": index[np.repeat(cuts - 1, h)],
                    name: block,
                    **extra,
                    columns.target_col: values[rows],
                }
            )
        )
    out = pd.concat(parts, ignore_index=True).sort_values([columns.id_col, "cutoff", columns.time_col], kind="stable")
    out = out.reset_index(drop=True)
    return restore(out, [columns.time_col, "cutoff"], data.time_type, backend_of(df))


def evaluate(
    cv: Any,
    metrics: tuple[str, ...] = ("mse", "mae"),
    id_col: str = "unique_id",
    target_col: str = "y",
    time_col: str = "ds",
) -> Any:
    """MSE/MAE per series and forecast column of a ``cross_validation`` (or any ``y`` + forecast) frame.

    Each series' rows are scored as one window by ``evaluation.per_window_errors``, the benchmark's metric code.
    Forecast columns are the numeric ones other than ``id_col``, ``time_col``, ``target_col``, ``cutoff`` and the
    interval bounds (``<Model>-lo-<level>``, ``<Model>-hi-<level>``), as utilsforecast's ``evaluate`` picks them.

    Output (utilsforecast's layout): ``unique_id, metric, <Model>...`` in the library of ``cv``.
    """
    known = {"mse": 0, "mae": 1}  # positions in evaluation.per_window_errors' result, the benchmark's metrics
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"Unknown metric(s) {unknown}; choose from {sorted(known)}.")
    frame = long_pandas(cv)
    for col in (id_col, target_col):
        if col not in frame.columns:
            raise ValueError(f"Evaluation needs column {col!r}; the frame has {list(frame.columns)}.")
    reserved = {id_col, target_col, time_col, "cutoff"}
    models = [
        c
        for c in frame.columns
        if c not in reserved and not INTERVAL_COLUMN.search(str(c)) and pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    if not models:
        raise ValueError(f"No forecast column found beside {sorted(reserved)}; columns are {list(frame.columns)}.")
    rows = []
    for series, group in frame.groupby(id_col, sort=True):
        target = torch.tensor(group[target_col].to_numpy(dtype=np.float64)).view(1, -1, 1)
        errors = {
            m: per_window_errors(torch.tensor(group[m].to_numpy(dtype=np.float64)).view(1, -1, 1), target)
            for m in models
        }
        for metric in metrics:
            row = {id_col: series, "metric": metric}
            row.update({m: float(errors[m][known[metric]][0]) for m in models})
            rows.append(row)
    out = pd.DataFrame(rows)
    return pl.from_pandas(out) if isinstance(cv, pl.DataFrame) else out


def _timestamps_of(X: Any, time_col: str) -> np.ndarray:
    backend_of(X)
    if isinstance(X, pl.DataFrame):
        if time_col not in X.columns:
            raise ValueError(f"The splitter needs timestamp column {time_col!r}; columns are {X.columns}.")
        return X[time_col].to_numpy()
    if time_col in X.columns:
        return X[time_col].to_numpy()
    if isinstance(X.index, pd.DatetimeIndex):
        return X.index.to_numpy()
    raise ValueError(
        f"The splitter needs timestamp column {time_col!r} or a DatetimeIndex; columns are {list(X.columns)}."
    )


class TimeSeriesWindowSplit(BaseCrossValidator):
    """Time-ordered folds over the timestamps of a long or wide frame, for ``GridSearchCV``.

    Like scikit-learn's ``TimeSeriesSplit`` on the distinct timestamps (every row of a timestamp goes to the
    same side), except that each test fold also carries the ``context_size`` timestamps before it, so that
    ``forecaster.score(test)`` has a lookback window: set ``context_size=input_size`` and
    ``test_size >= h``. Train folds grow; test folds never overlap each other.
    """

    def __init__(
        self, n_splits: int = 3, test_size: int | None = None, context_size: int = 0, gap: int = 0, time_col: str = "ds"
    ) -> None:
        self.n_splits = n_splits
        self.test_size = test_size
        self.context_size = context_size
        self.gap = gap
        self.time_col = time_col

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_rows, test_rows)`` positional indices into ``X``."""
        stamps = _timestamps_of(X, self.time_col)
        unique, position = np.unique(stamps, return_inverse=True)
        inner = TimeSeriesSplit(n_splits=self.n_splits, test_size=self.test_size, gap=self.gap)
        for train_t, test_t in inner.split(unique):
            first = max(int(test_t[0]) - int(self.context_size), 0)
            train_mask = np.isin(position, train_t)
            test_mask = (position >= first) & (position <= int(test_t[-1]))
            yield np.flatnonzero(train_mask), np.flatnonzero(test_mask)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of folds."""
        return int(self.n_splits)

    def _iter_test_indices(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[np.ndarray]:
        for _, test in self.split(X, y, groups):
            yield test
