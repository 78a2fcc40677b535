"""Several forecasters fitted on one frame, one output frame: neuralforecast's ``NeuralForecast(models=, freq=)``.

``MultiForecaster(models=[TSM2Forecaster(h=96), PatchTSTForecaster(h=96), DLinearForecaster(h=96)])`` fits a
copy of each model on the same frame and merges their ``predict`` and ``cross_validation`` frames on
``(unique_id, ds)`` (``(unique_id, ds, cutoff)`` for cross-validation; ``y`` once, last): one column per model,
plus each model's quantile-loss and interval columns.

Column names (neuralforecast's rule): a model's ``alias`` when it has one, else its display name, with a counter
for repeats: two ``PatchTSTForecaster()`` give ``PatchTST`` and ``PatchTST1``. Explicit aliases must be distinct
and are never renamed (a default name skips them). ``level=`` asks the models with ``conformal_windows`` for
conformal intervals; models trained with ``MQLoss`` already return their quantile columns and are called
without it; any other model is an error (it has no intervals to give).

scikit-learn rules: ``models`` and ``freq`` are stored as given; ``fit`` validates them and fits clones, kept in
``models_`` (their aliases in ``aliases_``); the models passed in stay unfitted. All models must share ``h`` and
the frame's column names. ``save(path)`` writes ``container.json`` and one sub-directory per model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from tsmamba._version import __version__
from tsmamba.forecaster.base import BaseForecaster
from tsmamba.forecaster.checks import check_no_y
from tsmamba.forecaster.loss_columns import check_loss
from tsmamba.forecaster.persistence import json_ready, load_forecaster

CONTAINER_FILE = "container.json"
CONTAINER_FORMAT = 1


def model_aliases(models: Sequence[BaseForecaster]) -> list[str]:
    """Output column names: explicit aliases as given (distinct), others the display name counted
    (``PatchTST``, ``PatchTST1``, ...), skipping names already taken."""
    explicit = [m.alias for m in models if m.alias]
    repeated = sorted({a for a in explicit if explicit.count(a) > 1})
    if repeated:
        raise ValueError(f"alias {repeated} given to more than one model; every model needs its own column name.")
    taken: set[str] = set(explicit)
    counts: dict[str, int] = {}
    names: list[str] = []
    for model in models:
        if model.alias:
            names.append(model.alias)
            continue
        base = model.display_name
        k = counts.get(base, 0)
        name = base if k == 0 else f"{base}{k}"
        while name in taken:
            k += 1
            name = f"{base}{k}"
        counts[base] = k + 1
        taken.add(name)
        names.append(name)
    return names


def _merge(frames: list[Any], keys: list[str], what: str, target: str | None = None) -> Any:
    """Join frames that share ``keys`` one-to-one, keeping the first frame's row order; the ``target`` column
    (cross_validation's actuals, the models' ``target_col``) once, last."""
    seen: dict[str, int] = {}
    for i, frame in enumerate(frames):
        for column in frame.columns:
            if column in keys or column == target:
                continue
            if column in seen:
                raise ValueError(
                    f"{what}: models {seen[column]} and {i} both return column {column!r}; give them distinct alias=."
                )
            seen[column] = i
    first = frames[0]
    merged = _without(first, target)
    for frame in frames[1:]:
        frame = _without(frame, target)
        if len(frame) != len(first):
            raise ValueError(f"{what}: the models returned {len(first)} and {len(frame)} rows; they must agree.")
        if isinstance(merged, pl.DataFrame):
            merged = merged.join(frame, on=keys, how="inner", validate="1:1", maintain_order="left")
        else:
            merged = merged.merge(frame, on=keys, how="inner", validate="one_to_one", sort=False)
        if len(merged) != len(first):
            raise ValueError(f"{what}: the models' rows do not match on {keys}; fit them on the same frame and h.")
    if target:
        column = first[target]
        merged = merged.with_columns(column) if isinstance(merged, pl.DataFrame) else merged.assign(**{target: column})
    return merged


def _without(frame: Any, column: str | None) -> Any:
    if column is None:
        return frame
    return frame.drop(column) if isinstance(frame, pl.DataFrame) else frame.drop(columns=[column])


class MultiForecaster(BaseEstimator):
    """Fit several forecasters on one frame; ``predict``/``cross_validation`` return one merged frame.

    ``models``: forecasters (unfitted or fitted; ``fit`` fits clones). ``freq``: the frame's frequency for every
    model (``None``: each model's own, inferred when unset). See the module docstring for the column names.
    """

    def __init__(self, models: Sequence[BaseForecaster] = (), freq: str | int | None = None) -> None:
        self.models = models
        self.freq = freq

    def _configured(self) -> list[BaseForecaster]:
        """Validated unfitted copies of ``models``, with their column names and the container's ``freq`` set."""
        if isinstance(self.models, (str, BaseForecaster)) or not isinstance(self.models, Sequence) or not self.models:
            raise ValueError("models must be a non-empty list of forecasters, e.g. [DLinearForecaster(h=24)].")
        bad = [type(m).__name__ for m in self.models if not isinstance(m, BaseForecaster)]
        if bad:
            raise TypeError(f"models must be tsmamba forecasters; got {bad}.")
        horizons = sorted({m.h for m in self.models})
        if len(horizons) > 1:
            raise ValueError(f"All models must share h (one output frame); got h={horizons}.")
        columns = {m.frame_columns() for m in self.models}
        if len(columns) > 1:
            raise ValueError(
                f"All models must read the same id_col/time_col/target_col; got {sorted(map(str, columns))}."
            )
        if self.freq is not None:
            other = sorted({str(m.freq) for m in self.models if m.freq is not None and m.freq != self.freq})
            if other:
                raise ValueError(f"freq={self.freq!r} but some models set freq={other}; leave their freq=None.")
        copies = []
        for model, alias in zip(self.models, model_aliases(self.models), strict=True):
            copy = clone(model).set_params(alias=alias)
            if self.freq is not None:
                copy.set_params(freq=self.freq)
            copies.append(copy)
        return copies

    def fit(self, df: Any, y: None = None, val_size: int | None = None) -> MultiForecaster:
        """Fit a copy of every model on ``df`` (``val_size`` as ``BaseForecaster.fit``); returns self."""
        check_no_y(y, "fit")
        models = self._configured()
        for model in models:
            model.fit(df, val_size=val_size)
        self.models_ = models
        self.aliases_ = [m.alias for m in models]
        return self

    @staticmethod
    def _level_for(model: BaseForecaster, level: Any) -> Any:
        return None if check_loss(model).n_outputs > 1 else level

    def predict(self, df: Any = None, h: int | None = None, level: Any = None) -> Any:
        """Every model's ``predict(df, h, level)``, merged on ``(unique_id, ds)``: one column per model (plus its
        quantile and interval columns), in the order of ``models``."""
        check_is_fitted(self, "models_")
        frames = [m.predict(df, h=h, level=self._level_for(m, level)) for m in self.models_]
        columns = self.models_[0].frame_columns()
        return _merge(frames, [columns.id_col, columns.time_col], "predict")

    def cross_validation(
        self,
        df: Any,
        n_windows: int | None = None,
        step_size: int | None = None,
        test_size: int | None = None,
        val_size: int | None = None,
        refit: bool | int = False,
        level: Any = None,
    ) -> Any:
        """Every model's ``cross_validation`` (same arguments), merged on ``(unique_id, ds, cutoff)``; ``y`` last.

        As each forecaster's, this trains on the side: a fitted container keeps its fitted models.
        """
        models = self._configured()
        frames = [
            m.cross_validation(df, n_windows, step_size, test_size, val_size, refit, self._level_for(m, level))
            for m in models
        ]
        columns = models[0].frame_columns()
        return _merge(
            frames, [columns.id_col, columns.time_col, "cutoff"], "cross_validation", target=columns.target_col
        )

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write ``container.json`` and each fitted model into ``path/model_<i>`` (see ``BaseForecaster.save``)."""
        check_is_fitted(self, "models_")
        directory = Path(path)
        if directory.is_dir() and any(directory.iterdir()) and not overwrite:
            raise FileExistsError(
                f"Cannot save to {directory}: the directory exists and is not empty. Choose a new path, or pass "
                "overwrite=True."
            )
        if directory.exists() and not directory.is_dir():
            raise FileExistsError(f"Cannot save to {directory}: it is a file, not a directory. Choose another path.")
        entries = [{"alias": a, "dir": f"model_{i}"} for i, a in enumerate(self.aliases_)]
        config = {
            "library": "tsmamba",
            "library_version": __version__,
            "format_version": CONTAINER_FORMAT,
            "class": type(self).__name__,
            "freq": json_ready("freq", self.freq),
            "models": entries,
        }
        text = json.dumps(config, indent=2)
        directory.mkdir(parents=True, exist_ok=True)
        for model, entry in zip(self.models_, entries, strict=True):
            model.save(str(directory / entry["dir"]), overwrite=overwrite)
        (directory / CONTAINER_FILE).write_text(text)

    @classmethod
    def load(cls, path: str | Path, map_location: Any = None) -> MultiForecaster:
        """Load a container written by :meth:`save`: its fitted models (``models`` and ``models_``) and ``freq``."""
        file = Path(path) / CONTAINER_FILE
        if not file.is_file():
            raise FileNotFoundError(f"{file} not found: {path} is not a directory written by MultiForecaster.save().")
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
            entries = config["models"]
            dirs = [Path(path) / entry["dir"] for entry in entries]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{file} is damaged ({exc}); re-save the container.") from exc
        if config.get("library") != "tsmamba" or config.get("format_version") != CONTAINER_FORMAT:
            raise ValueError(
                f"{file} was written by {config.get('library')} {config.get('library_version')} in container format "
                f"{config.get('format_version')}; this is tsmamba {__version__} (format {CONTAINER_FORMAT})."
            )
        models = [load_forecaster(d, map_location=map_location) for d in dirs]
        container = cls(models=models, freq=config.get("freq"))
        container.models_ = models
        container.aliases_ = [m.alias for m in models]
        return container

    def __sklearn_is_fitted__(self) -> bool:
        return "models_" in self.__dict__
