"""DICOM results on a real series (COVID-CT-MD P001, tiny contract model): every object passes
dciodvfy without errors, reads back with highdicom, lives in the source study as a new series
and refers to source instances that exist; the SR carries the decision, the kept slices'
P(COVID), the algorithm's identity and the quantification; the SEG holds the quantification's
masks; anonymised output names nobody and no source UID. Results are built and written as
`lunglens analyze --dicom-out` does (`build_dicom_results`, `save_results`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import tifffile
from highdicom.sr.utils import find_content_items
from pydicom.sr.codedict import codes

from lunglens import RESEARCH_ONLY
from lunglens.analysis import AnalysisOptions, analyse
from lunglens.dicomout import DicomOutError, build_dicom_results, save_results, sc
from lunglens.dicomout import identity as ids
from lunglens.dicomout.facts import result_facts
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.quant.summary import NOT_COVID_SPECIFIC
from lunglens.quant.zones import ZONE_NAMES
from lunglens.report import images
from lunglens.report.images import cam_description, key_image_caption, key_images
from tests.dicomout.validate import dciodvfy_errors
from tests.report.test_report import IDENTIFIERS
from tests.tiny_model import write_tiny_model


def write(analysis, series, out: Path, anonymise: bool = False) -> list[Path]:
    """The DICOM results of `analysis` written into `out`, as `lunglens analyze --dicom-out` does."""
    return save_results(build_dicom_results(analysis, series, anonymise=anonymise), series, out)


@pytest.fixture(scope="module")
def p001(covid_ct_md, tmp_path_factory):
    folder = covid_ct_md / "P001"
    (ref,) = discover(folder).analysable
    series = load(ref)
    model = load_model(write_tiny_model(tmp_path_factory.mktemp("model")), provider="cpu")
    analysis = dataclasses.replace(analyse(series, model), created="2024-05-01T10:00:00+00:00")
    return analysis, series, folder


@pytest.fixture(scope="module")
def written(p001, tmp_path_factory):
    """The results of P001 (quantified, with its masks) written to a folder, and the masks."""
    analysis, series, _ = p001
    paths = write(analysis, series, tmp_path_factory.mktemp("dicom-out"))
    masks = analysis.quantification.masks
    return {p.name: p for p in paths}, masks.lung_labels(), masks.lesion_classes()


@pytest.fixture(scope="module")
def sources(p001):
    """Source headers of P001 by SOP Instance UID."""
    _, series, _ = p001
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.source_paths]
    return {h.SOPInstanceUID: h for h in headers}


def test_writes_sr_seg_key_images_and_pdf(written):
    names = set(written[0])
    assert {"lunglens-sr.dcm", "lunglens-seg.dcm", "lunglens-report-pdf.dcm"} <= names
    assert any(name.startswith("lunglens-key-") for name in names)


def test_every_object_passes_dciodvfy(written):
    for name, path in written[0].items():
        assert dciodvfy_errors(path) == [], name


def test_objects_join_the_source_study_as_new_research_series(written, sources):
    source = next(iter(sources.values()))
    series_uids = set()
    for path in written[0].values():
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert RESEARCH_ONLY in ds.SeriesDescription
        series_uids.add(ds.SeriesInstanceUID)
    assert len(series_uids) == 4  # SR, SEG, key images, PDF
    # in the same words wherever an object describes itself
    assert RESEARCH_ONLY in pydicom.dcmread(written[0]["lunglens-seg.dcm"]).ContentDescription
    assert RESEARCH_ONLY in pydicom.dcmread(written[0]["lunglens-report-pdf.dcm"]).DocumentTitle
    assert pydicom.dcmread(written[0]["lunglens-key-01.dcm"]).ImageComments.endswith(f"; {RESEARCH_ONLY}")


def test_every_series_carries_the_study_description(written, sources):
    """The key images too (highdicom's secondary capture copies no Study Description), so a PACS
    lists all four result series under the study's description."""
    source = next(iter(sources.values()))
    assert source.StudyDescription
    for name, path in written[0].items():
        assert pydicom.dcmread(path).StudyDescription == source.StudyDescription, name


def numbers(sr, concept) -> list[float]:
    items = find_content_items(sr, name=concept, value_type=hd.sr.ValueTypeValues.NUM, recursive=True)
    return [float(item.MeasuredValueSequence[0].NumericValue) for item in items]


def test_sr_carries_the_decision_per_slice_p_covid_and_the_algorithm(p001, written, sources):
    analysis, _, _ = p001
    sr = hd.sr.srread(written[0]["lunglens-sr.dcm"])
    d = analysis.decision
    assert sr.VerificationFlag == "UNVERIFIED"
    assert numbers(sr, ids.POSITIVE_SLICES) == [d.k_positive]
    assert numbers(sr, ids.KEPT_SLICES) == [d.n_kept]
    assert numbers(sr, ids.PATIENT_FRACTION) == [pytest.approx(d.params.patient_fraction)]
    assert numbers(sr, ids.SLICE_CUTOFF) == [pytest.approx(d.params.slice_cutoff)]
    (verdict,) = find_content_items(sr, name=ids.PATIENT_DECISION, recursive=True)
    assert verdict.ConceptCodeSequence[0].CodeValue == (ids.PRESENT if d.covid else ids.ABSENT).value
    kept = np.flatnonzero(analysis.selection.kept & analysis.classified)
    assert numbers(sr, ids.SLICE_P_COVID) == pytest.approx(analysis.p_covid[kept], abs=1e-6)
    texts = [
        item.TextValue
        for item in find_content_items(sr, value_type=hd.sr.ValueTypeValues.TEXT, recursive=True)
    ]
    assert analysis.model.name in texts and analysis.model.version in texts
    assert f"sha256 {analysis.model.sha256}" in texts
    assert f"LungLens {analysis.versions['lunglens']}" in texts
    assert any(d.summary().replace("×", "x") in t for t in texts)
    (equipment,) = [e for e in sr.ContributingEquipmentSequence if e.Manufacturer == ids.MANUFACTURER]
    assert analysis.model.sha256 in equipment.ContributionDescription
    assert analysis.model.name in equipment.ManufacturerModelName


def test_sr_references_resolve_to_source_instances(written, sources):
    sr = hd.sr.srread(written[0]["lunglens-sr.dcm"])
    images = find_content_items(sr, value_type=hd.sr.ValueTypeValues.IMAGE, recursive=True)
    referenced = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in images}
    assert referenced and referenced <= set(sources)
    evidence = {
        instance.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for instance in series.ReferencedSOPSequence
    }
    assert referenced <= evidence <= set(sources)


