"""An image–text matcher trained by trigen on the dataset's own captions: the judge of text
adherence (AttnGAN's DAMSM in spirit, CLIP's objective, a few hundred thousand parameters).

A small CNN embeds images and a text encoder from :mod:`trigen.text` (a vocabulary learned from
the training captions, a two-block transformer, its pooled state) embeds captions, both into
``EMBED_DIM`` unit vectors; a symmetric InfoNCE loss over each batch (CLIP, Radford et al. 2021)
pulls an image and its caption together and pushes the batch's other captions away. Like the
domain classifier (:mod:`trigen.eval.domain`) it trains once on a fixed budget from a fixed seed
and is cached as safetensors + JSON, keyed by a hash of its training images, captions and
settings. Its own test accuracy is R-precision (:mod:`trigen.eval.retrieval`) on real test images
against their own captions: the ceiling any generator can be measured at.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.data.datasets import ImageDataset
from trigen.data.transforms import to_model_range
from trigen.errors import DataError
from trigen.eval.retrieval import draw_distractors, r_precision_hits
from trigen.eval.trained import Progress, TrainedNetwork, images_budget, train_on_budget
from trigen.text import LearnedTextEncoder, TextEncoderKind, WordTokenizer, build_vocabulary

FORMAT_VERSION = 1  # bump when TextMatchNet, its training or the metadata change
EMBED_DIM = 64  # the joint embedding's width
IMAGE_WIDTH = 32  # channels of the image tower's first stage; then 2× and 4×
POOLED = 4  # the image tower's last map is pooled to POOLED × POOLED
TEXT_WIDTH = 64  # the text encoder's width (one attention head of 64)
TEXT_LAYERS = 2
CONTEXT = 32  # caption tokens read; longer captions are cut (OpenMoji's longest tag lists)
GROUPS = 8  # GroupNorm groups of the image tower
# The initial softmax temperature: CLIP's 0.07 collapsed both towers to one point within a few steps
# on class-only captions (loss stuck at log B); 1.0 left the learned scale too long to grow (MNIST
# captions, 1 epoch: test R-precision 0.26, against 0.48 at 0.3 and at 0.07).
INIT_TEMPERATURE = 0.3
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp on the learned inverse temperature
BATCH = 128  # captions per InfoNCE batch: 127 negatives for each pair
EVAL_BATCH = 512
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
MAX_EPOCHS = 8.0  # OpenMoji: 3,930 captioned glyphs, 31k images in 60 s
TEST_REQUESTS = 1000  # real test images whose R-precision is stored with the matcher
FIELDS = ("format", "dataset", "shape", "data_sha256", "settings")  # must match to reuse a cache


class ImageTower(nn.Module):
    """Images (B, C, H, W) in [-1, 1] → (B, EMBED_DIM): three 3×3 conv stages, the last two
    strided, with GroupNorm and SiLU, pooled to POOLED × POOLED and projected."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        widths = (IMAGE_WIDTH, 2 * IMAGE_WIDTH, 4 * IMAGE_WIDTH)
        layers: list[nn.Module] = []
        for stage, (c_in, c_out) in enumerate(zip((in_channels, *widths), widths, strict=False)):
            stride = 1 if stage == 0 else 2
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(GROUPS, c_out), nn.SiLU()]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(POOLED), nn.Flatten())
        self.proj = nn.Linear(widths[-1] * POOLED * POOLED, EMBED_DIM)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.body(x))  # (B, EMBED_DIM)


