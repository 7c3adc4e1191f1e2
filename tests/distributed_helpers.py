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
# Native threads of a gloo group: its work queue, its socket loop, rank 0's TCPStore server
GROUP_THREADS = ("pt_gloo_runloop", "gloo_tcp_loop", "pt_tcpstore")


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
    module = _module_name(inspect.getfile(worker))
    codes, outputs = launch_workers(module, worker.__name__, world, out_dir, timeout_s)
    assert codes == [0] * world, "\n".join(outputs)
    return outputs


def launch_workers(
    module: str, function: str, world: int, out_dir: Path, timeout_s: float
) -> tuple[list[int], list[str]]:
    """Run ``module.function(dist, out_dir)`` on ``world`` ranks, each in its own process;
    each rank's exit code and combined stdout and stderr. A rank that outlives ``timeout_s``
    seconds is killed (a negative exit code)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", _module_name(__file__), module, function]
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
    except subprocess.TimeoutExpired:
        outputs = None
    finally:
        for w in workers:  # after a timeout: no rank may be left waiting on its peers
            if w.poll() is None:
                w.kill()
    if outputs is None:
        outputs = [w.communicate()[0] + f"\n[killed after {timeout_s} s]" for w in workers]
    return [w.returncode for w in workers], outputs


def _main(argv: list[str]) -> None:
    module, function, rank, world, port, out_dir = argv
    worker = getattr(importlib.import_module(module), function)
    torch.set_num_threads(1)  # the ranks share the machine's few cores
    dist = DistContext(int(rank), int(world), int(rank), Backend.GLOO)
    with dist.session(torch.device("cpu"), f"tcp://127.0.0.1:{port}"):
        worker(dist, Path(out_dir))
    # Leaving the session freed the group: none of its threads may run into the C++ exit,
    # where they can abort this finished rank ("terminate called without an active exception").
    left = [name for name in _thread_names() if name.startswith(GROUP_THREADS)]
    assert not left, f"rank {rank}: the process group's threads outlive the session: {left}"


def _thread_names() -> list[str]:
    """Names of this process's native threads (Linux; empty elsewhere)."""
    tasks = Path("/proc/self/task")
    return [(t / "comm").read_text().strip() for t in tasks.iterdir()] if tasks.exists() else []


if __name__ == "__main__":
    _main(sys.argv[1:])
