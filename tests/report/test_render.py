"""The report is rebuilt from a saved results.json alone, without importing torch."""

import json
import subprocess
import sys

import numpy as np

from trigen.report.grids import save_grid

RESULTS = {
    "meta": {"dataset": "mnist", "budget": "1 min per family"},
    "families": {
        fam: {
            "params": 1.2e6 * (i + 1),
            "grid": f"{fam}_samples.png",
            "train": {
                "images_per_second": 100.0,
                "images_seen": 6400,
                "loss_curve": [[64, 1.0], [640, 0.5], [6400, 0.2]],
            },
            "sampling": {
                "sampler": "ddim",
                "steps": 50,
                "nfe": 50,
                "latency_s_per_image": 0.01,
                "peak_memory_mb": 300.0,
            },
            "cost": {"flops_per_sample": 1.5e10},
            "quality": {"fid": 30.0 + i, "fid_samples": 1000, "cond_accuracy": 0.9},
            "nll": {"bits_per_dim": 1.1, "kind": "elbo"},
        }
        for i, fam in enumerate(["unet", "dit", "ar"])
    },
    "studies": {
        "nfe": [
            {"family": "dit", "sampler": "ddim", "steps": s, "nfe": s, "domain_fid": 10 / s}
            for s in (5, 10, 20)
        ],
        "resolution": [
            {
                "family": f,
                "resolution": r,
                "latency_s_per_image": r * 0.01,
                "peak_memory_mb": r * 2.0,
            }
            for f in ("dit", "ar")
            for r in (8, 16)
        ],
        "cfg": [
            {"family": "dit", "scale": s, "domain_fid": 5.0 + s, "cond_accuracy": 0.8}
            for s in (1.0, 2.0)
        ],
    },
}


def test_render_without_torch(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    for fam in RESULTS["families"]:
        save_grid(np.zeros((4, 8, 8, 1), np.uint8), tmp_path / f"{fam}_samples.png", nrow=2)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from trigen.report.render import render\n"
        f"render({str(tmp_path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report" / "index.html").read_text()
    for needle in (
        "Architecture",
        "Generation process",
        "Attention range",
        "Condition injection",
        "Training objective",
        "Inference cost",
        "Pretraining",
        "Best use",
    ):
        assert needle in md and needle in page
    assert "| FID |" in md or "FID" in md
    # three grids + a loss curve per family, NFE, latency and memory vs resolution, FID and
    # accuracy vs guidance
    assert page.count("<img") == 3 + 3 + 1 + 2 + 2
    assert "data:image/png;base64," in page  # self-contained
    figs = ["loss_unet", "loss_dit", "loss_ar", "quality_vs_nfe", "latency_resolution"]
    for fig in [*figs, "memory_resolution", "cfg_fid", "cfg_accuracy"]:
        assert (tmp_path / "report" / f"{fig}.png").stat().st_size > 1000


def test_number_format_keeps_magnitudes():
    from trigen.report.table import fmt

    assert fmt(22080) == "22.1k" and fmt(861000) == "861k" and fmt(2240) == "2,240"
    assert fmt(1.87e6) == "1.87M" and fmt(7.6e9) == "7.6G" and fmt(None) == "—"
    assert fmt(float("nan")) == "—" and fmt(0.0786) == "0.0786"


def test_results_without_claims_or_host_render_as_before(tmp_path):
    """A results.json from before the claims ledger: the header lists meta as given (the bare
    ``cpu`` string included) and the comparison table follows it directly."""
    from trigen.report.render import render

    results = {**RESULTS, "meta": {**RESULTS["meta"], "cpu": "x86_64"}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    for fam in RESULTS["families"]:
        save_grid(np.zeros((4, 8, 8, 1), np.uint8), tmp_path / f"{fam}_samples.png", nrow=2)
    md_path, page_path = render(tmp_path)
    head = md_path.read_text().split("## The comparison table (measured)")[0].strip()
    assert head.splitlines()[2:] == [f"- {k}: {v}" for k, v in results["meta"].items()]
    page = page_path.read_text()
    assert "What the claims say" not in page and 'class="claims"' not in page
    assert page.index("</ul>") < page.index("<h2>The comparison table (measured)</h2>")


def test_trigen_report_rerenders_from_results_json_and_refuses_other_dirs(tmp_path, capsys):
    import json

    from trigen.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"meta": {}, "families": {}, "studies": {}}))
    assert main(["report", str(run)]) == 0
    assert (run / "report.md").exists() and (run / "report" / "index.html").exists()
    assert main(["report", str(tmp_path / "nowhere")]) != 0
    assert "results.json does not exist" in capsys.readouterr().err
    (run / "results.json").write_text("[1, 2]")
    assert main(["report", str(run)]) != 0
