"""Interval statistics for eval metrics (stdlib only)."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Proportion:
    """``k`` successes out of ``n`` with its Wilson score interval (two-sided, ``confidence``)."""

    k: int
    n: int
    low: float
    high: float
    confidence: float = 0.95

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    def as_dict(self) -> dict[str, object]:
        value = self.value
        return {"correct": self.k, "n": self.n, "accuracy": None if value is None else round(value, 4),
                "wilson95": [round(self.low, 4), round(self.high, 4)]}


def wilson(k: int, n: int, *, z: float = Z95) -> Proportion:
    """The Wilson score interval of ``k`` out of ``n`` (``n`` = 0 gives the vacuous [0, 1]).

    >>> p = wilson(45, 50); round(p.low, 3), round(p.high, 3)
    (0.786, 0.957)
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Proportion(0, 0, 0.0, 1.0)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Proportion(k, n, max(0.0, centre - half), min(1.0, centre + half))
