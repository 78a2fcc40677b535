"""Load one source file of the project as it is in a file or at a git revision, as a module beside the installed
one, so a benchmark can time an earlier version of a kernel in the same process (interleaved, same machine
state) instead of in another run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType


def load_revision_module(where: str, repo_path: str, name: str, replace: dict[str, str] | None = None) -> ModuleType:
    """``repo_path`` (e.g. ``kernels/scan_torch.py``) from the file ``where`` or from git revision ``where``, each
    key of ``replace`` in its source replaced by its value (e.g. a custom-op namespace), imported as ``name``. Its
    relative imports resolve in the installed package that holds ``repo_path`` (``kernels/`` is
    ``tsmamba.kernels``): helpers come from the working tree, only this file is the revision's."""
    if Path(where).is_file():
        source = Path(where).read_text()
    else:
        git = ["git", "show", f"{where}:{repo_path}"]
        source = subprocess.run(git, capture_output=True, text=True, check=True).stdout
    for old, new in (replace or {}).items():
        source = source.replace(old, new)
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    parent = Path(repo_path).parent.as_posix()
    module.__package__ = "tsmamba.kernels" if parent == "kernels" else parent.replace("/", ".")
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
