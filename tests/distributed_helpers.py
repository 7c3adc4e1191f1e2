"""Launching a test's worker function in several fresh processes (a gloo group on CPU).

``run_workers(worker, world, out_dir, timeout_s)`` starts ``world`` Python processes that each
import the worker's test module (by its dotted path below the repository root, so relative
imports inside it resolve as under pytest), join one gloo process group on CPU and call
``worker(dist, out_dir)`` with their rank's :class:`DistContext`.
This file is also the processes' entry point: ``python -m tests.distributed_helpers MODULE
FUNCTION RANK WORLD PORT OUT_DIR``.
"""

from __future__ import annotations

import importlib
import inspect
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from trigen.train.distributed import Backend, DistContext

ROOT = Path(__file__).resolve().parents[1]  # the repository root: ``tests`` is a package below it

Worker = Callable[[DistContext, Path], None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a rendezvous address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _module_name(file: str | Path) -> str:
    """``tests.train.test_fsdp`` for ``<ROOT>/tests/train/test_fsdp.py``."""
    return ".".join(Path(file).resolve().relative_to(ROOT).with_suffix("").parts)


def run_workers(worker: Worker, world: int, out_dir: Path, timeout_s: float) -> list[str]:
    """Run ``worker(dist, out_dir)`` for every rank of ``world``, each in its own process
    (``out_dir`` is created first).

    Returns each rank's combined stdout and stderr; fails the test (with every rank's output)
    when a rank exits non-zero, and kills the ranks that outlive ``timeout_s`` seconds.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", _module_name(__file__)]
    command += [_module_name(inspect.getfile(worker)), worker.__name__]
    workers = [
        subprocess.Popen(
            [*command, str(rank), str(world), str(port), str(out_dir)],
            cwd=ROOT,  # ``-m`` puts the working directory first on sys.path: ``tests`` imports
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(world)
    ]
    try:
        outputs = [w.communicate(timeout=timeout_s)[0] for w in workers]
    finally:
        for w in workers:  # after a timeout: no rank may be left waiting on its peers
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert [w.returncode for w in workers] == [0] * world, "\n".join(outputs)
    return outputs


def _main(argv: list[str]) -> None:
    module, function, rank, world, port, out_dir = argv
    worker = getattr(importlib.import_module(module), function)
    torch.set_num_threads(1)  # the ranks share the machine's few cores
    dist = DistContext(int(rank), int(world), int(rank), Backend.GLOO)
    with dist.session(torch.device("cpu"), f"tcp://127.0.0.1:{port}"):
        worker(dist, Path(out_dir))


if __name__ == "__main__":
    _main(sys.argv[1:])
