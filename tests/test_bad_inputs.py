"""The bad-input matrix: frames, parameters, fitted state, persistence, loaders and the CLI.

Every case asserts the exception type and that the message names the culprit (the column, option, file or
value at fault). Nothing here trains more than one optimiser step of a tiny DLinear.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

from tsmamba import DLinearForecaster, PatchTSTForecaster, TSM2Forecaster, load_forecaster
from tsmamba.cli import app
from tsmamba.data import loader
from tsmamba.data.cards import get_card
from tsmamba.data.loader import DatasetNotFoundError, find_dataset_file, load_dataset

H, L = 4, 8


def wide(n: int = 40) -> pd.DataFrame:
    t = np.arange(n)
    return pd.DataFrame(
        {
            "ds": pd.date_range("2021-01-01", periods=n, freq="h"),
            "a": np.sin(2 * np.pi * t / 12),
            "b": np.cos(2 * np.pi * t / 6) + 0.01 * t,
        }
    )


def long(n: int = 40) -> pd.DataFrame:
    return wide(n).melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]]


def tiny(cls: type = DLinearForecaster, **params: Any) -> Any:
    return cls(**{"h": H, "input_size": L, "max_steps": 1, "val_size": 0, "accelerator": "cpu", **params})


@pytest.fixture(scope="module")
def fitted() -> DLinearForecaster:
    return tiny().fit(wide())


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, fitted: DLinearForecaster) -> Path:
    path = tmp_path_factory.mktemp("saved") / "model"
    fitted.save(str(path))
    return path


def _check(exc_type: type[BaseException], culprits: tuple[str, ...], action: Callable[[], Any]) -> None:
    with pytest.raises(exc_type) as err:
        action()
    message = str(err.value)
    for culprit in culprits:
        assert culprit in message, f"{culprit!r} not named in: {message}"


# ---------------------------------------------------------------- frames (fit)
def _nan_long() -> pd.DataFrame:
    df = long()
    df.loc[45, "y"] = np.nan
    return df


def _inf_wide() -> pd.DataFrame:
    df = wide()
    df.loc[3, "b"] = np.inf
    return df


def _dup_columns() -> pd.DataFrame:
    df = wide()
    return pd.concat([df, df[["a"]]], axis=1)


def _stacked_no_id() -> pd.DataFrame:
    return long().drop(columns="unique_id")


def _stacked_named_id() -> pd.DataFrame:
    return long().rename(columns={"unique_id": "series"})


def _dup_pair() -> pd.DataFrame:
    df = long()
    return pd.concat([df, df.iloc[[2]]], ignore_index=True)


def _tz_mix() -> pd.DataFrame:
    df = wide().astype({"ds": object})
    df.loc[0, "ds"] = pd.Timestamp("2020-12-31 23:00", tz="UTC")
    return df


def _nat() -> pd.DataFrame:
    df = wide()
    df.loc[5, "ds"] = pd.NaT
    return df


def _string_ds() -> pd.DataFrame:
    return wide().astype({"ds": str})


def _polars_string_ds() -> pl.DataFrame:
    return pl.from_pandas(wide().astype({"ds": str}))


def _missing_ids() -> pd.DataFrame:
    df = long()
    df.loc[0, "unique_id"] = None
    return df


def _misaligned() -> pd.DataFrame:
    df = long()
    return df.drop(index=df.index[(df["unique_id"] == "b")][:3])


def _gap() -> pd.DataFrame:
    return wide().drop(index=10)


def _bool_target() -> pd.DataFrame:
    return long().assign(y=True)


FRAME_CASES = [
    ("nan-in-long-target", _nan_long, {}, ValueError, ("'y'", "series 'b'")),
    ("inf-in-wide-column", _inf_wide, {}, ValueError, ("series 'b'",)),
    ("missing-time-column", lambda: wide().rename(columns={"ds": "when"}), {}, ValueError, ("'ds'", "time_col")),
    ("long-missing-target", lambda: long().rename(columns={"y": "v"}), {}, ValueError, ("['y']", "target_col")),
    ("long-string-target", lambda: long().assign(y="x"), {}, TypeError, ("'y'",)),
    ("long-bool-target", _bool_target, {}, TypeError, ("'y'",)),
    ("wide-string-column", lambda: wide().assign(label="x"), {}, TypeError, ("'label'", "id_col='label'")),
    ("wide-duplicate-column-names", _dup_columns, {}, ValueError, ("['a']", "more than once")),
    ("stacked-without-id-column", _stacked_no_id, {}, ValueError, ("'ds'", "'unique_id'", "id_col=")),
    ("stacked-with-other-id-name", _stacked_named_id, {}, TypeError, ("'series'", "id_col='series'")),
    ("duplicate-series-timestamp", _dup_pair, {}, ValueError, ("Series 'a'", "duplicate timestamps")),
    ("empty-frame", lambda: wide().iloc[:0], {}, ValueError, ("empty",)),
    ("mixed-timezones", _tz_mix, {}, ValueError, ("'ds'", "timezone")),
    ("missing-timestamp", _nat, {}, ValueError, ("'ds'", "missing timestamp")),
    ("string-timestamps-pandas", _string_ds, {}, TypeError, ("'ds'", "pd.to_datetime")),
    ("string-timestamps-polars", _polars_string_ds, {}, TypeError, ("'ds'", "to_datetime")),
    ("polars-lazyframe", lambda: pl.from_pandas(wide()).lazy(), {}, TypeError, ("LazyFrame", "collect")),
    ("numpy-array", lambda: wide()[["a", "b"]].to_numpy(), {}, TypeError, ("ndarray",)),
    ("missing-series-id", _missing_ids, {}, ValueError, ("'unique_id'",)),
    ("misaligned-series-multivariate", _misaligned, {"individual": True}, ValueError, ("['b']", "individual=True")),
    ("gap-inside-a-panel-series", lambda: long().drop(index=45), {}, ValueError, ("Series 'b'", "Irregular")),
    ("irregular-spacing", _gap, {}, ValueError, ("Irregular spacing",)),
    ("freq-contradicted", wide, {"freq": "D"}, ValueError, ("freq='D'",)),
    ("bad-freq-alias", wide, {"freq": "fortnightly"}, ValueError, ("freq='fortnightly'",)),
    ("too-short", lambda: wide(11), {}, ValueError, ("11 timestamps", "input_size + h + val_size = 12")),
    ("too-short-with-val", lambda: wide(15), {"val_size": 4}, ValueError, ("val_size = 16",)),
    ("too-short-auto-val", lambda: wide(13), {"val_size": None}, ValueError, ("val_size=None", "val_size=0")),
]


@pytest.mark.parametrize(
    ("frame", "params", "exc_type", "culprits"),
    [case[1:] for case in FRAME_CASES],
    ids=[case[0] for case in FRAME_CASES],
)
def test_bad_frame(frame: Callable[[], Any], params: dict, exc_type: type, culprits: tuple[str, ...]) -> None:
    _check(exc_type, culprits, lambda: tiny(**params).fit(frame()))


# ---------------------------------------------------------------- parameters (checked at fit, before training)
PARAM_CASES = [
    ("h-zero", DLinearForecaster, {"h": 0}, ValueError, ("h must be",)),
    ("h-string", DLinearForecaster, {"h": "4"}, ValueError, ("h must be", "'4'")),
    ("input-size-float", DLinearForecaster, {"input_size": 2.5}, ValueError, ("input_size", "2.5")),
    ("val-size-negative", DLinearForecaster, {"val_size": -1}, ValueError, ("val_size",)),
    ("val-size-below-h", DLinearForecaster, {"val_size": 2}, ValueError, ("val_size=2", "h=4")),
    ("patience-negative", DLinearForecaster, {"early_stopping_patience": -1}, ValueError, ("early_stopping_patience",)),
    (
        "patience-without-val",
        DLinearForecaster,
        {"early_stopping_patience": 3},
        ValueError,
        ("early_stopping_patience",),
    ),
    ("random-state-none", DLinearForecaster, {"random_state": None}, ValueError, ("random_state",)),
    ("max-epochs-zero", DLinearForecaster, {"max_epochs": 0}, ValueError, ("max_epochs",)),
    ("batch-size-zero", DLinearForecaster, {"batch_size": 0}, ValueError, ("batch_size",)),
    ("max-steps-zero", DLinearForecaster, {"max_steps": 0}, ValueError, ("max_steps",)),
    ("learning-rate-string", DLinearForecaster, {"learning_rate": "abc"}, ValueError, ("learning_rate", "'abc'")),
    ("lr-schedule-unknown", DLinearForecaster, {"lr_schedule": "cosine"}, ValueError, ("'cosine'",)),
    ("precision-unknown", DLinearForecaster, {"precision": "8-bit"}, ValueError, ("'8-bit'",)),
    ("gradient-clip-string", DLinearForecaster, {"gradient_clip": "x"}, ValueError, ("gradient_clip",)),
    ("trainer-kwargs-list", DLinearForecaster, {"trainer_kwargs": [1]}, TypeError, ("trainer_kwargs",)),
    ("trainer-kwargs-clash", DLinearForecaster, {"trainer_kwargs": {"max_epochs": 3}}, ValueError, ("max_epochs",)),
    ("recipe-unknown", DLinearForecaster, {"recipe": "ETTh9"}, ValueError, ("'ETTh9'", "ETTh1")),
    ("recipe-not-a-string", DLinearForecaster, {"recipe": 5}, TypeError, ("recipe",)),
    ("moving-avg-string", DLinearForecaster, {"moving_avg": "abc"}, ValueError, ("moving_avg", "'abc'")),
    ("individual-string", DLinearForecaster, {"individual": "yes"}, ValueError, ("individual",)),
    ("accelerator-unknown", DLinearForecaster, {"accelerator": "tpu2"}, ValueError, ("'tpu2'",)),
    ("tsm2-token-direction", TSM2Forecaster, {"token_direction": "sideways"}, ValueError, ("token_direction",)),
    ("tsm2-d-model-float", TSM2Forecaster, {"d_model": 16.5}, ValueError, ("d_model",)),
    ("patchtst-heads", PatchTSTForecaster, {"d_model": 10, "n_heads": 4}, ValueError, ("d_model", "n_heads")),
]


@pytest.mark.parametrize(
    ("cls", "params", "exc_type", "culprits"),
    [case[1:] for case in PARAM_CASES],
    ids=[case[0] for case in PARAM_CASES],
)
def test_bad_parameter(cls: type, params: dict, exc_type: type, culprits: tuple[str, ...]) -> None:
    model = tiny(cls, **params)  # __init__ never validates (scikit-learn's rule)
    _check(exc_type, culprits, lambda: model.fit(wide()))
    assert not hasattr(model, "model_")


# ---------------------------------------------------------------- fitted state (predict, score, CV)
def _shifted(n: int = 40) -> pd.DataFrame:
    df = wide(n)
    df["ds"] = df["ds"].dt.tz_localize("UTC")
    return df


def _new_short_series() -> pd.DataFrame:
    return pd.concat([long(), long(5).query("unique_id == 'a'").assign(unique_id="c")], ignore_index=True)


def _multivariate() -> DLinearForecaster:
    """individual=True: a head per series, so the model is tied to the fitted series (as TSM2)."""
    return tiny(individual=True).fit(wide())


STATE_CASES = [
    ("predict-h-too-large", lambda m: m.predict(h=5), ValueError, ("h=5", "h=4")),
    ("predict-bad-format", lambda m: m.predict(format="tall"), ValueError, ("'tall'",)),
    ("predict-new-series-too-short", lambda m: m.predict(_new_short_series()), ValueError, ("'c' (5 timestamps)",)),
    ("multivariate-unknown-series", lambda m: _multivariate().predict(wide().assign(c=1.0)), ValueError, ("['c']",)),
    (
        "multivariate-missing-series",
        lambda m: _multivariate().predict(wide().drop(columns="b")),
        ValueError,
        ("missing: ['b']",),
    ),
    ("predict-short-history", lambda m: m.predict(wide(5)), ValueError, ("5 timestamps", "input_size=8")),
    ("predict-timezone", lambda m: m.predict(_shifted()), ValueError, ("timezone-aware",)),
    ("score-too-short", lambda m: m.score(wide(10)), ValueError, ("10 timestamps",)),
    ("cv-n-windows-zero", lambda m: m.cross_validation(wide(), n_windows=0), ValueError, ("n_windows",)),
    ("cv-step-size-zero", lambda m: m.cross_validation(wide(), step_size=0), ValueError, ("step_size",)),
    ("cv-too-many-windows", lambda m: m.cross_validation(wide(), n_windows=9), ValueError, ("n_windows=9",)),
]


@pytest.mark.parametrize(
    ("action", "exc_type", "culprits"), [case[1:] for case in STATE_CASES], ids=[case[0] for case in STATE_CASES]
)
def test_bad_call_on_fitted_model(
    fitted: DLinearForecaster, action: Callable, exc_type: type, culprits: tuple[str, ...]
) -> None:
    before = fitted.predict()
    _check(exc_type, culprits, lambda: action(fitted))
    pd.testing.assert_frame_equal(fitted.predict(), before)  # a failed call leaves the fitted state alone


@pytest.mark.parametrize("method", ["predict", "score", "cross_validation_then_predict"])
def test_unfitted_model_names_its_class(method: str) -> None:
    model = tiny()
    if method == "cross_validation_then_predict":
        model.cross_validation(wide(), n_windows=1)  # fits on the side: the forecaster stays unfitted

        def action() -> Any:
            return model.predict()
    elif method == "predict":

        def action() -> Any:
            return model.predict()
    else:

        def action() -> Any:
            return model.score(wide())

    _check(NotFittedError, ("DLinearForecaster",), action)


# ---------------------------------------------------------------- persistence
def _copy(saved: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def _edit_config(path: Path, edit: Callable[[dict], Any]) -> None:
    file = path / "config.json"
    config = json.loads(file.read_text())
    result = edit(config)
    file.write_text(json.dumps(config if result is None else result))


def _truncate(path: Path, name: str) -> None:
    data = (path / name).read_bytes()
    (path / name).write_bytes(data[: len(data) // 2])


LOAD_CASES = [
    ("config-not-an-object", lambda p: _edit_config(p, lambda c: [1, 2]), ValueError, ("config.json", "not an object")),
    ("config-not-json", lambda p: (p / "config.json").write_text("{oops"), ValueError, ("config.json", "valid JSON")),
    ("config-missing", lambda p: (p / "config.json").unlink(), FileNotFoundError, ("config.json",)),
    ("weights-truncated", lambda p: _truncate(p, "model.safetensors"), ValueError, ("model.safetensors", "truncated")),
    ("weights-missing", lambda p: (p / "model.safetensors").unlink(), FileNotFoundError, ("model.safetensors",)),
    ("scaler-truncated", lambda p: _truncate(p, "scaler.safetensors"), ValueError, ("scaler.safetensors",)),
    (
        "params-do-not-match-weights",
        lambda p: _edit_config(p, lambda c: c["params"].update(input_size=12)),
        ValueError,
        ("model.safetensors", "config.json", "input_size=12", "save(path, overwrite=True)"),
    ),
    (
        "unknown-parameter",
        lambda p: _edit_config(p, lambda c: c["params"].update(colour="red")),
        ValueError,
        ("config.json", "colour"),
    ),
    (
        "unknown-class",
        lambda p: _edit_config(p, lambda c: c.update({"class": "os.system"})),
        ValueError,
        ("'os.system'", "config.json"),
    ),
    (
        "other-format-version",
        lambda p: _edit_config(p, lambda c: c.update(format_version=99)),
        ValueError,
        ("format version 99",),
    ),
    (
        "other-library",
        lambda p: _edit_config(p, lambda c: c.update(library="darts")),
        ValueError,
        ("config.json", "'darts'"),
    ),
]


@pytest.mark.parametrize(
    ("damage", "exc_type", "culprits"), [case[1:] for case in LOAD_CASES], ids=[case[0] for case in LOAD_CASES]
)
def test_load_damaged_directory(
    saved: Path, tmp_path: Path, damage: Callable, exc_type: type, culprits: tuple[str, ...]
) -> None:
    path = _copy(saved, tmp_path)
    damage(path)
    _check(exc_type, (str(path), *culprits), lambda: load_forecaster(path))


def test_load_as_the_wrong_class(saved: Path) -> None:
    _check(TypeError, ("DLinearForecaster", "TSM2Forecaster"), lambda: TSM2Forecaster.load(str(saved)))


def test_save_refuses_a_non_empty_directory(fitted: DLinearForecaster, tmp_path: Path) -> None:
    mine = tmp_path / "config.json"
    mine.write_text('{"mine": true}')
    _check(FileExistsError, (str(tmp_path), "overwrite=True"), lambda: fitted.save(str(tmp_path)))
    assert json.loads(mine.read_text()) == {"mine": True}


def test_save_refuses_a_file(fitted: DLinearForecaster, tmp_path: Path) -> None:
    file = tmp_path / "model"
    file.write_text("keep me")
    _check(FileExistsError, (str(file), "not a directory"), lambda: fitted.save(str(file)))
    assert file.read_text() == "keep me"


def test_save_unserialisable_parameter(tmp_path: Path) -> None:
    model = tiny(trainer_kwargs={"callbacks_extra": object()})
    model.state_ = tiny().fit(wide()).state_
    _check(TypeError, ("trainer_kwargs",), lambda: model.save(str(tmp_path / "m")))
    assert not (tmp_path / "m").exists()  # nothing half-written


# ---------------------------------------------------------------- loaders
def _toy_card(url: str) -> Any:
    return dataclasses.replace(get_card("ETTh1"), name="Toy", file="toy.csv", url=url)


@pytest.mark.parametrize(
    ("setup", "exc_type", "culprits"),
    [
        (lambda mp: load_dataset("ETTh9", download=False), ValueError, ("'ETTh9'", "ETTh1")),
        (lambda mp: load_dataset("ETTh1", timeout=-1), ValueError, ("timeout", "-1")),
        (
            lambda mp: (mp.setenv("TSMAMBA_DOWNLOAD_TIMEOUT", "soon"), load_dataset("ETTh1")),
            ValueError,
            ("$TSMAMBA_DOWNLOAD_TIMEOUT", "'soon'"),
        ),
        (lambda mp: load_dataset("Weather"), DatasetNotFoundError, ("weather.csv", "TSMAMBA_DATA_DIR")),
    ],
    ids=["unknown-dataset", "negative-timeout", "bad-timeout-env", "no-url"],
)
def test_bad_loader_call(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, setup: Callable, exc_type: type, culprits: tuple[str, ...]
) -> None:
    _check(exc_type, culprits, lambda: setup(monkeypatch))


def test_download_from_a_silent_server_times_out(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local endpoint that accepts connections but never answers: the download gives up after `timeout`."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # the kernel completes the handshake; nobody ever reads or writes
    try:
        card = _toy_card(f"http://127.0.0.1:{server.getsockname()[1]}/toy.csv")
        started = time.monotonic()
        _check(
            DatasetNotFoundError,
            ("toy.csv", "timeout 0.3 s", "TSMAMBA_DOWNLOAD_TIMEOUT"),
            lambda: find_dataset_file(card, timeout=0.3),
        )
        assert time.monotonic() - started < 10
        monkeypatch.setenv("TSMAMBA_DOWNLOAD_TIMEOUT", "0.2")
        _check(DatasetNotFoundError, ("timeout 0.2 s",), lambda: find_dataset_file(card))
    finally:
        server.close()
    assert loader.DEFAULT_DOWNLOAD_TIMEOUT <= 20


# ---------------------------------------------------------------- CLI
runner = CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CLI_CASES = [
    ("set-lr-not-a-number", lambda t: ["--set", "train.learning_rate=abc"], ("train.learning_rate", "'abc'")),
    ("set-model-option-type", lambda t: ["--set", "moving_avg=abc"], ("model.moving_avg", "'abc'")),
    ("set-batch-size-float", lambda t: ["--set", "batch_size=1.5"], ("train.batch_size", "1.5")),
    ("set-unknown-key", lambda t: ["--set", "colour=red"], ("colour",)),
    ("set-without-equals", lambda t: ["--set", "d_model"], ("d_model", "key=value")),
    ("config-model-not-a-table", lambda t: ["--config", _write(t, "c.json", '{"model": 3}')], ("c.json", "'model'")),
    ("config-train-not-a-table", lambda t: ["--config", _write(t, "c.toml", 'train = "x"')], ("c.toml", "'train'")),
    ("config-bad-json", lambda t: ["--config", _write(t, "bad.json", "{")], ("bad.json", "JSON")),
    ("config-bad-toml", lambda t: ["--config", _write(t, "bad.toml", "a = ")], ("bad.toml", "TOML")),
    ("config-not-an-object", lambda t: ["--config", _write(t, "list.json", "[1]")], ("list.json",)),
    ("config-missing", lambda t: ["--config", str(t / "nope.toml")], ("nope.toml",)),
    ("config-bad-suffix", lambda t: ["--config", _write(t, "c.yaml", "a: 1")], ("c.yaml", ".toml")),
    ("config-value-type", lambda t: ["--config", _write(t, "v.toml", '[train]\npatience = "x"')], ("train.patience",)),
    ("unknown-dataset", lambda t: ["--dataset", "ETTh9"], ("'ETTh9'",)),
    ("unknown-model", lambda t: ["--model", "tsm3"], ("'tsm3'",)),
    (
        "markdown-exists",
        lambda t: ["--markdown", _write(t, "table.md", "mine")],
        ("--markdown", "table.md", "--overwrite"),
    ),
]


@pytest.mark.parametrize(("args", "culprits"), [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES])
def test_bad_cli_option(tmp_path: Path, args: Callable[[Path], list[str]], culprits: tuple[str, ...]) -> None:
    extra = args(tmp_path)
    base = ["bench", "--results", str(tmp_path / "r"), "--horizons", "4"]
    if "--dataset" not in extra:
        base += ["--dataset", "ETTh1"]
    result = runner.invoke(app, base + extra)
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    for culprit in culprits:
        assert culprit in output, f"{culprit!r} not named in: {output}"
    assert not (tmp_path / "r.csv").exists()
    if (tmp_path / "table.md").exists():
        assert (tmp_path / "table.md").read_text() == "mine"
