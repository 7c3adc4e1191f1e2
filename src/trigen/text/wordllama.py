"""The frozen pretrained token embeddings of the ``wordllama`` wheel, read from the installed files.

WordLlama (PyPI ``wordllama``) distils the input embeddings of a large language model into a
small table: ``weights/l2_supercat_256.safetensors`` holds one 256-d row per token of the Llama 2
tokenizer (32,000 tokens, float16), and ``tokenizers/l2_supercat_tokenizer_config.json`` is that
tokenizer as a Hugging Face ``tokenizers`` file (BPE with byte fallback). Both ship inside the
wheel; this module finds them without importing the ``wordllama`` package (which would pull in its
own loader and its optional download path), checks their sha256 against the release, and loads
the table with ``safetensors`` and the tokenizer with ``tokenizers``. Nothing here touches the
network.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load as load_safetensors
from torch import Tensor

from tokenizers import Tokenizer
from trigen.errors import CheckpointError, ConfigError

WORDLLAMA_RELEASE = "wordllama==0.4.0.post1"
"""The wheel whose files the hashes below belong to."""
INSTALL_HINT = f"pip install {WORDLLAMA_RELEASE}"
WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
WEIGHTS_SHA256 = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"
TOKENIZER_SHA256 = "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68"
TABLE_KEY = "embedding.weight"
"""The one tensor of the weights file: the token embedding table (vocabulary, WORDLLAMA_DIM)."""
WORDLLAMA_DIM = 256
"""The width of a WordLlama token embedding."""


@dataclass(frozen=True)
class WordLlama:
    """The loaded files: ``table`` (V, 256) float16 token embeddings and the ``tokenizer``
    whose ids index its rows."""

    table: Tensor
    tokenizer: Tokenizer


def wordllama_root() -> Path:
    """The installed ``wordllama`` package folder, found without importing the package."""
    spec = importlib.util.find_spec("wordllama")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(f"the wordllama text encoder is not installed: {INSTALL_HINT}")
    return Path(locations[0])


@functools.lru_cache(maxsize=2)
def load_wordllama(root: Path | None = None) -> WordLlama:
    """The table and tokenizer of the wheel installed at ``root`` (default: the one Python finds),
    each checked against its sha256 first; loaded once per process and root. A missing file is a
    one-line ConfigError naming the install command, an altered one a CheckpointError."""
    root = wordllama_root() if root is None else Path(root)
    weights = _verified_bytes(root / WEIGHTS_FILE, WEIGHTS_SHA256)
    config = _verified_bytes(root / TOKENIZER_FILE, TOKENIZER_SHA256)
    table = load_safetensors(weights)[TABLE_KEY]  # (V, 256) float16
    tokenizer = Tokenizer.from_str(config.decode("utf-8"))
    return WordLlama(table, tokenizer)


def _verified_bytes(path: Path, sha256: str) -> bytes:
    """The bytes of ``path`` if their sha256 is ``sha256`` (read once: the bytes checked are the
    bytes loaded)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(
            f"cannot read {path.name} of the wordllama wheel ({err.strerror}): {INSTALL_HINT}"
        ) from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CheckpointError(
            f"{path} has sha256 {digest[:12]}…, not that of {WORDLLAMA_RELEASE} "
            f"({sha256[:12]}…): pip install --force-reinstall {WORDLLAMA_RELEASE}"
        )
    return data
