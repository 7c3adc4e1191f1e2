"""Where trigen caches what it derives from data (measured conditions, fetched text)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Where measured conditions are cached: ``$TRIGEN_CACHE`` or ``~/.cache/trigen``."""
    root = os.environ.get("TRIGEN_CACHE") or Path.home() / ".cache" / "trigen"
    return Path(root) / "conditions"
