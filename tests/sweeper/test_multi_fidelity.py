"""Rung decisions through a real SQLite storage: record, read the cohort, decide, as two workers would."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._schema import (
    MULTI_FIDELITY_ATTR,
    RUNG_EPOCHS_ATTR,
    SETTINGS_ATTR,
    STOPPED_AT_ATTR,
    ReportSettings,
)
from ecopt_lightning.sweeper.errors import JobConfigError
from ecopt_lightning.sweeper.multi_fidelity import StudyRungs, rung_values, stopped_at, stopped_not_finite
from ecopt_lightning.sweeper.pruning import TrialRef
from ecopt_lightning.sweeper.successive_halving import RungSchedule, decide

NAMES = ["val_acc", "model/params"]
DIRECTIONS = ["maximize", "minimize"]


SCHEDULE = RungSchedule(1, 2, 4)


def _study(tmp_path: Path, schedule: RungSchedule | None = SCHEDULE) -> tuple[str, optuna.Study]:
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=DIRECTIONS)
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(NAMES, DIRECTIONS).to_attrs())
    study.set_user_attr(MULTI_FIDELITY_ATTR, None if schedule is None else schedule.to_attrs())
    return url, study


def _worker(url: str, number: int) -> StudyRungs:
    """A job's view, opened from the environment the sweeper sets (its own storage connection)."""
    env = {"ECOPT_STORAGE": url, "ECOPT_STUDY": "s", "ECOPT_TRIAL_NUMBER": str(number)}
    rungs = StudyRungs.from_env(env)
    assert rungs is not None
    return rungs


def test_off_outside_a_sweep_or_with_multi_fidelity_off(tmp_path: Path) -> None:
    assert StudyRungs.from_env({}) is None
    url, study = _study(tmp_path, schedule=None)
    study.ask()
    env = {"ECOPT_STORAGE": url, "ECOPT_STUDY": "s", "ECOPT_TRIAL_NUMBER": "0"}
    assert TrialRef.from_env(env) is not None and StudyRungs.from_env(env) is None


def test_lone_trial_goes_on_at_every_rung(tmp_path: Path) -> None:
    url, study = _study(tmp_path)
    study.ask()
    rungs = _worker(url, 0)
    assert rungs.decision_epochs(4) == [1, 2]
    for epoch in (1, 2):
        d = rungs.report(epoch, {"val_acc": 0.1, "model/params": 1e6}, 4)  # bad values, but alone: never blocks
        assert d.go_on and d.n == 1
    attrs = study.trials[0].user_attrs
    assert stopped_at(attrs) is None
    assert [e["decision"] for e in rung_values(attrs).values()] == ["continue", "continue"]


def test_two_workers_interleaved_by_event_see_each_other(tmp_path: Path) -> None:
    url, study = _study(tmp_path, RungSchedule(1, 2, 4))
    for _ in range(3):
        study.ask()
    first, a, b = _worker(url, 0), _worker(url, 1), _worker(url, 2)
    assert first.report(1, {"val_acc": 0.9, "model/params": 10.0}, 4).go_on  # alone
    # a and b reach rung 1 "at once": both write, then both read; each sees the other
    va = a.record(1, {"val_acc": 0.5, "model/params": 100.0}, 4)
    vb = b.record(1, {"val_acc": 0.95, "model/params": 5.0}, 4)
    da, db = a.decide(1, va, 4), b.decide(1, vb, 4)
    assert (da.n, db.n) == (3, 3)  # floor(3/2) = 1 goes on: b dominates everyone
    assert (da.go_on, db.go_on) == (False, True)
    trials = {t.number: t.user_attrs for t in study.get_trials()}
    assert stopped_at(trials[1]) == 1 and trials[1][STOPPED_AT_ATTR] == 1
    assert stopped_at(trials[2]) is None
    assert rung_values(trials[1])[1]["cohort"] == [0, 1, 2]


