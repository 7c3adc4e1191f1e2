"""``trigen compare``: train every family on the same data and budget and write the report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from trigen.cli import invocation
from trigen.cli.app import Quiet, app, console, reporter
from trigen.device import resolve_device


@app.command()
def compare(
    ctx: typer.Context,
    preset: Annotated[
        str,
        typer.Option(
            help="demo (≈10 min on 2 CPU cores) | hour (28 px, ≈1 h) | claims (every claim, "
            "≈3 h) | smoke"
        ),
    ] = "demo",
    families: Annotated[
        str | None, typer.Option(help="comma-separated, e.g. unet,dit,ar,pixelcnn")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="mnist | fashion_mnist | cifar10 | folder | idx | openmoji | mirror"),
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="directory of the dataset files")] = None,
    resolution: Annotated[
        int | None, typer.Option(help="image size shared by every family")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="budget: training minutes per family")
    ] = None,
    images: Annotated[int | None, typer.Option(help="budget: images seen per family")] = None,
    flops: Annotated[
        float | None,
        typer.Option(
            help="budget: training FLOPs per family (images seen × one image's forward and "
            "backward, counted), e.g. 1.2e13 [the presets' kind of budget]"
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="training seeds per family and per training inside a claim (--seed, --seed + "
            "1, …): headline numbers as the mean with a t 95 % interval over seeds, claims "
            "decided per seed and pooled [demo 1, claims 2]"
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="the base training and sampling seed [0]")
    ] = None,
    fid_samples: Annotated[
        int | None, typer.Option(help="generated images per family for FID")
    ] = None,
    reference_images: Annotated[
        int | None, typer.Option(help="test images behind the FID/KID reference statistics")
    ] = None,
    studies: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: nfe,cfg,resolution,receptive_field,conditioning,dit_scaling,"
            "objective; '' for none"
        ),
    ] = None,
    claims: Annotated[
        str | None,
        typer.Option(help="claims to test: comma-separated ids (C1,C6), all or none"),
    ] = None,
    conditions: Annotated[
        str | None,
        typer.Option(
            help="named conditions every family trains with beside the class label: "
            "attributes,skeleton (or vector,map; digits only), text (captions: mnist, "
            "openmoji) or none; adds an adherence table and grids of requested conditions "
            "beside samples to the report"
        ),
    ] = None,
    text_encoder: Annotated[
        str | None,
        typer.Option(
            help="a text condition's encoder in every training that takes captions: wordllama "
            "(frozen, pretrained) or learned (from the captions) [wordllama]"
        ),
    ] = None,
    reuse: Annotated[
        list[str] | None, typer.Option(help="family=checkpoint: skip its training (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("runs/compare"),
    cache_dir: Annotated[
        Path, typer.Option(help="reference statistics and classifier cache")
    ] = Path("runs/cache"),
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="continue the compare run in --out from its last finished piece (after a "
            "crash or Ctrl-C) under its own settings: give none of them, or the same ones",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Train the families on the same data and budget, measure them, and write the report."""
    from trigen.claims.settings import parse_claim_ids
    from trigen.compare.settings import Study
    from trigen.config import FamilyName as Fam
    from trigen.errors import ConfigError
    from trigen.experiment.run import run_compare
    from trigen.experiment.settings import compare_settings, with_seeds

    def parse(text: str | None, enum, what: str):
        if text is None:
            return None
        try:
            return tuple(enum(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            valid = ", ".join(m.value for m in enum)
            raise ConfigError(f"unknown {what} in {text!r}; choose from: {valid}") from None

    reused = {}
    for item in reuse or []:
        fam, sep, path = item.partition("=")
        if not sep or fam not in {f.value for f in Fam}:
            raise ConfigError(f"--reuse must look like family=path, got {item!r}")
        reused[fam] = Path(path)
    settings = compare_settings(
        preset,
        families=parse(families, Fam, "family"),
        dataset=dataset,
        data_root=str(data_root) if data_root else None,
        resolution=resolution,
        minutes_per_family=minutes,
        images_per_family=images,
        flops_per_family=flops,
        fid_samples=fid_samples,
        reference_images=reference_images,
        studies=parse(studies, Study, "study"),
        conditions=_condition_names(conditions),
        text_encoder=text_encoder,
    )
    if claims is not None:
        settings = dataclasses.replace(
            settings, claims=dataclasses.replace(settings.claims, run=parse_claim_ids(claims))
        )
    settings = with_seeds(settings, seeds, seed)
    dev = resolve_device(device)
    if resume:
        settings, reused, dev = _resumed(ctx, out, settings, reused, dev)
    with reporter(quiet).task("compare", "stages") as advance:
        results = run_compare(
            settings,
            out,
            cache_dir=cache_dir,
            device=dev,
            reuse=reused,
            log=lambda m: console.print(m, markup=False),
            command=invocation.command_line(),
            progress=advance,
            resume=resume,
        )
    _print_summary(results)
    console.print(f"report: {out / 'report.md'} and {out / 'report' / 'index.html'}")


# options that say where and how to run, not what to measure
NOT_SETTINGS = frozenset({"out", "cache_dir", "device", "resume", "quiet"})


def _resumed(ctx: typer.Context, out: Path, settings, reused: dict, device):
    """(settings, reused checkpoints, device) for ``--resume``: the run's own where this command
    gives no setting (and no --device); else this command's, which the run then checks."""
    import torch

    from trigen.compare.pieces import settings_from_record, stored_record
    from trigen.experiment.settings import ExperimentSettings

    def given(name: str) -> bool:  # typed on this command line (or in the environment)
        source = ctx.get_parameter_source(name)  # typer's own copy of click's ParameterSource
        return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")

    record = stored_record(out)  # one line when out holds no compare run
    if not given("device"):
        device = torch.device(record["device"])
    if any(given(name) for name in ctx.params if name not in NOT_SETTINGS):
        return settings, reused, device
    stored = {name: Path(path) for name, path in record["reuse"].items()}
    return settings_from_record(record["settings"], ExperimentSettings), stored, device


def _condition_names(text: str | None) -> tuple[str, ...] | None:
    """``--conditions attributes,map`` → the names (checked by the settings); none → ()."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return () if names == ("none",) else names


def _print_summary(results: dict) -> None:
    """Print the metric table of a comparison as markdown on stdout."""
    from trigen.report.table import markdown_table, metric_rows

    print(markdown_table(*metric_rows(results)))


@app.command()
def report(
    run_dir: Annotated[
        Path | None,
        typer.Argument(
            help="a compare output directory (has results.json); with --readme, the README to "
            "rewrite (default README.md)"
        ),
    ] = None,
    readme: Annotated[
        bool,
        typer.Option(
            "--readme",
            help="rewrite the README's generated tables (between <!-- trigen:NAME:begin --> and "
            "<!-- trigen:NAME:end -->) from docs/demo/results.json and docs/claims/results.json "
            "beside it",
        ),
    ] = False,
) -> None:
    """Re-render report.md and report/index.html from RUN_DIR/results.json (no rerun), or with
    --readme the README's tables from the committed results files."""
    from trigen.errors import ConfigError, DataError
    from trigen.report.render import RESULTS_FILE, render

    if readme:
        from trigen.report.readme import update_readme

        path = run_dir or Path("README.md")
        changed = update_readme(path)
        console.print(f"{path}: {'tables rewritten' if changed else 'tables already up to date'}")
        return
    if run_dir is None:
        raise ConfigError("trigen report needs RUN_DIR (a compare output directory) or --readme")
    if not (run_dir / RESULTS_FILE).is_file():
        raise DataError(f"{run_dir / RESULTS_FILE} does not exist: is {run_dir} a compare run?")
    try:
        md, page = render(run_dir)
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # not our results.json
        raise DataError(f"{run_dir / RESULTS_FILE} is not a trigen results file: {err}") from None
    console.print(f"report: {md} and {page}")


@app.command()
def recheck(
    run_dir: Annotated[Path, typer.Argument(help="a compare output directory (has results.json)")],
) -> None:
    """Recompute every claim's verdict from the raw values stored in RUN_DIR/results.json and
    compare it with the stored one; exit 1 on any difference."""
    from trigen.claims.recheck import recheck as recheck_run

    rows = recheck_run(run_dir)
    for r in rows:
        mark = "ok" if r.agrees and r.recomputed else ("—" if r.agrees else "DIFFERS")
        recomputed = r.recomputed or "(nothing to recompute)"
        print(f"{r.claim_id:>4}  stored {r.stored:<12} recomputed {recomputed:<22} {mark}  {r.why}")
    differing = [r.claim_id for r in rows if not r.agrees]
    if differing:
        console.print(
            f"verdicts that the stored evidence does not reproduce: {', '.join(differing)}"
        )
        raise typer.Exit(1)
    checked = sum(r.recomputed is not None for r in rows)
    console.print(f"{checked} verdict(s) recomputed from {run_dir / 'results.json'}: all agree")