def test_sr_carries_the_quantification(p001, written):
    sr = hd.sr.srread(written[0]["lunglens-sr.dcm"])
    q = p001[0].quantification
    assert numbers(sr, ids.SEVERITY_SCORE) == [q.severity_score]
    # two lungs, six zones and the total, each with the five quantities
    assert len(numbers(sr, ids.LUNG_VOLUME)) == 9
    volumes = [q.lungs["right"], q.lungs["left"], *(q.zones[name] for name in ZONE_NAMES), q.total]
    assert numbers(sr, ids.AFFECTED_PERCENT) == pytest.approx([r.affected_percent for r in volumes])
    sites = find_content_items(sr, name=codes.SCT.FindingSite, recursive=True)
    assert {s.ConceptCodeSequence[0].CodeValue for s in sites} >= {codes.SCT.Lung.value}


def test_sr_without_quantification_has_no_quantification_items(p001):
    analysis, series, _ = p001
    analysis = dataclasses.replace(analysis, quantification=None)
    results = build_dicom_results(analysis, series, pdf_bytes=b"%PDF-1.4")
    (sr,) = [r.dataset for r in results if r.name == "lunglens-sr.dcm"]
    assert numbers(sr, ids.SEVERITY_SCORE) == []
    assert numbers(sr, ids.POSITIVE_SLICES) == [analysis.decision.k_positive]


