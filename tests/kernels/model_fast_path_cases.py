"""TSM2 on the fast path (Triton scan custom op, fused Triton convolution, channel-last) vs the reference path
(torch scan, ``nn.Conv1d`` + SiLU): same weights, same input, forward output and every parameter gradient equal
within the kernel tests' fp32 tolerances; also the scan custom op's fake functions (``opcheck``).

Collected by ``test_fused_triton.py``: natively on CUDA, on CPU in a TRITON_INTERPRET=1 subprocess.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from selective_scan_cases import TOLERANCES, assert_close, make_inputs
from tsmamba.kernels.reference import selective_scan_loop
from tsmamba.kernels.scan_triton_fwd import CKPT_STEPS, checkpoint_slots

from tsmamba.models.registry import build_model, make_config

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
OPCHECKS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _pair():
    # tiny (the interpreter is slow): 3 patches, 2 variates, d_inner 8; the channel mixer runs both
    # convolution and scan directions, the token mixer the forward ones
    options = dict(d_model=4, d_state=2, n_layers=1, dropout=0.0)
    torch.manual_seed(0)
    fast = build_model("tsm2", make_config("tsm2", None, {**options, "scan_backend": "triton"}), 24, 4, 2)
    ref = build_model("tsm2", make_config("tsm2", None, {**options, "scan_backend": "torch"}), 24, 4, 2)
    ref.load_state_dict(fast.state_dict())
    return fast.to(DEVICE).train(), ref.to(DEVICE).train()


def test_fast_path_equals_reference_path():
    fast, ref = _pair()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 24, 2, generator=gen).to(DEVICE)
    target = torch.randn(3, 4, 2, generator=gen).to(DEVICE)
    outs = []
    for model in (fast, ref):
        out = model(x)
        torch.nn.functional.mse_loss(out, target).backward()
        outs.append(out.detach())
    rtol, atol = TOLERANCES[torch.float32]
    assert_close(outs[0], outs[1], rtol, atol, "forecast")
    ref_params = dict(ref.named_parameters())
    checked = 0
    for name, p in fast.named_parameters():
        g_ref = ref_params[name].grad
        assert p.grad is not None and g_ref is not None, name
        scale = max(1.0, g_ref.abs().max().item())
        assert_close(p.grad, g_ref, 5 * rtol, 5 * atol * scale, f"d{name}")
        checked += 1
    assert checked == len(ref_params)


def test_scan_forward_op_checkpoints_are_the_states_before_every_tile():
    # the op's checkpoint output holds exactly the states before scanned steps T, 2T, ... (T = CKPT_STEPS, the
    # backward's tile starts past tile 0; none for L <= T) and no uninitialised memory (torch.compile compares and
    # reuses outputs): in both directions, with and without an initial state, on the launcher's chunked two-pass path
    # (L=130 on 2 x 4 channels) too; each slot equals the last state of the fp64 loop over the steps before it
    fields = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")
    for use_h0, reverse, length in ((True, True, 37), (False, False, 37), (True, False, 130), (False, True, 16)):
        inputs = make_inputs(2, 4, length, 2, groups=2, use_h0=use_h0, device=DEVICE)
        args = [inputs[k] for k in fields]
        for fill in (float("nan"), 7.0):  # whatever the allocator hands out
            torch.empty(4096, device=DEVICE).fill_(fill)
            _, _, ckpt = torch.ops.tsmamba.selective_scan_fwd(*args, True, reverse, True)
            assert ckpt.shape == (2, checkpoint_slots(length), 2, 4)
            assert ckpt.shape[1] == (length - 1) // CKPT_STEPS and torch.isfinite(ckpt).all()
        for k in range(1, ckpt.shape[1] + 1):
            steps = slice(length - CKPT_STEPS * k, None) if reverse else slice(0, CKPT_STEPS * k)
            cut = {name: inputs[name] for name in fields}
            cut.update({name: inputs[name][..., steps] for name in ("u", "delta", "z", "B", "C")})
            _, state = selective_scan_loop(**cut, delta_softplus=True, reverse=reverse, return_last_state=True)
            torch.testing.assert_close(ckpt[:, k - 1].transpose(1, 2), state.float(), rtol=1e-4, atol=1e-5)


def test_scan_backward_through_an_op_run_without_checkpoints_names_the_fix():
    inputs = make_inputs(1, 4, 20, 2, groups=2, device=DEVICE)  # the op takes canonical (grouped) B and C
    u = inputs["u"].detach().requires_grad_()
    args = (u, inputs["delta"], inputs["A"], inputs["B"], inputs["C"], None, None, None, None)
    out, _, ckpt = torch.ops.tsmamba.selective_scan_fwd(*args, True, False, False)
    assert ckpt.numel() == 0
    with pytest.raises(RuntimeError, match="without gradients enabled"):
        out.sum().backward()


def test_scan_custom_ops_pass_opcheck():
    inputs = make_inputs(1, 4, 5, 2, groups=2, use_h0=True, device=DEVICE)
    B, C = inputs["B"], inputs["C"]
    args = (inputs["u"], inputs["delta"], inputs["A"], B, C, inputs["D"], inputs["z"], inputs["delta_bias"])
    torch.library.opcheck(
        torch.ops.tsmamba.selective_scan_fwd, (*args, inputs["initial_state"], True, True, True), test_utils=OPCHECKS
    )
    out, last, ckpt = torch.ops.tsmamba.selective_scan_fwd(*args, inputs["initial_state"], True, False, True)
    grad_out = torch.randn_like(out)
    grad_last = torch.randn_like(last)
    bwd_args = (*args, inputs["initial_state"], ckpt, grad_out, grad_last, True, False)
    torch.library.opcheck(torch.ops.tsmamba.selective_scan_bwd, bwd_args, test_utils=OPCHECKS)
    # without optional inputs the op returns empty placeholders, autograd turns them into None
    bare = (inputs["u"], inputs["delta"], inputs["A"], B, C, None, None, None, None)
    torch.library.opcheck(torch.ops.tsmamba.selective_scan_fwd, (*bare, False, True, True), test_utils=OPCHECKS)


def test_fast_path_compiles_as_one_graph(monkeypatch):
    # torch.compile must see the whole model: a graph break anywhere in the backbone's loop makes Dynamo skip the
    # whole backbone frame and run it eagerly, so the compiled execution modes were slower than eager. It did on
    # torch 2.11, whose Dynamo refuses to trace importlib.util.find_spec, which the backend resolution called on
    # every scan; 2.13 traces it. A find_spec that breaks the graph when traced makes any version fail if tracing
    # reaches it. fullgraph=True raises on any break; aot_eager traces the custom ops' autograd too. Forward and
    # every gradient equal the eager fast path's (dropout is 0, so train mode is deterministic).
    find_spec, graph_break = importlib.util.find_spec, torch._dynamo.graph_break

    def find_spec_breaking_the_graph(*args, **kwargs):
        graph_break()  # a no-op outside tracing
        return find_spec(*args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec_breaking_the_graph)
    fast, _ = _pair()
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 24, 2, generator=gen).to(DEVICE)
    compiled = torch.compile(fast, fullgraph=True, backend="aot_eager")
    results = []
    for model in (compiled, fast):
        fast.zero_grad()
        out = model(x)
        out.square().mean().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in fast.named_parameters()}))
    (out_c, grads_c), (out_e, grads_e) = results
    torch.testing.assert_close(out_c, out_e)
    for name, grad in grads_e.items():
        torch.testing.assert_close(grads_c[name], grad, msg=f"d{name}")
