"""The forecaster contract: scikit-learn rules, frames in/out, reproducibility, CV, scoring, save/load, plots.

Tiny DLinear fits (lookback 8, horizon 4, one or two epochs) keep the whole file to a few seconds of CPU.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import lightning as L
import matplotlib
import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from forecaster_frames import wide_frame
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks

from tsmamba import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster, load_forecaster
from tsmamba.forecaster import BaseForecaster, TimeSeriesWindowSplit, evaluate
from tsmamba.models.registry import get_model_spec

matplotlib.use("Agg")
H, L_IN, N = 4, 8, 64
CLASSES = (DLinearForecaster, PatchTSTForecaster, TSM2Forecaster)


def long_frame(n: int = N) -> pd.DataFrame:
    return wide_frame(n).melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]]


def tiny(**params: object) -> DLinearForecaster:
    return DLinearForecaster(**{"h": H, "input_size": L_IN, "max_epochs": 2, "accelerator": "cpu", **params})


@pytest.fixture(scope="module")
def fitted() -> DLinearForecaster:
    return tiny().fit(long_frame())


# ---------------------------------------------------------------- scikit-learn estimator checks
SKLEARN_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted",
)


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_sklearn_estimator_check(cls: type, check: str) -> None:
    getattr(estimator_checks, check)(cls.__name__, cls(h=H, input_size=L_IN))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_model_keywords_mirror_the_model_config(cls: type) -> None:
    """Every field of the model's config dataclass is an explicit keyword (and nothing else is)."""
    fields = {f.name for f in dataclasses.fields(get_model_spec(cls.model_name).config_cls)}
    assert set(cls.model_params) == fields
    assert set(cls.model_params) <= set(cls().get_params())


def test_clone_get_set_params_round_trip() -> None:
    model = tiny(moving_avg=5, trainer_kwargs={"limit_val_batches": 1.0}, alias="DL")
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    assert twin.set_params(h=7) is twin and twin.h == 7 and model.h == H
    assert repr(DLinearForecaster(h=12)) == "DLinearForecaster(h=12)"


@pytest.mark.parametrize("method", ["predict", "score", "save", "plot"])
def test_not_fitted_error(method: str, tmp_path: Path) -> None:
    arg = str(tmp_path) if method == "save" else long_frame()
    with pytest.raises(NotFittedError):
        getattr(tiny(), method)(arg)


# ---------------------------------------------------------------- frames in and out
def test_a_y_beside_the_frame_is_refused_not_ignored(fitted: DLinearForecaster) -> None:
    y = long_frame()["y"]
    with pytest.raises(ValueError, match=r"fit\(df, y\): y is not used; the target is the target_col column"):
        tiny().fit(long_frame(), y)
    with pytest.raises(ValueError, match=r"score\(df, y\): y is not used"):
        fitted.score(long_frame(), y)


def test_fit_returns_self_and_sets_trailing_underscore_attributes() -> None:
    model = tiny()
    assert model.fit(long_frame()) is model
    assert isinstance(model.model_, torch.nn.Module) and isinstance(model.lightning_module_, L.LightningModule)
    assert model.freq_ == "h" and model.series_ == ["a", "b"] and model.n_vars_ == 2


def test_predict_long_pandas(fitted: DLinearForecaster) -> None:
    out = fitted.predict()
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["unique_id", "ds", "DLinear"]
    assert len(out) == 2 * H and not out["DLinear"].isna().any()
    expected = pd.date_range(long_frame()["ds"].max(), periods=H + 1, freq="h")[1:]
    assert list(out.loc[out["unique_id"] == "b", "ds"]) == list(expected)


def test_polars_in_polars_out_with_equal_values(fitted: DLinearForecaster) -> None:
    other = tiny().fit(pl.from_pandas(long_frame()))
    out = other.predict()
    assert isinstance(out, pl.DataFrame) and out.columns == ["unique_id", "ds", "DLinear"]
    np.testing.assert_allclose(out["DLinear"].to_numpy(), fitted.predict()["DLinear"].to_numpy(), rtol=1e-6)


