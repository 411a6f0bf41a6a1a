"""One model for a whole session, loaded once: the viewer starts loading it at start-up, and an
analysis asked for before that load has finished waits for it instead of building a second
ONNX session. The same holds for anything built around a model (the learned lesion method,
`lunglens.analysis.lesion_methods`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from lunglens.inference.session import ModelError

T = TypeVar("T")


class SharedModel(Generic[T]):
    """`get()` runs `load` on its first call and returns its model to every caller; callers
    that come while the load runs wait for it. A `ModelError` from the load is kept and raised
    to every caller (the model is not loaded again). `loads` counts the calls of `load`."""

    def __init__(self, load: Callable[[], T]):
        self._load = load
        self._lock = threading.Lock()
        self._model: T | None = None
        self._error: ModelError | None = None
        self.loads = 0

    def get(self) -> T:
        with self._lock:
            if self._model is None and self._error is None:
                self.loads += 1
                try:
                    self._model = self._load()
                except ModelError as exc:
                    self._error = exc
        if self._error is not None:
            raise self._error
        return self._model
