"""One study, many workers: 8 sweeper processes reach the study through Optuna's gRPC storage proxy
(``hydra.sweeper.storage=grpc://host:port``, served by ``python -m ecopt_lightning.sweeper.grpc_proxy``) and
finish exactly ``n_trials`` with no configuration run twice."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper import _optuna_compat as compat
from ecopt_lightning.sweeper._budget import OVER_BUDGET_ERROR
from ecopt_lightning.sweeper._heartbeat import Heartbeat
from ecopt_lightning.sweeper._storage import (
    GRPC_CONNECT_TIMEOUT_ENV,
    GRPC_CONNECT_TIMEOUT_S,
    grpc_connect_timeout_s,
    open_storage,
)
from ecopt_lightning.sweeper._urls import check, password
from ecopt_lightning.sweeper.errors import EnvSettingError, SweeperConfigError
from ecopt_lightning.sweeper.grpc_proxy import STORAGE_ENV
from tests.guards import SUBPROCESS_S, wait_for
from tests.processes import ends_with_this_process, process_running
from tests.sweeper.conftest import ROOT

from .conftest import finish, ok, run, start, sweep_env

pytest.importorskip("grpc", reason="grpcio is not installed (pip install -e .[cluster])")
pytestmark = pytest.mark.slow
SPACE = ("width=choice(8,16,32,64)", "lr=tag(log, interval(1e-4, 1e-1))", "hydra.sweeper.sampler=random")
WORKERS, N_TRIALS = 8, 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def listening(proxy: subprocess.Popen, log: Path) -> None:
    """Wait until ``proxy`` logs that it listens (Optuna's line, to its stderr in ``log``): a client started before
    that waits only $ECOPT_GRPC_CONNECT_TIMEOUT_S (30 s) for it, which a loaded machine's proxy start can exceed."""
    wait_for(lambda: "Server started at" in log.read_text() or proxy.poll() is not None, what="the proxy listening")
    assert proxy.poll() is None, log.read_text()


def start_proxy(database: str, port: int, log: Path) -> subprocess.Popen:
    """Start the proxy in front of ``database``; returns once it listens."""
    proxy = subprocess.Popen(
        [sys.executable, "-m", "ecopt_lightning.sweeper.grpc_proxy", "--storage", database, "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=sweep_env(),
        preexec_fn=ends_with_this_process(),
    )
    listening(proxy, log)
    return proxy


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path: Path) -> str:
    if request.param == "sqlite":  # the proxy is the database's only client: SQLite is safe behind it
        return f"sqlite:///{tmp_path / 'behind_proxy.db'}"
    return request.getfixturevalue("postgres_url")


def test_eight_workers_through_the_grpc_proxy(tmp_path: Path, database: str, study_name: str) -> None:
    port = free_port()
    proxy = start_proxy(database, port, tmp_path / "proxy.log")
    try:
        common = (*SPACE, f"hydra.sweeper.storage=grpc://localhost:{port}", f"hydra.sweeper.study_name={study_name}")
        common += (f"hydra.sweeper.n_trials={N_TRIALS}", "sleep_s=0.05")
        workers = [start(tmp_path / f"w{i}", *common, f"hydra.sweeper.seed={i}") for i in range(WORKERS)]
        for i, proc in enumerate(workers):
            assert proc.wait(timeout=SUBPROCESS_S) == 0, Path(f"{tmp_path / f'w{i}'}.log").read_text()
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)

    # read the database itself, not through the proxy
    study = optuna.load_study(study_name=study_name, storage=open_storage(database, heartbeat_interval_s=0))
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(trials) == N_TRIALS  # exactly the budget, not one more
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == N_TRIALS  # no configuration twice
    assert len({t.user_attrs["ecopt.job_dir"] for t in trials}) == N_TRIALS  # each trial ran once
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):  # asked in a race, never launched
        assert t.user_attrs["ecopt.error"] == OVER_BUDGET_ERROR and "ecopt.job_dir" not in t.user_attrs
    assert len(study.trials) == len(trials) + len(study.get_trials(states=(TrialState.FAIL,)))
    ran = [p for i in range(WORKERS) for p in (tmp_path / f"w{i}").iterdir() if p.is_dir() and p.name.isdigit()]
    assert len(ran) == N_TRIALS
    assert not any("marked FAIL" in Path(f"{tmp_path / f'w{i}'}.log").read_text() for i in range(WORKERS))


