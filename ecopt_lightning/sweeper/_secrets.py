"""Keep a storage URL's password out of everything the sweep writes: Hydra's config copies, logs, artifacts.

Hydra saves the composed config (``multirun.yaml`` in the sweep dir, ``.hydra/*.yaml`` in every job dir) and
the sweeper is handed the URL through it. :func:`mask_config` replaces the password by ``***`` in the config
the launcher uses, before any job starts; :func:`scrub_tree` rewrites any copy that still holds it (e.g. a
URL written in the app's YAML, which Hydra re-composes per job).

Example:
    >>> from omegaconf import OmegaConf
    >>> cfg = OmegaConf.create({"hydra": {"sweeper": {"storage": "postgresql://u:pw@h/db"},
    ...                                   "overrides": {"hydra": ["hydra.sweeper.storage=postgresql://u:pw@h/db"]}}})
    >>> mask_config(cfg, "postgresql://u:pw@h/db")
    >>> cfg.hydra.sweeper.storage, list(cfg.hydra.overrides.hydra)
    ('postgresql://u:***@h/db', ['hydra.sweeper.storage=postgresql://u:***@h/db'])
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from ._literals import override_key
from ._urls import redact, secrets


def settings_secrets(url: Any, logger_kwargs: Any = None) -> list[str]:
    """Every form of every password in the sweeper's settings, longest first: the storage URL's (:func:`~._urls.
    secrets`), and any URL's among the loggers' keyword arguments (an MLflow ``tracking_uri`` on a database).

    Example:
        >>> settings_secrets("sqlite:///x.db", {"mlflow": {"tracking_uri": "postgresql://u:pw@h/mlflow"}})
        ['pw']
    """
    forms = {form for text in [url, *_strings(logger_kwargs)] for form in secrets(text)}
    return sorted(forms, key=lambda f: (-len(f), f))


def _strings(value: Any) -> list[str]:
    """Every string nested in ``value`` (mappings and lists walked)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple, ListConfig)):
        return [s for v in value for s in _strings(v)]
    return []


def _mask_strings(node: Any) -> None:
    """Redact, in place, every string value with a password in the config ``node`` and below."""
    if isinstance(node, DictConfig):
        with read_write(node), open_dict(node):
            for key in list(node.keys()):
                try:
                    value = node[key]
                except Exception:  # an interpolation that does not resolve here holds no written password
                    continue
                if isinstance(value, str) and secrets(value):
                    node[key] = redact(value)
                else:
                    _mask_strings(value)
    elif isinstance(node, ListConfig):
        with read_write(node):
            for i, value in enumerate(node):
                if isinstance(value, str) and secrets(value):
                    node[i] = redact(value)
                else:
                    _mask_strings(value)


def mask_config(config: DictConfig, url: Any, logger_kwargs: Any = None) -> None:
    """Replace ``url``'s password by ``***`` in ``hydra.sweeper.storage`` and ``hydra.overrides.hydra``: the whole
    URL wherever it is written, and any form of the password (:func:`~._urls.secrets`) in the overrides that set
    the storage; the same for the URLs among ``logger_kwargs`` in ``hydra.sweeper.logger_kwargs`` and the
    overrides that set it. Other overrides keep their text: Hydra composes every job from them, and a password
    that happens to be a word of another one (``hydra/sweeper=ecopt``, a sweep dir) must not change it."""
    hidden = settings_secrets(url, logger_kwargs)
    if not hidden:
        return
    _mask_strings(OmegaConf.select(config, "hydra.sweeper.logger_kwargs"))
    # each node is opened itself: OmegaConf 2.4 (Hydra 1.4) keeps a read-only flag set on a child node
    sweeper = OmegaConf.select(config, "hydra.sweeper")
    if isinstance(sweeper, DictConfig) and sweeper.get("storage") is not None and secrets(url):
        with read_write(sweeper), open_dict(sweeper):
            sweeper.storage = redact(url)
    parent = OmegaConf.select(config, "hydra.overrides")
    if isinstance(parent, DictConfig) and parent.get("hydra") is not None:
        with read_write(parent), open_dict(parent):
            # as written: resolved, an override ``hydra.sweeper.storage=${oc.env:DB_URL}`` became the URL itself,
            # unquoted, which Hydra could no longer parse when composing the jobs
            given = OmegaConf.to_container(parent.hydra, resolve=False)
            assert isinstance(given, list)  # Hydra's list of the hydra overrides
            masked = [str(o).replace(url, redact(url)) if secrets(url) else str(o) for o in given]
            parent.hydra = [hide(o, hidden) if sets_secret_field(o) else o for o in masked]


def job_override(url: Any) -> list[str]:
    """The override that gives each job ``url`` with its password masked, when it has one (else nothing): a URL
    written in the app's YAML is composed again into every job's config, and Hydra saves that copy in the job dir
    as the job starts, before any scrub could reach it. (Jobs reach the storage through their environment:
    :func:`~.pruning.job_overrides`.)

    Example:
        >>> job_override("postgresql://u:pw@h/db"), job_override("sqlite:///x.db")
        (["++hydra.sweeper.storage='postgresql://u:***@h/db'"], [])
    """
    return [f"++hydra.sweeper.storage={quoted(redact(url))}"] if secrets(url) else []


