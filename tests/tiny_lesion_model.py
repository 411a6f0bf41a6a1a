"""A tiny ONNX lesion model honouring the lesion model contract (DESIGN.md section 9), built with
onnx.helper, so lesion-map and CLI tests run without the trained model or torch.

P(lesion) = sigmoid((mean grey of the patch - 100) / 10) (class order healthy, lesion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lunglens.inference.card import sha256_of
from lunglens.inference.lesion_card import LesionModelCard


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def tiny_lesion_p(patches: np.ndarray) -> np.ndarray:
    """What the tiny model answers for patches [n, 1, 28, 28]."""
    logit = (patches.astype(np.float64).mean(axis=(1, 2, 3)) - 100) / 10
    return 1 / (1 + np.exp(-logit))


def write_tiny_lesion_model(
    folder: Path, name: str = "tiny-lesion", patch_px: int = 28, pixel_mm: float = 1.0
) -> Path:
    """Write `<name>.onnx` and its lesion card into `folder`; returns the card path."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [
        _const("axes", np.array([1, 2, 3], np.int64)),
        _const("shape", np.array([-1, 1], np.int64)),
        _const("c100", np.float32(100)),
        _const("c20", np.float32(20)),
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["mean2"]),
        helper.make_node("Sub", ["mean2", "c100"], ["centred"]),
        helper.make_node("Div", ["centred", "c20"], ["half_logit"]),
        helper.make_node("Neg", ["half_logit"], ["neg"]),
        helper.make_node("Concat", ["neg", "half_logit"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, patch_px, patch_px])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx_path = folder / f"{name}.onnx"
    onnx.save(model, onnx_path)
    card = LesionModelCard(
        name=name,
        version="0.0.1",
        onnx_file=onnx_path.name,
        sha256=sha256_of(onnx_path),
        class_names=("healthy", "lesion"),
        lesion_index=1,
        patch_px=patch_px,
        pixel_mm=pixel_mm,
        intended_use="tests only",
        licence="MIT",
    )
    card_path = folder / f"{name}.json"
    card.save(card_path)
    return card_path