@pytest.mark.postgres
def test_the_database_url_can_be_kept_off_the_proxys_command_line(
    tmp_path: Path, postgres_url: str, study_name
) -> None:
    """--storage was required: the database URL, password included, was on the proxy's command line, shown by ps to
    every user of its machine. It can now be given in $ECOPT_PROXY_STORAGE; with neither, one line says so."""
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.grpc_proxy", "--port", str(free_port())]
    bare = {k: v for k, v in sweep_env().items() if k != STORAGE_ENV}
    missing = subprocess.run(command, capture_output=True, text=True, env=bare, timeout=SUBPROCESS_S)
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        "--storage is missing: give it, or set ECOPT_PROXY_STORAGE (a URL with a password: keep it there)"
    ], missing.stderr
    port, log = free_port(), tmp_path / "proxy.log"
    command[-1] = str(port)
    proxy = subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**bare, STORAGE_ENV: postgres_url},
        preexec_fn=ends_with_this_process(),
    )
    try:
        listening(proxy, log)
        ok(run(tmp_path / "w0", *SPACE, f"hydra.sweeper.storage=grpc://localhost:{port}",
               f"hydra.sweeper.study_name={study_name}", "hydra.sweeper.n_trials=1"))  # fmt: skip
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    study = optuna.load_study(study_name=study_name, storage=open_storage(postgres_url, heartbeat_interval_s=0))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # the proxy served the database of the variable
    secret = password(postgres_url)
    assert secret and secret not in log.read_text() and "ecopt:***@" in log.read_text()


def test_a_malformed_grpc_url_is_refused_with_one_line() -> None:
    with pytest.raises(SweeperConfigError, match=r"storage='grpc://proxy-host' is not allowed: grpc://host:port"):
        check("grpc://proxy-host")
    assert check("grpc://proxy-host:13000") == "grpc://proxy-host:13000"


def test_an_unreachable_proxy_is_a_config_error_naming_it(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    # a short wait set through the environment (the default, 30 s, only makes the test longer)
    env = {GRPC_CONNECT_TIMEOUT_ENV: "0.5"}
    proc = run(tmp_path / "sweep", *SPACE, f"hydra.sweeper.storage=grpc://localhost:{port}", env=env)
    assert proc.returncode != 0
    assert f"no gRPC storage proxy answered at localhost:{port} within 0.5 s" in proc.stderr + proc.stdout
    assert not (tmp_path / "sweep").exists()  # nothing partial


def test_the_proxy_connect_wait_is_set_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GRPC_CONNECT_TIMEOUT_ENV, raising=False)
    assert grpc_connect_timeout_s() == GRPC_CONNECT_TIMEOUT_S == 30.0
    monkeypatch.setenv(GRPC_CONNECT_TIMEOUT_ENV, "120")
    assert grpc_connect_timeout_s() == 120.0
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv(GRPC_CONNECT_TIMEOUT_ENV, bad)
        with pytest.raises(EnvSettingError, match=rf"^ECOPT_GRPC_CONNECT_TIMEOUT_S='{bad}' is not allowed: a number"):
            open_storage("grpc://localhost:1", heartbeat_interval_s=0)  # refused before any connect


