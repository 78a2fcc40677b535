"""The Triton selective scan as torch custom ops (``torch.library``), so ``torch.compile`` traces through it.

Two ops, ``tsmamba::selective_scan_fwd`` and ``tsmamba::selective_scan_bwd``, wrap the Triton host functions of
``scan_triton_fwd`` / ``scan_triton_bwd``; ``register_autograd`` connects them and ``register_fake`` gives the
output shapes, dtypes and strides without running a kernel. Dynamo and AOTAutograd then see one opaque node per
direction instead of a graph break, and CUDA-graph capture sees only device work (no host synchronisation).

Layout contract (the fake functions state it, the real functions enforce it with at most one copy): the scan
output, du, ddelta and dz have the layout of u, delta and z (``torch.empty_like``), so channel-last (batch, L, dim)
inputs passed as transposed views give channel-last outputs; dB and dC (batch, G, N, L) are views of contiguous
(batch, G, L, N) tensors, the order the backward sums them in and TSM2's x_proj output has. Optional gradients
that do not exist (no D, z, delta_bias or initial state) come back as empty tensors from the op and as ``None``
from autograd. B and C that the kernels could not load as vectors are copied by ``triton_scan`` before the ops
(``scan_bc``): in the traced graph, once, and saved for the backward, instead of once inside each op.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .scan_bc import bc_contiguous, bc_needs_copy
from .scan_torch import ScanArgs

_FWD_SCHEMA = (
    "(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, "
    "Tensor? initial_state, bool delta_softplus, bool reverse, bool save_checkpoints) -> (Tensor, Tensor, Tensor)"
)
_BWD_SCHEMA = (
    "(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, "
    "Tensor? initial_state, Tensor checkpoints, Tensor grad_out, Tensor? grad_last, bool delta_softplus, "
    "bool reverse) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)


def _like(x: Tensor, template: Tensor) -> Tensor:
    """``x`` in ``template``'s layout (what the fake functions promise); a copy only when the strides differ."""
    if x.stride() == torch.empty_like(template, device="meta").stride():
        return x
    return torch.empty_like(template, dtype=x.dtype).copy_(x)


@torch.library.custom_op("tsmamba::selective_scan_fwd", mutates_args=(), schema=_FWD_SCHEMA)
def _fwd(u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus, reverse, save_checkpoints):
    from . import scan_triton_fwd

    args = ScanArgs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state)
    with torch.autocast(device_type=u.device.type, enabled=False):
        out, last, checkpoints = scan_triton_fwd.scan_forward(args, save_checkpoints=save_checkpoints)
    return _like(out, u), last, checkpoints


@_fwd.register_fake
def _fwd_fake(u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus, reverse, save_checkpoints):
    from .scan_triton_fwd import checkpoint_slots

    batch, dim, length = u.shape
    n_state = A.shape[1]
    f32 = torch.float32
    ckpt = u.new_empty(batch, checkpoint_slots(length), n_state, dim, dtype=f32)
    return (
        torch.empty_like(u),
        u.new_empty(batch, n_state, dim, dtype=f32).transpose(1, 2),  # (batch, dim, N) view of (batch, N, dim)
        ckpt if save_checkpoints else u.new_empty(0, dtype=f32),
    )


@torch.library.custom_op("tsmamba::selective_scan_bwd", mutates_args=(), schema=_BWD_SCHEMA)
def _bwd(u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints, grad_out, grad_last, delta_softplus, reverse):
    from . import scan_triton_bwd

    args = ScanArgs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, initial_state)
    with torch.autocast(device_type=u.device.type, enabled=False):
        grads = scan_triton_bwd.scan_backward(args, checkpoints, grad_out, grad_last)
    du, ddelta, dA, dB, dC, dD, dz, dbias, dh0 = grads
    return (
        _like(du, u),
        _like(ddelta, delta),
        dA.contiguous(),
        _bc_grad_layout(dB),
        _bc_grad_layout(dC),
        u.new_empty(0) if dD is None else dD.contiguous(),
        u.new_empty(0) if dz is None else _like(dz, z),
        u.new_empty(0) if dbias is None else dbias.contiguous(),
        u.new_empty(0) if dh0 is None else dh0.contiguous(),
    )


def _bc_grad_layout(x: Tensor) -> Tensor:
    """dB or dC (batch, G, N, L) as a view of a contiguous (batch, G, L, N) tensor (a copy only if it is not)."""
    return x if x.transpose(2, 3).is_contiguous() else bc_contiguous(x)


@_bwd.register_fake
def _bwd_fake(
    u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints, grad_out, grad_last, delta_softplus, reverse
):
    def grad(x: Tensor | None, layout: bool = False) -> Tensor:
        if x is None:
            return u.new_empty(0)
        return torch.empty_like(x) if layout else x.new_empty(x.shape)

    def bc_grad(x: Tensor) -> Tensor:  # _bc_grad_layout's layout
        batch, groups, n_state, length = x.shape
        return x.new_empty(batch, groups, length, n_state).transpose(2, 3)

    return (
        grad(u, True),
        grad(delta, True),
        grad(A),
        bc_grad(B),
        bc_grad(C),
        grad(D),
        grad(z, True),
        grad(delta_bias),
        grad(initial_state),
    )


def _setup_context(ctx, inputs, output) -> None:
    u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus, reverse, _ = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, initial_state, output[2])
    ctx.flags = (delta_softplus, reverse)
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_out, grad_last, _grad_checkpoints):
    u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints = ctx.saved_tensors
    if checkpoints.dim() != 4:  # the forward ran without save_checkpoints
        raise RuntimeError(
            "selective_scan: backward through a forward run without gradients enabled; run the forward with "
            "torch.enable_grad() and inputs that require grad."
        )
    if grad_out is None:
        grad_out = torch.zeros_like(u)
    grads = torch.ops.tsmamba.selective_scan_bwd(
        u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints, grad_out, grad_last, *ctx.flags
    )
    du, ddelta, dA, dB, dC, dD, dz, dbias, dh0 = grads
    return (
        du,
        ddelta,
        dA,
        dB,
        dC,
        None if D is None else dD,
        None if z is None else dz,
        None if delta_bias is None else dbias,
        None if initial_state is None else dh0,
        None,
        None,
        None,
    )


_fwd.register_autograd(_backward, setup_context=_setup_context)


def triton_scan(args: ScanArgs) -> tuple[Tensor, Tensor]:
    """Output and last state of the Triton scan over canonical ``args``, differentiable through the custom ops."""
    B, C = args.B, args.C
    if bc_needs_copy(B, C, static=True):
        B, C = bc_contiguous(B), bc_contiguous(C)
    tensors = (args.u, args.delta, args.A, B, C, args.D, args.z, args.delta_bias, args.initial_state)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    out, last, _ = torch.ops.tsmamba.selective_scan_fwd(*tensors, args.delta_softplus, args.reverse, needs_grad)
    return out, last
