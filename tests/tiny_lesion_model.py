"""A tiny ONNX lesion model honouring the dense lesion model contract (DESIGN.md section 9), built
with onnx.helper, so lesion-map and CLI tests run without the trained model or torch.

P(lesion) of a patch = sigmoid((mean grey of the patch - 100) / 10) (class order healthy, lesion).
The dense graph is an average pool (kernel patch_px, stride 4) over a whole image [N, 1, H, W] ->
probabilities [N, 2, H', W']; `graph="patch"` writes the earlier patch graph instead
([N, 1, P, P] -> [N, 2]) to test that it is refused."""

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
    folder: Path,
    name: str = "tiny-lesion",
    patch_px: int = 28,
    pixel_mm: float = 1.0,
    graph: str = "dense",
    output_stride: int = 4,
) -> Path:
    """Write `<name>.onnx` and its lesion card (format 2, `output_stride` as given) into `folder`;
    returns the card path. The graph's own stride is always 4."""
    folder.mkdir(parents=True, exist_ok=True)
    if graph == "dense":
        nodes = [
            helper.make_node(
                "AveragePool", ["image"], ["mean"], kernel_shape=[patch_px, patch_px], strides=[4, 4]
            )
        ]
        image_shape, output_shape = ["N", 1, "H", "W"], ["N", 2, "H_out", "W_out"]
    else:
        nodes = [
            _const("axes", np.array([1, 2, 3], np.int64)),
            _const("shape", np.array([-1, 1], np.int64)),
            helper.make_node("ReduceMean", ["image", "axes"], ["mean_keep"], keepdims=1),
            helper.make_node("Reshape", ["mean_keep", "shape"], ["mean"]),
        ]
        image_shape, output_shape = ["N", 1, patch_px, patch_px], ["N", 2]
    nodes += [
        _const("c100", np.float32(100)),
        _const("c20", np.float32(20)),
        helper.make_node("Sub", ["mean", "c100"], ["centred"]),
        helper.make_node("Div", ["centred", "c20"], ["half_logit"]),
        helper.make_node("Neg", ["half_logit"], ["neg"]),
        helper.make_node("Concat", ["neg", "half_logit"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    onnx_graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, image_shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, output_shape)],
    )
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 18)])
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
        output_stride=output_stride,
        intended_use="tests only",
        licence="MIT",
    )
    card_path = folder / f"{name}.json"
    card.save(card_path)
    return card_path
