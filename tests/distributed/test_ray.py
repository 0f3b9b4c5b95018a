"""Sweeper workers as Ray tasks on one shared study (``python -m ecopt_lightning.sweeper.ray_workers``), on a
local Ray instance started by the test with 2 CPUs and 2 declared GPUs: Ray gives each task its own GPU through
``CUDA_VISIBLE_DEVICES``, and each worker's EnergyCallback measures that GPU (simulated: GPU 0 with an energy
counter, GPU 1 without one, as a pre-Volta card). The worker on GPU 0 is SIGKILLed during its first trial; the
other worker fails that trial (keeping the energy its job had measured), runs it again, and finishes the
shared budget."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.energy.devices import normalise_uuid
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import password
from ecopt_lightning.sweeper.ray_workers import STORAGE_ENV, local_instance_token, run_workers
from tests.doubles.fake_powercap import FakePowercap
from tests.guards import SUBPROCESS_S, wait_for
from tests.processes import ends_with_this_process
from tests.sweeper.conftest import APPS, ROOT

from .conftest import check_artifacts, sweep_env

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e .[ray])")
pytestmark = pytest.mark.slow
GPUS = [
    {"uuid": "GPU-00000000-0000-0000-0000-00000000aaaa", "power_W": 80},
    {"uuid": "GPU-00000000-0000-0000-0000-00000000bbbb", "power_W": 200, "counter_supported": False},
]
OBJECTIVES = (
    "hydra.sweeper.objectives=[{name: val_acc, direction: maximize},{name: energy/total_J, direction: minimize}]"
)


# One token for every local instance this test process starts: Ray's client reads the token once per process,
# so a second instance started with a fresh token refuses it (InvalidAuthToken).
TOKEN = local_instance_token({}, None)["RAY_AUTH_TOKEN"]


def gpu_key(gpu: dict) -> str:
    """How the callback's summary names the physical GPU it read (its NVML UUID)."""
    return f"gpu:{normalise_uuid(gpu['uuid'])}"


@pytest.fixture(params=["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request, tmp_path: Path) -> str:
    if request.param == "journal":
        return f"journal:///{tmp_path / 'shared' / 'study.log'}"
    return request.getfixturevalue("postgres_url")


SHIM = ROOT / "tests" / "doubles" / "pynvml_shim"


@pytest.fixture(scope="module")
def ray_instance():
    """One Ray instance of this machine for the tests that run workers on it (its start and stop took about 10 s
    a test): 2 CPUs and 2 declared GPUs. Its task processes import ecopt_lightning from the environment it is
    started with; the sweepers they run get the environment of the test that starts them (``local_ray``)."""
    # token authentication on, the token in the environment: Ray writes none into ~/.ray (as ray_workers does);
    # set only while Ray starts and stops, so that the tests of ray_workers' own instance see none
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", f"{SHIM}:{ROOT}:{APPS}")
        env.setenv("RAY_AUTH_TOKEN", TOKEN)
        ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN", TOKEN)
        ray.shutdown()


@pytest.fixture
def local_ray(ray_instance: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray instance of this module; the simulated hardware in the environment its workers' sweepers get."""
    cap = FakePowercap(tmp_path / "powercap")
    monkeypatch.setenv("PYTHONPATH", f"{SHIM}:{ROOT}:{APPS}")
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(cap.root))
    monkeypatch.setenv("ECOPT_SIM_NVML", json.dumps({"gpus": GPUS}))
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # no CUDA here: trust the indices Ray gives
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)


def test_ray_tasks_share_a_study_measure_their_own_gpu_and_survive_a_killed_worker(
    tmp_path: Path, storage: str, study_name: str, local_ray: None
) -> None:
    overrides = [
        "width=choice(4,8,16,32)",
        "lr=tag(log, interval(1e-3, 1e-1))",
        "hydra.sweeper.n_trials=2",
        # the dead worker's process is seen gone at once; an interval of an hour keeps a live worker slowed by the
        # machine's load from being taken for dead (with 1 s, a 2 s pause failed its trial before its job ended)
        "hydra.sweeper.heartbeat_interval_s=3600",
        OBJECTIVES,
        f"kill_marker={tmp_path / 'killed'}",
        "kill_if_visible=0",
        "barrier_n=2",
        f"barrier_dir={tmp_path / 'barrier'}",
    ]
    results = run_workers(
        str(APPS / "cluster_job.py"),
        overrides,
        workers=2,
        storage=storage,
        study=study_name,
        sweep_root=tmp_path / "ray",
        cpus_per_worker=1,
        gpus_per_worker=1,
    )
    by_gpu = {r["CUDA_VISIBLE_DEVICES"]: r for r in results}
    assert set(by_gpu) == {"0", "1"}, results  # Ray gave each task its own GPU
    assert by_gpu["0"]["returncode"] == -9, Path(by_gpu["0"]["log"]).read_text()  # killed by the "cluster"
    assert by_gpu["1"]["returncode"] == 0, Path(by_gpu["1"]["log"]).read_text()
    survivor = Path(by_gpu["1"]["log"]).with_suffix("")  # its sweep dir

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage, heartbeat_interval_s=0))
    trials = study.get_trials(deepcopy=False)
    (dead,) = [t for t in trials if t.state == TrialState.FAIL]
    assert dead.user_attrs["ecopt.error"].startswith("worker died: ")
    assert dead.user_attrs["ecopt.energy_J"] > 0  # read from the dead job's summary by the surviving worker
    assert dead.user_attrs["ecopt.energy_source"] == "energy_summary.json (finished fit)"
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and len(trials) == 3

    # the killed job measured GPU 0 by its counter before it died (its summary is in worker 0's sweep dir)
    (killed_summary,) = (tmp_path / "ray" / "w0").glob("*/energy_summary.json")
    killed = json.loads(killed_summary.read_text())
    assert killed["sources"]["gpu:0"] == "nvml_counter" and killed["total_J"] > 0
    assert killed["devices"][0]["gpu:0"]["key"] == gpu_key(GPUS[0])
    # the survivor's trials measured GPU 1 (no counter: power polled), labelled and marked degraded
    for t in complete:
        summary = json.loads((Path(t.user_attrs["ecopt.job_dir"]) / "energy_summary.json").read_text())
        assert summary["sources"]["gpu:0"] == "nvml_power"
        assert summary["devices"][0]["gpu:0"]["key"] == gpu_key(GPUS[1])
        assert "gpu:0: power polled and integrated (no energy counter)" in t.user_attrs["ecopt.degraded"]
        assert t.user_attrs["energy/total_J"] == pytest.approx(summary["total_J"])

    summary = check_artifacts(survivor)
    assert summary["states"] == {"COMPLETE": 2, "FAIL": 1}
    assert summary["sweep_energy"]["total_J"] == pytest.approx(
        dead.user_attrs["ecopt.energy_J"] + sum(t.user_attrs["energy/total_J"] for t in complete)
    )
    front = json.loads((survivor / "pareto_front.json").read_text())["trials"]
    assert {r["trial"] for r in front} == {t.number for t in study.best_trials}


