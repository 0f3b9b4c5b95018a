"""A job's config built from an earlier job's (``_compose.ReuseComposed``) is the config Hydra composes: the same
values, resolved and unresolved, the same node types and flags, the same resolver cache; and whatever cannot be
built that way is composed by Hydra, whose error a refused job still shows.

Each case composes a list of jobs both ways on real configs (the project's conf/, the CIFAR-10 example's, a
structured config with typed fields, apps/conf/composed.yaml with override_dirname settings and interpolations
of swept keys), counting Hydra's compositions to see which way each job took. The sweeps at the end run real
multiruns with reuse on and off and compare what each job saved."""

from __future__ import annotations

import copy
import enum
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from ecopt_lightning.sweeper._compose import FULL_COMPOSE_ENV, ReuseComposed
from ecopt_lightning.sweeper.errors import EnvSettingError

from .conftest import APPS, ROOT, run_multirun

PROJECT_CONF = ROOT / "conf"
CIFAR_CONF = ROOT / "examples" / "cifar10" / "conf"
APP_CONF = APPS / "conf"


class Counted:
    """Hydra's config loader, counting its compositions (``load_sweep_config`` calls)."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.calls = loader, 0

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        self.calls += 1
        return self.loader.load_sweep_config(master_config, sweep_overrides)


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@dataclass
class Sub:
    x: int = 0


@dataclass
class Typed:
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    maybe: float | None = None
    name: str = "a"
    color: Color = Color.RED
    sub: Sub = field(default_factory=Sub)
    osub: Sub | None = None
    anything: Any = None
    label: str = "${name}-${count}-${ratio}"


ConfigStore.instance().store(name="ecopt_test_typed", node=Typed)


def _nodes(node: Any, path: str = "") -> Iterator[tuple[Any, ...]]:
    """Every node of a config: its path, class, declared type, object type, optionality and flags."""
    meta = node._metadata
    yield path, type(node).__name__, meta.ref_type, meta.object_type, meta.optional, dict(meta.flags)
    if isinstance(node, DictConfig) and not (node._is_none() or node._is_missing() or node._is_interpolation()):
        for key in node:
            yield from _nodes(node._get_node(key), f"{path}.{key}")
    elif isinstance(node, ListConfig) and not (node._is_none() or node._is_missing() or node._is_interpolation()):
        for i in range(len(node)):
            yield from _nodes(node._get_node(i), f"{path}[{i}]")


def _resolved(cfg: DictConfig) -> Any:
    """The config resolved as the job sees it (the launcher's fields set as it sets them)."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.hydra.job.num, cfg.hydra.job.id = 3, "3"
        cfg.hydra.runtime.output_dir = "/sweep/3"
    HydraConfig.instance().set_config(cfg)
    return OmegaConf.to_container(cfg, resolve=True)


def assert_same(built: DictConfig, composed: DictConfig) -> None:
    assert OmegaConf.to_container(built, resolve=False) == OmegaConf.to_container(composed, resolve=False)
    assert list(_nodes(built)) == list(_nodes(composed))
    assert OmegaConf.get_cache(built) == OmegaConf.get_cache(composed)
    assert _resolved(built) == _resolved(composed)


class Both:
    """A master config as a multirun composes it, and each job's config composed both ways."""

    def __init__(self, config_dir: Path, config_name: str, master_overrides: Sequence[str] = ()) -> None:
        self.hydra = initialize_config_dir(config_dir=str(config_dir), version_base=None)
        self.hydra.__enter__()
        self.loader = GlobalHydra.instance().config_loader()
        self.master = self.loader.load_configuration(config_name, list(master_overrides), run_mode=RunMode.MULTIRUN)
        OmegaConf.select(self.master, "hydra.run.dir")  # ${now:} cached in the master, as a sweep's first read does
        self.counted = Counted(self.loader)
        self.reuse = ReuseComposed(self.counted, enabled=True)

    def job(self, *overrides: str) -> DictConfig:
        """The job's config built (or composed) by ReuseComposed, checked against Hydra's own."""
        built = self.reuse.load_sweep_config(self.master, list(overrides))
        assert_same(built, self.loader.load_sweep_config(self.master, list(overrides)))
        return built

    def composes(self, *jobs: Sequence[str]) -> list[int]:
        """Check each job; for each, 1 where Hydra composed it, 0 where it was built from an earlier one."""
        counts = []
        for overrides in jobs:
            before = self.counted.calls
            self.job(*overrides)
            counts.append(self.counted.calls - before)
        return counts

    def close(self) -> None:
        self.hydra.__exit__(None, None, None)


@pytest.fixture
def both() -> Iterator[Any]:
    opened: list[Both] = []

    def open_(config_dir: Path, config_name: str, *master_overrides: str) -> Both:
        opened.append(Both(config_dir, config_name, master_overrides))
        return opened[-1]

    yield open_
    for b in opened:
        b.close()


def test_the_projects_train_config_is_built_from_the_first_job_for_new_values(both) -> None:
    b = both(PROJECT_CONF, "train")
    keys = ("model.width", "model.depth", "model.lr", "data.batch_size")
    jobs = [
        (8, 1, 0.001, 16),
        (256, 2, 0.0299, 128),
        (16, 3, "3e-4", 32),
        (16, 3, "3e-4", 32),  # a repeat
        (64, "null", "true", "'64'"),  # other types: null, bool, a quoted str
        ("abc", 2, 1, 64),  # an int key given a str: untyped yaml takes it
    ]
    assert b.composes(*([f"{k}={v}" for k, v in zip(keys, job, strict=True)] for job in jobs)) == [1, 0, 0, 0, 0, 0]
    assert isinstance(b.reuse._templates[0].config, bytes)  # kept pickled: copied by unpickling


def test_the_cifar10_search_with_a_group_added_and_a_list_value_repeated_by_each_job(both) -> None:
    b = both(CIFAR_CONF, "cifar10", "hydra/sweeper=ecopt", "+search=smoke")

    def job(sizes: str, filters: int, depth: int, kernel: int, pool: bool) -> list[str]:
        fixed = ["+search=smoke", "data.fake=true", f"data.fake_sizes={sizes}", "data.num_workers=0"]
        plain = [f"model.filters={filters}", f"model.depth={depth}", f"model.kernel_size={kernel}"]
        return [*fixed, *plain, f"model.pool={str(pool).lower()}"]

    jobs = [
        job("[160,32]", 4, 2, 3, True),
        job("[160,32]", 16, 1, 5, False),
        job("[160,32]", 1, 3, 1, True),
        job("[64,16]", 1, 3, 1, True),  # a different list value: composed by Hydra
    ]
    assert b.composes(*jobs) == [1, 0, 0, 1]
    assert b.job(*jobs[0]).hydra.runtime.choices.search == "smoke"


def test_typed_fields_convert_and_validate_as_when_hydra_composes(both, tmp_path: Path) -> None:
    b = both(tmp_path, "ecopt_test_typed")
    keys = ("count", "ratio", "flag", "maybe", "name", "color", "sub.x", "osub", "anything")
    jobs = [
        (2, 1, "true", "null", 123, "GREEN", 5, "null", 1),
        (7, 3, "false", 0.25, "hello", "RED", "'6'", "null", "null"),  # int into float, a str of digits into int
        (0, 2.5, "True", 1, "''", 2, -1, "null", "x"),  # an int into Optional[float], an enum by value
        ("'9'", "'1e-3'", "no", "null", "'null'", "GREEN", 0, "null", 2.0),  # strs that Hydra converts
    ]
    assert b.composes(*([f"{k}={v}" for k, v in zip(keys, job, strict=True)] for job in jobs)) == [1, 0, 0, 0]
    built = b.job(*(f"{k}={v}" for k, v in zip(keys, jobs[2], strict=True)))
    assert (built.count, built.ratio, built.maybe, built.color, built.label) == (0, 2.5, 1.0, Color.GREEN, "-0-2.5")


def test_a_config_that_cannot_be_pickled_is_built_from_a_deep_copy(both, tmp_path: Path) -> None:
    @dataclass
    class Local:  # pickle cannot name a class defined in a function
        count: int = 1
        ratio: float = 0.5

    ConfigStore.instance().store(name="ecopt_test_local", node=Local)
    b = both(tmp_path, "ecopt_test_local")
    assert b.composes(["count=2", "ratio=1"], ["count=3", "ratio=2"]) == [1, 0]
    assert not isinstance(b.reuse._templates[0].config, bytes)


@pytest.mark.parametrize(
    "bad",
    ["count=abc", "count=1.5", "flag=maybe", "color=BLUE", "sub.x=[1]", "osub=3", "ratio=null"],
)
def test_a_value_hydra_refuses_fails_with_hydras_own_error(both, tmp_path: Path, bad: str) -> None:
    b = both(tmp_path, "ecopt_test_typed")
    good = ["count=2", "ratio=1.0", "flag=true", "color=RED", "sub.x=1", "osub=null"]
    assert b.composes(good, ["count=3", *good[1:]]) == [1, 0]  # a template fits the bad job's keys
    job = [bad if o.split("=")[0] == bad.split("=")[0] else o for o in good]
    with pytest.raises(ConfigCompositionException) as hydras:
        b.loader.load_sweep_config(b.master, job)
    calls = b.counted.calls
    with pytest.raises(ConfigCompositionException) as ours:
        b.reuse.load_sweep_config(b.master, job)
    assert b.counted.calls == calls + 1  # Hydra composed it: its error, not ours
    assert str(ours.value) == str(hydras.value)
    assert str(ours.value.__cause__) == str(hydras.value.__cause__)


def test_override_dirname_settings_interpolations_and_group_choices(both) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt", "hydra.job.config.override_dirname.kv_sep=:")
    jobs = [
        ["seed=3", "arch=small", "width=8", "lr=0.1"],
        ["seed=4", "arch=small", "width=16", "lr=0.001"],  # seed is in exclude_keys; the dirname changes anyway
        ["seed=4", "arch=large", "width=16", "lr=0.001"],  # another group choice: composed
        ["seed=5", "arch=large", "width=32", "lr=1e-2"],  # ... and a template for the next large ones
        ["seed=5", "arch=small", "width=32", "lr=1e-2"],  # small's template is still kept
        ["seed=5", "width=32", "lr=1e-2", "arch=small"],  # another order: other lines, composed
    ]
    assert b.composes(*jobs) == [1, 0, 1, 0, 0, 1]
    built = b.job(*jobs[3])
    assert built.hydra.job.override_dirname == "arch:large__lr:1e-2__width:32"
    assert _resolved(built)["tag"] == "w32-lr0.01-large"
    assert _resolved(built)["arch"]["extra"] == 32


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (["width=8", "lr=0.1"], ["width=8", "lr=0.1", "depth=2"]),  # another set of keys
        (["width=8"], ["lr=0.1"]),
        (["width=8", "lr=0.1"], ["lr=0.1", "width=8"]),  # another order
        (["width=8", "+extra=1"], ["width=8", "+extra=2"]),  # + of a config value
        (["width=8", "++depth=2"], ["width=8", "++depth=3"]),
        (["width=8", "~seed"], ["width=8", "~seed=0"]),
        (["width=8", "optim.betas=[0.9,0.99]"], ["width=8", "optim.betas=[0.8,0.99]"]),  # a list value
        (["width=8", "optim={name: sgd}"], ["width=8", "optim={name: adam}"]),  # a dict value
        (["width=8", "tag=x"], ["width=8", "tag=${lr}"]),  # an interpolation
        (["width=8", "hydra.job.name=a"], ["width=16", "hydra.job.name=a"]),  # a hydra. key, even repeated
        (["width=8", "optim.name=sgd", "optim=null"], ["width=16", "optim.name=adam", "optim=null"]),  # nested
        (["width=8", "optim={name: sgd}", "optim.name=a"], ["width=16", "optim={name: sgd}", "optim.name=b"]),
        (["width=8", "arch=small"], ["width=8", "arch=large"]),  # another group choice
    ],
)
def test_what_is_not_a_new_plain_value_is_composed_by_hydra(both, first: list[str], then: list[str]) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    assert b.composes(first, then) == [1, 1]


