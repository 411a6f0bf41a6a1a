"""The shared Grad-CAM overlay: colour map, body mask, masking, P(COVID) weighting and cut-off,
outline mode, colour bar; the inputs are synthetic slices made here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lunglens.inference.postprocess import cam_for_display
from lunglens.render.overlay import (
    OverlayStyle,
    blend,
    blend_table,
    body_mask,
    coarse_body,
    colour_bar_rgb,
    colour_index,
    colours,
    overlay_lut,
    overlay_rgb,
    plane_body_mask,
    plane_fraction,
    plane_overlay_rgb,
    slice_weight,
)

SHAPE = (128, 128)


def chest_slice(scale: int = 1) -> np.ndarray:
    """HU (128 scale, 128 scale): air, a soft-tissue body disc (40 HU) holding two lungs
    (-850 HU), and a CT table (200 HU) below the body, separated from it by 4 scale rows of air."""
    size = 128 * scale
    y, x = np.mgrid[:size, :size] / scale
    hu = np.full((size, size), -1000, np.int16)
    hu[(y - 60) ** 2 + (x - 64) ** 2 < 50**2] = 40
    for cx in (44, 84):
        hu[((y - 60) / 30) ** 2 + ((x - cx) / 14) ** 2 < 1] = -850
    hu[114 * scale : 120 * scale, 10 * scale : 118 * scale] = 200
    return hu


def blob_cam(cy: float, cx: float, size: int = 16, sigma: float = 2.0) -> np.ndarray:
    """A compact CAM [size, size] (float16) peaking at 1 at cell (cy, cx)."""
    y, x = np.mgrid[:size, :size]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2)).astype(np.float16)


@pytest.mark.parametrize("scale", [1, 4])
def test_body_mask_holds_the_body_and_its_lungs_but_not_the_table_or_the_air(scale):
    hu = chest_slice(scale)
    body = body_mask(hu)
    assert body.shape == hu.shape
    for y, x in ((60, 64), (60, 44), (60, 84)):  # centre and both lungs (filled holes)
        assert body[y * scale, x * scale]
    assert not body[117 * scale, 64 * scale]  # table
    assert not body[5 * scale, 5 * scale] and not body[60 * scale, 2 * scale]  # air outside
    y, x = np.mgrid[: hu.shape[0], : hu.shape[1]] / scale
    disc = (y - 60) ** 2 + (x - 64) ** 2 < 50**2
    assert np.count_nonzero(body != disc) < 0.03 * disc.sum()


def test_body_mask_of_air_is_empty():
    assert not body_mask(np.full(SHAPE, -1000, np.int16)).any()


@pytest.mark.parametrize(
    ("p_covid", "cutoff", "hide", "follow", "expected"),
    [
        (0.9, 0.5, True, True, 0.6 * 0.9),
        (0.3, 0.5, True, True, 0.0),  # below the cut-off: hidden
        (0.3, 0.5, False, True, 0.6 * 0.3),  # shown, but weak
        (0.01, 0.5, False, False, 0.6),  # neither rule: the plain opacity
        (0.5, 0.5, True, True, 0.3),  # at the cut-off counts as positive
        (0.71, 0.5, True, True, 0.42),  # 0.426 rounded to the weight step 0.02
        (float("nan"), 0.5, True, True, 0.0),  # not classified
        (None, None, True, True, 0.6),  # nothing known: the plain opacity
    ],
)
def test_slice_weight_follows_p_covid_and_hides_below_the_cutoff(p_covid, cutoff, hide, follow, expected):
    style = OverlayStyle(opacity=0.6, hide_below_cutoff=hide, follow_p_covid=follow)
    assert slice_weight(p_covid, cutoff, style) == pytest.approx(expected, abs=1e-9)


def test_lut_is_inferno_with_index_zero_transparent_and_an_alpha_ramp():
    lut = overlay_lut(OverlayStyle(visible_from=0.3, opaque_at=0.8))
    assert lut[0, 3] == 0
    assert (lut[: int(0.3 * 255), 3] == 0).all()
    assert (lut[int(0.8 * 255) + 1 :, 3] == 255).all()
    assert np.all(np.diff(lut[:, 3].astype(int)) >= 0)
    # inferno: near black at 0, pale yellow at 1 (jet would be dark blue and dark red)
    assert lut[0, :3].max() < 10 and lut[255, 0] > 240 and lut[255, 1] > 240 and lut[255, 2] < 180
    outline = overlay_lut(OverlayStyle(outline=True))
    assert outline[0, 3] == 0 and (outline[1:, 3] == 255).all()
    assert (outline[:, :3] == lut[:, :3]).all()  # one colour map for both modes


def test_all_zero_cam_draws_nothing():
    zero = np.zeros((16, 16), np.float16)
    assert colour_index(zero, SHAPE, None, OverlayStyle()) is None
    assert colour_index(zero, SHAPE, None, OverlayStyle(outline=True)) is None
    grey = np.full(SHAPE, 90, np.uint8)
    rgb = overlay_rgb(grey, zero, p_covid=0.99, cutoff=0.5, region=None)
    assert rgb.shape == (*SHAPE, 3) and (rgb == 90).all()


def test_cam_is_drawn_only_inside_the_region_and_not_restretched_there():
    hu = chest_slice()
    body = body_mask(hu)
    # peak on the table (cell 14.5 of 16 ~ row 116), a weaker shoulder over the body
    cam = (blob_cam(14.5, 8) + 0.5 * blob_cam(7.5, 8, sigma=3.0)).astype(np.float16)
    index = colour_index(cam, SHAPE, body, OverlayStyle())
    assert index is not None
    assert (index[~body] == 0).all()
    assert index[117, 64] == 0  # the table's heat is gone
    assert 90 < index[60, 64] < 160  # the body keeps its share of the whole slice's maximum


def test_cam_entirely_outside_the_region_draws_nothing():
    region = np.zeros(SHAPE, bool)
    region[:40] = True
    assert colour_index(blob_cam(14, 8, sigma=1.0), SHAPE, region, OverlayStyle()) is None


def test_cold_slice_never_looks_hot():
    hu = chest_slice()
    grey = np.full(SHAPE, 60, np.uint8)
    cam = blob_cam(7.5, 8, sigma=3.0)
    hot = overlay_rgb(grey, cam, p_covid=0.95, cutoff=0.5, region=body_mask(hu))
    cold = overlay_rgb(grey, cam, p_covid=0.01, cutoff=0.5, region=body_mask(hu))
    faint = overlay_rgb(
        grey, cam, p_covid=0.1, cutoff=0.5, region=body_mask(hu), style=OverlayStyle(hide_below_cutoff=False)
    )
    assert (cold == 60).all()
    centre = (60, 64)
    change = {
        name: np.abs(img[centre].astype(int) - 60).sum() for name, img in (("hot", hot), ("faint", faint))
    }
    assert change["hot"] > 5 * change["faint"] > 0


def test_outline_mode_draws_rings_at_the_levels_and_leaves_the_inside_clear():
    style = OverlayStyle(outline=True, outline_levels=(0.4, 0.8), outline_width_px=1)
    index = colour_index(blob_cam(7.5, 7.5, sigma=3.0), SHAPE, None, style)
    assert index is not None
    assert set(np.unique(index)) == {0, round(0.4 * 255), round(0.8 * 255)}
    assert index[64, 64] == 0  # the peak itself is not covered
    row = index[64]
    crossings = np.flatnonzero(row)
    assert len(crossings) >= 4  # two rings cross the centre row twice each
    assert row[crossings[0]] == round(0.4 * 255) and row[crossings[-1]] == round(0.4 * 255)
    wide = colour_index(blob_cam(7.5, 7.5, sigma=3.0), SHAPE, None, replace(style, outline_width_px=3))
    assert np.count_nonzero(wide) > 2 * np.count_nonzero(index)


def test_blend_mixes_colour_at_alpha_times_weight_and_leaves_index_zero_grey():
    grey = np.array([[100, 100]], np.uint8)
    index = np.array([[0, 255]], np.uint8)
    lut = overlay_lut()
    rgba = blend(grey, index, blend_table(lut, 0.5))
    assert rgba[0, 0].tolist() == [100, 100, 100, 255]
    expected = np.rint(100 * 0.5 + lut[255, :3].astype(float) * 0.5)
    assert rgba[0, 1, :3].tolist() == expected.tolist()
    assert (blend(grey, None, blend_table(lut, 0.5))[..., :3] == 100).all()


def test_colour_bar_shows_transparency_below_visible_from_and_the_map_above():
    bar = colour_bar_rgb(101, 6, OverlayStyle(visible_from=0.3, opaque_at=0.8))
    assert bar.shape == (6, 101, 3)
    assert (bar[:, :25] == 64).all()  # transparent: the dark grey behind
    assert (bar[0, 90] == colours(np.array(0.9))).all()
    ticks = colour_bar_rgb(101, 6, OverlayStyle(outline=True, outline_levels=(0.5,)))
    assert (ticks[:, 50] == 255).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opacity": 1.5},
        {"visible_from": 0.0},
        {"visible_from": 0.9, "opaque_at": 0.8},
        {"outline_levels": (0.0,)},
        {"outline_width_px": 0},
    ],
)
def test_style_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        OverlayStyle(**kwargs)


@pytest.mark.parametrize(
    ("axis", "index"), [("coronal", 0), ("coronal", 70), ("sagittal", 33), ("sagittal", 95)]
)
def test_plane_fraction_is_the_slices_display_cam_along_the_plane(axis, index):
    rng = np.random.default_rng(3)
    cams = rng.random((6, 16, 16)).astype(np.float16)
    cams[2] = 0  # an all-zero CAM stays zero
    shape = (128, 96)
    plane = plane_fraction(cams, axis, index, shape)
    for i, cam in enumerate(cams):
        full = cam_for_display(cam, shape)
        expected = full[index, :] if axis == "coronal" else full[:, index]
        np.testing.assert_allclose(plane[i], expected, atol=2e-3)
    assert not plane[2].any()
    with pytest.raises(ValueError, match="coronal or sagittal"):
        plane_fraction(cams, "axial", 0, shape)


def test_plane_overlay_colours_only_rows_with_weight_inside_the_region():
    grey = np.full((4, 10), 80, np.uint8)
    fraction = np.full((4, 10), 0.9, np.float32)
    region = np.ones((4, 10), bool)
    region[:, :3] = False
    rgb = plane_overlay_rgb(grey, fraction, np.array([0.5, 0.0, 0.25, 0.5]), region)
    assert (rgb[1] == 80).all() and (rgb[:, :3] == 80).all()
    assert (rgb[0, 3:] != 80).any(axis=-1).all()
    assert np.abs(rgb[2, 5].astype(int) - 80).sum() < np.abs(rgb[0, 5].astype(int) - 80).sum()
    lut = overlay_lut()
    index = round(0.9 * 255)
    expected = np.rint(80 * (1 - lut[index, 3] / 255 * 0.5) + lut[index, :3] * (lut[index, 3] / 255 * 0.5))
    assert rgb[0, 5].tolist() == expected.tolist()
    assert (plane_overlay_rgb(grey, np.zeros((4, 10), np.float32), np.ones(4), None) == 80).all()


@pytest.mark.parametrize(("axis", "index"), [("coronal", 240), ("sagittal", 100), ("sagittal", 256)])
def test_plane_body_mask_is_each_slices_body_along_the_plane(axis, index):
    volume = np.stack(
        [chest_slice(4), np.roll(chest_slice(4), 20, axis=1), np.full((512, 512), -1000, np.int16)]
    )
    plane = plane_body_mask(np.stack([coarse_body(hu) for hu in volume]), axis, index, (512, 512))
    assert plane.shape == (3, 512)
    for i, hu in enumerate(volume):
        full = body_mask(hu)
        expected = full[index, :] if axis == "coronal" else full[:, index]
        assert np.count_nonzero(plane[i] != expected) <= 2  # rounding at the edge only
    assert not plane[2].any()
