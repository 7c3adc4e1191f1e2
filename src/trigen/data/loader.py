"""An infinite, resumable batch iterator over an in-memory :class:`ImageDataset`.

No torch DataLoader: the images are tiny and already decoded, so indexing one uint8 tensor is
faster than any worker process. Every epoch's order and flips are a pure function of
(seed, epoch), so a loader restored from ``state_dict()`` yields exactly the batches the original
would have yielded next, on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from trigen.batch import Batch
from trigen.data.datasets import ImageDataset, condition_values
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError

FLIP_PROBABILITY = 0.5


def epoch_seed(seed: int, epoch: int) -> int:
    """A 64-bit generator seed mixed from (seed, epoch) so that no two pairs share a stream."""
    return int(np.random.SeedSequence((seed, epoch)).generate_state(1, dtype=np.uint64)[0])


class BatchLoader:
    """Yields :class:`~trigen.batch.Batch` forever: images float32 (B, C, H, W) in [-1, 1], labels.
    (A dataset of float tensors, such as cached latents, is yielded as stored.)

    Each epoch visits a permutation of the dataset drawn from (seed, epoch). With ``world_size``
    ranks, the permutation is cut to a multiple of ``world_size`` and rank ``r`` takes positions
    r, r + world_size, ...: the ranks' shards are disjoint and equally long. ``flip`` mirrors each
    image left-right with probability 1/2, again drawn from (seed, epoch). With ``drop_last`` an
    epoch's final partial batch is skipped; otherwise it is yielded short.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        seed: int,
        flip: bool = False,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed}")
        if flip and any(v.ndim == 2 for v in getattr(dataset, "conds", {}).values()):
            raise ConfigError(
                "flip mirrors the images but cannot mirror their condition vectors "
                "(a slant changes sign): train without flip"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.flip = flip
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.shard_size = len(dataset) // world_size  # examples this rank sees per epoch
        if self.shard_size < (batch_size if drop_last else 1):
            raise ConfigError(
                f"{len(dataset)} images over {world_size} rank(s) leave {self.shard_size} per "
                f"rank, fewer than a batch of {batch_size}: lower batch_size or set drop_last=False"
            )
        self.epoch = 0
        self.position = 0  # index into this rank's shard of the next example
        self._cached_epoch = -1
        self._order = self._flips = torch.empty(0)

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        full, rest = divmod(self.shard_size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def epoch_order(self, epoch: int) -> tuple[Tensor, Tensor]:
        """This rank's dataset indices (shard_size,) int64 and flip flags (shard_size,) bool."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        permutation = torch.randperm(len(self.dataset), generator=generator)
        # Drawn for the whole permutation, so an image's flip does not depend on world_size.
        flips = torch.rand(len(self.dataset), generator=generator) < FLIP_PROBABILITY
        if not self.flip:
            flips.zero_()
        positions = slice(self.rank, self.shard_size * self.world_size, self.world_size)
        return permutation[positions], flips[positions]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self.position + (self.batch_size if self.drop_last else 1) > self.shard_size:
            self.epoch, self.position = self.epoch + 1, 0
        if self._cached_epoch != self.epoch:
            self._order, self._flips = self.epoch_order(self.epoch)
            self._cached_epoch = self.epoch
        end = min(self.position + self.batch_size, self.shard_size)
        indices = self._order[self.position : end]
        flips = self._flips[self.position : end]
        self.position = end
        images = self.dataset.images[indices]  # a fresh copy: safe to flip in place
        conds = {k: v[indices] for k, v in getattr(self.dataset, "conds", {}).items()}
        if flips.any():
            images[flips] = images[flips].flip(-1)
            for value in conds.values():  # maps are aligned with their image: flipped alike
                if value.ndim == 4:
                    value[flips] = value[flips].flip(-1)
        if images.dtype == torch.uint8:  # pixels; float tensors (cached latents) pass through
            images = to_model_range(images)
        return Batch(images, self.dataset.labels[indices], condition_values(conds))

    def state_dict(self) -> dict[str, int]:
        """Where the loader stands: the epoch and the position in this rank's shard."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``state`` from :meth:`state_dict`; the next batches equal the original's."""
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= self.shard_size:
            raise ConfigError(
                f"loader state epoch {epoch}, position {position} does not fit a shard of "
                f"{self.shard_size}: it belongs to another dataset or world size"
            )
        self.epoch, self.position = epoch, position
