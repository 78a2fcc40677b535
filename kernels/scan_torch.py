"""Fast PyTorch selective scan (the CPU path): few, large ops and a hand-written backward.

Why it is fast: every per-time-step quantity without the state axis (Δ, Δu, B, C, the gate) is computed once
for the whole sequence, time-major (L, batch, ...). The state axis N appears only inside a chunk of T steps,
where the decays exp(ΔA), the inputs ΔBu and the states are (T, batch, dim, N) blocks: the states are written
in place by one ``addcmul_`` per step over a contiguous (batch, dim, N) slice, and every contraction over N
or over the channels of a group (outputs, dB, dC, the adjoint's B-projection) is one batched matmul per chunk.
The sequences this library scans are short (tens of patches, a handful of variates), so a chunk is usually
the whole sequence: chunks only bound memory (``_CHUNK_ELEMENTS``). The backward recomputes each chunk's states
from the state saved at its start (checkpoints) and runs the adjoint recurrence the other way, so autograd
never records a per-step graph. Everything is plain tensor code, so it also traces under
``torch.compile(fullgraph=True)``.

Arguments here are already validated and canonical (see ``selective_scan.py``): B and C are grouped
(batch, G, N, L); any strides are fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Elements of one (T, batch, dim, N) block: 6·2**20 floats = 24 MiB in fp32. Larger chunks mean fewer ops
# (per-op overhead dominates these small scans), but blocks must stay under glibc's largest mmap threshold
# (32 MiB): bigger allocations are fresh mmaps each time, and their page faults cost more than the math.
_CHUNK_ELEMENTS = 6 << 20
_LOG2E = 1.4426950408889634


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


@dataclass
class _Seq:
    """Time-major per-step inputs of the whole sequence (no state axis), in the work dtype."""

    raw: Tensor  # delta + delta_bias, (L, batch, dim)
    dt: Tensor  # Δ, (L, batch, dim)
    u: Tensor  # (L, batch, dim), possibly a strided view
    dtu: Tensor  # Δ·u, (L, batch, dim) contiguous
    B: Tensor  # (L, batch, G, N) contiguous
    C: Tensor  # (L, batch, G, N) contiguous


def _work_dtype(args: ScanArgs) -> torch.dtype:
    """float64 when any input is float64 (gradcheck), float32 otherwise (states always at least fp32)."""
    tensors = [args.u, args.delta, args.A, args.B, args.C, args.D, args.z, args.delta_bias, args.initial_state]
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _chunks(args: ScanArgs) -> list[tuple[int, int]]:
    """Chunk boundaries [start, end) in scan order; one chunk unless a (T, batch, dim, N) block would be too big."""
    batch, dim, length = args.u.shape
    per_step = batch * dim * args.A.shape[1]
    chunk = max(1, min(length, _CHUNK_ELEMENTS // max(per_step, 1)))
    bounds = [(s, min(s + chunk, length)) for s in range(0, length, chunk)]
    return bounds[::-1] if args.reverse else bounds


def _sequence(args: ScanArgs, work: torch.dtype) -> _Seq:
    """Δ, Δu, B and C of every step, time-major."""
    raw = args.delta.to(work).permute(2, 0, 1)
    if args.delta_bias is not None:
        raw = raw + args.delta_bias.to(work)
    raw = raw.contiguous()
    dt = F.softplus(raw, beta=1.0, threshold=20.0) if args.delta_softplus else raw
    u = args.u.to(work).permute(2, 0, 1)
    B = args.B.to(work).permute(3, 0, 1, 2).contiguous()
    C = args.C.to(work).permute(3, 0, 1, 2).contiguous()
    return _Seq(raw, dt, u, dt * u, B, C)


def _states(
    A2: Tensor,
    seq: _Seq,
    s: int,
    e: int,
    h_in: Tensor,
    reverse: bool,
    H: Tensor | None = None,
    out: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Decays a (T, b, d, N) and states H (T + 1, b, d, N) of steps [s, e), from h_in (b, d, N).

    H holds h_in and the T states in time order: forward, H[0] = h_in and H[t + 1] is the state after step t;
    reverse, H[T] = h_in and H[t] is the state after step t. So the state after step t is H[1:][t] (forward)
    or H[:-1][t] (reverse), and the state entering it H[:-1][t] (forward) or H[1:][t] (reverse).
    ``A2`` is A·log2(e): exp2 is several times faster than exp on CPU. States in a given ``H`` are reused (only
    a is computed); with ``out`` (2T + 1, b, d, N), H goes to out[:T + 1] and a to out[T + 1:].
    """
    dt = seq.dt[s:e]
    T, batch, dim = dt.shape
    groups, n_state = seq.B.shape[2], seq.B.shape[3]
    a = torch.mul(dt[..., None], A2, out=None if out is None else out[T + 1 :]).exp2_()
    if H is not None:
        return a, H
    H = dt.new_empty(T + 1, batch, dim, n_state) if out is None else out[: T + 1]
    after = H[:-1] if reverse else H[1:]
    torch.mul(
        seq.dtu[s:e].view(T, batch, groups, dim // groups, 1),
        seq.B[s:e].view(T, batch, groups, 1, n_state),
        out=after.view(T, batch, groups, dim // groups, n_state),
    )
    if reverse:
        H[T] = h_in
        for t in range(T - 1, -1, -1):
            H[t].addcmul_(a[t], H[t + 1])
    else:
        H[0] = h_in
        for t in range(T):
            H[t + 1].addcmul_(a[t], H[t])
    return a, H


def _contract_n(states: Tensor, C: Tensor) -> Tensor:
    """y[t, b, d] = Σ_n states[t, b, d, n] · C[t, b, group(d), n] as one batched matmul."""
    T, batch, dim, n_state = states.shape
    groups = C.shape[2]
    # (1, N) @ (N, d) on the transposed states: MKL's fast orientation (states @ C runs ~3x slower)
    y = C.view(T, batch, groups, 1, n_state) @ states.view(T, batch, groups, dim // groups, n_state).transpose(-1, -2)
    return y.view(T, batch, dim)


def _contract_d(w: Tensor, states: Tensor, groups: int) -> Tensor:
    """out[t, b, g, n] = Σ_{d in group g} w[t, b, d] · states[t, b, d, n] as one batched matmul."""
    T, batch, dim, n_state = states.shape
    out = w.reshape(T, batch, groups, 1, dim // groups) @ states.view(T, batch, groups, dim // groups, n_state)
    return out.view(T, batch, groups, n_state)


def scan_forward(args: ScanArgs, save_checkpoints: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Output (batch, dim, L) in u's dtype, last state (batch, dim, N) fp32/fp64, and checkpoints.

    The checkpoints are the states entering each chunk, in scan order, (chunks, batch, dim, N); when the
    sequence is one chunk and ``save_checkpoints`` is set, they are instead all its states H (L + 1, batch, dim,
    N) and, where both fit one block (``_CHUNK_ELEMENTS``), its decays a after them (2L + 1, batch, dim, N) (see
    ``_states``), which the backward then reuses instead of recomputing them.
    """
    work = _work_dtype(args)
    batch, dim, length = args.u.shape
    n_state = args.A.shape[1]
    A2 = args.A.to(work) * _LOG2E
    seq = _sequence(args, work)
    h = (
        args.initial_state.to(work)
        if args.initial_state is not None
        else args.u.new_zeros(batch, dim, n_state, dtype=work)
    )
    bounds = _chunks(args)
    keep_states = save_checkpoints and len(bounds) == 1
    # the decays too, where states and decays fit one block: a larger one would be a fresh mmap each call
    keep_decays = keep_states and (2 * length + 1) * batch * dim * n_state <= _CHUNK_ELEMENTS
    checkpoints = args.u.new_empty(len(bounds), batch, dim, n_state, dtype=work)
    y = args.u.new_empty(length, batch, dim, dtype=work)
    for k, (s, e) in enumerate(bounds):
        checkpoints[k] = h
        store = args.u.new_empty(2 * length + 1, batch, dim, n_state, dtype=work) if keep_decays else None
        _, H = _states(A2, seq, s, e, h, args.reverse, out=store)
        h = H[0] if args.reverse else H[-1]
        y[s:e] = _contract_n(H[:-1] if args.reverse else H[1:], seq.C[s:e])
        if keep_states:
            checkpoints = H if store is None else store  # the states (then the decays)
    out = _finish(args, y, seq.u, work)
    return out.permute(1, 2, 0).to(args.u.dtype), h.clone(), checkpoints


def _finish(args: ScanArgs, y: Tensor, u: Tensor, work: torch.dtype) -> Tensor:
    """Apply the skip D·u and the gate silu(z) to the time-major scan output y (L, batch, dim)."""
    if args.D is not None:
        y = y + args.D.to(work) * u
    if args.z is not None:
        y = y * F.silu(args.z.to(work).permute(2, 0, 1))
    return y


def scan_backward(
    args: ScanArgs, checkpoints: Tensor, grad_out: Tensor, grad_last: Tensor | None
) -> tuple[Tensor | None, ...]:
    """Gradients (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state) in the inputs' dtypes.

    With g_t = dL/dh_t (the adjoint state, g_t = C_t dy_t + exp(Δ_{t'} A) g_{t'} with t' the next scanned
    step) and x_t = Δ_t B_t u_t: dC_t = Σ_d dy_t h_t, dB_t = Σ_d g_t Δ_t u_t, d(Δu)_t = Σ_n g_t B_t and, with
    Q_t = g_t exp(Δ_t A) h_{t-1}, dA = Σ_{t,b} Q_t Δ_t and dΔ_t gets Σ_n Q_t A.
    """
    work = checkpoints.dtype
    batch, dim, length = args.u.shape
    groups, n_state = args.B.shape[1], args.B.shape[2]
    A = args.A.to(work)
    A2 = A * _LOG2E
    seq = _sequence(args, work)
    g_out = grad_out.to(work).permute(2, 0, 1)  # (L, b, d)
    z = None if args.z is None else args.z.to(work).permute(2, 0, 1)
    dy = (g_out * F.silu(z) if z is not None else g_out).contiguous()  # gradient of the ungated output
    y_ssm = None if z is None else seq.u.new_empty(length, batch, dim)
    ddt = seq.u.new_empty(length, batch, dim)
    ddtu = seq.u.new_empty(length, batch, dim)
    dB = seq.u.new_empty(length, batch, groups, n_state)
    dC = seq.u.new_empty(length, batch, groups, n_state)
    dA = torch.zeros_like(A)
    carry = grad_last.to(work) if grad_last is not None else None
    bounds = _chunks(args)
    for k in range(len(bounds) - 1, -1, -1):
        s, e = bounds[k]
        T = e - s
        if checkpoints.shape[0] == 2 * length + 1:  # all states and decays, saved by the forward: read only
            H, a = checkpoints[: length + 1], checkpoints[length + 1 :]
        elif checkpoints.shape[0] == length + 1:  # all states, saved by the forward: read only
            a, H = _states(A2, seq, s, e, checkpoints[0], args.reverse, H=checkpoints)
        else:
            a, H = _states(A2, seq, s, e, checkpoints[k], args.reverse)
        after, before = (H[:-1], H[1:]) if args.reverse else (H[1:], H[:-1])
        if y_ssm is not None:
            y_ssm[s:e] = _contract_n(after, seq.C[s:e])
        dC[s:e] = _contract_d(dy[s:e], after, groups)
        G = (dy[s:e].view(T, batch, groups, dim // groups, 1) * seq.C[s:e].view(T, batch, groups, 1, n_state)).view(
            T, batch, dim, n_state
        )
        # adjoint recurrence against the scan direction; carry = dL/d(state leaving the chunk)
        if args.reverse:
            if carry is not None:
                G[0] += carry
            for t in range(1, T):
                G[t].addcmul_(a[t - 1], G[t - 1])
            carry = a[T - 1] * G[T - 1]
        else:
            if carry is not None:
                G[T - 1] += carry
            for t in range(T - 2, -1, -1):
                G[t].addcmul_(a[t + 1], G[t + 1])
            carry = a[0] * G[0]
        dB[s:e] = _contract_d(seq.dtu[s:e], G, groups)
        ddtu[s:e] = _contract_n(G, seq.B[s:e])
        Q = G.mul_(a).mul_(before)  # g_t exp(Δ_t A) h_{t-1}, in G's memory (a may be the forward's)
        ddt_a = (Q * A).sum(-1)
        dA += Q.mul_(seq.dt[s:e, :, :, None]).sum((0, 1))
        ddt[s:e] = ddt_a
    ddt += ddtu * seq.u
    du = ddtu * seq.dt
    if args.D is not None:
        du += dy * args.D.to(work)
    dD = None if args.D is None else (dy * seq.u).sum((0, 1))
    dz = None
    if z is not None and y_ssm is not None:  # y_ssm is kept exactly when z is given
        y_pre = y_ssm if args.D is None else y_ssm + args.D.to(work) * seq.u
        sig = torch.sigmoid(z)
        dz = g_out * y_pre * sig * (1 + z * (1 - sig))
    if args.delta_softplus:
        ddt = torch.where(seq.raw > 20.0, ddt, ddt * torch.sigmoid(seq.raw))
    ddelta_bias = None if args.delta_bias is None else ddt.sum((0, 1))
    dh0 = None if args.initial_state is None else carry

    def cast(grad: Tensor | None, like: Tensor | None) -> Tensor | None:
        return None if grad is None or like is None else grad.to(like.dtype)

    def seq_layout(grad: Tensor | None) -> Tensor | None:  # (L, b, ...) -> (b, ..., L)
        return None if grad is None else grad.permute(*range(1, grad.dim()), 0)

    return (
        cast(seq_layout(du), args.u),
        cast(seq_layout(ddt), args.delta),
        cast(dA, args.A),
        cast(seq_layout(dB), args.B),
        cast(seq_layout(dC), args.C),
        cast(dD, args.D),
        cast(seq_layout(dz), args.z),
        cast(ddelta_bias, args.delta_bias),
        cast(dh0, args.initial_state),
    )
