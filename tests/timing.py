"""Timing helpers for tests of per-minute limits."""

from __future__ import annotations

import time


def within_one_minute(seconds: float = 10.0) -> None:
    """Wait for the next minute if less than `seconds` of this one are left. Per-minute
    counts are weighted across the turn of a minute (a sliding window counter, as `limits`
    counts), so a burst that straddles it is let through once more than the limit."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.5)
