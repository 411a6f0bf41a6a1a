"""Hostile models, made in each test: a card or model file that is a pipe, a device or a folder;
card fields of the wrong kind; an ONNX file that matches its card's hash but does not load; a
model whose outputs are not probabilities. Each is a ModelError naming the file and the reason,
never a hang, a traceback or a verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from lunglens.inference import ModelError, classify, load_model
from lunglens.inference.card import sha256_of
from lunglens.inference.lesion_model import load_lesion_model
from lunglens.inference.postprocess import output_problem
from tests.io.test_hostile_input import finishes
from tests.tiny_lesion_model import write_tiny_lesion_model
from tests.tiny_model import _const, write_tiny_model


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "models")


def _edit_card(card: Path, **fields) -> Path:
    data = json.loads(card.read_text())
    data.update(fields)
    card.write_text(json.dumps(data))
    return card


# --- pipes, devices, folders ---------------------------------------------------------------
def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _replace_with_link_to_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


@pytest.mark.parametrize(
    "make, kind",
    [(_replace_with_fifo, "a named pipe"), (_replace_with_link_to_dev_zero, "a character device")],
)
@pytest.mark.parametrize("which", ["card", "onnx"])
def test_card_or_model_that_is_not_a_regular_file_is_refused(tiny, make, kind, which):
    make(tiny if which == "card" else tiny.with_suffix(".onnx"))
    with pytest.raises(ModelError, match=f"not a regular file \\({kind}\\)"):
        finishes(load_model, tiny, "cpu")


@pytest.mark.parametrize(
    "make, kind",
    [(_replace_with_fifo, "a named pipe"), (_replace_with_link_to_dev_zero, "a character device")],
)
def test_lesion_card_that_is_not_a_regular_file_is_refused(tmp_path, make, kind):
    card = write_tiny_lesion_model(tmp_path)
    make(card)
    with pytest.raises(
        ModelError, match=f"not a valid lesion model card \\(not a regular file \\({kind}\\)\\)"
    ):
        finishes(load_lesion_model, card, "cpu")


# --- malformed card fields -----------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, named",
    [
        ({"sha256": None}, "'sha256' must be 64 hexadecimal digits"),
        ({"sha256": "abc"}, "'sha256' must be 64 hexadecimal digits"),
        ({"covid_index": "0"}, "'covid_index' must be 0 or 1"),
        ({"covid_index": 2}, "'covid_index' must be 0 or 1"),
        ({"covid_index": True}, "'covid_index' must be 0 or 1"),
        ({"cam_size": []}, "'cam_size' must be two positive integers"),
        ({"cam_size": [32, "32"]}, "'cam_size' must be two positive integers"),
        ({"onnx_file": 5}, "'onnx_file' must be a file name"),
        ({"onnx_file": ""}, "'onnx_file' must be a file name"),
        ({"onnx_file": "sub/"}, "'onnx_file' must be a file name"),
        ({"class_names": "COVID-19"}, "'class_names' must be a list of two class names"),
        ({"input_size": 512.5}, "'input_size' must be 512"),
        ({"input_size": 256}, "'input_size' must be 512"),
        ({"cam_target_index": 1}, "'cam_target_index' must equal covid_index (0)"),
        ({"provenance": "trained"}, "'provenance' must be an object"),
    ],
)
def test_malformed_card_fields_are_named(tiny, fields, named):
    _edit_card(tiny, **fields)
    with pytest.raises(ModelError, match="not a valid model card") as caught:
        load_model(tiny, provider="cpu")
    assert named in str(caught.value) and str(tiny) in str(caught.value)


def test_model_made_for_another_input_size_is_refused_at_load(tiny):
    """A 256 x 256 model with a card that says so honours its own signature, but the app feeds
    512 x 512 images: it is refused when loading, not with an onnxruntime error at classification."""
    onnx_path = tiny.with_suffix(".onnx")
    model = onnx.load(onnx_path)
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 256
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 256
    for dim in (2, 3):
        model.graph.output[1].type.tensor_type.shape.dim[dim].dim_value = 16
    onnx.save(model, onnx_path)
    _edit_card(tiny, input_size=256, cam_size=[16, 16], sha256=sha256_of(onnx_path))
    with pytest.raises(ModelError, match="'input_size' must be 512") as caught:
        load_model(tiny, provider="cpu")
    assert str(tiny) in str(caught.value)


@pytest.mark.parametrize("missing", ["cam_size", "covid_index", "licence"])
def test_missing_card_fields_are_named(tiny, missing):
    data = json.loads(tiny.read_text())
    del data[missing]
    tiny.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=f"model card lacks {missing}"):
        load_model(tiny, provider="cpu")


@pytest.mark.parametrize(
    "content", ["[1, 2]", '"card"', "{", "\udcff"], ids=["list", "string", "cut", "not-utf8"]
)
def test_card_that_is_not_a_json_object(tiny, content):
    tiny.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelError, match="not a valid model card"):
        load_model(tiny, provider="cpu")


def test_card_larger_than_the_limit_is_refused_for_its_size(tiny):
    """Read cut at the limit, a long card failed as JSON cut short; it is refused for its size."""
    from lunglens.inference.card import CARD_LIMIT_BYTES

    tiny.write_text(tiny.read_text() + " " * CARD_LIMIT_BYTES)
    with pytest.raises(
        ModelError, match=f"not a valid model card \\(larger than {CARD_LIMIT_BYTES:,} bytes\\)"
    ):
        load_model(tiny, provider="cpu")


def test_model_file_that_is_a_folder(tiny):
    (tiny.parent / "folder.onnx").mkdir()
    _edit_card(tiny, onnx_file="folder.onnx")
    with pytest.raises(ModelError, match="not a regular file \\(a folder\\)"):
        load_model(tiny, provider="cpu")


# --- unloadable model whose hash matches ---------------------------------------------------
@pytest.mark.parametrize("provider", ["cpu", "auto", "cuda", "tensorrt"])
def test_unloadable_onnx_with_matching_hash_is_refused_on_every_provider(tiny, provider, monkeypatch):
    """Under auto/cuda/tensorrt the GPU attempt fails, then the CPU retry: both are ModelError."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    monkeypatch.setattr(
        onnxruntime,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", *available],
    )
    onnx_path = tiny.with_suffix(".onnx")
    onnx_path.write_bytes(b"not a protobuf" * 100)
    _edit_card(tiny, sha256=sha256_of(onnx_path))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        load_model(tiny, provider=provider)


