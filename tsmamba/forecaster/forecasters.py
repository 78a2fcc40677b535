"""The public forecasters: ``TSM2Forecaster``, ``PatchTSTForecaster``, ``DLinearForecaster``.

Each class only lists its keywords: the shared ones (horizon, lookback, training, frame columns) and its
model's options. scikit-learn reads the keywords from each ``__init__`` signature, so every hyperparameter is
explicit and ``clone``/``GridSearchCV`` see them all. ``None`` means "from the recipe": training settings and
model options not given come from the model's training recipe (:mod:`tsmamba.recipes`), the same one
``tsmamba bench`` uses, so ``TSM2Forecaster()`` trains as the benchmarks do (lr 1e-4, batch 64, type3 schedule,
up to 100 epochs, early stopping with patience 3). Explicit keywords always win.

Shared keywords:

* ``h`` forecast horizon; ``input_size`` lookback window length.
* ``recipe``: ``None`` (the model's generic recipe) or a dataset name (``"ETTh1"``, ..., ``"Weather"``) whose
  benchmark recipe to take, model sizes included (e.g. TSM2 on ETTh1: d_model 16, dropout 0.3); ``"demo"``.
* ``max_epochs``, ``max_steps`` (``None``: no step limit), ``batch_size``, ``learning_rate``, ``lr_schedule``
  (``"constant"``, ``"type1"``, ``"type3"``, ``"onecycle"``), ``gradient_clip``.
* ``loss``: the training and early-stopping loss, a :mod:`tsmamba.losses` object as in neuralforecast
  (``None``: MSE). ``QuantileLoss(q)`` trains the ``q`` quantile: ``<Model>`` is that quantile, and
  neuralforecast's ``<Model>_ql<q>`` is added beside it. ``MQLoss(level=[80, 90])`` (or ``quantiles=[...]``)
  trains several quantiles at once: ``<Model>`` is the median, with columns ``<Model>-lo-90`` ...
  ``<Model>-hi-90`` (``<Model>-median`` included), sorted so that they never cross.
* ``val_check_steps``: validate every this many optimiser steps (``None``: once per epoch), so early stopping
  and the best-weight restore work under a ``max_steps`` budget shorter than an epoch.
* ``early_stopping_patience`` (validations: epochs by default; ``0`` disables it) on the last ``val_size``
  steps of the training frame, with the best weights restored. ``val_size=None``: when the recipe
  early-stops, 10% of the timestamps (at least ``h``); ``0``: no validation part (and so no early stopping).
* ``conformal_windows``: ``n > 0`` makes ``fit`` also train a calibration model on the data before the last
  ``h + n - 1`` steps and keep its absolute errors on those ``n`` rolling windows, so that ``predict(level=)``
  and ``cross_validation(level=)`` give conformal intervals (``0``: no intervals, one training).
* ``random_state`` seeds weight initialisation and batch order (same seed, same fit on CPU).
* ``accelerator``, ``devices``, ``precision`` and ``trainer_kwargs``: a dict of Lightning ``Trainer`` arguments, as
  in neuralforecast. ``callbacks`` run after the library's own (best-weight keeper, early stopping), ``logger``
  replaces the default of none, ``enable_progress_bar``, ``deterministic`` and ``strategy`` are honoured; an
  argument that one of the keywords above sets (``max_epochs``, ``gradient_clip_val``, ...) is an error naming it.
* ``freq`` (pandas alias, or an int step for integer timestamps, e.g. ``1``; ``None`` infers it),
  ``alias`` (forecast column name; ``None``: the model name),
  ``id_col``, ``time_col``, ``target_col``: column names of long frames (``time_col`` also in wide frames).
"""

from __future__ import annotations

from typing import Any

from tsmamba.forecaster.base import BaseForecaster
from tsmamba.losses import Loss


