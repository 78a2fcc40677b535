"""The Triton scan kernels compiled for sm_90 on the CPU (no GPU): asserts what their speed rests on.

The v2 kernels are fast because the state is an [N, BLOCK_D] register tile with one channel per lane (N in
that lane's registers): a forward step then needs no shuffle, shared memory or barrier, and the backward's only
cross-lane work is the per-step dB/dC reduction inside one warp. That layout is chosen by Triton's heuristics,
not by the source, so a Triton upgrade can silently move it; this test compiles the kernels exactly as the
launchers call them (arguments captured from the launcher, specialised like the JIT does) and reads the TTGIR,
the PTX and ``ptxas -v``. It skips only when the installed Triton cannot compile for sm_90 at all.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("compiles real kernels; not under the Triton interpreter", allow_module_level=True)

triton = pytest.importorskip("triton")
from triton.backends.compiler import BaseBackend, GPUTarget  # noqa: E402
from triton.runtime.jit import native_specialize_impl  # noqa: E402
from tsmamba.kernels import conv1d_triton, scan_triton_bwd, scan_triton_fwd  # noqa: E402
from tsmamba.kernels.scan_torch import ScanArgs  # noqa: E402

N_STATE = 16


class _Recorder:
    """Stands in for a @triton.jit kernel: ``kernel[grid](*args, **kwargs)`` records the call instead of running."""

    def __init__(self, kernel, calls: list):
        self.kernel, self.calls = kernel, calls

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.calls.append((self.kernel, args, kwargs))

        return launch


def _captured(monkeypatch, module, names: tuple[str, ...], run) -> list:
    calls: list = []
    for name in names:
        monkeypatch.setattr(module, name, _Recorder(getattr(module, name), calls))
    run()
    return calls


def _compile_sm90(kernel, args: tuple, kwargs: dict):
    """Compile one recorded launch for sm_90 with the JIT's specialisation (alignment and ==1 hints)."""
    kwargs = dict(kwargs)
    options = {"num_warps": kwargs.pop("num_warps", 4)}
    if "maxnreg" in kwargs:  # a launch option (BWD_CONFIG / FWD_CONFIG "maxnreg"), not a kernel argument
        options["maxnreg"] = kwargs.pop("maxnreg")
    values = dict(zip(kernel.arg_names, args))
    values.update(kwargs)
    signature, constexprs, attrs = {}, {}, {}
    for i, param in enumerate(kernel.params):
        value = values[param.name]
        if param.is_constexpr:
            signature[param.name], constexprs[param.name] = "constexpr", value
            continue
        specialize = not param.do_not_specialize
        align = not param.do_not_specialize_on_alignment
        kind, key = native_specialize_impl(BaseBackend, value, False, specialize, align)
        if kind == "constexpr":
            signature[param.name], constexprs[param.name] = "constexpr", key
        else:
            signature[param.name] = kind
            if key:
                attrs[(i,)] = BaseBackend.parse_attr(key)
    source = triton.compiler.ASTSource(fn=kernel, signature=signature, constexprs=constexprs, attrs=attrs)
    return triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)


def _scan_args(
    dtype: torch.dtype, batch: int = 4, dim: int = 256, length: int = 64, bc_layout: str = "mamba"
) -> ScanArgs:
    """CPU tensors laid out as a TSM2 block passes them (u, delta, z channel-last views); values unused. B and C
    as mamba_ssm takes them ((batch, 1, N, L), which the launchers copy time-major: a step stride of N = 16) or,
    with ``bc_layout="tsm2"``, as TSM2 passes them: N-contiguous views of x_proj's (batch, L, dt_rank + 2N) output
    (dt_rank 4 as at the Weather width), a step stride of 36. Triton specialises on strides that are multiples
    of 16, so the two layouts are two compiles of each kernel."""

    def seq():
        return torch.zeros(batch, length, dim, dtype=dtype).transpose(1, 2)

    if bc_layout == "tsm2":
        rank = 4  # dt_rank at the Weather width (d_model 64), as benchmarks/kernel_bench.py's TSM2_DT_RANK
        x_dbl = torch.zeros(batch, length, 1, rank + 2 * N_STATE, dtype=dtype)
        B, C = (x_dbl[..., rank + i * N_STATE : rank + (i + 1) * N_STATE].permute(0, 2, 3, 1) for i in range(2))
    else:
        B, C = (torch.zeros(batch, 1, N_STATE, length, dtype=dtype) for _ in range(2))
    vec = torch.zeros(dim)
    A = torch.zeros(dim, N_STATE)
    return ScanArgs(seq(), seq(), A, B, C, vec, seq(), vec.clone(), True, False, None)


