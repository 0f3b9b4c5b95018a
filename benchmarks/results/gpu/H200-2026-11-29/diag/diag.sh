# one-off diagnosis (2026-11-29): does the smoke sweep's benchmark converge when the validation set is bigger?
set -uo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --find-links .device/wheels optuna hydra-core omegaconf plotly
cat > examples/cifar10/conf/search/smoke_bigval.yaml <<'Y'
# @package hydra.sweeper
defaults:
  - smoke
  - _self_
params:
  data.fake_sizes: "[2560,32]"
Y
nvidia-smi --query-gpu=name,power.draw,clocks.sm,pstate --format=csv
python3 benchmarks/gpu_sweep_check.py $OUT/small --trials 2 --timeout 100 2>&1 | grep gpu_sweep_check
python3 benchmarks/gpu_sweep_check.py $OUT/bigval --trials 2 --search smoke_bigval --timeout 110 2>&1 | grep gpu_sweep_check
python3 - <<'P'
import json, os
for name in ("small", "bigval"):
    path = os.path.join(os.environ["OUT"], name, "gpu_sweep_check.json")
    if os.path.exists(path):
        for t in json.load(open(path))["trials"]:
            print(name, t["trial"], t["J_per_sample"], t["rel_halfwidth"], t["repeats"], t["samples_per_repeat"], t["seconds_per_repeat"])
            print("   per repeat:", [round(x, 7) for x in (t["per_repeat_J"] or [])])
P
