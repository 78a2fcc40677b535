"""Execution modes (tsmamba.execution): names are checked, and off CUDA every mode is the eager model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsmamba.execution import EXECUTIONS, FastForward, resolve_execution
from tsmamba.training import TrainConfig


def test_every_mode_is_eager_on_cpu_and_auto_is_graphs_on_cuda():
    for mode in EXECUTIONS:
        assert resolve_execution(mode, "cpu") == "eager"
    assert resolve_execution("auto", "cuda") == "graphs"
    assert resolve_execution("compile", "cuda") == "compile"


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="execution 'fast' unknown"):
        resolve_execution("fast", "cpu")
    with pytest.raises(ValueError, match="execution 'fast' unknown"):
        FastForward(nn.Linear(2, 2), "fast")
    with pytest.raises(ValueError, match="execution 'fast' unknown"):
        TrainConfig(execution="fast")


def test_fast_forward_on_cpu_calls_the_model_itself():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    x = torch.randn(5, 3)
    for mode in EXECUTIONS:
        torch.manual_seed(1)
        expected = model(x)
        torch.manual_seed(1)
        torch.testing.assert_close(FastForward(model, mode)(x), expected, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
def test_graphs_mode_equals_eager_on_cuda():
    # without dropout a graphed training step and a graphed prediction give the eager outputs and gradients;
    # a batch of another size (the last partial batch) runs eagerly
    from tsmamba.models.registry import build_model, make_config

    torch.manual_seed(0)
    model = build_model("tsm2", make_config("tsm2", None, {"d_model": 16, "dropout": 0.0}), 96, 24, 5).cuda()
    x = torch.randn(8, 96, 5, device="cuda")
    fast = FastForward(model, "graphs")
    grads = []
    for forward in (model, fast, fast):
        model.zero_grad(set_to_none=True)
        out = forward(x)
        out.square().mean().backward()
        grads.append((out.detach().clone(), [p.grad.clone() for p in model.parameters()]))
    for out, g in grads[1:]:
        torch.testing.assert_close(out, grads[0][0], rtol=1e-5, atol=1e-6)
        for a, b in zip(g, grads[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fast(x[:3]), model(x[:3]), rtol=0, atol=0)
