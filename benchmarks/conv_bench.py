"""Fused depthwise causal Conv1d + SiLU: our Triton kernels against torch's conv1d + SiLU (cuDNN) and, optionally,
against the kernels of an earlier commit and in other tiles of the backward's first pass, forward and
forward+backward at TSM2's shapes, in fp32 and/or with 16-bit activations (fp32 weights, as under autocast).

Kernel time is replayed from CUDA graphs (``kernel_bench.bench_graph``), so launch overhead is not counted;
% floor = (bytes a pass must move) / measured copy bandwidth over the time: forward reads x and writes u,
forward+backward also reads grad_u and x again and writes dx (5 tensors of rows x L x C in the activations'
dtype). The baseline's module is loaded from ``git show REV:kernels/conv1d_triton.py`` with its custom-op
namespace renamed, in this process (several: ``--baseline A B@block_r=32,fold=0``, the second in its own first-pass
tile). ``--dpre-configs block_r=32,num_warps=16 ...`` adds a column per ``conv1d_triton.DPRE_CONFIG`` override
(the first backward pass's tile).

    python benchmarks/conv_bench.py --baseline 66388f1 --out benchmarks/results/conv_h200.md
    python benchmarks/conv_bench.py --dtypes fp32 bf16 --dpre-configs block_r=32,num_warps=16 block_r=16,num_warps=8
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from kernel_bench import apply_overrides, bench_graph, measure_copy_bandwidth
from revision_module import load_revision_module
from tsmamba.kernels import conv1d_triton

# (rows, L, C): x is the first C columns of a (rows, L, 2C) in_proj output, as in TSM2's mixers (batch 64)
SHAPES = {
    "Weather token mixer (64x21 rows, 65 patches, d_inner 128)": (1344, 65, 128),
    "Weather channel mixer (64x65 rows, 21 variates)": (4160, 21, 128),
    "ETTh1 token mixer (64x7 rows, 65 patches, d_inner 32)": (448, 65, 32),
    "Weather token mixer at L=11520 (1441 patches)": (1344, 1441, 128),
}
K = 4


def load_baseline(where: str, tag: str = "baseline") -> ModuleType:
    """A conv1d_triton.py (a file, or kernels/conv1d_triton.py at a git revision), importable beside ours: its
    custom ops are registered as ``tsmamba_<tag>::`` (one tag per baseline loaded in a process)."""
    rename = {'"tsmamba::': f'"tsmamba_{tag}::', "torch.ops.tsmamba.": f"torch.ops.tsmamba_{tag}."}
    return load_revision_module(where, "kernels/conv1d_triton.py", f"conv1d_triton_{tag}", rename)


def baseline_impls(specs: list[str]) -> dict[str, tuple]:
    """``WHERE`` or ``WHERE@KEY=INT,...`` (that module's DPRE_CONFIG overrides) -> columns ``baseline``,
    ``baseline2``, ... of kernels_of, in order."""
    impls = {}
    for i, spec in enumerate(specs, start=1):
        where, _, overrides = spec.partition("@")
        tag = "baseline" if i == 1 else f"baseline{i}"
        module = load_baseline(where, tag)
        dpre = None
        if overrides:
            dpre = dict(module.DPRE_CONFIG)
            apply_overrides(dpre, overrides.split(","))
        impls[tag] = kernels_of(module, dpre)
    return impls


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def make_case(rows: int, length: int, channels: int, seed: int, dtype: torch.dtype = torch.float32) -> dict:
    """x (a half of a wider in_proj output) and grad_u in ``dtype``; weight and bias fp32, as autocast leaves them."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    return {
        "x": torch.randn(rows, length, 2 * channels, device="cuda", generator=gen).to(dtype)[..., :channels],
        "w": torch.randn(channels, 1, K, device="cuda", generator=gen) * 0.5,
        "b": torch.randn(channels, device="cuda", generator=gen) * 0.1,
        "g": torch.randn(rows, length, channels, device="cuda", generator=gen).to(dtype),
    }


def parse_config(text: str) -> dict[str, int]:
    """``block_r=32,num_warps=16``: DPRE_CONFIG with those entries overridden (a bad item names the keys)."""
    config = dict(conv1d_triton.DPRE_CONFIG)
    apply_overrides(config, text.split(","))
    return config


def kernels_of(module: ModuleType, dpre: dict[str, int] | None = None):
    """(forward, forward+backward) callables on a case, through the module's host functions (no autograd), the
    backward's first pass in ``dpre``'s tile (DPRE_CONFIG overrides, set around each call)."""

    def fwd(c: dict) -> None:
        module.conv1d_silu_forward(c["x"], c["w"], c["b"], False)

    def fwd_bwd(c: dict) -> None:
        module.conv1d_silu_forward(c["x"], c["w"], c["b"], False)
        saved = dict(module.DPRE_CONFIG) if dpre else None
        if dpre:
            module.DPRE_CONFIG.update(dpre)
        try:
            module.conv1d_silu_backward(c["x"], c["w"], c["b"], c["g"], False)
        finally:
            if saved is not None:
                module.DPRE_CONFIG.update(saved)

    return fwd, fwd_bwd


