"""The standard train/val/test borders of the long-horizon benchmarks.

Exactly as PatchTST / Time-Series-Library index them: ETT hourly sets use
12/4/4 months (train [0, 8640), val [8640-L, 11520), test [11520-L, 14400)),
the 15-minute sets the same borders x4, every other dataset 70/10/20 with
``num_train = int(0.7 n)``, ``num_test = int(0.2 n)``. Validation and test
start ``lookback`` rows before their border so that their first forecast
starts exactly at the border.
"""

from __future__ import annotations

from dataclasses import dataclass

_ETT_HOURLY = (12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24)


@dataclass(frozen=True)
class SplitBorders:
    """Row ranges ``[start, end)`` of each split, including the ``lookback`` rows before val/test borders."""

    protocol: str
    lookback: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def range(self, split: str) -> tuple[int, int]:
        """The ``[start, end)`` rows of ``split`` ('train', 'val' or 'test')."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"Unknown split {split!r}; use 'train', 'val' or 'test'.")
        return getattr(self, split)

    def n_windows(self, split: str, horizon: int) -> int:
        """Number of stride-1 windows of ``lookback + horizon`` rows inside ``split``."""
        start, end = self.range(split)
        return end - start - self.lookback - horizon + 1


def split_borders(n_rows: int, lookback: int, protocol: str) -> SplitBorders:
    """Borders of the ``protocol`` split ('ett_hourly', 'ett_15min', 'ratio_70_10_20') for a series of ``n_rows``."""
    if lookback <= 0:
        raise ValueError(f"lookback must be a positive number of steps, got {lookback}.")
    if protocol in ("ett_hourly", "ett_15min"):
        scale = 1 if protocol == "ett_hourly" else 4
        n_train, n_val, n_test = (k * scale for k in _ETT_HOURLY)
        if n_rows < n_train + n_val + n_test:
            raise ValueError(f"The {protocol} protocol needs {n_train + n_val + n_test} rows; the series has {n_rows}.")
        train_end, val_end, test_end = n_train, n_train + n_val, n_train + n_val + n_test
    elif protocol == "ratio_70_10_20":
        n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
        train_end, val_end, test_end = n_train, n_rows - n_test, n_rows
    else:
        raise ValueError(f"Unknown split protocol {protocol!r}; use 'ett_hourly', 'ett_15min' or 'ratio_70_10_20'.")
    val_start, test_start = train_end - lookback, val_end - lookback
    if val_start < 0:
        raise ValueError(f"lookback {lookback} is longer than the training split ({train_end} rows).")
    return SplitBorders(protocol, lookback, (0, train_end), (val_start, val_end), (test_start, test_end))


def check_windows_fit(borders: SplitBorders, horizon: int) -> None:
    """Raise a clear error unless every split holds at least one window of ``lookback + horizon`` rows."""
    if horizon <= 0:
        raise ValueError(f"horizon must be a positive number of steps, got {horizon}.")
    for split in ("train", "val", "test"):
        if borders.n_windows(split, horizon) < 1:
            start, end = borders.range(split)
            raise ValueError(
                f"lookback {borders.lookback} + horizon {horizon} = {borders.lookback + horizon} rows is longer than "
                f"the {split} split ({end - start} rows incl. lookback, protocol {borders.protocol}); "
                "use a shorter lookback or horizon."
            )
