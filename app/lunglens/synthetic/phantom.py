"""A procedural, seeded chest CT phantom with known lungs, lesions and lung-open range.

`make_phantom` renders the canonical anatomy of `lunglens.synthetic.anatomy` slice by slice
(OpenCV shapes from analytic z-profiles, no 3-D morphology), adds the vessel and airway trees,
optional COVID-19 lesions (3-D, through the same shift-field code as `insert_lesions`), a
slight blur and correlated noise. The same arguments give the same bytes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from lunglens.synthetic import anatomy
from lunglens.synthetic.anatomy import SCAN_LENGTH_MM, Plane, Tree, ramp, section
from lunglens.synthetic.lesions import PATTERNS, LesionLayer, LesionParams, apply_lesion_layers

# Tissue values (HU) of a non-contrast chest CT.
AIR_HU = -1000.0
LUNG_HU = -870.0
FAT_HU = -100.0
MEDIASTINAL_FAT_HU = -90.0
SKIN_HU = 30.0
MUSCLE_HU = 50.0
BLOOD_HU = 40.0
NECK_HU = 35.0
THYROID_HU = 90.0
AIRWAY_WALL_HU = 20.0
LIVER_HU = 52.0
SPLEEN_HU = 48.0
KIDNEY_HU = 32.0
BOWEL_HU = 28.0
CSF_HU = 12.0
DISC_HU = 85.0
CARTILAGE_HU = 120.0
CANCELLOUS_BONE_HU = 180.0
CORTICAL_BONE_HU = 600.0
TABLE_HU = 180.0

LUNG_TEXTURE_HU = 16.0
"""Standard deviation of the fine lung parenchyma texture (HU)."""
NOISE_HU = 22.0
"""Standard deviation of the correlated image noise (HU)."""
BLUR_SIGMA_PX = 0.9
"""Point-spread blur (Gaussian sigma, pixels)."""
LUNG_OPEN_MIN_COVER = 0.40
"""A slice is lung-open when both lungs are present and lung covers at least this fraction of
the dorsal mid-chest (`DORSAL_MID_CHEST_MM`): the lungs are expanded behind the heart, where
the paper's selector looks, rather than shrunk to apices or costophrenic recesses."""
DORSAL_MID_CHEST_MM = ((-95.0, 80.0), (-10.0, 60.0))
"""(x range, y range) in mm from the image centre: at 0.7 mm pixels this is the paper's
selector region (rows 240-339, columns 120-369 of 512), fixed in mm for other spacings."""


@dataclass
class Phantom:
    """A synthetic chest CT series with its ground truth.

    `hu` is int16 (z, y, x) in HU, index 0 the most superior slice; `positions_mm` the slice
    positions along the head-foot axis (mm, decreasing: larger = more superior). `lung_mask`
    and `lesion_mask` are bool volumes of the same shape; `lung_open` marks the slices where
    both lungs are open (see `LUNG_OPEN_MIN_COVER`)."""

    hu: np.ndarray
    lung_mask: np.ndarray
    lesion_mask: np.ndarray
    lung_open: np.ndarray
    positions_mm: np.ndarray
    pixel_spacing_mm: float
    slice_thickness_mm: float
    seed: int
    covid_severity: float

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    @property
    def lung_open_range(self) -> tuple[int, int]:
        """First and last lung-open slice index (inclusive)."""
        open_slices = np.flatnonzero(self.lung_open)
        return int(open_slices[0]), int(open_slices[-1])


@dataclass(frozen=True)
class _Lesion3D:
    """An irregular ellipsoidal lesion in canonical coordinates (mm)."""

    pattern: str
    centre: np.ndarray
    half_axes: np.ndarray
    angle_rad: float
    target_hu: float
    septal_hu: float
    shape_waves: tuple[np.ndarray, np.ndarray]
    """Wave vectors (K, 3) in rad/mm and phases (K,) of the boundary irregularity."""
    haze_waves: tuple[np.ndarray, np.ndarray]
    septa_waves: tuple[np.ndarray, np.ndarray]


def _waves(rng: np.random.Generator, n: int, wavelength_mm: float) -> tuple[np.ndarray, np.ndarray]:
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lengths = wavelength_mm * rng.uniform(0.7, 1.3, n)
    return directions * (2.0 * np.pi / lengths)[:, None], rng.uniform(0, 2 * np.pi, n)


