"""Coverage of the forecasters' conformal intervals on ETTh1's held-out test months (CPU-sized).

A DLinear forecaster is cross-validated over the ETTh1 test part (rows [11520, 14400) of the standard 12/4/4
month split): ``n_windows`` windows of ``h`` steps, ``step_size=h``, one model trained on everything before the
first cutoff (train + val months) and calibrated on its last ``conformal_windows`` rolling windows. Prints a
markdown table: per nominal level, the empirical coverage over all (window, step, series) points, by horizon
third, and the mean interval width on the standardised scale of the training part.

    TSMAMBA_DATA_DIR=/work/shared/datasets python benchmarks/conformal_coverage.py --max-epochs 3
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch

import tsmamba
from tsmamba import DLinearForecaster, load_dataset

TEST_END, TEST_START = 14400, 11520  # ETTh1 12/4/4 months: test = [11520, 14400)
LEVELS = (50, 80, 90, 95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--h", type=int, default=96)
    parser.add_argument("--input-size", type=int, default=336)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--conformal-windows", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    df = load_dataset("ETTh1").to_pandas().iloc[:TEST_END]
    n_windows = (TEST_END - TEST_START - args.h) // args.h + 1
    cuts = [0, args.h // 3, 2 * args.h // 3, args.h]
    thirds = " | ".join(f"steps {a + 1}-{b}" for a, b in zip(cuts, cuts[1:], strict=False))
    rows = [
        f"| conformal_windows | level | coverage | {thirds} | mean width (std units) |",
        "|---|---|---|---|---|---|---|",
    ]
    scale = df.iloc[:TEST_START].drop(columns="date").std(ddof=0)
    for n_cal in args.conformal_windows:
        start = time.perf_counter()
        model = DLinearForecaster(
            h=args.h,
            input_size=args.input_size,
            max_epochs=args.max_epochs,
            accelerator="cpu",
            time_col="date",
            conformal_windows=n_cal,
        )
        cv = model.cross_validation(df, n_windows=n_windows, level=list(LEVELS))
        seconds = time.perf_counter() - start
        cv["step"] = cv.groupby(["unique_id", "cutoff"]).cumcount()
        width_scale = cv["unique_id"].map(scale)
        for level in LEVELS:
            lo, hi = cv[f"DLinear-lo-{level}"], cv[f"DLinear-hi-{level}"]
            inside = (cv["y"] >= lo) & (cv["y"] <= hi)
            thirds = [inside[(cv["step"] >= a) & (cv["step"] < b)].mean() for a, b in zip(cuts, cuts[1:], strict=False)]
            width = ((hi - lo) / width_scale).mean()
            rows.append(
                f"| {n_cal} | {level}% | {inside.mean():.3f} | "
                + " | ".join(f"{t:.3f}" for t in thirds)
                + f" | {width:.2f} |"
            )
        print(
            f"conformal_windows={n_cal}: {n_windows} windows x {args.h} steps x 7 series in {seconds:.0f} s", flush=True
        )
    print(
        f"\nETTh1 test months, DLinear h={args.h} input_size={args.input_size} max_epochs={args.max_epochs}, "
        f"{n_windows} windows (step {args.h}); tsmamba {tsmamba.__version__}, torch {torch.__version__}, "
        f"pandas {pd.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()} CPU, "
        f"{args.threads} threads\n"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
