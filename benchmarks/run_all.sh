#!/usr/bin/env bash
# Rerun every benchmark of issue 7 on a CPU and write benchmarks/results/ (< 30 min on 2 cores; --quick: ~8 min).
#   benchmarks/run_all.sh           # full budgets
#   benchmarks/run_all.sh --quick   # CI-time check: fewer seeds, problems, trials
# Creates benchmarks/.venv-official (optuna 2.10 + hydra-optuna-sweeper 1.3.0, git-ignored) on first use, and
# puts greenlet (GPSampler's batched L-BFGS-B, ~3x faster) in benchmarks/.venv-official/extra for our runs only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
QUICK=""
[[ "${1:-}" == "--quick" ]] && QUICK="--quick"
OFF=benchmarks/.venv-official
if [[ ! -x $OFF/bin/python ]]; then
  $PY -m venv $OFF
  $OFF/bin/pip install -q "optuna==2.10.1" "hydra-optuna-sweeper==1.3.0" "hydra-core==1.3.2" "numpy<2"
fi
[[ -d $OFF/extra/greenlet ]] || $PY -m pip install -q --target $OFF/extra greenlet
export PYTHONPATH="$OFF/extra:.${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p benchmarks/results
start=$(date +%s)
$PY benchmarks/search.py $QUICK
$PY benchmarks/pruning.py $QUICK
if [[ -n $QUICK ]]; then
  $PY benchmarks/overhead.py --turns 2 --steps 150 --windows 300 | tee benchmarks/results/overhead_quick.txt
else
  $PY benchmarks/overhead.py | tee benchmarks/results/overhead.txt
fi
echo "run_all: $(( $(date +%s) - start )) s"
