"""tsmamba: time-series forecasting with TSM2 (Time Series MambaMixer), PatchTST and DLinear.

The public names below load on first use (PEP 562), so ``import tsmamba`` and the ``tsmamba`` CLI's ``--help``
do not pay for importing torch, Lightning and scikit-learn until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tsmamba._version import __version__

# public name -> the module that holds it
_EXPORTS = {
    "DLinearForecaster": "tsmamba.forecaster",
    "PatchTSTForecaster": "tsmamba.forecaster",
    "TSM2Forecaster": "tsmamba.forecaster",
    "MultiForecaster": "tsmamba.forecaster",
    "load_forecaster": "tsmamba.forecaster",
    "TimeSeriesWindowSplit": "tsmamba.forecaster",
    "evaluate": "tsmamba.forecaster",
    "MSE": "tsmamba.losses",
    "MAE": "tsmamba.losses",
    "QuantileLoss": "tsmamba.losses",
    "MQLoss": "tsmamba.losses",
    "WindowDataset": "tsmamba.data",
    "card_names": "tsmamba.data",
    "get_card": "tsmamba.data",
    "load_dataset": "tsmamba.data",
    "split_borders": "tsmamba.data",
    "synthetic_series": "tsmamba.data",
    "evaluate_windows": "tsmamba.evaluation",
    "rolling_origin": "tsmamba.evaluation",
    "FitResult": "tsmamba.training",
    "TrainConfig": "tsmamba.training",
    "fit_model": "tsmamba.training",
    "predict_windows": "tsmamba.training",
}

__all__ = [  # a literal for tools; tests/test_public_api.py checks it against _EXPORTS
    "__version__",
    "DLinearForecaster",
    "PatchTSTForecaster",
    "TSM2Forecaster",
    "MultiForecaster",
    "load_forecaster",
    "MSE",
    "MAE",
    "QuantileLoss",
    "MQLoss",
    "TimeSeriesWindowSplit",
    "evaluate",
    "WindowDataset",
    "card_names",
    "get_card",
    "load_dataset",
    "split_borders",
    "synthetic_series",
    "evaluate_windows",
    "rolling_origin",
    "FitResult",
    "TrainConfig",
    "fit_model",
    "predict_windows",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # a subpackage (``tsmamba.forecaster``) used as an attribute after ``import tsmamba``
        try:
            return importlib.import_module(f"tsmamba.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"tsmamba.{name}":
                raise
            raise AttributeError(f"module 'tsmamba' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names for type checkers and IDEs
    from tsmamba.data import WindowDataset, card_names, get_card, load_dataset, split_borders, synthetic_series
    from tsmamba.evaluation import evaluate_windows, rolling_origin
    from tsmamba.forecaster import (
        DLinearForecaster,
        MultiForecaster,
        PatchTSTForecaster,
        TimeSeriesWindowSplit,
        TSM2Forecaster,
        evaluate,
        load_forecaster,
    )
    from tsmamba.losses import MAE, MSE, MQLoss, QuantileLoss
    from tsmamba.training import FitResult, TrainConfig, fit_model, predict_windows
