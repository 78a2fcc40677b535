"""Per-iteration machine code of the hot loops (sm_90a SASS), on the CPU: the scan backward, the conv backward's
two passes and the scan backward's partial-sum launch, compiled exactly as their launchers call them at TSM2's shapes.

For each kernel: registers and spills (ptxas), shuffles and barriers in the whole kernel, then every loop (a branch
back to an earlier label) with its instruction, barrier, shuffle and shared-memory counts. Uses the sm_90 compile
helpers of tests/kernels/test_scan_triton_compiled_layout.py and the nvdisasm in Triton's wheel (no GPU needed).
Run from the repo root at the revision to report, e.g. before and after a kernel change:

    python benchmarks/cpu_probes/kernel_sass.py [KEY=INT ...] [MAXNREG ...]   # e.g. 208 168: the backward under caps
    python benchmarks/cpu_probes/kernel_sass.py fwd [KEY=INT ...]   # the scan forward alone (inference and
                                                                    # training), any build; KEY=INT sets FWD_CONFIG
    python benchmarks/cpu_probes/kernel_sass.py tsm2-bc ...   # B and C laid out as TSM2 passes them: N-contiguous
                                                              # views of x_proj's output, a step 36 values apart

Triton specialises a kernel on whether each integer argument is a multiple of 16: B/C copied time-major (what
the launchers do with mamba_ssm's layout) have a step stride of N = 16, TSM2's views one of dt_rank + 2N (36 at
the Weather width), so the two layouts run different compiles of the same kernel.

The GPU image runs Triton 3.6 (torch 2.11's); other releases can lay the same source out differently, so figures
meant for the H200 come from a Triton 3.6 environment (``pip install triton==3.6.0``).

A probe copy (``benchmarks/scan_stage_probe.py``) is compiled by putting it first as ``tsmamba.kernels``: write it
to DIR/tsmamba/kernels, touch DIR/tsmamba/__init__.py, and run with PYTHONPATH=DIR and e.g. ``skip=32 168 128``.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "kernels"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import test_scan_triton_compiled_layout as layout  # noqa: E402
from kernel_bench import apply_overrides, apply_scan_config  # noqa: E402
from tsmamba.kernels import conv1d_triton, scan_triton_bwd, scan_triton_fwd  # noqa: E402

NVDISASM = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "nvdisasm"
INSTRUCTION = re.compile(r"\s+/\*[0-9a-f]{4,}\*/")


def _counts(lines: list[str]) -> str:
    def count(op: str) -> int:
        return sum(op in line for line in lines)

    shared = count("STS") + count("LDS")
    local = count("STL") + count("LDL")  # spills
    return (
        f"{len(lines)} instructions, LDG {count('LDG')}, BAR {count('BAR')}, SHFL {count('SHFL')}, "
        f"STS/LDS {shared}, STL/LDL {local}"
    )


def report(name: str, compiled) -> None:
    ptxas = layout._ptxas_report(compiled.asm["ptx"]) or ""
    regs = re.search(r"Used (\d+) registers", ptxas)
    spills = re.search(r"(\d+) bytes spill stores", ptxas)
    print(f"{name}: {regs.group(1) if regs else '?'} registers, {spills.group(1) if spills else '?'} B spill stores")
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        sass = subprocess.run([str(NVDISASM), "-c", str(cubin)], capture_output=True, text=True, check=True).stdout
    labels: dict[str, int] = {}
    instructions: list[str] = []
    loops: list[tuple[str, int]] = []
    for line in sass.splitlines():
        label = re.match(r"^(\.L_x_\d+):", line.strip())
        if label:
            labels[label.group(1)] = len(instructions)
        elif INSTRUCTION.match(line):
            branch = re.search(r"BRA\s+`?\(?(\.L_x_\d+)", line)
            if branch and branch.group(1) in labels:  # a branch back: the end of a loop
                loops.append((branch.group(1), len(instructions)))
            instructions.append(line)
    print(f"  kernel: {_counts(instructions)}")
    for label, end in loops:
        print(f"  loop {label}: {_counts(instructions[labels[label] : end + 1])}")


def report_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan forward at 256 x 256 x 64 in fp32 and bf16, inference (no checkpoints) and training; also for
    builds before the kernel's rename (``_fwd_kernel``), so two commits' forwards can be compared."""
    name = "_scan_fwd_kernel" if hasattr(scan_triton_fwd, "_scan_fwd_kernel") else "_fwd_kernel"
    for dtype in (torch.float32, torch.bfloat16):
        for save in (False, True):
            args = layout._scan_args(dtype, 256, 256, 64)
            run = lambda: scan_triton_fwd.scan_forward(args, save_checkpoints=save)  # noqa: E731
            calls = layout._captured(monkeypatch, scan_triton_fwd, (name,), run)
            monkeypatch.undo()
            kind = "training" if save else "inference"
            report(f"{name} ({dtype}, 256 x 256 x 64, {kind})", layout._compile_sm90(*calls[-1]))


