"""The report's content as reportlab flowables, one function per section in reading order:
banner, header, decision, selector, P(COVID) chart, quantification (extent of involvement), key
images, the reader's measurements, kept-slice table, method and reproducibility, limitations and
signature. Text uses only the standard PDF fonts' characters."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from lunglens import RESEARCH_ONLY
from lunglens.analysis import Analysis, ModelRecord, readout
from lunglens.core.decision import (
    PAPER_FRACTIONS,
    PAPER_SLICE_CUTOFF,
    DecisionParams,
    exact_text,
    probability_text,
)
from lunglens.core.measure import MeasurementRecord
from lunglens.core.reformat import EdgeLabels
from lunglens.core.selector import REFERENCE_SIZE
from lunglens.io.files import printable
from lunglens.io.raw_scale import raw_to_hu
from lunglens.quant.burden import SeverityScale
from lunglens.quant.lungs import LUNG_MASK_LIMITS
from lunglens.quant.summary import NOT_COVID_SPECIFIC, table_rows, zone_definition_sentence, zone_diagram_rgb
from lunglens.report.charts import colour_bar, probability_chart, selector_chart
from lunglens.report.identity import Identity
from lunglens.report.images import LUNG_WINDOW, KeyImage, cam_description, key_image_caption

METHOD_REFERENCE = (
    "Rahimzadeh M, Attar A, Sakhaei SM. A fully automated deep learning-based network for detecting "
    "COVID-19 from a new and large lung CT scan dataset. Preprint, doi:10.1101/2020.06.08.20121541."
)
BANNER = (
    f"{RESEARCH_ONLY.upper()}. This result comes from an automated method and must be confirmed by a "
    "radiologist."
)
RED = colors.Color(0.75, 0.05, 0.05)
GREEN = colors.Color(0.05, 0.45, 0.15)
GRID = colors.Color(0.75, 0.75, 0.75)
#: Size of the patient-direction letters on the key images (points).
EDGE_LETTER_POINTS = 9
EDGE_LETTERS_TEXT = (
    "The slices are shown as stored; the letters at their edges are the patient's directions from the "
    "files' orientation (R right, L left, A anterior, P posterior, S superior, I inferior; two letters: "
    "an edge between two directions, the nearer first)."
)
#: Height of a capital letter as a share of the font size (Helvetica), and the letters' distance
#: from the image's edge (points).
_CAP_HEIGHT, _LETTER_INSET = 0.72, 2.0

_BASE = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_BASE["Title"], fontSize=15, leading=18, spaceAfter=4),
    "h": ParagraphStyle(
        "h", parent=_BASE["Heading2"], fontSize=11.5, leading=14, spaceBefore=8, spaceAfter=3
    ),
    "body": ParagraphStyle("body", parent=_BASE["BodyText"], fontSize=8.5, leading=10.5, spaceAfter=3),
    "cell": ParagraphStyle("cell", parent=_BASE["BodyText"], fontSize=8, leading=9.5),
    "mono": ParagraphStyle("mono", parent=_BASE["BodyText"], fontName="Courier", fontSize=7.5, leading=9.5),
    "banner": ParagraphStyle(
        "banner", parent=_BASE["BodyText"], fontName="Helvetica-Bold", fontSize=9, leading=11, textColor=RED
    ),
    "verdict": ParagraphStyle(
        "verdict", parent=_BASE["BodyText"], fontName="Helvetica-Bold", fontSize=14, leading=18
    ),
    "caption": ParagraphStyle("caption", parent=_BASE["BodyText"], fontSize=8.5, leading=10.5, spaceBefore=4),
}


def _p(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain `text` (escaped; no markup; file-name bytes that are not UTF-8 as
    \\xNN)."""
    return Paragraph(escape(printable(text)), STYLES[style])


