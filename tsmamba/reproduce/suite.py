"""Suite files: a committed TOML grid (datasets x models x lookbacks x horizons x seeds x variants) -> cells.

A suite is a TOML file (``benchmarks/suites/*.toml``)::

    name = "paper_l512"
    description = "TSM2, PatchTST and DLinear at L=512, 3 seeds"
    seeds = [2021, 2022, 2023]            # top-level keys are defaults for every [[grid]]
    evaluate = "test"                     # "val" for a sweep: cells never read the test split

    [[grid]]
    datasets = ["ETTh1", "Weather"]
    models = ["tsm2", "patchtst"]
    lookbacks = [512]
    horizons = [96, 192, 336, 720]
    options = { precision = "32-true" }   # flat --set keys for every cell of this grid
    model_options.tsm2 = { d_model = 32 } # only for this model

    [[grid.variants]]                     # optional: every cell once per variant, tag appended to its id
    tag = "d32"
    options = { d_model = 32 }

Without ``[[grid]]`` the top level itself is the one grid. Options are checked against the model and
training options when the suite is read, so a typo fails before anything is launched.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsmamba.reproduce.cell import EVAL_SPLITS, Cell

_GRID_KEYS = {
    "datasets",
    "models",
    "lookbacks",
    "horizons",
    "seeds",
    "evaluate",
    "options",
    "model_options",
    "variants",
}
_TOP_KEYS = _GRID_KEYS | {"name", "description", "grid"}


@dataclass(frozen=True)
class Suite:
    """A parsed suite: its name, description and every cell in file order."""

    name: str
    description: str
    cells: list[Cell]
    path: Path | None = None


_SELECTABLE = ("datasets", "models", "horizons", "seeds", "variants")


def select(suite: Suite, **wanted: Sequence[str] | None) -> Suite:
    """The suite's cells whose dataset/model/horizon/seed/variant tag are among ``wanted``'s values (``None``: all).

    Spreads a grid over sessions (``--models dlinear --seeds 2021``; a sweep's ``--variants default,nochannel``)
    while the cell ids, and so resuming, stay the suite's. A value the suite does not hold is an error listing the
    ones it does.
    """
    cells = suite.cells
    for key, values in wanted.items():
        if key not in _SELECTABLE:
            raise ValueError(f"select: unknown key {key!r}; use one of {', '.join(_SELECTABLE)}.")
        if values is None:
            continue
        attribute = key[:-1]  # datasets -> dataset, variants -> variant ...
        held = {str(getattr(c, attribute)).lower(): str(getattr(c, attribute)) for c in suite.cells}
        chosen = [str(v).strip().lower() for v in values if str(v).strip()]
        missing = [v for v in chosen if v not in held]
        if missing or not chosen:
            raise ValueError(
                f"--{key} {','.join(map(str, values))}: suite {suite.name!r} has no {attribute} {missing or values}; "
                f"it holds {', '.join(sorted(set(held.values())))}."
            )
        cells = [c for c in cells if str(getattr(c, attribute)).lower() in chosen]
    return Suite(suite.name, suite.description, cells, suite.path)


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Suite {path} is not valid TOML: {exc}.") from exc


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and expand a suite file; every problem is an error naming the file, the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Suite file {path} does not exist (committed suites: benchmarks/suites/*.toml).")
    data = _read_toml(path)
    return parse_suite(data, name=data.get("name", path.stem), path=path)


def parse_suite(data: dict[str, Any], name: str = "suite", path: Path | None = None) -> Suite:
    """Expand a suite mapping (as read from TOML) into cells."""
    name = str(data.get("name", name))
    where = str(path) if path else f"suite {name!r}"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(_TOP_KEYS))}.")
    defaults = {k: v for k, v in data.items() if k in _GRID_KEYS}
    grids = data.get("grid", [defaults])
    if not isinstance(grids, list) or not grids:
        raise ValueError(f"{where}: 'grid' must be an array of tables ([[grid]]).")
    cells: list[Cell] = []
    for index, grid in enumerate(grids):
        if not isinstance(grid, dict):
            raise ValueError(f"{where}: grid {index} must be a table.")
        bad = sorted(set(grid) - _GRID_KEYS)
        if bad:
            raise ValueError(f"{where}: grid {index} has unknown key(s) {bad}; valid: {', '.join(sorted(_GRID_KEYS))}.")
        cells += _expand({**defaults, **grid}, f"{where}, grid {index}", str(name))
    seen: set[str] = set()
    for cell in cells:
        if cell.id in seen:
            raise ValueError(f"{where}: cell {cell.id} appears twice; give the variants different tags.")
        seen.add(cell.id)
    return Suite(str(name), str(data.get("description", "")), cells, path)


def _list(grid: dict[str, Any], key: str, kind: type, where: str) -> list[Any]:
    if key not in grid:
        raise ValueError(f"{where}: '{key}' is missing (a list, e.g. {key} = [...]).")
    values = grid[key]
    values = values if isinstance(values, list) else [values]
    if not values or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{where}: '{key}' must be a non-empty list of {kind.__name__}, got {grid[key]!r}.")
    return values


def _expand(grid: dict[str, Any], where: str, suite: str) -> list[Cell]:
    from tsmamba.data.cards import get_card
    from tsmamba.models.registry import get_model_spec

    datasets = [get_card(d).name for d in _list(grid, "datasets", str, where)]
    models = [get_model_spec(m).name for m in _list(grid, "models", str, where)]
    lookbacks = _list(grid, "lookbacks", int, where)
    horizons = _list(grid, "horizons", int, where)
    seeds = _list(grid, "seeds", int, where)
    evaluate = grid.get("evaluate", "test")
    if evaluate not in EVAL_SPLITS:
        raise ValueError(f"{where}: evaluate must be one of {EVAL_SPLITS}, got {evaluate!r}.")
    options = _table(grid.get("options", {}), f"{where}: options")
    model_options = _table(grid.get("model_options", {}), f"{where}: model_options")
    unknown_models = sorted(set(model_options) - set(models))
    if unknown_models:
        raise ValueError(f"{where}: model_options for {unknown_models}, which are not in models {models}.")
    variants = grid.get("variants", [{}])
    if not isinstance(variants, list) or not variants:
        raise ValueError(f"{where}: 'variants' must be an array of tables ([[grid.variants]] or [[variants]]).")
    cells = []
    for variant in variants:
        if not isinstance(variant, dict) or sorted(set(variant) - {"tag", "options"}):
            raise ValueError(f"{where}: each variant is a table with 'tag' and 'options', got {variant!r}.")
        if len(variants) > 1 and not variant.get("tag"):
            raise ValueError(f"{where}: with several variants each needs a 'tag' (it goes into the cell id).")
        extra = _table(variant.get("options", {}), f"{where}: variant {variant.get('tag')!r} options")
        for dataset, model, lookback, horizon, seed in itertools.product(datasets, models, lookbacks, horizons, seeds):
            merged = {**options, **_table(model_options.get(model, {}), where), **extra}
            cell = Cell(dataset, model, lookback, horizon, seed, str(variant.get("tag", "")), evaluate, merged, suite)
            _check_options(cell, where)
            cells.append(cell)
    return cells


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table of key = value, got {value!r}.")
    return dict(value)


def _check_options(cell: Cell, where: str) -> None:
    """Fail early on options the model or TrainConfig do not know (the same check as ``tsmamba bench --set``)."""
    from tsmamba.reproduce.configs import expected_config

    try:
        expected_config(cell)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: cell {cell.id}: {exc}") from exc
