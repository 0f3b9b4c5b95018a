"""CPU package and DRAM energy from RAPL counters in ``/sys/class/powercap`` (Intel and AMD).

Each top-level zone ``intel-rapl:N`` (named ``package-N``) is one CPU socket, domain ``cpu:N`` (on a CPU with
several dies per package, one zone per die, ``package-N-die-D``: domain ``cpu:N-die-D``). Its sub-zone named
``dram`` is domain ``dram:N`` (``dram:N-die-D``); the ``core`` and ``uncore`` sub-zones are parts of the package
and are not added, so nothing is counted twice. ``psys`` (whole platform) overlaps the packages and is skipped.

``energy_uj`` is in microjoules and wraps to 0 after ``max_energy_range_uj``: each read adds the difference to
the previous read, adding the range once when the value went down. A wrap between two reads is only seen if
reads come at least once per wrap period (minutes at full load), which :class:`EnergyMonitor` guarantees
with a background keep-alive read. A value that went down by more than a wrap explains (the energy the wrap
would mean is more than :data:`MAX_ZONE_W` could draw since the last read), or with no readable range, is a
reset (a driver reload, a CPU hot-plug): nothing is added for it, and every window across it is invalid.

Since CVE-2020-8694 most distributions make ``energy_uj`` readable by root only; then this meter finds no
domains and :func:`rapl_permission_hint` tells the user how to grant read access.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .measurement import RAPL
from .meter import Reading

DEFAULT_ROOT = Path("/sys/class/powercap")
UJ_PER_J = 1e6
#: more than any CPU package or its DRAM draws (W): a wrap that would mean more energy since the last read (with
#: the slack of :data:`WRAP_SLACK_S`) is a reset, not a wrap
MAX_ZONE_W = 1000.0
#: time added to the interval between two reads when judging a wrap (s): ten RAPL updates, so that reads close
#: together are never judged by a power their few microseconds cannot resolve
WRAP_SLACK_S = 0.01


def powercap_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The powercap folder: ``root``, else ``$ECOPT_POWERCAP_ROOT``, else ``/sys/class/powercap``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("ECOPT_POWERCAP_ROOT") or DEFAULT_ROOT)


@dataclass
class _Zone:
    domain: str
    path: Path
    max_uj: int
    last_uj: int
    last_t: float
    total_uj: int = 0
    resets: int = 0
    reset_why: str = ""


class RaplError(Exception):
    """RAPL exists but cannot be read; the message says why and how to fix it."""


def rapl_permission_hint(path: Path) -> str:
    return (
        f"RAPL energy counters exist but are not readable ({path}: permission denied; root-only since "
        "CVE-2020-8694). CPU energy is estimated instead. To measure it, grant read access, e.g. "
        "`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj` "
        "(or a udev rule / systemd-tmpfiles entry to keep it across reboots)."
    )


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def discover_zones(root: Path) -> list[tuple[str, Path]]:
    """Domains and zone folders to read under ``root``: packages as ``cpu:N``, their DRAM as ``dram:N``."""
    found: list[tuple[str, Path]] = []
    if not root.is_dir():
        return found
    tops = sorted(
        (p for p in root.iterdir() if p.name.count(":") == 1 and p.name.split(":")[0] in ("intel-rapl", "amd-rapl")),
        key=lambda p: int(p.name.split(":")[1]),
    )
    socket = 0
    for top in tops:
        try:
            name = (top / "name").read_text().strip()
        except OSError:
            continue
        if not name.startswith("package"):
            continue  # psys and others overlap the packages
        # "package-0", or "package-0-die-1" on a CPU with several dies per package: one zone per die
        index = name.removeprefix("package-") if re.fullmatch(r"package-\d+(-die-\d+)?", name) else str(socket)
        socket += 1
        found.append((f"cpu:{index}", top))
        for sub in sorted(top.glob(f"{top.name}:*")):
            try:
                if (sub / "name").read_text().strip() == "dram":
                    found.append((f"dram:{index}", sub))
            except OSError:
                continue
    return found


class RaplMeter:
    """Cumulative energy (J) of CPU packages and DRAM from powercap.

    Raises :class:`RaplError` when zones exist but cannot be read, and finds no domains when there is no RAPL.

    Example (a powercap folder written by hand; ``RaplMeter()`` reads ``/sys/class/powercap``):
        >>> import pathlib, tempfile
        >>> zone = pathlib.Path(tempfile.mkdtemp(), "intel-rapl:0")
        >>> zone.mkdir()
        >>> for name, text in [("name", "package-0"), ("energy_uj", "9000000"), ("max_energy_range_uj", "10000000")]:
        ...     _ = (zone / name).write_text(text)
        >>> meter = RaplMeter(zone.parent)
        >>> _ = (zone / "energy_uj").write_text("500000")  # wrapped: 1 J to the range, then 0.5 J
        >>> meter.read().energy_J
        {'cpu:0': 1.5}
    """

    #: RAPL counters update about every millisecond
    update_period_s = 0.001

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = powercap_root(root)
        self._zones: list[_Zone] = []
        self._lock = threading.Lock()
        #: domains whose zone exists but whose counter could not be read at start, with the reason
        self.missing: dict[str, str] = {}
        for domain, path in discover_zones(self.root):
            energy = path / "energy_uj"
            try:
                now = _read_int(energy)
            except PermissionError as exc:
                raise RaplError(rapl_permission_hint(energy)) from exc
            except (OSError, ValueError) as exc:
                self.missing[domain] = f"its RAPL counter {energy} could not be read ({type(exc).__name__}: {exc})"
                continue
            try:
                max_uj = _read_int(path / "max_energy_range_uj")
            except (OSError, ValueError):
                max_uj = 0
            self._zones.append(_Zone(domain, energy, max_uj, now, time.perf_counter()))
        self.sources = {z.domain: RAPL for z in self._zones}

    def read(self) -> Reading:
        reading = Reading()
        with self._lock:
            for z in self._zones:
                try:
                    now = _read_int(z.path)
                except (OSError, ValueError) as exc:
                    reading.errors[z.domain] = f"RAPL read failed: {exc}"
                    continue
                t = time.perf_counter()
                delta = now - z.last_uj
                if delta < 0:
                    delta += z.max_uj
                    if z.max_uj <= 0 or delta > MAX_ZONE_W * UJ_PER_J * (t - z.last_t + WRAP_SLACK_S):
                        z.resets += 1
                        z.reset_why = self._reset_why(z, now)
                        delta = 0  # the energy up to the reset is unknown: the windows across it are invalid
                z.total_uj += delta
                z.last_uj, z.last_t = now, t
                reading.energy_J[z.domain] = z.total_uj / UJ_PER_J
                if z.resets:
                    reading.faults[z.domain] = z.resets
                    reading.fault_reasons[z.domain] = z.reset_why
        return reading

    @staticmethod
    def _reset_why(z: _Zone, now: int) -> str:
        range_text = (
            f"more than a wrap at max_energy_range_uj={z.max_uj} explains"
            if z.max_uj > 0
            else "and max_energy_range_uj is not readable to tell a wrap"
        )
        return (
            f"RAPL counter went back from {z.last_uj / UJ_PER_J:.6f} J to {now / UJ_PER_J:.6f} J, {range_text}: "
            "it was reset (a driver reload, a CPU hot-plug?)"
        )

    def close(self) -> None:
        pass
