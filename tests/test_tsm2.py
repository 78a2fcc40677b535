"""TSM2: option combinations, causality of the token mixer, reach of the channel mixer, dense averaging, scan."""

from __future__ import annotations

import itertools

import pytest
import torch
from tsmamba.kernels import selective_scan_loop

import tsmamba.models.selective_ssm as selective_ssm
from tsmamba.models.registry import make_config
from tsmamba.models.selective_ssm import SelectiveSSM
from tsmamba.models.tsm2 import ChannelMixer, TokenMixer, TSM2Config, TSM2Model

LOOKBACK, HORIZON, N_VARS = 24, 6, 3
TINY = {"d_model": 8, "d_state": 4, "patch_len": 8, "stride": 4, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**overrides) -> TSM2Model:
    return TSM2Model(TSM2Config(**{**TINY, **overrides}), LOOKBACK, HORIZON, N_VARS)


OPTIONS = {
    "token_direction": ["forward", "bidirectional"],
    "skip": ["dense", "residual"],
    "norm": ["batchnorm2d", "layernorm2d"],
    "revin": [True, False],
    "positional_embedding": [True, False],
    "pad_end": [True, False],
}


@pytest.mark.parametrize("combo", list(itertools.product(*OPTIONS.values())), ids=lambda c: "-".join(map(str, c)))
def test_shapes_for_every_option_combination(combo) -> None:
    torch.manual_seed(0)
    model = tiny(**dict(zip(OPTIONS, combo)), n_layers=1)
    y = model(torch.randn(2, LOOKBACK, N_VARS))
    assert y.shape == (2, HORIZON, N_VARS)
    assert torch.isfinite(y).all()


def test_patch_count_follows_patchtst() -> None:
    assert tiny().patcher.n_patches == (LOOKBACK - 8) // 4 + 2
    assert tiny(pad_end=False).patcher.n_patches == (LOOKBACK - 8) // 4 + 1


def perturbed_at_patch(h: torch.Tensor, patch: int) -> torch.Tensor:
    out = h.clone()
    out[:, :, patch] += torch.randn_like(out[:, :, patch])
    return out


@pytest.mark.parametrize("n_patches", [5, 9])
def test_forward_token_mixer_is_causal_along_patches(n_patches: int) -> None:
    torch.manual_seed(0)
    mixer = TokenMixer(TSM2Config(**TINY, norm="batchnorm2d"), n_patches).eval()
    h = torch.randn(2, N_VARS, n_patches, 8)
    for patch in range(n_patches):
        with torch.no_grad():
            base, moved = mixer(h), mixer(perturbed_at_patch(h, patch))
        assert torch.equal(base[:, :, :patch], moved[:, :, :patch]), f"patch {patch} leaked into earlier patches"
        assert not torch.allclose(base[:, :, patch], moved[:, :, patch])


def test_whole_forward_backbone_is_causal_along_patches() -> None:
    """With batchnorm2d (per-position statistics) the stack of mixers is causal too: channel mixing is per patch."""
    torch.manual_seed(0)
    model = tiny(n_layers=2, norm="batchnorm2d").eval()
    h = torch.randn(2, N_VARS, model.patcher.n_patches, 8)
    with torch.no_grad():
        base, moved = model.backbone(h), model.backbone(perturbed_at_patch(h, 3))
    assert torch.equal(base[:, :, :3], moved[:, :, :3])
    assert not torch.allclose(base[:, :, 3:], moved[:, :, 3:])


def test_bidirectional_token_mixer_sees_later_patches() -> None:
    torch.manual_seed(0)
    mixer = TokenMixer(TSM2Config(**TINY, token_direction="bidirectional"), 6).eval()
    h = torch.randn(2, N_VARS, 6, 8)
    with torch.no_grad():
        base, moved = mixer(h), mixer(perturbed_at_patch(h, 5))
    assert not torch.allclose(base[:, :, :5], moved[:, :, :5])


