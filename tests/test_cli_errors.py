"""CLI errors: one unwrapped ``error:`` line on stderr, nothing on stdout, exit code 2 (scripts can grep them)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tsmamba.cli import app

runner = CliRunner()


def _run(*args: str):
    # a narrow terminal: a message that wraps at the terminal width would show up as several lines
    return runner.invoke(
        app, list(args), catch_exceptions=False, terminal_width=40, env={"COLUMNS": "40"}, prog_name="tsmamba"
    )


def _assert_one_error_line(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_bad_input_error_is_one_long_line_on_stderr() -> None:
    name = "model_" + "x" * 150
    line = _assert_one_error_line(_run("demo", "--model", name), f"Unknown model '{name}'", "Known models:")
    assert len(line) > 160  # longer than any terminal it was not wrapped for


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["bench"], ["Missing option '--dataset'", "tsmamba bench --help"]),
        (["demo", "--bogus"], ["No such option: --bogus", "tsmamba demo --help"]),
        (["demo", "--epochs", "many"], ["Invalid value for '--epochs'"]),
        (["nope"], ["No such command 'nope'", "tsmamba --help"]),
    ],
)
def test_usage_errors_are_one_line_on_stderr(args: list[str], fragments: list[str]) -> None:
    _assert_one_error_line(_run(*args), *fragments)


def test_bare_command_still_shows_the_help() -> None:
    result = _run()
    assert "demo" in result.output and "bench" in result.output
    assert "error:" not in result.output


@pytest.mark.parametrize("args", [["--horizons"], ["--horizons", "--seeds", "1"], ["--seeds", "--horizons", "96"]])
def test_a_list_flag_without_values_is_an_error_not_the_defaults(args: list[str]) -> None:
    flag = args[0]
    _assert_one_error_line(_run("bench", "--dataset", "ETTh1", *args), f"{flag} needs at least one value")
