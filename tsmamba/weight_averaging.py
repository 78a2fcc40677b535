"""An exponential moving average of a model's weights over optimiser steps (EMA), for validation and the result.

Training updates the live weights; :class:`WeightAverage` keeps a shadow copy ``ema = d·ema + (1 - d)·w`` after
every step, with the warm-up ``d_t = min(decay, (1 + t) / (10 + t))`` (as timm's ``ModelEmaV2`` and mamba-style
trainers use) so that the first steps are not pulled back towards the initialisation: the best epoch of a small
forecasting model can be the first. :meth:`WeightAverage.swap_in` copies the average into the live parameters in
place (the tensors keep their identity, so captured CUDA graphs and compiled graphs stay valid) and
:meth:`WeightAverage.swap_out` restores the live weights. Buffers (BatchNorm's running statistics) are not
averaged: they are running averages already.
"""

from __future__ import annotations

import torch
from torch import nn


class WeightAverage:
    """The EMA of ``model``'s trainable parameters with the given ``decay`` (0 < decay < 1)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}; e.g. 0.99 averages over ~100 steps.")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.decay = decay
        self.updates = 0
        self.shadow: list[torch.Tensor] | None = None  # made at the first update, on the parameters' device
        self._live: list[torch.Tensor] | None = None

    def step_decay(self) -> float:
        """The decay of the next update (warm-up first, ``decay`` after)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights into the average (after an optimiser step)."""
        if self.shadow is None:
            self.shadow = [p.detach().clone() for p in self.params]
        else:
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.step_decay())
        self.updates += 1

    @torch.no_grad()
    def swap_in(self) -> None:
        """Put the average into the live parameters (in place), keeping the live weights for :meth:`swap_out`."""
        if self.shadow is None or self._live is not None:
            return
        self._live = [p.detach().clone() for p in self.params]
        torch._foreach_copy_([p.data for p in self.params], self.shadow)

    @torch.no_grad()
    def swap_out(self) -> None:
        """Restore the live weights that :meth:`swap_in` replaced."""
        if self._live is None:
            return
        torch._foreach_copy_([p.data for p in self.params], self._live)
        self._live = None

    @torch.no_grad()
    def apply(self) -> None:
        """Make the average the model's weights for good (the end of training without validation)."""
        self._live = None
        if self.shadow is not None:
            torch._foreach_copy_([p.data for p in self.params], self.shadow)
