"""The per-trial line and the final table say which trials broke a constraint, and which constraint."""

from __future__ import annotations

import optuna

from ecopt_lightning.sweeper._progress import describe_space, front_table, progress_line
from ecopt_lightning.sweeper._schema import BASELINE_ATTR, CONSTRAINTS_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

BOUND = "energy/inference_per_sample_J <= 0.0002"
SETTINGS = ReportSettings(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"], constraints=[BOUND])


def _study(widths: tuple[int, ...], rows: list[tuple[float, float, bool]], bound: str | None = None) -> list:
    """Trials of ``model.width`` ``widths`` with (val_acc, J per sample, is the baseline) ``rows``, 10 J each, and
    the constraint ``bound``'s value when given. Equal widths are one config: the report pools them (_repeats.py)."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for width, (acc, per_sample, baseline) in zip(widths, rows, strict=True):
        study.enqueue_trial({"model.width": width})
        trial = study.ask({"model.width": optuna.distributions.IntDistribution(8, 256)})
        for name, value in {
            "val_acc": acc,
            "energy/inference_per_sample_J": per_sample,
            "energy/total_J": 10.0,
        }.items():
            trial.set_user_attr(name, value)
        if bound is not None:
            trial.set_user_attr(CONSTRAINTS_ATTR, {bound: per_sample - 0.0002})
        if baseline:
            trial.set_user_attr(BASELINE_ATTR, True)
        study.tell(trial, [acc, per_sample])
    return study.get_trials()


def _report():
    rows = [(0.4277, 0.001986, True), (0.90, 0.00015, False), (0.95, 0.00019, False), (0.97, 0.0009, False)]
    return build_report("s", _study((64, 16, 32, 128), rows, BOUND), SETTINGS)


def test_the_progress_line_names_the_broken_constraint_and_the_baseline() -> None:
    line = progress_line(_report(), 0, 8)
    assert line is not None
    assert line.startswith(
        "trial 0 (baseline) (4 of 8 complete): val_acc=0.4277, energy/inference_per_sample_J=0.001986"
    )
    assert "| INFEASIBLE: energy/inference_per_sample_J=0.001986 breaks '<= 0.0002' |" in line
    assert line.endswith("| model.width=64")


def test_a_batchs_lines_count_only_the_trials_said_before_them() -> None:
    # a batch is told and read once: trial 0 of a two-job batch read "(2 of 6 complete)" (audits, 2026-11-28)
    report = _report()
    assert "(2 of 8 complete)" in (progress_line(report, 1, 8, later={2, 3}) or "")
    assert "(4 of 8 complete)" in (progress_line(report, 3, 8) or "")
    # and its energy so far: trial 0 of a two-job batch gave the whole batch's (first-hour audit, 2026-11-28)
    assert "| sweep energy so far 20 J |" in (progress_line(report, 1, 8, later={2, 3}) or "")
    assert "| sweep energy so far 40 J |" in (progress_line(report, 3, 8) or "")


def test_the_energy_so_far_counts_the_late_runs_as_the_sweeps_total_does() -> None:
    """Regression (tuning-cost audit, 2026-11-30): the per-trial line summed its trials' energy on its own, without
    the late runs' (a job whose result came after another worker had failed its trial), so the console's 'sweep
    energy so far' read less than summary.json's total_J for the same trials."""
    rows = [(0.4277, 0.001986, True), (0.90, 0.00015, False), (0.95, 0.00019, False), (0.97, 0.0009, False)]
    late = {"9": {"energy_J": 7.0, "sources": {"cpu:0": "estimate"}}}
    report = build_report("s", _study((64, 16, 32, 128), rows, BOUND), SETTINGS, late_runs=late)
    assert report.sweep_energy_J == 47.0
    line = progress_line(report, 3, 8) or ""
    said = "ESTIMATED, not measured; {} trial(s) did not say"  # the late run's estimate; the trials name no source
    assert f"| sweep energy so far 47 J (at least 15% of it {said.format(4)}) |" in line, line
    line = progress_line(report, 1, 8, later={2, 3}) or ""
    assert f"| sweep energy so far 27 J (at least 26% of it {said.format(2)}) |" in line, line


def test_a_feasible_trial_says_so_and_a_study_without_constraints_says_nothing() -> None:
    assert "| feasible |" in (progress_line(_report(), 1, 8) or "")
    report = _report()
    report.settings = ReportSettings(SETTINGS.objective_names, SETTINGS.directions)
    for r in report.records:
        r.constraints = {}
    line = progress_line(report, 1, 8) or ""
    assert "feasible" not in line and "INFEASIBLE" not in line


def test_the_final_table_shows_the_baseline_and_every_infeasible_trial() -> None:
    lines = front_table(_report())
    assert lines[0] == "Pareto front (* = knee):"
    header = lines[1].split()
    assert header[:5] == ["trial", "val_acc", "energy/inference_per_sample_J", "samples/J", "constraints"]
    baseline = next(line for line in lines if line.startswith("0 (baseline, not on the front)"))
    assert "INFEASIBLE: energy/inference_per_sample_J=0.001986 breaks '<= 0.0002'" in baseline
    assert lines[-1] == (
        "2 of 4 complete trial(s) broke a constraint: 0 (energy/inference_per_sample_J=0.001986 breaks '<= 0.0002'), "
        "3 (energy/inference_per_sample_J=0.0009 breaks '<= 0.0002')"
    )
    front_rows = lines[2:-2]
    assert len(front_rows) == 2 and all("feasible" in row for row in front_rows)


def test_the_search_space_is_logged_in_words_not_reprs() -> None:
    space = {
        "model.width": optuna.distributions.CategoricalDistribution([8, 16]),
        "model.depth": optuna.distributions.IntDistribution(1, 3),
        "model.lr": optuna.distributions.FloatDistribution(0.0003, 0.03, log=True),
        "x": optuna.distributions.FloatDistribution(0, 1, step=0.25),
    }
    assert describe_space(space) == (
        "model.width: one of 8, 16; model.depth: int in [1, 3]; model.lr: log-float in [0.0003, 0.03]; "
        "x: float in [0, 1] step 0.25"
    )


def test_a_baseline_on_the_front_is_named_in_the_table() -> None:
    """Regression (first-hour audit): on the front the baseline's row read ``0*``, without saying it was the
    baseline (off the front it reads ``0 (baseline, not on the front)``)."""
    # distinct widths: two trials of one config are pooled into one with an interval (_repeats.py), which a random
    # width drew about once in a hundred runs, and the dominated trial 1 read "possibly on the front"
    trials = _study((64, 16, 32), [(0.95, 0.0001, True), (0.90, 0.0002, False), (0.97, 0.0003, False)])
    settings = ReportSettings(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])
    rows = front_table(build_report("s", trials, settings))[2:]
    assert [row.split("  ")[0].strip() for row in rows[:2]] == ["0* (baseline)", "2"]
    assert not any("not on the front" in row for row in rows)


def test_a_baseline_pooled_with_a_later_trial_of_its_config_is_still_named() -> None:
    # a sampler that proposes the app's own config again (likely in a categorical space): the two trials are one
    # point of the front, which carries the baseline's flag; the row read "0*" without it
    trials = _study((64, 64, 32), [(0.95, 0.0001, True), (0.90, 0.0002, False), (0.97, 0.0003, False)])
    settings = ReportSettings(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])
    rows_shown = front_table(build_report("s", trials, settings))[2:4]
    assert [row.split("  ")[0].strip() for row in rows_shown] == ["0* (baseline)", "2"]


def test_an_estimated_sweeps_lines_and_table_say_its_energy_is_estimated() -> None:
    """Regression (examples audit, 2026-11-29): on a machine without sensors every trial's line read 'sweep energy
    so far 14.42 J' and the front table gave bare J per sample, though every value was a CPU-time estimate (only
    the closing line said so); a measured sweep's lines stay as they were."""
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    def report(sources: dict[str, str]):
        trials = _study((64, 16), [(0.90, 0.00015, False), (0.95, 0.00019, False)])
        for t in trials:
            t.user_attrs[SOURCES_ATTR] = sources
        return build_report("s", trials, ReportSettings(SETTINGS.objective_names, SETTINGS.directions))

    estimated = report({"cpu:0": "estimate"})
    line = progress_line(estimated, 1, 8) or ""
    assert "| sweep energy so far 20 J (100% of it ESTIMATED, not measured) |" in line
    assert "energy values: ESTIMATED from CPU time" in front_table(estimated)
    measured = report({"cpu:0": "rapl"})
    assert "| sweep energy so far 20 J |" in (progress_line(measured, 1, 8) or "")
    assert "energy values: RAPL" in front_table(measured)
