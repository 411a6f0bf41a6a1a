"""COVID-19 lung patterns inserted into an existing axial CT slice.

The patterns are ground-glass opacity (GGO, hazy, about -750 to -300 HU), consolidation (near
soft tissue, -100 to +50 HU) and crazy paving (GGO with thickened interlobular septa). They
are placed bilaterally, peripherally (subpleural, lateral) and posteriorly (dorsal, larger row
index in a supine axial image), inside the given lung mask only.

The slice keeps its own noise texture: a lesion is a *smooth* HU shift field, the target HU
minus the smooth local parenchyma background, blended by a soft lesion mask, which is added to
the existing pixels. No new noise is drawn, so a model cannot tell lesions by their noise.
Dense pixels (vessels, airway walls) receive a damped shift, so they stay visible inside the
opacity. All randomness comes from the caller's generator: same generator state, same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATTERNS = ("ggo", "consolidation", "crazy_paving")


@dataclass(frozen=True)
class LesionParams:
    """Appearance of the inserted patterns. HU values, sizes relative to the lung's size."""

    ggo_hu: tuple[float, float] = (-650.0, -400.0)
    """Range the target HU of a ground-glass opacity is drawn from."""
    consolidation_hu: tuple[float, float] = (-90.0, 30.0)
    septal_thickening_hu: tuple[float, float] = (150.0, 250.0)
    """Extra HU on the septal lines of crazy paving."""
    parenchyma_max_hu: float = -600.0
    """Lung pixels below this make the smooth background estimate (vessels are excluded)."""
    background_sigma_px: float = 8.0
    dense_damping_hu: tuple[float, float] = (-500.0, 0.0)
    """The shift is applied in full below the first value and fades to `dense_min_gain` at
    the second, so vessels keep their contrast against the opacity."""
    dense_min_gain: float = 0.15
    internal_variation_hu: float = 50.0
    """Standard deviation of the smooth (lesion-sized) variation of the target HU: haziness."""
    edge_sigma_px: float = 3.0
    """Softness of the lesion boundary (Gaussian sigma, pixels of a 512 image)."""
    max_lesions: int = 10
    """Number of lesions at severity 1 (at least one at any severity above 0)."""
    radius_fraction: tuple[float, float] = (0.15, 0.42)
    """Lesion radius as a fraction of the radius of one lung (equal-area disc), at severity 1."""


@dataclass(frozen=True)
class _Lesion:
    pattern: str
    centre_rc: tuple[int, int]
    radii_px: tuple[float, float]
    angle_rad: float
    target_hu: float
    seed: int
    """Seed of the lesion's own generator (shape, haze, septa), so kinds do not shift others."""


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(
        image.astype(np.float32), (0, 0), sigmaX=max(sigma, 0.3), borderType=cv2.BORDER_REFLECT
    )


def _smooth_background_hu(hu: np.ndarray, lung: np.ndarray, params: LesionParams, scale: float) -> np.ndarray:
    """Smooth parenchyma HU (vessels excluded) by normalised convolution; -850 HU where unknown."""
    parenchyma = (lung & (hu < params.parenchyma_max_hu)).astype(np.float32)
    sigma = params.background_sigma_px * scale
    weight = _gaussian(parenchyma, sigma)
    total = _gaussian(hu * parenchyma, sigma)
    return np.where(weight > 1e-3, total / np.maximum(weight, 1e-3), -850.0).astype(np.float32)


def _placement_weights(side: np.ndarray, midline_col: float, half_width: float) -> np.ndarray:
    """Where lesions start in one lung: near the pleura, lateral (far from the midline between
    the lungs) and dorsal; zero outside that lung."""
    distance = cv2.distanceTransform(side.astype(np.uint8), cv2.DIST_L2, 5)
    depth = max(float(distance.max()), 1.0)
    peripheral = np.exp(-distance / (0.2 * depth))
    rows = np.nonzero(side)[0]
    row_frac = (np.arange(side.shape[0], dtype=np.float32) - rows.min()) / max(rows.max() - rows.min(), 1)
    dorsal = np.clip(0.25 + row_frac, 0.0, None)[:, None] ** 2
    cols = np.arange(side.shape[1], dtype=np.float32)
    lateral = (0.2 + np.abs(cols - midline_col) / max(half_width, 1.0))[None, :] ** 2
    return peripheral * dorsal * lateral * side


