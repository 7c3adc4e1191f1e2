"""A family says what it can do, and the measurement code asks it: a stand-in family that no
module names goes through compare's headline measurement, the studies' filters and probes, the
cost sweep's probes and the claims' run selection, with the numbers and words it declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.claims.context import ClaimContext
from trigen.compare.measure import likelihood_record, measure_family
from trigen.compare.studies import nfe_study, receptive_field_maps
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.experiment.settings import compare_settings
from trigen.families.base import Family, SampleSpec
from trigen.families.capabilities import (
    ELBO,
    EXACT,
    NO_LIKELIHOOD,
    CostProbe,
    FamilyDefaults,
    InputGradientProbe,
    Likelihood,
    Scored,
)
from trigen.measure.probes import forward_flops, receptive_field_map
from trigen.measure.scaling import probed

SHAPE = (1, 4, 4)
NFE = 7
BOUND = Likelihood(Scored.PIXELS, exact=False, kind="blob bound")


class StandIn(StrEnum):
    """A family name no module of trigen knows."""

    BLOB = "blob"


@dataclass
class BlobFamily(FamilyDefaults):
    """A family of noise images that declares its capabilities and nothing else."""

    net: nn.Module = field(default_factory=lambda: nn.Conv2d(1, 1, 3, padding=1))
    num_classes: int = 2
    image_shape: tuple[int, int, int] = SHAPE
    timesteps: int | None = None

    likelihood: ClassVar[Likelihood] = BOUND

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        return self.net(batch.images).pow(2).flatten(1).mean(1)

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None
    ) -> Tensor:
        noise = torch.rand(labels.shape[0], *self.image_shape, generator=generator)
        return (self.net(noise * 2 - 1)).clamp(-1, 1)

    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        return torch.full((batch.images.shape[0],), float(self.timesteps or 1))

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        return frozenset({"steps"})

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        return NFE

    def sampling_steps(self, spec: SampleSpec) -> int:
        return spec.steps

    def sampler_description(self, spec: SampleSpec) -> str:
        return f"blob sampler, {spec.steps} steps"

    def with_nll_timesteps(self, timesteps: int) -> BlobFamily:
        return BlobFamily(self.net, self.num_classes, self.image_shape, timesteps)

    def forward_probe(self) -> Callable[[], object]:
        x = torch.zeros(1, *self.image_shape)
        return lambda: self.net(x)

    def sampling_step_probe(self, labels: Tensor) -> CostProbe:
        x = torch.zeros(labels.shape[0], *self.image_shape)
        return CostProbe(lambda: self.net(x), x.nbytes)

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> InputGradientProbe:
        return InputGradientProbe(self.net, images)


def _test_set(n: int = 12) -> ImageDataset:
    images = torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % 2, 2, ["a", "b"], "toy")


def _loaded(family: Family) -> SimpleNamespace:
    config = SimpleNamespace(family=StandIn.BLOB, preset="blob-1", model_overrides={})
    return SimpleNamespace(family=family, config=config, data=SimpleNamespace(num_classes=2))


class NoQuality:
    def quality(self, images: Tensor, labels: Tensor) -> dict:
        return {"samples": len(images)}


def test_the_stand_in_is_a_family():
    assert isinstance(BlobFamily(), Family)


def test_compare_reports_what_the_family_declares():
    settings = compare_settings("smoke")
    loaded = _loaded(BlobFamily())
    record, grid = measure_family(loaded, {}, _test_set(), NoQuality(), settings)
    sampling = record["sampling"]
    assert sampling["sampler"] == f"blob sampler, {settings.sampling_steps} steps"
    assert sampling["nfe"] == NFE and sampling["steps"] == settings.sampling_steps
    assert record["cost"]["flops_per_forward"] == 2 * 9 * 16  # a 3×3 conv over 4×4 pixels
    nll = record["nll"]
    assert nll["kind"] == "blob bound" and nll["nats_per_image"] == settings.elbo_timesteps
    assert grid.shape[1:] == (4, 4, 1)


def test_a_family_without_a_likelihood_reports_none():
    class Silent(BlobFamily):
        likelihood = NO_LIKELIHOOD

    record = likelihood_record(Silent(), _test_set(), compare_settings("smoke"))
    assert record["bits_per_dim"] is None and record["kind"] == NO_LIKELIHOOD.kind


def test_the_studies_and_the_probes_ask_the_family():
    settings = compare_settings("smoke")
    runs = {StandIn.BLOB: _loaded(BlobFamily())}
    assert nfe_study(runs, NoQuality(), settings) == []  # it takes no sampler
    maps = receptive_field_maps(runs, _test_set())
    assert set(maps) == {"blob"} and maps["blob"].shape == (4, 4)
    assert maps["blob"].max() == 1.0 and maps["blob"][0, 0] == 0.0  # a 3×3 field, centre 2, 2
    assert probed(BlobFamily()) and forward_flops(BlobFamily()) == 2 * 9 * 16


def test_the_claims_take_as_diffusion_runs_the_families_that_take_a_sampler():
    class Sampled(BlobFamily):
        def sample_options(self, spec: SampleSpec) -> frozenset[str]:
            return frozenset({"sampler", "steps"})

    runs = {FamilyName.AR: _loaded(BlobFamily()), StandIn.BLOB: _loaded(Sampled())}
    ctx = SimpleNamespace(runs=runs, compare=compare_settings("smoke"))
    assert list(ClaimContext.diffusion_runs(ctx)) == [StandIn.BLOB]


def test_likelihood_words():
    assert (ELBO.kind, ELBO.words, EXACT.words) == ("ELBO bound", "ELBO upper bound", "exact")
    assert ELBO.scored is Scored.PIXELS and BOUND.words == "blob bound"


def test_the_defaults_offer_no_probe_and_one_evaluation():
    @dataclass
    class Bare(FamilyDefaults):
        net: nn.Module
        image_shape: tuple[int, int, int] = SHAPE

    bare = Bare(nn.Identity())
    assert bare.likelihood is NO_LIKELIHOOD and not bare.likelihood.exists
    assert bare.nfe(SampleSpec()) == 1 and bare.with_nll_timesteps(5) is bare
    assert not probed(bare) and bare.seq_len is None and bare.draws_samples
    assert receptive_field_map(bare, torch.zeros(1, *SHAPE), torch.zeros(1)) is None


@pytest.mark.parametrize(
    ("name", "likelihood", "nfe", "nfe_2px", "sampler"),
    [
        (FamilyName.UNET, "ELBO bound", 5, 5, "ddim"),
        (FamilyName.DIT, "ELBO bound", 5, 5, "ddim"),
        (FamilyName.AR, EXACT.kind, 64, 4, "ancestral (KV cache)"),
        (FamilyName.PIXELCNN, EXACT.kind, 64, 4, "ancestral (full forward per sub-pixel)"),
        (FamilyName.MASKGIT, "order-agnostic", 5, 4, "parallel decoding, random order"),
    ],
)
def test_every_generator_family_declares_its_capabilities(name, likelihood, nfe, nfe_2px, sampler):
    cfg = TrainConfig(family=name, resolution=8)
    family = build_family(cfg, DataSpec((1, 8, 8), 2))
    spec = SampleSpec(steps=5)
    assert family.likelihood.kind.startswith(likelihood) and family.likelihood.exists
    assert family.nfe(spec) == nfe and family.sampler_description(spec) == sampler
    assert family.nfe(spec, (1, 2, 2)) == nfe_2px  # a smaller image: fewer tokens
    assert probed(family) and forward_flops(family) > 0
    assert isinstance(family.describe_network(), str) and family.positions() >= 1
    images, labels = torch.rand(2, 1, 8, 8) * 2 - 1, torch.zeros(2, dtype=torch.long)
    family.net.eval()
    probe = family.sampling_step_probe(labels)
    with torch.inference_mode():
        probe.call()
    assert probe.held_bytes > 0
    field_ = receptive_field_map(family, images, labels)
    assert (field_ is None) == (name is FamilyName.MASKGIT)
    if field_ is not None:
        assert field_.shape == (8, 8) and 0.0 <= field_.max() <= 1.0  # zero-init outputs: 0