def test_a_local_instance_gets_a_token_in_the_environment_unless_one_is_configured() -> None:
    token = local_instance_token({"PATH": "/bin"}, None)["RAY_AUTH_TOKEN"]
    assert len(token) == 64 and token != local_instance_token({}, None)["RAY_AUTH_TOKEN"]
    for configured in ({"RAY_AUTH_TOKEN": "x"}, {"RAY_AUTH_TOKEN_PATH": "/t"}, {"RAY_AUTH_MODE": "disabled"}):
        assert local_instance_token(configured, None) == {}
    assert local_instance_token({}, "auto") == {}  # a cluster joined: its token as Ray finds it


def _ray_workers(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    storage = "journal:///nonexistent-dir/study.log"  # never opened: refused before any worker starts
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.ray_workers", "--storage", storage, "--study", "s"]
    argv = [*command, *args, "--", str(APPS / "toy.py")]
    return subprocess.run(argv, capture_output=True, text=True, env=sweep_env(env), timeout=300)


RESOURCES = [
    (("--gpus-per-worker", "-1"), "--gpus-per-worker=-1 is not allowed: a number >= 0"),
    (("--cpus-per-worker", "nan"), "--cpus-per-worker=nan is not allowed: a number >= 0"),
    (("--num-cpus", "0"), "--num-cpus=0 is not allowed: give 1 or more"),
    # a local instance never grows: Ray waited for ever for a task it cannot place
    (("--num-cpus", "1", "--cpus-per-worker", "2"), "--cpus-per-worker=2 is not allowed: at most the Ray instance's 1"),
]
WITHOUT_ADDRESS = "no --address, $RAY_ADDRESS set"
#: ray_workers runs refused as they start, by name: their arguments and environment
REFUSED = {
    **{" ".join(args): (args, {}) for args, _ in RESOURCES},
    WITHOUT_ADDRESS: (("--num-cpus", "1", "--cpus-per-worker", "2"), {"RAY_ADDRESS": "nohost.invalid:6379"}),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Each run of :data:`REFUSED` (its sweep root, which it must not create, and the process), two at a time: a
    run refused only once it has started a Ray instance takes about 10 s, mostly waiting for Ray."""
    from concurrent.futures import ThreadPoolExecutor

    base = tmp_path_factory.mktemp("refused")

    def one(case: tuple[int, str]) -> tuple[str, tuple[Path, subprocess.CompletedProcess[str]]]:
        i, name = case
        args, env = REFUSED[name]
        root = base / str(i) / "ray"
        return name, (root, _ray_workers("--workers", "1", "--sweep-root", str(root), *args, env=env))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, enumerate(REFUSED)))


@pytest.mark.parametrize(("args", "said"), RESOURCES)
def test_worker_resources_that_cannot_be_given_are_one_line(args: tuple[str, ...], said: str, refused) -> None:
    root, proc = refused[" ".join(args)]
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not root.exists()  # no worker started


def test_without_an_address_the_instance_is_started_here_whatever_ray_address(refused) -> None:
    """With no --address, ray.init joined the cluster $RAY_ADDRESS names (set by Ray's job submission, or left in
    a shell) instead of starting one here: 'could not start a Ray instance here (ray.init said: ValueError: When
    connecting to an existing cluster, num_cpus and num_gpus must not be provided)'."""
    root, proc = refused[WITHOUT_ADDRESS]
    # the instance started here, of --num-cpus 1: judged as such
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1] == (
        "--cpus-per-worker=2 is not allowed: at most the Ray instance's 1 CPUs (--num-cpus), or no worker ever starts"
    ), proc.stderr
    assert not root.exists()


