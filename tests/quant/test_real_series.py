"""Quantification of the real COVID-CT-MD series (skips without the data): per-slice affected %
against the radiologists' slice and lobe labels of P001, sides and zones, normal001 against
P001, and the selector's discarded involved slices."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from lunglens.core.selector import select_slices
from lunglens.io import discover, load
from lunglens.quant import lungs, quantify
from lunglens.quant.zones import THIRDS, slice_thirds
from lunglens.threads import THREADS_VARIABLE


def _load(folder):
    discovery = discover(folder)
    assert len(discovery.analysable) == 1
    return load(discovery.analysable[0])


@pytest.fixture(scope="module")
def analysed(covid_ct_md):
    """series name -> (Series, Selection, Quantification)."""
    out = {}
    for name in ("P001", "normal001", "cap001"):
        series = _load(covid_ct_md / name)
        selection = select_slices(series.standard_hu)
        out[name] = (series, selection, quantify(series, selection.kept))
    return out


@pytest.fixture(scope="module")
def p001_labels(covid_ct_md):
    with open(covid_ct_md / "lobe_labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["series"] == "P001"]
    return {
        key: np.array([int(r[key]) for r in rows])
        for key in ("infection_label", "LLL", "LUL", "RLL", "RML", "RUL")
    }


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half)."""
    pos, neg = scores[positive], scores[~positive]
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def test_p001_per_slice_affected_percent_separates_labelled_slices(analysed, p001_labels):
    series, _, q = analysed["P001"]
    labels = p001_labels["infection_label"]
    assert len(labels) == series.n_slices  # index 0 = most superior = InstanceNumber 1
    slices = np.array([np.nan if v is None else v for v in q.slices])
    has_lung = ~np.isnan(slices)
    value = auc(slices[has_lung], labels[has_lung] == 1)
    print(f"P001 per-slice affected % vs infection_label: AUC {value:.3f}")
    assert value >= 0.8


def test_p001_involvement_lies_where_the_radiologists_put_it(analysed, p001_labels):
    """Per lung, the zone holding the most lobe-labelled slices is more affected than the zone
    holding the fewest. (P001's labels are mostly lower lobes, but zones are thirds of each
    lung's height: the left lower lobe's labelled slices, 26-97, lie in the upper and middle
    thirds of a left lung reaching slice 147; the right lower lobe's, 77-124, in the middle and
    lower thirds.) The right lung, with more labelled slices, carries more involvement."""
    series, _, q = analysed["P001"]
    lungs = q.masks.lung_labels()
    present = np.stack([(lungs == side).any(axis=(1, 2)) for side in (1, 2)], axis=1)
    thirds = slice_thirds(present, series.positions_mm)
    labelled = {
        "right": p001_labels["RLL"] | p001_labels["RML"] | p001_labels["RUL"],
        "left": p001_labels["LLL"] | p001_labels["LUL"],
    }
    for column, side in enumerate(("right", "left")):
        counts = [int(labelled[side][thirds[:, column] == i].sum()) for i in range(3)]
        most, fewest = THIRDS[int(np.argmax(counts))], THIRDS[int(np.argmin(counts))]
        print(f"P001 {side}: labelled slices per zone {dict(zip(THIRDS, counts, strict=True))}")
        assert q.zones[f"{side}_{most}"].affected_percent > q.zones[f"{side}_{fewest}"].affected_percent
    assert labelled["right"].sum() > labelled["left"].sum()
    assert q.lungs["right"].affected_ml > q.lungs["left"].affected_ml


def test_normal001_total_far_below_p001_and_cap001(analysed):
    normal = analysed["normal001"][2].total.affected_percent
    assert normal < 0.7 * analysed["P001"][2].total.affected_percent
    assert normal < 0.5 * analysed["cap001"][2].total.affected_percent


def test_lung_volumes_are_adult_sized(analysed):
    for name, (_, _, q) in analysed.items():
        for side in ("right", "left"):
            assert 1000 < q.lungs[side].volume_ml < 4500, (name, side)


def test_the_selector_drops_basal_involved_slices_and_the_reader_is_told(analysed, p001_labels):
    _, selection, q = analysed["P001"]
    infected = p001_labels["infection_label"] == 1
    dropped = np.flatnonzero(infected & ~selection.kept)
    assert infected.sum() == 80
    assert dropped.size == 11
    assert (dropped > selection.kept_indices[-1]).all()  # all basal
    warning = [w for w in q.warnings if w.startswith("involvement on")]
    assert len(warning) == 1
    assert "lung bases" in warning[0]


def test_the_result_does_not_depend_on_the_thread_budget(analysed, monkeypatch):
    """P001's lungs touch (the split runs); the lungs are filled side by side and the planes deflated
    on a side thread, or all in the caller's thread with a budget of one: the same result."""
    series, selection, _ = analysed["P001"]
    monkeypatch.setattr(
        os, "sched_getaffinity", lambda _pid: set(range(2))
    )  # a budget of 2 holds on a one-core machine too
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    threaded = quantify(series, selection.kept)
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    inline = quantify(series, selection.kept)
    assert inline.to_dict() == threaded.to_dict()


def test_a_lung_never_takes_what_the_split_gave_the_other_lung(analysed, monkeypatch):
    """P001's lungs touch: the fills of dense disease (closing, holes, pleural indentations) may
    grow each lung into the body, never into the other lung as the split and the ground-glass
    growth left it (working grid, before the full-resolution refinement)."""
    seen = {}
    grow, refine = lungs._grow_into_ground_glass, lungs._refine

    def grow_and_keep(labels, *args):
        grow(labels, *args)
        seen["split"] = labels.copy()

    def keep_and_refine(hu, low, labels, *args):
        seen["filled"] = labels.copy()
        return refine(hu, low, labels, *args)

    monkeypatch.setattr(lungs, "_grow_into_ground_glass", grow_and_keep)
    monkeypatch.setattr(lungs, "_refine", keep_and_refine)
    series = analysed["P001"][0]
    lungs.segment_lungs(
        series.hu, series.pixel_spacing_mm, series.slice_spacing_mm, series.orientation_cosines
    )
    for side in (lungs.RIGHT_LUNG, lungs.LEFT_LUNG):
        split = seen["split"] == side
        assert split.sum() > 100_000
        assert (seen["filled"][split] == side).all(), lungs.LUNG_LABELS[side]
