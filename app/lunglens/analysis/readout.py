"""What the viewer writes over and beside the image, as plain text: the corner readouts (patient
and series, window, slice), the selector's banner, the slice strip's hover text, the decision
panel's lines and the status of the model and of the last analysis. No Qt: the viewer's widgets
only put these strings on screen, and they are tested without a display."""

from __future__ import annotations

import numpy as np

from lunglens.analysis.records import ModelRecord
from lunglens.analysis.result import Analysis
from lunglens.core.decision import Decision, DecisionParams, exact_text, probability_text, slice_call
from lunglens.core.selector import Selection
from lunglens.core.windowing import Window
from lunglens.inference.session import Model
from lunglens.io import Series, SeriesRef
from lunglens.quant.summary import percent_text


def header(ref: SeriesRef, series: Series | None) -> str:
    """Top left: patient (name · ID · sex · age), study (date · institution) and the series
    description; only the description while the series loads."""
    if series is None:
        return f"{ref.description}\n(loading…)"
    meta = series.metadata
    patient = " · ".join(
        x for x in (meta.patient_name, meta.patient_id, meta.patient_sex, meta.patient_age) if x
    )
    study = " · ".join(x for x in (meta.study_date, meta.institution) if x)
    return "\n".join(x for x in (patient or "(no patient name)", study, ref.description) if x)


def window_text(window: Window) -> str:
    """Top right: the window's name and its width / level in HU."""
    return f"{window.name}\nW {window.width:.0f} / L {window.level:.0f}"


def _call(analysis: Analysis, i: int) -> str:
    return slice_call(bool(analysis.decision.positive[i]))


def position_text(position_mm: float, stated: bool) -> str:
    """A slice position as every reader shows it: "-120.5 mm", "-20.0 mm (assumed)" when the files
    state no positions (`Series.positions_stated`: then it only counts slices in file order)."""
    return f"{position_mm:.1f} mm" + ("" if stated else " (assumed)")


def slice_text(i: int, n_slices: int, series: Series | None, analysis: Analysis | None) -> str:
    """Bottom left: slice i (0-based) as "Slice k / n", its position (mm) once the series is in,
    and P(COVID) with the call once it was classified."""
    lines = [f"Slice {i + 1} / {n_slices}"]
    if series is not None:
        lines.append(f"Position {position_text(series.positions_mm[i], series.positions_stated)}")
    if analysis is not None and analysis.classified[i]:
        p, cutoff = analysis.p_covid[i], analysis.decision.params.slice_cutoff
        lines.append(f"P(COVID) {probability_text(p, cutoff, 2)} — {_call(analysis, i)}")
    return "\n".join(lines)


#: What a discarded slice is, said over it and over the levels of discarded slices in the
#: reformats: the rule the paper's selector applies, not an anatomical finding (a discarded
#: slice may show open lung, only less of it than the series' threshold asks for).
DISCARDED = (
    "discarded by the lung-open selector (fewer dark pixels than the series' threshold): not in the decision"
)


def banner(i: int, selection: Selection | None) -> str:
    """Over a slice the selector discarded, in plain words (the numbers are in
    `banner_details`); empty for kept slices and where no selection applies (while the series
    loads; single slices and non-axial images, which have none)."""
    if selection is None or selection.kept[i]:
        return ""
    return DISCARDED[0].upper() + DISCARDED[1:]


def banner_details(i: int, selection: Selection | None) -> str:
    """The banner's tooltip: the slice's dark pixels against the selector's threshold."""
    if selection is None or selection.kept[i]:
        return ""
    count = int(selection.dark_pixel_counts[i])
    return (
        f"{count} dark (air-like) pixels in the central region, at or below the series' threshold of "
        f"{selection.threshold:.0f}: the selector keeps the slices above it, where the lungs are most "
        "open in this series"
    )


