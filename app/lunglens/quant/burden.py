"""Lesion burden of a series: per lung, per zone and in total, the six-zone severity score, the
per-slice affected %, and the warning when the slice selector discarded involved slices.

`quantify(series, kept)` is the one entry point; the caller times it (`timings_s.quantify`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from lunglens.inference.predict import CancelFlag
from lunglens.io.series import Series
from lunglens.quant.bands import (
    CONSOLIDATION_CLASS,
    GGO_CLASS,
    HUBandMethod,
    HUBands,
    LesionMethod,
)
from lunglens.quant.lungs import (
    LEFT_LUNG,
    LUNG_LABELS,
    RIGHT_LUNG,
    LungParams,
    NoLungFound,
    bounding_box,
    segment_lungs,
)
from lunglens.quant.result import (
    PARTIAL_COVERAGE_OPENING,
    CompactMasks,
    Quantification,
    RegionBurden,
    encode_planes,
    slice_percent,
)
from lunglens.quant.zones import THIRDS, ZONE_DEFINITION, slice_thirds, zone_name
from lunglens.threads import for_each_slice, side_thread

SIDES = (RIGHT_LUNG, LEFT_LUNG)


@dataclass(frozen=True)
class ScoreBin:
    """Affected % from `lower_percent` (inclusive or not) up to the next bin's lower edge."""

    score: int
    lower_percent: float
    lower_inclusive: bool


@dataclass(frozen=True)
class SeverityScale:
    """Zone score 0-5 from the zone's affected %, after Pan et al. (Radiology 2020), applied to
    six zones instead of five lobes. Bins (checked from the top):
      0: exactly 0 %        1: 0 < p < 5        2: 5 <= p <= 25
      3: 25 < p <= 50       4: 50 < p <= 75     5: p > 75
    With HU bands a zone is never exactly 0 % (vessel rims count), so healthy zones score 1."""

    bins: tuple[ScoreBin, ...] = (
        ScoreBin(5, 75.0, False),
        ScoreBin(4, 50.0, False),
        ScoreBin(3, 25.0, False),
        ScoreBin(2, 5.0, True),
        ScoreBin(1, 0.0, False),
    )
    name: str = "six-zone adaptation of the Pan lobe score (zone score, not lobe score)"
    zone_max: int = 5

    def score_max(self, n_zones: int) -> int:
        """The largest severity score over `n_zones` zones (30 for six)."""
        return n_zones * self.zone_max

    @property
    def mild_below_percent(self) -> float:
        """Lower edge of the lowest score above 1 (5 %): below it, every non-zero zone scores 1."""
        return min(rule.lower_percent for rule in self.bins if rule.score > 1)

    def bands_text(self) -> str:
        """The bins in words, p being the zone's affected %, built from `bins` (so they read as
        `score` scores): "0: p = 0; 1: 0 < p < 5; 2: 5 <= p <= 25; ...; 5: p > 75" (plain ASCII)."""
        ascending = sorted(self.bins, key=lambda rule: rule.lower_percent)

        def below(rule: ScoreBin) -> str:
            return f"< {rule.lower_percent:g}" if rule.lower_inclusive else f"<= {rule.lower_percent:g}"

        lowest = ascending[0]
        zero = "p = 0" if lowest.lower_percent == 0 and not lowest.lower_inclusive else f"p {below(lowest)}"
        parts = [f"0: {zero}"]
        for rule, upper in zip(ascending, [*ascending[1:], None], strict=True):
            edge = f"{rule.lower_percent:g}"
            if upper is None:
                band = f"p {'>=' if rule.lower_inclusive else '>'} {edge}"
            else:
                band = f"{edge} {'<=' if rule.lower_inclusive else '<'} p {below(upper)}"
            parts.append(f"{rule.score}: {band}")
        return "; ".join(parts)

    def score(self, affected_percent: float) -> int:
        for rule in self.bins:
            above = (
                affected_percent >= rule.lower_percent
                if rule.lower_inclusive
                else affected_percent > rule.lower_percent
            )
            if above:
                return rule.score
        return 0


@dataclass(frozen=True)
class QuantParams:
    """Quantification rules as data."""

    lungs: LungParams = field(default_factory=LungParams)
    bands: HUBands = field(default_factory=HUBands)
    severity: SeverityScale = field(default_factory=SeverityScale)
    involved_slice_percent: float = 5.0
    """A discarded slice counts as involved when at least this % of its lung is affected (the
    lower edge of zone score 2) ..."""
    involved_slice_min_ml: float = 1.0
    """... and at least this much tissue (mL) is affected on it (not a sliver of lung apex)."""
    cut_lung_fraction: float = 0.1
    """The lungs run off the series when its first or last slice holds at least this fraction of
    their largest section (a whole chest CT ends above the apices and at the bases, where a
    covered lung holds a few % of it at most: 2 % on COVID-CT-MD P001's last slice)."""


