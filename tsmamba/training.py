"""Training: one LightningModule for every forecasting model.

Any ``nn.Module`` mapping ``x[B, L, M] -> y[B, H, M]`` trains here with Adam on
the MSE loss (or ``TrainConfig.loss``: MAE and the quantile losses of :mod:`tsmamba.losses`),
an optional learning-rate schedule (the benchmark scripts'
``type1``/``type3`` per-epoch decays or PatchTST's one-cycle 'TST' schedule),
early stopping on the validation loss with the best weights restored, optional
bf16 mixed precision, gradient clipping and an exponential moving average of the
weights (``ema_decay``: validation, early stopping and the result use the average).
Batches are gathered by index from a :class:`~tsmamba.data.windows.WindowDataset`;
with ``data_on_device`` the whole split lives on the GPU, so the DataLoader only
shuffles integers.

Several GPUs: ``TrainConfig(accelerator="gpu", devices=4, strategy="ddp")``
(CLI: ``--set devices=4 --set strategy=ddp``). Lightning's ``ddp`` strategy
re-launches the running script once per GPU; each process trains on its shard
of the training windows and keeps identical weights; evaluation afterwards
runs in each process and only global rank 0 writes results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from torch import nn
from torch.utils.data import DataLoader

from tsmamba.cpu_allocator import tune_cpu_allocator
from tsmamba.data.windows import WindowDataset
from tsmamba.execution import EXECUTIONS, FastForward
from tsmamba.losses import Loss, make_loss
from tsmamba.weight_averaging import WeightAverage

LR_SCHEDULES = ("constant", "type1", "type3", "onecycle")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "64-true")


@dataclass
class TrainConfig:
    """Every optimisation choice of one training run (defaults: the LTSF-Linear run_longExp.py defaults)."""

    learning_rate: float = 1e-4  # Adam step size (the peak for 'onecycle')
    batch_size: int = 32  # training windows per step
    max_epochs: int = 10  # upper bound on passes over the training windows
    max_steps: int = -1  # upper bound on optimiser steps; -1: no limit (max_epochs alone decides)
    patience: int | None = 3  # validations without a lower val loss before stopping; None: never stop early
    val_check_steps: int | None = None  # validate every this many optimiser steps; None: once per epoch (and after
    # the last step whenever it was not validated, so the best-weight restore sees every step)
    lr_schedule: str = "constant"  # 'constant', 'type1' (halve each epoch), 'type3' (x0.9 after epoch 3), 'onecycle'
    pct_start: float = 0.3  # 'onecycle': fraction of steps spent warming up (PatchTST uses 0.3 or 0.4)
    weight_decay: float = 0.0  # Adam L2 penalty; the reference scripts use none
    precision: str = "32-true"  # Lightning precision: '32-true', 'bf16-mixed' (GPU), '16-mixed', '64-true'
    gradient_clip: float | None = None  # clip the gradient norm to this value; None: no clipping
    # exponential moving average of the weights over optimiser steps (tsmamba.weight_averaging): validation, early
    # stopping, the best-weight restore and the returned model use the average; None: off (0.99 averages ~100 steps)
    ema_decay: float | None = None
    seed: int = 2021  # seeds shuffling, dropout and (in the benchmark) initialisation
    accelerator: str = "auto"  # 'auto', 'cpu', 'gpu'
    devices: int | str | list[int] = 1  # number (or list) of devices; >1 with strategy='ddp'
    strategy: str = "auto"  # Lightning strategy, e.g. 'ddp' for several GPUs
    data_on_device: bool | None = None  # keep the splits on the GPU; None: when they fit under the limit below
    data_on_device_max_bytes: int = 2 << 30  # auto-mode limit for one split's rows on the GPU
    drop_last: bool = False  # drop the last partial training batch (the reference scripts do); never in evaluation
    eval_batch_size: int | None = None  # batch for validation/prediction; None: max(batch_size, 256)
    progress_bar: bool = False  # Lightning's progress bar (the CLI turns it on)
    epoch_log: bool = False  # one line per epoch on stderr (epoch, losses, seconds); the CLI's --no-progress
    log_dir: str | None = None  # write Lightning CSV logs here; None: no log files at all
    deterministic: bool = False  # Lightning deterministic mode (CPU runs are reproducible without it)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)  # extra lightning.Trainer arguments
    execution: str = "auto"  # CUDA fast path (tsmamba.execution): 'auto' (graphs on one GPU), 'eager', 'graphs', ...
    tune_cpu_allocator: bool = True  # on the CPU, keep malloc's freed pages in the process (tsmamba.cpu_allocator)
    # training and validation (early-stopping) loss, tsmamba.losses: 'MSE', 'MAE', QuantileLoss(q), MQLoss(level=...);
    # kept as its small dict (Loss.to_dict) so the config stays JSON-ready. Models for MQLoss output h * Q steps.
    loss: Loss | str | dict[str, Any] = "MSE"

    def __post_init__(self) -> None:
        self.loss = make_loss(self.loss).to_dict()
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r} unknown; use one of {', '.join(LR_SCHEDULES)}.")
        if self.execution not in EXECUTIONS:
            raise ValueError(f"execution {self.execution!r} unknown; use one of {', '.join(EXECUTIONS)}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} unknown; use one of {', '.join(PRECISIONS)}.")
        if self.learning_rate <= 0 or self.batch_size <= 0 or self.max_epochs <= 0:
            raise ValueError("learning_rate, batch_size and max_epochs must be positive.")
        if not 0.0 < self.pct_start < 1.0:
            raise ValueError(f"pct_start must lie in (0, 1), got {self.pct_start}.")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be positive or -1 (no limit), got {self.max_steps}.")
        if self.val_check_steps is not None and (isinstance(self.val_check_steps, bool) or self.val_check_steps < 1):
            raise ValueError(f"val_check_steps must be a positive integer or None, got {self.val_check_steps}.")
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"patience must be positive or None (no early stopping), got {self.patience}.")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1) or be None (no averaging), got {self.ema_decay}.")

    @property
    def loss_function(self) -> Loss:
        """The ``loss`` option as a :class:`~tsmamba.losses.Loss`."""
        return make_loss(self.loss)

    @property
    def prediction_batch_size(self) -> int:
        """Batch size for validation and prediction."""
        return self.eval_batch_size or max(self.batch_size, 256)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every option (for CLI/config validation)."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise an error listing the valid ones."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"Unknown training option(s) {unknown}. Valid options: {', '.join(cls.field_names())}.")
        return cls(**values)


@dataclass
class FitResult:
    """What :func:`fit_model` returns: the trained model (best validation weights) and its history."""

    model: nn.Module
    best_val_loss: float | None
    best_epoch: int | None
    epochs_run: int
    stopped_early: bool
    fit_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def lr_factor(schedule: str, epoch: int) -> float:
    """Multiplier of the base learning rate during 0-based ``epoch`` for the per-epoch schedules.

    'type1' and 'type3' reproduce ``adjust_learning_rate`` of the Autoformer/PatchTST/LTSF-Linear code, which
    runs after each epoch with ``epoch + 1``: type1 trains epochs 0 and 1 at the base rate, then halves it every
    epoch; type3 keeps the base rate through epoch 3, then multiplies by 0.9 per epoch.
    """
    if schedule == "type1":
        return 1.0 if epoch == 0 else 0.5 ** (epoch - 1)
    if schedule == "type3":
        return 1.0 if epoch < 3 else 0.9 ** (epoch - 3)
    if schedule == "constant":
        return 1.0
    raise ValueError(f"lr_factor has no per-epoch rule for schedule {schedule!r}.")


def epoch_line(entry: dict[str, float], max_epochs: int | None = None) -> str:
    """One log line for a finished epoch: ``epoch 3/100 train_loss 0.41234 val_loss 0.66501 lr 1.0e-04 12.3s``.

    Epochs count from 1 here (as a person reads them); ``history`` keeps Lightning's 0-based index.
    """
    epoch = f"epoch {int(entry['epoch']) + 1}" + (f"/{max_epochs}" if max_epochs and max_epochs > 0 else "")
    parts = [epoch]
    for key in ("train_loss", "val_loss"):
        if key in entry:
            parts.append(f"{key} {entry[key]:.5f}")
    if "lr" in entry:
        parts.append(f"lr {entry['lr']:.1e}")
    if "seconds" in entry:
        parts.append(f"{entry['seconds']:.1f}s")
    return " ".join(parts)


# Parameters that weight decay must not pull towards zero: Mamba's state matrix (A = -exp(A_log); decay would
# push A towards -1 and erase the S4D-real spectrum) and its skip D (mamba_ssm marks both `_no_weight_decay`).
NO_WEIGHT_DECAY = ("A_log", "D")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimiser groups: ``weight_decay`` on every parameter except those named in ``NO_WEIGHT_DECAY``."""
    decay: list[nn.Parameter] = []
    keep: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (keep if name.rpartition(".")[2] in NO_WEIGHT_DECAY else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def adam(groups: list[dict[str, Any]], learning_rate: float, fused: bool = True) -> torch.optim.Adam:
    """Adam with torch's fused kernel (unless ``fused`` is False) where every parameter is on the CPU or a CUDA
    device: one multi-tensor kernel a step instead of about ten launches and a Python loop over the tensors, host
    time that a small CUDA-graphed model's step otherwise waits on. The same update (Adam's formulas, fp32 state)."""
    params = [p for group in groups for p in group["params"]]
    fused = fused and bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(groups, lr=learning_rate, fused=fused)


class ForecastModule(L.LightningModule):
    """Wraps any forecaster for Lightning: Adam + the config's loss (MSE by default), windows gathered by index.

    The loss sees the model's raw outputs: ``[B, H, M]``, or ``[B, H * Q, M]`` for a multi-quantile loss.
    """

    def __init__(
        self, model: nn.Module, config: TrainConfig, train: WindowDataset, val: WindowDataset | None = None
    ) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.train_windows, self.val_windows = train, val
        self._sums: dict[str, tuple[torch.Tensor | float, int]] = {}
        self.history: list[dict[str, float]] = []  # per epoch: lr, train_loss, val_loss (window-weighted), seconds
        self._epoch_started = 0.0
        self.fast = FastForward(model, config.execution)  # a plain attribute: not a submodule, no extra state
        self.loss_function = config.loss_function
        self.averager = WeightAverage(model, config.ema_decay) if config.ema_decay is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_fit_start(self) -> None:
        if self.trainer.world_size > 1 and self.config.execution == "auto":
            self.fast = FastForward(self.model, "eager")  # graphs under DDP are left to an explicit choice
        if self._keep_data_on_device():
            self.train_windows = self.train_windows.to(self.device)
            if self.val_windows is not None:
                self.val_windows = self.val_windows.to(self.device)

    def _keep_data_on_device(self) -> bool:
        if self.device.type == "cpu":
            return False
        if self.config.data_on_device is not None:
            return self.config.data_on_device
        return self.train_windows.nbytes <= self.config.data_on_device_max_bytes

    def _batch(self, windows: WindowDataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = windows.gather(indices)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        x, y = self._batch(self.train_windows, batch)
        loss = self.fast.loss(x, y, self.loss_function)
        self._accumulate("train", loss, len(batch))
        return loss

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """A step replayed as one CUDA graph has run its backward already (``FastForward.loss``): its gradients
        are put in place; any other loss goes through Lightning's backward."""
        if self.fast.replayed:
            self.fast.apply_gradients()
        else:
            super().backward(loss, *args, **kwargs)

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        assert self.val_windows is not None
        x, y = self._batch(self.val_windows, batch)
        self._accumulate("val", self.loss_function(self.fast(x).float(), y), len(batch))

    def _accumulate(self, stage: str, loss: torch.Tensor, count: int) -> None:
        # Window-weighted running sums, logged once per epoch: per-step self.log costs more than a DLinear step.
        total, n = self._sums.get(stage, (0.0, 0))
        self._sums[stage] = (total + loss.detach() * count, n + count)

    def _log_epoch_mean(self, stage: str) -> None:
        if stage in self._sums:
            total, n = self._sums.pop(stage)
            self.log(f"{stage}_loss", total / n, on_epoch=True, sync_dist=True)
            if self.history:
                self.history[-1][f"{stage}_loss"] = float(self.trainer.callback_metrics[f"{stage}_loss"])

    def on_train_epoch_start(self) -> None:
        self.history.append({"epoch": self.current_epoch, "lr": self.trainer.optimizers[0].param_groups[0]["lr"]})
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        # Lightning runs the epoch's validation before this hook, so the history entry is complete here.
        self._log_epoch_mean("train")
        if self.history:
            self.history[-1]["seconds"] = time.perf_counter() - self._epoch_started
            if self.config.epoch_log and self.trainer.is_global_zero:
                print(epoch_line(self.history[-1], self.trainer.max_epochs), file=sys.stderr, flush=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_mean("val")

    # Weight averaging: the average is in the live parameters from the start of each validation until its end,
    # after the callbacks' on_validation_end (Lightning calls the module's hook after theirs), so _BestWeights
    # records the averaged weights it was validated with.
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.averager is not None:
            self.averager.update()

    def on_validation_start(self) -> None:
        if self.averager is not None and not self.trainer.sanity_checking:
            self.averager.swap_in()

    def on_validation_end(self) -> None:
        if self.averager is not None:
            self.averager.swap_out()

    def on_train_end(self) -> None:
        if self.averager is not None and self.val_windows is None:
            self.averager.apply()  # no validation to choose weights by: the result is the final average

    @contextlib.contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """The averaged weights in the live parameters for the block (nothing to do without averaging)."""
        if self.averager is None:
            yield
            return
        self.averager.swap_in()
        try:
            yield
        finally:
            self.averager.swap_out()

    @torch.no_grad()
    def final_validation(self, trainer: L.Trainer) -> float:
        """The window-weighted validation loss of the current weights, outside Lightning's loop (used once, after
        the last step, when that step was not validated)."""
        assert self.val_windows is not None
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        try:
            with trainer.precision_plugin.val_step_context():
                for start in range(0, len(self.val_windows), self.config.prediction_batch_size):
                    indices = torch.arange(start, min(start + self.config.prediction_batch_size, len(self.val_windows)))
                    x, y = self._batch(self.val_windows, indices)
                    total += float(self.loss_function(self.fast(x).float(), y)) * len(indices)
                    count += len(indices)
        finally:
            self.model.train(was_training)
        return total / count

    def configure_optimizers(self) -> Any:
        cfg = self.config
        # Lightning's mixed-precision plugins cannot clip the gradients of an optimizer that unscales them
        # itself, as the fused one does: that combination keeps the unfused Adam
        clipped_mixed = cfg.gradient_clip is not None and cfg.precision.endswith("-mixed")
        optimizer = adam(parameter_groups(self.model, cfg.weight_decay), cfg.learning_rate, fused=not clipped_mixed)
        if cfg.lr_schedule == "constant":
            return optimizer
        if cfg.lr_schedule == "onecycle":
            total = int(self.trainer.estimated_stepping_batches)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=cfg.learning_rate, total_steps=total, pct_start=cfg.pct_start
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(cfg.lr_schedule, epoch))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class _BestWeights(Callback):
    """Keeps an in-memory copy of the weights with the lowest val loss and restores them at the end of fit.

    Every trained step is considered: when training ends on a step that was not validated (``max_steps`` inside
    an epoch, or a ``val_check_steps`` that does not divide the number of steps), the final weights are
    validated once more at the end, recorded as the last epoch's ``val_loss``, and kept if they are the best.
    """

    def __init__(self) -> None:
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.validated_step = -1  # global step of the last validation

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        loss = module.history[-1].get("val_loss") if module.history else None
        if trainer.sanity_checking or loss is None:
            return
        self.validated_step = trainer.global_step
        self._consider(loss, trainer.current_epoch, module)

    def _consider(self, loss: float, epoch: int, module: L.LightningModule) -> None:
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in module.model.state_dict().items()}

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        assert isinstance(module, ForecastModule)
        if module.val_windows is None or trainer.global_step in (0, self.validated_step):
            return
        with module.averaged_weights():
            loss = module.final_validation(trainer)
            if module.history:
                module.history[-1]["val_loss"] = loss
            epoch = int(module.history[-1]["epoch"]) if module.history else trainer.current_epoch
            self.validated_step = trainer.global_step
            self._consider(loss, epoch, module)

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.state is not None:
            module.model.load_state_dict(self.state)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up chatter and DataLoader-worker hints (our loaders only shuffle integers)."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*validation_step.*no `val_dataloader`.*")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


