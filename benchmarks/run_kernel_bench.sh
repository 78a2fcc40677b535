#!/usr/bin/env bash
# One GPU-machine session for the selective-scan kernel: build mamba_ssm (sm_90 only) in the background, run the
# Triton correctness cases natively, sweep configs (kernel time from CUDA graphs), then the benchmark table
# (ours vs mamba_ssm, fp32 and bf16, forward and forward+backward). Each step is time-limited and a failing step
# does not stop the later ones: the table is always attempted.
# Usage (repository root, mamba_ssm sdist unpacked under .peers/): OUT=/some/dir bash benchmarks/run_kernel_bench.sh
# BUILD_ONLY=1: only build and install mamba_ssm (e.g. in the background of other GPU work); SKIP_BUILD=1 and
# TESTS=0 / SWEEP=0: leave those steps out (the table alone, after an earlier BUILD_ONLY run).
set -u
OUT=${OUT:-/tmp/kernel_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
ROOT=$PWD
# import tsmamba.kernels without the package's heavier dependencies (polars etc. may be absent there)
mkdir -p /tmp/shim/tsmamba && : > /tmp/shim/tsmamba/__init__.py && ln -sfn "$ROOT/kernels" /tmp/shim/tsmamba/kernels
export PYTHONPATH=/tmp/shim
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> "$OUT/gpu.txt" 2>&1
# A wheel an earlier call built (copied back in parts from $OUT/mamba_whl.part-*, joined here into .peers/wheels/,
# ~40 MB: carry .peers without .whl) is installed instead of building (~3 min of the 16 cores); built from the
# sdist when there is none or it does not install (e.g. another Python there: the wheel is cp312)
wheel=$(ls .peers/wheels/mamba_ssm-*.whl 2>/dev/null | head -1)
build() (
  if [ -n "$wheel" ] && python3 -m pip install -q --no-deps "$wheel"; then exit 0; fi
  cd .peers/mamba_ssm-2.3.2.post1 &&
  python3 - <<'PY'
import re
src = open("setup.py").read()
marker = "    if HIP_BUILD:\n\n        extra_compile_args"
assert marker in src, "setup.py layout changed"
src = src.replace(marker, '    cc_flag = ["-gencode", "arch=compute_90,code=sm_90"]\n' + marker, 1)
open("setup.py", "w").write(src)
PY
  MAMBA_FORCE_BUILD=TRUE MAX_JOBS=16 timeout 400 python3 -m pip wheel --no-deps --no-build-isolation . -w /tmp/wheels &&
  python3 -m pip install -q --no-deps /tmp/wheels/mamba_ssm-*.whl &&
  (cd /tmp/wheels && split -b 15M -d mamba_ssm-*.whl "$OUT/mamba_whl.part-")  # 16 MiB a file comes back
)
if [ "${BUILD_ONLY:-0}" = 1 ]; then
  build > "$OUT/build.log" 2>&1; echo "build rc=$?"; exit 0
fi
BUILD=
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  build > "$OUT/build.log" 2>&1 &
  BUILD=$!
fi
if [ "${TESTS:-1}" = 1 ]; then
  timeout ${TEST_S:-150} python3 -P -m pytest -q -x -n 8 -p no:cacheprovider --noconftest \
    tests/kernels/selective_scan_triton_cases.py > "$OUT/tests.log" 2>&1
  echo "tests rc=$?" >> "$OUT/tests.log"; tail -3 "$OUT/tests.log"
fi
if [ "${SWEEP:-1}" = 1 ]; then
  timeout ${SWEEP_S:-150} python3 benchmarks/kernel_bench.py --sweep \
    --shapes ${SWEEP_SHAPES:-256,256,64 1792,128,42 64,256,512 128,128,321 8,1024,2048} \
    --dtypes bf16 --out "$OUT/sweep.md" > "$OUT/sweep.log" 2>&1
  echo "sweep rc=$?"; grep "^|" "$OUT/sweep.log" | tail -60
fi
if [ -n "$BUILD" ]; then wait $BUILD; echo "build rc=$?"; tail -3 "$OUT/build.log"; fi
timeout ${BENCH_S:-300} python3 benchmarks/kernel_bench.py --device cuda ${BENCH_ARGS:-} --out "$OUT/kernel_bench.md" \
  > "$OUT/bench.log" 2>&1; echo "bench rc=$?"
grep -v "^|" "$OUT/bench.log" | tail -8
grep "^|" "$OUT/bench.log"
