"""Decoding and inference overlapped: the slices the selector will probably keep are classified
while the series decodes, and the result is exactly the sequential one (`load`, then `analyse`).
`pipeline.load_and_analyse` does this when `speculation_pays` for the model (on a GPU).

The paper's selector needs every slice's dark-pixel count before it knows which slices to keep
(threshold = (max - min) / 1.5 over the series), but each count is known as soon as its slice is
decoded, and the threshold seen so far can only grow as more slices arrive (the range only
widens). While the loader decodes (slices arrive in file order, head to feet), a second thread
predicts the kept slices from the threshold seen so far and classifies them speculatively:

- it starts once the largest count has stopped growing for `STABLE_SLICES` slices (the widest
  lungs have been passed, so the threshold is close to its final value);
- it runs exactly the model batches the sequential path will run — the predicted kept slices in
  order, cut into batches of the model's batch size from the first kept slice — because the
  model's output for a slice can differ in the last bit with its position in a batch (measured:
  CAM cells differ by 1e-7 relative from the fourth position on);
- when decoding ends, the selector runs on the whole series exactly as in the sequential path and
  `analyse` classifies its kept slices batch by batch: a batch the speculation ran with the same
  slices in the same order is taken from it, any other batch is run by the model. Speculative
  batches that do not match (a late rise of the threshold shifts the kept range) are discarded.

So the Analysis is identical to the sequential one. Series with multi-frame files load without
speculation (it matches slices by file)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

from lunglens.core.selector import SelectorParams, dark_pixel_counts
from lunglens.inference.preprocess import to_model_input
from lunglens.inference.session import CPU
from lunglens.io import Series, SeriesRef, load
from lunglens.io.geometry import StandardLayout
from lunglens.io.load import ProgressCallback

#: Slices after the last rise of the largest dark-pixel count before speculation starts.
STABLE_SLICES = 8
#: Pixels compared to check that a batch handed to the model is the batch speculated on (a
#: strided sample of the model input; a mismatch is a programming error, never silent).
_CHECK_STRIDE = (61, 67)

Batch = tuple[Path, ...]


def speculation_pays(model) -> bool:
    """Whether overlapping decoding and inference shortens an analysis with `model`: when it runs
    on a GPU, so that inference leaves the CPU cores to the decoding threads. On the CPU both keep
    every core busy: on the 2-core development machine the overlapped run of covid-ct-md P001 took
    1.12 times the sequential one with the demo model, 0.97 times with a model of twice its width
    (tests/benchmarks/bench_pipeline_floor.py)."""
    return model.provider.used != CPU


def _sample(image: np.ndarray) -> np.ndarray:
    return image[:, 0, :: _CHECK_STRIDE[0], :: _CHECK_STRIDE[1]].copy()


class _Speculation(threading.Thread):
    """Runs the predicted model batches while the series decodes (see the module docstring)."""

    def __init__(self, model, params: SelectorParams, layout: StandardLayout):
        super().__init__(name="lunglens-speculative-classify", daemon=True)
        self.model = model
        self.params = params
        self.layout = layout
        self.step = max(1, int(model.batch_size))
        self.inbox: queue.Queue = queue.Queue()
        self.outputs: dict[Batch, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        """Batch (files in order) → (probabilities, cams, check sample) as the model answered."""
        self.error: BaseException | None = None
        self._slices: list[tuple[int, Path, np.ndarray]] = []
        self._low = self._high = None
        self._since_rise = 0
        self._decoded = False

    def offer(self, path: Path, frame: int | None, hu: np.ndarray) -> None:
        """The loader's `on_slice`: count the slice's dark pixels (in the standard layout, as the
        selector and the classifier see it) and queue it."""
        hu = self.layout.to_standard(hu)
        self.inbox.put((int(dark_pixel_counts(hu[None], self.params)[0]), path, hu))

    def decoding_finished(self) -> None:
        self.inbox.put(None)

    def _receive(self, block: bool) -> None:
        while True:
            try:
                item = self.inbox.get(block=block)
            except queue.Empty:
                return
            if item is None:
                self._decoded = True
                return
            count = item[0]
            self._low = count if self._low is None else min(self._low, count)
            if self._high is None or count > self._high:
                self._high, self._since_rise = count, 0
            else:
                self._since_rise += 1
            self._slices.append(item)
            block = False

    def _next_batch(self) -> list[tuple[int, Path, np.ndarray]] | None:
        """The first predicted full batch not run yet, or None."""
        if self._high is None or self._since_rise < STABLE_SLICES:
            return None
        threshold = (self._high - self._low) / self.params.divisor
        predicted = [s for s in self._slices if s[0] > threshold]
        for start in range(0, len(predicted) - self.step + 1, self.step):
            batch = predicted[start : start + self.step]
            if tuple(path for _, path, _ in batch) not in self.outputs:
                return batch
        return None

    def run(self) -> None:
        try:
            batch = None
            while not self._decoded:
                self._receive(block=batch is None)
                if self._decoded:
                    break
                batch = self._next_batch()
                if batch is not None:
                    image = to_model_input(np.stack([hu for _, _, hu in batch]))
                    probabilities, cams = self.model.run(image)
                    key = tuple(path for _, path, _ in batch)
                    self.outputs[key] = (probabilities, cams, _sample(image))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc
        finally:
            self._slices = []  # the slices are the series' now; only the model's answers are kept

    def answering(self, kept_files: list[Path]) -> _SpeculatedModel:
        """The model for `analyse` to classify the kept slices (their files in order) with."""
        return _SpeculatedModel(self.model, self.outputs, kept_files)


class _SpeculatedModel:
    """The model as `analyse` sees it: a batch the speculation already ran (same slices, same
    order) is answered from it, any other by the model. `analyse` classifies the kept slices in
    order, batch by batch, so the files of the kept slices say which slices each batch holds."""

    def __init__(self, model, outputs: dict, files_in_order: list[Path]):
        self.card, self.provider, self.batch_size = model.card, model.provider, model.batch_size
        self._model, self._outputs, self._files = model, outputs, iter(files_in_order)

    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(next(self._files) for _ in range(len(image)))
        if key in self._outputs:
            probabilities, cams, sample = self._outputs[key]
            if not np.array_equal(sample, _sample(image)):
                raise RuntimeError(f"{key[0]}: speculative batch matched to other slices")
            return probabilities, cams
        return self._model.run(image)


def load_speculating(
    ref: SeriesRef, model, params: SelectorParams, *, progress: ProgressCallback | None = None
) -> tuple[Series, _Speculation | None]:
    """Load `ref` (`lunglens.io.load`, `progress` as there) while classifying with `model` the
    slices the selector with `params` will probably keep. Returns the series and the finished
    speculation, whose `answering(kept files)` model `analyse` then uses; None for a series with
    multi-frame files, loaded without speculating. Raises LoadError on bad data, and what the
    model raised."""
    if any(frame is not None for _, frame in ref.frames):
        return load(ref, progress=progress), None
    speculation = _Speculation(model, params, StandardLayout.of(ref.orientation_cosines))
    speculation.start()
    try:
        series = load(ref, progress=progress, on_slice=speculation.offer)
    finally:
        speculation.decoding_finished()
        speculation.join()
    if speculation.error is not None:
        raise speculation.error
    return series, speculation
