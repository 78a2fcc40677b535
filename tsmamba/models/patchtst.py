"""PatchTST (Nie et al., ICLR 2023), faithful to the official supervised code (yuqinie98/PatchTST).

    x (batch, L, M) ──RevIN──▶ patch each variate (16/8, end padding) ──W_P──▶ + W_pos ──dropout──▶
    (batch·M, N, d_model) ──n_layers × [residual attention + BatchNorm, feed-forward + BatchNorm]──▶
    flatten N·d_model per variate ──linear──▶ horizon ──inverse RevIN──▶ (batch, H, M)

What matches the official ``PatchTST_backbone``/``PatchTST_layers``/``RevIN`` (and the paper's scripts'
arguments): channel independence (one encoder for all variates); RevIN with affine off and mean subtraction;
``padding_patch='end'`` (the last value repeated ``stride`` times); a learnable positional table initialised
U(-0.02, 0.02) (``pe='zeros', learn_pe=True``); post-norm encoder layers with BatchNorm1d over d_model;
attention with a fixed 1/sqrt(head_dim) scale, biases on Q/K/V, and *residual attention*: each layer adds the
previous layer's pre-softmax scores to its own; dropout after the output projection *and* again on the
attention branch before the residual sum, and twice in the feed-forward branch, as the official layer does;
GELU; a flatten head (``individual=False``) with ``head_dropout`` 0.

Deliberate differences, none of which changes the function class: the head flattens each variate's tokens in
(patch, d_model) order instead of (d_model, patch), a fixed permutation of the head's input; ``fc_dropout``
is not an option because the supervised flatten head never uses it (only the pre-training head does); the
series-decomposition variant, ``pre_norm``, ``lsa`` and key-padding masks (all off in the scripts) are not
implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsmamba.models.patching import Patcher
from tsmamba.models.registry import ModelSpec, check_input_window
from tsmamba.models.revin import RevIN

NORMS = ("batchnorm", "layernorm")
ACTIVATIONS = ("gelu", "relu")


@dataclass
class PatchTSTConfig:
    """PatchTST options. Defaults are the paper's scripts for ETTm1/ETTm2/Weather (PatchTST/42 and /64);
    ``dataset_defaults`` switches ETTh1/ETTh2 to their smaller model, as the scripts do.

    - ``n_layers=3`` (``e_layers``), ``n_heads=16``, ``d_model=128``, ``d_ff=256``, ``dropout=0.2``: scripts.
    - ``attn_dropout=0.0``, ``head_dropout=0.0``: scripts / ``run_longExp.py`` defaults.
    - ``patch_len=16``, ``stride=8``, ``pad_end=True``: scripts (``padding_patch='end'``).
    - ``revin=True``, ``revin_affine=False``, ``subtract_last=False``: ``run_longExp.py`` defaults.
    - ``res_attention=True``, ``norm="batchnorm"``, ``activation="gelu"``: ``PatchTST`` model defaults.
    - ``individual=False``: one head shared by all variates (``run_longExp.py`` default).
    """

    n_layers: int = 3
    n_heads: int = 16
    d_model: int = 128
    d_ff: int = 256
    dropout: float = 0.2
    attn_dropout: float = 0.0
    head_dropout: float = 0.0
    patch_len: int = 16
    stride: int = 8
    pad_end: bool = True
    revin: bool = True
    revin_affine: bool = False
    subtract_last: bool = False
    res_attention: bool = True
    norm: str = "batchnorm"
    activation: str = "gelu"
    individual: bool = False

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"PatchTST option norm={self.norm!r} is not one of {NORMS}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"PatchTST option activation={self.activation!r} is not one of {ACTIVATIONS}.")
        for name in ("n_layers", "n_heads", "d_model", "d_ff", "patch_len", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"PatchTST option {name}={getattr(self, name)} must be a positive integer.")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"PatchTST d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads}): change one of them."
            )
        for name in ("dropout", "attn_dropout", "head_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"PatchTST option {name}={getattr(self, name)} must be in [0, 1).")


class _TokenNorm(nn.Module):
    """BatchNorm1d over d_model of (batch, tokens, d_model) (official Transpose-BatchNorm-Transpose), or LayerNorm."""

    def __init__(self, kind: str, d_model: int) -> None:
        super().__init__()
        self.batch = kind == "batchnorm"
        self.norm = nn.BatchNorm1d(d_model) if self.batch else nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2) if self.batch else self.norm(x)


class ResidualAttention(nn.Module):
    """Multi-head self-attention that also returns its pre-softmax scores for the next layer."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float, proj_dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.scale = self.head_dim**-0.5
        self.W_Q = nn.Linear(d_model, d_model)
        self.W_K = nn.Linear(d_model, d_model)
        self.W_V = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.to_out = nn.Sequential(nn.Linear(d_model, d_model), nn.Dropout(proj_dropout))

    def forward(self, x: Tensor, prev: Tensor | None) -> tuple[Tensor, Tensor]:
        """``x`` (batch, tokens, d_model), ``prev`` scores (batch, heads, tokens, tokens) or None."""
        batch, tokens, _ = x.shape
        q, k, v = (
            proj(x).view(batch, tokens, self.n_heads, self.head_dim).transpose(1, 2)
            for proj in (self.W_Q, self.W_K, self.W_V)
        )
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        if prev is not None:
            scores = scores + prev
        attn = self.attn_dropout(F.softmax(scores, dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(batch, tokens, -1)
        return self.to_out(out), scores


class EncoderLayer(nn.Module):
    """Post-norm Transformer encoder layer of the official code (dropouts and norms in its order)."""

    def __init__(self, config: PatchTSTConfig) -> None:
        super().__init__()
        self.res_attention = config.res_attention
        self.self_attn = ResidualAttention(config.d_model, config.n_heads, config.attn_dropout, config.dropout)
        self.dropout_attn = nn.Dropout(config.dropout)
        self.norm_attn = _TokenNorm(config.norm, config.d_model)
        self.ff = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU() if config.activation == "gelu" else nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.d_ff, config.d_model),
        )
        self.dropout_ffn = nn.Dropout(config.dropout)
        self.norm_ffn = _TokenNorm(config.norm, config.d_model)

    def forward(self, x: Tensor, prev: Tensor | None) -> tuple[Tensor, Tensor | None]:
        attended, scores = self.self_attn(x, prev if self.res_attention else None)
        x = self.norm_attn(x + self.dropout_attn(attended))
        x = self.norm_ffn(x + self.dropout_ffn(self.ff(x)))
        return x, scores if self.res_attention else None