def test_decisions_replay_from_storage(tmp_path: Path) -> None:
    """What a worker stored (values, cohort, decision) agrees with the rule re-applied to the stored values."""
    url, study = _study(tmp_path, RungSchedule(1, 3, 9))
    plan = [(0.9, 10.0), (0.2, 50.0), (0.8, 5.0), (0.1, 70.0), (0.95, 1.0), (0.3, 3.0)]
    for _ in plan:
        study.ask()
    for number, (acc, params) in enumerate(plan):
        _worker(url, number).report(1, {"val_acc": acc, "model/params": params}, 9)
    attrs = {t.number: t.user_attrs for t in study.get_trials()}
    values = {k: rung_values(v)[1]["values"] for k, v in attrs.items()}
    for number, a in attrs.items():
        entry = rung_values(a)[1]
        replay = decide(number, {k: values[k] for k in entry["cohort"]}, DIRECTIONS, 3, log_axes=[False, True])
        assert entry["decision"] == ("continue" if replay.go_on else "stop")
        assert entry["cohort"] == list(range(number + 1))  # sequential workers: everyone before it
    # hand-computed (nds_hv; model/params on log10 inside a front: 10 -> 1, 50 -> 1.70, 5 -> 0.70, 70 -> 1.85,
    # 1 -> 0, 3 -> 0.48): 0 alone; 1 (n=2 < eta, keep 0) dominated by 0: stops (keep_front); 2: n=3 keep 1,
    # front {0, 2}, reference (-0.13, 1.80): 0 adds 0.1 x 0.80, 2 adds 0.67 x 0.30: 2 wins (on the linear axis
    # 0 did); 3 dominated; 4 dominates all; 5: n=6 keep 2, 4 first, then front {0, 2, 5} (reference (-0.015,
    # 2.03)): 0 adds 0.103, 2 adds 0.5 x 0.30, 5 adds 0.285 x 0.22 = 0.063: 5 stops
    assert [stopped_at(attrs[k]) for k in range(6)] == [None, 1, None, 1, None, 1]


def test_a_non_finite_objective_stops_the_trial_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url, study = _study(tmp_path)
    study.ask()
    d = _worker(url, 0).report(1, {"val_acc": 0.5, "model/params": float("nan")}, 4)
    # it named every objective, as if val_acc were not finite either; and it went on, to fail at the end
    said = (
        "stop: not every objective is finite (model/params=nan): it cannot be ranked, so it fails here, not at the "
        "end of training"
    )
    assert not d.go_on and d.reason == said
    attrs = study.trials[0].user_attrs
    assert said in caplog.text and rung_values(attrs)[1]["reason"] == said
    assert stopped_at(attrs) == 1 and stopped_not_finite(attrs)


def test_an_objective_never_logged_by_a_rung_is_a_config_error_naming_what_was(tmp_path: Path) -> None:
    # it went on at every rung before, with a warning per trial: nothing could ever be stopped
    url, study = _study(tmp_path)
    study.ask()
    with pytest.raises(JobConfigError) as err:
        _worker(url, 0).report(1, {"val_acc": 0.5, "val_loss": 0.7}, 4)
    assert str(err.value) == (
        "hydra.sweeper.multi_fidelity.rung_metrics={} is not allowed: model/params was not logged by the end of "
        "epoch 1; logged: val_acc, val_loss; name, for each objective known only after fit, a metric logged every "
        "epoch (e.g. {test_acc: val_acc})"
    )
    assert rung_values(study.trials[0].user_attrs) == {}  # nothing recorded


@pytest.mark.parametrize("trainer_max", [8, -1])  # -1: an endless Trainer would train past the budget
def test_schedule_max_epochs_must_match_the_trainer(tmp_path: Path, trainer_max: int) -> None:
    url, study = _study(tmp_path, RungSchedule(1, 2, 4))
    study.ask()
    rungs = _worker(url, 0)
    with pytest.raises(
        JobConfigError, match=rf"multi_fidelity.max_epochs=4 is not allowed with Trainer\(max_epochs={trainer_max}\)"
    ):
        rungs.decision_epochs(trainer_max)


