"""The HTML report as a browser sees it: headless Chromium loads a copy of report/index.html.

A small script, injected into the copy (never into trigen's output), waits for ``load`` and writes
what the browser built (tables, cells, every image's natural size) as JSON into the DOM, which
``--dump-dom`` prints. ``make test`` installs Chromium when it can (as root: CI); where it cannot,
the test skips and its reason names the command that installs the browser.
"""

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from trigen.report.grids import save_grid
from trigen.report.render import render
from trigen.report.table import FAMILY_TITLES

FAMILIES = ("unet", "dit", "ar")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y --no-install-recommends chromium"  # as make system-deps does
BROWSER_SECONDS = 120  # a cold start on a busy 2-core machine; it takes ~2 s when quiet
VIRTUAL_TIME_MS = 10_000  # virtual time lets the page finish loading before the DOM is dumped
VERDICT_ID = "trigen-verdict"
BROKEN_ID = "trigen-broken"  # a deliberately broken image: proves the check can fail

CHECK_SCRIPT = f"""
<img id="{BROKEN_ID}" alt="broken on purpose" src="data:image/png;base64,AAAA">
<script>
window.addEventListener("load", () => {{
  const shown = (el) => {{
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }};
  const images = [...document.images].map((img) => ({{
    id: img.id, alt: img.alt, complete: img.complete,
    width: img.naturalWidth, height: img.naturalHeight, shown: shown(img),
  }}));
  const tables = [...document.querySelectorAll("table")].map((t) => ({{
    cls: t.className, shown: shown(t),
    header: [...t.querySelectorAll("thead th")].map((c) => c.textContent),
    rows: [...t.querySelectorAll("tbody tr")].map((r) => [...r.cells].map((c) => c.textContent)),
  }}));
  const out = document.createElement("pre");
  out.id = "{VERDICT_ID}";
  out.textContent = JSON.stringify({{ images, tables }});
  document.body.appendChild(out);
}});
</script>
"""


def _results() -> dict:
    """A small results.json: three families with metrics, a loss curve and one study."""
    families = {
        fam: {
            "params": 1.0e6 * (i + 1),
            "grid": f"{fam}_samples.png",
            "train": {"images_per_second": 90.0, "loss_curve": [[64, 1.0], [640, 0.4]]},
            "sampling": {"sampler": "ddim", "steps": 20, "nfe": 20, "latency_s_per_image": 0.02},
            "cost": {"flops_per_sample": 2e9},
            "quality": {"fid": 40.0 + i, "fid_samples": 100, "cond_accuracy": 0.8},
            "nll": {"bits_per_dim": 1.2, "kind": "exact"},
        }
        for i, fam in enumerate(FAMILIES)
    }
    nfe = [
        {"family": "dit", "sampler": "ddim", "steps": s, "nfe": s, "domain_fid": 9.0 / s}
        for s in (5, 10)
    ]
    return {"meta": {"dataset": "mnist"}, "families": families, "studies": {"nfe": nfe}}


@pytest.fixture
def chromium() -> str:
    """The headless browser's path; skips, saying how to install it, when there is none."""
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    pytest.skip(
        f"no Chromium on PATH (looked for {', '.join(BROWSERS)}); as root run `{INSTALL}` "
        "(`make test` does so itself when run as root)"
    )


def _browser_verdict(browser, page_path, profile) -> dict:
    """Open ``page_path`` in headless ``browser`` and return the injected script's JSON verdict."""
    cmd = [
        browser,
        "--headless=new",
        "--no-sandbox",  # required as root (CI), harmless otherwise
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        "--dump-dom",
        page_path.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_SECONDS)
    found = re.search(rf'<pre id="{VERDICT_ID}">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no verdict in Chromium's DOM (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_report_renders_in_chromium(chromium, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(_results()))
    rng = np.random.default_rng(0)
    for fam in FAMILIES:
        grid = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
        save_grid(grid, run / f"{fam}_samples.png", nrow=2)
    _, page = render(run)

    original = page.read_text()
    checked = page.with_name("index.chromium-check.html")
    checked.write_text(original.replace("</body>", CHECK_SCRIPT + "</body>", 1))
    verdict = _browser_verdict(chromium, checked, tmp_path / "profile")
    assert page.read_text() == original  # trigen's own page is untouched

    tables = {t["cls"]: t for t in verdict["tables"]}
    comparison = tables["comparison"]
    assert comparison["shown"]
    titles = [FAMILY_TITLES[f] for f in FAMILIES]
    assert comparison["header"] == ["", *titles]
    assert len(comparison["rows"]) >= 8  # architecture ... best use
    for row in comparison["rows"]:  # a label and one non-empty cell per family
        assert len(row) == 1 + len(FAMILIES) and all(cell.strip() for cell in row), row
    labels = [row[0] for row in comparison["rows"]]
    assert "Architecture" in labels and "Inference cost" in labels
    metrics = tables["metrics"]
    assert [row[0] for row in metrics["rows"]] == titles

    images = [img for img in verdict["images"] if img["id"] != BROKEN_ID]
    assert len(images) == original.count("<img") >= len(FAMILIES) + 2  # grids, loss, NFE
    for img in images:
        assert img["complete"] and img["width"] > 0 and img["height"] > 0, img["alt"]
        assert img["shown"], img["alt"]
    (broken,) = [img for img in verdict["images"] if img["id"] == BROKEN_ID]
    assert broken["width"] == 0  # the check tells a broken image from a loaded one