def test_an_address_ray_cannot_use_is_one_line(tmp_path: Path) -> None:
    proc = _ray_workers("--workers", "1", "--sweep-root", str(tmp_path / "ray"), "--address", "not-an-address")
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        "--address='not-an-address' is not allowed: a running Ray cluster ('auto', <head host>:<port> or "
        "ray://<host>:<port>) (ray.init said: ValueError: Invalid address format: not-an-address)"
    ], proc.stderr
    assert not (tmp_path / "ray").exists()


def test_an_address_where_no_cluster_can_be_is_one_line(tmp_path: Path) -> None:
    """A host name that does not resolve, or a port where nothing listens: ray.init retried for minutes with
    warnings of its own, and no line said what was wrong."""
    allowed = "is not allowed: a running Ray cluster ('auto', <head host>:<port> or ray://<host>:<port>)"
    proc = _ray_workers("--workers", "1", "--sweep-root", str(tmp_path / "ray"), "--address", "nohost.invalid:6379")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"--address='nohost.invalid:6379' {allowed}; no host named 'nohost.invalid' (")
    with socket.socket() as closed:  # bound, never listening: a connection to it is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        proc = _ray_workers("--workers", "1", "--sweep-root", str(tmp_path / "ray"), "--address", f"127.0.0.1:{port}")
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"--address='127.0.0.1:{port}' {allowed}; nothing listens on 127.0.0.1:{port} (connection refused)"
    ], proc.stderr
    assert not (tmp_path / "ray").exists()


def test_a_ray_task_that_dies_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """The process of a worker's Ray task killed (the OOM killer, a lost node): ray.get raised WorkerCrashedError out
    of ray_workers, a traceback, and no worker's result was printed."""
    met = tmp_path / "met"
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.ray_workers", "--workers", "1", "--num-cpus", "1"]
    storage, root = f"journal://{tmp_path / 'study.log'}", tmp_path / "ray"
    command += ["--storage", storage, "--study", "s", "--sweep-root", str(root)]
    command += ["--", str(APPS / "toy.py"), "width=choice(8,16)", "hydra.sweeper.n_trials=1"]
    command += [f"meet_dir={met}", "meet_n=2"]  # the job waits for a second process: running when its task dies
    proc = _start_ray_workers(command, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: met.exists() and any(met.iterdir()), what="the worker's job running")
        (sweeper,) = [int(p.name) for p in met.iterdir()]  # the basic launcher runs the job in the sweeper
        task = int(Path(f"/proc/{sweeper}/stat").read_text().rsplit(")", 1)[1].split()[1])  # its parent: Ray's
        os.kill(task, signal.SIGKILL)
        os.kill(sweeper, signal.SIGKILL)  # not left running without its task
        out, err = proc.communicate(timeout=SUBPROCESS_S)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Traceback" not in err, err
    (result,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]  # Ray says more there
    assert result["returncode"] is None and result["error"].startswith("WorkerCrashedError: "), result
    assert err.splitlines()[-1].startswith(
        f"ray_workers: worker 0's Ray task ended without a result ({result['error']}); the study keeps what its "
        f"sweeper stored, and the same command resumes it (its log: {root / 'w0.log'})"
    ), err


