"""How a model's forward runs on CUDA: eagerly, captured in CUDA graphs, or through ``torch.compile``.

Small models at short lookbacks are launch-bound on a GPU: a TSM2 training step is ~900 small kernels whose
launches cost more CPU time than their GPU work. :class:`FastForward` wraps a model and runs each call of a
static batch size through a faster path, keyed by (training flag, grad mode, inference mode, input shape):

- ``"graphs"``: training-mode calls go through ``torch.cuda.make_graphed_callables`` (forward and backward each
  one CUDA graph, captured in milliseconds); no-grad calls (validation, prediction) replay a captured forward.
- ``"compile"``: ``torch.compile`` (Inductor fuses the elementwise work; the scan and the fused convolution are
  custom ops, so there is no graph break); ``"compile-graphs"``: the same with mode ``"reduce-overhead"``.
- ``"eager"``: the model as it is. ``"auto"``: ``"graphs"`` on CUDA in fp32, ``"eager"`` elsewhere (the CPU path
  is never changed).

Calls whose batch size differs from the first one seen in that mode (the last partial batch of an epoch or of a
prediction) run eagerly on the same parameters, so no second capture or compilation is made for them. Under
autocast (mixed precision) ``"graphs"`` runs eagerly, because CUDA-graph capture cannot use autocast's cache.
When a capture fails, that path runs eagerly from then on, with one warning that names the cause: the usual one
is an autograd graph of an earlier eager step still alive (a loss or output kept by the caller), whose gradient
accumulators sit on the default stream, which a capture on a side stream may not wait on.
Setup time (capture or compilation) is recorded in ``setup_seconds``.
Both graphed modes assume one backward per optimiser step, as training does (it has no gradient accumulation):
a graph's gradients live in static buffers that its next replay overwrites (pytorch/pytorch#181723 and #169545:
accumulating over several graphed backwards can corrupt them), so an accumulation option would need its own copy.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
from torch import Tensor, nn

EXECUTIONS = ("auto", "eager", "graphs", "compile", "compile-graphs")


def resolve_execution(execution: str, device: torch.device | str) -> str:
    """The mode ``execution`` means on ``device``: non-CUDA devices always run eagerly."""
    if execution not in EXECUTIONS:
        raise ValueError(f"execution {execution!r} unknown; use one of {', '.join(EXECUTIONS)}.")
    if torch.device(device).type != "cuda":
        return "eager"
    return "graphs" if execution == "auto" else execution


class _InferenceGraph:
    """One captured no-grad forward for a fixed input shape: copy in, replay, copy out."""

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        self.static_x = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # Triton/cuBLAS initialisation happens outside the capture
                model(self.static_x)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_y = model(self.static_x)

    def __call__(self, x: Tensor) -> Tensor:
        self.static_x.copy_(x)
        self.graph.replay()
        return self.static_y.clone()


def _graph_training_forward(model: nn.Module, x: Tensor) -> Any:
    """A graphed (forward + backward) callable of ``model`` for ``x``'s shape; the model itself stays eager.

    ``make_graphed_callables`` runs warm-up steps, which would move BatchNorm running statistics: buffers and
    gradients are put back afterwards (also when the capture fails), so capture leaves the model as it found it.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    grads = [p.grad for p in model.parameters()]
    torch.cuda.synchronize()
    try:
        torch.cuda.make_graphed_callables(model, (x.detach().clone(),), num_warmup_iters=3, allow_unused_input=True)
        return model.__dict__["forward"]  # the graphed callable that make_graphed_callables set on the instance
    finally:
        model.__dict__.pop("forward", None)  # keep the eager forward on the model itself
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for p, g in zip(model.parameters(), grads):
            p.grad = g


class FastForward:
    """Calls ``model`` through the resolved execution mode (see the module docstring); same outputs, faster."""

    def __init__(self, model: nn.Module, execution: str = "auto") -> None:
        self.model = model
        self.requested = execution
        resolve_execution(execution, "cpu")  # validates the name
        self._compiled: Any = None
        self._paths: dict[tuple, Any] = {}
        self.setup_seconds = 0.0

    def mode(self, device: torch.device) -> str:
        return resolve_execution(self.requested, device)

    def __call__(self, x: Tensor) -> Tensor:
        mode = self.mode(x.device)
        if mode == "eager":
            return self.model(x)
        if mode in ("compile", "compile-graphs"):
            return self._compiled_call(mode, x)
        if torch.is_autocast_enabled(x.device.type):
            return self.model(x)
        grad = torch.is_grad_enabled()
        if grad and not self.model.training:
            return self.model(x)
        key = (self.model.training, grad, torch.is_inference_mode_enabled(), x.dtype)
        path = self._paths.get(key)
        if path is None:
            started = time.perf_counter()
            path = (tuple(x.shape), self._capture(x, grad))
            self._paths[key] = path
            self.setup_seconds += time.perf_counter() - started
        shape, fn = path
        return fn(x) if fn is not None and tuple(x.shape) == shape else self.model(x)

    def _capture(self, x: Tensor, grad: bool) -> Any:
        """The graphed callable for ``x``'s shape, or ``None`` (eager from then on) when the capture fails."""
        try:
            return _graph_training_forward(self.model, x) if grad else _InferenceGraph(self.model, x)
        except RuntimeError as error:  # torch.AcceleratorError is a RuntimeError
            if x.is_cuda:
                torch.cuda.synchronize()
            warnings.warn(
                f"CUDA-graph capture failed ({str(error).splitlines()[0]}); this path runs eagerly instead "
                "(same results, slower). The usual cause is an autograd graph of an earlier eager step kept "
                "alive (e.g. a loss or output still referenced): drop it before the first graphed call, or "
                "pass execution='eager'.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def _compiled_call(self, mode: str, x: Tensor) -> Tensor:
        key = (self.model.training, torch.is_grad_enabled(), x.dtype)
        shape = self._paths.setdefault(key, tuple(x.shape))
        if tuple(x.shape) != shape:
            return self.model(x)
        if self._compiled is None:
            self._compiled = torch.compile(
                self.model, mode="reduce-overhead" if mode == "compile-graphs" else "default", dynamic=False
            )
        started = time.perf_counter()
        out = self._compiled(x)
        elapsed = time.perf_counter() - started
        if elapsed > 1.0:  # a (re)compilation; steady-state calls take milliseconds
            self.setup_seconds += elapsed
        return out
