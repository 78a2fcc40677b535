"""The Mamba-1 selective SSM block (Gu & Dao 2023), forward-only or bidirectional, on ``tsmamba.kernels``.

One block maps (batch, length, d_model) to the same shape:

    x, z = in_proj(h)                                   # x: the SSM branch, z: the gate branch
    for each scan direction:                            # forward; plus backward when bidirectional
        u = SiLU(depthwise causal Conv1d(x))            # "causal" in the scan's own direction; one fused
                                                        # Triton kernel on the Triton path (kernels/conv1d_triton)
        Δ_lowrank, B, C = x_proj(u)
        y += selective_scan(u, dt_proj.weight·Δ_lowrank, A=-exp(A_log), B, C, D,
                            z=z, delta_bias=dt_proj.bias, delta_softplus=True, reverse=backward)
    return out_proj(y)

The backward direction has its own convolution and SSM parameters and shares in_proj, the gate z and
out_proj (MambaMixer's bidirectional S6 with one x̃_MLP gate). It runs on the same tensors with
``reverse=True`` and an anti-causal convolution, so no flipped copies are made. Initialisation follows
mamba_ssm's ``Mamba`` module: S4D-real A, Δ log-uniform in [dt_min, dt_max] through an inverse-softplus bias,
D = 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsmamba.kernels import selective_scan


def _shifted_conv(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool) -> Tensor:
    """The branch's depthwise (anti-)causal Conv1d on channel-last x (batch, length, d_inner), as d_conv
    shifted multiply-adds: on CPU this is several times faster than oneDNN's depthwise convolution backward
    at these small shapes, and it needs no transposed copy. Same function as ``self.conv1d`` + the slice.
    """
    d_conv, length = weight.shape[-1], x.shape[1]
    padded = F.pad(x, (0, 0, d_conv - 1, d_conv - 1))
    start = d_conv - 1 if reverse else 0
    first = padded[:, start : start + length] * weight[:, 0, 0]
    out = first if bias is None else first.add_(bias)
    for k in range(1, d_conv):
        out = out.addcmul(padded[:, start + k : start + k + length], weight[:, 0, k])
    return out


class _ScanBranch(nn.Module):
    """Convolution + selective scan of one direction over the (batch, length, d_inner) SSM input."""

    def __init__(
        self,
        d_inner: int,
        d_state: int,
        d_conv: int,
        dt_rank: int,
        dt_min: float,
        dt_max: float,
        dt_init_floor: float,
        reverse: bool,
        scan_backend: str,
    ) -> None:
        super().__init__()
        self.reverse = reverse
        self.d_conv = d_conv
        self.dt_rank = dt_rank
        self.d_state = d_state
        self.scan_backend = scan_backend
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -(dt_rank**-0.5), dt_rank**-0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) == dt
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))  # S4D-real: A[:, n] = -(n + 1)
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """``x``, ``z``: (batch, length, d_inner) -> gated SSM output (batch, length, d_inner).

        Channel-last throughout: u, Δ and z stay (batch, length, d_inner) and reach the scan as transposed views.
        With the Triton scan the convolution + SiLU is one fused Triton kernel; on the CPU it is ``d_conv`` shifted
        multiply-adds (cheaper than ``nn.Conv1d``'s backward there); elsewhere ``nn.Conv1d`` + ``F.silu``.
        """
        if self._fused(x):
            from tsmamba.kernels.conv1d_triton import conv1d_silu  # Triton only where the Triton scan runs

            u = conv1d_silu(x, self.conv1d.weight, self.conv1d.bias, reverse=self.reverse)
        elif x.device.type == "cpu":
            u = F.silu(_shifted_conv(x, self.conv1d.weight, self.conv1d.bias, self.reverse))
        else:
            length = x.shape[1]
            conv = self.conv1d(x.transpose(1, 2))  # (batch, d_inner, length + d_conv - 1)
            conv = conv[..., self.d_conv - 1 :] if self.reverse else conv[..., :length]
            u = F.silu(conv).transpose(1, 2)
        x_dbl = self.x_proj(u)  # (batch, length, dt_rank + 2 * d_state)
        dt, b, c = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)  # bias added (then softplus) inside the scan
        y = selective_scan(
            u.transpose(1, 2),
            delta.transpose(1, 2),
            -torch.exp(self.A_log.float()),
            b.transpose(1, 2),
            c.transpose(1, 2),
            D=self.D.float(),
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            reverse=self.reverse,
            backend=self.scan_backend,
        )
        return y.transpose(1, 2)

    def _fused(self, x: Tensor) -> bool:
        """The fused Triton convolution goes with the Triton scan (CUDA, or Triton's interpreter in tests)."""
        return self.scan_backend == "triton" or (self.scan_backend == "auto" and x.is_cuda)


class SelectiveSSM(nn.Module):
    """Mamba-1 block over (batch, length, d_model); ``bidirectional`` adds a backward scan branch.

    ``dt_rank=0`` means Mamba's "auto" rank, ceil(d_model / 16). ``scan_backend`` is passed to
    ``tsmamba.kernels.selective_scan`` ("auto" picks Triton on CUDA and the torch path on CPU).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int = 0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
        bidirectional: bool = False,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        d_inner = expand * d_model
        rank = dt_rank if dt_rank > 0 else math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.branches = nn.ModuleList(
            _ScanBranch(d_inner, d_state, d_conv, rank, dt_min, dt_max, dt_init_floor, reverse, scan_backend)
            for reverse in ((False, True) if bidirectional else (False,))
        )
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, h: Tensor) -> Tensor:
        """(batch, length, d_model) -> (batch, length, d_model)."""
        x, z = self.in_proj(h).chunk(2, dim=-1)
        y = self.branches[0](x, z)
        for branch in self.branches[1:]:
            y = y + branch(x, z)
        return self.out_proj(y)