@pytest.mark.parametrize(
    "repeated",
    [["+extra=1"], ["++depth=2"], ["~seed"], ["optim.betas=[0.9,0.99]"], ["optim={name: sgd}"], ["arch=large"]],
)
def test_overrides_repeated_by_each_job_leave_the_plain_values_to_be_built(both, repeated: list[str]) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    assert b.composes(["width=8", *repeated, "lr=0.1"], ["width=16", *repeated, "lr=1"]) == [1, 0]


def test_a_sweep_value_is_refused_by_hydra_as_without_reuse(both) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    b.job("width=8")
    with pytest.raises(ConfigCompositionException, match="sweep"):
        b.reuse.load_sweep_config(b.master, ["width=8,16"])


def test_copied_environment_and_working_dir_are_read_again_for_each_job(
    both, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ECOPT_TEST_COPIED", "first")
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt", "hydra.job.env_copy=[ECOPT_TEST_COPIED]")
    assert b.composes(["width=8"]) == [1]
    monkeypatch.setenv("ECOPT_TEST_COPIED", "second")
    monkeypatch.chdir(tmp_path)
    assert b.composes(["width=16"]) == [0]
    built = b.job("width=32")
    assert (built.hydra.job.env_set.ECOPT_TEST_COPIED, built.hydra.runtime.cwd) == ("second", str(tmp_path))


def test_a_template_never_changes_with_the_configs_handed_out(both) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    first = b.job("width=8", "lr=0.1")
    with open_dict(first):  # the launcher sets the job's number on the config it is handed
        first.hydra.job.num, first.width = 0, 1000
    assert b.composes(["width=8", "lr=0.2"]) == [0]
    assert OmegaConf.is_missing(b.job("width=8", "lr=0.3").hydra.job, "num")


def test_a_bad_switch_value_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FULL_COMPOSE_ENV, "false")
    with pytest.raises(EnvSettingError, match=r"^ECOPT_FULL_COMPOSE='false' is not allowed: 1 .* or 0$"):
        ReuseComposed(object())


