"""benchmarks/profile_step.py groups a profiled step's kernels by kind: check the grouping on real kernel names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def profile_step():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling model_speed.py, as when run from there
    try:
        spec = importlib.util.spec_from_file_location("profile_step", BENCHMARKS / "profile_step.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("_scan_fwd_kernel", "scan"),
        ("_scan_bwd_kernel", "scan"),
        ("_chain_chunks_kernel", "scan"),
        ("_conv1d_bwd_kernel", "conv"),
        ("sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x32", "gemm"),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "elementwise"),
        ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps>>", "reduction"),
        ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>", "norm"),
        ("void at::native::multi_tensor_apply_kernel<at::native::TensorListMetadata<4>>", "optimizer"),
        ("Memcpy DtoD (Device -> Device)", "copy"),
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
