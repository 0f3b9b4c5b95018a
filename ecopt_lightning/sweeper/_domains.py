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
- Each of the sweep's kinds is compared by its basis too (:func:`bases`): ``measured`` (by a sensor: RAPL, NVML),
  ``estimated`` (the CPU-time estimate) or ``partly estimated`` (some of its domains each way, such as a checkpoint's
  estimate resumed with RAPL). The sweep's basis of a kind is the one most complete trials have (ties: measured, then
  partly estimated); a complete trial whose basis of a kind differs is not comparable (an estimate is a lower bound,
  not a reading: the trial reads cheaper, or dearer, for that alone). A sweep estimated throughout compares its trials.

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

    A trial whose CPU was estimated (RAPL denied on its node) beside trials whose CPU RAPL measured:
    >>> rapl = {"cpu:0": "rapl", "dram:0": "rapl"}
    >>> estimated = {"cpu:0": "estimate", "dram:0": "rapl"}
    >>> both = (["cpu:0", "dram:0"], [])
    >>> sweep = sweep_domains([both, both, both], [rapl, rapl, estimated])
    >>> sweep.bases
    {'cpu': 'measured', 'dram': 'measured'}
    >>> not_comparable(*both, sweep, estimated)
    "cpu estimated; the sweep's other trials measured it by rapl"
    >>> not_comparable(*both, sweep, rapl) is None
    True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..energy.measurement import ESTIMATE, base_source, is_measured

#: the rule, in words, for the reports
RULE = (
    "a complete trial that measured no domain of one of the sweep's kinds (those the most complete trials set out "
    "to measure, lost ones included; ties: the set with more kinds, then the earliest trial's; less any kind no trial "
    "measured in full), left out a domain another trial measured in full (a measurement fault), or has another basis "
    "for one of the sweep's kinds (measured, estimated or partly estimated: the one most trials have; ties: measured, "
    "then partly estimated) is not comparable: left out of the front, the knee, the hypervolume, the best trials and "
    "the payback, still complete in the study"
)


def kind(domain: str) -> str:
    """A domain's kind: ``gpu`` for ``gpu:0``, ``rank1/gpu:0`` or ``trial3/gpu:0``."""
    return domain.rsplit("/", 1)[-1].split(":", 1)[0]


#: a kind's basis in a trial (:func:`bases`), and in the sweep (the most common; ties in this order)
MEASURED, PARTLY, ESTIMATED = "measured", "partly estimated", "estimated"
_BASIS_ORDER = (MEASURED, PARTLY, ESTIMATED)


def bases(measured: Collection[str], sources: Mapping[str, str]) -> dict[str, str]:
    """Per kind of the ``measured`` domains whose source is known: ``measured`` (every one read by a sensor),
    ``estimated`` (every one an estimate) or ``partly estimated``.

    Example:
        >>> bases(["cpu:0", "dram:0", "checkpoint/cpu:0"], {"cpu:0": "rapl", "dram:0": "rapl", "checkpoint/cpu:0":
        ...       "estimate"})
        {'cpu': 'partly estimated', 'dram': 'measured'}
    """
    seen: dict[str, set[bool]] = {}
    for d in measured:
        if d in sources:
            seen.setdefault(kind(d), set()).add(is_measured(sources[d]))
    return {k: MEASURED if v == {True} else ESTIMATED if v == {False} else PARTLY for k, v in sorted(seen.items())}


def covered(sources: Mapping[str, str], faults: Collection[str]) -> list[str]:
    """The domains an energy covers in full: those of its ``sources`` without the ones in ``faults``, sorted."""
    return sorted(set(sources) - set(faults))


def of_summary(summary: Mapping[str, object]) -> tuple[list[str], list[str]] | None:
    """An ``energy_summary.json``'s (measured, unmeasured) domains: :func:`covered` of its ``sources`` and its
    ``measurement_faults``, and those faults' domains, sorted; ``None`` when it names no source.

    Example:
        >>> of_summary({"sources": {"cpu:0": "rapl", "gpu:0": "nvml_counter"}, "measurement_faults": {"gpu:0": "lost"}})
        (['cpu:0'], ['gpu:0'])
    """
    sources = summary.get("sources") or {}
    faults = summary.get("measurement_faults") or {}
    if not isinstance(sources, Mapping) or not sources or not isinstance(faults, Mapping):
        return None
    named = {str(k): str(v) for k, v in sources.items()}
    return covered(named, list(map(str, faults))), sorted(map(str, faults))


@dataclass(frozen=True)
class SweepDomains:
    """The sweep's kinds of domain (:func:`sweep_domains`), and every domain some complete trial measured in full."""

    kinds: list[str]
    measured: frozenset[str]
    #: per kind, the basis most complete trials have (:func:`bases`), where their sources are known
    bases: dict[str, str] = field(default_factory=dict)
    #: per kind measured by a sensor, the sensors (base sources) that measured it in the trials of the sweep's basis
    sensors: dict[str, list[str]] = field(default_factory=dict)