def test_the_masters_resolver_cache_is_copied_as_it_is_when_each_job_is_built(both) -> None:
    calls = iter(range(1, 100))
    OmegaConf.register_new_resolver("ecopt_test_calls", lambda: next(calls), use_cache=True, replace=True)
    stamp = "+stamp=${ecopt_test_calls:}"
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt", stamp)
    b.reuse.load_sweep_config(b.master, [stamp, "width=8"])  # the template, composed before any call
    assert b.master.stamp == 1  # cached in the master after the template was composed
    assert b.composes([stamp, "width=16"]) == [0]
    assert b.job(stamp, "width=32").stamp == 1


def test_reuse_off_composes_every_job(both, monkeypatch: pytest.MonkeyPatch) -> None:
    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    monkeypatch.setenv(FULL_COMPOSE_ENV, "1")
    b.reuse = ReuseComposed(b.counted)
    assert b.composes(["width=8"], ["width=16"]) == [1, 1]


def test_a_config_no_template_can_be_made_of_is_still_handed_out() -> None:
    class Odd:  # a loader whose config lacks hydra.runtime.choices
        def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
            return OmegaConf.create({"x": 1})

    master = OmegaConf.create({"hydra": {"overrides": {"hydra": []}, "job": {"config_name": "odd"}}})
    reuse = ReuseComposed(Odd(), enabled=True)
    assert reuse.load_sweep_config(master, ["x=1"]) == {"x": 1}
    assert reuse._templates == []