def test_the_rung_epochs_a_job_found_are_on_its_trial(tmp_path: Path) -> None:
    url, study = _study(tmp_path, RungSchedule(1, 2))
    study.ask()
    study.ask()
    assert _worker(url, 0).decision_epochs(4) == [1, 2]
    assert _worker(url, 1).decision_epochs(1) == []
    recorded = [t.user_attrs[RUNG_EPOCHS_ATTR] for t in study.trials]
    assert recorded == [{"epochs": [1, 2], "trainer_max_epochs": 4}, {"epochs": [], "trainer_max_epochs": 1}]


def test_config_off_by_default_and_bad_values_are_one_line() -> None:
    from ecopt_lightning.sweeper.config import validate
    from ecopt_lightning.sweeper.errors import SweeperConfigError

    assert validate({}).multi_fidelity is None
    assert validate({"multi_fidelity": {"eta": 4}}).multi_fidelity == RungSchedule(1, 4, None)
    cases = {
        "hydra.sweeper.multi_fidelity.eta=1 is not allowed: an integer >= 2": {"eta": 1},
        "hydra.sweeper.multi_fidelity.min_epochs=0 is not allowed: an integer >= 1": {"min_epochs": 0},
        "hydra.sweeper.multi_fidelity.rung_repeats=0 is not allowed: null or an integer >= 1": {"rung_repeats": 0},
        "hydra.sweeper.multi_fidelity={epochs: 3} is not allowed: null, or {min_epochs": {"epochs": 3},
        "hydra.sweeper.multi_fidelity.max_epochs=2 is not allowed: null or an integer > min_epochs=2: no rung would "
        "lie below the full budget, so no trial could stop": {
            "min_epochs": 2,
            "max_epochs": 2,
        },
        # a stand-in for no objective is never read (the default objectives: val_acc, energy/inference_per_sample_J)
        "hydra.sweeper.multi_fidelity.rung_metrics={test_acc: 'val_acc'} is not allowed: keys among the "
        "objectives (val_acc, energy/inference_per_sample_J), each mapped to a metric logged every epoch; "
        "'test_acc' is none": {"rung_metrics": {"test_acc": "val_acc"}},
    }
    for message, raw in cases.items():
        with pytest.raises(SweeperConfigError) as err:
            validate({"multi_fidelity": raw})
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_rung_metrics_stand_in_for_objectives_known_only_at_the_end(tmp_path: Path) -> None:
    url, study = _study(tmp_path, RungSchedule(1, 2, 4, rung_metrics={"val_acc": "val_acc_so_far"}))
    study.ask()
    rungs = _worker(url, 0)
    assert rungs.report(1, {"val_acc_so_far": 0.7, "model/params": 3.0}, 4).go_on
    assert rung_values(study.trials[0].user_attrs)[1]["values"] == [0.7, 3.0]
    with pytest.raises(ValueError, match=r"^rung_metrics=\['x'\] is not allowed: a mapping objective -> metric"):
        RungSchedule(rung_metrics=["x"])  # type: ignore[arg-type]


