#!/usr/bin/env bash
# The one command a session runs on a lent GPU machine (device tool): installs gradflow from this
# working tree without the network, prints the device, then runs each step under a time limit cut
# from one deadline for the whole script (a failing step does not stop the next), and leaves three
# files under $OUT: device_check.log, figures.json and steps.tar.gz (each step's full output).
#
#   bash benchmarks/device_check.sh                          # on the device: under DEVICE_CHECK_BUDGET s (500)
#   DEVICE_CHECK_DRY=1 bash benchmarks/device_check.sh       # no GPU: every step "skipped: no GPU", exit 0
#   DEVICE_CHECK_FORCE_GPU=1 bash benchmarks/device_check.sh # CPU: the CuPy stand-in plays the GPU (toy sizes)
#
# PYTHON picks the interpreter (default python3, else python); DEVICE_CHECK_NO_INSTALL=1 skips pip
# and imports gradflow from the working tree.
#
# Outside dry mode a missing or broken GPU is a failure (exit 1), never a quiet skip.
set -u
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PYTHONUNBUFFERED=1
BUDGET="${DEVICE_CHECK_BUDGET:-500}"   # seconds for the whole script
RESERVE=15                             # kept back for the summary and the archive
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/device_check.log"
: > "$LOG"
WORK="$(mktemp -d)"                    # step outputs, packed into one archive at the end
trap 'rm -rf "$WORK"' EXIT
declare -a NAMES=() RESULTS=()

say() { echo "$@" | tee -a "$LOG"; }
left() { echo $((BUDGET - SECONDS)); }

PY="${PYTHON:-$(command -v python3 || command -v python || true)}"
MODE=gpu
if [ "${DEVICE_CHECK_DRY:-0}" = "1" ]; then MODE=dry
elif [ "${DEVICE_CHECK_FORCE_GPU:-0}" = "1" ]; then MODE=standin; fi

say "gradflow device check ($MODE), $(date -u +%Y-%m-%dT%H:%M:%SZ), budget ${BUDGET}s, output in $OUT"

