"""Argument checks shared by the forecaster modules (run at fit/predict time, never in ``__init__``)."""

from __future__ import annotations

import numbers
from typing import Any


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int; an error naming ``name`` unless it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)
