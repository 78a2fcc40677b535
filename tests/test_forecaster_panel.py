"""Panels: PatchTST/DLinear (and TSM2 without channel mixers) as global univariate models over ragged series; TSM2
with its channel mixers refuses them with the reason.

A ragged panel here: three hourly series of different lengths, start dates and levels (0, 100, -50).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from forecaster_frames import wide_frame
from safetensors.torch import load_file, save_file

from tsmamba import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster, load_forecaster
from tsmamba.data.panel import PanelWindowDataset
from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel

H, L = 4, 8
SPECS = {"a": ("2021-01-01 00:00", 50, 0.0), "b": ("2021-01-03 00:00", 30, 100.0), "c": ("2021-01-02 05:00", 40, -50.0)}


def one_series(uid: str, start: str, n: int, level: float) -> pd.DataFrame:
    t = np.arange(n)
    y = level + np.sin(2 * np.pi * t / 6) + 0.3 * np.cos(2 * np.pi * t / 4)
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=n, freq="h"), "y": y})


def ragged() -> pd.DataFrame:
    frame = pd.concat([one_series(uid, *spec) for uid, spec in SPECS.items()], ignore_index=True)
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # row order carries no meaning


def tiny(cls: type = DLinearForecaster, **params: object) -> DLinearForecaster:
    extra = {"d_model": 8, "n_heads": 2, "d_ff": 16, "n_layers": 1, "patch_len": 4, "stride": 4}
    model_params = extra if cls is PatchTSTForecaster else {}
    return cls(**{"h": H, "input_size": L, "max_epochs": 2, "accelerator": "cpu", **model_params, **params})


@pytest.fixture(scope="module")
def fitted() -> DLinearForecaster:
    return tiny(conformal_windows=3).fit(ragged())


# ---------------------------------------------------------------- the window dataset
def test_panel_windows_never_cross_a_series() -> None:
    low, high = np.arange(20.0), 1000.0 + np.arange(13.0)
    windows = PanelWindowDataset([low, high[:, None]], lookback=3, horizon=2)
    assert len(windows) == (20 - 5 + 1) + (13 - 5 + 1)
    x, y = windows.gather(torch.arange(len(windows)))
    assert x.shape == (len(windows), 3, 1) and y.shape == (len(windows), 2, 1)
    rows = torch.cat([x, y], dim=1)[:, :, 0]
    from_high = rows[:, 0] >= 1000
    assert ((rows >= 1000).all(dim=1) == from_high).all()  # no window mixes the two series
    assert torch.equal(windows.series_of(torch.arange(len(windows))), from_high.long())
    assert (rows.diff(dim=1) == 1).all()  # consecutive rows of one series, in order
    assert rows[int(windows.window_index([1], [4])[0]), 0] == 1004


def test_panel_windows_respect_each_series_row_range() -> None:
    windows = PanelWindowDataset([np.arange(10.0), 100 + np.arange(10.0)], 3, 1, starts=[2, 0], ends=[10, 6])
    assert list(windows.counts) == [10 - 2 - 4 + 1, 6 - 4 + 1]
    x, y = windows.gather(torch.arange(len(windows)))
    assert x[0, 0, 0] == 2 and y[-1, 0, 0] == 105
    with pytest.raises(ValueError, match="Series 1 has 3 rows"):
        PanelWindowDataset([np.arange(10.0), np.arange(3.0)], 3, 1)


# ---------------------------------------------------------------- fit and predict on a ragged panel
@pytest.mark.parametrize("cls", [DLinearForecaster, PatchTSTForecaster])
def test_ragged_panel_fit_and_predict(cls: type) -> None:
    model = tiny(cls, max_epochs=1).fit(ragged())
    forecast = model.predict()
    name = model.output_name()
    assert sorted(forecast["unique_id"].unique()) == ["a", "b", "c"]
    for uid, (start, n, level) in SPECS.items():
        rows = forecast[forecast["unique_id"] == uid]
        last = pd.Timestamp(start) + pd.Timedelta(hours=n - 1)
        expected = pd.date_range(last, periods=H + 1, freq="h")[1:]
        assert list(rows["ds"]) == list(expected)  # each series continues from its own last timestamp
        assert abs(rows[name].mean() - level) < 10  # on the series' own scale
    assert isinstance(model.lightning_module_.train_windows, PanelWindowDataset)


def test_training_windows_come_from_every_series_and_scalers_from_their_own_training_part() -> None:
    model = tiny(val_size=H).fit(ragged())
    windows = model.lightning_module_.train_windows
    assert list(windows.counts) == [n - H - L - H + 1 for _, n, _ in SPECS.values()]
    frame = ragged().sort_values(["unique_id", "ds"])
    for k, uid in enumerate(model.series_):
        train = frame.loc[frame["unique_id"] == uid, "y"].to_numpy()[:-H]
        assert model.scaler_mean_[k] == pytest.approx(train.mean())
        assert model.scaler_scale_[k] == pytest.approx(train.std())


def test_score_over_every_window_of_every_series(fitted: DLinearForecaster) -> None:
    score = fitted.score(ragged())
    assert np.isfinite(score) and score < 0
    assert fitted.score(ragged().query("unique_id != 'b'")) != score  # b's windows count


def test_predict_on_a_subset_returns_only_those_ids(fitted: DLinearForecaster) -> None:
    df = ragged()
    subset = df[df["unique_id"].isin(["b", "c"])]
    forecast = fitted.predict(subset)
    assert sorted(forecast["unique_id"].unique()) == ["b", "c"] and len(forecast) == 2 * H
    full = fitted.predict()
    expected = full[full["unique_id"].isin(["b", "c"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(forecast.reset_index(drop=True), expected)


def test_predict_on_a_new_id_uses_its_own_history(fitted: DLinearForecaster) -> None:
    new = one_series("z", "2022-06-01", L + 3, 1000.0)
    forecast = fitted.predict(new)
    assert list(forecast["unique_id"]) == ["z"] * H
    assert forecast["ds"].iloc[0] == new["ds"].iloc[-1] + pd.Timedelta(hours=1)
    assert abs(forecast["DLinear"].mean() - 1000.0) < 10  # scaled by its own history, not a fitted series'


def test_new_id_with_too_little_history_is_an_error_naming_it(fitted: DLinearForecaster) -> None:
    df = pd.concat([ragged(), one_series("z", "2022-06-01", L - 3, 5.0)])
    with pytest.raises(ValueError, match=r"'z' \(5 timestamps\) too short: each needs at least 8 \(input_size=8\)"):
        fitted.predict(df)


def test_polars_panel_with_integer_ids_and_timestamps_keeps_their_types() -> None:
    frame = pl.DataFrame(
        {
            "unique_id": [7] * 20 + [9] * 14,
            "ds": pl.Series(list(range(0, 20)) + list(range(5, 19)), dtype=pl.Int32),
            "y": np.r_[np.sin(np.arange(20.0)), 50 + np.cos(np.arange(14.0))],
        }
    )
    model = tiny(max_steps=2, val_size=0).fit(frame)
    forecast = model.predict()
    assert isinstance(forecast, pl.DataFrame)
    assert forecast.schema["unique_id"] == pl.Int64 and forecast.schema["ds"] == pl.Int32
    assert forecast["ds"].to_list() == [20, 21, 22, 23, 19, 20, 21, 22]
    figure = model.plot(frame, forecast)  # each series drawn on its own timestamps
    assert [len(ax.lines[0].get_xdata()) for ax in figure.axes] == [20, 14]


def test_wide_output_needs_series_that_end_together(fitted: DLinearForecaster) -> None:
    with pytest.raises(ValueError, match="format='wide' needs every series to end at the same timestamp"):
        fitted.predict(format="wide")


# ---------------------------------------------------------------- intervals, cross-validation, persistence
def test_conformal_intervals_per_series_and_none_for_new_ids(fitted: DLinearForecaster) -> None:
    bands = fitted.predict(level=[80])
    assert (bands["DLinear-lo-80"] <= bands["DLinear"]).all() and (bands["DLinear"] <= bands["DLinear-hi-80"]).all()
    assert fitted.state_.conformal_scores.shape == (3, H, 3)
    with pytest.raises(ValueError, match=r"series \['z'\] were not in the fitted frame"):
        fitted.predict(one_series("z", "2022-06-01", L, 0.0), level=[80])


def test_cross_validation_cuts_each_series_at_its_own_end(fitted: DLinearForecaster) -> None:
    n_windows, step = 2, 3
    cv = fitted.cross_validation(ragged(), n_windows=n_windows, step_size=step, refit=True, level=[80])
    assert len(cv) == len(SPECS) * n_windows * H
    assert ((cv["DLinear-lo-80"] <= cv["DLinear"]) & (cv["DLinear"] <= cv["DLinear-hi-80"])).all()
    frame = ragged().sort_values(["unique_id", "ds"])
    for uid, (start, n, _) in SPECS.items():
        stamps = pd.date_range(start, periods=n, freq="h")
        rows = cv[cv["unique_id"] == uid]
        first = n - H - (n_windows - 1) * step  # rows before the first cutoff of this series
        assert sorted(rows["cutoff"].unique()) == [stamps[first - 1], stamps[first - 1 + step]]
        assert rows["ds"].max() == stamps[-1]
        actual = frame.loc[frame["unique_id"] == uid].set_index("ds")["y"]
        np.testing.assert_array_equal(rows["y"].to_numpy(), actual.loc[rows["ds"]].to_numpy())


def test_cross_validation_names_a_series_too_short_for_its_windows() -> None:
    with pytest.raises(ValueError, match=r"series 'b' \(30 timestamps, 10 before its first cutoff\)"):
        tiny(val_size=0).cross_validation(ragged(), n_windows=5, step_size=H)


def test_save_load_round_trip_of_a_panel_fit(fitted: DLinearForecaster, tmp_path: Path) -> None:
    fitted.save(str(tmp_path / "panel"))
    loaded = load_forecaster(tmp_path / "panel")
    pd.testing.assert_frame_equal(loaded.predict(level=[80]), fitted.predict(level=[80]))
    new = one_series("z", "2022-06-01", L + 3, 1000.0)
    pd.testing.assert_frame_equal(loaded.predict(new), fitted.predict(new))


def test_a_format_1_save_still_loads_as_the_multivariate_model_it_was(tmp_path: Path) -> None:
    """Format 1 (before panels) saved the n_vars=M model's weights, unprefixed, and no per-series ends."""
    model = tiny().fit(wide_frame())
    model.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    config["format_version"] = 1
    del config["channel_independent"], config["series_ends"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    weights = load_file(str(tmp_path / "model.safetensors"))
    save_file({k.removeprefix("model."): v for k, v in weights.items()}, str(tmp_path / "model.safetensors"))
    loaded = load_forecaster(tmp_path)
    assert not loaded.state_.global_model
    pd.testing.assert_frame_equal(loaded.predict(), model.predict(), rtol=1e-6)


# ---------------------------------------------------------------- aligned panels and TSM2
def test_aligned_panel_trains_the_multivariate_windows_with_shared_weights() -> None:
    """An aligned panel keeps the benchmark's windows; the global model equals the shared-weight multivariate one."""
    model = tiny().fit(wide_frame())
    assert type(model.lightning_module_.train_windows) is WindowDataset
    multivariate = DLinearModel(DLinearConfig(), L, H, 2)
    multivariate.load_state_dict(model.model_.model.state_dict())
    x = torch.randn(5, L, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.model_(x), multivariate(x))


def test_tsm2_refuses_a_ragged_panel_and_says_why() -> None:
    model = TSM2Forecaster(h=H, input_size=L, max_steps=1, accelerator="cpu")
    why = r"TSM2 mixes channels.*aligned on the same timestamps.*\['a', 'b', 'c'\].*'b': 30 from.*channel_mixer=False"
    with pytest.raises(ValueError, match=why):
        model.fit(ragged())
    with pytest.raises(ValueError, match=why):
        model.cross_validation(ragged())


def test_tsm2_refuses_a_subset_of_its_series() -> None:
    model = TSM2Forecaster(
        h=H, input_size=L, d_model=8, n_layers=1, patch_len=4, stride=4, max_steps=1, val_size=0, accelerator="cpu"
    )
    model.fit(wide_frame())
    with pytest.raises(ValueError, match=r"TSM2 mixes channels.*missing: \['b'\]"):
        model.predict(wide_frame().drop(columns="b"))


def test_quantile_losses_on_a_ragged_panel_give_sorted_columns_per_series(tmp_path: Path) -> None:
    # a global model trained with MQLoss: every series gets its own quantile columns, in order, in predict and in
    # cross_validation (whose cutoffs stay per series), and a save/load keeps them
    from tsmamba import MQLoss

    model = tiny(loss=MQLoss(level=[80])).fit(ragged())
    out = model.predict()
    assert sorted(out["unique_id"].unique()) == sorted(SPECS) and len(out) == H * len(SPECS)
    lo, mid, hi = out["DLinear-lo-80"], out["DLinear-median"], out["DLinear-hi-80"]
    assert (lo <= mid).all() and (mid <= hi).all() and np.allclose(out["DLinear"], mid)
    cv = model.cross_validation(ragged(), n_windows=2, step_size=H)
    assert {"DLinear-lo-80", "DLinear-hi-80"} <= set(cv.columns) and (cv["DLinear-lo-80"] <= cv["DLinear-hi-80"]).all()
    for uid, (start, n, _) in SPECS.items():
        cuts = sorted(cv.loc[cv["unique_id"] == uid, "cutoff"].unique())
        last = pd.Timestamp(start) + pd.Timedelta(hours=n - 1)
        assert cuts[-1] == last - pd.Timedelta(hours=H)
    model.save(tmp_path / "mq")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "mq").predict(), out)


