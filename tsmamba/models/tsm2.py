"""TSM2, the Time Series MambaMixer (Behrouz, Santacatterina, Zabih 2024, arXiv 2403.19888 v1, §3.2 and §5).

There is no official code and the paper gives no hyperparameters, so this file implements what §3.2 states
and makes every open choice an option of :class:`TSM2Config`, each with a defended default.

    x (batch, L, M) ──RevIN──▶ patch each variate ──linear──▶ + positional ──▶ h⁰ (batch, M, N, D)
    for ℓ = 1..n_layers:
        token mixer ℓ:    selective SSM along the N patches of each variate   (batch·M, N, D)
        channel mixer ℓ:  bidirectional selective SSM across the M variates   (batch·N, M, D)
        each mixer: input = weighted average of every earlier output (dense averaging), pre-norm
    final norm ──▶ flatten N·D per variate ──linear──▶ horizon ──inverse RevIN──▶ (batch, H, M)

Dense weighted averaging (the paper's equations for x_Tok^(ℓ) and x_Ch^(ℓ)): the input of each mixer is
Σ_i w_i y^(i) over the embedded input y^(0) and every earlier mixer output, with one learnable scalar per
(mixer, earlier output). The paper's α, β (token mixers) and θ, γ (channel mixers) are these scalars split by
which kind of mixer produced y^(i); y^(0) is counted once. They start as the identity path (1 on the latest
output, 0 elsewhere), as DenseFormer's DWA does, so an untrained TSM2 is a plain pre-norm residual stack.

Each mixer keeps its input on a residual path, y = x + S6(norm(x)), as the blocks that DenseFormer averages
do. Without it the identity-initialised stack has no skip path at all at initialisation, and the signal
shrinks by about 50x per mixer (measured on a tiny model: 1e-7 of the input scale after four mixers), so
training would start from a head that sees almost nothing of the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tsmamba.models.patching import Patcher
from tsmamba.models.registry import ModelSpec, check_input_window
from tsmamba.models.revin import RevIN
from tsmamba.models.selective_ssm import SelectiveSSM

TOKEN_DIRECTIONS = ("forward", "bidirectional")
SKIPS = ("dense", "residual")
NORMS = ("batchnorm2d", "layernorm2d")


@dataclass
class TSM2Config:
    """Every TSM2 option, with a default and why.

    Sizes (the paper gives none):
    - ``d_model=64``, ``n_layers=2``: small, because the ETT/Weather training sets hold 8k–37k windows and
      PatchTST's scripts show large models overfit them; two MambaMixer layers = four selective mixers.
      ``dataset_defaults`` shrinks ``d_model`` to 16 for ETTh1/ETTh2, as PatchTST's scripts do (on ETTh1 at L=512
      it had a lower validation loss than 32, benchmarks/results/etth1_accuracy.md), and for ETTm1/ETTm2, where
      it had the lowest validation loss of 16/32/64 (benchmarks/results/tsm2_recipe_sweep/).
    - ``d_state=16``, ``d_conv=4``, ``expand=2``, ``dt_rank=0`` (= ceil(d_model/16)), ``dt_min=1e-3``,
      ``dt_max=1e-1``: mamba_ssm's ``Mamba`` defaults, which the paper's S6 blocks are.

    Input (the paper says nothing; these follow PatchTST, whose numbers TSM2 is compared with):
    - ``revin=True``, ``revin_affine=False``: every baseline in the paper's table normalises each window;
      affine off as in PatchTST's scripts.
    - ``patch_len=16``, ``stride=8``, ``pad_end=True``: PatchTST's patching; N = (L-16)//8 + 2 tokens.
    - ``positional_embedding=True``: a learnable (N, D) table initialised U(-0.02, 0.02) as PatchTST's. The
      token mixer is a recurrence and knows order without it, but the channel mixer does not see patch
      positions otherwise.

    Ambiguities of §3.2:
    - ``token_direction="forward"``: the text calls the token mixer unidirectional (causal); the figure draws
      a forward and a backward scan. Forward is what the text states; "bidirectional" is the figure.
    - ``skip="dense"``: the paper's weighted averaging of earlier features; "residual" drops the averaging
      and keeps only each mixer's own residual path (a plain pre-norm residual stack), for ablation.
    - ``channel_mixer=True``: the paper's model. ``False`` drops the channel mixers: every variate then goes
      through the same token mixers alone, channel-independent as PatchTST (so the forecasters run it as one
      global univariate model over a panel of series, see ``channel_independent``). ``dataset_defaults`` turns them off
      on the four ETT datasets, where the validation sweep preferred that (by under 1 %, see there); Weather and
      any other data keep the paper's channel mixing.
    - ``norm="layernorm2d"``: "2D normalisation on both time and feature dimensions" is TSMixer's, which
      offers layer normalisation over the (time, feature) plane of each sample and batch normalisation of each
      (time, feature) position; here the plane is each variate's (patch, d_model) plane. Layer norm because it
      normalises every sample by its own statistics: a selective SSM block grows like the ~5th power of its
      input's scale (Δ, B, C and the gate are all linear in it), so with batch norm's fixed running statistics
      at evaluation one window far outside the training range (ETTm1's validation set has a 22.6-sigma step
      after a stuck sensor; training windows reach 8.7) compounds through the mixers to 1e30 forecasts. With
      layer norm each mixer reads a unit-scale plane, so the forecast stays bounded for any input, as in Mamba,
      which normalises every token before each block. "batchnorm2d" (statistics of every
      (patch, d_model) position over batch·variates) keeps the backbone causal along patches, for ablation.
      Placement is pre-norm (the paper's mixers normalise their input); a final norm precedes the head.

    Regularisation and head:
    - ``dropout=0.2`` on the embedding and on each mixer output (PatchTST's ETTm/Weather value; ETTh1/ETTh2
      get 0.3 from ``dataset_defaults``, as PatchTST's scripts do), ``head_dropout=0.0`` as PatchTST's (0.3 on
      ETTh1/ETTh2, the validation sweep's choice).
    - The head is the paper's temporal projection: flatten N·D per variate, one linear map to the horizon,
      shared by all variates.

    ``scan_backend="auto"``: Triton on CUDA, the torch path on CPU; "torch" forces the PyTorch path anywhere.
    """

    d_model: int = 64
    n_layers: int = 2
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int = 0
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    patch_len: int = 16
    stride: int = 8
    pad_end: bool = True
    revin: bool = True
    revin_affine: bool = False
    positional_embedding: bool = True
    token_direction: str = "forward"
    skip: str = "dense"
    channel_mixer: bool = True
    norm: str = "layernorm2d"
    dropout: float = 0.2
    head_dropout: float = 0.0
    scan_backend: str = "auto"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("token_direction", self.token_direction, TOKEN_DIRECTIONS),
            ("skip", self.skip, SKIPS),
            ("norm", self.norm, NORMS),
        ):
            if value not in allowed:
                raise ValueError(f"TSM2 option {name}={value!r} is not one of {allowed}: set one of those.")
        for name in ("d_model", "n_layers", "d_state", "d_conv", "expand", "patch_len", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"TSM2 option {name}={getattr(self, name)} must be a positive integer.")
        if self.dt_rank < 0:
            raise ValueError(f"TSM2 option dt_rank={self.dt_rank} must be >= 0 (0 means ceil(d_model / 16)).")
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(f"TSM2 options need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}.")
        for name in ("dropout", "head_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"TSM2 option {name}={getattr(self, name)} must be in [0, 1).")


class Norm2d(nn.Module):
    """TSMixer's 2D normalisation of (batch, M, N, D) over each variate's (patch, feature) plane.

    "batchnorm2d": statistics of every (patch, feature) position over batch·variates (causal in patches);
    "layernorm2d": statistics over the (patch, feature) plane of each sample and variate.
    """

    def __init__(self, kind: str, n_patches: int, d_model: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "batchnorm2d":
            self.norm: nn.Module = nn.BatchNorm1d(n_patches * d_model)
        else:
            self.norm = nn.LayerNorm((n_patches, d_model))

    def forward(self, h: Tensor) -> Tensor:
        if self.kind == "batchnorm2d":
            return self.norm(h.flatten(0, 1).flatten(1)).view_as(h)
        return self.norm(h)


class TokenMixer(nn.Module):
    """h + S6(norm(h)) along the patch axis of each variate: (batch, M, N, D) -> same."""

    def __init__(self, config: TSM2Config, n_patches: int) -> None:
        super().__init__()
        self.norm = Norm2d(config.norm, n_patches, config.d_model)
        self.ssm = _ssm(config, bidirectional=config.token_direction == "bidirectional")
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor) -> Tensor:
        batch, n_vars, n_patches, d_model = h.shape
        y = self.ssm(self.norm(h).reshape(batch * n_vars, n_patches, d_model))
        return h + self.dropout(y.view(batch, n_vars, n_patches, d_model))


class ChannelMixer(nn.Module):
    """h + bidirectional S6(norm(h)) across the variates of each patch: (batch, M, N, D) -> same."""

    def __init__(self, config: TSM2Config, n_patches: int) -> None:
        super().__init__()
        self.norm = Norm2d(config.norm, n_patches, config.d_model)
        self.ssm = _ssm(config, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor) -> Tensor:
        batch, n_vars, n_patches, d_model = h.shape
        across = self.norm(h).transpose(1, 2).reshape(batch * n_patches, n_vars, d_model)
        y = self.ssm(across).view(batch, n_patches, n_vars, d_model).transpose(1, 2)
        return h + self.dropout(y)


def _ssm(config: TSM2Config, bidirectional: bool) -> SelectiveSSM:
    return SelectiveSSM(
        config.d_model,
        d_state=config.d_state,
        d_conv=config.d_conv,
        expand=config.expand,
        dt_rank=config.dt_rank,
        dt_min=config.dt_min,
        dt_max=config.dt_max,
        bidirectional=bidirectional,
        scan_backend=config.scan_backend,
    )


class TSM2Model(nn.Module):
    """Time Series MambaMixer: (batch, lookback, n_vars) -> (batch, horizon, n_vars)."""

    def __init__(self, config: TSM2Config, lookback: int, horizon: int, n_vars: int) -> None:
        super().__init__()
        if horizon < 1 or n_vars < 1:
            raise ValueError(f"horizon ({horizon}) and n_vars ({n_vars}) must be positive.")
        self.config = config
        self.lookback, self.horizon, self.n_vars = lookback, horizon, n_vars
        self.revin = RevIN(n_vars, affine=config.revin_affine) if config.revin else None
        self.patcher = Patcher(lookback, config.patch_len, config.stride, config.pad_end)
        n_patches = self.patcher.n_patches
        self.embed = nn.Linear(config.patch_len, config.d_model)
        self.position = (
            nn.Parameter(torch.empty(n_patches, config.d_model).uniform_(-0.02, 0.02))
            if config.positional_embedding
            else None
        )
        self.embed_dropout = nn.Dropout(config.dropout)
        mixers: list[nn.Module] = []
        for _ in range(config.n_layers):
            mixers.append(TokenMixer(config, n_patches))
            if config.channel_mixer:
                mixers.append(ChannelMixer(config, n_patches))
        self.mixers = nn.ModuleList(mixers)
        # dense_weights[k] weighs the k + 1 outputs [y⁰, y¹, ..., yᵏ] that mixer k reads; identity init.
        self.dense_weights = (
            nn.ParameterList(nn.Parameter(torch.eye(k + 1)[k].clone()) for k in range(len(mixers)))
            if config.skip == "dense"
            else None
        )
        self.final_norm = Norm2d(config.norm, n_patches, config.d_model)
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(n_patches * config.d_model, horizon)

    def forward(self, x: Tensor) -> Tensor:
        """Forecast ``horizon`` steps of every variate from a (batch, lookback, n_vars) window."""
        check_input_window("TSM2", x, self.lookback, self.n_vars)
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        h = self.embed(self.patcher(x))  # (batch, M, N, D)
        if self.position is not None:
            h = h + self.position
        h = self.embed_dropout(h)
        h = self.backbone(h)
        y = self.head(self.head_dropout(self.final_norm(h).flatten(2)))  # (batch, M, H)
        y = y.transpose(1, 2)
        return self.revin.denormalize(y, stats) if self.revin is not None else y

    def backbone(self, h: Tensor) -> Tensor:
        """The stack of token and channel mixers over embedded patches (batch, M, N, D)."""
        if self.dense_weights is None:
            for mixer in self.mixers:
                h = mixer(h)
            return h
        outputs = [h]
        for mixer, weights in zip(self.mixers, self.dense_weights):
            mixed = weights[0] * outputs[0]
            for w, y in zip(weights[1:], outputs[1:]):
                mixed = mixed + w * y
            outputs.append(mixer(mixed))
        return outputs[-1]


def dataset_defaults(dataset: str | None) -> dict[str, dict[str, Any]]:
    """TSM2 per-dataset choices (ours, the paper gives none) and training defaults.

    Training: Adam lr 1e-4 (PatchTST's; at 5e-4 the validation loss on ETTh1 rose after the first epoch at every
    horizon, and 1e-4 lowered it at every horizon), type3 schedule (x0.9 per epoch from epoch 3), batch 64, at
    most 100 epochs, early stopping with patience 3: TSM2's validation loss bottoms out within a few epochs, and
    replaying the first L=512 grid's logs, patience 3 kept the same best epoch as 10 in 20 of 20 cells with 2.2x
    fewer epochs (benchmarks/replay_patience.py).
    Per family, chosen on the validation split only (benchmarks/results/tsm2_recipe_sweep/, L=512, one seed):
    ETTh1/ETTh2 get PatchTST's d_model 16 and dropout 0.3 (benchmarks/results/etth1_accuracy.md) and head
    dropout 0.3 (the sweep's best of six variants, 0.6 % lower validation MSE, lower in 6 of 8 cells); ETTm1/ETTm2
    get d_model 16 (3.6 % lower validation MSE than 64, up to 10 % at ETTm2-720; 32, more dropout, weight decay and
    a slower rate each did less). A second sweep on top of those (benchmarks/results/tsm2_recipe_sweep2/) turned
    the channel mixers off on all four ETT datasets: mean validation MSE ratio without/with 0.992 on ETTh (lower
    in 5 of 8 cells, up to 2.4 % on ETTh2) and 0.995 on ETTm (lower in 5 of 8): small, but the rule fixed
    before the run picks it. Weather keeps the config defaults (channel mixers on): its sweep
    (benchmarks/results/tsm2_recipe_sweep5/) found no variant under the 0.995 margin, and without the channel
    mixers its validation MSE rose 0.9 % (2.9 % at H96).
    """
    train = {"learning_rate": 1e-4, "batch_size": 64, "max_epochs": 100, "patience": 3, "lr_schedule": "type3"}
    model: dict[str, Any] = {}
    key = (dataset or "").lower()
    if key in ("etth1", "etth2"):
        model = {"d_model": 16, "dropout": 0.3, "head_dropout": 0.3, "channel_mixer": False}
    elif key in ("ettm1", "ettm2"):
        model = {"d_model": 16, "channel_mixer": False}
    return {"model": model, "train": train}


def channel_independent(config: TSM2Config) -> bool:
    """Without channel mixers (and without RevIN's per-variate affine weights) every variate goes through the same
    weights on its own: the forecasters then run TSM2 as one global univariate model over a panel of series."""
    return not config.channel_mixer and not (config.revin and config.revin_affine)


SPEC = ModelSpec("tsm2", TSM2Config, TSM2Model, dataset_defaults, channel_independent)
