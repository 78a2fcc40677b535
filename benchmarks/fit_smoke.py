"""Trains a small TSM2 with each execution mode on synthetic windows and prints losses and fit time (a GPU check).

The modes draw different dropout masks, so the losses agree only roughly; the point is that every mode trains,
handles the last partial batch, and how long the fit takes. Example: ``python benchmarks/fit_smoke.py``.
"""

from __future__ import annotations

import sys

import torch

from tsmamba.data.synthetic import synthetic_series
from tsmamba.data.windows import WindowDataset
from tsmamba.models.registry import build_model, make_config
from tsmamba.training import TrainConfig, fit_model, predict_windows


def main(modes: list[str]) -> None:
    series = torch.as_tensor(synthetic_series(3000, 7, seed=0), dtype=torch.float32)
    train = WindowDataset(series[:2200], 512, 96)
    val = WindowDataset(series[1700:], 512, 96)
    for mode in modes:
        torch.manual_seed(0)
        model = build_model("tsm2", make_config("tsm2", "ETTh1"), 512, 96, 7)
        config = TrainConfig(batch_size=64, max_epochs=3, patience=None, execution=mode, seed=1)
        result = fit_model(model, train, val, config)
        pred = predict_windows(result.model, val, batch_size=64, device="cuda", execution=mode)
        mse = torch.mean((pred - val.gather(torch.arange(len(val)))[1].cpu()) ** 2).item()
        losses = [round(h.get("train_loss", float("nan")), 4) for h in result.history]
        print(f"{mode:15s} fit {result.fit_seconds:6.1f} s  train losses {losses}  val mse {mse:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["eager", "graphs"])