def _store(estimator: BaseForecaster, params: dict[str, Any]) -> None:
    """Store every ``__init__`` argument as an attribute of the same name, unchanged (scikit-learn's rule)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class DLinearForecaster(BaseForecaster):
    """DLinear (Zeng et al., 2023): moving-average decomposition and two linear heads.

    Model keywords: ``moving_avg`` (trend kernel, odd), ``individual`` (one head pair per variate).
    """

    model_name = "dlinear"
    display_name = "DLinear"
    model_params = ("moving_avg", "individual")

    def __init__(
        self,
        h: int = 96,
        input_size: int = 336,
        moving_avg: int | None = None,
        individual: bool | None = None,
        recipe: str | None = None,
        max_epochs: int | None = None,
        max_steps: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        lr_schedule: str | None = None,
        gradient_clip: float | None = None,
        loss: Loss | str | None = None,
        early_stopping_patience: int | None = None,
        val_check_steps: int | None = None,
        val_size: int | None = None,
        conformal_windows: int = 0,
        random_state: int = 1,
        accelerator: str = "auto",
        devices: int | str = 1,
        precision: str = "32-true",
        trainer_kwargs: dict | None = None,
        freq: str | int | None = None,
        alias: str | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
    ) -> None:
        _store(self, locals())


class PatchTSTForecaster(BaseForecaster):
    """PatchTST (Nie et al., ICLR 2023), channel-independent patch Transformer.

    Model keywords mirror ``PatchTSTConfig``: ``n_layers``, ``n_heads``, ``d_model``, ``d_ff``, ``dropout``,
    ``attn_dropout``, ``head_dropout``, ``patch_len``, ``stride``, ``pad_end``, ``revin``, ``revin_affine``,
    ``subtract_last``, ``res_attention``, ``norm``, ``activation``, ``individual``.
    """

    model_name = "patchtst"
    display_name = "PatchTST"
    model_params = (
        "n_layers",
        "n_heads",
        "d_model",
        "d_ff",
        "dropout",
        "attn_dropout",
        "head_dropout",
        "patch_len",
        "stride",
        "pad_end",
        "revin",
        "revin_affine",
        "subtract_last",
        "res_attention",
        "norm",
        "activation",
        "individual",
    )

    def __init__(
        self,
        h: int = 96,
        input_size: int = 336,
        n_layers: int | None = None,
        n_heads: int | None = None,
        d_model: int | None = None,
        d_ff: int | None = None,
        dropout: float | None = None,
        attn_dropout: float | None = None,
        head_dropout: float | None = None,
        patch_len: int | None = None,
        stride: int | None = None,
        pad_end: bool | None = None,
        revin: bool | None = None,
        revin_affine: bool | None = None,
        subtract_last: bool | None = None,
        res_attention: bool | None = None,
        norm: str | None = None,
        activation: str | None = None,
        individual: bool | None = None,
        recipe: str | None = None,
        max_epochs: int | None = None,
        max_steps: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        lr_schedule: str | None = None,
        gradient_clip: float | None = None,
        loss: Loss | str | None = None,
        early_stopping_patience: int | None = None,
        val_check_steps: int | None = None,
        val_size: int | None = None,
        conformal_windows: int = 0,
        random_state: int = 1,
        accelerator: str = "auto",
        devices: int | str = 1,
        precision: str = "32-true",
        trainer_kwargs: dict | None = None,
        freq: str | int | None = None,
        alias: str | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
    ) -> None:
        _store(self, locals())


class TSM2Forecaster(BaseForecaster):
    """TSM2, Time Series MambaMixer (Behrouz et al., 2024): selective-SSM token and channel mixers.

    Model keywords mirror ``TSM2Config``: ``d_model``, ``n_layers``, ``d_state``, ``d_conv``, ``expand``,
    ``dt_rank``, ``dt_min``, ``dt_max``, ``patch_len``, ``stride``, ``pad_end``, ``revin``, ``revin_affine``,
    ``positional_embedding``, ``token_direction`` (``"forward"``/``"bidirectional"``), ``skip``
    (``"dense"``/``"residual"``), ``channel_mixer`` (``False``: token mixers only, an ablation), ``norm``
    (``"batchnorm2d"``/``"layernorm2d"``), ``dropout``, ``head_dropout``, ``scan_backend``.
    """

    model_name = "tsm2"
    display_name = "TSM2"
    model_params = (
        "d_model",
        "n_layers",
        "d_state",
        "d_conv",
        "expand",
        "dt_rank",
        "dt_min",
        "dt_max",
        "patch_len",
        "stride",
        "pad_end",
        "revin",
        "revin_affine",
        "positional_embedding",
        "token_direction",
        "skip",
        "channel_mixer",
        "norm",
        "dropout",
        "head_dropout",
        "scan_backend",
    )

    def __init__(
        self,
        h: int = 96,
        input_size: int = 512,
        d_model: int | None = None,
        n_layers: int | None = None,
        d_state: int | None = None,
        d_conv: int | None = None,
        expand: int | None = None,
        dt_rank: int | None = None,
        dt_min: float | None = None,
        dt_max: float | None = None,
        patch_len: int | None = None,
        stride: int | None = None,
        pad_end: bool | None = None,
        revin: bool | None = None,
        revin_affine: bool | None = None,
        positional_embedding: bool | None = None,
        token_direction: str | None = None,
        skip: str | None = None,
        channel_mixer: bool | None = None,
        norm: str | None = None,
        dropout: float | None = None,
        head_dropout: float | None = None,
        scan_backend: str | None = None,
        recipe: str | None = None,
        max_epochs: int | None = None,
        max_steps: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        lr_schedule: str | None = None,
        gradient_clip: float | None = None,
        loss: Loss | str | None = None,
        early_stopping_patience: int | None = None,
        val_check_steps: int | None = None,
        val_size: int | None = None,
        conformal_windows: int = 0,
        random_state: int = 1,
        accelerator: str = "auto",
        devices: int | str = 1,
        precision: str = "32-true",
        trainer_kwargs: dict | None = None,
        freq: str | int | None = None,
        alias: str | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
    ) -> None:
        _store(self, locals())


FORECASTERS = (TSM2Forecaster, PatchTSTForecaster, DLinearForecaster)
