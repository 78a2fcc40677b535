"""The long-horizon benchmark protocol: load, split, scale, train, evaluate every test window, record.

One run = (dataset, model, lookback, horizon, seed). The dataset is verified by
sha256 and split with the field's standard borders; values are standardised
with train-split statistics; the model trains with early stopping on the val
split; every test window is evaluated (standardised and original scale). Rows
are appended to ``<results>.csv`` and ``<results>.jsonl``.

Option precedence (later wins): dataclass defaults, the model's recipe for the
dataset (:mod:`tsmamba.recipes`: the papers' scripts), a config file, explicit
CLI flags, ``--set``. Every value is checked against its option's type.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from tsmamba._version import __version__
from tsmamba.data.cards import get_card
from tsmamba.data.loader import BenchmarkData, load_dataset
from tsmamba.data.scaler import StandardScaler, fit_scaler
from tsmamba.data.splits import SplitBorders, check_windows_fit, split_borders
from tsmamba.data.windows import WindowDataset
from tsmamba.evaluation import evaluate_windows
from tsmamba.losses import PointForecast
from tsmamba.models.registry import build_model, get_model_spec
from tsmamba.recipes import check_option_types, resolve
from tsmamba.training import TrainConfig, fit_model, resolve_device

RESULT_FIELDS = [
    "dataset",
    "model",
    "lookback",
    "horizon",
    "seed",
    "split_protocol",
    "mse",
    "mae",
    "mse_raw",
    "mae_raw",
    "n_test_windows",
    "fit_seconds",
    "predict_seconds",
    "n_params",
    "epochs_run",
    "best_epoch",
    "best_val_loss",
    "device",
    "version",
    "timestamp",
    "config",
]


@dataclass
class BenchmarkSplits:
    """A dataset cut for one (lookback, horizon): borders, train-fit scaler and the three window sets."""

    data: BenchmarkData
    borders: SplitBorders
    scaler: StandardScaler
    train: WindowDataset
    val: WindowDataset
    test: WindowDataset


def split_windows(
    values: Any, lookback: int, horizon: int, protocol: str
) -> tuple[SplitBorders, StandardScaler, WindowDataset, WindowDataset, WindowDataset]:
    """Borders of ``protocol``, a scaler fit on the train rows only, and stride-1 train/val/test windows.

    The one split preparation of the benchmark and the demo (any ``(rows, variates)`` array).
    """
    borders = split_borders(len(values), lookback, protocol)
    check_windows_fit(borders, horizon)
    scaler = fit_scaler(values, borders.train[1])
    scaled = scaler.transform(values)
    train, val, test = (WindowDataset(scaled, lookback, horizon, *borders.range(s)) for s in ("train", "val", "test"))
    return borders, scaler, train, val, test


def prepare_splits(data: BenchmarkData, lookback: int, horizon: int) -> BenchmarkSplits:
    """Standard borders, scaler fit on the train rows only, and stride-1 windows for each split."""
    borders, scaler, train, val, test = split_windows(data.values, lookback, horizon, data.card.split)
    return BenchmarkSplits(data, borders, scaler, train, val, test)


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["d_model=128", "token_direction=bidirectional"]`` -> dict; values are JSON when they parse, else strings."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}.")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Options from a JSON or TOML file: flat keys, and/or ``model`` / ``train`` sections."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {path} does not exist.")
    if path.suffix.lower() not in (".json", ".toml"):
        raise ValueError(f"Config file {path} must end in .json or .toml.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Config file {path} cannot be read as UTF-8 text: {exc}.") from exc
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError as exc:  # Python 3.10
            raise ValueError(f"Reading {path} needs Python 3.11+ (tomllib); use a .json config instead.") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"Config file {path} is not valid TOML: {exc}. Fix the file.") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Config file {path} is not valid JSON: {exc}. Fix the file.") from exc
    if not isinstance(data, dict):
        raise ValueError(f"Config file {path} must hold a table/object of options, got {type(data).__name__}.")
    flat = {k: v for k, v in data.items() if k not in ("model", "train")}
    for section in ("model", "train"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(
                f"Config file {path}: section {section!r} must be a table/object of options, "
                f"got {type(table).__name__} {table!r}."
            )
        flat.update({f"{section}.{k}": v for k, v in table.items()})
    return flat


def route_options(model_name: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split flat options into (model config, TrainConfig) overrides by field name.

    Keys may be prefixed ``model.`` or ``train.`` to be explicit. Unknown keys raise an error listing every
    valid key of both.
    """
    model_fields = {f.name for f in dataclasses.fields(get_model_spec(model_name).config_cls)}
    train_fields = set(TrainConfig.field_names())
    model_over: dict[str, Any] = {}
    train_over: dict[str, Any] = {}
    unknown = []
    for key, value in options.items():
        section, _, name = key.rpartition(".")
        if section not in ("", "model", "train"):
            unknown.append(key)
        elif name in model_fields and section in ("", "model"):
            model_over[name] = value
        elif name in train_fields and section in ("", "train"):
            train_over[name] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {sorted(unknown)} for model {model_name!r}. "
            f"Model options: {', '.join(sorted(model_fields))}. Training options: {', '.join(sorted(train_fields))}."
        )
    check_option_types(get_model_spec(model_name).config_cls, model_over, "model")
    check_option_types(TrainConfig, train_over, "train")
    return model_over, train_over


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def run_one(
    splits: BenchmarkSplits,
    model_name: str,
    horizon: int,
    seed: int,
    model_overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
) -> dict:
    """Train and evaluate one (model, horizon, seed) on prepared splits; returns a results row."""
    dataset = splits.data.card.name
    spec = get_model_spec(model_name)
    config, train_config = resolve(model_name, dataset, model_overrides, {**(train_overrides or {}), "seed": seed})
    L.seed_everything(seed, workers=True, verbose=False)
    loss = train_config.loss_function  # a multi-quantile loss needs h * Q outputs; its point forecast is scored
    model = build_model(model_name, config, splits.borders.lookback, horizon * loss.n_outputs, splits.train.n_vars)
    n_params = sum(p.numel() for p in model.parameters())
    fit = fit_model(model, splits.train, splits.val, train_config)
    device = resolve_device(train_config.accelerator)
    started = time.perf_counter()
    scored = fit.model if loss.n_outputs == 1 else PointForecast(fit.model, loss, horizon)
    metrics = evaluate_windows(scored, splits.test, splits.scaler, train_config.prediction_batch_size, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    predict_seconds = time.perf_counter() - started
    return {
        "dataset": dataset,
        "model": spec.name,
        "lookback": splits.borders.lookback,
        "horizon": horizon,
        "seed": seed,
        "split_protocol": splits.borders.protocol,
        "mse": metrics.mse,
        "mae": metrics.mae,
        "mse_raw": metrics.mse_raw,
        "mae_raw": metrics.mae_raw,
        "n_test_windows": metrics.n_windows,
        "fit_seconds": round(fit.fit_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        "n_params": n_params,
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "best_val_loss": fit.best_val_loss,
        "device": _device_name(device),
        "version": __version__,
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": json.dumps(
            {"model": dataclasses.asdict(config), "train": dataclasses.asdict(train_config)}, sort_keys=True
        ),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__})"


