"""Model registry: maps a model name to the module that defines it.

Every model module defines a config dataclass, an ``nn.Module`` built as
``Model(config, lookback, horizon, n_vars)`` whose ``forward`` maps a batch of
windows ``(batch, lookback, n_vars)`` to forecasts ``(batch, horizon, n_vars)``,
and a module-level ``SPEC: ModelSpec`` (the contract's types are in
:mod:`tsmamba.models.contract`; they are re-exported here for model modules). Modules are imported lazily so that a
broken or heavy model never slows down the others.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any

from torch import nn

from tsmamba.models.contract import ModelSpec, check_input_window

__all__ = ["ModelSpec", "build_model", "check_input_window", "get_model_spec", "make_config", "model_names"]

_MODULES: dict[str, str] = {
    "dlinear": "tsmamba.models.dlinear",
    "patchtst": "tsmamba.models.patchtst",
    "tsm2": "tsmamba.models.tsm2",
}


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
