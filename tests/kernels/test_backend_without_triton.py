"""Without Triton installed: CUDA tensors take the PyTorch path after one warning; asking for Triton is an error."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch

# the module, not the function of the same name that tsmamba.kernels exports
selective_scan_module = importlib.import_module("tsmamba.kernels.selective_scan")


@pytest.fixture
def no_triton(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(selective_scan_module, "_triton_installed", lambda: False)
    selective_scan_module._warn_no_triton.cache_clear()
    yield
    selective_scan_module._warn_no_triton.cache_clear()


def test_cuda_without_triton_warns_once_and_uses_torch(no_triton) -> None:
    cuda = torch.device("cuda")  # only the device type is looked at: no GPU needed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = [selective_scan_module._resolve_backend("auto", cuda) for _ in range(3)]
    assert chosen == ["torch"] * 3
    assert len(caught) == 1 and issubclass(caught[0].category, RuntimeWarning)
    assert "Triton is not installed" in str(caught[0].message) and "pip install triton" in str(caught[0].message)


def test_cpu_without_triton_is_silent_and_explicit_triton_is_an_error(no_triton) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert selective_scan_module._resolve_backend("auto", torch.device("cpu")) == "torch"
    with pytest.raises(ValueError, match="needs the triton package"):
        selective_scan_module._resolve_backend("triton", torch.device("cuda"))
