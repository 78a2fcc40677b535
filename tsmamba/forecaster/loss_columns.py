"""The forecast columns a quantile loss adds, with neuralforecast's names, and how they combine with intervals.

A forecaster trained with ``QuantileLoss(q)`` or ``MQLoss`` returns, beside its point column ``<Model>``, one
column per trained quantile, named as neuralforecast names them (``<Model>_ql0.9``; ``<Model>-lo-80``,
``<Model>-median``, ``<Model>-hi-80``; ``<Model>-lo-80.0`` for ``MQLoss(quantiles=...)``), in ascending quantile
order, on every ``predict`` and ``cross_validation``.

One rule for intervals: ``level=`` always asks for *conformal* intervals (``conformal_windows``), centred on
``<Model>``. A multi-quantile loss already gives its own intervals, so ``MQLoss`` with ``conformal_windows`` is an
error at fit, and ``level=`` on an ``MQLoss`` forecaster is an error that points to its quantile columns. A
single-output loss (MSE, MAE, ``QuantileLoss``) combines with ``conformal_windows`` as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsmamba.losses import Loss, make_loss


def loss_columns(name: str, loss: Loss, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """``{<name><suffix>: outputs[..., k, :, :]}`` for the loss's quantile columns (``{}`` for point losses).

    ``outputs`` is ``[..., Q, h, M]`` (``Q = loss.n_outputs``, ascending quantiles).
    """
    return {f"{name}{suffix}": outputs[..., k, :, :] for k, suffix in enumerate(loss.column_suffixes())}


def check_loss(params: Any) -> Loss:
    """The forecaster's ``loss`` keyword as a Loss (None: MSE); an error when it and ``conformal_windows`` both
    give intervals."""
    loss = make_loss("MSE" if params.loss is None else params.loss)
    if loss.n_outputs > 1 and params.conformal_windows:
        raise ValueError(
            f"loss={loss!r} and conformal_windows={params.conformal_windows} both give prediction intervals; "
            "choose one: conformal_windows=0 (the loss's quantile columns), or a point loss with conformal_windows."
        )
    return loss


def level_error(loss: Loss) -> str:
    """The message for ``level=`` on a forecaster without conformal residuals, naming its quantile columns."""
    if loss.n_outputs > 1:
        names = ", ".join(f"<Model>{suffix}" for suffix in loss.column_suffixes())
        return (
            f"This forecaster was trained with {loss!r}: its quantile columns ({names}) are always returned, so "
            "drop level=. level= asks for conformal intervals (conformal_windows with a point loss)."
        )
    return (
        "Prediction intervals need calibration residuals: construct the forecaster with conformal_windows=n "
        "(e.g. 20) and fit again; level= then gives conformal intervals."
    )
