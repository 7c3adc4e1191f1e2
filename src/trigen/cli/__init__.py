"""The command line: the only place in trigen that reads argv.

Importing this package registers the commands on :data:`app`; ``trigen --help`` lists them in
the order their modules are imported below: train, sample, tokenize, eval, compare.
"""

# the import order below is the --help order, not the alphabetical one
# isort: off
from trigen.cli.app import app, console, main
from trigen.cli import train  # noqa: F401  (registers train)
from trigen.cli import sample  # noqa: F401  (registers sample)
from trigen.cli import data  # noqa: F401  (registers tokenize and eval)
from trigen.cli import compare  # noqa: F401  (registers compare and report)
# isort: on

__all__ = ["app", "console", "main"]