def _wave_field(
    waves: tuple[np.ndarray, np.ndarray], x: np.ndarray, y: np.ndarray, depth: float
) -> np.ndarray:
    """A smooth unit-variance field: a sum of plane waves at the grid x (1, n) by y (m, 1) mm
    and one depth (mm). Each wave is separated, cos(a + b) = cos a cos b - sin a sin b, so only
    1-D cosines are evaluated."""
    vectors, phases = waves
    field = np.zeros((y.shape[0], x.shape[1]), np.float32)
    for (kx, ky, kz), phase in zip(vectors, phases, strict=True):
        a = (kx * x).astype(np.float32)
        b = (ky * y + (kz * depth + phase)).astype(np.float32)
        field += np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b)
    return field * np.float32(np.sqrt(2.0 / len(phases)))


def _plan_lesions(
    rng: np.random.Generator, severity: float, points: np.ndarray, sides: np.ndarray
) -> list[_Lesion3D]:
    """COVID-19 lesions: bilateral, peripheral, posterior, lower-lobe predominant."""
    if severity <= 0:
        return []
    params = LesionParams()
    n_lesions = max(2, int(round(severity * 40 * rng.uniform(0.7, 1.0))))
    sec_width, sec_depth = anatomy.cavity_half_axes(points[:, 2])
    radial = np.sqrt((points[:, 0] / sec_width) ** 2 + (points[:, 1] / sec_depth) ** 2)
    peripheral = np.exp((np.minimum(radial, 1.0) - 1.0) / 0.15)
    dorsal = np.clip((points[:, 1] + sec_depth) / (2 * sec_depth), 0, 1) ** 2 + 0.05
    lower = ramp(points[:, 2], anatomy.LUNG_APEX_DEPTH_MM, anatomy.DOME_FLOOR_DEPTH_MM) ** 1.5 + 0.05
    weight = peripheral * dorsal * lower
    lesions = []
    for k in range(n_lesions):
        side_weight = weight * (sides == 1 + (k % 2))
        centre = points[int(rng.choice(len(points), p=side_weight / side_weight.sum()))]
        radius = rng.uniform(10.0, 26.0) * (0.6 + 0.8 * severity)
        half_axes = radius * np.array([1.0, rng.uniform(0.5, 0.9), rng.uniform(0.7, 1.2)])
        probability = np.array([0.90 - 0.55 * severity, 0.05 + 0.30 * severity, 0.05 + 0.25 * severity])
        pattern = PATTERNS[int(rng.choice(3, p=probability / probability.sum()))]
        target = rng.uniform(*(params.consolidation_hu if pattern == "consolidation" else params.ggo_hu))
        lesions.append(
            _Lesion3D(
                pattern=pattern,
                centre=centre,
                half_axes=half_axes,
                angle_rad=rng.uniform(0, np.pi),
                target_hu=target,
                septal_hu=rng.uniform(*params.septal_thickening_hu),
                shape_waves=_waves(rng, 6, 1.6 * radius),
                haze_waves=_waves(rng, 6, 1.2 * radius),
                septa_waves=_waves(rng, 8, 14.0),
            )
        )
    return lesions


def _lesion_layers(
    lesions: list[_Lesion3D], plane: Plane, depth: float, edge_mm: float = 3.0
) -> list[LesionLayer]:
    """The cross-sections of the 3-D lesions at one depth, as soft-weight layers."""
    layers = []
    centre_px = (plane.size - 1) / 2.0
    for lesion in lesions:
        a, b, c = lesion.half_axes
        w = (depth - lesion.centre[2]) / c
        if abs(w) > 1.4:
            continue
        reach = 1.5 * a + edge_mm
        c0 = int(np.floor(centre_px + (lesion.centre[0] - reach) / plane.spacing_mm))
        c1 = int(np.ceil(centre_px + (lesion.centre[0] + reach) / plane.spacing_mm)) + 1
        r0 = int(np.floor(centre_px + (lesion.centre[1] - reach) / plane.spacing_mm))
        r1 = int(np.ceil(centre_px + (lesion.centre[1] + reach) / plane.spacing_mm)) + 1
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, plane.size), min(r1, plane.size)
        if c1 <= c0 or r1 <= r0:
            continue
        x = ((np.arange(c0, c1, dtype=np.float32) - centre_px) * plane.spacing_mm)[None, :]
        y = ((np.arange(r0, r1, dtype=np.float32) - centre_px) * plane.spacing_mm)[:, None]
        dx, dy = x - lesion.centre[0], y - lesion.centre[1]
        cos, sin = np.cos(lesion.angle_rad), np.sin(lesion.angle_rad)
        u, v = (dx * cos + dy * sin) / a, (-dx * sin + dy * cos) / b
        q = u * u + v * v + w * w - 0.3 * _wave_field(lesion.shape_waves, x, y, depth)
        # Soft edge about edge_mm wide: q changes by ~2 delta/a across a distance delta.
        weight = np.clip(0.5 + (1.0 - q) * a / (2.0 * edge_mm), 0.0, 1.0)
        if not weight.any():
            continue
        target = lesion.target_hu + LesionParams().internal_variation_hu * _wave_field(
            lesion.haze_waves, x, y, depth
        )
        extra = None
        if lesion.pattern == "crazy_paving":
            septa = np.exp(-((_wave_field(lesion.septa_waves, x, y, depth) / 0.25) ** 2))
            extra = lesion.septal_hu * septa
        layers.append(LesionLayer((slice(r0, r1), slice(c0, c1)), weight, target, extra))
    return layers


