"""One run per output directory: an advisory lock held for the lifetime of a training process."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from trigen.errors import TrigenError

LOCK_NAME = ".trigen.lock"


class RunLock:
    """``with RunLock(run_dir):`` — a second process on the same directory fails at once.

    The OS releases the lock when the process dies: a crashed run never blocks its resumption.
    A run that fails (an error in the with-block) in a directory the lock created, having written
    nothing there, leaves no directory behind.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> RunLock:
        self._created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_NOFOLLOW: a link planted as the lock file must not get its target truncated
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
            raise TrigenError(
                f"{self.path} is a symbolic link; remove it (trigen keeps its lock file there)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TrigenError(
                f"another trigen process is training in {self.path.parent}; wait for it to finish "
                "or choose another --out directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            if exc_type is not None and self._created:
                self._remove_if_untouched()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _remove_if_untouched(self) -> None:
        """Remove the lock file and its directory when nothing else was written there."""
        run_dir = self.path.parent
        if [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
            self.path.unlink(missing_ok=True)
            run_dir.rmdir()
