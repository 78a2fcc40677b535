"""How a model's forward runs on CUDA: eagerly, captured in CUDA graphs, or through ``torch.compile``.

Small models at short lookbacks are launch-bound on a GPU: a TSM2 training step is ~900 small kernels whose
launches cost more CPU time than their GPU work. :class:`FastForward` wraps a model and runs each call of a
static batch size through a faster path, keyed by (training flag, grad mode, inference mode, input dtype,
autocast dtype):

- ``"graphs"``: a training step asked through :meth:`FastForward.loss` replays its forward, loss and backward
  as one CUDA graph (:class:`_StepGraph`, captured in milliseconds), and :meth:`FastForward.backward` points the
  parameters' gradients at what it left; a training-mode call of the model itself replays its forward as one
  graph and its backward as another (:class:`_TrainingGraphs`); no-grad calls (validation, prediction) replay a
  captured forward.
- ``"compile"``: ``torch.compile`` (Inductor fuses the elementwise work; the scan and the fused convolution are
  custom ops, so there is no graph break); ``"compile-graphs"``: the same with mode ``"reduce-overhead"``.
- ``"eager"``: the model as it is. ``"auto"``: ``"graphs"`` on CUDA, ``"eager"`` elsewhere (the CPU path is
  never changed).

Calls whose batch size differs from the first one seen in that mode (the last partial batch of an epoch or of a
prediction) run eagerly on the same parameters, so no second capture or compilation is made for them. Under
autocast (mixed precision) every ``"graphs"`` capture records the casts with autocast's cache off, keyed by the
autocast dtype: the bf16 training step, the model call's forward and backward (fp16 steps, whose loss a GradScaler
scales after :meth:`FastForward.loss`, take this path) and no-grad calls (validation, prediction).
When a capture fails, that path runs eagerly from then on, with one warning that names the cause: the usual one
is an autograd graph of an earlier eager step still alive (a loss or output kept by the caller), whose gradient
accumulators sit on the default stream, which a capture on a side stream may not wait on.
Setup time (capture or compilation) is recorded in ``setup_seconds``.
Both graphed modes assume one backward per optimiser step, as training does (it has no gradient accumulation):
a graph's gradients live in static buffers that its next replay overwrites (pytorch/pytorch#181723 and #169545:
accumulating over several graphed backwards can corrupt them), so an accumulation option would need its own copy.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

EXECUTIONS = ("auto", "eager", "graphs", "compile", "compile-graphs")
LossFunction = Callable[[Tensor, Tensor], Tensor]


def resolve_execution(execution: str, device: torch.device | str) -> str:
    """The mode ``execution`` means on ``device``: non-CUDA devices always run eagerly."""
    if execution not in EXECUTIONS:
        raise ValueError(f"execution {execution!r} unknown; use one of {', '.join(EXECUTIONS)}.")
    if torch.device(device).type != "cuda":
        return "eager"
    return "graphs" if execution == "auto" else execution


class _InferenceGraph:
    """One captured no-grad forward for a fixed input shape: copy in, replay, copy out."""

    def __init__(self, model: nn.Module, x: Tensor, autocast_dtype: torch.dtype | None = None) -> None:
        self.static_x = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # Triton/cuBLAS initialisation happens outside the capture
                model(self.static_x)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), _capturing_casts(autocast_dtype):
            self.static_y = model(self.static_x)

    def __call__(self, x: Tensor) -> Tensor:
        self.static_x.copy_(x)
        self.graph.replay()
        return self.static_y.clone()


@contextlib.contextmanager
def _put_back(model: nn.Module) -> Iterator[None]:
    """Buffers and gradients as they were before the block, also when it raises: warm-up steps before a capture
    would otherwise move BatchNorm running statistics and leave gradients behind."""
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    grads = [p.grad for p in model.parameters()]
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for p, g in zip(model.parameters(), grads):
            p.grad = g


def _warm_up(step: Callable[[], Any]) -> None:
    """Three calls of ``step`` on a side stream, so Triton/cuBLAS initialisation happens before a capture; nothing
    they return is kept (a live autograd graph would lend its gradient accumulators to the capture)."""
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype autocast casts to on ``device``'s type, or None when autocast is off there."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


def _capturing_casts(dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast for a capture: a graph cannot use autocast's cache of cast weights (the cache is freed when the
    caller's autocast region ends, and the graph would read freed memory), so it records the casts themselves."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype, cache_enabled=False)


def _distributed() -> bool:
    """Whether this process is one of several ranks of a process group (DDP)."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _TrainingGraphs:
    """Forward and backward of ``model`` for one input shape, each captured in one CUDA graph; called as a function.

    ``make_graphed_callables`` does the same but keeps its captured outputs' autograd graph alive, and with it
    every parameter's gradient accumulator, created on the capture stream: each later backward then hands every
    parameter's gradient across streams (an event and a wait each, and torch's "AccumulateGrad node's stream
    does not match" warning). Here the captured graph is dropped once the backward is captured, so each step's
    accumulators are made on the stream that runs the step.
    """

    def __init__(self, model: nn.Module, x: Tensor, autocast_dtype: torch.dtype | None = None) -> None:
        self.params = tuple(p for p in model.parameters() if p.requires_grad)
        self.static_x = x.detach().clone()

        def forward_backward() -> None:
            out = model(self.static_x)
            torch.autograd.grad(out, self.params, torch.empty_like(out), allow_unused=True)

        with _put_back(model):
            _warm_up(forward_backward)
            pool = torch.cuda.graph_pool_handle()
            self.forward_graph, self.backward_graph = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.forward_graph, pool=pool), _capturing_casts(autocast_dtype):
                out = model(self.static_x)
            self.static_grad_out = torch.empty_like(out)
            with torch.cuda.graph(self.backward_graph, pool=pool):
                self.static_grads = torch.autograd.grad(out, self.params, self.static_grad_out, allow_unused=True)
            self.static_out = out.detach()  # the captured autograd graph and its accumulators go here
            del out

    def __call__(self, x: Tensor) -> Tensor:
        return _ReplayGraphs.apply(self, x, *self.params)


