"""Which physical GPU a CUDA device index means, by UUID.

CUDA numbers devices fastest-first by default and after ``CUDA_VISIBLE_DEVICES`` filtering; NVML numbers
all devices by PCI bus. Matching by index measures the wrong GPU on mixed machines, so a CUDA index is
turned into the device's UUID, and NVML is asked for the handle of that UUID.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

_UUID_PREFIX = re.compile(r"^(GPU-|MIG-)", re.IGNORECASE)


def normalise_uuid(uuid: str | bytes) -> str:
    """Lower-case UUID without the ``GPU-``/``MIG-`` prefix, for comparing torch's and NVML's spellings.

    Example:
        >>> normalise_uuid("GPU-5B2B6D7C-0000-1111-2222-333344445555")
        '5b2b6d7c-0000-1111-2222-333344445555'
    """
    if isinstance(uuid, bytes):
        uuid = uuid.decode()
    return _UUID_PREFIX.sub("", uuid.strip()).lower()


def _mig_uuid(uuid: str) -> str:
    return uuid if _UUID_PREFIX.match(uuid) else f"MIG-{uuid}"


def parse_visible_devices(value: str | None) -> list[str] | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` up to the first invalid one, as CUDA reads them; None when unset.

    Example:
        >>> parse_visible_devices("2,0")
        ['2', '0']
        >>> parse_visible_devices("GPU-abc,1")
        ['GPU-abc', '1']
    """
    if value is None:
        return None
    entries: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry or not (entry.isdigit() or _UUID_PREFIX.match(entry)):
            break  # CUDA ignores this entry and all after it
        entries.append(entry)
    return entries


def visible_count(nvml_count: int, visible: str | None = None) -> int:
    """The most CUDA devices this process can see: the entries of ``CUDA_VISIBLE_DEVICES`` (default: the
    environment's) when it is set, else every device NVML counts. A CUDA index at or above it names no device.

    Example:
        >>> visible_count(4, visible="2,0"), visible_count(4, visible="")
        (2, 0)
    """
    entries = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible)
    return nvml_count if entries is None else len(entries)


def unmatched_reason(
    index: int, nvml_uuids: Sequence[str], *, visible: str | None = None, device_order: str | None = None
) -> str:
    """Why :func:`resolve_uuid` found no UUID for CUDA device ``index`` without CUDA's help, and what to set.

    Example:
        >>> unmatched_reason(0, ["GPU-a", "GPU-b"], visible="1,0", device_order="FASTEST_FIRST")[:58]
        'CUDA numbers GPUs fastest-first (CUDA_DEVICE_ORDER is not '
    """
    entries = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible)
    entry = str(index) if entries is None else entries[index] if index < len(entries) else None
    if entry is not None and not entry.isdigit():
        return f"CUDA_VISIBLE_DEVICES entry {entry!r} is the UUID (or a unique UUID prefix) of no NVML GPU"
    order = os.environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST") if device_order is None else device_order
    if entry is not None and order.upper() != "PCI_BUS_ID" and len(nvml_uuids) > 1:
        return (
            "CUDA numbers GPUs fastest-first (CUDA_DEVICE_ORDER is not PCI_BUS_ID) and torch cannot tell which GPU "
            "this is; set CUDA_DEVICE_ORDER=PCI_BUS_ID, or give GPU UUIDs in CUDA_VISIBLE_DEVICES"
        )
    if entry is not None:
        return f"CUDA_VISIBLE_DEVICES entry {entry} names no GPU (NVML has {len(nvml_uuids)})"
    return "CUDA cannot see it"


def torch_cuda_uuid(index: int) -> str | None:
    """The UUID torch reports for CUDA device ``index``, or None when torch cannot tell."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        return str(torch.cuda.get_device_properties(index).uuid)
    except Exception:
        return None


def resolve_uuid(
    index: int,
    nvml_uuids: Sequence[str],
    *,
    visible: str | None = None,
    cuda_uuid: Callable[[int], str | None] = torch_cuda_uuid,
    device_order: str | None = None,
) -> str | None:
    """The NVML UUID (as NVML spells it) of CUDA device ``index``, or None when it cannot be known.

    Args:
        index: CUDA device index as torch sees it (after ``CUDA_VISIBLE_DEVICES``).
        nvml_uuids: UUIDs of all devices in NVML (PCI bus) order.
        visible: ``CUDA_VISIBLE_DEVICES`` (default: the environment's).
        cuda_uuid: asks CUDA for the UUID of a device (default: torch); tried first.
        device_order: ``CUDA_DEVICE_ORDER`` (default: the environment's).

    Without CUDA, a UUID entry in ``CUDA_VISIBLE_DEVICES`` is used as it is; a numeric entry is trusted
    only when ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (or there is one GPU), since CUDA's default fastest-first
    order cannot be known without CUDA.

    Example:
        >>> resolve_uuid(0, ["GPU-a", "GPU-b", "GPU-c"], visible="2,0", cuda_uuid=lambda i: None,
        ...              device_order="PCI_BUS_ID")
        'GPU-c'
    """
    by_norm = {normalise_uuid(u): u for u in nvml_uuids}
    reported = cuda_uuid(index)
    if reported:
        # a MIG slice is not among the listed GPUs: NVML finds it by its MIG UUID
        return by_norm.get(normalise_uuid(reported), _mig_uuid(reported))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    entries = parse_visible_devices(visible)
    if entries is None:
        entries = [str(i) for i in range(len(nvml_uuids))]
    if index >= len(entries):
        return None
    entry = entries[index]
    if not entry.isdigit():
        # CUDA also accepts a unique UUID prefix
        matches = [u for n, u in by_norm.items() if n.startswith(normalise_uuid(entry))]
        if len(matches) == 1:
            return matches[0]
        return entry if entry.upper().startswith("MIG-") else None
    order = os.environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST") if device_order is None else device_order
    if order.upper() != "PCI_BUS_ID" and len(nvml_uuids) > 1:
        return None
    physical = int(entry)
    return nvml_uuids[physical] if physical < len(nvml_uuids) else None
