"""Dense lesion maps (lunglens.quant.lesion_map): shapes, tent averaging of overlapping patches,
masking, scale, the shipped model on a synthetic lesion, and the lesion model contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from lunglens.inference.card import sha256_of
from lunglens.inference.lesion_card import LesionModelCard
from lunglens.inference.lesion_model import bundled_lesion_card, load_lesion_model
from lunglens.inference.session import ModelError
from lunglens.quant.lesion_map import (
    LesionMapParams,
    estimate_pixel_mm,
    grey_lesion_map,
    hu_lesion_map,
    hu_to_lesion_grey,
    probability_map,
)
from tests.tiny_lesion_model import tiny_lesion_p, write_tiny_lesion_model


class CountingCentre:
    """Predictor: P = centre pixel of the patch / 255; counts the patches it saw."""

    def __init__(self):
        self.seen = 0

    def __call__(self, patches):
        self.seen += len(patches)
        return patches[:, 0, 14, 14] / 255.0


@dataclass
class _Card:
    patch_px: int = 28
    pixel_mm: float = 1.0


class FakeModel:
    """A lesion model stand-in: P(lesion) = mean grey / 255."""

    card = _Card()

    def lesion_probability(self, patches):
        return patches.mean(axis=(1, 2, 3)) / 255.0


@pytest.mark.parametrize(("hu", "grey"), [(-1350, 0), (-2000, 0), (150, 255), (3000, 255), (-600, 127)])
def test_hu_to_lesion_grey_is_the_lung_window(hu, grey):
    assert hu_to_lesion_grey(np.array([hu]))[0] == grey


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (5, 90)])
def test_probability_map_has_the_image_shape_and_constant_input_gives_constant_map(shape):
    grey = np.full(shape, 77.0, np.float32)
    out = probability_map(grey, lambda p: np.full(len(p), 0.3, np.float32), stride=4)
    assert out.shape == shape and out.dtype == np.float32
    assert np.allclose(out, 0.3)


@pytest.mark.parametrize(
    ("pixel", "expected"),
    [((8, 8), 1.0), ((10, 8), 0.5), ((8, 11), 0.25), ((9, 9), 0.5625), ((12, 8), 0.0), ((4, 8), 0.0)],
)
def test_overlapping_patches_are_averaged_with_tent_weights(pixel, expected):
    grey = np.zeros((24, 24), np.float32)
    grey[8, 8] = 255.0  # only the patch centred on (8, 8) (a grid centre at stride 4) says lesion
    out = probability_map(grey, CountingCentre(), stride=4)
    assert out[pixel] == pytest.approx(expected)


def test_only_patches_reaching_the_region_are_classified_and_the_map_is_zero_outside():
    grey = np.full((40, 40), 255.0, np.float32)
    region = np.zeros((40, 40), bool)
    region[9, 9] = True  # one pixel: one block, its four corner centres
    predictor = CountingCentre()
    out = probability_map(grey, predictor, region, stride=4)
    assert predictor.seen == 4
    assert out[9, 9] == pytest.approx(1.0) and out[~region].max() == 0.0
    half = np.zeros((40, 40), bool)
    half[:, :20] = True
    out = probability_map(grey, CountingCentre(), half, stride=4)
    assert out[:, :20].min() == pytest.approx(1.0) and out[:, 20:].max() == 0.0


def test_hu_map_of_a_volume_keeps_shape_and_is_zero_outside_the_lung():
    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 100, (3, 96, 80)).astype(np.int16)
    lung = np.zeros(hu.shape, bool)
    lung[0, 20:60, 10:40] = True
    lung[2, 10:30, 30:70] = True  # slice 1 has no lung
    calls = []
    out = hu_lesion_map(FakeModel(), hu, lung, (0.7, 0.7), progress=lambda d, t: calls.append((d, t)))
    assert out.shape == hu.shape and out.dtype == np.float32
    assert out[~lung].max() == 0.0 and out[1].max() == 0.0 and out[lung].min() > 0
    assert calls == [(1, 3), (2, 3), (3, 3)]
    single = hu_lesion_map(FakeModel(), hu[0], lung[0], (0.7, 0.7))
    assert np.array_equal(single, out[0])


def test_hu_map_follows_the_pixel_spacing():
    """A square lesion of 20 mm reads the same size at 0.5 and 1.0 mm pixels."""
    areas = []
    for spacing in (0.5, 1.0):
        n = int(120 / spacing)
        hu = np.full((n, n), -900, np.int16)
        side = int(20 / spacing)
        hu[n // 2 - side // 2 : n // 2 + side // 2, n // 2 - side // 2 : n // 2 + side // 2] = 100
        prob = hu_lesion_map(FakeModel(), hu, np.ones(hu.shape, bool), (spacing, spacing))
        areas.append((prob > 0.3).sum() * spacing**2)
    assert areas[0] == pytest.approx(areas[1], rel=0.1)


def test_pixel_size_of_an_8_bit_image_comes_from_the_body_width():
    yy, xx = np.mgrid[:512, :512]
    grey = np.where(((yy - 256) / 120.0) ** 2 + ((xx - 256) / 175.0) ** 2 < 1, 220, 10).astype(np.uint8)
    assert estimate_pixel_mm(grey) == pytest.approx(350.0 / 351, rel=0.02)
    assert estimate_pixel_mm(np.rot90(grey)) == pytest.approx(estimate_pixel_mm(grey))


def test_grey_map_of_the_tiny_onnx_model_follows_its_rule(tmp_path):
    model = load_lesion_model(write_tiny_lesion_model(tmp_path), provider="cpu")
    grey = np.zeros((100, 100), np.uint8)
    grey[:, 50:] = 250
    out = grey_lesion_map(model, grey, pixel_mm=1.0, params=LesionMapParams(stride=2))
    assert out.shape == grey.shape
    assert out[:, :30].max() == pytest.approx(float(tiny_lesion_p(np.zeros((1, 1, 28, 28)))[0]), abs=1e-5)
    assert out[:, 70:].min() > 0.99


# --- the shipped model and its card -----------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return load_lesion_model(None, provider="cpu")


def _lung_slice(rng, blob: bool):
    """A 512 x 512 slice at 0.7 mm: body, two lungs of -860 HU with noise and vessels, optionally a
    ground-glass blob of -450 HU (25 mm) in the right lung."""
    yy, xx = np.mgrid[:512, :512]
    hu = np.full((512, 512), -1000.0)
    hu[((yy - 256) / 190.0) ** 2 + ((xx - 256) / 240.0) ** 2 < 1] = 40
    lung = np.zeros((512, 512), bool)
    for cx in (150, 362):
        lung |= ((yy - 250) / 140.0) ** 2 + ((xx - cx) / 80.0) ** 2 < 1
    hu[lung] = -860
    blob_mask = ((yy - 250) ** 2 + (xx - 150) ** 2) < 18**2
    if blob:
        hu[blob_mask] = -450
    hu += rng.normal(0, 25, hu.shape)
    return hu.astype(np.int16), lung, blob_mask


def test_shipped_model_marks_a_ground_glass_blob_and_not_the_clear_lung(shipped):
    hu, lung, blob = _lung_slice(np.random.default_rng(1), blob=True)
    prob = hu_lesion_map(shipped, hu, lung, (0.7, 0.7))
    assert float(np.median(prob[blob])) > 0.5
    far = lung.copy()
    far[:, :256] = False  # the other lung
    assert float(np.mean(prob[far] >= 0.5)) < 0.1


def test_shipped_card_honours_the_lesion_contract(shipped):
    card = shipped.card
    assert card.name == "lunglens-lesion"
    assert card.sha256 == sha256_of(shipped.onnx_path)
    assert card.class_names[card.lesion_index] == "lesion" and len(card.class_names) == 2
    assert card.patch_px == 28 and card.patch_mm == pytest.approx(28 * card.pixel_mm)
    assert "W 1500 / L -600" in card.input_grey
    licences = " ".join(d["licence"] for d in card.training_data)
    assert "non-commercial" in licences and "CC BY" in licences
    assert "research" in card.intended_use.lower() and "not for diagnosis" in card.intended_use.lower()
    assert card.command.startswith("python -m models.train_lesion")
    assert shipped.onnx_path.stat().st_size < 5 * 2**20
    for part in ("cross_validation", "real_series", "domain_gap_grey"):
        assert part in card.metrics, part


def _copy_shipped(tmp_path):
    card = bundled_lesion_card()
    data = json.loads(card.read_text())
    shutil.copy(card.parent / data["onnx_file"], tmp_path / data["onnx_file"])
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("pixel_mm"), "lacks pixel_mm"),
        (lambda d: d.update(sha256="0" * 64), "does not match its card"),
        (lambda d: d.update(lesion_index=2), "lesion index"),
        (lambda d: d.update(patch_px=32), "lesion model contract"),
        (lambda d: d.update(onnx_file="absent.onnx"), "not found"),
    ],
)
def test_a_card_that_does_not_match_is_refused_with_the_reason(tmp_path, edit, message):
    data = _copy_shipped(tmp_path)
    edit(data)
    (tmp_path / "lesion.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        load_lesion_model(tmp_path / "lesion.json", provider="cpu")


def test_card_round_trips_through_json(tmp_path):
    card = LesionModelCard.load(bundled_lesion_card())
    card.save(tmp_path / "c.json")
    assert LesionModelCard.load(tmp_path / "c.json") == card


# --- `lunglens lesions` -------------------------------------------------------------------------


def _lesions(*args):
    return subprocess.run(
        [sys.executable, "-m", "lunglens", "lesions", *args], capture_output=True, text=True
    )


def _write_png(path, grey):
    from PIL import Image

    Image.fromarray(grey).save(path)


def test_cli_maps_good_images_names_bad_ones_and_exits_2(tmp_path):
    from PIL import Image

    card = write_tiny_lesion_model(tmp_path / "model")
    inputs = tmp_path / "in"
    inputs.mkdir()
    grey = np.zeros((90, 130), np.uint8)
    grey[:, 70:] = 250
    _write_png(inputs / "good.png", grey)
    Image.fromarray(grey).convert("RGB").save(inputs / "colour.jpg", quality=95)
    (inputs / "broken.png").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    result = _lesions(str(inputs / "good.png"), str(inputs / "broken.png"), str(inputs / "colour.jpg"),
                      str(inputs / "missing.png"), "--out", str(out), "--model", str(card), "--pixel-mm", "1")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "broken.png: skipped: not a readable image" in result.stderr
    assert "missing.png: skipped: no such file" in result.stderr and "Traceback" not in result.stderr
    assert "2 of 4 map(s) written" in result.stdout and "demonstration model" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["colour.png", "good.png"]
    written = np.asarray(Image.open(out / "good.png"))
    assert written.shape == grey.shape and written.dtype == np.uint8
    assert written[:, :40].max() < 20 and written[:, 100:].min() > 250


def test_cli_exit_0_when_all_are_mapped_and_never_writes_over_inputs_or_non_files(tmp_path):
    card = write_tiny_lesion_model(tmp_path / "model")
    grey = np.full((64, 64), 30, np.uint8)
    _write_png(tmp_path / "a.png", grey)
    ok = _lesions(str(tmp_path / "a.png"), "--out", str(tmp_path / "maps"), "--model", str(card))
    assert ok.returncode == 0, ok.stderr
    before = (tmp_path / "a.png").read_bytes()
    over = _lesions(str(tmp_path / "a.png"), "--out", str(tmp_path), "--model", str(card))
    assert over.returncode == 2 and "it is one of the inputs" in over.stderr
    assert (tmp_path / "a.png").read_bytes() == before
    (tmp_path / "maps2" / "a.png").mkdir(parents=True)
    folder = _lesions(str(tmp_path / "a.png"), "--out", str(tmp_path / "maps2"), "--model", str(card))
    assert folder.returncode == 2 and "not a regular file" in folder.stderr


def test_cli_refuses_an_unusable_model_with_the_reason(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((32, 32), np.uint8))
    (tmp_path / "m.json").write_text("{}")
    result = _lesions(
        str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "m.json")
    )
    assert result.returncode == 2 and "not a valid lesion model card" in result.stderr
