"""Data pipeline: dataset cards, checksummed loading, standard splits, scaling, windows, synthetic series."""

from tsmamba.data.cards import DatasetCard, card_names, get_card
from tsmamba.data.loader import (
    BenchmarkData,
    ChecksumMismatchError,
    DatasetNotFoundError,
    load_dataset,
    read_series_csv,
)
from tsmamba.data.scaler import StandardScaler, fit_scaler
from tsmamba.data.splits import SplitBorders, check_windows_fit, split_borders
from tsmamba.data.synthetic import synthetic_frame, synthetic_series
from tsmamba.data.windows import WindowDataset

__all__ = [
    "BenchmarkData",
    "ChecksumMismatchError",
    "DatasetCard",
    "DatasetNotFoundError",
    "SplitBorders",
    "StandardScaler",
    "WindowDataset",
    "card_names",
    "check_windows_fit",
    "fit_scaler",
    "get_card",
    "load_dataset",
    "read_series_csv",
    "split_borders",
    "synthetic_frame",
    "synthetic_series",
]
