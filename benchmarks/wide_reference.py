"""A GPSampler whose hypervolume-improvement reference lies further out than Optuna's.

Benchmarks only unless it wins (issue 13: GP on ``nas6x5`` misses the low-error, high-latency corner on some
seeds). Optuna's GPSampler sets the EHVI reference at 1.1 x the worst standardised loss seen (about 5% of the
observed range past the worst point), so a proposal beyond the observed costliest trial adds almost no expected
improvement, and the front's costly, accurate end is explored last. This sampler puts the reference
``margin`` x the observed range past the worst point, per objective.

Example:
    >>> import torch
    >>> [round(float(x), 6) for x in wide_reference(torch.tensor([[0.0, -1.0], [-2.0, 1.0]]), 0.5)]
    [3.0, 2.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna._gp.acqf as acqf_module
import torch
from optuna.samplers import GPSampler
from typing_extensions import override

#: the reference's distance past the worst seen loss, as a share of the seen range
MARGIN = 0.5


def wide_reference(Y: torch.Tensor, margin: float) -> np.ndarray:
    """The reference point in loss space (``-Y``; Y is maximised): worst + ``margin`` x range, per objective."""
    loss = -Y.numpy()
    worst, best = loss.max(axis=0), loss.min(axis=0)
    return np.nextafter(worst + margin * np.maximum(worst - best, 1e-12), np.inf)


class WideReferenceGPSampler(GPSampler):
    """GPSampler with :func:`wide_reference` in its acquisition; see the module docstring."""

    def __init__(self, *args: Any, margin: float = MARGIN, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._margin = margin

    @override
    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        original = acqf_module._get_reference_point
        acqf_module._get_reference_point = lambda Y: wide_reference(Y, self._margin)
        try:
            return super().sample_relative(study, trial, search_space)
        finally:
            acqf_module._get_reference_point = original