def test_ctrl_c_stops_the_workers_with_one_line(tmp_path: Path) -> None:
    met = tmp_path / "met"
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.ray_workers", "--workers", "1", "--num-cpus", "1"]
    storage, root = f"journal://{tmp_path / 'study.log'}", str(tmp_path / "ray")
    command += ["--storage", storage, "--study", "s", "--sweep-root", root]
    command += ["--", str(APPS / "toy.py"), "width=choice(8,16)", "hydra.sweeper.n_trials=1"]
    command += [f"meet_dir={met}", "meet_n=2"]  # the job waits for a second process: running when interrupted
    proc = _start_ray_workers(command, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: met.exists() and any(met.iterdir()), what="the worker's job running")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=SUBPROCESS_S)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("ray_workers: interrupted (Ctrl-C); the study keeps what its workers"), err


@pytest.mark.postgres
def test_the_storage_can_be_kept_off_the_drivers_command_line(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    """--storage was required: a URL with a password was on ray_workers' own command line, shown by ps and kept by
    Ray as the job's entrypoint (the driver's whole command line, in the cluster's job table). It can now be given in
    $ECOPT_RAY_STORAGE; with neither, one line says so."""
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.ray_workers", "--workers", "1", "--num-cpus", "1"]
    command += ["--study", study_name, "--sweep-root", str(tmp_path / "ray")]
    command += ["--", str(APPS / "toy.py"), "width=choice(8,16)", "hydra.sweeper.n_trials=1"]
    bare = {k: v for k, v in sweep_env().items() if k != STORAGE_ENV}
    missing = subprocess.run(command, capture_output=True, text=True, env=bare, timeout=SUBPROCESS_S)
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        "--storage is missing: give it, or set ECOPT_RAY_STORAGE (a URL with a password: keep it there)"
    ], missing.stderr
    env = {**bare, STORAGE_ENV: postgres_url}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SUBPROCESS_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name=study_name, storage=open_storage(postgres_url, heartbeat_interval_s=0))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]
    secret = password(postgres_url)
    assert secret and secret not in proc.stdout + proc.stderr
    assert not [str(p) for p in (tmp_path / "ray").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _descendants(root: int) -> list[int]:
    """The pids of every process below ``root`` (Ray's GCS, raylet and task workers, the sweepers they run)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [root]
    while todo:
        above = todo.pop()
        children = [pid for pid, ppid in parent.items() if ppid == above]
        found += children
        todo += children
    return found


@pytest.mark.postgres
def test_a_workers_storage_password_is_on_no_command_line_and_in_no_file(
    tmp_path: Path, postgres_url: str, study_name: str, local_ray: None
) -> None:
    """ray_workers wrote ``hydra.sweeper.storage='postgresql://ecopt:<password>@...'`` on each worker sweeper's
    command line: every user of the node read the password with ``ps`` or in ``/proc/<pid>/cmdline``."""
    from concurrent.futures import ThreadPoolExecutor

    secret = password(postgres_url)
    assert secret
    met = tmp_path / "met"
    met.mkdir()
    overrides = ["width=choice(8,16)", "hydra.sweeper.n_trials=1", f"meet_dir={met}", "meet_n=2"]
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            run_workers, str(APPS / "toy.py"), overrides, workers=1, storage=postgres_url, study=study_name,
            sweep_root=tmp_path / "ray", cpus_per_worker=1,
        )  # fmt: skip
        try:
            wait_for(lambda: met.exists() and any(met.iterdir()), what="the worker's job running")
            (sweeper,) = [int(p.name) for p in met.iterdir()]  # the basic launcher runs the job in the sweeper
            shown = {}
            for pid in _descendants(os.getpid()):
                with contextlib.suppress(OSError):
                    shown[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        finally:
            (met / "test").touch()  # the second process of the meeting: the job goes on
        (result,) = running.result(timeout=SUBPROCESS_S)
    assert "hydra/sweeper=ecopt" in shown[sweeper]
    assert not {pid: line for pid, line in shown.items() if secret in line}
    assert result["returncode"] == 0, Path(result["log"]).read_text()
    study = optuna.load_study(study_name=study_name, storage=open_storage(postgres_url, heartbeat_interval_s=0))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # the worker reached the study
    written = [p for p in (tmp_path / "ray").rglob("*") if p.is_file()]
    assert any(p.name == "w0.log" for p in written) and any(p.name == "hydra.yaml" for p in written)
    assert not [str(p) for p in written if secret.encode() in p.read_bytes()]


def _start_ray_workers(command: list[str], stdout: int) -> subprocess.Popen[str]:
    """``ray_workers`` started as a user starts it, ending with the test process (its stderr piped)."""
    return subprocess.Popen(
        command, stdout=stdout, stderr=subprocess.PIPE, text=True, env=sweep_env(), preexec_fn=ends_with_this_process()
    )