@pytest.mark.parametrize("variate", [0, 2, 4])
def test_channel_mixer_sees_every_variate(variate: int) -> None:
    """Perturbing one variate changes every other variate's output, before and after it (forward + backward)."""
    torch.manual_seed(0)
    n_vars = 5
    mixer = ChannelMixer(TSM2Config(**TINY), 4).eval()
    h = torch.randn(2, n_vars, 4, 8)
    moved = h.clone()
    moved[:, variate] += torch.randn_like(moved[:, variate])
    with torch.no_grad():
        change = (mixer(h) - mixer(moved)).abs().amax(dim=(0, 2, 3))
    assert torch.all(change > 1e-6), f"variates unaffected by variate {variate}: {change}"


def test_whole_model_forecast_of_one_variate_depends_on_the_others() -> None:
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.randn(2, LOOKBACK, N_VARS)
    moved = x.clone()
    moved[:, :, 0] += torch.randn(2, LOOKBACK)
    with torch.no_grad():
        change = (model(x) - model(moved)).abs().amax(dim=(0, 1))
    assert torch.all(change[1:] > 1e-6)


def test_dense_weights_start_as_the_identity_path() -> None:
    torch.manual_seed(0)
    model = tiny(n_layers=2)
    assert len(model.dense_weights) == 4
    for k, weights in enumerate(model.dense_weights):
        expected = torch.zeros(k + 1)
        expected[k] = 1.0
        assert torch.equal(weights.detach(), expected)
    inputs, outputs = [], []

    def record(module, args, out) -> None:
        inputs.append(args[0])
        outputs.append(out)

    hooks = [m.register_forward_hook(record) for m in model.mixers]
    x = torch.randn(2, LOOKBACK, N_VARS)
    model(x)
    for hook in hooks:
        hook.remove()
    embedded = model.embed_dropout(model.embed(model.patcher(model.revin.normalize(x)[0])) + model.position)
    assert torch.equal(inputs[0], embedded)
    for k in range(1, 4):
        assert torch.equal(inputs[k], outputs[k - 1]), f"mixer {k} does not read mixer {k - 1}'s output alone"


def test_dense_weights_learn_to_use_earlier_outputs() -> None:
    torch.manual_seed(0)
    model = tiny(n_layers=2)
    model(torch.randn(2, LOOKBACK, N_VARS)).pow(2).mean().backward()
    assert all(torch.all(w.grad != 0) for w in model.dense_weights)


def test_residual_skip_has_no_dense_weights() -> None:
    assert tiny(skip="residual").dense_weights is None


def fp64_reference_scan(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, reverse=False, backend="auto"
):
    return selective_scan_loop(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse).to(u.dtype)


@pytest.mark.parametrize("token_direction", ["forward", "bidirectional"])
def test_forward_with_torch_scan_equals_fp64_reference(monkeypatch, token_direction: str) -> None:
    torch.manual_seed(0)
    model = tiny(n_layers=2, token_direction=token_direction, scan_backend="torch").eval()
    x = torch.randn(3, LOOKBACK, N_VARS)
    with torch.no_grad():
        fast = model(x)
        monkeypatch.setattr(selective_ssm, "selective_scan", fp64_reference_scan)
        reference = model(x)
    error = (fast - reference).norm() / reference.norm()
    assert error < 1e-5, f"relative error {error:.2e}"


