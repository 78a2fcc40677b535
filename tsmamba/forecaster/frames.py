"""pandas/polars frames in and out of the forecasters, and the validation of user input.

Two shapes are accepted:

* **long** (the neuralforecast/utilsforecast convention): one row per (series, timestamp), columns
  ``unique_id``, ``ds``, ``y`` (names configurable). A frame is long when it has the id column.
* **wide** (the ETT/Weather shape): a timestamp column (or a pandas ``DatetimeIndex``) and one numeric
  column per variate.

Each series keeps its own timestamps (:class:`SeriesSet`): the series of a long frame may differ in length and
start date, a panel for the global models (PatchTST, DLinear). A multivariate model (TSM2 mixes channels)
needs them aligned: ``SeriesSet.to_panel`` is the ``(time, series)`` matrix, or an error naming the series that
differ and saying why. Timestamps are sorted (order of rows carries no meaning in either shape); duplicates,
gaps, NaN/inf and non-numeric values are errors that name the problem and the fix, never silently dropped or
filled.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from tsmamba.forecaster.frequency import resolve_freq
from tsmamba.forecaster.time_types import TimeType, pandas_time_type, polars_time_type, restore

Backend = Literal["pandas", "polars"]
Layout = Literal["long", "wide"]


@dataclass(frozen=True)
class Columns:
    """Column names of the user's frames (constructor parameters ``id_col``, ``time_col``, ``target_col``)."""

    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"


@dataclass
class Panel:
    """A validated multivariate series: ``values[t, m]`` at ``index[t]`` for series ``series[m]``.

    ``index`` is a ``DatetimeIndex`` or, for integer time columns, an integer index; ``time_type`` is the
    user's time dtype, restored on output frames.
    """

    values: np.ndarray
    index: pd.Index
    series: list[Any]
    layout: Layout
    backend: Backend
    time_type: TimeType | None = None

    @property
    def n_times(self) -> int:
        """Number of timestamps."""
        return len(self.index)


ALIGNED_WHY = "All series must share the same timestamps (they are the variates of one multivariate model)"
ALIGNED_FIX = "Align them on a common time grid, or fit one forecaster per group of aligned series."


@dataclass
class SeriesSet:
    """Validated series, each sorted by time and gap-free once its frequency is resolved: ``values[k]`` at
    ``index[k]`` for series ``series[k]``. Series of a long frame may differ in length and start (a ragged
    panel); ``to_panel`` is the aligned ``(time, series)`` matrix a multivariate model needs."""

    series: list[Any]
    values: list[np.ndarray]
    index: list[pd.Index]
    layout: Layout
    backend: Backend
    time_type: TimeType | None = None

    @classmethod
    def from_panel(cls, panel: Panel) -> SeriesSet:
        """The columns of an aligned panel as series."""
        return cls(
            list(panel.series),
            [panel.values[:, m] for m in range(len(panel.series))],
            [panel.index] * len(panel.series),
            panel.layout,
            panel.backend,
            panel.time_type,
        )

    @property
    def lengths(self) -> np.ndarray:
        """Number of timestamps of each series."""
        return np.array([len(v) for v in self.values], dtype=np.int64)

    @property
    def aligned(self) -> bool:
        """Whether every series has the same timestamps."""
        first = self.index[0]
        return all(index is first or index.equals(first) for index in self.index[1:])

    def to_panel(self, why: str = ALIGNED_WHY, fix: str = ALIGNED_FIX) -> Panel:
        """The aligned ``(time, series)`` panel; an error that says ``why`` and names the series that differ."""
        if not self.aligned:
            grid = self.index[0].append(self.index[1:]).unique()
            short = [k for k, index in enumerate(self.index) if len(index) < len(grid)]
            names = [self.series[k] for k in short[:5]]
            spans = "; ".join(
                f"{self.series[k]!r}: {len(self.index[k])} from {self.index[k][0]} to {self.index[k][-1]}"
                for k in short[:3]
            )
            raise ValueError(
                f"{why}, but series {names}{' ...' if len(short) > 5 else ''} lack some of the {len(grid)} "
                f"timestamps of all series together ({spans}). {fix}"
            )
        return Panel(
            np.stack(self.values, axis=1), self.index[0], list(self.series), self.layout, self.backend, self.time_type
        )

    def head(self, lengths: Sequence[int] | np.ndarray) -> SeriesSet:
        """The first ``lengths[k]`` timestamps of each series ``k``."""
        return SeriesSet(
            self.series,
            [v[: int(n)] for v, n in zip(self.values, lengths, strict=True)],
            [i[: int(n)] for i, n in zip(self.index, lengths, strict=True)],
            self.layout,
            self.backend,
            self.time_type,
        )

    def resolve_freq(self, freq: str | int | None) -> str | int:
        """The frequency of every series: ``freq`` checked, or inferred from the longest series and checked
        on the others; an irregular series is an error that names it."""
        longest = int(np.argmax(self.lengths))
        order = [longest] + [k for k in range(len(self.series)) if k != longest]
        resolved: str | int | None = freq
        for k in order:
            if k != longest and self.index[k] is self.index[longest]:
                continue
            try:
                resolved = resolve_freq(self.index[k], resolved)
            except ValueError as exc:
                where = f"Series {self.series[k]!r}: " if len(self.series) > 1 and self.layout == "long" else ""
                raise ValueError(f"{where}{exc}") from exc
        assert resolved is not None
        return resolved


