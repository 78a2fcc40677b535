"""Model-level speed: training step, inference and peak memory of TSM2, PatchTST and DLinear, side by side.

For each width (ETTh1-like: 7 variates with the models' ETTh1 defaults; Weather-like: 21 variates with their
Weather defaults), lookback L, model and execution mode (``tsmamba.execution``: eager, graphs, compile,
compile-graphs) one row: median ms of one training step (forward, MSE, backward, Adam step) on random windows of
batch 64 and horizon 96, median ms of one inference forward (eval mode, inference mode, same batch), peak GPU
memory of the training steps, and the setup time of the mode (CUDA-graph capture or compilation, measured as the
first step's extra time). Timings are CUDA events (GPU) or wall clock (CPU), after a warm-up of at least
``--warmup`` calls and ``--warmup-seconds``. Out-of-memory rows say "OOM"; a row stops repeating after
``--row-seconds``. Compile modes run only at ``--compile-lookbacks`` (compilation costs tens of seconds per row).
``--precision bf16-mixed`` runs each step's forward and loss, and the inference forward, under bf16 autocast, as
Lightning's ``bf16-mixed`` training does (TrainConfig.precision); the default is fp32 ("32-true"). ``--specs
model:width:mode ...`` times just those rows (at each lookback) instead of every model x width x mode: several
rows in one process, without a process start (~15 s on the GPU host: imports, CUDA and Triton's kernel loads) per
row. Example:

    python benchmarks/model_speed.py --device cuda --out benchmarks/results/model_speed_h200.md
    python benchmarks/model_speed.py --device cpu --modes eager --lookbacks 96 336 512 --out .../model_speed_cpu.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from kernel_bench import apply_scan_config

from tsmamba.cpu_allocator import tune_cpu_allocator
from tsmamba.execution import EXECUTIONS, FastForward
from tsmamba.models.registry import build_model, make_config
from tsmamba.training import adam, parameter_groups

WIDTHS = {"ETTh1-like": ("ETTh1", 7), "Weather-like": ("Weather", 21)}
MODELS = ("tsm2", "patchtst", "dlinear")
# Extra rows: a model with options on top of its per-dataset defaults. TSM2's ETT defaults drop the channel
# mixers (the validation sweep's choice), so "tsm2+cm" times the paper's full model at those widths too.
VARIANTS = {"tsm2+cm": ("tsm2", {"channel_mixer": True})}
LOOKBACKS = (96, 336, 512, 720, 1440, 2880, 5760, 11520)
AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}  # Lightning precision -> autocast dtype


def autocast(precision: str, device: torch.device | str) -> torch.autocast:
    """The autocast context of a Lightning precision (disabled for the "-true" ones)."""
    dtype = AUTOCAST.get(precision)
    return torch.autocast(torch.device(device).type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


class _Timer:
    """Per-call durations in ms: CUDA events on the GPU, perf_counter on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.pairs: list = []

    def __enter__(self) -> _Timer:
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.pairs.append((self.start, end))
        else:
            self.pairs.append(1e3 * (time.perf_counter() - self.t0))

    def median(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return statistics.median(a.elapsed_time(b) for a, b in self.pairs)
        return statistics.median(self.pairs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def warm_up(call, device: torch.device, count: int, seconds: float) -> int:
    """Run ``call`` ``count`` times, then on until ``seconds`` have passed; returns the calls made. A GPU left idle
    between rows (a fresh process, a compile) starts at low clocks, and 3 calls of a ~2 ms step are not long
    enough to bring it up: a row of 20 such steps may then time the ramp (the likely reason issue 9's ETTh1 row
    read 1.6-2.2 ms across builds whose kernels differ by microseconds, scan_hold_h200_2026-12-01e.md)."""
    started, calls = time.perf_counter(), 0
    while calls < count or time.perf_counter() - started < seconds:
        call()
        _sync(device)
        calls += 1
    return calls


def build_step(
    model_name: str,
    dataset: str,
    n_vars: int,
    lookback: int,
    mode: str,
    batch: int,
    horizon: int,
    device,
    precision: str = "32-true",
    fused_adam: bool = True,
) -> tuple[torch.nn.Module, FastForward, Callable[[], None], torch.Tensor]:
    """The model (per-dataset defaults), its execution wrapper, one training step as training runs it (the loss
    from ``FastForward.loss`` under the precision's autocast, ``FastForward.backward``, Adam) on fixed random
    windows, and the input batch; shared with
    ``profile_step.py``. On the CPU, malloc is tuned as training tunes it (``tsmamba.cpu_allocator``): without it
    the scan's multi-MB temporaries fault their pages in every step and a profile blames the ops that touch them."""
    if torch.device(device).type == "cpu":
        tune_cpu_allocator()
    torch.manual_seed(0)
    name, overrides = VARIANTS.get(model_name, (model_name, {}))
    config = make_config(name, dataset, overrides=overrides)
    model = build_model(name, config, lookback, horizon, n_vars).to(device)
    opt = adam(parameter_groups(model, 0.0), 1e-4, fused=fused_adam)  # as training does (fused by default)
    x = torch.randn(batch, lookback, n_vars, device=device)
    y = torch.randn(batch, horizon, n_vars, device=device)
    fast = FastForward(model, mode)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(precision, device):
            loss = fast.loss(x, y, F.mse_loss)
        fast.backward(loss)
        opt.step()

    return model, fast, train_step, x


def infer_call(
    model: torch.nn.Module, fast: FastForward, x: torch.Tensor, precision: str, device
) -> Callable[[], None]:
    """One inference call as timed here: the eval-mode forward under inference_mode and the precision's autocast
    (puts the model in eval mode); shared with ``profile_step.py --inference``."""
    model.eval()

    def call() -> None:
        with torch.inference_mode(), autocast(precision, device):
            fast(x)

    return call


def measure(model_name: str, dataset: str, n_vars: int, lookback: int, mode: str, args, device) -> dict:
    """One row: train ms, infer ms, peak GB, setup s (or an 'OOM' / error note). Peak is counted above what the
    process held before the row: memory an earlier row left allocated (until the next ``torch._dynamo.reset()``;
    ``model_speed_h200_all.md``) would otherwise count in the rows after it."""
    held = torch.cuda.memory_allocated() if device.type == "cuda" else 0
    model, fast, train_step, x = build_step(
        model_name,
        dataset,
        n_vars,
        lookback,
        mode,
        args.batch,
        args.horizon,
        device,
        args.precision,
        args.adam == "fused",
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    started = time.perf_counter()
    model.train()
    train_step()
    _sync(device)
    first = time.perf_counter() - started
    timer = _Timer(device)
    warm_up(train_step, device, args.warmup, args.warmup_seconds)
    t0 = time.perf_counter()
    train_step()
    _sync(device)
    step_s = time.perf_counter() - t0
    reps = max(3, min(args.reps, int(args.row_seconds / max(step_s, 1e-6))))
    for _ in range(reps):
        with timer:
            train_step()
    train_ms = timer.median()
    peak = (torch.cuda.max_memory_allocated() - held) / 2**30 if device.type == "cuda" else float("nan")
    setup = max(0.0, first - step_s)
    infer_step = infer_call(model, fast, x, args.precision, device)
    infer = _Timer(device)
    t0 = time.perf_counter()
    infer_step()
    _sync(device)
    setup += max(0.0, time.perf_counter() - t0 - step_s / 3)
    warm_up(infer_step, device, args.warmup, args.warmup_seconds)
    for _ in range(reps):
        with infer:
            infer_step()
    return {"train": train_ms, "infer": infer.median(), "peak": peak, "setup": setup, "reps": reps}


def _cleanup(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _fmt(row: dict | str, key: str, digits: int = 1) -> str:
    if isinstance(row, str):
        return row
    value = row[key]
    return "–" if value != value else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, *VARIANTS])
    parser.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    parser.add_argument("--lookbacks", nargs="+", type=int, default=list(LOOKBACKS))
    parser.add_argument("--modes", nargs="+", default=["eager", "graphs", "compile", "compile-graphs"])
    parser.add_argument("--compile-lookbacks", nargs="*", type=int, default=[512], help="L for compile modes")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--precision", default="32-true", choices=["32-true", *AUTOCAST], help="Lightning precision of the steps"
    )
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before a row's timed ones, at least")
    parser.add_argument(
        "--warmup-seconds", type=float, default=0.5, help="untimed calls go on until this much time has passed"
    )
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per row at most (median)")
    parser.add_argument("--row-seconds", type=float, default=3.0, help="timed repetitions stop after about this")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--out", help="write the markdown table here")
    parser.add_argument(
        "--specs", nargs="+", metavar="MODEL:WIDTH:MODE", help="only these rows (instead of models x widths x modes)"
    )
    parser.add_argument(
        "--adam", choices=["fused", "unfused"], default="fused", help="the training step's Adam (training's: fused)"
    )
    parser.add_argument(
        "--scan-config",
        nargs="*",
        default=[],
        metavar="[fwd.|conv.]KEY=INT",
        help="override the scan's BWD_CONFIG (KEY=INT) or FWD_CONFIG (fwd.KEY=INT) or the conv's DPRE_CONFIG "
        "(conv.KEY=INT) entries: A/B of a kernel option",
    )
    args = parser.parse_args()
    try:
        apply_scan_config(args.scan_config)
    except ValueError as err:
        parser.error(f"--scan-config {err}")
    device = torch.device(args.device)
    try:
        plan = row_plan(args, cpu=device.type == "cpu")
    except ValueError as err:
        parser.error(str(err))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch._dynamo.config.cache_size_limit = 256
    rows: list[tuple[str, int, str, str, dict | str]] = []
    for width, lookback, model_name, mode in plan:
        dataset, n_vars = WIDTHS[width]
        if mode.startswith("compile"):
            torch._dynamo.reset()
        try:
            row: dict | str = measure(model_name, dataset, n_vars, lookback, mode, args, device)
        except torch.OutOfMemoryError:
            row = "OOM"
        except Exception as err:  # a failing mode is a result too; the run goes on
            row = f"error: {type(err).__name__}: {str(err).splitlines()[0][:80]}"
        _cleanup(device)
        rows.append((width, lookback, model_name, mode, row))
        print(width, lookback, model_name, mode, row, flush=True)
        if args.out:  # rewritten after every row: a run stopped by a time limit still leaves its table
            with open(args.out, "w") as fh:
                fh.write(_markdown(rows, args, device))
    print(_markdown(rows, args, device))


def row_plan(args: argparse.Namespace, cpu: bool = False) -> list[tuple[str, int, str, str]]:
    """(width, L, model, mode) of every row in run order: ``--specs`` as given at each lookback, else every width x
    L x model x mode; compile modes only at ``--compile-lookbacks``; on the CPU every mode is eager (one row).
    Sets ``args.widths``/``args.models`` to the rows' for the summary table; raises ValueError naming a bad spec
    or mode."""
    if args.specs:
        specs = []
        for spec in args.specs:
            parts = spec.split(":")
            if len(parts) != 3 or parts[0] not in (*MODELS, *VARIANTS) or parts[1] not in WIDTHS:
                raise ValueError(
                    f"--specs {spec!r}: give MODEL:WIDTH:MODE with MODEL one of {', '.join((*MODELS, *VARIANTS))} "
                    f"and WIDTH one of {', '.join(WIDTHS)}."
                )
            specs.append((parts[1], parts[0], parts[2]))
        args.widths = list(dict.fromkeys(w for w, _, _ in specs))
        args.models = list(dict.fromkeys(m for _, m, _ in specs))
        plan = [(w, lb, m, mode) for w, m, mode in specs for lb in args.lookbacks]
    else:
        plan = [
            (w, lb, m, mode) for w in args.widths for lb in args.lookbacks for m in args.models for mode in args.modes
        ]
    bad = sorted({mode for *_, mode in plan} - set(EXECUTIONS) - {"auto"})
    if bad:
        raise ValueError(f"unknown modes {bad}; use some of {EXECUTIONS}")
    if cpu:
        return list(dict.fromkeys((w, lb, m, "eager") for w, lb, m, _ in plan))
    return [r for r in plan if not r[3].startswith("compile") or r[1] in args.compile_lookbacks]


def _markdown(rows, args, device) -> str:
    import triton

    name = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.processor() or 'CPU'}"
    threads = f", {args.threads} threads" if device.type == "cpu" else ""
    lines = [
        f"# Model speed ({device.type})",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Device: {name}{threads}; torch {torch.__version__}, Triton {triton.__version__}, Python "
        f"{platform.python_version()}; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Batch {args.batch}, horizon {args.horizon}, precision {args.precision}, each model with its per-dataset "
        "defaults (make_config); "
        f"train = forward + MSE + backward + Adam step ({args.adam}); infer = eval-mode forward under inference_mode; "
        "peak = max GPU memory allocated during the training steps, above what the process held before the row; "
        "setup = the first calls' extra time: "
        "CUDA-graph capture or compilation, and in the first rows of a run Triton's one-off kernel compilation too."
        + (
            " Under autocast graphs mode replays the bf16 training step as one graph, fp16 steps as forward and "
            "backward graphs and inference as one graph, each capturing the casts (tsmamba.execution)."
            if args.precision in AUTOCAST
            else ""
        ),
        "",
        "| width | L | model | mode | train ms | infer ms | peak GB | setup s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for width, lookback, model_name, mode, row in rows:
        lines.append(
            f"| {width} | {lookback} | {model_name} | {mode} | {_fmt(row, 'train')} | "
            f"{_fmt(row, 'infer') if isinstance(row, dict) else ''} | "
            f"{_fmt(row, 'peak', 2) if isinstance(row, dict) else ''} | "
            f"{_fmt(row, 'setup') if isinstance(row, dict) else ''} |"
        )
    lines += ["", "Fastest mode per model (train ms / infer ms), and TSM2's ratio to PatchTST:", ""]
    shown = [m for m in args.models if m in VARIANTS]
    lines += [
        "| width | L | TSM2 | PatchTST | DLinear | TSM2/PatchTST train | TSM2/PatchTST infer |"
        + "".join(f" {m}/PatchTST train | {m}/PatchTST infer |" for m in shown)
    ]
    lines += ["|---|---|---|---|---|---|---|" + "---|---|" * len(shown)]
    best: dict = {}
    for width, lookback, model_name, mode, row in rows:
        if isinstance(row, dict):
            for key in ("train", "infer"):
                k = (width, lookback, model_name, key)
                if k not in best or row[key] < best[k][0]:
                    best[k] = (row[key], mode)
    for width in args.widths:
        for lookback in args.lookbacks:
            cells, ratios = [], []
            for model_name in ("tsm2", "patchtst", "dlinear"):
                tr, inf = (
                    best.get((width, lookback, model_name, "train")),
                    best.get((width, lookback, model_name, "infer")),
                )
                measured = [r for w, lb, m, _, r in rows if (w, lb, m) == (width, lookback, model_name)]
                failed = "OOM / –" if "OOM" in measured else ("error / –" if measured else "not run")
                cells.append(f"{tr[0]:.1f} ({tr[1]}) / {inf[0]:.1f} ({inf[1]})" if tr and inf else failed)
            for name in ("tsm2", *shown):
                for key in ("train", "infer"):
                    a, b = best.get((width, lookback, name, key)), best.get((width, lookback, "patchtst", key))
                    ratios.append(f"{a[0] / b[0]:.2f}" if a and b else "–")
            lines.append(f"| {width} | {lookback} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
