#!/usr/bin/env bash
# The one command a session runs on a lent GPU machine (device tool): installs gradflow from this
# working tree without the network, prints the device, then runs each step under its own time limit
# (a failing step does not stop the next) and writes the log and a JSON of figures under $OUT.
#
#   bash benchmarks/device_check.sh            # on the device: about 5-7 minutes
#   DEVICE_CHECK_DRY=1 bash benchmarks/device_check.sh   # without a GPU: every step "skipped: no GPU"
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/device_check.log"
: > "$LOG"
declare -a NAMES=() RESULTS=()

say() { echo "$@" | tee -a "$LOG"; }

have_gpu() {
  [ "${DEVICE_CHECK_DRY:-0}" = "1" ] && return 1
  python - <<'PY' 2>/dev/null
import sys
try:
    import cupy
    sys.exit(0 if cupy.cuda.runtime.getDeviceCount() > 0 else 1)
except Exception:
    sys.exit(1)
PY
}

step() {  # step NAME TIMEOUT_S COMMAND...
  local name="$1" limit="$2"; shift 2
  NAMES+=("$name")
  if ! have_gpu; then
    say "== $name: skipped: no GPU"
    RESULTS+=("skipped: no GPU")
    return 0
  fi
  say "== $name (limit ${limit}s): $*"
  local t0=$SECONDS rc
  timeout "$limit" "$@" > "$OUT/$name.out" 2>&1
  rc=$?
  tail -n 40 "$OUT/$name.out" | tee -a "$LOG"
  tail -n 1 "$OUT/$name.out" | grep -E '^\{' > "$OUT/$name.json" 2>/dev/null || rm -f "$OUT/$name.json"
  if [ $rc -eq 0 ]; then RESULTS+=("ok ($((SECONDS - t0)) s)")
  elif [ $rc -eq 124 ]; then RESULTS+=("TIMEOUT after ${limit}s")
  else RESULTS+=("FAILED (exit $rc, $((SECONDS - t0)) s)"); fi
}

say "gradflow device check, $(date -u +%Y-%m-%dT%H:%M:%SZ), output in $OUT"
if have_gpu; then
  pip install --no-deps --no-build-isolation -q -e . >> "$LOG" 2>&1 || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$LOG"
  python -c "import cupy; print('CuPy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())" 2>&1 | tee -a "$LOG"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

step gpu-tests      150 python -m pytest -q -m gpu tests/ -p no:randomly
step cuda-kernels   120 python -m pytest -q tests/kernels/test_cuda_kernels.py tests/kernels/test_cuda_launch.py -p no:randomly
step train-parity    60 python benchmarks/device_steps.py train-parity
step layers          60 python benchmarks/device_steps.py layers
step bench-gpu      150 python benchmarks/bench_gpu.py --quick
step models          60 python benchmarks/device_steps.py models

say ""
say "summary"
failed=0
for i in "${!NAMES[@]}"; do
  printf '  %-14s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" | tee -a "$LOG"
  case "${RESULTS[$i]}" in ok*|skipped*) ;; *) failed=1 ;; esac
done
python - "$OUT" <<'PY' | tee -a "$LOG"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1]); figures = {}
for f in sorted(out.glob("*.json")):
    if f.name != "figures.json":
        try: figures[f.stem] = json.loads(f.read_text())
        except ValueError: pass
(out / "figures.json").write_text(json.dumps(figures, indent=1))
print("figures:", json.dumps(figures) if figures else "none")
PY
exit $failed