def _compile_forward(monkeypatch, dtype, bc_layout="mamba", **cfg):
    args = _scan_args(dtype, bc_layout=bc_layout)
    calls = _captured(
        monkeypatch,
        scan_triton_fwd,
        ("_scan_fwd_kernel",),
        lambda: scan_triton_fwd.scan_forward(args, save_checkpoints=True, config=cfg),
    )
    assert len(calls) == 1
    return _compile_sm90(*calls[0])


def _backward_calls(monkeypatch, dtype, bc_layout="mamba") -> list:
    """The backward's two launches as the launcher makes them: the walk, then the partial sums."""
    args = _scan_args(dtype, bc_layout=bc_layout)
    batch, dim, length = args.u.shape
    ckpt = torch.zeros(batch, scan_triton_fwd.checkpoint_slots(length), N_STATE, dim)
    grad = torch.zeros(batch, length, dim, dtype=dtype).transpose(1, 2)
    names = ("_scan_bwd_kernel", "_scan_sum_partials_kernel")
    calls = _captured(
        monkeypatch, scan_triton_bwd, names, lambda: scan_triton_bwd.scan_backward(args, ckpt, grad, None)
    )
    assert [kernel.fn.__name__ for kernel, _, _ in calls] == list(names)
    return calls


def _compile_backward(monkeypatch, dtype, bc_layout="mamba"):
    return _compile_sm90(*_backward_calls(monkeypatch, dtype, bc_layout)[0])


@pytest.fixture(scope="module", autouse=True)
def _sm90_available():
    try:
        GPUTarget("cuda", 90, 32)
        from triton.backends.nvidia.compiler import CUDABackend  # noqa: F401
    except Exception as err:  # pragma: no cover - depends on the installed wheel
        pytest.skip(f"this Triton cannot compile for sm_90: {err}")


def _loop_bodies(ttgir: str) -> list[str]:
    """Text of every scf.for body (nested loops included in their parent's text)."""
    bodies = []
    lines = ttgir.splitlines()
    for i, line in enumerate(lines):
        if "scf.for" in line and "=" in line:
            depth, body = 0, []
            for other in lines[i:]:
                depth += other.count("{") - other.count("}")
                body.append(other)
                if depth <= 0:
                    break
            bodies.append("\n".join(body))
    return bodies


def _state_layouts(ttgir: str) -> list[str]:
    """Layouts of the [N, BLOCK_D] fp32 tiles (the state and its companions) inside the step loops."""
    bodies = _loop_bodies(ttgir)
    assert bodies, "no step loop (scf.for) in the TTGIR"
    return [name for body in bodies for name in re.findall(rf"tensor<{N_STATE}x(?:32|64|128)xf32, (#\w+)>", body)]


def _layout_def(ttgir: str, name: str) -> str:
    match = re.search(rf"^{name} = (.*)$", ttgir, re.M)
    assert match, f"layout {name} not defined"
    return match.group(1)