def test_another_hydra_release_composes_every_job(
    both, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import hydra

    b = both(APP_CONF, "composed", "hydra/sweeper=ecopt")
    monkeypatch.setattr(hydra, "__version__", "1.4.0")
    caplog.set_level(logging.INFO, logger="ecopt_lightning.sweeper._compose")
    b.reuse = ReuseComposed(b.counted)
    assert b.composes(["width=8"], ["width=16"]) == [1, 1]
    assert "Hydra 1.4.0 composes each job's config" in caplog.text


# ---- real multiruns ---------------------------------------------------------------------------------------------
SWEEP = ("width=choice(8,16,32)", "lr=interval(0.001,0.1)", "arch=choice(small,large)", "seed=3")


def _jobs(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """Each job's saved files (resolved.yaml, .hydra/*.yaml) by job number, the sweep dir's path taken out."""
    jobs = {}
    for job_dir in sweep_dir.iterdir():
        if not (job_dir / "resolved.yaml").exists():
            continue
        files = [job_dir / "resolved.yaml", *sorted((job_dir / ".hydra").glob("*.yaml"))]
        texts = {f.name: f.read_text().replace(str(sweep_dir), "SWEEP") for f in files}
        jobs[job_dir.name.split("_")[0]] = {name: yaml.safe_load(text) for name, text in texts.items()}
    return jobs


@pytest.mark.slow
def test_a_sweep_saves_the_same_job_configs_with_reuse_on_and_off(tmp_path: Path) -> None:
    runs, composes = {}, {}
    for name, full in (("on", "0"), ("off", "1")):
        counts = tmp_path / f"counts-{name}.json"
        env = {FULL_COMPOSE_ENV: full, "ECOPT_TEST_APP": "composed.py", "ECOPT_TEST_TRIAL_READS": str(counts)}
        settings = ("hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=6")
        proc = run_multirun(tmp_path / name, *SWEEP, *settings, app="counted.py", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = _jobs(tmp_path / name)
        composes[name] = json.loads(counts.read_text())["composes"]
    assert sorted(runs["on"]) == [str(i) for i in range(6)]
    assert runs["on"] == runs["off"]
    # Hydra composes the up-front check's config, then at most one per arch choice; without reuse, every job's
    assert composes["on"] <= 1 + 2
    assert composes["off"] == 1 + 6
    first = runs["on"]["0"]
    assert first["resolved.yaml"]["run_dir"].startswith("SWEEP/0_")
    assert first["hydra.yaml"]["hydra"]["job"]["override_dirname"] in first["resolved.yaml"]["run_dir"]
