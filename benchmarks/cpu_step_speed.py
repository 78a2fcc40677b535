"""CPU step time of TSM2 vs PatchTST vs DLinear: one training step (forward, backward, Adam) and one inference
forward, batch 32, at the demo's shape and an ETTh1 shape.

Each round runs a block of consecutive steps per model (model A x block, B x block, C x block, A x block, ...):
consecutive steps are what training does, and they let the allocator reach the steady state a training loop
sees, while interleaving the blocks spreads load from other jobs on a shared machine over every model alike.
(``--block 1`` interleaves single steps, as this script did before; benchmarks/results/cpu_step_speed.md says
what that changed and how far this machine's speed drifts between runs.)
The table reports medians over the timed steps and each model's ratio to PatchTST measured in the same run.
glibc's malloc thresholds are tuned first, as CPU training does (``tsmamba.cpu_allocator``); ``--no-malloc-tuning``
measures glibc's defaults (a separate process: the tuning cannot be undone).

    python benchmarks/cpu_step_speed.py --threads 2 --reps 5 --block 5 --out benchmarks/results/cpu_step_speed.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from tsmamba.cpu_allocator import tune_cpu_allocator
from tsmamba.models.registry import build_model, make_config
from tsmamba.training import adam, parameter_groups

# (label, lookback, horizon, n_vars, dataset for per-dataset defaults, per-model overrides)
SHAPES = [
    ("demo (L=96, H=24, 4 vars)", 96, 24, 4, None, {"tsm2": {"d_model": 32}}),
    ("ETTh1 (L=336, H=96, 7 vars, ETTh1 defaults)", 336, 96, 7, "ETTh1", {}),
]
MODELS = ("tsm2", "patchtst", "dlinear")
BATCH = 32


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's answer."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_steps(name: str, lookback: int, horizon: int, n_vars: int, dataset, overrides) -> dict[str, Callable]:
    """A training-step and an inference closure for one model on fixed random data."""
    torch.manual_seed(0)
    model = build_model(name, make_config(name, dataset=dataset, overrides=overrides), lookback, horizon, n_vars)
    opt = adam(parameter_groups(model, 0.0), 1e-4)  # as training does
    x, y = torch.randn(BATCH, lookback, n_vars), torch.randn(BATCH, horizon, n_vars)

    def train() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    return {"train": train, "infer": infer}


def measure(reps: int, warmup: int, block: int) -> list[dict]:
    rows = []
    for label, lookback, horizon, n_vars, dataset, overrides in SHAPES:
        steps = {m: make_steps(m, lookback, horizon, n_vars, dataset, overrides.get(m, {})) for m in MODELS}
        times: dict[tuple[str, str], list[float]] = {(m, k): [] for m in MODELS for k in ("train", "infer")}
        for rep in range(warmup + reps):
            for m in MODELS:
                for kind in ("train", "infer"):
                    for _ in range(block):
                        start = time.perf_counter()
                        steps[m][kind]()
                        if rep >= warmup:
                            times[(m, kind)].append(time.perf_counter() - start)
        med = {key: 1e3 * statistics.median(v) for key, v in times.items()}
        for m in MODELS:
            rows.append(
                {
                    "shape": label,
                    "model": m,
                    "train_ms": med[(m, "train")],
                    "train_ratio": med[(m, "train")] / med[("patchtst", "train")],
                    "infer_ms": med[(m, "infer")],
                    "infer_ratio": med[(m, "infer")] / med[("patchtst", "infer")],
                }
            )
        print(f"done: {label}", flush=True)
    return rows


def table(rows: list[dict], threads: int, reps: int, block: int, command: str, tuned: bool) -> str:
    lines = [
        "# CPU training-step and inference time: TSM2 vs PatchTST vs DLinear",
        "",
        f"command: `{command}`",
        "",
        f"device: {cpu_model()}, {threads} thread(s); torch {torch.__version__}; batch {BATCH}; "
        f"median of {reps} rounds x {block} consecutive steps per model (rounds interleave the models); "
        "ratio = time / PatchTST's time in the same run; malloc thresholds "
        + ("tuned as CPU training does (tsmamba.cpu_allocator)." if tuned else "at glibc's defaults."),
        "",
        "| shape | model | train step ms | × PatchTST | inference ms | × PatchTST |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['model']} | {r['train_ms']:.1f} | {r['train_ratio']:.2f} | "
            f"{r['infer_ms']:.1f} | {r['infer_ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5, help="Timed rounds.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed rounds first.")
    parser.add_argument("--block", type=int, default=5, help="Consecutive steps per model in each round.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the table to this markdown file.")
    parser.add_argument("--no-malloc-tuning", action="store_true", help="Keep glibc's default malloc thresholds.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.no_malloc_tuning else tune_cpu_allocator()
    command = f"python benchmarks/cpu_step_speed.py --threads {args.threads} --reps {args.reps} --block {args.block}"
    if args.no_malloc_tuning:
        command += " --no-malloc-tuning"
    if args.out is not None:
        command += f" --out {args.out}"
    text = table(measure(args.reps, args.warmup, args.block), args.threads, args.reps, args.block, command, tuned)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
