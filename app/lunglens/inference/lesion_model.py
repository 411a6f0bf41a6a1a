"""Loading the dense lesion model (DESIGN.md section 9) with its card, on the best provider.

Session creation and the provider choice are the classifier's (`lunglens.inference.session`); this
module adds the lesion card, its signature check (shapes, and a probe run that the output grid
follows the card's `output_stride`) and the P(lesion) grid of a whole image, run in tiles so the
memory stays bounded on big images."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lunglens.inference.lesion_card import LesionModelCard
from lunglens.inference.session import (
    CPU,
    ModelError,
    ProviderChoice,
    card_path_for,
    read_card,
    start_verified_session,
)
from lunglens.paths import shipped_dir

LESION_MODEL_CARD = "lunglens-lesion.json"


@dataclass(frozen=True)
class Tiling:
    """How a whole image is cut for the dense graph: tiles of at most `tile_outputs` x
    `tile_outputs` outputs (input side (tile_outputs - 1) x output_stride + patch_px, neighbouring
    tiles overlapping by patch_px - output_stride), `tiles_per_run` tiles per `run` call, and
    `patches_per_run` patches per call when single patches are classified. With `fixed_shape`
    every run has the same input shape: tiles of exactly `tile_outputs` outputs a side, and
    `tiles_per_run` of them (blank tiles filling a short run; their outputs are dropped)."""

    tile_outputs: int
    tiles_per_run: int
    patches_per_run: int
    fixed_shape: bool = False


#: CPU: a tile of 96 x 96 outputs (408 x 408 px at 1 mm/px: a whole slice's lungs in one) holds
#: about 50 MB of activations (conv1 32 x 404 x 404 floats the largest); tiles fit the image, since
#: every output computed costs CPU time. GPU: one tile of exactly 128 x 128 outputs (536 px) per
#: call, whatever the lungs' size: the CUDA provider chooses its kernels again at every new input
#: shape (6-12 ms for this model on an H200, tests/benchmarks/bench_overhead.py), and a lung crop
#: is a new shape on nearly every slice, where the outputs padding adds cost far less.
CPU_TILING = Tiling(tile_outputs=96, tiles_per_run=2, patches_per_run=1024)
GPU_TILING = Tiling(tile_outputs=128, tiles_per_run=1, patches_per_run=8192, fixed_shape=True)


def bundled_lesion_card() -> Path:
    """The card of the lesion model shipped with LungLens."""
    card = shipped_dir("models") / LESION_MODEL_CARD
    if not card.exists():
        raise ModelError(f"{card}: the bundled lesion model is missing from this installation")
    return card


class LesionModel:
    """A dense lesion model honouring the contract, checked against its card."""

    def __init__(
        self,
        card: LesionModelCard,
        onnx_path: Path,
        session,
        provider: ProviderChoice,
    ):
        self.card = card
        self.onnx_path = onnx_path
        self.session = session
        self.provider = provider
        self.tiling = CPU_TILING if provider.used == CPU else GPU_TILING

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """float32 [n, 1, H, W] grey 0..255 (H, W >= patch_px) -> probabilities [n, 2, H', W'] in the
        card's class order, H' = (H - patch_px) // output_stride + 1 (one `run` call)."""
        return self.session.run(["probabilities"], {"image": np.ascontiguousarray(images, np.float32)})[0]

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(H', W') of the P(lesion) grid of an image of `height` x `width` pixels (>= patch_px)."""
        size, stride = self.card.patch_px, self.card.output_stride
        return (height - size) // stride + 1, (width - size) // stride + 1

    def lesion_grid(self, grey: np.ndarray) -> np.ndarray:
        """P(lesion) float32 [H', W'] of a grey image [H, W] (H, W >= patch_px): at (i, j) the patch
        whose top-left corner is (output_stride i, output_stride j). Cut into near-equal tiles of at
        most `tiling.tile_outputs` outputs a side (exactly that many with `tiling.fixed_shape`), run
        `tiling.tiles_per_run` at a time."""
        grey = np.asarray(grey, dtype=np.float32)
        size, stride = self.card.patch_px, self.card.output_stride
        if grey.ndim != 2 or min(grey.shape) < size:
            raise ValueError(f"an image of shape {grey.shape} is not 2-D with sides >= {size} px")
        out_h, out_w = self.output_shape(*grey.shape)
        limit = self.tiling.tile_outputs
        counts = (math.ceil(out_h / limit), math.ceil(out_w / limit))
        tile = (  # outputs per tile
            (limit, limit)
            if self.tiling.fixed_shape
            else (math.ceil(out_h / counts[0]), math.ceil(out_w / counts[1]))
        )
        span = ((tile[0] - 1) * stride + size, (tile[1] - 1) * stride + size)  # input pixels per tile
        need = ((counts[0] * tile[0] - 1) * stride + size, (counts[1] * tile[1] - 1) * stride + size)
        image = grey[: need[0], : need[1]]  # rows past the last patch are not used; short ones padded
        image = np.pad(image, ((0, need[0] - image.shape[0]), (0, need[1] - image.shape[1])), mode="edge")
        origins = [(a, b) for a in range(counts[0]) for b in range(counts[1])]
        grid = np.empty((counts[0] * tile[0], counts[1] * tile[1]), np.float32)
        for start in range(0, len(origins), self.tiling.tiles_per_run):
            chunk = origins[start : start + self.tiling.tiles_per_run]
            batch = np.stack(
                [
                    image[a * tile[0] * stride : a * tile[0] * stride + span[0],
                          b * tile[1] * stride : b * tile[1] * stride + span[1]]
                    for a, b in chunk
                ]
            )[:, None]  # fmt: skip
            if self.tiling.fixed_shape and len(chunk) < self.tiling.tiles_per_run:
                blank = np.zeros((self.tiling.tiles_per_run - len(chunk), *batch.shape[1:]), np.float32)
                batch = np.concatenate([batch, blank])
            lesion = self.probabilities(batch)[: len(chunk), self.card.lesion_index]
            for (a, b), values in zip(chunk, lesion, strict=True):
                grid[a * tile[0] : (a + 1) * tile[0], b * tile[1] : (b + 1) * tile[1]] = values
        return grid[:out_h, :out_w]

    def lesion_probability(self, patches: np.ndarray) -> np.ndarray:
        """float32 [n, 1, P, P] single patches -> P(lesion) [n] (the dense graph on P x P inputs is
        the patch classifier), run `tiling.patches_per_run` at a time."""
        out = np.empty(len(patches), np.float32)
        for start in range(0, len(patches), self.tiling.patches_per_run):
            chunk = patches[start : start + self.tiling.patches_per_run]
            out[start : start + len(chunk)] = self.probabilities(chunk)[:, self.card.lesion_index, 0, 0]
        return out


def load_lesion_model(path: Path | None = None, provider: str = "auto") -> LesionModel:
    """Load a lesion model by its card or .onnx path (default: the bundled one), verify its
    sha256 and signature, and start it on the best provider (GPU when present)."""
    card_path = card_path_for(path) if path is not None else bundled_lesion_card()
    card = read_card(card_path, LesionModelCard)
    onnx_path, session, choice = start_verified_session(card_path, card.onnx_file, card.sha256, provider)
    _check_signature(session, card, onnx_path)
    return LesionModel(card, onnx_path, session, choice)


def _check_signature(session, card: LesionModelCard, onnx_path: Path) -> None:
    """ModelError unless the graph is image [N, 1, H, W] -> probabilities [N, 2, H', W'] with H and W
    free, and a probe image of patch_px x (patch_px + 2 output_stride) gives a 1 x 3 grid."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    problems = []
    image = inputs.get("image")
    if (
        list(inputs) != ["image"]
        or len(image) != 4
        or image[1] != 1
        or any(isinstance(d, int) for d in image[2:])
    ):
        problems.append(f"input must be image [N, 1, H, W] with H and W free, found {inputs}")
    result = outputs.get("probabilities")
    if list(outputs) != ["probabilities"] or len(result) != 4 or result[1] != 2:
        problems.append(f"output must be probabilities [N, 2, H', W'], found {outputs}")
    if not problems:
        size, stride = card.patch_px, card.output_stride
        probe = np.full((1, 1, size, size + 2 * stride), 128.0, np.float32)
        try:
            shape = session.run(["probabilities"], {"image": probe})[0].shape
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            shape = f"an error ({exc})"
        if shape != (1, 2, 1, 3):
            problems.append(
                f"an image of {size} x {size + 2 * stride} px must give probabilities [1, 2, 1, 3] "
                f"(patch {size} px, output stride {stride}), found {shape}"
            )
    if problems:
        raise ModelError(f"{onnx_path}: does not honour the lesion model contract: " + "; ".join(problems))
