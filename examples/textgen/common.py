"""What both textgen apps share: choosing the device and opening the energy monitor from the config."""

from __future__ import annotations

from typing import Any

import torch

from ecopt_lightning import EnergyMonitor


def count(cfg: Any, key: str, least: int) -> int:
    """Config ``key`` as an integer >= ``least``, else a one-line error naming it (``int()`` would read 2.5 as 2,
    and a search's ``interval(a, b)`` gives floats).

    Example:
        >>> count({"batch_size": 2.5}, "batch_size", 1)
        Traceback (most recent call last):
        ...
        ValueError: batch_size=2.5 is not allowed: give an integer >= 1 (in a search: choice(...) or range(a, b))
    """
    value = cfg[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(
            f"{key}={value!r} is not allowed: give an integer >= {least} (in a search: choice(...) or range(a, b))"
        )
    return value


#: the config keys of one request, as measure_j_per_token takes them, and the least each allows
REQUEST_KEYS = {"new_tokens": 1, "prompt_len": 1, "repeats": 1, "warmup": 0, "seed": 0}


def request(cfg: Any) -> dict[str, int]:
    """``measure_j_per_token``'s keyword arguments but the batch size, checked by :func:`count` before anything
    runs."""
    return {key: count(cfg, key, least) for key, least in REQUEST_KEYS.items()}


def pick_device(name: str) -> torch.device:
    """``auto`` -> the current CUDA device if there is one, else the CPU; other names as torch reads them.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():  # torch: "Found no NVIDIA driver on your system"
        raise ValueError(f"device={name!r} is not allowed: this machine has no CUDA device; give auto or cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def open_monitor(device: torch.device, cpu: Any = "auto") -> EnergyMonitor:
    """An :class:`EnergyMonitor` on ``device``'s GPU (if any) and the CPU as ``cpu`` says (False: GPU only).

    Raises:
        ValueError: in one line, when it would measure nothing (``energy.cpu=false`` on the CPU, or a GPU NVML
            cannot read): every J/token would read 0 and rank first.
    """
    monitor = EnergyMonitor(gpus=[device.index or 0] if device.type == "cuda" else [], cpu=cpu)
    if not monitor.sources:
        monitor.close()
        why = "; ".join(f"{d}: {reason}" for d, reason in monitor.missing.items()) or f"no GPU on {device}"
        raise ValueError(
            f"energy.cpu={cpu!r} is not allowed on {device}: nothing would be measured ({why}) and every J/token "
            "would read 0; give energy.cpu=auto, rapl or estimate, or run on a GPU that NVML reads"
        )
    return monitor
