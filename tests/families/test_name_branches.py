"""Measurement, report and CLI code ask a family what it can do instead of branching on its name
(``trigen.families.capabilities``). What names a family there chooses configs: the recipes and
presets a comparison trains, and the families a claim is about. This test counts the uses of
``FamilyName.<member>`` (and ``DIFFUSION_FAMILIES``) outside imports, file by file, and fails
when a file holds more than the config choices listed here, so that a new family is added in
``families/``, ``models/`` and ``build.py`` alone."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "trigen"
CHECKED = ("compare", "claims", "report", "cli", "measure", "runner.py", "sampling.py")
NAME_USE = re.compile(r"\bFamilyName\.[A-Z]\w*|\bDIFFUSION_FAMILIES\b")
OLD_ATTRIBUTES = re.compile(r"\b(has_likelihood|nll_is_pixel_exact|nll_kind)\b")

CONFIG_CHOICES = {
    # the comparison's presets (which families it trains by default) and, beside them,
    # FAMILY_TRAINING: each family's training recipe
    "compare/settings.py": 20,
    # VARIANT_STUDIES: the family whose recipe each variant study varies
    "compare/studies.py": 3,
    # the configs of the variant sweeps (DiT conditioning and depth, the objective's label,
    # the family of each condition injection C15 compares)
    "measure/variants.py": 7,
    # which of the settings' step counts a family's spec takes (MaskGIT's decoding steps K)
    "measure/samples.py": 1,
    # ar_latency_vs_tokens: an instrument of the AR family's own KV cache refuses other configs
    "measure/scaling.py": 1,
    # the claims: the families a claim is about and the configs it trains
    "claims/conditioning.py": 2,  # C3: DiT conditioning variants beside the U-Net's
    "claims/dit_scaling.py": 1,  # C5: DiT depths and widths
    "claims/gpt2_init.py": 1,  # C12: the AR transformer from GPT-2 weights
    "claims/injection.py": 1,  # C15: condition injections on the DiT recipe (among others)
    "claims/vit_init.py": 1,  # C4: the DiT from ViT weights
    "claims/likelihood.py": 3,  # C9: the AR model's exact NLL against the ELBOs
    "claims/maskgit.py": 10,  # C14: MaskGIT against AR
    "claims/memory.py": 2,  # C6: U-Net against DiT
    "claims/mirror.py": 5,  # C1, C2: U-Net against a DiT of its size
    "claims/serial.py": 5,  # C7: AR's serial decoding against a diffusion family
    "claims/steps.py": 3,  # C13: diffusion's time per image against AR's
}


def _files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = SRC / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def _code_lines(path: Path) -> list[str]:
    return [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith(("from ", "import ", "#"))
    ]


def test_family_names_are_used_only_to_choose_configs():
    found = {}
    for path in _files():
        count = sum(len(NAME_USE.findall(line)) for line in _code_lines(path))
        if count:
            found[str(path.relative_to(SRC))] = count
    over = {
        name: (count, CONFIG_CHOICES.get(name, 0))
        for name, count in found.items()
        if count > CONFIG_CHOICES.get(name, 0)
    }
    assert not over, (
        f"family names used beyond choosing configs (file: (found, allowed)): {over}; ask the "
        "family (trigen.families.capabilities) or add its capability to the Family protocol"
    )


def test_no_code_reads_the_old_likelihood_attributes():
    hits = [
        f"{path.relative_to(SRC)}:{i}"
        for path in sorted(SRC.rglob("*.py"))
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OLD_ATTRIBUTES.search(line)
    ]
    assert not hits, f"read family.likelihood instead: {hits}"
