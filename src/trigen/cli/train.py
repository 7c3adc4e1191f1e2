"""``trigen train``: train one generator into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trigen import api
from trigen.cli.app import Quiet, StopFlag, app, console, reporter, warn
from trigen.cli.shared import dist_from_launcher, write_samples
from trigen.config import FamilyName, Precision, load_config
from trigen.families.base import SampleSpec
from trigen.train.budget import budget_spent
from trigen.train.tensorboard import parse_loggers


@app.command()
def train(
    family: Annotated[
        FamilyName | None, typer.Option(help="generator family [default: dit]")
    ] = None,
    model: Annotated[str, typer.Option(help="model preset, e.g. DiT-T/4, unet-tiny, ar-tiny")] = "",
    dataset: Annotated[
        str | None,
        typer.Option(
            help="mnist | fashion_mnist | cifar10 | folder | idx | openmoji | mirror "
            "[default: mnist]"
        ),
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="directory of the dataset files")] = None,
    resolution: Annotated[int | None, typer.Option(help="image size in pixels")] = None,
    condition: Annotated[
        str | None,
        typer.Option(
            help="what the model is conditioned on, e.g. class,attributes or skeleton (a map) "
            "or none; default: the class label. attributes and skeleton are measured from the "
            "images (digits)"
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="images per optimizer step")] = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate")] = None,
    steps: Annotated[int | None, typer.Option(help="budget: optimizer steps")] = None,
    images: Annotated[int | None, typer.Option(help="budget: images seen")] = None,
    minutes: Annotated[float | None, typer.Option(help="budget: wall-clock minutes")] = None,
    flops: Annotated[
        float | None,
        typer.Option(
            help="budget: training FLOPs (images seen × one image's forward and backward, "
            "counted), e.g. 2e14"
        ),
    ] = None,
    precision: Annotated[Precision | None, typer.Option(help="fp32 or bf16 autocast")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    out: Annotated[
        Path | None, typer.Option(help="run directory (default runs/<family>-<dataset>)")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file with settings")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override key=value (repeatable)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue from the newest valid checkpoint in --out")
    ] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    init_vit: Annotated[
        Path | None, typer.Option(help="DiT: initialise blocks from a ViT (HF dir or timm file)")
    ] = None,
    init_gpt2: Annotated[
        Path | None, typer.Option(help="AR: initialise from a GPT-2 checkpoint (HF dir or file)")
    ] = None,
    sample_grid: Annotated[
        bool, typer.Option(help="write samples.png (EMA, one row per class) at the end")
    ] = True,
    logger: Annotated[
        str,
        typer.Option(
            help="jsonl | tensorboard | jsonl,tensorboard: tensorboard adds event files "
            "(scalars, EMA sample grids) in <out>/tensorboard; metrics.jsonl is always written"
        ),
    ] = "jsonl",
    quiet: Quiet = False,
) -> None:
    """Train a generator; checkpoints, metrics.jsonl and a sample grid go to the run directory."""
    cfg = load_config(
        config,
        set_,
        family=family,
        model=model or None,
        dataset=dataset,
        data_root=str(data_root) if data_root else None,
        resolution=resolution,
        batch_size=batch_size,
        lr=lr,
        max_steps=steps,
        max_images=images,
        max_minutes=minutes,
        max_flops=flops,
        precision=precision,
        seed=seed,
        **_condition_settings(condition),
    )
    loggers = parse_loggers(logger)
    run_dir = out or Path("runs") / f"{cfg.family.value}-{cfg.dataset}"
    dist = dist_from_launcher()
    stop = StopFlag()
    stop.install()
    if dist.is_main:
        processes = f" on {dist.world_size} processes" if dist.distributed else ""
        console.print(
            f"training {cfg.family.value} {cfg.preset} on {cfg.dataset} → {run_dir}{processes}"
        )

    def on_log(record: dict[str, float]) -> None:
        console.print(
            f"step {record['step']:>6}  images {record['images']:>8}  loss {record['loss']:.4f}  "
            f"{record['images_per_s']:.0f} img/s  lr {record['lr']:.2e}"
            + (f"  skipped {record['skipped']}" if record["skipped"] else "")
        )

    init = _initialiser(init_vit, init_gpt2)
    progress = reporter(quiet or not dist.is_main)
    with progress.task("train", budget_spent(cfg, 0, 0, 0.0).unit.value) as advance:
        result = api.train(
            cfg,
            run_dir,
            init=init,
            device=device,
            resume=resume,
            should_stop=stop,
            on_log=on_log,
            on_warning=warn,
            dist=dist,
            on_progress=lambda spent: advance(spent.done, spent.total, spent.unit.value),
            loggers=loggers,
        )
    if not dist.is_main:  # rank 0 reports and samples for the whole job
        return
    console.print(
        f"done: step {result.step}, {result.images_seen} images, "
        f"{result.flops:.3g} training FLOPs ({result.flops_per_image:.3g} per image), "
        f"{result.images_per_second:.1f} img/s, "
        f"checkpoint {result.checkpoint}"
    )
    if not sample_grid or stop.requested:
        return
    loaded = api.load(run_dir, device=device, on_warning=warn)
    if not loaded.family.draws_samples:  # a tokenizer
        return
    with progress.task("samples.png", "images") as advance:
        write_samples(
            loaded,
            SampleSpec(),
            labels="all",
            n=8,
            out=run_dir / "samples.png",
            seed=0,
            progress=advance,
        )


def _condition_settings(text: str | None) -> dict:
    """``--condition class,attributes`` → conditional (the class label) and the named rest."""
    if text is None:
        return {}
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names in ([], ["none"]):
        return {"conditional": False, "conditions": []}
    return {"conditional": "class" in names, "conditions": [n for n in names if n != "class"]}


def _initialiser(vit: Path | None, gpt2: Path | None):
    """The ``init(net)`` of --init-vit / --init-gpt2, printing what was loaded and skipped."""
    from trigen.errors import ConfigError

    if vit is not None and gpt2 is not None:
        raise ConfigError("give --init-vit (DiT) or --init-gpt2 (AR), not both")
    if vit is None and gpt2 is None:
        return None

    def init(net) -> None:
        from trigen.interop import init_ar_from_gpt2, init_dit_from_vit
        from trigen.models.ar_transformer import ARTransformer
        from trigen.models.dit import DiT

        if vit is not None:
            if not isinstance(net, DiT):
                raise ConfigError("--init-vit initialises a DiT: use --family dit")
            report = init_dit_from_vit(net, vit)
        else:
            if not isinstance(net, ARTransformer):
                raise ConfigError("--init-gpt2 initialises the AR transformer: use --family ar")
            report = init_ar_from_gpt2(net, gpt2)
        console.print(report.summary(), markup=False)

    return init
