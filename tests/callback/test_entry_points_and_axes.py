"""What the loggers read back: every energy metric at Lightning's global-step x values, one value per step, in
TensorBoard and an offline W&B run; each Trainer entry point leaves its summary, W&B's in the run's folder."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from typing_extensions import override

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy import EnergyWarning
from tests.callback.helpers import make_trainer, read_summary, resume_estimated_run_on_rapl, tb_series, wandb_records
from tests.callback.models import RaplMoves, TinyModel, loader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

OURS = ("energy/", "power/", "carbon/", "cost/", "efficiency/", "model/")


def _check_axes(series: dict[str, list[tuple[int, float]]], global_step: int) -> None:
    """Every metric of ours: steps strictly increasing (one value per step, in order), within the run's
    global steps; validation values at the steps of Lightning's own val_loss, step values at train_loss's."""
    ours = {k: v for k, v in series.items() if k.startswith(OURS)}
    assert "energy/val_batch_J" in ours and "energy/train_total_J" in ours
    for name, points in ours.items():
        steps = [s for s, _ in points]
        assert steps == sorted(set(steps)), f"{name}: {steps}"
        assert all(0 <= s <= global_step for s in steps), f"{name}: {steps}"
    val_steps = [s for s, _ in series["val_loss"]]
    for name in ("energy/val_batch_J", "energy/val_epoch_J", "energy/val_per_sample_J", "power/val_W"):
        assert [s for s, _ in ours[name]] == val_steps, name
    # step values at Lightning's log points, and the steps left at an epoch's end where it logs epoch metrics
    epoch_ends = {s for s, _ in ours["energy/train_epoch_J"]}
    assert {s for s, _ in ours["energy/train_step_J"]} <= {s for s, _ in series["train_loss"]} | epoch_ends
    assert epoch_ends <= set(val_steps)  # validation runs every epoch here


def test_tensorboard_reads_back_at_global_steps_one_value_per_step(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [EnergyCallback(inference_benchmark=True)], max_epochs=3, log_every_n_steps=3)
    trainer.fit(TinyModel())
    series = tb_series(tmp_path)
    _check_axes(series, trainer.global_step)
    assert [s for s, _ in series["val_loss"]] == [7, 15, 23]  # validation ran at these global steps
    # running totals: one value per step, growing
    totals = [v for _, v in series["energy/train_total_J"]]
    assert totals == sorted(totals) and len(totals) == 4  # 3 epoch ends + fit end


def test_every_logger_names_the_sources_of_the_energy_values(tmp_path: Path) -> None:
    """The loggers hold numbers only: the sources (estimate, rapl, nvml_*) are the run's hyperparameter
    ``energy/sources``, in TensorBoard's and CSV's hparams.yaml and MLflow's params; TensorBoard gets no
    hp_metric placeholder for it."""
    pytest.importorskip("mlflow")
    import mlflow
    from lightning.pytorch.loggers import CSVLogger, MLFlowLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow_logger = MLFlowLogger(tracking_uri=uri)
    loggers = [TensorBoardLogger(tmp_path, name="tb", version=0), CSVLogger(tmp_path, name="csv", version=0)]
    trainer = make_trainer(tmp_path, [EnergyCallback()], loggers=[*loggers, mlflow_logger])
    trainer.fit(TinyModel())
    for name in ("tb", "csv"):
        assert "energy/sources: cpu:0=estimate" in (tmp_path / name / "version_0" / "hparams.yaml").read_text()
    params = mlflow.MlflowClient(tracking_uri=uri).get_run(mlflow_logger.run_id).data.params
    assert params["energy/sources"] == "cpu:0=estimate"
    assert "hp_metric" not in tb_series(tmp_path)


def test_tensorboards_ui_names_the_sources_of_the_energy_values(tmp_path: Path) -> None:
    """Regression (loggers audit, 2026-11-29): TensorBoard's UI does not read ``hparams.yaml`` and the label was
    logged with no metric, so nothing in the event files said the energy values were estimated or which sensors
    measured them; the label is in its Text tab, at each entry point's global step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = TinyModel()
    trainer = make_trainer(tmp_path, [EnergyCallback()], loggers=[TensorBoardLogger(tmp_path, name="tb", version=0)])
    trainer.fit(model)
    trainer.test(model, dataloaders=loader(16))
    events = EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance={"tensors": 0})
    events.Reload()
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("energy/sources")]
    texts = [(e.step, e.tensor_proto.string_val[0].decode()) for e in events.Tensors(tag)]
    assert texts == [(0, "cpu:0=estimate"), (trainer.global_step, "cpu:0=estimate")]  # fit, then test