def test_selective_ssm_gradients_match_fp64_reference(monkeypatch) -> None:
    torch.manual_seed(0)
    block = SelectiveSSM(8, d_state=4, bidirectional=True, scan_backend="torch")
    h = torch.randn(2, 7, 8, requires_grad=True)
    block(h).pow(2).sum().backward()
    fast = [h.grad.clone()] + [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    h.grad = None
    monkeypatch.setattr(selective_ssm, "selective_scan", fp64_reference_scan)
    block(h).pow(2).sum().backward()
    reference = [h.grad] + [p.grad for p in block.parameters()]
    for a, b in zip(fast, reference):
        assert (a - b).norm() <= 1e-4 * b.norm() + 1e-7


def test_mamba_initialisation() -> None:
    torch.manual_seed(0)
    block = SelectiveSSM(16, d_state=8, dt_min=1e-3, dt_max=1e-1)
    branch = block.branches[0]
    dt = torch.nn.functional.softplus(branch.dt_proj.bias.detach())
    assert torch.all(dt >= 1e-3 * 0.999) and torch.all(dt <= 1e-1 * 1.001)
    assert torch.allclose(-torch.exp(branch.A_log.detach()), -torch.arange(1, 9.0).expand(32, 8))
    assert torch.equal(branch.D.detach(), torch.ones(32))
    assert branch.dt_proj.in_features == 1  # ceil(16 / 16)


@pytest.mark.parametrize(
    ("option", "value"),
    [("token_direction", "backward"), ("skip", "none"), ("norm", "rmsnorm"), ("d_model", 0), ("dt_min", 0.0)],
)
def test_invalid_options_are_clear_errors(option: str, value) -> None:
    with pytest.raises(ValueError, match=option):
        TSM2Config(**{option: value})


def test_dataset_defaults_shrink_the_model_for_ett() -> None:
    assert make_config("tsm2", "ETTh1").d_model == 16
    assert make_config("tsm2", "ETTh2").head_dropout == 0.3
    assert make_config("tsm2", "ETTm2").d_model == 16
    assert make_config("tsm2", "Weather") == TSM2Config()
    assert make_config("tsm2", "ETTh1", {"d_model": 128}).d_model == 128


@pytest.mark.parametrize("token_direction", ["forward", "bidirectional"])
def test_training_gradients_with_torch_scan_equal_fp64_reference(monkeypatch, token_direction: str) -> None:
    # the whole model in training mode (BatchNorm batch statistics), every parameter's gradient, within the
    # kernel tests' fp32 tolerances (rtol 6e-4, atol 2e-3 scaled by the gradient's size)
    torch.manual_seed(0)
    model = tiny(n_layers=2, token_direction=token_direction, scan_backend="torch").train()
    x, y = torch.randn(4, LOOKBACK, N_VARS), torch.randn(4, HORIZON, N_VARS)

    def gradients() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        out = model(x)
        (out - y).pow(2).mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    fast_out, fast = gradients()
    monkeypatch.setattr(selective_ssm, "selective_scan", fp64_reference_scan)
    ref_out, reference = gradients()
    torch.testing.assert_close(fast_out, ref_out, rtol=6e-4, atol=2e-3)
    assert fast.keys() == reference.keys()
    for name, g in fast.items():
        g_ref = reference[name]
        assert g_ref.abs().max() > 0, f"{name} has no gradient: the test would compare nothing"
        scale = max(1.0, g_ref.abs().max().item())
        torch.testing.assert_close(g, g_ref, rtol=6e-4, atol=2e-3 * scale, msg=lambda m, n=name: f"d{n}: {m}")


@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_shifted_conv_equals_the_conv1d_module(reverse: bool) -> None:
    torch.manual_seed(0)
    conv1d = torch.nn.Conv1d(6, 6, 4, groups=6, padding=3).double()
    x = torch.randn(2, 9, 6, dtype=torch.float64, requires_grad=True)
    full = conv1d(x.transpose(1, 2))
    expected = (full[..., 3:] if reverse else full[..., :9]).transpose(1, 2)
    got = selective_ssm._shifted_conv(x, conv1d.weight, conv1d.bias, reverse)
    torch.testing.assert_close(got, expected)
    probe = torch.randn_like(expected)
    leaves = [x, conv1d.weight, conv1d.bias]
    for g, g_ref in zip(
        torch.autograd.grad((got * probe).sum(), leaves), torch.autograd.grad((expected * probe).sum(), leaves)
    ):
        torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("channel_mixer", [True, False])
def test_channel_mixer_option_decides_whether_variates_see_each_other(channel_mixer: bool) -> None:
    # without the channel mixers each variate's forecast depends on its own history only (the ablation);
    # with them, changing one variate's input moves every variate's forecast
    torch.manual_seed(0)
    model = tiny(channel_mixer=channel_mixer, scan_backend="torch").eval()
    kinds = [type(m) for m in model.mixers]
    assert kinds.count(TokenMixer) == model.config.n_layers
    assert kinds.count(ChannelMixer) == (model.config.n_layers if channel_mixer else 0)
    x = torch.randn(2, LOOKBACK, N_VARS)
    moved = x.clone()
    moved[:, :, 0] += torch.randn(2, LOOKBACK)
    with torch.no_grad():
        change = (model(moved) - model(x)).abs().amax(dim=(0, 1))  # per variate
    assert change[0] > 1e-3
    if channel_mixer:
        assert (change[1:] > 1e-6).all()
    else:
        assert (change[1:] == 0).all()
