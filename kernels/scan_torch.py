"""Fast PyTorch selective scan (the CPU path): chunked, with a hand-written backward.

Why it is fast: the time axis is cut into chunks of ``chunk`` steps. For one chunk the decays exp(ΔA) and
inputs ΔBu are built as one (T, batch, dim, N) block that stays in cache, and the recurrence is one in-place
``addcmul_`` per step over a contiguous (batch, dim, N) slice; outputs are a batched matmul per chunk. The
(batch, dim, L, N) tensors that mamba_ssm's ``selective_scan_ref`` builds are never materialised. The
backward recomputes each chunk's states from the state saved at the chunk's start (checkpoints) and runs the
adjoint recurrence in the opposite direction, so autograd never records the per-step graph.

Arguments here are already validated and canonical (see ``selective_scan.py``): B and C are grouped
(batch, G, N, L); any strides are fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Elements of one (T, batch, dim, N) chunk block: 2**18 floats = 1 MiB in fp32, so a few blocks fit in L2.
_CHUNK_ELEMENTS = 1 << 18


@dataclass
class ScanArgs:
    """Canonical selective-scan inputs shared by every backend."""

    u: Tensor
    delta: Tensor
    A: Tensor
    B: Tensor  # (batch, G, N, L)
    C: Tensor  # (batch, G, N, L)
    D: Tensor | None
    z: Tensor | None
    delta_bias: Tensor | None
    delta_softplus: bool
    reverse: bool
    initial_state: Tensor | None


def _work_dtype(args: ScanArgs) -> torch.dtype:
    """float64 when any input is float64 (gradcheck), float32 otherwise (states always at least fp32)."""
    tensors = [args.u, args.delta, args.A, args.B, args.C, args.D, args.z, args.delta_bias, args.initial_state]
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _chunks(length: int, chunk: int, reverse: bool) -> list[tuple[int, int]]:
    """Chunk boundaries [start, end) in scan order."""
    bounds = [(s, min(s + chunk, length)) for s in range(0, length, chunk)]
    return bounds[::-1] if reverse else bounds


def _chunk_len(args: ScanArgs) -> int:
    batch, dim, length = args.u.shape
    per_step = batch * dim * args.A.shape[1]
    return max(1, min(length, 256, _CHUNK_ELEMENTS // max(per_step, 1)))


def _delta_chunk(args: ScanArgs, s: int, e: int, work: torch.dtype) -> tuple[Tensor, Tensor]:
    """(raw delta + bias, Δ) for steps [s, e), both (batch, dim, T) in ``work`` dtype."""
    raw = args.delta[:, :, s:e].to(work)
    if args.delta_bias is not None:
        raw = raw + args.delta_bias.to(work)[:, None]
    dt = F.softplus(raw, beta=1.0, threshold=20.0) if args.delta_softplus else raw
    return raw, dt


def _states(args: ScanArgs, dtT: Tensor, uT: Tensor, s: int, e: int, h0: Tensor, work: torch.dtype):
    """Decays a (T,b,d,N) and states h (T,b,d,N) of one chunk, starting from h0 (b,d,N) in scan order."""
    T, batch, dim = dtT.shape
    groups, n_state = args.B.shape[1], args.B.shape[2]
    a = (dtT[..., None] * args.A.to(work)).exp_()
    BT = args.B[..., s:e].to(work).permute(3, 0, 1, 2)  # (T, b, G, N)
    h = ((dtT * uT).view(T, batch, groups, dim // groups, 1) * BT[:, :, :, None, :]).reshape(T, batch, dim, n_state)
    steps = range(T - 1, -1, -1) if args.reverse else range(T)
    prev = h0
    for t in steps:
        prev = h[t].addcmul_(a[t], prev)
    return a, h


def scan_forward(args: ScanArgs, save_checkpoints: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Output (batch, dim, L) in u's dtype, last state (batch, dim, N) fp32/fp64, chunk checkpoints.

    The checkpoints (states entering each chunk) are cheap here and always returned.
    """
    work = _work_dtype(args)
    batch, dim, length = args.u.shape
    groups, n_state = args.B.shape[1], args.B.shape[2]
    chunk = _chunk_len(args)
    h = (
        args.initial_state.to(work)
        if args.initial_state is not None
        else args.u.new_zeros(batch, dim, n_state, dtype=work)
    )
    bounds = _chunks(length, chunk, args.reverse)
    checkpoints = args.u.new_empty(len(bounds), batch, dim, n_state, dtype=work)
    y = args.u.new_empty(batch, dim, length, dtype=work)
    for k, (s, e) in enumerate(bounds):
        checkpoints[k] = h
        _, dt = _delta_chunk(args, s, e, work)
        dtT = dt.permute(2, 0, 1)
        uT = args.u[:, :, s:e].to(work).permute(2, 0, 1)
        _, hs = _states(args, dtT, uT, s, e, h, work)
        h = hs[0] if args.reverse else hs[-1]
        T = e - s
        CT = args.C[..., s:e].to(work).permute(3, 0, 1, 2)  # (T, b, G, N)
        yT = torch.linalg.vecdot(hs.view(T, batch, groups, dim // groups, n_state), CT[:, :, :, None, :])
        y[:, :, s:e] = yT.view(T, batch, dim).permute(1, 2, 0)
    out = _finish(args, y, work)
    return out.to(args.u.dtype), h.clone(), checkpoints


def _finish(args: ScanArgs, y: Tensor, work: torch.dtype) -> Tensor:
    """Apply the skip D·u and the gate silu(z)."""
    if args.D is not None:
        y = y + args.D.to(work)[:, None] * args.u.to(work)
    if args.z is not None:
        y = y * F.silu(args.z.to(work))
    return y


def scan_backward(
    args: ScanArgs, checkpoints: Tensor, grad_out: Tensor, grad_last: Tensor | None
) -> tuple[Tensor | None, ...]:
    """Gradients (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state) in the inputs' dtypes."""
    work = checkpoints.dtype
    batch, dim, length = args.u.shape
    groups, n_state = args.B.shape[1], args.B.shape[2]
    dg = dim // groups
    chunk = _chunk_len(args)
    A = args.A.to(work)
    du = args.u.new_empty(batch, dim, length, dtype=work)
    ddelta = args.u.new_empty(batch, dim, length, dtype=work)
    dB = args.u.new_empty(batch, groups, n_state, length, dtype=work)
    dC = args.u.new_empty(batch, groups, n_state, length, dtype=work)
    dz = None if args.z is None else args.u.new_empty(batch, dim, length, dtype=work)
    dA = torch.zeros_like(A)
    dD = None if args.D is None else args.u.new_zeros(dim, dtype=work)
    carry = grad_last.to(work) if grad_last is not None else args.u.new_zeros(batch, dim, n_state, dtype=work)
    bounds = _chunks(length, chunk, args.reverse)
    for k in range(len(bounds) - 1, -1, -1):
        s, e = bounds[k]
        T = e - s
        raw, dt = _delta_chunk(args, s, e, work)
        dtT = dt.permute(2, 0, 1)
        u_c = args.u[:, :, s:e].to(work)
        uT = u_c.permute(2, 0, 1)
        a, hs = _states(args, dtT, uT, s, e, checkpoints[k], work)
        CT = args.C[..., s:e].to(work).permute(3, 0, 1, 2)
        BT = args.B[..., s:e].to(work).permute(3, 0, 1, 2)
        g_out = grad_out[:, :, s:e].to(work)
        if args.z is not None:
            z_c = args.z[:, :, s:e].to(work)
            y_c = torch.linalg.vecdot(hs.view(T, batch, groups, dg, n_state), CT[:, :, :, None, :])
            y_c = y_c.reshape(T, batch, dim).permute(1, 2, 0)
            if args.D is not None:
                y_c = y_c + args.D.to(work)[:, None] * u_c
            sig = torch.sigmoid(z_c)
            dz[:, :, s:e] = g_out * y_c * sig * (1 + z_c * (1 - sig))
            g_out = g_out * z_c * sig
        du_c = torch.zeros_like(u_c) if args.D is None else g_out * args.D.to(work)[:, None]
        if dD is not None:
            dD += (g_out * u_c).sum((0, 2))
        dyT = g_out.permute(2, 0, 1)  # (T, b, d)
        # adjoint states: g_t = C_t dy_t + a_{t+1} g_{t+1} (t+1 = next step in scan order)
        G = (dyT.reshape(T, batch, groups, dg, 1) * CT[:, :, :, None, :]).reshape(T, batch, dim, n_state)
        dC[..., s:e] = (
            (dyT.reshape(T, batch, groups, 1, dg) @ hs.view(T, batch, groups, dg, n_state))
            .view(T, batch, groups, n_state)
            .permute(1, 2, 3, 0)
        )
        order = list(range(T - 1, -1, -1)) if args.reverse else list(range(T))
        nxt = carry
        for t in reversed(order):
            nxt = G[t].add_(nxt)
            nxt = a[t] * nxt
        carry = nxt
        # states entering each step, in time order: h_{t-1} in scan order
        if args.reverse:
            h_prev = torch.cat([hs[1:], checkpoints[k][None]], dim=0)
        else:
            h_prev = torch.cat([checkpoints[k][None], hs[:-1]], dim=0)
        P = G * a * h_prev  # g_t ⊙ a_t ⊙ h_{t-1}
        dA += torch.einsum("tbdn,tbd->dn", P, dtT)
        GB = torch.linalg.vecdot(G.view(T, batch, groups, dg, n_state), BT[:, :, :, None, :]).reshape(T, batch, dim)
        ddt = torch.einsum("tbdn,dn->tbd", P, A) + GB * uT
        du_c = du_c + (GB * dtT).permute(1, 2, 0)
        dB[..., s:e] = (
            ((dtT * uT).reshape(T, batch, groups, 1, dg) @ G.view(T, batch, groups, dg, n_state))
            .view(T, batch, groups, n_state)
            .permute(1, 2, 3, 0)
        )
        ddt = ddt.permute(1, 2, 0)
        if args.delta_softplus:
            ddt = torch.where(raw > 20.0, ddt, ddt * torch.sigmoid(raw))
        ddelta[:, :, s:e] = ddt
        du[:, :, s:e] = du_c
    ddelta_bias = None if args.delta_bias is None else ddelta.sum((0, 2))
    dh0 = None if args.initial_state is None else carry

    def cast(grad: Tensor | None, like: Tensor | None) -> Tensor | None:
        return None if grad is None or like is None else grad.to(like.dtype)

    return (
        cast(du, args.u),
        cast(ddelta, args.delta),
        cast(dA, args.A),
        cast(dB, args.B),
        cast(dC, args.C),
        cast(dD, args.D),
        cast(dz, args.z),
        cast(ddelta_bias, args.delta_bias),
        cast(dh0, args.initial_state),
    )