NOMINAL_PIXEL_WARNING = (
    "the files state no pixel size: 1 mm pixels are assumed, so the volumes (mL) are nominal, not "
    "measured, and the lung segmentation's sizes in mm may not fit this series (check the contours)"
)


def classify_and_count(
    hu: np.ndarray, affected: np.ndarray, lung_labels: np.ndarray, bands: HUBands
) -> tuple[np.ndarray, np.ndarray]:
    """The lesion classes of the affected voxels and the voxel counts per slice, in one pass
    slice by slice (pass the lungs' box, not the whole series):
    - classes, uint8 (z, y, x): 0 not affected, 1 ground glass (affected, HU below the
      consolidation band), 2 consolidation (affected, HU at or above its lower edge);
    - counts, int64 (n_slices, 2 lungs [right, left], 3 [lung, ground glass, consolidation]),
      from one histogram (OpenCV) per slice of label x 3 + class."""
    classes = np.empty(hu.shape, np.uint8)
    hist = np.zeros((hu.shape[0], 9), np.int64)
    edge = bands.consolidation.low_hu

    def classify_slice(z: int) -> None:  # GGO_CLASS (1) where affected, + 1 where dense (2)
        hit = affected[z].astype(bool, copy=False)  # a method may mark with 0/1 or 0/255
        out = classes[z]
        np.copyto(out, hit, casting="unsafe")
        out += hit & (hu[z] >= edge)
        hist[z] = cv2.calcHist([lung_labels[z] * np.uint8(3) + out], [0], None, [9], [0, 9]).ravel()

    for_each_slice(classify_slice, range(hu.shape[0]))
    per_lung = hist.reshape(-1, 3, 3)[:, list(SIDES)]  # (slice, lung, class)
    counts = np.stack(
        [per_lung.sum(axis=2), per_lung[:, :, GGO_CLASS], per_lung[:, :, CONSOLIDATION_CLASS]], axis=2
    )
    return classes, counts


def low_score_caveat(zone_scores: dict[str, int], params: QuantParams, method_name: str) -> str | None:
    """The caveat when some zone scores 1 and none more: at that level the method's marks on healthy lung
    (vessels, fissures, dependent density; a learned map's false positives) weigh as much as
    mild disease, and the score cannot tell them apart."""
    if max(zone_scores.values(), default=0) != 1:
        return None
    return (
        f"no zone scores above 1 (each under {params.severity.mild_below_percent:g} % affected): the "
        f"{method_name} estimate also marks some tissue of healthy lungs (vessels, fissures, dependent "
        "density), so a score this low does not tell mild involvement from none"
    )


def partial_coverage_warning(lung_per_slice: np.ndarray, params: QuantParams) -> str | None:
    """The warning when the lungs run off the series at its first or last slice (see
    `QuantParams.cut_lung_fraction`): the scan covers part of them, so the figures and the zones
    describe that part only. `lung_per_slice`: lung voxels per slice."""
    largest = int(lung_per_slice.max())
    cut = [
        f"its {end} slice ({100 * int(lung_per_slice[index]) / largest:.0f} % of their largest section)"
        for end, index in (("first", 0), ("last", -1))
        if largest and lung_per_slice[index] >= params.cut_lung_fraction * largest
    ]
    if not cut:
        return None
    return (
        f"{PARTIAL_COVERAGE_OPENING} {' and '.join(cut)}: the scan covers only part of them, so "
        "the volumes, the involvement and the zone score (thirds of the lung scanned, not of the "
        "whole lungs) describe that part only"
    )


def discarded_involvement_warning(
    percent: np.ndarray, affected_ml: np.ndarray, kept: np.ndarray, params: QuantParams, method_name: str
) -> str | None:
    """The warning when involved slices (see `QuantParams`) are among those the selector
    discarded, saying where they lie (lung bases, apices, between kept slices). Per slice:
    `percent` of its lung affected (NaN without lung), `affected_ml` affected volume in ml."""
    involved = (np.nan_to_num(percent) >= params.involved_slice_percent) & (
        affected_ml >= params.involved_slice_min_ml
    )
    kept = np.asarray(kept, bool)
    hidden = np.flatnonzero(involved & ~kept)
    if hidden.size == 0:
        return None
    kept_slices = np.flatnonzero(kept)
    first, last = (kept_slices[0], kept_slices[-1]) if kept_slices.size else (len(kept), -1)
    places = (
        (np.count_nonzero(hidden > last), "below the last kept slice (lung bases)"),
        (np.count_nonzero(hidden < first), "above the first kept slice (apices)"),
        (np.count_nonzero((hidden > first) & (hidden < last)), "between kept slices"),
    )
    where = ", ".join(f"{count} {place}" for count, place in places if count)
    return (
        f"involvement on {hidden.size} slices the lung-open selector discarded ({where}): at least "
        f"{params.involved_slice_percent:g} % of the slice's lung affected by the {method_name} estimate; "
        "the patient decision does not count these slices, the quantification includes them"
    )


