"""Frequency of a regular time index: inferred or checked against the user's ``freq``, and future timestamps.

A forecaster needs a regular grid to generate the timestamps of its forecasts, so irregular spacing is an
error (never silently resampled): with ``freq`` given, the first timestamp that breaks the grid is named; without
it, pandas' inference must succeed.
"""

from __future__ import annotations

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


def resolve_freq(index: pd.DatetimeIndex, freq: str | pd.DateOffset | None) -> str:
    """Return the frequency of ``index``; raise if its spacing contradicts ``freq`` or cannot be inferred."""
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


def future_index(last: pd.Timestamp, freq: str, h: int) -> pd.DatetimeIndex:
    """The ``h`` timestamps after ``last`` on the grid of ``freq``."""
    return pd.date_range(last, periods=h + 1, freq=freq)[1:]