def torch_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TSM2's reference path: channels-first causal conv1d (cuDNN), SiLU, back to channel-last (weights cast to
    x's dtype, as autocast would)."""
    length = x.shape[1]
    w, b = w.to(x.dtype), b.to(x.dtype)
    return F.silu(F.conv1d(x.transpose(1, 2), w, b, padding=K - 1, groups=x.shape[2])[..., :length]).transpose(1, 2)


def torch_kernels():
    def fwd(c: dict) -> None:
        torch_conv(c["x"], c["w"], c["b"])

    def fwd_bwd(c: dict) -> None:
        leaves = [
            c["x"].detach().requires_grad_(True),
            c["w"].detach().requires_grad_(True),
            c["b"].detach().requires_grad_(True),
        ]
        torch.autograd.grad(torch_conv(*leaves), leaves, c["g"])

    return fwd, fwd_bwd


def floor_ms(rows: int, length: int, channels: int, bytes_per_s: float, element_bytes: int = 4) -> tuple[float, float]:
    """Byte floors in ms of a forward (x in, u out) and a forward+backward (also grad_u and x in, dx out): 2 and 5
    tensors of rows x L x C (``element_bytes`` each) over the copy bandwidth in bytes per second."""
    tensor_bytes = rows * length * channels * element_bytes
    return 2 * tensor_bytes / bytes_per_s * 1e3, 5 * tensor_bytes / bytes_per_s * 1e3


def max_rel_diff(c: dict) -> float:
    """Worst relative difference of our (u, dx, dweight, dbias) from torch's in fp32 on the same inputs."""
    leaves = [
        c["x"].detach().float().requires_grad_(True),
        c["w"].detach().requires_grad_(True),
        c["b"].detach().requires_grad_(True),
    ]
    ref = torch_conv(*leaves)
    ref_grads = torch.autograd.grad(ref, leaves, c["g"].float())
    ours = conv1d_triton.conv1d_silu_forward(c["x"], c["w"], c["b"], False)
    dx, dw, db = conv1d_triton.conv1d_silu_backward(c["x"], c["w"], c["b"], c["g"], False)
    pairs = [(ours, ref), (dx, ref_grads[0]), (dw, ref_grads[1]), (db, ref_grads[2])]
    return max(((a.float() - b).abs().max() / b.abs().max().clamp_min(1e-12)).item() for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--baseline",
        nargs="*",
        default=[],
        help="also time these conv1d_triton.py (files, or git revisions'), each as WHERE or WHERE@KEY=INT,... "
        "(its DPRE_CONFIG overrides)",
    )
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=["fp32"], help="activations' dtypes")
    parser.add_argument(
        "--dpre-configs",
        nargs="*",
        default=[],
        help="DPRE_CONFIG overrides to time as well, e.g. block_r=32,num_warps=16",
    )
    parser.add_argument("--out", help="write the markdown table here")
    args = parser.parse_args()
    bandwidth = measure_copy_bandwidth()
    impls = {"ours": kernels_of(conv1d_triton), "torch": torch_kernels()}
    for text in args.dpre_configs:
        impls[f"ours {text}"] = kernels_of(conv1d_triton, parse_config(text))
    impls.update(baseline_impls(args.baseline))
    names = list(impls)
    lines = [
        f"Command: `python benchmarks/conv_bench.py {' '.join(sys.argv[1:])}`  ",
        f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}, "
        f"Triton {conv1d_triton.triton.__version__}, "
        f"Python {platform.python_version()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; K={K}; "
        f"copy bandwidth {bandwidth / 1e9:.0f} GB/s; ours = DPRE_CONFIG {conv1d_triton.DPRE_CONFIG}",
        "",
        "| shape | (rows, L, C) | dtype | "
        + " | ".join(f"{n} fwd ms | {n} fwd+bwd ms" for n in names)
        + " | ours fwd / fwd+bwd % floor | ours rel. diff vs torch fp32 |",
        "|---|---|---|" + "---|---|" * len(names) + "---|---|",
    ]
    for label, (rows, length, channels) in SHAPES.items():
        for dtype_name in args.dtypes:
            dtype = DTYPES[dtype_name]
            sets = [make_case(rows, length, channels, seed, dtype) for seed in range(2)]
            times = {n: (bench_graph(sets, f), bench_graph(sets, fb)) for n, (f, fb) in impls.items()}
            floor_f, floor_fb = floor_ms(rows, length, channels, bandwidth, dtype.itemsize)
            ours_f, ours_fb = times["ours"]
            row = (
                f"| {label} | ({rows}, {length}, {channels}) | {dtype_name} | "
                + " | ".join(f"{t[0]:.3f} | {t[1]:.3f}" for t in times.values())
                + f" | {100 * floor_f / ours_f:.0f}% / {100 * floor_fb / ours_fb:.0f}% | {max_rel_diff(sets[0]):.1e} |"
            )
            print(row, flush=True)
            lines.append(row)
            del sets
            torch.cuda.empty_cache()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
