"""benchmarks/_sweep_runs.py: a trial that nothing measured keeps ``energy_J = None`` (never 0 J); the energy
sums skip it and the comparisons say how many they skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import multi_fidelity
import pruning
from _sweep_runs import hv_curve, trial_row, unmeasured

from ecopt_lightning.sweeper._records import to_record
from ecopt_lightning.sweeper._schema import ReportSettings


def rows_of_a_study() -> list[dict]:
    """Trial 0 measured (10 J), trial 1 failed before anything measured it, trial 2 measured (5 J)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, energy in ((0, 10.0), (1, None), (2, 5.0)):
        t = study.ask({"width": optuna.distributions.CategoricalDistribution([16, 64])})
        if energy is None:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
            continue
        t.set_user_attr("val_acc", 0.8 + number / 100)
        t.set_user_attr("energy/inference_per_sample_J", 0.004)
        t.set_user_attr("energy/total_J", energy)
        study.tell(t, [0.8 + number / 100, 0.004])
    settings = ReportSettings.default(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])
    return [trial_row(t, to_record(t, settings)) for t in study.trials]


def test_a_trial_without_energy_stays_none_and_is_counted() -> None:
    rows = rows_of_a_study()
    assert [r["energy_J"] for r in rows] == [10.0, None, 5.0]
    assert [r["state"] for r in rows] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert unmeasured(rows) == 1
    assert [e for e, _ in hv_curve(rows, (0.0, 0.01))] == [10.0, 10.0, 15.0]


def test_comparisons_skip_and_count_unmeasured_trials() -> None:
    rows = rows_of_a_study()
    s = pruning.compare(rows, rows[:1] + rows[2:], 0.01)
    assert s["total_J"] == {"plain": 15.0, "pruned": 15.0}
    assert s["unmeasured_trials"] == {"plain": 1, "pruned": 0}
    assert pruning.summarise([s])["unmeasured_trials"] == {"plain": 1, "pruned": 0}
    m = multi_fidelity.compare(rows, rows)
    assert m["total_J"] == {"plain": 15.0, "mf": 15.0} and m["unmeasured_trials"] == {"plain": 1, "mf": 1}
    assert multi_fidelity.summarise([m, m])["unmeasured_trials"] == {"plain": 2, "mf": 2}
    assert m["final_hv"]["plain"] == pytest.approx(0.82 * (1.1 * 0.004 - 0.004))


@pytest.mark.parametrize(("threads", "seen"), [(1, "OMP=1"), (0, "OMP=inherited")])
def test_run_sweep_sets_the_trials_thread_count_only_when_asked(tmp_path: Path, monkeypatch, threads, seen) -> None:
    from _sweep_runs import run_sweep

    monkeypatch.setenv("OMP_NUM_THREADS", "inherited")
    script = tmp_path / "app.py"  # stands in for a benchmark's --app: says what it got, then fails
    script.write_text("import os, sys\nsys.exit('OMP=' + os.environ['OMP_NUM_THREADS'])\n")
    with pytest.raises(SystemExit, match=f"sweep failed \\(probe\\): {seen}"):
        run_sweep(str(script), [], tmp_path / "sweep", "study", "probe", threads)
