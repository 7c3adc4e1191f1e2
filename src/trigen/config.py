"""Run configuration: frozen dataclasses from TOML and typed ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from trigen.diffusion.precond import Objective
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import ScheduleKind, TimeSampling
from trigen.errors import ConfigError


class FamilyName(StrEnum):
    """The generator families trigen trains."""

    UNET = "unet"
    DIT = "dit"
    AR = "ar"
    PIXELCNN = "pixelcnn"
    VQ = "vq"
    VQVAE = "vqvae"
    KLVAE = "klvae"  # KL autoencoder: the latent space U-Net and DiT can train in
    # masked parallel decoding (MaskGIT): over pixels, or over VQ codes with a tokenizer set
    MASKGIT = "maskgit"


DIFFUSION_FAMILIES = (FamilyName.UNET, FamilyName.DIT)  # the families sampled by denoising
GENERATOR_FAMILIES = (  # the families that generate images and so take conditions
    FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.PIXELCNN, FamilyName.VQ,
    FamilyName.MASKGIT,
)  # fmt: skip

CONDITION_SOURCES = {
    "attributes": "vector",  # Morpho-MNIST measurements of each image (trigen.data.morpho)
    "skeleton": "map",  # the 1-pixel skeleton of each image
    "text": "tokens",  # a caption per image (trigen.data.captioned: mnist, openmoji)
}
"""Named conditions trigen measures from a dataset's own images: name → kind."""
CONDITION_ALIASES = {"map": "skeleton", "vector": "attributes", "caption": "text"}
TEXT_ENCODERS = ("wordllama", "learned")  # frozen pretrained, or learned from the captions
CAPTIONED_DATASETS = ("mnist", "openmoji")


class Precision(StrEnum):
    """Compute precision of the forward/backward pass; master weights are always fp32."""

    FP32 = "fp32"
    BF16 = "bf16"


DEFAULT_PRESETS: dict[FamilyName, str] = {
    FamilyName.UNET: "unet-tiny",
    FamilyName.DIT: "DiT-T/4",
    FamilyName.AR: "ar-tiny",
    FamilyName.PIXELCNN: "pixelcnn-tiny",
    FamilyName.VQ: "ar-tiny",
    FamilyName.VQVAE: "vq-tiny",
    FamilyName.KLVAE: "kl-tiny",
    FamilyName.MASKGIT: "maskgit-tiny",
}


