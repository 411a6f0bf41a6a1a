"""The viewer's readouts as plain text, without Qt: corner texts, the selector's banner, the slice
strip's hover text, the decision panel's lines, the model and analysis status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lunglens.analysis import readout
from lunglens.core.decision import DecisionParams, decide
from lunglens.core.selector import Selection, SelectorParams
from lunglens.core.windowing import Window
from lunglens.io import Series, SeriesMetadata, SeriesRef

REF = SeriesRef(
    key="1.2.3",
    source_format="dicom",
    frames=tuple((Path(f"s/{i}.dcm"), None) for i in range(4)),
    modality="CT",
    orientation="axial",
    rows=8,
    columns=8,
    pixel_spacing_mm=(0.7, 0.7),
    slice_thickness_mm=2.0,
    description="Chest 2.0 mm",
)
META = SeriesMetadata(patient_name="DOE^JANE", patient_id="P123", patient_sex="F", study_date="20200301")
SERIES = Series(
    ref=REF,
    hu=np.zeros((4, 8, 8), np.int16),
    positions_mm=np.array([10.0, 8.0, 6.0, 4.0]),
    pixel_spacing_mm=(0.7, 0.7),
    slice_spacing_mm=2.0,
    metadata=META,
    source_paths=tuple(p for p, _ in REF.frames),
)
SELECTION = Selection(
    dark_pixel_counts=np.array([3, 900, 950, 10]),
    threshold=631.0,
    kept=np.array([False, True, True, False]),
    params=SelectorParams(),
)


def analysis_with(p_covid, quantification=None):
    """What the readouts read of an analysis: the per-slice P(COVID), the decision (cut-off 0.5)
    and the quantification's per-slice affected %."""
    p_covid = np.asarray(p_covid, float)
    decision = decide(p_covid, SELECTION.kept, DecisionParams(0.5, 0.0))
    return SimpleNamespace(
        p_covid=p_covid, classified=~np.isnan(p_covid), decision=decision, quantification=quantification
    )


def test_header_names_patient_study_and_series_once_loaded():
    assert readout.header(REF, None) == "Chest 2.0 mm\n(loading…)"
    assert readout.header(REF, SERIES) == "DOE^JANE · P123 · F\n20200301\nChest 2.0 mm"
    nameless = replace(SERIES, metadata=SeriesMetadata())
    assert readout.header(REF, nameless) == "(no patient name)\nChest 2.0 mm"


def test_window_text():
    assert readout.window_text(Window("Lung", 1500, -600)) == "Lung\nW 1500 / L -600"


@pytest.mark.parametrize(
    ("i", "series", "p_covid", "expected"),
    [
        (0, None, None, "Slice 1 / 4"),
        (1, SERIES, None, "Slice 2 / 4\nPosition 8.0 mm"),
        (1, SERIES, [np.nan, 0.73, 0.2, np.nan], "Slice 2 / 4\nPosition 8.0 mm\nP(COVID) 0.73 — positive"),
        (2, SERIES, [np.nan, 0.73, 0.2, np.nan], "Slice 3 / 4\nPosition 6.0 mm\nP(COVID) 0.20 — negative"),
        (0, SERIES, [np.nan, 0.73, 0.2, np.nan], "Slice 1 / 4\nPosition 10.0 mm"),
        (1, replace(SERIES, positions_stated=False), None, "Slice 2 / 4\nPosition 8.0 mm (assumed)"),
    ],
)
def test_slice_text(i, series, p_covid, expected):
    analysis = None if p_covid is None else analysis_with(p_covid)
    assert readout.slice_text(i, 4, series, analysis) == expected


def test_banner_only_over_discarded_slices():
    assert (
        readout.banner(0, SELECTION)
        == "Discarded by the lung-open selector (fewer dark pixels than the series' threshold): not in the decision"
    )
    assert readout.banner(1, SELECTION) == ""
    assert readout.banner(0, None) == ""
    assert "3 dark" in readout.banner_details(0, SELECTION) and "631" in readout.banner_details(0, SELECTION)
    assert readout.banner_details(1, SELECTION) == ""


def test_slice_tooltip():
    analysis = analysis_with([np.nan, 0.73, 0.2, np.nan])
    assert readout.slice_tooltip(3, 4, None, None) == "Slice 4 of 4\n(loading)"
    assert readout.slice_tooltip(0, 1, None, None, loading=False).endswith(
        "no slice selection for this series"
    )
    assert readout.slice_tooltip(3, 4, SELECTION, analysis) == (
        "Slice 4 of 4\ndiscarded by the selector\ndark pixels 10 <= threshold 631\nnot classified"
    )
    assert readout.slice_tooltip(1, 4, SELECTION, analysis).endswith(
        "kept by the selector\ndark pixels 900 > threshold 631\nP(COVID) 0.730 — positive"
    )
    quantified = analysis_with(
        [np.nan, 0.73, 0.2, np.nan], SimpleNamespace(slices=(None, 12.34, 0.0, 0.04), method="hu_bands")
    )
    assert readout.slice_tooltip(3, 4, SELECTION, quantified).endswith(
        "<0.1 % of this slice's lung affected (hu_bands estimate)"  # not "0.0 %": there is some
    )
    assert readout.slice_tooltip(1, 4, SELECTION, quantified).endswith(
        "P(COVID) 0.730 — positive\n12.3 % of this slice's lung affected (hu_bands estimate)"
    )
    assert readout.slice_tooltip(0, 4, SELECTION, quantified).endswith("no lung found on this slice")


def test_decision_lines():
    params = DecisionParams(slice_cutoff=0.5, patient_fraction=0.1)
    decision = decide(np.array([np.nan, 0.73, 0.2, np.nan]), SELECTION.kept, params)
    assert readout.decision_count(decision) == "1 of 2 kept slices positive (COVID-19 when k > 0.1 × n = 0.2)"
    assert readout.fraction_label(params) == "Patient fraction f = 0.1 — COVID-19 when k > 0.1 × n"
    assert readout.cutoff_label(params) == "Slice cut-off — positive when P(COVID) ≥ 0.5"
    assert readout.flips((), ()) == ""
    assert readout.flips((0, 2), (5,)) == "Flipped since the move began — now positive: 1, 3; now negative: 6"
    assert readout.flips(tuple(range(14)), ()).endswith("12 (+2 more)")


def test_model_and_analysis_status():
    card = SimpleNamespace(name="demo", version="1.0.0")
    provider = SimpleNamespace(describe=lambda: "CPU — no GPU")
    assert (
        readout.model_status(SimpleNamespace(card=card, provider=provider))
        == "Model: demo 1.0.0 · CPU — no GPU"
    )
    assert readout.model_status(None) == "Model: loading…"
    assert readout.model_status(None, "card not found") == "Model: none (see Analysis)"
    done = SimpleNamespace(
        timings_s={"classify": 2.0, "decide": 0.5},
        classified=np.array([True, True, False]),
        provider=SimpleNamespace(label="CPU"),
    )
    assert readout.analysis_done(done) == "Analysed in 2.5 s on CPU: 2 slices classified in 2.0 s"
    done.timings_s = {"load": 9.0, "select": 0.1, "classify": 2.0, "quantify": 6.0, "decide": 0.01}
    assert readout.analysis_done(done) == (
        "Analysed in 17.1 s on CPU: 2 slices classified in 2.0 s, quantified in 6.0 s"
    )
    assert readout.timings_text(done) == (  # the CLI's and the PDF's line: the same total
        "17.11 s (load 9.00 s, select 0.10 s, classify 2.00 s, quantify 6.00 s, decide 0.01 s)"
    )
