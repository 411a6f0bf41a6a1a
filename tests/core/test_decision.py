"""The decision rule: positive slice when P >= cut-off, COVID when k > f x n."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.core.decision import DecisionParams, decide, probability_text


def test_one_positive_slice_is_enough_at_f_zero():
    p = np.array([0.1, 0.2, 0.7, 0.1])
    kept = np.ones(4, bool)
    decision = decide(p, kept, DecisionParams(patient_fraction=0.0))
    assert decision.covid and decision.k_positive == 1 and decision.n_kept == 4
    assert decision.positive.tolist() == [False, False, True, False]


def test_k_must_exceed_f_times_n_strictly():
    p = np.array([0.9] + [0.1] * 9)  # k = 1, n = 10, f n = 1.0
    kept = np.ones(10, bool)
    assert not decide(p, kept, DecisionParams(patient_fraction=0.1)).covid  # 1 > 1 is false
    p[1] = 0.9  # k = 2
    assert decide(p, kept, DecisionParams(patient_fraction=0.1)).covid


@pytest.mark.parametrize(("fraction", "n"), [(0.7, 90), (0.29, 100), (0.57, 100), (0.1, 30)])
def test_the_rule_is_exact_on_the_fraction_as_written_not_its_binary_value(fraction, n):
    from decimal import Decimal

    from lunglens.core.decision import patient_covid

    k = int(Decimal(repr(fraction)) * n)  # f × n is a whole number: k = f × n does not exceed it
    kept = np.ones(n, bool)
    at = decide(np.array([0.9] * k + [0.1] * (n - k)), kept, DecisionParams(patient_fraction=fraction))
    above = decide(
        np.array([0.9] * (k + 1) + [0.1] * (n - k - 1)), kept, DecisionParams(patient_fraction=fraction)
    )
    assert at.k_positive == k and not at.covid and not patient_covid(k, n, fraction)
    assert above.covid and patient_covid(k + 1, n, fraction)
    assert at.needed == k


def test_discarded_slices_never_count():
    p = np.array([0.99, 0.99, 0.1, np.nan])
    kept = np.array([False, False, True, False])
    decision = decide(p, kept, DecisionParams(patient_fraction=0.0))
    assert not decision.covid and decision.k_positive == 0 and decision.n_kept == 1


def test_cutoff_is_inclusive_and_adjustable():
    p = np.array([0.5, 0.6, 0.3])
    kept = np.ones(3, bool)
    assert decide(p, kept, DecisionParams(0.5, 0.0)).k_positive == 2
    assert decide(p, kept, DecisionParams(0.61, 0.0)).k_positive == 0


def test_no_kept_slices_is_not_covid():
    assert not decide(np.array([0.9]), np.array([False]), DecisionParams(0.5, 0.0)).covid


@pytest.mark.parametrize("bad", [dict(slice_cutoff=1.5), dict(patient_fraction=-0.1)])
def test_parameters_are_validated(bad):
    with pytest.raises(ValueError):
        DecisionParams(**bad)


@pytest.mark.parametrize(
    ("params", "verdict"),
    [
        (DecisionParams(slice_cutoff=0.0), "COVID-19"),
        (DecisionParams(patient_fraction=1.0), "normal"),
        (DecisionParams(slice_cutoff=0.0, patient_fraction=1.0), "normal"),
        (DecisionParams(slice_cutoff=0.001, patient_fraction=0.999), None),
        (DecisionParams(), None),
    ],
)
def test_operating_points_that_fix_the_verdict_whatever_the_images_are_named(params, verdict):
    """A cut-off of 0 makes every kept slice positive; at f = 1 k > n never holds: the verdict is
    then the same for any P(COVID), which `images_ignored` says (else None)."""
    said = params.images_ignored()
    if verdict is None:
        assert said is None
        return
    assert f"the verdict is {verdict} whatever the images show" in said
    kept = np.ones(5, bool)
    assert {decide(p, kept, params).verdict for p in (np.zeros(5), np.full(5, 0.7), np.ones(5))} == {verdict}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        decide(np.zeros(3), np.zeros(4, bool))


@pytest.mark.parametrize(
    ("fraction", "rule", "applied"),
    [
        (0.0, "k > 0, at least one slice", "k > 0, at least one slice"),
        (0.1, "k > 0.1 × n", "k > 0.1 × n = 9"),
        (0.3, "k > 0.3 × n", "k > 0.3 × n = 27"),
        (0.3333, "k > 0.3333 × n", "k > 0.3333 × n = 29.997"),  # not "30.0": 30 > 29.997 is COVID-19
        (0.12345678, "k > 0.12345678 × n", "k > 0.12345678 × n = 11.1111102"),
        (1e-05, "k > 0.00001 × n", "k > 0.00001 × n = 0.0009"),
    ],
)
def test_the_rule_is_written_out_with_its_fraction_and_n(fraction, rule, applied):
    params = DecisionParams(slice_cutoff=0.5, patient_fraction=fraction)
    decision = decide(np.full(90, 0.9), np.ones(90, bool), params)
    assert params.rule() == rule
    assert decision.rule_applied() == applied
    assert decision.summary() == f"COVID-19: 90 of 90 kept slices positive ({applied})"


def test_the_slice_rule_and_k_of_n_are_written_in_one_place():
    params = DecisionParams(slice_cutoff=0.0088, patient_fraction=0.1)
    decision = decide(np.array([0.9, 0.001, 0.5]), np.array([True, True, False]), params)
    assert params.slice_rule() == "P(COVID) ≥ 0.0088"
    assert params.slice_rule(ascii_only=True) == "P(COVID) >= 0.0088"  # PDF fonts, DICOM text
    assert decision.count_text() == "1 of 2 kept slices positive"
    assert decision.summary().startswith(f"COVID-19: {decision.count_text()} (")


def test_flips_since_the_drag_began_lists_every_slice_crossed_not_the_last_step():
    from lunglens.core.decision import SliceFlips, flips_since

    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55, 0.2])
    kept = np.ones(7, bool)
    cutoffs = np.arange(0.92, 0.499, -0.01)  # one slider drag, step by step
    decisions = [decide(p, kept, DecisionParams(slice_cutoff=float(c))) for c in cutoffs]
    last_step = flips_since(decisions[-2], decisions[-1])
    since_start = flips_since(decisions[0], decisions[-1])
    assert since_start == SliceFlips(now_positive=(1, 2, 3, 4, 5))
    assert len(last_step.now_positive) <= 1
    back = flips_since(decisions[-1], decisions[0])
    assert (
        back == SliceFlips(now_negative=(1, 2, 3, 4, 5))
        and back
        and not flips_since(decisions[0], decisions[0])
    )


def test_flips_between_different_series_are_refused():
    from lunglens.core.decision import flips_since

    with pytest.raises(ValueError, match="different series"):
        flips_since(np.zeros(3, bool), np.zeros(4, bool))


@pytest.mark.parametrize(
    ("p", "cutoff", "decimals", "text"),
    [
        (0.73, 0.5, 3, "0.730"),
        (0.99985, 0.9999, 2, "0.99985"),  # 1.00 would read positive beside "negative"
        (0.99985, 0.9999, 3, "0.99985"),
        (0.99995, 0.9999, 2, "1.00"),  # positive, and reads so
        (0.4999, 0.5, 2, "0.4999"),
        (0.00012, 0.0001, 3, "1.2e-04"),  # small values keep two significant digits
        (0.000149, 0.00015, 3, "1.49e-04"),  # 1.5e-04 would cross the cut-off
        (0.0, 0.5, 3, "0.000"),
    ],
)
def test_a_probability_never_reads_on_the_other_side_of_the_cutoff(p, cutoff, decimals, text):
    assert probability_text(p, cutoff, decimals) == text
