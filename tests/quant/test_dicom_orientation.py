"""Through the loader: a feet-first series stored mirrored (ImageOrientationPatient row direction
towards the patient's right) still gets its right lung labelled right."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.io import discover, load
from lunglens.quant import quantify
from lunglens.quant.lungs import LEFT_LUNG, RIGHT_LUNG
from tests.factory import write_series
from tests.quant.conftest import truth_sides

CASES = [
    ("head-first standard", (1, 0, 0, 0, 1, 0), False, False),
    ("feet-first mirrored", (-1, 0, 0, 0, 1, 0), True, True),
]


@pytest.mark.parametrize(("case", "orientation", "mirrored", "feet_first"), CASES, ids=[c[0] for c in CASES])
def test_sides_survive_the_loader(tmp_path, phantom_256, case, orientation, mirrored, feet_first):
    p = phantom_256
    hu = p.hu[:, :, ::-1] if mirrored else p.hu
    stored = np.clip(hu.astype(np.int32) + 1024, 0, 65535).astype(np.uint16)
    z = -p.slice_thickness_mm * np.arange(p.n_slices)  # index 0 most superior
    if feet_first:  # files (and instance numbers) run from the feet up
        stored, z = stored[::-1], z[::-1]
    write_series(tmp_path, stored, z, orientation=orientation)
    series = load(discover(tmp_path).analysable[0])
    assert series.orientation_cosines == tuple(float(v) for v in orientation)
    labels = quantify(series).masks.lung_labels()
    truth = truth_sides(p.lung_mask)
    if mirrored:
        truth = truth[:, :, ::-1]
    for side in (RIGHT_LUNG, LEFT_LUNG):
        overlap = np.count_nonzero((labels == side) & (truth == side)) / np.count_nonzero(truth == side)
        assert overlap > 0.9, (case, side)
