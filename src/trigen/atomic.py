"""Atomic file replacement: a reader sees the old file or the whole new one, never a part.

No torch import: the report package uses it too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path | str, write: Callable[[Path], None], *, suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a fresh temporary file beside ``path``, then rename it onto ``path``.

    The parent directory is created. ``suffix`` ends the temporary name, for writers that pick
    or append a format by extension (``np.savez`` adds ``.npz``, matplotlib reads ``.png``).
    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when writing or renaming failed
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
