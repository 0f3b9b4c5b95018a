"""The set-up of ``validate``, ``test`` and ``predict`` (before their first batch) is in the run's energy, as fit's."""

from __future__ import annotations

import pytest

from ecopt_lightning.callback import EnergyCallback
from tests.callback.helpers import make_trainer, read_summary
from tests.callback.models import SetUpWork, loader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize(("entry", "phase"), [("validate", "val"), ("test", "test"), ("predict", "predict")])
def test_the_work_before_the_first_batch_of_validate_test_predict_is_in_other(tmp_path, fake_powercap, entry, phase):
    """Regression (energy audit): only fit's 'other' clock started at the callback's set-up; in validate, test and
    predict the LightningModule's setup and configure_model (a checkpoint's restore) were in no phase, so
    energy/total_J fell short of what the meters read (50 J of set-up missing from 54 J)."""
    cap = fake_powercap(psys=False)
    model = SetUpWork(cap)
    cb = EnergyCallback(cpu="rapl", proxies=False)
    trainer = make_trainer(tmp_path, [cb], loggers=False)
    getattr(trainer, entry)(model, dataloaders=loader(n=32))
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["status"] == f"finished {entry}" and summary["sources"]["cpu:0"] == "rapl"
    assert model.added == {"setup": 20.0, "configure_model": 30.0, phase: 4.0}
    assert summary["total_J"] == pytest.approx(54.0, abs=1e-5)
    phases = summary["phases"]
    assert phases["other"]["energy_J"] == pytest.approx(50.0, abs=1e-5)  # setup + configure_model
    assert phases[phase]["energy_J"] == pytest.approx(4.0, abs=1e-5)
    assert summary["metrics"]["energy/other_total_J"] == pytest.approx(50.0, abs=1e-5)
