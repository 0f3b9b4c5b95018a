"""Framework internals behind one door: each private the compat modules read still exists in the installed
Optuna, joblib and Hydra, each public fallback agrees with the private it stands in for, and no other module
reads a private attribute of Lightning, Optuna, joblib or Hydra (Lightning's own check:
tests/callback/test_lightning_compat.py)."""

from __future__ import annotations

import ast
import importlib
import os
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper import _hydra_compat, _joblib_compat, _optuna_compat
from ecopt_lightning.sweeper._storage import with_driver

ROOT = Path(__file__).parents[2]
SCANNED = ("ecopt_lightning", "hydra_plugins", "benchmarks", "examples")
COMPAT_MODULES = {"_optuna_compat.py", "_joblib_compat.py", "_lightning_compat.py", "_hydra_compat.py"}
FRAMEWORKS = {"optuna", "joblib", "lightning", "pytorch_lightning", "lightning_fabric", "hydra"}
OPTUNA_MAJOR = int(optuna.__version__.split(".")[0])


def _resolve(path: str) -> object:
    """A module or an attribute of one, from a dotted path (``optuna.trial.Trial``)."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(
    ("owner", "attribute"), _optuna_compat.PRIVATES + _joblib_compat.PRIVATES + _hydra_compat.PRIVATES
)
def test_each_private_the_compat_modules_read_still_exists(owner: str, attribute: str) -> None:
    found = _resolve(owner)
    if attribute in ("_trial_id", "_storage", "_study_id"):  # instance attributes: look on live objects
        study = optuna.create_study()
        trial = study.ask()
        found = {"Trial": trial, "FrozenTrial": study.trials[0], "Study": study}[owner.rpartition(".")[2]]
    if attribute == "_backend":  # instance attribute of the cache wrapping an RDB storage
        found = optuna.storages.get_storage("sqlite:///:memory:")
    assert hasattr(found, attribute), f"{owner}.{attribute} is gone in this release: update {owner.split('.')[0]}"


def test_trial_and_study_ids_match_their_public_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study()
    study.ask()
    trial = study.ask()
    assert _optuna_compat.trial_id(trial) == _optuna_compat.trial_id_by_number(study, 1)
    assert _optuna_compat.trial_id(study.trials[1]) == _optuna_compat.trial_id(trial)
    own = _optuna_compat.study_id(study)
    monkeypatch.setattr(study, "_study_id", None)  # the fallback: a lookup by the study's name
    assert _optuna_compat.study_id(study) == own


def test_a_reopened_live_trial_writes_to_the_same_trial() -> None:
    study = optuna.create_study()
    study.ask()
    _optuna_compat.live_trial(study, 0).set_user_attr("seen", True)
    assert study.trials[0].user_attrs == {"seen": True}


def test_system_attributes_land_on_the_trial() -> None:
    study = optuna.create_study()
    trial = study.ask()
    _optuna_compat.set_trial_system_attr(study, trial, _optuna_compat.constraints_key(), [0.5])
    assert study.trials[0].system_attrs[_optuna_compat.constraints_key()] == [0.5]


DISTRIBUTIONS = [
    FloatDistribution(0.1, 1.0),
    FloatDistribution(1e-4, 1e-1, log=True),
    FloatDistribution(0.0, 1.0, step=0.25),
    IntDistribution(1, 9, step=2),
    IntDistribution(1, 1024, log=True),
    CategoricalDistribution(["adam", "sgd", None, 3]),
]
VALUES = [None, -1, 0, 0.05, 0.1, 0.3, 0.5, 1, 1.0, 2, 3, 4, 9, 10, 1024, 2000, float("nan"), "adam", "rmsprop"]


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=repr)
def test_the_public_containment_check_agrees_with_optunas_own(dist: optuna.distributions.BaseDistribution) -> None:
    answers = [(v, _optuna_compat.contains(dist, v), _optuna_compat.contains_public(dist, v)) for v in VALUES]
    assert [a for a in answers if a[1] != a[2]] == []
    assert any(a[1] for a in answers) and not all(a[1] for a in answers)


def test_killing_the_loky_workers_gives_the_next_batch_new_processes() -> None:
    from joblib.externals.loky import get_reusable_executor

    first = get_reusable_executor(max_workers=1).submit(os.getpid).result()
    assert _joblib_compat.loky_executor() is not None
    _joblib_compat.kill_loky_workers()
    second = get_reusable_executor(max_workers=1).submit(os.getpid).result()
    _joblib_compat.kill_loky_workers()
    assert first != second


@pytest.mark.parametrize(
    ("lines", "exclude_keys", "item_sep", "kv_sep"),
    [
        (["lr=0.1", "seed=3", "width=8"], ["seed"], ",", "="),
        (["width=8", "arch='large'", "lr=1e-3", "tag='a=b'"], [], "__", "-"),
        (["+extra=1", "~seed", "b=[1,2]", "a={x: 1}"], ["a"], "/", ":"),
        ([], [], ",", "="),
    ],
)
def test_the_public_override_dirname_agrees_with_hydras_own(
    lines: list[str], exclude_keys: list[str], item_sep: str, kv_sep: str
) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(lines)
    kwargs = {"exclude_keys": exclude_keys, "item_sep": item_sep, "kv_sep": kv_sep}
    assert _hydra_compat.override_dirname(parsed, **kwargs) == _hydra_compat.override_dirname_public(parsed, **kwargs)


def test_hydras_message_for_a_key_the_config_lacks_is_still_read(tmp_path: Path) -> None:
    """``missing_override_key`` reads Hydra's message (it has no structured form): compose one on this release."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    (tmp_path / "app.yaml").write_text("model:\n  width: 8\n")
    with (
        initialize_config_dir(config_dir=str(tmp_path), version_base=None),
        pytest.raises(ConfigCompositionException) as refused,
    ):
        compose("app", overrides=["model.widht=16"])
    assert _hydra_compat.missing_override_key(refused.value) == "model.widht"
    assert _hydra_compat.missing_override_key(ValueError("Could not load 'x'")) is None