def _field_table(rows, width: float, mono: tuple[str, ...] = (), label_width: float = 34 * mm) -> Table:
    """Two columns: bold label, wrapped value (in a fixed-width font for the labels in `mono`)."""
    data = [
        [Paragraph(f"<b>{escape(label)}</b>", STYLES["cell"]), _p(value, "mono" if label in mono else "cell")]
        for label, value in rows
    ]
    table = Table(data, colWidths=[label_width, width - label_width], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


class Picture(Flowable):
    """A uint8 image (grey rows x columns, or RGB rows x columns x 3) drawn `width` x `height`
    points, with a thin frame and, when given, the patient direction at the middle of each edge
    (white letters outlined in black, inside the frame)."""

    def __init__(self, pixels: np.ndarray, width: float, height: float, labels: EdgeLabels | None = None):
        super().__init__()
        self.pixels, self.width, self.height, self.labels = pixels, width, height, labels

    def wrap(self, available_width, available_height):
        return self.width, self.height

    def draw(self):
        canvas = self.canv
        canvas.drawImage(ImageReader(Image.fromarray(self.pixels)), 0, 0, self.width, self.height)
        canvas.setLineWidth(0.4)
        canvas.rect(0, 0, self.width, self.height)
        size, inset = EDGE_LETTER_POINTS, _LETTER_INSET
        if self.labels is None or min(self.width, self.height) < 4 * size:  # no room: they would meet
            return
        middle_x, middle_y = self.width / 2, (self.height - size * _CAP_HEIGHT) / 2
        places = {
            "left": (inset, middle_y, "left"),
            "right": (self.width - inset, middle_y, "right"),
            "top": (middle_x, self.height - inset - size * _CAP_HEIGHT, "centre"),
            "bottom": (middle_x, inset, "centre"),
        }
        canvas.saveState()
        canvas.setFillColor(colors.white)
        canvas.setStrokeColor(colors.black)
        canvas.setLineWidth(0.6)
        for side, (x, y, anchor) in places.items():
            text = getattr(self.labels, side)
            width = canvas.stringWidth(text, "Helvetica-Bold", size)
            x -= {"left": 0.0, "right": width, "centre": width / 2}[anchor]
            letters = canvas.beginText(x, y)
            letters.setFont("Helvetica-Bold", size)
            letters.setTextRenderMode(2)  # fill and outline: reads over black air and white bone
            letters.textOut(text)
            canvas.drawText(letters)
        canvas.restoreState()


def picture_size(shape: tuple[int, ...], pixel_mm: tuple[float, float], box: float) -> tuple[float, float]:
    """(width, height) in points of an image of `shape` (rows, columns, ...) whose pixels are
    `pixel_mm` (row spacing, column spacing) in true proportion, as large as fits a `box` x `box`
    square."""
    height_mm, width_mm = shape[0] * pixel_mm[0], shape[1] * pixel_mm[1]
    scale = box / max(height_mm, width_mm)
    return width_mm * scale, height_mm * scale


def title_and_banner(width: float) -> list[Flowable]:
    banner = Table([[_p(BANNER, "banner")]], colWidths=[width])
    banner.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, RED),
                ("BACKGROUND", (0, 0), (-1, -1), colors.Color(1.0, 0.93, 0.93)),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return [_p("LungLens chest CT report: COVID-19 pattern classification", "title"), banner, Spacer(1, 4)]


def header(who: Identity, width: float) -> list[Flowable]:
    return [_p("Patient and series", "h"), _field_table(who.rows, width)]


def decision(analysis: Analysis, width: float) -> list[Flowable]:
    """The verdict, its operating point and the verdict at the paper's two fractions."""
    d = analysis.decision
    params = d.params
    colour = RED if d.covid else GREEN
    verdict = Paragraph(
        f'Verdict: <font color="{colour.hexval()}">{escape(d.verdict)}</font>', STYLES["verdict"]
    )
    explained = _p(
        f"{d.count_text()} (k of n; a slice is positive when {params.slice_rule(ascii_only=True)}, "
        f"the slice cut-off). Patient fraction f = "
        f"{exact_text(params.patient_fraction)}: the patient reads COVID-19 when {d.rule_applied()}."
    )
    rows = [["Operating point", "Slice cut-off", "Patient fraction f", "Rule", "k of n", "Verdict"]]
    points = [("this report", params)]
    points += [
        (f"paper, f = {exact_text(f)}", DecisionParams(PAPER_SLICE_CUTOFF, f)) for f in PAPER_FRACTIONS
    ]
    for name, point in points:
        other = analysis.redecide(point).decision
        rows.append(
            [
                name,
                exact_text(point.slice_cutoff),
                exact_text(point.patient_fraction),
                point.rule(),
                other.k_of_n(),
                other.verdict,
            ]
        )
    table = Table(rows, colWidths=[w * width for w in (0.17, 0.13, 0.16, 0.26, 0.12, 0.16)], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                ("FONT", (0, 1), (-1, 1), "Helvetica-Bold", 8),
                ("GRID", (0, 0), (-1, -1), 0.25, GRID),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
            ]
        )
    )
    return [_p("Decision", "h"), verdict, _p(analysis.verdict_caveat()), explained, table]