def test_wandb_offline_reads_back_at_global_steps_and_keeps_the_summary_in_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="ecopt-test")
    trainer = make_trainer(tmp_path, [EnergyCallback()], loggers=[logger], max_epochs=2, log_every_n_steps=3)
    trainer.fit(TinyModel())
    run_dir = Path(logger.experiment.dir)
    logger.experiment.finish()
    wandb.teardown()  # the W&B service writes out the run's record log

    series: dict[str, list[tuple[int, float]]] = {}
    files = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "*.wandb"))
    rows = wandb_records(files[0])
    config = {k: v for row in rows if row["_record"] == "config" for k, v in row.items()}
    assert config["energy/sources"] == "cpu:0=estimate"  # the run's config names the sources of its values
    for row in (r for r in rows if r["_record"] == "history"):
        step = row.get("trainer/global_step")
        for key, value in row.items():
            if isinstance(step, int) and isinstance(value, (int, float)) and not key.startswith(("_", "trainer/")):
                series.setdefault(key, []).append((step, float(value)))
    _check_axes(series, trainer.global_step)
    assert [s for s, _ in series["energy/val_batch_J"]] == [7, 15]  # W&B had trainer/global_step=8 (a batch count)
    # the summary is in the run's own files folder (synced with it), not in save_dir where the next run overwrites it
    assert (run_dir / "energy_summary.json").is_file()
    assert not (tmp_path / "energy_summary.json").exists()


def _summary(tmp_path: Path) -> dict:
    return read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")


def test_mlflow_keeps_the_summary_in_the_runs_artifacts(tmp_path: Path) -> None:
    """Regression (callback audit, 2026-11-29): with MLflow's database backend (``sqlite:///``, the default since
    MLflow 3 put the file store in maintenance mode) the run's artifact URI is a plain path, not ``file:``, so the
    summary went to ``default_root_dir`` instead of the run's artifacts."""
    pytest.importorskip("mlflow")
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MLFlowLogger(tracking_uri=uri, artifact_location=str(tmp_path / "artifacts"))
    make_trainer(tmp_path / "root", [EnergyCallback()], loggers=[logger], limit_val_batches=0).fit(TinyModel())
    artifacts = mlflow.MlflowClient(tracking_uri=uri).list_artifacts(logger.run_id)
    assert [a.path for a in artifacts] == ["energy_summary.json"]
    assert not (tmp_path / "root" / "energy_summary.json").exists()


def test_an_mlflow_run_measured_by_other_sources_later_keeps_going(tmp_path: Path, fake_powercap) -> None:
    """Regression (callback audit, 2026-11-29): MLflow refuses to change a run's param, so a second Trainer on the
    same MLFlowLogger whose energy came from other sources (a DDP fit, then ``Trainer(devices=1).test()`` as
    Lightning advises; here the estimate, then RAPL) died in set-up with 'Changing param values is not allowed'.
    The run keeps its first ``energy/sources``; a warning says where the new ones are."""
    pytest.importorskip("mlflow")
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MLFlowLogger(tracking_uri=uri, artifact_location=str(tmp_path / "artifacts"))
    make_trainer(tmp_path / "a", [EnergyCallback(cpu="estimate")], loggers=[logger], limit_val_batches=0).fit(
        TinyModel()
    )
    cap = fake_powercap()
    tester = make_trainer(tmp_path / "b", [EnergyCallback(), RaplMoves(cap)], loggers=[logger])
    with pytest.warns(EnergyWarning, match=r"keeps its first energy/sources \('cpu:0=estimate'\); these, "):
        tester.test(TinyModel())
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(logger.run_id)
    assert run.data.params["energy/sources"] == "cpu:0=estimate"
    summary = read_summary(Path(run.info.artifact_uri) / "energy_summary.json")
    assert summary["status"] == "finished test" and summary["sources"] == {"cpu:0": "rapl", "dram:0": "rapl"}


