"""Morpho-MNIST attributes and skeleton maps, on bars drawn here whose measures are known."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from trigen.data import morpho
from trigen.data.morpho import (
    ATTRIBUTES,
    BOUND_MASS,
    cached_attributes,
    cached_skeleton_maps,
    measure_attributes,
    skeleton_maps,
)
from trigen.errors import DataError

SIZE = 28
SUPERSAMPLE = 8  # bars are drawn 8× larger and box-filtered down: anti-aliased like a scan
COL = {name: i for i, name in enumerate(ATTRIBUTES)}


def bar(thickness: int, height: int = 16, slant: float = 0.0, dx: int = 0) -> np.ndarray:
    """A white bar (SIZE, SIZE) uint8 on black, edges on pixel borders before shearing; the
    shear moves x by −tan(slant)·(y − centre), so a positive slant leans its top right."""
    left, top = (SIZE - thickness) // 2 + dx, (SIZE - height) // 2
    centre = top + height / 2
    corners = [(left, top), (left + thickness, top), (left + thickness, top + height)]
    corners.append((left, top + height))
    shear = np.tan(slant)
    polygon = [((x - shear * (y - centre)) * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in corners]
    big = Image.new("L", (SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE), 0)
    ImageDraw.Draw(big).polygon(polygon, fill=255)
    return np.asarray(big.resize((SIZE, SIZE), Image.Resampling.BOX))


def batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images))[:, None]


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    """Attributes of a few bars, measured once for the module."""
    shapes = {
        "t2": bar(2),
        "t4": bar(4),
        "t2_tall": bar(2, height=20),
        "t3_tall": bar(3, height=20),
        "right": bar(2, slant=0.3),
        "left": bar(2, slant=-0.3),
        "t2_moved": bar(2, dx=5),
        "empty": np.zeros((SIZE, SIZE), np.uint8),
    }
    values = measure_attributes(batch(*shapes.values()))
    return dict(zip(shapes, values, strict=True))


@pytest.mark.parametrize("name, thickness", [("t2", 2), ("t4", 4), ("t3_tall", 3)])
def test_a_vertical_bar_has_its_thickness_and_no_slant(bars, name, thickness):
    assert bars[name][COL["thickness"]] == pytest.approx(thickness, abs=0.5)
    assert bars[name][COL["slant"]] == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize("slant", [0.3, -0.3])
def test_a_sheared_bar_has_the_shear_angle_as_slant_with_its_sign(bars, slant):
    measured = bars["right" if slant > 0 else "left"][COL["slant"]]
    assert measured == pytest.approx(slant, abs=0.05)


def test_mirroring_negates_slant_and_keeps_the_rest(bars):
    right, left = bars["right"], bars["left"]
    others = [COL[a] for a in ATTRIBUTES if a != "slant"]
    np.testing.assert_allclose(right[others], left[others], atol=0.1)
    assert right[COL["slant"]] == pytest.approx(-left[COL["slant"]], abs=1e-6)


@pytest.mark.parametrize("name, height, thickness", [("t2", 16, 2), ("t2_tall", 20, 2)])
def test_a_bar_has_its_height_and_width_and_its_centre_line_as_length(
    bars, name, height, thickness
):
    measured = bars[name]
    inside = 1 - BOUND_MASS  # the extents leave BOUND_MASS of the foreground outside
    assert measured[COL["height"]] == pytest.approx(inside * height, abs=0.25)
    assert measured[COL["width"]] == pytest.approx(inside * thickness, abs=0.25)
    # thinning stops half a thickness short of each square end
    assert measured[COL["length"]] == pytest.approx(height - thickness, abs=1.0)


def test_doubling_thickness_doubles_area(bars):
    assert bars["t2"][COL["area"]] == pytest.approx(2 * 16, rel=0.05)
    assert bars["t4"][COL["area"]] / bars["t2"][COL["area"]] == pytest.approx(2.0, rel=0.1)


def test_moving_a_bar_by_whole_pixels_changes_nothing(bars):
    np.testing.assert_allclose(bars["t2_moved"], bars["t2"], atol=1e-9)


@pytest.mark.filterwarnings("error")
def test_an_empty_image_has_zero_area_and_length_and_nan_shape(bars):
    empty = bars["empty"]
    assert empty[COL["area"]] == 0 and empty[COL["length"]] == 0
    assert np.isnan(empty[[COL[a] for a in ("thickness", "slant", "width", "height")]]).all()
    assert measure_attributes(torch.zeros(0, 1, SIZE, SIZE, dtype=torch.uint8)).shape == (0, 6)


def test_images_that_are_not_uint8_grey_are_refused():
    with pytest.raises(DataError, match="uint8 grey"):
        measure_attributes(torch.zeros(1, 1, SIZE, SIZE))
    with pytest.raises(DataError, match="uint8 grey"):
        skeleton_maps(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))


def test_the_skeleton_of_a_thick_bar_is_one_pixel_wide_and_inside_it():
    image = bar(5, height=20)
    maps = skeleton_maps(batch(image, np.zeros_like(image)))
    assert maps.shape == (2, 1, SIZE, SIZE) and maps.dtype == torch.uint8
    assert set(maps.unique().tolist()) <= {0, 255}
    skeleton = maps[0, 0].numpy() > 0
    assert skeleton.sum() >= 10
    assert (skeleton <= (image >= 128)).all()
    assert skeleton.sum(axis=1).max() == 1  # one pixel per row of a vertical bar
    assert not maps[1].any()


def test_the_cache_returns_the_same_arrays_without_recomputing(tmp_path, monkeypatch):
    images = batch(bar(2), bar(3, slant=0.2))
    attributes = cached_attributes(images, tmp_path, "bars")
    maps = cached_skeleton_maps(images, tmp_path, "bars")
    assert len(list(tmp_path.iterdir())) == 2

    def fail(_):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(morpho, "measure_attributes", fail)
    monkeypatch.setattr(morpho, "skeleton_maps", fail)
    np.testing.assert_array_equal(cached_attributes(images, tmp_path, "bars"), attributes)
    assert torch.equal(cached_skeleton_maps(images, tmp_path, "bars"), maps)


def test_the_cache_is_keyed_by_content_and_off_without_a_directory(tmp_path, monkeypatch):
    first = cached_attributes(batch(bar(2)), tmp_path, "bars")
    second = cached_attributes(batch(bar(4)), tmp_path, "bars")
    assert len(list(tmp_path.iterdir())) == 2
    assert first[0, COL["thickness"]] != second[0, COL["thickness"]]

    def no_write(*_, **__):
        raise AssertionError("wrote a cache file without a cache directory")

    monkeypatch.setattr(morpho, "atomic_write", no_write)
    cached_attributes(batch(bar(3)), None, "bars")
    cached_skeleton_maps(batch(bar(3)), None, "bars")


def test_a_damaged_cache_file_is_reported(tmp_path):
    images = batch(bar(2))
    cached_attributes(images, tmp_path, "bars")
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not an array")
    with pytest.raises(DataError, match="delete it"):
        cached_attributes(images, tmp_path, "bars")