def _lung_sides(lung: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    """The lung mask split at the midline between the lungs (columns), empty sides dropped;
    also the midline column and the half-width of the lungs in pixels."""
    cols = np.nonzero(lung)[1]
    midline = 0.5 * (cols.min() + cols.max())
    split = int(round(midline))
    left, right = lung.copy(), lung.copy()
    left[:, split:] = False
    right[:, :split] = False
    sides = [side for side in (left, right) if side.any()]
    return sides, midline, 0.5 * (cols.max() - cols.min())


def _plan_lesions(
    lung: np.ndarray,
    rng: np.random.Generator,
    severity: float,
    patterns: tuple[str, ...],
    params: LesionParams,
) -> list[_Lesion]:
    sides, midline, half_width = _lung_sides(lung)
    n_lesions = max(1, int(round(severity * params.max_lesions * rng.uniform(0.6, 1.0))))
    first_side = int(rng.integers(len(sides)))
    lesions = []
    for k in range(n_lesions):
        side = sides[(first_side + k) % len(sides)]
        weights = _placement_weights(side, midline, half_width).ravel().astype(np.float64)
        index = int(rng.choice(weights.size, p=weights / weights.sum()))
        centre = divmod(index, lung.shape[1])
        side_radius = np.sqrt(side.sum() / np.pi)
        size_gain = 0.5 + 0.7 * severity
        radius = side_radius * rng.uniform(*params.radius_fraction) * size_gain
        aspect = rng.uniform(0.5, 1.0)
        pattern_probability = {
            "consolidation": 0.05 + 0.30 * severity,
            "crazy_paving": 0.05 + 0.25 * severity,
            "ggo": 0.90 - 0.55 * severity,
        }
        allowed = [p for p in PATTERNS if p in patterns]
        probability = np.array([pattern_probability[p] for p in allowed])
        pattern = allowed[int(rng.choice(len(allowed), p=probability / probability.sum()))]
        target = rng.uniform(*(params.consolidation_hu if pattern == "consolidation" else params.ggo_hu))
        lesions.append(
            _Lesion(
                pattern,
                (int(centre[0]), int(centre[1])),
                (radius, radius * aspect),
                rng.uniform(0, np.pi),
                target,
                int(rng.integers(2**63)),
            )
        )
    return lesions


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Unit-variance smooth random field (used for shapes and septa, never added as noise)."""
    field = _gaussian(rng.standard_normal(shape).astype(np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def _lesion_soft_mask(
    lesion: _Lesion, shape: tuple[int, int], rng: np.random.Generator, edge_sigma: float
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Soft (0..1) irregular ellipse around the lesion centre, cropped to its bounding box."""
    a, b = lesion.radii_px
    reach = int(np.ceil(1.6 * a + 3 * edge_sigma)) + 1
    r0, c0 = lesion.centre_rc
    box = (
        slice(max(r0 - reach, 0), min(r0 + reach + 1, shape[0])),
        slice(max(c0 - reach, 0), min(c0 + reach + 1, shape[1])),
    )
    rr, cc = np.mgrid[box[0], box[1]].astype(np.float32)
    dy, dx = rr - r0, cc - c0
    cos, sin = np.cos(lesion.angle_rad), np.sin(lesion.angle_rad)
    u, v = (dx * cos + dy * sin) / a, (-dx * sin + dy * cos) / b
    irregular = 0.35 * _smooth_noise(u.shape, rng, max(a / 3.0, 1.0))
    core = ((1.0 - (u * u + v * v)) + irregular > 0).astype(np.float32)
    return _gaussian(core, edge_sigma), box


def _septal_lines(shape: tuple[int, int], rng: np.random.Generator, cell_px: float) -> np.ndarray:
    """A network of thin curved lines (0..1): the zero level set of a smooth random field."""
    field = _smooth_noise(shape, rng, cell_px / 2.5)
    return np.exp(-((field / 0.25) ** 2))


def insert_lesions(
    hu_slice: np.ndarray,
    lung_mask: np.ndarray,
    rng: np.random.Generator,
    severity: float,
    *,
    patterns: tuple[str, ...] = PATTERNS,
    params: LesionParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Insert COVID-19 patterns into one axial slice inside its lung mask.

    `hu_slice` is in HU (any 2-D size), `lung_mask` a bool mask of the same shape, `severity`
    in [0, 1] sets the number and size of lesions (0: the slice is returned unchanged with an
    empty mask). `patterns` restricts the kinds drawn (any non-empty subset of "ggo",
    "consolidation", "crazy_paving"). Returns the new slice as int16 HU
    and the lesion mask (bool, the pixels where the soft lesion weight is at least 0.5; always
    inside `lung_mask`). Deterministic for a given generator state.
    """
    params = params or LesionParams()
    hu = np.asarray(hu_slice)
    lung = np.asarray(lung_mask, dtype=bool)
    if hu.ndim != 2 or hu.shape != lung.shape:
        raise ValueError(f"slice {hu.shape} and lung mask {lung.shape} must be the same 2-D shape")
    unknown = set(patterns) - set(PATTERNS)
    if unknown or not patterns:
        raise ValueError(f"unknown lesion patterns {sorted(unknown)}; known: {PATTERNS}")
    severity = float(np.clip(severity, 0.0, 1.0))
    if severity == 0.0 or not lung.any():
        return hu.astype(np.int16, copy=True), np.zeros(hu.shape, bool)

    scale = max(hu.shape) / 512.0
    layers = []
    for lesion in _plan_lesions(lung, rng, severity, tuple(patterns), params):
        lesion_rng = np.random.default_rng(lesion.seed)
        soft, box = _lesion_soft_mask(lesion, hu.shape, lesion_rng, params.edge_sigma_px * scale)
        haze = params.internal_variation_hu * _smooth_noise(
            soft.shape, lesion_rng, max(lesion.radii_px[1] / 3.0, 1.0)
        )
        septal = None
        if lesion.pattern == "crazy_paving":
            septa = _septal_lines(soft.shape, lesion_rng, cell_px=12.0 * scale)
            septal = lesion_rng.uniform(*params.septal_thickening_hu) * septa
        layers.append(LesionLayer(box, soft, lesion.target_hu + haze, septal))
    return apply_lesion_layers(hu, lung, layers, params)


@dataclass(frozen=True)
class LesionLayer:
    """One lesion's contribution to a slice, inside the bounding box `box` (row, column slices):
    soft weight (0..1), target HU where the weight is 1, and optional extra HU (septal lines of
    crazy paving) added on top of the target."""

    box: tuple[slice, slice]
    weight: np.ndarray
    target_hu: np.ndarray | float
    extra_hu: np.ndarray | None = None


def apply_lesion_layers(
    hu_slice: np.ndarray, lung_mask: np.ndarray, layers: list[LesionLayer], params: LesionParams | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Add lesions to a slice as one smooth HU shift field: per layer, weight x (target minus
    the smooth parenchyma background), the largest where layers overlap; vessels and other dense
    pixels get a damped shift. The slice's own pixel noise is kept. Returns int16 HU and the
    lesion mask (weight >= 0.5, inside the lung mask)."""
    params = params or LesionParams()
    hu = np.asarray(hu_slice)
    lung = np.asarray(lung_mask, dtype=bool)
    info = np.iinfo(np.int16)
    new_hu = np.clip(np.rint(hu.astype(np.float32)), info.min, info.max).astype(np.int16)
    if not layers:
        return new_hu, np.zeros(hu.shape, bool)
    scale = max(hu.shape) / 512.0
    # Work in the union of the layers' boxes plus a margin for the background blur.
    margin = int(np.ceil(3 * params.background_sigma_px * scale))
    top = max(min(layer.box[0].start for layer in layers) - margin, 0)
    left = max(min(layer.box[1].start for layer in layers) - margin, 0)
    bottom = min(max(layer.box[0].stop for layer in layers) + margin, hu.shape[0])
    right = min(max(layer.box[1].stop for layer in layers) + margin, hu.shape[1])
    crop = (slice(top, bottom), slice(left, right))
    hu_f = hu[crop].astype(np.float32)
    lung_crop = lung[crop]
    background = _smooth_background_hu(hu_f, lung_crop, params, scale)
    # The lung mask's edge, softened inwards: lesions fade out at the pleura and mediastinum.
    soft_lung = _gaussian(lung_crop.astype(np.float32), 1.5 * scale) * lung_crop
    shift = np.zeros(hu_f.shape, np.float32)
    weight = np.zeros(hu_f.shape, np.float32)
    for layer in layers:
        box = (
            slice(layer.box[0].start - top, layer.box[0].stop - top),
            slice(layer.box[1].start - left, layer.box[1].stop - left),
        )
        soft = layer.weight * soft_lung[box]
        target = np.maximum(layer.target_hu - background[box], 0.0)
        if layer.extra_hu is not None:
            target = target + layer.extra_hu
        shift[box] = np.maximum(shift[box], soft * target)
        weight[box] = np.maximum(weight[box], soft)
    low, high = params.dense_damping_hu
    gain = np.clip((high - hu_f) / (high - low), params.dense_min_gain, 1.0)
    new_hu[crop] = np.clip(np.rint(hu_f + shift * gain * lung_crop), info.min, info.max).astype(np.int16)
    lesion_mask = np.zeros(hu.shape, bool)
    lesion_mask[crop] = (weight >= 0.5) & lung_crop
    return new_hu, lesion_mask
