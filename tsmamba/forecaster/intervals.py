"""Conformal prediction intervals from rolling-window residuals, with neuralforecast's column names.

``fit`` with ``conformal_windows=n`` trains a second model on the data before the last ``h + n - 1`` timestamps
and forecasts the ``n`` windows after it (origins one step apart): the absolute errors ``scores[n, h, M]``
are out-of-sample for that model. The interval at level ``l`` around a forecast is ``forecast +- q`` with
``q`` the split-conformal quantile of the scores at its horizon step and series: the ``ceil((n + 1) * l)``-th
smallest of ``n`` (the largest when ``n`` is too small for ``l``; ``n >= 100 / (100 - l) - 1`` windows give the
guarantee, e.g. 9 for 90%). The guarantee assumes exchangeable errors, so it holds approximately for series
whose error distribution drifts.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence

import numpy as np

INTERVAL_COLUMN = re.compile(r"-(?:lo|hi)-\d+(?:\.\d+)?$")  # matches the names interval_columns gives


def check_levels(level: Sequence[float] | None) -> list[float]:
    """``level`` as a sorted list of distinct numbers in (0, 100); a clear error otherwise."""
    if level is None:
        return []
    if isinstance(level, (str, numbers.Number)) or not isinstance(level, Sequence):
        raise ValueError(f"level must be a list of numbers in (0, 100), e.g. level=[80, 90]; got {level!r}.")
    bad = [v for v in level if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < 100]
    if bad:
        raise ValueError(f"level values must be numbers strictly between 0 and 100, e.g. [80, 90]; got {bad}.")
    return sorted({float(v) for v in level})


def level_name(level: float) -> str:
    """``80`` for 80.0, ``97.5`` for 97.5: the suffix of neuralforecast's ``<Model>-lo-80`` columns."""
    return str(int(level)) if float(level).is_integer() else str(level)


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Per step and series, the split-conformal quantile of ``scores[n, h, M]`` at ``level`` percent."""
    n = scores.shape[0]
    rank = min(math.ceil((n + 1) * level / 100.0), n)  # 1-based rank among the sorted scores
    return np.sort(scores, axis=0)[rank - 1]


def interval_bounds(name: str, columns: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(level, lo column, hi column)`` of every level ``columns`` hold both bounds of for forecast ``name``,
    widest first (the order to draw nested bands in)."""
    found = []
    for column in columns:
        level = column.removeprefix(f"{name}-lo-")
        if level != column and INTERVAL_COLUMN.search(column) and f"{name}-hi-{level}" in columns:
            found.append((level, column, f"{name}-hi-{level}"))
    return sorted(found, key=lambda b: -float(b[0]))


def interval_columns(name: str, forecast: np.ndarray, scores: np.ndarray, levels: list[float]) -> dict[str, np.ndarray]:
    """``<name>-lo-<l>`` (levels descending) then ``<name>-hi-<l>`` (ascending) arrays shaped like ``forecast``.

    ``forecast`` is ``[..., h', M]`` with ``h' <= h`` (a truncated horizon uses the scores of its steps).
    """
    steps = forecast.shape[-2]
    half = {lv: conformal_quantile(scores[:, :steps], lv) for lv in levels}
    out = {f"{name}-lo-{level_name(lv)}": forecast - half[lv] for lv in reversed(levels)}
    out.update({f"{name}-hi-{level_name(lv)}": forecast + half[lv] for lv in levels})
    return out
