"""Selective-scan benchmark: tsmamba's kernels vs mamba_ssm's CUDA kernel and its PyTorch reference.

GPU (``--device cuda``): per shape and dtype prints ms forward, ms forward+backward, effective GB/s of the
forward, % of the forward's roofline floor max(bytes / copy bandwidth, exp-ops / exp2 rate) (both ceilings
measured in the same run), and speed-ups vs mamba_ssm's CUDA kernel; also the relative error of our output and
gradients vs mamba_ssm's. Main columns are kernel time, replayed from CUDA graphs (no Python/launch overhead, which
dominates eager timings of sub-ms calls); eager ``do_bench`` timings of the same calls are shown beside them.
CPU (``--device cpu``): the torch backend vs
``selective_scan_ref`` (mamba_ssm's own function when its sdist is unpacked under ``--peer``, else our
structural copy ``selective_scan_dense``).

mamba_ssm is loaded without running its package ``__init__`` (which imports optional model code); only the
selective-scan interface is imported. Example:

    python benchmarks/kernel_bench.py --device cuda --out benchmarks/results/kernel_h100.md
"""

from __future__ import annotations

import argparse
import ast
import importlib
import math
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from tsmamba.kernels import selective_scan, selective_scan_dense

GPU_SHAPES = [
    (256, 256, 64),
    (1792, 128, 42),
    (64, 256, 512),
    (32, 512, 720),
    (128, 128, 321),
    (2016, 256, 7),
    (10272, 256, 63),
    (8, 1024, 2048),
    (4, 2048, 8192),
]
CPU_SHAPES = [(64, 32, 42), (32, 64, 96), (16, 128, 336), (8, 64, 720)]
N_STATE = 16
TSM2_DT_RANK = 4  # ceil(d_model / 16) at the Weather width (d_model 64): x_proj's output is dt_rank + 2N wide
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_mamba_ssm(peer_dir: Path | None = None):
    """(selective_scan_fn, selective_scan_ref) of mamba_ssm, or (None, ref) / (None, None) when unavailable.

    With the CUDA extension installed, the package directory is registered without executing its __init__.
    On a CPU machine the reference alone is extracted from the unpacked sdist's source (no CUDA extension).
    """
    try:
        spec = importlib.util.find_spec("mamba_ssm")
        if spec is not None and spec.submodule_search_locations:
            import selective_scan_cuda  # noqa: F401  (torch must be imported first)

            package = types.ModuleType("mamba_ssm")
            package.__path__ = list(spec.submodule_search_locations)
            sys.modules.setdefault("mamba_ssm", package)
            interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
            return interface.selective_scan_fn, interface.selective_scan_ref
    except ImportError as err:
        print(f"mamba_ssm CUDA kernel unavailable: {err}")
    if peer_dir is not None:
        source_file = next(peer_dir.glob("mamba_ssm-*/mamba_ssm/ops/selective_scan_interface.py"), None)
        if source_file is not None:
            try:
                from einops import rearrange, repeat
            except ImportError:
                print("einops missing: cannot load mamba_ssm's selective_scan_ref")
                return None, None
            tree = ast.parse(source_file.read_text())
            node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "selective_scan_ref")
            namespace = {"torch": torch, "F": F, "rearrange": rearrange, "repeat": repeat}
            exec(compile(ast.Module(body=[node], type_ignores=[]), str(source_file), "exec"), namespace)
            return None, namespace["selective_scan_ref"]
    return None, None


def apply_overrides(table: dict, items: list[str]) -> None:
    """Set entries of a kernel config (FWD_CONFIG, BWD_CONFIG) from ``KEY=INT`` items; a bad item names the keys."""
    for item in items:
        key, sep, value = item.partition("=")
        if key not in table or not sep or not value.lstrip("-").isdigit():
            raise ValueError(f"{item!r}: expected KEY=INT with KEY one of {sorted(table)}")
        table[key] = int(value)


