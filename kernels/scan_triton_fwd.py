"""Triton forward of the selective scan, and its launcher.

One program owns a block of ``BLOCK_D`` channels of one batch row and keeps their (BLOCK_D, N) state in
registers while it walks the time axis; the inputs of step t+1 are loaded before step t is computed
(prefetch), decays use exp2 with A pre-scaled by log2(e), and channel-last inputs ((batch, L, dim) tensors
seen as (batch, dim, L)) are read coalesced along dim. Steps are processed four per iteration with the next four
already in flight. The state before every ``CKPT``-th scanned step is
saved: the backward restarts from these checkpoints instead of storing all (L, N) states.

Small batch*dim with long L would leave most of the GPU idle, so the launcher then splits the scanned
steps into chunks run in parallel: pass 1 scans each chunk from a zero state and keeps its end state and
ΣΔ (the chunk's decay is exp(A·ΣΔ)); a tiny carry kernel chains the chunks; pass 2 rescans each chunk
from its true start state and writes the outputs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .scan_torch import ScanArgs

LOG2E = tl.constexpr(1.4426950408889634)
LN2 = tl.constexpr(0.6931471805599453)

# Checkpoint interval = the backward's tile length (steps per tile).
CKPT_STEPS = 16
# Forward tuning; None = chosen from the problem size (see _fwd_blocks). The benchmark sweep overrides these.
FWD_CONFIG = {"BLOCK_D": None, "num_warps": None, "min_programs": 1024, "min_chunk": 128}


def _fwd_blocks(channels: int, min_programs: int) -> tuple[int, int]:
    """(BLOCK_D, num_warps), from the H100 sweep in kernels/NOTES.md: 32 channels on 2 warps when that
    still gives ``min_programs`` programs; else 16 channels on 1 warp if that does (a single pass beats the
    two-pass chunked variant); else 32/2 with the chunked variant."""
    if channels // 32 >= min_programs or channels // 16 < min_programs:
        return 32, 2
    return 16, 1


@triton.jit
def _load_a_log2(A_ptr, offs_d, offs_n, mask_dn, s_ad, s_an):
    """A[offs_d, offs_n] in fp32, pre-scaled by log2(e) so that exp(Δ·A) = exp2(Δ·A2)."""
    A = tl.load(A_ptr + offs_d[:, None] * s_ad + offs_n[None, :] * s_an, mask=mask_dn, other=0.0).to(tl.float32)
    return A * LOG2E


@triton.jit
def softplus(x):
    """log(1 + e^x) with the CUDA kernel's threshold: the identity above 20."""
    return tl.where(x > 20.0, x, tl.log2(1.0 + tl.exp2(x * LOG2E)) * LN2)


@triton.jit
def _load_step(
    u_row, d_row, z_row, b_row, c_row, t, mask_d, mask_bc, s_ul, s_dl, s_zl, s_bl, s_cl, HAS_Z: tl.constexpr
):
    """Inputs of time step t (masked channels read as zero)."""
    u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
    dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
    bv = tl.load(b_row + t * s_bl, mask=mask_bc, other=0.0).to(tl.float32)
    cv = tl.load(c_row + t * s_cl, mask=mask_bc, other=0.0).to(tl.float32)
    if HAS_Z:
        z = tl.load(z_row + t * s_zl, mask=mask_d, other=0.0).to(tl.float32)
    else:
        z = u
    return u, dl, z, bv, cv


@triton.jit
def _time(i, L, REVERSE: tl.constexpr):
    """Time index of scan step i, clamped into [0, L) (steps past the end are masked by the caller)."""
    t = tl.minimum(i, L - 1)
    if REVERSE:
        t = L - 1 - t
    return t


