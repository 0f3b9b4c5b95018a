"""Sweeper workers as Ray tasks: each task runs one ecopt sweeper process on one shared study.

The route for Ray users, since the Hydra Ray launcher cannot be installed beside our dependencies (it pins
``cloudpickle<3``; joblib >= 1.6, which hydra-joblib-launcher needs, requires ``cloudpickle>=3``; see
docs/distributed.md). Ray places the tasks on its nodes and gives each the GPUs it asks for
(``--gpus-per-worker``: Ray sets the task's ``CUDA_VISIBLE_DEVICES``, which the task's sweeper and its jobs
inherit); the study, in a storage every node reaches (PostgreSQL, the gRPC proxy, or a journal file on a shared
file system), holds the shared budget ``n_trials``. Each worker gets its own sweep dir ``<sweep-root>/w<i>`` and
seed ``i``; worker 0 alone runs the baseline trial. Each worker's output goes to ``<sweep-root>/w<i>.log``. Its
sweeper reads the storage URL from ``$ECOPT_RAY_STORAGE`` (and an override holding a password from
``$ECOPT_RAY_OVERRIDE_<n>``), never from its command line (a password there is shown to every user of the node).

Example:
    ``python -m ecopt_lightning.sweeper.ray_workers --workers 2 --storage journal://$PWD/multirun/ray-demo/study.log
    --study digits --sweep-root multirun/ray-demo -- examples/train.py hydra.sweeper.n_trials=4``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._literals import hydra_literal, override_key, quote
from ._secrets import sets_secret_field, settings_secrets
from ._urls import JOURNAL, check, journal_path, redact, scheme
from .errors import SweeperConfigError

#: environment variables Ray sets for a task that its sweeper must keep (not the driver's values)
RAY_PLACEMENT_VARS = ("CUDA_VISIBLE_DEVICES",)
#: how Ray finds its token (a local instance enables token authentication and, with none of these set and no
#: ~/.ray/auth_token, writes a new token there)
RAY_TOKEN_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def local_instance_token(environ: Mapping[str, str], address: str | None) -> dict[str, str]:
    """``{"RAY_AUTH_TOKEN": <new token>}`` for a Ray instance started here that has no token configured, so that
    it keeps token authentication without writing a token into the user's home; ``{}`` otherwise.

    Example:
        >>> len(local_instance_token({}, None)["RAY_AUTH_TOKEN"]), local_instance_token({}, "auto")
        (64, {})
    """
    if address is not None or any(name in environ for name in RAY_TOKEN_VARS):
        return {}
    return {"RAY_AUTH_TOKEN": secrets.token_hex(32)}  # 256 bits, as Ray's own tokens


def unfit(resources: Mapping[str, float], cpus_per_worker: float, gpus_per_worker: float) -> str | None:
    """Why a worker task asking ``cpus_per_worker`` and ``gpus_per_worker`` can never start on a Ray instance of
    ``resources`` (``ray.cluster_resources()``; a local instance does not grow, so Ray would wait for ever);
    ``None`` when it fits.

    Example:
        >>> unfit({"CPU": 2.0}, 4, 0)
        "--cpus-per-worker=4 is not allowed: at most the Ray instance's 2 CPUs (--num-cpus), or no worker ever starts"
        >>> unfit({"CPU": 2.0}, 1, 1)
        "--gpus-per-worker=1 is not allowed: at most the Ray instance's 0 GPUs, or no worker ever starts"
        >>> unfit({"CPU": 2.0, "GPU": 1.0}, 1, 0.5) is None
        True
    """
    for flag, key, want, where in (
        ("cpus", "CPU", cpus_per_worker, " (--num-cpus)"),
        ("gpus", "GPU", gpus_per_worker, ""),
    ):
        have = resources.get(key, 0.0)
        if want > have:
            return (
                f"--{flag}-per-worker={want:g} is not allowed: at most the Ray instance's {have:g} {key}s{where}, "
                "or no worker ever starts"
            )
    return None


#: what ``--address`` allows
ADDRESSES = "a running Ray cluster ('auto', <head host>:<port> or ray://<host>:<port>)"
#: a safety net for a host that drops the connection (s): only a refusal or a name that does not resolve is judged
CONNECT_S = 10.0


def unreachable(address: str) -> str | None:
    """Why no Ray cluster can be at ``address`` (``host:port`` or ``ray://host:port``): its host name does not
    resolve, or nothing listens on that port (refused); ``None`` otherwise (``auto``, a malformed address, which
    ``ray.init`` says, or a host that answered nothing before :data:`CONNECT_S`). ``ray.init`` retried both for
    minutes with warnings of its own.

    Example:
        >>> unreachable("nohost.invalid:6379")  # doctest: +ELLIPSIS
        "no host named 'nohost.invalid' (...)"
    """
    written, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not written or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = written.strip("[]")
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"no host named {host!r} ({exc.strerror})"
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
    except ConnectionRefusedError:
        return f"nothing listens on {written}:{port} (connection refused)"
    except OSError:  # no answer in time, no route: ray.init says what it finds
        return None
    return None


#: the overrides ray_workers writes for each worker, and the flag that gives each one's value
PER_WORKER = {
    "hydra.sweep.dir": "--sweep-root",
    "hydra.sweeper.storage": "--storage",
    "hydra.sweeper.study_name": "--study",
}
SEED = "hydra.sweeper.seed"


def _seed(overrides: Sequence[str]) -> str | None:
    """The value of the last ``hydra.sweeper.seed`` override, as written; ``None`` when there is none."""
    given = [o.split("=", 1)[1].strip() for o in overrides if override_key(o) == SEED and "=" in o]
    return given[-1] if given else None


def refused(overrides: Sequence[str]) -> str | None:
    """Why ``overrides`` cannot be given to every worker as they are (one line, no value shown), or ``None``.

    Example:
        >>> refused(["hydra.sweeper.n_trials=8", "hydra.sweeper.seed=7"]) is None
        True
        >>> refused(["hydra.sweep.dir=/tmp/x"])
        'hydra.sweep.dir=... is not allowed: ray_workers gives each worker its own (set it with --sweep-root)'
    """
    for override in overrides:
        key = override_key(override)
        if key in PER_WORKER:
            return f"{key}=... is not allowed: ray_workers gives each worker its own (set it with {PER_WORKER[key]})"
    seed = _seed(overrides)
    if seed is not None and seed != "null" and not re.fullmatch(r"[+-]?[0-9]+", seed):
        return f"{SEED}={seed} is not allowed: an integer (worker i gets that seed + i) or null"
    return None


#: the environment variable that gives each worker's sweeper the storage URL: on its command line, a password in the
#: URL was shown to every user of the node (``ps``, ``/proc/<pid>/cmdline``)
STORAGE_ENV = "ECOPT_RAY_STORAGE"
#: the environment variables (this prefix and the override's position) that give each worker the value of an
#: override holding a password (a logger's ``tracking_uri``), for the same reason
OVERRIDE_ENV = "ECOPT_RAY_OVERRIDE_"


def _secret_values(overrides: Sequence[str]) -> dict[int, str]:
    """The overrides of a field that may hold a URL (:data:`._secrets.SECRET_FIELDS`) whose value holds a password,
    by position: each value as a Hydra literal, which ``oc.decode`` reads back."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, found = OverridesParser.create(), {}
    for i, override in enumerate(overrides):
        if not sets_secret_field(override):
            continue
        try:
            (parsed,) = parser.parse_overrides([override])
        except Exception:  # the worker's Hydra says what is wrong with it, as it would here
            continue
        if not parsed.is_sweep_override() and settings_secrets(None, parsed.value()):
            found[i] = hydra_literal(parsed.value())
    return found


def worker_command(app: str, overrides: Sequence[str], study: str, sweep_dir: Path, index: int) -> list:
    """The multirun command of worker ``index``: the same sweep, its own sweep dir and seed (``index``, or the
    seed given in ``overrides`` + ``index``: the same seed makes every worker propose the same points), the storage
    and any override holding a password read from the environment (:func:`worker_env`). The values given as flags
    are quoted: unquoted, Hydra reads a ``,`` as a sweep and refuses ``&``, ``=``, ``[`` or ``'``, which paths and
    study names may hold."""
    seed, hidden = _seed(overrides), _secret_values(overrides)
    given = [
        f"{o.split('=', 1)[0]}='${{oc.decode:${{oc.env:{OVERRIDE_ENV}{i}}}}}'" if i in hidden else o
        for i, o in enumerate(overrides)
    ]
    return [
        sys.executable,
        app,
        "-m",
        "hydra/sweeper=ecopt",
        f"hydra.sweep.dir={quote(str(sweep_dir))}",
        f"hydra.sweeper.storage=${{oc.env:{STORAGE_ENV}}}",
        f"hydra.sweeper.study_name={quote(study)}",
        *([] if index == 0 else ["hydra.sweeper.baseline=false"]),
        *(o for o in given if override_key(o) != SEED),
        f"{SEED}={'null' if seed == 'null' else int(seed or 0) + index}",
    ]


def worker_env(storage: str, overrides: Sequence[str] = ()) -> dict[str, str]:
    """The environment :func:`worker_command` reads the storage and the overrides holding a password from:
    ``storage``, a journal file's relative path made absolute here, in the driver's folder, as the app's and the
    sweep root's.

    Example:
        >>> worker_env("postgresql://u:pw@h/db", ["hydra.sweeper.logger_kwargs.mlflow.tracking_uri=http://u:pw@h"])
        {'ECOPT_RAY_STORAGE': 'postgresql://u:pw@h/db', 'ECOPT_RAY_OVERRIDE_0': "'http://u:pw@h'"}
    """
    if scheme(storage) == JOURNAL and not os.path.isabs(os.path.expanduser(journal_path(storage))):
        # the task runs in the driver's folder only where the node has it: elsewhere a relative file is another study
        storage = f"{JOURNAL}://{os.path.abspath(journal_path(storage))}"
    return {STORAGE_ENV: storage, **{f"{OVERRIDE_ENV}{i}": v for i, v in _secret_values(overrides).items()}}


def run_worker(command: list[str], log_path: str, driver_env: dict[str, str], driver_cwd: str) -> dict[str, Any]:
    """Inside a Ray task: run one sweeper process to its end (in the driver's folder when this node has it,
    as on a shared file system); its exit code, pid and GPUs. Its output is added to ``log_path``: the same command
    run again to resume a sweep keeps what the run before said (why it stopped)."""
    env = {k: v for k, v in driver_env.items() if k not in RAY_PLACEMENT_VARS}
    env.update({k: os.environ[k] for k in RAY_PLACEMENT_VARS if k in os.environ})
    cwd = driver_cwd if os.path.isdir(driver_cwd) else None
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        code = proc.wait()
    return {"returncode": code, "pid": proc.pid, "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES")}


