"""Save and load fitted forecasters: a directory with ``config.json``, ``model.safetensors``, ``scaler.safetensors``.

``config.json`` records the class, every ``__init__`` parameter, the model config, the library and format
versions, the frequency, column names, series ids, the layout and library of the training frame and its time
range. The class is resolved from that file (never from a file name); weights are plain safetensors so a
GPU-trained model loads anywhere via ``map_location``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from tsmamba._version import __version__
from tsmamba.models.registry import build_model, make_config

if TYPE_CHECKING:
    from tsmamba.forecaster.base import BaseForecaster

FORMAT_VERSION = 1
FORECASTER_CLASSES: dict[str, type] = {}  # class name -> forecaster class, filled by BaseForecaster subclasses
CONFIG_FILE, WEIGHTS_FILE, SCALER_FILE = "config.json", "model.safetensors", "scaler.safetensors"


def _timestamp(ts: pd.Timestamp) -> dict[str, Any]:
    return {"iso": ts.isoformat(), "tz": None if ts.tz is None else str(ts.tz)}


def _from_timestamp(value: dict[str, Any]) -> pd.Timestamp:
    ts = pd.Timestamp(value["iso"])
    return ts.tz_convert(value["tz"]) if value["tz"] else ts


def _json_ready(name: str, value: Any) -> Any:
    try:
        json.dumps(value)
    except TypeError as exc:
        raise TypeError(
            f"Cannot save parameter {name}={value!r}: it is not JSON-serialisable ({exc}). "
            "Use plain numbers, strings, lists and dicts in forecaster parameters."
        ) from exc
    return value


def save_forecaster(forecaster: BaseForecaster, path: str | Path) -> None:
    """Write a fitted forecaster to directory ``path`` (created if needed, files overwritten)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    start, end, n = forecaster.train_range_
    config = {
        "format_version": FORMAT_VERSION,
        "library": "tsmamba",
        "library_version": __version__,
        "class": type(forecaster).__name__,
        "model_name": forecaster.model_name,
        "params": {k: _json_ready(k, v) for k, v in forecaster.get_params(deep=False).items()},
        "model_config": dataclasses.asdict(forecaster.model_config_),
        "freq": forecaster.freq_,
        "columns": {"id_col": forecaster.id_col, "time_col": forecaster.time_col, "target_col": forecaster.target_col},
        "series": _json_ready("series ids", list(forecaster.series_)),
        "layout": forecaster.layout_,
        "backend": forecaster.backend_,
        "training_range": {"start": _timestamp(start), "end": _timestamp(end), "n_timestamps": int(n)},
        "history_end": _timestamp(forecaster.history_end_),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {k: v.detach().to("cpu").contiguous() for k, v in forecaster.model_.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"class": config["class"], "library_version": __version__})
    save_file(
        {
            "mean": torch.as_tensor(forecaster.scaler_mean_, dtype=torch.float64),
            "scale": torch.as_tensor(forecaster.scaler_scale_, dtype=torch.float64),
            "last_window": torch.as_tensor(forecaster.last_window_, dtype=torch.float64),
        },
        str(directory / SCALER_FILE),
    )


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a saved forecaster directory."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: {path} is not a directory written by forecaster.save().")
    config = json.loads(file.read_text())
    if config.get("library") != "tsmamba":
        raise ValueError(f"{file} was not written by tsmamba (library={config.get('library')!r}).")
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved by tsmamba {config.get('library_version')} in format version "
            f"{config.get('format_version')}; this is tsmamba {__version__}, which reads format {FORMAT_VERSION}. "
            f"Install tsmamba {config.get('library_version')} to load it, or re-fit and save again."
        )
    return config


def load_forecaster(
    path: str | Path, map_location: str | torch.device | None = None, expected: type | None = None
) -> BaseForecaster:
    """Rebuild a fitted forecaster from ``path``; ``expected`` (a class) must match the saved one."""
    config = read_config(path)
    name = config["class"]
    if name not in FORECASTER_CLASSES:
        raise ValueError(f"{path} holds an unknown forecaster class {name!r}; known: {sorted(FORECASTER_CLASSES)}.")
    cls = FORECASTER_CLASSES[name]
    if expected is not None and expected.model_name and cls is not expected:
        raise TypeError(
            f"{path} holds a {name}, not a {expected.__name__}. Load it with {name}.load(...) or "
            "tsmamba.forecaster.load_forecaster(...)."
        )
    forecaster = cls(**config["params"])
    model_config = make_config(config["model_name"], None, config["model_config"])
    mean_scale = load_file(str(Path(path) / SCALER_FILE))
    n_vars = len(config["series"])
    model = build_model(config["model_name"], model_config, int(forecaster.input_size), int(forecaster.h), n_vars)
    device = torch.device(map_location) if map_location is not None else torch.device("cpu")
    model.load_state_dict(load_file(str(Path(path) / WEIGHTS_FILE), device=str(device)))
    model.to(device).eval()
    training = config["training_range"]
    forecaster.model_ = model
    forecaster.model_config_ = model_config
    forecaster.freq_ = config["freq"]
    forecaster.series_ = list(config["series"])
    forecaster.n_vars_ = n_vars
    forecaster.layout_ = config["layout"]
    forecaster.backend_ = config["backend"]
    forecaster.scaler_mean_ = mean_scale["mean"].numpy()
    forecaster.scaler_scale_ = mean_scale["scale"].numpy()
    forecaster.last_window_ = mean_scale["last_window"].numpy()
    forecaster.history_end_ = _from_timestamp(config["history_end"])
    forecaster.train_range_ = (
        _from_timestamp(training["start"]),
        _from_timestamp(training["end"]),
        int(training["n_timestamps"]),
    )
    return forecaster
