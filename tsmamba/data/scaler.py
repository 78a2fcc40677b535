"""Per-variate standardisation fit on the training rows only (the benchmark convention)."""

from __future__ import annotations

from typing import overload

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler as _SkStandardScaler


class StandardScaler:
    """Per-column ``(x - mean) / std`` with population std, as scikit-learn's (constant columns get std 1).

    Works on numpy arrays and torch tensors of shape (..., variates).
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, values: np.ndarray) -> StandardScaler:
        """Learn mean and std of each column of a (rows, variates) array."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] == 0:
            raise ValueError(f"StandardScaler.fit expects a non-empty (rows, variates) array, got {values.shape}.")
        sk = _SkStandardScaler().fit(values)
        self.mean, self.scale = sk.mean_, sk.scale_
        return self

    def _params(self, like: np.ndarray | torch.Tensor) -> tuple:
        if self.mean is None or self.scale is None:
            raise RuntimeError("StandardScaler is not fitted: call fit(train_values) first.")
        if isinstance(like, torch.Tensor):
            return (
                torch.as_tensor(self.mean, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.scale, dtype=like.dtype, device=like.device),
            )
        return self.mean, self.scale

    @overload
    def transform(self, values: np.ndarray) -> np.ndarray: ...
    @overload
    def transform(self, values: torch.Tensor) -> torch.Tensor: ...
    def transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Standardise ``values`` (last axis = variates)."""
        mean, scale = self._params(values)
        return (values - mean) / scale

    @overload
    def inverse_transform(self, values: np.ndarray) -> np.ndarray: ...
    @overload
    def inverse_transform(self, values: torch.Tensor) -> torch.Tensor: ...
    def inverse_transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Map standardised ``values`` back to the original scale."""
        mean, scale = self._params(values)
        return values * scale + mean


def fit_scaler(values: np.ndarray, train_end: int) -> StandardScaler:
    """A scaler fit on rows ``[0, train_end)`` of ``values`` only, so no test statistics leak into training."""
    return StandardScaler().fit(np.asarray(values)[:train_end])
