"""A built-in synthetic multivariate seasonal series for the demo and the tests (no download)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl


def synthetic_series(
    n_steps: int = 2000, n_vars: int = 4, period: int = 24, seed: int = 0, noise: float = 0.1
) -> np.ndarray:
    """A (n_steps, n_vars) float64 series: daily + weekly seasonality, slow trend, AR(1) noise.

    Each variate has its own amplitude, phase and level, and variate ``k`` partly follows variate ``k-1``
    with a lag, so that models which mix channels have something to find.
    """
    if n_steps <= 0 or n_vars <= 0 or period <= 1:
        raise ValueError(f"need n_steps > 0, n_vars > 0 and period > 1, got {n_steps}, {n_vars}, {period}.")
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float64)[:, None]
    amplitude = rng.uniform(0.5, 2.0, n_vars)
    phase = rng.uniform(0, 2 * np.pi, n_vars)
    level = rng.uniform(-1.0, 1.0, n_vars)
    daily = amplitude * np.sin(2 * np.pi * t / period + phase)
    weekly = 0.5 * amplitude * np.sin(2 * np.pi * t / (7 * period) + 2 * phase)
    trend = 0.3 * t / n_steps * rng.uniform(-1.0, 1.0, n_vars)
    shocks = rng.normal(0.0, noise, (n_steps, n_vars))
    ar = np.zeros_like(shocks)
    for i in range(1, n_steps):
        ar[i] = 0.7 * ar[i - 1] + shocks[i]
    series = level + daily + weekly + trend + ar
    lag = max(1, period // 4)
    series[lag:, 1:] += 0.3 * series[:-lag, :-1]
    return series


def synthetic_frame(
    n_steps: int = 2000, n_vars: int = 4, period: int = 24, seed: int = 0, start: str = "2024-01-01", freq: str = "1h"
) -> pl.DataFrame:
    """:func:`synthetic_series` as a polars frame: a ``date`` column (pandas ``freq`` alias) and ``x0..x{M-1}``."""
    values = synthetic_series(n_steps, n_vars, period, seed)
    dates = pd.date_range(start, periods=n_steps, freq=freq)
    return pl.DataFrame(
        {"date": pl.Series(dates.to_numpy().astype("datetime64[us]")), **{f"x{k}": values[:, k] for k in range(n_vars)}}
    )
