"""The CPU (PyTorch) selective scan of this tree against a git revision's at TSM2's CPU shapes: the training call
(forward saving what the backward needs, then the backward) and the forward alone (inference, validation).

Both versions run in this process, interleaved round by round (a shared VM's speed drifts between runs more than
most changes move it), after checking that they give the same outputs and gradients. The baseline is
``kernels/scan_torch.py`` at the revision (``revision_module``). Shapes are the token mixer's scan of the CPU
table's two training shapes (``cpu_step_speed.py``, batch 32): (batch x variates, d_inner, patches) with u, Δ
and z channel-last views and B, C slices of x_proj's output, as TSM2 passes them.

    python benchmarks/cpu_scan_ab.py --baseline HEAD~1 --out benchmarks/results/cpu_scan_ab.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from types import ModuleType

import torch
from cpu_step_speed import cpu_model
from kernel_bench import make_case
from revision_module import load_revision_module
from tsmamba.kernels import scan_torch

from tsmamba.cpu_allocator import tune_cpu_allocator

# label: (batch x variates, d_inner, patches)
SHAPES = {
    "demo (L=96: 12 patches, 4 vars, d_model 32)": (128, 64, 12),
    "ETTh1 (L=336: 42 patches, 7 vars, d_model 16)": (224, 32, 42),
}


def scan_inputs(rows: int, dim: int, length: int) -> dict:
    """ScanArgs fields as a TSM2 block passes them (kernel_bench's TSM2 layout; softplus on, forward direction)."""
    case = make_case(rows, dim, length, torch.float32, "cpu", channel_last=True, seed=0, tsm2_layout=True)
    B, C = case.pop("B").unsqueeze(1), case.pop("C").unsqueeze(1)  # (batch, groups, N, L)
    return {**case, "B": B, "C": C, "delta_softplus": True, "reverse": False, "initial_state": None}


def fwd_bwd(module: ModuleType, inputs: dict, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One training call of a scan_torch module: the forward saving what its backward needs, then the backward."""
    args = module.ScanArgs(**inputs)
    out, _, saved = module.scan_forward(args, save_checkpoints=True)
    return (out, *module.scan_backward(args, saved, grad, None))


def forward_only(module: ModuleType, inputs: dict, grad: torch.Tensor) -> None:
    """One inference call (validation, prediction): the forward without what a backward would need."""
    module.scan_forward(module.ScanArgs(**inputs), save_checkpoints=False)


def measure(baseline: ModuleType, rounds: int, calls: int) -> list[tuple[str, str, float, float]]:
    """(shape, pass, baseline ms, ours ms) for the training call and the forward alone: medians over ``rounds``
    interleaved rounds of ``calls`` calls each."""
    rows = []
    for label, (batch, dim, length) in SHAPES.items():
        inputs = scan_inputs(batch, dim, length)
        grad = torch.randn(batch, dim, length)
        ours, theirs = fwd_bwd(scan_torch, inputs, grad), fwd_bwd(baseline, inputs, grad)
        for a, b in zip(ours, theirs):
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        for kind, call in (("forward + backward", fwd_bwd), ("forward alone", forward_only)):
            times: dict[str, list[float]] = {"baseline": [], "ours": []}
            for _ in range(rounds):
                for name, module in (("baseline", baseline), ("ours", scan_torch)):
                    start = time.perf_counter()
                    for _ in range(calls):
                        call(module, inputs, grad)
                    times[name].append(1e3 * (time.perf_counter() - start) / calls)
            shape = f"{label}: ({batch}, {dim}, {length})"
            rows.append((shape, kind, statistics.median(times["baseline"]), statistics.median(times["ours"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a git revision (or a scan_torch.py file) to time against")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3, help="calls per round and version")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="write the markdown table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()  # as CPU training runs
    baseline = load_revision_module(args.baseline, "kernels/scan_torch.py", "scan_torch_baseline")
    rows = measure(baseline, args.rounds, args.calls)
    lines = [
        "# CPU selective scan, forward + backward: this tree against an earlier revision",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Device: {cpu_model()}, {args.threads} thread(s); torch {torch.__version__}, Python "
        f"{platform.python_version()}; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; malloc tuned as CPU "
        f"training runs; medians of {args.rounds} interleaved rounds of {args.calls} calls each; outputs and "
        "gradients equal (rtol 1e-5).",
        "",
        f"| shape (rows, d_inner, patches) | pass | {args.baseline} ms | this tree ms | ratio |",
        "|---|---|---|---|---|",
        *(f"| {label} | {kind} | {old:.2f} | {new:.2f} | {new / old:.2f} |" for label, kind, old, new in rows),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
