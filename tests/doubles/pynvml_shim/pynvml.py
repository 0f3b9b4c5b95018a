"""A ``pynvml`` stand-in for subprocesses: put this folder first on ``PYTHONPATH`` and describe the GPUs in
``$ECOPT_SIM_NVML`` (JSON); ``import pynvml`` then gives a :class:`tests.doubles.simulated_gpu.SimulatedNvml`.

Spec fields: ``missing`` (bool: the import fails, as without nvidia-ml-py), ``init_error`` (an NVML error code
raised by ``nvmlInit``, e.g. 9 = driver not loaded), ``gpus``: a list of ``{uuid, power_W,
counter_supported, instant_supported, fail_at_call, fail_code}``; ``fail_at_call`` makes every call on that
GPU raise ``fail_code`` (default 15, GPU is lost) from the GPU's Nth call on (an event, never a time).

Example:
    ``ECOPT_SIM_NVML='{"gpus": [{"uuid": "GPU-sim0", "power_W": 80}]}' PYTHONPATH=tests/doubles/pynvml_shim:.``
"""

from __future__ import annotations

import json
import os
import sys

_spec = json.loads(os.environ.get("ECOPT_SIM_NVML") or "{}")
if _spec.get("missing"):
    raise ImportError("No module named 'pynvml' (simulated: nvidia-ml-py is not installed)")

from tests.doubles.simulated_gpu import NVML_ERROR_GPU_IS_LOST, SimGpu, SimulatedNvml  # noqa: E402

_gpus = []
for _i, _g in enumerate(_spec.get("gpus", [{}])):
    _gpu = SimGpu(
        _g.get("uuid", f"GPU-00000000-sim{_i}"),
        float(_g.get("power_W", 100.0)),
        counter_supported=bool(_g.get("counter_supported", True)),
        instant_supported=bool(_g.get("instant_supported", True)),
        fail_at_call=_g.get("fail_at_call"),
        fail_code=int(_g.get("fail_code", NVML_ERROR_GPU_IS_LOST)),
    )
    _gpus.append(_gpu)

sys.modules[__name__] = SimulatedNvml(_gpus, init_error=_spec.get("init_error"))
