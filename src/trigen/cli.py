"""The command line: the only place in trigen that reads argv."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trigen import api
from trigen.config import FamilyName, Precision, load_config
from trigen.errors import TrigenError
from trigen.families.base import SampleSpec
from trigen.guidance import NO_GUIDANCE

app = typer.Typer(
    help="trigen: train, sample and compare U-Net diffusion, DiT and autoregressive generators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True, highlight=False)


class _StopFlag:
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


@app.command()
def train(
    family: Annotated[
        FamilyName | None, typer.Option(help="generator family [default: dit]")
    ] = None,
    model: Annotated[str, typer.Option(help="model preset, e.g. DiT-T/4, unet-tiny, ar-tiny")] = "",
    dataset: Annotated[
        str | None,
        typer.Option(help="mnist | fashion_mnist | cifar10 | folder | idx [default: mnist]"),
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="directory of the dataset files")] = None,
    resolution: Annotated[int | None, typer.Option(help="image size in pixels")] = None,
    batch_size: Annotated[int | None, typer.Option(help="images per optimizer step")] = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate")] = None,
    steps: Annotated[int | None, typer.Option(help="budget: optimizer steps")] = None,
    images: Annotated[int | None, typer.Option(help="budget: images seen")] = None,
    minutes: Annotated[float | None, typer.Option(help="budget: wall-clock minutes")] = None,
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
        precision=precision,
        seed=seed,
    )
    run_dir = out or Path("runs") / f"{cfg.family.value}-{cfg.dataset}"
    dist = _dist_from_launcher()
    stop = _StopFlag()
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
    result = api.train(
        cfg,
        run_dir,
        init=init,
        device=device,
        resume=resume,
        should_stop=stop,
        on_log=on_log,
        on_warning=lambda m: console.print(f"[yellow]warning: {m}[/yellow]"),
        dist=dist,
    )
    if not dist.is_main:  # rank 0 reports and samples for the whole job
        return
    console.print(
        f"done: step {result.step}, {result.images_seen} images, "
        f"{result.images_per_second:.1f} img/s, "
        f"checkpoint {result.checkpoint}"
    )
    if sample_grid and not stop.requested and cfg.family is not FamilyName.VQVAE:
        loaded = api.load(
            run_dir,
            device=device,
            on_warning=lambda m: console.print(f"[yellow]warning: {m}[/yellow]"),
        )
        _write_samples(loaded, SampleSpec(), labels="all", n=8, out=run_dir / "samples.png", seed=0)


def _dist_from_launcher():
    """This process's place in a torchrun job (RANK, WORLD_SIZE, LOCAL_RANK); one process
    when not launched by torchrun. The only place trigen reads these variables."""
    from trigen.errors import ConfigError
    from trigen.train.distributed import DistContext

    try:
        rank = int(os.environ.get("RANK", "0"))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun"
        ) from None
    return DistContext(rank, world_size, local_rank)  # backend: from the device, in api.train


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


def _write_samples(
    loaded: api.Loaded,
    spec: SampleSpec,
    *,
    labels: str | None,
    n: int,
    out: Path,
    seed: int,
    images_dir: Path | None = None,
    batch_size: int = 256,
    dist=None,
) -> None:
    """Sample and write the grid; under torchrun (``dist``) every rank samples its share of
    the chunks and rank 0 alone writes."""
    from trigen.report.grids import save_each, save_grid
    from trigen.sampling import sample_sharded
    from trigen.train.distributed import SINGLE

    label_tensor = api.parse_labels(labels, loaded.data.num_classes, n)
    images = sample_sharded(
        loaded.family, label_tensor, spec, seed=seed, batch_size=batch_size, dist=dist or SINGLE
    )
    if images is None:  # not rank 0
        return
    nrow = n if labels == "all" else min(len(images), 8)
    save_grid(images, out, nrow=nrow)
    if images_dir is not None:
        save_each(images, images_dir, label_tensor.numpy())
    console.print(f"wrote {len(images)} samples to {out}")


@app.command()
def sample(
    checkpoint: Annotated[
        Path | None, typer.Option(help="checkpoint directory or run directory")
    ] = None,
    dit_checkpoint: Annotated[
        Path | None,
        typer.Option(help="official DiT checkpoint file (e.g. DiT-XL-2-256x256.pt); needs --vae"),
    ] = None,
    vae: Annotated[
        Path | None,
        typer.Option(help="with --dit-checkpoint: diffusers AutoencoderKL dir or klvae run"),
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="with --dit-checkpoint: image side in pixels (checked)")
    ] = None,
    out: Annotated[Path, typer.Option(help="grid PNG to write")] = Path("samples.png"),
    sampler: Annotated[str, typer.Option(help="diffusion: ddpm | ddim | dpmpp_2m | heun")] = "ddim",
    steps: Annotated[int, typer.Option(help="diffusion: sampling steps")] = 50,
    eta: Annotated[float, typer.Option(help="diffusion: DDIM η")] = 0.0,
    cfg: Annotated[
        float, typer.Option(help="classifier-free guidance scale (1 = none)")
    ] = NO_GUIDANCE,
    labels: Annotated[
        str | None, typer.Option(help="'all' (a row per class) or e.g. 0,1,2")
    ] = None,
    n: Annotated[int, typer.Option(help="images (per class with --labels all)")] = 64,
    temperature: Annotated[float, typer.Option(help="autoregressive: softmax temperature")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="autoregressive: keep the k likeliest")] = None,
    top_p: Annotated[float | None, typer.Option(help="autoregressive: nucleus mass")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    batch_size: Annotated[int, typer.Option(help="images per forward batch")] = 256,
    images_dir: Annotated[
        Path | None, typer.Option(help="also write one PNG per image here")
    ] = None,
    ema: Annotated[bool, typer.Option(help="use the EMA weights")] = True,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
) -> None:
    """Sample a grid of images from a trained checkpoint or an official DiT checkpoint.

    Under ``torchrun --nproc_per_node=N`` the N processes share the work; the images are the
    same as one process's."""
    spec = _sample_spec(sampler, steps, eta, cfg, temperature, top_k, top_p, n, batch_size)
    dist = _dist_from_launcher()
    dev = dist.device(api.resolve_device(device))  # cuda → this rank's cuda:<local_rank>
    if (checkpoint is None) == (dit_checkpoint is None):
        from trigen.errors import ConfigError

        raise ConfigError("give exactly one of --checkpoint or --dit-checkpoint")
    if dit_checkpoint is None and (vae is not None or image_size is not None):
        from trigen.errors import ConfigError

        raise ConfigError("--vae and --image-size go with --dit-checkpoint only")
    if dit_checkpoint is not None:
        if vae is None:
            from trigen.errors import ConfigError

            raise ConfigError("--dit-checkpoint samples in a VAE's latent space: add --vae <dir>")
        loaded = api.load_official_latent_dit(
            dit_checkpoint, vae, image_size=image_size, device=dev
        )
    else:
        loaded = api.load(
            checkpoint,
            ema=ema,
            device=dev,
            on_warning=lambda m: console.print(f"[yellow]warning: {m}[/yellow]"),
        )
    with dist.on(dev).session(dev):
        _write_samples(
            loaded,
            spec,
            labels=labels,
            n=n,
            out=out,
            seed=seed,
            images_dir=images_dir,
            batch_size=batch_size,
            dist=dist,
        )


