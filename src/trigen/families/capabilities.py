"""What a family can do, declared by the family: what its ``nll`` measures, the network
evaluations of a sampling spec, its sampler in words, and the network calls a cost or
receptive-field measurement runs. Measurement, report and CLI code ask these instead of
branching on the family's name (:class:`FamilyDefaults` gives every family the defaults)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor, nn

if TYPE_CHECKING:
    from trigen.families.base import SampleSpec


class Scored(StrEnum):
    """What a family's ``nll`` is a number about."""

    PIXELS = "pixels"  # the 8-bit images: bits/dim is meaningful
    CODES = "codes"  # a tokenizer's codes: never bits/dim of the pixels
    NOTHING = "nothing"  # ``nll`` refuses: no likelihood or bound


@dataclass(frozen=True)
class Likelihood:
    """What a family's ``nll`` measures: ``scored`` (pixels, codes or nothing), whether it is
    ``exact`` or a bound, ``kind`` in the words results.json and the report keep, and
    ``description`` in the words of ``trigen eval`` (``kind`` when empty)."""

    scored: Scored
    exact: bool
    kind: str
    description: str = ""

    @property
    def exists(self) -> bool:
        """Whether ``nll`` gives a number (a likelihood or a bound on one)."""
        return self.scored is not Scored.NOTHING

    @property
    def words(self) -> str:
        return self.description or self.kind


EXACT = Likelihood(Scored.PIXELS, exact=True, kind="exact")
"""The exact NLL of the 8-bit images (an autoregressive model over sub-pixels)."""
ELBO = Likelihood(Scored.PIXELS, exact=False, kind="ELBO bound", description="ELBO upper bound")
"""The variational upper bound on the 8-bit images' NLL (VP diffusion, Ho et al. 2020)."""
TOKEN_NLL = Likelihood(Scored.CODES, exact=True, kind="token NLL")
"""The exact NLL of a tokenizer's codes: a number about the prior over codes, not the pixels."""
NO_LIKELIHOOD = Likelihood(
    Scored.NOTHING, exact=False, kind="n/a: no likelihood bound (flow matching or latent diffusion)"
)
"""``nll`` refuses: flow matching, latent diffusion, autoencoders."""


@dataclass(frozen=True)
class CostProbe:
    """A network call to time or to measure the memory of, and the bytes of the state a sampler
    holds beside it (the current image, a KV cache)."""

    call: Callable[[], object]
    held_bytes: int = 0


@dataclass(frozen=True)
class InputGradientProbe:
    """A receptive field read at the input: ``fn(x)`` is the network's output over the image
    grid, differentiated at its centre w.r.t. ``x`` (B, C, H, W)."""

    fn: Callable[[Tensor], Tensor]
    x: Tensor


@dataclass(frozen=True)
class TokenGradientProbe:
    """A causal token model's receptive field: ``net`` over the token sequences ``tokens``
    (B, L) of images with classes ``labels`` (B,), differentiated at its embedded inputs."""

    net: nn.Module
    tokens: Tensor
    labels: Tensor


ReceptiveFieldProbe = InputGradientProbe | TokenGradientProbe


class FamilyDefaults:
    """The capabilities a family has unless it says otherwise: no likelihood, one network
    evaluation per image, no probes. Every family class derives from it (last), and overrides
    what it can do."""

    net: nn.Module
    image_shape: tuple[int, int, int]

    likelihood: ClassVar[Likelihood] = NO_LIKELIHOOD
    """What :meth:`nll` measures (:class:`Likelihood`)."""
    draws_samples: ClassVar[bool] = True
    """Whether ``sample`` draws images (a tokenizer's refuses)."""
    seq_len: ClassVar[int | None] = None
    """Tokens of the one sequence a token model decodes per image; None for a family that does
    not model images as a token sequence."""

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """Network evaluations to sample one image of ``image_shape`` (C, H, W; default the
        family's own) under ``spec``: one here."""
        return 1

    def sampling_steps(self, spec: SampleSpec) -> int:
        """The steps of the sampler under ``spec``, as reported beside the NFE: the NFE here."""
        return self.nfe(spec)

    def sampler_description(self, spec: SampleSpec) -> str:
        """How the family samples under ``spec``, in words for the report."""
        return "one network evaluation"

    def with_nll_timesteps(self, timesteps: int) -> FamilyDefaults:
        """The family whose ``nll`` draws ``timesteps`` Monte-Carlo timesteps per image where it
        estimates a bound over timesteps (the diffusion ELBO); this family otherwise."""
        return self

    def positions(self) -> int:
        """Positions the network processes per image: here every sub-pixel."""
        c, h, w = self.image_shape
        return c * h * w

    def describe_network(self) -> str:
        """The shape facts of ``net`` that drive its cost, in words."""
        return type(self.net).__name__

    def forward_probe(self) -> Callable[[], object] | None:
        """One training-shape forward pass of ``net`` on a single image, to count its FLOPs;
        None when the family has none to offer."""
        return None

    def sampling_step_probe(self, labels: Tensor) -> CostProbe | None:
        """One sampling step at ``len(labels)`` images (``net`` in eval mode); None when the
        family has none to offer."""
        return None

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> ReceptiveFieldProbe | None:
        """What the receptive field of ``net`` is read from on ``images`` (B, C, H, W) with
        classes ``labels``; None when the family offers none."""
        return None
