"""The command line a results file records: main's own argv, else the process's, quoted."""

from __future__ import annotations

import sys

from trigen.cli import invocation


def test_main_argv_is_the_command_and_an_empty_argument_stays_quoted(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/trigen/__main__.py", "x"])
    invocation.remember(["compare", "--studies", "", "--out", "runs/a b"])
    assert invocation.command_line() == "trigen compare --studies '' --out 'runs/a b'"
    invocation.remember(None)  # started as a program: its own arguments, not its path
    assert invocation.command_line() == "trigen x"
