"""Energy across DDP ranks: which rank counts which device, and cluster-wide sums (J) and maxima (s).

Every device is named by a key that is the same on every rank that can see it: a GPU by its NVML UUID,
RAPL zones by host (they measure the whole node), the CPU-time estimate by host and process (it counts only
its own process). The lowest rank holding a key counts it; the others drop it, so a GPU shared by two ranks
or a node's RAPL package is counted once. Reductions then only add up what each rank counts.
"""

from __future__ import annotations

import atexit
import os
import socket
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from .energy import EnergyMonitor
from .energy.devices import normalise_uuid
from .energy.measurement import ESTIMATE, base_source
from .energy_tracker import Op, Totals

K = TypeVar("K", bound=Hashable)


def device_keys(monitor: EnergyMonitor, host: str | None = None, pid: int | None = None) -> dict[str, str]:
    """Domain -> a key naming the physical thing it measures, comparable across ranks and nodes.

    Example:
        >>> m = EnergyMonitor(gpus=[], cpu="estimate")
        >>> device_keys(m, host="node1", pid=7)
        {'cpu:0': 'node1:pid7:cpu:0'}
    """
    host = socket.gethostname() if host is None else host
    pid = os.getpid() if pid is None else pid
    keys: dict[str, str] = {}
    for domain, source in monitor.sources.items():
        if domain in monitor.uuids:
            keys[domain] = "gpu:" + normalise_uuid(monitor.uuids[domain])
        elif base_source(source) == ESTIMATE:
            keys[domain] = f"{host}:pid{pid}:{domain}"
        else:
            keys[domain] = f"{host}:{domain}"
    return keys


def duplicate_domains(keys_by_rank: Sequence[Mapping[str, str]]) -> list[set[str]]:
    """Per rank, the domains it must not count because a lower rank already counts the same device.

    Example:
        >>> drops = duplicate_domains([{"gpu:0": "gpu:a", "cpu:0": "n1:cpu:0"}, {"gpu:0": "gpu:a"}])
        >>> drops[0], sorted(drops[1])
        (set(), ['gpu:0'])
    """
    owner: dict[str, int] = {}
    drops: list[set[str]] = []
    for rank, keys in enumerate(keys_by_rank):
        drop = set()
        for domain, key in keys.items():
            if key in owner:
                drop.add(domain)
            else:
                owner[key] = rank
        drops.append(drop)
    return drops


def reduce_rows(rows: Sequence[Sequence[float]], ops: Sequence[Op]) -> list[float]:
    """Combine one row per rank column by column: ``sum`` (energy, samples) or ``max`` (time).

    Example:
        >>> reduce_rows([[10.0, 2.0], [5.0, 3.0]], ["sum", "max"])
        [15.0, 3.0]
    """
    out = []
    for j, op in enumerate(ops):
        column = [row[j] for row in rows]
        out.append(sum(column) if op == "sum" else max(column))
    return out


