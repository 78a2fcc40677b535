"""Where one model's training step (or inference call) spends its GPU (or CPU) time: kernels by name and by kind.

Issue 9 asks which ops to fuse around the scan; this answers it for one (model, width, L, execution mode):
after warm-up (and CUDA-graph capture or compilation), ``--steps`` training steps of ``model_speed.py`` (same
model, data and step) run under ``torch.profiler``; the table lists device kernels (CUDA) or operators (CPU) by
total time with their call count per step, and a summary by kind (scan, conv, GEMM, elementwise, reduction,
norm, optimizer, copy) with the kernel count per step, which is what a launch-bound step pays for.
``--inference`` profiles model_speed's inference call instead (eval-mode forward under inference_mode).
``--host`` (CUDA) adds where the host's time goes: a step whose kernels take less time than their launches is
host-bound, and its device table says little; the host table lists CPU-side operators, autograd nodes and CUDA
runtime calls by self time. ``--shapes`` (eager mode: a replayed graph has no operators) adds the matrix
products by input shapes and strides and, on CUDA, the kernel each launched: cuBLAS picks a kernel by alignment
(``align1``/``align2`` kernels read an operand whose leading dimension or offset is not a multiple of 16 bytes), so
this names the product behind a slow GEMM kernel. Every run also states the unprofiled wall time per call, timed
before the profile.

    python benchmarks/profile_step.py --device cuda --model tsm2 --width ETTh1-like --lookback 512 --mode graphs
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict

import torch
from model_speed import AUTOCAST, WIDTHS, build_step, infer_call
from torch.profiler import ProfilerActivity, profile

# kind of a kernel or operator, by the first matching substring of its lower-cased name
KINDS = (
    ("scan", ("_scan_", "_chain_chunks", "_bwd_chunk_adjoint", "selective")),
    ("conv", ("conv",)),
    ("gemm", ("gemm", "gemv", "sm90_", "cutlass", "cublas", "addmm", "aten::mm", "aten::bmm", "matmul")),
    ("norm", ("layer_norm", "layernorm", "batch_norm", "native_norm", "gammabeta", "cudnn::bn_")),
    ("optimizer", ("multi_tensor", "foreach", "adam")),
    ("dropout", ("dropout", "bernoulli")),
    ("copy", ("copy", "memcpy", "memset", "cat", "fill")),
    ("reduction", ("reduce", "sum", "mean")),
    ("elementwise", ("elementwise", "vectorized", "unrolled", "aten::")),
)


def kind_of(name: str) -> str:
    """The kind of a kernel/operator name (``other`` when nothing matches)."""
    low = name.lower()
    for kind, needles in KINDS:
        if any(needle in low for needle in needles):
            return kind
    return "other"


def summarise(events: list[tuple[str, int, float]], steps: int) -> tuple[list[str], list[str]]:
    """Markdown rows (top kernels; kinds) from (name, calls, total microseconds) over ``steps`` steps."""
    total = sum(us for _, _, us in events) or 1.0
    top = sorted(events, key=lambda e: -e[2])
    kernel_rows = [
        f"| {name[:90].replace('|', '/')} | {kind_of(name)} | {calls / steps:.1f} | {us / steps:.1f} | "
        f"{100 * us / total:.1f} |"
        for name, calls, us in top[:30]
    ]
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, calls, us in events:
        by_kind[kind_of(name)][0] += calls
        by_kind[kind_of(name)][1] += us
    kind_rows = [
        f"| {kind} | {calls / steps:.0f} | {us / steps:.1f} | {100 * us / total:.1f} |"
        for kind, (calls, us) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])
    ]
    kind_rows.append(f"| all | {sum(c for _, c, _ in events) / steps:.0f} | {total / steps:.1f} | 100.0 |")
    return kernel_rows, kind_rows


def unprofiled_ms(call, calls: int, cuda: bool) -> float:
    """Median wall milliseconds of ``calls`` calls, each synchronised on CUDA, without the profiler's overhead."""
    times = []
    for _ in range(max(calls, 1)):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - started))
    return sorted(times)[len(times) // 2]


GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::_scaled_mm")


def _layout(event) -> str:
    """``[64, 36] (36, 1) x [36, 128] (1, 36)``: an operator's tensor inputs with their strides where recorded."""
    shapes = getattr(event, "input_shapes", None) or []
    strides = getattr(event, "structured_input_strides", None) or getattr(event, "input_strides", None) or []
    parts = []
    for i, shape in enumerate(shapes):  # scalars (addmm's beta, alpha) have no shape and are left out
        if shape:
            stride = strides[i] if i < len(strides) and strides[i] else None
            parts.append(f"{list(shape)}" + (f" {tuple(stride)}" if stride else ""))
    return " x ".join(parts) or "?"


def gemm_rows(events, steps: int) -> list[str]:
    """Markdown of the matrix products (``GEMM_OPS``) by input layout and, where the profile linked them, by the
    device kernel each launched (its time); otherwise by the operator's own CPU time."""
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for event in events:
        if event.name not in GEMM_OPS:
            continue
        kernels = [k for k in getattr(event, "kernels", []) or [] if getattr(k, "duration", 0) > 0]
        for name, us in [(k.name, k.duration) for k in kernels] or [("(CPU)", event.self_cpu_time_total)]:
            total = totals[(event.name, _layout(event), name)]
            total[0] += 1
            total[1] += us
    rows = [
        f"| {op} | {layout} | {kernel[:70].replace('|', '/')} | {calls / steps:.1f} | {us / steps:.1f} |"
        for (op, layout, kernel), (calls, us) in sorted(totals.items(), key=lambda kv: -kv[1][1])[:40]
    ]
    return [
        "",
        "Matrix products by input layout (shapes, strides where recorded) and the kernel each launched:",
        "",
        "| operator | inputs | kernel | calls per step | µs per step |",
        "|---|---|---|---|---|",
        *rows,
    ]


def host_rows(events: list[tuple[str, int, float]], steps: int) -> list[str]:
    """Markdown of the host's top CPU events (operators, autograd nodes, CUDA runtime calls) by self time."""
    total = sum(us for _, _, us in events) or 1.0
    rows = [
        f"| {name[:90].replace('|', '/')} | {calls / steps:.1f} | {us / steps:.1f} | {100 * us / total:.1f} |"
        for name, calls, us in sorted(events, key=lambda e: -e[2])[:30]
    ]
    return [
        "",
        f"Host: {total / steps:.1f} µs of CPU self time per step under the profiler (which adds its own).",
        "",
        "| host event | calls per step | µs per step | % |",
        "|---|---|---|---|",
        *rows,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--model", default="tsm2", choices=["tsm2", "patchtst", "dlinear"])
    parser.add_argument("--width", default="ETTh1-like", choices=list(WIDTHS))
    parser.add_argument("--lookback", type=int, default=512)
    parser.add_argument("--mode", default="auto", help="execution mode (tsmamba.execution)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--precision", default="32-true", choices=["32-true", *AUTOCAST])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="profiled training steps (or inference calls)")
    parser.add_argument("--inference", action="store_true", help="profile the inference call, not the training step")
    parser.add_argument("--host", action="store_true", help="CUDA: add the host's CPU time by operator")
    parser.add_argument("--shapes", action="store_true", help="matrix products by input layout (eager mode)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--out", help="write the markdown here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.host and device.type != "cuda":
        parser.error("--host is for --device cuda (on the CPU the operator table is the host's time already)")
    if args.shapes and args.mode != "eager":
        parser.error("--shapes needs --mode eager: a replayed graph or compiled code has no operators to attribute")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    dataset, n_vars = WIDTHS[args.width]
    model, fast, step, x = build_step(
        args.model, dataset, n_vars, args.lookback, args.mode, args.batch, args.horizon, device, args.precision
    )
    model.train()
    if args.inference:
        step = infer_call(model, fast, x, args.precision, device)
    for _ in range(args.warmup):
        step()
    cuda = device.type == "cuda"
    wall_ms = unprofiled_ms(step, args.steps, cuda)
    activities = [ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    if (args.host or args.shapes) and cuda:
        activities.append(ProfilerActivity.CPU)
    with profile(activities=activities, record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    events, host = [], []
    for e in prof.key_averages():
        us = e.self_device_time_total if cuda else e.self_cpu_time_total
        if us > 0 and (not cuda or e.device_type.name == "CUDA"):
            events.append((e.key, e.count, float(us)))
        elif args.host and cuda and e.device_type.name == "CPU" and e.self_cpu_time_total > 0:
            host.append((e.key, e.count, float(e.self_cpu_time_total)))
    kernel_rows, kind_rows = summarise(events, args.steps)
    name = torch.cuda.get_device_name() if cuda else (platform.processor() or "CPU")
    text = "\n".join(
        [
            f"# Profile of one {'inference call' if args.inference else 'training step'}: {args.model}, {args.width}, "
            f"L={args.lookback}, mode {fast.mode(device)}, {args.precision}",
            "",
            f"Command: `python {' '.join(sys.argv)}`  ",
            f"Device: {name}; torch {torch.__version__}, Python {platform.python_version()}; batch {args.batch}, "
            f"horizon {args.horizon}; {args.steps} profiled calls after {args.warmup} warm-up calls; "
            f"{'device kernel' if cuda else 'CPU operator self'} time per step. Unprofiled wall time per call: "
            f"{wall_ms:.3f} ms (median of {args.steps}).",
            "",
            "| kind | calls per step | µs per step | % |",
            "|---|---|---|---|",
            *kind_rows,
            "",
            "| kernel / operator | kind | calls per step | µs per step | % |",
            "|---|---|---|---|---|",
            *kernel_rows,
            *(host_rows(host, args.steps) if args.host else []),
            *(gemm_rows(prof.events(), args.steps) if args.shapes else []),
        ]
    )
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
