"""Dense lesion maps (lunglens.quant.lesion_map): shapes, tent averaging of overlapping patches,
masking, scale, the dense pass against patch-by-patch classification (same map), tiling, the
window conversion of rendered grey, the shipped model on a synthetic lesion and on a P001 slice,
and the dense lesion model contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from lunglens.core.windowing import Window
from lunglens.inference.card import sha256_of
from lunglens.inference.lesion_card import LesionModelCard
from lunglens.inference.lesion_model import (
    CPU_TILING,
    GPU_TILING,
    Tiling,
    bundled_lesion_card,
    load_lesion_model,
)
from lunglens.inference.session import ModelError
from lunglens.quant.lesion_map import (
    LESION_WINDOW,
    LesionMapParams,
    estimate_pixel_mm,
    grey_lesion_map,
    hu_lesion_map,
    hu_to_lesion_grey,
    learned_method,
    patchwise_probability_map,
    probability_map,
    rendered_grey_to_lesion_grey,
)
from tests.tiny_lesion_model import tiny_lesion_p, write_tiny_lesion_model


def _windows(image, patch_px=28, stride=4):
    """Views [H', W', P, P] of the patches with top-left corners (stride i, stride j)."""
    return np.lib.stride_tricks.sliding_window_view(image, (patch_px, patch_px))[::stride, ::stride]


class CountingCentre:
    """P = centre pixel of the patch / 255, as a patch predictor (`__call__`) and as a dense one
    (`grid`, output stride 4); counts the patches it saw and the shapes of the dense inputs."""

    def __init__(self):
        self.seen = 0
        self.grid_inputs = []

    def __call__(self, patches):
        self.seen += len(patches)
        return patches[:, 0, 14, 14] / 255.0

    def grid(self, image):
        self.grid_inputs.append(image.shape)
        return _windows(image)[:, :, 14, 14] / 255.0


@dataclass
class _Card:
    patch_px: int = 28
    pixel_mm: float = 1.0
    output_stride: int = 4


class FakeModel:
    """A lesion model stand-in: P(lesion) = mean grey / 255 (patches and dense grid)."""

    card = _Card()

    def lesion_probability(self, patches):
        return patches.mean(axis=(1, 2, 3)) / 255.0

    def lesion_grid(self, image):
        return _windows(image).mean(axis=(2, 3)) / 255.0


def _dense(grey, predictor, region=None, stride=4):
    return probability_map(grey, predictor.grid, region, stride=stride)


def _patchwise(grey, predictor, region=None, stride=4):
    return patchwise_probability_map(grey, predictor, region, stride=stride)


BOTH_PATHS = pytest.mark.parametrize("path", [_dense, _patchwise], ids=["dense", "patchwise"])


@pytest.mark.parametrize(("hu", "grey"), [(-1350, 0), (-2000, 0), (150, 255), (3000, 255), (-600, 127)])
def test_hu_to_lesion_grey_is_the_lung_window(hu, grey):
    assert hu_to_lesion_grey(np.array([hu]))[0] == grey


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (5, 90)])
def test_probability_map_has_the_image_shape_and_constant_input_gives_constant_map(shape):
    grey = np.full(shape, 77.0, np.float32)
    out = probability_map(grey, lambda image: np.full(_windows(image).shape[:2], 0.3, np.float32), stride=4)
    assert out.shape == shape and out.dtype == np.float32
    assert np.allclose(out, 0.3)
    reference = patchwise_probability_map(grey, lambda p: np.full(len(p), 0.3, np.float32), stride=4)
    assert np.allclose(reference, 0.3)


@pytest.mark.parametrize(
    ("pixel", "expected"),
    [((8, 8), 1.0), ((10, 8), 0.5), ((8, 11), 0.25), ((9, 9), 0.5625), ((12, 8), 0.0), ((4, 8), 0.0)],
)
@BOTH_PATHS
def test_overlapping_patches_are_averaged_with_tent_weights(path, pixel, expected):
    grey = np.zeros((24, 24), np.float32)
    grey[8, 8] = 255.0  # only the patch centred on (8, 8) (a grid centre at stride 4) says lesion
    out = path(grey, CountingCentre(), stride=4)
    assert out[pixel] == pytest.approx(expected)


@BOTH_PATHS
def test_the_map_is_zero_outside_the_region(path):
    grey = np.full((40, 40), 255.0, np.float32)
    half = np.zeros((40, 40), bool)
    half[:, :20] = True
    out = path(grey, CountingCentre(), half, stride=4)
    assert out[:, :20].min() == pytest.approx(1.0) and out[:, 20:].max() == 0.0


def test_only_patches_reaching_the_region_are_classified():
    grey = np.full((40, 40), 255.0, np.float32)
    region = np.zeros((40, 40), bool)
    region[9, 9] = True  # one pixel: one block, its four corner centres (8, 8) .. (12, 12)
    predictor = CountingCentre()
    out = patchwise_probability_map(grey, predictor, region, stride=4)
    assert predictor.seen == 4 and out[9, 9] == pytest.approx(1.0)
    out = probability_map(grey, predictor.grid, region, stride=4)
    assert predictor.grid_inputs == [(32, 32)]  # one dense pass over the 2 x 2 centres' patches
    assert out[9, 9] == pytest.approx(1.0)


@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5, 8])
def test_dense_passes_give_the_patchwise_map_at_any_stride(tmp_path, stride):
    """Strides that are not multiples of the model's output stride (4) take one shifted dense pass
    per phase; all must land on the same patch centres as patch-by-patch classification."""
    model = load_lesion_model(write_tiny_lesion_model(tmp_path), provider="cpu")
    rng = np.random.default_rng(stride)
    grey = rng.uniform(0, 255, (61, 75)).astype(np.float32)
    region = np.zeros(grey.shape, bool)
    region[13:40, 7:31] = True
    region[45:58, 50:70] = rng.random((13, 20)) < 0.5
    dense = probability_map(grey, model.lesion_grid, region, stride=stride)
    patchwise = patchwise_probability_map(grey, model.lesion_probability, region, stride=stride)
    assert np.abs(dense - patchwise).max() < 1e-5
    assert np.ptp(dense[region]) > 0.05  # the test image is not uniform


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


def test_a_large_image_is_sized_on_a_shrunk_copy():
    """Four times the thorax above, in pixels: the same body, a quarter of the pixel size."""
    yy, xx = np.mgrid[:2048, :2048]
    grey = np.where(((yy - 1024) / 480.0) ** 2 + ((xx - 1024) / 700.0) ** 2 < 1, 220, 10).astype(np.uint8)
    assert estimate_pixel_mm(grey) == pytest.approx(350.0 / 1401, rel=0.02)


def test_an_image_that_cannot_be_a_thorax_at_its_pixel_size_is_refused_with_the_reason():
    """Noise sized by its specks (50 mm per pixel) would be resampled to 25600 pixels a side: it
    took 15 GB and five minutes; a thorax never covers more than a metre."""
    model = SimpleNamespace(card=SimpleNamespace(pixel_mm=1.0))
    noise = np.random.default_rng(0).integers(0, 256, (512, 512)).astype(np.uint8)
    with pytest.raises(ValueError, match=r"no thorax found to size the image by: 50 mm per pixel"):
        grey_lesion_map(model, noise)
    with pytest.raises(ValueError, match=r"2000 x 2000 pixels at 0.7 mm cover 1400 mm, more than any thorax"):
        grey_lesion_map(model, np.zeros((2000, 2000), np.uint8), pixel_mm=0.7)


def test_grey_map_of_the_tiny_onnx_model_follows_its_rule(tmp_path):
    model = load_lesion_model(write_tiny_lesion_model(tmp_path), provider="cpu")
    grey = np.zeros((100, 100), np.uint8)
    grey[:, 50:] = 250
    out = grey_lesion_map(model, grey, pixel_mm=1.0, params=LesionMapParams(stride=2))
    assert out.shape == grey.shape
    assert out[:, :30].max() == pytest.approx(float(tiny_lesion_p(np.zeros((1, 1, 28, 28)))[0]), abs=1e-5)
    assert out[:, 70:].min() > 0.99


# --- grey rendered with another window -----------------------------------------------------------


def test_grey_of_the_lung_window_is_left_exactly_as_it_is():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = rendered_grey_to_lesion_grey(grey, LESION_WINDOW)
    assert out.dtype == np.float32 and np.array_equal(out, grey.astype(np.float32))
    assert np.array_equal(rendered_grey_to_lesion_grey(grey), out)  # the default window


@pytest.mark.parametrize(
    ("window", "grey", "lesion_grey"),
    [
        (Window("SemiSeg", 1240, -460), 0, (-1080 + 1350) * 0.17),  # grey 0 = -1080 HU
        (Window("SemiSeg", 1240, -460), 100, (-1080 + 100 * 1240 / 255 + 1350) * 0.17),
        (Window("Mediastinum", 400, 40), 0, (-160 + 1350) * 0.17),  # -160 HU
        (Window("Mediastinum", 400, 40), 255, 255.0),  # 240 HU: above the lung window, clipped
        (Window("Wide", 3000, -500), 0, 0.0),  # -2000 HU: below it, clipped
    ],
)
def test_rendered_grey_goes_through_hu_to_the_lung_window(window, grey, lesion_grey):
    out = rendered_grey_to_lesion_grey(np.array([grey], np.uint8), window)
    assert float(out[0]) == pytest.approx(lesion_grey, abs=1e-3)


def test_the_semiseg_window_undoes_the_measured_domain_gap():
    """The card's domain_gap_grey: JPEG grey ~ 1.211 x our lung-window grey - 55.7; the JPEGs
    measure at about W 1240 / L -460."""
    jpeg = np.arange(60, 230, dtype=np.uint8)
    ours = rendered_grey_to_lesion_grey(jpeg, Window("SemiSeg", 1240, -460))
    assert np.allclose(1.211 * ours - 55.7, jpeg, atol=1.0)


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


@pytest.mark.parametrize("stride", [4, 2])
def test_shipped_model_dense_map_is_the_patchwise_map_on_a_lung_slice(shipped, stride):
    hu, lung, _ = _lung_slice(np.random.default_rng(2), blob=True)
    dense = hu_lesion_map(shipped, hu, lung, (0.7, 0.7), LesionMapParams(stride=stride))
    patchwise = hu_lesion_map(shipped, hu, lung, (0.7, 0.7), LesionMapParams(stride=stride, patchwise=True))
    assert np.abs(dense - patchwise).max() < 1e-4
    assert dense[lung].max() > 0.5 and dense[lung].min() < 0.5  # not a constant map


def test_shipped_model_dense_map_is_the_patchwise_map_on_a_p001_slice(shipped, covid_ct_md):
    from lunglens.io import discover, load
    from lunglens.synthetic import lung_mask

    series = load(discover(covid_ct_md / "P001").series[0])
    hu = series.hu[series.n_slices // 2]
    lung = lung_mask(hu)
    assert lung.mean() > 0.05
    dense = hu_lesion_map(shipped, hu, lung, series.pixel_spacing_mm)
    patchwise = hu_lesion_map(shipped, hu, lung, series.pixel_spacing_mm, LesionMapParams(patchwise=True))
    assert np.abs(dense - patchwise).max() < 1e-4
    assert np.ptp(dense[lung]) > 0.5


class RecordingSession:
    """An onnxruntime session stand-in that records the input shape of every run."""

    def __init__(self, session):
        self.session, self.shapes = session, []

    def run(self, names, feeds):
        self.shapes.append(feeds["image"].shape)
        return self.session.run(names, feeds)


def test_big_images_are_run_in_bounded_tiles_with_the_same_grid(shipped):
    grey = np.random.default_rng(3).uniform(0, 255, (150, 121)).astype(np.float32)
    whole = shipped.lesion_grid(grey)
    assert whole.shape == ((150 - 28) // 4 + 1, (121 - 28) // 4 + 1)
    tiled_model = load_lesion_model(None, provider="cpu")
    tiled_model.session = RecordingSession(tiled_model.session)
    tiled_model.tiling = Tiling(tile_outputs=7, tiles_per_run=3, patches_per_run=64)
    tiled = tiled_model.lesion_grid(grey)
    assert np.abs(tiled - whole).max() < 1e-5
    shapes = tiled_model.session.shapes
    assert len(shapes) > 1
    assert all(n <= 3 and h <= 6 * 4 + 28 and w <= 6 * 4 + 28 for n, _, h, w in shapes)
    patches = np.lib.stride_tricks.sliding_window_view(grey, (28, 28))[::4, ::4][:5, :5].reshape(
        -1, 1, 28, 28
    )
    assert np.abs(tiled_model.lesion_probability(patches) - whole[:5, :5].ravel()).max() < 1e-5


def test_with_fixed_shape_tiling_every_run_has_one_shape_and_the_same_grid(shipped):
    """On a GPU every new input shape makes the provider choose its kernels again (6-12 ms for
    the lesion model on an H200), and each slice's lung crop would be one: there the tiles have
    one size and every run as many tiles, whatever the image."""
    fixed = load_lesion_model(None, provider="cpu")
    fixed.session = RecordingSession(fixed.session)
    fixed.tiling = Tiling(tile_outputs=9, tiles_per_run=3, patches_per_run=64, fixed_shape=True)
    rng = np.random.default_rng(4)
    for shape in ((150, 121), (61, 200), (28, 28), (40, 33)):
        grey = rng.uniform(0, 255, shape).astype(np.float32)
        grid = fixed.lesion_grid(grey)
        assert grid.shape == fixed.output_shape(*shape)
        assert np.abs(grid - shipped.lesion_grid(grey)).max() < 1e-5
    assert set(fixed.session.shapes) == {(3, 1, 8 * 4 + 28, 8 * 4 + 28)}
    assert GPU_TILING.fixed_shape and not CPU_TILING.fixed_shape


def test_shipped_card_honours_the_lesion_contract(shipped):
    card = shipped.card
    assert card.name == "lunglens-lesion"
    assert card.sha256 == sha256_of(shipped.onnx_path)
    assert card.class_names[card.lesion_index] == "lesion" and len(card.class_names) == 2
    assert card.patch_px == 28 and card.patch_mm == pytest.approx(28 * card.pixel_mm)
    assert "W 1500 / L -600" in card.input_grey
    assert card.output_stride == 4 and card.card_format == 2 and "[N, 2," in card.input_grey
    licences = " ".join(d["licence"] for d in card.training_data)
    assert "non-commercial" in licences and "CC BY" in licences
    assert "research" in card.intended_use.lower() and "not for diagnosis" in card.intended_use.lower()
    assert card.command.startswith("python -m models.train_lesion")
    assert shipped.onnx_path.stat().st_size < 5 * 2**20
    for part in ("cross_validation", "real_series", "domain_gap_grey", "phantom_lesion_volume"):
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
        (lambda d: d.update(output_stride=2), r"output stride 2\), found \(1, 2, 1, 2\)"),
        (lambda d: d.update(output_stride=0), "output_stride must be"),
        (lambda d: d.pop("output_stride"), "lacks output_stride"),
        (lambda d: d.update(onnx_file="absent.onnx"), "not found"),
        (lambda d: d.update(card_format=1), "earlier patch contract .* models.export_lesion --convert"),
    ],
)
def test_a_card_that_does_not_match_is_refused_with_the_reason(tmp_path, edit, message):
    data = _copy_shipped(tmp_path)
    edit(data)
    (tmp_path / "lesion.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        load_lesion_model(tmp_path / "lesion.json", provider="cpu")


def test_a_patch_graph_is_refused_even_with_a_dense_card(tmp_path):
    card = write_tiny_lesion_model(tmp_path, graph="patch")
    with pytest.raises(ModelError, match=r"input must be image \[N, 1, H, W\] with H and W free"):
        load_lesion_model(card, provider="cpu")


def test_the_learned_method_describes_the_model_its_card_states(tmp_path, shipped):
    method = learned_method(load_lesion_model(write_tiny_lesion_model(tmp_path), provider="cpu"))
    assert f"P(lesion) >= {method.threshold:g} " in method.description
    assert "tiny-lesion" in method.description and "demonstration" not in method.description
    assert method.description.endswith("intended use as its card states it: tests only")
    assert learned_method(shipped).description.endswith(shipped.card.intended_use.rstrip(". "))  # no ".."


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
    assert over.returncode == 2 and "never writes into the folders it reads" in over.stderr
    assert (tmp_path / "a.png").read_bytes() == before
    _write_png(tmp_path / "b.jpg", grey)  # another name in the input folder: refused all the same
    beside = _lesions(str(tmp_path / "b.jpg"), "--out", str(tmp_path), "--model", str(card))
    assert beside.returncode == 2 and "holds input images" in beside.stderr
    assert not (tmp_path / "b.png").exists()
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


def test_cli_window_brings_other_renderings_to_the_lung_window(tmp_path):
    """Grey 100 rendered at W 1240 / L -460 is -593.7 HU, lung-window grey 128.1: the tiny model
    says sigmoid(2.81) = 0.94 there, and 0.5 for the same grey read as a lung-window image."""
    from PIL import Image

    card = write_tiny_lesion_model(tmp_path / "model")
    _write_png(tmp_path / "a.png", np.full((64, 64), 100, np.uint8))
    as_is = _lesions(
        str(tmp_path / "a.png"), "--out", str(tmp_path / "lung"), "--model", str(card), "--pixel-mm", "1"
    )
    assert as_is.returncode == 0, as_is.stderr
    assert "W 1500 / L -600" in as_is.stdout
    semiseg = _lesions(str(tmp_path / "a.png"), "--out", str(tmp_path / "semiseg"), "--model", str(card),
                       "--pixel-mm", "1", "--window", "1240,-460")  # fmt: skip
    assert semiseg.returncode == 0, semiseg.stderr
    assert "W 1240 / L -460" in semiseg.stdout
    expected = tiny_lesion_p(
        np.full((1, 1, 28, 28), rendered_grey_to_lesion_grey(np.uint8(100), Window("", 1240, -460)))
    )
    assert np.asarray(Image.open(tmp_path / "lung" / "a.png")).max() == 128
    assert np.asarray(Image.open(tmp_path / "semiseg" / "a.png")).min() == round(255 * float(expected[0]))


@pytest.mark.parametrize("window", ["1240", "wide,-460", "0,-600", "1500,nan", "1500,-600,3"])
def test_cli_refuses_a_window_that_is_not_width_and_level(tmp_path, window):
    card = write_tiny_lesion_model(tmp_path / "model")
    _write_png(tmp_path / "a.png", np.zeros((32, 32), np.uint8))
    result = _lesions(
        str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--model", str(card), "--window", window
    )
    assert result.returncode == 2 and "--window" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "a.png").exists()


def test_cli_refuses_a_stride_larger_than_the_models_patch(tmp_path):
    """A stride of 100000 would have OpenCV allocate tens of GB for the tent upsampling."""
    card = write_tiny_lesion_model(tmp_path / "model")
    _write_png(tmp_path / "a.png", np.full((64, 64), 30, np.uint8))
    result = _lesions(
        str(tmp_path / "a.png"), "--out", str(tmp_path / "maps"), "--model", str(card), "--stride", "100000"
    )
    assert result.returncode == 2 and "larger than the model's patch" in result.stderr
    assert "Traceback" not in result.stderr and not list((tmp_path / "maps").iterdir())