TINY_TSM2 = {"d_model": 8, "n_layers": 1, "patch_len": 4, "stride": 4, "channel_mixer": False}


def test_tsm2_without_channel_mixers_is_a_global_model_over_a_ragged_panel() -> None:
    # no channel mixers and no per-series RevIN weights: every series goes through the same weights on its own,
    # so a ragged panel trains on each series' own windows and any id, new ones too, is forecast from its history
    model = TSM2Forecaster(h=H, input_size=L, max_epochs=2, accelerator="cpu", **TINY_TSM2).fit(ragged())
    assert model.state_.global_model and type(model.lightning_module_.train_windows) is PanelWindowDataset
    forecast = model.predict()
    assert sorted(forecast["unique_id"].unique()) == ["a", "b", "c"] and len(forecast) == 3 * H
    assert np.isfinite(forecast["TSM2"]).all()
    new = one_series("z", "2022-06-01", L + 3, 1000.0)
    assert len(model.predict(new)) == H


def test_tsm2_without_channel_mixers_on_aligned_series_equals_the_multivariate_model() -> None:
    from tsmamba.models.tsm2 import TSM2Config, TSM2Model

    model = TSM2Forecaster(h=H, input_size=L, max_steps=2, val_size=0, accelerator="cpu", **TINY_TSM2)
    model.fit(wide_frame())
    multivariate = TSM2Model(TSM2Config(**TINY_TSM2), L, H, 2)
    multivariate.load_state_dict(model.model_.model.state_dict())
    multivariate.eval()
    x = torch.randn(5, L, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.model_(x), multivariate(x))


def test_tsm2_with_per_series_revin_weights_still_needs_aligned_series() -> None:
    model = TSM2Forecaster(h=H, input_size=L, max_steps=1, accelerator="cpu", revin_affine=True, **TINY_TSM2)
    with pytest.raises(ValueError, match=r"TSM2 with revin_affine=True has parameters per series.*revin_affine=False"):
        model.fit(ragged())