def quoted(value: str) -> str:
    """``value`` as a Hydra quoted string (backslashes and single quotes escaped).

    Example:
        >>> print(quoted("db?sslmode=require"))
        'db?sslmode=require'
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: the sweeper's settings that may hold a password (in a URL), whose overrides are masked
SECRET_FIELDS = ("hydra.sweeper.storage", "hydra.sweeper.logger_kwargs")


def sets_secret_field(override: str) -> bool:
    """Whether a Hydra override sets one of :data:`SECRET_FIELDS` (or a key under it).

    Example:
        >>> sets_secret_field("++hydra.sweeper.storage=x"), sets_secret_field("hydra.sweep.dir=/tmp/storage")
        (True, False)
        >>> sets_secret_field("+hydra.sweeper.logger_kwargs.mlflow.tracking_uri=x")
        True
    """
    key = override_key(override)
    return any(key == field or key.startswith(field + ".") for field in SECRET_FIELDS)


def hide(text: str, hidden: list[str]) -> str:
    """``text`` with each of ``hidden`` (:func:`settings_secrets`) replaced by ``***``.

    Example:
        >>> hide("could not reach http://u:pw@h", settings_secrets(None, {"mlflow": {"tracking_uri": "http://u:pw@h"}}))
        'could not reach http://u:***@h'
    """
    for secret in hidden:  # longest first, so no part of a longer form is left behind
        text = text.replace(secret, "***")
    return text


def scrub_file(path: Path, hidden: list[str]) -> bool:
    """Rewrite ``path`` without any of ``hidden`` (atomically, keeping its mode); True when it held one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not any(secret in text for secret in hidden):
        return False
    tmp = path.with_name(f".{path.name}.scrub")
    tmp.write_text(hide(text, hidden), encoding="utf-8")
    shutil.copymode(path, tmp)
    tmp.replace(path)
    return True


def scrub_tree(folders: Iterable[str | Path | None], url: Any, logger_kwargs: Any = None) -> int:
    """Scrub the passwords of ``url`` and ``logger_kwargs`` (:func:`settings_secrets`) from Hydra's YAML copies and
    logs in ``folders``; returns files rewritten."""
    hidden = settings_secrets(url, logger_kwargs)
    if not hidden:
        return 0
    count = 0
    for folder in folders:
        if not folder or not Path(folder).is_dir():
            continue
        root = Path(folder)
        candidates = [*root.glob("*.yaml"), *root.glob(".hydra/*.yaml"), *root.glob("*.log")]
        count += sum(scrub_file(p, hidden) for p in candidates)
    return count


_SWEEPER_OVERRIDE = re.compile(r"^hydra\.sweeper\.(?P<field>[^.=]+)[^=]*=")


def echoed_secret(args: Sequence[str], fields: Collection[str]) -> str | None:
    """One line, passwords masked, for a command-line override of ``hydra.sweeper`` holding a password that Hydra
    refuses by printing it whole: a ``,`` outside quotes ("Sweeping over Hydra's configuration is not supported :
    '<override>'") or a field not among ``fields`` ("To append to your config use +<override>"); else None. (With
    ``+``, Hydra appends the field and the sweeper refuses it, masked.)

    Example:
        >>> print(echoed_secret(["hydra.sweeper.storag=postgresql://u:pw@h/db"], ["storage"]))  # doctest: +ELLIPSIS
        hydra.sweeper.storag=postgresql://u:***@h/db is not allowed: not a field of the ecopt sweeper ...
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for arg in args:
        match = _SWEEPER_OVERRIDE.match(arg)
        if match is None:
            continue
        try:
            (parsed,) = OverridesParser.create().parse_overrides([arg])
        except Exception:  # Hydra's grammar error, which does not print the override
            continue
        sweep = parsed.is_sweep_override()
        # a sweep's quoted items are Hydra's QuotedString (their text in .text)
        items = [getattr(item, "text", item) for item in getattr(parsed.value(), "list", [])]
        hidden = settings_secrets(None, items if sweep else parsed.value())
        if not hidden:
            continue
        if sweep:
            return (
                f"{hide(arg, hidden)}: Hydra reads a ',' outside quotes as a sweep, which it does not allow in its own "
                "config; quote the value ('...')"
            )
        if match["field"] not in fields:
            return f"{hide(arg, hidden)} is not allowed: not a field of the ecopt sweeper (see docs/sweeper.md)"
    return None


#: a URL anywhere in a command-line argument (``hydra.sweeper.storage=postgresql://u:pw@h/db``)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def command_line_secrets(argv: Sequence[str]) -> list[str]:
    """Every form of every URL password on the command line ``argv``, longest first.

    Example:
        >>> command_line_secrets(["train.py", "-m", "hydra.sweeper.storage='postgresql://u:pw@h/db'", "x=1"])
        ['pw']
        >>> command_line_secrets(["hydra.sweeper.storage='postgresql://u:p w@h/db'"])  # quoted: a space in it
        ['p w']
    """
    forms: set[str] = set()
    for arg in argv:
        urls = _URL.findall(arg)
        if sets_secret_field(arg):  # its whole value too: a quoted URL may hold a space
            urls.append(arg.split("=", 1)[-1])
        forms.update(form for url in urls for form in secrets(url.strip("'\"")))
    return sorted(forms, key=lambda f: (-len(f), f))


@contextmanager
def argv_hidden() -> Iterator[None]:
    """``sys.argv`` with its URL passwords masked while the block runs: the sweep's command holds the storage URL,
    and what runs in the sweep's process records the command line (W&B keeps it in a run's metadata, which ``wandb
    sync`` uploads: the sweep's own run, and a trial's under a launcher that runs jobs in this process)."""
    argv = list(sys.argv)
    hidden = command_line_secrets(argv)
    sys.argv[:] = [hide(arg, hidden) for arg in argv]
    try:
        yield
    finally:
        sys.argv[:] = argv
