"""Write a file atomically: a temp file next to it, moved over it in one step (``os.replace``), so that a
``kill -9`` at any moment leaves the previous complete file; the test hook ``artifact_write`` (or the ``point``
given) fires between.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(path, lambda tmp: tmp.write_text("whole"))
    >>> path.read_text()
    'whole'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import _crashpoints


def _umask_mode() -> int:
    mask = os.umask(0o022)  # reading the umask sets it: put it back at once
    os.umask(mask)
    return 0o666 & ~mask


#: the mode a new file gets from ``open`` under this process's umask
_FILE_MODE = _umask_mode()


def atomic_write(path: Path, write: Callable[[Path], None], point: str = "artifact_write") -> None:
    """Call ``write(temp_path)`` for a temp file next to ``path``, then move it over ``path`` in one step (the
    crash point ``point`` between)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600: artifacts get the umask's mode like every other file
        write(Path(tmp))
        _crashpoints.reached(point)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_failure(exc: OSError) -> str:
    """Why a write failed, in words, naming the file (the artifact's name where the move failed, not the temp
    file's).

    Example:
        >>> write_failure(IsADirectoryError(21, "Is a directory", "/d/.summary.json.7.x.json", None, "/d/summary.json"))
        'Is a directory: /d/summary.json'
    """
    name = exc.filename2 or exc.filename
    return f"{exc.strerror or exc}{f': {name}' if name else ''}"
