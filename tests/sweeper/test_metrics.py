"""Metrics from a task's return value: tensors, missing names, NaN, constraints, the energy metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecopt_lightning.sweeper._metrics import Constraint, TrialError, lookup, to_metrics, trial_energy


def test_lightning_callback_metrics_tensors_become_floats() -> None:
    metrics = to_metrics({"val_acc": torch.tensor(0.75), "step": torch.tensor(3), "vec": torch.ones(2), "s": "x"})
    assert metrics == {"val_acc": 0.75, "step": 3.0}


def test_bare_numbers_map_onto_objectives() -> None:
    assert to_metrics(0.5, ["loss"]) == {"loss": 0.5}
    assert to_metrics([0.5, 2.0], ["a", "b"]) == {"a": 0.5, "b": 2.0}
    # any iterable of numbers, as hydra-optuna-sweeper takes (a numpy array was refused: fault audit, 2026-11-28)
    for values in (np.array([0.5, 2.0]), torch.tensor([0.5, 2.0]), (v for v in (0.5, 2.0))):
        assert to_metrics(values, ["a", "b"]) == {"a": 0.5, "b": 2.0}
    with pytest.raises(TrialError, match="return a dict of metrics"):
        to_metrics(np.array([0.5, 2.0, 3.0]), ["a", "b"])  # one number per objective
    with pytest.raises(TrialError, match="return a dict of metrics"):
        to_metrics(None, ["a"])


def test_missing_objective_lists_available_names_and_nan_fails() -> None:
    with pytest.raises(TrialError, match=r"objective 'val_acc' is not among the task's metrics; available: a, b"):
        lookup({"b": 1.0, "a": 2.0}, "val_acc", "objective")
    with pytest.raises(TrialError, match="is nan"):
        lookup({"a": math.nan}, "a", "objective")


def test_constraints_are_signed_violations() -> None:
    assert Constraint.parse("energy/total_J <= 5").value({"energy/total_J": 7.0}) == 2.0
    assert Constraint.parse("val_acc >= 0.9").value({"val_acc": 0.95}) == pytest.approx(-0.05)
    with pytest.raises(ValueError):
        Constraint.parse("energy/total_J == 5")


def test_energy_metric_or_sum_of_phase_totals() -> None:
    assert trial_energy({"energy/total_J": 3.0, "energy/fit_total_J": 9.0}, "energy/total_J") == (3.0, "energy/total_J")
    value, source = trial_energy({"energy/fit_total_J": 2.0, "energy/test_total_J": 1.0}, "energy/total_J")
    assert (value, source) == (3.0, "sum of energy/fit_total_J, energy/test_total_J")
    assert trial_energy({"val_acc": 1.0}, "energy/total_J") == (None, None)
