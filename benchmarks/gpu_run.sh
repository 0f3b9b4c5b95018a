#!/usr/bin/env bash
# Issue 19's whole GPU-machine run in one command: the NVML check (gpu_check.py) and the product's own loop
# (gpu_sweep_check.py: a 4-trial ecopt sweep of examples/cifar10 on FakeData, then the same with multi-fidelity).
# Each writes its files under $OUT as it goes, so a step that fails or runs out of time keeps what the others found.
#
# On the device machine (after benchmarks/gpu_wheels.sh here; carry .device/wheels; timeout_s about 560):
#   bash benchmarks/gpu_run.sh
# Dry run here (CPU, simulated GPU; about a minute):
#   DRY=1 PY=.venv/bin/python OUT=/tmp/gpu-run bash benchmarks/gpu_run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the output folder}"
PY="${PY:-python3}"
dry=()
[[ -n "${DRY:-}" ]] && dry=(--dry-run)
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

$PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__,
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")'
if [[ -z "${DRY:-}" ]]; then
  nvidia-smi --query-gpu=name,driver_version,power.limit,power.draw --format=csv || true
  # packages already there are kept; the missing ones come from the carried folder
  $PY -m pip install -q --no-index --find-links .device/wheels optuna hydra-core omegaconf plotly \
    || echo "gpu_run: wheel install failed (gpu_check does not need these; the sweep does)"
fi

# the device machine returns at most 8 files from $OUT: each step's folder goes back as one archive, its JSON beside
pack() {  # pack <folder> <its JSON> <the JSON's name beside the archive>
  [[ -f "$OUT/$1/$2" ]] && cp "$OUT/$1/$2" "$OUT/$3"
  [[ -d "$OUT/$1" ]] && tar czf "$OUT/$1.tar.gz" -C "$OUT" "$1" && rm -rf "${OUT:?}/$1"
}
timeout "${CHECK_S:-280}" $PY benchmarks/gpu_check.py "$OUT/gpu-check" "${dry[@]}" ${CHECK_ARGS:-}
echo "gpu_run: gpu_check exit $?"
pack gpu-check gpu_check.json gpu_check.json
$PY benchmarks/gpu_sweep_check.py "$OUT/gpu-sweep" --trials "${TRIALS:-4}" --timeout "${SWEEP_S:-170}" "${dry[@]}"
echo "gpu_run: gpu_sweep_check exit $?"
pack gpu-sweep gpu_sweep_check.json gpu_sweep_check.json
$PY benchmarks/gpu_sweep_check.py "$OUT/gpu-sweep-mf" --search smoke_multi_fidelity --trials "${TRIALS:-4}" --timeout "${SWEEP_S:-170}" "${dry[@]}"
echo "gpu_run: gpu_sweep_check (multi-fidelity) exit $?"
pack gpu-sweep-mf gpu_sweep_check.json gpu_sweep_check_mf.json
