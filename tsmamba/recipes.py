"""Training recipes: the one place that says how each model trains, generically and per dataset.

A recipe is a pair of overrides, ``model`` (of the model's config dataclass) and ``train`` (of
:class:`~tsmamba.training.TrainConfig`). The per-dataset values come from each model module's
``SPEC.dataset_defaults`` (beside the papers' scripts they cite); ``None`` is the model's generic recipe (e.g.
TSM2: lr 1e-4, batch 64, type3, patience 3), and ``"demo"`` the small built-in demo's recipe. ``tsmamba bench``,
the forecasters and the demo all resolve their configs here, so they cannot drift apart:

    config, train = resolve("tsm2", "ETTh1", model_overrides={"d_model": 32}, train_overrides={"max_epochs": 5})

Precedence (later wins): dataclass defaults, the recipe, the caller's overrides. Every override is checked
against its field's type, and unknown keys are errors listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsmamba.data.cards import card_names
from tsmamba.models.registry import get_model_spec, make_config
from tsmamba.training import TrainConfig

DEMO = "demo"

# The demo's recipes: DLinear with its LTSF-Linear ETTh1 training; the deep models a little smaller than their
# benchmark defaults (so a CPU run takes about a minute) with a step size that learns the small synthetic series
# within the demo's few epochs (their benchmark training is tuned for 100-epoch runs).
_DEMO_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "dlinear": {
        "model": {},
        "train": {"learning_rate": 0.005, "batch_size": 32, "lr_schedule": "type1", "max_epochs": 10, "patience": 3},
    },
    "patchtst": {
        "model": {},
        "train": {"learning_rate": 1e-3, "batch_size": 32, "lr_schedule": "constant", "max_epochs": 10, "patience": 3},
    },
    "tsm2": {  # d_model 16, 6 epochs at 2e-3: the whole `tsmamba demo` in under a minute on a 2-core CPU
        "model": {"d_model": 16},
        "train": {"learning_rate": 2e-3, "batch_size": 32, "lr_schedule": "constant", "max_epochs": 6, "patience": 3},
    },
}


@dataclass(frozen=True)
class Recipe:
    """Overrides of a model's config (``model``) and of ``TrainConfig`` (``train``) for one model and dataset."""

    model_name: str
    dataset: str | None
    model: dict[str, Any]
    train: dict[str, Any]


def recipe_names() -> list[str]:
    """Names accepted as ``dataset`` by :func:`get_recipe` (besides ``None``, the generic recipe)."""
    return [*card_names(), DEMO]


def get_recipe(model_name: str, dataset: str | None = None) -> Recipe:
    """The recipe of ``model_name`` for ``dataset`` (a card name, ``"demo"``, or ``None`` for the generic one)."""
    spec = get_model_spec(model_name)
    if dataset is not None and not isinstance(dataset, str):
        raise TypeError(f"recipe must be a dataset name or None, got {type(dataset).__name__} {dataset!r}.")
    if dataset is not None and dataset.lower() not in {n.lower() for n in recipe_names()}:
        raise ValueError(f"Unknown recipe {dataset!r}; choose one of {', '.join(recipe_names())} or None (generic).")
    if dataset is not None and dataset.lower() == DEMO:
        values = _DEMO_RECIPES[spec.name]
    else:
        values = spec.dataset_defaults(dataset)
    return Recipe(spec.name, dataset, dict(values.get("model", {})), dict(values.get("train", {})))


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "None"
    args = typing.get_args(tp)
    if _is_union(tp):
        return " or ".join(_describe(a) for a in args)
    origin = typing.get_origin(tp)
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits annotation ``tp`` (the simple types config dataclasses use)."""
    if tp is Any:
        return True
    if _is_union(tp):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, (bool, np.bool_))
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_matches(v, (typing.get_args(tp) or (Any,))[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return True


def check_option_types(config_cls: type, values: dict[str, Any], section: str) -> None:
    """An error naming ``section.key`` when a value does not fit the field's type (or the key is unknown)."""
    hints = typing.get_type_hints(config_cls)
    fields = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"Unknown {section} option(s) {unknown}. Valid {section} options: {', '.join(fields)}.")
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise ValueError(
                f"Option {section}.{key}={value!r} must be {_describe(hints[key])}, got {type(value).__name__}."
            )


def _plain(value: Any) -> Any:
    """numpy scalars (e.g. from GridSearchCV grids) as Python numbers, so configs stay JSON-serialisable."""
    return value.item() if isinstance(value, np.generic) else value


def resolve(
    model_name: str,
    dataset: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
) -> tuple[Any, TrainConfig]:
    """The model config and ``TrainConfig`` of one run: defaults, then the recipe, then the overrides."""
    recipe = get_recipe(model_name, dataset)
    spec = get_model_spec(model_name)
    model_values = {k: _plain(v) for k, v in (model_overrides or {}).items()}
    train_values = {k: _plain(v) for k, v in (train_overrides or {}).items()}
    check_option_types(spec.config_cls, model_values, "model")
    check_option_types(TrainConfig, train_values, "train")
    config = make_config(spec.name, None, {**recipe.model, **model_values})
    train = TrainConfig.from_dict({**recipe.train, **train_values})
    return config, train
