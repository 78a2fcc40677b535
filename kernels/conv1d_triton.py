"""Fused depthwise causal Conv1d + SiLU in Triton, forward and backward, as torch custom ops.

The Mamba block's ``u = SiLU(Conv1d(x))`` on channel-last (batch, L, C) data: one kernel reads x (any strides,
e.g. a half of the in_proj output) and writes u contiguous (batch, L, C), so no transposed copies, no padded
(L + K - 1) intermediate and no separate SiLU pass. The backward recomputes the pre-activation from x (K is
tiny, 4 in Mamba) and writes dx, with dweight and dbias reduced per program into fp32 partial rows that torch
sums (deterministic, no atomics). Output t reads x[t-K+1 .. t] (causal) or x[t .. t+K-1] (``reverse``), as
``conv1d_reference.conv1d_silu_reference``. Accumulation is in fp32 (fp64 for fp64 inputs).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

_FWD_SCHEMA = "(Tensor x, Tensor weight, Tensor? bias, bool reverse) -> Tensor"
_BWD_SCHEMA = "(Tensor x, Tensor weight, Tensor? bias, Tensor grad_u, bool reverse) -> (Tensor, Tensor, Tensor)"
# programs aimed at by the backward's batch split (each program loops over a slice of the batch)
_BWD_PROGRAMS = 1024


@triton.jit
def _pre_activation(
    x_base,
    w_ptr,
    b_ptr,
    src_t,
    offs_c,
    mask_c,
    L,
    s_l,
    s_c,
    acc_dtype: tl.constexpr,
    K: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """bias + Σ_k w[c, k] x[t + k - SHIFT, c] over a (BLOCK_T, BLOCK_C) tile (zero outside [0, L))."""
    acc = tl.zeros((BLOCK_T, BLOCK_C), dtype=acc_dtype)
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_c, mask=mask_c, other=0.0).to(acc_dtype)[None, :]
    for k in tl.static_range(K):
        w = tl.load(w_ptr + offs_c * K + k, mask=mask_c, other=0.0).to(acc_dtype)
        src = src_t + (k - SHIFT)
        ok = (src >= 0) & (src < L)
        xv = tl.load(x_base + src[:, None] * s_l + offs_c[None, :] * s_c, mask=ok[:, None] & mask_c[None, :], other=0.0)
        acc += xv.to(acc_dtype) * w[None, :]
    return acc


@triton.jit
def _conv1d_fwd_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    L,
    C,
    s_xb,
    s_xl,
    s_xc,
    s_yb,
    s_yl,
    K: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_F64: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    acc_dtype: tl.constexpr = tl.float64 if ACC_F64 else tl.float32
    # grid (time blocks x batch, channel blocks): the batch rides on axis 0, since CUDA caps axes 1 and 2 at
    # 65535 programs and TSM2's channel mixer convolves batch x patches rows (92,224 at L=11520)
    n_t = tl.cdiv(L, BLOCK_T)
    pid = tl.program_id(0)
    pid_b = (pid // n_t).to(tl.int64)
    offs_t = (pid % n_t) * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    pre = _pre_activation(
        x_ptr + pid_b * s_xb,
        w_ptr,
        b_ptr,
        offs_t,
        offs_c,
        mask_c,
        L,
        s_xl,
        s_xc,
        acc_dtype,
        K,
        SHIFT,
        HAS_BIAS,
        BLOCK_T,
        BLOCK_C,
    )
    u = pre / (1.0 + tl.exp(-pre))
    mask = (offs_t < L)[:, None] & mask_c[None, :]
    tl.store(y_ptr + pid_b * s_yb + offs_t[:, None] * s_yl + offs_c[None, :], u.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _conv1d_bwd_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    gu_ptr,
    dx_ptr,
    dw_ptr,
    db_ptr,
    batch,
    per_prog,
    L,
    C,
    s_xb,
    s_xl,
    s_xc,
    s_gb,
    s_gl,
    s_gc,
    s_db,
    s_dl,
    K: tl.constexpr,
    K_POW2: tl.constexpr,
    SHIFT: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACC_F64: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    acc_dtype: tl.constexpr = tl.float64 if ACC_F64 else tl.float32
    pid_t = tl.program_id(0)
    pid_c = tl.program_id(1)
    pid_b = tl.program_id(2)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    in_t = offs_t < L
    dw_acc = tl.zeros((K_POW2, BLOCK_C), dtype=acc_dtype)
    db_acc = tl.zeros((BLOCK_C,), dtype=acc_dtype)
    offs_k = tl.arange(0, K_POW2)
    b_start = pid_b.to(tl.int64) * per_prog
    for i in range(per_prog):
        b = b_start + i
        mask_c = offs_c < tl.where(b < batch, C, 0)  # rows past the batch load nothing and store nothing
        x_base = x_ptr + b * s_xb
        g_base = gu_ptr + b * s_gb
        dx = tl.zeros((BLOCK_T, BLOCK_C), dtype=acc_dtype)
        for m in tl.static_range(K):
            # dx[t] += w[m] * dpre[t - m + SHIFT]: the output that reads x[t] through tap m
            tm = offs_t + (SHIFT - m)
            ok = (tm >= 0) & (tm < L)
            pre = _pre_activation(
                x_base, w_ptr, b_ptr, tm, offs_c, mask_c, L, s_xl, s_xc, acc_dtype, K, SHIFT, HAS_BIAS, BLOCK_T, BLOCK_C
            )
            gu = tl.load(
                g_base + tm[:, None] * s_gl + offs_c[None, :] * s_gc, mask=ok[:, None] & mask_c[None, :], other=0.0
            ).to(acc_dtype)
            sig = 1.0 / (1.0 + tl.exp(-pre))
            dpre = gu * sig * (1.0 + pre * (1.0 - sig))
            w = tl.load(w_ptr + offs_c * K + m, mask=mask_c, other=0.0).to(acc_dtype)
            dx += dpre * w[None, :]
            if m == SHIFT:  # tm == t: this tile's own outputs give dweight and dbias
                db_acc += tl.sum(dpre, axis=0)
                for k in tl.static_range(K):
                    src = offs_t + (k - SHIFT)
                    ok_k = (src >= 0) & (src < L)
                    xv = tl.load(
                        x_base + src[:, None] * s_xl + offs_c[None, :] * s_xc,
                        mask=ok_k[:, None] & mask_c[None, :],
                        other=0.0,
                    ).to(acc_dtype)
                    dw_k = tl.sum(dpre * xv, axis=0)
                    dw_acc += tl.where(offs_k[:, None] == k, dw_k[None, :], 0.0)
        dx_ptrs = dx_ptr + b * s_db + offs_t[:, None] * s_dl + offs_c[None, :]
        tl.store(dx_ptrs, dx.to(dx_ptr.dtype.element_ty), mask=in_t[:, None] & mask_c[None, :])
    mask_c = offs_c < C
    row = pid_b * tl.num_programs(0) + pid_t
    tl.store(
        dw_ptr + row * K * C + offs_k[:, None] * C + offs_c[None, :],
        dw_acc,
        mask=(offs_k < K)[:, None] & mask_c[None, :],
    )
    if HAS_BIAS:
        tl.store(db_ptr + row * C + offs_c, db_acc, mask=mask_c)


def _blocks(length: int, channels: int) -> tuple[int, int]:
    return min(32, triton.next_power_of_2(length)), min(64, triton.next_power_of_2(channels))


def _acc_f64(*tensors: Tensor | None) -> bool:
    return any(t is not None and t.dtype == torch.float64 for t in tensors)


def conv1d_silu_forward(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool) -> Tensor:
    """u = SiLU(conv(x)) as a contiguous (batch, L, C) tensor in x's dtype (host wrapper, no autograd)."""
    batch, length, channels = x.shape
    k = weight.shape[-1]
    w = weight.reshape(channels, k).contiguous()
    y = torch.empty(batch, length, channels, device=x.device, dtype=x.dtype)
    block_t, block_c = _blocks(length, channels)
    grid = (triton.cdiv(length, block_t) * batch, triton.cdiv(channels, block_c))
    _conv1d_fwd_kernel[grid](
        x,
        w,
        bias if bias is not None else w,
        y,
        length,
        channels,
        *x.stride(),
        y.stride(0),
        y.stride(1),
        K=k,
        SHIFT=0 if reverse else k - 1,
        HAS_BIAS=bias is not None,
        ACC_F64=_acc_f64(x, weight, bias),
        BLOCK_T=block_t,
        BLOCK_C=block_c,
    )
    return y


