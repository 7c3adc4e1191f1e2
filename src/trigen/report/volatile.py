"""Which fields of ``results.json`` may differ between two runs of the same command on the same
machine: timings, and descriptions of the host and of the invocation. Every other field is a
function of the settings, the seeds and the code (tests/compare/test_reruns.py reruns a small
comparison and compares); ``results.json`` lists these patterns under ``volatile_fields``.

A pattern is a JSON Pointer (RFC 6901: ``/families/unet/train/seconds``) whose segments may
also be ``*``-globs over one key or list index (``*seconds`` matches ``seconds`` and
``train_seconds``), ``**`` for any number of levels (none included), or ``[key=value]`` for the
item of a list that is an object whose ``key`` matches the glob ``value`` (``/claims/[id=C7]``).
A field that a pattern matches is volatile with everything below it.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

DEEP = "**"

VOLATILE_FIELDS: tuple[str, ...] = (
    "/meta/date",  # when it ran
    "/meta/command",  # how it was invoked: two runs differ at least in --out
    *("/meta/resumed_with", "/meta/resumed_at"),  # how and when an interrupted run went on
    *("/meta/cpu", "/meta/host", "/meta/torch", "/meta/threads"),  # the host and its software
    # wall-clock times and the speeds derived from them, wherever they are recorded
    *("/**/*seconds", "/**/*seconds_per_image", "/**/*per_second"),
    *("/**/*latency_s_per_image", "/**/*throughput_images_per_s", "/**/*_step_s"),
    *("/**/timing", "/**/train_step", "/**/sample_step"),  # repeated timings and their spread
    "/**/[name=* time *]",  # an estimate of measured times (C6's fitted time exponents)
)
"""The volatile fields of every comparison; a claim decided on timings adds its whole entry."""


def timed_claim(claim_id: str) -> str:
    """The pattern of a claim whose verdict rests on this host's timings: its whole entry."""
    return f"/claims/[id={claim_id}]"


def without_volatile(results: Any, patterns: tuple[str, ...] | list[str]) -> Any:
    """A copy of ``results`` without the fields that ``patterns`` match."""
    return _strip(results, [_segments(p) for p in patterns])


def _segments(pattern: str) -> list[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"a volatile field pattern is a JSON Pointer starting with /: {pattern}")
    return [s.replace("~1", "/").replace("~0", "~") for s in pattern.split("/")[1:]]


def _strip(node: Any, states: list[list[str]]) -> Any:
    """``node`` without its children that a pattern, advanced to ``node`` as ``states``, ends at."""
    if isinstance(node, dict):
        kept: dict[str, Any] = {}
        for key, value in node.items():
            following = _following(states, key, value)
            if following is not None:
                kept[key] = _strip(value, following)
        return kept
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            following = _following(states, index, value)
            if following is not None:
                items.append(_strip(value, following))
        return items
    return node


def _following(states: list[list[str]], key: str | int, value: Any) -> list[list[str]] | None:
    """What is left of each pattern below the child ``key`` (holding ``value``); None when a
    pattern ends there: the child is volatile."""
    following = [rest for state in states for rest in _advance(state, key, value)]
    return None if any(not rest for rest in following) else following


def _advance(segments: list[str], key: str | int, value: Any) -> list[list[str]]:
    """The remainders of ``segments`` once they have matched the child ``key``."""
    if not segments:
        return []
    head, rest = segments[0], segments[1:]
    if head == DEEP:  # the child is one of its levels, or it spans none and ``rest`` goes on
        return [segments, *_advance(rest, key, value)]
    return [rest] if _matches(head, key, value) else []


def _matches(segment: str, key: str | int, value: Any) -> bool:
    if segment.startswith("[") and segment.endswith("]") and "=" in segment:
        field, _, wanted = segment[1:-1].partition("=")
        return isinstance(value, dict) and fnmatchcase(str(value.get(field)), wanted)
    return fnmatchcase(str(key), segment)
