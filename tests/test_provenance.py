"""The commit a results file names (issue 27): the short HEAD of the checkout the package runs
from, ``+dirty`` when its tracked files changed; None, never an error, anywhere else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trigen.provenance import DIRTY, code_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository with a committed package ``src/pkg``; returns the package's directory."""
    package = tmp_path / "repo" / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n')
    repo = tmp_path / "repo"
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return package


def test_a_clean_checkout_gives_its_short_head(checkout: Path):
    head = git(checkout, "rev-parse", "--short", "HEAD")
    assert code_commit(checkout) == head


def test_a_changed_tracked_file_marks_it_dirty_and_an_untracked_one_does_not(checkout: Path):
    head = git(checkout, "rev-parse", "--short", "HEAD")
    (checkout / "results.json").write_text("{}")  # a run writing into the checkout
    assert code_commit(checkout) == head
    (checkout / "__init__.py").write_text('"""A changed package."""\n')
    assert code_commit(checkout) == head + DIRTY


def test_outside_a_checkout_there_is_no_commit(tmp_path: Path):
    loose = tmp_path / "site-packages" / "pkg"
    loose.mkdir(parents=True)
    (loose / "__init__.py").write_text("")
    assert code_commit(loose) is None


def test_an_installed_copy_inside_another_repository_is_not_its_checkout(checkout: Path):
    """A package installed into an ignored virtual environment inside some repository: that
    repository's commit is not the installed code's."""
    repo = checkout.parent.parent
    (repo / ".gitignore").write_text(".venv/\n")
    installed = repo / ".venv" / "lib" / "site-packages" / "pkg"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert code_commit(installed) is None


def test_without_git_there_is_no_commit(checkout: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(checkout))  # no git program on it
    assert code_commit(checkout) is None


def test_a_checkout_without_a_commit_yet_has_none(tmp_path: Path):
    package = tmp_path / "fresh" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    git(tmp_path / "fresh", "init", "-q")
    git(tmp_path / "fresh", "add", ".")  # tracked, but HEAD names no commit
    assert code_commit(package) is None
