"""The README's "Forecaster API" section runs as written, on the first 1000 rows of ETTh1.

The Python blocks are extracted from README.md and executed in order in one namespace (in a temporary working
directory); ``load_dataset`` is replaced by one returning the first 1000 rows of the real, verified file, so the
snippet's own settings stay those a reader sees.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import matplotlib
import polars as pl
import pytest

import tsmamba
import tsmamba.data.loader as loader

matplotlib.use("Agg")
README = Path(__file__).resolve().parents[1] / "README.md"
ROWS = 1000


def forecaster_blocks() -> list[str]:
    """Python code blocks between the '## Forecaster API' heading and the next heading or section marker."""
    text = README.read_text()
    start = text.index("## Forecaster API")
    end = min(i for i in (text.find("\n## ", start + 1), text.find("\n<!-- section", start + 1), len(text)) if i > 0)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_readme_has_pandas_and_polars_examples() -> None:
    blocks = forecaster_blocks()
    assert len(blocks) >= 2
    joined = "\n".join(blocks)
    for step in (".fit(", ".predict(", ".cross_validation(", ".plot(", ".save(", "load_forecaster(", "import polars"):
        assert step in joined, f"README example lacks {step}"


@pytest.mark.slow  # a subprocess, a compile or the interpreter: seconds to a minute on 2 cores
def test_readme_forecaster_section_runs(require_file, data_dir, monkeypatch, tmp_path) -> None:
    require_file("ETTh1.csv")
    full = loader.load_dataset("ETTh1", data_dir=data_dir)
    small = dataclasses.replace(full, frame=full.frame.head(ROWS))
    for module in (loader, tsmamba):  # the README imports it from the package root
        monkeypatch.setattr(module, "load_dataset", lambda name, *args, **kwargs: small)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in forecaster_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    assert isinstance(namespace["forecast"], pl.DataFrame)
    assert (tmp_path / "etth1_dlinear_cv.png").is_file() and (
        tmp_path / "etth1_dlinear_polars" / "config.json"
    ).is_file()
    assert namespace["cv"].height == 3 * 96 * 7
    assert namespace["one"]["unique_id"].to_list() == ["OT"] * 96  # the panel example: one series of a ragged fit
    assert set(namespace["search"].best_params_) == {"learning_rate"}
