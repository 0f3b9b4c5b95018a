"""The stop-at-rung check without a Trainer: a real SQLite study, and two ranks simulated by a broadcast that
hands rank 0's values to rank 1 in the order they were sent."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ecopt_lightning.rung_check import RungCheck
from ecopt_lightning.sweeper._schema import MULTI_FIDELITY_ATTR, SETTINGS_ATTR, ReportSettings, rung_attr
from ecopt_lightning.sweeper.multi_fidelity import rung_values, stopped_at
from ecopt_lightning.sweeper.successive_halving import RungSchedule

NAMES = ["val_loss", "model/params"]
DIRECTIONS = ["minimize", "minimize"]


def _study(tmp_path: Path, earlier: list[list[float]]) -> tuple[optuna.Study, dict[str, str]]:
    """Multi-fidelity on (rungs 1, 2 of 4; eta 2), ``earlier`` trials' values at rung 1, and this job's trial."""
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=DIRECTIONS)
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(NAMES, DIRECTIONS).to_attrs())
    study.set_user_attr(MULTI_FIDELITY_ATTR, RungSchedule(1, 2, 4).to_attrs())
    for values in earlier:
        study.ask().set_user_attr(rung_attr(1), {"values": values, "max_epochs": 4})
    mine = study.ask()
    return study, {"ECOPT_STORAGE": url, "ECOPT_STUDY": "s", "ECOPT_TRIAL_NUMBER": str(mine.number)}


def _two_ranks(env: dict[str, str]) -> tuple[RungCheck, RungCheck, list]:
    sent: list = []

    def from_rank_zero(value):
        sent.append(value)
        return value

    rank0 = RungCheck.open(rank_zero=True, max_epochs=4, broadcast=from_rank_zero, env=env)
    rank1 = RungCheck.open(rank_zero=False, max_epochs=4, broadcast=lambda _: sent.pop(0), env=env)
    return rank0, rank1, sent


def test_off_outside_a_sweep() -> None:
    check = RungCheck.open(rank_zero=True, max_epochs=4, env={})
    assert not check.active and not check.reports and not any(check.due(e) for e in range(1, 6))
    assert check.decide(1, {"val_loss": 1.0}, 4) and check.stopped == ""


def test_every_rank_gets_the_rung_epochs_and_only_rank_zero_reports(tmp_path: Path) -> None:
    study, env = _study(tmp_path, earlier=[])
    rank0, rank1, sent = _two_ranks(env)
    assert rank0.epochs == rank1.epochs == [1, 2] and not sent
    assert rank0.reports and not rank1.reports
    assert [rank0.due(e) for e in (1, 2, 3, 4)] == [True, True, False, False]
    assert rank0.decide(1, {"val_loss": 0.5, "model/params": 10.0}, 4, broadcast=lambda v: sent.append(v) or v)
    assert rank1.decide(1, None, 4, broadcast=lambda _: sent.pop(0))  # alone at the rung: goes on
    assert rung_values(study.trials[-1].user_attrs)[1]["values"] == [0.5, 10.0]


def test_a_dominated_trial_stops_on_every_rank(tmp_path: Path) -> None:
    study, env = _study(tmp_path, earlier=[[0.1, 1.0]])  # an earlier trial better on both objectives
    rank0, rank1, sent = _two_ranks(env)
    assert not rank0.decide(1, {"val_loss": 0.5, "model/params": 10.0}, 4, broadcast=lambda v: sent.append(v) or v)
    assert not rank1.decide(1, None, 4, broadcast=lambda _: sent.pop(0))
    assert rank0.stopped == rank1.stopped == "stopped by multi-fidelity at epoch 1"
    assert stopped_at(study.trials[-1].user_attrs) == 1


def test_a_schedule_beside_another_max_epochs_is_refused_at_open(tmp_path: Path) -> None:
    _, env = _study(tmp_path, earlier=[])
    with pytest.raises(ValueError, match="max_epochs=4 is not allowed with Trainer\\(max_epochs=6\\)"):
        RungCheck.open(rank_zero=True, max_epochs=6, env=env)


@pytest.mark.parametrize(("earlier", "repeats"), [([], None), ([[1.0, 1.0]], 3)])
def test_every_rank_measures_the_first_rung_alike_short_only_where_the_trial_can_be_stopped(
    tmp_path: Path, earlier: list[list[float]], repeats: int | None
) -> None:
    """eta 2: alone at the rung the trial goes on whatever it measures, so it measures in full (``None``); with
    one other trial there it can be stopped, so the short measurement (``rung_repeats``, 3 by default) ranks it.
    Rank 1 has no study and takes rank 0's answer."""
    _, env = _study(tmp_path, earlier=earlier)
    rank0, rank1, sent = _two_ranks(env)
    assert rank0.benchmark_repeats == rank1.benchmark_repeats == 3  # the schedule's, sent with the epochs
    assert rank0.benchmark_repeats_at(1, broadcast=lambda v: sent.append(v) or v) == repeats
    assert rank1.benchmark_repeats_at(1, broadcast=lambda _: sent.pop(0)) == repeats


def test_a_storage_failure_on_rank_zero_stops_every_rank_instead_of_leaving_them_waiting(tmp_path: Path) -> None:
    # rank 0 raised before it broadcast (here: the study is gone from the storage), and the other ranks waited in
    # the broadcast for ever, holding their GPUs after the job had failed; in the simulation rank 1 found nothing
    # sent (IndexError)
    _, env = _study(tmp_path, earlier=[])
    optuna.delete_study(study_name="s", storage=env["ECOPT_STORAGE"])
    sent: list = []
    with pytest.raises(KeyError):  # rank 0 raises its own error, once it has told the others
        RungCheck.open(rank_zero=True, max_epochs=4, broadcast=lambda v: sent.append(v) or v, env=env)
    with pytest.raises(RuntimeError, match=r"^rank 0 failed in the multi-fidelity check: KeyError: .*Record does"):
        RungCheck.open(rank_zero=False, max_epochs=4, broadcast=lambda _: sent.pop(0), env=env)
    assert not sent


def test_a_storage_failure_at_a_rung_stops_every_rank(tmp_path: Path) -> None:
    _, env = _study(tmp_path, earlier=[])
    rank0, rank1, sent = _two_ranks(env)
    optuna.delete_study(study_name="s", storage=env["ECOPT_STORAGE"])
    with pytest.raises(KeyError):
        rank0.benchmark_repeats_at(1, broadcast=lambda v: sent.append(v) or v)
    with pytest.raises(RuntimeError, match=r"^rank 0 failed in the multi-fidelity check: KeyError"):
        rank1.benchmark_repeats_at(1, broadcast=lambda _: sent.pop(0))
    with pytest.raises(KeyError):
        rank0.decide(1, {"val_loss": 0.5, "model/params": 10.0}, 4, broadcast=lambda v: sent.append(v) or v)
    with pytest.raises(RuntimeError, match=r"^rank 0 failed in the multi-fidelity check: KeyError"):
        rank1.decide(1, None, 4, broadcast=lambda _: sent.pop(0))
    assert not sent
