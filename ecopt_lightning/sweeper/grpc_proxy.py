"""Serve a study's database through Optuna's gRPC storage proxy, so that many sweeper workers share the proxy's
few database connections instead of each holding its own (Optuna >= 4.2, needs ``grpcio``).

Workers then use ``hydra.sweeper.storage=grpc://<proxy host>:<port>``. The proxy holds the database URL, so a
password in it stays on the proxy's machine (better: ``PGPASSWORD`` or ``~/.pgpass`` there); the proxy prints
the URL redacted. It keeps no Optuna heartbeat table for its clients: the workers keep their heartbeats in a
trial attribute, as on a journal file, and fail and retry a dead worker's trials the same way.

Example:
    ``python -m ecopt_lightning.sweeper.grpc_proxy --storage postgresql://ecopt@db-host/optuna --port 13000``
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from ._storage import with_driver
from ._urls import DIALECTS, redact, scheme

log = logging.getLogger(__name__)
DEFAULT_PORT = 13000


def serve(storage_url: str, host: str = "localhost", port: int = DEFAULT_PORT) -> None:
    """Proxy the database at ``storage_url`` on ``host:port`` until the process is stopped."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning (Optuna 4.2+)
        # get_storage adds Optuna's in-process cache in front of the database, as Optuna advises for the proxy
        storage = optuna.storages.get_storage(with_driver(storage_url))
        print(f"ecopt grpc proxy: serving {redact(storage_url)} on {host}:{port}", flush=True)
        optuna.storages.run_grpc_proxy_server(storage, host=host, port=port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecopt_lightning.sweeper.grpc_proxy", description=__doc__)
    parser.add_argument("--storage", required=True, help="database URL: postgresql://user@host/db, mysql://, sqlite://")
    parser.add_argument("--host", default="localhost", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
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
    serve(args.storage, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
