"""Fused depthwise causal Conv1d + SiLU in Triton, forward and backward, as torch custom ops.

The Mamba block's ``u = SiLU(Conv1d(x))`` on channel-last (batch, L, C) data: one kernel reads x (any strides,
e.g. a half of the in_proj output) and writes u contiguous (batch, L, C), so no transposed copies, no padded
(L + K - 1) intermediate and no separate SiLU pass. Tiles are 64 rows of the flattened (batch x L) by up to 64
channels, so a short L (the channel mixer's, e.g. 21 variates) pads nothing. The backward takes two passes: the
first recomputes the pre-activation from x (K is tiny, 4 in Mamba) and writes dpre = grad_u * SiLU'(pre) once per
element to a scratch (fp32; x's dtype for 16-bit x with DPRE_CONFIG's dpre_16bit), with dweight and dbias summed
per element over the program's tiles and reduced over the rows once per program into partial rows (deterministic,
no atomics); the second forms dx from K shifted reads of that scratch, and its first K [+ 1] row tiles each sum
one row of those partials into dweight or dbias. Output t reads x[t-K+1 .. t] (causal) or x[t .. t+K-1]
(``reverse``), as ``conv1d_reference.conv1d_silu_reference``. Accumulation is in fp32 (fp64 for fp64 inputs).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .l2_prefetch import CACHE_HINTS, prefetch_l2

_FWD_SCHEMA = "(Tensor x, Tensor weight, Tensor? bias, bool reverse) -> Tensor"
_BWD_SCHEMA = "(Tensor x, Tensor weight, Tensor? bias, Tensor grad_u, bool reverse) -> (Tensor, Tensor, Tensor)"
# 8 warps per (64 x 64) tile: 16 elements per thread (the forward and the backward's second pass)
_NUM_WARPS = 8
# The second pass's first K + 1 row tiles sum the first pass's partial rows this many at a time: 8 keeps its
# registers at those of the pass without the sums (64 fp32 / 70 bf16 at Triton 3.6, sm_90, four programs an SM in
# fp32), where a whole 64-row tile at a time took 78 / 72 (three; benchmarks/results/kernel_sass_cpu.md)
_SUM_ROWS = 8
# The backward's first pass: its (block_r rows x up to 64 channels) tile and warps, and the programs it aims at
# (each loops over a run of row tiles, one partial-sum row each). It holds five per-element sums (dbias, 4 taps
# of dweight) across its tiles: 254 registers at (64, 8) (Triton 3.6, sm_90), one program per SM. Timed on the
# H200 (benchmarks/results/scan_hold_h200_2026-12-01f.md, conv fwd+bwd at TSM2's Weather and ETTh1 shapes and at
# L=11520): 264 programs (2 per SM) instead of 1024, i.e. fewer partial rows to write and sum, -13 to -21 % at
# the L=512 shapes and -3 % at L=11520 in fp32 and bf16; the smaller tiles (32, 16) and (16, 8), 3-4x the
# resident warps, lost in fp32 (+6 to +68 %) and at ETTh1's shape in bf16 (+13, +49 %).
# dpre_16bit: with fp16/bf16 x, the dpre scratch in x's dtype (half its bytes, written once and read by the second
# pass; dweight and dbias are summed from the fp32 values either way, dx rounds once more): bf16 -5 to -10 % at
# the L=512 shapes, -17 % at L=11520.
# fold: rows of each tile a thread sums in registers before its five per-element sums take them, so those sums
# hold (block_r / fold) x 64 values instead of block_r x 64 (fewer registers: 254 -> 184 at (64, 8) in fp32; at
# (32, 8) 113 in fp32, two programs per SM; benchmarks/results/kernel_sass_cpu.md). 1 folds nothing (the default,
# the kernel timed so far); 0 folds the rows the tile's layout gives a thread (_rows_per_thread); a fold across
# threads still sums right, through shared memory each tile (the layout test checks that the auto fold does not).
# block_r_16bit, fold_16bit: the tile for fp16/bf16 x (block_r and fold are fp32's and fp64's). Timed on the H200
# beside the partial sums in the second pass (benchmarks/results/hold_h200_2026-12-02f.md): (32, 8) with the auto
# fold, two programs an SM, took the bf16 conv fwd+bwd -6 % at both Weather shapes and -3 % at L=11520 (ETTh1's
# shape even); in fp32 it gained nothing at Weather and lost 4.5 % at L=11520, and fold 0 at (64, 8) lost 5-8 %.
# prefetch: 1 asks the L2 for the next tile's x and grad_u rows at the start of each tile (one hint a 128-byte line
# of them), as the scan backward does for its rows (it took DRAM waits off its loads there). Off: on the H200 it
# took fp32 at the Weather shapes -6 to -8.5 % but lost 1.5-9 % everywhere else (hold_h200_2026-12-02g.md).
DPRE_CONFIG = {
    "block_r": 64,
    "num_warps": 8,
    "programs": 264,
    "dpre_16bit": 1,
    "fold": 1,
    "block_r_16bit": 32,
    "fold_16bit": 0,
    "prefetch": 0,
}


@triton.jit
def _rows(pid_r, L, n_rows, BLOCK_R: tl.constexpr):
    """Row tile ``pid_r`` of the flattened (batch x L) rows: (batch index as int64, time index, in range)."""
    r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    b = r // L
    return b.to(tl.int64), r - b * L, r < n_rows


@triton.jit
def _channels(pid_c, C, BLOCK_C: tl.constexpr):
    """Channel block ``pid_c``: (channel indices, in range)."""
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    return offs_c, offs_c < C


@triton.jit
def _tap(x_ptr, b, src, ok, offs_c, mask_c, L, s_xb, s_xl, s_xc, acc_dtype: tl.constexpr):
    """x[b, src, c] over a (rows, channels) tile, zero where ``src`` leaves [0, L) or the row is out of range."""
    ok = ok & (src >= 0) & (src < L)
    ptrs = x_ptr + b[:, None] * s_xb + src[:, None].to(tl.int64) * s_xl + offs_c[None, :] * s_xc
    return tl.load(ptrs, mask=ok[:, None] & mask_c[None, :], other=0.0).to(acc_dtype)


@triton.jit
def _pre_activation(
    x_ptr,
    w_ptr,
    b_ptr,
    b,
    t,
    ok,
    offs_c,
    mask_c,
    L,
    s_xb,
    s_xl,
    s_xc,
    acc_dtype: tl.constexpr,
    K: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """bias + Σ_k w[c, k] x[b, t + k - SHIFT, c] over a (BLOCK_R rows, BLOCK_C channels) tile."""
    acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=acc_dtype)
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_c, mask=mask_c, other=0.0).to(acc_dtype)[None, :]
    for k in tl.static_range(K):
        w = tl.load(w_ptr + offs_c * K + k, mask=mask_c, other=0.0).to(acc_dtype)
        acc += _tap(x_ptr, b, t + (k - SHIFT), ok, offs_c, mask_c, L, s_xb, s_xl, s_xc, acc_dtype) * w[None, :]
    return acc


@triton.jit
def _conv1d_fwd_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    L,
    C,
    n_rows,
    s_xb,
    s_xl,
    s_xc,
    K: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_F64: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    acc_dtype: tl.constexpr = tl.float64 if ACC_F64 else tl.float32
    # grid (row tiles of the flattened batch x L, channel blocks): no time tile is padded past L (the channel
    # mixer's L is the number of variates, e.g. 21), and axis 0 has room for any batch (CUDA caps axes 1, 2)
    b, t, ok = _rows(tl.program_id(0), L, n_rows, BLOCK_R)
    offs_c, mask_c = _channels(tl.program_id(1), C, BLOCK_C)
    pre = _pre_activation(
        x_ptr, w_ptr, b_ptr, b, t, ok, offs_c, mask_c, L, s_xb, s_xl, s_xc,
        acc_dtype, K, SHIFT, HAS_BIAS, BLOCK_R, BLOCK_C,
    )  # fmt: skip
    u = pre / (1.0 + tl.exp(-pre))
    rows = b * L + t
    tl.store(
        y_ptr + rows[:, None] * C + offs_c[None, :], u.to(y_ptr.dtype.element_ty), mask=ok[:, None] & mask_c[None, :]
    )


@triton.jit
def _fold(v, FOLD: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """(BLOCK_R, BLOCK_C) -> (BLOCK_R // FOLD, BLOCK_C): row r' sums rows r' + i * BLOCK_R // FOLD, i < FOLD (in
    registers when those rows are one thread's, i.e. FOLD divides the tile's repeats along the rows)."""
    if FOLD == 1:
        return v
    return tl.sum(tl.reshape(v, (FOLD, BLOCK_R // FOLD, BLOCK_C)), axis=0)


@triton.jit
def _conv1d_bwd_dpre_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    gu_ptr,
    dpre_ptr,
    part_ptr,
    tiles_per_prog,
    L,
    C,
    n_rows,
    s_xb,
    s_xl,
    s_xc,
    s_gb,
    s_gl,
    s_gc,
    K: tl.constexpr,
    K_POW2: tl.constexpr,
    PART_ROWS: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_F64: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
    FOLD: tl.constexpr,
    PREFETCH: tl.constexpr,
    LINE_C: tl.constexpr,
):
    """Pass 1: dpre = grad_u * SiLU'(pre) once per element into a (batch x L, C) scratch, and this program's
    partial sums over its row tiles of dweight (Σ dpre * x[t + k - SHIFT]) and, with a bias, dbias (Σ dpre): row
    ``pid`` of a (programs, K [+ 1], C) buffer, which pass 2 sums over the programs."""
    acc_dtype: tl.constexpr = tl.float64 if ACC_F64 else tl.float32
    pid = tl.program_id(0)
    offs_c, mask_c = _channels(tl.program_id(1), C, BLOCK_C)
    offs_k = tl.arange(0, K_POW2)
    # Σ dpre and Σ dpre * x[t + k - SHIFT] per element over the program's tiles, reduced over the rows once at the
    # end: a reduction per tile crosses the warps (the rows lie across them), a shared-memory round trip and
    # barriers each time; FOLD rows of a tile a thread holds are summed first, in registers. Taps past the 4th
    # (Mamba's d_conv is 4) are reduced per tile into dw_acc.
    db_acc = tl.zeros((BLOCK_R // FOLD, BLOCK_C), dtype=acc_dtype)
    dw0 = tl.zeros((BLOCK_R // FOLD, BLOCK_C), dtype=acc_dtype)
    dw1 = tl.zeros((BLOCK_R // FOLD, BLOCK_C), dtype=acc_dtype)
    dw2 = tl.zeros((BLOCK_R // FOLD, BLOCK_C), dtype=acc_dtype)
    dw3 = tl.zeros((BLOCK_R // FOLD, BLOCK_C), dtype=acc_dtype)
    dw_acc = tl.zeros((K_POW2, BLOCK_C), dtype=acc_dtype)
    for i in range(tiles_per_prog):
        b, t, ok = _rows(pid * tiles_per_prog + i, L, n_rows, BLOCK_R)
        if PREFETCH:  # the next tile's x and grad_u rows into the L2 while this one runs, one hint a 128-byte line
            nb, nt, nok = _rows(pid * tiles_per_prog + i + 1, L, n_rows, BLOCK_R)
            lines = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C // LINE_C) * LINE_C
            hint = (nok & (i + 1 < tiles_per_prog))[:, None] & (lines < C)[None, :]
            nt64 = nt[:, None].to(tl.int64)
            prefetch_l2(x_ptr + nb[:, None] * s_xb + nt64 * s_xl + lines[None, :] * s_xc, hint)
            prefetch_l2(gu_ptr + nb[:, None] * s_gb + nt64 * s_gl + lines[None, :] * s_gc, hint)
        pre = _pre_activation(
            x_ptr, w_ptr, b_ptr, b, t, ok, offs_c, mask_c, L, s_xb, s_xl, s_xc,
            acc_dtype, K, SHIFT, HAS_BIAS, BLOCK_R, BLOCK_C,
        )  # fmt: skip
        mask = ok[:, None] & mask_c[None, :]
        g_ptrs = gu_ptr + b[:, None] * s_gb + t[:, None].to(tl.int64) * s_gl + offs_c[None, :] * s_gc
        gu = tl.load(g_ptrs, mask=mask, other=0.0).to(acc_dtype)  # zero outside: dpre is 0 there
        sig = 1.0 / (1.0 + tl.exp(-pre))
        dpre = gu * sig * (1.0 + pre * (1.0 - sig))
        rows = b * L + t
        tl.store(dpre_ptr + rows[:, None] * C + offs_c[None, :], dpre.to(dpre_ptr.dtype.element_ty), mask=mask)
        db_acc += _fold(dpre, FOLD, BLOCK_R, BLOCK_C)
        for k in tl.static_range(K):  # the taps' x tiles again: L1/L2 hits of the loads above
            prod = dpre * _tap(x_ptr, b, t + (k - SHIFT), ok, offs_c, mask_c, L, s_xb, s_xl, s_xc, acc_dtype)
            if k == 0:
                dw0 += _fold(prod, FOLD, BLOCK_R, BLOCK_C)
            elif k == 1:
                dw1 += _fold(prod, FOLD, BLOCK_R, BLOCK_C)
            elif k == 2:
                dw2 += _fold(prod, FOLD, BLOCK_R, BLOCK_C)
            elif k == 3:
                dw3 += _fold(prod, FOLD, BLOCK_R, BLOCK_C)
            else:
                dw_acc += tl.where(offs_k[:, None] == k, tl.sum(prod, axis=0)[None, :], 0.0)
    dw_acc += tl.where(offs_k[:, None] == 0, tl.sum(dw0, axis=0)[None, :], 0.0)
    if K > 1:
        dw_acc += tl.where(offs_k[:, None] == 1, tl.sum(dw1, axis=0)[None, :], 0.0)
    if K > 2:
        dw_acc += tl.where(offs_k[:, None] == 2, tl.sum(dw2, axis=0)[None, :], 0.0)
    if K > 3:
        dw_acc += tl.where(offs_k[:, None] == 3, tl.sum(dw3, axis=0)[None, :], 0.0)
    row = part_ptr + pid * PART_ROWS * C  # K rows of dweight, then dbias's
    tl.store(row + offs_k[:, None] * C + offs_c[None, :], dw_acc, mask=(offs_k < K)[:, None] & mask_c[None, :])
    if HAS_BIAS:
        tl.store(row + K * C + offs_c, tl.sum(db_acc, axis=0), mask=mask_c)


@triton.jit
def _conv1d_bwd_dx_kernel(
    dpre_ptr,
    w_ptr,
    dx_ptr,
    part_ptr,
    dw_ptr,
    db_ptr,
    n_progs,
    L,
    C,
    n_rows,
    K: tl.constexpr,
    PART_ROWS: tl.constexpr,
    SHIFT: tl.constexpr,
    ACC_F64: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
    SUM_ROWS: tl.constexpr,
):
    """Pass 2: dx[t] = Σ_m w[m] dpre[t - m + SHIFT], the outputs that read x[t] through tap m. Row tile j <
    PART_ROWS also sums row j of pass 1's (programs, K [+ 1], C) partials into dweight[:, j] (dbias for j = K), in
    their dtypes: no torch sum and no cast copies after the kernel. SUM_ROWS partial rows are summed at a time."""
    acc_dtype: tl.constexpr = tl.float64 if ACC_F64 else tl.float32
    pid_r = tl.program_id(0)
    offs_c, mask_c = _channels(tl.program_id(1), C, BLOCK_C)
    if pid_r < PART_ROWS:
        offs_p = tl.arange(0, SUM_ROWS)
        total = tl.zeros((SUM_ROWS, BLOCK_C), dtype=acc_dtype)
        for p0 in range(0, n_progs, SUM_ROWS):
            p = p0 + offs_p
            ptrs = part_ptr + (p[:, None] * PART_ROWS + pid_r) * C + offs_c[None, :]
            total += tl.load(ptrs, mask=(p < n_progs)[:, None] & mask_c[None, :], other=0.0)
        s = tl.sum(total, axis=0)
        if pid_r < K:
            tl.store(dw_ptr + offs_c * K + pid_r, s.to(dw_ptr.dtype.element_ty), mask=mask_c)
        else:
            tl.store(db_ptr + offs_c, s.to(db_ptr.dtype.element_ty), mask=mask_c)
    b, t, ok = _rows(pid_r, L, n_rows, BLOCK_R)
    dx = tl.zeros((BLOCK_R, BLOCK_C), dtype=acc_dtype)
    for m in tl.static_range(K):
        w = tl.load(w_ptr + offs_c * K + m, mask=mask_c, other=0.0).to(acc_dtype)
        dx += _tap(dpre_ptr, b, t + (SHIFT - m), ok, offs_c, mask_c, L, L * C, C, 1, acc_dtype) * w[None, :]
    rows = b * L + t
    tl.store(
        dx_ptr + rows[:, None] * C + offs_c[None, :], dx.to(dx_ptr.dtype.element_ty), mask=ok[:, None] & mask_c[None, :]
    )


def _rows_per_thread(block_r: int, block_c: int, num_warps: int, itemsize: int) -> int:
    """Rows of a (block_r, block_c) tile each thread holds under Triton's coalesced layout for loads contiguous
    along the channels: 16-byte vectors of them, a warp's lanes across the channels first, warps down the rows."""
    lanes_c = min(32, max(1, block_c // max(1, 16 // itemsize)))
    return max(1, block_r // ((32 // lanes_c) * num_warps))


def _blocks(channels: int) -> tuple[int, int]:
    """(rows, channels) of a tile: 64 flattened (batch, t) rows by up to 64 channels."""
    return 64, min(64, triton.next_power_of_2(channels))


def _acc_f64(*tensors: Tensor | None) -> bool:
    return any(t is not None and t.dtype == torch.float64 for t in tensors)


def conv1d_silu_forward(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool) -> Tensor:
    """u = SiLU(conv(x)) as a contiguous (batch, L, C) tensor in x's dtype (host wrapper, no autograd)."""
    batch, length, channels = x.shape
    k = weight.shape[-1]
    w = weight.reshape(channels, k).contiguous()
    y = torch.empty(batch, length, channels, device=x.device, dtype=x.dtype)
    block_r, block_c = _blocks(channels)
    grid = (triton.cdiv(batch * length, block_r), triton.cdiv(channels, block_c))
    _conv1d_fwd_kernel[grid](
        x,
        w,
        bias if bias is not None else w,
        y,
        length,
        channels,
        batch * length,
        *x.stride(),
        K=k,
        SHIFT=0 if reverse else k - 1,
        HAS_BIAS=bias is not None,
        ACC_F64=_acc_f64(x, weight, bias),
        BLOCK_R=block_r,
        BLOCK_C=block_c,
        num_warps=_NUM_WARPS,
    )
    return y


def conv1d_silu_backward(
    x: Tensor, weight: Tensor, bias: Tensor | None, grad_u: Tensor, reverse: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(dx contiguous (batch, L, C) in x's dtype, dweight in weight's shape and dtype, dbias or None)."""
    batch, length, channels = x.shape
    k = weight.shape[-1]
    w = weight.reshape(channels, k).contiguous()
    block_r, block_c = _blocks(channels)
    half = x.dtype in (torch.float16, torch.bfloat16)
    key_r, key_fold = ("block_r_16bit", "fold_16bit") if half else ("block_r", "fold")
    dpre_r, fold = DPRE_CONFIG[key_r], DPRE_CONFIG[key_fold]
    if dpre_r < 1 or dpre_r & (dpre_r - 1):
        raise ValueError(f"DPRE_CONFIG['{key_r}'] is {dpre_r}; use a power of two (a Triton tile size)")
    if fold == 0:
        fold = _rows_per_thread(dpre_r, block_c, DPRE_CONFIG["num_warps"], x.element_size())
    if fold < 1 or fold & (fold - 1) or fold > dpre_r:
        raise ValueError(
            f"DPRE_CONFIG['{key_fold}'] is {fold}; use 0 (auto) or a power of two up to {key_r} ({dpre_r})"
        )
    n_rows = batch * length
    n_tiles, n_c = triton.cdiv(n_rows, dpre_r), triton.cdiv(channels, block_c)
    tiles_per_prog = triton.cdiv(n_tiles, max(1, DPRE_CONFIG["programs"] // n_c))
    n_progs = triton.cdiv(n_tiles, tiles_per_prog)
    acc = torch.float64 if _acc_f64(x, weight, bias) else torch.float32
    shift = 0 if reverse else k - 1
    dpre_dtype = x.dtype if half and DPRE_CONFIG["dpre_16bit"] else acc
    dpre = torch.empty(batch, length, channels, device=x.device, dtype=dpre_dtype)
    # dweight's K rows and dbias's one per program, summed by pass 2 (a torch sum was ~16 us on the H200)
    part = torch.empty(n_progs, k + (bias is not None), channels, device=x.device, dtype=acc)
    _conv1d_bwd_dpre_kernel[(n_progs, n_c)](
        x,
        w,
        bias if bias is not None else w,
        grad_u,
        dpre,
        part,
        tiles_per_prog,
        length,
        channels,
        n_rows,
        *x.stride(),
        *grad_u.stride(),
        K=k,
        K_POW2=triton.next_power_of_2(k),
        PART_ROWS=part.shape[1],
        SHIFT=shift,
        HAS_BIAS=bias is not None,
        ACC_F64=acc == torch.float64,
        BLOCK_R=dpre_r,
        BLOCK_C=block_c,
        FOLD=fold,
        PREFETCH=bool(DPRE_CONFIG["prefetch"]) and CACHE_HINTS,
        LINE_C=max(1, min(block_c, 128 // x.element_size())),
        num_warps=DPRE_CONFIG["num_warps"],
    )
    dx = torch.empty(batch, length, channels, device=x.device, dtype=x.dtype)
    dweight = torch.empty(weight.shape, device=x.device, dtype=weight.dtype)  # contiguous: channel c at c * K
    dbias = torch.empty(channels, device=x.device, dtype=bias.dtype) if bias is not None else None
    _conv1d_bwd_dx_kernel[(max(triton.cdiv(n_rows, block_r), part.shape[1]), n_c)](
        dpre,
        w,
        dx,
        part,
        dweight,
        dbias if dbias is not None else dweight,
        n_progs,
        length,
        channels,
        n_rows,
        K=k,
        PART_ROWS=part.shape[1],
        SHIFT=shift,
        ACC_F64=acc == torch.float64,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
        SUM_ROWS=_SUM_ROWS,
        num_warps=_NUM_WARPS,
    )
    return dx, dweight, dbias


@torch.library.custom_op("tsmamba::conv1d_silu_fwd", mutates_args=(), schema=_FWD_SCHEMA)
def _fwd(x, weight, bias, reverse):
    with torch.autocast(device_type=x.device.type, enabled=False):
        return conv1d_silu_forward(x, weight, bias, reverse)


@_fwd.register_fake
def _fwd_fake(x, weight, bias, reverse):
    return x.new_empty(x.shape)


@torch.library.custom_op("tsmamba::conv1d_silu_bwd", mutates_args=(), schema=_BWD_SCHEMA)
def _bwd(x, weight, bias, grad_u, reverse):
    with torch.autocast(device_type=x.device.type, enabled=False):
        dx, dweight, dbias = conv1d_silu_backward(x, weight, bias, grad_u, reverse)
    return dx, dweight, dbias if dbias is not None else x.new_empty(0)


@_bwd.register_fake
def _bwd_fake(x, weight, bias, grad_u, reverse):
    return (
        x.new_empty(x.shape),
        weight.new_empty(weight.shape),
        bias.new_empty(bias.shape) if bias is not None else x.new_empty(0),
    )


def _setup_context(ctx, inputs, output) -> None:
    x, weight, bias, reverse = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.reverse = reverse


def _backward(ctx, grad_u):
    x, weight, bias = ctx.saved_tensors
    dx, dweight, dbias = torch.ops.tsmamba.conv1d_silu_bwd(x, weight, bias, grad_u, ctx.reverse)
    return dx, dweight, dbias if bias is not None else None, None


_fwd.register_autograd(_backward, setup_context=_setup_context)


def conv1d_silu(x: Tensor, weight: Tensor, bias: Tensor | None = None, reverse: bool = False) -> Tensor:
    """SiLU(depthwise causal Conv1d(x)) on channel-last ``x`` (batch, L, C) -> contiguous (batch, L, C).

    ``weight``: (C, K) or ``nn.Conv1d``'s (C, 1, K); ``bias``: (C,) or None. ``reverse``: anti-causal (output t
    reads x[t .. t+K-1]), the convolution of a backward scan. Differentiable in x, weight and bias; CUDA tensors
    (or Triton's CPU interpreter). Equals ``conv1d_reference.conv1d_silu_reference`` up to rounding.
    """
    if x.dim() != 3:
        raise ValueError(f"conv1d_silu: x has shape {tuple(x.shape)}; pass x as (batch, L, C).")
    channels = x.shape[2]
    if weight.dim() not in (2, 3) or weight.shape[0] != channels or weight.numel() != channels * weight.shape[-1]:
        raise ValueError(f"conv1d_silu: weight has shape {tuple(weight.shape)}; pass (C={channels}, K) or (C, 1, K).")
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"conv1d_silu: bias has shape {tuple(bias.shape)}; pass (C={channels},) or None.")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.device != x.device:
            raise ValueError(f"conv1d_silu: {name} is on {t.device} but x is on {x.device}; move both to one device.")
    return torch.ops.tsmamba.conv1d_silu_fwd(x, weight, bias, bool(reverse))
