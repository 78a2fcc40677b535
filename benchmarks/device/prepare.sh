#!/usr/bin/env bash
# Run HERE before a GPU hold: what the lent machine lacks, in ignored folders that `carry` sends along.
#   bash benchmarks/device/prepare.sh [COMMIT ...]
# - .whl/   polars wheels (the GPU image has no polars; ~55 MB of the 64 MiB a call may carry)
# - .data/  the benchmark CSVs the grid needs, gzipped (DATASETS, default weather.csv), from TSMAMBA_DATA_DIR
# - .stage/shims/<commit>/tsmamba/kernels: a commit's kernels/ as `tsmamba.kernels`, to time builds side by side
#   (PYTHONPATH=.stage/shims/<commit> before the installed project; the rest of tsmamba stays the working tree's);
#   tree:<commit> stages .stage/shims/tree-<commit>/tsmamba, the commit's whole package with its kernels, for
#   changes outside kernels/ (a model's), so `BUILDS="cur tree-<commit>"` times them interleaved in one call;
#   PROBE=1 adds .stage/shims/probe, the working tree's kernels with benchmarks/scan_stage_probe.py's switchable
#   backward stages. WHEELS=0 skips the wheels, DATASETS="" the CSVs, STAGE another folder than .stage (tests)
# - .peers/ (PEERS=1): the mamba_ssm sdist unpacked from TSMAMBA_PEERS_DIR (default ../shared/peers), which
#   benchmarks/run_kernel_bench.sh builds there (~1.5 MB), or installs from .peers/wheels/ when an earlier call's
#   wheel was joined there (~40 MB; carry .peers without .whl: both together pass 64 MiB)
# Then run hold.sh there, e.g. carry [".stage", ".whl", ".data"] and command `bash benchmarks/device/hold.sh kernels`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude=$(git rev-parse --git-path info/exclude)  # a clone made without git's templates has no .git/info
mkdir -p "$(dirname "$exclude")" && touch "$exclude"
for d in /.whl/ /.data/ /.stage/; do grep -qxF "$d" "$exclude" || echo "$d" >> "$exclude"; done
stage=${STAGE:-.stage}
mkdir -p "$stage/shims"
if [ "${WHEELS:-1}" = 1 ] && ! ls .whl/polars-*.whl >/dev/null 2>&1; then
  mkdir -p .whl
  version=$(python3 -c "import polars; print(polars.__version__)")
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "polars==$version" "polars-runtime-32==$version"
fi
for f in ${DATASETS-weather.csv}; do
  mkdir -p .data
  [ -f ".data/$f.gz" ] || gzip -9 -c "${TSMAMBA_DATA_DIR:?set TSMAMBA_DATA_DIR to the CSV folder}/$f" > ".data/$f.gz"
done
for build in "$@"; do
  commit=${build#tree:}
  if [ "$build" = "$commit" ]; then  # kernels only, under an empty tsmamba package
    dir=$stage/shims/$commit/tsmamba
    rm -rf "$dir" && mkdir -p "$dir" && touch "$dir/__init__.py"
  else  # the whole package: kernels/ goes where the installed project maps it, tsmamba/kernels
    dir=$stage/shims/tree-$commit/tsmamba
    rm -rf "$dir" && mkdir -p "$dir"
    git archive "$commit" tsmamba | tar -x -C "$(dirname "$dir")"
  fi
  git archive "$commit" kernels | tar -x -C "$dir"
done
if [ "${PEERS:-0}" = 1 ] && [ ! -d .peers/mamba_ssm-2.3.2.post1 ]; then
  mkdir -p .peers && tar xzf "${TSMAMBA_PEERS_DIR:-../shared/peers}/mamba_ssm-2.3.2.post1.tar.gz" -C .peers
fi
if [ "${PROBE:-0}" = 1 ]; then
  rm -rf "$stage/shims/probe" && mkdir -p "$stage/shims/probe/tsmamba" && touch "$stage/shims/probe/tsmamba/__init__.py"
  python3 benchmarks/scan_stage_probe.py --out "$stage/shims/probe/tsmamba/kernels"
fi
for d in .whl .data "$stage" .peers; do [ -e "$d" ] && du -sh "$d"; done; true
