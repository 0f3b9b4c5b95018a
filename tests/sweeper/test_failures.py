"""Failed trials steer the search away: the sampler sees job failures as infeasible trials, the study keeps
them FAIL (no invented values reach the front)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper import _failures
from ecopt_lightning.sweeper._samplers import build
from ecopt_lightning.sweeper._schema import JOB_FAILED_ATTR

pytestmark = pytest.mark.skipif(not _failures.supported(), reason="Optuna 4: samplers read no per-trial constraints")

SPACE = {
    "batch": CategoricalDistribution([16, 32, 64, 128, 256, 512, 1024]),
    "width": CategoricalDistribution([64, 128, 256, 512, 1024]),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
}


def _objectives(p: dict) -> tuple[float, float] | None:
    """Error and J per sample; bigger batches save energy until batch x width runs out of memory (None)."""
    batch, width, lr = p["batch"], p["width"], p["lr"]
    if batch * width > 2**16:
        return None
    error = 0.5 / math.sqrt(width / 64) + 0.05 * abs(math.log10(lr) + 2) + 0.01 * math.log2(batch / 16)
    return error, width / 64 * (1 + 256 / batch)


def _sweep(sampler: optuna.samplers.BaseSampler, n_complete: int) -> optuna.Study:
    """Ask/tell as the sweeper does: a failed job's trial is told FAIL and marked as such."""
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    failed = 0
    while len(study.get_trials(states=(TrialState.COMPLETE,))) < n_complete and failed < n_complete:
        trial = study.ask(SPACE)
        values = _objectives(trial.params)
        if values is None:
            trial.set_user_attr(JOB_FAILED_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
        else:
            study.tell(trial, values)
    return study


def test_view_shows_job_failures_as_infeasible_and_leaves_the_study_alone() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    for values in ([1.0, 0.5], [3.0, 0.9]):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.set_constraint("energy/total_J <= 5", values[0] - 2.0)
        study.tell(trial, values)
    job = study.ask()
    job.suggest_float("x", 0, 1)
    job.set_user_attr(JOB_FAILED_ATTR, True)
    study.tell(job, state=TrialState.FAIL)
    dead = study.ask()  # a dead worker's trial: not evidence about the region
    study.tell(dead, state=TrialState.FAIL)

    shown = _failures.StudyView(study).get_trials(deepcopy=False)
    assert [t.state for t in shown] == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert shown[2].values == [3.0, 0.5]  # each objective's worst COMPLETE value
    assert shown[2].constraints == {"energy/total_J <= 5": 1.0, "ecopt.failed": 1.0}
    assert shown[0].constraints == {"energy/total_J <= 5": -1.0, "ecopt.failed": 0.0}
    assert [list(t.constraints) for t in shown[:3]] == [["energy/total_J <= 5", "ecopt.failed"]] * 3  # one order
    stored = study.get_trials(deepcopy=False)
    assert (
        stored[2].state == TrialState.FAIL and stored[2].values is None and "ecopt.failed" not in stored[0].constraints
    )
    assert {t.number for t in study.best_trials} == {0}


def test_view_is_the_study_itself_until_a_job_failed_and_a_trial_completed() -> None:
    study = optuna.create_study()
    job = study.ask()
    job.set_user_attr(JOB_FAILED_ATTR, True)
    study.tell(job, state=TrialState.FAIL)
    assert _failures.StudyView(study).get_trials(deepcopy=False)[0].state == TrialState.FAIL


@pytest.mark.parametrize(("name", "kwargs"), [("tpe", {}), ("nsga2", {"population_size": 10})])
def test_wrapped_samplers_fail_less_than_random_and_finish_the_budget(name: str, kwargs: dict) -> None:
    """Seeded, so deterministic; without the wrapper TPE keeps proposing the failing region (measured in
    benchmarks/search.py --failing)."""
    n = 30
    random_failed = [
        sum(t.state == TrialState.FAIL for t in _sweep(build("random", {}, seed, False), n).trials) for seed in (0, 1)
    ]
    for seed in (0, 1):
        study = _sweep(build(name, kwargs, seed, False), n)
        failed = [t for t in study.trials if t.state == TrialState.FAIL]
        assert sum(t.state == TrialState.COMPLETE for t in study.trials) == n  # the budget completes
        assert len(failed) <= max(random_failed), (name, seed, len(failed), random_failed)
        assert all(t.number >= 0 and t.values is None for t in failed)
        front = study.best_trials
        assert front and all(t.state == TrialState.COMPLETE for t in front)


def test_without_the_wrapper_tpe_keeps_failing() -> None:
    """The regression the wrapper fixes: plain TPE learns nothing from FAIL trials."""
    study = _sweep(build("tpe", {}, 0, False, failures_infeasible=False), 30)
    assert sum(t.state == TrialState.FAIL for t in study.trials) == 30  # stopped by failures, budget not met


@pytest.mark.slow
def test_multirun_with_a_failing_region_learns_it_and_keeps_failures_off_the_front(multirun, tmp_path) -> None:
    """A real Hydra multirun (default max_failures = n_trials): the accurate corner runs out of memory."""
    import json

    from .conftest import load_study

    sweep = tmp_path / "sweep"
    proc = multirun(
        "width=choice(8,16,32,64,128)",
        "depth=choice(1,2,4,8)",
        "mode=oom",
        "hydra.sweeper.n_trials=24",
        "hydra.sweeper.sampler=tpe",  # auto would move from GP to TPE at a moment that depends on machine speed
    )
    study = load_study(sweep)
    states = [t.state for t in study.trials]
    failed = [i for i, s in enumerate(states) if s == TrialState.FAIL]
    assert states.count(TrialState.COMPLETE) == 24  # the budget completes under default settings
    startup = 10  # TPE's random start-up trials (Optuna's default n_startup_trials)
    early = len([i for i in failed if i < startup]) / startup
    late = len([i for i in failed if i >= startup]) / (len(states) - startup)
    random_share = 6 / 20  # 6 of the 20 width x depth points fail
    assert failed and late < random_share and late <= early, (failed, len(states))
    assert len(failed) / len(states) <= random_share
    assert "ecopt: sampler TPESampler (failed trials shown as infeasible) (tpe: chosen in config)" in proc.stdout
    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    by_number = {t.number: t for t in study.trials}
    assert front and all(by_number[t["trial"]].state == TrialState.COMPLETE for t in front)
    assert all(by_number[n].values is None for n in failed)  # nothing invented on the failed trials


@pytest.mark.slow
def test_auto_logs_its_choice_and_reason(multirun, tmp_path) -> None:
    import json

    proc = multirun("width=choice(8,16,32)", "lr=tag(log, interval(1e-4, 1e-1))", "hydra.sweeper.n_trials=2")
    why = "1 categorical parameter(s) and a small budget (2 <= 100 trials): GP had the best hypervolume"
    assert f"ecopt: sampler GPSampler (failed trials shown as infeasible) (auto: {why}" in proc.stdout
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["sampler"]["name"] == "gp" and summary["sampler"]["why"].startswith(why)


@pytest.mark.parametrize("name", ["tpe", "gp", "nsga2"])
@pytest.mark.parametrize("failures", [True, False])
def test_a_constraint_a_trial_was_not_judged_by_is_what_the_reports_say_for_the_sampler_too(
    name: str, failures: bool
) -> None:
    """Regression (reports audit, defect 2): a study resumed with a constraint added, mem_GB <= 1: its earlier
    trials stored no value for it, so the samplers (TPE, GP, NSGA-II keep values > 0 as violations; a missing or
    NaN one is none) took them as within it, while every report judged them on their stored metrics, and one
    without mem_GB as not feasible (NaN). The samplers now see the reports' values: a trial at 2 GB and one with
    no mem_GB break it, the trial at 0.5 GB meets it."""
    from ecopt_lightning.sweeper._records import ReportSettings, to_record
    from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, SETTINGS_ATTR

    old, added = "energy/total_J <= 5", "mem_GB <= 1"
    settings = ReportSettings(["val_loss", "energy/total_J"], ["minimize", "minimize"], [old, added])
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr(SETTINGS_ATTR, settings.to_attrs())
    dist = {"x": FloatDistribution(0, 1)}
    for x, mem, judged in [(0.1, 2.0, [old]), (0.2, None, [old]), (0.3, 0.5, [old]), (0.4, 0.5, [old, added])]:
        metrics = {"val_loss": x, "energy/total_J": 4.0, **({"mem_GB": mem} if mem is not None else {})}
        stored = {c: v for c, v in [(old, -1.0), (added, -0.5)] if c in judged}
        study.add_trial(  # as the sweeper stores them: by name, and the list Optuna 4 and the dashboard read
            optuna.trial.create_trial(
                values=[x, 4.0],
                params={"x": x},
                distributions=dist,
                user_attrs={**metrics, CONSTRAINTS_ATTR: stored},
                system_attrs={"constraints": list(stored.values())},
            )
        )
    reports = [to_record(t, settings).feasible for t in study.trials]
    assert reports == [False, False, True, True]

    sampler = build(name, {}, 0, True, failures_infeasible=failures, space=dist)
    assert isinstance(sampler, _failures.FailuresAsInfeasible)
    # what the inner sampler reads (the study as the wrapper shows it)
    seen = _failures.StudyView(study, **({} if failures else {"failures": False})).get_trials(deepcopy=False)
    assert [all(v <= 0 for v in t.constraints.values()) for t in seen] == reports
    assert sampler.failures is failures
    study.sampler = sampler
    for _ in range(2):  # and it proposes from them
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, [0.5, 4.0])


