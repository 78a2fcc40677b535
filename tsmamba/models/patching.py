"""Patching of each variate's lookback window into overlapping sub-series (PatchTST's tokenisation).

A window of ``lookback`` steps becomes ``n_patches`` tokens of ``patch_len`` steps taken every ``stride``
steps. With ``pad_end`` the last value is repeated ``stride`` times first (PatchTST's ``padding_patch='end'``),
which adds one patch so that the most recent steps appear in a full patch of their own.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def count_patches(lookback: int, patch_len: int, stride: int, pad_end: bool) -> int:
    """Number of patches for a window; raises a clear error when the window cannot hold one patch."""
    if patch_len < 1 or stride < 1:
        raise ValueError(f"patch_len ({patch_len}) and stride ({stride}) must be positive integers.")
    if lookback < patch_len:
        raise ValueError(
            f"lookback ({lookback}) is shorter than patch_len ({patch_len}): lengthen the lookback or set a "
            f"smaller patch_len."
        )
    return (lookback - patch_len) // stride + 1 + (1 if pad_end else 0)


class Patcher(nn.Module):
    """(batch, lookback, n_vars) -> (batch, n_vars, n_patches, patch_len), as strided views plus one pad."""

    def __init__(self, lookback: int, patch_len: int, stride: int, pad_end: bool = True) -> None:
        super().__init__()
        self.lookback = lookback
        self.patch_len = patch_len
        self.stride = stride
        self.pad_end = pad_end
        self.n_patches = count_patches(lookback, patch_len, stride, pad_end)

    def forward(self, x: Tensor) -> Tensor:
        """Cut every variate of ``x`` into patches."""
        if x.dim() != 3 or x.shape[1] != self.lookback:
            raise ValueError(
                f"expected input of shape (batch, {self.lookback}, n_vars), got {tuple(x.shape)}: pass windows of "
                f"the lookback the model was built with."
            )
        series = x.transpose(1, 2)  # (batch, n_vars, lookback)
        if self.pad_end:
            series = F.pad(series, (0, self.stride), mode="replicate")
        return series.unfold(-1, self.patch_len, self.stride)
