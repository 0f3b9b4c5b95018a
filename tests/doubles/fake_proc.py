"""A fake ``/proc`` (``stat`` and ``self/stat``) whose CPU time counters tests move by events.

Example:
    >>> import tempfile, pathlib
    >>> proc = FakeProc(pathlib.Path(tempfile.mkdtemp()), cores=2)
    >>> proc.run(own=5, foreign=20)
    >>> (proc.root / "stat").read_text().splitlines()[0]
    'cpu  25 0 0 0 0 0 0 0 0 0'
"""

from __future__ import annotations

from pathlib import Path


class FakeProc:
    """``stat`` with ``cores`` CPUs and ``self/stat`` of a process with ``threads`` threads; counters in ticks."""

    def __init__(self, root: Path, cores: int = 2, threads: int = 4) -> None:
        self.root = root
        self.cores, self.threads = cores, threads
        self.busy = self.idle = self.own = 0
        (root / "self").mkdir(parents=True, exist_ok=True)
        self._write()

    def run(self, own: int = 0, foreign: int = 0, idle: int = 0) -> None:
        """This process used ``own`` ticks, other processes ``foreign`` ticks, and ``idle`` ticks went unused."""
        self.own += own
        self.busy += own + foreign
        self.idle += idle
        self._write()

    def _write(self) -> None:
        lines = [f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0"]
        lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(self.cores)]
        (self.root / "stat").write_text("\n".join([*lines, "intr 0", ""]))
        fields = ["S", *["0"] * 10, str(self.own), "0", *["0"] * 4, str(self.threads)]
        (self.root / "self" / "stat").write_text(f"4242 (python3 (x) y) {' '.join(fields)} 0 0\n")
