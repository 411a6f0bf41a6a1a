"""A cheap stand-in for the learned lesion method, for tests about wiring rather than the model.

The learned map of the bundled patch model takes seconds to a minute per series; `tests/conftest.py`
puts this stand-in in its place in every test's process (`cheap_learned_lesion_map`) unless the test
is marked `real_lesion_map`. It is named "learned" like the real method, says in its description
that it is a stand-in, and marks as lesion the tissue from -650 to 0 HU (narrower than the HU bands)
with no opening, so its figures differ from the HU-band method's."""

from __future__ import annotations

import numpy as np

from lunglens.quant import ProbabilityMapMethod

STAND_IN_DESCRIPTION = "test stand-in for the learned lesion map: -650 <= HU < 0 inside the lung"


def stand_in_probability(hu: np.ndarray, lung_labels: np.ndarray, voxel_mm, cancel=None) -> np.ndarray:
    """1 where -650 <= HU < 0 inside the lung, else 0 (float32, the shape of `hu`)."""
    return ((hu >= -650) & (hu < 0) & (lung_labels > 0)).astype(np.float32)


def stand_in_learned_method(card=None, provider: str = "auto") -> ProbabilityMapMethod:
    """Replaces `lunglens.analysis.lesion_methods.bundled_learned_method` in tests."""
    return ProbabilityMapMethod(
        probability=stand_in_probability, name="learned", description=STAND_IN_DESCRIPTION
    )