class TextMatchNet(nn.Module):
    """Image and caption towers into one space; ``forward`` gives the similarity logits."""

    def __init__(self, in_channels: int, vocabulary: Sequence[str]) -> None:
        super().__init__()
        spec = ConditionSpec(
            "text", ConditionKind.TOKENS, CONTEXT, encoder=TextEncoderKind.LEARNED.value,
            vocabulary=tuple(vocabulary),
        )  # fmt: skip
        self.image_embedder = ImageTower(in_channels)
        self.text_embedder = LearnedTextEncoder(spec, TEXT_WIDTH, layers=TEXT_LAYERS)
        self.text_proj = nn.Linear(TEXT_WIDTH, EMBED_DIM)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / INIT_TEMPERATURE)))

    def embed_images(self, x: Tensor) -> Tensor:
        return F.normalize(self.image_embedder(x), dim=-1)  # (B, D)

    def embed_texts(self, ids: Tensor) -> Tensor:
        pooled = self.text_embedder(ids).pooled  # (B, TEXT_WIDTH)
        return F.normalize(self.text_proj(pooled), dim=-1)  # (B, D)

    def forward(self, x: Tensor, ids: Tensor) -> Tensor:
        scale = self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        return scale * self.embed_images(x) @ self.embed_texts(ids).T  # (B images, B captions)


def info_nce(logits: Tensor, ids: Tensor) -> Tensor:
    """CLIP's symmetric InfoNCE of similarity logits (B images, B captions) whose diagonal pairs
    belong together, a caption's duplicates in the batch (equal token ``ids`` (B, L)) counting as
    its image's positives too: templated captions repeat, and pushing an image away from the
    very words of its own caption would teach the towers to ignore the text."""
    same = (ids[:, None, :] == ids[None, :, :]).all(dim=-1).float()  # (B, B), symmetric
    target = same / same.sum(dim=1, keepdim=True)
    image_to_text = -(target * logits.log_softmax(dim=1)).sum(dim=1)
    text_to_image = -(target * logits.T.log_softmax(dim=1)).sum(dim=1)
    return (image_to_text.mean() + text_to_image.mean()) / 2


class TextMatcher(TrainedNetwork):
    """A trained :class:`TextMatchNet`, its tokenizer, its metadata ``info`` (settings, training,
    test R-precision) and its weights hash ``network_id``."""

    what = "text matcher"
    cache_fields = FIELDS

    def __init__(
        self, net: TextMatchNet, info: dict[str, Any], network_id: str | None = None
    ) -> None:
        super().__init__(net, info, network_id)
        self.tokenizer = WordTokenizer(info["vocabulary"])

    @staticmethod
    def empty(stored: dict) -> nn.Module:
        return TextMatchNet(stored["shape"][0], stored["vocabulary"])

    @torch.inference_mode()
    def image_embeddings(self, images: Tensor) -> Tensor:
        """Unit embeddings (N, EMBED_DIM) float32 of uint8 or [-1, 1] images (N, C, H, W)."""
        parts = [self.net.embed_images(self.inputs(chunk)) for chunk in images.split(EVAL_BATCH)]
        return torch.cat(parts).cpu() if parts else torch.zeros(0, EMBED_DIM)

    @torch.inference_mode()
    def text_embeddings(self, captions: Sequence[str]) -> Tensor:
        """Unit embeddings (N, EMBED_DIM) float32 of ``captions`` (cut to CONTEXT tokens)."""
        ids, _ = self.tokenizer.encode(list(captions), CONTEXT)
        device = next(self.net.parameters()).device
        parts = [self.net.embed_texts(chunk.to(device)).float() for chunk in ids.split(EVAL_BATCH)]
        return torch.cat(parts).cpu() if parts else torch.zeros(0, EMBED_DIM)

    def scores(
        self, images: Tensor, captions: Sequence[str], requests: np.ndarray, others: np.ndarray
    ) -> np.ndarray:
        """Cosine similarities (N, 1 + k) float64 of image i with ``captions[requests[i]]``
        (column 0) and with ``captions[others[i, j]]`` (N, k): R-precision's candidates."""
        candidates = np.concatenate([np.asarray(requests)[:, None], others], axis=1)
        used, index = np.unique(candidates, return_inverse=True)
        texts = self.text_embeddings([captions[i] for i in used])  # (U, D)
        chosen = texts[torch.from_numpy(index.reshape(candidates.shape))]  # (N, 1 + k, D)
        pictures = self.image_embeddings(images)  # (N, D)
        return torch.einsum("nd,nkd->nk", pictures, chosen).double().numpy()

    @classmethod
    def train_or_load(
        cls,
        train: ImageDataset,
        train_captions: Sequence[str],
        test: ImageDataset,
        test_captions: Sequence[str],
        cache_dir: Path | None,
        *,
        max_images: int | None = None,
        seconds_budget: float | None = None,
        max_epochs: float = MAX_EPOCHS,
        seed: int = 0,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
    ) -> TextMatcher:
        """The matcher cached in ``cache_dir`` for these captioned images and settings, else
        train one (``max_images`` images or ``max_epochs`` epochs, whichever is fewer, so the
        network depends on the data, seed and budget alone; ``seconds_budget`` adds a wall-clock
        cap for a caller that asks for one) and cache it; the test images and captions give the
        R-precision stored with it (``test_r_precision`` over its first TEST_REQUESTS images,
        ``test_requests``). No cache if ``cache_dir`` is None; ``progress(images_seen,
        max_images)``."""
        images = images_budget("text matcher", len(train), max_images, max_epochs, seconds_budget)
        for data, captions in ((train, train_captions), (test, test_captions)):
            if len(captions) != len(data):
                raise DataError(f"{data.name}: {len(data)} images but {len(captions)} captions")
        if test.shape != train.shape:
            raise DataError(f"test images {test.shape} ≠ train {train.shape}")
        settings = {"seed": seed, "seconds_budget": seconds_budget, "max_images": images}
        info: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "dataset": train.name,
            "shape": list(train.shape),
            "data_sha256": captioned_hash(train, train_captions),
            "settings": settings,
        }
        key = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
        stem = f"textmatch-{train.name}-{train.shape[-1]}px-{key[:16]}"
        if (cached := cls.cached(cache_dir, stem, info, device)) is not None:
            return cached
        vocabulary = build_vocabulary(train_captions)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            net = TextMatchNet(train.shape[0], vocabulary).to(device)
        ids, _ = WordTokenizer(vocabulary).encode(list(train_captions), CONTEXT)
        budget = {"seconds_budget": seconds_budget, "max_images": images}
        stats = _train(net, train, ids, seed, budget, progress)
        info.update(stats, vocabulary=list(vocabulary))
        matcher = cls(net, info)
        info.update(_test_r_precision(matcher, test, test_captions))
        matcher.save(cache_dir, stem)
        return matcher