def test_seg_holds_the_label_volumes_on_the_source_slices(p001, written, sources):
    _, series, _ = p001
    paths, lungs, lesions = written
    seg = hd.seg.segread(paths["lunglens-seg.dcm"])
    assert [seg.get_segment_description(n).segment_label for n in (1, 2, 3, 4)] == [
        "Right lung",
        "Left lung",
        "Ground glass",
        "Consolidation",
    ]
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in series.source_paths]
    assert {uid for _, _, uid in seg.get_source_image_uids()} <= set(sources)
    for index in (40, 75, 110):
        masks = seg.get_pixels_by_source_instance([uids[index]], segment_numbers=[1, 2, 3, 4])[0]
        assert np.array_equal(masks[..., 0], lungs[index] == 1)
        assert np.array_equal(masks[..., 1], lungs[index] == 2)
        assert np.array_equal(masks[..., 2], lesions[index] == 1)
        assert np.array_equal(masks[..., 3], lesions[index] == 2)


def test_the_analysis_own_quantification_gives_the_seg_and_the_sr_items(p001, written):
    analysis, _, _ = p001
    results = {
        "lunglens-sr.dcm": hd.sr.srread(written[0]["lunglens-sr.dcm"]),
        "lunglens-seg.dcm": pydicom.dcmread(written[0]["lunglens-seg.dcm"]),
    }
    q = analysis.quantification
    assert numbers(results["lunglens-sr.dcm"], ids.SEVERITY_SCORE) == [q.severity_score]
    # each zone's group holds its score beside its affected %: one per zone, the quantification's
    zones = {
        name: (numbers(group, ids.ZONE_SCORE), numbers(group, ids.AFFECTED_PERCENT))
        for name, group in _measurement_groups(results["lunglens-sr.dcm"]).items()
        if name.startswith("LungLens zone ")
    }
    assert zones == {
        f"LungLens zone {name.replace('_', ' ')}": (
            [q.zone_scores[name]],
            [pytest.approx(q.zones[name].affected_percent)],
        )
        for name in ZONE_NAMES
    }
    seg = hd.seg.Segmentation.from_dataset(results["lunglens-seg.dcm"])
    assert seg.number_of_segments == 4
    # what made the figures and what they cannot tell: the lesion method (a learned map names its
    # model), not the classifier; the PDF's caveat that they are not specific to COVID-19
    description = analysis.quantification.method_description
    texts = list(_text_values(results["lunglens-sr.dcm"]))
    assert any(description in t and NOT_COVID_SPECIFIC in t for t in texts)
    # what the score and the zones are, in the quantification's own words
    assert any(q.severity_score_name in t and q.zone_definition in t for t in texts)
    assert "LungLens quantification" in texts and description in texts
    parameters = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmParameters
    assert description[:40] in parameters


def _measurement_groups(sr) -> dict:
    """The SR's measurement groups by their tracking identifier."""
    groups = find_content_items(sr, name=codes.DCM.MeasurementGroup, recursive=True)
    return {
        str(find_content_items(group, name=codes.DCM.TrackingIdentifier)[0].TextValue): group
        for group in groups
    }


def _text_values(dataset):
    """Every TEXT content item's value, recursively through the SR content tree."""
    for item in dataset.get("ContentSequence", []):
        if "TextValue" in item:
            yield str(item.TextValue)
        yield from _text_values(item)


def test_no_seg_without_the_quantification_masks(p001):
    analysis, series, _ = p001
    unmasked = dataclasses.replace(analysis.quantification, masks=None)
    analysis = dataclasses.replace(analysis, quantification=unmasked)
    results = {r.name: r.dataset for r in build_dicom_results(analysis, series, pdf_bytes=b"%PDF-1.4")}
    assert "lunglens-seg.dcm" not in results
    assert numbers(results["lunglens-sr.dcm"], ids.SEVERITY_SCORE) == [unmasked.severity_score]


