"""The PDF report on a real series (COVID-CT-MD P001, tiny contract model): its extracted text
says the decision, the operating point, the model hash and the research-use banner; an
anonymised report holds none of the patient's DICOM identifiers; the bytes are reproducible;
writing is atomic. Text comes from poppler's pdftotext."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from lunglens import RESEARCH_ONLY
from lunglens.analysis import AnalysisOptions, analyse
from lunglens.analysis.records import SeriesRecord
from lunglens.atomic import WriteError
from lunglens.core.decision import PAPER_FRACTIONS, PAPER_SLICE_CUTOFF, DecisionParams
from lunglens.core.measure import MeasurementRecord
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.quant.burden import SeverityScale
from lunglens.render.contours import LUNG_CONTOURS
from lunglens.render.overlay import body_mask
from lunglens.report import images, render_report, sections, write_report
from lunglens.report.images import key_images, key_slices
from tests.pdf_text import pdf_file_text, pdftotext
from tests.tiny_model import write_tiny_model

#: DICOM attributes that identify the patient, the study or the place (PS3.15 basic profile).
IDENTIFIERS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthDate",
    "PatientAddress",
    "PatientAge",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "StudyTime",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "RequestedProcedureDescription",
)


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return pdf_file_text(path)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def p001(covid_ct_md, tmp_path_factory):
    """(analysis, series, folder) of P001 with the tiny model, loaded once for the module."""
    folder = covid_ct_md / "P001"
    (ref,) = discover(folder).analysable
    series = load(ref)
    model = load_model(write_tiny_model(tmp_path_factory.mktemp("model")), provider="cpu")
    analysis = dataclasses.replace(analyse(series, model), created="2024-05-01T10:00:00+00:00")
    return analysis, series, folder


@pytest.fixture(scope="module")
def plain_pdf(p001):
    analysis, series, _ = p001
    return render_report(analysis, series)


@pytest.fixture(scope="module")
def anonymised_pdf(p001):
    analysis, series, _ = p001
    return render_report(analysis, series, anonymise=True)


def test_text_says_decision_operating_point_model_hash_and_banner(p001, plain_pdf, tmp_path):
    analysis, _, _ = p001
    d = analysis.decision
    text = squeeze(pdf_text(plain_pdf, tmp_path))
    assert f"Verdict: {d.verdict}" in text
    assert f"{d.k_positive} of {d.n_kept} kept slices positive" in text
    assert f"Patient fraction f = {d.params.patient_fraction:g}" in text
    assert f"slice cut-off {d.params.slice_cutoff:g}" in text
    assert "paper, f = 0 " in text and "paper, f = 0.1 " in text
    assert analysis.model.sha256 in text
    assert f"{RESEARCH_ONLY.upper()}. This result" in text  # the banner
    assert text.count(RESEARCH_ONLY.capitalize()) == text.count("Page ")  # each page's footer
    assert "must be confirmed by a radiologist" in text
    assert "doi:10.1101/2020.06.08.20121541" in text
    assert "Reporting radiologist" in text and "kept 90 of 148 slices" in text
    assert "other pneumonias" in text and "severe involvement is underestimated" in text
    assert analysis.model.verdict_caveat() in text  # under the verdict, as in the viewer
    assert SeverityScale().bands_text() in text  # the zone score's bands as the score counts them


def test_the_paper_rows_stay_at_the_papers_operating_points(p001, tmp_path):
    """At cut-off 0.0002 a few P001 slices are positive and this report (f = 0) reads COVID-19; the
    rows named after the paper keep its slice cut-off 0.5, where the tiny model finds no slice."""
    analysis, series, _ = p001
    analysis = analysis.redecide(DecisionParams(0.0002, 0.0))
    assert analysis.decision.covid and analysis.decision.k_positive <= 0.1 * analysis.decision.n_kept
    text = squeeze(pdf_text(render_report(analysis, series), tmp_path))
    k, n = analysis.decision.k_positive, analysis.decision.n_kept
    assert f"this report 0.0002 0 k > 0, at least one slice {k} of {n} COVID-19" in text
    for f in PAPER_FRACTIONS:
        point = DecisionParams(PAPER_SLICE_CUTOFF, f)
        paper = analysis.redecide(point).decision
        assert not paper.covid  # the tiny model's P(COVID) are all tiny
        assert f"paper, f = {f:g} 0.5 {f:g} {point.rule()} {paper.k_positive} of {n} normal" in text
    assert text.count("Grad-CAM / its slice maximum") == min(k, 4)


def test_key_images_draw_the_cam_inside_the_body_and_nothing_on_a_slice_below_the_cutoff(p001):
    analysis, series, _ = p001
    outlined = analysis
    analysis = dataclasses.replace(analysis, quantification=None)  # no outlines: the CAM alone
    hot = np.where(analysis.selection.kept, 0.9, analysis.p_covid)  # the tiny model's P(COVID) are all tiny
    positive = dataclasses.replace(analysis, p_covid=hot).redecide(DecisionParams(0.5, 0.1))
    drawn = 0
    for image in key_images(positive, series.hu):
        assert image.positive
        outside = ~body_mask(series.hu[image.index])
        assert (image.overlay[outside] == image.plain[outside][:, None]).all()
        drawn += int((image.overlay[~outside] != image.plain[~outside][:, None]).any())
    assert drawn > 0
    (cold,) = key_images(analysis.redecide(DecisionParams(0.99, 0.1)), series.hu)
    assert not cold.positive and (cold.overlay == cold.plain[..., None]).all()
    # with the quantification, the lung contour is drawn on every key image (light blue)
    assert outlined.quantification is not None
    (cold,) = key_images(outlined.redecide(DecisionParams(0.99, 0.1)), series.hu)
    assert (cold.overlay == LUNG_CONTOURS.colours[1]).all(axis=-1).sum() > 100


def test_measurements_are_listed_only_when_the_reader_made_some(p001, plain_pdf, tmp_path):
    analysis, series, _ = p001
    assert "Measurements" not in squeeze(pdf_text(plain_pdf, tmp_path))
    records = [
        MeasurementRecord(95, "ellipse", "mean -585 ± 379 HU (min -1024, max 109), area 1163.9 mm²"),
        MeasurementRecord(40, "distance", "142.1 mm"),
    ]
    text = squeeze(pdf_text(render_report(analysis, series, measurements=records), tmp_path))
    assert "Measurements" in text and "Measured by the reader in the viewer" in text
    position = f"{analysis.positions_mm[40]:.1f}"
    assert f"41 {position} distance 142.1 mm" in text  # sorted by slice
    assert "96" in text and "mean -585 ± 379 HU (min -1024, max 109), area 1163.9 mm²" in text
    assert "distances in mm from the pixel spacing" in text


def test_measurements_without_a_stated_pixel_size_are_said_to_be_in_pixels(p001, tmp_path):
    """The section said "distances in mm from the pixel spacing" where 1 mm was only assumed."""
    analysis, series, _ = p001
    unstated = dataclasses.replace(
        analysis, series=dataclasses.replace(analysis.series, pixel_spacing_stated=False)
    )
    records = [MeasurementRecord(40, "distance", "128.0 pixels (pixel size not stated)")]
    text = squeeze(pdf_text(render_report(unstated, series, measurements=records), tmp_path))
    assert "the files state no pixel size, so distances and areas are in pixels, not mm" in text
    assert "distances in mm from the pixel spacing" not in text


def test_every_page_has_the_patient_line_and_its_number(p001, plain_pdf, tmp_path):
    _, series, _ = p001
    pages = pdf_text(plain_pdf, tmp_path).split("\f")[:-1]
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"ID {series.metadata.patient_id}" in page
        assert f"Page {number} of {len(pages)}" in page


def identifier_values(folder) -> dict[str, str]:
    """The non-trivial identifier values of the series' first file (4 characters or more)."""
    dataset = pydicom.dcmread(sorted(folder.glob("*.dcm"))[0], stop_before_pixels=True)
    values = {}
    for keyword in IDENTIFIERS:
        value = str(dataset.get(keyword, "") or "").strip()
        if len(value) >= 4:
            values[keyword] = value
    return values