@triton.jit
def _fwd_step(
    h,
    dtsum,
    u,
    dl,
    z,
    bv,
    cv,
    A2,
    bias,
    Dv,
    o_row,
    t,
    s_ol,
    ok,
    ONE_GROUP: tl.constexpr,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    STATES_ONLY: tl.constexpr,
):
    """One scan step for a block of channels; steps with ``ok`` false (past the end) are the identity."""
    if HAS_BIAS:
        dl = dl + bias
    if SOFTPLUS:
        dt = softplus(dl)
    else:
        dt = dl
    dt = tl.where(ok, dt, 0.0)
    if ONE_GROUP:
        drive = (dt * u)[:, None] * bv[None, :]
    else:
        drive = (dt * u)[:, None] * bv
    h = tl.exp2(dt[:, None] * A2) * h + drive
    if STATES_ONLY:
        dtsum += dt
    else:
        if ONE_GROUP:
            y = tl.sum(h * cv[None, :], axis=1)
        else:
            y = tl.sum(h * cv, axis=1)
        if HAS_D:
            y += Dv * u
        if HAS_Z:
            y = y * z / (1.0 + tl.exp2(-z * LOG2E))
        tl.store(o_row + t * s_ol, y, mask=ok)
    return h, dtsum


@triton.jit
def _fwd_kernel(
    u_ptr,
    delta_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    init_ptr,
    out_ptr,
    last_ptr,
    ckpt_ptr,
    end_ptr,
    dtsum_ptr,
    L,
    dim,
    dim_per_group,
    chunk_len,
    n_ckpt,
    s_ub,
    s_ud,
    s_ul,
    s_db,
    s_dd,
    s_dl,
    s_ad,
    s_an,
    s_bb,
    s_bg,
    s_bn,
    s_bl,
    s_cb,
    s_cg,
    s_cn,
    s_cl,
    s_zb,
    s_zd,
    s_zl,
    s_ib,
    s_ic,
    s_id,
    s_in,
    s_ob,
    s_od,
    s_ol,
    N: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    CKPT: tl.constexpr,
    ONE_GROUP: tl.constexpr,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_INIT: tl.constexpr,
    STATES_ONLY: tl.constexpr,
    SAVE_CKPT: tl.constexpr,
):
    pid_b = tl.program_id(0).to(tl.int64)
    pid_d = tl.program_id(1)
    pid_c = tl.program_id(2)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < dim
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < N
    mask_dn = mask_d[:, None] & mask_n[None, :]
    A2 = _load_a_log2(A_ptr, offs_d, offs_n, mask_dn, s_ad, s_an)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_row = u_ptr + pid_b * s_ub + offs_d * s_ud
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    if ONE_GROUP:
        group = (pid_d * BLOCK_D) // dim_per_group
        b_row = B_ptr + pid_b * s_bb + group * s_bg + offs_n * s_bn
        c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
        mask_bc = mask_n
    else:
        group = offs_d // dim_per_group
        b_row = B_ptr + pid_b * s_bb + group[:, None] * s_bg + offs_n[None, :] * s_bn
        c_row = C_ptr + pid_b * s_cb + group[:, None] * s_cg + offs_n[None, :] * s_cn
        mask_bc = mask_dn
    o_row = out_ptr + pid_b * s_ob + offs_d * s_od

    start = pid_c * chunk_len
    end = tl.minimum(start + chunk_len, L)
    if HAS_INIT:
        h = tl.load(
            init_ptr + pid_b * s_ib + pid_c * s_ic + offs_d[:, None] * s_id + offs_n[None, :] * s_in,
            mask=mask_dn,
            other=0.0,
        ).to(tl.float32)
    else:
        h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dtsum = tl.zeros([BLOCK_D], dtype=tl.float32)
    state_off = offs_d[:, None] * N + offs_n[None, :]

    # four steps per iteration; the next four are loaded before these are computed (prefetch)
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    u0, dl0, z0, b0, c0 = _load_step(
        u_row,
        d_row,
        z_row,
        b_row,
        c_row,
        _time(start, L, REVERSE),
        mask_d,
        mask_bc,
        s_ul,
        s_dl,
        s_zl,
        s_bl,
        s_cl,
        HAS_Z,
    )
    u1, dl1, z1, b1, c1 = _load_step(
        u_row,
        d_row,
        z_row,
        b_row,
        c_row,
        _time(start + 1, L, REVERSE),
        mask_d,
        mask_bc,
        s_ul,
        s_dl,
        s_zl,
        s_bl,
        s_cl,
        HAS_Z,
    )
    u2, dl2, z2, b2, c2 = _load_step(
        u_row,
        d_row,
        z_row,
        b_row,
        c_row,
        _time(start + 2, L, REVERSE),
        mask_d,
        mask_bc,
        s_ul,
        s_dl,
        s_zl,
        s_bl,
        s_cl,
        HAS_Z,
    )
    u3, dl3, z3, b3, c3 = _load_step(
        u_row,
        d_row,
        z_row,
        b_row,
        c_row,
        _time(start + 3, L, REVERSE),
        mask_d,
        mask_bc,
        s_ul,
        s_dl,
        s_zl,
        s_bl,
        s_cl,
        HAS_Z,
    )
    for i in range(start, end, 4):
        p_u0, p_dl0, p_z0, p_b0, p_c0 = _load_step(
            u_row,
            d_row,
            z_row,
            b_row,
            c_row,
            _time(i + 4, L, REVERSE),
            mask_d,
            mask_bc,
            s_ul,
            s_dl,
            s_zl,
            s_bl,
            s_cl,
            HAS_Z,
        )
        p_u1, p_dl1, p_z1, p_b1, p_c1 = _load_step(
            u_row,
            d_row,
            z_row,
            b_row,
            c_row,
            _time(i + 5, L, REVERSE),
            mask_d,
            mask_bc,
            s_ul,
            s_dl,
            s_zl,
            s_bl,
            s_cl,
            HAS_Z,
        )
        p_u2, p_dl2, p_z2, p_b2, p_c2 = _load_step(
            u_row,
            d_row,
            z_row,
            b_row,
            c_row,
            _time(i + 6, L, REVERSE),
            mask_d,
            mask_bc,
            s_ul,
            s_dl,
            s_zl,
            s_bl,
            s_cl,
            HAS_Z,
        )
        p_u3, p_dl3, p_z3, p_b3, p_c3 = _load_step(
            u_row,
            d_row,
            z_row,
            b_row,
            c_row,
            _time(i + 7, L, REVERSE),
            mask_d,
            mask_bc,
            s_ul,
            s_dl,
            s_zl,
            s_bl,
            s_cl,
            HAS_Z,
        )
        if SAVE_CKPT:
            if i % CKPT == 0:
                tl.store(ckpt_ptr + (pid_b * n_ckpt + i // CKPT) * dim * N + state_off, h, mask=mask_dn)
        h, dtsum = _fwd_step(
            h,
            dtsum,
            u0,
            dl0,
            z0,
            b0,
            c0,
            A2,
            bias,
            Dv,
            o_row,
            _time(i, L, REVERSE),
            s_ol,
            mask_d & (zero_d + i < end),
            ONE_GROUP,
            HAS_D,
            HAS_Z,
            HAS_BIAS,
            SOFTPLUS,
            STATES_ONLY,
        )
        h, dtsum = _fwd_step(
            h,
            dtsum,
            u1,
            dl1,
            z1,
            b1,
            c1,
            A2,
            bias,
            Dv,
            o_row,
            _time(i + 1, L, REVERSE),
            s_ol,
            mask_d & (zero_d + i + 1 < end),
            ONE_GROUP,
            HAS_D,
            HAS_Z,
            HAS_BIAS,
            SOFTPLUS,
            STATES_ONLY,
        )
        h, dtsum = _fwd_step(
            h,
            dtsum,
            u2,
            dl2,
            z2,
            b2,
            c2,
            A2,
            bias,
            Dv,
            o_row,
            _time(i + 2, L, REVERSE),
            s_ol,
            mask_d & (zero_d + i + 2 < end),
            ONE_GROUP,
            HAS_D,
            HAS_Z,
            HAS_BIAS,
            SOFTPLUS,
            STATES_ONLY,
        )
        h, dtsum = _fwd_step(
            h,
            dtsum,
            u3,
            dl3,
            z3,
            b3,
            c3,
            A2,
            bias,
            Dv,
            o_row,
            _time(i + 3, L, REVERSE),
            s_ol,
            mask_d & (zero_d + i + 3 < end),
            ONE_GROUP,
            HAS_D,
            HAS_Z,
            HAS_BIAS,
            SOFTPLUS,
            STATES_ONLY,
        )
        u0, dl0, z0, b0, c0 = p_u0, p_dl0, p_z0, p_b0, p_c0
        u1, dl1, z1, b1, c1 = p_u1, p_dl1, p_z1, p_b1, p_c1
        u2, dl2, z2, b2, c2 = p_u2, p_dl2, p_z2, p_b2, p_c2
        u3, dl3, z3, b3, c3 = p_u3, p_dl3, p_z3, p_b3, p_c3
    if STATES_ONLY:
        tl.store(end_ptr + (pid_b * tl.num_programs(2) + pid_c) * dim * N + state_off, h, mask=mask_dn)
        tl.store(dtsum_ptr + (pid_b * tl.num_programs(2) + pid_c) * dim + offs_d, dtsum, mask=mask_d)
    else:
        if end == L:
            tl.store(last_ptr + pid_b * dim * N + state_off, h, mask=mask_dn)


@triton.jit
def _chain_chunks_kernel(
    A_ptr,
    start_ptr,
    local_ptr,
    dtsum_ptr,
    carry_ptr,
    n_chunks,
    dim,
    s_ad,
    s_an,
    s_sb,
    s_sd,
    s_sn,
    N: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    HAS_START: tl.constexpr,
    REVERSE: tl.constexpr,
):
    """Chain per-chunk results in scan order: carry_c = what enters chunk c; next = exp(A·ΣΔ_c) carry_c + local_c.

    Forward: local = chunk end states from a zero start, carry = true chunk start states. Backward (REVERSE,
    chunks visited last to first): local = chunk adjoints from a zero end-adjoint, carry = true end-adjoints.
    """
    pid_b = tl.program_id(0).to(tl.int64)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_dn = mask_d[:, None] & (offs_n < N)[None, :]
    A2 = _load_a_log2(A_ptr, offs_d, offs_n, mask_dn, s_ad, s_an)
    off = offs_d[:, None] * N + offs_n[None, :]
    if HAS_START:
        h = tl.load(
            start_ptr + pid_b * s_sb + offs_d[:, None] * s_sd + offs_n[None, :] * s_sn, mask=mask_dn, other=0.0
        ).to(tl.float32)
    else:
        h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    for k in range(n_chunks):
        c = n_chunks - 1 - k if REVERSE else k
        base = pid_b * n_chunks + c
        tl.store(carry_ptr + base * dim * N + off, h, mask=mask_dn)
        dts = tl.load(dtsum_ptr + base * dim + offs_d, mask=mask_d, other=0.0)
        h = tl.exp2(dts[:, None] * A2) * h + tl.load(local_ptr + base * dim * N + off, mask=mask_dn, other=0.0)


def _block_d(dim: int, dim_per_group: int, limit: int) -> tuple[int, bool]:
    """Channel block and whether it always lies inside one group (then B/C load as one (N,) row)."""
    block = min(limit, triton.next_power_of_2(dim))
    one_group = dim_per_group % block == 0
    if not one_group:
        largest = dim_per_group & -dim_per_group  # largest power of two dividing dim_per_group
        if largest >= 8 or largest == dim_per_group:
            block, one_group = min(block, largest), True
    return block, one_group


def _init_strides(x: Tensor | None, chunk_stride: int = 0) -> tuple[int, int, int, int]:
    if x is None:
        return 0, 0, 0, 0
    return x.stride(0), chunk_stride, x.stride(1), x.stride(2)


def scan_forward(
    args: ScanArgs, save_checkpoints: bool = True, config: dict | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Output (batch, dim, L) in u's dtype, last state (batch, dim, N) fp32, checkpoints (batch, n, dim, N).

    Without ``save_checkpoints`` (inference) the checkpoints are not written: the returned tensor is empty.
    """
    cfg = {**FWD_CONFIG, **(config or {})}
    u, delta, A, B, C = args.u, args.delta, args.A, args.B, args.C
    batch, dim, length = u.shape
    groups, n_state = B.shape[1], B.shape[2]
    dpg = dim // groups
    auto_block, auto_warps = _fwd_blocks(batch * dim, cfg["min_programs"])
    num_warps = cfg["num_warps"] or auto_warps
    block_d, one_group = _block_d(dim, dpg, cfg["BLOCK_D"] or auto_block)
    block_n = triton.next_power_of_2(n_state)
    n_ckpt = triton.cdiv(length, CKPT_STEPS)
    out = torch.empty(batch, dim, length, device=u.device, dtype=u.dtype)
    last = torch.empty(batch, dim, n_state, device=u.device, dtype=torch.float32)
    ckpt = torch.empty(batch, n_ckpt if save_checkpoints else 0, dim, n_state, device=u.device, dtype=torch.float32)
    n_dblk = triton.cdiv(dim, block_d)
    programs = batch * n_dblk
    n_chunks = 1
    if programs < cfg["min_programs"] and length >= 2 * cfg["min_chunk"]:
        n_chunks = min(triton.cdiv(cfg["min_programs"], programs), length // cfg["min_chunk"])
    chunk_len = triton.cdiv(triton.cdiv(length, n_chunks), CKPT_STEPS) * CKPT_STEPS
    n_chunks = triton.cdiv(length, chunk_len)
    z = args.z if args.z is not None else u
    D = args.D if args.D is not None else A
    bias = args.delta_bias if args.delta_bias is not None else A
    common = dict(
        N=n_state,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        CKPT=CKPT_STEPS,
        ONE_GROUP=one_group,
        HAS_D=args.D is not None,
        HAS_Z=args.z is not None,
        HAS_BIAS=args.delta_bias is not None,
        SOFTPLUS=args.delta_softplus,
        REVERSE=args.reverse,
        num_warps=num_warps,
    )
    strides = (*u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *z.stride())
    init = args.initial_state
    if n_chunks > 1:
        ends = torch.empty(batch, n_chunks, dim, n_state, device=u.device, dtype=torch.float32)
        dtsum = torch.empty(batch, n_chunks, dim, device=u.device, dtype=torch.float32)
        grid = (batch, n_dblk, n_chunks)
        _fwd_kernel[grid](
            u,
            delta,
            A,
            B,
            C,
            D,
            z,
            bias,
            u,
            out,
            last,
            last,
            ends,
            dtsum,
            length,
            dim,
            dpg,
            chunk_len,
            n_ckpt,
            *strides,
            0,
            0,
            0,
            0,
            *out.stride(),
            HAS_INIT=False,
            STATES_ONLY=True,
            SAVE_CKPT=False,
            **common,
        )
        chunk_init = torch.empty_like(ends)
        _chain_chunks_kernel[(batch, n_dblk)](
            A,
            init if init is not None else A,
            ends,
            dtsum,
            chunk_init,
            n_chunks,
            dim,
            *A.stride(),
            *(_init_strides(init)[i] for i in (0, 2, 3)),
            N=n_state,
            BLOCK_N=block_n,
            BLOCK_D=block_d,
            HAS_START=init is not None,
            REVERSE=False,
            num_warps=num_warps,
        )
        init_args = (chunk_init, *_init_strides(chunk_init[:, 0], chunk_init.stride(1)))
        has_init = True
    else:
        grid = (batch, n_dblk, 1)
        init_args = (init if init is not None else u, *_init_strides(init))
        has_init = init is not None
    ckpt_arg = ckpt if save_checkpoints else last  # never written without SAVE_CKPT
    _fwd_kernel[grid](
        u,
        delta,
        A,
        B,
        C,
        D,
        z,
        bias,
        init_args[0],
        out,
        last,
        ckpt_arg,
        last,
        last,
        length,
        dim,
        dpg,
        chunk_len,
        n_ckpt,
        *strides,
        *init_args[1:],
        *out.stride(),
        HAS_INIT=has_init,
        STATES_ONLY=False,
        SAVE_CKPT=save_checkpoints,
        **common,
    )
    return out, last, ckpt
