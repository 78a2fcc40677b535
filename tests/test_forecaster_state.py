"""The fitted state: one owner (FittedState), replaced only by fit; saved as plain JSON; never overwritten silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from forecaster_frames import wide_frame
from sklearn.model_selection import GridSearchCV

from tsmamba import DLinearForecaster, TimeSeriesWindowSplit, load_forecaster
from tsmamba.forecaster.state import FittedState

H, L = 4, 8


def tiny(**params: object) -> DLinearForecaster:
    return DLinearForecaster(**{"h": H, "input_size": L, "max_epochs": 2, "accelerator": "cpu", **params})


def test_fitted_attributes_are_views_of_one_state() -> None:
    model = tiny()
    assert not hasattr(model, "model_") and not hasattr(model, "state_")
    model.fit(wide_frame())
    state = model.state_
    assert isinstance(state, FittedState)
    assert model.model_ is state.model and model.scaler_ is state.scaler and model.series_ == ["a", "b"]
    np.testing.assert_array_equal(model.scaler_mean_, state.scaler.mean)
    with pytest.raises(AttributeError):
        model.model_ = None  # read-only: only fit (or load) sets the state


@pytest.mark.parametrize("refit", [False, True])
def test_cross_validation_leaves_the_fitted_state_alone(refit: bool, tmp_path: Path) -> None:
    """The README's order (fit, cross_validation, save): predict and save afterwards use fit's model."""
    df = wide_frame()
    model = tiny().fit(df)
    before, state = model.predict(), model.state_
    cv = model.cross_validation(df, n_windows=2, refit=refit)
    assert model.state_ is state
    pd.testing.assert_frame_equal(model.predict(), before)
    assert model.predict()["ds"].min() > df["ds"].max()  # future timestamps lie after the data
    assert cv["cutoff"].max() < df["ds"].max()
    model.save(str(tmp_path / "m"))
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "m").predict(), before)


def test_cross_validation_trains_the_same_model_as_fit_on_the_head() -> None:
    df = wide_frame()
    cv = tiny().cross_validation(df, n_windows=2)
    reference = tiny().fit(df.iloc[: len(df) - 2 * H]).predict(format="wide")
    first = cv[cv["cutoff"] == cv["cutoff"].min()]
    np.testing.assert_allclose(first.loc[first["unique_id"] == "b", "DLinear"], reference["b"], rtol=1e-6)


def test_predict_is_the_models_forward_on_the_scaled_window() -> None:
    model = tiny().fit(wide_frame())
    scaled = torch.tensor(model.scaler_.transform(model.last_window_)[None], dtype=torch.float32)
    with torch.no_grad():
        expected = model.scaler_.inverse_transform(model.model_(scaled)[0].double().numpy())
    np.testing.assert_allclose(model.predict(format="wide")[["a", "b"]].to_numpy(), expected, rtol=1e-5)


def test_numpy_hyperparameters_from_a_grid_can_be_saved(tmp_path: Path) -> None:
    grid = {"moving_avg": np.arange(3, 6, 2), "batch_size": np.array([8])}
    splitter = TimeSeriesWindowSplit(n_splits=2, test_size=H, context_size=L)
    search = GridSearchCV(tiny(max_epochs=1, val_size=0), grid, cv=splitter).fit(wide_frame())
    best = search.best_estimator_
    assert isinstance(best.moving_avg, np.integer)
    best.save(str(tmp_path / "best"))
    params = json.loads((tmp_path / "best" / "config.json").read_text())["params"]
    assert type(params["moving_avg"]) is int and params["batch_size"] == 8
    loaded = load_forecaster(tmp_path / "best")
    pd.testing.assert_frame_equal(loaded.predict(), best.predict())


def test_save_overwrite_replaces_only_its_own_files(tmp_path: Path) -> None:
    first = tiny(random_state=1).fit(wide_frame())
    second = tiny(random_state=2).fit(wide_frame())
    first.save(str(tmp_path))  # an empty existing directory is fine
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        second.save(str(tmp_path))
    pd.testing.assert_frame_equal(load_forecaster(tmp_path).predict(), first.predict())
    second.save(str(tmp_path), overwrite=True)
    pd.testing.assert_frame_equal(load_forecaster(tmp_path).predict(), second.predict())
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_auto_validation_part_follows_the_recipe() -> None:
    """val_size=None: DLinear's recipe early-stops, so 10% of the timestamps (>= h) are held out for it."""
    model = tiny(max_epochs=3).fit(wide_frame())
    assert all("val_loss" in row for row in model.training_history_)
    assert model.lightning_module_.val_windows is not None
    assert len(model.lightning_module_.train_windows) == 64 - 7 - L - H + 1
    no_val = tiny(max_epochs=1, val_size=0).fit(wide_frame())
    assert no_val.lightning_module_.val_windows is None


def test_set_params_after_fit_does_not_change_the_trained_model() -> None:
    """The state records the input_size and h it was trained with; new params take effect at the next fit."""
    model = tiny().fit(wide_frame())
    before = model.predict()
    model.set_params(h=8, input_size=12)
    pd.testing.assert_frame_equal(model.predict(), before)
    assert model.score(wide_frame(20)) < 0
    assert len(model.fit(wide_frame()).predict()) == 8 * 2