def _sample_spec(
    sampler: str,
    steps: int,
    eta: float,
    cfg: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    n: int,
    batch_size: int,
) -> SampleSpec:
    from trigen.errors import ConfigError

    if steps <= 0 or n <= 0 or batch_size <= 0:
        raise ConfigError("--steps, --n and --batch-size must be positive")
    if not temperature > 0:
        raise ConfigError(f"--temperature must be positive, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ConfigError(f"--top-k must be positive, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
    if not cfg >= 0:
        raise ConfigError(f"--cfg must be ≥ 0, got {cfg}")
    from trigen.diffusion.samplers import Sampler

    try:
        Sampler(sampler)
    except ValueError:
        valid = ", ".join(s.value for s in Sampler)
        raise ConfigError(f"unknown sampler {sampler!r}; choose one of: {valid}") from None
    return SampleSpec(
        sampler=sampler,
        steps=steps,
        eta=eta,
        cfg=cfg,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
    )


@app.command()
def tokenize(
    tokenizer: Annotated[Path, typer.Option(help="run directory or checkpoint of a trained vqvae")],
    out: Annotated[Path, typer.Option(help="token cache to write (.safetensors + .json)")],
    split: Annotated[str, typer.Option(help="train | test")] = "train",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
) -> None:
    """Encode a dataset once with a trained VQ-VAE and cache its token grids."""
    from trigen.build import load_tokenizer
    from trigen.data.datasets import load_dataset
    from trigen.tokenizers.vqvae import save_token_cache, tokenize_dataset
    from trigen.train import checkpoint as ckpt_io

    net = load_tokenizer(str(tokenizer), api.resolve_device(device))
    cfg = ckpt_io.load(tokenizer).config
    data = load_dataset(cfg["dataset"], split, root=cfg["data_root"], resolution=cfg["resolution"])
    tokens, labels = tokenize_dataset(net, (data.images, data.labels))
    save_token_cache(
        out,
        tokens,
        labels,
        token_grid=net.token_grid,
        codebook_size=net.codebook_size,
        meta={"dataset": data.name, "split": split, "tokenizer": str(tokenizer)},
    )
    used = int(tokens.unique().numel())
    console.print(
        f"wrote {len(tokens)} token grids {net.token_grid} to {out} "
        f"({used} of {net.codebook_size} codes used)"
    )


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint directory or run directory")],
    split: Annotated[str, typer.Option(help="train | test")] = "test",
    max_images: Annotated[int | None, typer.Option(help="evaluate the first N images")] = 1000,
    batch_size: Annotated[int, typer.Option(help="images per forward batch")] = 100,
    seed: Annotated[int, typer.Option(help="seed of Monte-Carlo estimates (diffusion ELBO)")] = 0,
    ema: Annotated[bool, typer.Option(help="use the EMA weights")] = True,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
) -> None:
    """Negative log-likelihood of a split: exact bits/dim (AR), ELBO bound (diffusion)."""
    import torch

    from trigen.data.datasets import load_dataset
    from trigen.eval.likelihood import evaluate_nll

    loaded = api.load(
        checkpoint,
        ema=ema,
        device=device,
        on_warning=lambda m: console.print(f"[yellow]warning: {m}[/yellow]"),
    )
    cfg = loaded.config
    _, h, _ = loaded.data.image_shape
    data = load_dataset(cfg.dataset, split, root=cfg.data_root, resolution=h)
    family = loaded.family
    gen = torch.Generator(next(family.net.parameters()).device).manual_seed(seed)
    result = evaluate_nll(family, data, batch_size=batch_size, max_images=max_images, generator=gen)
    kind = getattr(family, "nll_is_pixel_exact", None)
    if kind is False:
        print(
            f"token NLL: {result.nats_per_image:.2f} nats/image over {result.num_images} "
            f"{split} images (a likelihood of the VQ codes, not pixel bits/dim)"
        )
        return
    what = "ELBO upper bound" if cfg.family.value in ("unet", "dit") else "exact"
    print(
        f"{result.bits_per_dim:.4f} bits/dim ({what}), {result.nats_per_image:.1f} nats/image, "
        f"{result.num_images} {split} images"
    )


