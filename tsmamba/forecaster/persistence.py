"""Save and load fitted forecasters: a directory with ``config.json``, ``model.safetensors``, ``scaler.safetensors``.

``config.json`` records the class, every ``__init__`` parameter, the model config, the library and format versions,
the frequency, column names, series ids, the layout and library of the training frame and its time range, each
series' last timestamp and whether the model is a global (channel-independent) one, whose weights are those of the
univariate model. The class is resolved from that file through the class registry (never by importing a name);
weights are plain safetensors so a GPU-trained model loads anywhere via ``map_location``. What is saved is the
forecaster's :class:`~tsmamba.forecaster.state.FittedState` (less the LightningModule and training history) and its
parameters.

Rules: ``save`` never overwrites a non-empty directory unless ``overwrite=True``, and refuses a forecaster whose
``h`` or ``input_size`` was changed after fit (the saved parameters would not describe the weights); every ``load``
error names the file and what to do about it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tsmamba._version import __version__
from tsmamba.data.scaler import StandardScaler
from tsmamba.forecaster.classes import forecaster_class
from tsmamba.forecaster.state import FittedState
from tsmamba.forecaster.time_types import TimeType
from tsmamba.losses import Loss, make_loss
from tsmamba.models.channel_independent import ChannelIndependent
from tsmamba.models.registry import build_model, make_config

if TYPE_CHECKING:
    from tsmamba.forecaster.base import BaseForecaster

FORMAT_VERSION = 2  # 2: global models over a panel (channel_independent, series_ends); 1 is still read
READABLE_FORMATS = (1, 2)
CONFIG_FILE, WEIGHTS_FILE, SCALER_FILE = "config.json", "model.safetensors", "scaler.safetensors"
_RESAVE = "Re-save it from the fitted forecaster (save(path, overwrite=True)), or re-fit"


def _timestamp(ts: pd.Timestamp | int) -> dict[str, Any]:
    if not isinstance(ts, pd.Timestamp):
        return {"int": int(ts)}
    return {"iso": ts.isoformat(), "tz": None if ts.tz is None else str(ts.tz)}


def _from_timestamp(value: dict[str, Any]) -> pd.Timestamp | int:
    if "int" in value:
        return int(value["int"])
    ts = pd.Timestamp(value["iso"])
    return ts.tz_convert(value["tz"]) if value["tz"] else ts


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (e.g. GridSearchCV's ``np.arange`` grids) as Python numbers and lists; a loss as
    its small dict (``Loss.to_dict``)."""
    if isinstance(value, Loss):
        return value.to_dict()
    if isinstance(value, pd.DateOffset):  # freq=pd.offsets.Hour(): its alias ("h") means the same to pandas
        return value.freqstr
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def json_ready(name: str, value: Any) -> Any:
    value = _plain(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot save parameter {name}={value!r}: it is not JSON-serialisable ({exc}). "
            "Use plain numbers, strings, lists and dicts in forecaster parameters."
        ) from exc
    return value


def _check_target(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"Cannot save to {directory}: it is a file, not a directory. Choose another path.")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"Cannot save to {directory}: the directory exists and is not empty. Choose a new path, or pass "
            f"overwrite=True to replace {CONFIG_FILE}, {WEIGHTS_FILE} and {SCALER_FILE} in it."
        )


def save_forecaster(forecaster: BaseForecaster, path: str | Path, overwrite: bool = False) -> None:
    """Write a fitted forecaster to directory ``path`` (created if needed; see ``BaseForecaster.save``)."""
    directory = Path(path)
    _check_target(directory, overwrite)
    state: FittedState = forecaster.state_
    changed = [
        f"{name}={getattr(forecaster, name)!r} (fitted with {fitted})"
        for name, fitted in (("h", state.horizon), ("input_size", state.lookback))
        if getattr(forecaster, name) != fitted
    ]
    if changed:
        raise ValueError(
            f"Cannot save: {' and '.join(changed)} was set after fit, so the parameters no longer describe the "
            "fitted model. Call fit() again with the new value, or set it back before save()."
        )
    start, end, n = state.train_range
    config = {
        "format_version": FORMAT_VERSION,
        "library": "tsmamba",
        "library_version": __version__,
        "class": type(forecaster).__name__,
        "model_name": forecaster.model_name,
        "params": {k: json_ready(k, v) for k, v in forecaster.get_params(deep=False).items()},
        "model_config": json_ready("model config", dataclasses.asdict(state.model_config)),
        "freq": state.freq,
        "columns": {"id_col": forecaster.id_col, "time_col": forecaster.time_col, "target_col": forecaster.target_col},
        "series": json_ready("series ids", list(state.series)),
        "layout": state.layout,
        "backend": state.backend,
        "training_range": {"start": _timestamp(start), "end": _timestamp(end), "n_timestamps": int(n)},
        "history_end": _timestamp(state.history_end),
        "series_ends": [_timestamp(end) for end in state.series_ends],
        "channel_independent": state.global_model,
        "time_type": None if state.time_type is None else state.time_type.to_json(),
        "loss": state.loss.to_dict(),
    }
    text = json.dumps(config, indent=2)  # serialise everything before touching the directory
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(text)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in state.model.state_dict().items()}
    save_file(
        weights, str(directory / WEIGHTS_FILE), metadata={"class": config["class"], "library_version": __version__}
    )
    save_file(
        {
            "mean": torch.as_tensor(state.scaler.mean, dtype=torch.float64),
            "scale": torch.as_tensor(state.scaler.scale, dtype=torch.float64),
            "last_window": torch.as_tensor(state.last_window, dtype=torch.float64),
            **(
                {}
                if state.conformal_scores is None
                else {"conformal_scores": torch.as_tensor(state.conformal_scores, dtype=torch.float64)}
            ),
        },
        str(directory / SCALER_FILE),
    )


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a saved forecaster directory."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: {path} is not a directory written by forecaster.save().")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file} is not valid JSON ({exc}); the directory is damaged. {_RESAVE}.") from exc
    if not isinstance(config, dict):
        raise ValueError(
            f"{file} holds a JSON {type(config).__name__}, not an object: it was not written by forecaster.save(). "
            f"{_RESAVE}."
        )
    if config.get("library") != "tsmamba":
        raise ValueError(f"{file} was not written by tsmamba (library={config.get('library')!r}).")
    if config.get("format_version") not in READABLE_FORMATS:
        raise ValueError(
            f"{path} was saved by tsmamba {config.get('library_version')} in format version "
            f"{config.get('format_version')}; this is tsmamba {__version__}, which reads format "
            f"{' or '.join(map(str, READABLE_FORMATS))}. "
            f"Install tsmamba {config.get('library_version')} to load it, or re-fit and save again."
        )
    missing = [k for k in ("class", "model_name", "params", "model_config", "series", "freq") if k not in config]
    if missing or not isinstance(config.get("params"), dict) or not isinstance(config.get("model_config"), dict):
        raise ValueError(f"{file} lacks or garbles entries {missing or ['params/model_config']}. {_RESAVE}.")
    return config


