"""The CIFAR-10 example on FakeData: the paper's model family, the Hydra app end to end, its search config."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState

from examples.cifar10.model import PlainCnn
from examples.cifar10.train import run

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "examples" / "cifar10" / "conf"


@pytest.mark.parametrize(
    ("filters", "depth", "kernel", "pool", "side"),
    [(1, 1, 1, True, 32), (128, 6, 9, True, 1), (4, 6, 5, False, 32), (3, 2, 7, True, 16)],
)
def test_search_space_corners_build_and_run(filters, depth, kernel, pool, side):
    model = PlainCnn(filters=filters, depth=depth, kernel_size=kernel, pool=pool)
    assert model.spatial_size == side
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == depth and all(c.kernel_size == (kernel, kernel) for c in convs)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("value", [4, 3.0, True])
def test_bad_kernel_size_is_refused(value):
    # regression: 3.0 (a search's choice(1.0, 3.0)) and True passed, then Conv2d failed with "empty(): argument
    # 'size' failed to unpack the object at pos 3 ..."
    with pytest.raises(ValueError, match=rf"^model\.kernel_size={value!r} is not allowed: one of \(1, 3, 5, 7, 9\)$"):
        PlainCnn(kernel_size=value)


@pytest.mark.parametrize(("name", "value"), [("filters", 7.0), ("depth", 2.5), ("filters", True)])
def test_a_float_width_or_depth_is_refused_in_one_line(name, value):
    # interval(1, 16) in a search yields floats: Conv2d failed later with "out_channels must be divisible by groups"
    with pytest.raises(ValueError, match=rf"^model\.{name}={value!r} is not allowed: give an integer"):
        PlainCnn(**{name: value})


@pytest.mark.parametrize("value", ["flase", 1, None])
def test_a_pool_that_is_not_true_or_false_is_refused_before_training(tmp_path, value):
    """Regression: ``model.pool=flase`` (a string to Hydra, and any string is true) trained a pooled model, and
    its trial's params said ``model.pool=flase``."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        override = f"model.pool={'null' if value is None else value}"
        cfg = compose(config_name="cifar10", overrides=[override, "data.fake=true", f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=rf"^model\.pool={value!r} is not allowed: give true or false$"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.parametrize(("key", "value"), [("fake", "flase"), ("download", "ture"), ("fake", 0)])
def test_a_data_flag_that_is_not_true_or_false_is_refused(tmp_path, key, value):
    """Regression: ``data.fake=flase`` (a string to Hydra, and any string is true) trained on FakeData's random
    images, with chance-level accuracy and nothing said; ``data.download=ture`` downloaded 170 MB."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        overrides = [f"data.{key}={value}", "data.fake_sizes=[40,16]", "trainer.max_epochs=1", "energy.cpu=estimate"]
        overrides += ["data.num_workers=0", f"output_dir={tmp_path}", *(["data.fake=true"] if key != "fake" else [])]
        cfg = compose(config_name="cifar10", overrides=overrides)
    with pytest.raises(ValueError, match=rf"^data\.{key}={value!r} is not allowed: give true or false$"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.parametrize(
    ("sizes", "why"),
    [
        ("[40]", r"is not allowed: give \[train, test\], two integers >= 1$"),
        ("[40,0]", r"is not allowed: give \[train, test\], two integers >= 1$"),
        ("[2,16]", r"is not allowed with data\.val_size=10000: 0 of its 2 training images would be for validation; "),
    ],
)
def test_fake_sizes_that_leave_a_split_empty_are_refused(tmp_path, sizes, why):
    """Regression: ``data.fake_sizes=[40]`` stopped with 'not enough values to unpack (expected 2, got 1)';
    ``[2,16]`` left the validation split empty and Lightning failed on an early stopping metric it never saw;
    ``[40,0]`` trained, then tested on no image, so the trial returned no ``test_acc``."""
    overrides = ["data.fake=true", f"data.fake_sizes={sizes}", "data.num_workers=0", "trainer.max_epochs=1"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=[*overrides, "energy.cpu=estimate", f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"^data\.fake_sizes=\[[0-9, ]+\] " + why):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.parametrize("value", [-1.0, 0, "fast"])
def test_a_learning_rate_that_is_not_positive_is_refused_before_training(tmp_path, value):
    """Regression: ``optim.lr=-1`` measured the untrained model's inference energy (in a pruning sweep), then fit
    stopped inside Adam with 'Invalid learning rate: -1.0', naming no key; ``optim.lr=fast`` with 'could not convert
    string to float'; ``optim.lr=0`` trained nothing and said nothing."""
    overrides = [f"optim.lr={value}", "data.fake=true", "data.fake_sizes=[40,16]", "data.num_workers=0"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=[*overrides, "energy.cpu=estimate", f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=rf"^optim\.lr={value!r} is not allowed: give a learning rate > 0$"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.parametrize("value", [-1, 2.5, "long"])
def test_a_patience_that_is_not_a_count_of_epochs_is_refused_before_training(tmp_path, value):
    """Regression: ``early_stopping.patience=-1`` stopped at the first epoch without a lower val_loss, as 0 does,
    and 2.5 waited 2 epochs, with nothing said; ``long`` failed with "invalid literal for int()", naming no key."""
    overrides = [f"early_stopping.patience={value}", "data.fake=true", "data.fake_sizes=[40,16]", "data.num_workers=0"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=[*overrides, "trainer.max_epochs=1", f"output_dir={tmp_path}"])
    with pytest.raises(
        ValueError, match=rf"^early_stopping\.patience={value!r} is not allowed: give an integer >= 0 \(epochs\)$"
    ):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("batch_size", "abc", "an integer >= 1"),
        ("batch_size", 2.5, "an integer >= 1"),
        ("val_size", "abc", "an integer in 1..49999"),
        ("num_workers", -1, r"an integer >= 0 \(0: no workers\)"),
        ("num_workers", 1.5, r"an integer >= 0 \(0: no workers\)"),
    ],
)
def test_a_data_count_that_is_not_an_integer_is_refused_naming_its_key(tmp_path, key, value, allowed):
    """Regression: ``data.batch_size=abc`` failed with "'<' not supported between instances of 'str' and 'int'",
    ``data.num_workers=1.5`` with "'float' object cannot be interpreted as an integer", ``-1`` and a batch size
    of 2.5 inside DataLoader: none named the config key."""
    overrides = [f"data.{key}={value}", "data.fake=true", "data.fake_sizes=[40,16]", "trainer.max_epochs=1"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=[*overrides, f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=rf"^data\.{key}={value!r} is not allowed: give {allowed}$"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


def test_the_pre_training_check_measures_as_the_benchmark_does(monkeypatch, tmp_path):
    """Regression: the app's check before training ran on 1 torch thread in float32 whatever the benchmark after
    fit ran on: with ``+energy.inference_benchmark.threads=2`` and ``+trainer.precision=bf16-mixed`` a constraint
    pruned the untrained model by a J per image measured otherwise than the trained one's."""
    from examples.cifar10 import train

    seen: list[dict] = []
    monkeypatch.setattr(train, "check_before_training", lambda *a, **kw: seen.append(kw))
    overrides = ["data.fake=true", "data.fake_sizes=[40,16]", "data.num_workers=0", "trainer.max_epochs=1"]
    overrides += ["+energy.inference_benchmark.threads=2", "+trainer.precision=bf16-mixed", "energy.cpu=estimate"]
    overrides += ["energy.inference_benchmark.repeats=2", "energy.inference_benchmark.rel_precision=null"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=[*overrides, f"output_dir={tmp_path}"])
    train.run(cfg)
    (kw,) = seen
    assert kw["threads"] == 2
    # the trainer's own precision context, the one its benchmark after fit runs in
    plugin = kw["context"].__self__
    assert type(plugin).__name__ == "MixedPrecision" and plugin.precision == "bf16-mixed"


def test_a_failed_download_says_what_to_do_in_one_line(monkeypatch, tmp_path):
    """Regression: ``data.download=true`` without a network ended in a traceback of urllib's, 'URLError: <urlopen
    error [Errno -2] Name or service not known>', saying neither what failed nor what to do instead."""
    from torchvision import datasets

    # a connection refused on this machine (port 9, discard, nothing listens): no network, whatever the machine has
    monkeypatch.setattr(datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        overrides = ["data.download=true", f"data.root={tmp_path / 'cifar10'}", f"output_dir={tmp_path / 'out'}"]
        cfg = compose(config_name="cifar10", overrides=overrides)
    with pytest.raises(RuntimeError, match=r"^CIFAR-10 could not be downloaded into .*\. Check the network, set "):
        run(cfg)
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_app_on_fake_data_returns_finite_metrics(tmp_path, capsys):
    overrides = [
        "data.fake=true",
        "data.fake_sizes=[80,32]",
        "data.batch_size=16",
        "data.num_workers=0",
        "model.filters=4",
        "model.depth=2",
        "trainer.max_epochs=1",
        "energy.cpu=estimate",
        "energy.inference_benchmark.repeats=2",
        "energy.inference_benchmark.max_repeats=6",
        "energy.inference_benchmark.max_batches=2",
        f"output_dir={tmp_path}",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=overrides)
    metrics = run(cfg)

    assert all(isinstance(v, float) for v in metrics.values())
    for key in ("test_acc", "val_loss", "energy/inference_per_sample_J", "energy/total_J", "energy/train_total_J"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_acc"] <= 1.0
    assert metrics["energy/inference_per_sample_J"] > 0
    assert metrics["energy/total_J"] >= metrics["energy/train_total_J"] > 0
    summary = json.loads((tmp_path / "energy_summary.json").read_text())
    assert summary["sources"] == {"cpu:0": "estimate"}
    assert list((tmp_path / "checkpoints").glob("*.ckpt"))  # the best checkpoint was tested
    # testing it kept the fit's energy: the inference benchmark's too (it rewound to the checkpoint's totals)
    benchmark_J = summary["inference"]["energy_J"]
    assert benchmark_J > 0 and summary["phases"]["benchmark"]["energy_J"] == pytest.approx(benchmark_J, rel=1e-9)
    # the run's closing line says where its files are (it named none: the folder is Hydra's, dated)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("cifar10 filters=4 depth=2") and " J per inference sample (energy: " in last, last
    # the number carries its source: estimated on this machine (it read as a measurement)
    assert " J per inference sample (energy: 100% ESTIMATED, not measured); " in last, last
    assert last.endswith(f"; energy_summary.json, CSV logs and the best checkpoint under {tmp_path}"), last


def test_a_run_without_the_inference_benchmark_says_so_instead_of_nan(tmp_path, capsys):
    """Regression: with ``energy.inference_benchmark=null`` (or nothing to measure it) the closing line read
    'nan J per inference sample', a number where there is none."""
    overrides = ["data.fake=true", "data.fake_sizes=[40,16]", "data.batch_size=16", "data.num_workers=0"]
    overrides += ["model.filters=2", "model.depth=1", "trainer.max_epochs=1", "energy.cpu=estimate"]
    overrides += ["energy.inference_benchmark=null", f"output_dir={tmp_path}"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=overrides)
    assert "energy/inference_per_sample_J" not in run(cfg)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert " nan J" not in last and ", no J per inference sample (energy.inference_benchmark is null" in last, last


def compose_search(name: str):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(
            config_name="cifar10", overrides=["hydra/sweeper=ecopt", f"+search={name}"], return_hydra_config=True
        )
    return cfg.hydra.sweeper


@pytest.mark.parametrize("name", ["paper", "smoke"])
def test_search_configs_compose_with_the_ecopt_sweeper(name):
    from ecopt_lightning.sweeper._space import parse_space

    sweeper = compose_search(name)
    assert [o.name for o in sweeper.objectives] == ["test_acc", "energy/inference_per_sample_J"]
    space = parse_space({str(k): str(v) for k, v in sweeper.params.items()})
    assert set(space.distributions) == {"model.filters", "model.depth", "model.kernel_size", "model.pool"}
    if name == "paper":  # the paper's space: filters 1..128, depth 1..6, kernel 1/3/5/7/9
        filters, depth = space.distributions["model.filters"], space.distributions["model.depth"]
        assert (filters.low, filters.high, depth.low, depth.high) == (1, 128, 1, 6)
        assert space.distributions["model.kernel_size"].choices == (1, 3, 5, 7, 9)


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The README's smoke search (2 trials), with ``prune_before_training`` and a constraint of 1 J per image that
    no model of the smoke space comes near, so each is checked, passes and trains: the sweep dir and the
    environment to run more commands on it (shared by the tests below: one sweep, about 20 s)."""
    tmp_path = tmp_path_factory.mktemp("smoke")
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "examples" / "cifar10" / "train.py"), "-m", "hydra/sweeper=ecopt"]
    cmd += ["+search=smoke", "hydra.sweeper.n_trials=2", "hydra.sweeper.prune_before_training=true"]
    cmd += ["hydra.sweeper.constraints=['energy/inference_per_sample_J <= 1']", f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return sweep, env


@pytest.mark.slow
def test_a_pruning_sweep_checks_each_model_before_training(smoke_sweep):
    """Regression: with ``hydra.sweeper.prune_before_training=true`` the app never called
    ``check_before_training``, so no trial was ever checked or pruned, and nothing said so."""
    sweep, _ = smoke_sweep
    trials = optuna.load_study(study_name="train", storage=f"sqlite:///{sweep / 'ecopt.db'}").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:  # the untrained model's J per image, and the check's energy, counted in the trial's
        assert 0 < t.user_attrs["ecopt.pre_training.energy/inference_per_sample_J"] <= 1
        assert t.user_attrs["ecopt.pre_training.energy_J"] > 0


def test_a_misspelt_test_ckpt_is_refused_before_training(tmp_path):
    """Regression: any ``test_ckpt`` but ``best`` (``bset``, ``Best``) silently tested the last weights."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="cifar10", overrides=["test_ckpt=bset", "data.fake=true", f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"^test_ckpt='bset' is not allowed: one of best, last$"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything trained


@pytest.mark.slow
def test_the_readme_smoke_search_can_be_confirmed(smoke_sweep, tmp_path):
    """Regression: the README's smoke search ended with '... measure quietly (docs/measurement.md) or run
    `ecopt confirm`', and ``ecopt confirm`` on its sweep then measured nothing: 'no trial of the front can be
    measured again: trial 2: no ecopt_confirm/candidate.json under ...' (the app kept no model for it)."""
    sweep, env = smoke_sweep
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    cmd = [sys.executable, "-m", "ecopt_lightning.cli", "confirm", "--storage", storage, "--study", "train"]
    cmd += ["--rounds", "2", "--out", str(tmp_path / "confirmed")]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "front from confirmed values: [" in out.stdout, out.stdout
    confirmed = json.loads((tmp_path / "confirmed" / "pareto_front.json").read_text())
    assert confirmed["trials"] and all(row["confirmed"] for row in confirmed["trials"]), confirmed["trials"]
