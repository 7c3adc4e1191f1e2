"""One measured number with its interval: what every measurement reports and every rule reads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """One measured number with its interval, sample count and how the interval was made.

    ``low``/``high`` bound the interval, which covers the true value with probability
    ``level`` (equal to ``value`` only for a counted quantity: calls, bytes; never for a timing,
    a loss or a fit). An interval that could not be made (one seed, two points, too few samples
    for the metric) is (−∞, ∞): a rule reading it can only say inconclusive. ``n`` is the number
    of things behind it and ``n_of`` says what they are (images, seeds, rounds, points).
    """

    name: str
    value: float
    low: float
    high: float
    unit: str = ""
    n: int = 1
    method: str = "counted"
    n_of: str = "samples"
    level: float = 0.95

    @classmethod
    def exact(cls, name: str, value: float, unit: str = "", n: int = 1) -> Estimate:
        """A counted number (network calls, bytes): its interval is the value itself."""
        return cls(name, float(value), float(value), float(value), unit, n, "counted", "counts")

    @classmethod
    def undetermined(
        cls, name: str, value: float, why: str, unit: str = "", n: int = 1, n_of: str = "samples"
    ) -> Estimate:
        """A measured value without an interval (``why``: one seed, two points, …)."""
        return cls(name, float(value), -math.inf, math.inf, unit, n, why, n_of)

    @property
    def determined(self) -> bool:
        """Whether the interval bounds anything: a one-sided [low, ∞) still can (a ratio whose
        denominator's interval reaches 0 has no upper end but may clear a lower bound)."""
        return math.isfinite(self.low) or math.isfinite(self.high)

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"{self.name}: interval [{self.low}, {self.high}] is reversed")
        if math.isfinite(self.value) and not self.low <= self.value <= self.high:
            raise ValueError(
                f"{self.name}: interval [{self.low}, {self.high}] excludes its value "
                f"{self.value} ({self.method}); the interval method is wrong for this statistic"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "unit": self.unit,
            "n": self.n,
            "n_of": self.n_of,
            "method": self.method,
            "level": self.level,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        return cls(
            d["name"],
            _float(d["value"], math.nan),
            _float(d["low"], -math.inf),
            _float(d["high"], math.inf),
            d["unit"],
            d["n"],
            d["method"],
            d.get("n_of", "samples"),
            d.get("level", 0.95),
        )


def _json_float(x: float) -> float | None:
    """JSON has no infinities: an unbounded end (or an undefined value) is written as null."""
    return x if math.isfinite(x) else None


def _float(x: float | None, missing: float) -> float:
    return missing if x is None else float(x)