@pytest.mark.parametrize("entry", ["validate", "test", "predict"])
def test_each_entry_point_alone_writes_its_summary(tmp_path: Path, entry: str) -> None:
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb])
    getattr(trainer, entry)(TinyModel())
    summary = _summary(tmp_path)
    phase = {"validate": "val"}.get(entry, entry)
    assert summary["status"] == f"finished {entry}"
    assert summary["phases"][phase]["energy_J"] > 0
    # the loop and its set-up before the first batch (OTHER's, as in fit)
    assert summary["total_J"] == pytest.approx(
        summary["phases"][phase]["energy_J"] + summary["phases"]["other"]["energy_J"]
    )
    assert float(trainer.callback_metrics[f"energy/{phase}_total_J"]) == pytest.approx(
        summary["phases"][phase]["energy_J"]
    )
    assert float(trainer.callback_metrics["energy/total_J"]) == pytest.approx(summary["total_J"])
    published = summary["metrics"]  # every value the callback published (predict's skip callback_metrics)
    assert "carbon/total_gCO2e" in published
    assert "carbon/train_total_gCO2e" not in published  # no training ran: no zero for it
    assert published["energy/other_total_J"] == pytest.approx(summary["phases"]["other"]["energy_J"])
    assert "model/params" in published


@pytest.mark.parametrize(
    ("entry", "limit"),
    [("validate", "limit_val_batches"), ("test", "limit_test_batches"), ("predict", "limit_predict_batches")],
)  # fmt: skip
def test_an_entry_point_that_runs_no_batch_says_so_with_no_energy(tmp_path: Path, entry: str, limit: str) -> None:
    """Regression (reports audit, 2026-11-29): ``trainer.test(limit_test_batches=0)`` (validate, predict alike)
    wrote no summary, and ``summary()`` said ``running test`` with ``total_J`` 0: nothing told the user that no
    batch ran. A fit with ``limit_train_batches=0`` is no longer here: like a fit failing before its first batch,
    it counts its set-up's, sanity check's and idle baseline's energy, which a sweep's trial configured so spent
    (test_lifecycle's ``test_a_fit_that_runs_no_training_batch_counts_the_energy_it_spent``)."""
    cb = EnergyCallback(cpu="estimate", price_per_kWh=0.2)
    trainer = make_trainer(tmp_path, [cb], **{limit: 0})
    getattr(trainer, entry)(TinyModel())
    summary = _summary(tmp_path)
    assert summary["status"] == cb.summary()["status"] == f"finished {entry} (no batch run: {limit}=0)"
    assert summary["partial"] is False
    assert summary["total_J"] is None and summary["no_energy"] == f"no batch run: {limit}=0"
    assert summary["carbon"]["total_gCO2e"] is None and summary["cost"]["total"] is None
    assert not [k for k in trainer.callback_metrics if k.startswith(("energy/", "carbon/", "cost/"))]


def test_a_skipped_test_after_a_fit_keeps_the_fits_energy(tmp_path: Path) -> None:
    cb = EnergyCallback(cpu="estimate")
    make_trainer(tmp_path, [cb], limit_val_batches=0).fit(TinyModel())
    fitted = _summary(tmp_path)["total_J"]
    make_trainer(tmp_path, [cb], limit_test_batches=0).test(TinyModel())
    summary = _summary(tmp_path)
    assert summary["status"] == "finished test (no batch run: limit_test_batches=0)"
    assert summary["total_J"] == pytest.approx(fitted) and summary["no_energy"] is None


def test_fit_then_fit_again_with_one_callback_counts_both(tmp_path: Path) -> None:
    cb = EnergyCallback()
    model = TinyModel()
    make_trainer(tmp_path, [cb], limit_val_batches=0).fit(model)
    first = _summary(tmp_path)
    assert first["status"] == "finished fit" and first["phases"]["train"]["steps"] == 8
    # TensorBoard only the second time: Lightning < 2.3's CSVLogger cannot add columns to the first fit's metrics.csv
    tb_only = [TensorBoardLogger(tmp_path, name="tb", version=0)]
    make_trainer(tmp_path, [cb], tb_only, limit_val_batches=0, max_epochs=1).fit(model)
    second = _summary(tmp_path)
    assert second["status"] == "finished fit"
    assert second["phases"]["train"]["steps"] == 16  # the callback's totals run on across fits
    assert second["total_J"] > first["total_J"]


