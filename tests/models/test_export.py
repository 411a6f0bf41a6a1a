"""ONNX export with in-graph Grad-CAM (models/export_onnx.py) against PyTorch autograd and onnxruntime.

A small model (width 0.125) with random BatchNorm statistics, its heads centred so that each head unit
is active for one of the two inputs and not the other (both branches of the ReLU gradient are
exercised), and a final layer scaled so the two inputs get clearly different probabilities.
Tolerances: probabilities 1e-4 absolute; CAMs 1e-4 of the largest CAM value (float32 sums of a few
thousand terms in a different order).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference.card import ModelCard, sha256_of  # noqa: E402
from models.architecture import ResNet50V2FPN  # noqa: E402
from models.export_onnx import (  # noqa: E402
    CAM_SIZE,
    ClassifierWithCAM,
    assert_input_dependent,
    ct_like_inputs,
    export,
    fuse_level_maps,
    grad_cam_map,
    load_exported,
    onnx_predict,
    to_onnx_bytes,
)

WIDTH = 0.125
PROB_ATOL = 1e-4
CAM_RTOL = 1e-4
CARD_FIELDS = dict(
    name="test-model",
    version="0.0.1",
    provenance={"kind": "untrained", "seed": 0},
    intended_use="tests",
    licence="MIT",
)


def randomised_model(images: torch.Tensor, seed: int = 0) -> ResNet50V2FPN:
    """A width-0.125 model whose outputs and CAMs vary strongly between the given two images."""
    torch.manual_seed(seed)
    model = ResNet50V2FPN(width=WIDTH).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.2, generator=gen)
                module.bias.normal_(0.0, 0.05, generator=gen)
                module.running_mean.normal_(0.0, 0.05, generator=gen)
                module.running_var.uniform_(0.8, 1.25, generator=gen)
        head_preact = model.forward_features(images).head_preact  # [2, 5, 2]
        for level, head in enumerate(model.heads):
            head.bias -= head_preact[:, level].mean(dim=0)
        hidden = torch.relu(model.forward_features(images).head_preact.flatten(1))  # [2, 10]
        model.final.weight.normal_(0.0, 1.0, generator=gen)
        model.final.weight /= (hidden[0] - hidden[1]).norm()
        model.final.bias.zero_()
    return model


def autograd_cam(model: ResNet50V2FPN, images: torch.Tensor, target: int = 0) -> torch.Tensor:
    """Grad-CAM the usual way: autograd of the target's pre-softmax logit w.r.t. each pyramid level."""
    feats = model.forward_features(images)
    grads = torch.autograd.grad(feats.logits[:, target].sum(), feats.levels)
    maps = [grad_cam_map(p.detach(), g) for p, g in zip(feats.levels, grads, strict=True)]
    return fuse_level_maps(maps, CAM_SIZE)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return ct_like_inputs(2, seed=1)


@pytest.fixture(scope="module")
def model(images) -> ResNet50V2FPN:
    return randomised_model(torch.from_numpy(images))


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory) -> tuple[Path, ModelCard]:
    path = tmp_path_factory.mktemp("export") / "test-model.onnx"
    return path, export(model, path, **CARD_FIELDS)


@pytest.fixture(scope="module")
def onnx_outputs(exported, images) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    return tuple(session.run(["probabilities", "cam"], {"image": images}))


def test_the_test_model_is_not_degenerate(model, images):
    with torch.no_grad():
        feats = model.forward_features(torch.from_numpy(images))
    active = feats.head_preact > 0
    assert active.any() and not active.all()
    assert abs(float(feats.probabilities[0, 0] - feats.probabilities[1, 0])) > 0.05


def test_closed_form_cam_equals_autograd_grad_cam(model, images, onnx_outputs):
    x = torch.from_numpy(images)
    expected = autograd_cam(model, x)
    scale = float(expected.max())
    assert scale > 0
    with torch.no_grad():
        _, torch_cam = ClassifierWithCAM(model)(x)
    np.testing.assert_allclose(torch_cam.numpy(), expected.numpy(), rtol=0, atol=CAM_RTOL * scale)
    np.testing.assert_allclose(onnx_outputs[1], expected.numpy(), rtol=0, atol=CAM_RTOL * scale)


