"""Argument checks shared by the forecaster modules (run at fit/predict time, never in ``__init__``)."""

from __future__ import annotations

import numbers
from typing import Any


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int; an error naming ``name`` unless it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_no_y(y: Any, what: str) -> None:
    """scikit-learn passes ``y=None``; a given ``y`` would be ignored, since the target is a column of ``df``."""
    if y is not None:
        raise ValueError(
            f"{what}(df, y): y is not used; the target is the target_col column of df (long frames) or its value "
            f"columns (wide frames). Call {what}(df)."
        )
