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
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus

from ._literals import escaped
from .errors import SweeperConfigError

#: database URL schemes (SQLAlchemy dialects, optionally ``+driver``) and the journal-file scheme
DIALECTS = ("sqlite", "postgresql", "mysql")
JOURNAL = "journal"
GRPC = "grpc"
#: the storage URLs allowed (``ecopt report --storage``); :data:`ALLOWED` for ``hydra.sweeper.storage``
URLS = (
    "an Optuna storage URL: sqlite:///path.db, postgresql://user@host[:port]/db, mysql://user@host/db, "
    "journal:///path/to/file.log (shared file system), or grpc://host:port (Optuna's gRPC storage proxy)"
)
ALLOWED = f"null (SQLite in the sweep dir) or {URLS}"
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>.*)$", re.S)
# SQLAlchemy and libpq accept a raw "/", "#", "?", ":" or "@" in a password, so the password runs to the
# LAST "@" of the URL (greedy): a URL whose path or query holds an "@" is masked too far, never too little.
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):(?P<pw>.*)@", re.S)
# the query's password runs to the end of the URL: a raw "&" or "#" in it cannot end it early; libpq's sslpassword
# (the passphrase of the client's key) is one too
_QUERY_PASSWORD = re.compile(r"(?is)(?P<key>[?&](?:ssl)?password=)(?P<pw>.+)$")
_GRPC = re.compile(r"^grpc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})/?$")


#: ``_target_`` of a storage written as a config, as hydra-optuna-sweeper's users may (Hydra instantiates it there)
RDB_STORAGE = "optuna.storages.RDBStorage"
JOURNAL_STORAGE = "optuna.storages.JournalStorage"
#: ``_target_`` of a journal file's ``log_storage`` (Optuna 4's name, and the older one it still exports)
JOURNAL_FILES = ("optuna.storages.journal.JournalFileBackend", "optuna.storages.JournalFileStorage")


def as_url(storage: Any) -> Any:
    """The URL of a storage written as ``{_target_: optuna.storages.RDBStorage, url: ...}`` or as a journal file's
    ``{_target_: optuna.storages.JournalStorage, log_storage: {_target_: <file backend>, file_path: ...}}``;
    anything else as it is (:func:`check` judges it). The sweeper opens the storage itself, so other arguments
    are refused.

    Example:
        >>> as_url({"_target_": "optuna.storages.RDBStorage", "url": "sqlite:///x.db"})
        'sqlite:///x.db'
        >>> log = {"_target_": "optuna.storages.journal.JournalFileBackend", "file_path": "/shared/s.log"}
        >>> as_url({"_target_": "optuna.storages.JournalStorage", "log_storage": log})
        'journal:///shared/s.log'
    """
    if isinstance(storage, Mapping) and storage.get("_target_") == JOURNAL_STORAGE:
        log = storage.get("log_storage")
        if (
            set(storage) != {"_target_", "log_storage"}
            or not isinstance(log, Mapping)
            or log.get("_target_") not in JOURNAL_FILES
            or set(log) != {"_target_", "file_path"}
            or not isinstance(log.get("file_path"), str)
            or not log["file_path"]
        ):
            raise SweeperConfigError(
                "storage",
                redact(storage),
                f"{{_target_: {JOURNAL_STORAGE}, log_storage: {{_target_: {JOURNAL_FILES[0]}, file_path: <path>}}}} "
                f"with only file_path set, or {ALLOWED}",
            )
        path = log["file_path"]
        return f"{JOURNAL}://{path}" if path.startswith("/") else f"{JOURNAL}:{path}"
    if not isinstance(storage, Mapping) or storage.get("_target_") != RDB_STORAGE:
        return storage
    extra = sorted(str(k) for k in storage if k not in ("_target_", "url"))
    if extra or not isinstance(storage.get("url"), str):
        raise SweeperConfigError(
            "storage", redact(storage), f"{{_target_: {RDB_STORAGE}, url: <URL>}} with only url set, or {ALLOWED}"
        )
    return storage["url"]


def redact(url: Any) -> Any:
    """``url`` with any password replaced by ``***`` (user-info, ``?password=`` and ``?sslpassword=``); in a
    mapping, its values redacted; other non-strings unchanged.

    Example:
        >>> redact("postgresql://u:SEK/R#?@T@db.example/optuna")
        'postgresql://u:***@db.example/optuna'
    """
    if isinstance(url, Mapping):
        return {str(k): redact(v) for k, v in url.items()}
    if not isinstance(url, str):
        return url
    text = redact_userinfo(url)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}***", text)


def password(url: Any) -> str | None:
    """The password written in ``url`` (user-info or ``?password=``) as written there, or ``None``."""
    if not isinstance(url, str):
        return None
    match = _PASSWORD.match(url)
    if match and match["pw"]:
        return match["pw"]
    query = _QUERY_PASSWORD.search(url)
    return query["pw"] if query else None


def secrets(url: Any) -> list[str]:
    """Every form of ``url``'s passwords that may show in a text, longest first: each as written and
    percent-decoded, and for a raw ``@`` in one, the parts SQLAlchemy splits it into (it ends the password at
    the first ``@`` and takes the rest as the start of the host name, which drivers' errors print).

    Example:
        >>> secrets("postgresql://u:a%2Fb@h/db")
        ['a%2Fb', 'a/b']
    """
    if not isinstance(url, str):
        return []
    found: list[str] = []
    match = _PASSWORD.match(url)
    if match and match["pw"]:
        found.append(match["pw"])
    query = _QUERY_PASSWORD.search(redact_userinfo(url))
    if query:
        found.append(query["pw"])
    forms: set[str] = set()
    for written in found:
        forms.update({written, unquote(written), unquote_plus(written)})
        for i, char in enumerate(written):
            if char == "@":
                forms.update({written[:i], written[i + 1 :] + "@"})
    # inside a quoted Hydra override (hydra.sweeper.storage='...') a quote is escaped
    forms.update(escaped(form, mark) for form in list(forms) for mark in "'\"" if mark in form)
    # in a config or an override a "${" is written "\${" (else OmegaConf reads an interpolation): Hydra keeps the
    # overrides as written, escape included
    forms.update(form.replace("${", "\\${") for form in list(forms) if "${" in form)
    return sorted((f for f in forms if f and f != "@"), key=lambda f: (-len(f), f))


def redact_userinfo(url: str) -> str:
    """``url`` with the user-info password (only) replaced by ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}:***@", url)


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
