"""Execution modes (tsmamba.execution): names are checked, and off CUDA every mode is the eager model."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
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


def _graphed_tsm2_on_cuda() -> tuple[nn.Module, torch.Tensor, FastForward]:
    """A small TSM2 without dropout (graphed and eager calls then agree), a batch of 8 and its graphs-mode wrapper."""
    from tsmamba.models.registry import build_model, make_config

    torch.manual_seed(0)
    model = build_model("tsm2", make_config("tsm2", None, {"d_model": 16, "dropout": 0.0}), 96, 24, 5).cuda()
    return model, torch.randn(8, 96, 5, device="cuda"), FastForward(model, "graphs")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
def test_graphs_mode_equals_eager_on_cuda():
    # without dropout a graphed training step and a graphed prediction give the eager outputs and gradients;
    # a batch of another size (the last partial batch) runs eagerly
    model, x, fast = _graphed_tsm2_on_cuda()
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_graphs_mode_under_autocast_equals_eager_on_cuda(dtype):
    # the model call's forward/backward graphs and the no-grad graph, captured under autocast with its cache off,
    # give the eager outputs and gradients under the same autocast, and replay more than once
    model, x, fast = _graphed_tsm2_on_cuda()
    results = []
    for forward in (model, fast, fast):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            out = forward(x)
        (out.float().square().mean() * 1024.0).backward()  # as a GradScaler would scale an fp16 loss
        results.append((out.detach().float(), [p.grad.clone() for p in model.parameters()]))
        del out
    assert fast._paths[(True, True, False, torch.float32, dtype)][1] is not None  # graphed, not eager
    for out, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=1e-2, atol=1e-3)
        for a, b in zip(grads, results[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)
    model.eval()
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
        expected = model(x).float()
        for _ in range(2):
            torch.testing.assert_close(fast(x).float(), expected, rtol=1e-2, atol=1e-3)
    assert fast._paths[(False, False, True, torch.float32, dtype)][1] is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (runs in the GPU requests)")
@pytest.mark.parametrize("bf16", [False, True])
def test_step_graph_trains_as_the_eager_step_on_cuda(bf16):
    # FastForward.loss + backward with Adam between them: full batches replay one graph of forward, loss and
    # backward, the batch of 3 runs eagerly, and losses and weights follow the eager run's (also under bf16
    # autocast, which the capture records with autocast's cache off)
    from tsmamba.models.registry import build_model, make_config
    from tsmamba.training import adam, parameter_groups

    def run(mode: str) -> tuple[list[float], list[torch.Tensor], list[bool]]:
        torch.manual_seed(0)
        model = build_model("tsm2", make_config("tsm2", None, {"d_model": 16, "dropout": 0.0}), 96, 24, 5).cuda()
        opt = adam(parameter_groups(model, 0.0), 1e-3)
        fast = FastForward(model, mode)
        data = torch.Generator(device="cuda").manual_seed(1)
        losses, replayed = [], []
        for batch in (8, 8, 8, 3, 8):
            x = torch.randn(batch, 96, 5, device="cuda", generator=data)
            y = torch.randn(batch, 24, 5, device="cuda", generator=data)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = fast.loss(x, y, F.mse_loss)
            replayed.append(fast.replayed)
            fast.backward(loss)
            opt.step()
            losses.append(float(loss.detach()))
        return losses, [p.detach().clone() for p in model.parameters()], replayed

    eager_losses, eager_params, _ = run("eager")
    losses, params, replayed = run("graphs")
    assert replayed == [True, True, True, False, True]
    rtol = 1e-3 if bf16 else 1e-5
    torch.testing.assert_close(losses, eager_losses, rtol=rtol, atol=1e-6)
    for a, b in zip(params, eager_params):
        torch.testing.assert_close(a, b, rtol=10 * rtol, atol=1e-5 if bf16 else 1e-6)


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
print("captured", fast._paths[(True, True, False, torch.float32, None)][1] is not None)
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
    assert captured == (fast._paths[(True, True, False, torch.float32, None)][1] is not None)


def test_a_failed_capture_warns_once_and_runs_eagerly(monkeypatch):
    # the fallback itself, on the CPU: the capture raises as CUDA does, the call and later calls run eagerly
    import tsmamba.execution as execution

    calls = []

    def failing_capture(model, x, autocast):
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


def test_loss_and_backward_off_cuda_are_the_eager_step():
    # a training loop asks FastForward for the loss and hands it back for the backward: off CUDA that is the
    # model's own loss and loss.backward(), and there is no replayed step whose gradients could be applied
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    expected = torch.autograd.grad(F.mse_loss(model(x), y), list(model.parameters()))
    for mode in EXECUTIONS:
        fast = FastForward(model, mode)
        model.zero_grad(set_to_none=True)
        loss = fast.loss(x, y, F.mse_loss)
        assert loss.requires_grad and not fast.replayed
        fast.backward(loss)
        for p, g in zip(model.parameters(), expected):
            torch.testing.assert_close(p.grad, g, rtol=0, atol=0)
        with pytest.raises(RuntimeError, match="follows a loss\\(\\) that replayed a step graph"):
            fast.apply_gradients()


class EagerStep:
    """_StepGraph's contract without CUDA: each call runs the step (loss and gradients into buffers)."""

    made: list[tuple] = []

    def __init__(self, model, loss_function, x, y, autocast_dtype=None):
        self.model, self.loss_function, self.autocast_dtype = model, loss_function, autocast_dtype
        self.params = tuple(p for p in model.parameters() if p.requires_grad)
        self.calls = 0
        EagerStep.made.append((tuple(x.shape), tuple(y.shape)))

    def __call__(self, x, y):
        self.calls += 1
        loss = self.loss_function(self.model(x).float(), y)
        self.static_grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        return loss.detach()

    def apply_gradients(self):
        for p, g in zip(self.params, self.static_grads):
            p.grad = g


