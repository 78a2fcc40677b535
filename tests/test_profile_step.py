"""benchmarks/profile_step.py groups a profiled step's kernels by kind: check the grouping on real kernel names."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def profile_step():
    return load_benchmark("profile_step")  # it imports its sibling model_speed.py, as when run from there


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("_scan_fwd_kernel", "scan"),
        ("_scan_bwd_kernel", "scan"),
        ("_chain_chunks_kernel", "scan"),
        ("_conv1d_bwd_dpre_kernel", "conv"),
        ("sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x32", "gemm"),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "elementwise"),
        ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps>>", "reduction"),
        ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>", "norm"),
        ("void at::native::multi_tensor_apply_kernel<at::native::TensorListMetadata<4>>", "optimizer"),
        ("Memcpy DtoD (Device -> Device)", "copy"),
        ("void at::native::(anonymous namespace)::fused_dropout_kernel_vec<float, float, unsigned int>", "dropout"),
        ("void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernelTemplate<float, float>", "norm"),
        ("void cudnn::bn_bw_1C11_kernel_new<float, float, float2, 32, true, 1>", "norm"),
    ],
)
def test_kernel_names_map_to_their_kind(profile_step, name: str, kind: str) -> None:
    assert profile_step.kind_of(name) == kind


def test_summary_divides_by_steps_and_totals_every_kind(profile_step) -> None:
    events = [("_scan_fwd_kernel", 4, 300.0), ("_scan_bwd_kernel", 4, 500.0), ("Memcpy DtoD", 8, 200.0)]
    kernel_rows, kind_rows = profile_step.summarise(events, steps=2)
    assert kernel_rows[0].startswith("| _scan_bwd_kernel | scan | 2.0 | 250.0 | 50.0 |")
    assert kind_rows[0] == "| scan | 4 | 400.0 | 80.0 |"
    assert kind_rows[-1] == "| all | 8 | 500.0 | 100.0 |"


def test_model_speed_times_tsm2_with_its_dataset_defaults_and_the_full_model_beside_it(profile_step) -> None:
    import model_speed  # imported by profile_step from the benchmarks folder

    cpu = __import__("torch").device("cpu")
    default, *_ = model_speed.build_step("tsm2", "ETTh1", 7, 96, "eager", 2, 24, cpu)
    full, *_ = model_speed.build_step("tsm2+cm", "ETTh1", 7, 96, "eager", 2, 24, cpu)
    assert default.config.channel_mixer is False  # ETT's per-dataset default
    assert full.config.channel_mixer is True and full.config.d_model == default.config.d_model


def test_model_speed_scan_config_option_sets_either_kernel_config_or_names_the_keys(profile_step, monkeypatch) -> None:
    pytest.importorskip("triton")
    import model_speed
    from tsmamba.kernels import conv1d_triton, scan_triton_bwd, scan_triton_fwd

    monkeypatch.setattr(scan_triton_bwd, "BWD_CONFIG", dict(scan_triton_bwd.BWD_CONFIG))
    monkeypatch.setattr(scan_triton_fwd, "FWD_CONFIG", dict(scan_triton_fwd.FWD_CONFIG))
    monkeypatch.setattr(conv1d_triton, "DPRE_CONFIG", dict(conv1d_triton.DPRE_CONFIG))
    fwd_before = dict(scan_triton_fwd.FWD_CONFIG)
    model_speed.apply_scan_config(["min_programs=0", "min_tiles=2"])
    assert scan_triton_bwd.BWD_CONFIG["min_programs"] == 0 and scan_triton_bwd.BWD_CONFIG["min_tiles"] == 2
    assert scan_triton_fwd.FWD_CONFIG == fwd_before  # a plain KEY is the backward's, even where both tables have it
    model_speed.apply_scan_config(["fwd.maxnreg=128", "maxnreg=168", "fwd.min_programs=4"])
    assert scan_triton_fwd.FWD_CONFIG["maxnreg"] == 128 and scan_triton_fwd.FWD_CONFIG["min_programs"] == 4
    assert scan_triton_bwd.BWD_CONFIG["maxnreg"] == 168 and scan_triton_bwd.BWD_CONFIG["min_programs"] == 0
    model_speed.apply_scan_config(["conv.block_r=32", "conv.num_warps=16"])
    assert conv1d_triton.DPRE_CONFIG["block_r"] == 32 and conv1d_triton.DPRE_CONFIG["num_warps"] == 16
    assert scan_triton_fwd.FWD_CONFIG["maxnreg"] == 128  # untouched by conv. items
    for bad in ("no_such_key=1", "min_tiles", "min_tiles=yes", "fwd.min_tiles=2", "conv.maxnreg=1"):
        with pytest.raises(ValueError, match="KEY=INT with KEY one of"):
            model_speed.apply_scan_config([bad])


@pytest.mark.parametrize("model_name", ["tsm2", "patchtst"])
def test_model_speed_bf16_mixed_runs_the_forward_under_autocast(profile_step, model_name) -> None:
    import model_speed
    import torch

    from tsmamba.training import PRECISIONS

    assert set(model_speed.AUTOCAST) <= set(PRECISIONS)  # the benchmark's precisions are the trainer's
    cpu = torch.device("cpu")
    model, _, train_step, _ = model_speed.build_step(model_name, "ETTh1", 7, 96, "eager", 2, 24, cpu, "bf16-mixed")
    seen: list[torch.dtype] = []
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    train_step()
    assert seen == [torch.bfloat16]
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_model_speed_warms_up_for_a_count_and_then_for_a_time(profile_step) -> None:
    import time

    import model_speed
    import torch

    cpu = torch.device("cpu")
    calls = []
    assert model_speed.warm_up(lambda: calls.append(1), cpu, 3, 0.0) == 3 == len(calls)
    started = time.perf_counter()
    made = model_speed.warm_up(lambda: time.sleep(0.01), cpu, 1, 0.1)
    assert time.perf_counter() - started >= 0.1 and made >= 5  # on past the count until the time is up


@pytest.mark.parametrize("inference", [False, True])
def test_profile_step_profiles_the_inference_call_on_request(profile_step, monkeypatch, tmp_path, inference) -> None:
    # --inference profiles model_speed's eval-mode forward: no loss, backward or optimizer in it
    out = tmp_path / "profile.md"
    argv = ["profile_step.py", "--device", "cpu", "--model", "dlinear", "--lookback", "96", "--warmup", "1",
            "--steps", "1", "--out", str(out)]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv + (["--inference"] if inference else []))
    profile_step.main()
    text = out.read_text()
    assert text.startswith(f"# Profile of one {'inference call' if inference else 'training step'}: dlinear")
    assert ("| optimizer |" in text) is not inference and ("mse_loss" in text) is not inference
    assert "Unprofiled wall time per call: " in text and "ms (median of 1)" in text


def test_host_table_lists_cpu_events_per_step_and_host_is_refused_on_the_cpu(profile_step, monkeypatch) -> None:
    events = [("cudaLaunchKernel", 40, 300.0), ("autograd::engine::evaluate_function: AccumulateGrad", 20, 100.0)]
    rows = profile_step.host_rows(events, steps=2)
    assert "Host: 200.0 µs of CPU self time per step" in rows[1]
    assert rows[5] == "| cudaLaunchKernel | 20.0 | 150.0 | 75.0 |"
    monkeypatch.setattr("sys.argv", ["profile_step.py", "--device", "cpu", "--host"])
    with pytest.raises(SystemExit):
        profile_step.main()


def test_model_speed_tunes_malloc_on_the_cpu_as_training_does(profile_step, monkeypatch) -> None:
    import model_speed
    import torch

    calls = []
    monkeypatch.setattr(model_speed, "tune_cpu_allocator", lambda: calls.append(1) or True)
    model_speed.build_step("dlinear", "ETTh1", 7, 96, "eager", 2, 24, torch.device("cpu"))
    assert calls == [1]


def test_shapes_table_names_each_matrix_product_by_layout(profile_step, monkeypatch, tmp_path) -> None:
    # on the CPU there are no kernels to link: each product is listed by its inputs' shapes and its own time
    out = tmp_path / "profile.md"
    argv = ["profile_step.py", "--device", "cpu", "--model", "dlinear", "--width", "ETTh1-like", "--lookback", "96",
            "--mode", "eager", "--warmup", "1", "--steps", "2", "--shapes", "--out", str(out)]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    profile_step.main()
    table = out.read_text().split("Matrix products by input layout")[1]
    rows = [line for line in table.splitlines() if line.startswith("| aten::")]
    assert rows and all("| (CPU) |" in row for row in rows)
    assert any("[448, 96] (96, 1)" in row for row in rows)  # 64 windows x 7 variates of L=96, with strides


def test_shapes_need_eager_mode(profile_step, monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["profile_step.py", "--device", "cpu", "--mode", "graphs", "--shapes"])
    with pytest.raises(SystemExit):
        profile_step.main()


def test_model_speed_specs_choose_the_rows_of_one_process(profile_step) -> None:
    import argparse

    import model_speed

    def args(**kw):
        base = {"specs": None, "widths": list(model_speed.WIDTHS), "models": ["tsm2", "patchtst"],
                "modes": ["graphs", "compile-graphs"], "lookbacks": [96, 512], "compile_lookbacks": [512]}  # fmt: skip
        return argparse.Namespace(**{**base, **kw})

    a = args(specs=["tsm2:Weather-like:compile-graphs", "patchtst:ETTh1-like:graphs"])
    assert model_speed.row_plan(a) == [
        ("Weather-like", 512, "tsm2", "compile-graphs"),  # compile modes only at --compile-lookbacks
        ("ETTh1-like", 96, "patchtst", "graphs"),
        ("ETTh1-like", 512, "patchtst", "graphs"),
    ]
    assert a.widths == ["Weather-like", "ETTh1-like"] and a.models == ["tsm2", "patchtst"]  # the summary's rows
    every = model_speed.row_plan(args())  # without specs: width x L x model x mode, as before
    assert len(every) == 2 * (2 * 1 + 2 * 2) and every[0] == ("ETTh1-like", 96, "tsm2", "graphs")
    on_cpu = model_speed.row_plan(args(specs=["tsm2:ETTh1-like:graphs", "tsm2:ETTh1-like:compile"]), cpu=True)
    assert on_cpu == [("ETTh1-like", 96, "tsm2", "eager"), ("ETTh1-like", 512, "tsm2", "eager")]
    for bad in (["tsm2:ETTh1-like"], ["tsm3:ETTh1-like:graphs"], ["tsm2:ETTh2-like:graphs"], ["tsm2:ETTh1-like:fast"]):
        with pytest.raises(ValueError, match="--specs|unknown modes"):
            model_speed.row_plan(args(specs=bad))


def test_layout_keeps_each_stride_with_its_own_input(profile_step) -> None:
    # a scalar input (no shape) before the matrices must not shift the strides onto the wrong matrix
    import types

    event = types.SimpleNamespace(input_shapes=[[], [2, 3], [3, 4]], structured_input_strides=[[], [3, 1], [1, 3]])
    assert profile_step._layout(event) == "[2, 3] (3, 1) x [3, 4] (1, 3)"