def test_the_progress_line_and_energy_report_say_where_a_trial_stopped_and_the_energy_saved(tmp_path: Path) -> None:
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._progress import progress_line
    from ecopt_lightning.sweeper._sweep_report import build_report

    url, study = _study(tmp_path)
    for _ in range(3):
        study.ask()
    # hand-computed: 0 is alone at rungs 1 and 2; 2 dominates 0 at rung 1 (n=2, keep 1); at rung 2, 0 dominates
    # 2 (n=2, keep 1); 1 is dominated at rung 1 (n=3, keep 1)
    w0, w1, w2 = _worker(url, 0), _worker(url, 1), _worker(url, 2)
    assert w0.report(1, {"val_acc": 0.9, "model/params": 10.0}, 4).go_on
    assert w0.report(2, {"val_acc": 0.92, "model/params": 10.0}, 4).go_on
    assert w2.report(1, {"val_acc": 0.95, "model/params": 5.0}, 4).go_on
    assert not w2.report(2, {"val_acc": 0.6, "model/params": 12.0}, 4).go_on
    assert not w1.report(1, {"val_acc": 0.5, "model/params": 20.0}, 4).go_on
    # J: 0 ran 4 epochs; 1 stopped after 1 of 4, 2 after 2 of 4
    for worker, energy in ((w0, 40.0), (w1, 10.0), (w2, 20.0)):
        worker.trial.set_user_attr("energy/total_J", energy)
    # 1's energy is a CPU-time estimate, as EnergyCallback logs it where no meter is readable; 2's is measured
    w1.trial.set_user_attr("energy/estimated_fraction", 1.0)
    w2.trial.set_user_attr("energy/estimated_fraction", 0.0)
    study.tell(0, [0.92, 10.0])
    study.tell(1, state=optuna.trial.TrialState.PRUNED)
    study.tell(2, state=optuna.trial.TrialState.PRUNED)
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    line = progress_line(report, 2, 3) or ""
    assert (
        "trial 2 (3 of 3: 1 complete, 2 stopped at a rung): stopped at rung 2 (epoch 2): ranked 2 of 2 at this rung, "
        "the top 1" in line
    )
    assert "stopped at rung 1 (epoch 1): ranked 3 of 3" in (progress_line(report, 1, 3) or "")
    text = render(report)
    # stopped: 10 J after 1 of 4 epochs (about 40 J in full) and 20 J after 2 of 4 (about 40 J): 30 J spent, 10 J of
    # it estimated (the line said "their measured energy"), about 80 J in full, about 50 J saved
    assert (
        "- Multi-fidelity stopped 2 trial(s) at a rung; their energy, 30 J (33% of it ESTIMATED, not measured), is in "
        "the total above. "
        "Training them to the end would have cost about 80 J: about 50 J saved by stopping (ESTIMATE, not a "
        "measurement: training and validation linear in epochs, the rest once)."
    ) in text


def test_stopped_trials_that_reported_no_energy_are_said_not_summed_as_zero(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): when no stopped trial reported its energy the end-of-sweep line said
    'multi-fidelity stopped 2 trial(s), which used 0 J' (energy_report.md: 'their energy, 0 J'), a silent zero; when
    one of two did, nothing in the line said the other was left out."""
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._rung_report import energy_saved, stopped_energy_text
    from ecopt_lightning.sweeper._sweep_report import build_report

    def stopped_energy(energies: dict[int, float]) -> tuple[str, str]:
        folder = tmp_path / str(len(energies))
        folder.mkdir()
        url, study = _study(folder)
        for _ in range(3):
            study.ask()
        w0 = _worker(url, 0)
        assert w0.report(1, {"val_acc": 0.9, "model/params": 10.0}, 4).go_on
        for number in (1, 2):  # both dominated by 0 at rung 1: stopped
            assert not _worker(url, number).report(1, {"val_acc": 0.5, "model/params": 20.0}, 4).go_on
        for number, energy in energies.items():
            trial = _worker(url, number).trial
            trial.set_user_attr("energy/total_J", energy)
            trial.set_user_attr("energy/estimated_fraction", 0.0)
        study.tell(0, [0.92, 10.0])
        study.tell(1, state=optuna.trial.TrialState.PRUNED)
        study.tell(2, state=optuna.trial.TrialState.PRUNED)
        report = build_report("s", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
        saved = energy_saved(report.records)
        assert saved is not None
        (line,) = [x for x in render(report).splitlines() if x.startswith("- Multi-fidelity stopped")]
        return stopped_energy_text(saved), line

    text, line = stopped_energy({0: 40.0})
    assert text == "unknown energy (none of them reported any; not zero)"
    assert f"their energy, {text}, is not in the total above." in line  # it read 'is in the total above'
    text, line = stopped_energy({0: 40.0, 1: 10.0})
    assert text == "10 J (0% of it ESTIMATED, not measured; 1 of them reported no energy, not counted)"
    assert f"their energy, {text}, is in the total above." in line


def test_the_saving_estimate_scales_training_and_validation_only() -> None:
    """A trial stopped after 1 of 4 epochs that spent 10 J, 2 J of it training and validating: about 8 + 2 x 4
    = 16 J in full, not 40 J. Without phase totals its whole energy is scaled, and counted as such; a phase total
    above the trial's energy is capped at it."""
    from types import SimpleNamespace

    from ecopt_lightning.sweeper._rung_report import energy_saved

    def stopped(metrics: dict) -> SimpleNamespace:
        rungs = {1: {"values": [0.5, 2.0], "max_epochs": 4}}
        return SimpleNamespace(
            number=0, rungs=rungs, stopped_at_epoch=1, energy_J=10.0, metrics=metrics, sources={}, check_J=0.0,
            check_source=None,
        )  # fmt: skip

    phases = {"energy/train_total_J": 1.5, "energy/val_total_J": 0.5}
    for metrics, full, whole in ((phases, 16.0, 0), ({}, 40.0, 1), ({"energy/train_total_J": 12.0}, 40.0, 0)):
        saved = energy_saved([stopped(metrics)])
        assert saved is not None
        assert (saved["full_training_estimate_J"], saved["whole_energy_scaled"]) == (full, whole)


