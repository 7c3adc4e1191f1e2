"""The typer app, the stderr console and its progress reporter, the stop flag and ``main``.

The command modules (train, sample, data, compare) register on :data:`app` when
:mod:`trigen.cli` imports them.
"""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from trigen.cli import invocation
from trigen.errors import TrigenError
from trigen.progress import LiveReporter, PlainReporter, Reporter, SilentReporter

app = typer.Typer(
    help="trigen: train, sample and compare U-Net diffusion, DiT and autoregressive generators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True, highlight=False)


Quiet = Annotated[bool, typer.Option("--quiet", help="no progress bar or progress lines")]


def reporter(quiet: bool) -> Reporter:
    """How progress shows: a live bar when stderr is a terminal, a line per tenth otherwise
    (logs, CI, pipes), nothing with ``--quiet``."""
    if quiet:
        return SilentReporter()
    if console.is_terminal:
        return LiveReporter(console)
    return PlainReporter(lambda line: console.print(line, markup=False))


def warn(message: str) -> None:
    """Print a library warning (``on_warning`` callbacks) in yellow on stderr."""
    console.print(f"[yellow]warning: {message}[/yellow]")


class StopFlag:
    """SIGINT/SIGTERM: finish the step, checkpoint and exit; a second SIGINT aborts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        def handler(signum: int, _frame) -> None:
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True
            console.print(
                f"[yellow]signal {signal.Signals(signum).name}: finishing the step and "
                "writing a checkpoint…[/yellow]"
            )

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2; nothing else is caught."""
    invocation.remember(argv)
    try:
        # outside standalone mode click returns the code of a typer.Exit instead of raising it
        code = app(args=argv, standalone_mode=False)
    except TrigenError as err:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank fails alike: say it once
            # escaped: a message may hold brackets, e.g. pip install 'trigen[tb]'
            console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as err:
        # usage errors of typer's bundled click (unknown option, bad value): shown, not raised
        if callable(getattr(err, "show", None)) and isinstance(
            getattr(err, "exit_code", None), int
        ):
            err.show()
            return err.exit_code
        raise
    return code if isinstance(code, int) else 0