def _tensors(file: Path, device: str) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: the saved directory is incomplete. {_RESAVE}.")
    try:
        return load_file(str(file), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{file} cannot be read ({exc}): it is truncated or damaged. {_RESAVE}.") from exc


def load_forecaster(
    path: str | Path, map_location: str | torch.device | None = None, expected: type | None = None
) -> BaseForecaster:
    """Rebuild a fitted forecaster from ``path``; ``expected`` (a class) must match the saved one."""
    directory = Path(path)
    config = read_config(directory)
    name = config["class"]
    cls = forecaster_class(name, str(directory / CONFIG_FILE))
    if expected is not None and expected.model_name and cls is not expected:
        raise TypeError(
            f"{path} holds a {name}, not a {expected.__name__}. Load it with {name}.load(...) or "
            "tsmamba.forecaster.load_forecaster(...)."
        )
    config_file = directory / CONFIG_FILE
    try:
        params = dict(config["params"])
        if isinstance(params.get("loss"), dict):
            params["loss"] = make_loss(params["loss"])
        forecaster = cls(**params)
        model_config = make_config(config["model_name"], None, config["model_config"])
        loss = make_loss(config.get("loss", "MSE"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{config_file}: its parameters do not fit {name} ({exc}). {_RESAVE}.") from exc
    scaler_values = _tensors(directory / SCALER_FILE, "cpu")
    independent = bool(config.get("channel_independent", False))  # format 1: multivariate models only
    n_vars = 1 if independent else len(config["series"])
    device = torch.device(map_location) if map_location is not None else torch.device("cpu")
    horizon = int(forecaster.h) * loss.n_outputs
    model = build_model(config["model_name"], model_config, int(forecaster.input_size), horizon, n_vars)
    if independent:
        model = ChannelIndependent(model)
    weights = _tensors(directory / WEIGHTS_FILE, str(device))
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:2]
        raise ValueError(
            f"{directory / WEIGHTS_FILE} does not match the model that {config_file} describes "
            f"(h={forecaster.h}, input_size={forecaster.input_size}, "
            f"{'a global univariate model' if independent else f'{n_vars} series'}, "
            f"model config {config['model_config']}): {' '.join(first)}. The files come from different saves; "
            f"{_RESAVE}."
        ) from exc
    try:
        scaler = StandardScaler()
        scaler.mean, scaler.scale = scaler_values["mean"].numpy(), scaler_values["scale"].numpy()
        last_window = scaler_values["last_window"].numpy()
        scores = scaler_values["conformal_scores"].numpy() if "conformal_scores" in scaler_values else None
    except KeyError as exc:
        raise ValueError(f"{directory / SCALER_FILE} lacks tensor {exc}. {_RESAVE}.") from exc
    training = config["training_range"]
    forecaster.state_ = FittedState(
        model=model.to(device).eval(),
        lookback=int(forecaster.input_size),
        horizon=int(forecaster.h),
        model_config=model_config,
        scaler=scaler,
        freq=config["freq"],
        series=list(config["series"]),
        layout=config["layout"],
        backend=config["backend"],
        last_window=last_window,
        history_end=_from_timestamp(config["history_end"]),
        train_range=(
            _from_timestamp(training["start"]),
            _from_timestamp(training["end"]),
            int(training["n_timestamps"]),
        ),
        conformal_scores=scores,
        time_type=TimeType.from_json(config["time_type"]) if config.get("time_type") else None,
        ends=[_from_timestamp(end) for end in config.get("series_ends", [])],
        loss=loss,
    )
    return forecaster
