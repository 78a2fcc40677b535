"""Test cases for the Triton backend of ``selective_scan`` (forward and backward) against the fp64 loop.

Collected by ``test_selective_scan_triton.py``: natively on a CUDA machine, and on CPU in a subprocess with
TRITON_INTERPRET=1 set before Triton is imported (Triton decides at import and decoration time whether its
kernels run in the CPU interpreter, and other test modules import Triton first). Shapes are tiny because
the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from selective_scan_cases import TOLERANCES, assert_close, check_against_reference, make_inputs, reference
from tsmamba.kernels import scan_triton_bwd, scan_triton_fwd, selective_scan
from tsmamba.kernels.scan_bc import bc_needs_copy, bc_operands

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LENGTHS = [1, 2, 7, 16, 63, 127, 128, 129, 321]


def _inputs(*shape, **kwargs):
    return make_inputs(*shape, device=DEVICE, **kwargs)


def test_kernels_run_interpreted_on_cpu_only():
    interpreted = type(scan_triton_fwd._scan_fwd_kernel).__name__ == "InterpretedFunction"
    assert interpreted == (DEVICE == "cpu")
    assert type(scan_triton_bwd._scan_bwd_kernel).__name__ == type(scan_triton_fwd._scan_fwd_kernel).__name__


@pytest.mark.parametrize("length", LENGTHS)
def test_matches_reference_over_lengths(length):
    index = LENGTHS.index(length)
    inputs = _inputs(1, 4, length, 4, groups=1 + index % 2, use_h0=index % 3 != 0, seed=length)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=index % 2 == 1, backend="triton")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "options",
    [(False, False, False, False), (True, True, True, True), (True, False, True, False), (False, True, False, True)],
)
def test_options_on_and_off(reverse, options):
    use_z, use_d, use_bias, softplus = options
    inputs = _inputs(
        2,
        4,
        19,
        3,
        groups=2,
        use_z=use_z,
        use_d=use_d,
        use_bias=use_bias,
        positive_delta=not softplus,
        use_h0=reverse,
        channel_last=not reverse,
    )
    check_against_reference(inputs, torch.float32, softplus=softplus, reverse=reverse, backend="triton")


@pytest.mark.parametrize("reverse", [False, True])
def test_chunk_parallel_variants_match_reference(monkeypatch, reverse):
    # force the long-L variants: forward in 3 chunks of 32 steps, backward in chunks of 2 tiles (32 steps),
    # each scanned in parallel and chained by a carry pass
    monkeypatch.setitem(scan_triton_fwd.FWD_CONFIG, "min_programs", 10**6)
    monkeypatch.setitem(scan_triton_fwd.FWD_CONFIG, "min_chunk", 32)
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_programs", 10**6)
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_tiles", 2)
    inputs = _inputs(1, 4, 70, 4, groups=2, use_h0=True, seed=3)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, backend="triton")


def test_non_contiguous_and_odd_dims():
    # dim 6 (masked channel block, groups of 3 channels), B with stride 2 along L, u in (batch, dim, L) layout,
    # delta and z channel-last views, C a slice of a wider tensor
    inputs = _inputs(2, 6, 23, 5, groups=2, channel_last=True, use_h0=True)
    inputs["u"] = inputs["u"].contiguous()
    inputs["B"] = torch.repeat_interleave(inputs["B"], 2, dim=-1)[..., ::2]
    inputs["C"] = torch.cat([inputs["C"], inputs["C"]], dim=2)[:, :, 5:]
    assert not inputs["B"].is_contiguous() and not inputs["C"].is_contiguous()
    check_against_reference(inputs, torch.float32, softplus=True, reverse=False, backend="triton")


def _as_x_proj_slices(inputs: dict, rank: int) -> None:
    """B and C as TSM2 passes them: (batch, N, L) views of one (batch, L, rank + 2N) projection, N values adjacent."""
    B, C = inputs["B"], inputs["C"]
    batch, n, length = B.shape
    pad = torch.zeros(batch, length, rank, device=B.device, dtype=B.dtype)
    proj = torch.cat([pad, B.transpose(1, 2), C.transpose(1, 2)], 2)
    inputs["B"] = proj[:, :, rank : rank + n].transpose(1, 2)
    inputs["C"] = proj[:, :, rank + n :].transpose(1, 2)


def test_bc_sliced_from_a_projection():
    # B and C as TSM2 passes them: (batch, N, L) views of one (batch, L, R + 2N) projection, N values adjacent
    # (the kernels read them in place; other layouts are copied to this one first), with a partial last tile
    inputs = _inputs(2, 8, 21, 4, use_h0=True, seed=11)
    _as_x_proj_slices(inputs, 3)
    assert inputs["B"].stride(1) == 1 and inputs["C"].stride(1) == 1
    check_against_reference(inputs, torch.float32, softplus=True, reverse=True, backend="triton")


@pytest.mark.parametrize(("dtype", "rank", "unit"), [(torch.float32, 4, 4), (torch.bfloat16, 8, 8)])
def test_bc_views_read_in_place_in_stride_units(dtype, rank, unit):
    # TSM2's x_proj slices whose steps are 16-byte aligned, read in place with their strides in units of `unit`
    # elements (bc_operands): fp32 at dt_rank 4 (a step of 36 values), bf16 with dt_rank padded to 8 (40 values)
    n = 16
    inputs = _inputs(2, 8, 21, n, dtype=dtype, use_h0=True, seed=5)
    _as_x_proj_slices(inputs, rank)
    B, C, got = bc_operands(inputs["B"].unsqueeze(1), inputs["C"].unsqueeze(1))
    assert got == unit and B.data_ptr() == inputs["B"].data_ptr()  # in place, not copied
    check_against_reference(inputs, dtype, softplus=True, reverse=False, backend="triton")


def test_unaligned_bc_are_copied_once_before_the_ops(monkeypatch):
    # TSM2's bf16 x_proj slices (dt_rank 4: rows 8 bytes off 16-byte alignment) are copied by the custom op's
    # wrapper, so neither op copies them again (the backward reads the forward's saved copies); output and every
    # gradient as the fp64 loop's
    n = 16
    inputs = _inputs(2, 8, 21, n, dtype=torch.bfloat16, use_h0=True, seed=6)
    _as_x_proj_slices(inputs, 4)
    assert bc_needs_copy(inputs["B"].unsqueeze(1), inputs["C"].unsqueeze(1))
    seen = []
    for module in (scan_triton_fwd, scan_triton_bwd):

        def recording(B, C, inner=module.bc_operands):
            seen.append(bc_needs_copy(B, C))
            return inner(B, C)

        monkeypatch.setattr(module, "bc_operands", recording)
    check_against_reference(inputs, torch.bfloat16, softplus=True, reverse=True, backend="triton")
    assert seen == [False, False]  # the forward op's launch, the backward op's


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs(dtype):
    inputs = _inputs(2, 4, 33, 4, dtype=dtype)
    check_against_reference(inputs, dtype, softplus=True, reverse=True, backend="triton")


def test_outputs_are_fully_written_and_deterministic():
    inputs = _inputs(2, 4, 40, 4, groups=2)
    first = selective_scan(**inputs, delta_softplus=True, backend="triton")
    second = selective_scan(**inputs, delta_softplus=True, backend="triton")
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    ref_out, _, _ = reference(inputs, True, False)
    assert_close(first, ref_out, *TOLERANCES[torch.float32], "out")


@settings(max_examples=6, deadline=None)
@given(
    batch=st.integers(1, 2),
    dim_per_group=st.sampled_from([1, 2, 3, 4]),
    groups=st.integers(1, 2),
    length=st.integers(1, 40),
    n_state=st.integers(1, 6),
    reverse=st.booleans(),
    use_h0=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_random_shapes_match_reference(batch, dim_per_group, groups, length, n_state, reverse, use_h0, seed):
    inputs = _inputs(batch, dim_per_group * groups, length, n_state, groups=groups, use_h0=use_h0, seed=seed)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, backend="triton", seed=seed)


class _LaunchSpy:
    """Wraps the backward kernel: records each launch's SCATTER flag, then launches the real kernel."""

    def __init__(self, kernel, flags: list):
        self.kernel, self.flags = kernel, flags

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.flags.append(kwargs["SCATTER"])
            return self.kernel[grid](*args, **kwargs)

        return launch


