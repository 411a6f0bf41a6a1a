"""The paper's lung-open selector on phantom series agrees with the phantom's anatomical truth.

Normal and moderate COVID-19 severity (0.6, the demo patient's). With extensive disease
(severity 1) the selector itself drops lung-open slices whose dorsal lung is opacified (fewer
dark pixels): agreement falls to about 80 %, a property of the paper's rule, not of the phantom.
"""

from __future__ import annotations

import pytest

from lunglens.core.selector import select_slices
from lunglens.synthetic.phantom import make_phantom


@pytest.mark.parametrize(
    ("n_slices", "severity", "size"),
    [
        (35, 0.0, 512),
        (35, 0.6, 512),
        (150, 0.6, 256),
        (600, 0.0, 128),
    ],
)
def test_selector_agrees_with_true_lung_open_range(n_slices, severity, size):
    # The same field of view (358 mm) at every size: the selector scales its region with the size.
    phantom = make_phantom(
        n_slices=n_slices,
        seed=n_slices,
        covid_severity=severity,
        size=size,
        pixel_spacing_mm=0.7 * 512 / size,
    )
    selection = select_slices(phantom.hu)
    agreement = float((selection.kept == phantom.lung_open).mean())
    assert agreement >= 0.90, (agreement, phantom.lung_open_range, selection.kept_indices)
    assert not selection.kept[0] and not selection.kept[-1], "closed-lung ends are discarded"