def test_wide_in_wide_out_matches_long(fitted: DLinearForecaster) -> None:
    wide = tiny().fit(wide_frame()).predict(format="wide")
    assert list(wide.columns) == ["ds", "a", "b"] and len(wide) == H
    long = fitted.predict()
    np.testing.assert_allclose(
        wide["b"].to_numpy(), long.loc[long["unique_id"] == "b", "DLinear"].to_numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("alias", ["unique_id", "ds", "y", "cutoff"])
def test_an_alias_that_names_a_frame_column_is_refused(alias: str) -> None:
    with pytest.raises(ValueError, match=rf"named '{alias}' \(alias\), which is also the .* column"):
        tiny(alias=alias).fit(long_frame())
    with pytest.raises(ValueError, match=r"named 'DLinear' \(the model name\), which is also the target_col"):
        tiny(target_col="DLinear").fit(long_frame().rename(columns={"y": "DLinear"}))


def test_alias_and_custom_column_names() -> None:
    df = long_frame().rename(columns={"unique_id": "series", "ds": "time", "y": "load"})
    out = tiny(alias="mine", id_col="series", time_col="time", target_col="load").fit(df).predict()
    assert list(out.columns) == ["series", "time", "mine"]


def test_second_fit_equals_first_with_same_seed_and_differs_with_another() -> None:
    model = tiny()
    first = model.fit(long_frame()).predict()
    second = model.fit(long_frame()).predict()
    pd.testing.assert_frame_equal(first, second)
    other = tiny(random_state=7).fit(long_frame()).predict()
    assert not np.allclose(other["DLinear"], first["DLinear"])


def test_forecasts_are_inverse_scaled(fitted: DLinearForecaster) -> None:
    """Scaling is per series on the training part: an affine change of units maps forecasts the same way."""
    df = long_frame()
    shifted = df.assign(y=df["y"] * 1000.0 + 7.0)
    out = tiny().fit(shifted).predict()
    np.testing.assert_allclose(out["DLinear"], fitted.predict()["DLinear"] * 1000.0 + 7.0, rtol=1e-4)


def test_predict_with_new_history_forecasts_after_its_end(fitted: DLinearForecaster) -> None:
    new = wide_frame(n=20, start="2022-03-01")
    out = fitted.predict(new, format="wide")
    assert out["ds"].iloc[0] == new["ds"].iloc[-1] + pd.Timedelta(hours=1)
    same = fitted.predict(long_frame())
    pd.testing.assert_frame_equal(same, fitted.predict())


def test_predict_smaller_h_truncates(fitted: DLinearForecaster) -> None:
    full, short = fitted.predict(format="wide"), fitted.predict(h=2, format="wide")
    pd.testing.assert_frame_equal(short, full.iloc[:2])


def test_h_larger_than_fitted_horizon(fitted: DLinearForecaster) -> None:
    with pytest.raises(ValueError, match=r"h=5 is larger than the fitted horizon h=4.*Re-fit"):
        fitted.predict(h=5)


def test_predict_history_shorter_than_input_size(fitted: DLinearForecaster) -> None:
    with pytest.raises(ValueError, match=r"have 7 timestamps, need at least 8"):
        fitted.predict(wide_frame(n=7))


@pytest.fixture(scope="module")
def fitted_multivariate() -> DLinearForecaster:
    """individual=True: one head per series, so a multivariate model tied to the fitted series (as TSM2)."""
    return tiny(individual=True).fit(long_frame())


def test_multivariate_predict_with_unknown_series(fitted_multivariate: DLinearForecaster) -> None:
    df = wide_frame().rename(columns={"b": "c"})
    with pytest.raises(ValueError, match=r"unknown: \['c'\], missing: \['b'\]"):
        fitted_multivariate.predict(df)


def test_multivariate_predict_with_extra_series(fitted_multivariate: DLinearForecaster) -> None:
    df = wide_frame().assign(c=1.0)
    with pytest.raises(ValueError, match=r"unknown: \['c'\], missing: \[\]"):
        fitted_multivariate.predict(df)


def test_predict_with_other_timezone_awareness(fitted: DLinearForecaster) -> None:
    df = wide_frame()
    df["ds"] = df["ds"].dt.tz_localize("UTC")
    with pytest.raises(ValueError, match="timezone-aware timestamps but the model was fitted on naive"):
        fitted.predict(df)


def test_predict_with_irregular_history(fitted: DLinearForecaster) -> None:
    with pytest.raises(ValueError, match="Irregular spacing contradicts freq='h'"):
        fitted.predict(wide_frame().drop(index=30))


def test_nan_never_reaches_the_output() -> None:
    model = tiny().fit(wide_frame())
    with torch.no_grad():
        next(model.model_.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN/inf forecasts"):
        model.predict()


def test_training_with_validation_and_early_stopping() -> None:
    model = tiny(max_epochs=4, val_size=8, early_stopping_patience=1).fit(wide_frame())
    assert all("val_loss" in row for row in model.training_history_)
    assert model.predict().notna().all().all()


# ---------------------------------------------------------------- cross-validation, evaluate, score, GridSearchCV
def test_cross_validation_layout_and_actuals() -> None:
    df = long_frame()
    cv = tiny().cross_validation(df, n_windows=3, step_size=2)
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "DLinear", "y"]
    assert len(cv) == 3 * H * 2 and not cv["DLinear"].isna().any()
    stamps = df["ds"].drop_duplicates().sort_values().reset_index(drop=True)
    assert list(cv["cutoff"].drop_duplicates()) == [stamps[N - H - 5], stamps[N - H - 3], stamps[N - H - 1]]
    actual = cv.merge(df, on=["unique_id", "ds"], suffixes=("", "_true"))
    np.testing.assert_array_equal(actual["y"], actual["y_true"])
    assert (cv["ds"] > cv["cutoff"]).all()


def test_cross_validation_trains_only_before_the_first_cutoff() -> None:
    """Without refit the model equals one fitted on the data up to the first cutoff."""
    df = wide_frame()
    model = tiny()
    cv = model.cross_validation(df, n_windows=2)
    reference = tiny().fit(df.iloc[: N - 2 * H])
    first = cv[cv["cutoff"] == cv["cutoff"].min()]
    np.testing.assert_allclose(
        first.loc[first["unique_id"] == "a", "DLinear"], reference.predict(format="wide")["a"], rtol=1e-6
    )


def test_cross_validation_refit_and_polars() -> None:
    cv = tiny(max_epochs=1).cross_validation(pl.from_pandas(long_frame()), n_windows=2, refit=True)
    assert isinstance(cv, pl.DataFrame) and cv.height == 2 * H * 2
    assert cv["cutoff"].n_unique() == 2


def test_cross_validation_with_too_many_windows() -> None:
    with pytest.raises(ValueError, match=r"leaves 8 timestamps before the first cutoff; training needs .* = 12"):
        tiny(val_size=0).cross_validation(wide_frame(), n_windows=14)


def test_evaluate_mse_and_mae() -> None:
    cv = pd.DataFrame(
        {"unique_id": ["a", "a", "b"], "ds": [1, 2, 1], "cutoff": 0, "M": [1.0, 2.0, 0.0], "y": [0.0, 0.0, 3.0]}
    )
    out = evaluate(cv)
    got = out.set_index(["unique_id", "metric"])["M"]
    assert got[("a", "mse")] == pytest.approx(2.5) and got[("a", "mae")] == pytest.approx(1.5)
    assert got[("b", "mse")] == pytest.approx(9.0) and got[("b", "mae")] == pytest.approx(3.0)
    assert isinstance(evaluate(pl.from_pandas(cv)), pl.DataFrame)
    with pytest.raises(ValueError, match="Unknown metric"):
        evaluate(cv, metrics=("smape",))


def test_evaluate_skips_the_time_column_and_interval_bounds() -> None:
    """An integer time column under another name and the -lo-/-hi- bounds are not forecasts."""
    cv = pd.DataFrame(
        {"unique_id": ["a", "a"], "t": [1, 2], "cutoff": 0, "M": [1.0, 2.0], "M-lo-80": [0.0, 1.0],
         "M-hi-80": [2.0, 3.0], "M-hi-97.5": [2.0, 3.0], "y": [0.0, 0.0]}
    )  # fmt: skip
    out = evaluate(cv, time_col="t")
    assert list(out.columns) == ["unique_id", "metric", "M"]
    assert out.set_index("metric").loc["mse", "M"] == pytest.approx(2.5)


def test_score_is_negative_mse_over_every_window(fitted: DLinearForecaster) -> None:
    df = wide_frame(n=L_IN + H + 2, start="2021-02-01")
    values = df[["a", "b"]].to_numpy()
    errors = []
    for start in range(3):
        history = df.iloc[start : start + L_IN]
        forecast = fitted.predict(history, format="wide")[["a", "b"]].to_numpy()
        truth = values[start + L_IN : start + L_IN + H]
        errors.append(((forecast - truth) / fitted.scaler_scale_) ** 2)
    assert fitted.score(df) == pytest.approx(-np.mean(errors), rel=1e-5)


def test_splitter_folds_are_time_ordered_with_context() -> None:
    df = long_frame()
    splitter = TimeSeriesWindowSplit(n_splits=3, test_size=H, context_size=L_IN)
    folds = list(splitter.split(df))
    assert len(folds) == splitter.get_n_splits() == 3
    for train, test in folds:
        train_t, test_t = df["ds"].iloc[train], df["ds"].iloc[test]
        assert train_t.max() < test_t.max()
        assert test_t.nunique() == L_IN + H and train_t.nunique() >= L_IN + H
        assert set(df["unique_id"].iloc[test]) == {"a", "b"}


@pytest.mark.parametrize("kind", ["pandas-long", "polars-long", "pandas-datetimeindex"])
def test_grid_search_cv_with_the_splitter(kind: str) -> None:
    frames = {
        "pandas-long": long_frame,
        "polars-long": lambda: pl.from_pandas(long_frame()),
        "pandas-datetimeindex": lambda: wide_frame().set_index("ds"),
    }
    splitter = TimeSeriesWindowSplit(n_splits=2, test_size=H, context_size=L_IN)
    search = GridSearchCV(tiny(max_epochs=1), {"learning_rate": [1e-3, 1e-2]}, cv=splitter)
    search.fit(frames[kind]())
    assert search.best_params_["learning_rate"] in (1e-3, 1e-2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert (search.cv_results_["mean_test_score"] <= 0).all()
    assert search.best_estimator_.predict().shape == (2 * H, 3)


# ---------------------------------------------------------------- save / load
def test_save_load_round_trip(fitted: DLinearForecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["class"] == "DLinearForecaster" and config["freq"] == "h" and config["series"] == ["a", "b"]
    assert config["params"]["h"] == H and config["training_range"]["n_timestamps"] == N
    assert {p.name for p in (tmp_path / "model").iterdir()} == {
        "config.json",
        "model.safetensors",
        "scaler.safetensors",
    }
    for loaded in (
        DLinearForecaster.load(tmp_path / "model"),
        load_forecaster(tmp_path / "model", map_location="cpu"),
        BaseForecaster.load(tmp_path / "model"),
    ):
        assert type(loaded) is DLinearForecaster and loaded.get_params() == fitted.get_params()
        pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())
        pd.testing.assert_frame_equal(
            loaded.predict(wide_frame(20, "2023-01-01")), fitted.predict(wide_frame(20, "2023-01-01"))
        )


def test_load_with_a_different_class(fitted: DLinearForecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    with pytest.raises(TypeError, match=r"holds a DLinearForecaster, not a TSM2Forecaster"):
        TSM2Forecaster.load(tmp_path)


def test_load_from_an_incompatible_version(fitted: DLinearForecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(format_version=99, library_version="9.0.0")
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"saved by tsmamba 9.0.0 in format version 99.*reads format 1"):
        load_forecaster(tmp_path)


def test_load_from_a_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory written by forecaster.save"):
        load_forecaster(tmp_path)


def test_save_refuses_a_horizon_or_lookback_changed_after_fit(tmp_path: Path) -> None:
    model = tiny().fit(wide_frame())
    for name, value in (("h", 2), ("input_size", 16)):
        model.set_params(**{name: value})
        with pytest.raises(ValueError, match=rf"{name}={value} \(fitted with \d+\) was set after fit"):
            model.save(tmp_path / name)
        assert not (tmp_path / name).exists()  # nothing written
        model.set_params(h=H, input_size=L_IN)
    model.save(tmp_path / "ok")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "ok").predict(), model.predict())


def test_save_load_with_a_pandas_offset_as_freq(tmp_path: Path) -> None:
    model = tiny(freq=pd.offsets.Hour()).fit(wide_frame())
    model.save(tmp_path)
    loaded = load_forecaster(tmp_path)
    assert loaded.freq == "h"
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())


