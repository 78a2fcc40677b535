"""Bad input to the forecasters, one case per test: each must fail with an error naming the problem and the fix.

These checks run before any training, so they are fast; the cases that need a fitted model (predict with new
history, h larger than fitted) live in test_forecaster_api.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tsmamba.forecaster import DLinearForecaster
from tsmamba.forecaster.frames import Columns, to_panel
from tsmamba.forecaster.frequency import future_index, resolve_freq

H, L = 4, 8


def wide_frame(n: int = 40, freq: str = "h") -> pd.DataFrame:
    """Two seasonal variates on a regular grid, ETT-shaped (timestamp column + one column per variate)."""
    t = np.arange(n)
    return pd.DataFrame(
        {
            "ds": pd.date_range("2021-01-01", periods=n, freq=freq),
            "a": np.sin(2 * np.pi * t / 12),
            "b": np.cos(2 * np.pi * t / 6) + 0.01 * t,
        }
    )


def long_frame(n: int = 40) -> pd.DataFrame:
    """The same data as ``wide_frame`` in the neuralforecast layout."""
    return wide_frame(n).melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]]


def fit(df: object, **params: object) -> DLinearForecaster:
    return DLinearForecaster(h=H, input_size=L, max_steps=1, **params).fit(df)


def test_nan_in_target_is_named() -> None:
    df = long_frame()
    df.loc[5, "y"] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite value\(s\), first in series 'a'.*impute or drop"):
        fit(df)


def test_missing_value_in_a_nullable_column_is_named() -> None:
    df = long_frame()
    df["y"] = df["y"].astype("Float64")
    df.loc[45, "y"] = pd.NA
    with pytest.raises(ValueError, match=r"1 NaN or infinite value\(s\), first in series 'b'"):
        fit(df)


def test_inf_in_wide_frame_is_named() -> None:
    df = wide_frame()
    df.loc[7, "b"] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite value\(s\), first in series 'b'"):
        fit(df)


def test_empty_frame() -> None:
    with pytest.raises(ValueError, match="empty"):
        fit(long_frame().iloc[:0])


def test_missing_timestamp_column_in_wide_frame() -> None:
    with pytest.raises(ValueError, match=r"Missing timestamp column 'ds'.*time_col="):
        fit(wide_frame().rename(columns={"ds": "date"}))


def test_time_col_option_accepts_other_names() -> None:
    model = DLinearForecaster(h=H, input_size=L, time_col="date")
    panel = to_panel(wide_frame().rename(columns={"ds": "date"}), model.frame_columns())
    assert panel.series == ["a", "b"] and panel.n_times == 40


def test_missing_timestamp_column_in_long_frame() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['ds'\]"):
        fit(long_frame().drop(columns="ds"))


def test_missing_target_column() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['y'\].*target_col="):
        fit(long_frame().rename(columns={"y": "value"}))


def test_missing_series_id() -> None:
    df = long_frame()
    df.loc[2, "unique_id"] = None
    with pytest.raises(ValueError, match=r"'unique_id' holds 1 missing series id"):
        fit(df)


def test_non_numeric_target() -> None:
    df = long_frame()
    df["y"] = df["y"].astype(str)
    with pytest.raises(TypeError, match=r"must be numeric.*'y'.*pd.to_numeric"):
        fit(df)


def test_non_numeric_wide_column() -> None:
    df = wide_frame()
    df["label"] = "x"
    with pytest.raises(TypeError, match=r"column\(s\) \['label'\] are not numeric.*id_col='label'"):
        fit(df)


def test_duplicate_timestamps_in_a_series() -> None:
    df = long_frame()
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"Series 'a' has duplicate timestamps"):
        fit(df)


def test_duplicate_timestamps_in_wide_frame() -> None:
    df = wide_frame()
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match="Duplicate timestamps"):
        fit(df)


def test_unsorted_rows_are_sorted() -> None:
    """Decision: row order carries no meaning; shuffled rows give the same panel as sorted ones."""
    columns = Columns()
    df = long_frame()
    shuffled = df.sample(frac=1.0, random_state=0)
    expected, got = to_panel(df, columns), to_panel(shuffled, columns)
    assert got.index.equals(expected.index) and got.series == expected.series
    np.testing.assert_array_equal(got.values, expected.values)
    wide = to_panel(wide_frame().iloc[::-1], columns)
    assert wide.index.is_monotonic_increasing
    np.testing.assert_array_equal(wide.values, expected.values)


def test_irregular_spacing_contradicting_freq() -> None:
    df = wide_frame().drop(index=10)
    with pytest.raises(ValueError, match=r"Irregular spacing contradicts freq='h': timestamp 10"):
        fit(df, freq="h")


def test_irregular_spacing_without_freq() -> None:
    df = wide_frame().drop(index=[10, 20, 21])
    with pytest.raises(ValueError, match="Irregular spacing: cannot infer a frequency"):
        fit(df)


def test_invalid_freq_alias() -> None:
    with pytest.raises(ValueError, match=r"freq='fortnightly' is not a pandas frequency alias"):
        fit(wide_frame(), freq="fortnightly")


def test_series_shorter_than_input_size_plus_h() -> None:
    with pytest.raises(
        ValueError, match=r"have 11 timestamps; fitting needs at least input_size \+ h \+ val_size = 12"
    ):
        fit(wide_frame(n=11), val_size=0)


def test_val_size_counts_towards_the_minimum_length() -> None:
    with pytest.raises(ValueError, match=r"at least input_size \+ h \+ val_size = 20"):
        fit(wide_frame(n=19), val_size=8)


def test_gap_inside_one_series_of_a_panel() -> None:
    df = long_frame()
    df = df.drop(index=df.index[(df["unique_id"] == "b") & (df["ds"] == df["ds"].iloc[5])])
    with pytest.raises(ValueError, match=r"Series 'b': Irregular spacing"):
        fit(df)


def test_multivariate_model_needs_series_sharing_timestamps() -> None:
    df = long_frame()
    df = df.drop(index=df.index[(df["unique_id"] == "b")][:3])
    with pytest.raises(ValueError, match=r"individual=True has parameters per series.*\['b'\]"):
        fit(df, individual=True)


def test_mixed_tz_aware_and_naive_timestamps() -> None:
    df = wide_frame()
    stamps = list(df["ds"])
    stamps[0] = stamps[0].tz_localize("UTC")
    df["ds"] = pd.Series(stamps, dtype=object)
    with pytest.raises(ValueError, match="mixes timezone-aware and naive timestamps"):
        fit(df)


def test_missing_value_among_python_datetimes() -> None:
    df = wide_frame()
    df["ds"] = pd.Series([ts.to_pydatetime() for ts in df["ds"]], dtype=object)
    df.loc[6, "ds"] = None
    with pytest.raises(ValueError, match=r"holds 1 missing timestamp"):
        fit(df)


def test_string_timestamps_in_pandas() -> None:
    df = wide_frame()
    df["ds"] = df["ds"].astype(str)
    with pytest.raises(TypeError, match=r"not datetime.*pd.to_datetime"):
        fit(df)


def test_missing_timestamp_value() -> None:
    df = wide_frame()
    df.loc[3, "ds"] = pd.NaT
    with pytest.raises(ValueError, match=r"holds 1 missing timestamp"):
        fit(df)


def test_polars_non_temporal_ds() -> None:
    df = pl.from_pandas(long_frame()).with_columns(pl.col("ds").cast(pl.String))
    with pytest.raises(TypeError, match=r"not a date or datetime.*str.to_datetime"):
        fit(df)


def test_polars_date_column_is_accepted() -> None:
    df = pl.from_pandas(wide_frame(freq="D")).with_columns(pl.col("ds").cast(pl.Date))
    panel = to_panel(df, Columns())
    assert panel.backend == "polars" and resolve_freq(panel.index, None) == "D"


def test_not_a_dataframe() -> None:
    with pytest.raises(TypeError, match="Expected a pandas or polars DataFrame, got ndarray"):
        fit(np.zeros((40, 2)))


def test_polars_lazyframe_asks_for_collect() -> None:
    with pytest.raises(TypeError, match=r"collect\(\)"):
        fit(pl.from_pandas(wide_frame()).lazy())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"h": 0}, "h must be an integer >= 1"),
        ({"input_size": 2.5}, "input_size must be an integer >= 1"),
        ({"val_size": 2}, r"val_size=2 must be 0 or at least h=4"),
        ({"early_stopping_patience": 3, "val_size": 0}, "early_stopping_patience needs a validation part"),
        ({"trainer_kwargs": [1]}, "trainer_kwargs must be a dict"),
        ({"random_state": None}, "random_state must be an integer >= 0"),
    ],
)
def test_bad_parameters_fail_at_fit_not_init(params: dict, message: str) -> None:
    model = DLinearForecaster(**{"h": H, "input_size": L, **params})
    with pytest.raises((ValueError, TypeError), match=message):
        model.fit(wide_frame())


def test_frequency_inference_and_future_timestamps() -> None:
    index = pd.date_range("2021-01-01", periods=10, freq="15min")
    assert resolve_freq(index, None) == "15min"
    future = future_index(index[-1], "15min", 3)
    assert list(future) == list(pd.date_range(index[-1], periods=4, freq="15min")[1:])