def tsm2_bc_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every compile below gets B and C as TSM2 passes them (the layout tests' ``bc_layout="tsm2"``)."""
    make = layout._scan_args
    monkeypatch.setattr(layout, "_scan_args", lambda *a, **k: make(*a, **{**k, "bc_layout": "tsm2"}))


def main() -> None:
    if "tsm2-bc" in sys.argv:
        sys.argv.remove("tsm2-bc")
        tsm2_bc_layout(pytest.MonkeyPatch())
    if sys.argv[1:2] == ["fwd"]:  # KEY=INT: FWD_CONFIG entries, e.g. maxnreg=128 maxnreg_inference=160
        try:
            apply_overrides(scan_triton_fwd.FWD_CONFIG, sys.argv[2:])
        except ValueError as err:
            raise SystemExit(str(err)) from None
        report_forward(pytest.MonkeyPatch())
        return
    # KEY=INT: a BWD_CONFIG entry for every compile (e.g. skip=32 with scan_stage_probe.py's copy as
    # tsmamba.kernels); plain integers: register caps (BWD_CONFIG["maxnreg"]) to report the scan backward at
    try:
        apply_scan_config([a for a in sys.argv[1:] if "=" in a])
    except ValueError as err:
        raise SystemExit(str(err)) from None
    caps = [int(a) for a in sys.argv[1:] if "=" not in a]
    monkeypatch = pytest.MonkeyPatch()
    for dtype in (torch.float32, torch.bfloat16):
        report(f"_scan_bwd_kernel ({dtype}, 4 x 256 x 64, N=16)", layout._compile_backward(monkeypatch, dtype))
        monkeypatch.undo()
    for cap in caps:
        monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "maxnreg", cap)
        report(f"_scan_bwd_kernel (fp32, maxnreg {cap})", layout._compile_backward(monkeypatch, torch.float32))
        monkeypatch.undo()
    names = ("_conv1d_bwd_dpre_kernel", "_conv1d_bwd_dx_kernel")
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.zeros(1344, 65, 256, dtype=dtype)[..., :128]  # the Weather token mixer's conv input: half of
        w, b = torch.zeros(128, 1, 4), torch.zeros(128)  # the in_proj output (bf16 under autocast)
        calls = layout._captured(
            monkeypatch, conv1d_triton, names, lambda: conv1d_triton.conv1d_silu_backward(x, w, b, x, False)
        )
        monkeypatch.undo()
        for name, call in zip(names, calls, strict=True):
            report(f"{name} (1344 x 65 x 128, K=4, {dtype})", layout._compile_sm90(*call))
    report_sum_partials(monkeypatch)


def report_sum_partials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backward's partial-sum launch at the Weather channel mixer's shape (4160 rows of 21 variates, d_inner
    128 in 4 channel blocks, N=16), as scan_backward calls it."""
    batch, blocks, length, n_state, dim = 4160, 4, 21, 16, 128
    bc = torch.zeros(batch, blocks, length, n_state)
    run = lambda: scan_triton_bwd.sum_partials(  # noqa: E731
        bc, bc, torch.zeros(batch, n_state, dim), torch.zeros(batch, dim), torch.zeros(batch, dim), 1
    )
    (call,) = layout._captured(monkeypatch, scan_triton_bwd, ("_scan_sum_partials_kernel",), run)
    monkeypatch.undo()
    shape = f"{batch} x {dim} x {length}"
    report(f"_scan_sum_partials_kernel ({shape})", layout._compile_sm90(*call))


if __name__ == "__main__":
    main()
