"""The one pipeline both front ends run (the viewer through its background jobs, the command
line and batch runs through `load_and_analyse`):

    load → select → classify → quantify → decide → Analysis

Each step is timed under its name in `Analysis.timings_s`, in the order it ran. Quantification
(lungs, zones, lesion burden, severity score: `lunglens.quant`) runs on every slice that holds
lung, including those the selector discarded, with the lesion method named in the options
(`lesion_methods`: the learned map or the HU bands, `DEFAULT_LESION_METHOD` unless chosen)."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from lunglens import __version__
from lunglens.analysis.lesion_methods import (
    DEFAULT_LESION_METHOD,
    LesionMethods,
    lesion_method_name,
    shared_lesion_methods,
)
from lunglens.analysis.records import ModelRecord, ProviderRecord, SeriesRecord
from lunglens.analysis.result import Analysis
from lunglens.analysis.speculation import load_speculating, speculation_pays
from lunglens.core.decision import DecisionParams, decide
from lunglens.core.selector import Selection, SelectorParams, select_slices
from lunglens.inference.predict import BatchProgress, CancelFlag, Cancelled, classify
from lunglens.io import LoadError, Series, SeriesRef, load
from lunglens.io.load import ProgressCallback
from lunglens.quant import NoLungFound, Quantification, quantify


class NoVerdict(LoadError):
    """A series that loads but gives the method nothing to decide from: no slice the lung-open
    selector keeps, no slice dark enough to show open lung, or no lung. No verdict is given (a
    "normal" from 0 of 0 slices would be computed from nothing); the message names the series
    and why."""


#: Open lung fills at least this share of the selector's region on the slice of a series with the
#: most dark pixels; below it no slice shows open lung, and the selector's relative threshold (which
#: always keeps the series' own darkest slices) would keep slices of dark specks. Calibrated on the
#: real series in shared/data: that slice fills 13 % (3 slices of lung bases, dcmqi) to 83 %
#: (cap001) of the region in real chest series, and single axial chest slices with severe COVID-19
#: 1.8 % (COVID-19-NY-SBU A046441), so the floor sits at least 1.7 times below any slice showing
#: lung; the 9 neck slices above normal001's lungs fill 0.1 % (25 pixels), 10 times below it. A
#: series holding only lung apices or bases passes (normal001's top 14 slices 23 %, P001's bottom
#: 18 slices 17 %): it shows open lung; the quantification's lung volume judges how much.
MIN_OPEN_LUNG_SHARE = 0.01


def _check_decidable(series: Series, selection: Selection) -> None:
    """Raises NoVerdict when the selection leaves nothing to decide from: no slice kept, or no
    slice with `MIN_OPEN_LUNG_SHARE` of the selector's region dark."""
    name = series.ref.name
    if selection.n_kept == 0:
        raise NoVerdict(
            f"{name}: the lung-open selector kept none of its {series.n_slices} slices (no slice "
            "shows open lung: not a chest CT, or the lungs are outside the images): no verdict"
        )
    region_rows, region_columns = selection.params.region(*series.standard_hu.shape[-2:])
    region_pixels = (region_rows.stop - region_rows.start) * (region_columns.stop - region_columns.start)
    darkest = int(selection.dark_pixel_counts.max())
    if darkest < MIN_OPEN_LUNG_SHARE * region_pixels:
        raise NoVerdict(
            f"{name}: no slice shows open lung: the darkest of its {series.n_slices} slices has "
            f"{darkest} dark pixels in the selector's region of {region_pixels}, under the "
            f"{MIN_OPEN_LUNG_SHARE:.0%} that open lung fills (not a chest CT, or the lungs are "
            "outside the images): no verdict"
        )


