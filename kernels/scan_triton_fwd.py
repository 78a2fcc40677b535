"""Triton forward of the selective scan (v2: one channel per lane), and its launcher.

A program owns ``BLOCK_D`` = 32·num_warps channels of one batch row. Its state is an ``[N, BLOCK_D]`` register
tile laid out with one channel per lane and the N state entries in that lane's registers, so every per-channel
quantity (softplus, silu, D·u) is computed once per lane, ``y = Σ_n C_n h_n`` is an in-thread sum, and a step
needs no shuffle, shared memory or barrier (tests/kernels/test_scan_triton_compiled_layout.py checks this on the
sm_90 compile). What keeps that layout in plain Triton: A is read transposed as ``[N, BLOCK_D]``; the per-channel
inputs are 1-D ``[BLOCK_D]`` rows; B_t and C_t are ``[N]`` rows broadcast as ``b[:, None]`` (every lane loads
the same 16 values: one L1 line); softplus uses the hardware log2.

Steps go four per iteration with the next four already loaded (prefetch). Decays use exp2 with A pre-scaled by
log2(e). The state before every ``CKPT``-th scanned step but step 0 (the backward takes the initial state
itself) is saved for the backward, which recomputes a tile of states from it instead of storing all (L, N)
states.

Small batch·dim with long L would leave most of the GPU idle, so the launcher then splits the scanned steps
into chunks run in parallel: pass 1 scans each chunk from a zero state and keeps its end state and ΣΔ (the
chunk's decay is exp(A·ΣΔ)); a tiny carry kernel chains the chunks; pass 2 rescans each chunk from its true
start state and writes the outputs.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.extra import libdevice

from .scan_bc import bc_operands, bc_strides
from .scan_torch import ScanArgs

LOG2E = tl.constexpr(1.4426950408889634)
LN2 = tl.constexpr(0.6931471805599453)
# the hardware lg2 (libdevice's log2f is a long software sequence); the interpreter has no libdevice
FAST_LOG = tl.constexpr(os.environ.get("TRITON_INTERPRET") != "1")

# Launch arguments that Triton must not specialize on: a divisibility hint on dim (the pitch of the (N, dim)
# tiles: A^T, checkpoints) lets the coalescer vectorise those tiles along the channels, which moves the whole
# state off the one-channel-per-lane layout.
NO_ALIGN_HINTS = ("dim", "s_an")

# Checkpoint interval = the backward's tile length (steps per tile). 8, not 16: the backward's recompute scratch
# (steps x N x 32 channels x 4 bytes a program) is then 16 KB a program, 128 KB for the 8 programs an SM holds,
# within the L1, where 16 steps' 256 KB missed it (L1 hit rate 30 %, 0.8 GB of DRAM traffic a call beyond the
# compulsory at the Weather token shape); fwd+bwd -5 to -9 % at TSM2's Weather shapes, -10 to -16 % with the
# backward's prefetch (benchmarks/results/hold_h200_2026-12-02b.md).
CKPT_STEPS = 8


def checkpoint_slots(length: int) -> int:
    """Checkpoints the forward saves for a backward over ``length`` steps: the states before steps CKPT_STEPS,
    2·CKPT_STEPS, ... (not step 0's: that is the initial state, which the backward reads itself)."""
    return max(-(-length // CKPT_STEPS) - 1, 0)


# Forward tuning; None = chosen from the problem size (see _fwd_warps). The benchmark sweep overrides these.
# maxnreg: a register cap per thread for the training forward (it writes checkpoints) and the chunked path's
# states-only pass, applied where their grid has at least maxnreg_min_warps warps; None = the compiler's choice.
# maxnreg_inference: the cap of the inference forward (no checkpoints), always applied. Under Triton 3.6 (the GPU
# image's) the inference forward compiles to 130 registers at fp32 (3.9: 167), over 128, the most that lets 16
# warps (4 programs of 4 warps) share an SM; capped at 128 it uses 127 without spills and ran 6-30 % faster on the
# H200 at five shapes (benchmarks/results/scan_hold_h200_2026-12-01c.md). The training forward uses 168 registers,
# so 12 warps share an SM (1584 on the H200's 132 SMs); capped at 128 it spills 3 accesses a step but fits 16: it
# ran 2-27 % faster where its grid had 2048 warps or more, and 20 % slower at 448 warps, where every program is
# resident either way (benchmarks/results/scan_hold_h200_2026-12-01d.md). maxnreg_16bit, the same cap for
# fp16/bf16 inputs (B/C copied contiguous: scan_bc), compiles to 128 registers without spills (Triton 3.6)
# and ran 1-3 % faster at TSM2's two capped shapes (scan_hold_h200_2026-12-01e.md).
FWD_CONFIG = {
    "num_warps": None,
    "min_programs": 2048,
    "min_chunk": 64,
    "maxnreg": 128,
    "maxnreg_16bit": 128,
    "maxnreg_min_warps": 1600,
    "maxnreg_inference": 128,
}


def launch_options(num_warps: int, maxnreg: int | None) -> dict:
    """Triton launch options; ``maxnreg`` only when set (the interpreter takes no such option)."""
    return {"num_warps": num_warps} if maxnreg is None else {"num_warps": num_warps, "maxnreg": maxnreg}


def forward_maxnreg(cfg: dict, inference: bool, grid_warps: int, half: bool) -> int | None:
    """Register cap of a forward launch: ``maxnreg_inference`` for the inference forward; ``maxnreg`` (with fp16/bf16
    inputs ``maxnreg_16bit``) for the others only when their grid has ``maxnreg_min_warps`` warps or more (a cap
    buys occupancy with spills, which pays only when the grid does not fit on the GPU at the compiler's own
    register count)."""
    if inference:
        return cfg["maxnreg_inference"]
    return cfg["maxnreg_16bit" if half else "maxnreg"] if grid_warps >= cfg["maxnreg_min_warps"] else None


def _fwd_warps(channels: int, min_programs: int) -> int:
    """Warps per program (32 channels each): 2 while that still gives ``min_programs`` programs, else 1."""
    return 2 if channels // 64 >= min_programs else 1


@triton.jit
def _load_a_t(A_ptr, offs_n, offs_d, mask_nd, s_ad, s_an):
    """A^T as an [N, BLOCK_D] fp32 tile pre-scaled by log2(e), so that exp(Δ·A) = exp2(Δ·A2)."""
    A = tl.load(A_ptr + offs_n[:, None] * s_an + offs_d[None, :] * s_ad, mask=mask_nd, other=0.0).to(tl.float32)
    return A * LOG2E


@triton.jit
def _log2(x):
    if FAST_LOG:
        return libdevice.fast_log2f(x)
    else:
        return tl.log2(x)


@triton.jit
def _fdiv(x, y):
    """x / y with the fast approximate division (the IEEE one is a long sequence); exact in the interpreter."""
    if FAST_LOG:
        return tl.fdiv(x, y, ieee_rounding=False)
    else:
        return x / y


@triton.jit
def softplus(x):
    """log(1 + e^x) with the CUDA kernel's threshold: the identity above 20."""
    return tl.where(x > 20.0, x, _log2(1.0 + tl.exp2(x * LOG2E)) * LN2)


@triton.jit
def _time(i, L, REVERSE: tl.constexpr):
    """Time index of scan step i, clamped into [0, L) (steps past the end are masked by the caller)."""
    t = tl.minimum(i, L - 1)
    if REVERSE:
        t = L - 1 - t
    return t


@triton.jit
def _load_bc(b_row, c_row, t, s_bl, s_cl, mask):
    """B_t and C_t: [N] rows (one group per program) or [N, BLOCK_D] tiles (per-channel groups)."""
    bv = tl.load(b_row + t * s_bl, mask=mask, other=0.0).to(tl.float32)
    cv = tl.load(c_row + t * s_cl, mask=mask, other=0.0).to(tl.float32)
    return bv, cv


@triton.jit
def _bcast(x, ONE_GROUP: tl.constexpr):
    if ONE_GROUP:
        return x[:, None]
    else:
        return x


@triton.jit
def _load_step(u_row, d_row, z_row, t, mask_d, s_ul, s_dl, s_zl, HAS_Z: tl.constexpr):
    """Per-channel inputs of time step t (masked channels read as zero): one register per lane each."""
    u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
    dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_Z:
        z = tl.load(z_row + t * s_zl, mask=mask_d, other=0.0).to(tl.float32)
    else:
        z = u
    return u, dl, z


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
    h = tl.exp2(dt[None, :] * A2) * h + (dt * u)[None, :] * _bcast(bv, ONE_GROUP)
    if STATES_ONLY:
        dtsum += dt
    else:
        y = tl.sum(h * _bcast(cv, ONE_GROUP), axis=0)
        if HAS_D:
            y += Dv * u
        if HAS_Z:
            y = _fdiv(y * z, 1.0 + tl.exp2(-z * LOG2E))
        tl.store(o_row + t * s_ol, y, mask=ok)
    return h, dtsum


# s_in: the N stride of the start state (a caller's or the chunked path's carried one), (N, dim)-major
# (state_n_major) and unspecialised, so its load takes the state's one-channel-per-lane layout
@triton.jit(do_not_specialize=(*NO_ALIGN_HINTS, "s_in"))
def _scan_fwd_kernel(
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
    SAVE_LAST: tl.constexpr,
    BC_UNIT: tl.constexpr = 1,
):
    """Grid (channel blocks x batch, 1, chunks), batch folded into axis 0: the channel blocks of one batch row
    run side by side and share that row's B and C in L2. Slot k - 1 of the (batch, n_ckpt, N, dim) checkpoint
    buffer is the state before scanned step k·CKPT (k >= 1)."""
    n_dblk = tl.cdiv(dim, BLOCK_D)  # batch is folded into axis 0: axes 1 and 2 allow only 65535 programs
    pid_d = tl.program_id(0) % n_dblk
    pid_b = (tl.program_id(0) // n_dblk).to(tl.int64)
    pid_c = tl.program_id(2)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < dim
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < N
    mask_nd = mask_n[:, None] & mask_d[None, :]
    A2 = _load_a_t(A_ptr, offs_n, offs_d, mask_nd, s_ad, s_an)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_row = u_ptr + pid_b * s_ub + offs_d * s_ud
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    # B/C strides come divided by BC_UNIT (bc_unit): multiplied back here, their alignment is known
    s_bb, s_bg, s_bl = s_bb * BC_UNIT, s_bg * BC_UNIT, s_bl * BC_UNIT
    s_cb, s_cg, s_cl = s_cb * BC_UNIT, s_cg * BC_UNIT, s_cl * BC_UNIT
    if ONE_GROUP:
        group = (pid_d * BLOCK_D) // dim_per_group
        b_row = B_ptr + pid_b * s_bb + group * s_bg + offs_n * s_bn
        c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
        mask_bc = mask_n
    else:
        group = offs_d // dim_per_group
        b_row = B_ptr + pid_b * s_bb + group[None, :] * s_bg + offs_n[:, None] * s_bn
        c_row = C_ptr + pid_b * s_cb + group[None, :] * s_cg + offs_n[:, None] * s_cn
        mask_bc = mask_nd
    o_row = out_ptr + pid_b * s_ob + offs_d * s_od

    start = pid_c * chunk_len
    end = tl.minimum(start + chunk_len, L)
    if HAS_INIT:
        h = tl.load(
            init_ptr + pid_b * s_ib + pid_c * s_ic + offs_n[:, None] * s_in + offs_d[None, :] * s_id,
            mask=mask_nd,
            other=0.0,
        ).to(tl.float32)
    else:
        h = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dtsum = tl.zeros([BLOCK_D], dtype=tl.float32)
    # checkpoints and chunk end states are (N, dim) per batch row: one coalesced row per n
    state_off = offs_n[:, None] * dim + offs_d[None, :]

    # four steps per iteration: the per-channel inputs (one register per lane each) of the next four steps are
    # loaded before these four are computed; B_t and C_t (N registers per lane each) one step ahead
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    u0, dl0, z0 = _load_step(u_row, d_row, z_row, _time(start, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
    u1, dl1, z1 = _load_step(u_row, d_row, z_row, _time(start + 1, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
    u2, dl2, z2 = _load_step(u_row, d_row, z_row, _time(start + 2, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
    u3, dl3, z3 = _load_step(u_row, d_row, z_row, _time(start + 3, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
    b0, c0 = _load_bc(b_row, c_row, _time(start, L, REVERSE), s_bl, s_cl, mask_bc)
    for i in range(start, end, 4):
        p_u0, p_dl0, p_z0 = _load_step(u_row, d_row, z_row, _time(i + 4, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
        p_u1, p_dl1, p_z1 = _load_step(u_row, d_row, z_row, _time(i + 5, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
        p_u2, p_dl2, p_z2 = _load_step(u_row, d_row, z_row, _time(i + 6, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
        p_u3, p_dl3, p_z3 = _load_step(u_row, d_row, z_row, _time(i + 7, L, REVERSE), mask_d, s_ul, s_dl, s_zl, HAS_Z)
        if SAVE_CKPT:
            if (i % CKPT == 0) & (i > 0):
                tl.store(ckpt_ptr + (pid_b * n_ckpt + i // CKPT - 1) * dim * N + state_off, h, mask=mask_nd)
        b1, c1 = _load_bc(b_row, c_row, _time(i + 1, L, REVERSE), s_bl, s_cl, mask_bc)
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
        b2, c2 = _load_bc(b_row, c_row, _time(i + 2, L, REVERSE), s_bl, s_cl, mask_bc)
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
        b3, c3 = _load_bc(b_row, c_row, _time(i + 3, L, REVERSE), s_bl, s_cl, mask_bc)
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
        p_b0, p_c0 = _load_bc(b_row, c_row, _time(i + 4, L, REVERSE), s_bl, s_cl, mask_bc)
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
        b0, c0 = p_b0, p_c0
        u0, dl0, z0 = p_u0, p_dl0, p_z0
        u1, dl1, z1 = p_u1, p_dl1, p_z1
        u2, dl2, z2 = p_u2, p_dl2, p_z2
        u3, dl3, z3 = p_u3, p_dl3, p_z3
    if STATES_ONLY:
        tl.store(end_ptr + (pid_b * tl.num_programs(2) + pid_c) * dim * N + state_off, h, mask=mask_nd)
        tl.store(dtsum_ptr + (pid_b * tl.num_programs(2) + pid_c) * dim + offs_d, dtsum, mask=mask_d)
    else:
        if SAVE_LAST:
            if end == L:
                tl.store(last_ptr + pid_b * dim * N + state_off, h, mask=mask_nd)


@triton.jit(do_not_specialize=NO_ALIGN_HINTS)
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
    Buffers are (batch, n_chunks, N, dim) fp32; grid (channel blocks x batch,).
    """
    n_dblk = tl.cdiv(dim, BLOCK_D)  # batch is folded into axis 0: axes 1 and 2 allow only 65535 programs
    pid_d = tl.program_id(0) % n_dblk
    pid_b = (tl.program_id(0) // n_dblk).to(tl.int64)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_nd = (offs_n < N)[:, None] & mask_d[None, :]
    A2 = _load_a_t(A_ptr, offs_n, offs_d, mask_nd, s_ad, s_an)
    off = offs_n[:, None] * dim + offs_d[None, :]
    if HAS_START:
        h = tl.load(
            start_ptr + pid_b * s_sb + offs_n[:, None] * s_sn + offs_d[None, :] * s_sd, mask=mask_nd, other=0.0
        ).to(tl.float32)
    else:
        h = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    for k in range(n_chunks):
        c = n_chunks - 1 - k if REVERSE else k
        base = pid_b * n_chunks + c
        tl.store(carry_ptr + base * dim * N + off, h, mask=mask_nd)
        dts = tl.load(dtsum_ptr + base * dim + offs_d, mask=mask_d, other=0.0)
        h = tl.exp2(dts[None, :] * A2) * h + tl.load(local_ptr + base * dim * N + off, mask=mask_nd, other=0.0)


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


def state_n_major(state: Tensor | None) -> Tensor | None:
    """A (batch, dim, N) state (initial state, adjoint of the last state) as a view of a (batch, N, dim) tensor, as
    the checkpoints are laid out: its loads are then unit-stride along the channels with an unspecialised N
    stride, which keeps the state tile one channel per lane. Loaded with its N values adjacent (a contiguous
    (batch, dim, N) tensor), the coalescer vectorises along N and moves the whole step loop into another layout
    (shared memory and barriers every step: tests/kernels/test_scan_triton_compiled_layout.py)."""
    return None if state is None else state.transpose(1, 2).contiguous().transpose(1, 2)


def a_strides(a_t: Tensor) -> tuple[int, int]:
    """(stride along dim, stride along N) of A^T held as an (N, dim) tensor."""
    return a_t.stride(1), a_t.stride(0)


def scan_forward(
    args: ScanArgs, save_checkpoints: bool = True, config: dict | None = None, save_last: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Output (batch, dim, L) in u's dtype, last state (batch, dim, N) fp32, checkpoints (batch, n, N, dim): the
    states before scanned steps CKPT_STEPS, 2·CKPT_STEPS, ... (n = checkpoint_slots(L), none for L <= CKPT_STEPS).

    Without ``save_checkpoints`` (inference) the checkpoints are not written: the returned tensor is 1-D and empty.
    Without ``save_last`` the last state is not written (its tensor is left uninitialised).
    """
    cfg = {**FWD_CONFIG, **(config or {})}
    u, delta, A = args.u, args.delta, args.A
    B, C, unit = bc_operands(args.B, args.C)
    batch, dim, length = u.shape
    groups, n_state = B.shape[1], B.shape[2]
    dpg = dim // groups
    num_warps = cfg["num_warps"] or _fwd_warps(batch * dim, cfg["min_programs"])
    block_d, one_group = _block_d(dim, dpg, 32 * num_warps)
    block_n = triton.next_power_of_2(n_state)
    n_ckpt = checkpoint_slots(length)
    # output channel-last like u when u is: the store of each step is then one coalesced row
    if u.stride(1) == 1 and u.stride(2) != 1:
        out = torch.empty(batch, length, dim, device=u.device, dtype=u.dtype).transpose(1, 2)
    else:
        out = torch.empty(batch, dim, length, device=u.device, dtype=u.dtype)
    # written (N, dim) per batch row like the checkpoints (coalesced, no layout change); returned as a view
    last = torch.empty(batch, n_state, dim, device=u.device, dtype=torch.float32).transpose(1, 2)
    ckpt_shape = (batch, n_ckpt, n_state, dim) if save_checkpoints else (0,)  # 1-D empty: "none saved"
    ckpt = torch.empty(ckpt_shape, device=u.device, dtype=torch.float32)
    n_dblk = triton.cdiv(dim, block_d)
    programs = batch * n_dblk
    n_chunks = 1
    if programs < cfg["min_programs"] and length >= 2 * cfg["min_chunk"]:
        n_chunks = min(triton.cdiv(cfg["min_programs"], programs), length // cfg["min_chunk"])
    chunk_len = triton.cdiv(triton.cdiv(length, n_chunks), CKPT_STEPS) * CKPT_STEPS
    n_chunks = triton.cdiv(length, chunk_len)
    grid = (n_dblk * batch, 1, n_chunks)
    grid_warps = n_dblk * batch * n_chunks * num_warps
    half = u.dtype in (torch.float16, torch.bfloat16)
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
        BC_UNIT=unit,
    )
    a_t = A.t().contiguous()  # (N, dim): A^T rows load coalesced in the state's layout
    strides = (*u.stride(), *delta.stride(), *a_strides(a_t), *bc_strides(B, unit), *bc_strides(C, unit), *z.stride())
    init = state_n_major(args.initial_state)
    if n_chunks > 1:
        ends = torch.empty(batch, n_chunks, n_state, dim, device=u.device, dtype=torch.float32)
        dtsum = torch.empty(batch, n_chunks, dim, device=u.device, dtype=torch.float32)
        _scan_fwd_kernel[grid](
            u, delta, a_t, B, C, D, z, bias, u, out, last, last, ends, dtsum, length, dim, dpg, chunk_len, n_ckpt,
            *strides, 0, 0, 0, 0, *out.stride(),
            HAS_INIT=False, STATES_ONLY=True, SAVE_CKPT=False, SAVE_LAST=False, **common,
            **launch_options(num_warps, forward_maxnreg(cfg, False, grid_warps, half)),
        )  # fmt: skip
        chunk_init = torch.empty_like(ends)
        _chain_chunks_kernel[(triton.cdiv(dim, 32) * batch,)](
            a_t, init if init is not None else A, ends, dtsum, chunk_init, n_chunks, dim, *a_strides(a_t),
            *(_init_strides(init)[i] for i in (0, 2, 3)),
            N=n_state, BLOCK_N=block_n, BLOCK_D=32, HAS_START=init is not None, REVERSE=False, num_warps=1,
        )  # fmt: skip
        init_args = (chunk_init, *_init_strides(chunk_init.transpose(2, 3)[:, 0], chunk_init.stride(1)))
        has_init = True
    else:
        init_args = (init if init is not None else u, *_init_strides(init))
        has_init = init is not None
    ckpt_arg = ckpt if save_checkpoints else last  # never written without SAVE_CKPT
    _scan_fwd_kernel[grid](
        u, delta, a_t, B, C, D, z, bias, init_args[0], out, last, ckpt_arg, last, last, length, dim, dpg, chunk_len,
        n_ckpt, *strides, *init_args[1:], *out.stride(),
        HAS_INIT=has_init, STATES_ONLY=False, SAVE_CKPT=save_checkpoints, SAVE_LAST=save_last, **common,
        **launch_options(num_warps, forward_maxnreg(cfg, not save_checkpoints, grid_warps, half)),
    )  # fmt: skip
    return out, last, ckpt
