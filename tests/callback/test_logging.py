"""Real Trainer runs on CPU: what reaches TensorBoard, CSV, callback_metrics and the summary."""

from __future__ import annotations

import math
import warnings

import pytest
from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy import EnergyMonitor, EnergyWarning
from tests.callback.helpers import csv_series, make_trainer, read_summary, tb_series
from tests.callback.models import TinyModel, loader
from tests.doubles.noisy_meter import ScriptedMeter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _weighted_sum(points, weights):
    return sum(v * w for (_, v), w in zip(points, weights, strict=True))


def test_tensorboard_and_csv_steps_add_up_to_epochs(tmp_path):
    cb = EnergyCallback(carbon_intensity_g_per_kWh=400.0, price_per_kWh=0.2)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    trainer.fit(TinyModel())

    for series in (tb_series(tmp_path), csv_series(tmp_path)):
        steps = series["energy/train_step_J"]
        epochs = series["energy/train_epoch_J"]
        assert [s for s, _ in steps] == list(range(16))  # 8 batches x 2 epochs, one point per step
        assert len(epochs) == 2
        for e, (_, epoch_J) in enumerate(epochs):
            in_epoch = sum(v for s, v in steps if e * 8 <= s < (e + 1) * 8)
            assert in_epoch == pytest.approx(epoch_J, rel=0.01)
        assert len(series["power/train_W"]) == 16
        assert all(v > 0 for _, v in series["power/train_W"])
        # the training total is its epochs exactly; the time after an epoch (logging, on_train_end) is "other"
        last_total = series["energy/train_total_J"][-1][1]
        assert last_total == pytest.approx(sum(v for _, v in epochs), rel=1e-6)
        # one value per validation run (its mean batch), at the step Lightning logs val metrics at; not the sanity check
        assert [s for s, _ in series["energy/val_batch_J"]] == [7, 15]
        for name in ("energy/val_per_sample_J", "energy/val_total_J", "energy/total_J", "model/params"):
            assert name in series, name
        assert "carbon/total_gCO2e" in series and "cost/total_USD" in series

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    phases = summary["phases"]
    assert phases["train"]["steps"] == 16 and phases["train"]["samples"] == 128
    assert phases["val"]["samples"] == 64  # 2 x 32; the sanity check (16 samples) is apart
    assert phases["sanity"]["samples"] == 16
    counted = sum(phases[p]["energy_J"] for p in ("train", "val", "other", "sanity"))  # the sanity check too
    assert metrics["energy/total_J"] == pytest.approx(counted) and phases["other"]["energy_J"] > 0
    assert metrics["energy/total_J"] == pytest.approx(summary["total_J"])
    assert summary["sources"] == {"cpu:0": "estimate"} and phases["train"]["source"] == "estimate"
    assert metrics["energy/estimated_fraction"] == 1.0
    assert metrics["model/params"] == 16 * 32 + 32 + 32 * 2 + 2
    assert metrics["model/flops_per_sample"] == 2 * (16 * 32 + 32 * 2)
    assert summary["status"] == "finished fit"
    assert metrics["carbon/total_gCO2e"] == pytest.approx(metrics["energy/total_J"] / 3.6e6 * 400.0)