def test_save_refuses_unserialisable_parameters(tmp_path: Path) -> None:
    model = tiny().fit(wide_frame())
    model.alias = object()
    with pytest.raises(TypeError, match="Cannot save parameter alias="):
        model.save(tmp_path)


# ---------------------------------------------------------------- plots
def test_plot_returns_a_figure(fitted: DLinearForecaster) -> None:
    fig = fitted.plot(long_frame())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    lines = fig.axes[1].get_lines()
    assert [line.get_label() for line in lines] == ["history", "DLinear"] and len(lines[1].get_xdata()) == H


def test_plot_cross_validation_draws_one_line_per_cutoff() -> None:
    model = tiny()
    cv = model.cross_validation(long_frame(), n_windows=3)
    fig = model.plot(long_frame(), cv, max_series=1)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 1 + 3
    assert "first 1 of 2 series" in fig._suptitle.get_text()


def test_model_trained_with_gpu_settings_loads_and_predicts_on_cpu(fitted: DLinearForecaster, tmp_path: Path) -> None:
    """The saved parameters say accelerator='gpu'; loading on this CPU machine still predicts (weights on CPU)."""
    gpu_like = clone(fitted).set_params(accelerator="gpu")
    gpu_like.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    gpu_like.save(tmp_path)
    loaded = load_forecaster(tmp_path, map_location="cpu")
    assert loaded.accelerator == "gpu" and next(loaded.model_.parameters()).device.type == "cpu"
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())


