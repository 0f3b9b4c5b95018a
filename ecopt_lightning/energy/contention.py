"""What else the machine did during a window: CPU time of other processes, from ``/proc``, and this process's
threads against the cores they left free.

Linux only (``/proc/stat`` and ``/proc/self/stat``, in clock ticks); elsewhere nothing is read and nothing is
judged. The ``/proc`` root is injectable (``$ECOPT_PROC_ROOT``) so a fake tree can stand in for it.

A window is ``contended`` when other processes kept at least :data:`FOREIGN_CORES_LIMIT` cores busy on
average (their work shares the CPU package RAPL reads, slows this process's threads, and heats the machine),
or when this process's compute threads plus that foreign load asked for more cores than exist by more than
:data:`OVERSUBSCRIBED_MARGIN` while the threads were at work (threads then wait for each other; OpenMP threads
spin while they wait, and process CPU time, which the CPU estimate counts, cannot tell that spin from work).
Threads that were not at work, a GPU run's while the GPU computes, ask for no core: the process must have kept
at least :data:`BUSY_SHARE` of the cores its threads could have had busy.

Example:
    >>> a = ProcSample(system_busy=1000, system_total=2000, own=300, threads=4, cores=2, hz=100)
    >>> b = ProcSample(system_busy=1300, system_total=2400, own=400, threads=4, cores=2, hz=100)
    >>> c = Contention.between(a, b, seconds=2.0, compute_threads=1)
    >>> c.foreign_cores, c.own_cores, c.contended
    (1.0, 0.5, True)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Other processes keeping this many cores busy on average (or more) make a window contended.
FOREIGN_CORES_LIMIT = 0.5
#: Compute threads + foreign cores above the core count by more than this make a window contended.
OVERSUBSCRIBED_MARGIN = 0.25
#: Compute threads count as asking for their cores when the process kept at least this share of them busy.
BUSY_SHARE = 0.5
#: Windows shorter than this many clock ticks per core are not judged (one tick is 10 ms at the usual 100 Hz).
MIN_TICKS = 10
#: The remedy said once when a window is contended.
REMEDY = (
    "quiet the machine (stop other CPU-heavy processes) and use at most the free cores: "
    "OMP_NUM_THREADS=<free cores> or torch.set_num_threads(<free cores>); OMP_WAIT_POLICY=PASSIVE (set before "
    "the process starts) makes waiting threads sleep instead of spin"
)


def span_contended(proc_s: float, foreign_core_s: float, contended_s: float) -> bool:
    """Whether a span of windows (a training phase) was contended: some window of it was on its own, or other
    processes kept :data:`FOREIGN_CORES_LIMIT` cores busy on average over the ``proc_s`` seconds that ``/proc``
    was read in (``foreign_core_s``: their busy core-seconds; ``contended_s``: seconds of contended windows).

    Example:
        >>> span_contended(100.0, 10.0, 0.0), span_contended(100.0, 60.0, 0.0), span_contended(100.0, 0.0, 0.2)
        (False, True, True)
    """
    judged = proc_s * 100 >= MIN_TICKS  # at the usual 100 ticks per second
    return contended_s > 0 or (judged and foreign_core_s / proc_s >= FOREIGN_CORES_LIMIT)


def contended_share(fraction: float) -> str:
    """How a contended phase's share of time in contended windows reads: a phase can be contended by its
    average load alone, when no window crossed the limit on its own (windows too short to judge alone).

    Example:
        >>> contended_share(0.25)
        '25% of the time in windows contended on their own'
        >>> contended_share(0.0)
        'over the phase as a whole; no window was contended on its own'
    """
    if fraction > 0:
        return f"{fraction:.0%} of the time in windows contended on their own"
    return "over the phase as a whole; no window was contended on its own"


def proc_root() -> Path:
    """``$ECOPT_PROC_ROOT`` or ``/proc``."""
    return Path(os.environ.get("ECOPT_PROC_ROOT") or "/proc")


@dataclass(frozen=True)
class ProcSample:
    """CPU time counters at one moment, in clock ticks (1/``hz`` s): busy and total over all cores, this
    process's user + system time; its thread count; the machine's cores."""

    system_busy: int
    system_total: int
    own: int
    threads: int
    cores: int
    hz: int

    @classmethod
    def read(cls, root: Path | None = None) -> ProcSample | None:
        """Read ``<root>/stat`` and ``<root>/self/stat`` once; ``None`` when they are absent or unreadable."""
        reader = ProcReader(proc_root() if root is None else root, max_age_s=0.0)
        try:
            return reader.read()
        finally:
            reader.close()


#: A sample younger than this (s) is returned again instead of read: ``/proc``'s CPU times move in clock ticks
#: (10 ms at the usual 100 Hz), so a read within a tenth of a tick adds nothing but its cost, and the close of one
#: window and the open of the next, back to back, share a sample (they add up as before). 0: always read.
PROC_MAX_AGE_S = 0.001


class ProcReader:
    """:class:`ProcSample` from ``root``, read through files kept open: ``pread`` at offset 0 makes ``/proc``
    generate a file again, so a sample costs two system calls instead of an open, read and close of each file
    (about 14 µs instead of 44 here; benchmarks/README.md, "Measurement overhead"). The core count is read once,
    and a sample younger than ``max_age_s`` (:data:`PROC_MAX_AGE_S`) is returned again. A forked child opens its
    own files (``self`` is resolved at open time).

    Example:
        >>> reader = ProcReader(proc_root())
        >>> sample = reader.read()
        >>> sample is None or sample.cores >= 1
        True
        >>> reader.close()
    """

    def __init__(
        self, root: Path, max_age_s: float | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.root = root
        self.max_age_s = PROC_MAX_AGE_S if max_age_s is None else max_age_s
        self.clock = clock
        self._fds: tuple[int, int] | None = None
        self._pid = 0
        self._cores = 1
        self._hz = int(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100
        self._last: tuple[float, ProcSample | None] | None = None

    def read(self, now: float | None = None) -> ProcSample | None:
        """A sample now (or one read less than ``max_age_s`` before ``now``, the caller's clock reading, by
        default ``clock()``); ``None`` when the files are absent, unreadable or not as Linux writes them."""
        now = self.clock() if now is None else now
        if self._last is not None and now - self._last[0] < self.max_age_s and self._pid == os.getpid():
            return self._last[1]
        sample = self._read()
        self._last = (now, sample)
        return sample

    def _read(self) -> ProcSample | None:
        try:
            if self._fds is None or self._pid != os.getpid():
                self._open()
            assert self._fds is not None
            first = os.pread(self._fds[0], 512, 0).split(b"\n", 1)[0]
            own_stat = os.pread(self._fds[1], 2048, 0)
        except OSError:
            return None
        return _parse(first.decode(), own_stat.decode(), self._cores, self._hz)

    def _open(self) -> None:
        self.close()
        lines = (self.root / "stat").read_text().splitlines()
        self._cores = max(1, sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit()))
        system = os.open(self.root / "stat", os.O_RDONLY)
        try:
            self._fds = (system, os.open(self.root / "self" / "stat", os.O_RDONLY))
        except OSError:
            os.close(system)
            raise
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the files (a later :meth:`read` opens them again). Idempotent."""
        if self._fds is not None and self._pid == os.getpid():
            for fd in self._fds:
                os.close(fd)
        self._fds = None


