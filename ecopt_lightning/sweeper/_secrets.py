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

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ._urls import redact, secrets


def mask_config(config: DictConfig, url: Any) -> None:
    """Replace ``url``'s password by ``***`` in ``hydra.sweeper.storage`` and ``hydra.overrides.hydra``: the whole
    URL wherever it is written, and any form of the password (:func:`~._urls.secrets`) in the overrides that set
    the storage. Other overrides keep their text: Hydra composes every job from them, and a password that happens
    to be a word of another one (``hydra/sweeper=ecopt``, a sweep dir) must not change it."""
    hidden = secrets(url)
    if not hidden:
        return
    # each node is opened itself: OmegaConf 2.4 (Hydra 1.4) keeps a read-only flag set on a child node
    sweeper = OmegaConf.select(config, "hydra.sweeper")
    if isinstance(sweeper, DictConfig) and sweeper.get("storage") is not None:
        with read_write(sweeper), open_dict(sweeper):
            sweeper.storage = redact(url)
    parent = OmegaConf.select(config, "hydra.overrides")
    if isinstance(parent, DictConfig) and parent.get("hydra") is not None:
        with read_write(parent), open_dict(parent):
            masked = [str(o).replace(url, redact(url)) for o in parent.hydra]
            parent.hydra = [_hide(o, hidden) if sets_storage(o) else o for o in masked]


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


def sets_storage(override: str) -> bool:
    """Whether a Hydra override sets ``hydra.sweeper.storage`` (or a key under it).

    Example:
        >>> sets_storage("++hydra.sweeper.storage=x"), sets_storage("hydra.sweep.dir=/tmp/storage")
        (True, False)
    """
    key = override.split("=", 1)[0].strip().lstrip("+~")
    return key == "hydra.sweeper.storage" or key.startswith("hydra.sweeper.storage.")


def _hide(text: str, hidden: list[str]) -> str:
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
    tmp.write_text(_hide(text, hidden), encoding="utf-8")
    shutil.copymode(path, tmp)
    tmp.replace(path)
    return True


def scrub_tree(folders: Iterable[str | Path | None], url: Any) -> int:
    """Scrub the password of ``url`` from Hydra's YAML copies and logs in ``folders``; returns files rewritten."""
    hidden = secrets(url)
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