def sweep_domains(
    trials: Iterable[tuple[Collection[str], Collection[str]]], sources: Sequence[Mapping[str, str]] = ()
) -> SweepDomains | None:
    """The sweep's domains, from each complete trial's (measured, unmeasured) domains in trial order: the kinds the
    most trials set out to measure (both together; ties: more kinds, then the earliest trial's), less those no trial
    measured in full; with each trial's ``sources`` (domain -> source, in the same order), each kind's basis.
    ``None`` when no trial recorded its domains."""
    pairs = list(trials)
    if not pairs:
        return None
    sets = [frozenset(map(kind, [*measured, *unmeasured])) for measured, unmeasured in pairs]
    counts = Counter(sets)
    first = {s: i for i, s in reversed(list(enumerate(sets)))}
    best = max(counts, key=lambda s: (counts[s], len(s), -first[s]))
    measured = frozenset(d for m, _ in pairs for d in m)
    kinds = sorted(best & {kind(d) for d in measured})
    per_trial = [(m, src, bases(m, src)) for (m, _), src in zip(pairs, sources, strict=False)]
    sweep_bases: dict[str, str] = {}
    sensors: dict[str, list[str]] = {}
    for k in kinds:
        counts_k = Counter(b[k] for _, _, b in per_trial if k in b)
        if not counts_k:
            continue
        sweep_bases[k] = max(counts_k, key=lambda b: (counts_k[b], -_BASIS_ORDER.index(b)))
        used = {
            base_source(src[d])
            for m, src, b in per_trial
            if b.get(k) == sweep_bases[k]
            for d in m
            if kind(d) == k and d in src and is_measured(src[d])
        }
        if used:
            sensors[k] = sorted(used)
    return SweepDomains(kinds, measured, sweep_bases, sensors)


def text(domains: Collection[str]) -> str:
    """Domains (or kinds) in words: ``cpu:0+gpu:0``, or ``no domain``."""
    return "+".join(sorted(domains)) or "no domain"


def not_comparable(
    measured: Collection[str] | None,
    unmeasured: Collection[str],
    sweep: SweepDomains | None,
    sources: Mapping[str, str] | None = None,
) -> str | None:
    """Why a trial with these ``measured`` and ``unmeasured`` domains (and ``sources``, domain -> source) is not
    comparable with the sweep's trials, or ``None`` when it is (or either is unknown)."""
    if measured is None or sweep is None:
        return None
    kinds = text(sweep.kinds)
    missing = set(sweep.kinds) - {kind(d) for d in measured}
    if missing:
        return f"measured on {text(measured)} only, without {text(missing)}; the sweep's other trials on {kinds}"
    lost = [d for d in unmeasured if d in sweep.measured and kind(d) in sweep.kinds]
    if lost:
        return f"measured without {text(lost)} (a measurement fault); the sweep's other trials on {kinds} in full"
    own = bases(measured, sources or {})
    other = [k for k in sweep.kinds if k in own and k in sweep.bases and own[k] != sweep.bases[k]]
    if other:
        return "; ".join(
            f"{k} {_basis_text(own[k], _sensors(k, measured, sources or {}))}; the sweep's other trials "
            f"{_basis_text(sweep.bases[k], sweep.sensors.get(k, []), 'it ')}"
            for k in other
        )
    return None


def _sensors(k: str, measured: Collection[str], sources: Mapping[str, str]) -> list[str]:
    return sorted({base_source(s) for d in measured if kind(d) == k and is_measured(s := sources.get(d, ESTIMATE))})


def _basis_text(basis: str, sensors: Sequence[str], it: str = "") -> str:
    """``estimated``, ``measured by rapl``, ``partly estimated (the rest by rapl)``; ``it`` goes after the verb."""
    by = "/".join(sensors) or "a sensor"
    if basis == MEASURED:
        return f"measured {it}by {by}"
    if basis == ESTIMATED:
        return f"estimated {it}".rstrip()
    return f"partly estimated {it}(the rest by {by})"


def left_out_text(reasons: Iterable[str], kinds: str = "") -> str:
    """What the reasons (:func:`not_comparable`'s) of the trials left out say together, against the sweep's
    ``kinds`` in words when given: a different basis is told apart from fewer domains by its reason's start (a kind's
    name, not ``measured``).

    Example:
        >>> left_out_text(["measured on cpu:0 only, without gpu; ..."], "cpu+gpu")
        "measured on fewer domains than the sweep's cpu+gpu"
        >>> left_out_text(["cpu estimated; ...", "measured without gpu:0 (a measurement fault); ..."])
        'measured on fewer domains or on another basis (by a sensor, or estimated)'
    """
    reasons = list(reasons)
    fewer = any(r.startswith("measured ") for r in reasons)
    basis = any(not r.startswith("measured ") for r in reasons)
    than = f" than the sweep's {kinds}" if kinds else ""
    other = "on another basis (by a sensor, or estimated)"
    if not basis:
        return f"measured on fewer domains{than}"
    return f"measured on fewer domains or {other}{than}" if fewer else f"measured {other}{than}"
