"""tsmamba: time-series forecasting with TSM2 (Time Series MambaMixer), PatchTST and DLinear."""

from tsmamba._version import __version__
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

__all__ = [
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
