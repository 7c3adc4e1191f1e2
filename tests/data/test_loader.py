"""BatchLoader: ranges, determinism, exact resumption, flips and rank sharding."""

import itertools

import pytest
import torch

from trigen.batch import Batch
from trigen.data import BatchLoader, ImageDataset, from_model_range
from trigen.errors import ConfigError

N, SIDE = 20, 4


def _dataset(n: int = N) -> ImageDataset:
    """Image i holds 10 * i + column: it names its index and is not left-right symmetric."""
    columns = torch.arange(SIDE, dtype=torch.uint8)
    images = (torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1) * 10 + columns).expand(
        n, 1, SIDE, SIDE
    )
    labels = torch.arange(n) % 5
    return ImageDataset(images.contiguous(), labels, 5, list("abcde"), "toy")


def _index_and_flipped(batch: Batch) -> tuple[list[int], list[bool]]:
    """Recover each example's dataset index and whether it was mirrored."""
    pixels = from_model_range(batch.images)[:, 0, 0].long()  # (B, SIDE) first row
    flipped = (pixels[:, 0] > pixels[:, -1]).tolist()
    return (pixels.min(dim=1).values // 10).tolist(), flipped


def _take(loader: BatchLoader, steps: int) -> list[Batch]:
    return list(itertools.islice(loader, steps))


def test_batches_are_model_range_floats():
    batch = next(BatchLoader(_dataset(), 8, seed=0))
    assert batch.images.shape == (8, 1, SIDE, SIDE) and batch.images.dtype == torch.float32
    assert float(batch.images.min()) >= -1 and float(batch.images.max()) <= 1
    assert batch.labels.dtype == torch.int64


def test_each_epoch_visits_every_image_once():
    loader = BatchLoader(_dataset(), 5, seed=3)
    for _ in range(3):
        seen = [i for b in _take(loader, len(loader)) for i in _index_and_flipped(b)[0]]
        assert sorted(seen) == list(range(N))


def test_same_seed_same_batches_other_seed_other_order():
    a, b, c = (BatchLoader(_dataset(), 6, seed=s, flip=True) for s in (7, 7, 8))
    batches_a, batches_b, batches_c = _take(a, 10), _take(b, 10), _take(c, 10)
    assert all(torch.equal(x.images, y.images) for x, y in zip(batches_a, batches_b, strict=True))
    assert not all(
        torch.equal(x.images, y.images) for x, y in zip(batches_a, batches_c, strict=True)
    )


@pytest.mark.parametrize("steps", [0, 2, 3, 7])
def test_state_dict_resumes_the_exact_sequence(steps: int):
    original = BatchLoader(_dataset(), 6, seed=1, flip=True)  # 3 batches per epoch
    _take(original, steps)
    state = original.state_dict()
    expected = _take(original, 8)  # crosses at least two epoch boundaries
    resumed = BatchLoader(_dataset(), 6, seed=1, flip=True)
    resumed.load_state_dict(state)
    for want, got in zip(expected, _take(resumed, 8), strict=True):
        assert torch.equal(want.images, got.images) and torch.equal(want.labels, got.labels)


def test_flip_mirrors_some_images_and_keeps_labels():
    plain = _take(BatchLoader(_dataset(), 10, seed=4), 6)
    flipped = _take(BatchLoader(_dataset(), 10, seed=4, flip=True), 6)
    flags = []
    for p, f in zip(plain, flipped, strict=True):
        assert sorted(p.labels.tolist()) == sorted(f.labels.tolist())
        indices, mirrored = _index_and_flipped(f)
        assert indices == _index_and_flipped(p)[0]  # same order: only the pixels change
        flags += mirrored
        for k, m in enumerate(mirrored):
            expect = p.images[k].flip(-1) if m else p.images[k]
            assert torch.equal(f.images[k], expect)
    assert 0 < sum(flags) < len(flags)
    assert not any(flag for b in plain for flag in _index_and_flipped(b)[1])


def test_ranks_cover_disjoint_shards():
    ranks = [BatchLoader(_dataset(), 5, seed=2, rank=r, world_size=2) for r in range(2)]
    for _ in range(2):  # two epochs
        seen = [
            [i for b in _take(loader, len(loader)) for i in _index_and_flipped(b)[0]]
            for loader in ranks
        ]
        assert len(seen[0]) == len(seen[1]) == N // 2
        assert not set(seen[0]) & set(seen[1])
        assert sorted(seen[0] + seen[1]) == list(range(N))


def test_uneven_world_drops_the_same_count_on_every_rank():
    ranks = [BatchLoader(_dataset(21), 2, seed=0, rank=r, world_size=4) for r in range(4)]
    assert {loader.shard_size for loader in ranks} == {5}
    assert {len(loader) for loader in ranks} == {2}


def test_drop_last_false_yields_the_short_tail():
    loader = BatchLoader(_dataset(), 8, seed=0, drop_last=False)
    assert len(loader) == 3
    assert [len(b.labels) for b in _take(loader, 4)] == [8, 8, 4, 8]


def test_invalid_options_are_config_errors():
    with pytest.raises(ConfigError, match="lower batch_size"):
        BatchLoader(_dataset(), 32, seed=0)
    with pytest.raises(ConfigError, match="rank"):
        BatchLoader(_dataset(), 2, seed=0, rank=2, world_size=2)
    loader = BatchLoader(_dataset(), 2, seed=0)
    with pytest.raises(ConfigError, match="another dataset"):
        loader.load_state_dict({"epoch": 0, "position": N + 1})
