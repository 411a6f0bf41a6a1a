"""The lesion patch CNN (models/lesion_architecture.py) and its training pieces (models/train_lesion.py):
shapes, ONNX export against torch, augmentation range, patch labels, the crude lung region."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("scipy")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from models.lesion_architecture import PolatPatchCNN  # noqa: E402
from models.train_lesion import (  # noqa: E402
    CROP_PX,
    HEALTHY_LUNG,
    LESION,
    OTHER,
    _label_grid,
    augment,
    centre_patches,
    crude_lung_mask,
    to_onnx_bytes,
    torch_predictor,
)


def test_the_network_is_polats_and_maps_patches_to_two_logits():
    model = PolatPatchCNN().eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 2)


def test_onnx_export_matches_torch():
    torch.manual_seed(0)
    model = PolatPatchCNN().eval()
    session = ort.InferenceSession(to_onnx_bytes(model), providers=["CPUExecutionProvider"])
    patches = np.random.default_rng(0).uniform(0, 255, (32, 1, 28, 28)).astype(np.float32)
    onnx_p = session.run(["probabilities"], {"image": patches})[0]
    assert onnx_p.shape == (32, 2)
    assert np.allclose(onnx_p[:, 1], torch_predictor(model)(patches), atol=1e-5)
    assert np.ptp(onnx_p[:, 1]) > 1e-3  # depends on the input


def test_augmentation_keeps_grey_range_and_patch_size_and_differs_per_patch():
    crops = torch.full((16, 1, CROP_PX, CROP_PX), 100.0)
    crops[:, :, :, CROP_PX // 2 :] = 200.0
    out = augment(crops, torch.Generator().manual_seed(0))
    assert out.shape == (16, 1, 28, 28)
    assert float(out.min()) >= 0 and float(out.max()) <= 255
    assert not torch.allclose(out[0], out[1])


def test_centre_patches_are_centred_on_the_labelled_pixel():
    crops = np.zeros((1, CROP_PX, CROP_PX), np.uint8)
    crops[0, CROP_PX // 2, CROP_PX // 2] = 255
    assert centre_patches(crops)[0, 0, 14, 14] == 255


def test_patch_labels_come_from_the_centre_pixel_and_leave_lesion_margins_out():
    lesion = np.zeros((60, 60), bool)
    lesion[20:40, 20:40] = True
    lung = np.zeros((60, 60), bool)
    lung[10:50, 10:50] = True
    rows, cols, kind = _label_grid(lesion, lung, np.random.default_rng(0), stride=1)
    assert lesion[rows[kind == LESION], cols[kind == LESION]].all()
    healthy = kind == HEALTHY_LUNG
    assert lung[rows[healthy], cols[healthy]].all() and not lesion[rows[healthy], cols[healthy]].any()
    assert not lung[rows[kind == OTHER], cols[kind == OTHER]].any()
    margin = (rows == 19) & (cols == 30)  # 1 px outside the lesion: neither class
    assert not margin.any()


def test_crude_lung_region_holds_dark_lungs_and_enclosed_lesions_not_tissue():
    yy, xx = np.mgrid[:200, :200]
    grey = np.full((200, 200), 220.0)
    lungs = (((yy - 100) / 70.0) ** 2 + ((xx - 55) / 35.0) ** 2 < 1) | (
        ((yy - 100) / 70.0) ** 2 + ((xx - 145) / 35.0) ** 2 < 1
    )
    grey[lungs] = 45.0
    grey[(yy - 100) ** 2 + (xx - 55) ** 2 < 10**2] = 180.0  # a consolidation inside the left lung
    mask = crude_lung_mask(grey)
    assert mask[100, 55] and mask[100, 145] and not mask[100, 100] and not mask[5, 5]
    assert abs(int(mask.sum()) - int(lungs.sum())) < 0.05 * lungs.sum()
