"""``trigen sample``'s condition options: text → the named conditions and guidance to sample with.

``--attributes thickness=3.5,slant=0.3`` gives raw attribute values (the run's normalisation is
applied; an attribute not given is the training mean); ``--map`` a PNG, a directory of PNGs
(cycled to n) or ``test:3,17`` (the skeletons of those test images); ``--prompt`` (repeatable) or
``--prompts-file`` (UTF-8, one prompt a line) captions for a text model, ``n`` images each, a
row per prompt; ``--cfg`` a scale for every condition together (``2``) or one per condition,
nested in the given order (``class=2,skeleton=1.5``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError, DataError
from trigen.guidance import NO_GUIDANCE

if TYPE_CHECKING:
    from trigen.runs import Loaded

TEST_PREFIX = "test:"


def parse_cfg(text: str) -> tuple[float, tuple[tuple[str, float], ...]]:
    """``"2"`` → (2.0, ()); ``"class=2,skeleton=1.5"`` → (1.0, ((class, 2.0), (skeleton, 1.5)))."""
    pairs = _pairs(text, "--cfg")
    if pairs is None:
        scale = _number(text, "--cfg")
        if not scale >= 0:
            raise ConfigError(f"--cfg must be ≥ 0, got {text}")
        return scale, ()
    scales = tuple((name, _number(value, f"--cfg {name}")) for name, value in pairs)
    if any(not s >= 0 for _, s in scales):
        raise ConfigError(f"--cfg scales must be ≥ 0, got {text!r}")
    return NO_GUIDANCE, scales


def attribute_vector(text: str, specs: Sequence[ConditionSpec], n: int) -> dict[str, Tensor]:
    """``{name: (n, K) normalised}`` from ``"thickness=3.5,slant=0.3"`` in raw units."""
    vectors = [s for s in specs if s.kind is ConditionKind.VECTOR]
    if not vectors:
        raise ConfigError("--attributes: this model was not trained with an attribute vector")
    spec = vectors[0]
    pairs = _pairs(text, "--attributes") or []
    if not pairs:
        raise ConfigError(f"--attributes must look like {spec.fields[0]}=2.5,…, got {text!r}")
    raw = torch.tensor(spec.mean or [0.0] * spec.size, dtype=torch.float64)
    for name, value in pairs:
        if name not in spec.fields:
            raise ConfigError(f"unknown attribute {name!r}; valid: {', '.join(spec.fields)}")
        number = _number(value, f"--attributes {name}")
        if not math.isfinite(number):
            raise ConfigError(f"--attributes {name} must be finite, got {value}")
        raw[spec.fields.index(name)] = number
    return {spec.name: spec.normalise(raw[None].float()).repeat(n, 1)}


def map_condition(
    text: str, specs: Sequence[ConditionSpec], n: int, image_shape: tuple[int, int, int]
) -> dict[str, Tensor]:
    """``{name: (n, C, H, W) in [-1, 1]}`` from a PNG, a directory of PNGs or ``test:i,j``."""
    maps = [s for s in specs if s.kind is ConditionKind.MAP]
    if not maps:
        raise ConfigError("--map: this model was not trained with a map condition")
    spec, (_, height, width) = maps[0], image_shape
    if text.startswith(TEST_PREFIX):
        stored = _test_maps(text[len(TEST_PREFIX) :], spec.name, (height, width))
    else:
        stored = _png_maps(Path(text), spec.size, (height, width))
    repeats = math.ceil(n / len(stored))
    return {spec.name: to_model_range(stored.repeat(repeats, 1, 1, 1)[:n])}


def _png_maps(path: Path, channels: int, size: tuple[int, int]) -> Tensor:
    files = sorted(path.glob("*.png")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"--map: {path} holds no .png files")
    maps = []
    for file in files:
        try:
            with Image.open(file) as img:
                array = np.asarray(img.convert("L" if channels == 1 else "RGB"))
        except FileNotFoundError:
            raise DataError(f"--map: {file} does not exist") from None
        except (UnidentifiedImageError, OSError):
            raise DataError(f"--map: {file} is not an image") from None
        if array.shape[:2] != size:
            raise DataError(
                f"--map: {file.name} is {array.shape[1]}×{array.shape[0]}, the model makes "
                f"{size[1]}×{size[0]} images"
            )
        binary = (array > 127).astype(np.uint8) * 255  # a map is binary: strokes on black
        maps.append(torch.from_numpy(binary.reshape(*size, -1)).permute(2, 0, 1))
    return torch.stack(maps)


def _test_maps(indices: str, name: str, size: tuple[int, int]) -> Tensor:
    from trigen.data.datasets import load_dataset
    from trigen.data.morpho import skeleton_maps

    test = load_dataset("mnist", "test", resolution=size[0])
    try:
        chosen = [int(i) for i in indices.split(",") if i.strip()]
    except ValueError:
        raise ConfigError(f"--map test:… takes test-image indices, got {indices!r}") from None
    if not chosen or any(not 0 <= i < len(test) for i in chosen):
        raise ConfigError(f"--map test indices must lie in 0..{len(test) - 1}, got {indices!r}")
    if name != "skeleton":
        raise ConfigError(f"--map test:… makes skeletons; this model's map is {name}")
    return skeleton_maps(test.images[chosen])


def _pairs(text: str, option: str) -> list[tuple[str, str]] | None:
    """``a=1,b=2`` → [("a", "1"), ("b", "2")]; None for text without any ``=``."""
    if "=" not in text:
        return None
    pairs = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{option} must look like name=value,…; got {text!r}")
        pairs.append((name.strip(), value.strip()))
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{option} names something twice: {text!r}")
    return pairs


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} must be a number, got {text!r}") from None


def read_prompts(prompts: Sequence[str] | None, prompts_file: Path | None) -> list[str]:
    """The prompts of ``--prompt`` then ``--prompts-file`` (UTF-8, one a line, blank lines
    skipped); an empty ``--prompt ""`` stays: it is the null caption (unconditional text)."""
    found = list(prompts or [])
    if prompts_file is not None:
        try:
            text = prompts_file.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise DataError(f"--prompts-file {prompts_file} does not exist") from None
        except UnicodeDecodeError as err:
            raise DataError(
                f"--prompts-file {prompts_file} is not UTF-8 text (byte {err.start})"
            ) from None
        found += [line.strip() for line in text.splitlines() if line.strip()]
    return found


def prompt_condition(
    prompts: Sequence[str], loaded: Loaded, n: int, warn: Callable[[str], None]
) -> dict[str, Tensor]:
    """``{name: (len(prompts)·n, L) token ids}`` of ``loaded``'s text condition: each prompt n
    times in a row (:func:`trigen.text.prompts.prompt_tokens`: a long prompt is cut and ``warn``
    names what was kept; an empty one needs a model trained with condition dropout)."""
    from trigen.text.prompts import prompt_tokens

    return prompt_tokens(
        prompts, loaded.data.conditions, dropout=loaded.config.label_dropout, repeat=n, warn=warn
    )
