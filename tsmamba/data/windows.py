"""Stride-1 forecasting windows by index arithmetic.

A :class:`WindowDataset` keeps one float32 tensor of the split's rows (on the
CPU or on the GPU) and produces window ``i`` as rows ``[i, i+L)`` (input) and
``[i+L, i+L+H)`` (target). Windows are never materialised as a copy of every
window; :meth:`WindowDataset.gather` builds a whole batch with one indexing op,
so a GPU-resident split feeds small models without a DataLoader bottleneck.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.utils.data import Dataset


class WindowDataset(Dataset):
    """Windows ``(x[L, M], y[H, M])`` over rows ``[start, end)`` of a (T, M) series, stride 1.

    ``values``: a (T, M) float array or tensor (already standardised). ``device``: where the split's
    rows live (``None`` keeps a CPU tensor). ``len(ds) = end - start - L - H + 1``.
    """

    def __init__(
        self,
        values: np.ndarray | torch.Tensor,
        lookback: int,
        horizon: int,
        start: int = 0,
        end: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if lookback <= 0 or horizon < 0:
            raise ValueError(
                f"lookback must be positive and horizon >= 0 (0: input-only windows, to forecast past the end), "
                f"got lookback={lookback}, horizon={horizon}."
            )
        data = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
        if data.ndim != 2:
            raise ValueError(f"values must be a (time, variates) array, got shape {tuple(data.shape)}.")
        end = data.shape[0] if end is None else end
        if not 0 <= start < end <= data.shape[0]:
            raise ValueError(f"Invalid row range [{start}, {end}) for a series of {data.shape[0]} rows.")
        n_windows = end - start - lookback - horizon + 1
        if n_windows < 1:
            raise ValueError(
                f"lookback {lookback} + horizon {horizon} = {lookback + horizon} rows is longer than the "
                f"{end - start} rows available; use a shorter lookback or horizon, or more data."
            )
        if not torch.isfinite(data[start:end]).all():
            raise ValueError("values contain NaN or infinite entries; clean or impute them explicitly first.")
        self.series = data[start:end].to(dtype=torch.float32, device=device).contiguous()
        self.lookback, self.horizon, self.start = lookback, horizon, start
        self._n = n_windows
        self._offsets = torch.arange(lookback + horizon, device=self.series.device)

    @property
    def n_vars(self) -> int:
        """Number of variates M."""
        return self.series.shape[1]

    @property
    def device(self) -> torch.device:
        """Where the split's rows (and gathered batches) live."""
        return self.series.device

    def to(self, device: str | torch.device) -> WindowDataset:
        """A view of the same windows with the split's rows on ``device`` (self when already there)."""
        target = torch.device(device)
        here = self.series.device
        if here.type == target.type and (target.index is None or target.index == here.index):
            return self
        moved = copy.copy(self)
        moved.series = self.series.to(device)
        moved._offsets = self._offsets.to(device)
        return moved

    @property
    def nbytes(self) -> int:
        """Bytes held by the split's rows (what moving it to a GPU costs)."""
        return self.series.numel() * self.series.element_size()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -self._n <= index < self._n:
            raise IndexError(f"window {index} out of range for {self._n} windows")
        index %= self._n
        window = self.series[index : index + self.lookback + self.horizon]
        return window[: self.lookback], window[self.lookback :]

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch of windows ``indices`` as ``x[B, L, M]``, ``y[B, H, M]`` on :attr:`device`."""
        indices = indices.to(self.series.device, dtype=torch.long)
        rows = indices[:, None] + self._offsets[None, :]
        windows = self.series[rows]
        return windows[:, : self.lookback], windows[:, self.lookback :]