@dataclass(frozen=True)
class DiffusionOptions:
    """Diffusion-specific settings (U-Net and DiT).

    ``objective`` flow trains flow matching on the straight path x_t = (1 − t)·x₀ + t·ε
    (prediction v is then the velocity ε − x₀); ``schedule`` and ``min_snr_gamma`` are settings
    of the diffusion objective and unused by flow, whose t is drawn by ``flow_time``
    (logit-normal: t = sigmoid(logit_mean + logit_std·n)).
    """

    schedule: ScheduleKind = ScheduleKind.COSINE
    prediction: Prediction = Prediction.V
    min_snr_gamma: float | None = 5.0
    objective: Objective = Objective.DIFFUSION
    flow_time: TimeSampling = TimeSampling.LOGIT_NORMAL
    logit_mean: float = 0.0
    logit_std: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; training is counted in images seen, not epochs."""

    family: FamilyName = FamilyName.DIT
    model: str = ""  # preset name; empty = the family's default preset
    dataset: str = "mnist"
    data_root: str | None = None
    resolution: int | None = None
    flip: bool = False
    conditional: bool = True  # the class label
    # named conditions besides the class label, measured from the images (CONDITION_SOURCES)
    conditions: tuple[str, ...] = ()
    text_encoder: str = "wordllama"  # a text condition's encoder (TEXT_ENCODERS)
    text_length: int = 32  # a caption's context in tokens: longer ones are cut (with a warning)
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_images: int = 5_000
    # the lr decays linearly to zero over this last fraction of the budget (0: constant)
    lr_cooldown: float = 0.0
    grad_clip: float = 1.0
    ema_halflife_images: float = 10_000.0
    ema_rampup_ratio: float | None = 0.05  # half-life ≤ this × images seen (EDM)
    label_dropout: float = 0.1
    precision: Precision = Precision.FP32
    seed: int = 0
    max_steps: int | None = None
    max_images: int | None = None
    max_minutes: float | None = None
    # training FLOPs: images seen × one image's counted forward and backward (trigen.train.flops)
    max_flops: float | None = None
    log_every: int = 50
    checkpoint_every: int = 500  # steps
    keep_checkpoints: int = 3
    max_bad_steps: int = 20  # consecutive non-finite steps before giving up
    diffusion: DiffusionOptions = field(default_factory=DiffusionOptions)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    # family vq (and maskgit over VQ codes): run directory or checkpoint of a trained vqvae
    tokenizer: str | None = None
    # unet/dit: train in the latent space of a klvae run directory or a diffusers AutoencoderKL dir
    autoencoder: str | None = None
    grad_checkpointing: bool = False  # recompute each block's activations in backward
    compile: bool = False  # torch.compile the network (worth it for long runs only)
    fsdp: bool = False  # under torchrun: shard parameters/gradients (FSDP2) instead of DDP

    def __post_init__(self) -> None:
        # the Python API may pass plain strings/dicts: coerce them the way the TOML path does
        for name, kind in (("family", FamilyName), ("precision", Precision)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                object.__setattr__(self, name, _coerce(kind, value, name))
        names = tuple(CONDITION_ALIASES.get(n, n) for n in _as_names(self.conditions))
        object.__setattr__(self, "conditions", names)
        if isinstance(self.diffusion, dict):
            object.__setattr__(
                self, "diffusion", _build(DiffusionOptions, self.diffusion, "diffusion.")
            )
        validate(self)

    @property
    def preset(self) -> str:
        return self.model or DEFAULT_PRESETS[self.family]

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON reads it back (lists, not tuples), so a stored copy compares equal."""
        data = dataclasses.asdict(self)
        data["conditions"] = list(self.conditions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data, "")


