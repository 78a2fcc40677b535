"""The summary of a results folder: seed means +- std beside the published rows, the counts, sweeps, plots.

``write_summary(out)`` reads ``OUT/results.jsonl`` and ``OUT/runs.jsonl`` and writes ``OUT/table.md`` and the
PNGs (``mse_L<L>.png``: our MSE per cell against the published numbers; ``tsm2_minus_patchtst_L<L>.png``: the
difference of the seed means). Final-table cells are test-split rows of the plain grid (no variant tag);
variant and validation-split rows go to their own tables (sweeps, the DDP comparison).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsmamba.reproduce.published import PUBLISHED, PublishedRow
from tsmamba.reproduce.store import ResultStore

MODEL_LABELS = {"tsm2": "TSM2", "patchtst": "PatchTST", "dlinear": "DLinear"}
DATASET_ORDER = ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather")
FAMILIES = {"ETTh1": "ETTh", "ETTh2": "ETTh", "ETTm1": "ETTm", "ETTm2": "ETTm"}


@dataclass
class Group:
    """The rows of one (dataset, model, lookback, horizon, variant, split): one entry per seed."""

    dataset: str
    model: str
    lookback: int
    horizon: int
    variant: str
    split: str
    mse: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)  # best-epoch validation loss, where the row has one

    @property
    def n(self) -> int:
        return len(self.mse)

    @staticmethod
    def _mean(values: Sequence[float]) -> float:
        return sum(values) / len(values)

    @staticmethod
    def _std(values: Sequence[float]) -> float | None:
        if len(values) < 2:
            return None
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    @property
    def mse_mean(self) -> float:
        return self._mean(self.mse)

    @property
    def mse_std(self) -> float | None:
        return self._std(self.mse)

    @property
    def mae_mean(self) -> float:
        return self._mean(self.mae)

    @property
    def val_loss_mean(self) -> float:
        return self._mean(self.val_losses)

    def text(self) -> str:
        """``0.370 ± 0.003 (3)``: mean ± sample std over seeds (n seeds)."""
        std = self.mse_std
        return f"{self.mse_mean:.3f}" + (f" ± {std:.3f}" if std is not None else "") + f" ({self.n})"


def _dataset_rank(name: str) -> tuple[int, str]:
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[tuple, Group]:
    """Rows grouped by (dataset, model, lookback, horizon, variant, split); seeds are the group's members."""
    groups: dict[tuple, Group] = {}
    for row in rows:
        key = (
            row["dataset"],
            str(row["model"]).lower(),
            int(row["lookback"]),
            int(row["horizon"]),
            row.get("variant") or "",
            row.get("eval_split") or "test",
        )
        group = groups.setdefault(key, Group(*key))
        group.mse.append(float(row["mse"]))
        group.mae.append(float(row["mae"]))
        group.fit_seconds.append(float(row.get("fit_seconds") or 0.0))
        group.epochs.append(float(row.get("epochs_run") or 0))
        group.seeds.append(int(row["seed"]))
        if row.get("best_val_loss") is not None:
            group.val_losses.append(float(row["best_val_loss"]))
    return groups


def _final(groups: dict[tuple, Group], lookback: int) -> dict[tuple[str, str, int], Group]:
    """Test-split groups of the plain grid at ``lookback``, keyed (dataset, model, horizon)."""
    return {
        (g.dataset, g.model, g.horizon): g
        for g in groups.values()
        if g.lookback == lookback and g.variant == "" and g.split == "test"
    }


def _published(lookback: int) -> list[PublishedRow]:
    """Published rows shown beside a table at ``lookback``: all of them at the papers' L=512, none elsewhere."""
    return list(PUBLISHED) if lookback == 512 else []


