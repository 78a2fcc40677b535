"""tsmamba: time-series forecasting with TSM2 (Time Series MambaMixer), PatchTST and DLinear."""

from tsmamba._version import __version__
from tsmamba.forecaster import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster, load_forecaster

__all__ = ["__version__", "DLinearForecaster", "PatchTSTForecaster", "TSM2Forecaster", "load_forecaster"]