def test_key_images_are_the_reports_with_the_window_stated(p001, written, sources):
    analysis, series, _ = p001
    paths, lungs, lesions = written
    keys = key_images(analysis, series.hu)  # as the report draws them, with the masks' outlines
    unquantified = dataclasses.replace(analysis, quantification=None)
    bare = {key.index: key.overlay for key in key_images(unquantified, series.hu)}  # no outlines
    captures = sorted(name for name in paths if name.startswith("lunglens-key-"))
    assert len(captures) == len(keys)
    for key, name in zip(keys, captures, strict=True):
        ds = pydicom.dcmread(paths[name])
        assert "W 1500 / L -600 HU" in ds.DerivationDescription
        assert "ground glass" in ds.DerivationDescription
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID in sources
        assert sources[ds.SourceImageSequence[0].ReferencedSOPInstanceUID].InstanceNumber is not None
        pixels = ds.pixel_array
        assert np.array_equal(pixels, key.overlay)  # the report's overlay
        lung_contours = (pixels != bare[key.index]).any(axis=2) & (lesions[key.index] == 0)
        assert lung_contours.any() and "lung RGB" in ds.DerivationDescription  # drawn and stated
        cutoff = analysis.decision.params.slice_cutoff  # as the report's captions write it
        assert ds.ImageComments.startswith(f"{key_image_caption(key, series.n_slices, cutoff)};")
        assert f"burnt in ({cam_description()})" in ds.DerivationDescription


def test_a_demonstration_model_is_called_one_and_no_other_model_is(p001):
    """The tiny model's card says "tests only": its results call it no demonstration model; the
    same analysis by a model whose card says demonstration says so on the key images and the SR.
    (Without the quantification: its lesion method may name a demonstration model of its own.)"""
    analysis, series, _ = p001
    analysis = dataclasses.replace(analysis, quantification=None)

    def texts(analysis) -> dict[str, str]:
        """The key image's comments and the SR's texts and code meanings."""
        results = {r.name: r.dataset for r in build_dicom_results(analysis, series, pdf_bytes=b"%PDF-1.4")}
        sr = results["lunglens-sr.dcm"]
        meanings = [str(e.value) for e in sr.iterall() if e.keyword == "CodeMeaning"]
        return {
            "key image": results["lunglens-key-01.dcm"].ImageComments,
            "SR": " | ".join([*_text_values(sr), *meanings]),
        }

    assert analysis.model.intended_use == "tests only" and not analysis.model.demonstration
    for name, text in texts(analysis).items():
        assert "demonstration" not in text.lower(), name
    demonstration = dataclasses.replace(analysis.model, intended_use="Demonstration of the method only")
    shown = texts(dataclasses.replace(analysis, model=demonstration))
    assert f"model {demonstration.label};" in shown["key image"] and demonstration.label.endswith(
        "a demonstration model"
    )
    assert f"Demonstration model {demonstration.name}" in shown["SR"]


def test_key_images_say_how_the_overlay_style_draws_the_cam(p001, monkeypatch):
    """The key images' Derivation Description follows the overlay style: drawn at full strength
    on every slice, it says nothing of P(COVID) or the cut-off."""
    analysis, _, _ = p001
    facts = result_facts(analysis)
    assert "P(COVID), none on a slice below the cut-off" in sc.derivation(facts, False)
    plain = dataclasses.replace(images.OVERLAY_STYLE, follow_p_covid=False, hide_below_cutoff=False)
    monkeypatch.setattr(images, "OVERLAY_STYLE", plain)
    described = sc.derivation(facts, False)
    assert "P(COVID)" not in described and "cut-off" not in described


def test_pdf_is_the_report_encapsulated(written):
    ds = pydicom.dcmread(written[0]["lunglens-report-pdf.dcm"])
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    document = bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    assert document.startswith(b"%PDF") and document.rstrip().endswith(b"%%EOF")


