"""How B and C reach the scan kernels: read in place when every step's N values load as 16-byte vectors, else as
a contiguous (batch, G, L, N) copy. Triton-free, so that the custom op's wrapper (``scan_op.triton_scan``) makes
that copy where ``torch.compile`` sees it (once, saved for the backward, rather than inside each op) and the
launchers keep the same rule as the last word on the real addresses.
"""

from __future__ import annotations

from torch import Tensor


def bc_unit(B: Tensor, C: Tensor, static: bool = False) -> int | None:
    """The unit, in elements, in which the launchers pass B's and C's batch, group and step strides (the kernels
    multiply them back by the constexpr ``BC_UNIT``) so that the compiler can prove each step's N values 16-byte
    aligned and load them as vectors: 1 when the strides are all multiples of 16 (Triton's own specialisation
    then sees it), 16 bytes' worth of elements when the strides and both base addresses are multiples of 16 bytes
    (TSM2's fp32 x_proj slices, step stride dt_rank + 2N = 36 at the Weather width: 4), None when they are not
    (its bf16 slices sit 8 bytes off): no vector loads possible. ``static``: by the strides alone, what a traced
    graph can know (fake tensors have no addresses and Dynamo does not trace ``storage_offset``); the launchers
    then still copy the rare view whose strides allow vectors and whose base address does not."""
    strides = [s for x in (B, C) for s in (x.stride(0), x.stride(1), x.stride(3))]
    if all(s % 16 == 0 for s in strides):
        return 1
    unit = 16 // B.element_size()
    if any(s % unit for s in strides) or (not static and any(x.data_ptr() % 16 for x in (B, C))):
        return None
    return unit


def bc_needs_copy(B: Tensor, C: Tensor, static: bool = False) -> bool:
    """Whether B and C must be copied for vector loads: they are not N-adjacent views with a ``bc_unit``."""
    return not (B.stride(2) == 1 and C.stride(2) == 1 and bc_unit(B, C, static) is not None)


def bc_contiguous(x: Tensor) -> Tensor:
    """B or C (batch, G, N, L) as a view of a contiguous (batch, G, L, N) copy in its own dtype: a step's N values
    adjacent. 16-bit copies stay 16-bit: copied as fp32 (converted once rather than by every lane each step) the
    bf16-mixed Weather step ran 2.2 % slower (scan_hold_h200_2026-12-01f.md)."""
    return x.transpose(2, 3).contiguous().transpose(2, 3)


def bc_operands(B: Tensor, C: Tensor) -> tuple[Tensor, Tensor, int]:
    """B and C (batch, G, N, L) as the kernels read them, and their stride unit (``bc_unit``): N-adjacent views
    whose steps load as 16-byte vectors are kept (TSM2's fp32 slices: no copy), anything else is copied
    (``bc_contiguous``: mamba_ssm's (batch, G, N, L) layout; TSM2's 16-bit slices, for which the two small copies
    cost less than 32 scalar loads a step: H200, scan_hold_h200_2026-12-01e.md)."""
    if bc_needs_copy(B, C):
        B, C = bc_contiguous(B), bc_contiguous(C)
    return B, C, bc_unit(B, C) or 1


def bc_strides(x: Tensor, unit: int) -> tuple[int, int, int, int]:
    """B's or C's (batch, group, N, step) strides with the batch, group and step ones divided by ``unit``."""
    return x.stride(0) // unit, x.stride(1) // unit, x.stride(2), x.stride(3) // unit