class _ReplayGraphs(torch.autograd.Function):
    """Autograd's view of :class:`_TrainingGraphs`: forward replays one graph, backward the other.

    The gradients returned are views of the graph's static buffers, which the next replay overwrites: one
    backward per optimiser step (see the module docstring).
    """

    @staticmethod
    def forward(ctx: Any, graphs: _TrainingGraphs, x: Tensor, *params: Tensor) -> Tensor:
        graphs.static_x.copy_(x)
        graphs.forward_graph.replay()
        ctx.graphs = graphs
        return graphs.static_out.detach()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        graphs = ctx.graphs
        graphs.static_grad_out.copy_(grad)
        graphs.backward_graph.replay()
        return (None, None, *(None if g is None else g.detach() for g in graphs.static_grads))


class _StepGraph:
    """Forward, loss and backward of one training step for fixed batch shapes, captured as one CUDA graph.

    A replay leaves the loss in ``static_loss`` and each parameter's gradient in ``static_grads`` with no autograd
    graph at all: the host launches one graph a step instead of a forward graph, a backward graph and an autograd
    traversal that accumulates every parameter's gradient. :meth:`apply_gradients` then points each parameter's
    ``.grad`` at its buffer, which the next replay overwrites (one backward per optimiser step).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_function: LossFunction,
        x: Tensor,
        y: Tensor,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.params = tuple(p for p in model.parameters() if p.requires_grad)
        self.static_x, self.static_y = x.detach().clone(), y.detach().clone()

        def step() -> tuple[Tensor, tuple[Tensor, ...]]:
            loss = loss_function(model(self.static_x).float(), self.static_y)
            return loss, torch.autograd.grad(loss, self.params, allow_unused=True)

        with _put_back(model):
            _warm_up(step)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph), _capturing_casts(autocast_dtype):
                loss, self.static_grads = step()
            self.static_loss = loss.detach()
            del loss

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()
        return self.static_loss.clone()

    def apply_gradients(self) -> None:
        for p, g in zip(self.params, self.static_grads):
            p.grad = g


class FastForward:
    """Calls ``model`` through the resolved execution mode (see the module docstring); same outputs, faster.

    A training loop asks for :meth:`loss` and hands it to :meth:`backward` (not ``loss.backward()``): in
    ``"graphs"`` mode a full batch (fp32, or under bf16 autocast) then replays forward, loss and backward as one
    CUDA graph.
    """

    def __init__(self, model: nn.Module, execution: str = "auto") -> None:
        self.model = model
        self.requested = execution
        resolve_execution(execution, "cpu")  # validates the name
        self._compiled: Any = None
        self._paths: dict[tuple, Any] = {}
        self._replayed: _StepGraph | None = None
        self.setup_seconds = 0.0

    def mode(self, device: torch.device) -> str:
        return resolve_execution(self.requested, device)

    def __call__(self, x: Tensor) -> Tensor:
        mode = self.mode(x.device)
        if mode == "eager":
            return self.model(x)
        if mode in ("compile", "compile-graphs"):
            return self._compiled_call(mode, x)
        grad = torch.is_grad_enabled()
        if grad and not self.model.training:
            return self.model(x)
        autocast = _autocast_dtype(x.device)
        key = (self.model.training, grad, torch.is_inference_mode_enabled(), x.dtype, autocast)
        capture = functools.partial(_TrainingGraphs if grad else _InferenceGraph, self.model, x, autocast)
        shape, fn = self._path(key, tuple(x.shape), capture, x.is_cuda)
        return fn(x) if fn is not None and tuple(x.shape) == shape else self.model(x)

    def loss(self, x: Tensor, y: Tensor, loss_function: LossFunction) -> Tensor:
        """``loss_function(model(x).float(), y)`` of a training step; pass it to :meth:`backward`.

        In ``"graphs"`` mode (CUDA, training mode, grad on; fp32, or bf16 autocast, which needs no loss scaling) a
        batch of the first batch's shapes replays the whole step's forward, loss and backward as one CUDA graph
        (:class:`_StepGraph`); other shapes (the last partial batch) run eagerly on the same parameters. Under fp16
        autocast the loss is scaled after this call (a GradScaler), so that step runs eagerly; in a process group
        of several ranks DDP all-reduces gradients from autograd hooks, which a replayed backward never calls, so
        there the model call's graphs (an autograd backward) run instead.
        """
        self._replayed = None
        training = self.model.training and torch.is_grad_enabled()
        autocast = _autocast_dtype(x.device)
        graphable = self.mode(x.device) == "graphs" and training and autocast in (None, torch.bfloat16)
        if not graphable or _distributed():
            return loss_function(self(x).float(), y)
        shapes = (tuple(x.shape), tuple(y.shape))
        capture = functools.partial(_StepGraph, self.model, loss_function, x, y, autocast)
        first, step = self._path(("step", loss_function, x.dtype, y.dtype, autocast), shapes, capture, x.is_cuda)
        if step is None or shapes != first:
            return loss_function(self.model(x).float(), y)
        self._replayed = step
        return step(x, y)

    def backward(self, loss: Tensor) -> None:
        """Gradients of the last :meth:`loss`: those its graph replay left (see :meth:`apply_gradients`), else
        ``loss.backward()``."""
        if self._replayed is not None:
            self.apply_gradients()
        else:
            loss.backward()

    @property
    def replayed(self) -> bool:
        """Whether the last :meth:`loss` came from a step graph, whose backward has run already."""
        return self._replayed is not None

    def apply_gradients(self) -> None:
        """Point each parameter's ``.grad`` at the gradients of the last replayed step graph."""
        if self._replayed is None:
            raise RuntimeError("apply_gradients() follows a loss() that replayed a step graph; call loss.backward().")
        self._replayed.apply_gradients()
        self._replayed = None

    def _path(self, key: tuple, shape: Any, capture: Callable[[], Any], cuda: bool) -> tuple[Any, Any]:
        """(shape, graph) of ``key``, captured on first use; the graph is ``None`` (eager from then on) when the
        capture failed."""
        path = self._paths.get(key)
        if path is None:
            started = time.perf_counter()
            path = (shape, self._capture(capture, cuda))
            self._paths[key] = path
            self.setup_seconds += time.perf_counter() - started
        return path

    def _capture(self, capture: Callable[[], Any], cuda: bool) -> Any:
        """``capture()``, or ``None`` (eager from then on) with one warning when the capture fails."""
        try:
            return capture()
        except RuntimeError as error:  # torch.AcceleratorError is a RuntimeError
            if cuda:
                torch.cuda.synchronize()
            warnings.warn(
                f"CUDA-graph capture failed ({str(error).splitlines()[0]}); this path runs eagerly instead "
                "(same results, slower). The usual cause is an autograd graph of an earlier eager step kept "
                "alive (e.g. a loss or output still referenced): drop it before the first graphed call, or "
                "pass execution='eager'.",
                RuntimeWarning,
                stacklevel=4,
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