def validate(cfg: TrainConfig) -> None:
    """Reject values no run can use; each message names the option and the fix."""
    positive = (
        "batch_size",
        "grad_accum",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "max_bad_steps",
    )
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {getattr(cfg, name)}")
    for name in ("lr", "ema_halflife_images"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive finite number, got {value}")
    for name in ("weight_decay", "grad_clip", "warmup_images"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number ≥ 0, got {value}")
    if not 0.0 <= cfg.lr_cooldown < 1.0 or math.isnan(cfg.lr_cooldown):
        raise ConfigError(
            f"lr_cooldown must be a fraction of the budget in [0, 1), got {cfg.lr_cooldown}"
        )
    if not 0.0 <= cfg.label_dropout < 1.0 or math.isnan(cfg.label_dropout):
        raise ConfigError(f"label_dropout must be in [0, 1), got {cfg.label_dropout}")
    for name in ("max_steps", "max_images", "max_minutes", "max_flops"):
        value = getattr(cfg, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be positive, got {value}")
    if cfg.resolution is not None and not 4 <= cfg.resolution <= 1024:
        raise ConfigError(f"resolution must be between 4 and 1024 pixels, got {cfg.resolution}")
    if cfg.family is FamilyName.VQ and not cfg.tokenizer:
        raise ConfigError("family vq needs a trained tokenizer: --set tokenizer=<vqvae run dir>")
    if cfg.tokenizer and cfg.family not in (FamilyName.VQ, FamilyName.MASKGIT):
        raise ConfigError(
            f"tokenizer (VQ codes) applies to families vq and maskgit, not {cfg.family.value}"
        )
    if cfg.autoencoder and cfg.family not in (FamilyName.UNET, FamilyName.DIT):
        raise ConfigError(
            f"autoencoder (latent space) applies to families unet and dit, not {cfg.family.value}"
        )
    _validate_conditions(cfg)
    ramp = cfg.ema_rampup_ratio
    if ramp is not None and not (math.isfinite(ramp) and ramp > 0):
        raise ConfigError(f"ema_rampup_ratio must be positive or unset, got {ramp}")
    gamma = cfg.diffusion.min_snr_gamma
    if gamma is not None and not (math.isfinite(gamma) and gamma > 0):
        raise ConfigError(f"min_snr_gamma must be positive or unset, got {gamma}")
    logit_std, logit_mean = cfg.diffusion.logit_std, cfg.diffusion.logit_mean
    if not (math.isfinite(logit_std) and logit_std > 0 and math.isfinite(logit_mean)):
        raise ConfigError(
            f"logit_std must be positive and logit_mean finite, got {logit_std}, {logit_mean}"
        )


def _as_names(value: Any) -> tuple[str, ...]:
    """Condition names from a tuple/list or a comma-separated string ("attributes,skeleton")."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"conditions must be a list of names, got {value!r}")
    return tuple(value)


def _validate_conditions(cfg: TrainConfig) -> None:
    unknown = [name for name in cfg.conditions if name not in CONDITION_SOURCES]
    if unknown:
        raise ConfigError(
            f"unknown condition {unknown[0]!r}; valid: {', '.join(CONDITION_SOURCES)} "
            "(the class label is switched by conditional)"
        )
    if len(set(cfg.conditions)) != len(cfg.conditions):
        raise ConfigError(f"a condition is named twice: {', '.join(cfg.conditions)}")
    if not cfg.conditions:
        return
    if cfg.family not in GENERATOR_FAMILIES:
        raise ConfigError(f"family {cfg.family.value} is not conditioned: drop conditions")
    if cfg.autoencoder:
        raise ConfigError(
            "named conditions are not supported in latent space yet: drop autoencoder or conditions"
        )
    if "text" in cfg.conditions and cfg.dataset not in CAPTIONED_DATASETS:
        raise ConfigError(
            f"dataset {cfg.dataset} has no captions; text needs one of: "
            f"{', '.join(CAPTIONED_DATASETS)}"
        )
    if cfg.text_encoder not in TEXT_ENCODERS:
        raise ConfigError(
            f"unknown text_encoder {cfg.text_encoder!r}; choose one of: {', '.join(TEXT_ENCODERS)}"
        )
    if not 1 <= cfg.text_length <= 512:
        raise ConfigError(f"text_length must be between 1 and 512 tokens, got {cfg.text_length}")
    if cfg.flip and any(CONDITION_SOURCES[n] in ("vector", "tokens") for n in cfg.conditions):
        raise ConfigError(
            "flip mirrors the images but not their attributes or captions (a slant changes "
            "sign): set flip=false"
        )


def load_config(
    path: Path | None, overrides: list[str] | None = None, **values: Any
) -> TrainConfig:
    """Merge a TOML file, explicit ``values`` and ``key=value`` overrides (dotted = nested)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read config file {path}: {err}; give a TOML file") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    for key, value in values.items():
        if value is not None:
            data[key] = value
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value")
        _set_dotted(data, key.strip(), _parse_scalar(raw.strip()))
    return TrainConfig.from_dict(data)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    data[last] = value


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word such as a preset name


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table of settings")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting {prefix}{unknown[0]!r}; valid: {', '.join(sorted(known))}"
        )
    kwargs = {name: _coerce(hints[name], value, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"invalid configuration: {err}") from None


def _coerce(hint: Any, value: Any, name: str) -> Any:
    """Check ``value`` against ``hint``; convert where unambiguous (int → float, str → Enum)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name} has the wrong type: {value!r}")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".")
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(str(value))
        except ValueError:
            valid = ", ".join(m.value for m in hint)
            raise ConfigError(f"unknown {name} {value!r}; choose one of: {valid}") from None
    if origin is tuple:
        return _as_names(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table")
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value
