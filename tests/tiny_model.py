"""A tiny ONNX model honouring the model contract (DESIGN.md section 2), built with onnx.helper,
so inference and analysis tests run without the trained model or torch.

P(COVID) = sigmoid((mean raw value - 700) / 50): brighter slices (denser lungs) read as COVID.
cam = ReLU(16 x 16 average of raw - 500) at 32 x 32 (`cam_pool` sets another average, such as
16 x 32 for a 32 x 16 CAM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lunglens.inference.card import ModelCard, sha256_of


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def write_tiny_model(folder: Path, name: str = "tiny", cam_pool: tuple[int, int] = (16, 16)) -> Path:
    """Write `<name>.onnx` and its card into `folder`; returns the card path."""
    folder.mkdir(parents=True, exist_ok=True)
    cam_size = (512 // cam_pool[0], 512 // cam_pool[1])
    nodes = [
        helper.make_node(
            "AveragePool", ["image"], ["pooled"], kernel_shape=list(cam_pool), strides=list(cam_pool)
        ),
        _const("c500", np.float32(500)),
        _const("c700", np.float32(700)),
        _const("c50", np.float32(50)),
        _const("axes", np.array([1, 2, 3], np.int64)),
        _const("shape", np.array([-1, 1], np.int64)),
        helper.make_node("Sub", ["pooled", "c500"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["cam"]),
        helper.make_node("ReduceMean", ["pooled", "axes"], ["mean"], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["mean2"]),
        helper.make_node("Sub", ["mean2", "c700"], ["centred"]),
        helper.make_node("Div", ["centred", "c50"], ["logit"]),
        helper.make_node("Neg", ["logit"], ["neg"]),
        helper.make_node("Concat", ["logit", "neg"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 512, 512])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("cam", TensorProto.FLOAT, ["N", 1, *cam_size]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx_path = folder / f"{name}.onnx"
    onnx.save(model, onnx_path)
    card = ModelCard(
        name=name,
        version="0.0.1",
        onnx_file=onnx_path.name,
        sha256=sha256_of(onnx_path),
        class_names=("COVID-19", "normal"),
        covid_index=0,
        cam_target_index=0,
        cam_size=cam_size,
        provenance={"kind": "test fixture"},
        intended_use="tests only",
        licence="MIT",
    )
    card_path = folder / f"{name}.json"
    card.save(card_path)
    return card_path


def tiny_p_covid(hu_slices: np.ndarray) -> np.ndarray:
    """What the tiny model answers for 512 x 512 HU slices (n, 512, 512)."""
    raw = np.clip(hu_slices.astype(np.float64) + 1024, 0, 65535)
    logit = (raw.mean(axis=(1, 2)) - 700) / 50
    return 1 / (1 + np.exp(-2 * logit))