@pytest.mark.slow
def test_training_through_step_graphs_applies_their_gradients_as_the_eager_step_would(standardised_series, monkeypatch):
    # the Lightning path of "graphs" on the CPU, with the CUDA graph replaced by EagerStep: full batches go
    # through the step (captured once), the last partial batch runs eagerly, and Lightning's zero_grad between
    # training_step and backward does not lose the step's gradients: the weights equal eager training's
    import tsmamba.execution as execution
    from tsmamba.data.windows import WindowDataset
    from tsmamba.models.dlinear import DLinearConfig, DLinearModel
    from tsmamba.training import fit_model

    train = WindowDataset(standardised_series, 48, 12, 0, 400)  # 341 windows: 21 batches of 16 and one of 5
    val = WindowDataset(standardised_series, 48, 12, 400 - 48, 500)

    def fitted(execution_mode: str) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = DLinearModel(DLinearConfig(), 48, 12, 3)
        config = TrainConfig(learning_rate=0.01, max_epochs=2, batch_size=16, seed=3, execution=execution_mode)
        return fit_model(model, train, val, config).model.state_dict()

    expected = fitted("eager")
    steps: list[EagerStep] = []

    def make_step(*args):
        steps.append(EagerStep(*args))
        return steps[-1]

    monkeypatch.setattr(execution, "resolve_execution", lambda mode, device: mode if mode == "eager" else "graphs")
    monkeypatch.setattr(execution, "_StepGraph", make_step)
    monkeypatch.setattr(execution, "_InferenceGraph", lambda model, x, autocast: model)
    got = fitted("graphs")
    assert len(steps) == 1 and steps[0].calls == 2 * 21
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("dtype", "graphed"), [(None, True), (torch.bfloat16, True), (torch.float16, False)])
def test_step_graph_is_captured_in_fp32_and_bf16_autocast_not_under_fp16(monkeypatch, dtype, graphed):
    # bf16 needs no loss scaling, so its step is captured (autocast's dtype handed to the capture); under fp16 a
    # GradScaler scales the loss after FastForward.loss, so the step must stay eager

    import tsmamba.execution as execution

    made: list[EagerStep] = []
    monkeypatch.setattr(execution, "resolve_execution", lambda mode, device: "graphs")
    monkeypatch.setattr(execution, "_StepGraph", lambda *args: made.append(EagerStep(*args)) or made[-1])
    monkeypatch.setattr(execution, "_TrainingGraphs", lambda model, x, autocast: model)  # fp16: the model call's
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    fast = FastForward(model, "graphs")
    casts = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with casts:
        loss = fast.loss(torch.randn(4, 3), torch.randn(4, 2), F.mse_loss)
    assert fast.replayed is graphed and loss.requires_grad is not graphed
    assert [s.autocast_dtype for s in made] == ([dtype] if graphed else [])


@pytest.mark.parametrize("grad", [True, False])
def test_model_calls_under_autocast_are_captured_per_autocast_dtype(monkeypatch, grad):
    # a model call under autocast (an fp16 training step, validation and prediction in mixed precision) is graphed
    # too, one capture per autocast dtype, each told the dtype whose casts it records; they ran eagerly before
    import tsmamba.execution as execution

    made: list[tuple[str, torch.dtype | None]] = []

    def capture(kind):
        return lambda model, x, autocast: made.append((kind, autocast)) or model

    monkeypatch.setattr(execution, "resolve_execution", lambda mode, device: "graphs")
    monkeypatch.setattr(execution, "_TrainingGraphs", capture("training"))
    monkeypatch.setattr(execution, "_InferenceGraph", capture("inference"))
    model = nn.Linear(3, 2).train(grad)
    fast = FastForward(model, "graphs")
    x = torch.randn(4, 3)
    kind = "training" if grad else "inference"
    with torch.set_grad_enabled(grad):
        for dtype in (None, torch.bfloat16, torch.float16, torch.bfloat16):
            with torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext():
                out = fast(x)
            assert out.dtype == (torch.float32 if dtype is None else dtype)  # the model ran under the casts
    assert made == [(kind, None), (kind, torch.bfloat16), (kind, torch.float16)]


def test_step_graph_is_not_used_when_ddp_all_reduces_gradients(monkeypatch):
    # DDP all-reduces gradients from autograd hooks during backward; a replayed step graph has no autograd
    # backward, so with several ranks the loss must come from the model call (whose backward is autograd's)
    import tsmamba.execution as execution

    made: list[EagerStep] = []
    monkeypatch.setattr(execution, "resolve_execution", lambda mode, device: "graphs")
    monkeypatch.setattr(execution, "_StepGraph", lambda *args: made.append(EagerStep(*args)) or made[-1])
    monkeypatch.setattr(execution, "_TrainingGraphs", lambda model, x, autocast: model)
    monkeypatch.setattr(torch.distributed, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    model = nn.Linear(3, 2)
    fast = FastForward(model, "graphs")
    loss = fast.loss(torch.randn(4, 3), torch.randn(4, 2), F.mse_loss)
    assert loss.requires_grad and not fast.replayed and made == []
