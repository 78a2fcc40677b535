"""Time dtypes survive fit -> predict / cross_validation / save-load: polars Date and Datetime (unit, zone),
pandas datetime64 (unit, zone), and integer timestamps with an integer ``freq`` (neuralforecast's ``freq=1``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tsmamba import DLinearForecaster, load_forecaster

H, L_IN, N = 4, 8, 40


def values() -> dict[str, np.ndarray]:
    t = np.arange(N)
    return {"a": np.sin(2 * np.pi * t / 12) + 5.0, "b": np.cos(2 * np.pi * t / 6)}


def tiny(**params: object) -> DLinearForecaster:
    return DLinearForecaster(
        **{"h": H, "input_size": L_IN, "max_epochs": 1, "val_size": 0, "accelerator": "cpu", **params}
    )


def polars_frame(dtype: pl.DataType) -> pl.DataFrame:
    days = pl.from_pandas(pd.Series(pd.date_range("2021-03-01", periods=N, freq="D"), name="ds"))
    return pl.DataFrame({"ds": days.cast(dtype), **values()})


def pandas_frame(unit: str, tz: str | None = None) -> pd.DataFrame:
    return pd.DataFrame({"ds": pd.date_range("2021-03-01", periods=N, freq="h", tz=tz).as_unit(unit), **values()})


def long(df: pl.DataFrame | pd.DataFrame) -> pl.DataFrame | pd.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df.unpivot(index="ds", variable_name="unique_id", value_name="y")
    return df.melt(id_vars="ds", var_name="unique_id", value_name="y")


POLARS = [pl.Date(), pl.Datetime("ms"), pl.Datetime("ns", "Asia/Kolkata"), pl.Datetime("us", "UTC")]
PANDAS = [("s", None), ("ms", "UTC"), ("ns", "Asia/Tokyo")]


def time_dtype(frame: pl.DataFrame | pd.DataFrame, col: str) -> object:
    return frame.schema[col] if isinstance(frame, pl.DataFrame) else frame[col].dtype


@pytest.mark.parametrize(
    "frame",
    [polars_frame(d) for d in POLARS] + [pandas_frame(*d) for d in PANDAS],
    ids=[f"polars-{d}" for d in POLARS] + [f"pandas-{u}-{tz}" for u, tz in PANDAS],
)
def test_time_dtype_is_preserved(frame: pl.DataFrame | pd.DataFrame) -> None:
    df = long(frame)
    model = tiny().fit(df)
    dtype = time_dtype(df, "ds")
    forecast = model.predict()
    assert time_dtype(forecast, "ds") == dtype
    assert time_dtype(model.predict(format="wide"), "ds") == dtype
    assert time_dtype(model.predict(df), "ds") == dtype
    cv = model.cross_validation(df, n_windows=2)
    assert time_dtype(cv, "ds") == dtype and time_dtype(cv, "cutoff") == dtype
    # joins with the input frame work (they fail when the dtypes differ)
    joined = (
        cv.join(df, on=["unique_id", "ds"])
        if isinstance(df, pl.DataFrame)
        else cv.merge(df, on=["unique_id", "ds"], suffixes=("", "_right"))
    )
    assert len(joined) == len(cv)
    assert np.array_equal(np.asarray(joined["y"]), np.asarray(joined["y_right"]))


def test_polars_date_forecasts_follow_the_daily_grid() -> None:
    forecast = tiny().fit(polars_frame(pl.Date())).predict(format="wide")
    last = polars_frame(pl.Date())["ds"].max()
    expected = pl.date_range(last, last + pl.duration(days=H), eager=True)[1:]  # type: ignore[operator]
    assert forecast["ds"].to_list() == expected.to_list()


@pytest.mark.parametrize("backend", ["pandas", "polars"])
@pytest.mark.parametrize("freq", [None, 1, 3])
def test_integer_timestamps(backend: str, freq: int | None, tmp_path: Path) -> None:
    step = freq or 1
    df = pd.DataFrame({"ds": 100 + step * np.arange(N), **values()})
    df = long(pl.from_pandas(df).with_columns(pl.col("ds").cast(pl.Int32)) if backend == "polars" else df)
    model = tiny(freq=freq).fit(df)
    assert model.freq_ == step
    forecast = model.predict(format="wide")
    assert list(np.asarray(forecast["ds"])) == [100 + step * (N - 1 + k) for k in range(1, H + 1)]
    assert time_dtype(forecast, "ds") == time_dtype(df, "ds")
    cv = model.cross_validation(df, n_windows=2)
    assert time_dtype(cv, "cutoff") == time_dtype(df, "ds")
    model.save(tmp_path / "m")
    loaded = load_forecaster(tmp_path / "m")
    assert loaded.freq_ == step
    assert loaded.predict().equals(model.predict())


def test_save_load_keeps_a_polars_date(tmp_path: Path) -> None:
    model = tiny().fit(polars_frame(pl.Date()))
    model.save(tmp_path / "m")
    forecast = load_forecaster(tmp_path / "m").predict()
    assert forecast.schema["ds"] == pl.Date and forecast.equals(model.predict())


@pytest.mark.parametrize(
    ("frame", "freq", "match"),
    [
        (pd.DataFrame({"ds": np.arange(N), **values()}), "h", "must be an integer step"),
        (pd.DataFrame({"ds": np.r_[np.arange(N - 1), N], **values()}), 1, "Irregular spacing contradicts freq=1"),
        (pd.DataFrame({"ds": np.r_[np.arange(N - 1), N], **values()}), None, "Irregular spacing contradicts freq=1"),
        (pd.DataFrame({"ds": np.arange(N), **values()}), 0, "freq must be an integer >= 1"),
        (pandas_frame("s"), 1, "integer step, but the time column holds datetimes"),
    ],
)
def test_bad_integer_frequencies(frame: pd.DataFrame, freq: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny(freq=freq).fit(frame)


def test_predict_with_another_time_kind_is_refused() -> None:
    model = tiny().fit(pandas_frame("s"))
    with pytest.raises(ValueError, match="integer timestamps but the model was fitted on datetime"):
        model.predict(pd.DataFrame({"ds": np.arange(N), **values()}))
