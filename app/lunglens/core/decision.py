"""The patient-level decision rule (DESIGN.md section 1): a kept slice is positive when
P(COVID) >= the slice cut-off; the patient is COVID-positive when the number of positive
slices k is more than f × n (n = kept slices). f = 0 means "at least one positive slice".
`patient_threshold` is the one place f × n is computed (exactly, on the decimal f the reader set);
`DecisionParams.slice_rule` and `DecisionParams.rule` the one place each rule is written out for
readers, `Decision.count_text` the one place k of n is."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

#: The paper's thresholds: f = 0 ("at least one slice", recommended for accurate models) and
#: f = 0.1 (used in its tables), with its slice rule, the arg-max (P(COVID) >= 0.5).
PAPER_FRACTIONS = (0.0, 0.1)
PAPER_SLICE_CUTOFF = 0.5

COVID_VERDICT, NORMAL_VERDICT = "COVID-19", "normal"
VERDICTS = (COVID_VERDICT, NORMAL_VERDICT)
"""The words of a verdict (`Decision.verdict`)."""


@dataclass(frozen=True)
class DecisionParams:
    """The operating point: slice cut-off on P(COVID) (0.5 = arg-max, the paper's rule) and the
    patient fraction f."""

    slice_cutoff: float = PAPER_SLICE_CUTOFF
    patient_fraction: float = PAPER_FRACTIONS[1]

    def __post_init__(self):
        if not 0.0 <= self.slice_cutoff <= 1.0:
            raise ValueError(f"slice cut-off must be within [0, 1], got {self.slice_cutoff}")
        if not 0.0 <= self.patient_fraction <= 1.0:
            raise ValueError(f"patient fraction must be within [0, 1], got {self.patient_fraction}")

    def slice_rule(self, ascii_only: bool = False) -> str:
        """The slice rule at this cut-off, the one place it is written: "P(COVID) ≥ 0.5", or with
        `ascii_only` (PDF fonts, DICOM text, the terminal) "P(COVID) >= 0.5"."""
        return f"P(COVID) {'>=' if ascii_only else '≥'} {exact_text(self.slice_cutoff)}"

    def rule(self) -> str:
        """The patient rule at this fraction, the one place it is written: "k > 0.1 × n", or for
        f = 0 "k > 0, at least one slice"."""
        f = self.patient_fraction
        return "k > 0, at least one slice" if f == 0 else f"k > {exact_text(f)} × n"

    def images_ignored(self) -> str | None:
        """Why the verdict at this operating point no longer depends on the images, or None: at
        f = 1 k > f × n never holds (k is at most n), and at a slice cut-off of 0 every kept slice
        is positive (k = n). The CLI refuses both; the viewer's slider reaches them, and every
        reader of the analysis says it (`Analysis.verdict_caveat`). ASCII only: DICOM text too."""
        if self.patient_fraction >= 1:
            return (
                f"At f = {exact_text(self.patient_fraction)} the positive slices can never be more than f "
                "times the kept slices, so the verdict is normal whatever the images show."
            )
        if self.slice_cutoff == 0:
            return (
                "At a slice cut-off of 0 every kept slice is positive, so the verdict is COVID-19 "
                "whatever the images show."
            )
        return None


@dataclass(frozen=True)
class Decision:
    """The verdict for one series: k positive of n kept slices at the given operating point;
    `positive` flags every slice of the series (False for discarded slices)."""

    params: DecisionParams
    k_positive: int
    n_kept: int
    covid: bool
    positive: np.ndarray

    @property
    def verdict(self) -> str:
        return COVID_VERDICT if self.covid else NORMAL_VERDICT

    @property
    def needed(self) -> Decimal:
        """k must exceed this for a COVID-19 verdict: f × n, exactly (`patient_threshold`)."""
        return patient_threshold(self.n_kept, self.params.patient_fraction)

    def rule_applied(self) -> str:
        """The rule with this series' n and f × n exactly: "k > 0.1 × n = 9", "k > 0.3333 × n =
        29.997", or "k > 0, at least one slice"."""
        rule = self.params.rule()
        return rule if self.params.patient_fraction == 0 else f"{rule} = {exact_text(self.needed)}"

    def k_of_n(self) -> str:
        """ "12 of 90": k of n, the one place it is written (`count_text` says what they count)."""
        return f"{self.k_positive} of {self.n_kept}"

    def count_text(self) -> str:
        """ "12 of 90 kept slices positive"."""
        return f"{self.k_of_n()} kept slices positive"

    def summary(self) -> str:
        """ "COVID-19: 12 of 90 kept slices positive (k > 0.1 × n = 9)"."""
        return f"{self.verdict}: {self.count_text()} ({self.rule_applied()})"


def slice_call(positive: bool) -> str:
    """A kept slice's call in words, the one wording every reader shows: "positive" or "negative"."""
    return "positive" if positive else "negative"


def exact_text(value: float | Decimal) -> str:
    """`value` written out exactly, without exponent or trailing zeros (29.997, 63, 0.0088); a
    float as its shortest decimal form, the value the reader set. Used for f, the cut-off and f × n
    wherever they are shown, so a printed rule never reads other than it decides."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return f"{number.normalize():f}"


def probability_text(p: float, cutoff: float, decimals: int = 3) -> str:
    """P(COVID) for reading: `decimals` decimals (two significant digits below 10^-decimals, so a
    small value never reads 0.000), with more digits where rounding would carry it onto the
    other side of the slice cut-off: 0.99985 at cut-off 0.9999 reads 0.99985, never 1.000 beside
    "negative"."""
    scientific = 0 < p < 10.0**-decimals
    for extra in range(10):
        text = f"{p:.{1 + extra}e}" if scientific else f"{p:.{decimals + extra}f}"
        if (float(text) >= cutoff) == (p >= cutoff):
            return text
    return repr(float(p))


def patient_threshold(n_kept: int, patient_fraction: float) -> Decimal:
    """f × n (slices), exactly: f is taken as the decimal the reader set (0.7, the float's shortest
    form), not as its binary value 0.6999…, so 0.7 × 90 is 63 and k = 63 does not exceed it."""
    return Decimal(repr(float(patient_fraction))) * int(n_kept)


def patient_covid(k_positive: int, n_kept: int, patient_fraction: float) -> bool:
    """The patient rule: COVID-19 when some slice was kept and k > f × n (`patient_threshold`)."""
    return n_kept > 0 and k_positive > patient_threshold(n_kept, patient_fraction)


def decide(p_covid: np.ndarray, kept: np.ndarray, params: DecisionParams = DecisionParams()) -> Decision:
    """Decide from per-slice P(COVID) (NaN allowed for slices not classified) and the selector's
    kept mask. Pure and instant: the UI calls it on every slider move."""
    p_covid = np.asarray(p_covid, dtype=float)
    kept = np.asarray(kept, dtype=bool)
    if p_covid.shape != kept.shape:
        raise ValueError(f"P(COVID) has shape {p_covid.shape}, the kept mask {kept.shape}")
    with np.errstate(invalid="ignore"):
        positive = kept & (p_covid >= params.slice_cutoff)
    k, n = int(positive.sum()), int(kept.sum())
    covid = patient_covid(k, n, params.patient_fraction)
    return Decision(params=params, k_positive=k, n_kept=n, covid=covid, positive=positive)


@dataclass(frozen=True)
class SliceFlips:
    """Slices whose call changed between two decisions on one series (0-based indices):
    negative then, positive now (`now_positive`), and the other way (`now_negative`)."""

    now_positive: tuple[int, ...] = ()
    now_negative: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.now_positive or self.now_negative)


def flips_since(anchor: Decision | np.ndarray, current: Decision | np.ndarray) -> SliceFlips:
    """What flipped between the `anchor` decision (e.g. where a slider drag began) and the
    `current` one: compares the per-slice positive flags (a Decision or its `positive` array),
    so a drag 0.92 -> 0.50 lists every slice it crossed, not only the last step's."""
    before = np.asarray(anchor.positive if isinstance(anchor, Decision) else anchor, bool)
    after = np.asarray(current.positive if isinstance(current, Decision) else current, bool)
    if before.shape != after.shape:
        raise ValueError(f"decisions of different series: {before.shape} and {after.shape} slices")
    return SliceFlips(
        tuple(int(i) for i in np.flatnonzero(after & ~before)),
        tuple(int(i) for i in np.flatnonzero(before & ~after)),
    )