def apply_scan_config(items: list[str]) -> None:
    """Set kernel config entries from ``KEY=INT`` items (the scan's BWD_CONFIG), ``fwd.KEY=INT`` items (its
    FWD_CONFIG) and ``conv.KEY=INT`` items (the fused conv's DPRE_CONFIG): A/Bs of a kernel option (model_speed's
    --scan-config, kernel_sass's settings)."""
    if not items:
        return
    from tsmamba.kernels import conv1d_triton, scan_triton_bwd, scan_triton_fwd

    prefixed = {"fwd.": scan_triton_fwd.FWD_CONFIG, "conv.": conv1d_triton.DPRE_CONFIG}
    for prefix, table in prefixed.items():
        apply_overrides(table, [i.removeprefix(prefix) for i in items if i.startswith(prefix)])
    apply_overrides(scan_triton_bwd.BWD_CONFIG, [i for i in items if not i.startswith(tuple(prefixed))])


def make_case(
    batch: int,
    dim: int,
    length: int,
    dtype: torch.dtype,
    device: str,
    channel_last: bool,
    seed: int,
    tsm2_layout: bool = False,
):
    """Benchmark inputs like a Mamba block's: softplus(Δ + bias), D, z gate, N=16, A = -(1..N). B and C are
    (batch, N, L) contiguous as mamba_ssm takes them; with ``tsm2_layout`` B, C and z are the views TSM2's blocks
    pass: B and C split from x_proj's (batch, L, dt_rank + 2N) output (dt_rank 4, the Weather width's: a step
    stride of 36, which Triton compiles differently from the multiple of 16 of a contiguous copy), z the second
    half of in_proj's (batch, L, 2·dim) output (a step stride of 2·dim)."""
    gen = torch.Generator(device=device).manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=device, generator=gen).to(dtype)

    def seq(scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
        if channel_last:
            x = torch.randn(batch, length, dim, device=device, generator=gen) * scale + shift
            return x.to(dtype).transpose(1, 2)
        return (torch.randn(batch, dim, length, device=device, generator=gen) * scale + shift).to(dtype)

    u, delta = seq(), seq(0.5, -2.0)
    if tsm2_layout:
        x_dbl = randn(batch, length, TSM2_DT_RANK + 2 * N_STATE)
        B = x_dbl[..., TSM2_DT_RANK : TSM2_DT_RANK + N_STATE].transpose(1, 2)
        C = x_dbl[..., TSM2_DT_RANK + N_STATE :].transpose(1, 2)
    else:
        B, C = randn(batch, N_STATE, length), randn(batch, N_STATE, length)
    D = torch.randn(dim, device=device, generator=gen)
    z = randn(batch, length, 2 * dim)[..., dim:].transpose(1, 2) if tsm2_layout else seq()
    A = -torch.arange(1, N_STATE + 1, device=device, dtype=torch.float32).repeat(dim, 1)
    delta_bias = torch.rand(dim, device=device, generator=gen) * 0.5
    return dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)


def contiguous_copy(case: dict) -> dict:
    return {k: v.detach().contiguous() for k, v in case.items()}


def forward_bytes(batch: int, dim: int, length: int, dtype: torch.dtype) -> int:
    """Fewest bytes: read u, delta, z, B, C once, write out once (A, D, bias are negligible)."""
    elem = torch.finfo(dtype).bits // 8
    return elem * (4 * batch * dim * length + 2 * batch * N_STATE * length)


def forward_exp_ops(batch: int, dim: int, length: int) -> int:
    """Special-function ops: N exp2 for the decays + softplus (exp2, log2) + silu (exp2, reciprocal)."""
    return batch * dim * length * (N_STATE + 4)


def measure_copy_bandwidth() -> float:
    """Bytes read + written per second of a 1 GiB device-to-device copy."""
    import triton.testing

    src = torch.randn(256 * 1024 * 1024, device="cuda")
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=50, rep=300, return_mode="median")
    return 2 * src.numel() * 4 / (ms * 1e-3)


