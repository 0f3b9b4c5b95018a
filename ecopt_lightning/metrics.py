"""The names of the metrics `EnergyCallback` logs: defined here once, read by the callback and the sweeper.

Fixed names (J: joules, W: watts, s: seconds):

==============================  ===================================================================
name                            value
==============================  ===================================================================
``energy/total_J``              train + val + test + predict + benchmark + other energy (J)
``energy/total_net_J``          ``energy/total_J`` minus idle power x time (J)
``energy/estimated_fraction``   share of ``energy/total_J`` that is estimated, not measured (0..1)
``energy/interpolated_fraction``  share of ``energy/total_J`` interpolated across gaps in polled power (0..1)
``energy/inference_*``          the inference benchmark: median J per sample and its IQR (J)
``..._J_ci_lo``, ``..._J_ci_hi``  the median's 95% interval (J): ``energy/inference_per_sample_J_ci_lo``
``energy/inference_repeats``    repeats the benchmark ran
``energy/inference_converged``  1.0 when the interval is within ``rel_precision`` of the median, else 0.0
``energy/inference_rel_halfwidth``  the interval's larger distance from the median / the median
``energy/inference_contended``  1.0 when other processes' CPU load may bias the benchmark, else 0.0
``energy/inference_foreign_cores``  cores other processes kept busy during the benchmark, on average
``energy/train_contended``      1.0 when other processes' CPU load may bias the phase's total, else 0.0
``energy/train_contended_fraction``  share of the phase's measured time in contended windows (0..1)
``efficiency/samples_per_J``    inference samples per joule
``power/inference_W``           mean power of the inference benchmark (W)
``power/idle_W``                idle power measured before fit (W)
``model/params``                parameter count
``model/flops_per_sample``      FLOPs of one forward pass per sample
``carbon/total_gCO2e``          carbon of ``energy/total_J`` (gCO2e)
==============================  ===================================================================

Names that depend on the phase (``train``, ``val``, ``test``, ``predict``) come from the helpers below.

Example:
    >>> TOTAL_J, step_J("train"), step_J("val"), power_W("test")
    ('energy/total_J', 'energy/train_step_J', 'energy/val_batch_J', 'power/test_W')
    >>> epoch_J("train"), per_sample_J("val"), per_item_J("train"), total_J("predict")
    ('energy/train_epoch_J', 'energy/val_per_sample_J', 'energy/train_per_item_J', 'energy/predict_total_J')
    >>> epoch_net_J("train"), total_net_J("train"), carbon_total_g("train"), cost_total("EUR")
    ('energy/train_epoch_net_J', 'energy/train_total_net_J', 'carbon/train_total_gCO2e', 'cost/total_EUR')
    >>> for_dataloader(per_sample_J("val"), 1)
    'energy/val_per_sample_J/dataloader_idx_1'
    >>> import fnmatch; fnmatch.fnmatchcase(total_J("val"), PHASE_TOTAL_J_PATTERN)
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

TOTAL_J = "energy/total_J"
TOTAL_NET_J = "energy/total_net_J"
ESTIMATED_FRACTION = "energy/estimated_fraction"
INTERPOLATED_FRACTION = "energy/interpolated_fraction"
INFERENCE_PER_SAMPLE_J = "energy/inference_per_sample_J"
INFERENCE_PER_SAMPLE_IQR_J = "energy/inference_per_sample_J_iqr"
#: a metric's interval is two more metrics named with these suffixes; the sweeper reads any objective's
#: interval by them (:func:`ci_lo`, :func:`ci_hi`)
CI_LO_SUFFIX, CI_HI_SUFFIX = "_ci_lo", "_ci_hi"
INFERENCE_REPEATS = "energy/inference_repeats"
INFERENCE_CONVERGED = "energy/inference_converged"
INFERENCE_REL_HALFWIDTH = "energy/inference_rel_halfwidth"
INFERENCE_CONTENDED = "energy/inference_contended"
INFERENCE_FOREIGN_CORES = "energy/inference_foreign_cores"
SAMPLES_PER_J = "efficiency/samples_per_J"
INFERENCE_W = "power/inference_W"
IDLE_W = "power/idle_W"
PARAMS = "model/params"
FLOPS_PER_SAMPLE = "model/flops_per_sample"
CARBON_TOTAL_G = "carbon/total_gCO2e"
#: :func:`cost_total` without its currency
COST_TOTAL_PREFIX = "cost/total_"
#: metric families that come from the energy meters (J, W, gCO2e, cost, samples per J): not logged when nothing
#: is measured
MEASURED_PREFIXES = ("energy/", "efficiency/", "power/", "carbon/", "cost/")
#: metric families of positive quantities that span decades between models (J, W, gCO2e, cost, samples per J,
#: parameter and FLOP counts): compared on log10 where a scale matters (:func:`on_log_scale`)
LOG_SCALE_PREFIXES = (*MEASURED_PREFIXES, "model/")
#: the hyperparameter that names every energy value's sources in each logger: ``"cpu:0=rapl, gpu:0=nvml_counter"``
SOURCES = "energy/sources"
#: the JSON summary the callback writes next to the logs
SUMMARY_FILE = "energy_summary.json"
#: torch intra-op threads of the inference benchmark unless set (``InferenceBenchmark.threads``; here, not in
#: ``inference``, so that the sweeper's pre-training check takes it without importing torch)
BENCHMARK_THREADS = 1
#: matches every phase's running total, :func:`total_J` (``energy/train_total_J``, ...)
PHASE_TOTAL_J_PATTERN = "energy/*_total_J"

#: what one step of a phase is: an optimizer step in training, a batch in the other loops
_STEP_NAME = {"train": "step", "val": "batch", "test": "batch", "predict": "batch"}


def step_J(phase: str) -> str:
    """Mean energy of one step (J), at log points: ``energy/train_step_J``, ``energy/val_batch_J``."""
    return f"energy/{phase}_{_STEP_NAME[phase]}_J"


def power_W(phase: str) -> str:
    """Mean power over the steps since the last log point (W)."""
    return f"power/{phase}_W"


def epoch_J(phase: str) -> str:
    """Energy of one epoch (train) or one loop (val, test, predict) (J)."""
    return f"energy/{phase}_epoch_J"


def per_sample_J(phase: str) -> str:
    """Energy per sample over the epoch or loop (J)."""
    return f"energy/{phase}_per_sample_J"


def per_item_J(phase: str) -> str:
    """Energy per item (e.g. token) over the epoch or loop (J), with a ``length_fn``."""
    return f"energy/{phase}_per_item_J"


def total_J(phase: str) -> str:
    """Running total of the phase (J); survives a resume."""
    return f"energy/{phase}_total_J"


def epoch_net_J(phase: str) -> str:
    """Epoch energy minus idle power x time (J), with an idle baseline."""
    return f"energy/{phase}_epoch_net_J"


def total_net_J(phase: str) -> str:
    """Running total minus idle power x time (J), with an idle baseline."""
    return f"energy/{phase}_total_net_J"


def contended(phase: str) -> str:
    """1.0 when other processes' CPU load may bias the phase's running total, else 0.0 (``/proc`` read)."""
    return f"energy/{phase}_contended"


def contended_fraction(phase: str) -> str:
    """Share of the phase's ``/proc``-read time that lay in contended windows (0..1)."""
    return f"energy/{phase}_contended_fraction"