def conv1d_silu_backward(
    x: Tensor, weight: Tensor, bias: Tensor | None, grad_u: Tensor, reverse: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(dx contiguous (batch, L, C) in x's dtype, dweight in weight's shape and dtype, dbias or None)."""
    batch, length, channels = x.shape
    k = weight.shape[-1]
    w = weight.reshape(channels, k).contiguous()
    block_t, block_c = _blocks(length, channels)
    n_t, n_c = triton.cdiv(length, block_t), triton.cdiv(channels, block_c)
    n_b = max(1, min(batch, triton.cdiv(_BWD_PROGRAMS, n_t * n_c)))
    per_prog = triton.cdiv(batch, n_b)
    n_b = triton.cdiv(batch, per_prog)
    acc = torch.float64 if _acc_f64(x, weight, bias) else torch.float32
    dx = torch.empty(batch, length, channels, device=x.device, dtype=x.dtype)
    dw_part = torch.empty(n_b * n_t, k, channels, device=x.device, dtype=acc)
    db_part = torch.empty(n_b * n_t, channels, device=x.device, dtype=acc)
    _conv1d_bwd_kernel[(n_t, n_c, n_b)](
        x,
        w,
        bias if bias is not None else w,
        grad_u,
        dx,
        dw_part,
        db_part,
        batch,
        per_prog,
        length,
        channels,
        *x.stride(),
        *grad_u.stride(),
        dx.stride(0),
        dx.stride(1),
        K=k,
        K_POW2=triton.next_power_of_2(k),
        SHIFT=0 if reverse else k - 1,
        HAS_BIAS=bias is not None,
        ACC_F64=acc == torch.float64,
        BLOCK_T=block_t,
        BLOCK_C=block_c,
    )
    dweight = dw_part.sum(0).t().contiguous().view(weight.shape).to(weight.dtype)
    dbias = db_part.sum(0).to(bias.dtype) if bias is not None else None
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
