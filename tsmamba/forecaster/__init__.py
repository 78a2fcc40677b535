"""scikit-learn-style forecasters over pandas and polars frames (long ``unique_id, ds, y`` or wide)."""

from tsmamba.forecaster.base import BaseForecaster
from tsmamba.forecaster.container import MultiForecaster
from tsmamba.forecaster.cross_validation import TimeSeriesWindowSplit, evaluate
from tsmamba.forecaster.forecasters import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster
from tsmamba.forecaster.persistence import load_forecaster

__all__ = [
    "BaseForecaster",
    "DLinearForecaster",
    "MultiForecaster",
    "PatchTSTForecaster",
    "TSM2Forecaster",
    "TimeSeriesWindowSplit",
    "evaluate",
    "load_forecaster",
]