def test_max_steps_and_trainer_kwargs_reach_lightning() -> None:
    """max_steps caps the optimiser steps; trainer_kwargs reach Lightning's Trainer; TrainConfig's own options clash."""
    assert len(tiny(max_epochs=5, max_steps=1).fit(wide_frame()).training_history_) == 1
    limited = tiny(trainer_kwargs={"limit_train_batches": 1}).fit(wide_frame()).predict()
    assert not np.allclose(limited["DLinear"], tiny().fit(wide_frame()).predict()["DLinear"])
    with pytest.raises(
        ValueError, match=r"trainer_kwargs \['max_epochs'\] are set through .* own keywords: pass max_epochs="
    ):
        tiny(trainer_kwargs={"max_epochs": 3}).fit(wide_frame())
    with pytest.raises(ValueError, match=r"pass gradient_clip="):
        tiny(trainer_kwargs={"gradient_clip_val": 1.0}).fit(wide_frame())


def test_neuralforecast_trainer_kwargs_are_honoured(tmp_path: Path) -> None:
    """The Trainer arguments a neuralforecast user passes: callbacks run beside the library's own, the logger is
    used, the progress bar and deterministic mode are switched on."""

    class Epochs(Callback):
        def __init__(self) -> None:
            self.ends = 0

        def on_train_epoch_end(self, trainer: object, module: object) -> None:
            self.ends += 1

    counter, seen = Epochs(), {}

    class Spy(Callback):
        def on_fit_start(self, trainer: object, module: object) -> None:
            seen.update(bar=trainer.progress_bar_callback is not None, logger=trainer.logger)  # type: ignore[attr-defined]

    logger = CSVLogger(tmp_path, name="x")
    kwargs = {"callbacks": [counter, Spy()], "logger": logger, "enable_progress_bar": True, "deterministic": True}
    model = tiny(max_epochs=3, early_stopping_patience=0, trainer_kwargs=kwargs).fit(wide_frame())
    assert counter.ends == 3 and len(model.training_history_) == 3  # the library's history callback still ran
    assert seen == {"bar": True, "logger": logger}
    assert model.trainer_kwargs is kwargs and set(kwargs) == {
        "callbacks",
        "logger",
        "enable_progress_bar",
        "deterministic",
    }


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (PatchTSTForecaster, {"n_layers": 1, "n_heads": 2, "d_model": 8, "d_ff": 16, "patch_len": 4, "stride": 4}),
        (
            TSM2Forecaster,
            {"n_layers": 1, "d_model": 8, "d_state": 4, "patch_len": 4, "stride": 4, "scan_backend": "torch"},
        ),
    ],
    ids=["PatchTST", "TSM2"],
)
def test_other_models_through_the_same_api(cls: type, options: dict, tmp_path: Path) -> None:
    """The base class does not care which model it wraps: fit, predict, save/load and CV on tiny settings."""
    model = cls(h=H, input_size=L_IN, max_epochs=1, batch_size=16, accelerator="cpu", **options)
    out = model.fit(pl.from_pandas(long_frame())).predict()
    assert isinstance(out, pl.DataFrame) and out.columns == ["unique_id", "ds", cls.display_name]
    assert out.height == 2 * H and out[cls.display_name].is_finite().all()
    assert model.model_config_.d_model == 8
    model.save(tmp_path)
    assert load_forecaster(tmp_path).predict().equals(out)
    cv = model.cross_validation(wide_frame(), n_windows=2)
    assert len(cv) == 2 * H * 2 and cv[cls.display_name].notna().all()


