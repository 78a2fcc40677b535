"""Every third-party module the package imports is declared in pyproject.toml, and a plain install needs no extra.

An undeclared import passes wherever the module happens to be installed and fails on a fresh machine (typer 0.29
stopped bringing click, which the CLI imported). The imports are read from the source (ast), so imports inside
functions and optional backends count too.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("tsmamba", "kernels")
# tomllib is standard from Python 3.11; bench.py turns its absence on 3.10 into a clear error
STDLIB = set(sys.stdlib_module_names) | {"tomllib"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalise(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req.strip()).group(0)) for req in requirements}


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: _requirement_names(reqs) for name, reqs in project.get("optional-dependencies", {}).items()}
    return _requirement_names(project["dependencies"]), extras


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level module name -> the places (file:line) that import it."""
    found: dict[str, list[str]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in STDLIB and top not in ("tsmamba", "__future__"):
                        found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _distributions(module: str) -> set[str]:
    """Distributions that provide ``module``; a module not installed here is assumed to be its own name."""
    return {_normalise(d) for d in packages_distributions().get(module, [module])}


def test_every_imported_module_is_declared() -> None:
    base, extras = _declared()
    declared = base.union(*extras.values())
    imports = _third_party_imports()
    assert "torch" in imports and "typer" in imports  # the scan sees the package's imports
    undeclared = {m: places for m, places in imports.items() if not _distributions(m) & declared}
    assert not undeclared, (
        f"imported but not declared in pyproject.toml: {undeclared}. Add the distribution to [project] "
        "dependencies (or to an extra, for an optional backend guarded by an ImportError), or stop importing it."
    )


def test_optional_backends_live_in_extras_not_in_the_base_install() -> None:
    base, extras = _declared()
    assert "triton" not in base, "triton belongs in the gpu/test extras: CUDA torch brings it, CPU installs skip it"
    assert "triton" in extras["gpu"] and "triton" in extras["test"]
    assert "mamba-ssm" in extras["mamba"] and "mamba-ssm" not in base


BLOCKED_IMPORT_RUN = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("triton", "mamba_ssm"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: a plain CPU install)")
sys.meta_path.insert(0, Block())
import torch
import tsmamba, tsmamba.cli
from tsmamba.kernels import selective_scan
from typer.testing import CliRunner
u = torch.randn(1, 2, 5); A = -torch.rand(2, 3); B = torch.randn(1, 3, 5)
assert selective_scan(u, u.abs(), A, B, B).shape == u.shape
result = CliRunner().invoke(tsmamba.cli.app, ["--help"])
assert result.exit_code == 0 and "demo" in result.output, result.output
print("ok")
"""


@pytest.mark.slow  # a subprocess, a compile or the interpreter: seconds to a minute on 2 cores
def test_plain_install_works_without_the_optional_backends() -> None:
    # triton and mamba_ssm made unimportable: the package, its CLI and the CPU scan must not need them
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    result = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT_RUN], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