# Trainer arguments that TrainConfig fields decide (trainer_kwargs may set any other Trainer argument; its
# "callbacks" run after the library's own, its "logger" replaces the default of none).
_TRAINER_ARGS_FROM_CONFIG = {
    "max_epochs",
    "max_steps",
    "accelerator",
    "devices",
    "strategy",
    "precision",
    "gradient_clip_val",
    "val_check_interval",
    "check_val_every_n_epoch",
    "deterministic",
    "enable_progress_bar",
}


def _index_loader(n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(range(n), batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


def fit_model(
    model: nn.Module, train: WindowDataset, val: WindowDataset | None = None, config: TrainConfig | None = None
) -> FitResult:
    """Train ``model`` on the ``train`` windows; with ``val``, early-stop on val loss and restore the best weights.

    ``model`` maps x[B, L, M] -> y[B, H, M] (L, H as in ``train``). Seeds everything from ``config.seed`` first, so the
    same model initialisation + seed gives the same result on CPU. Returns the model (on the CPU, eval mode) with
    the best validation weights, and the per-epoch history (lr, train_loss, val_loss).
    """
    config = config or TrainConfig()
    if config.drop_last and len(train) < config.batch_size:
        raise ValueError(
            f"drop_last with {len(train)} training windows < batch_size {config.batch_size} "
            "leaves no batch; lower batch_size or set drop_last=False."
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    on_cpu = config.accelerator == "cpu" or (config.accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and config.tune_cpu_allocator:
        tune_cpu_allocator()
    model.train()
    module = ForecastModule(model, config, train, val)
    keeper = _BestWeights()
    callbacks: list[Callback] = [keeper]
    if val is not None and config.patience is not None:
        # strict=False: a max_steps limit can end training before the first validation (then nothing to compare)
        callbacks.append(
            EarlyStopping(monitor="val_loss", mode="min", patience=config.patience, min_delta=0.0, strict=False)
        )
    logger: Any = False
    if config.log_dir:
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(config.log_dir, name="tsmamba")
    trainer_args: dict[str, Any] = dict(
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=config.precision,
        gradient_clip_val=config.gradient_clip,
        logger=logger,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=config.progress_bar,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        deterministic=config.deterministic,
        limit_val_batches=None if val is not None else 0,
        default_root_dir=config.log_dir,
    )
    if config.val_check_steps is not None and val is not None:
        # every N optimiser steps, across epoch boundaries: validation (and so early stopping and the best-weight
        # restore) also runs when max_steps ends training inside the first epoch
        trainer_args.update(val_check_interval=config.val_check_steps, check_val_every_n_epoch=None)
    clash = sorted(set(config.trainer_kwargs) & _TRAINER_ARGS_FROM_CONFIG)
    if clash:
        raise ValueError(
            f"trainer_kwargs {clash} are TrainConfig options; set them through its own fields "
            f"({', '.join(TrainConfig.field_names())}) instead."
        )
    extra = dict(config.trainer_kwargs)
    user_callbacks = extra.pop("callbacks", None) or []
    trainer_args["callbacks"] = callbacks + (
        [user_callbacks] if isinstance(user_callbacks, Callback) else list(user_callbacks)
    )
    if "logger" in extra and config.log_dir:
        raise ValueError(
            f"trainer_kwargs['logger'] and log_dir={config.log_dir!r} both set the logger; keep one "
            "(log_dir writes Lightning's CSV logs)."
        )
    trainer_args.update(extra)
    with _quiet_lightning():
        trainer = L.Trainer(**trainer_args)
        train_loader = _index_loader(len(train), config.batch_size, True, config.seed, config.drop_last)
        val_loader = _index_loader(len(val), config.prediction_batch_size, False, 0) if val is not None else None
        started = time.perf_counter()
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
        seconds = time.perf_counter() - started
    model = module.model.to("cpu").eval()
    return FitResult(
        model=model,
        best_val_loss=None if keeper.state is None else keeper.best_loss,
        best_epoch=keeper.best_epoch,
        epochs_run=trainer.current_epoch,
        stopped_early=bool(
            trainer.should_stop
            and trainer.current_epoch < config.max_epochs
            and trainer.global_step != config.max_steps
        ),
        fit_seconds=seconds,
        history=module.history,
    )


def resolve_device(accelerator: str = "auto") -> torch.device:
    """The torch device a Lightning ``accelerator`` string means for single-process prediction."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError(f"accelerator={accelerator!r} asks for a GPU but CUDA is not available.")
        return torch.device("cuda")
    if accelerator in ("cpu", "auto"):
        return torch.device("cpu")
    raise ValueError(f"Unknown accelerator {accelerator!r}; use 'auto', 'cpu' or 'gpu'.")


@torch.inference_mode()
def iter_predictions(
    model: nn.Module,
    windows: WindowDataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    indices: Sequence[int] | None = None,
    execution: str = "auto",
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(indices, prediction[B, H, M], target[B, H, M])`` over every window (or ``indices``) in order.

    ``execution`` (see ``tsmamba.execution``) applies on CUDA when there are at least 3 full batches, enough to
    repay a capture; fewer batches run eagerly.
    """
    if device is None:
        tensors = [*model.parameters(), *model.buffers()]
        device = tensors[0].device if tensors else torch.device("cpu")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    source = windows.to(device) if device.type != "cpu" else windows
    order = torch.arange(len(windows)) if indices is None else torch.as_tensor(list(indices), dtype=torch.long)
    forward = FastForward(model, execution if len(order) >= 3 * batch_size else "eager")
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            x, y = source.gather(chunk)
            yield chunk, forward(x.to(device)).float(), y.to(device)
    finally:
        model.train(was_training)


def predict_windows(
    model: nn.Module,
    windows: WindowDataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    indices: Sequence[int] | None = None,
    execution: str = "auto",
) -> torch.Tensor:
    """Forecasts for every window of ``windows`` (or those at ``indices``), in order, as a CPU float32 [N, H, M]."""
    batches = iter_predictions(model, windows, batch_size, device, indices, execution)
    return torch.cat([pred.cpu() for _, pred, _ in batches])
