"""The frozen WordLlama files: found without importing the package, checked, loaded offline."""

import importlib.util
import re
import shutil
import socket
import sys

import pytest
import torch

from trigen.errors import CheckpointError, ConfigError
from trigen.text import TextEncoderKind, build_text_encoder, text_spec, tokenizer_for
from trigen.text.wordllama import (
    INSTALL_HINT,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    WORDLLAMA_DIM,
    load_wordllama,
    wordllama_root,
)


def _no_network(*args, **kwargs):
    raise AssertionError("the network was touched")


def test_loads_and_encodes_with_sockets_blocked(monkeypatch):
    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, _no_network)
    load_wordllama.cache_clear()
    spec = text_spec("caption", TextEncoderKind.WORDLLAMA, 12)
    ids, truncated = tokenizer_for(spec).encode(["a thick seven slanting to the right"], 12)
    states = build_text_encoder(spec, 32)(ids)
    assert truncated == [False] and states.hidden.shape == (1, 12, 32)
    assert "wordllama" not in sys.modules  # found by its files, never imported


def test_table_and_tokenizer_agree():
    files = load_wordllama()
    assert files.table.shape == (files.tokenizer.get_vocab_size(), WORDLLAMA_DIM)
    assert files.table.dtype == torch.float16 and torch.isfinite(files.table).all()


def _copy_wheel_files(tmp_path):
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wordllama_root() / name, tmp_path / name)


@pytest.mark.parametrize("name", [WEIGHTS_FILE, TOKENIZER_FILE])
def test_an_altered_file_is_a_one_line_error(tmp_path, name):
    _copy_wheel_files(tmp_path)
    load_wordllama(tmp_path)  # the intact copy loads
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    load_wordllama.cache_clear()
    with pytest.raises(CheckpointError, match="sha256") as err:
        load_wordllama(tmp_path)
    assert "\n" not in str(err.value) and "--force-reinstall wordllama==" in str(err.value)


def test_a_missing_file_names_the_install(tmp_path):
    _copy_wheel_files(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(ConfigError, match=re.escape(INSTALL_HINT)) as err:
        load_wordllama(tmp_path)
    assert "\n" not in str(err.value)


def test_a_missing_install_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wordllama" else real(name)
    )
    load_wordllama.cache_clear()
    with pytest.raises(ConfigError, match=re.escape("pip install wordllama==0.4.0.post1")):
        tokenizer_for(text_spec("caption", "wordllama", 8))
