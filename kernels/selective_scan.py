"""``selective_scan``: the public interface, input checks, the autograd Function and backend dispatch.

Semantics are those of ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` (mamba-ssm 2.3.2), plus
arbitrary input strides, ``reverse`` and ``initial_state``. Backends: ``"torch"`` (fast chunked PyTorch,
any device, the CPU path), ``"triton"`` (CUDA; forward and backward in Triton), ``"mamba_ssm"`` (the peer
CUDA kernel, when installed) and ``"auto"`` (triton on CUDA, torch otherwise). The Triton backend runs as the
torch custom ops of ``scan_op.py``, so ``torch.compile`` traces a model through it without graph breaks.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import warnings

import torch
from torch import Tensor

from . import scan_torch
from .scan_op import triton_scan as _triton_scan
from .scan_torch import ScanArgs

BACKENDS = ("auto", "torch", "triton", "mamba_ssm")


def _check(name: str, cond: bool, problem: str, fix: str) -> None:
    if not cond:
        raise ValueError(f"selective_scan: {name} {problem}. {fix}")


def _canonical(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    reverse: bool,
    initial_state: Tensor | None,
) -> ScanArgs:
    """Validate shapes/dtypes and return grouped (batch, G, N, L) views of B and C (never a copy)."""
    _check("u", u.dim() == 3, f"has shape {tuple(u.shape)}", "Pass u as (batch, dim, L).")
    batch, dim, length = u.shape
    _check(
        "u",
        batch > 0 and dim > 0 and length > 0,
        f"has an empty axis: shape {tuple(u.shape)}",
        "Pass at least one batch row, one channel and one time step.",
    )
    _check(
        "delta",
        delta.shape == u.shape,
        f"has shape {tuple(delta.shape)}, u has {tuple(u.shape)}",
        "Pass delta with u's shape (batch, dim, L).",
    )
    _check("A", A.dim() == 2 and A.shape[0] == dim, f"has shape {tuple(A.shape)}", f"Pass A as (dim={dim}, N).")
    _check("A", not A.is_complex(), "is complex", "Only real A is supported; pass a real fp32 A.")
    n_state = A.shape[1]
    Bg = B.unsqueeze(1) if B.dim() == 3 else B
    Cg = C.unsqueeze(1) if C.dim() == 3 else C
    for name, grouped, orig in (("B", Bg, B), ("C", Cg, C)):
        _check(
            name,
            grouped.dim() == 4
            and grouped.shape[0] == batch
            and grouped.shape[2] == n_state
            and grouped.shape[3] == length,
            f"has shape {tuple(orig.shape)}",
            f"Pass {name} as (batch={batch}, N={n_state}, L={length}) or grouped (batch, G, N, L).",
        )
    groups = Bg.shape[1]
    _check("C", Cg.shape[1] == groups, f"has {Cg.shape[1]} groups but B has {groups}", "Use the same groups.")
    _check(
        "B",
        dim % groups == 0,
        f"has {groups} groups, which do not divide dim={dim}",
        "Use a number of groups that divides dim.",
    )
    for name, x in (("D", D), ("delta_bias", delta_bias)):
        if x is not None:
            _check(name, x.shape == (dim,), f"has shape {tuple(x.shape)}", f"Pass {name} as (dim={dim},).")
    if z is not None:
        _check(
            "z",
            z.shape == u.shape,
            f"has shape {tuple(z.shape)}, u has {tuple(u.shape)}",
            "Pass z with u's shape (batch, dim, L).",
        )
    if initial_state is not None:
        _check(
            "initial_state",
            initial_state.shape == (batch, dim, n_state),
            f"has shape {tuple(initial_state.shape)}",
            f"Pass it as (batch={batch}, dim={dim}, N={n_state}).",
        )
    floats = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    for name, x in (
        ("u", u),
        ("delta", delta),
        ("A", A),
        ("B", B),
        ("C", C),
        ("D", D),
        ("z", z),
        ("delta_bias", delta_bias),
        ("initial_state", initial_state),
    ):
        if x is not None:
            _check(name, x.dtype in floats, f"has dtype {x.dtype}", "Pass a floating-point tensor.")
            _check(
                name, x.device == u.device, f"is on {x.device} but u is on {u.device}", "Move all inputs to one device."
            )
    return ScanArgs(u, delta, A, Bg, Cg, D, z, delta_bias, bool(delta_softplus), bool(reverse), initial_state)


# Looked up once at import: the backend is resolved on every scan call, and Dynamo traces that resolution; torch
# 2.11's Dynamo refuses to trace importlib.util.find_spec, and that graph break made it skip TSM2's whole backbone.
def _find_triton() -> bool:
    try:
        return importlib.util.find_spec("triton") is not None
    except ImportError:  # a finder that refuses the package (e.g. an import hook blocking it) means: not there
        return False


_TRITON_INSTALLED = _find_triton()


def _triton_installed() -> bool:
    return _TRITON_INSTALLED


@functools.cache
def _warn_no_triton() -> None:
    """Once per process: a CUDA run without Triton takes the PyTorch path (correct, slower)."""
    warnings.warn(
        "tsmamba: Triton is not installed, so selective_scan runs its PyTorch path on CUDA (slower). "
        "Install it for the Triton kernel: pip install triton (or pip install 'tsmamba[gpu]').",
        RuntimeWarning,
        stacklevel=4,
    )


def _resolve_backend(backend: str, device: torch.device) -> str:
    _check("backend", backend in BACKENDS, f"is {backend!r}", f"Use one of {BACKENDS}.")
    if backend == "auto":
        if device.type != "cuda":
            return "torch"
        if not _triton_installed():
            _warn_no_triton()
            return "torch"
        return "triton"
    if backend == "triton" and not _triton_installed():
        raise ValueError("selective_scan: backend='triton' needs the triton package (pip install triton). Use 'torch'.")
    if backend == "triton" and device.type != "cuda" and not _triton_interpreted():
        raise ValueError(
            "selective_scan: backend='triton' needs CUDA tensors (or Triton's CPU interpreter: TRITON_INTERPRET=1 "
            "set before tsmamba.kernels.scan_triton_fwd is first imported). Use backend='torch' on CPU."
        )
    return backend


@torch.compiler.assume_constant_result
def _triton_interpreted() -> bool:
    """True when the Triton kernels were built for Triton's CPU interpreter (a constant to ``torch.compile``)."""
    if os.environ.get("TRITON_INTERPRET") != "1" and "tsmamba.kernels.scan_triton_fwd" not in sys.modules:
        return False
    from . import scan_triton_fwd

    return type(scan_triton_fwd._scan_fwd_kernel).__name__ == "InterpretedFunction"