def comparison_counts(groups: dict[tuple, Group], lookback: int = 512) -> dict[str, tuple[int, int]]:
    """``{"claim": (x, n), "patchtst": (y, m), "patchtst_val": (v, k)}``: TSM2 seed mean (to 3 decimals) <= the
    claim in x of n cells, < our PatchTST's seed mean in y of m cells (cells where both numbers exist), and its
    seed-mean best-epoch validation loss (what early stopping and the recipe sweeps select on) < PatchTST's in v
    of k cells (cells where every row of both has one)."""
    final = _final(groups, lookback)
    claim = [0, 0]
    versus = [0, 0]
    versus_val = [0, 0]
    for (dataset, model, horizon), group in final.items():
        if model != "tsm2":
            continue
        published = next(r for r in PUBLISHED if r.key == "tsm2_claim").value(dataset, horizon)
        if lookback == 512 and published is not None:
            claim[1] += 1
            claim[0] += round(group.mse_mean, 3) <= published
        other = final.get((dataset, "patchtst", horizon))
        if other is not None:
            versus[1] += 1
            versus[0] += group.mse_mean < other.mse_mean
            if len(group.val_losses) == group.n and len(other.val_losses) == other.n:
                versus_val[1] += 1
                versus_val[0] += group.val_loss_mean < other.val_loss_mean
    return {
        "claim": (claim[0], claim[1]),
        "patchtst": (versus[0], versus[1]),
        "patchtst_val": (versus_val[0], versus_val[1]),
    }


