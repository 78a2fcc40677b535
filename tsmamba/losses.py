"""Training losses: MSE (the default), MAE, and neuralforecast's quantile losses ``QuantileLoss`` and ``MQLoss``.

A loss is a small frozen dataclass: it computes the training and validation loss, says how many outputs the
model must give per target value (``n_outputs``: 1 for point and single-quantile losses, ``Q`` for ``MQLoss``) and
which forecast columns those outputs become. Losses serialise to a small dict (``to_dict``/``make_loss``), so a
forecaster's ``loss=`` is saved with it and ``TrainConfig`` stays JSON-ready for the benchmark's results rows.

**Multi-quantile layout.** The models stay unchanged: a model for ``MQLoss`` is built with horizon ``H * Q`` and
its output ``[B, H * Q, M]`` is read as ``[B, Q, H, M]`` (``split_outputs``): rows ``q * H ... q * H + H - 1``
of the horizon axis are the forecast of the ``q``-th quantile, quantiles in ascending order. Every model maps its
features to the horizon with one linear head, so this grouping is as good as any other.

**Crossing.** Quantile heads are trained independently and may cross. ``sort_quantiles`` (applied to every
prediction, never in training) sorts them along the quantile axis, so the returned columns never cross;
neuralforecast does not sort.

Pinball (quantile) loss of a forecast ``f`` of quantile ``q`` against ``y``: ``max(q * (y - f), (q - 1) * (y - f))``,
averaged over every window, step and series (and, for ``MQLoss``, quantile). neuralforecast's ``MQLoss``
divides that mean once more by ``Q``; the scale differs, the minimiser does not.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


def _level_name(level: float) -> str:
    """``80`` for 80.0, ``97.5`` for 97.5 (neuralforecast's ``-lo-80`` suffix)."""
    return str(int(level)) if float(level).is_integer() else str(level)


def pinball(prediction: torch.Tensor, target: torch.Tensor, q: float | torch.Tensor) -> torch.Tensor:
    """Elementwise pinball loss of ``prediction`` (the ``q`` quantile) against ``target`` (broadcast)."""
    error = target - prediction
    return torch.maximum(q * error, (q - 1) * error)


@dataclass(frozen=True)
class Loss:
    """Base class: a point loss with one output per target value. Subclasses set ``name`` and ``__call__``."""

    name: ClassVar[str] = ""

    @property
    def n_outputs(self) -> int:
        """Model outputs per target value (the model is built with horizon ``h * n_outputs``)."""
        return 1

    @property
    def output_quantiles(self) -> tuple[float, ...]:
        """The quantiles the outputs forecast, ascending (empty for point losses)."""
        return ()

    @property
    def point_index(self) -> int:
        """Which output is the point forecast ``<Model>``."""
        return 0

    def column_suffixes(self) -> list[str]:
        """neuralforecast's names of the extra forecast columns, ``<Model><suffix>``, in output order (or ``[]``)."""
        return []

    def split_outputs(self, outputs: torch.Tensor, horizon: int) -> torch.Tensor:
        """Model outputs ``[B, H * Q, M]`` as ``[B, Q, H, M]`` (quantile-major; ``Q = n_outputs``)."""
        batch, length, n_vars = outputs.shape
        if length != horizon * self.n_outputs:
            raise ValueError(
                f"{self.name} needs model outputs of length h * {self.n_outputs} = {horizon * self.n_outputs}, got "
                f"{length}: build the model with horizon h * loss.n_outputs."
            )
        return outputs.reshape(batch, self.n_outputs, horizon, n_vars)

    def point(self, outputs: torch.Tensor, horizon: int) -> torch.Tensor:
        """The point forecast ``[B, H, M]`` from model outputs ``[B, H * Q, M]`` (after sorting the quantiles)."""
        return sort_quantiles(self.split_outputs(outputs, horizon))[:, self.point_index]

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-ready dict that :func:`make_loss` turns back into this loss."""
        return {"name": self.name}

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class MSE(Loss):
    """Mean squared error: the default, as in every benchmark script."""

    name: ClassVar[str] = "MSE"

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(outputs, target)


@dataclass(frozen=True)
class MAE(Loss):
    """Mean absolute error (its minimiser is the median)."""

    name: ClassVar[str] = "MAE"

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.l1_loss(outputs, target)


def _check_quantile(q: Any, what: str) -> float:
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < float(q) < 1.0:
        raise ValueError(f"{what} must be a number strictly between 0 and 1, got {q!r}.")
    return float(q)


@dataclass(frozen=True)
class QuantileLoss(Loss):
    """Pinball loss of quantile ``q`` (neuralforecast's ``QuantileLoss(q)``): one output, the ``q`` quantile.

    The forecast column ``<Model>`` is that quantile; neuralforecast's name ``<Model>_ql<q>`` is added beside it.
    """

    q: float = 0.5
    name: ClassVar[str] = "QuantileLoss"

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", _check_quantile(self.q, "QuantileLoss q"))

    @property
    def output_quantiles(self) -> tuple[float, ...]:
        return (self.q,)

    def column_suffixes(self) -> list[str]:
        return [f"_ql{self.q}"]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "q": self.q}

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pinball(outputs, target, self.q).mean()


def _levels(level: Any) -> tuple[float, ...]:
    if isinstance(level, (str, numbers.Number)) or not isinstance(level, Sequence) or not level:
        raise ValueError(f"MQLoss level must be a non-empty list of numbers in (0, 100), e.g. [80, 90]; got {level!r}.")
    bad = [v for v in level if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < float(v) < 100]
    if bad:
        raise ValueError(f"MQLoss level values must lie strictly between 0 and 100, e.g. [80, 90]; got {bad}.")
    return tuple(sorted({float(v) for v in level}))


@dataclass(frozen=True)
class MQLoss(Loss):
    """Multi-quantile pinball loss (neuralforecast's ``MQLoss``): ``Q`` outputs per target value.

    ``level=[80, 90]`` (the default when neither is given) trains the median and the bounds of each central
    interval (quantiles 0.05, 0.1, 0.5, 0.9, 0.95); columns ``<Model>-lo-90``, ``<Model>-lo-80``,
    ``<Model>-median``, ``<Model>-hi-80``, ``<Model>-hi-90``. ``quantiles=[0.1, 0.5, 0.9]`` trains those
    quantiles (sorted); columns as neuralforecast names them: ``-lo-<100 - 200 q>`` below 0.5, ``-median``,
    ``-hi-<200 q - 100>`` above (e.g. ``<Model>-lo-80.0``). The point column ``<Model>`` is the median when 0.5
    is among the quantiles (always with ``level``), else the quantile closest to 0.5 (the lower one on a tie).
    Give ``level`` or ``quantiles``, not both.
    """

    level: tuple[float, ...] | None = None
    quantiles: tuple[float, ...] | None = None
    name: ClassVar[str] = "MQLoss"

    def __post_init__(self) -> None:
        if self.level is not None and self.quantiles is not None:
            raise ValueError("MQLoss takes level= or quantiles=, not both (neuralforecast would ignore level).")
        if self.quantiles is not None:
            qs = self.quantiles
            if isinstance(qs, (str, numbers.Number)) or not isinstance(qs, Sequence) or not qs:
                raise ValueError(f"MQLoss quantiles must be a non-empty list of numbers in (0, 1); got {qs!r}.")
            object.__setattr__(self, "quantiles", tuple(sorted({_check_quantile(q, "MQLoss quantiles") for q in qs})))
        else:
            object.__setattr__(self, "level", _levels([80, 90] if self.level is None else self.level))
        names = self.column_suffixes()
        if len(set(names)) != len(names):
            raise ValueError(
                f"MQLoss quantiles {list(self.output_quantiles)} give repeated column names {names}; "
                "use quantiles further apart."
            )

    @property
    def output_quantiles(self) -> tuple[float, ...]:
        if self.quantiles is not None:
            return self.quantiles
        assert self.level is not None
        bounds = [q for lv in self.level for q in ((100 - lv) / 200, (100 + lv) / 200)]
        return tuple(sorted({0.5, *bounds}))

    @property
    def n_outputs(self) -> int:
        return len(self.output_quantiles)

    @property
    def point_index(self) -> int:
        distances = [abs(q - 0.5) for q in self.output_quantiles]
        return distances.index(min(distances))

    def column_suffixes(self) -> list[str]:
        if self.level is not None:
            lows = [f"-lo-{_level_name(lv)}" for lv in reversed(self.level)]
            return [*lows, "-median", *(f"-hi-{_level_name(lv)}" for lv in self.level)]
        names = []
        for q in self.output_quantiles:
            if q == 0.5:
                names.append("-median")
            else:
                names.append(f"-lo-{round(100 - 200 * q, 2)}" if q < 0.5 else f"-hi-{round(100 - 200 * (1 - q), 2)}")
        return names

    def to_dict(self) -> dict[str, Any]:
        if self.level is not None:
            return {"name": self.name, "level": list(self.level)}
        return {"name": self.name, "quantiles": list(self.output_quantiles)}

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        split = self.split_outputs(outputs, target.shape[1])  # [B, Q, H, M]
        q = torch.tensor(self.output_quantiles, dtype=split.dtype, device=split.device).view(1, -1, 1, 1)
        return pinball(split, target.unsqueeze(1), q).mean()


def sort_quantiles(split: torch.Tensor) -> torch.Tensor:
    """Quantile forecasts ``[..., Q, H, M]`` sorted along the quantile axis, so that they never cross."""
    return split if split.shape[-3] == 1 else torch.sort(split, dim=-3).values


LOSSES: dict[str, type[Loss]] = {cls.name.lower(): cls for cls in (MSE, MAE, QuantileLoss, MQLoss)}


def make_loss(spec: Any) -> Loss:
    """A loss from a ``Loss``, a name (``"mse"``, ``"MAE"``) or a ``Loss.to_dict`` dict; a clear error otherwise."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(
            f"loss must be a tsmamba.losses loss (e.g. MQLoss(level=[80, 90])), a name or a dict with 'name'; "
            f"got {spec!r}."
        )
    cls = LOSSES.get(spec["name"].lower())
    if cls is None:
        raise ValueError(f"Unknown loss {spec['name']!r}; choose one of {', '.join(c.name for c in LOSSES.values())}.")
    options = {k: v for k, v in spec.items() if k != "name"}
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValueError(f"Bad options {options} for loss {cls.name}: {exc}.") from exc


class PointForecast(nn.Module):
    """Wraps a model trained with ``loss``: forwards ``x[B, L, M]`` to the point forecast ``[B, H, M]`` (e.g. the
    median of an ``MQLoss`` model), so point metrics (``evaluate_windows``, ``score``) apply to any loss."""

    def __init__(self, model: nn.Module, loss: Loss, horizon: int) -> None:
        super().__init__()
        self.model, self.loss, self.horizon = model, loss, horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.loss.point(self.model(x), self.horizon)