def _ptxas_report(ptx: str) -> str | None:
    from triton.backends.nvidia.compiler import get_ptxas

    ptxas = Path(get_ptxas(90).path)  # the ptxas Triton itself uses for sm_90 (matches its PTX version)
    if not ptxas.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "k.ptx"
        src.write_text(ptx)
        result = subprocess.run(
            [str(ptxas), "-v", "--gpu-name", "sm_90a", str(src), "-o", str(Path(tmp) / "k.cubin")],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    return result.stderr + result.stdout


def _assert_one_channel_per_lane(ttgir: str) -> None:
    names = set(_state_layouts(ttgir))
    assert names, "no [N, BLOCK_D] fp32 tile found in the TTGIR"
    for name in names:
        layout = _layout_def(ttgir, name)
        # lanes and warps only along the channels: the N rows of a channel live in one thread's registers
        # (sizePerThread [1, 1] wraps over the N rows; [N, 1] says the same)
        one_lane = "threadsPerWarp = [1, 32]" in layout and re.search(r"warpsPerCTA = \[1, \d+\]", layout)
        assert one_lane and ("sizePerThread = [1, 1]" in layout or f"sizePerThread = [{N_STATE}, 1]" in layout), (
            f"state tile {name} is not one channel per lane with N in registers: {layout}"
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("num_warps", [1, 2])
@pytest.mark.parametrize("bc_layout", ["mamba", "tsm2"])
def test_forward_step_has_no_cross_lane_work(monkeypatch, dtype, num_warps, bc_layout):
    kernel = _compile_forward(monkeypatch, dtype, bc_layout, num_warps=num_warps)
    ttgir, ptx = kernel.asm["ttgir"], kernel.asm["ptx"]
    _assert_one_channel_per_lane(ttgir)
    # no cross-lane communication anywhere in the kernel: the sum over N is in-thread, and the 1-D per-channel
    # rows share the state's lane mapping (their TTGIR convert_layouts to the state's slice layout are no-ops)
    for instr in ("shfl.sync", "bar.sync", "st.shared", "ld.shared"):
        assert instr not in ptx, f"{instr} in the forward's PTX"
    report = _ptxas_report(ptx)
    if report is not None:
        assert "0 bytes spill stores" in report, report


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bc_layout", ["mamba", "tsm2"])
def test_backward_walk_stays_in_one_warp(monkeypatch, dtype, bc_layout):
    kernel = _compile_backward(monkeypatch, dtype, bc_layout)
    ttgir, ptx = kernel.asm["ttgir"], kernel.asm["ptx"]
    _assert_one_channel_per_lane(ttgir)
    # one warp per program: no barrier, no shared memory; the only shuffles are the per-step dB_t and dC_t sums
    # over the block's 32 channels, each a reduce-scatter of N = 16 values (8 + 4 + 2 + 1 halving shuffles and one
    # butterfly); an all-reduce (tl.sum over the lanes) would take 2 x N x 5 = 160
    for instr in ("bar.sync", "st.shared", "ld.shared"):
        assert instr not in ptx, f"{instr} in the backward's PTX"
    shuffles = ptx.count("shfl.sync")
    assert shuffles <= 2 * N_STATE, f"{shuffles} shuffles in the backward (expected <= {2 * N_STATE})"
    report = _ptxas_report(ptx)
    if report is not None:
        assert "0 bytes spill stores" in report, report


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("prefetch", [False, True])
def test_backward_prefetch_reaches_the_compile_without_barriers(monkeypatch, dtype, prefetch):
    # BWD_CONFIG prefetch (on by default): one L2 prefetch per row of the next tile's u, delta, dy, z (CKPT_STEPS
    # each) and per state row of its checkpoint, none when off; still one warp with no barrier or shared memory, no
    # spill
    monkeypatch.setitem(scan_triton_bwd.BWD_CONFIG, "prefetch", prefetch)
    ptx = _compile_backward(monkeypatch, dtype, "tsm2").asm["ptx"]
    assert ptx.count("prefetch.global") == (4 * scan_triton_fwd.CKPT_STEPS + N_STATE if prefetch else 0)
    for instr in ("bar.sync", "st.shared", "ld.shared"):
        assert instr not in ptx, f"{instr} in the backward's PTX"
    report = _ptxas_report(ptx)
    if report is not None:
        assert "0 bytes spill stores" in report, report


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("case", ["chunked", "initial_and_last_state"])
@pytest.mark.parametrize("reverse", [False, True])
def test_state_tiles_loaded_before_the_loop_keep_its_layout(monkeypatch, dtype, case, reverse):
    # Three paths load an [N, BLOCK_D] tile before the step loop: the chunked path's second forward pass (the
    # carried chunk start states) and its backward walk (the carried end adjoints), a caller's initial state, and
    # the gradient of the last state. Loaded with a specialised N stride, or N-contiguous as a (batch, dim, N)
    # state is, the coalescer vectorised that tile and the whole step loop took its layout (threadsPerWarp [4, 8],
    # 14-25 barriers and shared-memory round trips a step): the chunked backward ran 1.7x slower per step on the
    # H200 than the unchunked one (benchmarks/results/hold_h200_2026-12-03.md). Every scan launch of each path
    # must keep one channel per lane, with no barrier or shared memory, in both scan directions (TSM2's channel
    # mixer runs the reverse one).
    length = 512 if case == "chunked" else 64
    args = dataclasses.replace(_scan_args(dtype, length=length), reverse=reverse)
    batch, dim, _ = args.u.shape
    state = torch.zeros(batch, dim, N_STATE) if case != "chunked" else None
    if state is not None:
        args = dataclasses.replace(args, initial_state=state)
    forward = _captured(
        monkeypatch,
        scan_triton_fwd,
        ("_scan_fwd_kernel", "_chain_chunks_kernel"),
        lambda: scan_triton_fwd.scan_forward(args, save_checkpoints=True),
    )
    ckpt = torch.zeros(batch, scan_triton_fwd.checkpoint_slots(length), N_STATE, dim)
    grad = torch.zeros(batch, length, dim, dtype=dtype).transpose(1, 2)
    backward = _captured(
        monkeypatch,
        scan_triton_bwd,
        ("_scan_bwd_kernel", "_bwd_chunk_adjoint_kernel", "_chain_chunks_kernel", "_scan_sum_partials_kernel"),
        lambda: scan_triton_bwd.scan_backward(args, ckpt, grad, state),
    )
    names = [kernel.fn.__name__ for kernel, _, _ in forward + backward]
    if case == "chunked":  # both directions took the chunked path
        assert names.count("_scan_fwd_kernel") == 2 and "_bwd_chunk_adjoint_kernel" in names, names
    scans = [c for c in forward + backward if c[0].fn.__name__ in ("_scan_fwd_kernel", "_scan_bwd_kernel")]
    for kernel, launch_args, kwargs in scans:
        compiled = _compile_sm90(kernel, launch_args, kwargs)
        _assert_one_channel_per_lane(compiled.asm["ttgir"])
        for instr in ("bar.sync", "st.shared", "ld.shared"):
            assert instr not in compiled.asm["ptx"], f"{instr} in {kernel.fn.__name__} ({case})"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_b_and_c_from_tsm2s_x_proj_slices_load_as_vectors(monkeypatch, direction, dtype):
    # TSM2's B/C are N-contiguous views with a step stride of 36 (not a multiple of 16). In fp32 they are passed in
    # units of 4 elements (bc_unit) and load as the launchers' contiguous copies load: 16-byte vectors; in bf16
    # they sit 8 bytes off 16-byte alignment and are copied. Either way not 32 scalar loads a step
    compile_ = _compile_forward if direction == "forward" else _compile_backward

    def loads(bc_layout: str) -> tuple[int, int]:
        with pytest.MonkeyPatch.context() as mp:
            ptx = compile_(mp, dtype, bc_layout).asm["ptx"]
        return len(re.findall(r"ld\.global", ptx)), len(re.findall(r"ld\.global[.\w]*\.v[24]", ptx))

    copied, tsm2 = loads("mamba"), loads("tsm2")
    assert tsm2 == copied and tsm2[1] > 0, f"TSM2 layout {tsm2} vs copied {copied} (all, vector) loads"


class _GridRecorder:
    """Stands in for a @triton.jit kernel and records only the grid of each ``kernel[grid](...)`` launch."""

    def __init__(self, grids: list):
        self.grids = grids

    def __getitem__(self, grid):
        self.grids.append(tuple(grid))
        return lambda *args, **kwargs: None


def test_launch_grids_fit_cuda_limits_for_large_batches(monkeypatch):
    """A CUDA grid takes at most 65535 programs on axes 1 and 2. TSM2's channel mixer scans and convolves batch x
    patches rows (64 x 1441 = 92,224 at L=11520), so the batch must ride on axis 0 (v2 first put it on axis 1, the
    fused conv on axis 2, and both failed there with 'invalid argument')."""
    grids: list = []
    for module in (scan_triton_fwd, scan_triton_bwd):
        kernels = ("_scan_fwd_kernel", "_chain_chunks_kernel", "_scan_bwd_kernel", "_bwd_chunk_adjoint_kernel")
        for name in (*kernels, "_scan_sum_partials_kernel"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _GridRecorder(grids))
    batch, dim, length = 100_000, 32, 7
    args = _scan_args(torch.float32, batch=batch, dim=dim, length=length)
    scan_triton_fwd.scan_forward(args, save_checkpoints=True)
    ckpt = torch.zeros(batch, scan_triton_fwd.checkpoint_slots(length), N_STATE, dim)
    grad = torch.zeros(batch, length, dim).transpose(1, 2)
    scan_triton_bwd.scan_backward(args, ckpt, grad, None)
    for name in ("_conv1d_fwd_kernel", "_conv1d_bwd_dpre_kernel", "_conv1d_bwd_dx_kernel"):
        monkeypatch.setattr(conv1d_triton, name, _GridRecorder(grids))
    x = torch.zeros(batch, length, dim)  # the fused causal conv of the same rows (its forward failed at L=11520)
    w = torch.zeros(dim, 1, 4)
    conv1d_triton.conv1d_silu_forward(x, w, None, False)
    conv1d_triton.conv1d_silu_backward(x, w, None, x, False)
    assert len(grids) >= 5
    for grid in grids:
        assert all(n <= 65535 for n in grid[1:]), f"grid {grid} exceeds CUDA's 65535 limit on axis 1 or 2"


def _set_dpre_tile(monkeypatch, dtype, block_r=None, num_warps=None, fold=None) -> None:
    """DPRE_CONFIG's first-pass tile under ``dtype``'s keys (16-bit x has its own block_r and fold)."""
    suffix = "_16bit" if dtype in (torch.bfloat16, torch.float16) else ""
    if block_r is not None:
        monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "block_r" + suffix, block_r)
    if num_warps is not None:
        monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "num_warps", num_warps)
    if fold is not None:
        monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "fold" + suffix, fold)