# gradflow.kernels is the top-level kernels/ folder (a package-dir mapping): without an install, a
# shim folder whose gradflow/ links every entry of gradflow/ plus kernels/ makes it importable
use_shim() {
  local shim="$WORK/shim"
  mkdir -p "$shim/gradflow"
  for f in "$ROOT"/gradflow/*; do ln -sf "$f" "$shim/gradflow/"; done
  ln -sfn "$ROOT/kernels" "$shim/gradflow/kernels"
  export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
  say "gradflow from $ROOT through $shim (PYTHONPATH)"
}

GPU_OK=0
GPU_WHY=""
GPU_TESTS=(tests/)
if [ -z "$PY" ]; then
  GPU_WHY="no python3 or python on PATH"
elif [ "$MODE" != dry ]; then
  if [ "$MODE" = standin ]; then
    # toy sizes, and the cuda kernels without timing candidates: the CPU emulator runs every launch
    export PYTHONPATH="$ROOT/tests/cupy_standin${PYTHONPATH:+:$PYTHONPATH}" DEVICE_CHECK_SCALE=tiny GRADFLOW_AUTOTUNE=0
    GPU_TESTS=(tests/models/test_gpu.py tests/distributed/test_nccl.py)
    use_shim
  elif [ "${DEVICE_CHECK_NO_INSTALL:-0}" = "1" ]; then
    use_shim
  elif timeout -k 5 90 "$PY" -m pip install --no-index --disable-pip-version-check --no-deps --no-build-isolation \
       -q -e . >> "$LOG" 2>&1; then
    say "gradflow installed from $ROOT (pip -e, no index)"
  else
    say "pip install failed (see above)"
    use_shim
  fi
  probe="$(timeout -k 5 60 "$PY" -c '
import cupy
n = cupy.cuda.runtime.getDeviceCount()
assert n > 0, "CuPy sees no CUDA device"
import gradflow.kernels.cuda
print("CuPy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "devices", n)
' 2>&1)" && GPU_OK=1 || GPU_WHY="$(echo "$probe" | tail -n 1)"
  say "$probe"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$LOG"
fi

step() {  # step NAME LIMIT_S COMMAND...: the limit shrinks to what the deadline leaves
  local name="$1" limit="$2"; shift 2
  NAMES+=("$name")
  if [ "$MODE" = dry ]; then
    say "== $name: skipped: no GPU"
    RESULTS+=("skipped: no GPU")
    return 0
  fi
  if [ "$GPU_OK" != 1 ]; then
    say "== $name: FAILED: no usable GPU ($GPU_WHY)"
    RESULTS+=("FAILED: no usable GPU")
    return 0
  fi
  local avail=$(( $(left) - RESERVE ))
  [ "$avail" -lt "$limit" ] && limit=$avail
  if [ "$limit" -lt 10 ]; then
    say "== $name: FAILED: out of time (deadline ${BUDGET}s)"
    RESULTS+=("FAILED: out of time")
    return 0
  fi
  say "== $name (limit ${limit}s, $(left)s left): $*"
  local t0=$SECONDS rc
  STEP_LIMIT=$limit timeout -k 5 "$limit" "$@" > "$WORK/$name.out" 2>&1
  rc=$?
  tail -n 30 "$WORK/$name.out" | tee -a "$LOG"
  tail -n 1 "$WORK/$name.out" | grep -E '^\{' > "$WORK/$name.json" 2>/dev/null || rm -f "$WORK/$name.json"
  if [ $rc -eq 0 ]; then RESULTS+=("ok ($((SECONDS - t0)) s)")
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then RESULTS+=("TIMEOUT after ${limit}s")
  else RESULTS+=("FAILED (exit $rc, $((SECONDS - t0)) s)"); fi
}

pytest_step() {  # pytest with a traceback of every thread shortly before the step's kill
  local name="$1" limit="$2"; shift 2
  local avail=$(( $(left) - RESERVE ))
  [ "$avail" -lt "$limit" ] && limit=$avail
  local dump=$(( limit > 30 ? limit - 15 : 15 ))
  step "$name" "$limit" "$PY" -m pytest -q -p no:randomly -p no:cacheprovider -o faulthandler_timeout=$dump "$@"
}

# the gpu-marked tests include the CUDA kernel tests (tests/kernels), so they are not run again
pytest_step gpu-tests 150 -m gpu "${GPU_TESTS[@]}"
step train-parity  60 "$PY" benchmarks/device_steps.py train-parity
step layers        90 "$PY" benchmarks/device_steps.py layers
bench_limit=120
BENCH=("$PY" benchmarks/bench_gpu.py --quick --budget $((bench_limit - 45)))
[ "$MODE" = standin ] && BENCH+=(--tiny)
step bench-gpu $bench_limit "${BENCH[@]}"
step models        60 "$PY" benchmarks/device_steps.py models

say ""
say "summary ($SECONDS s)"
failed=0
for i in "${!NAMES[@]}"; do
  printf '  %-14s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" | tee -a "$LOG"
  case "${RESULTS[$i]}" in ok*|skipped*) ;; *) failed=1 ;; esac
done
"${PY:-python3}" - "$WORK" "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]); figures = {}
for f in sorted(work.glob("*.json")):
    try: figures[f.stem] = json.loads(f.read_text())
    except ValueError: pass
(out / "figures.json").write_text(json.dumps(figures, indent=1))
print("figures:", json.dumps(figures) if figures else "none")
PY
[ -f "$OUT/figures.json" ] || echo '{}' > "$OUT/figures.json"
if compgen -G "$WORK/*.out" > /dev/null; then
  tar -czf "$OUT/steps.tar.gz" -C "$WORK" $(cd "$WORK" && ls ./*.out ./*.json 2>/dev/null)
fi
say "done in $SECONDS s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
exit $failed
