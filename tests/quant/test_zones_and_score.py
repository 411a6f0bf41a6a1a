"""Zones by thirds of each lung's extent, and the zone score bins at their edges."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.quant.burden import SeverityScale
from lunglens.quant.zones import NO_ZONE, ZONE_NAMES, slice_thirds


def test_six_zone_names():
    assert ZONE_NAMES == (
        "right_upper",
        "right_middle",
        "right_lower",
        "left_upper",
        "left_middle",
        "left_lower",
    )


def test_thirds_of_each_lungs_own_extent_by_position():
    # 12 slices 2 mm apart, 0 mm (most superior) to -22 mm; right lung on slices 1-9, left on 3-11.
    positions = -2.0 * np.arange(12)
    present = np.zeros((12, 2), bool)
    present[1:10, 0] = True
    present[3:12, 1] = True
    thirds = slice_thirds(present, positions)
    # Right: top -2, bottom -18, third 16/3 mm: upper p >= -7.33, middle p >= -12.67, else lower.
    assert thirds[:, 0].tolist() == [NO_ZONE, 0, 0, 0, 1, 1, 1, 2, 2, 2, NO_ZONE, NO_ZONE]
    # Left: top -6, bottom -22: the same split shifted by two slices.
    assert thirds[:, 1].tolist() == [NO_ZONE, NO_ZONE, NO_ZONE, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_thirds_follow_positions_not_indices():
    """Uneven spacing: a slice's zone is set by its position in mm."""
    positions = np.array([0.0, -1.0, -2.0, -3.0, -30.0])
    present = np.ones((5, 2), bool)
    thirds = slice_thirds(present, positions)
    assert thirds[:, 0].tolist() == [0, 0, 0, 0, 2]


def test_a_lung_absent_everywhere_has_no_zone():
    thirds = slice_thirds(np.array([[True, False], [True, False]]), np.array([0.0, -2.0]))
    assert (thirds[:, 1] == NO_ZONE).all()
    assert thirds[:, 0].tolist() == [0, 2]


SCORE_EDGES = [
    (0.0, 0),
    (1e-9, 1),
    (4.999, 1),
    (5.0, 2),
    (25.0, 2),
    (25.0001, 3),
    (50.0, 3),
    (50.0001, 4),
    (75.0, 4),
    (75.0001, 5),
    (100.0, 5),
]


@pytest.mark.parametrize(("percent", "score"), SCORE_EDGES)
def test_zone_score_bins_at_their_edges(percent, score):
    assert SeverityScale().score(percent) == score


def test_the_score_says_it_is_a_zone_score():
    name = SeverityScale().name
    assert "six-zone adaptation of the Pan lobe score" in name
    assert "not lobe score" in name


@pytest.mark.parametrize("percent", [*(p for p, _ in SCORE_EDGES), 25.5, 4.999, 5.0001, 60.0])
def test_the_bands_in_words_give_the_score_the_scale_gives(percent):
    """Each band of the text, read as the comparison it writes ("25 < p <= 50"), holds p exactly
    when its score is the scale's: every p falls in one band, 25.5 % in band 3."""
    scale = SeverityScale()
    bands = dict(part.split(": ") for part in scale.bands_text().split("; "))
    holding = [
        int(score) for score, band in bands.items() if eval(band.replace(" = ", " == "), {"p": percent})
    ]
    assert holding == [scale.score(percent)]