class SelectiveScanFn(torch.autograd.Function):
    """Autograd Function over the torch scan's forward and hand-written backward (no per-step graph); the Triton
    backend runs as the custom ops of ``scan_op.py`` instead."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state):
        args = _canonical(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state)
        # states and accumulations stay fp32 under autocast (AMP): inputs keep the dtypes they came with
        with torch.autocast(device_type=u.device.type, enabled=False):
            out, last, checkpoints = scan_torch.scan_forward(args, save_checkpoints=any(ctx.needs_input_grad))
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints)
        ctx.flags = (bool(delta_softplus), bool(reverse))
        ctx.mark_non_differentiable(checkpoints)
        # no zero-filled gradients for unused outputs: the checkpoints can be all the scan's states
        ctx.set_materialize_grads(False)
        if torch.compiler.is_compiling():
            # torch 2.11's Dynamo loses the gradient of an autograd.Function output that is a permuted view (all
            # input gradients came back zero); a contiguous output costs one copy, and only in compiled code
            out = out.contiguous()
        return out, last, checkpoints

    @staticmethod
    def backward(ctx, grad_out, grad_last, _grad_checkpoints):
        u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints = ctx.saved_tensors
        softplus, reverse = ctx.flags
        args = _canonical(u, delta, A, B, C, D, z, delta_bias, softplus, reverse, initial_state)
        if grad_out is None:  # only the last state was used
            grad_out = torch.zeros_like(u)
        with torch.autocast(device_type=u.device.type, enabled=False):
            grads = scan_torch.scan_backward(args, checkpoints, grad_out, grad_last)
        du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0 = grads
        if B.dim() == 3:
            dB = dB.squeeze(1)
        if C.dim() == 3:
            dC = dC.squeeze(1)
        return du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, None, None, dh0


def _mamba_ssm(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state, return_last_state):
    if reverse or initial_state is not None:
        raise ValueError(
            "selective_scan: backend='mamba_ssm' supports neither reverse=True nor initial_state. "
            "Use backend='triton' or 'torch'."
        )
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError as err:
        raise ValueError(
            "selective_scan: backend='mamba_ssm' needs the mamba_ssm package (pip install mamba-ssm). "
            "Use backend='triton' or 'torch'."
        ) from err
    return selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def selective_scan(
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
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba-1 selective scan: h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t, y *= silu(z).

    u, delta, z: (batch, dim, L), any strides (e.g. transposed views of (batch, L, dim) tensors).
    A: (dim, N) real. B, C: (batch, N, L) or grouped (batch, G, N, L). D, delta_bias: (dim,).
    Δ = softplus(delta + delta_bias) (threshold 20) when ``delta_softplus``. ``reverse`` scans from
    t = L-1 down to 0. ``initial_state``: (batch, dim, N) state before the first scanned step.
    Returns the output in u's dtype, and the last state (batch, dim, N) in fp32 (fp64 for fp64 inputs)
    when ``return_last_state``. Differentiable in every tensor input.
    """
    chosen = _resolve_backend(backend, u.device)
    if chosen == "mamba_ssm":
        return _mamba_ssm(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state, return_last_state
        )
    if chosen == "triton":
        args = _canonical(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state)
        out, last = _triton_scan(args)
    else:
        inputs = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state)
        out, last, _ = SelectiveScanFn.apply(*inputs)
    return (out, last) if return_last_state else out