def run_workers(
    app: str,
    overrides: Sequence[str],
    *,
    workers: int,
    storage: str,
    study: str,
    sweep_root: Path,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
) -> list[dict[str, Any]]:
    """Start ``workers`` Ray tasks (Ray must be initialised), wait for all; one result dict per worker (``returncode``
    ``None`` and ``error`` for a task that ended without one: its process or node died)."""
    import ray

    task = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_retries=0)(run_worker)
    app, sweep_root = os.path.abspath(app), sweep_root.absolute()
    sweep_root.mkdir(parents=True, exist_ok=True)
    # the token stays with Ray: not in the task arguments nor the sweepers' environment
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_TOKEN"} | worker_env(storage, overrides)
    cwd = os.getcwd()
    futures = [
        task.remote(
            worker_command(app, overrides, study, sweep_root / f"w{i}", i),
            str(sweep_root / f"w{i}.log"),
            env,
            cwd,
        )
        for i in range(workers)
    ]
    results = []
    for i, future in enumerate(futures):
        try:
            outcome = ray.get(future)
        except ray.exceptions.RayError as exc:  # its process or node died: the other workers' results still count
            said = (str(exc).strip().splitlines() or [""])[0]
            outcome = {"returncode": None, "error": " ".join(f"{type(exc).__name__}: {said}".split())[:300]}
        results.append({"worker": i, "log": str(sweep_root / f"w{i}.log"), **outcome})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecopt_lightning.sweeper.ray_workers", description=__doc__)
    parser.add_argument("--workers", type=int, required=True, help="sweeper processes (Ray tasks)")
    parser.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV) or None,
        help=f"a storage every Ray node reaches (not the SQLite default); default: ${STORAGE_ENV}, which keeps a "
        "password off this command line (shown by ps, and kept by Ray as the job's entrypoint)",
    )
    parser.add_argument("--study", required=True, help="study name shared by the workers")
    parser.add_argument("--sweep-root", default="multirun/ray", help="worker i's sweep dir is <sweep-root>/w<i>")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    parser.add_argument(
        "--address", default=None, help="a running Ray cluster ('auto'); default: start one here, whatever RAY_ADDRESS"
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the Ray instance started here")
    parser.add_argument("app_and_overrides", nargs="+", help="-- <app.py> <Hydra overrides>")
    args = parser.parse_args(argv)
    if args.storage is None:
        print(
            f"--storage is missing: give it, or set {STORAGE_ENV} (a URL with a password: keep it there)",
            file=sys.stderr,
        )
        return 2
    try:
        if check(args.storage) is None or args.storage.startswith("sqlite"):
            raise SweeperConfigError("storage", redact(args.storage), "a storage shared by the workers (not SQLite)")
    except SweeperConfigError as exc:
        print(f"--storage: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"--workers={args.workers} is not allowed: give 1 or more", file=sys.stderr)
        return 2
    for flag, value, low in (
        ("cpus-per-worker", args.cpus_per_worker, 0),
        ("gpus-per-worker", args.gpus_per_worker, 0),
    ):
        if not value >= low:  # also NaN
            print(f"--{flag}={value:g} is not allowed: a number >= {low}", file=sys.stderr)
            return 2
    if args.num_cpus is not None and args.num_cpus < 1:
        print(f"--num-cpus={args.num_cpus} is not allowed: give 1 or more", file=sys.stderr)
        return 2
    app, *overrides = args.app_and_overrides
    why = refused(overrides)
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    why = None if args.address is None else unreachable(args.address)
    if why is not None:
        print(f"--address={args.address!r} is not allowed: {ADDRESSES}; {why}", file=sys.stderr)
        return 2
    import ray

    os.environ.update(local_instance_token(os.environ, args.address))
    try:
        # "local": with no address, ray.init joins the cluster $RAY_ADDRESS names, or the last one `ray start` began
        # on this machine, instead of starting one here
        address = "local" if args.address is None else args.address
        ray.init(address=address, num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # a malformed address, no cluster found at 'auto', a local start that failed
        said = " ".join(f"{type(exc).__name__}: {exc}".split())
        if args.address is None:
            print(f"could not start a Ray instance here (ray.init said: {said})", file=sys.stderr)
        else:
            print(f"--address={args.address!r} is not allowed: {ADDRESSES} (ray.init said: {said})", file=sys.stderr)
        return 2
    # an instance started here never grows (a cluster's autoscaler may add nodes): a worker that cannot fit never starts
    why = unfit(ray.cluster_resources(), args.cpus_per_worker, args.gpus_per_worker) if args.address is None else None
    if why is not None:
        print(why, file=sys.stderr)
        ray.shutdown()
        return 2
    try:
        results = run_workers(
            app,
            overrides,
            workers=args.workers,
            storage=args.storage,
            study=args.study,
            sweep_root=Path(args.sweep_root),
            cpus_per_worker=args.cpus_per_worker,
            gpus_per_worker=args.gpus_per_worker,
        )
    except KeyboardInterrupt:  # Ray ends the driver's tasks, and with them the sweepers
        print(
            f"ray_workers: interrupted (Ctrl-C); the study keeps what its workers stored, and the same command "
            f"resumes it (their logs: {Path(args.sweep_root) / 'w<i>.log'})",
            file=sys.stderr,
        )
        return 130
    for r in results:
        print(json.dumps(r))
        if r["returncode"] is None:
            print(
                f"ray_workers: worker {r['worker']}'s Ray task ended without a result ({r['error']}); the study keeps "
                f"what its sweeper stored, and the same command resumes it (its log: {r['log']})",
                file=sys.stderr,
            )
    return max((1 for r in results if r["returncode"] != 0), default=0)


if __name__ == "__main__":
    sys.exit(main())