@dataclass(frozen=True)
class AnalysisOptions:
    """What to run: the selector's and the decision's parameters, whether to classify every
    slice (to show what the selector saved) rather than only the kept ones, whether to
    quantify, and with which lesion method."""

    selector: SelectorParams = SelectorParams()
    decision: DecisionParams = DecisionParams()
    all_slices: bool = False
    quantify: bool = True
    """Whether to run the quantification (`lunglens.quant.quantify`)."""
    lesion_method: str = DEFAULT_LESION_METHOD
    """How the quantification finds lesions: "learned" or "hu_bands" (`lesion_methods`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lesion_method", lesion_method_name(self.lesion_method))


class _StepClock:
    """Seconds per pipeline step, in the order the steps ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 6)


def software_versions() -> dict[str, str]:
    """The versions of the software an analysis ran with (for the report and the JSON)."""
    import onnxruntime
    import pydicom

    return {
        "lunglens": __version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "pydicom": pydicom.__version__,
        "python": platform.python_version(),
    }


def _quantify(
    series: Series, kept: np.ndarray, lesion_method: str, methods: LesionMethods, cancel: CancelFlag | None
) -> Quantification:
    """The quantification of `series` by the lesion method named `lesion_method`; when that
    method fell back (`LesionMethods.resolve`), its warning joins the quantification's warnings.
    Raises `NoLungFound`, and `Cancelled` when a learned map sees `cancel` set."""
    resolved = methods.resolve(lesion_method)
    quantification = quantify(series, kept, resolved.method, cancel=cancel)
    if resolved.warning:
        quantification = replace(quantification, warnings=(*quantification.warnings, resolved.warning))
    return quantification


