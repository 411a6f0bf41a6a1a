"""How a quantification is shown, computed once for every reader (CLI, PDF, viewer): the compact
table (per lung, per zone, total, score) as cells and as text lines, and the six-zone diagram as
data and as a plain RGB image (no Qt, no reportlab)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lunglens.quant.lungs import LUNG_MASK_LIMITS
from lunglens.quant.result import Quantification, RegionBurden
from lunglens.quant.zones import THIRDS, zone_name

NOT_COVID_SPECIFIC = (
    "These figures measure dense lung tissue, not COVID-19: other pneumonias, oedema, atelectasis "
    "and fibrosis count too, and a radiologist must confirm the extent."
)
"""What the quantification cannot tell, for every reader (PDF, DICOM SR)."""

TABLE_HEADER = ("region", "lung mL", "affected mL", "affected %", "GGO %", "consolidation %", "zone score")

SCORE_COLOURS = (
    (245, 245, 245),
    (255, 236, 179),
    (255, 204, 128),
    (255, 152, 0),
    (230, 81, 0),
    (183, 28, 28),
)
"""RGB fill of a zone by its score 0-5 (white to dark red)."""


def percent_text(percent: float) -> str:
    """A share in % with one decimal ("12.4"), as every reader shows it; a share above 0 that
    would round to 0.0 reads "<0.1", never like none (a zone scores 1 for any involvement)."""
    return "<0.1" if 0 < percent < 0.05 else f"{percent:.1f}"


def percent_value(percent: float) -> float:
    """A share in % as a number rounded as `percent_text` shows it (12.792... -> 12.8), for a
    table that stays numeric (the batch worklist); a share above 0 that would round to 0.0 keeps
    two significant digits (0.032), never reading like none."""
    return float(f"{percent:.2g}" if 0 < percent < 0.05 else f"{percent:.1f}")


def ml_text(ml: float) -> str:
    """A volume in mL, whole ("850"); a volume above 0 and under 1 mL reads "<1"."""
    return "<1" if 0 < ml < 1 else f"{ml:.0f}"


def _cells(label: str, region: RegionBurden, score: str = "") -> tuple[str, ...]:
    return (
        label,
        ml_text(region.volume_ml),
        ml_text(region.affected_ml),
        percent_text(region.affected_percent),
        percent_text(region.ggo_percent),
        percent_text(region.consolidation_percent),
        score,
    )


def table_rows(q: Quantification) -> list[tuple[str, ...]]:
    """The table as cells: header, then per lung its row and its three zones, then both lungs
    with the total score (a number: the text lines and the diagram say when it is of part of the
    lungs)."""
    rows = [TABLE_HEADER]
    for side in ("right", "left"):
        rows.append(_cells(f"{side} lung", q.lungs[side]))
        for third in THIRDS:
            name = zone_name(side, third)
            rows.append(_cells(f"  {third} zone", q.zones[name], str(q.zone_scores[name])))
    rows.append(_cells("both lungs", q.total, f"{q.severity_score}/{q.severity_score_max}"))
    return rows


def zone_definition_sentence(q: Quantification) -> str:
    """What the zones are (not lobes), as a sentence start (capitalised, no full stop)."""
    return q.zone_definition[:1].upper() + q.zone_definition[1:]


def table_lines(q: Quantification) -> list[str]:
    """The table as aligned text lines, with what the figures are and the warnings."""
    rows = table_rows(q)
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_HEADER))]
    lines = [f"Quantification, method {q.method}: {q.method_description}"]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"Severity score {q.score_text}: {q.severity_score_name}")
    lines.append(zone_definition_sentence(q))
    lines.append(f"{LUNG_MASK_LIMITS}.")
    lines.extend(f"Warning: {w}" for w in q.warnings)
    return lines


@dataclass(frozen=True)
class ZoneCell:
    """One zone of the diagram: grid column 0 is drawn on the image left (the patient's right,
    radiological convention), row 0 the upper zone."""

    name: str
    column: int
    row: int
    score: int
    affected_percent: float
    colour: tuple[int, int, int]


def zone_cells(q: Quantification) -> tuple[ZoneCell, ...]:
    """The six zones as diagram cells (data for any renderer)."""
    cells = []
    for column, side in enumerate(("right", "left")):
        for row, third in enumerate(THIRDS):
            name = zone_name(side, third)
            score = q.zone_scores[name]
            cells.append(
                ZoneCell(name, column, row, score, q.zones[name].affected_percent, SCORE_COLOURS[score])
            )
    return tuple(cells)


def zone_diagram_rgb(q: Quantification, width: int = 360, height: int = 300) -> np.ndarray:
    """The six-zone diagram as an RGB image (uint8 height x width x 3): two columns of three
    boxes (patient right on the image left, marked R and L), each filled by its score's colour
    and labelled with the score and affected %; the total score below."""
    image = np.full((height, width, 3), 255, np.uint8)
    top, bottom = 28, height - 30
    box_w, box_h = (width - 30) // 2, (bottom - top) // 3
    font = cv2.FONT_HERSHEY_SIMPLEX
    for column, mark in enumerate(("R", "L")):
        x = 10 + column * (box_w + 10)
        cv2.putText(image, mark, (x + box_w // 2 - 6, 20), font, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
    for cell in zone_cells(q):
        x0 = 10 + cell.column * (box_w + 10)
        y0 = top + cell.row * box_h
        cv2.rectangle(image, (x0, y0), (x0 + box_w, y0 + box_h - 4), cell.colour, -1)
        cv2.rectangle(image, (x0, y0), (x0 + box_w, y0 + box_h - 4), (60, 60, 60), 1)
        ink = (255, 255, 255) if cell.score >= 4 else (0, 0, 0)
        cv2.putText(image, str(cell.score), (x0 + 8, y0 + box_h // 2 + 6), font, 0.8, ink, 2, cv2.LINE_AA)
        label = f"{percent_text(cell.affected_percent)} %"
        cv2.putText(image, label, (x0 + 38, y0 + box_h // 2 + 4), font, 0.45, ink, 1, cv2.LINE_AA)
    total = f"score {q.score_text}; zones, not lobes"
    cv2.putText(image, total, (10, height - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return image