class _Deposit(Callback):
    """Adds 100 J to the meter's next read at an event (as a checkpoint save would spend energy there)."""

    def __init__(self, hook: str) -> None:
        self.joules: list[float] = []
        self.events = 0
        setattr(self, hook, self._spend)

    def _spend(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.joules.append(100.0)
            self.events += 1

    def meter(self) -> ScriptedMeter:
        return ScriptedMeter(lambda n: self.joules.pop() if self.joules else 0.001)


@pytest.mark.parametrize(
    ("hook", "options"),
    [
        ("on_validation_end", {}),  # validation at each epoch's end
        ("on_validation_end", {"val_check_interval": 0.5}),  # and in mid-epoch
        ("on_train_epoch_end", {"limit_val_batches": 0}),  # a callback after ours (ModelCheckpoint without val)
    ],
)
def test_work_after_an_epoch_or_validation_is_not_a_training_step(tmp_path, hook, options):
    deposit = _Deposit(hook)
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[deposit.meter()]), proxies=False)
    trainer = make_trainer(tmp_path, [cb, deposit], max_epochs=2, num_sanity_val_steps=0, **options)
    trainer.fit(TinyModel())
    series = csv_series(tmp_path)
    assert deposit.events >= 2
    assert max(v for _, v in series["energy/train_step_J"]) < 1.0  # no step carries a deposit
    phases = cb.summary()["phases"]
    assert phases["other"]["energy_J"] == pytest.approx(100.0 * deposit.events, abs=1.0)
    assert phases["train"]["energy_J"] == pytest.approx(sum(v for _, v in series["energy/train_epoch_J"]))
    total = float(trainer.callback_metrics["energy/total_J"])
    assert total == pytest.approx(sum(p["energy_J"] for p in phases.values()))
    assert float(trainer.callback_metrics["energy/other_total_J"]) == pytest.approx(phases["other"]["energy_J"])


def test_log_every_n_steps_with_accumulation_logs_means(tmp_path):
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb], accumulate_grad_batches=2, log_every_n_steps=3, limit_val_batches=0)
    trainer.fit(TinyModel())
    series = csv_series(tmp_path)
    # 8 batches = 4 optimizer steps: a log point after step 3 (index 2), the leftover step at the epoch end
    steps = series["energy/train_step_J"]
    assert [s for s, _ in steps] == [2, 3]
    epoch_J = series["energy/train_epoch_J"][0][1]
    assert _weighted_sum(steps, [3, 1]) == pytest.approx(epoch_J, rel=0.01)
    train = cb.summary()["phases"]["train"]
    assert train["steps"] == 4 and train["samples"] == 64


def test_val_check_interval_and_two_val_dataloaders(tmp_path):
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb], val_check_interval=0.5, limit_val_batches=2)
    trainer.fit(TinyModel(val_loaders=2))
    series = csv_series(tmp_path)
    for idx in (0, 1):
        assert len(series[f"energy/val_batch_J/dataloader_idx_{idx}"]) == 2  # one per validation run
        assert len(series[f"energy/val_per_sample_J/dataloader_idx_{idx}"]) == 2
    assert len(series["energy/val_epoch_J"]) == 2
    phases = cb.summary()["phases"]
    assert phases["val"]["samples"] == 2 * 2 * 2 * 8
    assert phases["train"]["steps"] == 8  # validation in mid-epoch pauses, not splits, the training steps
    train_steps = sum(v for _, v in series["energy/train_step_J"])
    assert train_steps == pytest.approx(series["energy/train_epoch_J"][0][1], rel=0.01)


def test_manual_optimisation_counts_each_batch(tmp_path):
    cb = EnergyCallback()
    make_trainer(tmp_path, [cb], limit_val_batches=0).fit(TinyModel(manual=True))
    assert len(csv_series(tmp_path)["energy/train_step_J"]) == 8
    assert cb.summary()["phases"]["train"]["steps"] == 8


def test_logger_false_still_writes_summary_and_callback_metrics(tmp_path):
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=0)
    trainer.fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["phases"]["train"]["steps"] == 8
    assert float(trainer.callback_metrics["energy/train_total_J"]) == pytest.approx(
        summary["phases"]["train"]["energy_J"]
    )


