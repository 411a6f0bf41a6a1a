"""int8 variants of an exported model (models/quantize_int8.py): they load, honour the contract and
keep a card of their own. Made from the shipped demonstration model."""

from __future__ import annotations

import collections
import dataclasses
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
from models.quantize_int8 import main as quantize_main  # noqa: E402
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


def _demo_copy(folder: Path) -> Path:
    """The demonstration model and its card copied to folder/m.onnx and folder/m.json."""
    (folder / "m.onnx").write_bytes(DEMO.read_bytes())
    card = ModelCard.load(DEMO.with_suffix(".json"))
    (folder / "m.json").write_text(dataclasses.replace(card, onnx_file="m.onnx").to_json())
    return folder / "m.onnx"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("m.onnx", "one of the files being read"),  # the fp32 model and its card were replaced
        ("link.onnx", "one of the files being read"),  # a symbolic link to the model
        ("hard.onnx", "one of the files being read"),  # a hard link to the model
        ("card.onnx", "one of the files being read"),  # its card would be the source's card
        ("m-int8.json", "must be a .onnx file"),
    ],
)
def test_quantisation_refuses_to_write_over_its_inputs_or_a_non_onnx(tmp_path, capsys, target, reason):
    source = _demo_copy(tmp_path)
    (tmp_path / "link.onnx").symlink_to(source)
    (tmp_path / "hard.onnx").hardlink_to(source)
    (tmp_path / "card.json").symlink_to(tmp_path / "m.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert quantize_main(["--mode", "dynamic", str(source), str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("remove", "corrupt", "reason"),
    [
        ("m.onnx", None, "m.onnx: No such file or directory"),
        ("m.json", None, "m.json: not a valid model card"),
        (None, "m.json", "m.json: not a valid model card"),
        (None, "m.onnx", "m.onnx: sha256 does not match its card"),
    ],
)
def test_quantisation_of_a_missing_or_bad_input_is_a_message_and_exit_2(
    tmp_path, capsys, remove, corrupt, reason
):
    source = _demo_copy(tmp_path)
    if remove:
        (tmp_path / remove).unlink()
    if corrupt:
        (tmp_path / corrupt).write_text("{not json")
    assert quantize_main(["--mode", "dynamic", str(source), str(tmp_path / "q.onnx")]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert not (tmp_path / "q.onnx").exists()
