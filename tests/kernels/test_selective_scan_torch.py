"""The torch backend of ``selective_scan`` against the fp64 sequential reference, gradcheck, and input checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from selective_scan_cases import (
    GRAD_NAMES,
    TOLERANCES,
    assert_close,
    check_against_reference,
    make_inputs,
    reference,
    require_grad,
)
from tsmamba.kernels import scan_torch, selective_scan, selective_scan_dense

LENGTHS = [1, 2, 7, 16, 63, 127, 128, 129, 321]


def _check_against_reference(inputs, dtype, softplus, reverse, seed=0):
    check_against_reference(inputs, dtype, softplus, reverse, "torch", seed)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("groups", [1, 2])
def test_fp32_matches_fp64_reference_over_lengths(length, groups):
    inputs = make_inputs(2, 4, length, 4, groups=groups, use_h0=True, seed=length)
    _check_against_reference(inputs, torch.float32, softplus=True, reverse=length % 2 == 1)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "options",
    [(False, False, False, False), (True, True, True, True), (True, False, True, False), (False, True, False, True)],
)
def test_options_on_and_off(reverse, options):
    use_z, use_d, use_bias, softplus = options
    inputs = make_inputs(
        2,
        6,
        33,
        3,
        groups=3,
        use_z=use_z,
        use_d=use_d,
        use_bias=use_bias,
        positive_delta=not softplus,
        use_h0=reverse,
        channel_last=not reverse,
    )
    _check_against_reference(inputs, torch.float32, softplus=softplus, reverse=reverse)


@pytest.mark.parametrize("reverse", [False, True])
def test_many_chunks_match_reference_in_fp64(monkeypatch, reverse):
    # 5-step chunks: exercises checkpoints and the adjoint carry between chunks
    monkeypatch.setattr(scan_torch, "_CHUNK_ELEMENTS", 2 * 4 * 3 * 5)
    inputs = make_inputs(2, 4, 23, 3, groups=2, dtype=torch.float64, use_h0=True)
    _check_against_reference(inputs, torch.float64, softplus=True, reverse=reverse)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("decays_fit", [True, False])
def test_saved_states_and_decays_give_the_recomputing_backward(monkeypatch, reverse, decays_fit):
    # one chunk: the forward keeps its states, and its decays after them where both fit one block, (2L + 1, b, d,
    # N) or (L + 1, b, d, N), for the backward, which then reads them instead of recomputing; same gradients as
    # from the entering state alone, and the saved tensor is left as it was (a second backward reads the same)
    per_step = 2 * 4 * 3  # batch x dim x N
    monkeypatch.setattr(scan_torch, "_CHUNK_ELEMENTS", (27 if decays_fit else 14) * per_step)
    inputs = make_inputs(2, 4, 13, 3, groups=2, use_h0=True, seed=3)  # B, C: (batch, groups, N, L)
    args = scan_torch.ScanArgs(**{**inputs, "delta_softplus": True, "reverse": reverse})
    out, _, saved = scan_torch.scan_forward(args, save_checkpoints=True)
    _, _, entering = scan_torch.scan_forward(args, save_checkpoints=False)
    assert saved.shape[0] == (2 * 13 + 1 if decays_fit else 13 + 1) and entering.shape[0] == 1
    bias = args.delta_bias[:, None] if args.delta_bias is not None else 0.0
    dt = torch.nn.functional.softplus(args.delta + bias)
    decays = torch.exp(dt.permute(2, 0, 1)[..., None] * args.A)
    if decays_fit:
        torch.testing.assert_close(saved[14:], decays, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(out)
    before = saved.clone()
    from_saved = scan_torch.scan_backward(args, saved, grad, None)
    torch.testing.assert_close(saved, before, rtol=0, atol=0)
    recomputed = scan_torch.scan_backward(args, entering, grad, None)
    for name, a, b in zip(GRAD_NAMES, from_saved, recomputed):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_non_contiguous_inputs_give_same_result_as_contiguous():
    inputs = make_inputs(2, 4, 19, 3, channel_last=True)
    big_b = torch.randn(2, 3, 2 * 19)
    inputs["B"] = big_b[:, :, ::2]  # stride 2 along L
    contiguous = {k: (None if v is None else v.contiguous()) for k, v in inputs.items()}
    a = selective_scan(**inputs, delta_softplus=True, backend="torch")
    b = selective_scan(**contiguous, delta_softplus=True, backend="torch")
    assert not inputs["u"].is_contiguous() and not inputs["B"].is_contiguous()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_fp64(monkeypatch, reverse):
    monkeypatch.setattr(scan_torch, "_CHUNK_ELEMENTS", 1 * 4 * 2 * 3)
    inputs = make_inputs(1, 4, 7, 2, groups=2, dtype=torch.float64, use_h0=True)
    leaves = require_grad(inputs)

    def fn(*tensors):
        kwargs = dict(zip([n for n in GRAD_NAMES if inputs[n] is not None], tensors))
        return selective_scan(**kwargs, delta_softplus=True, reverse=reverse, return_last_state=True, backend="torch")

    assert torch.autograd.gradcheck(fn, leaves)


def test_bf16_inputs_return_bf16_within_tolerance():
    inputs = make_inputs(2, 4, 40, 4, dtype=torch.bfloat16)
    out = selective_scan(**inputs, delta_softplus=True, backend="torch")
    assert out.dtype == torch.bfloat16
    ref_out, _, _ = reference(inputs, True, False)
    assert_close(out, ref_out, *TOLERANCES[torch.bfloat16], "bf16 out")


def test_softplus_threshold_is_identity_above_20():
    inputs = make_inputs(1, 2, 5, 2, use_z=False, use_d=False, use_bias=False)
    inputs["delta"] = torch.full((1, 2, 5), 25.0)
    inputs["A"] = torch.full((2, 2), -1e-3)
    a = selective_scan(**inputs, delta_softplus=True, backend="torch")
    b = selective_scan(**inputs, delta_softplus=False, backend="torch")
    torch.testing.assert_close(a, b)


def test_dense_reference_matches_loop():
    inputs = make_inputs(2, 4, 21, 3, groups=2)
    dense = selective_scan_dense(**{k: v for k, v in inputs.items() if k != "initial_state"}, delta_softplus=True)
    ref_out, _, _ = reference(inputs, True, False)
    assert_close(dense, ref_out, *TOLERANCES[torch.float32], "dense reference")


@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 3),
    dim_per_group=st.integers(1, 3),
    groups=st.integers(1, 2),
    length=st.integers(1, 40),
    n_state=st.integers(1, 5),
    reverse=st.booleans(),
    use_h0=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_random_shapes_match_reference(batch, dim_per_group, groups, length, n_state, reverse, use_h0, seed):
    inputs = make_inputs(batch, dim_per_group * groups, length, n_state, groups=groups, use_h0=use_h0, seed=seed)
    _check_against_reference(inputs, torch.float32, softplus=True, reverse=reverse, seed=seed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: x.update(u=x["u"][0]), "u has shape"),
        (lambda x: x.update(delta=x["delta"][:, :, :-1]), "delta has shape"),
        (lambda x: x.update(A=x["A"][:-1]), "A has shape"),
        (lambda x: x.update(B=x["B"][:, :-1]), "B has shape"),
        (lambda x: x.update(D=x["D"][:-1]), "D has shape"),
        (lambda x: x.update(z=x["z"][:, :-1]), "z has shape"),
        (lambda x: x.update(initial_state=torch.zeros(1)), "initial_state has shape"),
        (lambda x: x.update(u=x["u"].to(torch.int64)), "u has dtype"),
        (lambda x: x.update(u=x["u"][:, :, :0]), "u has an empty axis"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, message):
    inputs = make_inputs(2, 4, 9, 3)
    change(inputs)
    with pytest.raises(ValueError, match=message):
        selective_scan(**inputs, backend="torch")


def test_groups_must_divide_dim_and_backend_must_exist():
    inputs = make_inputs(2, 4, 9, 3, groups=3)
    with pytest.raises(ValueError, match="do not divide dim"):
        selective_scan(**inputs)
    with pytest.raises(ValueError, match="backend"):
        selective_scan(**make_inputs(2, 4, 9, 3), backend="cuda")


def test_mamba_ssm_backend_rejects_reverse():
    with pytest.raises(ValueError, match="reverse"):
        selective_scan(**make_inputs(2, 4, 9, 3), reverse=True, backend="mamba_ssm")


@pytest.mark.slow  # a subprocess, a compile or the interpreter: seconds to a minute on 2 cores
def test_torch_compile_fullgraph_forward_and_backward():
    # fullgraph=True raises on any graph break; aot_eager also traces the hand-written backward
    inputs = make_inputs(2, 4, 12, 3, use_h0=True)
    leaves = require_grad(inputs)

    def scan(**kwargs):
        return selective_scan(**kwargs, delta_softplus=True, reverse=True, backend="torch")

    compiled = torch.compile(scan, fullgraph=True, backend="aot_eager")
    out = compiled(**inputs)
    grads = torch.autograd.grad(out.sum(), leaves)
    ref_out = scan(**inputs)
    ref_grads = torch.autograd.grad(ref_out.sum(), leaves)
    torch.testing.assert_close(out, ref_out)
    for g, g_ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, g_ref)


def test_autocast_keeps_the_scan_in_fp32():
    inputs = make_inputs(2, 8, 40, 16)
    leaves = require_grad(inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = selective_scan(**inputs, delta_softplus=True, backend="torch")
        grads = torch.autograd.grad(out.sum(), leaves)
    assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    ref_out, _, _ = reference(inputs, True, False)
    assert_close(out, ref_out, *TOLERANCES[torch.float32], "out under autocast")


@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_through_the_last_state_only(reverse):
    # the output is unused: its gradient reaches the backward as None (no zero-filled tensors are materialised)
    inputs = make_inputs(2, 4, 9, 3, groups=2, use_h0=True)
    leaves = require_grad(inputs)
    _, last = selective_scan(**inputs, delta_softplus=True, reverse=reverse, return_last_state=True, backend="torch")
    grads = torch.autograd.grad(last.sum(), leaves)
    _, ref_last, ref_grads = reference(inputs, True, reverse, torch.zeros(2, 4, 9), torch.ones_like(last))
    assert_close(last, ref_last, *TOLERANCES[torch.float32], "last state")
    names = [n for n in GRAD_NAMES if inputs[n] is not None]
    for name, g, g_ref in zip(names, grads, ref_grads):
        assert_close(g, g_ref, 1e-3, 1e-3 * max(1.0, g_ref.abs().max().item()), f"d{name}")


def test_saved_states_and_recomputed_chunks_give_the_same_gradients(monkeypatch):
    # one chunk: the forward keeps every state for the backward; many chunks: the backward recomputes them
    inputs = make_inputs(2, 4, 17, 3, groups=2, dtype=torch.float64, use_h0=True)
    leaves = require_grad(inputs)

    def grads():
        out = selective_scan(**inputs, delta_softplus=True, backend="torch")
        return torch.autograd.grad((out * out).sum(), leaves)

    saved = grads()
    monkeypatch.setattr(scan_torch, "_CHUNK_ELEMENTS", 2 * 4 * 3 * 4)
    recomputed = grads()
    for a, b in zip(saved, recomputed):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
