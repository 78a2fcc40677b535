"""Registers and spills (ptxas, sm_90a) of the fused conv's kernels at TSM2's Weather-width shape, on the CPU.

Compiles each launch exactly as conv1d_triton's launchers make it, through the sm_90 compile helpers of
tests/kernels/test_scan_triton_compiled_layout.py (Triton's own ptxas; no GPU needed). KEY=INT arguments set
DPRE_CONFIG entries (the backward's first pass: block_r, num_warps, ...), ``reverse`` the anti-causal direction.
Run from the repo root:

    python benchmarks/cpu_probes/conv_registers.py [block_r=32 num_warps=16] [reverse]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "kernels"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import test_scan_triton_compiled_layout as layout  # noqa: E402
from kernel_bench import apply_overrides  # noqa: E402
from tsmamba.kernels import conv1d_triton  # noqa: E402

try:
    apply_overrides(conv1d_triton.DPRE_CONFIG, [a for a in sys.argv[1:] if "=" in a])
except ValueError as err:
    raise SystemExit(str(err)) from None
reverse = "reverse" in sys.argv[1:]
calls: list = []
for name in [n for n in dir(conv1d_triton) if n.startswith("_conv1d_") and n.endswith("_kernel")]:
    setattr(conv1d_triton, name, layout._Recorder(getattr(conv1d_triton, name), calls))
x = torch.zeros(1344, 65, 256)[..., :128]  # the token mixer's conv input: half of the in_proj output
w, b = torch.zeros(128, 1, 4), torch.zeros(128)
conv1d_triton.conv1d_silu_forward(x, w, b, reverse)
conv1d_triton.conv1d_silu_backward(x, w, b, torch.zeros(1344, 65, 128), reverse)
for kernel, args, kwargs in calls:
    report = layout._ptxas_report(layout._compile_sm90(kernel, args, kwargs).asm["ptx"]) or "no ptxas here"
    wanted = [line.split(": ", 1)[-1] for line in report.splitlines() if "spill" in line or "registers" in line]
    print(kernel.fn.__name__, "|", " | ".join(wanted))