def test_level_gradients_equal_autograd(model, images):
    """The closed-form d logit_COVID / d P_l, level by level, including P6's path through P7."""
    feats = model.forward_features(torch.from_numpy(images))
    expected = torch.autograd.grad(feats.logits[:, 0].sum(), feats.levels, retain_graph=True)
    with torch.no_grad():
        closed = ClassifierWithCAM(model).level_gradients(feats.levels, feats.head_preact)
    for got, want in zip(closed, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5 * float(want.abs().max()))
    # P6 also reaches the output through C6_relu -> P7: that path must matter here, or P6 proves nothing
    (via_p7,) = torch.autograd.grad(feats.levels[4], feats.levels[3], grad_outputs=expected[4])
    assert float(via_p7.norm()) > 0.01 * float(expected[3].norm())


def test_onnxruntime_matches_pytorch(model, images, onnx_outputs):
    with torch.no_grad():
        probs, cam = ClassifierWithCAM(model)(torch.from_numpy(images))
    onnx_probs, onnx_cam = onnx_outputs
    assert onnx_probs.shape == (2, 2) and onnx_cam.shape == (2, 1, *CAM_SIZE)
    np.testing.assert_allclose(onnx_probs, probs.numpy(), rtol=0, atol=PROB_ATOL)
    np.testing.assert_allclose(onnx_cam, cam.numpy(), rtol=0, atol=CAM_RTOL * float(cam.max()))
    assert (onnx_cam >= 0).all()


def test_card_matches_the_written_file(exported):
    path, card = exported
    loaded = ModelCard.load(path.with_suffix(".json"))
    assert loaded == card
    assert loaded.sha256 == sha256_of(path)
    assert loaded.onnx_file == path.name
    assert loaded.class_names[loaded.covid_index] == "COVID-19" and loaded.cam_target_index == 0
    assert loaded.cam_size == CAM_SIZE


def test_export_is_deterministic(model, exported):
    assert to_onnx_bytes(model) == exported[0].read_bytes()


def test_exported_model_depends_on_its_input(exported):
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    assert_input_dependent(onnx_predict(session))


def test_input_dependence_check_catches_dead_heads(model, tmp_path):
    dead = ResNet50V2FPN(width=WIDTH).eval()
    dead.load_state_dict(model.state_dict())
    with torch.no_grad():
        for head in dead.heads:
            head.weight.zero_()
            head.bias.zero_()
    with pytest.raises(AssertionError, match="does not depend on its input"):
        assert_input_dependent(lambda x: dead(torch.from_numpy(x)).detach().numpy())
    with pytest.raises(AssertionError, match="does not depend on its input"):
        export(dead, tmp_path / "dead.onnx", **CARD_FIELDS)
    assert not (tmp_path / "dead.onnx").exists() and not (tmp_path / "dead.json").exists()


def test_load_exported_computes_what_the_onnx_computes(exported, images, onnx_outputs):
    """The weights come back out of the ONNX (each fused conv + BatchNorm as the conv and an identity
    BatchNorm): the PyTorch model gives the ONNX's probabilities and CAM, and exports to the same graph."""
    back = load_exported(exported[0], WIDTH)
    with torch.no_grad():
        probs, cam = ClassifierWithCAM(back)(torch.from_numpy(images))
    np.testing.assert_allclose(probs.numpy(), onnx_outputs[0], rtol=0, atol=PROB_ATOL)
    scale = float(onnx_outputs[1].max())
    assert scale > 0
    np.testing.assert_allclose(cam.numpy(), onnx_outputs[1], rtol=0, atol=CAM_RTOL * scale)


def test_load_exported_refuses_another_width(exported):
    with pytest.raises(ValueError, match="expected"):
        load_exported(exported[0], 0.25)
