"""``trigen sample``: a grid of images from a trained or an official DiT checkpoint."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated

import typer

from trigen import api
from trigen.autoregressive.maskgit import parse_unmasking
from trigen.cli.app import Quiet, app, console, reporter, warn
from trigen.cli.conditions import (
    attribute_vector,
    map_condition,
    parse_cfg,
    prompt_condition,
    read_prompts,
)
from trigen.cli.shared import dist_from_launcher, write_samples
from trigen.device import resolve_device
from trigen.diffusion.samplers import HEUN_MIN_NFE, Sampler, SamplerOptions, nfe, parse_sampler
from trigen.diffusion.schedules import KARRAS_RHO, Spacing, parse_spacing
from trigen.errors import ConfigError
from trigen.families.base import Family, SampleSpec
from trigen.guidance import NO_GUIDANCE
from trigen.sampling import compile_for_sampling

DIFFUSION_STEPS = SampleSpec().steps  # --steps when not given, unless the family has its own
SAMPLE_OPTIONS = tuple(f.name for f in dataclasses.fields(SampleSpec) if f.name != "guidance")
"""The options of ``trigen sample`` that fill a :class:`SampleSpec`: each is named as its field
(per-condition ``guidance`` comes from ``--cfg class=2,…``)."""
UNGIVEN_SOURCES = frozenset({"DEFAULT", "DEFAULT_MAP"})  # click's sources of a value nobody gave


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
    sampler: Annotated[
        str, typer.Option(help="diffusion: ddpm | ddim | dpmpp_2m | dpmpp_3m | heun")
    ] = SampleSpec().sampler,
    steps: Annotated[
        int | None,
        typer.Option(help="diffusion: sampling steps (default 50); maskgit: decoding steps K (12)"),
    ] = None,
    eta: Annotated[float, typer.Option(help="diffusion: DDIM η")] = 0.0,
    s_churn: Annotated[
        float, typer.Option(help="diffusion: Heun's churn, EDM's S_churn (0 = deterministic)")
    ] = 0.0,
    s_tmin: Annotated[float, typer.Option(help="diffusion: Heun churns where σ ≥ this")] = 0.0,
    s_tmax: Annotated[float, typer.Option(help="diffusion: … and σ ≤ this")] = math.inf,
    s_noise: Annotated[
        float, typer.Option(help="diffusion: std of Heun's churn noise, EDM's S_noise")
    ] = 1.0,
    grid: Annotated[
        str | None,
        typer.Option(
            help="diffusion σ grid: trailing | leading | linspace | karras "
            "(default: karras for heun, the model's spacing otherwise)"
        ),
    ] = None,
    rho: Annotated[float, typer.Option(help="diffusion: ρ of the karras grid")] = KARRAS_RHO,
    cfg: Annotated[
        str,
        typer.Option(
            help="classifier-free guidance scale over all conditions (1 = none), or one per "
            "condition, nested in this order: class=2,skeleton=1.5"
        ),
    ] = str(NO_GUIDANCE),
    attributes: Annotated[
        str | None,
        typer.Option(
            help="requested attributes in raw units, e.g. thickness=3.5,slant=0.3 (the rest: "
            "the training mean); for models trained with --condition attributes"
        ),
    ] = None,
    map_: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="requested map: a PNG of the image's size, a directory of PNGs (cycled), or "
            "test:3,17 (the skeletons of those test images)",
        ),
    ] = None,
    prompt: Annotated[
        list[str] | None,
        typer.Option(help="a caption for a text model (repeat for several): --n images each"),
    ] = None,
    prompts_file: Annotated[
        Path | None, typer.Option(help="UTF-8 file of captions, one a line: --n images each")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="'all' (a row per class) or e.g. 0,1,2")
    ] = None,
    n: Annotated[int, typer.Option(help="images (per class with --labels all)")] = 64,
    temperature: Annotated[float, typer.Option(help="autoregressive: softmax temperature")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="autoregressive: keep the k likeliest")] = None,
    top_p: Annotated[float | None, typer.Option(help="autoregressive: nucleus mass")] = None,
    unmasking: Annotated[
        str | None,
        typer.Option(
            help="maskgit: which masked tokens each step fixes, confidence | random "
            "(default: random for pixels, confidence for VQ codes)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    batch_size: Annotated[int, typer.Option(help="images per forward batch")] = 256,
    images_dir: Annotated[
        Path | None, typer.Option(help="also write one PNG per image here")
    ] = None,
    ema: Annotated[bool, typer.Option(help="use the EMA weights")] = True,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    compile_: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="diffusion: compile the network first (pays from a few thousand images on)",
        ),
    ] = False,
    quiet: Quiet = False,
    *,
    ctx: typer.Context,
) -> None:
    """Sample a grid of images from a trained checkpoint or an official DiT checkpoint.

    An option that the checkpoint's family, or the chosen sampler, does not use is refused.
    Under ``torchrun --nproc_per_node=N`` the N processes share the work; the images are the
    same as one process's."""
    options = SamplerOptions(
        eta=eta, s_churn=s_churn, s_tmin=s_tmin, s_tmax=s_tmax, s_noise=s_noise
    )
    given_steps = DIFFUSION_STEPS if steps is None else steps
    scale, per_condition = parse_cfg(cfg)
    spec = _sample_spec(
        sampler, given_steps, options, grid, rho, scale, temperature, top_k, top_p, n, batch_size,
        unmasking=unmasking, guidance=per_condition,
    )  # fmt: skip
    dist = dist_from_launcher()
    dev = dist.device(resolve_device(device))  # cuda → this rank's cuda:<local_rank>
    if (checkpoint is None) == (dit_checkpoint is None):
        raise ConfigError("give exactly one of --checkpoint or --dit-checkpoint")
    if dit_checkpoint is None and (vae is not None or image_size is not None):
        raise ConfigError("--vae and --image-size go with --dit-checkpoint only")
    if dit_checkpoint is not None:
        if vae is None:
            raise ConfigError("--dit-checkpoint samples in a VAE's latent space: add --vae <dir>")
        loaded = api.load_official_latent_dit(
            dit_checkpoint, vae, image_size=image_size, device=dev
        )
    else:
        loaded = api.load(checkpoint, ema=ema, device=dev, on_warning=warn)
    prompts = read_prompts(prompt, prompts_file)
    if prompts and labels == "all":
        raise ConfigError("--prompt gives a row per prompt: use --labels as a list, not 'all'")
    total = n * len(prompts) if prompts else n
    conds = _conditions(loaded, attributes, map_, total if labels != "all" else None)
    if prompts:
        conds.update(prompt_condition(prompts, loaded, n, warn))
    given = {name for name in SAMPLE_OPTIONS if _given(ctx, name)}
    refuse_unused(loaded.family, spec, given, f"this {loaded.config.family.value} checkpoint")
    if steps is None:
        default = getattr(loaded.family, "default_steps", DIFFUSION_STEPS)
        spec = dataclasses.replace(spec, steps=default)
    heun = "sampler" in loaded.family.sample_options(spec) and spec.sampler == Sampler.HEUN
    if heun and nfe(Sampler.HEUN, spec.steps) < HEUN_MIN_NFE:
        warn(
            f"heun with {spec.steps} steps is NFE {nfe(Sampler.HEUN, spec.steps)}: below NFE "
            f"{HEUN_MIN_NFE} its correction overshoots (README, C10); ddim or dpmpp_2m is better"
        )
    if compile_:
        if compile_for_sampling(loaded.family):
            console.print("--compile: the first chunk compiles the network (minutes on a CPU)")
        else:
            name = type(loaded.family).__name__
            warn(f"--compile: {name} samples uncompiled (its steps change shape)")
    progress = reporter(quiet or not dist.is_main)
    with dist.on(dev).session(dev), progress.task("sample", "images") as advance:
        write_samples(
            loaded,
            spec,
            labels=labels,
            n=total,
            out=out,
            seed=seed,
            images_dir=images_dir,
            batch_size=batch_size,
            dist=dist,
            progress=advance,
            conds=conds,
            row_labels=prompts or None,
        )


