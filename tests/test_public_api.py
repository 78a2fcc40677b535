"""The package root: every public name resolves, lazily (``import tsmamba`` and ``tsmamba --help`` stay light)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tsmamba


def test_all_lists_exactly_the_lazy_exports_and_each_resolves() -> None:
    assert set(tsmamba.__all__) == set(tsmamba._EXPORTS) | {"__version__"}
    assert len(tsmamba.__all__) == len(set(tsmamba.__all__))
    for name in tsmamba.__all__:
        assert getattr(tsmamba, name) is not None, name
    assert set(tsmamba.__all__) <= set(dir(tsmamba))


def test_unknown_attribute_is_an_attribute_error_and_subpackages_load_on_use() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'TSM3Forecaster'"):
        _ = tsmamba.TSM3Forecaster  # type: ignore[attr-defined]
    assert tsmamba.recipes.resolve is not None  # type: ignore[attr-defined]


def test_importing_the_package_and_the_cli_does_not_import_torch() -> None:
    # the CLI's --help and version answer without loading torch, Lightning or scikit-learn
    heavy = "('torch', 'lightning', 'sklearn')"
    code = f"import sys, tsmamba, tsmamba.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
