"""tsmamba.cpu_allocator: glibc's malloc thresholds are set once per process, and CPU training asks for it."""

from __future__ import annotations

import ctypes
import sys

import pytest

import tsmamba.cpu_allocator as cpu_allocator
import tsmamba.training as training
from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.training import TrainConfig, fit_model

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")


@pytest.mark.skipif(not GLIBC, reason="mallopt's thresholds exist in glibc only")
def test_thresholds_are_set_once_on_glibc(monkeypatch) -> None:
    calls = []
    real = cpu_allocator._mallopt
    monkeypatch.delenv("TSMAMBA_CPU_ALLOCATOR", raising=False)
    monkeypatch.setattr(cpu_allocator, "_state", {})
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda p, v: calls.append((p, v)) or real(p, v))
    assert cpu_allocator.tune_cpu_allocator() is True
    assert cpu_allocator.tune_cpu_allocator() is True
    assert calls == [
        (cpu_allocator.M_MMAP_THRESHOLD, cpu_allocator.MMAP_THRESHOLD),
        (cpu_allocator.M_TRIM_THRESHOLD, cpu_allocator.TRIM_THRESHOLD),
    ]


def test_other_platforms_are_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(cpu_allocator, "_state", {})
    monkeypatch.setattr(cpu_allocator.sys, "platform", "darwin")
    assert cpu_allocator.tune_cpu_allocator() is False


@pytest.mark.parametrize("tune", [True, False])
def test_cpu_training_tunes_the_allocator_unless_told_not_to(monkeypatch, standardised_series, tune: bool) -> None:
    asked = []
    monkeypatch.setattr(training, "tune_cpu_allocator", lambda: asked.append(True) or True)
    train = WindowDataset(standardised_series, 48, 12, 0, 400)
    config = TrainConfig(max_epochs=1, accelerator="cpu", tune_cpu_allocator=tune)
    fit_model(DLinearModel(DLinearConfig(), 48, 12, 3), train, None, config)
    assert asked == ([True] if tune else [])


def test_environment_switch_leaves_malloc_alone_or_names_its_values(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda p, v: calls.append(p) or True)
    monkeypatch.setattr(cpu_allocator, "_state", {})
    monkeypatch.setenv("TSMAMBA_CPU_ALLOCATOR", "default")
    assert cpu_allocator.tune_cpu_allocator() is False and calls == []
    monkeypatch.setattr(cpu_allocator, "_state", {})
    monkeypatch.setenv("TSMAMBA_CPU_ALLOCATOR", "fast")
    with pytest.raises(ValueError, match="TSMAMBA_CPU_ALLOCATOR='fast'.*'tuned'.*'default'"):
        cpu_allocator.tune_cpu_allocator()
