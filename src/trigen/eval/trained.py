"""Evaluation networks trained by trigen itself (the domain classifier, the text matcher): a
training loop bounded by time or images, an on-disk cache of safetensors weights plus a JSON
that vouches for them (settings, the training data's hash, the weights' sha256), and what every
such network holds (:class:`TrainedNetwork`). Never pickled; both files written atomically, the
JSON last, so its presence means a complete entry.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen.atomic import atomic_write, atomic_write_text
from trigen.data.mnist import sha256_of
from trigen.data.transforms import to_model_range
from trigen.errors import CheckpointError, ConfigError, DataError
from trigen.eval.inception import as_uint8_images

Progress = Callable[[int, int], None]


def images_budget(
    what: str,
    train_images: int,
    max_images: int | None,
    max_epochs: float,
    seconds_budget: float | None,
) -> int:
    """Images the ``what`` network trains on: ``max_epochs`` epochs of its ``train_images``
    training images, or ``max_images`` if fewer; a ConfigError unless that budget (and
    ``seconds_budget``, when a caller gives one) is positive."""
    images = int(max_epochs * train_images)
    if max_images is not None:
        images = min(images, max_images)
    if not (images > 0 and (seconds_budget is None or seconds_budget > 0)):
        raise ConfigError(
            f"{what} budget must be positive, got {max_images} images, "
            f"{max_epochs} epochs and {seconds_budget} s"
        )
    return images


def train_on_budget(
    net: nn.Module,
    loss_of_batch: Callable[[], Tensor],
    *,
    batch: int,
    lr: float,
    weight_decay: float,
    max_images: int,
    seconds_budget: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train ``net`` in place with AdamW for ``max_images`` images (or, when a caller asks
    for a wall-clock cap, until ``seconds_budget`` seconds if that comes first), the learning
    rate decaying linearly from ``lr`` to 0 along the way; ``loss_of_batch()`` draws the next
    ``batch`` images and returns their mean loss. ``progress(images_seen, max_images)``.
    Returns how much and how long it trained.

    Without ``seconds_budget`` the network is a function of the seed and the images alone: the
    same on a busy host as on an idle one."""
    optim = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    seen, start = 0, time.perf_counter()
    net.train()
    while True:
        done = seen / max_images
        if seconds_budget is not None:
            done = max(done, (time.perf_counter() - start) / seconds_budget)
        if done >= 1:
            break
        for group in optim.param_groups:
            group["lr"] = lr * (1 - done)  # linear decay over the budget (time or data)
        loss = loss_of_batch()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        seen += batch
        if progress is not None:
            progress(min(seen, max_images), max_images)
    net.eval()
    return {"images_seen": seen, "train_seconds": round(time.perf_counter() - start, 2)}


def weights_hash(net: nn.Module) -> str:
    """sha256 of the weights' names and bytes: the same for a net in memory and its cached copy."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_network(cache_dir: Path, stem: str, net: nn.Module, info: dict[str, Any]) -> None:
    """Write ``stem.safetensors``, then ``stem.json``: ``info`` with the weights' sha256."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    weights, meta = cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.json"
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_text(meta, json.dumps({**info, "weights_sha256": sha256_of(weights)}, indent=1))


def load_network(
    cache_dir: Path,
    stem: str,
    info: dict[str, Any],
    fields: Iterable[str],
    build: Callable[[dict[str, Any]], nn.Module],
    what: str,
) -> tuple[nn.Module, dict[str, Any]] | None:
    """(network, stored info) of the cached ``stem`` whose ``fields`` equal ``info``'s; None when
    absent or made with other settings (retrain and replace). ``build(stored)`` makes the empty
    network. Altered or unreadable files are a CheckpointError that names them and ``what``."""
    weights, meta = cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.json"
    if not meta.is_file():
        return None
    hint = f"delete {meta} and {weights} to retrain"
    try:
        stored = json.loads(meta.read_text())
        if any(stored.get(k) != info[k] for k in fields):
            return None
        if not weights.is_file() or sha256_of(weights) != stored["weights_sha256"]:
            raise CheckpointError(f"{what} weights {weights} are missing or altered; {hint}")
        net = build(stored)
        net.load_state_dict(load_file(str(weights)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{what} cache {meta} is unreadable ({err}); {hint}") from None
    return net, stored


def network_inputs(images: Tensor, shape: tuple[int, ...], net: nn.Module, what: str) -> Tensor:
    """uint8 or [-1, 1] float images (N, C, H, W) → ``net``'s float input in [-1, 1], on its
    device; images of another (C, H, W) than the ``shape`` it was trained on are a DataError."""
    if tuple(images.shape[1:]) != tuple(shape):
        raise DataError(
            f"images are {tuple(images.shape[1:])} but the {what} was trained on "
            f"{tuple(shape)}; evaluate at the training resolution and channels"
        )
    device = next(net.parameters()).device
    return to_model_range(as_uint8_images(images)).to(device)


class TrainedNetwork:
    """A network trained by trigen to judge images, in eval mode, with its metadata ``info``
    (settings, training, its own test score; ``info["shape"]`` is the (C, H, W) it was trained
    on) and ``network_id``, its weights' sha256. A subclass says what it is (``what``, for error
    messages), which ``cache_fields`` of ``info`` a cached copy must match to be reused, and
    builds its untrained network from stored metadata (``empty``)."""

    what: ClassVar[str]
    cache_fields: ClassVar[tuple[str, ...]]

    def __init__(self, net: nn.Module, info: dict[str, Any], network_id: str | None = None) -> None:
        self.net = net.eval()
        self.info = info
        self.network_id = network_id or weights_hash(net)
        self.shape = tuple(info["shape"])  # (C, H, W) the network was trained on

    @staticmethod
    def empty(stored: dict[str, Any]) -> nn.Module:
        """The untrained network that the metadata ``stored`` with a cached copy describes."""
        raise NotImplementedError

    @classmethod
    def cached(
        cls, cache_dir: Path | None, stem: str, info: dict[str, Any], device: torch.device | str
    ) -> Self | None:
        """The copy cached as ``stem`` in ``cache_dir`` made with ``info``'s settings and data,
        on ``device``; None when there is none, or no cache (``cache_dir`` None)."""
        if cache_dir is None:
            return None
        found = load_network(Path(cache_dir), stem, info, cls.cache_fields, cls.empty, cls.what)
        return None if found is None else cls(found[0].to(device), found[1])

    def save(self, cache_dir: Path | None, stem: str) -> None:
        """Cache the network and its ``info`` as ``stem`` in ``cache_dir`` (None: nowhere)."""
        if cache_dir is not None:
            save_network(Path(cache_dir), stem, self.net, self.info)

    def inputs(self, images: Tensor) -> Tensor:
        """uint8 or [-1, 1] float images (N, C, H, W) → the net's float input, on its device."""
        return network_inputs(images, self.shape, self.net, self.what)