def test_with_nothing_to_measure_no_energy_value_is_logged_and_it_says_so(tmp_path):
    """Regression (callback audit, 2026-11-29): ``cpu=False`` on a run without a GPU measures nothing, yet
    ``energy/total_J``, ``energy/train_per_sample_J`` and ``carbon/total_gCO2e`` were logged as 0.0 (a sweep's
    cheapest trial) and the summary's ``total_J`` was 0.0, with only an INFO line saying 'measured: nothing'."""
    cb = EnergyCallback(cpu=False, price_per_kWh=0.2, idle_baseline_s=0.01)
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=2)
    with pytest.warns(EnergyWarning, match=r"nothing is measured on any rank \(cpu=False and no GPU\)"):
        trainer.fit(TinyModel())
    ours = ("energy/", "power/", "carbon/", "cost/", "efficiency/")
    assert not [k for k in trainer.callback_metrics if k.startswith(ours)]
    assert not [k for k in csv_series(tmp_path) if k.startswith(ours)]
    assert "val_loss" in csv_series(tmp_path) and "model/params" in trainer.callback_metrics
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["sources"] == {} and summary["total_J"] is None
    assert summary["carbon"]["total_gCO2e"] is None and summary["cost"]["total"] is None
    # nor an idle power of 0 W (it read 0.0, and every phase a net_J of 0.0)
    assert summary["idle_power_W"] is None and not [p for p, e in summary["phases"].items() if "net_J" in e]


def test_with_nothing_to_measure_the_benchmark_gives_no_precision_advice(tmp_path):
    """H6's audit: with nothing measured the benchmark ran its 50 repeats, then warned 'inference energy per sample
    known only to +-inf% ...; quiet the machine', advice that cannot help (the warning above says why: no meter)."""
    benchmark = {"repeats": 3, "rel_precision": 0.05, "max_repeats": 50, "min_window_s": 0.0}
    cb = EnergyCallback(cpu=False, inference_benchmark=benchmark)
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(TinyModel())
    assert not [w for w in caught if "known only to" in str(w.message)]
    inference = cb.summary()["inference"]
    assert (inference["repeats"], inference["stop_reason"]) == (3, "nothing measured")


def test_a_benchmark_on_a_counter_that_never_moves_logs_no_energy_per_sample(tmp_path, fake_powercap, manual_clock):
    """Regression (stop 37's artifacts audit): with RAPL files whose counter never moves, every repeat read 0 J and
    the callback logged energy/inference_per_sample_J = 0.0, the cheapest model a sweep could rank. Now nothing of
    the benchmark's energy is logged, the summary's value is null with its stop reason, and a warning says why.
    The manual clock moves 1 s a read: the monitor also finds the counters frozen (monitor.py), as over real time."""
    from ecopt_lightning import metrics

    manual_clock(tick=1.0)
    fake_powercap(psys=False)  # never advanced
    cb = EnergyCallback(inference_benchmark={"repeats": 3, "rel_precision": 0.05, "min_window_s": 0.0})
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(TinyModel())
    said = [str(w.message) for w in caught if "benchmark measured nothing" in str(w.message)]
    assert len(said) == 1 and "every one of its 3 repeats read 0 J on rapl" in said[0], said
    assert not [w for w in caught if "known only to" in str(w.message)]
    logged = csv_series(tmp_path)
    assert not [name for name in metrics.INFERENCE_ENERGY_METRICS if name in logged or name in trainer.callback_metrics]
    inference = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")["inference"]
    assert (inference["per_sample_J"], inference["stop_reason"], inference["samples_per_J"]) == (
        None,
        "nothing measured",
        None,
    )


def test_the_benchmark_phase_gives_no_j_per_sample_of_its_warm_up_over_the_repeats_samples(tmp_path):
    """Regression (DDP audit, 2026-11-30): ``phases.benchmark.per_sample_J`` divided the benchmark's energy, warm-up
    included, by the measured repeats' samples: beside ``inference.per_sample_J`` (the repeats' median) it read as
    the same quantity, and was higher (5.7x with 50 warm-up batches and 3 repeats of 2 batches)."""
    benchmark = {"repeats": 3, "warmup_batches": 4, "rel_precision": None, "min_window_s": 0.0}
    cb = EnergyCallback(cpu="estimate", proxies=False, inference_benchmark=benchmark)
    make_trainer(tmp_path, [cb], loggers=False, limit_train_batches=1, limit_val_batches=2).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    phase, inference = summary["phases"]["benchmark"], summary["inference"]
    assert phase["energy_J"] == pytest.approx(inference["energy_J"]) and phase["samples"] == 3 * 16
    assert phase["per_sample_J"] is None and phase["per_sample_J_why"] == (
        "energy_J includes the warm-up and any repeat left out, samples the measured repeats' only: the benchmark's "
        "J per sample is inference.per_sample_J"
    )
    assert inference["per_sample_J"] > 0
    assert summary["phases"]["train"]["per_sample_J"] > 0  # the other phases keep theirs


