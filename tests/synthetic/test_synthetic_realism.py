"""The phantom against a real chest CT (covid-ct-md/normal001), measured the same way.

Tolerances (phantom minus real): lung HU mean, 5th and 95th percentile within 40 / 40 / 60 HU;
body HU mean within 40 HU, 5th percentile within 40 HU, 95th percentile within 120 HU (the
phantom has proportionally more bone); lung area per slice along z (21 points over the scan)
within 40 cm^2 everywhere and the peak within 15 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.io import discover, load
from lunglens.synthetic.phantom import make_phantom
from lunglens.synthetic.realism import measure


@pytest.fixture(scope="module")
def figures(covid_ct_md):
    real = load(discover(covid_ct_md / "normal001").analysable[0])
    # Every second slice of both series keeps the test fast; the profile is resampled anyway.
    real_figures = measure(real.hu[::2], real.pixel_spacing_mm[0])
    phantom = make_phantom(n_slices=real.n_slices // 2, seed=0)
    return real_figures, measure(phantom.hu, phantom.pixel_spacing_mm)


def test_lung_hu_histogram(figures):
    real, phantom = figures
    assert abs(phantom.lung.mean - real.lung.mean) <= 40
    assert abs(phantom.lung.p5 - real.lung.p5) <= 40
    assert abs(phantom.lung.p95 - real.lung.p95) <= 60


def test_body_hu_histogram(figures):
    real, phantom = figures
    assert abs(phantom.body.mean - real.body.mean) <= 40
    assert abs(phantom.body.p5 - real.body.p5) <= 40
    assert abs(phantom.body.p95 - real.body.p95) <= 120


def test_lung_area_along_z(figures):
    real, phantom = figures
    real_area, phantom_area = np.array(real.lung_area_cm2), np.array(phantom.lung_area_cm2)
    assert np.abs(phantom_area - real_area).max() <= 40, (real_area, phantom_area)
    assert abs(phantom_area.max() / real_area.max() - 1) <= 0.15
    # Both series begin and end with closed-lung slices.
    assert real_area[0] == phantom_area[0] == 0 and real_area[-1] == phantom_area[-1] == 0
