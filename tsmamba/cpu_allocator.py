"""glibc malloc thresholds for CPU training, so a step's multi-megabyte temporaries reuse heap pages.

With glibc's defaults a freed block of a few MB is returned to the kernel (a munmap, or a heap trim once the free
top of the heap passes ~2x the dynamic mmap threshold), and the next step's block of the same size faults its
pages in again, zero-filled. The selective scan's CPU path allocates several such (T, batch, dim, N) blocks per
call; fixing the thresholds took 11-31 % off TSM2's step on the 2-core machine
(benchmarks/results/cpu_step_speed.md). Fixing both thresholds keeps those pages in the process: what
jemalloc/tcmalloc or PyTorch's CUDA caching allocator do by design. The cost is memory held after a peak: up to
``TRIM_THRESHOLD`` bytes of free heap top are kept instead of returned.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap: glibc's largest dynamic mmap threshold
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of free heap top
ENV = "TSMAMBA_CPU_ALLOCATOR"

_state: dict[str, bool] = {}


def tune_cpu_allocator() -> bool:
    """Set glibc's mmap and trim thresholds for this process, once; True when set, False without glibc.

    Process-wide and kept for the process's life, so the switches are too: ``TSMAMBA_CPU_ALLOCATOR=default`` in the
    environment makes this a no-op (for the forecasters, whose training calls it), and
    ``TrainConfig(tune_cpu_allocator=False)`` stops one training run from calling it. Other allocators (macOS,
    Windows, musl, an LD_PRELOADed jemalloc) are left alone.
    """
    if "tuned" not in _state:
        setting = os.environ.get(ENV, "tuned").strip().lower()
        if setting not in ("tuned", "default"):
            raise ValueError(f"{ENV}={setting!r}: use 'tuned' (the default) or 'default' (leave glibc's malloc alone).")
        _state["tuned"] = setting == "tuned" and (
            _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    return _state["tuned"]


def _mallopt(parameter: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: musl's mallopt is a stub that ignores its arguments
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))
