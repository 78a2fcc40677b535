"""An L2 prefetch hint for Triton kernels: ask the L2 for global lines ahead of their loads, without waiting.

Inline PTX (``prefetch.global.L2``), which Triton's CPU interpreter cannot run; callers gate it on
``CACHE_HINTS``. A hint only: it returns no value and cannot fault (masked lanes issue nothing).
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

# False under Triton's interpreter (no inline PTX there); the hint changes no value, so kernels simply skip it
CACHE_HINTS = os.environ.get("TRITON_INTERPRET") != "1"


@triton.jit
def prefetch_l2(ptrs, mask):
    """Ask the L2 for the lines at ``ptrs`` (where ``mask``) without waiting: a hint, no value, no fault."""
    tl.inline_asm_elementwise(
        "{ .reg .pred p; setp.ne.b32 p, $2, 0; @p prefetch.global.L2 [$1]; mov.u32 $0, 0; }",
        "=r,l,r", [ptrs, mask.to(tl.int32)], dtype=tl.int32, is_pure=False, pack=1,
    )  # fmt: skip