@pytest.mark.parametrize(
    ("reverse", "dpre", "dtype"),
    [(False, None, torch.float32), (True, None, torch.float32), (True, (32, 16), torch.float32),
     (False, (16, 8), torch.float32), (False, None, torch.bfloat16), (False, (32, 16), torch.bfloat16)],
)  # fmt: skip
def test_conv_kernels_compile_without_spills(monkeypatch, reverse, dpre, dtype):
    """The fused conv's three kernels at TSM2's Weather-width shape (1344 rows x 65 patches, d_inner 128 of the
    in_proj output's 256 columns), compiled for sm_90 as the launchers call them: no register spills, and no
    per-tile reduction in the backward's first pass, also in the first pass's candidate tiles (block_r, warps)
    of DPRE_CONFIG. The one-pass backward before them spilled 964 bytes per thread; its successor's first pass
    spills at 4 warps."""
    if dpre is not None:
        _set_dpre_tile(monkeypatch, dtype, *dpre)
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "dpre_16bit", 1)  # bf16 x: the 16-bit scratch (fp32: no effect)
    names = ("_conv1d_fwd_kernel", "_conv1d_bwd_dpre_kernel", "_conv1d_bwd_dx_kernel")
    x = torch.zeros(1344, 65, 256, dtype=dtype)[..., :128]
    w, b = torch.zeros(128, 1, 4), torch.zeros(128)

    def run():
        conv1d_triton.conv1d_silu_forward(x, w, b, reverse)
        conv1d_triton.conv1d_silu_backward(x, w, b, torch.zeros(1344, 65, 128, dtype=dtype), reverse)

    calls = _captured(monkeypatch, conv1d_triton, names, run)
    assert [kernel.fn.__name__ for kernel, _, _ in calls] == list(names)
    for kernel, args, kwargs in calls:
        compiled = _compile_sm90(kernel, args, kwargs)
        if kernel.fn.__name__ == "_conv1d_bwd_dpre_kernel":
            # dweight and dbias are summed per element across the program's row tiles and reduced over the rows
            # once at the end: no reduction (cross-warp: shared memory and barriers) or layout conversion per tile
            (loop,) = _loop_bodies(compiled.asm["ttgir"])
            assert "tt.reduce" not in loop and "convert_layout" not in loop, loop
        report = _ptxas_report(compiled.asm["ptx"])
        if report is None:
            pytest.skip("Triton's ptxas is not installed here")
        assert "0 bytes spill stores" in report, f"{kernel.fn.__name__}: {report}"