@app.command()
def compare(
    preset: Annotated[
        str, typer.Option(help="demo (≈15 min on 2 CPU cores) | hour (28 px, ≈1 h) | smoke")
    ] = "demo",
    families: Annotated[
        str | None, typer.Option(help="comma-separated, e.g. unet,dit,ar,pixelcnn")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="mnist | fashion_mnist | cifar10 | folder | idx")
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="directory of the dataset files")] = None,
    resolution: Annotated[
        int | None, typer.Option(help="image size shared by every family")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="budget: training minutes per family")
    ] = None,
    images: Annotated[int | None, typer.Option(help="budget: images seen per family")] = None,
    fid_samples: Annotated[
        int | None, typer.Option(help="generated images per family for FID")
    ] = None,
    studies: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: nfe,cfg,resolution,receptive_field,conditioning,dit_scaling"
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
) -> None:
    """Train the families on the same data and budget, measure them, and write the report."""
    from trigen.compare.run import run_compare
    from trigen.compare.settings import Study, compare_settings
    from trigen.config import FamilyName as Fam
    from trigen.errors import ConfigError

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
        fid_samples=fid_samples,
        studies=parse(studies, Study, "study"),
    )
    dev = api.resolve_device(device)
    results = run_compare(
        settings,
        out,
        cache_dir=cache_dir,
        device=dev,
        reuse=reused,
        log=lambda m: console.print(m, markup=False),
        command=" ".join(sys.argv),
    )
    _print_summary(results)
    console.print(f"report: {out / 'report.md'} and {out / 'report' / 'index.html'}")


def _print_summary(results: dict) -> None:
    from trigen.report.table import markdown_table, metric_rows

    print(markdown_table(*metric_rows(results)))


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2; nothing else is caught."""
    try:
        app(args=argv, standalone_mode=False)
    except TrigenError as err:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank fails alike: say it once
            console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