def test_plot_draws_prediction_intervals_as_bands(fitted: DLinearForecaster) -> None:
    fc = fitted.predict()
    for level, half in (("80", 1.0), ("95", 2.0)):  # the columns predict(level=[80, 95]) gives
        fc[f"DLinear-lo-{level}"], fc[f"DLinear-hi-{level}"] = fc["DLinear"] - half, fc["DLinear"] + half
    ax = fitted.plot(long_frame(), fc, max_series=1).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["history", "DLinear"]  # bounds are not lines
    bands = ax.collections
    assert [band.get_label() for band in bands] == ["DLinear 95%", "DLinear 80%"]  # widest first
    forecast = fc[fc["unique_id"] == fc["unique_id"].iloc[0]]["DLinear"].to_numpy()
    for band, half in zip(bands, (2.0, 1.0), strict=True):
        y = band.get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose([y.min(), y.max()], [forecast.min() - half, forecast.max() + half], rtol=1e-6)


def test_plot_accepts_wide_forecasts_and_polars(fitted: DLinearForecaster) -> None:
    fig = fitted.plot(pl.from_pandas(wide_frame()), fitted.predict(format="wide"), max_history=10)
    history, forecast = fig.axes[0].get_lines()
    assert len(history.get_xdata()) == 10 and len(forecast.get_xdata()) == H
    np.testing.assert_allclose(forecast.get_ydata(), fitted.predict(format="wide")["a"])