def backend_of(df: Any) -> Backend:
    """'pandas' or 'polars'; anything else is an error naming the accepted types."""
    if isinstance(df, pd.DataFrame):
        return "pandas"
    if isinstance(df, pl.DataFrame):
        return "polars"
    if isinstance(df, pl.LazyFrame):
        raise TypeError("Got a polars LazyFrame; call .collect() first and pass the DataFrame.")
    raise TypeError(
        f"Expected a pandas or polars DataFrame, got {type(df).__name__}. "
        "Pass a long frame (unique_id, ds, y) or a wide frame (a timestamp column and one column per variate)."
    )


def _polars_to_pandas(df: pl.DataFrame, columns: Columns) -> tuple[pd.DataFrame, TimeType | None]:
    """Convert a polars frame, first checking that its timestamp column is temporal or integer."""
    time_type = None
    if columns.time_col in df.columns:
        dtype = df.schema[columns.time_col]
        time_type = polars_time_type(dtype)
        if time_type is None:
            raise TypeError(
                f"Column {columns.time_col!r} has polars dtype {dtype}, not a date or datetime (nor integer). Parse it "
                f"first, e.g. df.with_columns(pl.col({columns.time_col!r}).str.to_datetime()) or "
                "pl.read_csv(..., try_parse_dates=True)."
            )
        if dtype == pl.Date:
            df = df.with_columns(pl.col(columns.time_col).cast(pl.Datetime("ms")))
    return df.to_pandas(), time_type


def _check_not_empty(df: pd.DataFrame) -> None:
    if len(df) == 0:
        raise ValueError("The frame is empty (0 rows); pass at least input_size + h timestamps per series.")


def _timestamps(values: pd.Series | pd.Index, name: str) -> pd.Index:
    """Validate a timestamp column: datetime (or integer) dtype, no NaT, no mix of tz-aware and naive values."""
    if pandas_time_type(values.dtype) is not None and pandas_time_type(values.dtype).kind == "int":  # type: ignore[union-attr]
        return pd.Index(np.asarray(values, dtype=np.int64))
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        index = pd.DatetimeIndex(values)
    else:
        non_null = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
        dated = [v for v in non_null if isinstance(v, (_dt.datetime, pd.Timestamp))]
        if dated and len(dated) == len(non_null):
            aware = {v.tzinfo is not None for v in dated}
            if aware == {True, False}:
                raise ValueError(
                    f"Column {name!r} mixes timezone-aware and naive timestamps. Make them all aware "
                    f"(pd.to_datetime(df[{name!r}], utc=True)) or all naive (.dt.tz_localize(None))."
                )
            index = pd.DatetimeIndex(pd.to_datetime(pd.Series(values, dtype=object), utc=aware == {True}))
        else:
            raise TypeError(
                f"Column {name!r} has dtype {values.dtype}, not datetime (nor integer). Parse it first: "
                f"df[{name!r}] = pd.to_datetime(df[{name!r}]) (or read_csv(..., parse_dates=[{name!r}]))."
            )
    if index.hasnans:
        raise ValueError(
            f"Column {name!r} holds {int(index.isna().sum())} missing timestamp(s); drop or fix those rows."
        )
    return index