def test_fast_dev_run_and_limit_train_batches(tmp_path):
    cb = EnergyCallback(inference_benchmark=True)
    trainer = make_trainer(tmp_path, [cb], loggers=False, fast_dev_run=True)
    trainer.fit(TinyModel())
    s = cb.summary()
    assert s["phases"]["train"]["steps"] == 1 and s["phases"]["val"]["steps"] == 1
    assert len(s["inference"]["per_repeat_J"]) == 1
    cb2 = EnergyCallback()
    make_trainer(tmp_path / "b", [cb2], loggers=False, limit_train_batches=3, limit_val_batches=0).fit(TinyModel())
    assert cb2.summary()["phases"]["train"]["steps"] == 3


def test_inference_benchmark_and_idle_baseline(tmp_path):
    benchmark = {"repeats": 3, "warmup_batches": 1, "rel_precision": None, "min_window_s": 0.0}  # a fixed count
    cb = EnergyCallback(inference_benchmark=benchmark, idle_baseline_s=0.05)
    trainer = make_trainer(tmp_path, [cb])
    trainer.fit(TinyModel())
    m = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert m["energy/inference_per_sample_J"] > 0 and m["energy/inference_per_sample_J_iqr"] >= 0
    assert m["efficiency/samples_per_J"] == pytest.approx(1 / m["energy/inference_per_sample_J"])
    assert m["power/idle_W"] >= 0
    assert m["energy/train_total_net_J"] <= m["energy/train_total_J"]
    s = cb.summary()
    assert s["inference"]["samples_per_repeat"] == 32 and len(s["inference"]["per_repeat_J"]) == 3
    assert s["inference"]["source"] == "estimate"
    counted = sum(s["phases"][p]["energy_J"] for p in ("train", "val", "benchmark", "other", "sanity", "idle"))
    assert m["energy/total_J"] == pytest.approx(counted)  # the benchmark and the idle baseline count in the total
    assert s["phases"]["idle"]["seconds"] >= 0.05


def test_test_and_predict_reach_loggers_and_callback_metrics(tmp_path):
    cb = EnergyCallback(length_fn=lambda batch: int(batch[0].numel()))
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=0)
    model = TinyModel()
    trainer.fit(model)
    trainer.test(model)
    assert float(trainer.callback_metrics["energy/test_total_J"]) > 0
    trainer.predict(model)
    m = trainer.callback_metrics
    assert float(m["energy/predict_per_sample_J"]) > 0 and "energy/predict_per_item_J" in m
    series = csv_series(tmp_path)
    # one value per loop (its mean batch) at the global step after fit: 8 optimizer steps; predict can't self.log
    [(step, batch_J)] = series["energy/predict_batch_J"]
    assert step == 8 and 0 < 4 * batch_J <= m["energy/predict_epoch_J"].item()  # 4 batches within the loop
    assert [s for s, _ in series["energy/test_batch_J"]] == [8]
    s = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert s["status"] == "finished predict"
    assert s["phases"]["predict"]["samples"] == 24 and s["phases"]["predict"]["items"] == 24 * 16
    assert not math.isnan(s["total_J"])


def _dicts(n: int, seed: int):
    from torch.utils.data import DataLoader

    x, y = next(iter(loader(n, n, seed=seed)))
    return DataLoader([{"x": x[i], "y": y[i]} for i in range(n)], batch_size=8)  # collated to {"x", "y"}


