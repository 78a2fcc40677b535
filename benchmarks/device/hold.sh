#!/usr/bin/env bash
# Run THERE (the lent GPU machine), from the repo root, after prepare.sh here: one part per `run` call, results
# packed into $OUT/<part>.tar.gz (at most 8 files come back). Parts:
#   kernels  native kernel tests (TESTS=0 skips them), then kernel_bench --sweep --defaults-only for the working tree and each shim
#            (BUILDS="cur <commit> probe ..."; SHAPES; EXTRA="--extra-bwd ..." for every build), two rounds
#   ncu      Nsight Compute sections of one kernel launch per build (NCU_KERNEL regex, default the scan forward;
#            NCU_SHAPE; NCU_ARGS, default --inference: benchmarks/scan_once.py's options)
#   steps    model_speed training steps, TSM2 and PatchTST in their fastest modes at both widths, ROUNDS rounds, one
#            process per round, precision and build (LIMIT is checked before each);
#            SPECS="model:width:mode[:precision] ..." narrows them (PRECISION, e.g. bf16-mixed: the precision of
#            specs without one; model_speed's --precision); BUILDS="cur probe probe+skip=32,KEY=INT ..." times
#            builds side by side (after "+": the build's BWD_CONFIG overrides, fwd.KEY=INT for FWD_CONFIG,
#            conv.KEY=INT for the conv's DPRE_CONFIG: model_speed's --scan-config; tree-<commit>: that commit's
#            whole package, staged by prepare.sh tree:<commit>); models without the scan (patchtst, dlinear) run
#            under the first build only; STEP_ARGS: more model_speed options for every run (e.g. --adam unfused)
#   table    the whole model_speed table (every width, lookback, model and mode; TABLE_ARGS adds options, e.g.
#            "--precision bf16-mixed"), killed at LIMIT + 60 s: model_speed rewrites its table after every row, so
#            a run cut short still returns the rows it finished
#   profile  benchmarks/profile_step.py --device cuda PROFILE_ARGS (e.g. "--model tsm2 --width Weather-like --mode
#            compile-graphs --precision bf16-mixed --inference") under each of BUILDS (shims only, no "+" overrides)
#   conv     the native kernel tests (TESTS=0 skips them), then benchmarks/conv_bench.py with CONV_ARGS (e.g.
#            "--dtypes fp32 bf16 --dpre-configs block_r=32,num_warps=16") into $OUT/conv
#   suite    run `tsmamba reproduce` in the foreground (SUITE="<suite> <options>", e.g. a validation sweep) into
#            $OUT/suite, killed at LIMIT + 60 s; FROM=<committed results folder> resumes that folder's table
#   grid     start `tsmamba reproduce` detached (GRID="<suite> <options>"), return after HOLD seconds
#   wait     wait for the detached grid (at most WAIT seconds) and pack its results folder; STOP=1 then stops a grid
#            still running (SIGTERM to its runner, which stops the cells: what finished stays recorded, the stopped
#            cells are logged as killed and the run as stopped), the way to end a grid early (a `pkill -f PATTERN`
#            in the call's own command also matches that command's shell)
# Every part stops starting new work after LIMIT seconds (default 480), so a call ends inside its 600 s.
# WORK (default /tmp) holds the detached grid's files; HOLD_INSTALL=0 skips the installs (tests).
set -u
shopt -s nullglob
W=${WORK:-/tmp}
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
late() { [ "$(el)" -gt "${LIMIT:-480}" ]; }
export PYTHONUNBUFFERED=1
# The installs are skipped when an earlier call on the same (warm) machine made them for the same wheels, tree
# path and pyproject.toml (~9 s a call otherwise; markers in the site folder and in WORK).
wheels=(.whl/*.whl)
site=${SITE:-/tmp/site}
if [ "${HOLD_INSTALL:-1}" = 1 ] && [ ${#wheels[@]} -gt 0 ]; then
  key="${wheels[*]##*/}"
  if [ "$(cat "$site/.hold_wheels" 2>/dev/null)" != "$key" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
      >/dev/null 2>&1 && echo "$key" > "$site/.hold_wheels" || echo "wheel install failed"
  fi
  export PYTHONPATH=$site
fi
if [ "${HOLD_INSTALL:-1}" = 1 ]; then
  key="$PWD $(cksum < pyproject.toml)"
  if [ "$(cat "$W/.hold_editable" 2>/dev/null)" != "$key" ]; then
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$W/pip_e.log" 2>&1 \
      && echo "$key" > "$W/.hold_editable" || tail -5 "$W/pip_e.log"
  fi
fi
python3 -c "import torch; print('torch', torch.__version__)"
part=${1:?part: kernels, ncu, steps, table, profile, conv, suite, grid or wait}
R=$OUT/$part
mkdir -p "$R"
shim() { [ "$1" = cur ] && echo "${PYTHONPATH:-}" || echo ".stage/shims/$1${PYTHONPATH:+:$PYTHONPATH}"; }
unpack_data() { mkdir -p "$1"; for f in .data/*.gz; do gunzip -c "$f" > "$1/$(basename "$f" .gz)"; done; }
pack() { (cd "$OUT" && tar czf "$part.tar.gz" "$part" && rm -rf "$part"); echo "packed $part.tar.gz t=$(el)"; }
native_tests() {  # the kernel tests natively (CI runs them in Triton's interpreter)
  timeout 150 python3 -m pytest -q -n 8 -p no:cacheprovider tests/kernels tests/test_execution.py > "$R/tests.log" 2>&1
  echo "tests rc=$? t=$(el)"; tail -2 "$R/tests.log"
}
case $part in
kernels)
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$R/env.txt"
  [ "${TESTS:-1}" = 1 ] && native_tests
  for round in 1 2; do
    for build in ${BUILDS:-cur}; do
      late && { echo "$build round $round skipped t=$(el)"; continue; }
      extra=${EXTRA:-}
      # shellcheck disable=SC2086
      PYTHONPATH=$(shim "$build") timeout 120 python3 benchmarks/kernel_bench.py --device cuda --sweep --defaults-only \
        --dtypes ${DTYPES:-fp32} --shapes ${SHAPES:-448,32,65 1344,128,65 4160,128,21 256,256,64} $extra \
        > "$R/$build.$round.log" 2>&1
      echo "$build round $round rc=$? t=$(el)"
    done
  done
  pack ;;
ncu)
  for build in ${BUILDS:-cur}; do
    late && { echo "ncu $build skipped t=$(el)"; continue; }
    # shellcheck disable=SC2086
    PYTHONPATH=$(shim "$build") timeout 200 ncu --clock-control none -k "regex:${NCU_KERNEL:-fwd_kernel}" -c 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section SchedulerStats --section MemoryWorkloadAnalysis \
      python3 benchmarks/scan_once.py --shape "${NCU_SHAPE:-256,256,64}" --calls 2 ${NCU_ARGS:---inference} \
      > "$R/$build.log" 2>&1
    echo "ncu $build rc=$? t=$(el)"; grep -E "Duration|Achieved Occupancy|Registers Per" "$R/$build.log" | head -4
  done
  pack ;;
steps)
  # one model_speed process per (round, precision, build) timing all of that precision's specs (--specs): a process
  # start costs ~15 s here (imports, CUDA, Triton's kernel loads), more than a row's own timing
  all_specs=${SPECS:-tsm2:Weather-like:compile-graphs patchtst:Weather-like:compile-graphs tsm2:ETTh1-like:graphs \
    patchtst:ETTh1-like:graphs}
  precisions=()
  for spec in $all_specs; do
    IFS=: read -r _ _ _ precision <<< "$spec"; precision=${precision:-${PRECISION:-32-true}}
    [[ " ${precisions[*]} " == *" $precision "* ]] || precisions+=("$precision")
  done
  builds=(${BUILDS:-cur})
  for round in $(seq 1 "${ROUNDS:-2}"); do
    for precision in "${precisions[@]}"; do
      for i in "${!builds[@]}"; do
        build=${builds[$i]}
        group=()
        for spec in $all_specs; do
          IFS=: read -r model width mode p <<< "$spec"
          [ "${p:-${PRECISION:-32-true}}" = "$precision" ] || continue
          [ "$model" = tsm2 ] || [ "$i" = 0 ] || continue  # the builds differ in TSM2 only: time the others once
          group+=("$model:$width:$mode")
        done
        [ ${#group[@]} -gt 0 ] || continue
        late && { echo "$build $precision round $round skipped t=$(el)"; continue; }
        over=${SCAN_CONFIG:-}
        [[ $build == *+* ]] && over=${build#*+} && over=${over//,/ }
        log=$R/${build//[^A-Za-z0-9._=-]/_}.$precision.$round.log
        # shellcheck disable=SC2086
        PYTHONPATH=$(shim "${build%%+*}") timeout $(( 60 + 90 * ${#group[@]} )) python3 benchmarks/model_speed.py \
          --device cuda --lookbacks 512 --reps 20 --specs "${group[@]}" --row-seconds 1.5 \
          ${over:+--scan-config $over} --precision "$precision" ${STEP_ARGS:-} > "$log" 2>&1
        echo "$build $precision round $round rc=$? t=$(el)"
        grep -E "^\| [A-Za-z0-9-]+ \| 512 \| [a-z0-9+]+ \| [a-z-]+ \|" "$log"
      done
    done
  done
  pack ;;
table)
  # shellcheck disable=SC2086
  timeout $(( ${LIMIT:-480} + 60 )) python3 benchmarks/model_speed.py --device cuda --reps 10 --row-seconds 0.8 \
    ${TABLE_ARGS:-} --out "$R/model_speed.md" > "$R/table.log" 2>&1
  echo "table rc=$? t=$(el)"; grep -c "^| [A-Za-z0-9-]* | [0-9]* |" "$R/model_speed.md"
  pack ;;
profile)
  for build in ${BUILDS:-cur}; do
    late && { echo "profile $build skipped t=$(el)"; continue; }
    name=${build//[^A-Za-z0-9._=-]/_}
    # shellcheck disable=SC2086
    PYTHONPATH=$(shim "$build") timeout 150 python3 benchmarks/profile_step.py --device cuda ${PROFILE_ARGS:?} \
      --out "$R/$name.md" > "$R/$name.log" 2>&1
    echo "profile $build rc=$? t=$(el)"; grep -E "^\| (all|scan|gemm|conv|copy) \|" "$R/$name.md" 2>/dev/null
  done
  pack ;;
conv)
  [ "${TESTS:-1}" = 1 ] && native_tests
  # shellcheck disable=SC2086
  timeout $(( ${LIMIT:-480} + 60 )) python3 benchmarks/conv_bench.py ${CONV_ARGS:-} --out "$R/conv.md" > "$R/conv.log" 2>&1
  echo "conv rc=$? t=$(el)"; tail -12 "$R/conv.log"
  pack ;;
suite)
  unpack_data "$W/suite_data"
  # FROM=<results folder>: its recorded rows and runs first, so recorded cells are skipped and the packed folder
  # holds the whole table (the new cells' logs only)
  [ -n "${FROM:-}" ] && for f in results.csv results.jsonl runs.jsonl; do [ -f "$FROM/$f" ] && cp "$FROM/$f" "$R/"; done
  set -- ${SUITE:?SUITE='<suite> [options]'}
  suite=$1; shift
  # shellcheck disable=SC2086
  timeout $(( ${LIMIT:-480} + 60 )) python3 -m tsmamba.cli reproduce "$suite" --out "$R" --data-dir "$W/suite_data" \
    --no-live "$@" > "$R/suite.log" 2>&1
  echo "suite rc=$? t=$(el)"; tail -3 "$R/suite.log"
  pack ;;
grid)
  if [ -f "$W/grid.pid" ] && [ ! -f "$W/grid.done" ] && kill -0 "$(cat "$W/grid.pid")" 2>/dev/null; then
    echo "a grid is running already (pid $(cat "$W/grid.pid")): collect it with wait, or end it with STOP=1 wait"
    exit 2
  fi
  set -- ${GRID:?GRID='<suite> --out <results folder> [options]'}
  suite=$1; shift; out=$2; shift 2
  # a grid started earlier on this machine from the same folder goes on in its own copy, so the lines its runs
  # logged (e.g. a start whose budget ran nothing) stay in runs.jsonl; another folder starts a fresh copy
  size=$(stat -c %s "$out/runs.jsonl" 2>/dev/null || echo 0)
  if [ ! -d "$W/grid_out" ] || ! cmp -s -n "$size" "$out/runs.jsonl" "$W/grid_out/runs.jsonl" 2>/dev/null \
    || ! cmp -s -n "$(stat -c %s "$out/results.jsonl" 2>/dev/null || echo 0)" "$out/results.jsonl" \
      "$W/grid_out/results.jsonl" 2>/dev/null; then
    rm -rf "$W/grid_out"; cp -r "$out" "$W/grid_out"
  else
    echo "continuing $W/grid_out (a grid of this machine started from $out)"
  fi
  rm -f "$W/grid.done"; rm -rf "$W/grid_data"; unpack_data "$W/grid_data"
  setsid bash -c "python3 -m tsmamba.cli reproduce $suite --out $W/grid_out --data-dir $W/grid_data --no-live $* \
    > $W/grid.log 2>&1 & echo \$! > $W/grid.pid; wait \$!; touch $W/grid.done" < /dev/null > /dev/null 2>&1 &
  echo "grid started t=$(el)"
  while [ "$(el)" -lt "${HOLD:-570}" ] && [ ! -f "$W/grid.done" ]; do sleep 5; done
  tail -3 "$W/grid.log"
  rmdir "$R" ;;
wait)
  while [ "$(el)" -lt "${WAIT:-560}" ] && [ ! -f "$W/grid.done" ]; do sleep 5; done
  if [ ! -f "$W/grid.done" ] && [ "${STOP:-0}" = 1 ]; then  # SIGTERM the runner: it stops its cells, as Ctrl-C
    kill -TERM "$(cat "$W/grid.pid")" 2>/dev/null; echo "grid stopped at t=$(el)"
    for _ in $(seq 60); do [ -f "$W/grid.done" ] && break; sleep 1; done
  fi
  [ -f "$W/grid.done" ] || echo "grid not done after $(el) s: packing what is there"
  tail -8 "$W/grid.log"; cp "$W/grid.log" "$W/grid_out/"
  rmdir "$R"; (cd "$W" && tar czf "$OUT/grid.tar.gz" grid_out) ;;
*) echo "unknown part $part"; exit 2 ;;
esac
