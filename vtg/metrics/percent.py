"""Reporting a fraction as the official evaluators do: a percentage rounded to two decimals."""

from __future__ import annotations

import math


def percent(fraction: float) -> float:
    """``round(100 * fraction, 2)``; NaN (a metric over no queries) stays NaN."""
    value = 100 * float(fraction)
    return value if math.isnan(value) else round(value, 2)
