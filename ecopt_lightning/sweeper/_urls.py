"""Storage URLs: what is allowed, and how to print one without its password.

Light module (no optuna, no sqlalchemy): config validation imports it at every application start.

Allowed: ``sqlite:///path.db``, ``postgresql[+driver]://user[:password]@host[:port]/db``,
``mysql[+driver]://...``, ``journal:///abs/path.log`` or ``journal:relative/path.log`` (an Optuna
journal file, for clusters with a shared file system), and ``grpc://host:port`` (Optuna's gRPC storage proxy
in front of a database, so many workers share a few database connections).

Example:
    >>> redact("postgresql://ecopt:s3cret@db.example:5432/optuna")
    'postgresql://ecopt:***@db.example:5432/optuna'
    >>> journal_path("journal:///shared/ecopt.log")
    '/shared/ecopt.log'
    >>> grpc_address("grpc://proxy-host:13000")
    ('proxy-host', 13000)
    >>> check("redis://localhost")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.storage='redis://localhost' is not allowed: ...
"""

from __future__ import annotations

import re
from typing import Any

from .errors import SweeperConfigError

#: database URL schemes (SQLAlchemy dialects, optionally ``+driver``) and the journal-file scheme
DIALECTS = ("sqlite", "postgresql", "mysql")
JOURNAL = "journal"
GRPC = "grpc"
ALLOWED = (
    "null (SQLite in the sweep dir) or an Optuna storage URL: sqlite:///path.db, postgresql://user@host[:port]/db, "
    "mysql://user@host/db, journal:///path/to/file.log (shared file system), or grpc://host:port (Optuna's gRPC "
    "storage proxy)"
)
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>.*)$", re.S)
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):(?P<pw>[^@/?#]*)@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")
_GRPC = re.compile(r"^grpc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})/?$")


def redact(url: Any) -> Any:
    """``url`` with any password replaced by ``***`` (user-info and ``?password=``); non-strings unchanged."""
    if not isinstance(url, str):
        return url
    text = _PASSWORD.sub(lambda m: f"{m['head']}:***@", url)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def password(url: Any) -> str | None:
    """The password written in ``url`` (user-info or ``?password=``), or ``None``."""
    if not isinstance(url, str):
        return None
    match = _PASSWORD.match(url)
    if match and match["pw"]:
        return match["pw"]
    query = re.search(r"(?i)[?&]password=([^&#]*)", url)
    return query.group(1) if query and query.group(1) else None


def scheme(url: str) -> str:
    """The dialect without its driver: ``postgresql+psycopg2://`` -> ``postgresql``."""
    match = _URL.match(url)
    return match["scheme"].split("+", 1)[0].lower() if match else ""


def journal_path(url: str) -> str:
    """The file of a ``journal:`` URL: ``journal:///abs/x.log`` -> ``/abs/x.log``, ``journal:x.log`` -> ``x.log``."""
    rest = url.split(":", 1)[1]
    return rest[2:] if rest.startswith("//") else rest


def grpc_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``grpc://host:port`` URL (IPv6 hosts in brackets), or ``None`` when malformed."""
    match = _GRPC.match(url.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        return None
    return match["host"].strip("[]"), int(match["port"])


def check(url: Any) -> str | None:
    """``url`` itself when it is ``None`` or an allowed storage URL; :class:`SweeperConfigError` otherwise.

    The error shows the URL with its password redacted.
    """
    if url is None:
        return None
    if not isinstance(url, str) or not _URL.match(url.strip()):
        raise SweeperConfigError("storage", redact(url), ALLOWED)
    kind = scheme(url)
    if kind == JOURNAL:
        if not journal_path(url).strip():
            raise SweeperConfigError("storage", redact(url), ALLOWED)
        return url
    if kind == GRPC:
        if grpc_address(url) is None:
            raise SweeperConfigError("storage", redact(url), "grpc://host:port with a port in 1-65535")
        return url
    if kind not in DIALECTS or "://" not in url:
        raise SweeperConfigError("storage", redact(url), ALLOWED)
    return url