def _ptx_loops(ptx: str) -> list[str]:
    """PTX of every loop: from a label to the last branch back to it."""
    lines = ptx.splitlines()
    labels = {m.group(1): i for i, line in enumerate(lines) if (m := re.match(r"(\$L__\w+):", line))}
    ends: dict[str, int] = {}
    for i, line in enumerate(lines):
        match = re.search(r"\bbra(?:\.uni)?\s+(\$L__\w+);", line)
        if match and labels.get(match.group(1), i) < i:
            ends[match.group(1)] = i
    return ["\n".join(lines[labels[label] : end + 1]) for label, end in ends.items()]


def _conv_first_pass_loop(monkeypatch, dtype, fold: int) -> tuple[int, str]:
    """(fold used, PTX of the loop) of the conv backward's first pass at TSM2's Weather width."""
    _set_dpre_tile(monkeypatch, dtype, fold=fold)
    x = torch.zeros(1344, 65, 256, dtype=dtype)[..., :128]
    w, b = torch.zeros(128, 1, 4), torch.zeros(128)
    with pytest.MonkeyPatch.context() as patch:  # the kernels restored after each capture
        call, _ = _captured(
            patch,
            conv1d_triton,
            ("_conv1d_bwd_dpre_kernel", "_conv1d_bwd_dx_kernel"),
            lambda: conv1d_triton.conv1d_silu_backward(x, w, b, torch.zeros(1344, 65, 128, dtype=dtype), False),
        )
    (loop,) = _ptx_loops(_compile_sm90(*call).asm["ptx"])
    return call[2]["FOLD"], loop


