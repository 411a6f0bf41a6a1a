"""make_phantom: deterministic synthetic chest CT with lung, lesion and lung-open truth."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.synthetic.phantom import make_phantom


@pytest.fixture(scope="module")
def covid_phantom():
    return make_phantom(n_slices=40, seed=3, covid_severity=0.8, size=256, pixel_spacing_mm=1.4)


def test_same_seed_same_bytes_other_seed_differs():
    a = make_phantom(n_slices=35, seed=5, covid_severity=0.5, size=128, pixel_spacing_mm=2.8)
    b = make_phantom(n_slices=35, seed=5, covid_severity=0.5, size=128, pixel_spacing_mm=2.8, workers=1)
    c = make_phantom(n_slices=35, seed=6, covid_severity=0.5, size=128, pixel_spacing_mm=2.8)
    assert a.hu.tobytes() == b.hu.tobytes()
    np.testing.assert_array_equal(a.lesion_mask, b.lesion_mask)
    assert a.hu.tobytes() != c.hu.tobytes()


def test_geometry_and_types(covid_phantom):
    ph = covid_phantom
    assert ph.hu.dtype == np.int16 and ph.hu.shape == (40, 256, 256)
    assert ph.lung_mask.shape == ph.hu.shape and ph.lesion_mask.dtype == bool
    assert np.all(np.diff(ph.positions_mm) < 0), "index 0 is the most superior slice"
    np.testing.assert_allclose(-np.diff(ph.positions_mm), ph.slice_thickness_mm)
    assert ph.hu.min() >= -1024 and ph.hu.max() <= 3071


def test_series_starts_and_ends_with_closed_lungs(covid_phantom):
    ph = covid_phantom
    first, last = ph.lung_open_range
    assert 0 < first < last < ph.n_slices - 1
    assert not ph.lung_mask[0].any() and not ph.lung_mask[-1].any()
    assert ph.lung_open[first : last + 1].all()


def test_lung_mask_is_dark_and_lesions_inside_it(covid_phantom):
    ph = covid_phantom
    assert np.median(ph.hu[ph.lung_mask]) < -750
    assert ph.lesion_mask.any()
    assert not (ph.lesion_mask & ~ph.lung_mask).any()
    assert -750 < np.median(ph.hu[ph.lesion_mask]) < 0


def test_lesions_bilateral_posterior_lower_lobe(covid_phantom):
    ph = covid_phantom
    z, y, x = np.nonzero(ph.lesion_mask)
    centre = ph.hu.shape[2] / 2
    assert (x < centre).mean() > 0.2 and (x > centre).mean() > 0.2, "both lungs"
    lung_z, lung_y, _ = np.nonzero(ph.lung_mask)
    assert np.median(y) > np.median(lung_y), "posterior predominance"
    assert np.median(z) > np.median(lung_z), "lower-lobe predominance"


def test_normal_patient_has_no_lesions():
    ph = make_phantom(n_slices=35, seed=2, covid_severity=0.0, size=128, pixel_spacing_mm=2.8)
    assert not ph.lesion_mask.any()
    assert ph.lung_mask.any()


def test_severity_grows_lesion_load():
    loads = [
        make_phantom(n_slices=35, seed=4, covid_severity=s, size=128, pixel_spacing_mm=2.8).lesion_mask.sum()
        for s in (0.2, 1.0)
    ]
    assert loads[0] < loads[1]