def _conditions(
    loaded: api.Loaded, attributes: str | None, map_text: str | None, n: int | None
) -> dict:
    """The named conditions ``--attributes`` and ``--map`` ask for, one row per image."""
    if n is None and (attributes or map_text):
        raise ConfigError("--attributes and --map take --labels as a list, not 'all'")
    specs, conds = loaded.data.conditions, {}
    if attributes:
        conds.update(attribute_vector(attributes, specs, n))
    if map_text:
        conds.update(map_condition(map_text, specs, n, loaded.data.image_shape))
    return conds


def _sample_spec(
    sampler: str,
    steps: int,
    options: SamplerOptions,
    grid: str | None,
    rho: float,
    cfg: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    n: int,
    batch_size: int,
    *,
    unmasking: str | None = None,
    guidance: tuple[tuple[str, float], ...] = (),
) -> SampleSpec:
    """The validated :class:`SampleSpec` of the sample options; bad values raise ConfigError."""
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
    if not rho > 0:
        raise ConfigError(f"--rho must be positive (EDM uses {KARRAS_RHO}), got {rho}")
    if options.eta < 0 or options.s_churn < 0 or options.s_noise < 0:
        raise ConfigError("--eta, --s-churn and --s-noise must be ≥ 0")
    if not options.s_tmin <= options.s_tmax:
        raise ConfigError(
            f"--s-tmin ({options.s_tmin}) must not exceed --s-tmax ({options.s_tmax})"
        )
    if unmasking is not None:
        unmasking = parse_unmasking(unmasking).value
    return SampleSpec(
        sampler=parse_sampler(sampler).value,
        steps=steps,
        eta=options.eta,
        s_churn=options.s_churn,
        s_tmin=options.s_tmin,
        s_tmax=options.s_tmax,
        s_noise=options.s_noise,
        grid=None if grid is None else parse_spacing(grid).value,
        rho=rho,
        cfg=cfg,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        unmasking=unmasking,
        guidance=guidance,
    )


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line (or its environment variable); by
    the source's name, as typer bundles its own click."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in UNGIVEN_SOURCES


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _flags(names) -> str:
    return ", ".join(_flag(n) for n in sorted(names)) or "no sampling option"


