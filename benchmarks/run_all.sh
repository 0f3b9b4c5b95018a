#!/usr/bin/env bash
# Rerun every benchmark of issues 7 and 12 on a CPU and write benchmarks/results/ (times per part are printed at the end).
#   benchmarks/run_all.sh           # full budgets
#   benchmarks/run_all.sh --quick   # CI-time check: fewer seeds, problems, trials
# Creates benchmarks/.venv-official (optuna 2.10 + hydra-optuna-sweeper 1.3.0, git-ignored) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
QUICK=""
[[ "${1:-}" == "--quick" ]] && QUICK="--quick"
OFF=benchmarks/.venv-official
if [[ ! -x $OFF/bin/python ]]; then
  $PY -m venv $OFF
  # Optuna 2.10's RDB storage (sweep_overhead.py --official-sqlite) needs SQLAlchemy 1.4 and an alembic for it
  $OFF/bin/pip install -q "optuna==2.10.1" "hydra-optuna-sweeper==1.3.0" "hydra-core==1.3.2" "numpy<2" \
    "sqlalchemy<2" "alembic<1.14"
fi
# NAS-Bench-Graph's tables (search.py --set categorical) for the official runner too
$OFF/bin/python -c "import nas_bench_graph" 2>/dev/null || $OFF/bin/pip install -q --no-deps "nas-bench-graph==1.4.0"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p benchmarks/results
t0=$(date +%s)
$PY benchmarks/search.py $QUICK
t1=$(date +%s)
$PY benchmarks/pruning.py $QUICK
t2=$(date +%s)
if [[ -n $QUICK ]]; then
  $PY benchmarks/overhead.py --turns 2 --steps 150 --windows 300 | tee benchmarks/results/overhead_quick.txt
else
  $PY benchmarks/overhead.py --turns 9 --steps 400 --windows 2000 | tee benchmarks/results/overhead.txt
fi
t3=$(date +%s)
if [[ -n $QUICK ]]; then
  $PY benchmarks/noise.py --measurements 1 --max-seconds 2 --out benchmarks/results/noise_quick
else
  $PY benchmarks/noise.py --measurements 5 --max-seconds 5
fi
t4=$(date +%s)
echo "run_all${QUICK:+ $QUICK}: search $((t1 - t0)) s, pruning $((t2 - t1)) s, overhead $((t3 - t2)) s," \
  "noise $((t4 - t3)) s, total $((t4 - t0)) s" \
  | tee "benchmarks/results/run_all${QUICK:+_quick}_time.txt"
