"""Lung segmentation on the phantom: Dice per lung, patient sides from the orientation, no lung."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.inference.lesion_model import load_lesion_model
from lunglens.quant import HUBandMethod
from lunglens.quant.lesion_map import learned_method
from lunglens.quant.lungs import LEFT_LUNG, RIGHT_LUNG, NoLungFound, segment_lungs
from tests.quant.conftest import truth_sides


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_both_lungs_match_the_phantom_with_dice_at_least_0_97(phantom_512, phantom_512_lungs):
    p, seg = phantom_512, phantom_512_lungs
    truth = truth_sides(p.lung_mask)
    for side in (RIGHT_LUNG, LEFT_LUNG):
        assert dice(seg.labels == side, truth == side) >= 0.97, side
    assert seg.warnings == ()


def test_lesions_against_the_pleura_are_lung(phantom_512, phantom_512_lungs):
    """Dense disease is the classic failure of threshold masks: the phantom's lesion voxels must
    lie inside the lung mask, also the ground-glass crescents over the liver dome (grown into by
    ground-glass density). 0.949 here; about 0.85 without the ground-glass growth. The misses left
    are consolidation filling a whole basal crescent or the paravertebral gutter, denser than fat,
    where the mask cannot tell lesion from liver or muscle. A plain threshold mask keeps only the
    lesions' air-like ground glass, about 35 %."""
    p, seg = phantom_512, phantom_512_lungs
    assert p.lesion_mask.sum() > 10_000
    inside = np.count_nonzero(p.lesion_mask & (seg.labels > 0)) / np.count_nonzero(p.lesion_mask)
    print(f"phantom lesion voxels inside the lung mask: {inside:.3f}")
    assert inside >= 0.94
    plain = np.count_nonzero(p.lesion_mask & (p.hu < -500)) / np.count_nonzero(p.lesion_mask)
    assert inside > plain + 0.3


def test_hu_bands_measure_the_phantom_lesion_volume(phantom_512, phantom_512_lungs):
    """The HU-band affected volume against the phantom's true lesion volume: +4 % here (the issue's
    15 % applies to the learned map). It is partly compensation: vessels in the bands count, the
    lesions' soft edges and the few lesion voxels outside the mask do not (voxel Dice about 0.79)."""
    p, seg = phantom_512, phantom_512_lungs
    affected = HUBandMethod().affected(p.hu, seg.labels, seg.voxel_mm)
    error = np.count_nonzero(affected) / np.count_nonzero(p.lesion_mask) - 1.0
    print(f"HU-band lesion volume error on the phantom: {100 * error:+.1f} %")
    assert abs(error) <= 0.15


@pytest.mark.real_lesion_map
def test_learned_map_measures_the_phantom_lesion_volume(phantom_512, phantom_512_lungs):
    """The issue's figure: the learned lesion map's affected volume within 15 % of the phantom's
    true lesion volume (-8.6 % with model 2.0.0; the model never saw a phantom). Its misses are
    mostly lesion voxels the lung mask does not hold (95 % inside here)."""
    p, seg = phantom_512, phantom_512_lungs
    method = learned_method(load_lesion_model(provider="cpu"))
    affected = method.affected(p.hu, seg.labels, seg.voxel_mm)
    error = np.count_nonzero(affected) / np.count_nonzero(p.lesion_mask) - 1.0
    print(f"learned-map lesion volume error on the phantom: {100 * error:+.1f} %")
    assert abs(error) <= 0.15
    inside = affected & p.lesion_mask
    assert np.count_nonzero(inside) >= 0.8 * np.count_nonzero(affected)  # mostly on the lesions


def test_volumes_in_ml_follow_the_voxel_size(phantom_512, phantom_512_lungs):
    p, seg = phantom_512, phantom_512_lungs
    voxel_ml = p.pixel_spacing_mm**2 * p.slice_thickness_mm / 1000.0
    assert seg.volume_ml(RIGHT_LUNG) == pytest.approx(np.count_nonzero(seg.labels == RIGHT_LUNG) * voxel_ml)
    truth_ml = np.count_nonzero(truth_sides(p.lung_mask) == RIGHT_LUNG) * voxel_ml
    assert seg.volume_ml(RIGHT_LUNG) == pytest.approx(truth_ml, rel=0.04)


# Each case: how the canonical image (patient right on the image left, anterior at the top) is
# stored, and the ImageOrientationPatient that says so (row direction, column direction; LPS).
ORIENTATIONS = [
    ("standard supine", lambda v: v, (1, 0, 0, 0, 1, 0)),
    ("mirrored left-right", lambda v: v[:, :, ::-1], (-1, 0, 0, 0, 1, 0)),
    ("upside down", lambda v: v[:, ::-1, :], (1, 0, 0, 0, -1, 0)),
    ("rotated 180 degrees (prone-like)", lambda v: v[:, ::-1, ::-1], (-1, 0, 0, 0, -1, 0)),
    ("transposed", lambda v: v.transpose(0, 2, 1), (0, 1, 0, 1, 0, 0)),
]


@pytest.mark.parametrize(("case", "transform", "cosines"), ORIENTATIONS, ids=[o[0] for o in ORIENTATIONS])
def test_right_and_left_follow_the_patient_not_the_image(phantom_256, case, transform, cosines):
    p = phantom_256
    hu = np.ascontiguousarray(transform(p.hu))
    truth = np.ascontiguousarray(transform(truth_sides(p.lung_mask)))
    seg = segment_lungs(hu, (p.pixel_spacing_mm,) * 2, p.slice_thickness_mm, cosines)
    for side in (RIGHT_LUNG, LEFT_LUNG):
        assert dice(seg.labels == side, truth == side) >= 0.95, (case, side)
    assert seg.warnings == (), case  # the trachea is found whatever the orientation


def test_without_orientation_the_radiological_display_is_assumed_and_said(phantom_256):
    p = phantom_256
    seg = segment_lungs(p.hu, (p.pixel_spacing_mm,) * 2, p.slice_thickness_mm, None)
    truth = truth_sides(p.lung_mask)
    assert dice(seg.labels == RIGHT_LUNG, truth == RIGHT_LUNG) >= 0.95
    assert any("image left = patient right" in w for w in seg.warnings)


def test_abdomen_only_slices_have_no_lung(phantom_256):
    p = phantom_256
    below = np.flatnonzero(~p.lung_mask.any(axis=(1, 2)))
    below = below[below > p.n_slices // 2]
    assert below.size >= 4
    with pytest.raises(NoLungFound, match="no lung found"):
        segment_lungs(p.hu[below], (p.pixel_spacing_mm,) * 2, p.slice_thickness_mm, (1, 0, 0, 0, 1, 0))


def test_a_head_sized_water_cylinder_with_sinus_air_has_no_lung():
    z, y, x = np.mgrid[0:20, 0:256, 0:256]
    hu = np.full((20, 256, 256), -1000, np.int16)
    head = (y - 128) ** 2 + (x - 128) ** 2 < 90**2
    hu[head] = 30
    hu[head & ((y - 80) ** 2 + (x - 110) ** 2 < 12**2)] = -1000  # a sinus: pure air
    hu[head & ((y - 80) ** 2 + (x - 150) ** 2 < 10**2)] = -700
    with pytest.raises(NoLungFound):
        segment_lungs(hu, (0.5, 0.5), 2.0, (1, 0, 0, 0, 1, 0))
