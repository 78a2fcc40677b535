"""Triton backward of the selective scan (v2: one channel per lane, one warp per program), and its launcher.

A program owns 32 channels (inside one group) of one batch row on a single warp, with the state, the adjoint
and dA's accumulator as ``[N, 32]`` register tiles laid out one channel per lane (see scan_triton_fwd). It walks
the scanned steps backwards in tiles of ``T`` = ``CKPT_STEPS`` steps, the forward's checkpoint interval:
 1. recompute the tile's T states from the forward's checkpoint into a per-program scratch laid out
    [step][n][channel], so each n-row of a step is one coalesced 128-byte line written and read back by the
    same lanes (L1/L2-resident, no layout conversion); no (L, N) states are stored;
 2. walk the tile backwards with the adjoint in registers: g_t = C_t dy_t + q_{t+1} and q_t = a_t g_t, using
    a_t h_{t-1} = h_t - Δ_t B_t u_t (never dividing by a decay) for the dA and dΔ terms.
Every per-channel sum over N is in-thread; the only cross-lane work is dB_t and dC_t (sums over the block's 32
channels): a reduce-scatter over the warp (``_reduce_scatter_store``: N - 1 + log2(32/N) shuffles per sum, no
barrier, the result already one value per lane for the store) where an all-reduce would take 5·N shuffles.
dA, dD and dΔbias are accumulated per program and dB, dC per channel block into fp32 partial buffers that the
launcher sums: deterministic, no atomics. Steps past L are padding and act as the identity (Δ = 0: a = 1, input 0).

Few programs with long L (small batch·dim) would leave SMs idle, so the tiles are then split into chunks run in
parallel: pass 1 walks each chunk backwards with a zero adjoint at its end (q <- a (q + C dy) needs no states)
and keeps ΣΔ; a carry kernel chains the chunks; the walk kernel then runs every chunk from its true end-adjoint.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .l2_prefetch import CACHE_HINTS, prefetch_l2
from .scan_bc import bc_operands, bc_strides
from .scan_torch import ScanArgs
from .scan_triton_fwd import (
    CKPT_STEPS,
    LN2,
    LOG2E,
    NO_ALIGN_HINTS,
    _chain_chunks_kernel,
    _load_a_t,
    _time,
    a_strides,
    launch_options,
    softplus,
    state_n_major,
)

# Below min_programs programs (32 channels of one batch row each) the walk splits the tiles into chunks of at
# least min_tiles tiles that run in parallel: 64 steps whatever the tile length (with 8-step tiles and 4 tiles a
# chunk, ETTh1's (448, 32, 65) went chunked and ran 28 % slower).
# maxnreg: register cap per thread, as in FWD_CONFIG.
# prefetch: at the start of each tile, ask the L2 for the next tile's u, Δ, dy, z rows and its checkpoint, so that
# their loads do not wait on DRAM (47 % of the stall samples before: benchmarks/results/hold_h200_2026-12-02b.md).
BWD_CONFIG = {"min_programs": 4096, "min_tiles": 64 // CKPT_STEPS, "maxnreg": None, "prefetch": True}
BLOCK_D = 32


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp2(-x * LOG2E))


@triton.jit
def _store_n(row, x, offs_n, mask_n, s_pn, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Store an [N] vector produced by a reduction over the channels (every lane holds all N values): lane l
    picks x[l mod N] in its own registers and lanes < N store one value each. Storing x directly would give the
    store a layout of its own and a conversion through shared memory and a barrier every step. ``s_pn`` (= 1,
    without specialisation) keeps the compiler from vectorising the store into yet another layout."""
    if BLOCK_D >= BLOCK_N:
        lane = tl.arange(0, BLOCK_D)
        pick = offs_n[:, None] == (lane % BLOCK_N)[None, :]
        mine = tl.sum(tl.where(pick, x[:, None], 0.0), axis=0)
        ok = tl.sum(tl.where(pick, mask_n[:, None].to(tl.int32), 0), axis=0) > 0
        tl.store(row + (lane % BLOCK_N) * s_pn, mine, mask=ok & (lane < BLOCK_N))
    else:
        tl.store(row + offs_n, x, mask=mask_n)


