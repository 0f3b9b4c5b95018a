"""What a run's summary and logged totals say when its energy was interpolated across gaps in polled power."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.metrics import energy_note
from ecopt_lightning.sweeper._jobinfo import degraded_reasons
from tests.callback.helpers import csv_series, make_trainer, read_summary
from tests.callback.models import TinyModel
from tests.doubles.noisy_meter import GappyMeter, ScriptedMeter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_run_of_interpolated_windows_says_so_in_its_summary_and_logged_totals(tmp_path):
    """Regression (energy audit): every window of the run was interpolated across a gap in polled power (the poller held
    up), yet energy_summary.json and energy/total_J's logged metrics presented the total as exact."""
    meter = GappyMeter(lambda n: 1.0, gap=lambda n: True)  # a gap before every read: every window interpolated
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["total_J"] > 0 and summary["interpolated_fraction"] == 1.0
    counted = ("train", "val", "other", "sanity")  # the sanity check counts in the total
    assert summary["interpolated_windows"] == sum(summary["phases"][p]["interpolated_windows"] for p in counted) > 0
    for phase in counted:
        entry = summary["phases"][phase]
        assert entry["interpolated_windows"] > 0 and entry["interpolated_J"] == pytest.approx(entry["energy_J"]), phase
    assert summary["metrics"]["energy/interpolated_fraction"] == 1.0
    assert [v for _, v in csv_series(tmp_path)["energy/interpolated_fraction"]][-1] == 1.0


@pytest.mark.parametrize("period_s", [0.0, 1e9], ids=["exact windows", "every window shorter than the update"])
def test_a_run_of_windows_not_interpolated_says_none_was(tmp_path, period_s):
    """Windows shorter than a sensor's update (a GPU's steps against the NVML counter's 100 ms) are approximate
    alone, not in a total: consecutive windows share their snapshots, so what one misses the next holds."""
    meter = ScriptedMeter(lambda n: 1.0, source="rapl")
    meter.update_period_s = period_s
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["total_J"] > 0 and summary["interpolated_fraction"] == 0.0 and summary["interpolated_windows"] == 0


def test_a_trial_of_interpolated_windows_is_marked_degraded_by_the_sweeper(tmp_path):
    """Regression (energy audit): a run whose every window was interpolated wrote interpolated_fraction 1.0, but the
    sweeper's degraded reasons (trials.csv's degraded column, summary.json's degraded_measurements) said nothing:
    the trial was taken as a full measurement."""
    meter = GappyMeter(lambda n: 1.0, gap=lambda n: True)  # a gap before every read: every window interpolated
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    windows = summary["interpolated_windows"]
    assert degraded_reasons(summary) == [
        "cpu:0: power polled and integrated (no energy counter)",
        f"interpolated: energy interpolated across gaps in polled power (100% of it, in {windows} window(s): the "
        "poller was held up)",
    ]
    exact = {**summary, "interpolated_fraction": 0.0, "interpolated_windows": 0}
    assert not [r for r in degraded_reasons(exact) if r.startswith("interpolated")]


def test_the_closing_lines_energy_note_says_how_much_was_read_in_interpolated_windows(tmp_path):
    """Regression (energy audit): the examples' closing line (metrics.energy_note) said '(energy: measured)' for a
    run whose every window was interpolated."""
    meter = GappyMeter(lambda n: 1.0, gap=lambda n: True)  # a gap before every read: every window interpolated
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    published = read_summary(tmp_path / "energy_summary.json")["metrics"]
    assert energy_note(published) == " (energy: measured, 100% of it interpolated across gaps in polled power)"