@pytest.mark.parametrize(
    ("dpre", "dtype", "rows"),
    [((64, 8), torch.float32, 4), ((64, 8), torch.bfloat16, 2), ((32, 8), torch.float32, 2),
     ((32, 8), torch.bfloat16, 1), ((64, 16), torch.float32, 2), ((64, 16), torch.bfloat16, 1)],
)  # fmt: skip
def test_conv_backward_auto_fold_is_the_rows_a_thread_holds(monkeypatch, dpre, dtype, rows):
    """DPRE_CONFIG fold=0 folds exactly the rows of a tile one thread holds in Triton's layout: the first pass's
    loop then has no barrier or shared-memory access, and twice that fold (rows of other threads) has both in the
    loop (conv1d_triton._rows_per_thread follows the layout, not a guess that happens to pass). Registers and
    spills of these tiles: benchmarks/cpu_probes/kernel_sass.py (Triton 3.9 spills 4 bytes at (64, 8) in bf16)."""
    _set_dpre_tile(monkeypatch, dtype, *dpre)
    fold, loop = _conv_first_pass_loop(monkeypatch, dtype, 0)
    assert fold == rows
    assert "bar.sync" not in loop and ".shared" not in loop, f"fold {fold} crosses threads"
    _, wider = _conv_first_pass_loop(monkeypatch, dtype, 2 * rows)
    assert "bar.sync" in wider and ".shared" in wider, f"fold {2 * rows} stayed in registers"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv_backward_l2_prefetch_is_in_the_first_pass_loop(monkeypatch, dtype):
    """DPRE_CONFIG prefetch=1 (an L2 hint for the next tile's x and grad_u rows, one a 128-byte line) compiles at
    the dtype's default tile into the first pass's loop: a tile's lines (64 rows x 2 in fp32, 32 x 1 in bf16) are
    fewer than its 256 threads, so each thread issues one hint for x and one for grad_u a tile; prefetch=0 none.
    Registers and spills: benchmarks/cpu_probes/kernel_sass.py conv.prefetch=1."""
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "prefetch", 1)
    fold = conv1d_triton.DPRE_CONFIG["fold_16bit" if dtype == torch.bfloat16 else "fold"]
    _, loop = _conv_first_pass_loop(monkeypatch, dtype, fold)
    assert loop.count("prefetch.global.L2") == 2, loop
    monkeypatch.setitem(conv1d_triton.DPRE_CONFIG, "prefetch", 0)
    assert "prefetch.global.L2" not in _conv_first_pass_loop(monkeypatch, dtype, fold)[1]