def selector(analysis: Analysis, width: float) -> list[Flowable]:
    """What the selector kept, its rule with this series' numbers, and its figure."""
    s = analysis.selection.params
    rows, columns = analysis.series.rows, analysis.series.columns
    reference = f"{REFERENCE_SIZE} x {REFERENCE_SIZE}"
    region = f"rows {s.row_start}-{s.row_stop - 1}, columns {s.column_start}-{s.column_stop - 1} of a {reference} image"
    if (rows, columns) != (REFERENCE_SIZE, REFERENCE_SIZE):
        region += f" (scaled to this series' {columns} x {rows} pixels)"
    text = (
        f"The lung-open selector kept {analysis.decision.n_kept} of {analysis.n_slices} slices. It counts dark "
        f"pixels (raw < {s.dark_below_raw}, i.e. HU < {raw_to_hu(s.dark_below_raw)}) in {region}; threshold "
        f"= (max - min) / {s.divisor:g} = {analysis.selection.threshold:.0f} dark pixels; slices above it are kept, "
        "the others (neck, shoulders, upper abdomen) are not classified."
    )
    return [
        KeepTogether([_p("Slice selection", "h"), _p(text), selector_chart(analysis, width, 150)]),
    ]


def probabilities(analysis: Analysis, width: float) -> list[Flowable]:
    text = (
        "P(COVID) of each classified slice along the series; the dashed line is the slice cut-off "
        f"{exact_text(analysis.decision.params.slice_cutoff)}; positive slices are marked red; grey bands are slices "
        "the selector discarded."
    )
    return [KeepTogether([_p("P(COVID) per slice", "h"), _p(text), probability_chart(analysis, width, 170)])]


def quantification(analysis: Analysis, width: float) -> list[Flowable]:
    """How much of each lung is involved and where: the six-zone diagram beside the table, what
    the figures are and what they cannot tell."""
    q = analysis.quantification
    opening = [_p("Extent of involvement (quantification)", "h")]
    if q is None:  # off; or, in a result of an earlier LungLens, no lung found (now: no analysis)
        found = [w for w in analysis.series.warnings if w.startswith("no quantification")]
        return opening + [_p(found[0] if found else "The quantification was not run for this analysis.")]
    rows = table_rows(q)
    table = Table(rows, hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.grey),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    diagram_width = 52 * mm
    diagram = Picture(zone_diagram_rgb(q), diagram_width, diagram_width * 300 / 360)
    side_by_side = Table([[diagram, table]], colWidths=[diagram_width + 6, width - diagram_width - 6])
    side_by_side.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    text = [
        f"Severity score {q.score_text}: {q.severity_score_name}. "
        f"Per zone by the affected share of the zone, p % ({SeverityScale().bands_text()}). "
        f"{zone_definition_sentence(q)}.",
        f"Method: {q.method_description}.",
        f"{LUNG_MASK_LIMITS}. In the key images the lung contours are drawn in light blue, ground glass in "
        "green and consolidation in magenta, as in the viewer (outlines, so the tissue stays visible).",
        NOT_COVID_SPECIFIC,
        *(f"Warning: {w}" for w in q.warnings),
    ]
    return [KeepTogether([*opening, side_by_side, *[_p(t) for t in text]])]