def test_a_retry_is_not_ranked_against_its_failed_run(tmp_path: Path) -> None:
    # the dead run wrote its rung values, then its worker died (told FAIL, retried with the same parameters); the
    # retry measured J per sample a little higher, as a second measurement does: it was "dominated" by its own
    # failed run and stopped, though no other trial had reached the rung
    from optuna.trial import TrialState

    url, study = _study(tmp_path, RungSchedule(1, 3, 9))
    dead = study.ask()
    _worker(url, dead.number).record(1, {"val_acc": 0.738, "model/params": 3.70}, 9)
    study.tell(dead, state=TrialState.FAIL)
    retry = study.ask()
    decision = _worker(url, retry.number).report(1, {"val_acc": 0.738, "model/params": 3.74}, 9)
    assert decision.go_on and decision.n == 1
    assert rung_values(study.trials[1].user_attrs)[1]["cohort"] == [1]


def test_a_trial_that_failed_after_its_stop_decision_counts_as_failed_not_stopped(tmp_path: Path) -> None:
    # the counts read "7 of 6" when such a trial counted as stopped in the progress line and the summary
    from ecopt_lightning.sweeper._progress import progress_line
    from ecopt_lightning.sweeper._rung_report import energy_saved
    from ecopt_lightning.sweeper._sweep_report import build_report

    url, study = _study(tmp_path)
    for _ in range(3):
        study.ask()
    assert _worker(url, 0).report(1, {"val_acc": 0.9, "model/params": 10.0}, 4).go_on
    for number in (1, 2):  # both dominated by 0 at rung 1: stopped
        assert not _worker(url, number).report(1, {"val_acc": 0.5, "model/params": 20.0}, 4).go_on
    study.tell(0, [0.92, 10.0])
    study.tell(1, state=optuna.trial.TrialState.PRUNED)
    study.tell(2, state=optuna.trial.TrialState.FAIL)  # its job raised after the decision (in test(), say)
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    assert [r.stopped_at_epoch for r in report.records] == [None, 1, None]
    assert "trial 2 (2 of 3: 1 complete, 1 stopped at a rung): FAIL" in (progress_line(report, 2, 3) or "")
    saved = energy_saved(report.records)
    assert saved is not None and saved["trials_stopped"] == 1 and saved["stopped_at_epoch_by_trial"] == {"1": 1}


