"""A fake ``/sys/class/powercap`` tree in a temp folder, read by the real RAPL code path.

Layout as on an Intel server: ``intel-rapl:N`` packages (``package-N``) with sub-zones ``core``, ``uncore``
and ``dram``, plus an overlapping ``psys`` zone. Counters are in microjoules and wrap at
``max_energy_range_uj`` like the hardware's.

Example:
    >>> import tempfile
    >>> cap = FakePowercap(tempfile.mkdtemp())
    >>> cap.add("cpu:0", 2.5)  # 2.5 J into package 0
    >>> cap.raw("cpu:0") - FakePowercap.START_UJ
    2500000
"""

from __future__ import annotations

import os
from pathlib import Path


class FakePowercap:
    START_UJ = 1_000_000
    #: sub-zones of a package, in the order the kernel numbers them here
    SUBZONES = ("core", "uncore", "dram")

    def __init__(
        self,
        root: str | os.PathLike[str],
        sockets: int = 1,
        max_uj: int = 262_143_328_850,
        psys: bool = True,
        dies: int = 1,
    ):
        """``dies`` > 1: each package has that many dies, one zone each, named as the kernel names them then
        (``package-S-die-D``); their keys are ``cpu:S-die-D``, ``dram:S-die-D``."""
        self.root = Path(root)
        self.max_uj = max_uj
        self.paths: dict[str, Path] = {}
        for s in range(sockets):
            for d in range(dies):
                n = s * dies + d
                top = self.root / f"intel-rapl:{n}"
                suffix = f"{s}-die-{d}" if dies > 1 else f"{s}"
                self._zone(top, f"package-{suffix}", f"cpu:{suffix}")
                for i, sub in enumerate(self.SUBZONES):
                    key = f"dram:{suffix}" if sub == "dram" else f"{sub}:{suffix}"
                    self._zone(top / f"intel-rapl:{n}:{i}", sub, key)
        if psys:
            self._zone(self.root / f"intel-rapl:{sockets * dies}", "psys", "psys")

    def _zone(self, path: Path, name: str, key: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{self.START_UJ}\n")
        (path / "max_energy_range_uj").write_text(f"{self.max_uj}\n")
        self.paths[key] = path

    def raw(self, key: str) -> int:
        return int((self.paths[key] / "energy_uj").read_text())

    def set_raw(self, key: str, uj: int) -> None:
        (self.paths[key] / "energy_uj").write_text(f"{uj}\n")

    def add(self, key: str, joules: float) -> None:
        """Advance a zone's counter by ``joules`` (J), wrapping at ``max_energy_range_uj``."""
        self.set_raw(key, (self.raw(key) + round(joules * 1e6)) % self.max_uj)

    def energy_files(self) -> list[Path]:
        return [p / "energy_uj" for p in self.paths.values()]