# --- outputs that are not probabilities ----------------------------------------------------
def write_constant_model(folder: Path, probabilities: list[float]) -> Path:
    """A model honouring the contract's shapes whose every slice gets `probabilities` (which may
    be anything: NaN, negative, not summing to 1) and a zero CAM."""
    card = write_tiny_model(folder, name="constant")
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
        _const("zero", np.float32(0)),
        _const("axes", np.array([1, 2, 3], np.int64)),
        _const("shape", np.array([-1, 1], np.int64)),
        _const("answer", np.array([probabilities], np.float32)),
        helper.make_node("Mul", ["pooled", "zero"], ["cam"]),
        helper.make_node("ReduceMean", ["cam", "axes"], ["mean"], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["column"]),
        helper.make_node("Add", ["column", "answer"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 512, 512])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("cam", TensorProto.FLOAT, ["N", 1, 32, 32]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx_path = card.with_suffix(".onnx")
    onnx.save(model, onnx_path)
    return _edit_card(card, sha256=sha256_of(onnx_path))


@pytest.mark.parametrize(
    "answer",
    [[float("nan"), float("nan")], [1.5, -0.5], [0.3, 0.3], [float("inf"), 0.0], [0.9, 0.9]],
    ids=["nan", "outside-0-1", "sum-0.6", "inf", "sum-1.8"],
)
def test_model_output_that_is_not_a_probability_gives_no_result(tmp_path, answer):
    model = load_model(write_constant_model(tmp_path, answer), provider="cpu")
    hu = np.zeros((3, 512, 512), np.int16)
    with pytest.raises(ModelError, match="output probabilities are not probabilities") as caught:
        classify(model, hu, np.arange(3))
    assert "constant.onnx" in str(caught.value)


def test_a_real_probability_passes(tmp_path):
    model = load_model(write_constant_model(tmp_path, [0.25, 0.75]), provider="cpu")
    p, _ = classify(model, np.zeros((2, 512, 512), np.int16), np.arange(2))
    assert np.allclose(p, 0.25)


@pytest.mark.parametrize(
    "probabilities, cam, problem",
    [
        (np.full((2, 2), 0.5), np.zeros((2, 1, 4, 4)), None),
        (np.full((2, 3), 0.5), np.zeros((2, 1, 4, 4)), "output probabilities of shape (2, 3)"),
        (np.full((2, 2), 0.5), np.zeros((2, 1, 4, 5)), "output cam of shape (2, 1, 4, 5)"),
        (np.full((2, 2), 0.5), np.full((2, 1, 4, 4), np.nan), "output cam holds values that are not finite"),
    ],
)
def test_output_problem_table(probabilities, cam, problem):
    found = output_problem(probabilities, cam, 2, (4, 4))
    assert found == problem if problem is None else found.startswith(problem)


def test_a_card_is_saved_by_a_new_file_renamed_into_place(tmp_path):
    """Saving writes a new file and renames it over the card (a failed or killed write leaves the
    card that was there): a second name of the old card keeps the old text."""
    from lunglens.inference.card import ModelCard
    from lunglens.inference.lesion_card import LesionModelCard
    from tests.tiny_lesion_model import write_tiny_lesion_model
    from tests.tiny_model import write_tiny_model

    for path, kind in (
        (write_tiny_model(tmp_path / "c"), ModelCard),
        (write_tiny_lesion_model(tmp_path / "l"), LesionModelCard),
    ):
        old = path.read_text()
        second_name = path.with_name("second-name.json")
        os.link(path, second_name)
        card = kind.load(path)
        changed = type(card)(**{**card.__dict__, "version": "9.9.9"})
        changed.save(path)
        assert kind.load(path).version == "9.9.9" and second_name.read_text() == old
