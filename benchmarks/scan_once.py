"""Run the Triton selective scan's forward and backward a few times at one shape: a target for an external
profiler (Nsight Compute's stall reasons of ``_scan_bwd_kernel``), which needs a short program, not a benchmark.
``--inference`` runs the forward alone without gradients (the inference kernel, no checkpoints saved);
``--profile`` prints the device time of each kernel per call (torch.profiler), to see which launch of a chunked
call costs what.

    ncu --clock-control none -k regex:_scan_bwd_kernel -c 1 --section WarpStateStats --section SchedulerStats \
        python benchmarks/scan_once.py --shape 1344,128,65
"""

from __future__ import annotations

import argparse

import torch
from kernel_bench import DTYPES, apply_scan_config, make_case
from tsmamba.kernels import selective_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1344,128,65", help="B,D,L (default: the Weather token mixer's)")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--calls", type=int, default=3, help="forward+backward calls (the first compiles)")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu under TRITON_INTERPRET=1 (tests)")
    parser.add_argument("--inference", action="store_true", help="forward only, without gradients")
    parser.add_argument("--profile", action="store_true", help="print each kernel's device time per call")
    parser.add_argument(
        "--scan-config", nargs="*", default=[], help="KEY=INT (backward), fwd.KEY=INT (forward) config overrides"
    )
    args = parser.parse_args()
    if args.profile and args.device != "cuda":
        parser.error("--profile reads the device's kernel times: it needs --device cuda")
    apply_scan_config(args.scan_config)
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

    def call() -> tuple[torch.Tensor, dict]:
        leaves = {k: v.detach().requires_grad_(True) for k, v in case.items()}
        out = selective_scan(**leaves, delta_softplus=True, backend="triton")
        out.backward(torch.ones_like(out))
        return out, leaves

    for _ in range(args.calls):
        out, leaves = call()
    if args.profile:
        print_kernel_times(call, args.calls, f"{(batch, dim, length)} {args.dtype} {' '.join(args.scan_config)}")
    if args.device == "cuda":
        torch.cuda.synchronize()
    print(
        f"scan_once: {args.calls} forward+backward calls at {(batch, dim, length)} {args.dtype}, |du| = "
        f"{leaves['u'].grad.abs().sum().item():.6g}"
    )


def print_kernel_times(call, calls: int, label: str) -> None:
    """Device time of each kernel name per call, over ``calls`` forward+backward calls after the warm-up."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()
    rows = [(e.key, e.device_time_total / calls, e.count // calls) for e in prof.key_averages() if e.device_time_total]
    total = sum(r[1] for r in rows)
    print(f"kernel times per forward+backward call at {label}: {total / 1e3:.3f} ms in all")
    for key, us, count in sorted(rows, key=lambda r: -r[1]):
        print(f"  {us / 1e3:8.3f} ms  {100 * us / total:5.1f} %  x{count}  {key[:90]}")


if __name__ == "__main__":
    main()
