"""A complete trial measured on fewer energy domains than the sweep's (its GPU lost or never measured) reads cheaper
for that alone: the report leaves it out of the front, the knee, the hypervolume and the payback, and says why."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._artifacts import summary
from ecopt_lightning.sweeper._domains import sweep_domains
from ecopt_lightning.sweeper._pareto import hypervolume, reference_point
from ecopt_lightning.sweeper._progress import front_table
from ecopt_lightning.sweeper._schema import BASELINE_ATTR, DOMAINS_ATTR, UNMEASURED_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report
from tests.sweeper.trials import complete_trial

SETTINGS = ReportSettings(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])
FULL = ["cpu:0", "gpu:0"]
LOST = "measured on cpu:0 only, without gpu; the sweep's other trials on cpu+gpu"


def trial(number: int, acc: float, j: float, measured: list[str], unmeasured: list[str], **attrs) -> object:
    return complete_trial(number, acc, j, **{DOMAINS_ATTR: measured, UNMEASURED_ATTR: unmeasured, **attrs})


def study_of(*trials) -> optuna.Study:
    study = optuna.create_study(directions=SETTINGS.directions)
    for t in trials:
        study.add_trial(t)
    return study


def test_a_trial_that_lost_its_gpu_is_no_point_of_the_front_nor_its_knee_and_says_why() -> None:
    study = study_of(
        trial(0, 0.80, 2.0, FULL, [], **{BASELINE_ATTR: True}),
        trial(1, 0.90, 3.0, FULL, []),
        trial(2, 0.95, 0.1, ["cpu:0"], ["gpu:0"]),  # best on both objectives: only because its GPU is left out
        trial(3, 0.85, 2.5, FULL, []),
    )
    report = build_report("s", study.get_trials(), SETTINGS)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4  # what Optuna was told is unchanged
    assert report.domains is not None and report.domains.kinds == ["cpu", "gpu"]
    assert [r.number for r in report.front] == [0, 1, 3]
    assert report.knee is not None and report.knee.number != 2
    assert [(r.number, r.not_comparable) for r in report.not_comparable] == [(2, LOST)]
    comparable = [(-r.objective_values[0], r.objective_values[1]) for r in report.points]
    assert report.hypervolume == pytest.approx(hypervolume(comparable, reference_point(comparable)))
    assert report.best["val_acc"]["trial"] == 1
    assert report.impact["chosen_trial"] != 2
    assert "1 of 4 complete trial(s) left out of the front" in "\n".join(front_table(report))
    # named as the payback's chosen trial, it is refused in words, not compared across domains
    named = build_report("s", study.get_trials(), SETTINGS, chosen=2).impact
    assert named["payback"] is None
    assert named["payback_note"] == f"the chosen trial 2 is not comparable with the sweep's trials: {LOST}"


def test_the_sweeps_kinds_keep_a_gpu_most_trials_lost_and_drop_one_no_trial_measured() -> None:
    lost = (["cpu:0"], ["gpu:0"])

    def kinds(*trials):
        found = sweep_domains(trials)
        return None if found is None else found.kinds

    assert kinds((FULL, []), lost, lost) == ["cpu", "gpu"]  # what they set out to measure
    assert kinds(lost, lost) == ["cpu"]  # NVML missing everywhere: the sweep still has a front
    assert kinds((["cpu:0"], []), (FULL, [])) == ["cpu", "gpu"]  # a tie: the fuller measurement
    assert kinds() is None
    nowhere = build_report("s", study_of(trial(0, 0.8, 2.0, *lost), trial(1, 0.9, 3.0, *lost)).get_trials(), SETTINGS)
    assert [r.number for r in nowhere.front] == [0, 1] and not nowhere.not_comparable


def test_trials_on_one_gpu_or_two_are_compared_but_one_that_lost_one_of_its_two_is_not() -> None:
    two = ["rank0/cpu:0", "rank0/gpu:0", "rank1/cpu:0", "rank1/gpu:0"]
    lost_one = ["rank0/cpu:0", "rank0/gpu:0", "rank1/cpu:0"]
    # gpu:1 is the same physical GPU as gpu:0 in every 1-GPU trial (NVML counts it once): left out, never a loss
    study = study_of(
        trial(0, 0.8, 2.0, FULL, ["gpu:1"]),
        trial(1, 0.9, 3.0, two, []),
        trial(2, 0.95, 1.0, lost_one, ["rank1/gpu:0"]),
        trial(3, 0.85, 2.5, FULL, ["gpu:1"]),
    )
    report = build_report("s", study.get_trials(), SETTINGS)
    assert [r.number for r in report.front] == [0, 1, 3]
    assert [(r.number, r.not_comparable) for r in report.not_comparable] == [
        (2, "measured without rank1/gpu:0 (a measurement fault); the sweep's other trials on cpu+gpu in full")
    ]


def test_a_trial_measured_on_more_domains_or_none_recorded_stays_on_the_front() -> None:
    more = trial(1, 0.9, 3.0, ["cpu:0", "dram:0", "gpu:0"], [])
    unrecorded = create_trial(
        state=TrialState.COMPLETE,
        values=[0.95, 4.0],
        params={"width": 9},
        distributions={"width": IntDistribution(1, 100)},
    )
    trials = [trial(0, 0.8, 2.0, FULL, []), more, unrecorded, trial(3, 0.7, 1.0, FULL, [])]
    report = build_report("s", study_of(*trials).get_trials(), SETTINGS)
    assert [r.number for r in report.front] == [0, 1, 2, 3] and not report.not_comparable


def test_the_loggers_front_names_the_trials_left_out() -> None:
    # regression: the front logged to MLflow, W&B and TensorBoard said nothing of the complete trials it left out
    from ecopt_lightning.sweeper._loggers import _markdown

    study = study_of(trial(0, 0.8, 2.0, FULL, []), trial(1, 0.9, 3.0, FULL, []), trial(2, 0.95, 0.1, ["cpu:0"], []))
    text = _markdown(build_report("s", study.get_trials(), SETTINGS))
    assert text.endswith(
        "\n- 1 of 3 complete trial(s) left out of the front, not comparable: measured on fewer domains than the "
        "sweep's cpu+gpu: 2 (trials.csv's not_comparable column says why)"
    )


def test_a_front_emptied_by_trials_not_comparable_says_so_not_that_no_trial_is_feasible(tmp_path, capsys) -> None:
    # each 2-GPU trial lost the GPU the other measured: neither is a full measurement, and the reports said
    # "no feasible complete trial" (front table, energy_report.md, dashboard) and "no complete trial to plot"
    from ecopt_lightning.sweeper._artifacts import dashboard_attrs
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._plots import empty_note

    cpus = ["rank0/cpu:0", "rank1/cpu:0"]
    study = study_of(
        trial(0, 0.8, 2.0, [*cpus, "rank0/gpu:0"], ["rank1/gpu:0"]),
        trial(1, 0.9, 3.0, [*cpus, "rank1/gpu:0"], ["rank0/gpu:0"]),
    )
    report = build_report("s", study.get_trials(), SETTINGS)
    why = "no comparable feasible complete trial: 2 measured on fewer domains than the sweep's cpu+gpu"
    assert report.front == [] and len(report.not_comparable) == 2
    assert front_table(report)[0] == f"Pareto front: empty ({why})"
    assert empty_note(report) == why
    assert f"No chosen trial ({why})." in render(report)
    assert dashboard_attrs(report)["ecopt.pareto_front"][0] == f"empty: {why}"
    storage = f"sqlite:///{tmp_path / 's.db'}"
    stored = optuna.create_study(study_name="s", storage=storage, directions=SETTINGS.directions)
    stored.set_metric_names(SETTINGS.objective_names)
    for t in study.get_trials():
        stored.add_trial(t)
    args = ["confirm", "--storage", storage, "--study", "s", "--out", str(tmp_path / "c")]
    assert ecopt_main(args) == 2
    assert capsys.readouterr().err.strip() == f"ecopt confirm: study 's' has nothing to confirm: {why}"


def test_a_trial_without_recorded_domains_among_trials_with_them_is_named_as_not_judged() -> None:
    # regression: a resumed study's older trials (or a job whose summary was written elsewhere) recorded no
    # domains; they were ranked beside the judged ones with nothing saying they had not been judged
    unrecorded = create_trial(
        state=TrialState.COMPLETE,
        values=[0.95, 0.1],
        params={"width": 9},
        distributions={"width": IntDistribution(1, 100)},
    )
    report = build_report("s", study_of(trial(0, 0.8, 2.0, FULL, []), unrecorded).get_trials(), SETTINGS)
    assert [r.number for r in report.not_judged] == [1]
    assert front_table(report)[-1] == (
        "1 of 2 complete trial(s) recorded no measurement domains (no energy_summary.json in the job dir, or stored "
        "before they were recorded): ranked without knowing whether they measured the sweep's cpu+gpu: 1"
    )
    alone = build_report("s", study_of(unrecorded).get_trials(), SETTINGS)  # a study that records none: no line
    assert not alone.not_judged and "recorded no measurement domains" not in "\n".join(front_table(alone))


def test_a_trial_whose_cpu_was_estimated_is_no_point_of_a_front_rapl_measured() -> None:
    """Regression (honest-sources audit, 2026-11-30): a trial whose ``cpu:0`` fell back to the CPU-time estimate (RAPL
    denied on its node) but whose DRAM RAPL still read covered the same domains as the RAPL-measured trials, so it
    sat on their front, cheapest for that alone (the estimate leaves out idle and uncore power). Each kind's basis is
    compared too: it is left out, and says why."""
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    both = ["cpu:0", "dram:0"]
    rapl = {SOURCES_ATTR: {"cpu:0": "rapl", "dram:0": "rapl"}}
    study = study_of(
        trial(0, 0.80, 2.0, both, [], **rapl),
        trial(1, 0.90, 3.0, both, [], **rapl),
        trial(2, 0.95, 0.1, both, [], **{SOURCES_ATTR: {"cpu:0": "estimate", "dram:0": "rapl"}}),
        trial(3, 0.85, 2.5, both, [], **rapl),
    )
    report = build_report("s", study.get_trials(), SETTINGS)
    assert [r.number for r in report.front] == [0, 1, 3]
    why = "cpu estimated; the sweep's other trials measured it by rapl"
    assert [(r.number, r.not_comparable) for r in report.not_comparable] == [(2, why)]
    section = summary(report)["not_comparable"]  # summary.json says the basis the reasons compare against
    assert section["sweep_kinds"] == ["cpu", "dram"] and section["trials"] == {"2": why}
    assert section["sweep_bases"] == {"cpu": "measured", "dram": "measured"}
    assert front_table(report)[-1] == (
        "1 of 4 complete trial(s) left out of the front, not comparable: measured on another basis (by a sensor, or "
        "estimated) than the sweep's cpu+dram: 2 (trials.csv's not_comparable column says why)"
    )
    # a sweep estimated throughout compares its trials: nothing is measured in one and estimated in another
    estimated = {SOURCES_ATTR: {"cpu:0": "estimate"}}
    alike = build_report(
        "s",
        study_of(*(trial(n, 0.8 + n / 10, 1.0 + n, ["cpu:0"], [], **estimated) for n in range(2))).get_trials(),
        SETTINGS,
    )
    assert not alike.not_comparable and [r.number for r in alike.front] == [0, 1]