class _DictBatches(TinyModel):
    """Batches are dicts (as tokenised text is): neither ``module(batch)`` nor ``predict_step`` runs on one."""

    def training_step(self, batch, batch_idx):
        return super().training_step((batch["x"], batch["y"]), batch_idx)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        super().validation_step((batch["x"], batch["y"]), batch_idx)

    def train_dataloader(self):
        return _dicts(64, 0)

    def val_dataloader(self):
        return _dicts(32, 1)


def _forward_on_x(module, batch, batch_idx):
    return module(batch["x"])


def test_flops_are_counted_with_the_benchmarks_forward_fn(tmp_path, recwarn):
    """Regression: FLOPs per sample were counted with the default forward even where the inference benchmark has a
    ``forward_fn`` (the pass it measures): on a model with dict batches they came out NaN, with a warning, and the
    sweep's proxy check lost them."""
    benchmark = {"forward_fn": _forward_on_x, "repeats": 2, "rel_precision": None, "min_window_s": 0.0}
    trainer = make_trainer(tmp_path, [EnergyCallback(inference_benchmark=benchmark)], loggers=False)
    trainer.fit(_DictBatches())
    assert float(trainer.callback_metrics["model/flops_per_sample"]) == 2 * (16 * 32 + 32 * 2)
    assert not [w for w in recwarn if "FLOPs per sample not counted" in str(w.message)]


class _StopAfter(Callback):
    """After our hook at training step ``at``: spend 100 J (the next read's) and, with ``stop``, set
    ``trainer.should_stop`` (as Lightning's ``Timer`` does for ``max_time``)."""

    def __init__(self, at: int, stop: bool) -> None:
        self.at, self.stop = at, stop
        self.joules: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.at:
            self.joules.append(100.0)
            trainer.should_stop = trainer.should_stop or self.stop

    def meter(self) -> ScriptedMeter:
        return ScriptedMeter(lambda n: self.joules.pop() if self.joules else 1.0)


@pytest.mark.parametrize(("options", "stop"), [({"max_steps": 3}, False), ({}, True)], ids=["max_steps", "should_stop"])
def test_a_fit_stopped_in_mid_epoch_logs_steps_that_add_up_to_the_epoch(tmp_path, options, stop):
    """Regression (callback audit, 2026-11-29): a fit that stopped in mid-epoch (``max_steps``, or ``should_stop``
    set after a step as ``max_time`` does) charged the work after its last logged step to the epoch but to no
    step: ``energy/train_epoch_J`` read 103 J beside three logged steps of 1 J each."""
    stopper = _StopAfter(3, stop)
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[stopper.meter()]), proxies=False)
    trainer = make_trainer(
        tmp_path, [cb, stopper], max_epochs=2, num_sanity_val_steps=0, limit_val_batches=0, **options
    )
    trainer.fit(TinyModel())
    assert trainer.global_step == 3
    series = csv_series(tmp_path)
    steps, epochs = series["energy/train_step_J"], series["energy/train_epoch_J"]
    assert [s for s, _ in steps] == [0, 1, 2] and all(v == pytest.approx(1.0) for _, v in steps)
    assert epochs == [(2, pytest.approx(3.0))]  # the steps, exactly
    phases = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")["phases"]
    assert phases["train"]["energy_J"] == pytest.approx(3.0) and phases["train"]["steps"] == 3
    assert phases["other"]["energy_J"] >= 100.0  # the work after the last step is the fit's, not a step's
    total = float(trainer.callback_metrics["energy/total_J"])
    assert total == pytest.approx(sum(p["energy_J"] for p in phases.values()))


class _WorkPerLoader(TinyModel):
    """Two validation and two predict dataloaders; a batch of dataloader 0 does 1 J of work, of dataloader 1
    10 J: what :meth:`meter` reads next (energy by work done, whenever it is read)."""

    def __init__(self) -> None:
        super().__init__(val_loaders=2)
        self.work = 0.0

    def _spend(self, dataloader_idx: int) -> None:
        self.work += 1.0 if dataloader_idx == 0 else 10.0

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self._spend(dataloader_idx)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        self._spend(dataloader_idx)

    def predict_dataloader(self):
        return [loader(24, 8, seed=10), loader(24, 8, seed=11)]

    def meter(self) -> ScriptedMeter:
        def take(n: int) -> float:
            done, self.work = self.work, 0.0
            return done

        return ScriptedMeter(take)