def slice_tooltip(
    i: int, n_slices: int, selection: Selection | None, analysis: Analysis | None, loading: bool = True
) -> str:
    """The slice strip's hover text for slice i: kept or not, its dark pixels against the
    threshold, P(COVID) with the call, and the quantification's affected % of the slice's lung.
    Without a selection: loading, or (`loading` False) a series the selector does not apply to."""
    lines = [f"Slice {i + 1} of {n_slices}"]
    if selection is None:
        return lines[0] + ("\n(loading)" if loading else "\nno slice selection for this series")
    kept = bool(selection.kept[i])
    lines.append(("kept" if kept else "discarded") + " by the selector")
    relation = ">" if kept else "<="
    lines.append(
        f"dark pixels {int(selection.dark_pixel_counts[i])} {relation} threshold {selection.threshold:.0f}"
    )
    if analysis is not None:
        p = analysis.p_covid[i]
        cutoff = analysis.decision.params.slice_cutoff
        lines.append(
            "not classified"
            if np.isnan(p)
            else f"P(COVID) {probability_text(p, cutoff)} — {_call(analysis, i)}"
        )
        q = analysis.quantification
        if q is not None and i < len(q.slices):
            percent = q.slices[i]
            lines.append(
                "no lung found on this slice"
                if percent is None
                else f"{percent_text(percent)} % of this slice's lung affected ({q.method} estimate)"
            )
    return "\n".join(lines)


def fraction_label(params: DecisionParams) -> str:
    """The fraction slider's label, f exactly as set: "Patient fraction f = 0.3332 — …"."""
    return f"Patient fraction f = {exact_text(params.patient_fraction)} — COVID-19 when {params.rule()}"


def cutoff_label(params: DecisionParams) -> str:
    """The cut-off slider's label, the cut-off exactly as set: "… ≥ 0.0088"."""
    return f"Slice cut-off — positive when {params.slice_rule()}"


def decision_count(decision: Decision) -> str:
    """ "12 of 90 kept slices positive (COVID-19 when k > 0.1 × n = 9)"."""
    return f"{decision.count_text()} (COVID-19 when {decision.rule_applied()})"


def _listed(indices: tuple[int, ...], limit: int = 12) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:limit])
    return shown + (f" (+{len(indices) - limit} more)" if len(indices) > limit else "")


def flips(now_positive: tuple[int, ...], now_negative: tuple[int, ...]) -> str:
    """Slices (0-based indices, shown 1-based) whose call flipped since the operating-point move
    (a slider drag, or one step) began."""
    parts = []
    if now_positive:
        parts.append(f"now positive: {_listed(now_positive)}")
    if now_negative:
        parts.append(f"now negative: {_listed(now_negative)}")
    return "Flipped since the move began — " + "; ".join(parts) if parts else ""


def model_status(model: Model | None, problem: str = "") -> str:
    """The status bar's model line: name, version and where it runs; or why there is none."""
    if model is not None:
        return f"Model: {model.card.name} {model.card.version} · {model.provider.describe()}"
    return "Model: none (see Analysis)" if problem else "Model: loading…"


def timings_text(analysis: Analysis) -> str:
    """ "9.41 s (load 0.52 s, select 0.08 s, classify 3.10 s, ...)": the analysis' time, the sum
    of its timed steps (loading among them when the analysis loaded its series), and each step,
    in the order they ran."""
    timings = analysis.timings_s
    steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items())
    return f"{sum(timings.values()):.2f} s ({steps})"


def analysis_done(analysis: Analysis) -> str:
    """ "Analysed in 9.4 s on CPU: 90 slices classified in 3.1 s, quantified in 6.0 s": the
    analysis' time (as `timings_text` sums it), then its two long steps."""
    timings = analysis.timings_s
    steps = [f"{int(analysis.classified.sum())} slices classified in {timings.get('classify', 0.0):.1f} s"]
    if "quantify" in timings:
        steps.append(f"quantified in {timings['quantify']:.1f} s")
    return f"Analysed in {sum(timings.values()):.1f} s on {analysis.provider.label}: {', '.join(steps)}"


def restored(analysis: Analysis, current_model: ModelRecord | None, stale: bool) -> str:
    """The analysis panel's line when a series comes back with the analysis made earlier in the
    session; with `stale`, why a re-run would differ."""
    made = f"Analysis from earlier in this session ({analysis.model.name} {analysis.model.version})."
    if not stale:
        return made
    if current_model is not None and current_model != analysis.model:
        why = f"the model is now {current_model.name} {current_model.version}"
    else:
        why = "the slice selection differs"
    return f"{made} It may be out of date: {why}. Run the analysis again to update it."