class RankReducer:
    """Reduces named values across the ranks of a Lightning strategy (or does nothing for one process).

    Args:
        world_size: number of ranks.
        gather: ``tensor -> tensor`` stacking every rank's tensor (e.g. ``strategy.all_gather``).
        gather_object: ``obj -> list`` of every rank's object (e.g. ``torch.distributed.all_gather_object``).
        device: where the gathered tensor must live (the strategy's root device; CUDA for NCCL).

    Every rank must call :meth:`reduce` and :meth:`gather_objects` the same number of times, in the same
    order: they are collectives.

    Example:
        >>> RankReducer().reduce({"energy_J": 3.0, "seconds": 1.0})
        {'energy_J': 3.0, 'seconds': 1.0}
    """

    def __init__(
        self,
        world_size: int = 1,
        gather: Callable[[Any], Any] | None = None,
        gather_object: Callable[[Any], list[Any]] | None = None,
        device: Any = None,
    ) -> None:
        self.world_size = world_size
        self._gather = gather
        self._gather_object = gather_object
        self._device = device

    @classmethod
    def from_strategy(cls, strategy: Any) -> RankReducer:
        """The reducer for a Lightning strategy (``trainer.strategy``)."""
        world_size = int(getattr(strategy, "world_size", 1) or 1)
        if world_size == 1:
            return cls()
        import torch.distributed as dist

        release_process_group_at_exit()

        def gather_object(obj: Any) -> list[Any]:
            out: list[Any] = [None] * world_size
            dist.all_gather_object(out, obj)
            return out

        return cls(world_size, strategy.all_gather, gather_object, strategy.root_device)

    def reduce(self, values: Mapping[str, float], ops: Mapping[str, Op] | None = None) -> dict[str, float]:
        """Sum (default) or max of each value over ranks; keys ending in ``seconds`` default to max."""
        if self.world_size == 1 or self._gather is None:
            return dict(values)
        ops = ops or {}
        column_ops: list[Op] = [ops.get(n, "max" if n.endswith("seconds") else "sum") for n in values]
        return dict(zip(values, self._reduce_columns([float(v) for v in values.values()], column_ops), strict=True))

    def reduce_totals(self, spans: Mapping[K, Totals]) -> dict[K, Totals]:
        """Every span's counted fields over ranks, in one collective, each by its own op (energy summed, time
        and steps maximised: see :class:`~ecopt_lightning.energy_tracker.Totals`). The result holds counted
        fields only: per-domain energy and sources stay this rank's.

        Example:
            >>> gathered = lambda t: t.repeat(2)  # two ranks that measured the same
            >>> r = RankReducer(2, gather=gathered).reduce_totals({"train": Totals(energy_J=3.0, seconds=2.0)})
            >>> r["train"].energy_J, r["train"].seconds
            (6.0, 2.0)
        """
        ops = Totals.reduce_ops()
        values = [float(v) for t in spans.values() for v in t.counts().values()]
        reduced = self._reduce_columns(values, list(ops.values()) * len(spans))
        n = len(ops)
        return {
            key: Totals.from_counts(dict(zip(ops, reduced[i * n : (i + 1) * n], strict=True)))
            for i, key in enumerate(spans)
        }

    def _reduce_columns(self, values: list[float], ops: list[Op]) -> list[float]:
        if self.world_size == 1 or self._gather is None:
            return list(values)
        import torch

        local = torch.tensor(values, dtype=torch.float64, device=self._device)
        gathered = self._gather(local).reshape(self.world_size, len(values)).cpu().tolist()
        return reduce_rows(gathered, ops)

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, by rank (a collective; pickles, so keep it for set-up and summaries)."""
        if self.world_size == 1 or self._gather_object is None:
            return [obj]
        return self._gather_object(obj)


_release_registered = False


def release_process_group_at_exit() -> None:
    """Destroy the default process group when the interpreter exits, before it finalizes (registered once per
    process; nothing to do where none is open then).

    A collective's tensors can outlive its ``wait()`` in gloo's worker threads; one freed there while the
    interpreter finalizes takes the GIL from a thread Python no longer runs and aborts the rank ("terminate called
    without an active exception", SIGABRT; PyTorch issue #190489). This callback's reductions at a fit's end are
    often a rank's last collectives, so a spawned rank that returned at once aborted in about 1 run in 10 (two
    CPU ranks, gloo). Lightning destroys the group at exit for NCCL only.
    """
    global _release_registered
    if not _release_registered:
        _release_registered = True
        atexit.register(_release_process_group)


def _release_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


#: how long a failing rank tries to reach the process group's store (s): a hang guard, not a timing condition
STORE_TIMEOUT_S = 30.0


def first_failure(address: str, port: int, key: str, mine: str) -> str:
    """The failure that came first over the ranks: ``mine`` (``"rank 1: RuntimeError: ..."``) when no rank named
    one before under ``key``, else the earlier one. A rank whose peer failed fails in its next collective (gloo's
    "Connection closed by peer"), after that peer named its own failure here; so the first is the cause.

    The names go to the store of the process group at ``address:port`` (the rendezvous's TCPStore, which rank 0
    or the launcher's agent hosts; no collective, which would hang with a rank gone). A rank that cannot reach
    it (its host gone) names its own.

    Example:
        >>> import torch.distributed as dist
        >>> store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
        >>> first_failure("127.0.0.1", store.port, "fit", "rank 1: RuntimeError: boom")
        'rank 1: RuntimeError: boom'
        >>> first_failure("127.0.0.1", store.port, "fit", "rank 0: RuntimeError: Connection closed by peer")
        'rank 1: RuntimeError: boom'
    """
    import torch.distributed as dist

    try:
        store = dist.TCPStore(
            address, port, is_master=False, timeout=timedelta(seconds=STORE_TIMEOUT_S), wait_for_workers=False
        )
        # set only when absent (expected ""): one atomic step, whichever rank comes first
        return store.compare_set(key, "", mine).decode()
    except (RuntimeError, OSError, ValueError):
        return mine


def open_rank_monitor(
    gpus: Sequence[int],
    cpu: Any,
    reducer: RankReducer,
    rank: int = 0,
    make_monitor: Callable[..., EnergyMonitor] = EnergyMonitor,
    **kwargs: Any,
) -> tuple[EnergyMonitor, list[dict[str, dict[str, str]]]]:
    """This rank's monitor, counting only devices no lower rank counts, and every rank's devices.

    Every rank must call it (it gathers device keys). ``gpus`` is this rank's CUDA device (its root device);
    ``cpu`` as :class:`EnergyMonitor` takes it. Returns the monitor and, per rank, ``domain -> {"key",
    "source"}`` of the devices that rank counts.

    Example:
        >>> monitor, devices = open_rank_monitor([], "estimate", RankReducer())
        >>> devices[0]["cpu:0"]["source"]
        'estimate'
        >>> monitor.close()
    """
    monitor = make_monitor(gpus=list(gpus), cpu=cpu, **kwargs)
    keys_by_rank = reducer.gather_objects((device_keys(monitor), dict(monitor.sources)))
    drops = duplicate_domains([keys for keys, _ in keys_by_rank])
    mine = drops[rank] if rank < len(drops) else set()
    if mine:
        monitor.close()
        keep_gpus = [g for g in gpus if f"gpu:{g}" not in mine]
        keep_cpu = cpu if not any(not d.startswith("gpu:") for d in mine) else False
        monitor = make_monitor(gpus=keep_gpus, cpu=keep_cpu, **kwargs)
    devices = [
        {d: {"key": keys[d], "source": sources[d]} for d in keys if d not in drops[r]}
        for r, (keys, sources) in enumerate(keys_by_rank)
    ]
    return monitor, devices
