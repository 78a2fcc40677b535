"""Run the Triton selective scan's forward and backward a few times at one shape: a target for an external
profiler (Nsight Compute's stall reasons of ``_scan_bwd_kernel``), which needs a short program, not a benchmark.
``--inference`` runs the forward alone without gradients (the inference kernel, no checkpoints saved).

    ncu --clock-control none -k regex:_scan_bwd_kernel -c 1 --section WarpStateStats --section SchedulerStats \
        python benchmarks/scan_once.py --shape 1344,128,65
"""

from __future__ import annotations

import argparse

import torch
from kernel_bench import DTYPES, make_case
from tsmamba.kernels import selective_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1344,128,65", help="B,D,L (default: the Weather token mixer's)")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--calls", type=int, default=3, help="forward+backward calls (the first compiles)")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu under TRITON_INTERPRET=1 (tests)")
    parser.add_argument("--inference", action="store_true", help="forward only, without gradients")
    args = parser.parse_args()
    batch, dim, length = (int(v) for v in args.shape.split(","))
    case = make_case(batch, dim, length, DTYPES[args.dtype], args.device, True, 0)
    if args.inference:
        with torch.no_grad():
            for _ in range(args.calls):
                out = selective_scan(**case, delta_softplus=True, backend="triton")
        print(
            f"scan_once: {args.calls} inference forward calls at {(batch, dim, length)} {args.dtype}, "
            f"|out| = {out.abs().sum().item():.6g}"
        )
        return
    for _ in range(args.calls):
        leaves = {k: v.detach().requires_grad_(True) for k, v in case.items()}
        out = selective_scan(**leaves, delta_softplus=True, backend="triton")
        out.backward(torch.ones_like(out))
    if args.device == "cuda":
        torch.cuda.synchronize()
    print(
        f"scan_once: {args.calls} forward+backward calls at {(batch, dim, length)} {args.dtype}, |du| = "
        f"{leaves['u'].grad.abs().sum().item():.6g}"
    )


if __name__ == "__main__":
    main()
