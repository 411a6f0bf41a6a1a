"""The shipped demonstration model (models/lunglens-demo.onnx): it loads, matches its card, honours the
model contract and its output depends on its input (a model with dead heads gives a constant output and
an all-zero CAM, which these tests reject)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference.card import ModelCard, sha256_of  # noqa: E402
from lunglens.inference.preprocess import to_model_input  # noqa: E402

MODEL = REPO_ROOT / "models" / "lunglens-demo.onnx"
CARD = MODEL.with_suffix(".json")


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard.load(CARD)


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def ct_like(seed: int) -> np.ndarray:
    """A raw-scale CT-like slice [1, 1, 512, 512]: a body ellipse (0 HU) with two lungs (-850 HU), noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:512, :512]
    img = np.full((512, 512), 24.0)
    img[((yy - 256) / 200.0) ** 2 + ((xx - 256) / 240.0) ** 2 < 1] = 1024
    for cx in (170, 342):
        img[((yy - 250) / rng.uniform(110, 150)) ** 2 + ((xx - cx) / rng.uniform(60, 90)) ** 2 < 1] = 174
    return np.clip(img + rng.normal(0, 20, img.shape), 0, None)[None, None].astype(np.float32)


def test_card_matches_the_onnx_file(card: ModelCard) -> None:
    assert card.name == "lunglens-demo"
    assert card.sha256 == sha256_of(MODEL)
    assert card.class_names == ("COVID-19", "normal") and card.covid_index == 0
    assert card.provenance["kind"] == "trained"
    assert "not for diagnosis" in card.intended_use.lower()
    assert MODEL.stat().st_size < 25e6


def test_output_depends_on_input(session, card: ModelCard) -> None:
    a, b = ct_like(1), ct_like(2)
    (pa, cam_a), (pb, cam_b) = (session.run(["probabilities", "cam"], {"image": x}) for x in (a, b))
    assert pa.shape == (1, 2) and cam_a.shape == (1, 1, *card.cam_size)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0, atol=1e-5)
    assert abs(float(np.log(pa[0, 0]) - np.log(pb[0, 0]))) > 1e-3, "constant output: dead heads"
    assert (cam_a >= 0).all() and (cam_b >= 0).all()


def test_phantom_with_lesions_reads_covid_with_a_nonzero_cam(session) -> None:
    """A clearly normal cartoon gives an all-zero COVID Grad-CAM (nothing argues for COVID); the
    phantom slice with the most lesion must read COVID and light the CAM up."""
    from lunglens.synthetic.phantom import make_phantom

    phantom = make_phantom(n_slices=35, seed=3, covid_severity=0.8)
    i = int(np.argmax(phantom.lesion_mask.sum(axis=(1, 2))))
    image = to_model_input(phantom.hu[i : i + 1])
    probabilities, cam = session.run(["probabilities", "cam"], {"image": image})
    assert probabilities[0, 0] > 0.5
    assert cam.max() > 0, "all-zero CAM on a slice read as COVID"


def test_grad_cam_sits_on_the_lung_and_its_lesions(session) -> None:
    """On the phantom's six most diseased slices (synthetic anatomy the model never saw; lesions are
    2.8 % of the image, lungs 12 %), most of the upsampled CAM lies in the lungs and a large share on
    the lesions. Measured: 67-80 % in the lungs, 35-63 % on the lesions; the model before attention
    fine-tuning put 16-27 % in the lungs and 4-7 % on the lesions."""
    import cv2

    from lunglens.synthetic.phantom import make_phantom

    phantom = make_phantom(n_slices=35, seed=3, covid_severity=0.8)
    chosen = np.argsort(phantom.lesion_mask.sum(axis=(1, 2)))[-6:]
    image = to_model_input(phantom.hu[chosen])
    _, cams = session.run(["probabilities", "cam"], {"image": image})
    in_lung, on_lesions = [], []
    for k, i in enumerate(chosen):
        big = cv2.resize(cams[k, 0], (512, 512), interpolation=cv2.INTER_LINEAR)
        total = max(float(big.sum()), 1e-9)
        in_lung.append(float(big[phantom.lung_mask[i]].sum()) / total)
        on_lesions.append(float(big[phantom.lesion_mask[i]].sum()) / total)
    assert np.mean(in_lung) > 0.5, in_lung
    assert np.mean(on_lesions) > 0.25, on_lesions
