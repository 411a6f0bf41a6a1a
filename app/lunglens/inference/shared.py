"""One model for a whole session, loaded once: the viewer starts loading it at start-up, and an
analysis asked for before that load has finished waits for it instead of building a second
ONNX session."""

from __future__ import annotations

import threading
from collections.abc import Callable

from lunglens.inference.session import Model, ModelError


class SharedModel:
    """`get()` runs `load` on its first call and returns its model to every caller; callers
    that come while the load runs wait for it. A `ModelError` from the load is kept and raised
    to every caller (the model is not loaded again)."""

    def __init__(self, load: Callable[[], Model]):
        self._load = load
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._error: ModelError | None = None

    def get(self) -> Model:
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    self._model = self._load()
                except ModelError as exc:
                    self._error = exc
        if self._error is not None:
            raise self._error
        return self._model