def captioned_hash(dataset: ImageDataset, captions: Sequence[str]) -> str:
    """sha256 of images, their shape and their captions: the cache's notion of 'same data'."""
    digest = hashlib.sha256(f"{tuple(dataset.images.shape)}|".encode())
    digest.update(dataset.images.contiguous().numpy().tobytes())
    digest.update("\0".join(captions).encode())
    return digest.hexdigest()


def _train(
    net: TextMatchNet, data: ImageDataset, ids: Tensor, seed: int, budget: dict, progress
) -> dict[str, Any]:
    """Train ``net`` in place on images and their caption ids (N, CONTEXT)."""
    device = next(net.parameters()).device
    rng = torch.Generator().manual_seed(seed)

    def loss_of_batch() -> Tensor:
        index = torch.randint(len(data), (BATCH,), generator=rng)
        images = to_model_range(data.images[index]).to(device)
        captions = ids[index].to(device)
        return info_nce(net(images, captions), captions)

    return train_on_budget(
        net, loss_of_batch, batch=BATCH, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
        progress=progress, **budget,
    )  # fmt: skip


def _test_r_precision(
    matcher: TextMatcher, test: ImageDataset, captions: Sequence[str]
) -> dict[str, Any]:
    """R-precision of the first TEST_REQUESTS real test images against their own captions."""
    requests = np.arange(min(TEST_REQUESTS, len(test)))
    try:
        others = draw_distractors(captions, requests)
    except DataError:  # too few distinct captions to rank among DISTRACTORS others
        return {"test_r_precision": None, "test_requests": 0}
    hits = r_precision_hits(matcher.scores(test.images[requests], captions, requests, others))
    return {"test_r_precision": float(hits.mean()), "test_requests": len(requests)}
