"""Quantification of the real COVID-CT-MD series (skips without the data): per-slice affected %
against the radiologists' slice and lobe labels of P001, sides and zones, normal001 against
P001, and the selector's discarded involved slices."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from lunglens.core.selector import select_slices
from lunglens.io import discover, load
from lunglens.quant import quantify


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
        selection = select_slices(series.hu)
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
    """Mostly both lower lobes, more on the right (RLL 48 + RML 5 + RUL 6 labelled slices against
    LLL 39 and LUL 0): lower zones above upper zones, the right lung above the left."""
    _, _, q = analysed["P001"]
    for side in ("right", "left"):
        assert q.zones[f"{side}_lower"].affected_percent > q.zones[f"{side}_upper"].affected_percent
    right = p001_labels["RLL"].sum() + p001_labels["RML"].sum() + p001_labels["RUL"].sum()
    left = p001_labels["LLL"].sum() + p001_labels["LUL"].sum()
    assert right > left
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
