"""Hydra's one private the sweeper reads, behind one function, with a public fallback; and the Hydra releases
whose composition ``_compose.ReuseComposed`` repeats.

``tests/sweeper/test_compat.py`` checks that the private still exists in the installed Hydra and that the
fallback agrees with it. Nothing outside this module imports from ``hydra._internal``.

Example:
    >>> from hydra.core.override_parser.overrides_parser import OverridesParser
    >>> parsed = OverridesParser.create().parse_overrides(["lr=0.1", "seed=3", "width=8"])
    >>> override_dirname(parsed, exclude_keys=["seed"], item_sep=",", kv_sep="=")
    'lr=0.1,width=8'
    >>> reuse_checked("1.3.2"), reuse_checked("1.4.0.dev1")
    (True, False)
    >>> missing_override_key(Exception("Could not override 'lr'." + chr(10) + "To append to your config use +lr=1"))
    'lr'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import hydra
from hydra.core.override_parser.types import Override

#: The privates this module reads: ``(module path, attribute)``; ``test_compat`` checks each.
PRIVATES: tuple[tuple[str, str], ...] = (("hydra._internal.config_loader_impl", "get_overrides_dirname"),)
#: Hydra releases (major, minor) whose ``ConfigLoaderImpl.load_sweep_config`` sets what ``_compose._build`` sets
#: again (read in 1.3.8's source; tests/sweeper/test_compose.py compares both on the installed release). Other
#: releases set other fields (older ones copy only the ``now`` cache and merge ``hydra.runtime``): there Hydra
#: composes every job.
REUSE_CHECKED: tuple[tuple[int, int], ...] = ((1, 3),)


def reuse_checked(version: str | None = None) -> bool:
    """Whether this Hydra release (``version``; None: the installed one) composes a job's config as
    ``_compose`` repeats it."""
    major, minor = (int(p) for p in (version or hydra.__version__).split(".")[:2])
    return (major, minor) in REUSE_CHECKED


def override_dirname(overrides: Sequence[Override], *, exclude_keys: Any, item_sep: str, kv_sep: str) -> str:
    """``hydra.job.override_dirname`` of a job's (non-``hydra.``) overrides, as Hydra's composition sets it.

    Calls Hydra's own ``get_overrides_dirname``; where that is gone, :func:`override_dirname_public`."""
    try:
        from hydra._internal.config_loader_impl import get_overrides_dirname
    except ImportError:  # pragma: no cover - test_compat checks the private
        return override_dirname_public(overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep)
    return get_overrides_dirname(overrides=list(overrides), exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep)


def override_dirname_public(overrides: Sequence[Override], *, exclude_keys: Any, item_sep: str, kv_sep: str) -> str:
    """Hydra 1.3's rule, written out: the override lines whose key is not excluded, sorted, joined by
    ``item_sep``, each ``=`` replaced by ``kv_sep``."""
    lines = sorted(str(o.input_line) for o in overrides if o.key_or_group not in exclude_keys)
    return re.sub("[=]", kv_sep, item_sep.join(lines))


#: how Hydra's ``ConfigCompositionException`` begins when an override names a key the config lacks (Hydra 1.1 to
#: 1.3: ``config_loader_impl._apply_overrides_to_config``); ``test_compat`` composes one on the installed release
_MISSING_KEY = re.compile(r"Could not override '([^']+)'\.\nTo append")


def missing_override_key(exc: BaseException) -> str | None:
    """The key of an override that Hydra refused because the config lacks it (its message, read: Hydra has no
    structured form of it); ``None`` for any other error."""
    match = _MISSING_KEY.match(str(exc))
    return None if match is None else match[1]