@dataclass(frozen=True)
class _Tubes:
    """One set of tree segments ready for drawing: ends (x, y, depth mm) and radii (mm)."""

    starts: np.ndarray
    ends: np.ndarray
    radii_mm: np.ndarray

    @staticmethod
    def of(tree: Tree, inside_lung_only: bool, widen_mm: tuple[float, float] = (1.0, 0.0)) -> _Tubes:
        chosen = tree.inside_lung_only == inside_lung_only
        radii = tree.radii_mm[chosen] * widen_mm[0] + widen_mm[1]
        order = np.argsort(radii, kind="stable")  # thin first: thick tubes are drawn over them
        return _Tubes(tree.starts[chosen][order], tree.ends[chosen][order], radii[order])

    def draw(self, plane: Plane, depth: float, slab_mm: float) -> np.ndarray | None:
        """Partial-volume weights (0..1) of the tubes in the slab centred at `depth`; None when
        no tube reaches the slab."""
        radii = self.radii_mm
        low, high = depth - slab_mm / 2 - radii, depth + slab_mm / 2 + radii
        z0, z1 = self.starts[:, 2], self.ends[:, 2]
        dz = z1 - z0
        flat = np.abs(dz) < 1e-6
        safe_dz = np.where(flat, 1.0, dz)
        t_low, t_high = (low - z0) / safe_dz, (high - z0) / safe_dz
        t0 = np.where(flat, 0.0, np.clip(np.minimum(t_low, t_high), 0, 1))
        t1 = np.where(flat, 1.0, np.clip(np.maximum(t_low, t_high), 0, 1))
        visible = np.flatnonzero(np.where(flat, (z0 >= low) & (z0 <= high), t1 > t0))
        if visible.size == 0:
            return None
        span = self.ends[visible] - self.starts[visible]
        p0 = self.starts[visible] + t0[visible, None] * span
        p1 = self.starts[visible] + t1[visible, None] * span
        diameter = 2.0 * radii[visible]
        weight = np.minimum(1.0, diameter / plane.spacing_mm)
        weight *= np.minimum(1.0, (diameter + np.abs(p1[:, 2] - p0[:, 2])) / slab_mm)
        thickness = np.maximum(np.rint(diameter / plane.spacing_mm), 1).astype(int)
        a, b = plane.points(p0[:, 0], p0[:, 1]), plane.points(p1[:, 0], p1[:, 1])
        canvas = np.zeros((plane.size, plane.size), np.float32)
        for start, end, w, t in zip(a.tolist(), b.tolist(), weight.tolist(), thickness.tolist(), strict=True):
            cv2.line(canvas, start, end, w, t, cv2.LINE_8, anatomy.SUBPIXEL_BITS)
        return canvas