def _parse(first: str, own_stat: str, cores: int, hz: int) -> ProcSample | None:
    """A :class:`ProcSample` from ``/proc/stat``'s first line and ``/proc/self/stat``; ``None`` if malformed."""
    try:
        fields = [int(x) for x in first.split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
        rest = own_stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
        own = int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)
        threads = int(rest[17])  # num_threads (field 20)
    except (IndexError, ValueError):
        return None
    return ProcSample(total - idle, total, own, threads, cores, hz)


def compute_threads() -> int:
    """Threads this process computes with on the CPU: torch's intra-op threads when torch is loaded, else 1."""
    torch = sys.modules.get("torch")
    try:
        return int(torch.get_num_threads()) if torch is not None else 1
    except Exception:
        return 1


@dataclass(frozen=True)
class Contention:
    """CPU load over a window, from two :class:`ProcSample`; windows add up (ticks and seconds sum).

    Attributes:
        seconds: the window's wall time (s).
        foreign_ticks: CPU ticks other processes used (all cores), own_ticks: ticks this process used.
        cores: cores of the machine; hz: ticks per second.
        threads: this process's threads (most seen); compute_threads: its torch intra-op threads.
    """

    seconds: float
    foreign_ticks: int
    own_ticks: int
    cores: int
    hz: int
    threads: int
    compute_threads: int

    @classmethod
    def between(cls, start: ProcSample, end: ProcSample, seconds: float, compute_threads: int) -> Contention:
        own = max(0, end.own - start.own)
        busy = max(0, end.system_busy - start.system_busy)
        return cls(
            seconds, max(0, busy - own), own, end.cores, end.hz, max(start.threads, end.threads), compute_threads
        )

    @property
    def foreign_cores(self) -> float:
        """Cores other processes kept busy, on average over the window."""
        return self.foreign_ticks / self.hz / self.seconds if self.seconds > 0 else 0.0

    @property
    def own_cores(self) -> float:
        """Cores this process kept busy, on average over the window."""
        return self.own_ticks / self.hz / self.seconds if self.seconds > 0 else 0.0

    @property
    def free_cores(self) -> float:
        """Cores other processes left free, on average."""
        return max(0.0, self.cores - self.foreign_cores)

    @property
    def oversubscribed(self) -> bool:
        """This process's compute threads and the foreign load ask for more cores than exist, and the threads
        were at work (the process kept at least :data:`BUSY_SHARE` of the cores they could have had busy)."""
        asked = self.compute_threads + self.foreign_cores > self.cores + OVERSUBSCRIBED_MARGIN
        return asked and self.own_cores >= BUSY_SHARE * min(self.compute_threads, self.free_cores)

    @property
    def judged(self) -> bool:
        """The window was long enough (:data:`MIN_TICKS` ticks) for the tick counters to say something."""
        return self.seconds * self.hz >= MIN_TICKS

    @property
    def contended(self) -> bool:
        """Other processes' load was large enough to bias the window (see the module's docstring)."""
        return self.judged and (self.foreign_cores >= FOREIGN_CORES_LIMIT or self.oversubscribed)

    def describe(self) -> str:
        """One line with the figures."""
        text = (
            f"other processes kept {self.foreign_cores:.2f} of {self.cores} cores busy over {self.seconds:.3g} s "
            f"(this process {self.own_cores:.2f}); {self.compute_threads} compute thread(s) on "
            f"{self.free_cores:.2f} free core(s)"
        )
        if self.oversubscribed:
            text += " (threads wait for each other and spin; process CPU time, which the CPU estimate counts, "
            text += "cannot tell spin from work)"
        return text

    def __add__(self, other: Contention) -> Contention:
        return Contention(
            self.seconds + other.seconds,
            self.foreign_ticks + other.foreign_ticks,
            self.own_ticks + other.own_ticks,
            max(self.cores, other.cores),
            self.hz,
            max(self.threads, other.threads),
            max(self.compute_threads, other.compute_threads),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "contended": self.contended,
            "foreign_cores": self.foreign_cores,
            "own_cores": self.own_cores,
            "free_cores": self.free_cores,
            "cores": self.cores,
            "threads": self.threads,
            "compute_threads": self.compute_threads,
            "oversubscribed": self.oversubscribed,
            "judged": self.judged,
            "seconds": self.seconds,
        }
