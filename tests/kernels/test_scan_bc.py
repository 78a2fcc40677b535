"""How B and C reach the scan kernels (``scan_bc``): which views are read in place, which are copied, and the
static rule the custom op's wrapper decides by before tracing agreeing with the launchers' rule on real tensors.
Triton-free: runs wherever torch does."""

from __future__ import annotations

import pytest
import torch
from tsmamba.kernels.scan_bc import bc_needs_copy, bc_operands, bc_unit

N_STATE = 16


def _slices(dtype, rank, batch=2, length=8):
    # B and C as views of x_proj's (batch, L, rank + 2N) output, (batch, G, N, L) as TSM2 passes them
    x_dbl = torch.randn(batch, length, 1, rank + 2 * N_STATE).to(dtype)
    return tuple(x_dbl[..., rank + i * N_STATE : rank + (i + 1) * N_STATE].permute(0, 2, 3, 1) for i in range(2))


def _mamba(dtype):  # (batch, G, N, L): L contiguous
    return tuple(torch.randn(2, 1, N_STATE, 8).to(dtype) for _ in range(2))


def _time_major(dtype):  # (batch, G, L, N) contiguous, passed transposed
    return tuple(torch.randn(2, 1, 8, N_STATE).to(dtype).transpose(2, 3) for _ in range(2))


CASES = [
    (_slices(torch.float32, 4), False, 4),  # 16-byte rows, step stride 36: passed in units of 4
    (_slices(torch.float32, 0), False, 1),  # step stride 32: Triton sees the alignment itself
    (_slices(torch.float32, 1), True, 1),  # dt_rank 1 (d_model <= 16): rows 4 bytes off, copied
    (_slices(torch.bfloat16, 4), True, 1),  # rows 8 bytes off 16-byte alignment
    (_slices(torch.float16, 4), True, 1),
    (_slices(torch.bfloat16, 8), False, 8),  # dt_rank padded to 8: 16-byte rows in 16-bit
    (_mamba(torch.float32), True, 1),
    (_mamba(torch.bfloat16), True, 1),  # copied in its own dtype
    (_time_major(torch.bfloat16), False, 1),  # 16-bit and 16-byte aligned: kept
]


@pytest.mark.parametrize(("bc", "copied", "unit"), CASES)
def test_bc_operands_keep_vector_loadable_views_and_copy_the_rest(bc, copied, unit):
    B, C = bc
    B2, C2, got = bc_operands(B, C)
    assert got == unit
    assert torch.equal(B2, B) and torch.equal(C2, C) and B2.shape == B.shape and B2.dtype == B.dtype
    assert (B2.data_ptr() != B.data_ptr()) == copied and (C2.data_ptr() != C.data_ptr()) == copied
    if copied:  # contiguous (batch, G, L, N): a step's N values adjacent, steps N apart
        assert B2.transpose(2, 3).is_contiguous() and C2.transpose(2, 3).is_contiguous()
        assert not bc_needs_copy(B2, C2)  # what the wrapper hands the ops is read in place


@pytest.mark.parametrize(("bc", "copied", "unit"), CASES)
def test_the_static_rule_agrees_with_the_launchers_on_allocated_tensors(bc, copied, unit):
    # the wrapper decides by the strides (under torch.compile there are no addresses), the launchers by the strides
    # and data pointers; on views whose bases are 16-byte aligned (TSM2's slices among them) the two agree
    B, C = bc
    assert bc_needs_copy(B, C, static=True) == bc_needs_copy(B, C) == copied
    assert bc_unit(B, C, static=True) == bc_unit(B, C)


def test_a_view_misaligned_only_in_its_base_is_left_to_the_launchers():
    # one fp32 element into its storage: strides that are multiples of 4, a base 4 bytes off 16-byte alignment;
    # the static rule cannot see it, the launchers do and copy (bc_operands), so the kernels never get it
    base = torch.randn(2 * 8 * 36 + 1)
    B = base[1:].view(2, 8, 1, 36)[..., 4:20].permute(0, 2, 3, 1)
    C = base[1:].view(2, 8, 1, 36)[..., 20:36].permute(0, 2, 3, 1)
    assert not bc_needs_copy(B, C, static=True) and bc_needs_copy(B, C)
    B2, C2, unit = bc_operands(B, C)
    assert unit == 1 and B2.data_ptr() != B.data_ptr() and torch.equal(B2, B) and torch.equal(C2, C)