def _check(cancel: CancelFlag | None) -> None:
    """Raise `Cancelled` when the caller asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def analyse(
    series: Series,
    model,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    selection: Selection | None = None,
    progress: BatchProgress | None = None,
    cancel: CancelFlag | None = None,
    steps_before: dict[str, float] | None = None,
    lesion_methods: LesionMethods | None = None,
) -> Analysis:
    """Analyse a loaded `series` with `model` (a `lunglens.inference.Model`): select the
    lung-open slices (or take `selection`, the selector's result the caller already has, made
    with `options.selector`), classify the kept slices (every slice with `options.all_slices`),
    quantify every slice that holds lung (with `options.quantify`, by `options.lesion_method`
    resolved through `lesion_methods`, default this process's shared one for the bundled lesion
    model on the classifier's provider; when the learned map is unavailable the HU bands run and
    the quantification's warnings say so) and decide at `options.decision`. Raises `NoVerdict`
    (a `LoadError`) when the selector keeps no slice, and when the quantification finds no lung.

    `progress(done, total)` is called after each batch of slices; `cancel` is checked before
    each batch of the classifier, before the quantification, after each slice of a learned lesion
    map and before the decision (raises `lunglens.inference.Cancelled`). `steps_before` are the
    seconds of the steps the caller ran first, by name (loading the series, selecting), recorded
    before this analysis' own steps."""
    clock = _StepClock()
    clock.seconds.update({step: round(seconds, 6) for step, seconds in (steps_before or {}).items()})

    if selection is None:
        with clock.step("select"):
            selection = select_slices(series.standard_hu, options.selector)
    elif selection.params != options.selector or len(selection.kept) != series.n_slices:
        raise ValueError(
            f"the selection given ({len(selection.kept)} slices, {selection.params}) is not the one "
            f"of this series ({series.n_slices} slices) with {options.selector}"
        )
    _check_decidable(series, selection)

    with clock.step("classify"):
        chosen = np.arange(series.n_slices) if options.all_slices else selection.kept_indices
        p_chosen, cams_chosen = classify(
            model, series.hu, chosen, layout=series.layout, progress=progress, cancel=cancel
        )
        p_covid = np.full(series.n_slices, np.nan)
        p_covid[chosen] = p_chosen
        cams = np.zeros((series.n_slices, *cams_chosen.shape[1:]), np.float16)
        cams[chosen] = cams_chosen

    quantification = None
    if options.quantify:
        _check(cancel)
        with clock.step("quantify"):
            methods = lesion_methods or shared_lesion_methods(provider=model.provider.requested)
            try:
                quantification = _quantify(series, selection.kept, options.lesion_method, methods, cancel)
            except NoLungFound as exc:  # the classifier's slices cannot have shown lung either
                raise NoVerdict(f"{exc}: no verdict") from exc

    _check(cancel)
    with clock.step("decide"):
        decision = decide(p_covid, selection.kept, options.decision)

    return Analysis(
        series=SeriesRecord.of(series),
        selection=selection,
        decision=decision,
        model=ModelRecord.of(model.card),
        provider=ProviderRecord.of(model.provider),
        positions_mm=np.asarray(series.positions_mm, float),
        p_covid=p_covid,
        cams=cams,
        timings_s=clock.seconds,
        versions=software_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        all_slices=options.all_slices,
        quantification=quantification,
    )


def requantify(
    analysis: Analysis,
    series: Series,
    lesion_method: str,
    lesion_methods: LesionMethods | None = None,
    cancel: CancelFlag | None = None,
) -> Analysis:
    """`analysis` of `series` with its quantification made again by the lesion method named
    `lesion_method` (through `lesion_methods`, default this process's shared one for the bundled
    lesion model on the analysis's provider); the classifier does not run again, and the
    "quantify" time is replaced. Raises `NoLungFound` (the lungs do not depend on the method),
    `Cancelled` when a learned map sees `cancel` set, and `ValueError` when `series` is not the one
    analysed (another key or slice count, or other images: `SeriesRecord.same_images`)."""
    if series.n_slices != analysis.n_slices or analysis.series.same_images(series) is False:
        raise ValueError(
            f"{series.ref.key} ({series.n_slices} slices, images {series.fingerprint}) is not the "
            f"series of this analysis ({analysis.series.key}, {analysis.n_slices} slices, images "
            f"{analysis.series.fingerprint or 'not recorded'})"
        )
    methods = lesion_methods or shared_lesion_methods(provider=analysis.provider.requested)
    start = time.perf_counter()
    quantification = _quantify(
        series, analysis.selection.kept, lesion_method_name(lesion_method), methods, cancel
    )
    timings = {**analysis.timings_s, "quantify": round(time.perf_counter() - start, 6)}
    return replace(analysis, quantification=quantification, timings_s=timings)


def load_and_analyse(
    ref: SeriesRef,
    model,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    load_progress: ProgressCallback | None = None,
    progress: BatchProgress | None = None,
    cancel: CancelFlag | None = None,
    lesion_methods: LesionMethods | None = None,
) -> tuple[Series, Analysis]:
    """Load the series `ref` (raises `lunglens.io.LoadError`) and `analyse` it; the load is
    timed as the first step. `load_progress(done, total)` reports decoded slices, `progress`
    classified ones. When `speculation_pays` for the model (on a GPU) the slices the selector
    will probably keep are classified while the series decodes (`lunglens.analysis.speculation`):
    the Analysis is the same but for its timings, whose first step is then "load and classify
    ahead"."""
    start = time.perf_counter()
    if speculation_pays(model) and not options.all_slices:
        series, speculation = load_speculating(ref, model, options.selector, progress=load_progress)
    else:
        series, speculation = load(ref, progress=load_progress), None
    steps = {"load and classify ahead" if speculation else "load": time.perf_counter() - start}
    selection = None
    if speculation is not None:
        start = time.perf_counter()
        selection = select_slices(series.standard_hu, options.selector)
        steps["select"] = time.perf_counter() - start
        model = speculation.answering([series.source_paths[i] for i in selection.kept_indices])
    analysis = analyse(
        series,
        model,
        options,
        selection=selection,
        progress=progress,
        cancel=cancel,
        steps_before=steps,
        lesion_methods=lesion_methods,
    )
    return series, analysis
