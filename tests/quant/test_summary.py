"""The compact table and the six-zone diagram, from a hand-made result."""

from __future__ import annotations

import numpy as np

from lunglens.quant import summary
from lunglens.quant.result import Quantification, RegionBurden
from lunglens.quant.summary import (
    SCORE_COLOURS,
    TABLE_HEADER,
    table_lines,
    table_rows,
    zone_cells,
    zone_diagram_rgb,
)
from lunglens.quant.zones import ZONE_NAMES


def region(volume: float, affected: float) -> RegionBurden:
    return RegionBurden.from_counts(
        int(volume), int(affected * 0.75), int(affected) - int(affected * 0.75), 1.0
    )


def result() -> Quantification:
    zones = {name: region(1000, 10 * (i + 1) ** 2) for i, name in enumerate(ZONE_NAMES)}
    scores = {name: min(i, 5) for i, name in enumerate(ZONE_NAMES)}
    return Quantification(
        method="hu_bands",
        method_description="threshold estimate",
        lungs={"right": region(3000, 140), "left": region(3000, 770)},
        zones=zones,
        total=region(6000, 910),
        zone_scores=scores,
        severity_score=sum(scores.values()),
        severity_score_max=30,
        severity_score_name="six-zone adaptation of the Pan lobe score (zone score, not lobe score)",
        zone_definition="zones, not lobes",
        slices=(None, 1.0),
        warnings=("involvement on 3 slices the lung-open selector discarded",),
    )


def test_table_rows_per_lung_zone_and_total():
    rows = table_rows(result())
    assert rows[0] == TABLE_HEADER
    assert [r[0] for r in rows[1:]] == [
        "right lung", "  upper zone", "  middle zone", "  lower zone",
        "left lung", "  upper zone", "  middle zone", "  lower zone",
        "both lungs",
    ]  # fmt: skip
    assert rows[-1][-1] == "15/30"
    assert rows[2] == ("  upper zone", "1000", "10", "1.0", "0.7", "0.3", "0")
    assert all(len(r) == len(TABLE_HEADER) for r in rows)


def test_table_lines_are_aligned_and_say_what_the_figures_are():
    q = result()
    lines = table_lines(q)
    header, body = lines[1], lines[2:11]
    end = header.index("affected %") + len("affected %")
    for line, row in zip(body, table_rows(q)[1:], strict=True):
        assert line[:end].endswith(row[3]), line  # the numbers are right-aligned under the header
    assert any("not lobe score" in line for line in lines)
    assert any(line.startswith("Warning: involvement on 3 slices") for line in lines)
    assert "threshold estimate" in lines[0]
    assert any("severe involvement is underestimated" in line for line in lines)  # the lung mask's limit
    assert "Zones, not lobes" in lines  # what the zones are, as a sentence (as the viewer and PDF say it)


def test_zone_cells_put_the_patients_right_on_the_image_left():
    cells = {c.name: c for c in zone_cells(result())}
    assert cells["right_upper"].column == 0 and cells["left_upper"].column == 1
    assert [cells[f"right_{t}"].row for t in ("upper", "middle", "lower")] == [0, 1, 2]
    assert cells["left_lower"].colour == SCORE_COLOURS[5]


def test_zone_diagram_is_an_rgb_image_coloured_by_score():
    image = zone_diagram_rgb(result(), 360, 300)
    assert image.shape == (300, 360, 3) and image.dtype == np.uint8
    colours = {tuple(int(v) for v in px) for px in image.reshape(-1, 3)}
    for score in range(6):
        assert SCORE_COLOURS[score] in colours


def test_involvement_too_small_for_a_decimal_never_reads_as_none(monkeypatch):
    """0.049 % of a zone scores 1 (any involvement): it must not read "0.0 %" beside that 1."""
    from dataclasses import replace

    from lunglens.quant.summary import ml_text, percent_text

    assert [percent_text(p) for p in (0.0, 0.049, 0.05, 12.44)] == ["0.0", "<0.1", "0.1", "12.4"]
    assert [ml_text(v) for v in (0.0, 0.3, 0.7, 849.6)] == ["0", "<1", "<1", "850"]
    q = result()
    tiny = RegionBurden.from_counts(200_000, 98, 0, 0.001)  # 0.098 mL, 0.049 % of 200 mL
    q = replace(q, zones={**q.zones, "right_upper": tiny}, zone_scores={**q.zone_scores, "right_upper": 1})
    assert table_rows(q)[2] == ("  upper zone", "200", "<1", "<0.1", "<0.1", "0.0", "1")
    drawn = []
    monkeypatch.setattr(summary.cv2, "putText", lambda image, text, *args: drawn.append(text))
    zone_diagram_rgb(q)
    assert "<0.1 %" in drawn  # the diagram's label of that zone
