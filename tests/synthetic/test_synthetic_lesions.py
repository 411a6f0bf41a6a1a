"""insert_lesions: COVID-19 patterns added to a slice as a smooth HU shift, keeping its noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lunglens.synthetic.lesions import insert_lesions
from lunglens.synthetic.lung_mask import lung_mask


def high_pass(hu: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """The fine texture (noise) of a slice: the slice minus its Gaussian blur."""
    hu = hu.astype(np.float32)
    return hu - cv2.GaussianBlur(hu, (0, 0), sigma)


def erode(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_severity_zero_changes_nothing(chest_slice):
    hu, lung = chest_slice
    new, mask = insert_lesions(hu, lung, np.random.default_rng(1), 0.0)
    assert new.dtype == np.int16
    np.testing.assert_array_equal(new, hu)
    assert not mask.any()


@pytest.mark.parametrize("severity", [0.2, 0.6, 1.0])
def test_lesions_stay_inside_the_lung(chest_slice, severity):
    hu, lung = chest_slice
    new, mask = insert_lesions(hu, lung, np.random.default_rng(2), severity)
    assert mask.any()
    assert not (mask & ~lung).any()
    assert not (new != hu)[~lung].any(), "pixels outside the lung mask changed"


def test_lesions_are_deterministic_and_depend_on_the_generator(chest_slice):
    hu, lung = chest_slice
    a = insert_lesions(hu, lung, np.random.default_rng(7), 0.7)
    b = insert_lesions(hu, lung, np.random.default_rng(7), 0.7)
    c = insert_lesions(hu, lung, np.random.default_rng(8), 0.7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_severity_sets_the_extent(chest_slice):
    hu, lung = chest_slice
    areas = [
        np.mean([insert_lesions(hu, lung, np.random.default_rng(s), sev)[1].sum() for s in range(4)])
        for sev in (0.15, 0.5, 1.0)
    ]
    assert areas[0] < areas[1] < areas[2]


def test_ground_glass_in_range_and_noise_texture_kept(chest_slice):
    hu, lung = chest_slice
    new, mask = insert_lesions(hu, lung, np.random.default_rng(3), 0.8, patterns=("ggo",))
    parenchyma_in_lesion = mask & (hu < -600)
    assert -750 <= new[parenchyma_in_lesion].mean() <= -300
    assert np.percentile(new[parenchyma_in_lesion], 10) >= -800
    assert np.percentile(new[parenchyma_in_lesion], 90) <= -250
    parenchyma = erode(lung & (hu < -600), 3)  # away from vessels, whose edges dominate a high-pass
    core = erode(mask, 3) & parenchyma
    surrounding = parenchyma & ~cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert core.sum() > 200
    lesion_texture = high_pass(new)[core].std()
    lung_texture = high_pass(new)[surrounding].std()
    assert abs(lesion_texture / lung_texture - 1.0) < 0.15
    assert abs(lesion_texture / high_pass(hu)[core].std() - 1.0) < 0.05, "same pixels, same noise"


def test_consolidation_reaches_soft_tissue_and_keeps_vessels_visible(chest_slice):
    hu, lung = chest_slice
    new, mask = insert_lesions(hu, lung, np.random.default_rng(4), 1.0, patterns=("consolidation",))
    core = erode(mask, 4)
    parenchyma = core & (hu < -600)
    assert -150 <= np.median(new[parenchyma]) <= 80
    vessels = core & (hu > -100)
    if vessels.sum() > 10:
        assert np.median(new[vessels]) > np.median(new[parenchyma]) + 40


def test_bilateral_posterior_and_peripheral(chest_slice):
    hu, lung = chest_slice
    masks = [insert_lesions(hu, lung, np.random.default_rng(s), 0.5)[1] for s in range(6)]
    total = np.sum(masks, axis=0)
    half = hu.shape[1] // 2
    assert total[:, :half].sum() > 0 and total[:, half:].sum() > 0
    rows = np.nonzero(lung)[0]
    lung_centre_row = 0.5 * (rows.min() + rows.max())
    lesion_rows = np.nonzero(total)[0]
    assert np.mean(lesion_rows > lung_centre_row) > 0.6, "lesions should be mostly dorsal"
    distance = cv2.distanceTransform(lung.astype(np.uint8), cv2.DIST_L2, 5)
    assert np.median(distance[total > 0]) < 0.7 * np.median(distance[lung])


def test_crazy_paving_adds_septal_lines(chest_slice):
    hu, lung = chest_slice
    ggo, ggo_mask = insert_lesions(hu, lung, np.random.default_rng(5), 0.8, patterns=("ggo",))
    crazy, crazy_mask = insert_lesions(hu, lung, np.random.default_rng(5), 0.8, patterns=("crazy_paving",))
    np.testing.assert_array_equal(ggo_mask, crazy_mask)
    core = erode(crazy_mask, 3) & erode(lung & (hu < -600), 3)
    assert high_pass(crazy, 3.0)[core].std() > 1.3 * high_pass(ggo, 3.0)[core].std()


def test_bad_inputs_are_refused(chest_slice):
    hu, lung = chest_slice
    with pytest.raises(ValueError):
        insert_lesions(hu, lung[:10], np.random.default_rng(0), 0.5)
    with pytest.raises(ValueError):
        insert_lesions(hu, lung, np.random.default_rng(0), 0.5, patterns=("tumour",))


def test_on_a_real_normal_slice(covid_ct_md):
    import pydicom

    datasets = [
        pydicom.dcmread(p, stop_before_pixels=True) for p in (covid_ct_md / "normal001").glob("*.dcm")
    ]
    datasets.sort(key=lambda ds: -float(ds.ImagePositionPatient[2]))
    ds = pydicom.dcmread(datasets[100].filename)
    hu = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.int16)
    lung = lung_mask(hu)
    new, mask = insert_lesions(hu, lung, np.random.default_rng(11), 0.7, patterns=("ggo",))
    assert mask.any() and not (mask & ~lung).any()
    parenchyma_in_lesion = mask & (hu < -600)
    assert -750 <= new[parenchyma_in_lesion].mean() <= -300
    core = erode(mask, 3) & (hu < -600)
    assert abs(high_pass(new)[core].std() / high_pass(hu)[core].std() - 1.0) < 0.10