@triton.jit
def _fold_half(x, lane, BIT: tl.constexpr, HALF: tl.constexpr, BLOCK_D: tl.constexpr):
    """[2·HALF, BLOCK_D] -> [HALF, BLOCK_D]: lane l adds its partner l ^ BIT's copy of the half of the rows it keeps
    (the upper half when its BIT is set) and hands over the other half: one shuffle per kept row. The reshape,
    permute and split only rename registers (the rows live in one lane)."""
    lo, hi = tl.split(tl.permute(tl.reshape(x, [2, HALF, BLOCK_D]), (1, 2, 0)))
    upper = ((lane & BIT) != 0)[None, :]
    partner = tl.broadcast_to((lane ^ BIT)[None, :], [HALF, BLOCK_D])
    return tl.where(upper, hi, lo) + tl.gather(tl.where(upper, lo, hi), partner, axis=1)


@triton.jit
def _reduce_scatter_store(row, x, ok, N: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Store Σ_lanes x[n, lane] for every n < N (where ``ok``) from an [N, 32] one-channel-per-lane tile.

    A reduce-scatter over the warp: log2(BLOCK_N) halving rounds leave lane l with row l // (32 / BLOCK_N) summed
    over BLOCK_N lanes; log2(32 / BLOCK_N) butterfly rounds finish the sum. BLOCK_N + log2(32 / BLOCK_N) - 1 shuffles
    per call where an all-reduce (``tl.sum`` over the lanes) takes 5·BLOCK_N, and the result is already spread one
    value per lane for the store. Needs BLOCK_D = 32 and BLOCK_N <= 32."""
    lane = tl.arange(0, BLOCK_D)
    if BLOCK_N >= 2:
        x = _fold_half(x, lane, 16, BLOCK_N // 2, BLOCK_D)
    if BLOCK_N >= 4:
        x = _fold_half(x, lane, 8, BLOCK_N // 4, BLOCK_D)
    if BLOCK_N >= 8:
        x = _fold_half(x, lane, 4, BLOCK_N // 8, BLOCK_D)
    if BLOCK_N >= 16:
        x = _fold_half(x, lane, 2, BLOCK_N // 16, BLOCK_D)
    if BLOCK_N >= 32:
        x = _fold_half(x, lane, 1, 1, BLOCK_D)
    v = tl.reshape(x, [BLOCK_D])
    SPREAD: tl.constexpr = BLOCK_D // BLOCK_N  # lanes that hold the same row after the halving rounds
    for s in tl.static_range(SPREAD.bit_length() - 1):
        v += tl.gather(v, lane ^ (1 << s), axis=0)
    n = lane // SPREAD
    tl.store(row + n, v, mask=ok & (lane % SPREAD == 0) & (n < N))


# s_in, s_qn: the N strides of the initial state and the carried adjoint, (N, dim)-major (state_n_major) and
# unspecialised like the checkpoints' pitch, so their loads take the state's one-channel-per-lane layout
@triton.jit(
    do_not_specialize=(*NO_ALIGN_HINTS, "s_pn", "s_in", "s_qn"), do_not_specialize_on_alignment=("scratch_ptr",)
)
def _scan_bwd_kernel(
    u_ptr,
    delta_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    init_ptr,
    ckpt_ptr,
    dout_ptr,
    dlast_ptr,
    du_ptr,
    ddelta_ptr,
    dz_ptr,
    dB_ptr,
    dC_ptr,
    dA_ptr,
    dD_ptr,
    dbias_ptr,
    dh0_ptr,
    scratch_ptr,
    s_sp: tl.constexpr,
    s_pn,
    L,
    dim,
    dim_per_group,
    n_tiles,
    tiles_per_chunk,
    s_qc,
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
    s_gb,
    s_gd,
    s_gl,
    s_ib,
    s_id,
    s_in,
    s_qb,
    s_qd,
    s_qn,
    s_xb,
    s_xd,
    s_xl,
    s_eb,
    s_ed,
    s_el,
    s_wb,
    s_wd,
    s_wl,
    N: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    T: tl.constexpr,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_INIT: tl.constexpr,
    HAS_DLAST: tl.constexpr,
    SCATTER: tl.constexpr,
    BC_UNIT: tl.constexpr = 1,
    PREFETCH: tl.constexpr = False,
):
    """Grid (channel blocks x batch, 1, chunks), batch folded into axis 0. Program axis 2 is a chunk of
    ``tiles_per_chunk`` tiles; its adjoint at the chunk's end comes from ``dlast_ptr`` (chunk stride ``s_qc``),
    computed by the chunk-carry pass.
    Checkpoints are (batch, n_tiles - 1, N, dim): slot k - 1 before tile k (tile 0 starts from the initial state).
    Partial outputs: dB, dC (batch, channel blocks, L, N); dA (batch·chunks, N, dim); dh0 (batch, N, dim)."""
    n_dblk = tl.cdiv(dim, BLOCK_D)  # batch is folded into axis 0: axes 1 and 2 allow only 65535 programs
    pid_d = tl.program_id(0) % n_dblk
    pid_b = (tl.program_id(0) // n_dblk).to(tl.int64)
    pid_c = tl.program_id(2)
    n_chunks = tl.num_programs(2)
    tile_lo = pid_c * tiles_per_chunk
    tile_hi = tl.minimum(tile_lo + tiles_per_chunk, n_tiles)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < dim
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < N
    mask_nd = mask_n[:, None] & mask_d[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    A2 = _load_a_t(A_ptr, offs_n, offs_d, mask_nd, s_ad, s_an)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    group = (pid_d * BLOCK_D) // dim_per_group
    state_off = offs_n[:, None] * dim + offs_d[None, :]
    # per-program scratch [T, BLOCK_N, BLOCK_D]: one 128-byte row per (step, n). Its row pitch ``s_sp`` (=
    # BLOCK_D) is a constexpr, so a step's N rows are one base register and immediate offsets (16 address
    # computations a step fewer in each loop than with a runtime pitch); ``scratch_ptr`` has no alignment
    # hint, so the compiler still does not vectorise the scratch along the channels (which would move the state
    # off the one-channel-per-lane layout)
    scratch = (
        scratch_ptr
        + ((pid_b * n_dblk + pid_d) * n_chunks + pid_c) * (T * BLOCK_N * s_sp)
        + offs_n[:, None] * s_sp
        + tl.arange(0, BLOCK_D)[None, :]
    )
    du_row = du_ptr + pid_b * s_xb + offs_d * s_xd
    ddt_row = ddelta_ptr + pid_b * s_eb + offs_d * s_ed
    dz_row = dz_ptr + pid_b * s_wb + offs_d * s_wd
    if HAS_DLAST:
        q = tl.load(
            dlast_ptr + pid_b * s_qb + pid_c * s_qc + offs_n[:, None] * s_qn + offs_d[None, :] * s_qd,
            mask=mask_nd,
            other=0.0,
        ).to(tl.float32)
    else:
        q = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dA_acc = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dD_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    u_row = u_ptr + pid_b * s_ub + offs_d * s_ud
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    g_row = dout_ptr + pid_b * s_gb + offs_d * s_gd
    # B/C strides come divided by BC_UNIT (bc_unit): multiplied back here, their alignment is known
    s_bb, s_bg, s_bl = s_bb * BC_UNIT, s_bg * BC_UNIT, s_bl * BC_UNIT
    s_cb, s_cg, s_cl = s_cb * BC_UNIT, s_cg * BC_UNIT, s_cl * BC_UNIT
    b_row = B_ptr + pid_b * s_bb + group * s_bg + offs_n * s_bn
    c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
    part_row = ((pid_b * n_dblk + pid_d) * L) * N

    for kk in range(0, tile_hi - tile_lo):
        k = tile_hi - 1 - kk
        if PREFETCH:  # the next tile's rows (tile k - 1: always whole) and checkpoint, while this one runs
            if k > tile_lo:
                t_p = _time((k - 1) * T + tl.arange(0, T), L, REVERSE)[:, None]
                ok_p = (t_p >= 0) & mask_d[None, :]  # always true along T: broadcasts the mask to [T, BLOCK_D]
                prefetch_l2(u_row[None, :] + t_p * s_ul, ok_p)
                prefetch_l2(d_row[None, :] + t_p * s_dl, ok_p)
                prefetch_l2(g_row[None, :] + t_p * s_gl, ok_p)
                if HAS_Z:
                    prefetch_l2(z_row[None, :] + t_p * s_zl, ok_p)
                if k > 1:
                    prefetch_l2(ckpt_ptr + (pid_b * (n_tiles - 1) + k - 2) * dim * N + state_off, mask_nd)
        # ---- recompute the tile's states (scan order) into the scratch ----
        h = tl.load(  # slot k - 1 holds the state before tile k; tile 0 starts from the initial state (or zeros)
            ckpt_ptr + (pid_b * (n_tiles - 1) + tl.maximum(k - 1, 0)) * dim * N + state_off,
            mask=mask_nd & (zero_d + k > 0)[None, :],
            other=0.0,
        )
        if HAS_INIT:
            h += tl.load(
                init_ptr + pid_b * s_ib + offs_n[:, None] * s_in + offs_d[None, :] * s_id,
                mask=mask_nd & (zero_d + k == 0)[None, :],
                other=0.0,
            ).to(tl.float32)
        t = _time(k * T, L, REVERSE)
        u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
        dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
        bv = tl.load(b_row + t * s_bl, mask=mask_n, other=0.0).to(tl.float32)
        steps = tl.minimum(L - k * T, T)  # the last tile may be partial: padding steps are skipped
        for j in range(0, steps):
            i = k * T + j
            t_n = _time(i + 1, L, REVERSE)
            u_n = tl.load(u_row + t_n * s_ul, mask=mask_d, other=0.0).to(tl.float32)
            dl_n = tl.load(d_row + t_n * s_dl, mask=mask_d, other=0.0).to(tl.float32)
            bv_n = tl.load(b_row + t_n * s_bl, mask=mask_n, other=0.0).to(tl.float32)
            dl = dl + bias
            if SOFTPLUS:
                dl = softplus(dl)
            dt = tl.where(zero_d + i < L, dl, 0.0)
            h = tl.exp2(dt[None, :] * A2) * h + (dt * u)[None, :] * bv[:, None]
            tl.store(scratch + j * (BLOCK_N * s_sp), h)
            u, dl, bv = u_n, dl_n, bv_n
        # ---- walk the tile backwards ----
        t = _time(k * T + steps - 1, L, REVERSE)
        u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
        dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
        go = tl.load(g_row + t * s_gl, mask=mask_d, other=0.0).to(tl.float32)
        z = tl.load(z_row + t * s_zl, mask=mask_d, other=0.0).to(tl.float32)
        bv = tl.load(b_row + t * s_bl, mask=mask_n, other=0.0).to(tl.float32)
        cv = tl.load(c_row + t * s_cl, mask=mask_n, other=0.0).to(tl.float32)
        hj = tl.load(scratch + (steps - 1) * (BLOCK_N * s_sp))
        for jj in range(0, steps):
            j = steps - 1 - jj
            i = k * T + j
            ok_d = zero_d + i < L
            t = _time(i, L, REVERSE)
            t_n = _time(tl.maximum(i - 1, 0), L, REVERSE)
            j_n = tl.maximum(j - 1, 0)
            u_n = tl.load(u_row + t_n * s_ul, mask=mask_d, other=0.0).to(tl.float32)
            dl_n = tl.load(d_row + t_n * s_dl, mask=mask_d, other=0.0).to(tl.float32)
            go_n = tl.load(g_row + t_n * s_gl, mask=mask_d, other=0.0).to(tl.float32)
            z_n = tl.load(z_row + t_n * s_zl, mask=mask_d, other=0.0).to(tl.float32)
            bv_n = tl.load(b_row + t_n * s_bl, mask=mask_n, other=0.0).to(tl.float32)
            cv_n = tl.load(c_row + t_n * s_cl, mask=mask_n, other=0.0).to(tl.float32)
            hj_n = tl.load(scratch + j_n * (BLOCK_N * s_sp))
            raw = dl + bias
            if SOFTPLUS:
                dt = softplus(raw)
            else:
                dt = raw
            dt = tl.where(ok_d, dt, 0.0)
            go = tl.where(ok_d, go, 0.0)
            if HAS_Z:
                y = tl.sum(hj * cv[:, None], axis=0) + Dv * u
                sz = _sigmoid(z)
                tl.store(dz_row + t * s_wl, go * y * sz * (1.0 + z * (1.0 - sz)), mask=mask_d & ok_d)
                dy = go * z * sz
            else:
                dy = go
            g = q + dy[None, :] * cv[:, None]
            dtu = dt * u
            P = g * (hj - dtu[None, :] * bv[:, None])  # g_t a_t h_{t-1}
            dA_acc += P * dt[None, :]
            gB = tl.sum(g * bv[:, None], axis=0)
            ddt = tl.sum(P * A2, axis=0) * LN2 + gB * u
            du = gB * dt + dy * Dv
            if SCATTER:
                ok_i = zero_d + i < L
                _reduce_scatter_store(dB_ptr + part_row + t * N, g * dtu[None, :], ok_i, N, BLOCK_N, BLOCK_D)
                _reduce_scatter_store(dC_ptr + part_row + t * N, hj * dy[None, :], ok_i, N, BLOCK_N, BLOCK_D)
            else:
                ok_n = mask_n & (offs_n * 0 + i < L)
                dB_t = tl.sum(g * dtu[None, :], axis=1)
                dC_t = tl.sum(hj * dy[None, :], axis=1)
                _store_n(dB_ptr + part_row + t * N, dB_t, offs_n, ok_n, s_pn, BLOCK_N, BLOCK_D)
                _store_n(dC_ptr + part_row + t * N, dC_t, offs_n, ok_n, s_pn, BLOCK_N, BLOCK_D)
            if SOFTPLUS:
                ddt = tl.where(raw > 20.0, ddt, ddt * _sigmoid(raw))
            ddt = tl.where(ok_d, ddt, 0.0)
            dbias_acc += ddt
            dD_acc += dy * u
            tl.store(du_row + t * s_xl, du, mask=mask_d & ok_d)
            tl.store(ddt_row + t * s_el, ddt, mask=mask_d & ok_d)
            q = tl.exp2(dt[None, :] * A2) * g
            u, dl, go, z, bv, cv, hj = u_n, dl_n, go_n, z_n, bv_n, cv_n, hj_n

    row = pid_b * n_chunks + pid_c
    tl.store(dA_ptr + row * dim * N + state_off, dA_acc, mask=mask_nd)
    tl.store(dD_ptr + row * dim + offs_d, dD_acc, mask=mask_d)
    tl.store(dbias_ptr + row * dim + offs_d, dbias_acc, mask=mask_d)
    if pid_c == 0:
        tl.store(dh0_ptr + pid_b * dim * N + state_off, q, mask=mask_nd)


@triton.jit(do_not_specialize=NO_ALIGN_HINTS)
def _bwd_chunk_adjoint_kernel(
    delta_ptr,
    A_ptr,
    C_ptr,
    z_ptr,
    bias_ptr,
    dout_ptr,
    qloc_ptr,
    dtsum_ptr,
    L,
    dim,
    dim_per_group,
    chunk_steps,
    s_db,
    s_dd,
    s_dl,
    s_ad,
    s_an,
    s_cb,
    s_cg,
    s_cn,
    s_cl,
    s_zb,
    s_zd,
    s_zl,
    s_gb,
    s_gd,
    s_gl,
    N: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr,
    BC_UNIT: tl.constexpr = 1,
):
    """Chunk-parallel pass 1: the adjoint leaving each chunk's first step when the adjoint at its end is
    zero, q <- a_t (q + C_t dy_t) walked backwards (no states needed), and the chunk's ΣΔ (its decay).
    Outputs (batch, chunks, N, dim) and (batch, chunks, dim)."""
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
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    group = (pid_d * BLOCK_D) // dim_per_group
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    g_row = dout_ptr + pid_b * s_gb + offs_d * s_gd
    s_cb, s_cg, s_cl = s_cb * BC_UNIT, s_cg * BC_UNIT, s_cl * BC_UNIT  # divided by BC_UNIT in the launcher
    c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
    lo = pid_c * chunk_steps
    hi = tl.minimum(lo + chunk_steps, L)
    q = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dtsum = tl.zeros([BLOCK_D], dtype=tl.float32)
    t = _time(hi - 1, L, REVERSE)
    dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
    go = tl.load(g_row + t * s_gl, mask=mask_d, other=0.0).to(tl.float32)
    z = tl.load(z_row + t * s_zl, mask=mask_d, other=0.0).to(tl.float32)
    cv = tl.load(c_row + t * s_cl, mask=mask_n, other=0.0).to(tl.float32)
    for ii in range(0, hi - lo):
        i = hi - 1 - ii
        t_n = _time(tl.maximum(i - 1, 0), L, REVERSE)
        dl_n = tl.load(d_row + t_n * s_dl, mask=mask_d, other=0.0).to(tl.float32)
        go_n = tl.load(g_row + t_n * s_gl, mask=mask_d, other=0.0).to(tl.float32)
        z_n = tl.load(z_row + t_n * s_zl, mask=mask_d, other=0.0).to(tl.float32)
        cv_n = tl.load(c_row + t_n * s_cl, mask=mask_n, other=0.0).to(tl.float32)
        raw = dl + bias
        if SOFTPLUS:
            dt = softplus(raw)
        else:
            dt = raw
        if HAS_Z:
            dy = go * z * _sigmoid(z)
        else:
            dy = go
        q = tl.exp2(dt[None, :] * A2) * (q + dy[None, :] * cv[:, None])
        dtsum += dt
        dl, go, z, cv = dl_n, go_n, z_n, cv_n
    base = pid_b * tl.num_programs(2) + pid_c
    tl.store(qloc_ptr + base * dim * N + offs_n[:, None] * dim + offs_d[None, :], q, mask=mask_nd)
    tl.store(dtsum_ptr + base * dim + offs_d, dtsum, mask=mask_d)


@triton.jit
def _scan_sum_partials_kernel(
    dB_part_ptr,
    dC_part_ptr,
    dB_ptr,
    dC_ptr,
    dA_part_ptr,
    dD_part_ptr,
    dbias_part_ptr,
    dA_ptr,
    dD_ptr,
    dbias_ptr,
    LN,
    per_group,
    n_bc_programs,
    rows,
    ND,
    dim,
    BLOCK_LN: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """The backward's partial sums in one launch (five torch reductions before). Programs below ``n_bc_programs``
    sum dB and dC over the channel blocks of a group: (batch·groups, per_group, L·N) -> (batch·groups, L·N). The
    others each sum one column block of dA (rows, N·dim), dD or dΔbias (rows, dim) over the rows, 256 rows a trip,
    in a fixed order (deterministic)."""
    pid = tl.program_id(0)
    if pid < n_bc_programs:
        n_blocks = tl.cdiv(LN, BLOCK_LN)
        bg = (pid // n_blocks).to(tl.int64)
        offs = (pid % n_blocks) * BLOCK_LN + tl.arange(0, BLOCK_LN)
        mask = offs < LN
        acc_b = tl.zeros([BLOCK_LN], dtype=tl.float32)
        acc_c = tl.zeros([BLOCK_LN], dtype=tl.float32)
        for k in range(0, per_group):
            src = (bg * per_group + k) * LN + offs
            acc_b += tl.load(dB_part_ptr + src, mask=mask, other=0.0)
            acc_c += tl.load(dC_part_ptr + src, mask=mask, other=0.0)
        tl.store(dB_ptr + bg * LN + offs, acc_b.to(dB_ptr.dtype.element_ty), mask=mask)
        tl.store(dC_ptr + bg * LN + offs, acc_c.to(dC_ptr.dtype.element_ty), mask=mask)
    else:
        block = pid - n_bc_programs
        a_blocks = tl.cdiv(ND, BLOCK_C)
        d_blocks = tl.cdiv(dim, BLOCK_C)
        src_ptr, dst_ptr, width, col0 = dA_part_ptr, dA_ptr, ND, block * BLOCK_C
        if block >= a_blocks + d_blocks:
            src_ptr, dst_ptr, width, col0 = dbias_part_ptr, dbias_ptr, dim, (block - a_blocks - d_blocks) * BLOCK_C
        elif block >= a_blocks:
            src_ptr, dst_ptr, width, col0 = dD_part_ptr, dD_ptr, dim, (block - a_blocks) * BLOCK_C
        cols = col0 + tl.arange(0, BLOCK_C)
        mask_c = cols < width
        acc = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
        for r0 in range(0, rows, BLOCK_R):
            r = r0 + tl.arange(0, BLOCK_R)
            mask = (r < rows)[:, None] & mask_c[None, :]
            acc += tl.load(src_ptr + r.to(tl.int64)[:, None] * width + cols[None, :], mask=mask, other=0.0)
        tl.store(dst_ptr + cols, tl.sum(acc, axis=0), mask=mask_c)


def sum_partials(
    dB_part: Tensor,
    dC_part: Tensor,
    dA_part: Tensor,
    dD_part: Tensor,
    dbias_part: Tensor,
    groups: int,
    bc_dtypes: tuple[torch.dtype, torch.dtype] = (torch.float32, torch.float32),
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(dB, dC) as (batch, groups, L, N) in ``bc_dtypes`` (B's and C's: summed in fp32, rounded once as they are
    stored, so no cast copies follow) from (batch, channel blocks, L, N) partials, and the fp32 row sums of dA
    (rows, N, dim), dD and dΔbias (rows, dim); contiguous, one kernel launch."""
    batch, n_dblk, length, n_state = dB_part.shape
    rows, _, dim = dA_part.shape
    dB = dB_part.new_empty(batch, groups, length, n_state, dtype=bc_dtypes[0])
    dC = dB_part.new_empty(batch, groups, length, n_state, dtype=bc_dtypes[1])
    dA = dA_part.new_empty(n_state, dim)
    dD = dA_part.new_empty(dim)
    dbias = torch.empty_like(dD)
    ln, nd = length * n_state, n_state * dim
    block_ln, block_c = min(1024, triton.next_power_of_2(ln)), 16
    n_bc = batch * groups * triton.cdiv(ln, block_ln)
    n_cols = triton.cdiv(nd, block_c) + 2 * triton.cdiv(dim, block_c)
    _scan_sum_partials_kernel[(n_bc + n_cols,)](
        dB_part, dC_part, dB, dC, dA_part, dD_part, dbias_part, dA, dD, dbias,
        ln, n_dblk // groups, n_bc, rows, nd, dim,
        BLOCK_LN=block_ln, BLOCK_R=256, BLOCK_C=block_c, num_warps=8,
    )  # fmt: skip
    return dB, dC, dA, dD, dbias


def _like_u(x: Tensor) -> Tensor:
    """An uninitialised (batch, dim, L) tensor with x's dtype, channel-last when x is (coalesced stores)."""
    batch, dim, length = x.shape
    if x.stride(1) == 1 and x.stride(2) != 1:
        return torch.empty(batch, length, dim, device=x.device, dtype=x.dtype).transpose(1, 2)
    return torch.empty(batch, dim, length, device=x.device, dtype=x.dtype)


def scan_backward(
    args: ScanArgs, checkpoints: Tensor, grad_out: Tensor, grad_last: Tensor | None, config: dict | None = None
) -> tuple[Tensor | None, ...]:
    """Gradients (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state) in the inputs' dtypes.

    ``checkpoints``: the forward's (batch, n_tiles - 1, N, dim) states before scanned steps CKPT_STEPS,
    2·CKPT_STEPS, ... (scan_triton_fwd.checkpoint_slots).
    """
    cfg = {**BWD_CONFIG, **(config or {})}
    u, delta, A = args.u, args.delta, args.A
    B, C, unit = bc_operands(args.B, args.C)
    batch, dim, length = u.shape
    groups, n_state = B.shape[1], B.shape[2]
    dpg = dim // groups
    # a power of two dividing dim/groups: every program's channels share one group
    block_d = min(BLOCK_D, dpg & -dpg, triton.next_power_of_2(dim))
    block_n = triton.next_power_of_2(n_state)
    n_dblk = dim // block_d
    n_tiles = triton.cdiv(length, CKPT_STEPS)
    dev = u.device
    f32 = torch.float32
    du = _like_u(u)
    ddelta = _like_u(delta)
    z = args.z if args.z is not None else u
    dz = _like_u(z) if args.z is not None else du
    dB_part = torch.empty(batch, n_dblk, length, n_state, device=dev, dtype=f32)
    dC_part = torch.empty(batch, n_dblk, length, n_state, device=dev, dtype=f32)
    n_chunks = 1
    programs = batch * n_dblk
    if programs < cfg["min_programs"] and n_tiles >= 2 * cfg["min_tiles"]:
        n_chunks = min(triton.cdiv(cfg["min_programs"], programs), n_tiles // cfg["min_tiles"])
    tiles_per_chunk = triton.cdiv(n_tiles, n_chunks)
    n_chunks = triton.cdiv(n_tiles, tiles_per_chunk)
    dA_part = torch.empty(batch * n_chunks, n_state, dim, device=dev, dtype=f32)
    dh0 = torch.empty(batch, n_state, dim, device=dev, dtype=f32)
    dD_part = torch.empty(batch * n_chunks, dim, device=dev, dtype=f32)
    dbias_part = torch.empty(batch * n_chunks, dim, device=dev, dtype=f32)
    D = args.D if args.D is not None else A
    bias = args.delta_bias if args.delta_bias is not None else A
    a_t = A.t().contiguous()
    flags = dict(
        N=n_state,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        HAS_Z=args.z is not None,
        HAS_BIAS=args.delta_bias is not None,
        SOFTPLUS=args.delta_softplus,
        REVERSE=args.reverse,
        BC_UNIT=unit,
    )
    grad_last = state_n_major(grad_last)
    dlast = grad_last if grad_last is not None else dh0
    # (batch, chunk, dim, N) strides of the adjoint entering each chunk's end
    dlast_strides = (dlast.stride(0), 0, dlast.stride(-2), dlast.stride(-1))
    if grad_last is None:
        dlast_strides = (0, 0, 0, 0)
    has_dlast = grad_last is not None
    if n_chunks > 1:
        qloc = torch.empty(batch, n_chunks, n_state, dim, device=dev, dtype=f32)
        dtsum = torch.empty(batch, n_chunks, dim, device=dev, dtype=f32)
        _bwd_chunk_adjoint_kernel[(n_dblk * batch, 1, n_chunks)](
            delta, a_t, C, z, bias, grad_out, qloc, dtsum, length, dim, dpg, tiles_per_chunk * CKPT_STEPS,
            *delta.stride(), *a_strides(a_t), *bc_strides(C, unit), *z.stride(), *grad_out.stride(),
            **flags, num_warps=1,
        )  # fmt: skip
        carry = torch.empty_like(qloc)
        _chain_chunks_kernel[(triton.cdiv(dim, 32) * batch,)](
            a_t, dlast, qloc, dtsum, carry, n_chunks, dim, *a_strides(a_t), *dlast_strides[:1], *dlast_strides[2:],
            N=n_state, BLOCK_N=block_n, BLOCK_D=32, HAS_START=has_dlast, REVERSE=True, num_warps=1,
        )  # fmt: skip
        dlast, has_dlast = carry, True
        dlast_strides = (carry.stride(0), carry.stride(1), carry.stride(3), carry.stride(2))
    init = state_n_major(args.initial_state)
    init_strides = (init.stride(0), init.stride(1), init.stride(2)) if init is not None else (0, 0, 0)
    scratch = torch.empty(programs * n_chunks * CKPT_STEPS * block_n * block_d, device=dev, dtype=f32)
    _scan_bwd_kernel[(n_dblk * batch, 1, n_chunks)](
        u, delta, a_t, B, C, D, z, bias, init if init is not None else u, checkpoints, grad_out, dlast,
        du, ddelta, dz, dB_part, dC_part, dA_part, dD_part, dbias_part, dh0, scratch, block_d, 1,
        length, dim, dpg, n_tiles, tiles_per_chunk, dlast_strides[1],
        *u.stride(), *delta.stride(), *a_strides(a_t), *bc_strides(B, unit), *bc_strides(C, unit), *z.stride(),
        *grad_out.stride(),
        *init_strides, dlast_strides[0], *dlast_strides[2:],
        *du.stride(), *ddelta.stride(), *dz.stride(),
        T=CKPT_STEPS, HAS_D=args.D is not None, HAS_INIT=init is not None, HAS_DLAST=has_dlast,
        SCATTER=block_d == 32 and block_n <= 32,  # else the all-reduce and _store_n (narrow groups, N > 32)
        PREFETCH=bool(cfg["prefetch"]) and CACHE_HINTS,
        **flags, **launch_options(1, cfg["maxnreg"]),
    )  # fmt: skip
    dB, dC, dA, dD, dbias = sum_partials(
        dB_part, dC_part, dA_part, dD_part, dbias_part, groups, (args.B.dtype, args.C.dtype)
    )
    return (
        du,
        ddelta,
        dA.t().to(A.dtype),
        dB.transpose(2, 3),
        dC.transpose(2, 3),
        None if args.D is None else dD.to(args.D.dtype),
        dz if args.z is not None else None,
        None if args.delta_bias is None else dbias.to(args.delta_bias.dtype),
        None if args.initial_state is None else dh0.transpose(1, 2).to(args.initial_state.dtype),
    )
