"""Which code made a result: the git commit of the checkout trigen runs from, if it runs from one.

A results file names the commit so a reader can check out the code that made its numbers.
``code_commit()`` never raises: an installed package (no checkout around it), a missing ``git``
or a repository git cannot read all give None, and the result is written without a commit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import trigen

PACKAGE_DIR = Path(trigen.__file__).resolve().parent
DIRTY = "+dirty"  # appended when tracked files differ from the commit
GIT_TIMEOUT_S = 10.0


def _git(*args: str, cwd: Path) -> str | None:
    """``git args`` run in ``cwd``: its stripped stdout, or None when it fails or cannot run."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_commit(package_dir: Path = PACKAGE_DIR) -> str | None:
    """``git rev-parse --short HEAD`` of the checkout holding ``package_dir``, with ``+dirty``
    when its tracked files have changes; None when the package is not a tracked part of a git
    checkout (installed into site-packages, even one inside another repository's tree).

    Untracked files do not count as changes: a comparison that writes its results into the
    checkout must not change the commit its rerun records."""
    if _git("ls-files", "--error-unmatch", "__init__.py", cwd=package_dir) is None:
        return None  # not this package's checkout (or no git, or no repository)
    head = _git("rev-parse", "--short", "HEAD", cwd=package_dir)
    if not head:
        return None
    # no optional locks: reading the status must not take the index lock from a concurrent commit
    changes = _git(
        "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", cwd=package_dir
    )
    if changes is None:
        return None
    return head + (DIRTY if changes else "")
