"""What a run's summary and logged totals say when its windows were approximate."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.metrics import energy_note
from ecopt_lightning.sweeper._jobinfo import degraded_reasons
from tests.callback.helpers import csv_series, make_trainer, read_summary
from tests.callback.models import TinyModel
from tests.doubles.noisy_meter import ScriptedMeter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_run_of_approximate_windows_says_so_in_its_summary_and_logged_totals(tmp_path):
    """Regression (energy audit): every window of the run was approximate (a sensor updating more slowly than the
    windows last), yet energy_summary.json and energy/total_J's logged metrics presented the total as exact."""
    meter = ScriptedMeter(lambda n: 1.0, source="rapl")
    meter.update_period_s = 1e9  # a sensor no window outlasts: every window is approximate
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["total_J"] > 0 and summary["approximate_fraction"] == 1.0
    counted = ("train", "val", "other")
    assert summary["approximate_windows"] == sum(summary["phases"][p]["approximate_windows"] for p in counted) > 0
    for phase in counted:
        entry = summary["phases"][phase]
        assert entry["approximate_windows"] > 0 and entry["approximate_J"] == pytest.approx(entry["energy_J"]), phase
    assert summary["metrics"]["energy/approximate_fraction"] == 1.0
    assert [v for _, v in csv_series(tmp_path)["energy/approximate_fraction"]][-1] == 1.0


def test_a_run_of_exact_windows_says_none_was_approximate(tmp_path):
    meter = ScriptedMeter(lambda n: 1.0, source="rapl")  # update period 0: no window is shorter
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["total_J"] > 0 and summary["approximate_fraction"] == 0.0 and summary["approximate_windows"] == 0


def test_a_trial_of_approximate_windows_is_marked_degraded_by_the_sweeper(tmp_path):
    """Regression (energy audit): a run whose every window was approximate wrote approximate_fraction 1.0, but the
    sweeper's degraded reasons (trials.csv's degraded column, summary.json's degraded_measurements) said nothing:
    the trial was taken as a full measurement."""
    meter = ScriptedMeter(lambda n: 1.0, source="rapl")
    meter.update_period_s = 1e9  # a sensor no window outlasts: every window is approximate
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    windows = summary["approximate_windows"]
    assert degraded_reasons(summary) == [
        f"approximate: energy read in approximate windows (100% of it, in {windows} window(s): shorter than a sensor's "
        "update, an NVML counter that did not move, a gap in polled power)"
    ]
    exact = {**summary, "approximate_fraction": 0.0, "approximate_windows": 0}
    assert not [r for r in degraded_reasons(exact) if r.startswith("approximate")]


def test_the_closing_lines_energy_note_says_how_much_was_read_in_approximate_windows(tmp_path):
    """Regression (energy audit): the examples' closing line (metrics.energy_note) said '(energy: measured)' for a
    run whose every window was approximate."""
    meter = ScriptedMeter(lambda n: 1.0, source="rapl")
    meter.update_period_s = 1e9  # a sensor no window outlasts: every window is approximate
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    published = read_summary(tmp_path / "energy_summary.json")["metrics"]
    assert energy_note(published) == " (energy: measured, 100% of it in approximate windows)"
