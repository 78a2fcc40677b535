"""Conformal prediction intervals: neuralforecast's column names, nesting, save/load, errors, and coverage on
synthetic series (a statistical check: the empirical coverage must land near the nominal level)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsmamba import DLinearForecaster, load_forecaster
from tsmamba.forecaster.intervals import conformal_quantile

H, L_IN = 4, 8


def noisy_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Two seasonal series plus iid Gaussian noise: the errors are close to exchangeable."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame(
        {
            "ds": pd.date_range("2022-01-01", periods=n, freq="h"),
            "a": 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, n),
            "b": 2 * np.cos(2 * np.pi * t / 8) + 10 + rng.normal(0, 0.5, n),
        }
    )


def tiny(**params: object) -> DLinearForecaster:
    return DLinearForecaster(
        **{
            "h": H,
            "input_size": L_IN,
            "max_epochs": 3,
            "val_size": 0,
            "learning_rate": 0.01,
            "accelerator": "cpu",
            "conformal_windows": 39,
            **params,
        }
    )


def test_interval_columns_follow_neuralforecast() -> None:
    model = tiny().fit(noisy_frame(120))
    forecast = model.predict(level=[90, 80])
    assert list(forecast.columns) == [
        "unique_id",
        "ds",
        "DLinear",
        "DLinear-lo-90",
        "DLinear-lo-80",
        "DLinear-hi-80",
        "DLinear-hi-90",
    ]
    assert (forecast["DLinear-lo-90"] <= forecast["DLinear-lo-80"]).all()
    assert (forecast["DLinear-lo-80"] < forecast["DLinear"]).all()
    assert (forecast["DLinear"] < forecast["DLinear-hi-80"]).all()
    assert (forecast["DLinear-hi-80"] <= forecast["DLinear-hi-90"]).all()
    pd.testing.assert_frame_equal(forecast[["unique_id", "ds", "DLinear"]], model.predict())
    short = model.predict(h=2, level=[80])
    assert len(short) == 2 * 2 and short["DLinear-hi-80"].notna().all()


def test_conformal_quantile_is_the_split_conformal_rank() -> None:
    scores = np.arange(1.0, 10.0).reshape(9, 1, 1)  # 1..9
    assert conformal_quantile(scores, 80)[0, 0] == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(scores, 95)[0, 0] == 9.0  # capped at the largest
    assert conformal_quantile(scores, 10)[0, 0] == 1.0


def test_save_load_keeps_the_intervals(tmp_path: Path) -> None:
    model = tiny(conformal_windows=5).fit(noisy_frame(80))
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "m").predict(level=[80]), model.predict(level=[80]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": [80], "format": "wide"}, "format='long'"),
        ({"level": [100]}, "strictly between 0 and 100"),
        ({"level": 80}, "list of numbers"),
    ],
)
def test_bad_levels(kwargs: dict, match: str) -> None:
    model = tiny(conformal_windows=3).fit(noisy_frame(60))
    with pytest.raises(ValueError, match=match):
        model.predict(**kwargs)


def test_levels_without_calibration_are_refused() -> None:
    model = tiny(conformal_windows=0).fit(noisy_frame(60))
    with pytest.raises(ValueError, match="conformal_windows"):
        model.predict(level=[80])
    with pytest.raises(ValueError, match="conformal_windows"):
        model.cross_validation(noisy_frame(60), level=[80])


def test_too_many_calibration_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="conformal"):
        tiny(conformal_windows=50).fit(noisy_frame(60))


@pytest.mark.parametrize("level", [80, 95])
def test_cross_validation_coverage_is_near_nominal(level: int) -> None:
    """Out-of-sample coverage over 60 windows x 4 steps x 2 series (480 points) within 8 points of nominal."""
    df = noisy_frame(400, seed=1)
    cv = tiny().cross_validation(df, n_windows=60, step_size=1, level=[level])
    inside = (cv["y"] >= cv[f"DLinear-lo-{level}"]) & (cv["y"] <= cv[f"DLinear-hi-{level}"])
    assert abs(inside.mean() - level / 100) < 0.08, inside.mean()
    assert list(cv.columns) == [
        "unique_id",
        "ds",
        "cutoff",
        "DLinear",
        f"DLinear-lo-{level}",
        f"DLinear-hi-{level}",
        "y",
    ]
