"""val_check_steps: validation every N optimiser steps, so early stopping and the best-weight restore work under
a max_steps budget shorter than one epoch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsmamba import DLinearForecaster
from tsmamba.training import TrainConfig

H, L_IN, N = 4, 8, 64


def wide_frame() -> pd.DataFrame:
    t = np.arange(N)
    return pd.DataFrame(
        {"ds": pd.date_range("2021-01-01", periods=N, freq="h"), "a": np.sin(t / 2) + 5.0, "b": np.cos(t / 3)}
    )


def tiny(**params: object) -> DLinearForecaster:
    # 64 - 8 (val) rows -> 45 training windows, batch 4 -> 12 steps per epoch; max_steps=6 ends inside epoch 1
    return DLinearForecaster(
        **{"h": H, "input_size": L_IN, "batch_size": 4, "max_steps": 6, "val_size": 8, "accelerator": "cpu", **params}
    )


def test_validation_runs_inside_the_first_epoch() -> None:
    model = tiny(val_check_steps=2).fit(wide_frame())
    assert np.isfinite(model.training_history_[0]["val_loss"])


def test_a_step_budget_inside_an_epoch_is_still_validated_at_the_end() -> None:
    """Without val_check_steps the per-epoch validation never comes; the end-of-training validation does."""
    without = tiny().fit(wide_frame())
    assert np.isfinite(without.training_history_[-1]["val_loss"])


def test_best_weights_are_restored_under_a_step_budget() -> None:
    """A huge learning rate makes later steps worse: the restored model beats the last validation, which only
    a restore of earlier weights can do (without it the final weights are the last validated ones)."""
    df = wide_frame()
    model = tiny(val_check_steps=1, learning_rate=50.0, early_stopping_patience=100).fit(df)
    last_validation = model.training_history_[-1]["val_loss"]
    restored = -model.score(df.iloc[-(L_IN + 8) :])  # the validation windows, standardised MSE
    assert restored < 0.9 * last_validation


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_val_check_steps(bad: object) -> None:
    with pytest.raises(ValueError, match="val_check_steps"):
        tiny(val_check_steps=bad).fit(wide_frame())


def test_train_config_checks_val_check_steps() -> None:
    with pytest.raises(ValueError, match="val_check_steps"):
        TrainConfig(val_check_steps=0)