@pytest.mark.parametrize("entry", ["fit", "predict"])
def test_each_dataloaders_batches_get_their_own_energy(tmp_path, entry):
    """Regression (callback audit, 2026-11-29): with several dataloaders and batches read only at log points (the
    default ``log_every_n_steps=50``), the first batch of dataloader 1 was charged to dataloader 0's batches:
    ``energy/val_batch_J/dataloader_idx_0`` read 6 J and ``.../dataloader_idx_1`` 5 J for batches of 1 J and 10 J."""
    model = _WorkPerLoader()
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[model.meter()]), proxies=False)
    trainer = make_trainer(tmp_path, [cb], log_every_n_steps=50, num_sanity_val_steps=0, limit_val_batches=2)
    getattr(trainer, entry)(model)
    series = csv_series(tmp_path)
    phase = "val" if entry == "fit" else "predict"
    for idx, joules in ((0, 1.0), (1, 10.0)):
        [(_, batch_J)] = series[f"energy/{phase}_batch_J/dataloader_idx_{idx}"]
        [(_, per_sample_J)] = series[f"energy/{phase}_per_sample_J/dataloader_idx_{idx}"]
        assert (batch_J, per_sample_J) == (pytest.approx(joules), pytest.approx(joules / 8)), idx


class _EpochEndWork(_WorkPerLoader):
    """As :class:`_WorkPerLoader` with one dataloader each (1 J a batch), and 100 J of work in its own
    ``on_{validation,test,predict}_epoch_end`` (an aggregate metric), which Lightning calls after every callback's."""

    def __init__(self) -> None:
        super().__init__()
        self.val_loaders = 1

    def _epoch_end(self) -> None:
        self.work += 100.0

    on_validation_epoch_end = on_test_epoch_end = on_predict_epoch_end = _epoch_end

    def test_step(self, batch, batch_idx):
        self._spend(0)

    def predict_dataloader(self):
        return loader(24, 8, seed=10)


@pytest.mark.parametrize(("entry", "loop_J"), [("validate", 4.0), ("test", 3.0), ("predict", 3.0)])
def test_the_modules_work_after_a_loop_counts_in_the_entry_points_total(tmp_path, entry, loop_J):
    """Regression (callback audit, 2026-11-29): ``trainer.test`` (``validate``, ``predict``) stopped the clock in
    our ``on_test_epoch_end``, before the LightningModule's own, so its work there (100 J) was in no total:
    ``energy/total_J`` and the summary's ``total_J`` read 3 J for a run that spent 103 J. It is the loop's now."""
    model = _EpochEndWork()
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[model.meter()]), proxies=False)
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=4)
    getattr(trainer, entry)(model)
    series = csv_series(tmp_path)
    phase = "val" if entry == "validate" else entry
    assert series[f"energy/{phase}_batch_J"] == [(0, pytest.approx(loop_J / (4 if entry == "validate" else 3)))]
    for name in (f"energy/{phase}_epoch_J", f"energy/{phase}_total_J", "energy/total_J"):
        assert series[name] == [(0, pytest.approx(loop_J + 100.0))], name
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["total_J"] == pytest.approx(loop_J + 100.0) and summary["status"] == f"finished {entry}"
    assert "energy/other_total_J" not in summary["metrics"]  # its set-up spent nothing: no 0 J other total


class _TrainEndWork(_EpochEndWork):
    """As :class:`_EpochEndWork` (1 J a validation batch), no training work, and 50 J in its own
    ``on_train_end``, which Lightning calls after every callback's."""

    def _epoch_end(self) -> None:
        pass

    on_validation_epoch_end = _epoch_end

    def on_train_end(self) -> None:
        self.work += 50.0