def test_one_callback_on_another_model_counts_that_models_params_and_flops(tmp_path: Path) -> None:
    """Regression (callback audit, 2026-11-29): the proxies were counted once per callback, so one callback fitting
    a second, wider model logged the first model's ``model/params`` and ``model/flops_per_sample`` for it."""
    import torch

    cb = EnergyCallback()
    small = make_trainer(tmp_path / "a", [cb], loggers=False, limit_val_batches=0)
    small.fit(TinyModel())
    assert float(small.callback_metrics["model/params"]) == 16 * 32 + 32 + 32 * 2 + 2
    wide_model = TinyModel()
    wide_model.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    wide = make_trainer(tmp_path / "b", [cb], loggers=False, limit_val_batches=0)
    wide.fit(wide_model)
    assert float(wide.callback_metrics["model/params"]) == 16 * 64 + 64 + 64 * 2 + 2
    assert float(wide.callback_metrics["model/flops_per_sample"]) == 2 * (16 * 64 + 64 * 2)
    assert cb.summary()["model"] == {
        "params": 16 * 64 + 64 + 64 * 2 + 2,
        "flops_per_sample": 2 * (16 * 64 + 64 * 2),
        "flops_not_counted": None,
    }


class _DictPredict(TinyModel):
    """Its predict_step takes a dict batch: the FLOPs pass on a training batch (a tuple) raises."""

    @override
    def predict_step(self, batch, batch_idx):
        return self(batch["x"])


def _not_json(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


@pytest.mark.parametrize(
    ("model", "options", "entry", "field", "why", "reason"),
    [
        (_DictPredict, {}, "model", "flops_per_sample", "flops_not_counted", "TypeError: list indices must be"),
        (
            TinyModel,
            {"cpu": False, "inference_benchmark": True},
            "inference",
            "samples_per_J",
            "stop_reason",
            "nothing",
        ),
    ],
)
def test_the_summary_is_strict_json_and_says_why_a_value_is_missing(
    tmp_path: Path, model: type[TinyModel], options: dict, entry: str, field: str, why: str, reason: str
) -> None:
    """Regression (reports audit, 2026-11-29): energy_summary.json held a bare ``NaN`` (FLOPs a model's forward
    hides) or ``Infinity`` (samples per J with nothing measured), which JSON.parse, jq and most readers refuse."""
    import json

    summary = tmp_path / "s.json"
    cb = EnergyCallback(summary_path=summary, **options)
    make_trainer(tmp_path, [cb], max_steps=2).fit(model())
    read = json.loads(summary.read_text(), parse_constant=_not_json)
    assert read[entry][field] is None and read[entry][why].startswith(reason)
    # EnergyCallback.summary() holds what the file holds, by one rule: after fit too, when its monitor is closed
    in_memory = json.loads(json.dumps(cb.summary(), default=str, allow_nan=False))
    assert in_memory == read and read["monitor"]


def test_carbon_is_always_reported_and_labelled(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [EnergyCallback()], limit_val_batches=0)
    trainer.fit(TinyModel())
    carbon = _summary(tmp_path)["carbon"]
    assert carbon["label"] == "480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    total = float(trainer.callback_metrics["energy/total_J"])
    assert float(trainer.callback_metrics["carbon/total_gCO2e"]) == pytest.approx(total / 3.6e6 * 480.0)
    assert carbon["total_gCO2e"] == pytest.approx(total / 3.6e6 * 480.0)

    regional = EnergyCallback(carbon_region="fr")
    make_trainer(tmp_path / "fr", [regional], limit_val_batches=0).fit(TinyModel())
    assert regional.summary()["carbon"]["label"].startswith("56 gCO2e/kWh, FR yearly average 2023 (Ember")
    with pytest.raises(ValueError, match="carbon_region='XX' is not allowed"):
        EnergyCallback(carbon_region="XX")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "inference_benchmark='yes' is not allowed: give True, False, None, an InferenceBenchmark or a dict"),
        (1, "inference_benchmark=1 is not allowed"),
        ({"repeats": "six"}, "repeats='six' is not allowed: give an int >= 1"),
        ({"repeat": 3}, "inference_benchmark key 'repeat' is not allowed: one of dataloader, warmup_batches, "),
        ({"rel_precision": 5}, "rel_precision=5 is not allowed: give a fraction in (0, 1) or None"),
        ({"max_seconds": "10s"}, "max_seconds='10s' is not allowed: give seconds > 0 or None"),
        ({"repeats": 6, "max_repeats": 3}, "max_repeats=3 is not allowed: give an int >= repeats (6)"),
        # a precision target that no run can reach: 5 repeats have no 95% interval of their median (every trial then
        # warned 'known only to +-inf%' and was marked imprecise)
        (
            {"repeats": 3, "max_repeats": 5},
            "max_repeats=5 is not allowed: give an int >= 6 with rel_precision=0.05 (the fewest repeats whose median",
        ),
        ({"keep_for_confirm": "yes"}, "keep_for_confirm='yes' is not allowed: give true or false"),
    ],
)
def test_bad_inference_benchmark_settings_stop_at_construction_with_one_line(value, message):
    """Regression (first-hour audit, 2026-11-28): these were accepted and failed only after the whole fit, with
    ``AttributeError: 'str' object has no attribute 'keep_for_confirm'`` or a ``TypeError`` comparing int and str;
    in a sweep every trial trained and then failed the same way."""
    with pytest.raises(ValueError) as err:
        EnergyCallback(inference_benchmark=value)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    with pytest.raises(ValueError):  # the setter checks the same
        EnergyCallback().inference_benchmark = value


