"""Reference for the fused convolution: depthwise causal (or anti-causal) Conv1d + SiLU through ``F.conv1d``.

This is exactly what the Mamba block computed before the fused kernel (``nn.Conv1d`` with ``padding=K-1``, cut
to the first L outputs for the causal direction or the last L for the reverse one), so the Triton kernel is
tested against it and the model's CPU path keeps using it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def conv1d_silu_reference(x: Tensor, weight: Tensor, bias: Tensor | None = None, reverse: bool = False) -> Tensor:
    """SiLU(depthwise Conv1d(x)) over (batch, L, C) channel-last ``x``; returns (batch, L, C) (a transposed view).

    ``weight``: (C, K) or (C, 1, K). Output t reads x[t-K+1 .. t] (causal) or x[t .. t+K-1] (``reverse``).
    """
    channels, length = x.shape[2], x.shape[1]
    k = weight.shape[-1]
    conv = F.conv1d(x.transpose(1, 2), weight.reshape(channels, 1, k), bias, padding=k - 1, groups=channels)
    conv = conv[..., k - 1 :] if reverse else conv[..., :length]
    return F.silu(conv).transpose(1, 2)
