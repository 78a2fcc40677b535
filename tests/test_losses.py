"""Quantile losses (tsmamba.losses): values, gradients, layout, names, and training and forecasting with them."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from tsmamba import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster, load_forecaster
from tsmamba.data.windows import WindowDataset
from tsmamba.losses import MAE, MSE, MQLoss, PointForecast, QuantileLoss, make_loss, sort_quantiles
from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.training import ForecastModule, TrainConfig, fit_model, predict_windows

# ------------------------------------------------------------------ the losses themselves


def test_pinball_values_match_a_hand_computation() -> None:
    y = torch.tensor([[[1.0], [2.0], [0.0], [4.0]]])  # [B=1, H=4, M=1]
    f = torch.tensor([[[0.0], [3.0], [0.0], [2.0]]])
    # errors y - f: 1, -1, 0, 2 -> q=0.9: 0.9, 0.1, 0, 1.8 (mean 0.7); q=0.2: 0.2, 0.8, 0, 0.4 (mean 0.35)
    assert math.isclose(float(QuantileLoss(0.9)(f, y)), 0.7, rel_tol=1e-6)
    assert math.isclose(float(QuantileLoss(0.2)(f, y)), 0.35, rel_tol=1e-6)
    assert math.isclose(float(QuantileLoss(0.5)(f, y)), 0.5 * float(MAE()(f, y)), rel_tol=1e-6)


def test_mqloss_is_the_mean_pinball_over_its_quantiles() -> None:
    y = torch.tensor([[[1.0], [2.0]]])  # [1, H=2, 1]
    # quantile-major outputs [1, Q*H, 1]: q=0.1 -> (0, 3), q=0.9 -> (2, 2)
    outputs = torch.tensor([[[0.0], [3.0], [2.0], [2.0]]])
    # q=0.1: errors 1, -1 -> 0.1, 0.9; q=0.9: errors -1, 0 -> 0.1, 0 ; mean of the four = 0.275
    assert math.isclose(float(MQLoss(quantiles=[0.9, 0.1])(outputs, y)), 0.275, rel_tol=1e-6)


def test_mqloss_gradient_reaches_each_quantile_slice_with_its_own_weight() -> None:
    """Every forecast below the target: d pinball / d f = -q, so slice k of the horizon axis must get -q_k / n."""
    loss = MQLoss(quantiles=[0.1, 0.5, 0.9])
    batch, horizon, n_vars = 2, 3, 2
    outputs = torch.full((batch, horizon * 3, n_vars), -1.0, requires_grad=True)
    loss(outputs, torch.zeros(batch, horizon, n_vars)).backward()
    assert outputs.grad is not None
    n = batch * 3 * horizon * n_vars
    for k, q in enumerate(loss.output_quantiles):
        block = outputs.grad[:, k * horizon : (k + 1) * horizon]
        assert torch.allclose(block, torch.full_like(block, -q / n))


def test_outputs_are_read_quantile_major() -> None:
    outputs = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3 * 4, 5)  # [B, Q*H, M], H=4, Q=3
    split = MQLoss(quantiles=[0.2, 0.5, 0.8]).split_outputs(outputs, 4)
    assert split.shape == (2, 3, 4, 5)
    assert torch.equal(split[1, 2, 3], outputs[1, 2 * 4 + 3])
    with pytest.raises(ValueError, match="h \\* 3"):
        MQLoss(quantiles=[0.2, 0.5, 0.8]).split_outputs(outputs[:, :10], 4)


def test_column_names_follow_neuralforecast() -> None:
    assert MQLoss().column_suffixes() == ["-lo-90", "-lo-80", "-median", "-hi-80", "-hi-90"]
    assert MQLoss(level=[80, 90]).output_quantiles == pytest.approx((0.05, 0.1, 0.5, 0.9, 0.95))
    assert MQLoss(level=[97.5]).column_suffixes() == ["-lo-97.5", "-median", "-hi-97.5"]
    assert MQLoss(quantiles=[0.9, 0.1, 0.5]).column_suffixes() == ["-lo-80.0", "-median", "-hi-80.0"]
    assert QuantileLoss(0.9).column_suffixes() == ["_ql0.9"]
    assert MSE().column_suffixes() == [] and MSE().n_outputs == 1


def test_the_point_output_is_the_median_or_the_quantile_closest_to_it() -> None:
    assert MQLoss().output_quantiles[MQLoss().point_index] == 0.5
    assert MQLoss(quantiles=[0.1, 0.4, 0.9]).point_index == 1
    assert MQLoss(quantiles=[0.4, 0.6]).point_index == 0  # a tie: the lower one


def test_losses_round_trip_through_small_dicts() -> None:
    for loss in (MSE(), MAE(), QuantileLoss(0.9), MQLoss(), MQLoss(quantiles=[0.1, 0.5, 0.9])):
        spec = loss.to_dict()
        assert json.loads(json.dumps(spec)) == spec
        assert make_loss(spec) == loss
    assert make_loss("mae") == MAE()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: QuantileLoss(1.5), "between 0 and 1"),
        (lambda: MQLoss(level=[80], quantiles=[0.5]), "not both"),
        (lambda: MQLoss(level=[120]), "between 0 and 100"),
        (lambda: MQLoss(quantiles=[0.1, 0.1000001]), "repeated column names"),
        (lambda: make_loss("huber"), "Unknown loss"),
        (lambda: make_loss({"name": "QuantileLoss", "tau": 0.5}), "Bad options"),
        (lambda: TrainConfig(loss=3), "loss must be"),
    ],
)
def test_bad_losses_are_explained(build, match) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_sorting_uncrosses_quantiles() -> None:
    crossed = torch.tensor([[3.0, 1.0, 2.0]]).T.reshape(3, 1, 1)  # [Q, H, M] with q0 > q1
    assert torch.equal(sort_quantiles(crossed).flatten(), torch.tensor([1.0, 2.0, 3.0]))


# ------------------------------------------------------------------ training


def test_train_config_keeps_the_loss_as_a_json_ready_dict_defaulting_to_mse() -> None:
    assert TrainConfig().loss == {"name": "MSE"}
    config = TrainConfig(loss=MQLoss(level=[80]))
    assert config.loss_function == MQLoss(level=[80])
    assert json.loads(json.dumps(dataclasses.asdict(config)))["loss"] == {"name": "MQLoss", "level": [80.0]}


def test_the_default_training_loss_is_the_mse(standardised_series) -> None:
    windows = WindowDataset(standardised_series, 48, 12, 0, 200)
    module = ForecastModule(DLinearModel(DLinearConfig(), 48, 12, 3), TrainConfig(), windows)
    x, y = windows.gather(torch.arange(8))
    assert torch.equal(module.loss_function(module(x), y), torch.nn.functional.mse_loss(module(x), y))


def test_early_stopping_monitors_the_quantile_loss(standardised_series) -> None:
    loss = MQLoss(level=[80])
    train = WindowDataset(standardised_series, 48, 12, 0, 400)
    val = WindowDataset(standardised_series, 48, 12, 400 - 48, 500)
    torch.manual_seed(0)
    model = DLinearModel(DLinearConfig(), 48, 12 * loss.n_outputs, 3)
    config = TrainConfig(learning_rate=0.01, max_epochs=2, batch_size=32, loss=loss)
    result = fit_model(model, train, val, config)
    outputs = predict_windows(result.model, val)
    targets = val.gather(torch.arange(len(val)))[1]
    assert result.best_val_loss is not None
    assert math.isclose(result.best_val_loss, float(loss(outputs, targets)), rel_tol=1e-4)
    point = predict_windows(PointForecast(result.model, loss, 12), val)
    assert point.shape == targets.shape


# ------------------------------------------------------------------ forecasters

H, L_IN = 6, 24


def noisy_frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return pd.DataFrame(
        {
            "ds": pd.date_range("2021-01-01", periods=n, freq="h"),
            "a": np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.6, n),
            "b": 3 * np.cos(2 * np.pi * t / 8) + rng.normal(0, 0.6, n),
        }
    )


def quantile_model(**params: object) -> DLinearForecaster:
    defaults = {"h": H, "input_size": L_IN, "max_epochs": 2, "learning_rate": 0.01, "val_size": 0}
    return DLinearForecaster(**{**defaults, "accelerator": "cpu", **params})


def test_a_high_quantile_forecast_lies_above_a_low_one() -> None:
    df = noisy_frame()
    high = quantile_model(loss=QuantileLoss(0.9)).fit(df).predict()
    low = quantile_model(loss=QuantileLoss(0.1)).fit(df).predict()
    assert list(high.columns) == ["unique_id", "ds", "DLinear", "DLinear_ql0.9"]
    np.testing.assert_array_equal(high["DLinear"], high["DLinear_ql0.9"])
    assert (high["DLinear"].to_numpy() > low["DLinear"].to_numpy()).mean() > 0.8


def test_mqloss_columns_never_cross_and_survive_save_load(tmp_path) -> None:
    df = noisy_frame()
    model = quantile_model(loss=MQLoss(level=[80, 90])).fit(df)
    forecast = model.predict()
    names = ["DLinear-lo-90", "DLinear-lo-80", "DLinear-median", "DLinear-hi-80", "DLinear-hi-90"]
    assert list(forecast.columns) == ["unique_id", "ds", "DLinear", *names]
    np.testing.assert_array_equal(forecast["DLinear"], forecast["DLinear-median"])
    assert (np.diff(forecast[names].to_numpy(), axis=1) >= 0).all()
    cv = model.cross_validation(df, n_windows=2)
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "DLinear", *names, "y"]
    assert (np.diff(cv[names].to_numpy(), axis=1) >= 0).all()
    model.save(str(tmp_path / "m"))
    loaded = load_forecaster(str(tmp_path / "m"))
    assert loaded.loss == MQLoss(level=[80, 90])
    pd.testing.assert_frame_equal(loaded.predict(), forecast)
    assert np.isfinite(model.score(df.iloc[-(L_IN + 2 * H) :]))
    assert clone(model).loss == model.loss  # a hyperparameter like any other


def test_the_default_loss_gives_the_same_forecast_as_an_explicit_mse() -> None:
    df = noisy_frame()
    pd.testing.assert_frame_equal(quantile_model().fit(df).predict(), quantile_model(loss=MSE()).fit(df).predict())


def test_one_source_of_intervals_per_forecaster() -> None:
    """level= means conformal intervals; an MQLoss forecaster carries its own, so the two never mix."""
    df = noisy_frame()
    with pytest.raises(ValueError, match="both give prediction intervals"):
        quantile_model(loss=MQLoss(), conformal_windows=10).fit(df)
    with pytest.raises(ValueError, match="drop level="):
        quantile_model(loss=MQLoss(level=[80])).fit(df).predict(level=[80])
    bands = quantile_model(loss=QuantileLoss(0.5), conformal_windows=10).fit(df).predict(level=[80])
    assert list(bands.columns) == ["unique_id", "ds", "DLinear", "DLinear_ql0.5", "DLinear-lo-80", "DLinear-hi-80"]
    assert (bands["DLinear-lo-80"] <= bands["DLinear"]).all() and (bands["DLinear"] <= bands["DLinear-hi-80"]).all()


def test_a_bad_loss_keyword_is_an_error_at_fit() -> None:
    with pytest.raises(ValueError, match="Unknown loss"):
        quantile_model(loss="pinball").fit(noisy_frame())


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (DLinearForecaster, {}),
        (PatchTSTForecaster, {"n_layers": 1, "n_heads": 2, "d_model": 8, "d_ff": 16, "patch_len": 4, "stride": 4}),
        (TSM2Forecaster, {"n_layers": 1, "d_model": 8, "d_state": 4, "patch_len": 4, "stride": 4}),
    ],
)
def test_every_model_trains_with_mqloss_unchanged(cls, options) -> None:
    """The h * Q trick needs no model change: each model trains a few steps and gives sorted quantile columns."""
    df = noisy_frame(96)
    loss = MQLoss(quantiles=[0.1, 0.5, 0.9])
    model = cls(h=H, input_size=16, max_steps=3, val_size=0, accelerator="cpu", loss=loss, **options).fit(df)
    forecast = model.predict()
    name = model.display_name
    columns = [f"{name}-lo-80.0", f"{name}-median", f"{name}-hi-80.0"]
    assert list(forecast.columns) == ["unique_id", "ds", name, *columns]
    assert (np.diff(forecast[columns].to_numpy(), axis=1) >= 0).all()
    assert model.model_(torch.zeros(1, 16, 2)).shape == (1, H * 3, 2)
    wide = model.predict(format="wide")  # a wide frame carries the point forecast only
    np.testing.assert_array_equal(wide["a"], forecast.loc[forecast["unique_id"] == "a", name])
