"""A GPSampler that maximises its acquisition over every cell of a small, fully discrete space.

Benchmarks only unless it wins (issue 13: GP on ``nas6x5`` misses the low-error corner on some seeds). Optuna's
GPSampler maximises the acquisition from 2048 quasi-random points and 10 coordinate-wise local searches; on a
space of 5**6 = 15,625 cells that sees about an eighth of the space. Where the space has at most ``max_cells``
cells and no continuous parameter, this sampler evaluates the acquisition on all of them (``_optimize_acqf``,
the override point Optuna's source names for this) and proposes the best; otherwise it is GPSampler unchanged.

Example:
    >>> import numpy as np
    >>> cells(np.array([0, 1]), [np.arange(2), np.arange(3)]).shape
    (6, 2)
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from optuna.samplers import GPSampler
from typing_extensions import override

#: largest space evaluated cell by cell
MAX_CELLS = 20_000
#: cells per acquisition call (memory: the QMC samples times the front's boxes per cell)
CHUNK = 1024


def cells(discrete_indices: np.ndarray, choices: list[np.ndarray]) -> np.ndarray:
    """Every combination of the discrete parameters' normalised values, one row per cell."""
    return np.array(list(itertools.product(*choices)), dtype=float).reshape(-1, len(discrete_indices))


class ExhaustiveAcqfGPSampler(GPSampler):
    """GPSampler whose acquisition is maximised exhaustively on small discrete spaces; see the module docstring."""

    def __init__(self, *args: Any, max_cells: int = MAX_CELLS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_cells = max_cells

    @override
    def _optimize_acqf(self, acqf: Any, best_params: np.ndarray | None) -> np.ndarray:
        space = acqf.search_space
        choices = space.get_choices_of_discrete_params()
        n = math.prod(len(c) for c in choices)
        if len(space.continuous_indices) or n > self._max_cells:
            return super()._optimize_acqf(acqf, best_params)
        xs = np.empty((n, space.dim))
        xs[:, space.discrete_indices] = cells(space.discrete_indices, choices)
        vals = np.concatenate([acqf.eval_acqf_no_grad(xs[i : i + CHUNK]) for i in range(0, n, CHUNK)])
        return xs[int(np.argmax(vals))]