def run_benchmark(
    dataset: str,
    model: str,
    lookback: int,
    horizons: Sequence[int],
    seeds: Sequence[int],
    options: dict[str, Any] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    results: str | os.PathLike[str] | None = None,
) -> list[dict]:
    """Run every (horizon, seed); append each row to ``results`` (.csv and .jsonl) as soon as it is done."""
    if not horizons or not seeds:
        raise ValueError("Give at least one horizon and one seed.")
    for horizon in horizons:
        if horizon <= 0:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon}.")
    model_over, train_over = route_options(model, options or {})
    dataset = get_card(dataset).name
    resolve(model, dataset, model_over, train_over)
    data = load_dataset(dataset, data_dir)
    rows = []
    for horizon in horizons:
        splits = prepare_splits(data, lookback, horizon)
        for seed in seeds:
            row = run_one(splits, model, horizon, seed, model_over, train_over)
            rows.append(row)
            if results is not None and _is_rank_zero():
                append_results([row], results)
    return rows


def results_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(<stem>.csv, <stem>.jsonl)``; a ``.csv``/``.jsonl`` suffix on ``stem`` is dropped first."""
    stem = Path(stem)
    stem = stem.with_suffix("") if stem.suffix in (".csv", ".jsonl") else stem
    return stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".jsonl")


def append_results(rows: Sequence[dict], stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Append rows to ``<stem>.csv`` (header written once) and ``<stem>.jsonl``; returns both paths."""
    csv_path, jsonl_path = results_paths(stem)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    if csv_path.exists():
        with open(csv_path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
        if header != RESULT_FIELDS:
            raise ValueError(f"{csv_path} has different columns than this version writes; use another --results path.")
    new = not csv_path.exists()
    with open(csv_path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_FIELDS)
        if new:
            writer.writeheader()
        writer.writerows({k: row.get(k) for k in RESULT_FIELDS} for row in rows)
    with open(jsonl_path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: row.get(k) for k in RESULT_FIELDS}) + "\n")
    return csv_path, jsonl_path


def markdown_table(rows: Sequence[dict]) -> str:
    """A markdown table of results rows (metrics to 3 decimals, as papers print them)."""
    head = (
        "| dataset | model | L | H | seed | MSE | MAE | MSE (raw) | MAE (raw) | test windows | epochs | fit s |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['lookback']} | {r['horizon']} | {r['seed']} | "
            f"{r['mse']:.3f} | {r['mae']:.3f} | {r['mse_raw']:.3f} | {r['mae_raw']:.3f} | "
            f"{r['n_test_windows']} | {r['epochs_run']} | {r['fit_seconds']:.1f} |"
        )
    return "\n".join(lines)