def _framework_privates(path: Path) -> list[str]:
    """``file:line: code`` for each private attribute read on an object other than ``self``/``cls``, each
    ``getattr``/``hasattr`` of a private name, and each import of a framework's private module or name."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        name = ""
        if isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        ):
            name = node.attr
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                name = node.args[1].value
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in FRAMEWORKS:
            parts = str(node.module).split(".") + [alias.name for alias in node.names]
            name = next((p for p in parts if p.startswith("_")), "")
        if name.startswith("_") and not name.startswith("__"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_but_the_compat_modules_reads_a_framework_private() -> None:
    files = [p for d in SCANNED for p in (ROOT / d).rglob("*.py") if ".venv" not in str(p.relative_to(ROOT))]
    assert len(files) > 20
    offences = [hit for p in files if p.name not in COMPAT_MODULES for hit in _framework_privates(p)]
    assert offences == []


def test_the_scan_sees_a_private_read() -> None:
    sample = ROOT / "ecopt_lightning" / "sweeper" / "_optuna_compat.py"
    assert any("_get_stale_trial_ids" in hit for hit in _framework_privates(sample))


def test_set_user_attrs_writes_every_attribute_in_one_transaction_on_rdb_and_one_by_one_elsewhere(tmp_path) -> None:
    for url in (f"sqlite:///{tmp_path / 'a.db'}", None):
        study = optuna.create_study(storage=url)
        trial = study.ask()
        _optuna_compat.set_user_attrs(study, trial, {"a": 1.5, "ecopt.job_dir": "/x", "b": [1, 2]})
        _optuna_compat.set_user_attrs(study, trial, {"a": 2.5})
        study.tell(trial, 1.0)
        assert study.trials[0].user_attrs == {"a": 2.5, "ecopt.job_dir": "/x", "b": [1, 2]}


def _statements(storage: optuna.storages.RDBStorage) -> list[str]:
    """Every SQL statement ``storage`` sends from now on (``<COMMIT>`` for a commit)."""
    from sqlalchemy import event

    sent: list[str] = []
    event.listen(storage.engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: sent.append(statement))
    event.listen(storage.engine, "commit", lambda conn: sent.append("<COMMIT>"))
    return sent


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_write_trials_stores_a_whole_claim_in_one_transaction_of_a_few_statements(tmp_path: Path, database) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}" if database == "sqlite" else os.environ.get("ECOPT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ECOPT_TEST_POSTGRES_URL is unset: run `bash scripts/postgres.sh` or .ci/run (CI sets it)")
    user = {f"metric{i}": float(i) for i in range(8)} | {"ecopt.job_dir": "/x", "nested": {"a": [1, 2]}}
    system = {"constraints": [0.5, -1.0], "other": "y"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeat_interval: experimental
        storage = optuna.storages.RDBStorage(with_driver(url), heartbeat_interval=60)
    stored = {}
    for name, where in ((database, storage), ("in memory", None)):
        study = optuna.create_study(storage=where)
        trial = study.ask()
        sent = _statements(where) if where is not None else []
        beats = where is not None  # an in-memory storage keeps no heartbeats
        _optuna_compat.write_trials(study, [_optuna_compat.TrialWrite(trial, user, system, heartbeat=beats)])
        _optuna_compat.write_trials(study, [_optuna_compat.TrialWrite(trial, {"metric0": 9.0}, heartbeat=beats)])
        frozen = study.trials[0]
        stored[name] = (frozen.user_attrs, {k: v for k, v in frozen.system_attrs.items() if k in system})
        if where is None:
            continue
        first = sent[: sent.index("<COMMIT>") + 1]
        # the trial's row (is it still running?), one upsert per attribute table, the heartbeat's row: read, made
        assert len(first) - 1 <= 5 and first.count("<COMMIT>") == 1, first  # one select + one insert each were 20
        with storage.engine.connect() as db:  # the second write moved the heartbeat, added no row
            rows = db.execute(
                sqlalchemy.text("SELECT count(*) FROM trial_heartbeats WHERE trial_id = :t"),
                {"t": _optuna_compat.trial_id(trial)},
            )
            assert rows.scalar() == 1
    assert stored[database] == stored["in memory"]
    assert stored[database][0] == {**user, "metric0": 9.0} and stored[database][1] == system


def test_write_trials_refuses_a_finished_trial_as_optunas_setters_do(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'a.db'}", None):
        study = optuna.create_study(storage=url)
        trial = study.ask()
        study.tell(trial, 1.0)
        with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
            _optuna_compat.write_trials(study, [_optuna_compat.TrialWrite(trial, {"late": 1})])
        assert "late" not in study.trials[0].user_attrs


def test_tell_stores_what_study_tell_stores_and_reads_the_trial_once(tmp_path: Path, monkeypatch) -> None:
    reads = []
    read = optuna.storages.RDBStorage.get_trial
    monkeypatch.setattr(optuna.storages.RDBStorage, "get_trial", lambda self, tid: reads.append(tid) or read(self, tid))
    outcomes = {}
    for name, tell in (("compat", _optuna_compat.tell), ("study.tell", optuna.Study.tell)):
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / name}.db", directions=["minimize", "maximize"])
        told = [study.ask() for _ in range(3)]
        reads.clear()
        tell(study, told[0], [1.0, 2.0])
        once = len(reads)
        tell(study, told[1], state=TrialState.FAIL)
        tell(study, told[2], state=TrialState.PRUNED)
        outcomes[name] = ([(t.state, t.values) for t in study.trials], once)
    assert outcomes["compat"][0] == outcomes["study.tell"][0]
    reads_compat, reads_public = outcomes["compat"][1], outcomes["study.tell"][1]
    assert reads_compat <= reads_public
    if OPTUNA_MAJOR >= 5:  # Study.tell reads the trial again to return it; Optuna 4 does inside _tell_with_warning
        assert (reads_compat, reads_public) == (1, 2)
