"""int8 variants of an exported model (models/quantize_int8.py): they load, honour the contract and
keep a card of their own. Made from the shipped demonstration model."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference import load_model  # noqa: E402
from lunglens.inference.card import ModelCard  # noqa: E402
from models.export_onnx import ct_like_inputs  # noqa: E402
from models.quantize_int8 import quantize, split_shared_initializers  # noqa: E402

DEMO = REPO_ROOT / "models" / "lunglens-demo.onnx"


def test_no_initializer_is_read_by_two_nodes_after_splitting():
    model = onnx.load(str(DEMO))
    assert split_shared_initializers(model) >= 5  # at least the five heads' weights (Gemm and CAM MatMul)
    names = {t.name for t in model.graph.initializer}
    readers = collections.Counter(i for n in model.graph.node for i in n.input if i in names)
    assert max(readers.values()) == 1
    assert not [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in names]
    onnx.checker.check_model(model)


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_int8_model_loads_and_honours_the_contract(tmp_path, mode):
    target = tmp_path / f"demo-int8-{mode}.onnx"
    card = quantize(DEMO, target, mode)
    assert ModelCard.load(target.with_suffix(".json")) == card
    assert card.name == "lunglens-demo-int8" and card.provenance["kind"] == "quantized"
    assert card.provenance["source_sha256"] == ModelCard.load(DEMO.with_suffix(".json")).sha256
    assert target.stat().st_size < DEMO.stat().st_size
    model = load_model(target.with_suffix(".json"), provider="cpu")  # checks the hash and the shapes
    x = ct_like_inputs(2, seed=5)
    probs, cam = model.session.run(["probabilities", "cam"], {"image": x})
    assert probs.shape == (2, 2) and cam.shape == (2, 1, 32, 32)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (cam >= 0).all()