def carbon_total_g(phase: str) -> str:
    """Carbon of the phase's running total (gCO2e)."""
    return f"carbon/{phase}_total_gCO2e"


def cost_total(currency: str) -> str:
    """Cost of ``energy/total_J`` in ``currency``."""
    return f"{COST_TOTAL_PREFIX}{currency}"


def for_dataloader(name: str, dataloader_idx: object) -> str:
    """``name`` for one of several dataloaders, as Lightning names them: ``<name>/dataloader_idx_N``."""
    return f"{name}/dataloader_idx_{dataloader_idx}"


def ci_lo(name: str) -> str:
    """The lower end of metric ``name``'s 95% interval: ``energy/inference_per_sample_J_ci_lo``."""
    return name + CI_LO_SUFFIX


def ci_hi(name: str) -> str:
    """The upper end of metric ``name``'s 95% interval."""
    return name + CI_HI_SUFFIX


#: the stop reason of an inference benchmark whose every repeat read 0 J on every rank (no meter: cpu=False and no
#: GPU; or a counter that never moved, as some VMs' RAPL files): it has no value (J per sample NaN, never 0 J); here,
#: not in ``inference``, so that the sweeper reads a job's summary without importing torch
NOTHING_MEASURED = "nothing measured"
#: the inference benchmark's figures that a benchmark which measured nothing (every repeat read 0 J) does not log
INFERENCE_ENERGY_METRICS = (
    INFERENCE_PER_SAMPLE_J,
    INFERENCE_PER_SAMPLE_IQR_J,
    ci_lo(INFERENCE_PER_SAMPLE_J),
    ci_hi(INFERENCE_PER_SAMPLE_J),
    INFERENCE_REL_HALFWIDTH,
    SAMPLES_PER_J,
    INFERENCE_W,
)


def on_log_scale(name: str) -> bool:
    """Whether metric ``name`` is one of ours that spans decades between models (:data:`LOG_SCALE_PREFIXES`),
    other than a share, a count of repeats, or a 0/1 flag.

    Example:
        >>> on_log_scale(INFERENCE_PER_SAMPLE_J), on_log_scale(SAMPLES_PER_J), on_log_scale("val_acc")
        (True, True, False)
        >>> on_log_scale(ESTIMATED_FRACTION), on_log_scale(INFERENCE_CONVERGED)
        (False, False)
    """
    flags = (ESTIMATED_FRACTION, INFERENCE_REPEATS, INFERENCE_CONVERGED, INFERENCE_REL_HALFWIDTH, INFERENCE_CONTENDED)
    if name in flags or name.endswith(("_contended", "_fraction")):
        return False
    return name.startswith(LOG_SCALE_PREFIXES)


def energy_note(values: Mapping[str, float]) -> str:
    """`` (energy: measured)``, or how much of the run's energy is estimated, and how much was interpolated across
    gaps in polled power; empty with no energy value (nothing measured): the energy values a closing line shows
    carry their source.

    Example:
        >>> energy_note({ESTIMATED_FRACTION: 0.25}), energy_note({})
        (' (energy: 25% ESTIMATED, not measured)', '')
        >>> energy_note({ESTIMATED_FRACTION: 0.0, INTERPOLATED_FRACTION: 0.4})
        ' (energy: measured, 40% of it interpolated across gaps in polled power)'
    """
    estimated = values.get(ESTIMATED_FRACTION, math.nan)
    if not math.isfinite(estimated):
        return ""
    interpolated = values.get(INTERPOLATED_FRACTION, math.nan)
    rough = (
        f", {interpolated:.0%} of it interpolated across gaps in polled power"
        if math.isfinite(interpolated) and interpolated > 0
        else ""
    )
    return (
        f" (energy: measured{rough})"
        if estimated == 0
        else f" (energy: {estimated:.0%} ESTIMATED, not measured{rough})"
    )