def quantify(
    series: Series,
    kept: np.ndarray | None = None,
    method: LesionMethod | None = None,
    params: QuantParams = QuantParams(),
    cancel: CancelFlag | None = None,
) -> Quantification:
    """Lungs, zones, lesion burden and score of a loaded series.

    `kept` is the selector's per-slice kept mask (bool, n_slices) or None to skip the
    discarded-involvement check; `method` defaults to the HU bands; `cancel` is handed to the
    method (a learned map checks it after each slice and raises `lunglens.inference.Cancelled`).
    Raises `lunglens.quant.lungs.NoLungFound` when the series holds no lung."""
    method = method or HUBandMethod(params.bands)
    try:
        segmentation = segment_lungs(
            series.hu,
            series.pixel_spacing_mm,
            series.slice_spacing_mm,
            series.orientation_cosines,
            params.lungs,
        )
    except NoLungFound as exc:
        raise NoLungFound(f"{series.ref.name}: {exc}") from exc
    labels = segmentation.labels
    box = bounding_box(labels)  # the lungs' box: classes, counts and masks need nothing outside it
    with side_thread() as background:  # planes deflate while the main thread works on (zlib frees the GIL)
        lung_planes = background.submit(encode_planes, labels[box])
        affected = method.affected(series.hu, labels, segmentation.voxel_mm, cancel)
        classes, box_counts = classify_and_count(series.hu[box], affected[box], labels[box], params.bands)
        lesion_planes = encode_planes(classes)
        masks = CompactMasks.of_box(labels.shape, box, lung_planes.result(), lesion_planes)
    counts = np.zeros((series.n_slices, 2, 3), np.int64)
    counts[box[0]] = box_counts
    voxel_ml = segmentation.voxel_ml
    thirds = slice_thirds(counts[:, :, 0] > 0, series.positions_mm)

    def region(selection: np.ndarray) -> RegionBurden:
        lung, ggo, consolidation = (int(v) for v in selection.reshape(-1, 3).sum(axis=0))
        return RegionBurden.from_counts(lung, ggo, consolidation, voxel_ml)

    lungs = {LUNG_LABELS[side]: region(counts[:, column]) for column, side in enumerate(SIDES)}
    zones = {
        zone_name(LUNG_LABELS[side], third): region(counts[thirds[:, column] == index, column])
        for column, side in enumerate(SIDES)
        for index, third in enumerate(THIRDS)
    }
    zone_scores = {name: params.severity.score(zone.affected_percent) for name, zone in zones.items()}
    lung_per_slice = counts[:, :, 0].sum(axis=1)
    affected_per_slice = counts[:, :, 1:].sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_slice = np.where(lung_per_slice > 0, 100.0 * affected_per_slice / lung_per_slice, np.nan)
    warnings = list(segmentation.warnings)
    if not series.pixel_spacing_stated:
        warnings.append(NOMINAL_PIXEL_WARNING)
    coverage = partial_coverage_warning(lung_per_slice, params)
    if coverage:
        warnings.append(coverage)
    caveat = low_score_caveat(zone_scores, params, method.name)
    if caveat:
        warnings.append(caveat)
    if kept is not None:
        if len(kept) != series.n_slices:
            raise ValueError(f"kept mask has {len(kept)} slices, the series {series.n_slices}")
        warning = discarded_involvement_warning(
            per_slice, affected_per_slice * voxel_ml, kept, params, method.name
        )
        if warning:
            warnings.append(warning)
    return Quantification(
        method=method.name,
        method_description=method.description,
        lungs=lungs,
        zones=zones,
        total=region(counts),
        zone_scores=zone_scores,
        severity_score=int(sum(zone_scores.values())),
        severity_score_max=params.severity.score_max(len(zones)),
        severity_score_name=params.severity.name,
        zone_definition=ZONE_DEFINITION,
        slices=tuple(slice_percent(v) for v in per_slice),
        warnings=tuple(warnings),
        masks=masks,
        lesion_model=method.lesion_model,
        partial_coverage=coverage is not None,
    )
