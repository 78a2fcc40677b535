"""The small two-series wide frame the forecaster tests share (hourly; a sine and a drifting cosine)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def wide_frame(n: int = 64, start: str = "2021-01-01") -> pd.DataFrame:
    t = np.arange(n)
    return pd.DataFrame(
        {
            "ds": pd.date_range(start, periods=n, freq="h"),
            "a": np.sin(2 * np.pi * t / 12) + 5.0,
            "b": 10 * np.cos(2 * np.pi * t / 6) + 0.05 * t,
        }
    )
