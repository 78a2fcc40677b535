"""Univariate windows over a panel of series of different lengths: a window never crosses a series' border.

A global model (one set of weights for every series, as neuralforecast trains PatchTST or DLinear) learns from
the windows of all series. :class:`PanelWindowDataset` lays the series' rows end to end in one float32 tensor
and numbers the windows series after series; window ``i`` is found by a binary search over the cumulative
window counts, so a batch is still one indexing op and no window is ever copied.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tsmamba.data.windows import WindowDataset


def _column(values: np.ndarray | torch.Tensor, k: int) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"series {k} must be a 1-D array (or one column), got shape {array.shape}.")
    return array


class PanelWindowDataset(WindowDataset):
    """Windows ``(x[L, 1], y[H, 1])`` of each series' rows ``[starts[k], ends[k])``, stride 1, series after series.

    ``series``: one 1-D array (or ``(T_k, 1)`` column) per series, already standardised, of any lengths.
    ``starts``/``ends`` default to every row. Series ``k`` gives ``ends[k] - starts[k] - L - H + 1`` windows
    (at least 1 each, else an error naming ``k``); ``gather`` returns ``x[B, L, 1]``, ``y[B, H, 1]``. A
    :class:`WindowDataset` (``gather``, ``to``, ``nbytes``, ``len``), so ``training.fit_model`` trains on it.
    """

    def __init__(
        self,
        series: Sequence[np.ndarray | torch.Tensor],
        lookback: int,
        horizon: int,
        starts: Sequence[int] | np.ndarray | None = None,
        ends: Sequence[int] | np.ndarray | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if len(series) == 0:
            raise ValueError("A panel needs at least one series.")
        columns = [_column(values, k) for k, values in enumerate(series)]
        starts = np.zeros(len(columns), dtype=np.int64) if starts is None else np.asarray(starts, dtype=np.int64)
        ends = np.array([len(c) for c in columns]) if ends is None else np.asarray(ends, dtype=np.int64)
        if starts.shape != (len(columns),) or ends.shape != (len(columns),):
            raise ValueError(f"starts and ends need one entry per series ({len(columns)}).")
        counts = ends - starts - lookback - horizon + 1
        for k, column in enumerate(columns):
            if not 0 <= starts[k] < ends[k] <= len(column):
                raise ValueError(f"Invalid row range [{starts[k]}, {ends[k]}) for series {k} of {len(column)} rows.")
            if counts[k] < 1:
                raise ValueError(
                    f"Series {k} has {ends[k] - starts[k]} rows in [{starts[k]}, {ends[k]}), fewer than lookback "
                    f"{lookback} + horizon {horizon} = {lookback + horizon}: it gives no window."
                )
        rows = np.concatenate([column[s:e] for column, s, e in zip(columns, starts, ends, strict=True)])
        super().__init__(rows[:, None], lookback, horizon, device=device)
        first_row = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
        self.starts = starts
        self._n = int(counts.sum())
        self._first_window = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)]), device=self.series.device)
        self._first_row = torch.as_tensor(first_row, device=self.series.device)

    @property
    def n_series(self) -> int:
        """Number of series in the panel."""
        return len(self._first_row)

    @property
    def counts(self) -> np.ndarray:
        """Number of windows of each series."""
        return np.diff(self._first_window.cpu().numpy())

    def to(self, device: str | torch.device) -> PanelWindowDataset:
        """A view of the same windows with the rows (and the window tables) on ``device``."""
        moved = super().to(device)
        if moved is self:
            return self
        assert isinstance(moved, PanelWindowDataset)
        moved._first_window = self._first_window.to(device)
        moved._first_row = self._first_row.to(device)
        return moved

    def series_of(self, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """The series (0-based) each window of ``indices`` comes from."""
        indices = torch.as_tensor(indices, dtype=torch.long, device=self.series.device)
        return torch.searchsorted(self._first_window[1:], indices, right=True)

    def window_index(self, series: Sequence[int] | np.ndarray, start: Sequence[int] | np.ndarray) -> np.ndarray:
        """The window numbers whose input begins at row ``start[j]`` of series ``series[j]`` (rows counted in
        the series as given, not from ``starts``)."""
        series, start = np.asarray(series, dtype=np.int64), np.asarray(start, dtype=np.int64)
        local = start - self.starts[series]
        counts = self.counts[series]
        bad = (local < 0) | (local >= counts)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise IndexError(f"No window of series {series[j]} starts at row {start[j]}.")
        return self._first_window.cpu().numpy()[series] + local

    def _rows(self, indices: torch.Tensor) -> torch.Tensor:
        series = torch.searchsorted(self._first_window[1:], indices, right=True)
        first = self._first_row[series] + indices - self._first_window[series]
        return first[:, None] + self._offsets[None, :]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -self._n <= index < self._n:
            raise IndexError(f"window {index} out of range for {self._n} windows")
        window = self.series[self._rows(torch.tensor([index % self._n], device=self.series.device))[0]]
        return window[: self.lookback], window[self.lookback :]

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch of windows ``indices`` as ``x[B, L, 1]``, ``y[B, H, 1]`` on :attr:`device`."""
        indices = indices.to(self.series.device, dtype=torch.long)
        windows = self.series[self._rows(indices)]
        return windows[:, : self.lookback], windows[:, self.lookback :]