def test_anonymised_report_holds_no_identifier(p001, plain_pdf, anonymised_pdf, tmp_path):
    _, _, folder = p001
    values = identifier_values(folder)
    assert {"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "StudyDate"} <= set(values)
    anonymised = pdf_text(anonymised_pdf, tmp_path)
    plain = pdf_text(plain_pdf, tmp_path)
    spaced, flat = squeeze(anonymised), re.sub(r"\s+", "", anonymised)
    assert "anonymised report" in spaced and "ANON-" in spaced
    assert values["PatientID"] in plain  # the check below would see an identifier
    for keyword, value in values.items():
        forms = {squeeze(value), value.replace("^", " ")}
        if keyword.endswith("Date") and len(value) == 8:
            forms.add(f"{value[:4]}-{value[4:6]}-{value[6:]}")
        if keyword == "PatientAge":
            forms.add(f"{int(value[:3])} years")
        for form in forms:
            assert form not in spaced, f"{keyword} {form!r} is in the anonymised report"
            if len(form) >= 10:
                assert re.sub(r"\s+", "", form) not in flat, f"{keyword} {form!r} is in the anonymised report"
    assert str(folder) not in spaced
    for page in anonymised.split("\f")[:-1]:
        assert "anonymised report" in page


def test_positions_assumed_from_the_file_order_say_so(p001, tmp_path):
    """A TIFF folder states no slice positions: every position the report shows says it is assumed
    (the slice tables, the key images' captions, the charts' axis); P001's do not."""
    from tests.dicomout.unusable import tiff_folder

    series = load(discover(tiff_folder(tmp_path / "tiff")).series[0])
    assert not series.positions_stated
    analysis = analyse(series, load_model(provider="cpu"), AnalysisOptions(quantify=False))
    assert not SeriesRecord.from_dict(analysis.series.to_dict()).positions_stated
    text = squeeze(pdf_text(render_report(analysis, series), tmp_path))
    assert "(mm, assumed)" in text and "Position (mm) " not in text  # the slice table's header
    assert re.search(r"Slice \d+ of \d+, position -?\d+\.\d mm \(assumed\)", text)
    assert "slice position (mm, assumed from the file order)" in text
    plain = squeeze(pdf_text(render_report(*p001[:2]), tmp_path))
    assert "assumed" not in plain.replace("(assumed: the files state no pixel size)", "")


def test_identifiers_are_withheld_in_any_case():
    """A surname in the scanner's free-text model name, written otherwise than in PatientName."""
    from lunglens.report.identity import scrub

    assert scrub("Abercrombie CT 5000, kernel K-pid98765", ["ABERCROMBIE", "PID98765"]) == (
        "(withheld) CT 5000, kernel K-(withheld)"
    )


@pytest.mark.parametrize(
    ("patient_name", "scanner", "withheld"),
    [
        ("Lee^Ann", "SIEMENS LEE Scope Ann, kernel D40s-LEE; SLEEP mode", "SIEMENS (withheld) Scope (withheld), "
         "kernel D40s-(withheld); SLEEP mode"),
        ("Yamada^Tarou=山田^太郎", "Scope Tarou, kernel 山田 D40s", "Scope (withheld), kernel (withheld) D40s"),
    ],
    ids=["three-letter parts", "name groups"],
)  # fmt: skip
def test_short_parts_of_the_patients_name_are_withheld_where_they_stand_as_words(
    patient_name, scanner, withheld
):
    """Short surnames (Lee, Kim, Ali) and the ideographic group of a name (after "=") reached
    the anonymised scanner fields; a short part inside a word ("SLEEP") is no name."""
    from types import SimpleNamespace

    from lunglens.io import SeriesMetadata
    from lunglens.report.identity import identifying_strings, scrub

    series = SimpleNamespace(
        metadata=SeriesMetadata(patient_name=patient_name),
        ref=SimpleNamespace(key="1.2.3", description="", frames=(), skipped_beside=()),
    )
    assert scrub(scanner, identifying_strings(series)) == withheld


def test_same_input_same_bytes_apart_from_the_date(p001, plain_pdf, tmp_path):
    analysis, series, _ = p001
    assert render_report(analysis, series) == plain_pdf
    later = dataclasses.replace(analysis, created="2025-01-02T03:04:05+00:00")
    other = render_report(later, series)
    assert other != plain_pdf
    assert b"/CreationDate (D:20250102030405+00'00')" in other
    text, other_text = pdf_text(plain_pdf, tmp_path), pdf_text(other, tmp_path)
    assert other_text == text.replace("2024-05-01T10:00:00+00:00", "2025-01-02T03:04:05+00:00")


def test_key_images_are_captioned_and_described_in_one_wording(p001, plain_pdf, tmp_path, monkeypatch):
    """The caption says the viewer's call ("negative", not "not positive") and how the Grad-CAM is
    drawn follows the overlay style."""
    analysis, series, _ = p001
    (key,) = key_images(analysis, series.hu)
    caption = images.key_image_caption(key, analysis.n_slices, 0.5)
    assert "(negative at cut-off 0.5, no Grad-CAM drawn)" in caption
    text = squeeze(pdf_text(plain_pdf, tmp_path))
    assert caption in text and images.cam_description() in text
    assert "times the slice's P(COVID), none on a slice below the cut-off" in images.cam_description()
    plain = dataclasses.replace(images.OVERLAY_STYLE, follow_p_covid=False, hide_below_cutoff=False)
    monkeypatch.setattr(images, "OVERLAY_STYLE", plain)
    assert "P(COVID)" not in images.cam_description() and "cut-off" not in images.cam_description()
    assert "no Grad-CAM drawn" not in images.key_image_caption(key, analysis.n_slices, 0.5)


def test_a_slice_is_shown_when_none_is_positive(p001):
    analysis, _, _ = p001
    assert analysis.decision.k_positive == 0
    (index,) = key_slices(analysis)
    kept = np.flatnonzero(analysis.selection.kept)
    assert index == kept[np.argmax(analysis.p_covid[kept])]


def test_write_report_is_atomic(p001, tmp_path, monkeypatch):
    analysis, series, _ = p001
    target = tmp_path / "p001.pdf"
    write_report(analysis, series, target)
    assert target.read_bytes().startswith(b"%PDF") and not list(tmp_path.glob(".*part"))

    def failing(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr("lunglens.report.export.render_report", failing)
    with pytest.raises(RuntimeError):
        write_report(analysis, series, tmp_path / "other.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p001.pdf"]


def test_unwritable_destination_names_the_file(p001, tmp_path):
    """A folder in the way of the file (any user, root included): a WriteError naming it, and
    no temporary file left behind."""
    analysis, series, _ = p001
    target = tmp_path / "in-the-way.pdf"
    target.mkdir()
    with pytest.raises(WriteError, match=re.escape(str(target))):
        write_report(analysis, series, target)
    assert [p.name for p in tmp_path.iterdir()] == ["in-the-way.pdf"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_gives_a_clear_error(p001, tmp_path):
    analysis, series, _ = p001
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WriteError, match=re.escape(str(folder / "p001.pdf")) + ".*cannot write there"):
            write_report(analysis, series, folder / "p001.pdf")
        assert not list(folder.iterdir())
    finally:
        folder.chmod(0o755)


def test_cli_writes_the_report_and_reports_an_unwritable_one(covid_ct_md, tmp_path):
    card = write_tiny_model(tmp_path / "m")
    out = tmp_path / "p001.pdf"
    command = [sys.executable, "-m", "lunglens", "analyze", str(covid_ct_md / "P001"), "--model", str(card),
               "--lesion-method", "hu_bands"]  # fmt: skip
    result = subprocess.run([*command, "--report", str(out), "--anonymise"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "anonymised report" in squeeze(pdf_text(out.read_bytes(), tmp_path))
    (tmp_path / "dir.pdf").mkdir()
    result = subprocess.run([*command, "--report", str(tmp_path / "dir.pdf")], capture_output=True, text=True)
    assert result.returncode != 0 and "dir.pdf: is a folder, not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def _edge_letters(pdf: bytes, tmp_path) -> list[tuple[str, float, float]]:
    """(letters, x centre, y centre from the page top) of every word of one to three of the
    direction letters R, L, A, P, S, I on the page that opens the key images, from poppler's
    bounding boxes."""
    path = tmp_path / "letters.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        [pdftotext(), "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    (page,) = [page for page in html.split("<page ") if re.search(r">Key</word>\s*<word[^>]*>images<", page)]
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([RLAPSI]{1,3})</word>', page
    )
    return [(w[4], (float(w[0]) + float(w[2])) / 2, (float(w[1]) + float(w[3])) / 2) for w in words]


def _framed_letters(letters) -> list[tuple[str, str, str, str]]:
    """(left, right, top, bottom) letters of each image: an R or L with the nearest R or L to its
    right on the same line, and the nearest letters above and below the middle between them."""

    images = []
    for left in letters:
        right = [b for b in letters if b[0] in "RL" and abs(b[2] - left[2]) < 1 and b[1] > left[1]]
        if left[0] not in "RL" or not right:
            continue
        right = min(right, key=lambda b: b[1])
        middle = (left[1] + right[1]) / 2
        column = [c for c in letters if abs(c[1] - middle) < 1]
        above = [c for c in column if c[2] < left[2]]
        below = [c for c in column if c[2] > left[2]]
        if not (above and below):  # between two images
            continue
        images.append(
            (
                left[0],
                right[0],
                max(above, key=lambda c: c[2])[0],
                min(below, key=lambda c: c[2])[0],
            )
        )
    return images


def test_key_images_carry_the_patients_directions_from_the_files_orientation(p001, tmp_path):
    """The key images are drawn as stored, so their edge letters come from ImageOrientationPatient:
    R left and A top for P001; P top for the same slices stored with their rows reversed; none
    where the files state no orientation, and the text says which."""
    analysis, series, _ = p001
    n_images = len(key_slices(analysis))
    framed = _framed_letters(_edge_letters(render_report(analysis, series), tmp_path))
    assert framed == [("R", "L", "A", "P")] * (2 * n_images)  # each slice plain and with its CAM

    cosines = series.orientation_cosines
    rows_reversed = dataclasses.replace(
        series, hu=series.hu[:, ::-1], orientation_cosines=(*cosines[:3], *(-c for c in cosines[3:]))
    )
    framed = _framed_letters(_edge_letters(render_report(analysis, rows_reversed), tmp_path))
    assert framed == [("R", "L", "P", "A")] * (2 * n_images)

    tilt = np.radians(15)  # a tilted gantry: still axial, the top edge anterior and superior
    tilted = dataclasses.replace(series, orientation_cosines=(1, 0, 0, 0, np.cos(tilt), -np.sin(tilt)))
    pdf = render_report(analysis, tilted)
    assert _framed_letters(_edge_letters(pdf, tmp_path)) == [("R", "L", "AS", "PI")] * (2 * n_images)
    assert "S superior, I inferior" in squeeze(pdf_text(pdf, tmp_path))

    unstated = dataclasses.replace(series, orientation_cosines=None)
    pdf = render_report(analysis, unstated)
    assert _framed_letters(_edge_letters(pdf, tmp_path)) == []
    assert "The files state no orientation: the slices are shown as stored" in squeeze(
        pdf_text(pdf, tmp_path)
    )


def test_key_images_are_drawn_in_true_proportion(p001):
    """Pixels twice as tall as wide give a key image twice as tall as wide, fitted to the column."""
    analysis, series, _ = p001
    images = key_images(analysis, series.hu)
    flowables = sections.key_images(images, analysis.n_slices, 0.5, 400.0, None, (1.4, 0.7))
    pictures = [
        cell
        for flowable in flowables
        for table in getattr(flowable, "_content", [flowable])
        for row in getattr(table, "_cellvalues", [])
        for cell in row
        if isinstance(cell, sections.Picture)
    ]
    assert len(pictures) == 2 * len(images)
    side = (400.0 - 8) / 2
    for picture in pictures:
        assert picture.height == pytest.approx(side) and picture.width == pytest.approx(side / 2)


def test_the_selector_region_is_said_in_the_selectors_reference_size(p001, monkeypatch):
    """The region and the limitation name the selector's reference image size, not a copy of it."""
    analysis, _, _ = p001
    monkeypatch.setattr(sections, "REFERENCE_SIZE", 640)
    selector_text = " ".join(f.getPlainText() for f in sections.selector(analysis, 400.0)[0]._content[:2])
    assert "of a 640 x 640 image" in selector_text
    assert "(scaled to this series' 512 x 512 pixels)" in selector_text  # P001 is 512 x 512
    assert "designed for 640 x 640 axial chest CT" in sections.limitations(analysis)[2].getPlainText()


def test_an_unquantified_analysis_says_the_quantification_was_not_run(p001):
    """Without a quantification the report says it was not run; a result of an earlier LungLens,
    which kept an analysis of a series without lung, says why it has none (its series warning)."""
    analysis, _, _ = p001
    unquantified = dataclasses.replace(analysis, quantification=None)
    (_, said) = sections.quantification(unquantified, 400.0)
    assert said.getPlainText() == "The quantification was not run for this analysis."
    earlier = dataclasses.replace(analysis.series, warnings=("no quantification: no lung found (12 mL)",))
    (_, said) = sections.quantification(dataclasses.replace(unquantified, series=earlier), 400.0)
    assert said.getPlainText() == "no quantification: no lung found (12 mL)"
