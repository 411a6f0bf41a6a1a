"""quantify on phantoms: the JSON schema and its round trip, monotone burden, the discarded-slices
warning, and a second lesion method plugged in through the same interface."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lunglens.quant import HUBandMethod, HUBands, NoLungFound, ProbabilityMapMethod, Quantification, quantify
from lunglens.quant.bands import HUBand
from lunglens.quant.burden import (
    QuantParams,
    classify_and_count,
    discarded_involvement_warning,
    low_score_caveat,
)
from lunglens.quant.result import CompactMasks, encode_planes
from lunglens.quant.zones import ZONE_NAMES
from lunglens.synthetic import make_phantom
from tests.quant.conftest import phantom_series

REGION_KEYS = {"volume_ml", "affected_ml", "affected_percent", "ggo_percent", "consolidation_percent"}


def small_phantom(severity: float, seed: int = 11):
    return make_phantom(n_slices=40, seed=seed, covid_severity=severity, size=256, pixel_spacing_mm=1.4)


def series_of(p, **kwargs):
    return phantom_series(p.hu, p.pixel_spacing_mm, p.slice_thickness_mm, **kwargs)


@pytest.fixture(scope="module")
def sick():
    return small_phantom(1.0)


@pytest.fixture(scope="module")
def sick_result(sick):
    return quantify(series_of(sick), kept=sick.lung_open)


def test_volumes_from_an_assumed_pixel_size_say_so(sick, sick_result):
    """Files without a pixel size (TIFF, DICOM without PixelSpacing): the mL are nominal."""
    assert not any("state no pixel size" in w for w in sick_result.warnings)
    nominal = quantify(dataclasses.replace(series_of(sick), pixel_spacing_stated=False), kept=sick.lung_open)
    assert any("volumes (mL) are nominal, not measured" in w for w in nominal.warnings)


def test_result_follows_the_issue_schema(sick, sick_result):
    data = json.loads(json.dumps(sick_result.to_dict()))
    assert data["method"] == "hu_bands"
    assert set(data["lungs"]) == {"right", "left"}
    assert tuple(data["zones"]) == ZONE_NAMES
    for region in [*data["lungs"].values(), *data["zones"].values(), data["total"]]:
        assert set(region) == REGION_KEYS
    assert data["severity_score_max"] == 30
    assert data["severity_score"] == sum(data["zone_scores"].values())
    assert 6 <= data["severity_score"] <= 30
    assert len(data["slices"]) == sick.n_slices
    assert isinstance(data["warnings"], list)
    assert "threshold estimate" in data["method_description"]
    assert "not lobes" in data["zone_definition"]


def test_json_round_trip_keeps_everything_and_the_masks(sick_result):
    text = json.dumps(sick_result.to_dict())
    back = Quantification.from_dict(json.loads(text))
    assert back == sick_result
    labels = back.masks.lung_labels()
    assert labels.shape == sick_result.masks.shape
    assert set(np.unique(labels)) <= {0, 1, 2}
    assert set(np.unique(back.masks.lesion_classes())) <= {0, 1, 2}


def test_region_figures_add_up(sick_result):
    q = sick_result
    assert q.total.volume_ml == pytest.approx(q.lungs["right"].volume_ml + q.lungs["left"].volume_ml)
    assert q.total.volume_ml == pytest.approx(sum(zone.volume_ml for zone in q.zones.values()))
    assert q.total.affected_ml == pytest.approx(sum(zone.affected_ml for zone in q.zones.values()))
    for region in [*q.lungs.values(), *q.zones.values(), q.total]:
        assert region.ggo_percent + region.consolidation_percent == pytest.approx(region.affected_percent)
        if region.volume_ml:
            assert region.affected_percent == pytest.approx(100 * region.affected_ml / region.volume_ml)


def test_slices_without_lung_have_no_percentage(sick, sick_result):
    lungless = ~sick.lung_mask.any(axis=(1, 2))
    slices = sick_result.slices
    assert lungless.any()
    assert all(slices[i] is None for i in np.flatnonzero(lungless) if i in (0, sick.n_slices - 1))
    assert sum(v is not None for v in slices) >= sick.lung_mask.any(axis=(1, 2)).sum() - 2


def test_total_affected_percent_grows_with_phantom_severity():
    totals = [
        quantify(series_of(small_phantom(severity))).total.affected_percent
        for severity in (0.0, 0.35, 0.7, 1.0)
    ]
    assert totals == sorted(totals)
    assert len(set(totals)) == 4
    assert totals[-1] > 2 * totals[0]


def test_involvement_on_discarded_slices_is_reported(sick, sick_result):
    assert not sick.lung_open.all()
    warnings = [w for w in sick_result.warnings if w.startswith("involvement on")]
    assert len(warnings) == 1
    assert "lung bases" in warnings[0]
    # true also with --all-slices, where the classifier sees them: only the decision leaves them out
    assert "the patient decision does not count these slices" in warnings[0]
    everything_kept = quantify(series_of(sick), kept=np.ones(sick.n_slices, bool))
    assert not any(w.startswith("involvement on") for w in everything_kept.warnings)


def test_discarded_involvement_is_read_from_the_per_slice_percentages():
    percent = np.array([np.nan, 40.0, 2.0, 30.0, 50.0, 20.0])  # % of each slice's lung (NaN: no lung)
    affected_ml = np.array([0.0, 5.0, 5.0, 5.0, 9.0, 0.5])  # the last is too small to count
    kept = np.array([False, False, True, True, False, False])
    warning = discarded_involvement_warning(percent, affected_ml, kept, QuantParams(), "HU-band")
    assert warning.startswith(
        "involvement on 2 slices the lung-open selector discarded (1 below the last kept slice "
        "(lung bases), 1 above the first kept slice (apices)): at least 5 % of the slice's lung "
        "affected by the HU-band estimate"
    )


def test_the_hu_band_method_describes_its_own_bands_and_opening():
    assert HUBandMethod().description.startswith(
        "threshold estimate: HU bands of Slicer's Lung CT Analyzer inside the lung mask (ground glass "
        "-750 to -400 HU, consolidation -400 to 0 HU), opened in-plane (about 4 mm square)"
    )
    bands = HUBands(ground_glass=HUBand("ground glass", -700, -300), consolidation=HUBand("dense", -300, 50))
    description = HUBandMethod(bands, opening_radius_mm=3.0).description
    assert (
        "(ground glass -700 to -300 HU, consolidation -300 to 50 HU), opened in-plane (about 6 mm"
        in description
    )
    assert "thinner than 6 mm" in description and "at or above 50 HU as vessel" in description
    assert "opened" not in HUBandMethod(opening_radius_mm=0).description.replace("not opened", "")


def test_kept_mask_must_match_the_series(sick):
    with pytest.raises(ValueError, match="kept mask"):
        quantify(series_of(sick), kept=np.ones(sick.n_slices + 1, bool))


def test_a_learned_map_plugs_in_through_the_same_interface(sick):
    """An oracle probability map (the phantom's lesion mask) in place of the learned one: the
    affected volume is the lesion volume inside the lung mask, split by HU into ground glass and
    consolidation. (How much lesion the lung mask holds is tested in test_lungs.)"""
    truth = sick.lesion_mask.astype(np.float32)
    method = ProbabilityMapMethod(
        probability=lambda hu, labels, voxel_mm, cancel: truth, name="oracle", description="test oracle"
    )
    q = quantify(series_of(sick), method=method)
    assert q.method == "oracle"
    voxel_ml = sick.pixel_spacing_mm**2 * sick.slice_thickness_mm / 1000.0
    lesion_in_lung = sick.lesion_mask & (q.masks.lung_labels() > 0)
    assert q.total.affected_ml == pytest.approx(np.count_nonzero(lesion_in_lung) * voxel_ml)
    assert np.array_equal(q.masks.lesion_classes() > 0, lesion_in_lung)
    assert q.total.consolidation_percent > 0 and q.total.ggo_percent > 0
    hu_bands = quantify(series_of(sick), method=HUBandMethod())
    assert hu_bands.total.affected_ml != q.total.affected_ml


def test_a_probability_map_of_the_wrong_shape_is_refused(sick):
    method = ProbabilityMapMethod(
        probability=lambda hu, labels, voxel_mm, cancel: np.zeros(3), name="bad", description=""
    )
    with pytest.raises(ValueError, match="does not match"):
        quantify(series_of(sick), method=method)


def test_no_lung_is_a_named_error_through_quantify(sick):
    below = np.flatnonzero(~sick.lung_mask.any(axis=(1, 2)))
    below = below[below > sick.n_slices // 2]
    with pytest.raises(NoLungFound, match="^phantom: no lung found"):
        quantify(phantom_series(sick.hu[below], sick.pixel_spacing_mm, sick.slice_thickness_mm))


def test_compact_masks_decode_to_what_was_encoded():
    rng = np.random.default_rng(0)
    labels = np.zeros((7, 33, 41), np.uint8)
    labels[2:5, 3:20, 4:18] = rng.integers(0, 3, (3, 17, 14))
    classes = np.where(labels > 0, rng.integers(0, 3, labels.shape), 0).astype(np.uint8)
    box = (slice(2, 5), slice(3, 20), slice(4, 18))
    masks = CompactMasks.of_box(labels.shape, box, encode_planes(labels[box]), encode_planes(classes[box]))
    assert masks.box == ((2, 5), (3, 20), (4, 18))
    back = CompactMasks.from_dict(json.loads(json.dumps(masks.to_dict())))
    assert np.array_equal(back.lung_labels(), labels)
    assert np.array_equal(back.lesion_classes(), classes)


def test_classify_and_count_splits_affected_voxels_at_the_consolidation_edge():
    """Affected voxels below -400 HU are ground glass, at or above it consolidation; unaffected
    voxels and voxels outside the lungs are in no count; a 0/255 mark counts as affected."""
    hu = np.array([[[-401, -400, 50, -700], [-600, -300, -900, 20]]], np.int16)
    affected = np.array([[[255, 255, 255, 0], [255, 255, 0, 255]]], np.uint8)
    lungs = np.array([[[1, 1, 2, 2], [0, 2, 1, 1]]], np.uint8)
    classes, counts = classify_and_count(hu, affected, lungs, HUBands())
    assert classes.tolist() == [[[1, 2, 2, 0], [1, 2, 0, 2]]]
    # per slice, [right, left] x [lung voxels, ground glass, consolidation]
    assert counts.tolist() == [[[4, 1, 2], [3, 0, 2]]]


def test_a_score_of_ones_says_it_cannot_tell_mild_involvement_from_none(sick, sick_result):
    """A map marking 200 lung voxels of one slice: that zone under 5 %, the caveat is there; the
    sick phantom's HU bands score higher and carry none."""
    lungs = sick_result.masks.lung_labels()
    z = sick.n_slices // 2
    one_slice = np.zeros(lungs.shape, np.float32)
    one_slice[z].flat[np.flatnonzero(lungs[z])[:200]] = 1.0
    method = ProbabilityMapMethod(probability=lambda *_: one_slice, name="one slice", description="test")
    mild = quantify(series_of(sick), method=method)
    assert max(mild.zone_scores.values()) == 1
    caveats = [w for w in mild.warnings if w.startswith("no zone scores above 1")]
    assert len(caveats) == 1 and "under 5 % affected" in caveats[0] and "one slice estimate" in caveats[0]
    assert max(sick_result.zone_scores.values()) > 1
    assert not any(w.startswith("no zone scores above 1") for w in sick_result.warnings)


def test_the_caveat_follows_the_zone_scores():
    params = QuantParams()
    assert params.severity.mild_below_percent == 5.0
    assert low_score_caveat({"right_upper": 1, "left_lower": 0}, params, "learned")
    assert low_score_caveat({"right_upper": 0, "left_lower": 0}, params, "learned") is None  # nothing marked
    assert low_score_caveat({"right_upper": 1, "left_lower": 2}, params, "learned") is None


def test_a_learned_map_stops_after_the_slice_during_which_cancel_came(tmp_path, sick):
    """Cancel during the learned map (most of an analysis on the CPU) stops it after the slice in
    hand, not after the whole series."""
    from lunglens.inference import Cancelled
    from lunglens.inference.lesion_model import load_lesion_model
    from lunglens.quant.lesion_map import learned_method
    from tests.tiny_lesion_model import write_tiny_lesion_model

    model = load_lesion_model(write_tiny_lesion_model(tmp_path / "lesion"), provider="cpu")

    class CancelAfter:
        """Set from the third check on (the map checks after each slice)."""

        def __init__(self):
            self.checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks >= 3

    cancel = CancelAfter()
    with pytest.raises(Cancelled):
        quantify(series_of(sick), kept=sick.lung_open, method=learned_method(model), cancel=cancel)
    assert cancel.checks == 3  # stopped at once, not after the other slices
    assert sick.n_slices > 3


def test_lungs_that_run_off_the_series_are_said_to_be_covered_in_part(sick, sick_result):
    """A whole chest (the phantom: no lung on its first and last slices) gets no coverage warning;
    its middle third, where the lungs fill the first and last slices, does: its zones are thirds
    of that part, not of the lungs."""
    assert not any("run off the series" in w for w in sick_result.warnings)
    n = sick.hu.shape[0]
    middle = slice(n // 3, 2 * n // 3)
    part = quantify(series_of(dataclasses.replace(sick, hu=sick.hu[middle])))
    (warning,) = [w for w in part.warnings if "run off the series" in w]
    assert "at its first slice (" in warning and " and its last slice (" in warning
    assert "describe that part only" in warning


def test_the_score_of_a_partial_scan_says_so_wherever_it_is_written(sick, sick_result):
    """The score of the lungs' middle third is of that third: the table, the text lines, the
    zone diagram's caption and the saved JSON say so; a whole chest's score reads plainly."""
    from lunglens.quant.result import PARTIAL_SCORE, Quantification
    from lunglens.quant.summary import table_lines

    n = sick.hu.shape[0]
    part = quantify(series_of(dataclasses.replace(sick, hu=sick.hu[n // 3 : 2 * n // 3])))
    assert part.partial_coverage and not sick_result.partial_coverage
    assert part.score_text == f"{part.severity_score}/30 ({PARTIAL_SCORE})"
    assert sick_result.score_text == f"{sick_result.severity_score}/30"
    assert f"Severity score {part.score_text}:" in "\n".join(table_lines(part))
    assert Quantification.from_dict(part.to_dict()).score_text == part.score_text
    older = {k: v for k, v in part.to_dict().items() if k != "partial_coverage"}  # its warning says it
    assert Quantification.from_dict(older).partial_coverage
