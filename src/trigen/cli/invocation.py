"""The command line trigen was given, as typed: ``trigen compare …`` whichever way it started
(``trigen``, ``python -m trigen``, or :func:`trigen.cli.app.main` called with its own argv)."""

from __future__ import annotations

import shlex
import sys

_argv: list[str] | None = None  # main's argv; None: the process's own


def remember(argv: list[str] | None) -> None:
    """Keep ``argv`` (None: ``sys.argv[1:]``) as the arguments of this invocation."""
    global _argv
    _argv = None if argv is None else list(argv)


def command_line() -> str:
    """``trigen`` and the arguments, quoted for a shell (an empty ``--studies`` stays ``''``)."""
    return shlex.join(["trigen", *(sys.argv[1:] if _argv is None else _argv)])