def key_images(
    images: list[KeyImage],
    n_slices: int,
    cutoff: float,
    width: float,
    labels: EdgeLabels | None,
    pixel_mm: tuple[float, float],
) -> list[Flowable]:
    """Each key slice without and with its Grad-CAM overlay, side by side, with the colour bar,
    as stored, in true proportion (`pixel_mm`: row and column spacing) with the patient
    directions at the edges (`labels`; None where the files state no orientation)."""
    window = f"W {LUNG_WINDOW.width:g} / L {LUNG_WINDOW.level:g} HU"
    intro = (
        f"The most suspicious kept slices, shown in the lung window ({window}). Left: the slice; right: "
        f"the same slice with the Grad-CAM of the COVID-19 class (yellow: most influential) drawn "
        f"{cam_description()}, as in the viewer."
    )
    intro += (
        f" {EDGE_LETTERS_TEXT}"
        if labels is not None
        else " The files state no orientation: the slices are shown as stored, without direction letters."
    )
    if images and not any(image.positive for image in images):
        intro += " No slice is positive: the most suspicious kept slice is shown."
    opening: list[Flowable] = [_p("Key images", "h"), _p(intro)]
    if not images:
        return opening + [_p("No slice was kept by the selector, so none was classified.")]
    side = (width - 8) / 2
    picture_width, picture_height = picture_size(images[0].plain.shape, pixel_mm, side)
    story: list[Flowable] = []
    for image in images:
        caption = _p(f"{key_image_caption(image, n_slices, cutoff)}; {window}", "caption")
        pair = Table(
            [
                [
                    Picture(image.plain, picture_width, picture_height, labels),
                    Picture(image.overlay, picture_width, picture_height, labels),
                ],
                ["", colour_bar(side * 0.8)],
            ],
            colWidths=[side + 4, side + 4],
            hAlign="LEFT",
        )
        pair.setStyle(
            TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        )
        story.append(KeepTogether([*opening, caption, pair] if not story else [caption, pair]))
    return story


def _position_header(analysis: Analysis) -> str:
    """The slice tables' position column: "Position (mm)", "(mm, assumed)" when the files state
    no slice positions."""
    return "Position (mm)" if analysis.series.positions_stated else "Position (mm, assumed)"


def measurements(records: Sequence[MeasurementRecord], analysis: Analysis, width: float) -> list[Flowable]:
    """The reader's measurements from the viewer, one row each (none: no section)."""
    if not records:
        return []
    rows = [["Slice", _position_header(analysis), "Measurement", "Result"]]
    for record in sorted(records, key=lambda r: r.slice_index):
        rows.append(
            [
                str(record.slice_index + 1),
                f"{analysis.positions_mm[record.slice_index]:.1f}",
                record.kind,
                _p(record.result, "cell"),
            ]
        )
    table = Table(
        rows, colWidths=[0.1 * width, 0.15 * width, 0.15 * width, 0.6 * width], repeatRows=1, hAlign="LEFT"
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
            ]
        )
    )
    stated = analysis.series.pixel_spacing_stated
    sizes = (
        "distances in mm from the pixel spacing; regions give"
        if stated
        else "the files state no pixel size, so distances and areas are in pixels, not mm; regions give"
    )
    area = "their area (pixel count x pixel area)" if stated else "their area (pixel count)"
    intro = (
        f"Measured by the reader in the viewer: {sizes} the mean ± standard deviation, minimum and maximum "
        f"HU of the pixels whose centre lies inside, and {area}."
    )
    return [KeepTogether([_p("Measurements", "h"), _p(intro), table])]


def slice_table(analysis: Analysis, width: float) -> list[Flowable]:
    """Every kept slice: number, position (mm), dark pixels, P(COVID), positive; runs over pages."""
    cutoff = analysis.decision.params.slice_cutoff
    header_row = ["Slice", _position_header(analysis), "Dark pixels", "P(COVID)", "Positive"]
    rows = [header_row]
    positive_rows = []
    for record in analysis.records():
        if not record.kept:
            continue
        p = "not classified" if record.p_covid is None else probability_text(record.p_covid, cutoff)
        rows.append(
            [
                str(record.index + 1),
                f"{record.position_mm:.1f}",
                str(record.dark_pixel_count),
                p,
                "yes" if record.positive else "no",
            ]
        )
        if record.positive:
            positive_rows.append(len(rows) - 1)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
        ("TOPPADDING", (0, 0), (-1, -1), 0.8),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.8),
    ]
    style += [("TEXTCOLOR", (0, r), (-1, r), RED) for r in positive_rows]
    table = Table(rows, colWidths=[0.55 * width / 5] * 5, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    intro = (
        f"All {analysis.decision.n_kept} kept slices (slice 1 is the most superior); positive slices in red."
    )
    return [_p("Kept slices", "h"), _p(intro), table]


def _flatten(value, prefix: str = "") -> list[str]:
    """A card's nested provenance as "key: value" strings (nested keys joined by dots)."""
    if isinstance(value, dict):
        return [line for key, item in value.items() for line in _flatten(item, f"{prefix}{key}.")]
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(item) for item in value)
    return [f"{prefix[:-1]}: {value}"]