def test_partial_sums_kernel_compiles_for_sm90(monkeypatch):
    """The one-launch partial sums (a branch per program role, pointers chosen at run time) compile natively, not
    only in the interpreter that runs them on CPU; no spills."""
    report = _ptxas_report(_compile_sm90(*_backward_calls(monkeypatch, torch.float32)[1]).asm["ptx"])
    if report is not None:
        assert "0 bytes spill stores" in report, report


def _assert_capped(ptx: str, cap: int, spill_bytes: int | None = None) -> None:
    """The register cap reached the PTX and, where ptxas is at hand, the compile used at most ``cap`` registers
    (and spilled at most ``spill_bytes``)."""
    assert f".maxnreg {cap}" in ptx
    report = _ptxas_report(ptx)
    if report is None:
        return
    used = re.search(r"Used (\d+) registers", report)
    assert used and int(used.group(1)) <= cap, report
    if spill_bytes is not None:
        spills = re.search(r"(\d+) bytes spill stores", report)
        assert spills and int(spills.group(1)) <= spill_bytes, report


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_register_cap_of_the_config_reaches_the_compile(monkeypatch, direction):
    # FWD_CONFIG / BWD_CONFIG["maxnreg"] is a launch option, not a kernel argument: the launcher must pass it on
    # (the forward's dropped it) and so must the compile helper (it dropped it too), or a "capped" row times or
    # reports the uncapped kernel
    forward = direction == "forward"
    config = scan_triton_fwd.FWD_CONFIG if forward else scan_triton_bwd.BWD_CONFIG
    cap = 96 if forward else 168
    monkeypatch.setitem(config, "maxnreg", cap)
    if forward:  # the test shape's grid is small: the training forward's cap applies from maxnreg_min_warps warps
        monkeypatch.setitem(config, "maxnreg_min_warps", 0)
    _assert_capped((_compile_forward if forward else _compile_backward)(monkeypatch, torch.float32).asm["ptx"], cap)


