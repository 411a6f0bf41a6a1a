"""ONNX models: the card, the session on GPU or CPU, pre-processing, batched prediction and
Grad-CAM post-processing (no Qt)."""

from lunglens.inference.card import ModelCard
from lunglens.inference.predict import Cancelled, classify
from lunglens.inference.session import PROVIDER_CHOICES, Model, ModelError, ProviderChoice, load_model

__all__ = [
    "PROVIDER_CHOICES",
    "Cancelled",
    "Model",
    "ModelCard",
    "ModelError",
    "ProviderChoice",
    "classify",
    "load_model",
]
