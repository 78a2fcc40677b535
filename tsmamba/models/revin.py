"""Reversible instance normalisation (RevIN, Kim et al. ICLR 2022), as PatchTST's official code applies it.

Each window is standardised per variate by its own mean and standard deviation before the model sees it,
and the forecast is mapped back with the same statistics. This removes the level shift between the training
and test periods that otherwise dominates the error on ETT-like data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """Per-window, per-variate normalisation with an optional learnable affine map.

    ``normalize(x)`` returns the standardised window and its statistics ``(center, scale)``;
    ``denormalize(y, stats)`` maps a forecast (batch, horizon, n_vars) back with them. The statistics are
    detached, as in the official code: gradients flow through the scaling, not into it. Returning them
    (rather than keeping them on the module, as the official code does) keeps the module stateless.
    """

    def __init__(self, n_vars: int, eps: float = 1e-5, affine: bool = False, subtract_last: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        self.subtract_last = subtract_last
        if affine:
            self.weight = nn.Parameter(torch.ones(n_vars))
            self.bias = nn.Parameter(torch.zeros(n_vars))

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Standardise ``x`` (batch, length, n_vars) per window and variate; also return the statistics."""
        if self.subtract_last:
            center = x[:, -1:, :]
        else:
            center = x.mean(dim=1, keepdim=True)
        scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        center, scale = center.detach(), scale.detach()
        x = (x - center) / scale
        if self.affine:
            x = x * self.weight + self.bias
        return x, (center, scale)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """Map a forecast (batch, horizon, n_vars) back to the scale of the input that gave ``stats``."""
        center, scale = stats
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps * self.eps)
        return y * scale + center