def test_a_trial_pruned_before_training_is_shown_to_the_sampler_breaking_the_constraint_its_check_broke() -> None:
    """Regression (reports audit, defect 2): a trial pruned before training for breaking a constraint (its
    check stored the metric it measured) had no constraint value stored, so the view showed it 0.0, met, and TPE
    ranked it among the feasible pruned trials, above the infeasible ones. It is now shown broken by what its
    check measured; a trial multi-fidelity stopped, with no such metric, is judged by nothing, as before."""
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, PRUNED_ATTR, SETTINGS_ATTR

    metric = "energy/inference_per_sample_J"
    constraint = f"{metric} <= 0.001"
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(["val_loss", metric], ["minimize"] * 2, [constraint]).to_attrs())
    dist = {"x": FloatDistribution(0, 1)}
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.5, 0.0005],
            params={"x": 0.5},
            distributions=dist,
            user_attrs={"val_loss": 0.5, metric: 0.0005, CONSTRAINTS_ATTR: {constraint: -0.0005}},
            system_attrs={"constraints": [-0.0005]},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params={"x": 0.9},
            distributions=dist,
            user_attrs={metric: 0.003, PRUNED_ATTR: f"pruned before training: {constraint}"},
        )
    )
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, params={"x": 0.1}, distributions=dist))
    sampler = build("tpe", {}, 0, True, space=dist)
    seen = _failures.StudyView(study).get_trials(deepcopy=False)
    assert [t.constraints for t in seen] == [
        {constraint: pytest.approx(-0.0005)},
        {constraint: pytest.approx(0.002)},
        {constraint: 0.0},
    ]
    study.sampler = sampler
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
