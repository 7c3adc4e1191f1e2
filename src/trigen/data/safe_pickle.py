"""Unpickling of numpy-array files with an allow-list: a data file must never run code.

A pickle can name any importable callable and call it while loading (``os.system`` included), so
``pickle.load`` on a downloaded file is code execution. The MNIST and CIFAR-10 files hold only
numpy arrays inside tuples, dicts, lists, bytes and numbers; those builtins need no global lookup,
and a numpy array needs exactly three globals. Everything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from trigen.errors import DataError

try:  # numpy >= 2 moved the implementation; its ``numpy.core`` alias warns on every access
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

# (module, name) as written in a pickle -> the object it resolves to; nothing else is admitted.
# Files pickled by numpy 1.x (and Python 2) name ``numpy.core.multiarray``, numpy 2 ``numpy._core``.
NUMPY_ARRAY_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose ``find_class`` admits only the globals in ``allowed``."""

    def __init__(
        self,
        file: BinaryIO,
        allowed: dict[tuple[str, str], Any] = NUMPY_ARRAY_GLOBALS,
        *,
        encoding: str = "bytes",
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` from the allow-list; raise RefusedGlobalError otherwise."""
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobalError(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids would hand object creation to us; these files never use them."""
        raise RefusedGlobalError(f"persistent id {pid!r}")


def load_restricted(
    file: BinaryIO,
    source: Path | str,
    *,
    encoding: str = "bytes",
    allowed: dict[tuple[str, str], Any] = NUMPY_ARRAY_GLOBALS,
) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler`; ``source`` names it in errors.

    ``encoding`` decodes Python 2 ``str`` objects: ``"bytes"`` keeps them as bytes (CIFAR's dict
    keys), ``"latin1"`` is what numpy arrays pickled by Python 2 need when loaded as ``str``.
    Raises DataError when the pickle names a refused global or is malformed.
    """
    try:
        return RestrictedUnpickler(file, allowed, encoding=encoding).load()
    except RefusedGlobalError as err:
        raise DataError(
            f"{source} asks to load {err}, which is not a numpy array: refusing to unpickle it; "
            "replace the file with a genuine copy"
        ) from None
    except Exception as err:  # a malformed stream can fail in pickle, numpy or gzip, in any way
        raise DataError(
            f"{source} is not a readable pickle ({err}): the file is truncated or corrupt; "
            "replace it with a genuine copy"
        ) from None
