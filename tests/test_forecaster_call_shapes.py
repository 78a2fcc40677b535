"""neuralforecast's call shapes: fit(df, val_size=), cross_validation(test_size=, val_size=, refit=int).

Tiny DLinear fits (lookback 8, horizon 4, one or two epochs) keep the file to a few seconds of CPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecaster_frames import wide_frame

from tsmamba import DLinearForecaster
from tsmamba.forecaster import fitting

H, L_IN, N = 4, 8, 64


def tiny(**params: object) -> DLinearForecaster:
    return DLinearForecaster(**{"h": H, "input_size": L_IN, "max_epochs": 2, "accelerator": "cpu", **params})


def test_fit_val_size_overrides_the_keyword() -> None:
    df = wide_frame()
    by_call = tiny(val_size=8).fit(df, val_size=0)
    by_keyword = tiny(val_size=0).fit(df)
    assert by_call.val_size == 8  # the keyword is left as given
    assert not any("val_loss" in row for row in by_call.training_history_)
    pd.testing.assert_frame_equal(by_call.predict(), by_keyword.predict())
    held_out = tiny(val_size=0, early_stopping_patience=0).fit(df, val_size=8)
    assert all("val_loss" in row for row in held_out.training_history_)


@pytest.mark.parametrize("bad", [2, -1, 1.5])
def test_fit_val_size_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="val_size"):
        tiny().fit(wide_frame(), val_size=bad)


def test_fit_val_size_zero_with_explicit_early_stopping_is_refused() -> None:
    with pytest.raises(ValueError, match="early_stopping_patience needs a validation part"):
        tiny(early_stopping_patience=2).fit(wide_frame(), val_size=0)


def test_test_size_gives_the_same_windows_as_n_windows() -> None:
    df = wide_frame()
    by_count = tiny(val_size=0).cross_validation(df, n_windows=3, step_size=2)
    by_size = tiny(val_size=0).cross_validation(df, test_size=H + 2 * 2, step_size=2)
    both = tiny(val_size=0).cross_validation(df, n_windows=3, test_size=H + 2 * 2, step_size=2)
    pd.testing.assert_frame_equal(by_count, by_size)
    pd.testing.assert_frame_equal(by_count, both)
    assert by_size["cutoff"].nunique() == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_windows": 2, "test_size": H + 2 * H}, "disagree"),
        ({"test_size": H + 3, "step_size": 2}, "whole windows"),
        ({"test_size": H - 1}, "test_size must be an integer >= 4"),
        ({"n_windows": 0}, "n_windows"),
        ({"refit": -1}, "refit"),
        ({"refit": 1.5}, "refit"),
        ({"val_size": 2}, "val_size"),
    ],
)
def test_inconsistent_cross_validation_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny().cross_validation(wide_frame(), **kwargs)


@pytest.mark.parametrize(("refit", "trainings"), [(False, 1), (0, 1), (True, 5), (1, 5), (2, 3), (3, 2), (9, 1)])
def test_refit_integer_retrains_every_k_windows(refit: bool | int, trainings: int, monkeypatch) -> None:
    """refit=k trains at windows 0, k, 2k, ... on the data before each of those cutoffs."""
    heads: list[int] = []
    real = fitting.fit_state

    def counting(params, panel, freq, val_size=None):  # type: ignore[no-untyped-def]
        heads.append(int(panel.lengths[0]))  # aligned series: one length
        return real(params, panel, freq, val_size)

    monkeypatch.setattr(fitting, "fit_state", counting)
    cv = tiny(max_epochs=1, val_size=0).cross_validation(wide_frame(), n_windows=5, step_size=1, refit=refit)
    assert len(heads) == trainings
    first = N - H - 4
    every = 1 if refit is True else (int(refit) or 5)
    assert heads == [first + k for k in range(0, 5, every)]
    assert cv["cutoff"].nunique() == 5


def test_refit_two_forecasts_windows_with_the_model_of_their_group() -> None:
    """Window 1 (no refit) is forecast by the window-0 model, window 2 by a new one: compare with refit=False/True."""
    df = wide_frame()
    kw = {"n_windows": 3, "step_size": 1}
    every, never, always = (tiny(val_size=0).cross_validation(df, refit=r, **kw) for r in (2, False, True))
    cutoffs = sorted(every["cutoff"].unique())
    for cut, same in zip(cutoffs, (never, never, always), strict=True):
        mine = every.loc[every["cutoff"] == cut, "DLinear"].to_numpy()
        np.testing.assert_allclose(mine, same.loc[same["cutoff"] == cut, "DLinear"].to_numpy(), rtol=1e-6)


def test_cross_validation_val_size_overrides_the_keyword() -> None:
    df = wide_frame()
    cv = tiny(val_size=8).cross_validation(df, n_windows=2, val_size=0)
    reference = tiny(val_size=0).fit(df.iloc[: N - 2 * H])
    first = cv[cv["cutoff"] == cv["cutoff"].min()]
    np.testing.assert_allclose(
        first.loc[first["unique_id"] == "a", "DLinear"], reference.predict(format="wide")["a"], rtol=1e-6
    )
