"""TSM2 on the fast path (Triton scan custom op, fused Triton convolution, channel-last) vs the reference path
(torch scan, ``nn.Conv1d`` + SiLU): same weights, same input, forward output and every parameter gradient equal
within the kernel tests' fp32 tolerances; also the scan custom op's fake functions (``opcheck``).

Collected by ``test_fused_triton.py``: natively on CUDA, on CPU in a TRITON_INTERPRET=1 subprocess.
"""

from __future__ import annotations

import pytest
import torch
from selective_scan_cases import TOLERANCES, assert_close, make_inputs

from tsmamba.models.registry import build_model, make_config

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _pair(token_direction: str, norm: str):
    options = dict(d_model=8, d_state=4, n_layers=1, dropout=0.0, token_direction=token_direction, norm=norm)
    torch.manual_seed(0)
    fast = build_model("tsm2", make_config("tsm2", None, {**options, "scan_backend": "triton"}), 32, 8, 3)
    ref = build_model("tsm2", make_config("tsm2", None, {**options, "scan_backend": "torch"}), 32, 8, 3)
    ref.load_state_dict(fast.state_dict())
    return fast.to(DEVICE).train(), ref.to(DEVICE).train()


@pytest.mark.parametrize("token_direction,norm", [("forward", "batchnorm2d"), ("bidirectional", "layernorm2d")])
def test_fast_path_equals_reference_path(token_direction, norm):
    fast, ref = _pair(token_direction, norm)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 32, 3, generator=gen).to(DEVICE)
    target = torch.randn(4, 8, 3, generator=gen).to(DEVICE)
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


def test_scan_custom_ops_pass_opcheck():
    inputs = make_inputs(2, 4, 9, 3, groups=2, use_h0=True, device=DEVICE)
    B, C = inputs["B"], inputs["C"]
    args = (inputs["u"], inputs["delta"], inputs["A"], B, C, inputs["D"], inputs["z"], inputs["delta_bias"])
    torch.library.opcheck(torch.ops.tsmamba.selective_scan_fwd, (*args, inputs["initial_state"], True, True, True))
    out, last, ckpt = torch.ops.tsmamba.selective_scan_fwd(*args, inputs["initial_state"], True, False, True)
    grad_out = torch.randn_like(out)
    grad_last = torch.randn_like(last)
    bwd_args = (*args, inputs["initial_state"], ckpt, grad_out, grad_last, True, False)
    torch.library.opcheck(torch.ops.tsmamba.selective_scan_bwd, bwd_args)
    # without optional inputs the op returns empty placeholders, autograd turns them into None
    bare = (inputs["u"], inputs["delta"], inputs["A"], B, C, None, None, None, None)
    torch.library.opcheck(torch.ops.tsmamba.selective_scan_fwd, (*bare, False, True, True))
