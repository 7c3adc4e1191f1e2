"""Lazily imported public names: a package lists ``name → module`` and imports on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[list[str], Callable]:
    """``(__all__, __getattr__)`` for ``package``: each name of ``exports`` is imported from its
    module on first access (PEP 562), so importing the package itself stays cheap."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(exports), __getattr__
