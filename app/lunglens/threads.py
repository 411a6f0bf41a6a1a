"""How many threads one LungLens process may use for its own work (slice decoding, onnxruntime)."""

from __future__ import annotations

import os

THREADS_VARIABLE = "LUNGLENS_THREADS"
"""Environment variable holding a process's share of the cores (a batch worker: cores / workers)."""


def thread_budget() -> int | None:
    """The process's share of the cores: `LUNGLENS_THREADS` when it holds a positive integer, else
    None (use what the machine has)."""
    try:
        threads = int(os.environ.get(THREADS_VARIABLE, ""))
    except ValueError:
        return None
    return threads if threads > 0 else None


def thread_count() -> int:
    """Threads a process's own parallel work may use: its thread budget, else the machine's cores."""
    return thread_budget() or os.cpu_count() or 1
