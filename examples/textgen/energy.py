"""Energy per generated token (J/token) at a batch size, and the break-even of tuning the batch size.

J/token counts the whole request, prompt pass included, divided by the tokens generated (as the ML.ENERGY
leaderboard does): ``energy of generating new_tokens for batch_size prompts / (batch_size * new_tokens)``.

Example:
    >>> from ecopt_lightning import EnergyMonitor
    >>> from examples.textgen.model import build_model
    >>> monitor = EnergyMonitor(gpus=[], cpu="estimate")
    >>> r = measure_j_per_token(build_model("tiny"), monitor, batch_size=2, new_tokens=4, prompt_len=4, repeats=1)
    >>> r.tokens, r.source
    (8, 'estimate')
    >>> monitor.close()
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from ecopt_lightning import EnergyMonitor

from .model import TinyGpt, generate_greedy, make_prompts


@dataclass(frozen=True)
class TokenEnergy:
    """J/token of one batch size: medians over ``repeats`` measured runs (after warm-up runs).

    Attributes:
        batch_size: prompts decoded together; ``new_tokens``: tokens generated per prompt.
        tokens: tokens generated per run (``batch_size * new_tokens``).
        energy_J: median energy of one run (J), all measured domains; ``seconds``: median run time (s).
        J_per_token: ``energy_J / tokens`` (J); ``gpu_J_per_token``: the GPU domains only (J), comparable to
            GPU-only NVML figures; None where no GPU was measured.
        tokens_per_s: ``tokens / seconds``.
        source: one label for the numbers (``nvml_counter``, ``estimate``, ``mixed(...)``); ``sources`` per domain.
        approximate: some run was shorter than a sensor's update period.
        runs: every measured run's :meth:`Measurement.to_dict`.
    """

    batch_size: int
    new_tokens: int
    prompt_len: int
    tokens: int
    energy_J: float
    seconds: float
    J_per_token: float
    gpu_J_per_token: float | None
    tokens_per_s: float
    source: str
    sources: dict[str, str]
    approximate: bool
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def measure_j_per_token(
    model: TinyGpt,
    monitor: EnergyMonitor,
    batch_size: int,
    new_tokens: int = 64,
    prompt_len: int = 32,
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> TokenEnergy:
    """Measure J/token of greedy decoding at ``batch_size`` (median of ``repeats`` windows after ``warmup`` runs).

    Each run is one :meth:`EnergyMonitor.window` (synchronised at both ends when the monitor syncs, so the
    window holds the GPU work of the run and nothing else).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats={repeats}, warmup={warmup}: repeats must be >= 1 and warmup >= 0")
    prompts = make_prompts(batch_size, prompt_len, model.config.vocab_size, seed)
    for _ in range(warmup):
        generate_greedy(model, prompts, new_tokens)
    runs = []
    for i in range(repeats):
        with monitor.window(f"textgen-bs{batch_size}-{i}") as w:
            generate_greedy(model, prompts, new_tokens)
        runs.append(w.measurement)
    tokens = batch_size * new_tokens
    energy = statistics.median(m.energy_J for m in runs)
    seconds = statistics.median(m.seconds for m in runs)
    gpu = [sum(v for d, v in m.by_device.items() if d.startswith("gpu:")) for m in runs]
    has_gpu = any(d.startswith("gpu:") for m in runs for d in m.by_device)
    sources = {d: s for m in runs for d, s in m.sources.items()}
    return TokenEnergy(
        batch_size=batch_size,
        new_tokens=new_tokens,
        prompt_len=prompt_len,
        tokens=tokens,
        energy_J=energy,
        seconds=seconds,
        J_per_token=energy / tokens,
        gpu_J_per_token=statistics.median(gpu) / tokens if has_gpu else None,
        tokens_per_s=tokens / seconds if seconds > 0 else math.nan,
        source=runs[0].source if len({m.source for m in runs}) == 1 else "mixed",
        sources=sources,
        approximate=any(m.approximate for m in runs),
        runs=[m.to_dict() for m in runs],
    )


@dataclass(frozen=True)
class BreakEven:
    """When tuning the batch size has paid back its energy.

    Attributes:
        baseline_batch_size / chosen_batch_size: the untuned and the best (lowest J/token) batch size.
        baseline_J_per_token / chosen_J_per_token: their energy per token (J).
        saving_J_per_token: baseline minus chosen (J); 0 when the baseline is already the best.
        tuning_J: energy the tuning itself used (J), every warm-up and measured run of every batch size.
        tokens: tokens to generate at the chosen batch size before the saving repays ``tuning_J``; None when
            nothing is saved (tuning never pays back).
    """

    baseline_batch_size: int
    chosen_batch_size: int
    baseline_J_per_token: float
    chosen_J_per_token: float
    saving_J_per_token: float
    tuning_J: float
    tokens: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def break_even(results: list[TokenEnergy], tuning_J: float, baseline_batch_size: int = 1) -> BreakEven:
    """Compare the best batch size with the baseline and say after how many tokens tuning pays back.

    Example:
        >>> def r(bs, jpt):
        ...     return TokenEnergy(bs, 1, 1, bs, jpt * bs, 1.0, jpt, None, bs, "estimate", {}, False)
        >>> b = break_even([r(1, 0.5), r(8, 0.1)], tuning_J=400.0)
        >>> b.chosen_batch_size, round(b.saving_J_per_token, 3), round(b.tokens)
        (8, 0.4, 1000)
    """
    by_size = {r.batch_size: r for r in results}
    if baseline_batch_size not in by_size:
        raise ValueError(f"baseline batch size {baseline_batch_size} was not measured (measured: {sorted(by_size)})")
    if not tuning_J >= 0:
        raise ValueError(f"tuning_J={tuning_J!r} is not allowed: give an energy in J >= 0")
    base = by_size[baseline_batch_size]
    best = min(results, key=lambda r: r.J_per_token)
    saving = max(0.0, base.J_per_token - best.J_per_token)
    return BreakEven(
        baseline_batch_size=base.batch_size,
        chosen_batch_size=best.batch_size,
        baseline_J_per_token=base.J_per_token,
        chosen_J_per_token=best.J_per_token,
        saving_J_per_token=saving,
        tuning_J=tuning_J,
        tokens=tuning_J / saving if saving > 0 else None,
    )
