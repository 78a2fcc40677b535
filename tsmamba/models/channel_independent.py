"""One univariate model applied to every series of a window: a channel-independent model as a global model.

PatchTST and DLinear (without per-variate heads) process each variate on its own with shared weights. Built
with ``n_vars=1`` and wrapped here, such a model maps ``x[B, L, M] -> y[B, H, M]`` for any ``M`` by folding the
series into the batch, in the order the models fold them themselves (row ``b * M + m``): on an aligned panel it
computes what the multivariate model with shared weights computes, and the same weights forecast any subset of
series, new series, or windows of one series each (``M = 1``, the panel windows of ``tsmamba.data.panel``).
"""

from __future__ import annotations

from torch import Tensor, nn


class ChannelIndependent(nn.Module):
    """``model`` (``x[B, L, 1] -> y[B, H, 1]``) applied to each of the ``M`` series of ``x[B, L, M]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Forecasts ``y[B, H, M]`` of every series of ``x[B, L, M]``, each from its own window."""
        if x.dim() != 3:
            raise ValueError(f"expected a window (batch, lookback, series), got shape {tuple(x.shape)}.")
        batch, length, n_series = x.shape
        y = self.model(x.transpose(1, 2).reshape(batch * n_series, length, 1))
        return y.reshape(batch, n_series, -1).transpose(1, 2)
