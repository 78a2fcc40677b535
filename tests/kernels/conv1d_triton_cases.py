"""Test cases for the fused Triton Conv1d + SiLU (forward and backward) against ``F.conv1d`` + SiLU.

Collected by ``test_fused_triton.py``: natively on a CUDA machine, and on CPU in a subprocess with
TRITON_INTERPRET=1 (see test_selective_scan_triton.py for why). Shapes are tiny because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch
from selective_scan_cases import TOLERANCES, assert_close
from tsmamba.kernels import conv1d_triton
from tsmamba.kernels.conv1d_reference import conv1d_silu_reference
from tsmamba.kernels.conv1d_triton import conv1d_silu

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
OPCHECKS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _inputs(batch, length, channels, k, dtype, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype).to(DEVICE)

    # x is one half of a wider channel-last tensor, as the in_proj output's SSM half is in the model
    x = rnd(batch, length, 2 * channels)[..., :channels].requires_grad_(True)
    param = torch.float64 if dtype == torch.float64 else torch.float32
    w = rnd(channels, 1, k).to(param).requires_grad_(True)
    b = rnd(channels).to(param).requires_grad_(True) if bias else None
    return x, w, b


def _check(batch, length, channels, k, reverse, dtype, bias=True, seed=0):
    x, w, b = _inputs(batch, length, channels, k, dtype, bias, seed)
    leaves = [t for t in (x, w, b) if t is not None]
    gen = torch.Generator().manual_seed(seed + 1)
    grad = torch.randn(batch, length, channels, generator=gen, dtype=torch.float64).to(DEVICE)
    out = conv1d_silu(x, w, b, reverse=reverse)
    assert out.shape == (batch, length, channels) and out.is_contiguous() and out.dtype == dtype
    grads = torch.autograd.grad((out * grad.to(dtype)).sum(), leaves)
    ref_leaves = [t.detach().double().requires_grad_(True) for t in leaves]
    xr, wr = ref_leaves[0], ref_leaves[1]
    br = ref_leaves[2] if bias else None
    ref = conv1d_silu_reference(xr, wr, br, reverse=reverse)
    ref_grads = torch.autograd.grad((ref * grad).sum(), ref_leaves)
    rtol, atol = TOLERANCES[dtype]
    assert_close(out, ref, rtol, atol, "u")
    for name, g, g_ref, leaf in zip(("x", "weight", "bias"), grads, ref_grads, leaves):
        assert g.dtype == leaf.dtype and g.shape == leaf.shape, name
        scale = max(1.0, g_ref.abs().max().item())  # weight/bias gradients sum over batch and time
        assert_close(g, g_ref, rtol, atol * scale, f"d{name}")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("length", [1, 3, 33])
def test_matches_conv1d_silu(length, dtype, reverse):
    _check(2, length, 6, 4, reverse, dtype, seed=length)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_other_kernel_sizes_and_no_bias(k):
    _check(2, 9, 5, k, reverse=k % 2 == 0, dtype=torch.float32, bias=k != 3, seed=k)


@pytest.mark.parametrize("programs", [2, 4])
def test_wide_channels_many_rows_split_across_programs(monkeypatch, programs):
    # more channels than one block (64), row tiles of 64 that cross sequence boundaries (150 rows of L=30), and the
    # backward's first pass looping over several tiles per program: 3 tiles each (2 programs over 2 channel
    # blocks), or 2 each with a last program whose second tile is past the end (4 programs)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "programs", programs)
    _check(5, 30, 70, 4, reverse=programs == 4, dtype=torch.float32, seed=7)


def test_partial_sums_of_many_programs(monkeypatch):
    # the second pass sums pass 1's partial rows 8 at a time: 75 programs (one 16-row tile each of 1200 rows) take
    # ten chunks, the last partial; dweight and dbias come out in the parameters' fp32
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r_16bit", 16)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "num_warps", 4)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "programs", 1000)
    _check(4, 300, 6, 4, reverse=False, dtype=torch.bfloat16, seed=17)


@pytest.mark.parametrize(("block_r", "num_warps"), [(16, 4), (32, 16)])
def test_first_backward_pass_in_other_tiles(monkeypatch, block_r, num_warps):
    # DPRE_CONFIG's other tiles (timed and not kept: conv1d_triton.py): smaller row tiles, several per
    # program, tiles that cross sequence boundaries (L=30) and a last partial one
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r", block_r)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "num_warps", num_warps)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "programs", 3)
    _check(3, 30, 70, 4, reverse=block_r == 32, dtype=torch.float32, seed=11)


@pytest.mark.parametrize(("block_r", "num_warps", "fold"), [(64, 8, 0), (32, 8, 2), (16, 4, 16)])
def test_first_backward_pass_folds_rows(monkeypatch, block_r, num_warps, fold):
    # DPRE_CONFIG's fold (rows summed in registers before the per-element sums): the layout's own (0, 4 rows at
    # (64, 8) in fp32), an explicit 2, and the whole tile (16: rows that span threads, summed through shared
    # memory on a GPU); several tiles per program, tiles across sequence boundaries and a last partial one
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r", block_r)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "num_warps", num_warps)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "fold", fold)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "programs", 3)
    _check(3, 30, 70, 4, reverse=fold == 2, dtype=torch.float32, seed=13 + fold)


@pytest.mark.parametrize(("fold", "dtype"), [(3, torch.float32), (128, torch.float32), (-1, torch.bfloat16)])
def test_first_backward_pass_fold_must_divide_the_tile(monkeypatch, fold, dtype):
    # 16-bit x takes its own tile's keys, and the error names the key that was read
    key = "fold_16bit" if dtype == torch.bfloat16 else "fold"
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, key, fold)
    x, w, b = (t.detach() for t in _inputs(2, 5, 3, 4, dtype))
    with pytest.raises(ValueError, match=f"DPRE_CONFIG\\['{key}'\\] is {fold}"):
        conv1d_triton.conv1d_silu_backward(x, w, b, torch.zeros(2, 5, 3, device=DEVICE, dtype=dtype), False)


def test_first_backward_pass_tile_must_be_a_power_of_two(monkeypatch):
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r", 24)
    x, w, b = (t.detach() for t in _inputs(2, 5, 3, 4, torch.float32))
    with pytest.raises(ValueError, match="power of two"):
        conv1d_triton.conv1d_silu_backward(x, w, b, torch.zeros(2, 5, 3, device=DEVICE), False)


@pytest.mark.parametrize("tile", [None, (64, 1)])
@pytest.mark.parametrize("dpre_16bit", [0, 1])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(monkeypatch, dtype, dpre_16bit, tile):
    # dpre_16bit: the first backward pass's scratch in x's dtype (the default) or fp32, within the dtype's tolerance;
    # the first pass in the 16-bit default tile (32 rows, auto fold) and in fp32's (64 rows, no fold), one program
    # looping over all 200 rows (7 or 4 tiles, the last partial)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "dpre_16bit", dpre_16bit)
    if tile is not None:
        monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r_16bit", tile[0])
        monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "fold_16bit", tile[1])
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "programs", 1)
    _check(2, 100, 6, 4, reverse=True, dtype=dtype, seed=3)


def test_bad_shapes_are_clear_errors():
    x = torch.zeros(2, 5, 3, device=DEVICE)
    with pytest.raises(ValueError, match="pass x as"):
        conv1d_silu(x[0], torch.zeros(3, 4, device=DEVICE))
    with pytest.raises(ValueError, match="weight has shape"):
        conv1d_silu(x, torch.zeros(4, 4, device=DEVICE))
    with pytest.raises(ValueError, match="bias has shape"):
        conv1d_silu(x, torch.zeros(3, 4, device=DEVICE), torch.zeros(2, device=DEVICE))


def test_custom_ops_pass_opcheck():
    # fake (meta) functions agree with the real ones; autograd registration and schema are consistent
    x, w, b = _inputs(2, 6, 3, 4, torch.float32)
    torch.library.opcheck(torch.ops.tsmamba.conv1d_silu_fwd, (x, w, b, True), test_utils=OPCHECKS)
    grad = torch.randn(2, 6, 3, device=DEVICE)
    torch.library.opcheck(
        torch.ops.tsmamba.conv1d_silu_bwd, (x.detach(), w.detach(), b.detach(), grad, False), test_utils=OPCHECKS
    )