def test_the_rung_cohort_leaves_out_exactly_the_complete_trials_the_report_finds_infeasible(tmp_path: Path) -> None:
    # the cohort and the report judge a complete trial's constraints by one rule (_feasibility.judged_constraints): its
    # stored values, and a constraint added on resume on its stored metrics (a metric it lacks: not met)
    from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR
    from ecopt_lightning.sweeper._sweep_report import build_report

    stored, later = "model/params <= 50", "val_loss <= 1"
    url, study = _study(tmp_path)
    # (stored constraint's value, val_loss): met; broke the stored one; lacks val_loss; broke the later one
    for value, loss in ((-40.0, 0.5), (10.0, 0.5), (-40.0, None), (-40.0, 3.0)):
        trial = study.ask()
        _worker(url, trial.number).record(1, {"val_acc": 0.5, "model/params": 10.0}, 4)
        trial.set_user_attr(CONSTRAINTS_ATTR, {stored: value})
        if loss is not None:
            trial.set_user_attr("val_loss", loss)
        study.tell(trial, [0.5, 10.0])
    settings = ReportSettings(NAMES, DIRECTIONS, [stored, later])
    study.set_user_attr(SETTINGS_ATTR, settings.to_attrs())  # resumed with the later constraint
    newcomer = study.ask()
    cohort = _worker(url, newcomer.number).cohort(1)
    feasible = [r.number for r in build_report("s", study.get_trials(), settings).records if r.feasible]
    assert sorted(cohort) == feasible == [0]


def test_the_short_benchmark_counts_only_the_comparable_trials_at_the_rung(tmp_path: Path) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): ``can_stop_at`` counted a trial at the rung that lost its GPU,
    which ``decide`` leaves out of the ranking: with eta=3 and only the top third going on, a newcomer beside one
    comparable trial was given the short inference benchmark though no ranking there could stop it."""
    url, study = _study(tmp_path, RungSchedule(1, 3, 9, keep_front=False))
    for _ in range(3):
        study.ask()
    full = {"sources": {"cpu:0": "rapl", "gpu:0": "nvml_counter"}, "measurement_faults": {}}
    lost = {**full, "measurement_faults": {"gpu:0": "lost"}}
    assert _worker(url, 0).report(1, {"val_acc": 0.9, "model/params": 10.0}, 9, summary=full).go_on
    assert not _worker(url, 1).report(1, {"val_acc": 0.99, "model/params": 1.0}, 9, summary=lost).go_on
    newcomer = _worker(url, 2)
    assert not newcomer.can_stop_at(1)  # trial 0 alone is comparable: 2 at the rung, under eta=3
    d = newcomer.report(1, {"val_acc": 0.1, "model/params": 100.0}, 9, summary=full)
    assert d.go_on and d.n == 2  # as can_stop_at said: the ranking could not stop it


def test_the_energy_saved_line_says_a_stopped_trial_lost_a_domain(tmp_path: Path) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): a trial stopped at its rung as not comparable (its GPU lost
    before it) had its CPU-only energy summed into the stopped trials' energy, and the end-of-sweep line and
    energy_report.md read it as all they used; they now say which domain is missing from it."""
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._rung_report import energy_saved, saved_line
    from ecopt_lightning.sweeper._sweep_report import build_report

    url, study = _study(tmp_path)
    for _ in range(3):
        study.ask()
    full = {"sources": {"cpu:0": "rapl", "gpu:0": "nvml_counter"}, "measurement_faults": {}}
    lost = {**full, "measurement_faults": {"gpu:0": "lost"}}
    assert _worker(url, 0).report(1, {"val_acc": 0.9, "model/params": 10.0}, 4, summary=full).go_on
    assert _worker(url, 1).report(1, {"val_acc": 0.95, "model/params": 5.0}, 4, summary=full).go_on
    assert not _worker(url, 2).report(1, {"val_acc": 0.99, "model/params": 1.0}, 4, summary=lost).go_on
    for number, energy in ((0, 40.0), (1, 40.0), (2, 10.0)):
        trial = _worker(url, number).trial
        trial.set_user_attr("energy/total_J", energy)
        trial.set_user_attr("energy/estimated_fraction", 0.0)
    study.tell(0, [0.92, 10.0])
    study.tell(1, [0.96, 5.0])
    study.tell(2, state=optuna.trial.TrialState.PRUNED)
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    saved = energy_saved(report.records)
    assert saved is not None and saved["stopped_missing_domains"] == {"2": ["gpu:0"]}
    phrase = "1 of them lost gpu:0 before its rung: that energy is missing, they used more"
    assert phrase in (saved_line(saved) or "")
    (line,) = [x for x in render(report).splitlines() if x.startswith("- Multi-fidelity stopped")]
    assert phrase in line, line