@pytest.mark.parametrize(("n_state", "groups", "reverse"), [(1, 1, False), (3, 2, True), (16, 1, True), (17, 2, False)])
def test_dB_dC_reduce_scatter_over_a_full_warp(monkeypatch, n_state, groups, reverse):
    # 32-channel blocks (one warp of channels): dB_t and dC_t go through the reduce-scatter, for N = 1 (butterfly
    # rounds only), 3 (a padded power of two), 16 (halving rounds only, TSM2's default) and 17 (BLOCK_N = 32,
    # 15 padded rows); a partial last tile (L = 21) and two groups of 32 channels
    flags: list = []
    monkeypatch.setattr(scan_triton_bwd, "_scan_bwd_kernel", _LaunchSpy(scan_triton_bwd._scan_bwd_kernel, flags))
    inputs = _inputs(1, 64, 21, n_state, groups=groups, use_h0=reverse, seed=n_state)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, backend="triton")
    assert flags == [True]


def test_partial_sums_in_one_kernel_match_torch():
    # sizes that exercise every mask and loop: 2 blocks of L·N (70 x 17 > 1024), 300 rows in 2 trips of 256,
    # column blocks cut by dim = 40 and N·dim = 680, two groups of 3 channel blocks
    gen = torch.Generator().manual_seed(0)
    batch, groups, per_group, length, n_state, rows, dim = 2, 2, 3, 70, 17, 300, 40

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(DEVICE)

    dB_part, dC_part = (
        rand(batch, groups * per_group, length, n_state),
        rand(batch, groups * per_group, length, n_state),
    )
    dA_part, dD_part, dbias_part = rand(rows, n_state, dim), rand(rows, dim), rand(rows, dim)
    dB, dC, dA, dD, dbias = scan_triton_bwd.sum_partials(dB_part, dC_part, dA_part, dD_part, dbias_part, groups)
    tol = {"rtol": 1e-5, "atol": 1e-4}  # fp32 sums of up to 300 terms, in another order than torch's
    torch.testing.assert_close(dB, dB_part.view(batch, groups, per_group, length, n_state).sum(2), **tol)
    torch.testing.assert_close(dC, dC_part.view(batch, groups, per_group, length, n_state).sum(2), **tol)
    torch.testing.assert_close(dA, dA_part.sum(0), **tol)
    torch.testing.assert_close(dD, dD_part.sum(0), **tol)
    torch.testing.assert_close(dbias, dbias_part.sum(0), **tol)


