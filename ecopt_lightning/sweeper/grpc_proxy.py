"""Serve a study's database through Optuna's gRPC storage proxy, so that many sweeper workers share the proxy's
few database connections instead of each holding its own (Optuna >= 4.2, needs ``grpcio``).

Workers then use ``hydra.sweeper.storage=grpc://<proxy host>:<port>``. The proxy holds the database URL, so a
password in it stays on the proxy's machine (better: ``PGPASSWORD`` or ``~/.pgpass`` there; a URL with a password
in ``$ECOPT_PROXY_STORAGE`` rather than ``--storage``, which ``ps`` shows); the proxy prints the URL redacted. It
keeps no Optuna heartbeat table for its clients: the workers keep their heartbeats in a trial attribute, as on a
journal file, and fail and retry a dead worker's trials the same way.

Example:
    ``python -m ecopt_lightning.sweeper.grpc_proxy --storage postgresql://ecopt@db-host/optuna --port 13000``;
    what it refuses, in one line on stderr (exit status 2), before it opens anything (a password shown as ``***``):

    >>> import contextlib, sys
    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     main(["--storage", "redis://user:s3cret@cache/0"])  # doctest: +ELLIPSIS
    --storage='redis://user:***@cache/0' is not allowed: a database URL (sqlite, postgresql, mysql); ...
    2
    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     main(["--storage", "sqlite:///study.db", "--port", "70000"])
    --port=70000 is not allowed: a port in 1-65535
    2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from ._storage import open_failure, with_driver
from ._urls import DIALECTS, redact, scheme

log = logging.getLogger(__name__)
DEFAULT_PORT = 13000
#: where the database URL may be given instead of ``--storage``: a password on the command line is shown by ``ps``
STORAGE_ENV = "ECOPT_PROXY_STORAGE"


class ProxyArgError(ValueError):
    """A ``--storage`` the proxy cannot open or a ``--host``/``--port`` it cannot listen on (one line)."""


def serve(storage_url: str, host: str = "localhost", port: int = DEFAULT_PORT) -> None:
    """Proxy the database at ``storage_url`` on ``host:port`` until the process is stopped; :class:`ProxyArgError`
    when the database cannot be opened or the address not listened on."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning (Optuna 4.2+)
        try:
            # get_storage adds Optuna's in-process cache in front of the database, as Optuna advises for the proxy
            storage = optuna.storages.get_storage(with_driver(storage_url))
        except Exception as exc:
            raise ProxyArgError(
                f"--storage={redact(storage_url)!r} is not usable: {open_failure(storage_url, exc)}"
            ) from None
        # said before listening (Optuna logs "Server started at ..." once it does): a port in use fails after this
        print(f"ecopt grpc proxy: {redact(storage_url)} opened; starting on {host}:{port}", flush=True)
        try:
            optuna.storages.run_grpc_proxy_server(storage, host=host, port=port)
        except RuntimeError as exc:
            if "Failed to bind" not in str(exc):  # grpc's words for an address it cannot listen on
                raise
            raise ProxyArgError(
                f"--host={host!r} --port={port} is not allowed: an address this machine can listen on (that port is "
                "in use, or the host is not one of this machine's addresses)"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecopt_lightning.sweeper.grpc_proxy", description=__doc__)
    parser.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV) or None,
        help=f"database URL: postgresql://user@host/db, mysql://, sqlite://; default: ${STORAGE_ENV}, which keeps a "
        "password off the command line",
    )
    parser.add_argument("--host", default="localhost", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    if args.storage is None:
        print(
            f"--storage is missing: give it, or set {STORAGE_ENV} (a URL with a password: keep it there)",
            file=sys.stderr,
        )
        return 2
    if scheme(args.storage) not in DIALECTS:
        print(
            f"--storage={redact(args.storage)!r} is not allowed: a database URL ({', '.join(DIALECTS)}); "
            "Optuna's gRPC proxy does not serve journal files",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.port < 65536:
        print(f"--port={args.port} is not allowed: a port in 1-65535", file=sys.stderr)
        return 2
    try:
        serve(args.storage, args.host, args.port)
    except ProxyArgError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the way to stop a proxy run in a terminal
        print("ecopt grpc proxy: stopped (Ctrl-C)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