class _TreeDrawer:
    """Draws the vessel and airway trees into weight maps, peripheral parts only in the lung."""

    def __init__(self, trees: anatomy.ChestTrees):
        self.vessels = (_Tubes.of(trees.vessels, True), _Tubes.of(trees.vessels, False))
        self.airway_lumens = (_Tubes.of(trees.airways, True), _Tubes.of(trees.airways, False))
        wall = (1.12, 0.45)
        self.airway_walls = (_Tubes.of(trees.airways, True, wall), _Tubes.of(trees.airways, False, wall))

    @staticmethod
    def _combine(plane, pair, depth, slab_mm, lung) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The weights of a tube set (peripheral part kept inside the lung) and of its roots."""
        inside, roots = (tubes.draw(plane, depth, slab_mm) for tubes in pair)
        if inside is not None:
            inside *= lung
        if inside is None or roots is None:
            return (inside if roots is None else roots), roots
        return np.maximum(inside, roots), roots

    def paint(
        self, hu: np.ndarray, plane: Plane, depth: float, slab_mm: float, lung: np.ndarray
    ) -> np.ndarray:
        """Blend vessels (blood), airway walls and airway lumens (air) into a slice in place.
        Returns where the mediastinal roots (hilar vessels, trachea, main bronchi) lie."""
        roots_mask = np.zeros(hu.shape, bool)
        for pair, value in (
            (self.vessels, BLOOD_HU),
            (self.airway_walls, AIRWAY_WALL_HU),
            (self.airway_lumens, AIR_HU),
        ):
            weight, roots = self._combine(plane, pair, depth, slab_mm, lung)
            if weight is not None:
                drawn = np.nonzero(weight)
                w = np.minimum(weight[drawn], 1.0)
                hu[drawn] += (np.float32(value) - hu[drawn]) * w
            if roots is not None:
                roots_mask |= roots >= 0.5
        return roots_mask


_NOT_DRAWN = -32768.0
"""Overlay value meaning "nothing drawn here"."""


class _Renderer:
    """Renders one canonical depth into a noise-free HU slice plus lung labels."""

    def __init__(self, plane: Plane, trees: anatomy.ChestTrees, bowel: np.ndarray, slab_mm: float):
        self.plane = plane
        self.trees = _TreeDrawer(trees)
        self.bowel = bowel
        self.slab_mm = slab_mm
        centre = (plane.size - 1) / 2.0
        coordinates = (np.arange(plane.size, dtype=np.float32) - centre) * plane.spacing_mm
        self.y_mm = coordinates[:, None]
        self.x_mm = coordinates[None, :]

    def render(self, depth: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        plane, d = self.plane, depth
        sec = section(d)
        hu = np.full((plane.size, plane.size), AIR_HU, np.float32)
        self._table(hu, sec)
        self._body_wall(hu, sec, d)
        cavity = np.zeros(hu.shape, np.uint8)
        plane.superellipse(
            cavity, (0.0, 0.0), (sec.cavity_half_width, sec.cavity_half_depth), anatomy.CAVITY_EXPONENT, 1
        )
        cavity_hu = NECK_HU + (MEDIASTINAL_FAT_HU - NECK_HU) * ramp(d, 10.0, 45.0)
        hu[cavity > 0] = cavity_hu
        self._abdomen(hu, sec, d, cavity > 0)
        labels = anatomy.lung_masks(plane, d)
        lung = labels > 0
        gravity = np.clip((self.y_mm + sec.cavity_half_depth) / (2 * sec.cavity_half_depth), 0, 1) ** 2
        texture = _smooth_field(rng, hu.shape, 1.2) * np.float32(LUNG_TEXTURE_HU)
        parenchyma = np.float32(LUNG_HU) + np.float32(55.0) * gravity + texture
        np.copyto(hu, parenchyma, where=lung)
        # Mediastinal organs, bones: drawn on an overlay, so the lung labels can give way to them.
        overlay = np.full(hu.shape, _NOT_DRAWN, np.float32)
        self._mediastinum(overlay, sec, d)
        self._ribs(overlay, sec, d)
        self._spine(overlay, sec, d)
        drawn = overlay != _NOT_DRAWN
        np.copyto(hu, overlay, where=drawn)
        labels[drawn] = 0
        lung &= ~drawn
        roots = self.trees.paint(hu, plane, d, self.slab_mm, lung)
        labels[roots] = 0
        return hu, labels

    def _table(self, hu: np.ndarray, sec: anatomy.Section) -> None:
        top = max(sec.body_half_depth, 128.0) + 5.0
        for offset, thickness, value in ((0.0, 2.5, TABLE_HU), (14.0, 3.5, TABLE_HU + 100.0)):
            self.plane.ellipse(
                hu, (0.0, top + offset - 420.0), (330.0, 420.0), value, 0.0, (62.0, 118.0), thickness
            )

    def _body_wall(self, hu: np.ndarray, sec: anatomy.Section, d: float) -> None:
        plane = self.plane
        w, h = sec.body_half_width, sec.body_half_depth
        shoulder = 1.0 - ramp(d, 12.0, 62.0)
        insets = ((0.0, SKIN_HU), (2.0, FAT_HU), (2.0 + sec.fat_mm, MUSCLE_HU))
        for inset, value in insets:
            plane.superellipse(hu, (0.0, 0.0), (w - inset, h - inset), 2.4, value)
            if shoulder > 0:
                for side in (-1, 1):
                    centre = (side * (w - 8.0 + 22.0 * shoulder), 4.0)
                    axes = (48.0 * shoulder + 12.0 - inset, 62.0 * shoulder + 14.0 - inset)
                    plane.ellipse(hu, centre, axes, value)
        for side in (-1, 1):
            # Paraspinal muscles, and the scapular muscles of the upper back.
            plane.ellipse(hu, (side * 34.0, sec.spine_y + 30.0), (28.0, 24.0), MUSCLE_HU)
            if d < 160:
                size = 1.0 - ramp(d, 110.0, 160.0)
                plane.ellipse(
                    hu,
                    (side * (sec.cavity_half_width - 10.0), sec.cavity_half_depth - 8.0),
                    (52.0 * size, 26.0 * size),
                    MUSCLE_HU,
                    side * 35.0,
                )
            if shoulder > 0 and d < 48:
                head = 20.0 * (1.0 - ramp(d, 34.0, 48.0))
                centre = (side * (w + 18.0 * shoulder), 2.0)
                plane.ellipse(hu, centre, (head, head), CORTICAL_BONE_HU)
                plane.ellipse(hu, centre, (head - 2.5, head - 2.5), CANCELLOUS_BONE_HU)

    def _abdomen(self, hu: np.ndarray, sec: anatomy.Section, d: float, cavity: np.ndarray) -> None:
        """Liver under the right dome; spleen, stomach (with a gas bubble) and bowel under the left;
        kidneys low down."""
        plane = self.plane
        size = plane.size
        cavity_axes = (sec.cavity_half_width, sec.cavity_half_depth)
        right_centre, left_centre = anatomy.dome_centres(sec)
        right_axes = anatomy.dome_half_axes(d, anatomy.RIGHT_DOME_DEPTH_MM, cavity_axes)
        left_axes = anatomy.dome_half_axes(d, anatomy.LEFT_DOME_DEPTH_MM, cavity_axes)
        if max(right_axes + left_axes) <= 0:
            return
        organs = np.zeros((size, size), np.float32)
        present = np.zeros((size, size), np.uint8)
        plane.ellipse(present, left_centre, left_axes, 1)
        plane.ellipse(organs, left_centre, left_axes, MEDIASTINAL_FAT_HU)
        for x, y, r, top in self.bowel:
            if d > top:
                plane.ellipse(organs, (x, y), (r, 0.8 * r), BOWEL_HU)
                if (int(top) % 3) == 0:
                    plane.ellipse(organs, (x, y - 0.3 * r), (0.5 * r, 0.35 * r), AIR_HU)
        grow = ramp(d, anatomy.LEFT_DOME_DEPTH_MM + 4.0, anatomy.LEFT_DOME_DEPTH_MM + 40.0)
        stomach_centre = (0.38 * cavity_axes[0], -0.35 * cavity_axes[1])
        stomach_axes = (38.0 * grow, 30.0 * grow)
        plane.ellipse(organs, stomach_centre, stomach_axes, BOWEL_HU + 12.0)
        plane.ellipse(organs, stomach_centre, (stomach_axes[0] - 4.0, stomach_axes[1] - 4.0), 15.0)
        gas = np.zeros((size, size), np.uint8)
        plane.ellipse(gas, stomach_centre, (stomach_axes[0] - 4.0, stomach_axes[1] - 4.0), 1)
        gas_level = stomach_centre[1] - 0.25 * stomach_axes[1]
        organs[(gas > 0) & (self.y_mm < gas_level)] = AIR_HU
        spleen = ramp(d, anatomy.LEFT_DOME_DEPTH_MM + 10.0, anatomy.LEFT_DOME_DEPTH_MM + 45.0)
        spleen *= 1.0 - ramp(d, 290.0, 320.0)
        plane.ellipse(
            organs,
            (0.7 * cavity_axes[0], 0.4 * cavity_axes[1]),
            (22.0 * spleen, 48.0 * spleen),
            SPLEEN_HU,
            -35.0,
        )
        plane.ellipse(present, right_centre, right_axes, 1)
        plane.ellipse(organs, right_centre, right_axes, LIVER_HU)
        left_lobe = ramp(d, 225.0, 255.0) * (1.0 - ramp(d, 290.0, 320.0))
        plane.ellipse(present, (-5.0, -0.55 * cavity_axes[1]), (50.0 * left_lobe, 28.0 * left_lobe), 1)
        plane.ellipse(organs, (-5.0, -0.55 * cavity_axes[1]), (50.0 * left_lobe, 28.0 * left_lobe), LIVER_HU)
        kidney = ramp(d, 252.0, 285.0)
        for side in (-1, 1):
            centre = (side * 62.0, sec.spine_y - 6.0)
            plane.ellipse(organs, centre, (30.0 * kidney, 38.0 * kidney), FAT_HU, side * 20.0)
            plane.ellipse(organs, centre, (24.0 * kidney, 32.0 * kidney), KIDNEY_HU, side * 20.0)
            plane.ellipse(present, centre, (30.0 * kidney, 38.0 * kidney), 1, side * 20.0)
        inferior_vena_cava = (-22.0, sec.spine_y - sec.vertebra_radius - 12.0)
        plane.ellipse(organs, inferior_vena_cava, (12.0, 10.0), BLOOD_HU)
        region = (present > 0) & cavity
        hu[region] = organs[region]

    def _mediastinum(self, hu: np.ndarray, sec: anatomy.Section, d: float) -> None:
        plane = self.plane
        heart = anatomy.heart_half_axes(d)
        if heart[0] > 0:
            plane.ellipse(
                hu,
                anatomy.HEART_CENTRE_MM,
                (heart[0] + 3.0, heart[1] + 3.0),
                MEDIASTINAL_FAT_HU,
                anatomy.HEART_ANGLE_DEG,
            )
            plane.ellipse(hu, anatomy.HEART_CENTRE_MM, heart, BLOOD_HU, anatomy.HEART_ANGLE_DEG)
        descending = anatomy.descending_aorta(d)
        if 66.0 < d < 82.0:
            plane.line(hu, (-16.0, -34.0), descending[:2], 26.0, BLOOD_HU)
        if d >= 72.0:
            plane.ellipse(hu, descending[:2], (descending[2], descending[2]), BLOOD_HU)
        if 76.0 < d < 132.0:
            plane.ellipse(hu, (-16.0, -34.0), (15.5, 15.5), BLOOD_HU)
        if 38.0 < d < 128.0:
            plane.ellipse(hu, (-36.0, -24.0), (10.0, 11.0), BLOOD_HU)
        if 14.0 < d < 70.0:
            ty = sec.trachea_y
            for x, y, r in (
                (-14.0, ty - 16.0, 7.0),
                (8.0, ty - 16.0, 5.5),
                (20.0, ty - 4.0, 6.0),
                (-36.0, ty - 22.0, 9.0),
            ):
                plane.ellipse(hu, (x, y), (r, r), BLOOD_HU)
            if d > 50:
                plane.line(hu, (24.0, ty - 34.0), (-30.0, ty - 26.0), 12.0, BLOOD_HU)
        if d < 32.0:
            size = 1.0 - ramp(d, 22.0, 32.0)
            for side in (-1, 1):
                plane.ellipse(hu, (side * 18.0, sec.trachea_y + 2.0), (11.0 * size, 17.0 * size), THYROID_HU)
        esophagus_y = (
            sec.trachea_y + 17.0 if d < anatomy.CARINA_DEPTH_MM else sec.spine_y - sec.vertebra_radius - 8.0
        )
        esophagus_x = 5.0 if d < 200 else 12.0
        plane.ellipse(hu, (esophagus_x, esophagus_y), (8.0, 6.5), MUSCLE_HU - 10.0)

    def _ribs(self, hu: np.ndarray, sec: anatomy.Section, d: float) -> None:
        """Each rib descends from the spine (posterior) to the front; a slice cuts short arcs."""
        plane = self.plane
        a, b = sec.cavity_half_width + 6.0, sec.cavity_half_depth + 6.0
        for k in range(12):
            posterior_depth = 22.0 + 21.0 * k
            descent = 60.0 + 10.0 * min(k, 5)
            end_deg = 165.0 if k < 7 else (140.0 if k < 10 else 95.0)
            start_deg = 25.0
            # depth(theta) = posterior_depth + descent * (theta - start) / (180 - start)
            half_height = 4.5
            thetas = start_deg + (
                np.array([d - half_height, d + half_height]) - posterior_depth
            ) / descent * (180.0 - start_deg)
            lo, hi = max(thetas[0], start_deg), min(thetas[1], end_deg)
            if hi <= lo:
                continue
            for part_lo, part_hi, value in (
                (lo, min(hi, 128.0), CORTICAL_BONE_HU),
                (max(lo, 128.0), hi, CARTILAGE_HU),
            ):
                if part_hi <= part_lo:
                    continue
                theta = np.radians(np.linspace(part_lo, part_hi, 16))
                for side in (-1, 1):
                    phi = np.pi / 2 + side * -theta
                    cos, sin = np.cos(phi), np.sin(phi)
                    xs = a * np.sign(cos) * np.abs(cos) ** (2 / anatomy.CAVITY_EXPONENT)
                    ys = b * np.sign(sin) * np.abs(sin) ** (2 / anatomy.CAVITY_EXPONENT)
                    polyline = plane.points(xs, ys)[None]
                    bits = anatomy.SUBPIXEL_BITS
                    cv2.polylines(hu, polyline, False, value, plane.pixels(5.0), cv2.LINE_8, bits)
                    if value == CORTICAL_BONE_HU:
                        marrow = CANCELLOUS_BONE_HU
                        cv2.polylines(hu, polyline, False, marrow, plane.pixels(3.0), cv2.LINE_8, bits)
        if 40.0 < d < 205.0:
            width = 24.0 if d < 75 else 15.0
            centre = (0.0, -sec.cavity_half_depth - 9.0)
            plane.ellipse(hu, centre, (width, 7.0), CORTICAL_BONE_HU)
            plane.ellipse(hu, centre, (width - 2.5, 4.5), CANCELLOUS_BONE_HU)
        if 14.0 < d < 46.0:
            lateral = np.clip((46.0 - d) / 30.0, 0, 1)
            for side in (-1, 1):
                start = (side * (20.0 + 90.0 * max(lateral - 0.25, 0)), -sec.cavity_half_depth - 22.0)
                end = (side * (20.0 + 90.0 * min(lateral + 0.25, 1)), -sec.cavity_half_depth - 14.0)
                plane.line(hu, start, end, 11.0, CORTICAL_BONE_HU)
                plane.line(hu, start, end, 6.0, CANCELLOUS_BONE_HU)
        if 16.0 < d < 130.0:
            medial = ramp(d, 16.0, 130.0)
            for side in (-1, 1):
                start = (side * (55.0 + 45.0 * medial), sec.cavity_half_depth + 30.0 - 20.0 * medial)
                end = (
                    side * (sec.cavity_half_width + 8.0 - 10.0 * medial),
                    sec.cavity_half_depth - 8.0 - 10.0 * medial,
                )
                plane.line(hu, start, end, 3.5, CORTICAL_BONE_HU - 150.0)

    def _spine(self, hu: np.ndarray, sec: anatomy.Section, d: float) -> None:
        plane = self.plane
        r, y = sec.vertebra_radius, sec.spine_y
        phase = (d % 26.0) / 26.0
        if phase < 0.18:
            plane.ellipse(hu, (0.0, y), (r, r * 0.9), DISC_HU)
        else:
            plane.ellipse(hu, (0.0, y), (r, r * 0.9), CORTICAL_BONE_HU)
            plane.ellipse(hu, (0.0, y), (r - 2.0, r * 0.9 - 2.0), CANCELLOUS_BONE_HU)
        canal = (0.0, y + r + 9.0)
        if 0.3 < phase < 0.95:
            plane.ellipse(hu, canal, (13.0, 13.0), CORTICAL_BONE_HU - 100.0, 0.0, (0.0, 180.0), 5.0)
            plane.line(hu, (0.0, canal[1] + 12.0), (0.0, canal[1] + 34.0), 6.0, CORTICAL_BONE_HU - 100.0)
            for side in (-1, 1):
                plane.line(
                    hu,
                    (side * 10.0, canal[1] - 2.0),
                    (side * 30.0, canal[1] - 5.0),
                    7.0,
                    CORTICAL_BONE_HU - 150.0,
                )
        plane.ellipse(hu, canal, (8.0, 7.5), CSF_HU)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Unit-variance Gaussian-correlated random field (uniform bytes blurred: fast, and close
    to Gaussian after the blur)."""
    white = np.frombuffer(rng.bytes(shape[0] * shape[1]), np.uint8).reshape(shape).astype(np.float32)
    white -= np.float32(127.5)
    kernel = cv2.getGaussianKernel(int(2 * np.ceil(3 * sigma_px) + 1), sigma_px)
    gain = 1.0 / (73.9 * float((kernel**2).sum()))  # 73.9 = std of uniform bytes; 2-D kernel = outer product
    return cv2.GaussianBlur(white, (0, 0), sigma_px) * np.float32(gain)


