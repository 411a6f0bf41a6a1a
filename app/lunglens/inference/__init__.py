"""ONNX models: the card, the session on GPU or CPU, pre-processing, batched prediction and
Grad-CAM post-processing (no Qt)."""

from lunglens.inference.card import ModelCard
from lunglens.inference.predict import Cancelled, classify
from lunglens.inference.session import PROVIDER_CHOICES, Model, ModelError, ProviderChoice, load_model
from lunglens.inference.shared import SharedModel

__all__ = [
    "PROVIDER_CHOICES",
    "Cancelled",
    "Model",
    "ModelCard",
    "ModelError",
    "ProviderChoice",
    "SharedModel",
    "classify",
    "load_model",
]
