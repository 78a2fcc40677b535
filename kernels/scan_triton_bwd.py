"""Triton backward of the selective scan, and its launcher.

One program owns ``BLOCK_D`` channels (inside one group) of one batch row and walks the scanned steps
backwards in tiles of ``T`` = ``CKPT_STEPS`` steps, the forward's checkpoint interval. For a tile it
 1. recomputes the tile's T states from the forward's checkpoint, one step at a time, into a small
    per-program scratch that the same threads read back at once (L1/L2-resident) — no (L, N) states are
    stored;
 2. walks the tile backwards with the adjoint state in registers: g_t = C_t dy_t + q_{t+1} and
    q_t = a_t g_t, using a_t h_{t-1} = h_t - Δ_t B_t u_t (never dividing by a decay) for the dA and dΔ terms.
dA, dD and dΔbias are accumulated per program and dB, dC per channel block into fp32 partial buffers that
the launcher sums: deterministic, no atomics. dB and dC are reduced over the block's channels every step
(``BWD_CONFIG["variant"] = "loop"``) or, with ``"tile_reduce"``, once per few steps after each tile's walk from
per-step terms kept in the scratch (fewer cross-warp reductions, more scratch bytes; kernels/NOTES.md, v6).
Steps past L are padding and act as the identity (Δ = 0: a = 1, input 0).

Few programs with long L (small batch*dim) would leave SMs idle, so the tiles are then split into chunks
run in parallel: pass 1 walks each chunk backwards with a zero adjoint at its end (q <- a (q + C dy) needs
no states) and keeps ΣΔ; a carry kernel chains the chunks; the loop kernel then runs every chunk from its
true end-adjoint. An earlier variant that scanned whole (T, BLOCK_D, N) register tiles with
``tl.associative_scan`` was 1.1-1.9x slower on the H100 (kernels/NOTES.md, commit f9744dc).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .scan_torch import ScanArgs
from .scan_triton_fwd import CKPT_STEPS, LOG2E, _chain_chunks_kernel, _load_a_log2, _time, softplus

# BLOCK_D / num_warps None = 32 channels on 4 warps when that gives >= 4096 programs, else 16 on 2 (H100 sweeps,
# benchmarks/results/kernel_h100.md).
# Below min_programs programs the loop kernel splits the tiles into chunks (>= min_tiles tiles) run in parallel.
# variant "loop": dB and dC reduced over the channel block every step; "tile_reduce": their per-step terms go to the
# scratch and are reduced once per red_steps steps after each tile's walk (see _bwd_kernel).
# bc_2d: load B and C rows in the state's 2-D layout (see _bwd_kernel); None = on with "tile_reduce" only.
BWD_CONFIG = {
    "BLOCK_D": None,
    "num_warps": None,
    "min_programs": 2048,
    "min_tiles": 8,
    "variant": "loop",
    "red_steps": 4,
    "bc_2d": None,
}
VARIANTS = ("loop", "tile_reduce")


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp2(-x * LOG2E))


@triton.jit
def _bcast_n(x, IS_2D: tl.constexpr):
    """x as a [BLOCK_D, BLOCK_N] operand: already 2-D (loaded per channel row), or an (N,) row to broadcast."""
    if IS_2D:
        return x
    else:
        return x[None, :]


@triton.jit
def _bwd_kernel(
    u_ptr,
    delta_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
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
    HAS_DLAST: tl.constexpr,
    TILE_REDUCE: tl.constexpr,
    RED_STEPS: tl.constexpr,
    BC_2D: tl.constexpr,
):
    """Per tile: recompute the T states into a small per-program scratch, then walk the tile backwards one
    step at a time with the adjoint state in registers. Program axis 2 is
    a chunk of ``tiles_per_chunk`` tiles (chunk-parallel variant); its adjoint at the chunk's end comes from
    ``dlast_ptr`` (chunk stride ``s_qc``), computed by the chunk-carry pass.

    TILE_REDUCE: the walk stores g_t Δ_t u_t (dB's terms) and dy_t into the scratch beside the states instead of
    reducing dB and dC over the channels every step (two cross-warp reductions and barriers per step); after the
    walk, [RED_STEPS, BLOCK_D, BLOCK_N] blocks of the scratch are reduced over the channels at once. The
    scratch is then read by threads other than its writers, hence the barriers around that phase.

    BC_2D: B_t and C_t are loaded as [BLOCK_D, BLOCK_N] tiles (each channel row reads the same N values) in the
    layout of the state, instead of (N,) rows that the compiler converts through shared memory every step."""
    pid_b = tl.program_id(0).to(tl.int64)
    pid_d = tl.program_id(1)
    n_dblk = tl.num_programs(1)
    pid_c = tl.program_id(2)
    n_chunks = tl.num_programs(2)
    tile_lo = pid_c * tiles_per_chunk
    tile_hi = tl.minimum(tile_lo + tiles_per_chunk, n_tiles)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < dim
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < N
    mask_dn = mask_d[:, None] & mask_n[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    zero_n = tl.zeros([BLOCK_N], dtype=tl.int32)
    A = tl.load(A_ptr + offs_d[:, None] * s_ad + offs_n[None, :] * s_an, mask=mask_dn, other=0.0).to(tl.float32)
    A2 = A * LOG2E
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    group = (pid_d * BLOCK_D) // dim_per_group
    state_off = offs_d[:, None] * N + offs_n[None, :]
    local_off = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + offs_n[None, :]
    # scratch per program: the T states [T, BLOCK_D, BLOCK_N]; with TILE_REDUCE also g Δ u (same shape) and dy
    # [T, BLOCK_D]
    if TILE_REDUCE:
        prog_scratch = scratch_ptr + ((pid_b * n_dblk + pid_d) * n_chunks + pid_c) * (T * BLOCK_D * (2 * BLOCK_N + 1))
    else:
        prog_scratch = scratch_ptr + ((pid_b * n_dblk + pid_d) * n_chunks + pid_c) * (T * BLOCK_D * BLOCK_N)
    scratch = prog_scratch + local_off
    gdtu_scratch = scratch + T * BLOCK_D * BLOCK_N
    dy_scratch = prog_scratch + 2 * T * BLOCK_D * BLOCK_N + tl.arange(0, BLOCK_D)
    offs_s = tl.arange(0, RED_STEPS)
    red_off = (offs_s[:, None, None] * BLOCK_D + tl.arange(0, BLOCK_D)[None, :, None]) * BLOCK_N + offs_n[None, None, :]
    dy_red_off = offs_s[:, None] * BLOCK_D + tl.arange(0, BLOCK_D)[None, :]
    du_row = du_ptr + pid_b * s_xb + offs_d * s_xd
    ddt_row = ddelta_ptr + pid_b * s_eb + offs_d * s_ed
    dz_row = dz_ptr + pid_b * s_wb + offs_d * s_wd
    if HAS_DLAST:
        q = tl.load(
            dlast_ptr + pid_b * s_qb + pid_c * s_qc + offs_d[:, None] * s_qd + offs_n[None, :] * s_qn,
            mask=mask_dn,
            other=0.0,
        ).to(tl.float32)
    else:
        q = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dA_acc = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dD_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    u_row = u_ptr + pid_b * s_ub + offs_d * s_ud
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    g_row = dout_ptr + pid_b * s_gb + offs_d * s_gd
    b_row = B_ptr + pid_b * s_bb + group * s_bg + offs_n * s_bn
    c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
    if BC_2D:
        # B and C rows loaded straight into the state's 2-D layout (one copy per channel row, L1 hits): no
        # per-step layout conversion of the (N,) rows through shared memory
        zero_dn = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.int32)
        b_ld = b_row[None, :] + zero_dn
        c_ld = c_row[None, :] + zero_dn
        mask_bc = mask_dn
    else:
        b_ld = b_row
        c_ld = c_row
        mask_bc = mask_n
    part_bc = ((pid_b * n_dblk + pid_d) * N + offs_n) * L

    for kk in range(0, tile_hi - tile_lo):
        k = tile_hi - 1 - kk
        # ---- recompute the tile's states (scan order) into the scratch ----
        h = tl.load(ckpt_ptr + (pid_b * n_tiles + k) * dim * N + state_off, mask=mask_dn, other=0.0)
        t = _time(k * T, L, REVERSE)
        u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
        dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
        bv = tl.load(b_ld + t * s_bl, mask=mask_bc, other=0.0).to(tl.float32)
        for j in range(T):
            i = k * T + j
            t_n = _time(i + 1, L, REVERSE)
            u_n = tl.load(u_row + t_n * s_ul, mask=mask_d, other=0.0).to(tl.float32)
            dl_n = tl.load(d_row + t_n * s_dl, mask=mask_d, other=0.0).to(tl.float32)
            bv_n = tl.load(b_ld + t_n * s_bl, mask=mask_bc, other=0.0).to(tl.float32)
            dl = dl + bias
            if SOFTPLUS:
                dl = softplus(dl)
            dt = tl.where(zero_d + i < L, dl, 0.0)
            h = tl.exp2(dt[:, None] * A2) * h + (dt * u)[:, None] * _bcast_n(bv, BC_2D)
            tl.store(scratch + j * (BLOCK_D * BLOCK_N), h)
            u, dl, bv = u_n, dl_n, bv_n
        # ---- walk the tile backwards ----
        t = _time(k * T + T - 1, L, REVERSE)
        u = tl.load(u_row + t * s_ul, mask=mask_d, other=0.0).to(tl.float32)
        dl = tl.load(d_row + t * s_dl, mask=mask_d, other=0.0).to(tl.float32)
        go = tl.load(g_row + t * s_gl, mask=mask_d, other=0.0).to(tl.float32)
        z = tl.load(z_row + t * s_zl, mask=mask_d, other=0.0).to(tl.float32)
        bv = tl.load(b_ld + t * s_bl, mask=mask_bc, other=0.0).to(tl.float32)
        cv = tl.load(c_ld + t * s_cl, mask=mask_bc, other=0.0).to(tl.float32)
        hj = tl.load(scratch + (T - 1) * (BLOCK_D * BLOCK_N))
        for jj in range(T):
            j = T - 1 - jj
            i = k * T + j
            ok_d = zero_d + i < L
            t = _time(i, L, REVERSE)
            t_n = _time(tl.maximum(i - 1, 0), L, REVERSE)
            j_n = tl.maximum(j - 1, 0)
            u_n = tl.load(u_row + t_n * s_ul, mask=mask_d, other=0.0).to(tl.float32)
            dl_n = tl.load(d_row + t_n * s_dl, mask=mask_d, other=0.0).to(tl.float32)
            go_n = tl.load(g_row + t_n * s_gl, mask=mask_d, other=0.0).to(tl.float32)
            z_n = tl.load(z_row + t_n * s_zl, mask=mask_d, other=0.0).to(tl.float32)
            bv_n = tl.load(b_ld + t_n * s_bl, mask=mask_bc, other=0.0).to(tl.float32)
            cv_n = tl.load(c_ld + t_n * s_cl, mask=mask_bc, other=0.0).to(tl.float32)
            hj_n = tl.load(scratch + j_n * (BLOCK_D * BLOCK_N))
            raw = dl + bias
            if SOFTPLUS:
                dt = softplus(raw)
            else:
                dt = raw
            dt = tl.where(ok_d, dt, 0.0)
            go = tl.where(ok_d, go, 0.0)
            if HAS_Z:
                y = tl.sum(hj * _bcast_n(cv, BC_2D), axis=1) + Dv * u
                sz = _sigmoid(z)
                tl.store(dz_row + t * s_wl, go * y * sz * (1.0 + z * (1.0 - sz)), mask=mask_d & ok_d)
                dy = go * z * sz
            else:
                dy = go
            g = q + dy[:, None] * _bcast_n(cv, BC_2D)
            dtu = dt * u
            P = g * (hj - dtu[:, None] * _bcast_n(bv, BC_2D))  # g_t a_t h_{t-1}
            dA_acc += P * dt[:, None]
            gB = tl.sum(g * _bcast_n(bv, BC_2D), axis=1)
            ddt = tl.sum(P * A, axis=1) + gB * u
            du = gB * dt + dy * Dv
            if TILE_REDUCE:
                tl.store(gdtu_scratch + j * (BLOCK_D * BLOCK_N), g * dtu[:, None])
                tl.store(dy_scratch + j * BLOCK_D, dy)
            else:
                ok_n = mask_n & (zero_n + i < L)
                tl.store(dB_ptr + part_bc + t, tl.sum(g * dtu[:, None], axis=0), mask=ok_n)
                tl.store(dC_ptr + part_bc + t, tl.sum(hj * dy[:, None], axis=0), mask=ok_n)
            if SOFTPLUS:
                ddt = tl.where(raw > 20.0, ddt, ddt * _sigmoid(raw))
            ddt = tl.where(ok_d, ddt, 0.0)
            dbias_acc += ddt
            dD_acc += dy * u
            tl.store(du_row + t * s_xl, du, mask=mask_d & ok_d)
            tl.store(ddt_row + t * s_el, ddt, mask=mask_d & ok_d)
            q = tl.exp2(dt[:, None] * A2) * g
            u, dl, go, z, bv, cv, hj = u_n, dl_n, go_n, z_n, bv_n, cv_n, hj_n
        if TILE_REDUCE:
            # ---- dB, dC of the tile: one channel reduction per RED_STEPS steps ----
            tl.debug_barrier()
            for s in range(0, T, RED_STEPS):
                hs = tl.load(prog_scratch + s * (BLOCK_D * BLOCK_N) + red_off)
                gs = tl.load(prog_scratch + (T + s) * (BLOCK_D * BLOCK_N) + red_off)
                dys = tl.load(prog_scratch + 2 * T * BLOCK_D * BLOCK_N + s * BLOCK_D + dy_red_off)
                i_s = k * T + s + offs_s
                t_s = _time(i_s, L, REVERSE)
                ok_sn = (i_s < L)[:, None] & mask_n[None, :]
                red_ptrs = part_bc[None, :] + t_s[:, None]
                tl.store(dB_ptr + red_ptrs, tl.sum(gs, axis=1), mask=ok_sn)
                tl.store(dC_ptr + red_ptrs, tl.sum(hs * dys[:, :, None], axis=1), mask=ok_sn)
            tl.debug_barrier()

    row = pid_b * n_chunks + pid_c
    tl.store(dA_ptr + row * dim * N + state_off, dA_acc, mask=mask_dn)
    tl.store(dD_ptr + row * dim + offs_d, dD_acc, mask=mask_d)
    tl.store(dbias_ptr + row * dim + offs_d, dbias_acc, mask=mask_d)
    if pid_c == 0:
        tl.store(dh0_ptr + pid_b * dim * N + state_off, q, mask=mask_dn)


@triton.jit
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
):
    """Chunk-parallel pass 1: the adjoint leaving each chunk's first step when the adjoint at its end is
    zero, q <- a_t (q + C_t dy_t) walked backwards (no states needed), and the chunk's ΣΔ (its decay)."""
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
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    group = (pid_d * BLOCK_D) // dim_per_group
    d_row = delta_ptr + pid_b * s_db + offs_d * s_dd
    z_row = z_ptr + pid_b * s_zb + offs_d * s_zd
    g_row = dout_ptr + pid_b * s_gb + offs_d * s_gd
    c_row = C_ptr + pid_b * s_cb + group * s_cg + offs_n * s_cn
    lo = pid_c * chunk_steps
    hi = tl.minimum(lo + chunk_steps, L)
    q = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
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
        q = tl.exp2(dt[:, None] * A2) * (q + dy[:, None] * cv[None, :])
        dtsum += dt
        dl, go, z, cv = dl_n, go_n, z_n, cv_n
    base = pid_b * tl.num_programs(2) + pid_c
    tl.store(qloc_ptr + base * dim * N + offs_d[:, None] * N + offs_n[None, :], q, mask=mask_dn)
    tl.store(dtsum_ptr + base * dim + offs_d, dtsum, mask=mask_d)


def scan_backward(
    args: ScanArgs, checkpoints: Tensor, grad_out: Tensor, grad_last: Tensor | None, config: dict | None = None
) -> tuple[Tensor | None, ...]:
    """Gradients (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state) in the inputs' dtypes."""
    cfg = {**BWD_CONFIG, **(config or {})}
    if cfg["variant"] not in VARIANTS:
        raise ValueError(f"unknown backward variant {cfg['variant']!r}; expected one of {VARIANTS}")
    tile_reduce = cfg["variant"] == "tile_reduce"
    bc_2d = tile_reduce if cfg["bc_2d"] is None else bool(cfg["bc_2d"])
    red_steps = min(cfg["red_steps"], CKPT_STEPS)
    if red_steps & (red_steps - 1) or red_steps < 1:
        raise ValueError(f"red_steps must be a power of two, got {red_steps}")
    u, delta, A, B, C = args.u, args.delta, args.A, args.B, args.C
    batch, dim, length = u.shape
    groups, n_state = B.shape[1], B.shape[2]
    dpg = dim // groups
    # a power of two dividing dim/groups: every program's channels share one group
    big = batch * dim // 32 >= 4096
    block_d = min(cfg["BLOCK_D"] or (32 if big else 16), dpg & -dpg)
    block_n = triton.next_power_of_2(n_state)
    n_dblk = dim // block_d
    n_tiles = checkpoints.shape[1]
    dev = u.device
    f32 = torch.float32
    du = torch.empty_like(u)
    ddelta = torch.empty_like(delta)
    z = args.z if args.z is not None else u
    dz = torch.empty_like(z) if args.z is not None else du
    dB_part = torch.empty(batch, n_dblk, n_state, length, device=dev, dtype=f32)
    dC_part = torch.empty(batch, n_dblk, n_state, length, device=dev, dtype=f32)
    n_chunks = 1
    programs = batch * n_dblk
    if programs < cfg["min_programs"] and n_tiles >= 2 * cfg["min_tiles"]:
        n_chunks = min(triton.cdiv(cfg["min_programs"], programs), n_tiles // cfg["min_tiles"])
    tiles_per_chunk = triton.cdiv(n_tiles, n_chunks)
    n_chunks = triton.cdiv(n_tiles, tiles_per_chunk)
    dA_part = torch.empty(batch * n_chunks, dim, n_state, device=dev, dtype=f32)
    dh0 = torch.empty(batch, dim, n_state, device=dev, dtype=f32)
    dD_part = torch.empty(batch * n_chunks, dim, device=dev, dtype=f32)
    dbias_part = torch.empty(batch * n_chunks, dim, device=dev, dtype=f32)
    D = args.D if args.D is not None else A
    bias = args.delta_bias if args.delta_bias is not None else A
    flags = dict(
        N=n_state,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        HAS_Z=args.z is not None,
        HAS_BIAS=args.delta_bias is not None,
        SOFTPLUS=args.delta_softplus,
        REVERSE=args.reverse,
    )
    num_warps = cfg["num_warps"] or (4 if big else 2)
    dlast = grad_last if grad_last is not None else dh0
    dlast_strides = (dlast.stride(0), 0, *dlast.stride()[1:])
    has_dlast = grad_last is not None
    if n_chunks > 1:
        qloc = torch.empty(batch, n_chunks, dim, n_state, device=dev, dtype=f32)
        dtsum = torch.empty(batch, n_chunks, dim, device=dev, dtype=f32)
        _bwd_chunk_adjoint_kernel[(batch, n_dblk, n_chunks)](
            delta,
            A,
            C,
            z,
            bias,
            grad_out,
            qloc,
            dtsum,
            length,
            dim,
            dpg,
            tiles_per_chunk * CKPT_STEPS,
            *delta.stride(),
            *A.stride(),
            *C.stride(),
            *z.stride(),
            *grad_out.stride(),
            **flags,
            num_warps=num_warps,
        )
        carry = torch.empty_like(qloc)
        _chain_chunks_kernel[(batch, n_dblk)](
            A,
            dlast,
            qloc,
            dtsum,
            carry,
            n_chunks,
            dim,
            *A.stride(),
            *dlast.stride(),
            N=n_state,
            BLOCK_N=block_n,
            BLOCK_D=block_d,
            HAS_START=has_dlast,
            REVERSE=True,
            num_warps=num_warps,
        )
        dlast, has_dlast = carry, True
        dlast_strides = (carry.stride(0), carry.stride(1), carry.stride(2), carry.stride(3))
    common = (
        u,
        delta,
        A,
        B,
        C,
        D,
        z,
        bias,
        checkpoints,
        grad_out,
        dlast,
        du,
        ddelta,
        dz,
        dB_part,
        dC_part,
        dA_part,
        dD_part,
        dbias_part,
        dh0,
    )
    strides = (*u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *z.stride(), *grad_out.stride())
    out_strides = (*du.stride(), *ddelta.stride(), *dz.stride())
    per_program = CKPT_STEPS * block_d * (2 * block_n + 1 if tile_reduce else block_n)
    scratch = torch.empty(programs * n_chunks * per_program, device=dev, dtype=f32)
    _bwd_kernel[(batch, n_dblk, n_chunks)](
        *common,
        scratch,
        length,
        dim,
        dpg,
        n_tiles,
        tiles_per_chunk,
        dlast_strides[1],
        *strides,
        dlast_strides[0],
        *dlast_strides[2:],
        *out_strides,
        T=CKPT_STEPS,
        HAS_D=args.D is not None,
        HAS_DLAST=has_dlast,
        TILE_REDUCE=tile_reduce,
        RED_STEPS=red_steps,
        BC_2D=bc_2d,
        **flags,
        num_warps=num_warps,
    )
    per_group = n_dblk // groups
    dB = dB_part.view(batch, groups, per_group, n_state, length).sum(2)
    dC = dC_part.view(batch, groups, per_group, n_state, length).sum(2)
    return (
        du,
        ddelta,
        dA_part.sum(0).to(A.dtype),
        dB.to(B.dtype),
        dC.to(C.dtype),
        None if args.D is None else dD_part.sum(0).to(args.D.dtype),
        dz if args.z is not None else None,
        None if args.delta_bias is None else dbias_part.sum(0).to(args.delta_bias.dtype),
        None if args.initial_state is None else dh0.to(args.initial_state.dtype),
    )
