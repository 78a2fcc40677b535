"""Reference selective scans: the fp64 sequential ground truth and a mamba_ssm-style dense reference.

``selective_scan_loop`` is the definition every fast path is tested against: one step at a time, in
float64, differentiable by plain autograd. ``selective_scan_dense`` follows the structure of mamba_ssm's
``selective_scan_ref`` (it materialises the (batch, dim, L, N) decays and inputs before looping); it is
the baseline the fast CPU path is benchmarked against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _grouped(x: Tensor) -> Tensor:
    """(batch, N, L) -> (batch, 1, N, L); grouped (batch, G, N, L) is returned as is (a view either way)."""
    return x.unsqueeze(1) if x.dim() == 3 else x


def _delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Δ = softplus(delta + delta_bias) with the CUDA kernel's threshold of 20 (identity above it)."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta, beta=1.0, threshold=20.0) if delta_softplus else delta


def selective_scan_loop(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    reverse: bool = False,
    initial_state: Tensor | None = None,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sequential float64 selective scan, one time step per iteration (ground truth for the tests).

    Same arguments and semantics as :func:`tsmamba.kernels.selective_scan`; the result is float64.
    """
    f64 = torch.float64
    u, delta, A = u.to(f64), delta.to(f64), A.to(f64)
    Bg, Cg = _grouped(B).to(f64), _grouped(C).to(f64)
    batch, dim, length = u.shape
    groups, n_state = Bg.shape[1], Bg.shape[2]
    dt = _delta(delta, None if delta_bias is None else delta_bias.to(f64), delta_softplus)
    # per-channel view of the grouped B and C: channel d uses group d // (dim // groups)
    Bd = Bg.repeat_interleave(dim // groups, dim=1)
    Cd = Cg.repeat_interleave(dim // groups, dim=1)
    h = torch.zeros(batch, dim, n_state, dtype=f64, device=u.device) if initial_state is None else initial_state.to(f64)
    ys = [None] * length
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        a = torch.exp(dt[:, :, t, None] * A)
        h = a * h + (dt[:, :, t] * u[:, :, t])[:, :, None] * Bd[:, :, :, t]
        ys[t] = (h * Cd[:, :, :, t]).sum(-1)
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.to(f64)[:, None] * u
    if z is not None:
        y = y * F.silu(z.to(f64))
    return (y, h) if return_last_state else y


def selective_scan_dense(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """mamba_ssm-``selective_scan_ref``-style scan: materialise exp(ΔA) and ΔBu as (batch, dim, L, N), then loop.

    Forward direction only, no initial state (like mamba_ssm's reference). Computes in float32 (float64 for
    float64 inputs) and returns the output in ``u``'s dtype. Used as the CPU baseline in benchmarks.
    """
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta = u.to(work), delta.to(work)
    dt = _delta(delta, None if delta_bias is None else delta_bias.to(work), delta_softplus)
    Bg, Cg = _grouped(B).to(work), _grouped(C).to(work)
    batch, dim, length = u.shape
    groups = Bg.shape[1]
    Bd = Bg.repeat_interleave(dim // groups, dim=1)
    Cd = Cg.repeat_interleave(dim // groups, dim=1)
    decay = torch.exp(torch.einsum("bdl,dn->bdln", dt, A.to(work)))
    drive = torch.einsum("bdl,bdnl,bdl->bdln", dt, Bd, u)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bdn->bd", h, Cd[:, :, :, t]))
    y = torch.stack(ys, dim=2)
    if D is not None:
        y = y + D.to(work)[:, None] * u
    if z is not None:
        y = y * F.silu(z.to(work))
    y = y.to(dtype_in)
    return (y, h) if return_last_state else y