def _bowel_loops(rng: np.random.Generator) -> np.ndarray:
    """Bowel loops in the left upper abdomen: x, y, radius and first depth (mm)."""
    n = 14
    return np.stack(
        [
            rng.uniform(-20.0, 95.0, n),
            rng.uniform(-80.0, 10.0, n),
            rng.uniform(8.0, 15.0, n),
            rng.uniform(235.0, 300.0, n),
        ],
        axis=1,
    )


def make_phantom(
    n_slices: int = 150,
    seed: int = 0,
    covid_severity: float = 0.0,
    slice_thickness_mm: float | None = None,
    pixel_spacing_mm: float = 0.7,
    size: int = 512,
    workers: int | None = None,
) -> Phantom:
    """Render a synthetic chest CT series (deterministic for the same arguments).

    The series always covers the same anatomy, from the lower neck and shoulders to the upper
    abdomen (`SCAN_LENGTH_MM` canonical mm): `n_slices` (35-600) sample it evenly, so the lungs
    open and close inside every series. `slice_thickness_mm` (default: that canonical length
    divided by `n_slices`) is the slice spacing written to the positions; a value other than the
    default stretches the anatomy along z. `covid_severity` in [0, 1]: 0 a normal patient, 1
    extensive bilateral disease. `pixel_spacing_mm` sets the in-plane scale (mm per pixel) of a
    `size` x `size` image. `workers` threads render slices (default: the CPU count).
    """
    if not 1 <= n_slices <= 2000:
        raise ValueError(f"n_slices must be between 1 and 2000, got {n_slices}")
    canonical_spacing = SCAN_LENGTH_MM / n_slices
    thickness = float(slice_thickness_mm) if slice_thickness_mm else canonical_spacing
    severity = float(np.clip(covid_severity, 0.0, 1.0))
    plane = Plane(size, pixel_spacing_mm)
    anatomy_rng = np.random.default_rng([seed, 0])
    trees = anatomy.chest_trees(anatomy_rng)
    bowel = _bowel_loops(anatomy_rng)
    lesion_rng = np.random.default_rng([seed, 1])
    points, sides = anatomy.sample_lung_points(lesion_rng, 6000)
    lesions = _plan_lesions(lesion_rng, severity, points, sides)
    renderer = _Renderer(plane, trees, bowel, slab_mm=max(canonical_spacing, 1.0))
    depths = (np.arange(n_slices) + 0.5) * canonical_spacing

    hu = np.empty((n_slices, size, size), np.int16)
    lung_mask = np.empty((n_slices, size, size), bool)
    lesion_mask = np.zeros((n_slices, size, size), bool)
    side_areas = np.zeros((n_slices, 2), np.int64)
    dorsal_cover = np.zeros(n_slices)
    (x0, x1), (y0, y1) = DORSAL_MID_CHEST_MM
    centre = (size - 1) / 2.0
    band_cols = slice(int(round(centre + x0 / pixel_spacing_mm)), int(round(centre + x1 / pixel_spacing_mm)))
    band_rows = slice(int(round(centre + y0 / pixel_spacing_mm)), int(round(centre + y1 / pixel_spacing_mm)))

    def render(index: int) -> None:
        rng = np.random.default_rng([seed, 2, index])
        depth = float(depths[index])
        clean, labels = renderer.render(depth, rng)
        lung = labels > 0
        if lesions:
            layers = _lesion_layers(lesions, plane, depth)
            if layers:
                clean, lesion_mask[index] = apply_lesion_layers(clean, lung, layers)
        image = cv2.GaussianBlur(clean.astype(np.float32), (0, 0), BLUR_SIGMA_PX)
        image += _smooth_field(rng, image.shape, 0.7) * np.float32(NOISE_HU)
        hu[index] = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
        lung_mask[index] = lung
        side_areas[index] = (np.count_nonzero(labels == 1), np.count_nonzero(labels == 2))
        dorsal_cover[index] = lung[band_rows, band_cols].mean()

    if workers == 1:
        for index in range(n_slices):
            render(index)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(render, range(n_slices)))

    lung_open = (side_areas > 0).all(axis=1) & (dorsal_cover >= LUNG_OPEN_MIN_COVER)
    return Phantom(
        hu=hu,
        lung_mask=lung_mask,
        lesion_mask=lesion_mask,
        lung_open=lung_open,
        positions_mm=-thickness * np.arange(n_slices, dtype=np.float64),
        pixel_spacing_mm=float(pixel_spacing_mm),
        slice_thickness_mm=thickness,
        seed=seed,
        covid_severity=severity,
    )