def _proxy(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.grpc_proxy", *args]
    return subprocess.run(command, capture_output=True, text=True, env=sweep_env(), timeout=SUBPROCESS_S)


@pytest.mark.parametrize(
    ("database", "shown"),
    [
        ("postgresql://ecopt:s3cret-pw@127.0.0.1:1/optuna", "--storage='postgresql://ecopt:***@127.0.0.1:1/optuna'"),
        ("postgresql://ecopt:s3cret-pw@127.0.0.1:port/optuna", "--storage='postgresql://ecopt:***@127.0.0.1:port/"),
        ("sqlite:////nonexistent-dir/proxy.db", "--storage='sqlite:////nonexistent-dir/proxy.db'"),
    ],
)
def test_a_database_the_proxy_cannot_open_is_one_line_without_the_password(database: str, shown: str) -> None:
    proc = _proxy("--storage", database, "--port", str(free_port()))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(shown) and "is not usable: opening it failed: " in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "s3cret" not in proc.stdout + proc.stderr


def test_an_address_the_proxy_cannot_listen_on_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _proxy("--storage", f"sqlite:///{tmp_path / 'p.db'}", "--host", "127.0.0.1", "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert f"--host='127.0.0.1' --port={port} is not allowed: an address this machine can listen on" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "serving" not in proc.stdout, proc.stdout  # it said it was serving before it failed to listen


def test_a_proxy_lost_mid_sweep_is_one_line_and_the_same_command_resumes(tmp_path: Path) -> None:
    database, port, met = f"sqlite:///{tmp_path / 'behind_proxy.db'}", free_port(), tmp_path / "met"
    common = (*SPACE, f"hydra.sweeper.storage=grpc://localhost:{port}", "hydra.sweeper.study_name=lost")
    common += ("hydra.sweeper.n_trials=2", f"meet_dir={met}", "meet_n=2")  # the job waits for a second process
    proxy = start_proxy(database, port, tmp_path / "proxy.log")
    try:
        worker = start(tmp_path / "w", *common)
        wait_for(lambda: met.exists() and any(met.iterdir()), what="the first job running")
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    (met / "test").touch()  # the job goes on, and its result finds the proxy gone
    assert finish(worker, tmp_path / "w") == 1
    log = Path(f"{tmp_path / 'w'}.log").read_text()
    said = f"the study's storage grpc://localhost:{port} stopped answering during the sweep (_InactiveRpcError"
    assert said in log and "the same command resumes the sweep" in log and "Traceback" not in log, log

    proxy = start_proxy(database, port, tmp_path / "proxy2.log")
    try:
        ok(run(tmp_path / "w", *common))
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    trials = optuna.load_study(study_name="lost", storage=open_storage(database, heartbeat_interval_s=0)).trials
    # the lost trial's job finished and saved its result before the tell found the proxy gone: the rerun stores it
    # (not trained again) and runs the second trial
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [t.user_attrs.get("ecopt.error") for t in trials]
    assert not [t for t in trials if t.system_attrs.get("failed_trial") is not None]


def test_a_heartbeat_the_lost_proxy_refuses_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A storage that stops answering while a job runs: the heartbeat thread says so in one line per beat (grpc's
    error text spans five lines, SQLAlchemy's three)."""
    port = free_port()
    proxy = start_proxy(f"sqlite:///{tmp_path / 'behind_proxy.db'}", port, tmp_path / "proxy.log")
    try:
        storage = open_storage(f"grpc://localhost:{port}", heartbeat_interval_s=60)
        trial = optuna.create_study(storage=storage, study_name="beat").ask()
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="ecopt_lightning.sweeper._heartbeat"):
        Heartbeat(storage, [compat.trial_id(trial)], interval_s=60).beat()
    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith(f"ecopt: heartbeat of trial id {compat.trial_id(trial)} failed: _InactiveRpcError: ")
    assert "\n" not in said and "\t" not in said and len(said) < 400, said


def test_ctrl_c_stops_the_proxy_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.grpc_proxy", "--port", str(port)]
    log = tmp_path / "proxy.log"
    proxy = subprocess.Popen(
        [*command, "--storage", f"sqlite:///{tmp_path / 'behind_proxy.db'}"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        env=sweep_env(),
        preexec_fn=ends_with_this_process(),
    )
    try:
        listening(proxy, log)
        open_storage(f"grpc://localhost:{port}", heartbeat_interval_s=0)  # it answers
        proxy.send_signal(signal.SIGINT)
        proxy.wait(timeout=60)
    finally:
        proxy.kill()
    err = log.read_text()
    assert proxy.returncode == 130 and "Traceback" not in err, err
    assert err.splitlines()[-1] == "ecopt grpc proxy: stopped (Ctrl-C)", err


def test_a_proxy_a_test_started_ends_when_the_test_process_is_killed(tmp_path: Path) -> None:
    """A pytest killed by SIGKILL (pytest-timeout, Ctrl-C twice) left the proxies its tests had started running
    for good, each holding its port and database. Here a process starts one as a test does and is SIGKILLed."""
    database, log = f"sqlite:///{tmp_path / 'behind_proxy.db'}", tmp_path / "proxy.log"
    script = (
        "import sys; from pathlib import Path; from tests.distributed.test_grpc_proxy import free_port, start_proxy; "
        f"print(start_proxy({database!r}, free_port(), Path({str(log)!r})).pid, flush=True); sys.stdin.read()"
    )
    test = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=sweep_env(),
    )
    proxy = 0
    try:
        proxy = int(test.stdout.readline() or 0)  # once it listens
        assert proxy and process_running(proxy), log.read_text() if log.exists() else "no proxy started"
        test.kill()
        test.wait(timeout=SUBPROCESS_S)
        wait_for(
            lambda: not process_running(proxy), what=f"the proxy (pid {proxy}) ending with the process that started it"
        )
    finally:
        test.kill()
        if proxy and process_running(proxy):  # the orphan the test found
            os.kill(proxy, signal.SIGKILL)