TEXT_VRS = {"AE", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT"}
"""Value representations that can carry an identifier as text (numbers and UIDs cannot)."""


def test_anonymised_output_names_nobody_and_no_source_uid(p001, tmp_path, sources):
    analysis, series, folder = p001
    paths = write(analysis, series, tmp_path, anonymise=True)
    assert "lunglens-seg.dcm" in {p.name for p in paths}
    source = next(iter(sources.values()))
    values = {k: str(source.get(k, "") or "").strip() for k in IDENTIFIERS}
    values = {k: v for k, v in values.items() if len(v) >= 4}
    assert {"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "StudyDate"} <= set(values)
    forbidden = [*values.values(), *(str(uid) for uid in sources), str(folder)]
    # A short value (P001's DeviceSerialNumber is 93005) turns up by chance in the files' bytes (new
    # random UIDs, numbers, compressed streams): those are looked for in the text elements instead.
    long_values = [v for v in forbidden if len(v) >= 8]
    short_values = [v for v in forbidden if len(v) < 8]
    for path in paths:
        data = path.read_bytes()
        for value in long_values:
            assert value.encode() not in data, f"{value!r} in {path.name}"
        ds = pydicom.dcmread(path)
        texts = [str(e.value) for e in ds.iterall() if e.VR in TEXT_VRS]
        for value in short_values:
            assert not any(value in text for text in texts), f"{value!r} in {path.name}"
        assert ds.PatientID.startswith("ANON-") and ds.PatientIdentityRemoved == "YES"
        assert dciodvfy_errors(path) == [], path.name
    study_uids = {pydicom.dcmread(p).StudyInstanceUID for p in paths}
    assert len(study_uids) == 1  # one study of their own, consistently


def test_refuses_an_output_inside_the_input_folder(p001):
    analysis, series, folder = p001
    with pytest.raises(DicomOutError, match="input folder"):
        write(analysis, series, folder / "results")
    assert not (folder / "results").exists()


def test_results_never_mix_with_an_earlier_analysis_in_the_folder(p001, written, tmp_path):
    """The same results again replace each file; results without a SEG would leave the earlier SEG
    beside them, and anonymised ones (a study of their own) would sit beside another study's: refused."""
    analysis, series, _ = p001
    paths = written[0]
    out = tmp_path / "out"
    out.mkdir()
    for path in paths.values():
        (out / path.name).write_bytes(path.read_bytes())
    again = write(analysis, series, out)
    assert sorted(p.name for p in again) == sorted(paths)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DicomOutError, match="holds lunglens-seg.dcm of an earlier analysis"):
        write(dataclasses.replace(analysis, quantification=None), series, out)  # no masks: no SEG
    with pytest.raises(DicomOutError, match="of another study"):
        write(analysis, series, out, anonymise=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("name", ["P001", "normal001", "cap001"])
def test_three_real_series_pass_dciodvfy(covid_ct_md, tmp_path, name):
    (ref,) = discover(covid_ct_md / name).analysable
    series = load(ref)
    model = load_model(write_tiny_model(tmp_path / "model"), provider="cpu")
    analysis = analyse(series, model)
    paths = write(analysis, series, tmp_path / "out")
    assert len(paths) >= 3
    for path in paths:
        assert dciodvfy_errors(path) == [], path.name


def test_a_second_viewer_shows_the_decision(p001, written):
    """dcmtk's dsrdump (the SR view of a toolkit other than highdicom) shows the verdict,
    k, n, the rule, UNVERIFIED and the model."""
    dsrdump = shutil.which("dsrdump")
    if dsrdump is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("dsrdump (Debian dcmtk) missing under CI")
        pytest.skip("dsrdump (Debian dcmtk) not installed")
    analysis, _, _ = p001
    d = analysis.decision
    text = subprocess.run(
        [dsrdump, "+Pl", str(written[0]["lunglens-sr.dcm"])], capture_output=True, check=True
    ).stdout.decode("ascii")
    assert "Verification Flag   : UNVERIFIED" in text
    assert f'"Positive kept slices (k)")="{d.k_positive}' in text
    assert f'"Slices kept by the lung-open selector (n)")="{d.n_kept}' in text
    assert f"Verdict: {d.summary().replace('×', 'x')}" in text
    assert f'"{analysis.verdict_caveat()} Research use only' in text  # what the verdict cannot tell
    assert f'"Algorithm Name")="{analysis.model.name}"' in text


def copy_of_p001(covid_ct_md, folder, **attributes):
    """P001's files copied into `folder` with `attributes` set in each (keyword=value; None deletes)."""
    folder.mkdir(parents=True)
    for path in sorted((covid_ct_md / "P001").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for keyword, value in attributes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(folder / path.name)
    return folder


def analysed(folder, model_folder):
    """The series in `folder`, loaded, and its analysis (tiny model, no quantification)."""
    (ref,) = discover(folder).analysable
    series = load(ref)
    model = load_model(write_tiny_model(model_folder), provider="cpu")
    return analyse(series, model, AnalysisOptions(quantify=False)), series


def test_every_object_keeps_the_sources_character_set(covid_ct_md, tmp_path):
    """A UTF-8 source (ISO_IR 192) with a name and an ID outside Latin-1: the PDF too says the
    character set, so its patient is the source's (not 'P?-7', filed under another patient)."""
    folder = copy_of_p001(
        covid_ct_md,
        tmp_path / "utf8",
        SpecificCharacterSet="ISO_IR 192",
        PatientName="Müller^Jürgen",
        PatientID="PŁ-7",
    )
    analysis, series = analysed(folder, tmp_path / "model")
    paths = write(analysis, series, tmp_path / "out")
    assert "lunglens-report-pdf.dcm" in {p.name for p in paths}
    for path in paths:
        ds = pydicom.dcmread(path)
        assert ds.SpecificCharacterSet == "ISO_IR 192", path.name
        assert (ds.PatientID, str(ds.PatientName)) == ("PŁ-7", "Müller^Jürgen"), path.name
        assert dciodvfy_errors(path) == [], path.name


def test_pixels_with_identifying_text_are_said_so_and_never_anonymised(covid_ct_md, written, tmp_path):
    """Slices declaring BurnedInAnnotation YES: the key images (their pixels) and the PDF (its key
    images) say YES too, and anonymised results are refused before anything is written (they
    would say PatientIdentityRemoved YES over the name in the pixels). P001 says nothing: NO."""
    assert pydicom.dcmread(written[0]["lunglens-key-01.dcm"]).BurnedInAnnotation == "NO"
    folder = copy_of_p001(covid_ct_md, tmp_path / "burnt", BurnedInAnnotation="YES")
    analysis, series = analysed(folder, tmp_path / "model")
    paths = write(analysis, series, tmp_path / "out")
    shown = [p for p in paths if p.name.startswith("lunglens-key-") or p.name == "lunglens-report-pdf.dcm"]
    assert len(shown) >= 2
    for path in shown:
        assert pydicom.dcmread(path).BurnedInAnnotation == "YES", path.name
    assert dciodvfy_errors(shown[0]) == []
    with pytest.raises(DicomOutError, match=r"identifying text in the pixels \(BurnedInAnnotation YES\)"):
        write(analysis, series, tmp_path / "anonymised", anonymise=True)
    assert not (tmp_path / "anonymised").exists()


def test_a_tiff_folder_has_no_study_to_join(tmp_path):
    """COVID-CTset TIFF folders carry no DICOM study: a named refusal, not a made-up study."""
    folder = tmp_path / "SR_2"
    folder.mkdir()
    raw = np.full((512, 512), 1024 - 800, np.uint16)
    for i in range(3):
        tifffile.imwrite(folder / f"IM{i + 1:05d}.tif", raw)
    (ref,) = discover(folder).analysable
    series = load(ref)
    model = load_model(write_tiny_model(tmp_path / "model"), provider="cpu")
    analysis = analyse(series, model, AnalysisOptions(quantify=False))  # uniform slices hold no lung
    with pytest.raises(DicomOutError, match="no DICOM results for a TIFF folder"):
        write(analysis, series, tmp_path / "out")