def test_the_modules_work_at_the_end_of_training_counts_as_other(tmp_path):
    """Regression (callback audit, 2026-11-29): the clocks stopped in our ``on_train_end``, before the
    LightningModule's own and the trainer's tear-down, so their work (50 J) was in no total: ``energy/total_J``
    read 2 J for a fit that spent 52 J, though ``other`` is documented to hold the end of fit."""
    model = _TrainEndWork()
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[model.meter()]), proxies=False)
    trainer = make_trainer(tmp_path, [cb], limit_val_batches=2, num_sanity_val_steps=0)
    trainer.fit(model)
    series = csv_series(tmp_path)
    assert series["energy/val_total_J"][-1][1] == pytest.approx(2.0)
    assert series["energy/other_total_J"][-1][1] == pytest.approx(50.0)
    assert series["energy/total_J"][-1][1] == pytest.approx(52.0)
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["total_J"] == pytest.approx(52.0) and summary["phases"]["other"]["energy_J"] == pytest.approx(50.0)


class _EpochEndBeforeOurs(Callback):
    """A callback listed before ours that does 100 J of work in ``on_{validation,test}_epoch_end``."""

    def __init__(self, model: _WorkPerLoader) -> None:
        self.model = model

    def _spend(self, trainer, pl_module) -> None:
        self.model.work += 100.0

    on_validation_epoch_end = on_test_epoch_end = _spend


@pytest.mark.parametrize("entry", ["fit", "test"])
def test_a_loops_logged_batch_means_add_up_to_the_loop(tmp_path, entry):
    """Regression (callback audit, 2026-11-29): an evaluation loop read its meters at each log point, then once
    more at its end: the time after its last batch (a callback's epoch-end work before ours) was in
    ``energy/{val,test}_epoch_J`` but in no batch, so the logged mean batch times the batches fell short of the
    loop (1 J x 3 beside 103 J)."""
    model = _EpochEndWork()
    model.on_validation_epoch_end = model.on_test_epoch_end = lambda: None  # the model's own: none here
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[model.meter()]), proxies=False)
    trainer = make_trainer(tmp_path, [_EpochEndBeforeOurs(model), cb], num_sanity_val_steps=0, limit_val_batches=3)
    getattr(trainer, entry)(model)
    series = csv_series(tmp_path)
    phase = "val" if entry == "fit" else "test"
    [(_, batch_J)] = series[f"energy/{phase}_batch_J"]
    [(_, loop_J)] = series[f"energy/{phase}_epoch_J"]
    assert loop_J == pytest.approx(103.0) and batch_J * 3 == pytest.approx(loop_J)


