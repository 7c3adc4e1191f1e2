"""Atomic writes: the new file appears whole, a failed write leaves the old one and no debris."""

import numpy as np
import pytest

from trigen.atomic import atomic_write, atomic_write_text


def test_text_replaces_whole_and_creates_the_directory(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_suffix_lets_numpy_keep_the_temporary_name(tmp_path):
    path = tmp_path / "f.npz"
    atomic_write(path, lambda tmp: np.savez(tmp, x=np.arange(3)), suffix=".npz")
    with np.load(path) as data:
        assert data["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["f.npz"]
