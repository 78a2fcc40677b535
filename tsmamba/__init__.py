"""tsmamba: time-series forecasting with TSM2 (Time Series MambaMixer), PatchTST and DLinear."""

from tsmamba._version import __version__

__all__ = ["__version__"]
