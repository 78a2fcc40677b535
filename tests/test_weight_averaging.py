"""Weight averaging (TrainConfig.ema_decay): the average itself, and what validation and the result use."""

from __future__ import annotations

import math

import pytest
import torch
from test_training import fresh_model, splits, val_mse
from torch import nn

from tsmamba.training import TrainConfig, fit_model
from tsmamba.weight_averaging import WeightAverage


def test_average_follows_the_recurrence_with_its_warm_up() -> None:
    layer = nn.Linear(1, 1, bias=False)
    average = WeightAverage(layer, decay=0.5)
    expected = None
    for step, value in enumerate([1.0, 3.0, -2.0, 5.0]):
        layer.weight.data.fill_(value)
        decay = average.step_decay()
        average.update()
        expected = value if step == 0 else decay * expected + (1 - decay) * value
        assert average.shadow is not None and math.isclose(float(average.shadow[0]), expected, rel_tol=1e-6)
    assert [min(0.5, (1 + t) / (10 + t)) for t in (1, 8, 9)] == [2 / 11, 0.5, 0.5]


def test_swap_in_and_out_keep_the_parameter_tensors() -> None:
    layer = nn.Linear(2, 1)
    average = WeightAverage(layer, decay=0.9)
    average.update()
    live = [p.detach().clone() for p in layer.parameters()]
    ids = [p.data_ptr() for p in layer.parameters()]
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(1.0)  # a training step moves the live weights away from the average
    moved = [p.detach().clone() for p in layer.parameters()]
    average.swap_in()
    assert all(torch.equal(p, a) for p, a in zip(layer.parameters(), live))  # the average (= the first weights)
    assert [p.data_ptr() for p in layer.parameters()] == ids  # copied in place: graphs stay valid
    average.swap_out()
    assert all(torch.equal(p, m) for p, m in zip(layer.parameters(), moved))


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_decay_outside_zero_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="ema_decay must lie in"):
        TrainConfig(ema_decay=decay)


def test_validation_and_the_result_use_the_averaged_weights(standardised_series) -> None:
    train, val = splits(standardised_series)
    # a large rate makes the live weights jump between steps, so the average and the live weights differ
    config = TrainConfig(learning_rate=0.2, max_epochs=4, batch_size=16, patience=None, seed=0, ema_decay=0.9)
    averaged = fit_model(fresh_model(), train, val, config)
    plain = fit_model(fresh_model(), train, val, TrainConfig(**{**vars(config), "ema_decay": None}))
    # the returned model is the weights validated at the best epoch: the averaged ones
    assert math.isclose(val_mse(averaged.model, val), averaged.best_val_loss, rel_tol=1e-4)
    assert [h["val_loss"] for h in averaged.history] != [h["val_loss"] for h in plain.history]
    # the training itself is untouched by the averaging: same live trajectory, same training losses
    assert [h["train_loss"] for h in averaged.history] == pytest.approx([h["train_loss"] for h in plain.history])


def test_without_validation_the_result_is_the_final_average(standardised_series) -> None:
    train, _ = splits(standardised_series)
    config = TrainConfig(learning_rate=0.2, max_epochs=2, batch_size=16, seed=0)
    plain = fit_model(fresh_model(), train, None, config).model
    averaged = fit_model(fresh_model(), train, None, TrainConfig(**{**vars(config), "ema_decay": 0.5})).model
    differs = [not torch.equal(a, b) for a, b in zip(averaged.parameters(), plain.parameters())]
    assert any(differs)
