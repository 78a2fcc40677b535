"""Training recipes: one home read by the benchmark, the forecasters and the demo; option types; weight decay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tsmamba import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster
from tsmamba.forecaster.fitting import run_configs
from tsmamba.models.registry import build_model, get_model_spec
from tsmamba.recipes import DEMO, get_recipe, recipe_names, resolve
from tsmamba.training import NO_WEIGHT_DECAY, ForecastModule, TrainConfig, parameter_groups


@pytest.mark.parametrize("model", ["dlinear", "patchtst", "tsm2"])
@pytest.mark.parametrize("dataset", [None, "ETTh1", "ETTm1", "Weather"])
def test_recipe_is_the_models_dataset_defaults(model: str, dataset: str | None) -> None:
    recipe = get_recipe(model, dataset)
    assert {"model": recipe.model, "train": recipe.train} == get_model_spec(model).dataset_defaults(dataset)


def test_tsm2_forecaster_trains_with_the_benchmark_recipe() -> None:
    """TSM2Forecaster() with no arguments: TSM2's generic recipe, the one `tsmamba bench` uses."""
    config, train = run_configs(TSM2Forecaster())
    _, bench_train = resolve("tsm2", None)
    for field in ("learning_rate", "batch_size", "max_epochs", "patience", "lr_schedule"):
        assert getattr(train, field) == getattr(bench_train, field)
    assert (train.learning_rate, train.batch_size, train.lr_schedule, train.patience) == (1e-4, 64, "type3", 3)
    assert config == get_model_spec("tsm2").config_cls()


@pytest.mark.parametrize("cls", [TSM2Forecaster, PatchTSTForecaster, DLinearForecaster], ids=lambda c: c.__name__)
def test_a_dataset_recipe_matches_bench_and_keywords_win(cls: type) -> None:
    config, train = run_configs(cls(recipe="ETTh1"))
    bench_config, bench_train = resolve(cls.model_name, "ETTh1")
    assert config == bench_config
    assert dataclasses.replace(train, seed=0, drop_last=False) == dataclasses.replace(
        bench_train, seed=0, drop_last=False
    )
    config, train = run_configs(cls(recipe="ETTh1", learning_rate=0.02, batch_size=7, max_epochs=3))
    assert (train.learning_rate, train.batch_size, train.max_epochs) == (0.02, 7, 3)


def test_etth1_recipe_sizes_tsm2_down() -> None:
    config, _ = run_configs(TSM2Forecaster(recipe="etth1"))
    assert (config.d_model, config.dropout) == (16, 0.3)
    config, _ = run_configs(TSM2Forecaster(recipe="ETTh1", d_model=32))
    assert config.d_model == 32


def test_patience_zero_disables_early_stopping() -> None:
    _, train = run_configs(TSM2Forecaster(early_stopping_patience=0))
    assert train.patience is None


def test_demo_recipe_is_read_from_the_same_home() -> None:
    assert DEMO in recipe_names()
    recipe, generic = get_recipe("tsm2", DEMO), get_recipe("tsm2", None)
    config, train = resolve("tsm2", DEMO)
    assert config.d_model == recipe.model["d_model"] and train.learning_rate == recipe.train["learning_rate"]
    assert train.max_epochs == recipe.train["max_epochs"] and train.max_epochs != generic.train["max_epochs"]
    override, _ = resolve("tsm2", DEMO, {"d_model": 8})
    assert override.d_model == 8  # the caller's overrides still win over the demo recipe


def test_numpy_values_are_plain_numbers() -> None:
    config, train = resolve("dlinear", None, {"moving_avg": np.int64(5)}, {"batch_size": np.int64(8)})
    assert type(config.moving_avg) is int and type(train.batch_size) is int


@pytest.mark.parametrize(
    ("model_over", "train_over", "culprit"),
    [
        ({"d_model": "wide"}, {}, "model.d_model"),
        ({}, {"learning_rate": "fast"}, "train.learning_rate"),
        ({}, {"patience": 2.5}, "train.patience"),
        ({}, {"devices": 1.5}, "train.devices"),
        ({"revin": 1}, {}, "model.revin"),
    ],
)
def test_option_types_are_checked(model_over: dict, train_over: dict, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit.replace(".", r"\.")):
        resolve("tsm2", None, model_over, train_over)


def test_mamba_state_and_skip_are_kept_out_of_weight_decay() -> None:
    model = build_model("tsm2", get_model_spec("tsm2").config_cls(d_model=16, n_layers=1), 32, 8, 3)
    decay, keep = parameter_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    kept = {names[id(p)].rpartition(".")[2] for p in keep["params"]}
    assert kept == set(NO_WEIGHT_DECAY) and keep["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    assert not any(names[id(p)].rpartition(".")[2] in NO_WEIGHT_DECAY for p in decay["params"])
    assert len(decay["params"]) + len(keep["params"]) == len(list(model.parameters()))
    module = ForecastModule(model, TrainConfig(weight_decay=0.1), train=None)  # type: ignore[arg-type]
    optimizer = module.configure_optimizers()
    groups = optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert optimizer.defaults["fused"] is True  # torch's fused Adam: one kernel a step, not a loop over tensors


def test_weight_decay_groups_without_mamba_parameters() -> None:
    model = torch.nn.Linear(3, 2)
    assert [len(g["params"]) for g in parameter_groups(model, 0.1)] == [2]
