"""The explicit package list in pyproject.toml must name every source folder, or a wheel silently lacks it."""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), config["package-dir"]


def test_every_python_folder_is_a_declared_package() -> None:
    packages, package_dir = _declared()
    folders = {path.parent for path in (ROOT / "tsmamba").rglob("*.py") if "__pycache__" not in path.parts}
    expected = {".".join(folder.relative_to(ROOT).parts) for folder in folders}
    expected |= {name for name, folder in package_dir.items() if any((ROOT / folder).glob("*.py"))}
    missing = expected - packages
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_mapped_folders_exist_and_cards_ship() -> None:
    packages, package_dir = _declared()
    for name, folder in package_dir.items():
        assert name in packages and (ROOT / folder).is_dir(), (name, folder)
    assert any((ROOT / package_dir["tsmamba.dataset_cards"]).glob("*.json"))
    assert not (ROOT / package_dir["tsmamba.dataset_cards"] / "__init__.py").exists(), (
        "datasets/ must not be importable"
    )
