#!/usr/bin/env bash
# Wheels the GPU machine lacks, for an offline install there (issue 8).
#
# The device image has torch, lightning and nvidia-ml-py but not optuna, hydra-core, omegaconf or plotly, and it cannot
# reach PyPI. This downloads them, the dependencies torch and lightning do not bring, and matplotlib for the
# plots, into .device/wheels (ignored by git; carried to the device with the run's `carry` list).
#
#   benchmarks/gpu_wheels.sh                       # wheels for this machine's Python version
#   DEVICE_PYTHON=3.12 benchmarks/gpu_wheels.sh    # for the device's Python version, if it differs
#   NO_PLOTS=1 benchmarks/gpu_wheels.sh            # leave matplotlib out (gpu_check then records no plots)
#
# On the device (from the repository root; packages already there are kept, missing ones come from the folder):
#   python -m pip install --no-index --find-links .device/wheels optuna hydra-core omegaconf matplotlib
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${DEST:-.device/wheels}"
PIP="${PIP:-.venv/bin/python -m pip}"
PY="${DEVICE_PYTHON:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
mkdir -p "$DEST"

# pure Python: any interpreter, any platform (versions as tested in this checkout)
$PIP download --no-deps --only-binary=:all: --dest "$DEST" \
  optuna==5.0.0 hydra-core==1.3.8 omegaconf==2.3.1 alembic==1.20.1 colorlog==6.12.0 Mako==1.4.3 \
  cycler==0.12.1 pyparsing python-dateutil six plotly==7.1.0 narwhals==2.29.0
# antlr4-python3-runtime 4.9.3 (what hydra-core 1.3 pins) is published as a source archive only: build its
# pure-Python wheel here, so that the device needs no build tools
$PIP wheel --no-deps --wheel-dir "$DEST" antlr4-python3-runtime==4.9.3

# compiled: for the device's interpreter and platform (x86_64 Linux)
binary=(SQLAlchemy==2.1.9 greenlet)
if [[ -z "${NO_PLOTS:-}" ]]; then
  binary+=(matplotlib contourpy fonttools kiwisolver pillow)
fi
$PIP download --no-deps --only-binary=:all: --dest "$DEST" \
  --python-version "$PY" --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 "${binary[@]}"

du -sh "$DEST"
echo "wheels for CPython $PY in $DEST; on the device:"
echo "  python -m pip install --no-index --find-links $DEST optuna hydra-core omegaconf matplotlib"
