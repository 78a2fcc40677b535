"""Write a copy of ``kernels/`` whose scan backward has switchable stages, to time where the backward spends.

No profiler counters are needed: time the copy (imported as ``tsmamba.kernels`` through a shim package) with
``kernel_bench.py --sweep --extra-bwd "{'skip': 2}" ...`` and take differences. ``BWD_CONFIG["skip"]`` bits:
1 the recompute loop, 2 the dB/dC reduce-scatter, 4 the walk's decay exp2, 8 the next step's scratch load, 16 the
du/dΔ/dz stores: stages left out, so the gradients are wrong (timing only). 32 is a real variant (gradients
right): B_t, C_t and h_t loaded at their step instead of prefetched a step ahead, 48 fewer live registers, for
occupancy under a register cap (``maxnreg``). The edits are exact text replacements: a kernel change that moves
them makes this script fail, loudly, rather than write a probe that times something else.

    python benchmarks/scan_stage_probe.py --out /tmp/probe/tsmamba/kernels
    touch /tmp/probe/tsmamba/__init__.py
    PYTHONPATH=/tmp/probe python benchmarks/kernel_bench.py --device cuda --sweep --extra-bwd "{'skip': 32}"
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

KERNELS = Path(__file__).resolve().parents[1] / "kernels"

_B_NEXT = "            bv_n = tl.load(b_row + t_n * s_bl, mask=mask_n, other=0.0).to(tl.float32)\n"
_C_NEXT = "            cv_n = tl.load(c_row + t_n * s_cl, mask=mask_n, other=0.0).to(tl.float32)\n"
_H_NEXT = "            hj_n = tl.load(scratch + j_n * (BLOCK_N * s_sp))\n"
_DZ = "                tl.store(dz_row + t * s_wl, go * y * sz * (1.0 + z * (1.0 - sz)), mask=mask_d & ok_d)"
_DU_DDT = (
    "            tl.store(du_row + t * s_xl, du, mask=mask_d & ok_d)\n"
    "            tl.store(ddt_row + t * s_el, ddt, mask=mask_d & ok_d)\n"
)
_DECAY = "            q = tl.exp2(dt[None, :] * A2) * g"

EDITS = [
    (
        "\nBLOCK_D = 32\n",
        '\nBWD_CONFIG["skip"] = 0  # probe copy\nBLOCK_D = 32\n',
    ),
    (
        "    PREFETCH: tl.constexpr = False,\n):",
        "    PREFETCH: tl.constexpr = False,\n    SKIP: tl.constexpr = 0,\n):",
    ),
    (
        "        for j in range(0, steps):\n",
        "        for j in range(0, steps if (SKIP & 1) == 0 else 0):\n",
    ),
    (
        _B_NEXT + _C_NEXT + _H_NEXT,
        "            if (SKIP & 32) == 0:\n    " + _B_NEXT + "    " + _C_NEXT + "            else:\n"
        "                bv = tl.load(b_row + t * s_bl, mask=mask_n, other=0.0).to(tl.float32)\n"
        "                cv = tl.load(c_row + t * s_cl, mask=mask_n, other=0.0).to(tl.float32)\n"
        "                hj = tl.load(scratch + j * (BLOCK_N * s_sp))\n"
        "                bv_n, cv_n = bv, cv\n"
        "            if (SKIP & 40) == 0:\n    " + _H_NEXT + "            else:\n                hj_n = hj\n",
    ),
    (
        _DZ,
        "                if (SKIP & 16) == 0:\n    "
        + _DZ
        + "\n                else:\n                    dD_acc += y * sz",
    ),
    (
        "            if SCATTER:\n                ok_i",
        "            if (SKIP & 2) != 0:\n                pass\n            elif SCATTER:\n                ok_i",
    ),
    (
        _DU_DDT + _DECAY,
        "            if (SKIP & 16) == 0:\n"
        + "".join("    " + line + "\n" for line in _DU_DDT.splitlines())
        + "            else:\n                dbias_acc += du\n"
        + "            if (SKIP & 4) == 0:\n    "
        + _DECAY
        + "\n            else:\n                q = (dt[None, :] * A2) * g",
    ),
    (
        "        SCATTER=block_d == 32 and block_n <= 32,",
        '        SCATTER=block_d == 32 and block_n <= 32, SKIP=cfg["skip"],',
    ),
]


def write_probe(out: Path) -> Path:
    """Copy kernels/ to ``out`` and add the ``skip`` switches to its scan backward; returns ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(KERNELS, out, ignore=shutil.ignore_patterns("__pycache__"))
    path = out / "scan_triton_bwd.py"
    text = path.read_text()
    for old, new in EDITS:
        if text.count(old) != 1:
            raise RuntimeError(f"scan_stage_probe: kernels/scan_triton_bwd.py changed, {old[:60]!r} is not there once")
        text = text.replace(old, new)
    path.write_text(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced): .../tsmamba/kernels")
    print("probe kernels written to", write_probe(parser.parse_args().out))


if __name__ == "__main__":
    main()
