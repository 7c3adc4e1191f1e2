"""The package layering of ``src/trigen`` (docs/architecture.md), read from the imports themselves:
no package imports one that imports it back, and the measurement layers sit below the ones that
orchestrate and render them (issue 24)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import trigen

SRC = Path(trigen.__file__).parent


def package_imports() -> dict[str, set[str]]:
    """Top-level package (or module) of ``trigen`` → the other ones it imports, lazily or not."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        source = parts[0]
        if source == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "trigen":
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trigen."):
                targets = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("trigen.")]
            else:
                continue
            edges[source].update(t for t in targets if t != source)
    return edges


def reaches(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_package_imports_one_that_imports_it_back():
    edges = package_imports()
    circles = sorted(p for p in edges if p in reaches(edges, p))
    assert not circles, f"import circles through {circles}"


def test_measurement_and_claims_sit_below_what_orchestrates_and_renders_them():
    edges = package_imports()
    assert not reaches(edges, "measure") & {"compare", "claims", "report", "cli", "api"}
    assert not reaches(edges, "claims") & {"compare", "experiment", "report", "cli", "api"}
    assert not reaches(edges, "report") & {"compare", "experiment", "cli", "api"}


def test_compare_and_claims_do_not_import_each_other():
    """The comparison of the families and the claims ledger are siblings: what runs both
    (``trigen compare``'s presets and its run) is ``experiment``, above them."""
    edges = package_imports()
    assert "claims" not in edges["compare"] and "compare" not in edges["claims"]
    assert not reaches(edges, "compare") & {"experiment", "cli"}


def test_the_building_blocks_know_nothing_of_training_or_measuring():
    edges = package_imports()
    above = {
        "families",
        "train",
        "eval",
        "measure",
        "claims",
        "compare",
        "experiment",
        "cli",
        "api",
    }
    above |= {"build"}
    for low in ("nn", "models", "text", "data", "diffusion", "conditions", "autoregressive"):
        assert not reaches(edges, low) & above, low


def test_only_the_entry_points_import_the_cli_and_the_public_api():
    edges = package_imports()
    assert {p for p, targets in edges.items() if "cli" in targets} == {"__main__"}
    assert {p for p, targets in edges.items() if "api" in targets} <= {
        "cli",
        "compare",
        "experiment",
    }
