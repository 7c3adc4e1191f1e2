"""What every claims experiment can use: the comparison's trained families, its measuring
instruments, its data, and a way to train more runs under the same recipe."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from trigen.claims.settings import ClaimSettings
from trigen.config import FamilyName
from trigen.data.datasets import ImageDataset
from trigen.families.base import SampleSpec
from trigen.measure.evaluators import Evaluators
from trigen.measure.samples import SamplingSettings, generate, sample_spec
from trigen.measure.text_adherence import TextReference
from trigen.runs import ConfigFor, Loaded, TrainAndLoad
from trigen.sampling import class_labels

Log = Callable[[str], None]


class ComparisonSettings(SamplingSettings, Protocol):
    """What the claims read of the comparison they run in (``trigen.compare``'s settings)."""

    @property
    def dataset(self) -> str: ...
    @property
    def data_root(self) -> str | None: ...
    @property
    def seed(self) -> int: ...
    @property
    def sample_batch_size(self) -> int: ...
    @property
    def nll_images(self) -> int: ...
    @property
    def elbo_timesteps(self) -> int: ...
    @property
    def domain_images(self) -> int: ...


@dataclass
class ClaimContext:
    """The state a claims experiment reads; experiments return results, they mutate nothing."""

    compare: ComparisonSettings
    claims: ClaimSettings
    runs: dict[FamilyName, Loaded]
    evaluators: Evaluators
    train_data: ImageDataset
    test_data: ImageDataset
    out: Path
    cache_dir: Path | None
    device: torch.device
    train: TrainAndLoad
    config_for: ConfigFor
    log: Log
    # the judges of samples asked for the comparison's test captions (its text matcher trains or
    # loads on the first call); None where the comparison's dataset has no captions
    text_reference: Callable[[], TextReference] | None = None
    # the comparison's families per training seed (``runs`` holds the first seed's): a claim on
    # trained families is measured on each seed's (``claims.seeded.over_training_seeds``)
    runs_by_seed: dict[int, dict[FamilyName, Loaded]] = field(default_factory=dict)
    training_seed: int | None = None  # set by ``for_seed``: the seed of this context's runs

    def training_seeds(self) -> tuple[int, ...]:
        """The training seeds of the comparison's families (the comparison's seed when it does
        not say)."""
        return tuple(self.runs_by_seed) or (self.compare.seed,)

    def for_seed(self, seed: int) -> ClaimContext:
        """This context on the families of training seed ``seed``: its own trainings use that
        seed and their run directories name it."""
        recipe = self.config_for
        return dataclasses.replace(
            self,
            runs=self.runs_by_seed[seed],
            training_seed=seed,
            config_for=lambda name, **changes: recipe(name, **{"seed": seed, **changes}),
        )

    def diffusion_runs(self) -> dict[FamilyName, Loaded]:
        """The runs sampled by a diffusion sampler: their ``sample`` reads ``SampleSpec.sampler``
        (``sample_options``)."""
        return {
            name: run
            for name, run in self.runs.items()
            if "sampler" in run.family.sample_options(sample_spec(name, self.compare))
        }

    def generator(self, seed: int | None = None) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(self.compare.seed if seed is None else seed)

    def channels_and_classes(self) -> tuple[int, int]:
        """The comparison's image channels and classes: what an untrained network is built for."""
        return self.test_data.shape[0], self.test_data.num_classes

    def run_dir(self, *parts: object) -> Path:
        """Where a claim's own training run lives: ``out/claims/<parts joined by ->`` (and
        ``-seed<n>`` in a context of one training seed)."""
        if self.training_seed is not None:
            parts = (*parts, f"seed{self.training_seed}")
        return self.out / "claims" / "-".join(str(p).replace(" ", "_") for p in parts)


def trained_record(summary: dict[str, Any]) -> dict[str, Any]:
    """What one claim training got of its budget, from its training summary (JSON): the images
    it saw, the training FLOPs they cost and the wall-clock seconds they took."""
    return {
        "images": int(summary["images_seen"]),
        "flops": summary.get("flops"),
        "seconds": summary.get("seconds"),
    }


def sample_images(
    ctx: ClaimContext, loaded: Loaded, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images (N, C, H, W) of the trained ``loaded`` under the comparison's sampling
    spec, sampled from ``seed``, and their labels (N,), cycling through the classes."""
    labels = class_labels(loaded.data.num_classes, n)
    spec = sample_spec(FamilyName(loaded.config.family), ctx.compare)
    images = generate(loaded.family, labels, spec, seed=seed, batch=ctx.compare.sample_batch_size)
    return images, labels


def sampling_call(
    ctx: ClaimContext, name: FamilyName, spec: SampleSpec, batch: int
) -> Callable[[], None]:
    """One sampling call of ``batch`` images of the trained ``name`` under ``spec`` (labels
    cycling through the classes, the comparison's seed), to time."""
    loaded = ctx.runs[name]
    labels = class_labels(loaded.data.num_classes, batch).to(ctx.device)

    def call() -> None:
        with torch.inference_mode():
            loaded.family.sample(labels, spec, ctx.generator())

    return call