class PatchTSTModel(nn.Module):
    """PatchTST supervised forecaster: (batch, lookback, n_vars) -> (batch, horizon, n_vars)."""

    def __init__(self, config: PatchTSTConfig, lookback: int, horizon: int, n_vars: int) -> None:
        super().__init__()
        if horizon < 1 or n_vars < 1:
            raise ValueError(f"horizon ({horizon}) and n_vars ({n_vars}) must be positive.")
        self.config = config
        self.lookback, self.horizon, self.n_vars = lookback, horizon, n_vars
        self.revin = (
            RevIN(n_vars, affine=config.revin_affine, subtract_last=config.subtract_last) if config.revin else None
        )
        self.patcher = Patcher(lookback, config.patch_len, config.stride, config.pad_end)
        n_patches = self.patcher.n_patches
        self.W_P = nn.Linear(config.patch_len, config.d_model)
        self.W_pos = nn.Parameter(torch.empty(n_patches, config.d_model).uniform_(-0.02, 0.02))
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        n_features = n_patches * config.d_model
        if config.individual:
            self.heads = nn.ModuleList(nn.Linear(n_features, horizon) for _ in range(n_vars))
        else:
            self.head = nn.Linear(n_features, horizon)
        self.head_dropout = nn.Dropout(config.head_dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Forecast ``horizon`` steps of every variate from a (batch, lookback, n_vars) window."""
        check_input_window("PatchTST", x, self.lookback, self.n_vars)
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        patches = self.patcher(x)  # (batch, M, N, patch_len)
        batch, n_vars, n_patches, _ = patches.shape
        z = self.dropout(self.W_P(patches).reshape(batch * n_vars, n_patches, -1) + self.W_pos)
        scores = None
        for layer in self.layers:
            z, scores = layer(z, scores)
        z = z.reshape(batch, n_vars, -1)  # flatten (patch, d_model) per variate
        if self.config.individual:
            y = torch.stack([head(z[:, i]) for i, head in enumerate(self.heads)], dim=1)
        else:
            y = self.head(z)
        y = self.head_dropout(y).transpose(1, 2)  # (batch, H, M)
        return self.revin.denormalize(y, stats) if self.revin is not None else y


def dataset_defaults(dataset: str | None) -> dict[str, dict[str, Any]]:
    """The official scripts' per-dataset settings (``scripts/PatchTST/{etth1,etth2,ettm1,ettm2,weather}.sh``).

    ETTh1/ETTh2: e_layers 3, n_heads 4, d_model 16, d_ff 128, dropout 0.3, batch 128, lr 1e-4, 100 epochs,
    patience 100 (``run_longExp.py``'s default: the script sets none), ``lradj`` type3 (default).
    ETTm1/ETTm2: 3/16/128/256, dropout 0.2, batch 128, lr 1e-4, 100 epochs, patience 20, ``lradj='TST'``
    (one-cycle, stepped per batch) with pct_start 0.4. Weather: as ETTm but type3.
    Other datasets get the config defaults and the same training protocol as Weather. Every dataset trains
    with ``drop_last`` (the official training loader drops the last partial batch; evaluation never does).
    """
    key = (dataset or "").lower()
    train: dict[str, Any] = {
        "learning_rate": 1e-4,
        "batch_size": 128,
        "max_epochs": 100,
        "lr_schedule": "type3",
        "drop_last": True,
    }
    model: dict[str, Any] = {}
    if key in ("etth1", "etth2"):
        model = {"n_layers": 3, "n_heads": 4, "d_model": 16, "d_ff": 128, "dropout": 0.3}
        train["patience"] = 100
    elif key in ("ettm1", "ettm2"):
        train.update(patience=20, lr_schedule="onecycle", pct_start=0.4)
    else:
        train["patience"] = 20
    return {"model": model, "train": train}


# individual heads and RevIN's affine weights are per variate; otherwise every variate goes through the same weights
SPEC = ModelSpec(
    "patchtst",
    PatchTSTConfig,
    PatchTSTModel,
    dataset_defaults,
    channel_independent=lambda config: not (config.individual or (config.revin and config.revin_affine)),
)