def measure_exp2_rate() -> float:
    """exp2 operations per second of a Triton kernel doing 4 independent exp2 chains per element."""
    import triton
    import triton.language as tl
    import triton.testing

    @triton.jit
    def exp2_kernel(x_ptr, out_ptr, iters, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x0 = tl.load(x_ptr + offs)
        x1 = x0 + 0.25
        x2 = x0 + 0.5
        x3 = x0 + 0.75
        for _ in range(iters):
            x0 = tl.exp2(-x0)
            x1 = tl.exp2(-x1)
            x2 = tl.exp2(-x2)
            x3 = tl.exp2(-x3)
        tl.store(out_ptr + offs, x0 + x1 + x2 + x3)

    n, iters, block = 132 * 2048 * 16, 256, 1024
    x = torch.rand(n, device="cuda")
    out = torch.empty_like(x)
    ms = triton.testing.do_bench(
        lambda: exp2_kernel[(n // block,)](x, out, iters, BLOCK=block), warmup=20, rep=200, return_mode="median"
    )
    return 4 * n * iters / (ms * 1e-3)


def bench_gpu(ms_fn, sets: list, fn) -> float:
    """Median ms of ``fn`` cycling over several input sets (so that caches do not hold the inputs)."""
    state = {"i": 0}

    def run():
        fn(sets[state["i"] % len(sets)])
        state["i"] += 1

    return ms_fn(run)


def bench_graph(sets: list, fn, reps: int = 30) -> float:
    """Median GPU ms of ``fn`` per input set, replayed from one CUDA graph that runs it over every set: the
    kernels' own time, without Python / launch overhead (which is what eager timing of sub-ms calls measures).
    NaN when the call cannot be captured."""
    try:
        for c in sets:
            fn(c)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for c in sets:
                fn(c)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for c in sets:
                fn(c)
        start = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        reps = max(5, min(reps, int(0.3 / max(time.perf_counter() - start, 1e-6))))  # ~0.3 s per measurement
        times = []
        for _ in range(reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        del graph
        return sorted(times)[len(times) // 2] / len(sets)
    except Exception as err:  # a path that cannot be captured is reported, not fatal
        print(f"graph capture failed: {err!r}"[:300], flush=True)
        torch.cuda.synchronize()
        return float("nan")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def run_gpu(args) -> list[str]:
    import triton.testing
    from tsmamba.kernels import scan_triton_bwd, scan_triton_fwd

    torch.backends.cuda.matmul.allow_tf32 = False
    fn_cuda, _ = load_mamba_ssm()
    bandwidth, exp_rate = measure_copy_bandwidth(), measure_exp2_rate()
    device_name = torch.cuda.get_device_name()
    head = [
        f"device: {device_name}; torch {torch.__version__}; triton {__import__('triton').__version__}; "
        f"mamba_ssm CUDA kernel: {'yes' if fn_cuda else 'NO'}",
        f"our configs: forward {scan_triton_fwd.FWD_CONFIG}; backward {scan_triton_bwd.BWD_CONFIG}",
        f"measured copy bandwidth {bandwidth / 1e9:.0f} GB/s (read+write); exp2 rate {exp_rate / 1e12:.2f} T/s",
        "",
    ]
    print("\n".join(head), flush=True)
    rows = [
        "| shape (B, D, L) | dtype | fwd ms | fwd GB/s | fwd % floor (bound) | fwd+bwd ms | mamba fwd ms | "
        "mamba fwd+bwd ms | × mamba fwd | × mamba fwd+bwd | eager fwd ms (ours / mamba) | "
        "eager fwd+bwd ms (ours / mamba) | eager × mamba fwd+bwd | rel err vs mamba (out / worst grad) |",
        "|" + "---|" * 14,
    ]

    def do_bench(f):
        return triton.testing.do_bench(f, warmup=args.warmup, rep=args.rep, return_mode="median")

    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else GPU_SHAPES
    for batch, dim, length in shapes:
        for dname in args.dtypes:
            dtype = DTYPES[dname]
            nbytes = forward_bytes(batch, dim, length, dtype)
            n_sets = max(1, min(4, math.ceil(400e6 / nbytes)))
            ours = [make_case(batch, dim, length, dtype, "cuda", True, s, args.tsm2_layout) for s in range(n_sets)]
            theirs = [contiguous_copy(c) for c in ours]
            kw = dict(delta_softplus=True)

            def grads_of(fn, c):
                leaves = {k: v.detach().requires_grad_(True) for k, v in c.items()}
                out = fn(leaves)
                return out, leaves

            def make_fwd(fn):
                def fwd(c):
                    with torch.no_grad():
                        fn(c)

                return fwd

            def make_fb(fn):
                def fb(c):
                    out, leaves = grads_of(fn, c)
                    out.backward(torch.ones_like(out))

                return fb

            ours_call = lambda c: selective_scan(**c, **kw, backend="triton")  # noqa: E731
            t_fwd = bench_graph(ours, make_fwd(ours_call))
            t_fb = bench_graph(ours, make_fb(ours_call))
            e_fwd = bench_gpu(do_bench, ours, make_fwd(ours_call))
            e_fb = bench_gpu(do_bench, ours, make_fb(ours_call))
            floor_bytes = nbytes / bandwidth
            floor_exp = forward_exp_ops(batch, dim, length) / exp_rate
            floor = max(floor_bytes, floor_exp)
            pct = 100 * floor / (t_fwd * 1e-3)
            bound = "bytes" if floor_bytes >= floor_exp else "exp"
            m_fwd = m_fb = me_fwd = me_fb = float("nan")
            err = "n/a"
            if fn_cuda is not None:

                def mamba_call(c):
                    return fn_cuda(c["u"], c["delta"], c["A"], c["B"], c["C"], c["D"], c["z"], c["delta_bias"], True)

                m_fwd = bench_graph(theirs, make_fwd(mamba_call))
                m_fb = bench_graph(theirs, make_fb(mamba_call))
                me_fwd = bench_gpu(do_bench, theirs, make_fwd(mamba_call))
                me_fb = bench_gpu(do_bench, theirs, make_fb(mamba_call))
                o1, l1 = grads_of(ours_call, ours[0])
                g = torch.randn_like(o1)
                o1.backward(g)
                o2, l2 = grads_of(mamba_call, theirs[0])
                o2.backward(g)
                worst = max(_rel(l1[k].grad, l2[k].grad) for k in l1)
                err = f"{_rel(o1, o2):.1e} / {worst:.1e}"
                del o1, o2, l1, l2, g
            row = (
                f"| ({batch}, {dim}, {length}) | {dname} | {t_fwd:.3f} | {nbytes / (t_fwd * 1e-3) / 1e9:.0f} | "
                f"{pct:.0f}% ({bound}) | {t_fb:.3f} | {m_fwd:.3f} | {m_fb:.3f} | {m_fwd / t_fwd:.2f} | "
                f"{m_fb / t_fb:.2f} | {e_fwd:.3f} / {me_fwd:.3f} | {e_fb:.3f} / {me_fb:.3f} | {me_fb / e_fb:.2f} | "
                f"{err} |"
            )
            print(row, flush=True)
            rows.append(row)
            ours = theirs = None  # free the inputs before the next shape
            torch.cuda.empty_cache()
    return head + rows


def sweep_configs(
    defaults_only: bool, extra_bwd: list[str], extra_fwd: tuple[str, ...] | list[str] = ()
) -> tuple[list[dict], list[dict]]:
    """Forward and backward configs of the sweep: {} = the shipped defaults (chosen from the problem size), the
    rest alternatives applied on top of them; ``defaults_only`` keeps {} alone, ``extra_fwd`` / ``extra_bwd``
    (dict literals) add forward / backward configs either way."""
    fwd_configs = [{}, dict(num_warps=1), dict(num_warps=2), dict(min_programs=0), dict(min_programs=8192)]
    bwd_configs = [
        {},
        dict(maxnreg=168),
        dict(maxnreg=128),
        dict(min_programs=0),
        dict(min_programs=16384),
        dict(min_tiles=2),
        dict(min_tiles=1),
    ]
    if defaults_only:
        fwd_configs, bwd_configs = [{}], [{}]
    fwd_configs += [ast.literal_eval(c) for c in extra_fwd]
    return fwd_configs, bwd_configs + [ast.literal_eval(c) for c in extra_bwd]


def run_sweep(args) -> list[str]:
    """Forward (inference, and training: with the checkpoints saved) and forward+backward ms of our Triton kernels
    for several block configs (tuning); for the backward configs also the worst gradient's relative difference
    from the first config's (a native correctness check of each variant at the benchmark's block sizes)."""
    from tsmamba.kernels import scan_triton_bwd, scan_triton_fwd

    # timed from CUDA graphs
    fwd_configs, bwd_configs = sweep_configs(args.defaults_only, args.extra_bwd, args.extra_fwd)
    lines = [
        "| shape | dtype | kind | config | ms | worst grad rel. diff vs the first fwd+bwd row |",
        "|---|---|---|---|---|---|",
    ]
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else GPU_SHAPES
    base_fwd, base_bwd = dict(scan_triton_fwd.FWD_CONFIG), dict(scan_triton_bwd.BWD_CONFIG)
    for batch, dim, length in shapes:
        for dname in args.dtypes:
            sets = [make_case(batch, dim, length, DTYPES[dname], "cuda", True, s, args.tsm2_layout) for s in range(2)]

            def fwd(c):
                with torch.no_grad():
                    selective_scan(**c, delta_softplus=True, backend="triton")

            def fwd_train(c):  # what a training step runs: the forward also saves the backward's checkpoints
                leaves = {k: v.detach().requires_grad_(True) for k, v in c.items()}
                selective_scan(**leaves, delta_softplus=True, backend="triton")

            def fb(c):
                leaves = {k: v.detach().requires_grad_(True) for k, v in c.items()}
                out = selective_scan(**leaves, delta_softplus=True, backend="triton")
                out.backward(torch.ones_like(out))

            def grads(c: dict) -> dict:
                leaves = {k: v.detach().requires_grad_(True) for k, v in c.items()}
                out = selective_scan(**leaves, delta_softplus=True, backend="triton")
                gen = torch.Generator(device=out.device).manual_seed(0)
                out.backward(torch.randn(out.shape, device=out.device, generator=gen).to(out.dtype))
                return {k: v.grad for k, v in leaves.items()}

            first_grads = None
            for kind, configs, table, fn in (
                ("fwd", fwd_configs, scan_triton_fwd.FWD_CONFIG, fwd),
                ("fwd (training)", fwd_configs, scan_triton_fwd.FWD_CONFIG, fwd_train),
                ("fwd+bwd", bwd_configs, scan_triton_bwd.BWD_CONFIG, fb),
            ):
                for config in configs:
                    scan_triton_fwd.FWD_CONFIG.update(base_fwd)
                    scan_triton_bwd.BWD_CONFIG.update(base_bwd)
                    table.update(config)
                    diff = ""
                    try:
                        ms = bench_graph(sets, fn)
                        if kind == "fwd+bwd":
                            got = grads(sets[0])
                            first_grads = first_grads or got
                            diff = f"{max(_rel(got[k], first_grads[k]) for k in got):.1e}"
                            del got
                    except Exception as err:  # a config that does not compile or run is reported, not fatal
                        ms = float("nan")
                        print(f"config {kind} {config} failed: {err}")
                    line = f"| ({batch}, {dim}, {length}) | {dname} | {kind} | {config} | {ms:.3f} | {diff} |"
                    print(line, flush=True)
                    lines.append(line)
                scan_triton_fwd.FWD_CONFIG.update(base_fwd)
                scan_triton_bwd.BWD_CONFIG.update(base_bwd)
            del sets, first_grads
    return lines


def run_cpu(args) -> list[str]:
    _, fn_ref = load_mamba_ssm(Path(args.peer))
    name = "mamba_ssm selective_scan_ref" if fn_ref is not None else "selective_scan_dense (structural copy)"
    fn_ref = fn_ref or selective_scan_dense
    torch.set_num_threads(args.threads)
    head = [f"device: CPU ({args.threads} thread(s)); torch {torch.__version__}; baseline: {name}", ""]
    print("\n".join(head), flush=True)
    rows = [
        "| shape (B, D, L) | torch fwd ms | ref fwd ms | × fwd | torch fwd+bwd ms | ref fwd+bwd ms | × fwd+bwd |",
        "|---|---|---|---|---|---|---|",
    ]

    def timeit(fn, reps: int) -> float:
        fn()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * sorted(times)[len(times) // 2]

    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else CPU_SHAPES
    for batch, dim, length in shapes:
        case = make_case(batch, dim, length, torch.float32, "cpu", True, 0, args.tsm2_layout)
        ref_case = contiguous_copy(case)
        ours = lambda c: selective_scan(**c, delta_softplus=True, backend="torch")  # noqa: E731
        ref = lambda c: fn_ref(
            c["u"],
            c["delta"],
            c["A"],
            c["B"],
            c["C"],
            c["D"],
            c["z"],
            c["delta_bias"],  # noqa
            True,
        )

        def fwd(fn, c):
            with torch.no_grad():
                fn(c)

        def fb(fn, c):
            leaves = {k: v.detach().requires_grad_(True) for k, v in c.items()}
            fn(leaves).sum().backward()

        t1, t2 = timeit(lambda: fwd(ours, case), args.reps), timeit(lambda: fwd(ref, ref_case), args.reps)
        t3, t4 = timeit(lambda: fb(ours, case), args.reps), timeit(lambda: fb(ref, ref_case), args.reps)
        row = (
            f"| ({batch}, {dim}, {length}) | {t1:.1f} | {t2:.1f} | {t2 / t1:.1f} | {t3:.1f} | {t4:.1f} | "
            f"{t4 / t3:.1f} |"
        )
        print(row, flush=True)
        rows.append(row)
    return head + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--shapes", nargs="*", help="shapes as B,D,L (default: the issue's list for the device)")
    parser.add_argument("--warmup", type=int, default=25, help="do_bench warm-up, ms")
    parser.add_argument("--rep", type=int, default=100, help="do_bench repetition time, ms")
    parser.add_argument("--reps", type=int, default=5, help="CPU repetitions (median)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--peer", default=".peers", help="folder holding the unpacked mamba_ssm sdist (CPU)")
    parser.add_argument("--sweep", action="store_true", help="time our Triton kernels over block configs")
    parser.add_argument(
        "--defaults-only", action="store_true", help="with --sweep: the shipped configs (and --extra-*) only"
    )
    parser.add_argument(
        "--extra-fwd", nargs="*", default=[], help="with --sweep: more forward configs, as dicts: \"{'maxnreg': 128}\""
    )
    parser.add_argument(
        "--extra-bwd", nargs="*", default=[], help="with --sweep: more backward configs, as dicts: \"{'min_tiles': 8}\""
    )
    parser.add_argument(
        "--tsm2-layout",
        action="store_true",
        help="B, C and z as the views TSM2's blocks pass (default: mamba_ssm's contiguous B and C)",
    )
    parser.add_argument("--out", help="write the table (markdown) here")
    args = parser.parse_args()
    if args.sweep:
        lines = run_sweep(args)
    else:
        lines = run_gpu(args) if args.device == "cuda" else run_cpu(args)
    command = "python " + " ".join(sys.argv)
    text = "\n".join([f"command: `{command}`", ""] + lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
