"""``trigen tokenize`` and ``trigen eval``: commands that run a trained model over a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trigen import api
from trigen.cli.app import Quiet, app, console, reporter, warn
from trigen.device import resolve_device


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

    net = load_tokenizer(str(tokenizer), resolve_device(device))
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
    quiet: Quiet = False,
) -> None:
    """Negative log-likelihood of a split: exact bits/dim (AR), ELBO bound (diffusion)."""
    import torch

    from trigen.data.datasets import load_dataset
    from trigen.eval.likelihood import evaluate_nll
    from trigen.families.capabilities import Scored

    loaded = api.load(checkpoint, ema=ema, device=device, on_warning=warn)
    cfg = loaded.config
    _, h, _ = loaded.data.image_shape
    data = load_dataset(cfg.dataset, split, root=cfg.data_root, resolution=h)
    family = loaded.family
    gen = torch.Generator(next(family.net.parameters()).device).manual_seed(seed)
    with reporter(quiet).task("eval", "images") as advance:
        result = evaluate_nll(
            family,
            data,
            batch_size=batch_size,
            max_images=max_images,
            generator=gen,
            progress=advance,
        )
    likelihood = family.likelihood
    if likelihood.scored is Scored.CODES:
        bound = "" if likelihood.exact else f" ({likelihood.words})"
        print(
            f"token NLL{bound}: {result.nats_per_image:.2f} nats/image "
            f"over {result.num_images} {split} images (about the VQ codes, not pixel bits/dim)"
        )
        return
    print(
        f"{result.bits_per_dim:.4f} bits/dim ({likelihood.words}), "
        f"{result.nats_per_image:.1f} nats/image, {result.num_images} {split} images"
    )
