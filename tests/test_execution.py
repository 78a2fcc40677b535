"""Execution modes (tsmamba.execution): names are checked, and off CUDA every mode is the eager model."""

from __future__ import annotations

import subprocess
import sys
import warnings

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
        del out  # a live eager graph would keep its gradient accumulators on the default stream (see below)
    for out, g in grads[1:]:
        torch.testing.assert_close(out, grads[0][0], rtol=1e-5, atol=1e-6)
        for a, b in zip(g, grads[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fast(x[:3]), model(x[:3]), rtol=0, atol=0)


GRAPHED_STEPS = """
import warnings, torch
from tsmamba.execution import FastForward
from tsmamba.models.registry import build_model, make_config
from tsmamba.training import adam, parameter_groups
torch.manual_seed(0)
model = build_model("tsm2", make_config("tsm2", None, {"d_model": 16}), 96, 24, 5).cuda()
opt = adam(parameter_groups(model, 0.0), 1e-4)
fast = FastForward(model, "graphs")
x = torch.randn(8, 96, 5, device="cuda")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        fast(x).square().mean().backward()
        opt.step()
    torch.cuda.synchronize()
print("captured", fast._paths[(True, True, False, torch.float32)][1] is not None)
print("stream warnings", sum("AccumulateGrad" in str(w.message) for w in caught))
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
def test_graphed_steps_make_their_gradient_accumulators_on_the_steps_stream_on_cuda():
    # make_graphed_callables keeps its capture's accumulators alive on the capture stream, so each later backward
    # hands every gradient across streams and torch warns; the capture here drops them. A fresh process: torch
    # may print a warning once per process
    result = subprocess.run([sys.executable, "-c", GRAPHED_STEPS], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "captured True" in result.stdout and "stream warnings 0" in result.stdout, result.stdout + result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
def test_graphs_mode_with_an_eager_graph_still_alive_warns_and_stays_correct_on_cuda():
    # an eager step's output kept alive pins its gradient accumulators to the default stream, which the capture
    # stream may not wait on: FastForward must fall back to eager with a warning, not crash or change results
    from tsmamba.models.registry import build_model, make_config

    torch.manual_seed(0)
    model = build_model("tsm2", make_config("tsm2", None, {"d_model": 16, "dropout": 0.0}), 96, 24, 5).cuda()
    x = torch.randn(8, 96, 5, device="cuda")
    kept = model(x)
    kept.square().mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    fast = FastForward(model, "graphs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fast(x)
    out.square().mean().backward()
    torch.testing.assert_close(out, kept, rtol=1e-5, atol=1e-6)
    for a, b in zip([p.grad for p in model.parameters()], expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    captured = not any("capture failed" in str(w.message) for w in caught)
    assert captured == (fast._paths[(True, True, False, torch.float32)][1] is not None)


def test_a_failed_capture_warns_once_and_runs_eagerly(monkeypatch):
    # the fallback itself, on the CPU: the capture raises as CUDA does, the call and later calls run eagerly
    import tsmamba.execution as execution

    calls = []

    def failing_capture(model, x):
        calls.append(x.shape)
        raise RuntimeError("CUDA error: operation would make the legacy stream depend on a capturing blocking stream")

    monkeypatch.setattr(execution, "resolve_execution", lambda mode, device: "graphs")
    monkeypatch.setattr(execution, "_TrainingGraphs", failing_capture)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    fast = FastForward(model, "graphs")
    with pytest.warns(RuntimeWarning, match="capture failed .*legacy stream.*runs eagerly"):
        first = fast(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = fast(x)
    torch.testing.assert_close(first, model(x), rtol=0, atol=0)
    torch.testing.assert_close(second, model(x), rtol=0, atol=0)
    assert len(calls) == 1