def test_numpy_and_omegaconf_settings_are_taken():
    import numpy as np
    from omegaconf import OmegaConf

    cb = EnergyCallback(inference_benchmark=OmegaConf.create({"repeats": 3, "rel_precision": 0.1}))
    assert (cb.inference_benchmark.repeats, cb.inference_benchmark.rel_precision) == (3, 0.1)
    assert EnergyCallback(inference_benchmark={"repeats": np.int64(4)}).inference_benchmark.repeats == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"summary_path": "/tmp"}, "summary_path='/tmp' is not allowed: give the path of a JSON file (not a folder)"),
        ({"summary_path": 123}, "summary_path=123 is not allowed"),
        ({"summary_path": "out/"}, "summary_path='out/' is not allowed: give the path of a JSON file (not a folder)"),
        ({"price_per_kWh": -1}, "price_per_kWh=-1 is not allowed: give a finite number >= 0"),
        ({"pue": float("nan")}, "pue=nan is not allowed: give a finite number >= 1"),
        ({"pue": "1.2"}, "pue='1.2' is not allowed"),
        ({"currency": ""}, "currency='' is not allowed"),  # logged cost/total_
        ({"proxies": "no"}, "proxies='no' is not allowed: give True or False"),  # read as true
        ({"idle_baseline_s": True}, "idle_baseline_s=True is not allowed"),  # measured 1 s
        ({"idle_baseline_s": float("inf")}, "idle_baseline_s=inf is not allowed"),  # OverflowError at fit start
        ({"cpu_watts_per_core": "6"}, "cpu_watts_per_core='6' is not allowed"),
        ({"batch_size_fn": 4}, "batch_size_fn=4 is not allowed: give a function (batch) -> int, or None"),
        ({"length_fn": "len"}, "length_fn='len' is not allowed"),
        ({"monitor": "x"}, "monitor='x' is not allowed: give an EnergyMonitor"),
        ({"inference_benchmark": {"dataloader": 5}}, "dataloader=5 is not allowed"),  # a TypeError at fit end
        ({"cpu": "gpu"}, "cpu='gpu' is not allowed: use 'auto', True, 'rapl', 'estimate' or False"),  # at fit set-up
        ({"cpu": None}, "cpu=None is not allowed"),
    ],
)
def test_bad_settings_stop_at_construction(kwargs, message):
    """Regression (callback audit, 2026-11-28): a folder as summary_path failed at the first epoch end with a raw
    IsADirectoryError and left a temp file beside it; a bad price or PUE failed after a whole training epoch; the
    settings below it were raw TypeErrors at fit, or accepted and read wrongly; a bad ``cpu`` failed only at fit set-up,
    and a folder not yet made (``'out/'``) at the first epoch end with a raw NotADirectoryError (2026-11-29)."""
    with pytest.raises(ValueError) as err:
        EnergyCallback(**kwargs)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "count",
    [
        -1,  # regression (callback audit): a negative count was logged as a negative J per sample
        # regressions (energy audit, 2026-11-29): truncated or taken as a number without a word, so J per sample
        # was divided by a count the function never gave
        2.5,
        True,
        "8",
    ],
)
def test_a_count_from_batch_size_fn_that_is_not_a_whole_number_stops_at_the_first_batch(tmp_path: Path, count) -> None:
    trainer = make_trainer(tmp_path, [EnergyCallback(batch_size_fn=lambda batch: count)], loggers=False)
    with pytest.raises(ValueError, match=rf"^batch_size_fn returned {re.escape(repr(count))} for a batch: give the "):
        trainer.fit(TinyModel())


