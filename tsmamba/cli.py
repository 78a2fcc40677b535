"""The ``tsmamba`` command line: ``demo``, ``datasets``, ``bench``, ``reproduce``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup


def _error_line(message: str) -> None:
    """Print ``error: message`` to stderr as one unwrapped line (greppable, also when stderr is not a terminal)."""
    typer.echo(f"error: {' '.join(message.splitlines())}", err=True)


class _OneLineErrorGroup(TyperGroup):
    """Usage errors (unknown option, missing value, bad number) as one ``error:`` line on stderr, exit code 2.

    Typer would draw them in a box wrapped at the terminal width, which scripts and logs cannot grep.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # bare `tsmamba`: typer prints the help, exit code 2
                raise
            raise _usage_exit(err, info_name) from err

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except typer.TyperException as err:
            raise _usage_exit(err, ctx.command_path) from err


def _usage_exit(err: typer.TyperException, command: str | None) -> typer.Exit:
    failed = getattr(getattr(err, "ctx", None), "command_path", None) or command or "tsmamba"
    _error_line(f"{err.format_message()} (see '{failed} --help')")
    return typer.Exit(code=2)


app = typer.Typer(
    help="Time-series forecasting with TSM2, PatchTST and DLinear.",
    cls=_OneLineErrorGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


class _MultiValueCommand(TyperCommand):
    """Lets list options take several values after one flag (``--horizons 96 192 336``), as in the papers' CLIs."""

    multi_value_options = ("--horizons", "--seeds")

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        expanded: list[str] = []
        current: str | None = None
        given = 0  # values after the current flag: a flag with none would silently keep the defaults
        for arg in [*args, "--"]:
            if current is not None and given == 0 and (arg in self.multi_value_options or arg.startswith("-")):
                _fail(f"{current} needs at least one value, e.g. {current} 96 192; leave the flag out for the defaults")
            if arg in self.multi_value_options:
                current, given = arg, 0
                continue
            if current is not None and not arg.startswith("-"):
                expanded += [current, arg]
                given += 1
                continue
            current = None
            expanded.append(arg)
        return super().parse_args(ctx, expanded[:-1])


def _fail(message: str) -> NoReturn:
    """Report bad input as one ``error:`` line on stderr and exit with code 2 (a usage error)."""
    _error_line(message)
    raise typer.Exit(code=2)


DEMO_PLOT = Path("tsmamba_demo_forecast.png")  # the demo's own artefact, replaced on each run


@app.command()
def demo(
    out: Path = typer.Option(
        DEMO_PLOT, "--out", help=f"Where to write the forecast plot (default {DEMO_PLOT}, replaced on each run)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file given with --out."),
    epochs: int | None = typer.Option(None, help="Maximum training epochs (default: the model's demo recipe)."),
    seed: int = typer.Option(0, help="Seed for the synthetic series and the training."),
    model: str = typer.Option(
        "tsm2",
        "--model",
        help="tsm2 (under a minute on a 2-core CPU), patchtst (minutes) or dlinear (seconds); DLinear and seasonal "
        "naive are scored beside the first two.",
    ),
) -> None:
    """Fit a model on a built-in synthetic seasonal series (no download), print metrics, write a forecast plot."""
    from tsmamba.demo import run_demo

    try:
        from tsmamba.models.registry import get_model_spec

        get_model_spec(model)
    except ValueError as err:
        _fail(str(err))
    if out != DEMO_PLOT and out.exists() and not overwrite:
        _fail(f"--out {out} already exists; pass --overwrite to replace it, or choose another path.")
    console.print(
        f"tsmamba demo: synthetic 4-variate seasonal series (3000 hourly steps), {model}, "
        "lookback 96, horizon 24, 70/10/20 split"
    )
    result = run_demo(out=out, max_epochs=epochs, seed=seed, progress_bar=True, model=model)
    table = Table(title=f"Test split, every window ({result.model.n_windows} windows)")
    for column in ("forecaster", "MSE", "MAE", "MSE (raw)", "MAE (raw)"):
        table.add_column(column, justify="right" if column != "forecaster" else "left")
    rows = [(result.model_name, result.model)]
    if result.dlinear is not None:
        rows.append(("DLinear", result.dlinear))
    rows.append(("seasonal naive", result.seasonal_naive))
    for name, m in rows:
        table.add_row(name, f"{m.mse:.4f}", f"{m.mae:.4f}", f"{m.mse_raw:.4f}", f"{m.mae_raw:.4f}")
    console.print(table)
    side = "" if result.dlinear_fit_seconds is None else f" (DLinear: {result.dlinear_fit_seconds:.1f} s)"
    console.print(
        f"{result.model_name} trained {result.epochs_run} epochs in {result.fit_seconds:.1f} s{side}; "
        f"plot written to {result.plot_path}",
        highlight=False,
    )


@app.command()
def datasets(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder to look in first."),
) -> None:
    """List the dataset cards and whether each file is present and verified (sha256) locally."""
    from tsmamba.data.cards import card_names, get_card
    from tsmamba.data.loader import ChecksumMismatchError, DatasetNotFoundError, find_dataset_file

    table = Table(title="tsmamba datasets", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "rows", "freq", "vars", "split", "local file"):
        table.add_column(column, no_wrap=True)
    folders: set[Path] = set()
    missing: list[str] = []
    for name in card_names():
        card = get_card(name)
        try:
            folders.add(find_dataset_file(card, data_dir, download=False).parent)
            status = "[green]verified[/]"
        except DatasetNotFoundError:
            status = "[yellow]missing[/]" + (", downloads on use" if card.url else ", get it by hand")
            missing.append(card.file)
        except ChecksumMismatchError:
            status = "[red]sha256 mismatch[/]"
        table.add_row(card.name, str(card.n_rows), card.freq, str(len(card.columns)), card.split, status)
    console.print(table)
    for folder in sorted(folders):
        console.print(f"verified files found in {folder}", highlight=False, soft_wrap=True)
    if missing:
        console.print(f"missing files: {', '.join(missing)}", highlight=False, soft_wrap=True)
    console.print("Files are looked up in --data-dir, $TSMAMBA_DATA_DIR, then ~/.cache/tsmamba.")


@app.command(cls=_MultiValueCommand)
def bench(
    dataset: str = typer.Option(..., "--dataset", help="Dataset card name, e.g. ETTh1 (see `tsmamba datasets`)."),
    model: str = typer.Option("dlinear", "--model", help="dlinear, patchtst or tsm2."),
    lookback: int = typer.Option(336, "--lookback", help="Input window length L."),
    horizons: list[int] = typer.Option([96, 192, 336, 720], "--horizons", help="Forecast horizons H."),
    seeds: list[int] = typer.Option([2021], "--seeds", help="Seeds; one run per seed and horizon."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or gpu (TrainConfig.accelerator)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs (default: the model's scripts)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Training batch size."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder holding the CSVs."),
    set_: list[str] = typer.Option([], "--set", help="key=value for any model or training option (repeatable)."),
    config: Path | None = typer.Option(None, "--config", help="JSON or TOML file of model/training options."),
    results: Path = typer.Option(
        Path("tsmamba_results"), "--results", help="Results path stem: rows are appended to STEM.csv and STEM.jsonl."
    ),
    markdown: Path | None = typer.Option(None, "--markdown", help="Also write this run's table to this file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --markdown file."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a training progress bar."),
) -> None:
    """Train and evaluate on the standard long-horizon protocol (every test window); append results; print a table."""
    from tsmamba.bench import load_config_file, markdown_table, parse_assignments, results_paths, run_benchmark

    options: dict[str, Any] = {"progress_bar": progress, "epoch_log": not progress}
    try:
        if markdown is not None and markdown.exists() and not overwrite:
            raise ValueError(f"--markdown {markdown} exists; pass --overwrite to replace it, or choose another file.")
        if config is not None:
            options.update(load_config_file(config))
        explicit = {"accelerator": device, "max_epochs": epochs, "batch_size": batch_size, "learning_rate": lr}
        options.update({f"train.{k}": v for k, v in explicit.items() if v is not None})
        options.update(parse_assignments(set_))
        rows = run_benchmark(dataset, model, lookback, horizons, seeds, options, data_dir, results)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
        return
    table = markdown_table(rows)
    console.print(table, highlight=False, markup=False, soft_wrap=True)
    csv_path, jsonl_path = results_paths(results)
    console.print(f"appended {len(rows)} row(s) to {csv_path} and {jsonl_path}", highlight=False, soft_wrap=True)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(table + "\n", encoding="utf-8")


@app.command()
def reproduce(
    suite: Path = typer.Argument(..., help="Suite file (TOML), e.g. benchmarks/suites/paper_l512.toml."),
    out: Path = typer.Option(..., "--out", help="Results folder: results.csv/.jsonl, table.md, plots, logs/."),
    budget_minutes: float | None = typer.Option(
        None,
        "--budget-minutes",
        help="Start no cell that cannot end in time; stop running cells at the end. When the cells' estimated "
        "times exceed the budget, the shortest run first.",
    ),
    gpus: str | None = typer.Option(None, "--gpus", help="GPU ids, e.g. 0,1 (default: every visible GPU)."),
    per_gpu: int = typer.Option(
        3,
        "--per-gpu",
        help="Cells running at once on each GPU (3 ran the TSM2 grid in 7.8 min on 2 H200s; 10 ran cells 3-4x slower).",
    ),
    cpu_slots: int = typer.Option(1, "--cpu-slots", help="Cells running at once without a GPU."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder holding the CSVs."),
    models: str | None = typer.Option(None, "--models", help="Only these models of the suite, e.g. tsm2,dlinear."),
    datasets: str | None = typer.Option(None, "--datasets", help="Only these datasets of the suite, e.g. ETTh1."),
    horizons: str | None = typer.Option(None, "--horizons", help="Only these horizons of the suite, e.g. 96,192."),
    seeds: str | None = typer.Option(None, "--seeds", help="Only these seeds of the suite, e.g. 2021."),
    variants: str | None = typer.Option(
        None, "--variants", help="Only these variant tags of a sweep suite, e.g. default,nochannel."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the cells, recorded or to run (launch order, estimated seconds), and stop."
    ),
    summarize_only: bool = typer.Option(False, "--summarize-only", help="Only rewrite table.md and the plots."),
    live: bool | None = typer.Option(
        None, "--live/--no-live", help="Live display (default: on a terminal) or one plain line per epoch."
    ),
    execution: str | None = typer.Option(
        None,
        "--execution",
        help="Execution mode of every cell in this run: auto, eager, graphs, compile or compile-graphs "
        "(speed only; recorded rows from another mode still count).",
    ),
) -> None:
    """Run a suite's grid, one process per cell across the GPUs, resuming; then write the summary table."""
    from tsmamba.execution import EXECUTIONS
    from tsmamba.reproduce.runner import describe_plan, plan, run_suite
    from tsmamba.reproduce.store import ResultStore
    from tsmamba.reproduce.suite import load_suite, select
    from tsmamba.reproduce.summary import write_summary

    def values(option: str | None) -> list[str] | None:
        return None if option is None else option.split(",")

    try:
        if execution is not None and execution not in EXECUTIONS:
            raise ValueError(f"--execution {execution!r} is not a mode; use one of {', '.join(EXECUTIONS)}.")
        whole_suite = load_suite(suite)
        the_suite = select(
            whole_suite,
            models=values(models),
            datasets=values(datasets),
            horizons=values(horizons),
            seeds=values(seeds),
            variants=values(variants),
        )
        store = ResultStore(out)
        gpu_ids = None if gpus is None else [g.strip() for g in gpus.split(",") if g.strip()]
        if dry_run:
            listing = describe_plan(
                plan(the_suite, store), out, gpus=gpu_ids, per_gpu=per_gpu, cpu_slots=cpu_slots,
                budget_minutes=budget_minutes,
            )  # fmt: skip
            console.print(listing, highlight=False, markup=False, soft_wrap=True)
            return
        stopped: KeyboardInterrupt | None = None
        if not summarize_only:
            try:
                run_suite(
                    the_suite,
                    out,
                    gpus=gpu_ids,
                    per_gpu=per_gpu,
                    cpu_slots=cpu_slots,
                    budget_minutes=budget_minutes,
                    data_dir=None if data_dir is None else str(data_dir),
                    live=live,
                    execution=execution,
                )
            except KeyboardInterrupt as interrupt:  # the runner stopped its cells and logged the run
                stopped = interrupt
        # table.md covers every row of the folder, so it lists what the whole suite lacks, not only this run's slice
        missing = [cell.id for cell in plan(whole_suite, store).todo]
        files = write_summary(out, title=f"{the_suite.name}: {the_suite.description}".rstrip(": "), missing=missing)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
        return
    console.print(f"summary: {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)
    if stopped is not None:
        typer.echo(
            f"stopped ({stopped or 'interrupted'}): the finished cells are recorded, {len(missing)} cell(s) of the "
            "suite are not; run the same command to resume.",
            err=True,
        )
        raise typer.Exit(code=130)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
