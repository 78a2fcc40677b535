"""Model registry: maps a model name to the module that defines it.

Every model module defines a config dataclass, an ``nn.Module`` built as
``Model(config, lookback, horizon, n_vars)`` whose ``forward`` maps a batch of
windows ``(batch, lookback, n_vars)`` to forecasts ``(batch, horizon, n_vars)``,
and a module-level ``SPEC: ModelSpec``. Modules are imported lazily so that a
broken or heavy model never slows down the others.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

_MODULES: dict[str, str] = {
    "dlinear": "tsmamba.models.dlinear",
    "patchtst": "tsmamba.models.patchtst",
    "tsm2": "tsmamba.models.tsm2",
}


@dataclass(frozen=True)
class ModelSpec:
    """What the training and benchmark code needs to know about one model.

    ``dataset_defaults(dataset)`` returns ``{"model": {...}, "train": {...}}``:
    per-dataset overrides of the model config and of ``TrainConfig`` (e.g. the
    PatchTST paper's scripts). Unknown datasets get ``{"model": {}, "train": {}}``.
    """

    name: str
    config_cls: type
    model_cls: Callable[..., nn.Module]
    dataset_defaults: Callable[[str | None], dict[str, dict[str, Any]]]


def model_names() -> list[str]:
    """Names accepted by :func:`get_model_spec`."""
    return sorted(_MODULES)


def get_model_spec(name: str) -> ModelSpec:
    """Look up a model by (case-insensitive) name; unknown names list the known ones."""
    key = name.lower()
    if key not in _MODULES:
        close = difflib.get_close_matches(key, _MODULES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Known models: {', '.join(model_names())}.")
    return importlib.import_module(_MODULES[key]).SPEC


def make_config(name: str, dataset: str | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """Config for ``name``: dataclass defaults, then per-dataset defaults, then ``overrides``.

    Unknown override keys raise an error naming the valid fields.
    """
    spec = get_model_spec(name)
    values = dict(spec.dataset_defaults(dataset).get("model", {}))
    values.update(overrides or {})
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for model {spec.name!r}. Valid options: {', '.join(sorted(fields))}."
        )
    return spec.config_cls(**values)


def build_model(name: str, config: Any, lookback: int, horizon: int, n_vars: int) -> nn.Module:
    """Instantiate model ``name`` from a config made by :func:`make_config`."""
    return get_model_spec(name).model_cls(config, lookback, horizon, n_vars)


def check_input_window(model: str, x: Tensor, lookback: int, n_vars: int) -> None:
    """Enforce the model contract's input: a (batch, lookback, n_vars) window, else a clear error with the fix."""
    if x.dim() != 3 or x.shape[1:] != (lookback, n_vars):
        raise ValueError(
            f"{model} expects input (batch, {lookback}, {n_vars}), got {tuple(x.shape)}: build the model with the "
            "lookback and number of variates of the data."
        )