class _TextRows(TinyModel):
    """Batches with no tensor in them: lists of comma-separated rows, parsed in the steps."""

    @staticmethod
    def _parse(batch):
        import torch

        rows = torch.tensor([[float(v) for v in row.split(",")] for row in batch])
        return rows[:, :16], rows[:, 16].long()

    @override
    def training_step(self, batch, batch_idx):
        return super().training_step(self._parse(batch), batch_idx)

    @override
    def train_dataloader(self):
        from torch.utils.data import DataLoader

        x, y = next(iter(loader(64, 64)))
        rows = [",".join(str(float(v)) for v in [*xi.tolist(), float(yi)]) for xi, yi in zip(x, y, strict=True)]
        return DataLoader(rows, batch_size=8, collate_fn=list)


def test_a_batch_with_no_tensor_says_how_to_count_its_samples(tmp_path: Path) -> None:
    """Regression (callback audit, 2026-11-29): a batch with no tensor (text rows, parsed in training_step) counted
    0 samples without a word, so ``energy/train_per_sample_J`` was silently never logged."""
    trainer = make_trainer(tmp_path, [EnergyCallback()], loggers=False, limit_val_batches=0)
    with pytest.warns(EnergyWarning, match=r"no tensor in a batch of type list: its samples are not counted"):
        trainer.fit(_TextRows())
    assert "energy/train_per_sample_J" not in trainer.callback_metrics
    counted = make_trainer(tmp_path / "b", [EnergyCallback(batch_size_fn=len)], loggers=False, limit_val_batches=0)
    counted.fit(_TextRows())
    assert float(counted.callback_metrics["energy/train_per_sample_J"]) > 0


def test_a_resumed_fit_names_the_checkpoints_sources_in_every_logger(tmp_path: Path, fake_powercap) -> None:
    """Regression (honest-sources audit, 2026-11-30): the loggers' ``energy/sources`` was set at set-up, before the
    checkpoint loaded, so a fit resumed with RAPL from a run whose CPU was estimated named RAPL alone in TensorBoard
    and CSV, though its totals held the checkpoint's estimate (the summary said ``checkpoint/cpu:0=estimate``). The
    label is given at fit start, after the checkpoint's state is loaded, and names what the summary names."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ecopt_lightning.energy.measurement import sources_text

    cb = resume_estimated_run_on_rapl(tmp_path, fake_powercap)
    label = "checkpoint/cpu:0=estimate, cpu:0=rapl, dram:0=rapl"
    assert sources_text(cb.summary()["sources"]) == label
    for name in ("tb", "csv"):
        assert f"energy/sources: {label}" in (tmp_path / "b" / name / "version_0" / "hparams.yaml").read_text()
    events = EventAccumulator(str(tmp_path / "b" / "tb" / "version_0"), size_guidance={"tensors": 0})
    events.Reload()
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("energy/sources")]
    assert [e.tensor_proto.string_val[0].decode() for e in events.Tensors(tag)] == [label]
