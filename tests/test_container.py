"""MultiForecaster: several forecasters on one frame, one merged output frame (neuralforecast's NeuralForecast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from forecaster_frames import wide_frame
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from tsmamba import DLinearForecaster, MQLoss, MultiForecaster, PatchTSTForecaster, evaluate
from tsmamba.forecaster.container import model_aliases

H, L_IN = 4, 8
TINY = {"h": H, "input_size": L_IN, "max_epochs": 1, "val_size": 0, "accelerator": "cpu", "batch_size": 16}


def dlinear(**params: object) -> DLinearForecaster:
    return DLinearForecaster(**{**TINY, **params})


def patchtst(**params: object) -> PatchTSTForecaster:
    options = {"n_layers": 1, "n_heads": 2, "d_model": 8, "d_ff": 16, "patch_len": 4, "stride": 4}
    return PatchTSTForecaster(**{**TINY, **options, **params})


def test_duplicate_classes_get_distinct_aliases() -> None:
    names = model_aliases([dlinear(), dlinear(), patchtst(), dlinear()])
    assert names == ["DLinear", "DLinear1", "PatchTST", "DLinear2"]
    # explicit aliases are kept as given and default names skip them
    assert model_aliases([dlinear(), dlinear(alias="DLinear1"), dlinear()]) == ["DLinear", "DLinear1", "DLinear2"]
    with pytest.raises(ValueError, match="more than one model"):
        model_aliases([dlinear(alias="A"), patchtst(alias="A")])


def test_predict_and_cross_validation_merge_each_models_own_frames() -> None:
    df = wide_frame(96)
    models = [dlinear(), dlinear(moving_avg=5, random_state=3), patchtst()]
    container = MultiForecaster(models=models, freq="h").fit(df)
    forecast = container.predict()
    assert list(forecast.columns) == ["unique_id", "ds", "DLinear", "DLinear1", "PatchTST"]
    assert container.aliases_ == ["DLinear", "DLinear1", "PatchTST"]
    cv = container.cross_validation(df, n_windows=2)
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "DLinear", "DLinear1", "PatchTST", "y"]
    for model, alias in zip(models, container.aliases_, strict=True):
        alone = clone(model).set_params(alias=alias, freq="h")  # the same model fitted on its own
        own = alone.fit(df).predict()
        pd.testing.assert_frame_equal(forecast[["unique_id", "ds", alias]], own)
        own_cv = alone.cross_validation(df, n_windows=2)
        pd.testing.assert_frame_equal(cv[["unique_id", "ds", "cutoff", alias, "y"]], own_cv)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(models[0])  # the models passed in stay unfitted: fit works on clones
    assert set(evaluate(cv).columns) == {"unique_id", "metric", "DLinear", "DLinear1", "PatchTST"}


def test_cross_validation_merges_under_the_models_own_target_column() -> None:
    df = wide_frame(96).melt(id_vars="ds", var_name="item", value_name="sales")
    columns = {"id_col": "item", "target_col": "sales"}
    models = [dlinear(**columns), patchtst(**columns)]
    cv = MultiForecaster(models=models, freq="h").cross_validation(df, n_windows=2)
    assert list(cv.columns) == ["item", "ds", "cutoff", "DLinear", "PatchTST", "sales"]
    alone = clone(models[0]).set_params(alias="DLinear", freq="h").cross_validation(df, n_windows=2)
    pd.testing.assert_frame_equal(cv[["item", "ds", "cutoff", "DLinear", "sales"]], alone)


def test_quantile_and_interval_columns_come_through() -> None:
    df = wide_frame(120)
    container = MultiForecaster(
        models=[dlinear(loss=MQLoss(level=[80])), dlinear(conformal_windows=5, alias="Conformal")]
    ).fit(df)
    forecast = container.predict(level=[80])  # conformal for the point model; MQLoss keeps its own columns
    assert list(forecast.columns) == [
        "unique_id",
        "ds",
        "DLinear",
        "DLinear-lo-80",
        "DLinear-median",
        "DLinear-hi-80",
        "Conformal",
        "Conformal-lo-80",
        "Conformal-hi-80",
    ]
    with pytest.raises(ValueError, match="conformal_windows"):
        MultiForecaster(models=[dlinear()]).fit(df).predict(level=[80])


def test_save_load_round_trip_with_polars(tmp_path) -> None:
    df = pl.from_pandas(wide_frame(96))
    container = MultiForecaster(models=[dlinear(), dlinear(random_state=2, loss=MQLoss(level=[80]))]).fit(df)
    forecast = container.predict()
    quantiles = ["DLinear1-lo-80", "DLinear1-median", "DLinear1-hi-80"]
    assert isinstance(forecast, pl.DataFrame) and forecast.columns == [
        "unique_id",
        "ds",
        "DLinear",
        "DLinear1",
        *quantiles,
    ]
    cv = container.cross_validation(df, n_windows=2)
    assert isinstance(cv, pl.DataFrame) and cv.columns == [
        "unique_id",
        "ds",
        "cutoff",
        "DLinear",
        "DLinear1",
        *quantiles,
        "y",
    ]
    assert cv["y"].equals(pl.from_pandas(container.models_[0].cross_validation(df.to_pandas(), n_windows=2))["y"])
    container.save(tmp_path / "both")
    loaded = MultiForecaster.load(tmp_path / "both")
    assert loaded.aliases_ == ["DLinear", "DLinear1"]
    assert loaded.predict().equals(forecast)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        container.save(tmp_path / "both")
    container.save(tmp_path / "both", overwrite=True)


@pytest.mark.parametrize(
    ("models", "freq", "match"),
    [
        ([], None, "non-empty list"),
        ([dlinear(), dlinear(h=2)], None, "share h"),
        ([dlinear(freq="D")], "h", "leave their freq=None"),
        ([dlinear(), "DLinear"], None, "tsmamba forecasters"),
    ],
)
def test_bad_containers_are_explained(models, freq, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        MultiForecaster(models=models, freq=freq).fit(wide_frame(96))


def test_colliding_column_names_are_an_error() -> None:
    container = MultiForecaster(models=[dlinear(loss=MQLoss(level=[80])), dlinear(alias="DLinear-median")])
    with pytest.raises(ValueError, match="distinct alias"):
        container.fit(wide_frame(96)).predict()


def test_fit_returns_self_and_params_round_trip() -> None:
    container = MultiForecaster(models=[dlinear()], freq="h")
    assert container.get_params(deep=False) == {"models": container.models, "freq": "h"}
    assert container.fit(wide_frame(96)) is container
    assert np.isfinite(container.predict()["DLinear"]).all()


def test_a_container_with_a_pandas_offset_as_freq_saves_and_loads(tmp_path) -> None:
    container = MultiForecaster(models=[dlinear()], freq=pd.offsets.Hour()).fit(wide_frame(64))
    container.save(tmp_path)
    loaded = MultiForecaster.load(tmp_path)
    assert loaded.freq == "h"
    pd.testing.assert_frame_equal(loaded.predict(), container.predict())
