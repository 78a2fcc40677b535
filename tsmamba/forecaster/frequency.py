"""Frequency of a regular time index: inferred or checked against the user's ``freq``, and future timestamps.

A forecaster needs a regular grid to generate the timestamps of its forecasts, so irregular spacing is an
error (never silently resampled): with ``freq`` given, the first timestamp that breaks the grid is named; without
it, pandas' inference must succeed.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset


def normalise_freq(freq: str | pd.DateOffset) -> str:
    """A pandas offset alias (``"h"``, ``"15min"``, ``"D"``...) in canonical spelling; a clear error otherwise."""
    try:
        return to_offset(freq).freqstr
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"freq={freq!r} is not a pandas frequency alias (e.g. 'h', '15min', 'D', 'W-SUN'): {exc}"
        ) from exc


def is_integer_freq(freq: object) -> bool:
    """An integer step (``freq=1``), as neuralforecast takes for integer ``ds``; bools are not."""
    return isinstance(freq, numbers.Integral) and not isinstance(freq, (bool, np.bool_))


def _resolve_int_freq(index: pd.Index, freq: object) -> int:
    """The step of an integer time index: ``freq`` (checked) or, when None, the one constant step."""
    if freq is not None and not is_integer_freq(freq):
        raise ValueError(
            f"The time column holds integers, so freq must be an integer step (e.g. freq=1), got {freq!r}. "
            "Pass freq=<int>, or convert the column to datetimes to use a pandas alias."
        )
    steps = np.diff(index.to_numpy())
    if freq is None:
        if len(steps) == 0:
            raise ValueError("Cannot infer the step from 1 timestamp; pass freq= (e.g. freq=1).")
        freq = int(steps[0])
    step = int(freq)  # type: ignore[call-overload]
    if step < 1:
        raise ValueError(f"freq must be an integer >= 1 for an integer time column, got {freq!r}.")
    bad = np.flatnonzero(steps != step)
    if len(bad):
        i = int(bad[0]) + 1
        raise ValueError(
            f"Irregular spacing contradicts freq={step}: timestamp {i} is {index[i]}, expected {index[i - 1] + step} "
            f"(previous {index[i - 1]}). Fill the gap or pass the right freq."
        )
    return step


def resolve_freq(index: pd.Index, freq: str | int | pd.DateOffset | None) -> str | int:
    """Return the frequency of ``index``; raise if its spacing contradicts ``freq`` or cannot be inferred.

    An integer index (integer ``ds``) has an integer step (``freq=1``); a datetime index a pandas alias.
    """
    if pd.api.types.is_integer_dtype(index.dtype):
        return _resolve_int_freq(index, freq)
    if is_integer_freq(freq):
        raise ValueError(
            f"freq={freq!r} is an integer step, but the time column holds datetimes. Pass a pandas alias "
            "(e.g. freq='h'), or use integer timestamps with an integer freq."
        )
    if freq is not None:
        alias = normalise_freq(freq)
        expected = pd.date_range(index[0], periods=len(index), freq=alias)
        mismatch = (expected != index).nonzero()[0]
        if len(mismatch):
            i = int(mismatch[0])
            raise ValueError(
                f"Irregular spacing contradicts freq={alias!r}: timestamp {i} is {index[i]}, expected {expected[i]} "
                f"(previous {index[i - 1] if i else index[0]}). Fill or resample the gap (e.g. "
                f"df.resample({alias!r}) with an explicit aggregation) or pass the right freq."
            )
        return alias
    if len(index) < 3:
        raise ValueError(f"Cannot infer the frequency from {len(index)} timestamp(s); pass freq= (e.g. freq='h').")
    inferred = pd.infer_freq(index)
    if inferred is None:
        steps = index.to_series().diff().dropna().value_counts()
        raise ValueError(
            f"Irregular spacing: cannot infer a frequency (time steps seen: {', '.join(map(str, steps.index[:3]))}). "
            "Fill or resample the gaps, or pass freq= to have the first gap named."
        )
    return normalise_freq(inferred)


def future_index(last: pd.Timestamp | int, freq: str | int, h: int) -> pd.Index:
    """The ``h`` timestamps after ``last`` on the grid of ``freq`` (integers with an integer ``freq``)."""
    if is_integer_freq(freq):
        return pd.Index(int(last) + int(freq) * np.arange(1, h + 1, dtype=np.int64))
    return pd.date_range(last, periods=h + 1, freq=freq)[1:]