def refuse_unused(family: Family, spec: SampleSpec, given: set[str], what: str) -> None:
    """A ConfigError for the first option in ``given`` (:class:`SampleSpec` field names) that
    ``family`` would ignore under ``spec``, saying what would use it: another σ grid, another
    sampler, or no choice of those (``what`` names the checkpoint, e.g. "this ar checkpoint")."""
    for name in sorted(given - family.sample_options(spec)):
        samplers = [s.value for s in Sampler if name in _taken(family, spec, sampler=s.value)]
        grids = [g.value for g in Spacing if name in _taken(family, spec, grid=g.value)]
        if grids:
            raise ConfigError(
                f"{_flag(name)} shapes the {' and '.join(grids)} grid only, which sampler "
                f"{spec.sampler} does not run on here: use --grid {grids[0]} or leave "
                f"{_flag(name)} out"
            )
        if samplers:
            raise ConfigError(
                f"{_flag(name)} is an option of {' and '.join(samplers)}, which sampler "
                f"{spec.sampler} ignores: choose --sampler {samplers[0]} or leave "
                f"{_flag(name)} out"
            )
        raise ConfigError(
            f"{_flag(name)} is not used by {what}, which takes "
            f"{_flags(family.sample_options(spec))}: leave {_flag(name)} out"
        )


def _taken(family: Family, spec: SampleSpec, **change) -> frozenset[str]:
    """The options ``family`` takes under ``spec`` with some fields changed (``grid`` keeps
    the sampler; ``sampler`` resets the grid to the sampler's own)."""
    if "sampler" in change:
        change["grid"] = None
    return family.sample_options(dataclasses.replace(spec, **change))