def test_partial_sums_store_db_dc_in_b_and_c_dtypes():
    # dB and dC leave the launch in B's and C's dtypes, each the fp32 sum rounded once (what a cast after it gave:
    # bitwise on a GPU; Triton's interpreter rounds fp32 to bf16 toward zero, so there within one bf16 ulp)
    gen = torch.Generator().manual_seed(1)
    parts = [torch.randn(*shape, generator=gen).to(DEVICE) for shape in ((2, 4, 33, 16),) * 2 + ((5, 16, 40),)]
    rows = [torch.randn(5, 40, generator=gen).to(DEVICE) for _ in range(2)]
    full = scan_triton_bwd.sum_partials(*parts, *rows, 2)
    half = scan_triton_bwd.sum_partials(*parts, *rows, 2, bc_dtypes=(torch.bfloat16, torch.float16))
    assert half[0].dtype == torch.bfloat16 and half[1].dtype == torch.float16
    assert torch.equal(half[1], full[1].to(torch.float16))
    if DEVICE == "cuda":
        assert torch.equal(half[0], full[0].to(torch.bfloat16))
    else:
        ulp = 2.0 ** (torch.frexp(full[0])[1] - 8)  # bf16 keeps 8 significant bits
        assert ((half[0].float() - full[0]).abs() < ulp).all()
    for got, want in zip(half[2:], full[2:], strict=True):
        assert got.dtype == torch.float32 and torch.equal(got, want)


def test_reduce_scatter_in_the_chunk_parallel_backward(monkeypatch):
    # the same 32-channel reduce-scatter when the backward splits its tiles into chunks run in parallel
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_programs", 10**6)
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_tiles", 1)
    flags: list = []
    monkeypatch.setattr(scan_triton_bwd, "_scan_bwd_kernel", _LaunchSpy(scan_triton_bwd._scan_bwd_kernel, flags))
    inputs = _inputs(1, 32, 40, 16, use_h0=True, seed=5)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=True, backend="triton")
    assert flags == [True]


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_backward_prefetch_leaves_gradients_unchanged(monkeypatch, prefetch, reverse):
    # the backward's L2 prefetch of the next tile is a hint (inline PTX, compiled only for the GPU: in the
    # interpreter both are the plain path): 9 tiles with a partial last one, and the chunked backward (2-tile chunks)
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "prefetch", prefetch)
    inputs = _inputs(2, 64, 70, 4, groups=1, use_h0=True, seed=7)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, backend="triton")
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_programs", 10**6)
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "min_tiles", 2)
    check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, backend="triton")