def method(analysis: Analysis, width: float) -> list[Flowable]:
    """Model card, provider, versions, date and duration, the method and its reference."""
    model, provider = analysis.model, analysis.provider
    duration = readout.timings_text(analysis)
    why = provider.reason or f"as requested ({provider.requested})"
    provider_text = f"{provider.label}, {provider.used}: {why}"
    rows = [
        ("Model", f"{model.name} version {model.version}"),
        ("Model SHA-256", model.sha256),
        ("Provenance", "; ".join(_flatten(model.provenance))),
        ("Intended use", model.intended_use),
        ("Execution provider", provider_text),
        ("Software", ", ".join(f"{k} {v}" for k, v in analysis.versions.items())),
        ("Analysis date", analysis.created),
        ("Analysis duration", duration),
        (
            "Method",
            "Lung-open slice selector, ResNet50V2 + feature pyramid classifier on each kept slice, patient "
            f"decision {analysis.decision.params.rule()}, closed-form Grad-CAM; " + METHOD_REFERENCE,
        ),
    ]
    return [_p("Method and reproducibility", "h"), _field_table(rows, width, mono=("Model SHA-256",))]


def _training_data(model: ModelRecord) -> str:
    provenance = model.provenance
    kind = provenance.get("kind", "")
    if kind == "trained":
        data = provenance.get("data", {})
        source = data.get("source", "data named on its card") if isinstance(data, dict) else str(data)
        return f"The model was trained on {source}"
    if kind == "converted":
        return "The model's weights are the method's published ones, trained on the authors' COVID-CTset"
    return f"The model's card gives its origin as '{kind or 'not stated'}'"


def limitations(analysis: Analysis) -> list[Flowable]:
    """What the result cannot say: training data, the selector's fixed region, this series' issues."""
    items = [
        f"{_training_data(analysis.model)}; how it performs on other scanners, protocols and patient "
        "populations is not known. Intended use stated by the model card: "
        f"{analysis.model.intended_use or 'not stated'}.",
        f"The selector counts dark pixels in a fixed central region designed for {REFERENCE_SIZE} x "
        f"{REFERENCE_SIZE} axial chest CT of adults centred in the field of view; other sizes are scaled "
        "proportionally, and unusual fields of view, positioning or anatomy can keep or drop the wrong slices.",
        "Grad-CAM shows where the model looked, not a segmentation of lesions.",
    ]
    orientation = analysis.series.orientation
    if orientation != "axial":
        items.append(f"This series is not axial ({orientation}); the method expects axial slices.")
    items += [f"This series: {warning}" for warning in analysis.series.warnings]
    if not analysis.series.warnings and orientation == "axial":
        items.append("This series raised no warnings when loaded (axial, no gaps in slice positions found).")
    return [_p("Limitations", "h")] + [_p("- " + item) for item in items]


def signature(width: float) -> list[Flowable]:
    line = "_" * 34
    rows = [
        [f"Reporting radiologist: {line}", f"Date: {'_' * 18}"],
        [f"Signature: {line}", ""],
    ]
    table = Table(rows, colWidths=[0.65 * width, 0.35 * width], hAlign="LEFT")
    table.setStyle(
        TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 9), ("TOPPADDING", (0, 0), (-1, -1), 12)])
    )
    return [
        KeepTogether(
            [
                _p("Reading", "h"),
                _p("Findings and conclusion of the reporting radiologist:"),
                Spacer(1, 40),
                table,
            ]
        )
    ]
