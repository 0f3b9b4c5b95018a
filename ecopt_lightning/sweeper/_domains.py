"""Which complete trials are comparable: a trial whose energy covers fewer measurement domains than the sweep's
other trials (its GPU not measured: NVML missing, the GPU lost mid-run) reads cheaper than they do for that alone.

- A trial's measured domains are those its energy covers in full (:func:`covered`): its sources' domains
  (``cpu:0``, ``dram:0``, ``gpu:0``, ``rank1/gpu:0``, as its ``energy_summary.json`` names them) without those with
  a measurement fault; its unmeasured domains are those with a fault (not measured at all, or left out of some
  window).
- Domains are compared by kind (:func:`kind`: ``cpu``, ``dram``, ``gpu``), so a sweep over the number of GPUs or
  processes compares a 1-GPU trial with a 2-GPU one. The sweep's kinds (:func:`sweep_domains`) are those the most
  complete trials set out to measure (measured and unmeasured domains: a sweep where most trials lost the GPU
  keeps it); ties go to the set with more kinds, then to the earliest trial's. A kind no complete trial measured in
  full (NVML missing in every trial) is not one of them, so a sensor none had never leaves the sweep without a
  front, and one odd trial (an extra sensor, a lost one) cannot change them: only a tie can, in a sweep of two.
- A complete trial is not comparable (:func:`not_comparable`) when it measured no domain of one of the sweep's
  kinds, or left out a domain (a fault: one of its two GPUs lost) that another complete trial measured in full (a
  GPU left out in every trial, e.g. a second index of the same physical GPU, is no loss). It stays complete in the study
  (the sampler learns from it); the front, the knee, the hypervolume, the best trials and the payback leave it out.
  A trial measured on more kinds leaves nothing out and stays; a trial with no recorded domains (no
  ``EnergyCallback``, a study stored before they were recorded) is not judged.

Example:
    >>> covered({"gpu:0": "nvml_counter", "cpu:0": "rapl"}, {"gpu:0": "NVML energy read failed"})
    ['cpu:0']
    >>> lost_gpu = (["cpu:0"], ["gpu:0"])
    >>> two_gpus = (["rank0/cpu:0", "rank0/gpu:0", "rank1/gpu:0"], [])
    >>> sweep = sweep_domains([(["cpu:0", "gpu:0"], []), lost_gpu, lost_gpu, two_gpus])  # two of four lost it
    >>> sweep.kinds
    ['cpu', 'gpu']
    >>> not_comparable(*lost_gpu, sweep)
    "measured on cpu:0 only, without gpu; the sweep's other trials on cpu+gpu"
    >>> not_comparable(["rank0/cpu:0", "rank0/gpu:0"], ["rank1/gpu:0"], sweep)
    "measured without rank1/gpu:0 (a measurement fault); the sweep's other trials on cpu+gpu in full"
    >>> not_comparable(*two_gpus, sweep) is None  # two GPUs against one: both measured in full
    True
    >>> sweep_domains([lost_gpu, lost_gpu]).kinds  # no trial measured a GPU: not a kind of the sweep
    ['cpu']
    >>> sweep_domains([(["cpu:0"], []), (["cpu:0", "gpu:0"], [])]).kinds  # a tie: the set with more kinds
    ['cpu', 'gpu']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

#: the rule, in words, for the reports
RULE = (
    "a complete trial that measured no domain of one of the sweep's kinds (those the most complete trials set out "
    "to measure, lost ones included; ties: the set with more kinds, then the earliest trial's; less any kind no trial "
    "measured in full), or left out a domain another trial measured in full (a measurement fault), is not "
    "comparable: left out of the front, the knee, the hypervolume, the best trials and the payback, still complete "
    "in the study"
)


def kind(domain: str) -> str:
    """A domain's kind: ``gpu`` for ``gpu:0``, ``rank1/gpu:0`` or ``trial3/gpu:0``."""
    return domain.rsplit("/", 1)[-1].split(":", 1)[0]


def covered(sources: Mapping[str, str], faults: Collection[str]) -> list[str]:
    """The domains an energy covers in full: those of its ``sources`` without the ones in ``faults``, sorted."""
    return sorted(set(sources) - set(faults))


@dataclass(frozen=True)
class SweepDomains:
    """The sweep's kinds of domain (:func:`sweep_domains`), and every domain some complete trial measured in full."""

    kinds: list[str]
    measured: frozenset[str]


def sweep_domains(trials: Iterable[tuple[Collection[str], Collection[str]]]) -> SweepDomains | None:
    """The sweep's domains, from each complete trial's (measured, unmeasured) domains in trial order: the kinds the
    most trials set out to measure (both together; ties: more kinds, then the earliest trial's), less those no trial
    measured in full. ``None`` when no trial recorded its domains."""
    pairs = list(trials)
    if not pairs:
        return None
    sets = [frozenset(map(kind, [*measured, *unmeasured])) for measured, unmeasured in pairs]
    counts = Counter(sets)
    first = {s: i for i, s in reversed(list(enumerate(sets)))}
    best = max(counts, key=lambda s: (counts[s], len(s), -first[s]))
    measured = frozenset(d for m, _ in pairs for d in m)
    return SweepDomains(sorted(best & {kind(d) for d in measured}), measured)


def text(domains: Collection[str]) -> str:
    """Domains (or kinds) in words: ``cpu:0+gpu:0``, or ``no domain``."""
    return "+".join(sorted(domains)) or "no domain"


def not_comparable(
    measured: Collection[str] | None, unmeasured: Collection[str], sweep: SweepDomains | None
) -> str | None:
    """Why a trial with these ``measured`` and ``unmeasured`` domains is not comparable with the sweep's trials, or
    ``None`` when it is (or either is unknown)."""
    if measured is None or sweep is None:
        return None
    kinds = text(sweep.kinds)
    missing = set(sweep.kinds) - {kind(d) for d in measured}
    if missing:
        return f"measured on {text(measured)} only, without {text(missing)}; the sweep's other trials on {kinds}"
    lost = [d for d in unmeasured if d in sweep.measured and kind(d) in sweep.kinds]
    if lost:
        return f"measured without {text(lost)} (a measurement fault); the sweep's other trials on {kinds} in full"
    return None
