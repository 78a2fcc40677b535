"""The tsmamba CLI and the benchmark plumbing: demo, datasets, bench, option routing, results files, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsmamba.bench import (
    RESULT_FIELDS,
    append_results,
    load_config_file,
    markdown_table,
    parse_assignments,
    route_options,
)
from tsmamba.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_demo_runs_without_data_and_writes_a_plot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("demo", "--model", "dlinear", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "DLinear" in result.output and "seasonal naive" in result.output
    png = tmp_path / "tsmamba_demo_forecast.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tsmamba_demo_forecast.png"]  # no lightning_logs/


def test_demo_out_option(tmp_path: Path) -> None:
    out = tmp_path / "plots" / "f.png"
    assert invoke("demo", "--model", "dlinear", "--epochs", "1", "--out", str(out)).exit_code == 0
    assert out.is_file()


@pytest.mark.slow
def test_demo_of_tsm2_scores_dlinear_beside_it(tmp_path: Path) -> None:
    from tsmamba.demo import run_demo

    result = run_demo(out=tmp_path / "tsm2.png", n_steps=800, max_epochs=1, model="tsm2")
    assert result.model_name == "TSM2" and result.epochs_run == 1
    assert result.dlinear is not None and result.dlinear_fit_seconds is not None
    assert result.model.n_windows == result.dlinear.n_windows == result.seasonal_naive.n_windows > 0
    assert result.model.mse < 2 * result.seasonal_naive.mse  # trained a real forecaster, not a constant
    assert result.dlinear.mse < 2 * result.seasonal_naive.mse
    assert (tmp_path / "tsm2.png").is_file()


def test_demo_of_dlinear_has_no_second_dlinear(tmp_path: Path) -> None:
    from tsmamba.demo import run_demo

    result = run_demo(out=tmp_path / "d.png", n_steps=800, max_epochs=1, model="dlinear")
    assert result.model_name == "DLinear" and result.dlinear is None


@pytest.mark.slow
def test_demo_tsm2_command_prints_tsm2_dlinear_and_seasonal_naive(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("demo", "--model", "tsm2", "--epochs", "1")
    assert result.exit_code == 0, result.output
    for row in ("TSM2", "DLinear", "seasonal naive"):
        assert row in result.output
    assert (tmp_path / "tsmamba_demo_forecast.png").is_file()


def test_demo_unknown_model_is_a_clear_error() -> None:
    result = invoke("demo", "--model", "tsm3")
    assert result.exit_code == 2 and "Unknown model 'tsm3'" in result.output and "tsm2" in result.output


def test_datasets_lists_every_card(isolated_env) -> None:
    result = invoke("datasets")
    assert result.exit_code == 0
    for name in ["ETTh1", "ETTh2", "ETTm1", "ETTm2", "Exchange", "ILI", "Weather"]:
        assert name in result.output
    assert "missing" in result.output


def test_datasets_reports_verified_files(data_dir: Path, require_file) -> None:
    require_file("ETTh1.csv")
    result = runner.invoke(app, ["datasets", "--data-dir", str(data_dir)], terminal_width=200)
    assert "verified" in result.output


def test_bench_runs_several_horizons_and_appends_results(data_dir, require_file, tmp_path: Path) -> None:
    require_file("ETTh1.csv")
    stem = tmp_path / "res" / "run"
    args = [
        "bench",
        "--dataset",
        "ETTh1",
        "--model",
        "dlinear",
        "--lookback",
        "48",
        "--horizons",
        "24",
        "48",
        "--seeds",
        "3",
        "--data-dir",
        str(data_dir),
        "--results",
        str(stem),
        "--no-progress",
        "--set",
        "max_epochs=1",
        "--batch-size",
        "512",
        "--markdown",
        str(tmp_path / "t.md"),
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(stem.with_suffix(".csv"), encoding="utf-8")))
    assert [(r["horizon"], r["n_test_windows"]) for r in rows] == [("24", "2857"), ("48", "2833")]  # 2880 - H + 1
    assert list(rows[0]) == RESULT_FIELDS
    config = json.loads(rows[0]["config"])
    assert config["train"]["batch_size"] == 512 and config["train"]["learning_rate"] == 0.005  # ETTh1 script default
    assert config["train"]["max_epochs"] == 1 and config["train"]["seed"] == 3
    jsonl = [json.loads(line) for line in open(stem.with_suffix(".jsonl"), encoding="utf-8")]
    assert len(jsonl) == 2 and jsonl[1]["mse"] == pytest.approx(float(rows[1]["mse"]))
    assert 0.2 < float(rows[0]["mse"]) < 1.5 and float(rows[0]["mse_raw"]) > float(rows[0]["mse"])
    assert "| ETTh1 | dlinear | 48 | 24 | 3 |" in result.output
    assert (tmp_path / "t.md").read_text().count("| ETTh1 |") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "ETTh3"], "Unknown dataset 'ETTh3'"),
        (["--dataset", "ETTh1", "--model", "dlinaer"], "Did you mean 'dlinear'"),
        (["--dataset", "ETTh1", "--set", "kernel=3"], "Model options: individual, moving_avg"),
        (["--dataset", "ETTh1", "--set", "lr_schedule=cosine"], "lr_schedule 'cosine' unknown"),
        (["--dataset", "ETTh1", "--horizons", "0"], "horizon must be a positive"),
        (["--dataset", "ETTh1", "--lookback", "-5", "--horizons", "24"], "lookback must be a positive"),
        (["--dataset", "ETTh1", "--lookback", "96", "--horizons", "3000"], "longer than the val split"),
        (["--dataset", "ETTh1", "--set", "oops"], "--set expects key=value"),
    ],
)
def test_bench_bad_input_gives_a_clear_error(args, message, data_dir, require_file) -> None:
    require_file("ETTh1.csv")
    result = runner.invoke(app, ["bench", *args, "--data-dir", str(data_dir), "--no-progress"], terminal_width=400)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_parse_assignments_reads_json_values_else_strings() -> None:
    assert parse_assignments(
        ["d_model=128", "token_direction=bidirectional", "dropout=0.2", "rev=true", "devices=[0,1]"]
    ) == {"d_model": 128, "token_direction": "bidirectional", "dropout": 0.2, "rev": True, "devices": [0, 1]}


def test_route_options_splits_model_and_training_keys() -> None:
    model, train = route_options("dlinear", {"individual": True, "learning_rate": 0.1, "train.patience": 5})
    assert model == {"individual": True} and train == {"learning_rate": 0.1, "patience": 5}
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['model.learning_rate'\]"):
        route_options("dlinear", {"model.learning_rate": 0.1})


def test_config_files_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"individual": True, "train": {"max_epochs": 3}}))
    (tmp_path / "c.toml").write_text("learning_rate = 0.01\n[model]\nmoving_avg = 13\n")
    assert load_config_file(tmp_path / "c.json") == {"individual": True, "train.max_epochs": 3}
    assert load_config_file(tmp_path / "c.toml") == {"learning_rate": 0.01, "model.moving_avg": 13}
    with pytest.raises(ValueError, match=".json or .toml"):
        (tmp_path / "c.yaml").write_text("a: 1")
        load_config_file(tmp_path / "c.yaml")
    with pytest.raises(FileNotFoundError):
        load_config_file(tmp_path / "absent.json")


def test_results_files_append_and_refuse_foreign_headers(tmp_path: Path) -> None:
    row = {k: 1 for k in RESULT_FIELDS} | {"dataset": "X", "model": "m", "config": "{}"}
    append_results([row], tmp_path / "r")
    append_results([row], tmp_path / "r.csv")
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 3
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="different columns"):
        append_results([row], tmp_path / "other")
    assert "| X | m | 1 | 1 | 1 | 1.000 |" in markdown_table([row])


SHRINK = {"d_model": 16, "n_heads": 4, "d_ff": 32, "n_layers": 1, "d_state": 4}


@pytest.mark.parametrize(
    "name", ["dlinear", pytest.param("patchtst", marks=pytest.mark.slow), pytest.param("tsm2", marks=pytest.mark.slow)]
)
def test_bench_runs_every_registry_model(name, data_dir, require_file, tmp_path: Path) -> None:
    import dataclasses

    from tsmamba.models.registry import get_model_spec, model_names

    assert name in model_names()
    require_file("ETTh1.csv")
    fields = {f.name for f in dataclasses.fields(get_model_spec(name).config_cls)}
    shrink = [f"--set={k}={v}" for k, v in SHRINK.items() if k in fields]  # tiny, whatever the model's size knobs
    result = invoke(
        "bench",
        "--dataset",
        "ETTh1",
        "--model",
        name,
        "--lookback",
        "48",
        "--horizons",
        "24",
        "--set",
        "max_epochs=1",
        "--batch-size",
        "512",
        "--data-dir",
        str(data_dir),
        "--no-progress",
        "--results",
        str(tmp_path / "r"),
        *shrink,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert rows[0]["model"] == name and rows[0]["n_test_windows"] == str(2880 - 24 + 1)
    assert float(rows[0]["mse"]) > 0


def test_demo_refuses_to_replace_an_existing_out_file_without_overwrite(tmp_path: Path) -> None:
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"a user's own file")
    result = invoke("demo", "--model", "dlinear", "--epochs", "1", "--out", str(mine))
    assert result.exit_code == 2
    assert "--out" in result.output and "--overwrite" in result.output
    assert mine.read_bytes() == b"a user's own file"
    assert invoke("demo", "--model", "dlinear", "--epochs", "1", "--out", str(mine), "--overwrite").exit_code == 0
    assert mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
