"""What the DICOM results say, read from an `Analysis` in this one place (the writers never
read the analysis' fields themselves, so a change of its shape is met here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lunglens import __version__


@dataclass(frozen=True)
class SliceResult:
    """One kept, classified slice: its index in the series (0 most superior), its position
    along the head-foot axis (mm) and its P(COVID) (0..1)."""

    index: int
    position_mm: float
    p_covid: float
    positive: bool


@dataclass(frozen=True)
class ResultFacts:
    """The decision (COVID-19 or not, k positive of n kept slices, patient fraction f, slice cut-off),
    the kept slices' P(COVID), the algorithm's identity and, when one was computed, the
    quantification in the schema of `Quantification.to_dict()`."""

    covid: bool
    summary: str
    k_positive: int
    n_kept: int
    patient_fraction: float
    slice_cutoff: float
    slices: tuple[SliceResult, ...]
    model_name: str
    model_version: str
    model_sha256: str
    model_label: str
    """ "lunglens-demo 1.0.0, a demonstration model" (`ModelRecord.label`)."""
    lunglens_version: str
    quantification: dict | None
    verdict_caveat: str
    """What the verdict cannot tell (`Analysis.verdict_caveat`)."""


def result_facts(analysis) -> ResultFacts:
    """The facts of `analysis` (a `lunglens.analysis.Analysis`)."""
    decision = analysis.decision
    kept = np.flatnonzero(analysis.selection.kept & ~np.isnan(analysis.p_covid))
    slices = tuple(
        SliceResult(
            index=int(i),
            position_mm=float(analysis.positions_mm[i]),
            p_covid=float(analysis.p_covid[i]),
            positive=bool(decision.positive[i]),
        )
        for i in kept
    )
    quantification = analysis.quantification
    model = analysis.model
    return ResultFacts(
        covid=bool(decision.covid),
        summary=decision.summary().replace("×", "x"),  # DICOM text in the default repertoire
        k_positive=int(decision.k_positive),
        n_kept=int(decision.n_kept),
        patient_fraction=float(decision.params.patient_fraction),
        slice_cutoff=float(decision.params.slice_cutoff),
        slices=slices,
        model_name=model.name,
        model_version=model.version,
        model_sha256=model.sha256,
        model_label=model.label,
        lunglens_version=str(analysis.versions.get("lunglens", __version__)),
        quantification=None if quantification is None else quantification.to_dict(),
        verdict_caveat=analysis.verdict_caveat(),
    )
