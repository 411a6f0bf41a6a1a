"""The report as PDF bytes: an A4 document of the sections, with the patient line, the page
number ("page x of y") and the research-use note on every page. Deterministic: the same
analysis and series give the same bytes (reportlab's invariant mode; the PDF's creation date is
the analysis date)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import SimpleDocTemplate

from lunglens import RESEARCH_ONLY, __version__
from lunglens.analysis import Analysis
from lunglens.core.measure import MeasurementRecord
from lunglens.core.reformat import stated_slice_labels
from lunglens.io.series import Series
from lunglens.report import sections
from lunglens.report.identity import anonymised, identity, pixel_identity_problem
from lunglens.report.images import key_images

MARGIN = 16 * mm
TOP_MARGIN = 20 * mm
BOTTOM_MARGIN = 17 * mm


def page_count(pdf: bytes) -> int:
    """Pages of a PDF written by `render_report`, read from its page tree ("/Count n", the largest
    count: the root's; reportlab leaves the page tree uncompressed). 0 when there is none."""
    return max((int(n) for n in re.findall(rb"/Count (\d+)", pdf)), default=0)


def pdf_date(created: str) -> str:
    """An ISO 8601 date-time ("2024-05-01T10:00:00+00:00") → a PDF date string
    ("D:20240501100000+00'00'"); a naive time is taken as UTC."""
    moment = datetime.fromisoformat(created)
    offset = moment.utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"D:{moment:%Y%m%d%H%M%S}{sign}{hours:02d}'{rest:02d}'"


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Turn off reportlab's ASCII85 encoding of streams while a report is built: reportlab does
    it in pure Python (about 0.4 s per key image) and it makes the file a quarter larger."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


class _PagedCanvas(Canvas):
    """A canvas that holds its pages until the end, then draws on each the patient line (top),
    the research-use note and "page x of y" (bottom). The PDF's dates are `created`."""

    def __init__(self, *args, patient_line: str, created: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._patient_line = patient_line
        self._pages: list[dict] = []
        date = pdf_date(created)
        self.setDateFormatter(lambda *_: date)

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        width, height = self._pagesize
        self.saveState()
        self.setFont("Helvetica", 8)
        self.drawString(MARGIN, height - 11 * mm, f"LungLens report  |  {self._patient_line}")
        self.setLineWidth(0.4)
        self.line(MARGIN, height - 12.5 * mm, width - MARGIN, height - 12.5 * mm)
        self.line(MARGIN, 12 * mm, width - MARGIN, 12 * mm)
        self.drawString(MARGIN, 8.5 * mm, RESEARCH_ONLY.capitalize())
        self.drawRightString(width - MARGIN, 8.5 * mm, f"Page {number} of {total}")
        self.restoreState()


def render_report(
    analysis: Analysis,
    series: Series,
    *,
    anonymise: bool = False,
    measurements: Sequence[MeasurementRecord] = (),
) -> bytes:
    """The PDF report of `analysis` of `series` (whose `hu` gives the key images), with the
    reader's `measurements` when there are any. With `anonymise`, no patient identifier appears
    (a pseudonym and "anonymised report" instead); raises ValueError for a series whose pixels
    carry identifying text (`pixel_identity_problem`)."""
    if anonymise:
        problem = pixel_identity_problem(series.ref)
        if problem:
            raise ValueError(problem)
        analysis = anonymised(analysis, series)
    who = identity(series, analysis, anonymise)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=TOP_MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=f"LungLens report: {who.line}",
        author="LungLens",
        subject=f"Chest CT COVID-19 pattern classification ({RESEARCH_ONLY})",
        creator=f"LungLens {__version__}",
        invariant=1,
        pageCompression=1,
    )
    width = document.width
    story = [
        *sections.title_and_banner(width),
        *sections.header(who, width),
        *sections.decision(analysis, width),
        *sections.selector(analysis, width),
        *sections.probabilities(analysis, width),
        *sections.quantification(analysis, width),
        *sections.key_images(
            key_images(analysis, series.hu),
            analysis.n_slices,
            analysis.decision.params.slice_cutoff,
            width,
            stated_slice_labels(series),
            series.pixel_spacing_mm,
        ),
        *sections.measurements(measurements, analysis, width),
        *sections.slice_table(analysis, width),
        *sections.method(analysis, width),
        *sections.limitations(analysis),
        *sections.signature(width),
    ]
    with _binary_streams():
        document.build(
            story, canvasmaker=partial(_PagedCanvas, patient_line=who.line, created=analysis.created)
        )
    return buffer.getvalue()
