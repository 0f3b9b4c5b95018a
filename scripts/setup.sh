#!/usr/bin/env bash
# Set up .venv in the checkout (created if missing) with ecopt-lightning and its extras.
# The PyTorch build is the one choice that differs by machine: ECOPT_TORCH_SPEC overrides it.
# The default pins a release pair whose wheels import together (torchvision must match torch);
# on Linux x86_64 pip's default index serves a CUDA build of it, so GPU users get NVML-measurable runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.ecopt-installed
# what is installed: these two files and the PyTorch build asked for, so a new ECOPT_TORCH_SPEC installs again
want="$({ cat pyproject.toml scripts/setup.sh; if [ -n "${ECOPT_TORCH_SPEC:-}" ]; then echo "$ECOPT_TORCH_SPEC"; fi; } | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q ${ECOPT_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
.venv/bin/python -m pip install -q -e '.[examples,dev,cluster,ray]'  # cluster, ray: their tests run in CI
echo "$want" > "$stamp"