def paper_table(groups: dict[tuple, Group], lookback: int) -> str:
    """Markdown: one row per (dataset, horizon); our models' seed means ± std beside the published MSEs."""
    final = _final(groups, lookback)
    models = [m for m in MODEL_LABELS if any(k[1] == m for k in final)]
    models += sorted({k[1] for k in final} - set(models))
    published = _published(lookback)
    head = ["dataset", "H"]
    for model in models:
        head.append(f"{MODEL_LABELS.get(model, model)} ours")
    head += [row.label for row in published]
    if "tsm2" in models and "patchtst" in models:
        head.append("TSM2 − PatchTST")
    lines = ["| " + " | ".join(head) + " |", "| --- | ---: |" + " ---: |" * (len(head) - 2)]
    cells = sorted({(k[0], k[2]) for k in final}, key=lambda c: (_dataset_rank(c[0]), c[1]))
    for dataset, horizon in cells:
        line = [dataset, str(horizon)]
        for model in models:
            group = final.get((dataset, model, horizon))
            line.append(group.text() if group else "")
        for row in published:
            value = row.value(dataset, horizon)
            line.append(f"{value:.3f}" if value is not None else "")
        if "tsm2" in models and "patchtst" in models:
            a, b = final.get((dataset, "tsm2", horizon)), final.get((dataset, "patchtst", horizon))
            line.append(f"{a.mse_mean - b.mse_mean:+.3f}" if a and b else "")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def variant_table(groups: dict[tuple, Group]) -> str:
    """Markdown for rows with a variant tag or scored on the validation split (sweeps, the DDP cell)."""
    chosen = [g for g in groups.values() if g.variant or g.split != "test"]
    if not chosen:
        return ""
    lines = [
        "| dataset | model | L | H | variant | split | MSE (n) | MAE | fit s (mean) | epochs (mean) |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for g in sorted(chosen, key=lambda g: (_dataset_rank(g.dataset), g.model, g.lookback, g.horizon, g.variant)):
        lines.append(
            f"| {g.dataset} | {g.model} | {g.lookback} | {g.horizon} | {g.variant or '(grid)'} | {g.split} | "
            f"{g.text()} | {g.mae_mean:.3f} | {sum(g.fit_seconds) / g.n:.0f} | {sum(g.epochs) / g.n:.1f} |"
        )
    return "\n".join(lines)


def sweep_choice(groups: dict[tuple, Group]) -> str:
    """Per dataset family and model: each variant's validation MSE relative to the first variant (mean ratio
    over the family's datasets x horizons; only variants with every cell of the family), best first."""
    val = [g for g in groups.values() if g.split == "val"]
    if not val:
        return ""
    by_family: dict[tuple[str, str, int], dict[str, dict[tuple[str, int], float]]] = defaultdict(dict)
    order: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for g in val:
        family = (FAMILIES.get(g.dataset, g.dataset), g.model, g.lookback)
        by_family[family].setdefault(g.variant, {})[(g.dataset, g.horizon)] = g.mse_mean
        if g.variant not in order[family]:
            order[family].append(g.variant)
    lines = [
        "| family | model | L | variant | mean val MSE / first variant's | mean val MSE | cells |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for family in sorted(by_family):
        variants = by_family[family]
        all_cells = set().union(*variants.values())
        base_name = "default" if "default" in variants else order[family][0]
        base = variants[base_name]
        scored = []
        for name, values in variants.items():
            if set(values) != all_cells or set(base) != all_cells:
                scored.append((math.inf, name, values))
                continue
            ratio = sum(values[c] / base[c] for c in all_cells) / len(all_cells)
            scored.append((ratio, name, values))
        for ratio, name, values in sorted(scored, key=lambda s: s[0]):
            ratio_text = f"{ratio:.4f}" if math.isfinite(ratio) else "incomplete"
            mean = sum(values.values()) / len(values)
            lines.append(
                f"| {family[0]} | {family[1]} | {family[2]} | {name or '(grid)'} | {ratio_text} | {mean:.4f} | "
                f"{len(values)}/{len(all_cells)} |"
            )
    return "\n".join(lines)


def runs_table(store: ResultStore) -> str:
    """Markdown of the runs recorded in ``runs.jsonl`` (wall time, budget, GPUs, outcome counts)."""
    runs = [r for r in store.events() if r.get("event") == "run"]
    if not runs:
        return ""
    lines = [
        "| started (UTC) | suite | wall s | budget min | GPUs x cells per GPU | done | failed | killed | no time |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        gpus = f"gpu {','.join(r['gpus'])}" if r.get("gpus") else f"cpu x {r.get('cpu_slots')}"
        per = f" x {r.get('per_gpu')}" if r.get("gpus") else ""
        wall = f"{r.get('wall_seconds')}" + (" (stopped)" if r.get("stopped") else "")
        lines.append(
            f"| {r.get('started')} | {r.get('suite')} | {wall} | {r.get('budget_minutes') or ''} | "
            f"{gpus}{per} | {r.get('done', 0)} | {r.get('failed', 0)} | {r.get('killed', 0)} | "
            f"{r.get('no-time', 0)} |"
        )
    return "\n".join(lines)


def plot_mse(groups: dict[tuple, Group], lookback: int, path: Path) -> Path | None:
    """One panel per dataset: our seed means (error bars: std) per horizon, published numbers as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    final = _final(groups, lookback)
    datasets = sorted({k[0] for k in final}, key=_dataset_rank)
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.4), squeeze=False)
    colors = {"tsm2": "C0", "patchtst": "C1", "dlinear": "C2"}
    for ax, dataset in zip(axes[0], datasets):
        for model in sorted({k[1] for k in final if k[0] == dataset}):
            points = sorted((k[2], g) for k, g in final.items() if k[0] == dataset and k[1] == model)
            ax.errorbar(
                [h for h, _ in points],
                [g.mse_mean for _, g in points],
                yerr=[g.mse_std or 0.0 for _, g in points],
                marker="o",
                capsize=3,
                color=colors.get(model),
                label=f"{MODEL_LABELS.get(model, model)} ours",
            )
        for row in _published(lookback):
            if row.key not in ("tsm2_claim", "patchtst64_paper", "dlinear_paper"):
                continue
            values = [(h, row.value(dataset, h)) for h in (96, 192, 336, 720)]
            published = [(h, v) for h, v in values if v is not None]
            if published:
                ax.plot(*zip(*published), ls="--", marker="x", color=colors.get(row.model), alpha=0.7, label=row.label)
        ax.set_title(f"{dataset}, L={lookback}")
        ax.set_xlabel("horizon H")
        ax.set_xticks([96, 192, 336, 720])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test MSE (standardised)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_delta(groups: dict[tuple, Group], lookback: int, path: Path) -> Path | None:
    """Heatmap (datasets x horizons) of TSM2's seed-mean MSE minus PatchTST's; blue: TSM2 lower."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    final = _final(groups, lookback)
    cells = {
        (d, h): final[(d, "tsm2", h)].mse_mean - final[(d, "patchtst", h)].mse_mean
        for (d, m, h) in final
        if m == "tsm2" and (d, "patchtst", h) in final
    }
    if not cells:
        return None
    datasets = sorted({d for d, _ in cells}, key=_dataset_rank)
    horizons = sorted({h for _, h in cells})
    grid = [[cells.get((d, h), math.nan) for h in horizons] for d in datasets]
    limit = max(abs(v) for v in cells.values()) or 1e-3
    fig, ax = plt.subplots(figsize=(1.3 * len(horizons) + 2, 0.6 * len(datasets) + 1.5))
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                color = "white" if abs(value) > 0.6 * limit else "black"  # readable on the map's dark ends
                ax.text(j, i, f"{value:+.3f}", ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(horizons)), [str(h) for h in horizons])
    ax.set_yticks(range(len(datasets)), datasets)
    ax.set_xlabel("horizon H")
    ax.set_title(f"TSM2 − PatchTST, test MSE (seed means), L={lookback}")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_summary(out: str | Path, title: str = "Reproduction", missing: Sequence[str] = ()) -> list[Path]:
    """Write ``table.md`` and the plots from the results in ``out``; returns the files written."""
    store = ResultStore(out)
    rows = store.rows()
    groups = aggregate(rows)
    written: list[Path] = []
    parts = [f"# {title}", ""]
    splits = sorted({row.get("eval_split") or "test" for row in rows}) or ["test"]
    scored = " and ".join(f"every {split} window" for split in splits)
    parts.append(
        f"{len(rows)} result rows in `results.csv` / `results.jsonl` ({scored} scored; MSE on the "
        "standardised scale). Cells: our seed mean ± sample std (number of seeds)."
    )
    if missing:
        listed = ", ".join(missing[:12]) + (" ..." if len(missing) > 12 else "")
        parts.append(f"\n{len(missing)} cell(s) of the suite have no result yet: {listed}.")
    lookbacks = sorted({g.lookback for g in groups.values() if g.variant == "" and g.split == "test"}, reverse=True)
    for lookback in lookbacks:
        parts += ["", f"## L = {lookback}", "", paper_table(groups, lookback), ""]  # the tallies are no table row
        counts = comparison_counts(groups, lookback)
        x, n = counts["claim"]
        y, m = counts["patchtst"]
        if n:
            parts.append(f"TSM2 (seed mean, to 3 decimals) <= the paper's claim in **{x} of {n}** cells.")
        if m:
            parts.append(f"TSM2 < PatchTST (seed means, same harness) in **{y} of {m}** cells.")
        v, k = counts["patchtst_val"]
        if k:
            parts.append(
                f"On the validation split (each run's best-epoch validation loss, what early stopping and the "
                f"recipe sweeps select on) TSM2 < PatchTST in **{v} of {k}** cells."
            )
        for path in (
            plot_mse(groups, lookback, store.out / f"mse_L{lookback}.png"),
            plot_delta(groups, lookback, store.out / f"tsm2_minus_patchtst_L{lookback}.png"),
        ):
            if path is not None:
                written.append(path)
                parts.append(f"\n![{path.stem}]({path.name})")
    if 512 in lookbacks:
        parts += ["", "Published rows (MSE only):"]
        parts += [f"- {row.label}: {row.source}." for row in PUBLISHED]
    choice = sweep_choice(groups)
    if choice:
        parts += ["", "## Validation sweep (the test split is not read)", "", choice]
    variants = variant_table(groups)
    if variants:
        parts += ["", "## Variants and validation-split cells", "", variants]
    runs = runs_table(store)
    if runs:
        parts += ["", "## Runs", "", runs]
    table = store.out / "table.md"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return [table, *written]
