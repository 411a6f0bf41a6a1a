"""What the benchmark scripts share: where the real data is, a median timer, and the authors'
per-pixel selector loop (also the oracle of tests/core/test_selector.py)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

SHARED_DATA = Path(
    os.environ.get("LUNGLENS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of `repeats` calls of `fn` (seconds), and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def authors_selector(raw_volume: np.ndarray) -> tuple[list[int], float, list[bool]]:
    """The authors' notebook: a per-pixel Python loop counting raw < 300 in rows 240-339, columns
    120-369; threshold (max - min) / 1.5; keep count > threshold. Returns (counts, threshold, kept)."""
    counts = []
    for image in raw_volume:
        zero = 0
        for y in range(240, 340):
            for x in range(120, 370):
                if image[y, x] < 300:
                    zero += 1
        counts.append(zero)
    threshold = (max(counts) - min(counts)) / 1.5
    return counts, threshold, [c > threshold for c in counts]
