"""PatchTST: faithfulness to the official supervised code (patching, RevIN, residual attention, sizes, defaults)."""

from __future__ import annotations

import pytest
import torch

from tsmamba.models.patching import Patcher, count_patches
from tsmamba.models.patchtst import EncoderLayer, PatchTSTConfig, PatchTSTModel, dataset_defaults
from tsmamba.models.registry import make_config
from tsmamba.models.revin import RevIN

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(("lookback", "n_patches"), [(336, 42), (512, 64), (96, 12)])
def test_patch_count_gives_the_paper_names(lookback: int, n_patches: int) -> None:
    """PatchTST/42 and PatchTST/64 are the token counts at lookback 336 and 512 with end padding."""
    assert count_patches(lookback, 16, 8, pad_end=True) == n_patches


def test_end_padding_repeats_the_last_value() -> None:
    x = torch.arange(20.0).view(1, 20, 1)
    patches = Patcher(20, 8, 4, pad_end=True)(x)
    assert patches.shape == (1, 1, 5, 8)
    assert torch.equal(patches[0, 0, 0], torch.arange(8.0))
    assert torch.equal(patches[0, 0, -1], torch.tensor([16.0, 17, 18, 19, 19, 19, 19, 19]))


@pytest.mark.parametrize(("affine", "subtract_last"), [(False, False), (True, False), (False, True)])
def test_revin_round_trip_and_statistics(affine: bool, subtract_last: bool) -> None:
    torch.manual_seed(0)
    revin = RevIN(3, affine=affine, subtract_last=subtract_last)
    if affine:
        with torch.no_grad():
            revin.weight.uniform_(0.5, 2.0)
            revin.bias.normal_()
    x = 5.0 + 3.0 * torch.randn(4, 50, 3)
    normed, stats = revin.normalize(x)
    assert torch.allclose(revin.denormalize(normed, stats), x, atol=1e-4)
    if not affine and not subtract_last:
        assert torch.allclose(normed.mean(dim=1), torch.zeros(4, 3), atol=1e-5)
        assert torch.allclose(normed.std(dim=1, unbiased=False), torch.ones(4, 3), atol=1e-4)
    if subtract_last:
        assert torch.allclose(normed[:, -1], torch.zeros(4, 3), atol=1e-6)


def test_parameter_count_matches_the_official_layout() -> None:
    """ETTh1 model at L=336, H=96, counted from the official module list (W_P, W_pos, 3 layers, flatten head)."""
    model = PatchTSTModel(make_config("patchtst", "ETTh1"), 336, 96, 7)
    d, ff, n = 16, 128, 42
    layer = 4 * (d * d + d) + 2 * (2 * d) + (d * ff + ff) + (ff * d + d)
    expected = (16 * d + d) + n * d + 3 * layer + (n * d * 96 + 96)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_residual_attention_adds_the_previous_layers_scores() -> None:
    torch.manual_seed(0)
    config = PatchTSTConfig(d_model=16, n_heads=4, d_ff=32, dropout=0.0)
    first, second = EncoderLayer(config).eval(), EncoderLayer(config).eval()
    x = torch.randn(5, 6, 16)
    with torch.no_grad():
        hidden, scores1 = first(x, None)
        _, scores2 = second(hidden, scores1)
        attn = second.self_attn
        q = attn.W_Q(hidden).view(5, 6, 4, 4).transpose(1, 2)
        k = attn.W_K(hidden).view(5, 6, 4, 4).transpose(1, 2)
        own = q @ k.transpose(-2, -1) / 2.0  # scale = head_dim ** -0.5 = 1/2
    assert torch.allclose(scores2, own + scores1, atol=1e-5)


def test_residual_attention_can_be_switched_off() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 64, 3)
    outputs = []
    for res_attention in (True, False):
        torch.manual_seed(1)
        model = PatchTSTModel(PatchTSTConfig(d_model=16, n_heads=4, d_ff=32, res_attention=res_attention), 64, 8, 3)
        with torch.no_grad():
            outputs.append(model.eval()(x))
    assert not torch.allclose(outputs[0], outputs[1])


@pytest.mark.parametrize("individual", [False, True])
def test_channel_independence(individual: bool) -> None:
    """Perturbing one variate leaves every other variate's forecast unchanged (eval mode)."""
    torch.manual_seed(0)
    model = PatchTSTModel(PatchTSTConfig(d_model=16, n_heads=4, d_ff=32, individual=individual), 64, 8, 3).eval()
    x = torch.randn(2, 64, 3)
    moved = x.clone()
    moved[:, :, 1] += torch.randn(2, 64)
    with torch.no_grad():
        a, b = model(x), model(moved)
    assert torch.allclose(a[..., [0, 2]], b[..., [0, 2]], atol=1e-6)
    assert not torch.allclose(a[..., 1], b[..., 1])


def test_head_is_per_variate_when_individual() -> None:
    model = PatchTSTModel(PatchTSTConfig(d_model=16, n_heads=4, d_ff=32, individual=True), 64, 8, 3)
    assert len(model.heads) == 3


def test_dataset_defaults_are_the_official_scripts() -> None:
    etth = dataset_defaults("ETTh1")
    assert etth["model"] == {"n_layers": 3, "n_heads": 4, "d_model": 16, "d_ff": 128, "dropout": 0.3}
    assert etth["train"] == {
        "learning_rate": 1e-4,
        "batch_size": 128,
        "max_epochs": 100,
        "patience": 100,
        "lr_schedule": "type3",
        "drop_last": True,
    }
    assert dataset_defaults("etth2") == etth
    ettm = dataset_defaults("ETTm1")
    assert ettm["model"] == {}
    assert ettm["train"]["lr_schedule"] == "onecycle" and ettm["train"]["pct_start"] == 0.4
    assert ettm["train"]["patience"] == 20
    assert dataset_defaults("ETTm2") == ettm
    weather = dataset_defaults("Weather")
    assert weather["train"]["lr_schedule"] == "type3" and weather["train"]["patience"] == 20
    config = make_config("patchtst", "Weather")
    assert (config.n_layers, config.n_heads, config.d_model, config.d_ff, config.dropout) == (3, 16, 128, 256, 0.2)


def test_d_model_must_divide_into_heads() -> None:
    with pytest.raises(ValueError, match="divisible by n_heads"):
        PatchTSTConfig(d_model=18, n_heads=4)
