"""Loading the lesion patch model (DESIGN.md section 9) with its card, on the best provider.

Session creation and the provider choice are the classifier's (`lunglens.inference.session`); this
module adds the lesion card, its signature check and batched patch prediction."""

from __future__ import annotations

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
#: Patches per `run` call: the patch net is tiny, so large batches on every provider.
PATCH_BATCH = {CPU: 1024}
GPU_PATCH_BATCH = 8192


def bundled_lesion_card() -> Path:
    """The card of the lesion model shipped with LungLens."""
    card = shipped_dir("models") / LESION_MODEL_CARD
    if not card.exists():
        raise ModelError(f"{card}: the bundled lesion model is missing from this installation")
    return card


class LesionModel:
    """A lesion patch model honouring the contract, checked against its card."""

    def __init__(self, card: LesionModelCard, onnx_path: Path, session, provider: ProviderChoice):
        self.card = card
        self.onnx_path = onnx_path
        self.session = session
        self.provider = provider
        self.batch_size = PATCH_BATCH.get(provider.used, GPU_PATCH_BATCH)

    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """float32 [n, 1, P, P] grey 0..255 -> probabilities [n, 2] in the card's class order."""
        return self.session.run(["probabilities"], {"image": np.ascontiguousarray(patches, np.float32)})[0]

    def lesion_probability(self, patches: np.ndarray) -> np.ndarray:
        """float32 [n, 1, P, P] -> P(lesion) [n], run in batches of `batch_size`."""
        out = np.empty(len(patches), np.float32)
        for start in range(0, len(patches), self.batch_size):
            chunk = patches[start : start + self.batch_size]
            out[start : start + len(chunk)] = self.probabilities(chunk)[:, self.card.lesion_index]
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
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    size = card.patch_px
    problems = []
    if list(inputs) != ["image"] or list(inputs["image"][1:]) != [1, size, size]:
        problems.append(f"input must be image [N, 1, {size}, {size}], found {inputs}")
    if list(outputs) != ["probabilities"] or outputs["probabilities"][1:] != [2]:
        problems.append(f"output must be probabilities [N, 2], found {outputs}")
    if problems:
        raise ModelError(f"{onnx_path}: does not honour the lesion model contract: " + "; ".join(problems))