def test_steps_and_epochs_whose_every_reading_failed_log_no_energy_not_zero(tmp_path):
    """Regression (energy audit, 2026-11-29): while the only meter's reads failed (a sensor lost for training
    batches 1 and 2), the windows were invalid, and yet energy/train_step_J and power/train_W were logged as 0.0
    at steps 1 to 3 (the window read at batch 2 starts at a failed read), and an epoch that read nothing valid
    logged energy/train_epoch_J 0.0: a silent zero beside the summary's fault."""
    from tests.callback.models import LoseCpuOnRank

    runs = {"steps": (1, 3), "epoch": (0, 10**9)}
    series = {}
    for name, (start, stop) in runs.items():
        cb = EnergyCallback(cpu="estimate", proxies=False)
        trainer = make_trainer(
            tmp_path / name,
            [cb, LoseCpuOnRank(rank=0, start=start, stop=stop)],
            loggers=[CSVLogger(tmp_path / name, name="csv", version=0)],
            limit_train_batches=5,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        trainer.fit(TinyModel())
        assert "injected: sensor lost" in cb.summary()["measurement_faults"]["cpu:0"]
        series[name] = csv_series(tmp_path / name)
    steps = series["steps"]
    assert [s for s, _ in steps["energy/train_step_J"]] == [0, 4]
    assert [s for s, _ in steps["power/train_W"]] == [0, 4]
    assert all(v > 0 for _, v in steps["energy/train_step_J"] + steps["power/train_W"])
    assert steps["energy/train_epoch_J"][0][1] > 0  # the valid windows still count
    lost = series["epoch"]
    for metric in ("energy/train_step_J", "energy/train_epoch_J", "energy/train_per_sample_J", "power/train_W"):
        assert all(v != 0.0 for _, v in lost.get(metric, [])), metric


class _LostAfterFirstRead:
    """The CPU estimate's stand-in, lost from its second read on: no window of the run reads anything valid."""

    update_period_s = 0.0

    def __init__(self) -> None:
        self.sources = {"cpu:0": "estimate"}
        self.reads = 0

    def read(self):
        from ecopt_lightning.energy.meter import Reading

        self.reads += 1
        return Reading({"cpu:0": 1.0}) if self.reads < 2 else Reading(errors={"cpu:0": "injected: sensor lost"})

    def close(self) -> None: ...


def test_a_run_whose_every_reading_failed_has_no_total_not_zero_joules(tmp_path):
    """Regression (energy audit, 2026-11-29): with every reading failed, energy/total_J and train_total_J were
    logged as 0.0 and the summary's total_J was 0.0, an objective a sweep would rank as the cheapest trial."""
    cb = EnergyCallback(monitor=EnergyMonitor(meters=[_LostAfterFirstRead()], proc_root=False), proxies=False)
    trainer = make_trainer(
        tmp_path,
        [cb],
        loggers=[CSVLogger(tmp_path, name="csv", version=0)],
        limit_train_batches=3,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(TinyModel())
    summary = cb.summary()
    assert summary["total_J"] is None
    assert summary["no_energy"] == "every reading failed (measurement_faults says why)"
    assert "injected: sensor lost" in summary["measurement_faults"]["cpu:0"]
    logged = csv_series(tmp_path)
    assert not [k for k in logged if k.startswith(("energy/", "power/", "carbon/"))], logged
    assert "energy/total_J" not in trainer.callback_metrics


def test_training_on_rapl_counters_that_never_move_logs_no_zero_joules_and_says_why(
    tmp_path, fake_powercap, manual_clock
):
    """Regression (honest-sources audit, 2026-11-30): on RAPL files that are readable but never updated (some VMs),
    training logged 0 J steps and epochs and a 0 J total 'measured' by rapl, the cheapest trial a sweep could rank.
    Now: a warning names the domains, no step, epoch or total value is logged, and the summary says nothing was
    measured. The manual clock moves 1 s on every read, so every window spans 1000 RAPL updates or more."""
    manual_clock(tick=1.0)
    fake_powercap(psys=False)  # never advanced
    cb = EnergyCallback(proxies=False)
    trainer = make_trainer(
        tmp_path, [cb], loggers=[CSVLogger(tmp_path, name="csv", version=0)], max_epochs=2, limit_val_batches=2
    )
    with pytest.warns(EnergyWarning, match=r"cpu:0, dram:0 not measured from window '\w+' on: no RAPL counter"):
        trainer.fit(TinyModel())
    summary = cb.summary()
    assert summary["sources"] == {"cpu:0": "rapl", "dram:0": "rapl"}
    assert (summary["total_J"], summary["no_energy"]) == (
        None,
        "nothing measured: no RAPL counter moved (measurement_faults says why)",
    )
    assert all(
        "no RAPL counter of this machine has moved over its last 5 reads" in summary["measurement_faults"][d]
        for d in ("cpu:0", "dram:0")
    )
    assert summary["phases"]["train"]["energy_J"] is None
    logged = csv_series(tmp_path)
    assert not [k for k in logged if k.startswith(("energy/", "power/", "carbon/"))], logged
    assert not [k for k in trainer.callback_metrics if k.startswith(("energy/", "power/"))]