@pytest.mark.parametrize(
    ("shape", "dtype", "capped"),
    [
        ((448, 32, 65), torch.float32, False),
        ((4160, 128, 21), torch.float32, True),
        ((64, 256, 512), torch.float32, True),
        ((32, 64, 512), torch.float32, False),
        ((4160, 128, 21), torch.bfloat16, True),  # maxnreg_16bit
        ((448, 32, 65), torch.bfloat16, False),
    ],
)
def test_training_forward_is_capped_only_where_its_grid_outgrows_the_gpu(monkeypatch, shape, dtype, capped):
    # capped at 128 registers the training forward spills but fits 16 warps per SM instead of 12: 2-27 % faster
    # on the H200 with 2048+ warps in the grid, 20 % slower at (448, 32, 65)'s 448 warps, all resident anyway
    # (scan_hold_h200_2026-12-01d.md); at L = 512 both launches of the chunked path follow the rule
    cfg, names = scan_triton_fwd.FWD_CONFIG, ("_scan_fwd_kernel", "_chain_chunks_kernel")
    args = _scan_args(dtype, *shape)
    calls = _captured(monkeypatch, scan_triton_fwd, names, lambda: scan_triton_fwd.scan_forward(args, True))
    scans = [kwargs for _, _, kwargs in calls if "STATES_ONLY" in kwargs]
    cap = cfg["maxnreg_16bit" if dtype == torch.bfloat16 else "maxnreg"]
    assert cap is not None
    assert [kwargs.get("maxnreg") for kwargs in scans] == [cap if capped else None] * len(scans)
    assert len(scans) == (2 if shape[2] == 512 else 1)  # L = 512: chunked (a states-only pass first)
    inference = _captured(monkeypatch, scan_triton_fwd, names, lambda: scan_triton_fwd.scan_forward(args, False))
    assert inference[-1][2]["maxnreg"] == cfg["maxnreg_inference"]  # the inference forward: always capped


def test_16bit_training_forward_takes_its_own_cap(monkeypatch):
    # maxnreg_16bit is the A/B switch for bf16/fp16 inputs (kernel_bench --extra-fwd "{'maxnreg_16bit': 128}")
    monkeypatch.setitem(scan_triton_fwd.FWD_CONFIG, "maxnreg_16bit", 120)
    args = _scan_args(torch.bfloat16, 4160, 128, 21)
    calls = _captured(
        monkeypatch, scan_triton_fwd, ("_scan_fwd_kernel",), lambda: scan_triton_fwd.scan_forward(args, True)
    )
    assert [kwargs.get("maxnreg") for _, _, kwargs in calls] == [120]


@pytest.mark.parametrize(("dtype", "bc_layout", "spill_bytes"), [
    (torch.float32, "mamba", 64), (torch.float32, "tsm2", 64), (torch.bfloat16, "tsm2", 16),
])  # fmt: skip
def test_capped_training_forward_stays_within_its_registers(monkeypatch, dtype, bc_layout, spill_bytes):
    # the cap must hold without moving the state off the one-channel-per-lane layout (checked by the layout tests
    # at the compiler's own count) and with few spills, Triton 3.6: fp32 3 accesses in the step loop (12 bytes,
    # 20 in TSM2's layout), bf16 none (B/C copied contiguous)
    monkeypatch.setitem(scan_triton_fwd.FWD_CONFIG, "maxnreg_min_warps", 0)
    ptx = _compile_forward(monkeypatch, dtype, bc_layout).asm["ptx"]
    _assert_capped(ptx, 128, spill_bytes=spill_bytes)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_inference_forward_fits_four_programs_per_sm(monkeypatch, dtype):
    # uncapped, Triton 3.6 compiled it to 130 registers at fp32 (3.9: 167): over the 128 that let 4 programs of 4
    # warps share an SM, and it ran 6-30 % faster on the H200 under the cap (scan_hold_h200_2026-12-01c.md).
    # Capped: no spill under 3.6; 3.9 spills 4 bytes outside the step loop (benchmarks/cpu_probes/kernel_sass.py fwd)
    args = _scan_args(dtype, 256, 256, 64)
    calls = _captured(
        monkeypatch, scan_triton_fwd, ("_scan_fwd_kernel",), lambda: scan_triton_fwd.scan_forward(args, False)
    )
    assert scan_triton_fwd.FWD_CONFIG["maxnreg_inference"] == 128
    _assert_capped(_compile_sm90(*calls[0]).asm["ptx"], 128, spill_bytes=8)
