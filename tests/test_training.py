"""Training seam: reproducibility, best-weight restore, early stopping, schedules, no log clutter."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.training import FitResult, TrainConfig, adam, fit_model, lr_factor, parameter_groups, predict_windows


def splits(values, lookback=48, horizon=12):
    return (
        WindowDataset(values, lookback, horizon, 0, 400),
        WindowDataset(values, lookback, horizon, 400 - lookback, 500),
    )


def fresh_model(seed: int = 0) -> DLinearModel:
    torch.manual_seed(seed)
    return DLinearModel(DLinearConfig(), 48, 12, 3)


def val_mse(model, val: WindowDataset) -> float:
    pred = predict_windows(model, val)
    return float(((pred - val.gather(torch.arange(len(val)))[1]) ** 2).mean())


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(standardised_series, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    train, val = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, max_epochs=3, batch_size=16, seed=7)
    first = predict_windows(fit_model(fresh_model(), train, val, config).model, val)
    second = predict_windows(fit_model(fresh_model(), train, val, config).model, val)
    assert torch.equal(first, second)
    other = predict_windows(
        fit_model(
            fresh_model(), train, val, TrainConfig(learning_rate=0.01, max_epochs=3, batch_size=16, seed=8)
        ).model,
        val,
    )
    assert not torch.equal(first, other)  # the seed really drives the shuffling
    assert list(tmp_path.iterdir()) == []  # no lightning_logs/ or checkpoints unless asked


def test_best_weights_are_restored_and_early_stopping_stops(standardised_series) -> None:
    train, val = splits(standardised_series)
    # A far too large learning rate makes the validation loss bounce, so the best epoch is not the last one.
    config = TrainConfig(learning_rate=0.5, max_epochs=12, batch_size=16, patience=2, seed=0)
    result = fit_model(fresh_model(), train, val, config)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == result.epochs_run
    assert result.best_epoch == losses.index(min(losses)) and result.best_epoch != result.epochs_run - 1
    assert result.stopped_early and result.epochs_run == result.best_epoch + 1 + config.patience
    assert math.isclose(result.best_val_loss, min(losses), rel_tol=1e-6)
    assert math.isclose(val_mse(result.model, val), result.best_val_loss, rel_tol=1e-4)


def test_without_validation_the_final_weights_are_kept(standardised_series) -> None:
    train, _ = splits(standardised_series)
    result = fit_model(fresh_model(), train, None, TrainConfig(learning_rate=0.01, max_epochs=2))
    assert isinstance(result, FitResult)
    assert result.best_val_loss is None and result.epochs_run == 2 and not result.stopped_early
    assert all("train_loss" in h for h in result.history)


def test_lr_schedules_follow_the_reference_code() -> None:
    assert [lr_factor("type1", e) for e in range(4)] == [1.0, 1.0, 0.5, 0.25]
    assert [lr_factor("type3", e) for e in range(6)] == pytest.approx([1, 1, 1, 1, 0.9, 0.81])
    assert lr_factor("constant", 9) == 1.0


@pytest.mark.parametrize("schedule", ["type1", "type3"])
def test_epoch_schedules_are_applied(schedule, standardised_series) -> None:
    train, _ = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, max_epochs=5, lr_schedule=schedule, batch_size=64)
    result = fit_model(fresh_model(), train, None, config)
    assert [h["lr"] for h in result.history] == pytest.approx([0.01 * lr_factor(schedule, e) for e in range(5)])


def test_onecycle_warms_up_then_anneals(standardised_series) -> None:
    train, _ = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, max_epochs=4, lr_schedule="onecycle", pct_start=0.4, batch_size=64)
    lrs = [h["lr"] for h in fit_model(fresh_model(), train, None, config).history]
    assert lrs[0] == pytest.approx(0.01 / 25)  # OneCycleLR's initial lr = max_lr / div_factor
    assert lrs[1] > lrs[0] and lrs[3] < lrs[2]


def test_bf16_and_gradient_clipping_train_to_a_finite_loss(standardised_series) -> None:
    train, val = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, max_epochs=2, precision="bf16-mixed", gradient_clip=0.5)
    result = fit_model(fresh_model(), train, val, config)
    assert math.isfinite(result.best_val_loss) and result.best_val_loss < 1.0


def test_log_dir_writes_csv_logs_only_when_asked(standardised_series, tmp_path) -> None:
    train, val = splits(standardised_series)
    fit_model(fresh_model(), train, val, TrainConfig(max_epochs=1, log_dir=str(tmp_path / "logs")))
    assert list((tmp_path / "logs").rglob("metrics.csv"))


def test_a_logger_in_trainer_kwargs_and_log_dir_clash(standardised_series, tmp_path) -> None:
    from lightning.pytorch.loggers import CSVLogger

    train, val = splits(standardised_series)
    config = TrainConfig(max_epochs=1, log_dir=str(tmp_path), trainer_kwargs={"logger": CSVLogger(tmp_path)})
    with pytest.raises(ValueError, match=r"trainer_kwargs\['logger'\] and log_dir=.* both set the logger; keep one"):
        fit_model(fresh_model(), train, val, config)


def test_bad_training_options_are_explained() -> None:
    with pytest.raises(ValueError, match="lr_schedule 'cosine' unknown"):
        TrainConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match=r"Unknown training option\(s\) \['lr'\].*learning_rate"):
        TrainConfig.from_dict({"lr": 0.1})
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=0)


def test_predict_windows_covers_every_window_in_order(standardised_series) -> None:
    _, val = splits(standardised_series)
    model = fresh_model()
    full = predict_windows(model, val, batch_size=1000)
    chunked = predict_windows(model, val, batch_size=7)  # 89 windows: the last batch is partial
    assert full.shape == (len(val), 12, 3)
    torch.testing.assert_close(full, chunked)
    x, _ = val[len(val) - 1]
    torch.testing.assert_close(full[-1], model(x[None])[0].detach())


def test_steps_after_the_last_validation_count_for_the_best_weights(standardised_series) -> None:
    """max_steps=10 with val_check_steps=4 validates at steps 4 and 8; steps 9 and 10 are validated at the end,
    so when the loss keeps improving the restored weights are the final ones (before the fix: step 8's)."""
    train, val = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, batch_size=16, max_steps=10, val_check_steps=4, seed=3)
    result = fit_model(fresh_model(), train, val, config)
    unvalidated = fit_model(fresh_model(), train, None, config).model  # same steps, final weights kept
    final_loss = val_mse(unvalidated, val)
    assert final_loss < val_mse(
        fit_model(fresh_model(), train, None, TrainConfig(**{**vars(config), "max_steps": 8})).model, val
    )
    for restored, final in zip(result.model.state_dict().values(), unvalidated.state_dict().values(), strict=True):
        assert torch.equal(restored, final)
    assert math.isclose(result.best_val_loss, final_loss, rel_tol=1e-5)
    assert math.isclose(result.history[-1]["val_loss"], final_loss, rel_tol=1e-5)


def test_a_validated_last_step_is_not_validated_twice(standardised_series) -> None:
    train, val = splits(standardised_series)
    config = TrainConfig(learning_rate=0.01, batch_size=16, max_steps=8, val_check_steps=4, seed=3)
    result = fit_model(fresh_model(), train, val, config)
    assert math.isclose(result.best_val_loss, val_mse(result.model, val), rel_tol=1e-5)


def test_training_adam_is_fused_and_updates_as_the_reference_adam() -> None:
    # tsmamba.training.adam: torch's fused Adam where the parameters allow it (one kernel a step); the same
    # update as the per-tensor reference implementation, weight-decay groups included
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3))
    twin = copy.deepcopy(model)
    ours = adam(parameter_groups(model, 0.01), 1e-2)
    reference = torch.optim.Adam(parameter_groups(twin, 0.01), lr=1e-2, foreach=False)
    assert ours.defaults["fused"] is True and reference.defaults["fused"] in (None, False)
    for _ in range(3):
        x = torch.randn(8, 5)
        for m, opt in ((model, ours), (twin, reference)):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