def _check_finite(values: np.ndarray, index: pd.Index, series: list[Any], what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        t, m = np.argwhere(bad)[0]
        raise ValueError(
            f"{what} holds {int(bad.sum())} NaN or infinite value(s), first in series {series[m]!r} at {index[t]}. "
            "Forecasters never fill gaps silently: impute or drop them before fitting or predicting."
        )


def _numeric(df: pd.DataFrame, cols: list[Any], what: str) -> np.ndarray:
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(df[c].dtype)]
    if bad:
        kinds = ", ".join(f"{c!r} ({df[c].dtype})" for c in bad)
        raise TypeError(
            f"{what} must be numeric; non-numeric column(s): {kinds}. Convert them (pd.to_numeric) or drop them."
        )
    return df[cols].to_numpy(dtype=np.float64, na_value=np.nan)


def _looks_like_ids(column: pd.Series) -> bool:
    """A string/categorical column: in a wide frame, most likely series ids of a long frame."""
    return bool(
        pd.api.types.is_object_dtype(column.dtype)
        or pd.api.types.is_string_dtype(column.dtype)
        or isinstance(column.dtype, pd.CategoricalDtype)
    )


def _long_to_series(df: pd.DataFrame, columns: Columns, backend: Backend) -> SeriesSet:
    missing = [c for c in (columns.time_col, columns.target_col) if c not in df.columns]
    if missing:
        raise ValueError(
            f"Long frame (it has {columns.id_col!r}) is missing column(s) {missing}; columns are {list(df.columns)}. "
            "Rename them or set time_col=/target_col= on the forecaster."
        )
    times = _timestamps(df[columns.time_col], columns.time_col)
    values = _numeric(df, [columns.target_col], f"Target column {columns.target_col!r}")[:, 0]
    if df[columns.id_col].isna().any():
        raise ValueError(
            f"Column {columns.id_col!r} holds {int(df[columns.id_col].isna().sum())} missing series id(s); "
            "every row needs the id of its series."
        )
    ids = df[columns.id_col].to_numpy()
    frame = pd.DataFrame({"id": ids, "ds": times, "y": values})
    finite = np.isfinite(values)
    if not finite.all():
        first = frame[~finite].iloc[0]
        raise ValueError(
            f"Target column {columns.target_col!r} holds {int((~finite).sum())} NaN or infinite value(s), first in "
            f"series {first['id']!r} at {first['ds']}. Forecasters never fill gaps silently: impute or drop them "
            "before fitting or predicting."
        )
    dup = frame.duplicated(["id", "ds"], keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise ValueError(
            f"Series {first['id']!r} has duplicate timestamps ({int(dup.sum())} rows share a (unique_id, ds) pair, "
            f"first at {first['ds']}). Aggregate or drop duplicates before fitting."
        )
    codes, uniques = pd.factorize(frame["id"], sort=True)
    stamps = times.asi8 if isinstance(times, pd.DatetimeIndex) else times.to_numpy()
    order = np.lexsort((stamps, codes))
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
    ordered_times, ordered_values = times[order], values[order]
    return SeriesSet(
        [s.item() if isinstance(s, np.generic) else s for s in uniques],
        [ordered_values[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        [pd.Index(ordered_times[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        "long",
        backend,
    )


def _wide_to_panel(df: pd.DataFrame, columns: Columns, backend: Backend) -> Panel:
    if columns.time_col in df.columns:
        times = _timestamps(df[columns.time_col], columns.time_col)
        value_cols = [c for c in df.columns if c != columns.time_col]
    elif isinstance(df.index, pd.DatetimeIndex):
        times = _timestamps(df.index, "index")
        value_cols = list(df.columns)
    else:
        raise ValueError(
            f"Missing timestamp column {columns.time_col!r} (columns are {list(df.columns)}). Set time_col= to the "
            f"name of your timestamp column, give a pandas frame a DatetimeIndex, or pass a long frame with "
            f"{columns.id_col!r}, {columns.time_col!r}, {columns.target_col!r}."
        )
    if not value_cols:
        raise ValueError("Wide frame has no value columns; add one numeric column per variate.")
    ids = [c for c in value_cols if _looks_like_ids(df[c])]
    if ids:
        raise TypeError(
            f"Wide frame column(s) {ids} are not numeric. If {ids[0]!r} names the series of stacked rows, read the "
            f"frame as long: set id_col={ids[0]!r} (and target_col= to the value column); otherwise convert "
            "the column(s) (pd.to_numeric) or drop them."
        )
    values = _numeric(df, value_cols, "Value columns of a wide frame")
    order = np.argsort(times.to_numpy(), kind="stable")
    times, values = times[order], values[order]
    dup = times.duplicated()
    if dup.any():
        raise ValueError(
            f"Duplicate timestamps in column {columns.time_col!r} ({int(dup.sum())}, first {times[dup][0]}) of a "
            f"wide frame (no {columns.id_col!r} column). If the rows stack several series, add their id column "
            f"and pass id_col= (a long frame); if they are true duplicates, aggregate or drop them."
        )
    _check_finite(values, times, value_cols, "Wide frame")
    return Panel(values, pd.Index(times), value_cols, "wide", backend)


def to_series_set(df: Any, columns: Columns) -> SeriesSet:
    """Validate a pandas or polars frame (long or wide) into its series, each sorted by time; the series of a
    long frame may differ in length and start."""
    backend = backend_of(df)
    if backend == "polars":
        pdf, time_type = _polars_to_pandas(df, columns)
    else:
        pdf = df
        stamps = pdf[columns.time_col] if columns.time_col in pdf.columns else pdf.index
        time_type = pandas_time_type(stamps.dtype)
    _check_not_empty(pdf)
    repeated = pdf.columns[pdf.columns.duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"Column name(s) {repeated} appear more than once; every column needs its own name (one per variate "
            "in a wide frame). Rename or drop the repeated columns."
        )
    if columns.id_col in pdf.columns:
        data = _long_to_series(pdf, columns, backend)
    else:
        data = SeriesSet.from_panel(_wide_to_panel(pdf, columns, backend))
    data.time_type = time_type
    return data


def to_panel(df: Any, columns: Columns) -> Panel:
    """Validate a pandas or polars frame (long or wide) into a sorted ``(time, series)`` panel: the series of a
    long frame must share their timestamps."""
    return to_series_set(df, columns).to_panel()


def forecast_frame(
    values: np.ndarray,
    index: pd.Index,
    series: list[Any],
    columns: Columns,
    model_name: str,
    layout: Layout,
    backend: Backend,
    time_type: TimeType | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Any:
    """Forecasts ``values[t, m]`` as a long (``unique_id, ds, <model_name>``) or wide frame in ``backend``, the
    time column in the user's dtype ``time_type``; ``extra`` (long only) adds columns shaped like ``values``
    (prediction intervals)."""
    if layout == "wide":
        pdf = pd.DataFrame(values, columns=series)
        pdf.insert(0, columns.time_col, index)
        return restore(pdf, [columns.time_col], time_type, backend)
    n_times, n_series = values.shape
    pdf = pd.DataFrame(
        {
            columns.id_col: pd.Index(series).repeat(n_times),
            columns.time_col: np.tile(index.to_numpy(), n_series),
            model_name: values.T.reshape(-1),
            **{name: column.T.reshape(-1) for name, column in (extra or {}).items()},
        }
    )
    return restore(pdf, [columns.time_col], time_type, backend)


def series_forecast_frame(
    series: list[Any],
    index: list[pd.Index],
    values: list[np.ndarray],
    columns: Columns,
    model_name: str,
    backend: Backend,
    time_type: TimeType | None = None,
    extra: dict[str, list[np.ndarray]] | None = None,
) -> Any:
    """Forecasts of series of their own timestamps (``values[k]`` at ``index[k]``) as a long frame
    ``unique_id, ds, <model_name>`` in ``backend``; ``extra`` adds columns shaped like ``values``."""
    lengths = [len(i) for i in index]
    pdf = pd.DataFrame(
        {
            columns.id_col: pd.Index(series).repeat(lengths),
            columns.time_col: index[0].append(index[1:]) if len(index) > 1 else index[0],
            model_name: np.concatenate(values),
            **{name: np.concatenate(column) for name, column in (extra or {}).items()},
        }
    )
    return restore(pdf, [columns.time_col], time_type, backend)


def long_pandas(df: Any) -> pd.DataFrame:
    """A forecast/cross-validation output frame as pandas (for evaluation and plotting helpers)."""
    return df.to_pandas() if isinstance(df, pl.DataFrame) else df
