"""The canonical anatomy of the synthetic chest: z-profiles, cross-section shapes and trees.

Coordinates are millimetres in a canonical patient: `x` grows to the image's right (the
patient's left), `y` grows to the image's bottom (posterior, supine patient), and `depth`
grows from the top of the scan (lower neck and shoulders, 0 mm) to its bottom (upper abdomen,
`SCAN_LENGTH_MM`). A phantom with any slice count samples this one anatomy, so every series
starts and ends with closed-lung slices. Shapes are drawn with OpenCV on a `Plane` (a pixel
grid with a millimetre scale), which keeps a 600-slice phantom fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SCAN_LENGTH_MM = 320.0
"""Canonical head-foot extent of the scan (mm)."""
LUNG_APEX_DEPTH_MM = 24.0
"""Depth of the lung apices below the top of the scan (mm)."""
LUNG_OPEN_DEPTH_MM = 78.0
"""Depth where the apical lung has grown to fill the upper thorax (mm)."""
CARINA_DEPTH_MM = 100.0
RIGHT_DOME_DEPTH_MM = 168.0
"""Top of the right diaphragm dome (liver below), mm."""
LEFT_DOME_DEPTH_MM = 182.0
DOME_FLOOR_DEPTH_MM = 296.0
"""Depth where the domes fill the whole cavity: the posterior costophrenic recesses end (mm)."""

CAVITY_EXPONENT = 2.3
"""Superellipse exponent of the chest cavity's cross-section (2 would be an ellipse)."""

RADIUS_EXPONENT = 0.46
VESSEL_TARGET_SHARE = 0.04
HILAR_BRANCH_FRACTION = 0.6
"""Radius of the tree's first branches at the hilum, as a fraction of the root's radius."""
"""Share of the sampled lung points each vessel tree grows towards (sets vessel density)."""
AIRWAY_TARGET_SHARE = 0.06
"""Branch radius scaling: child radius = parent radius x (share of the targets) ** this."""
PLEURAL_JUNCTION_MM = 4.0
"""Width of the tissue between the lungs where they nearly meet (anterior junction line)."""

SUBPIXEL_BITS = 4
SUBPIXEL = 1 << SUBPIXEL_BITS


def profile(depth: float | np.ndarray, knots: dict[float, float]) -> np.ndarray | float:
    """Piecewise-linear z-profile: value at `depth` (mm) from {depth_mm: value} knots."""
    return np.interp(depth, list(knots), list(knots.values()))


def ramp(depth, start: float, stop: float):
    """0 above `start`, 1 below `stop`, linear between (depths in mm, scalar or array)."""
    return np.clip((np.asarray(depth, dtype=float) - start) / (stop - start), 0.0, 1.0)


@lru_cache(maxsize=8)
def _unit_superellipse(exponent: float, n_points: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Outline points of |x|^n + |y|^n = 1 (n = `exponent`)."""
    angle = np.linspace(0.0, 2.0 * np.pi, n_points, endpoint=False)
    cos, sin = np.cos(angle), np.sin(angle)
    return np.sign(cos) * np.abs(cos) ** (2.0 / exponent), np.sign(sin) * np.abs(sin) ** (2.0 / exponent)


@dataclass(frozen=True)
class Plane:
    """A square pixel grid of `size` pixels of `spacing_mm`, centred on x = y = 0 mm, that
    OpenCV shapes given in millimetres are drawn on (sub-pixel precise)."""

    size: int
    spacing_mm: float

    def point(self, x_mm: float, y_mm: float) -> tuple[int, int]:
        centre = (self.size - 1) / 2.0
        return (
            int(round((centre + x_mm / self.spacing_mm) * SUBPIXEL)),
            int(round((centre + y_mm / self.spacing_mm) * SUBPIXEL)),
        )

    def points(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Sub-pixel OpenCV points (n, 2) int32 of arrays of positions in mm."""
        centre = (self.size - 1) / 2.0
        xy = np.stack(
            [centre + np.asarray(x_mm) / self.spacing_mm, centre + np.asarray(y_mm) / self.spacing_mm], 1
        )
        return np.rint(xy * SUBPIXEL).astype(np.int32)

    def length(self, mm: float) -> int:
        return max(int(round(mm / self.spacing_mm * SUBPIXEL)), 0)

    def pixels(self, mm: float) -> int:
        """A line thickness in whole pixels (at least 1)."""
        return max(int(round(mm / self.spacing_mm)), 1)

    def ellipse(
        self,
        image: np.ndarray,
        centre_mm: tuple[float, float],
        half_axes_mm: tuple[float, float],
        value: float,
        angle_deg: float = 0.0,
        arc_deg: tuple[float, float] = (0.0, 360.0),
        thickness_mm: float | None = None,
    ) -> None:
        """A filled ellipse (or, with `thickness_mm`, an elliptic arc) of `value`."""
        if min(half_axes_mm) <= 0:
            return
        thickness = -1 if thickness_mm is None else self.pixels(thickness_mm)
        cv2.ellipse(
            image,
            self.point(*centre_mm),
            (self.length(half_axes_mm[0]), self.length(half_axes_mm[1])),
            angle_deg,
            arc_deg[0],
            arc_deg[1],
            value,
            thickness,
            cv2.LINE_8,
            SUBPIXEL_BITS,
        )

    def superellipse(
        self,
        image: np.ndarray,
        centre_mm: tuple[float, float],
        half_axes_mm: tuple[float, float],
        exponent: float,
        value: float,
    ) -> None:
        """A filled superellipse |x/a|^n + |y/b|^n <= 1 (n = `exponent`; 2 is an ellipse)."""
        if min(half_axes_mm) <= 0:
            return
        unit_x, unit_y = _unit_superellipse(exponent)
        self.polygon(
            image, centre_mm[0] + half_axes_mm[0] * unit_x, centre_mm[1] + half_axes_mm[1] * unit_y, value
        )

    def polygon(self, image: np.ndarray, xs_mm: np.ndarray, ys_mm: np.ndarray, value: float) -> None:
        centre = (self.size - 1) / 2.0
        points = np.stack([centre + xs_mm / self.spacing_mm, centre + ys_mm / self.spacing_mm], axis=1)
        cv2.fillPoly(image, [np.round(points * SUBPIXEL).astype(np.int32)], value, cv2.LINE_8, SUBPIXEL_BITS)

    def line(
        self,
        image: np.ndarray,
        start_mm: tuple[float, float],
        end_mm: tuple[float, float],
        thickness_mm: float,
        value: float,
    ) -> None:
        cv2.line(
            image,
            self.point(*start_mm),
            self.point(*end_mm),
            value,
            self.pixels(thickness_mm),
            cv2.LINE_8,
            SUBPIXEL_BITS,
        )


@dataclass(frozen=True)
class Section:
    """The body's cross-section at one depth: outline and wall sizes (mm)."""

    body_half_width: float
    body_half_depth: float
    fat_mm: float
    """Subcutaneous fat thickness; muscle fills the wall between it and the ribs."""
    cavity_half_width: float
    """Inner chest wall (pleura) half-width; the lungs touch it."""
    cavity_half_depth: float
    spine_y: float
    """Centre of the vertebral body (mm, posterior positive)."""
    vertebra_radius: float
    trachea_y: float


def _body_half_axes(depth_mm):
    """Half-width and half-depth (mm) of the body outline (skin) at depth(s) in mm."""
    half_width = profile(depth_mm, {0: 128, 30: 150, 70: 160, 140: 164, 220: 163, 280: 158, 320: 154})
    half_depth = profile(depth_mm, {0: 95, 30: 108, 70: 120, 140: 127, 220: 129, 280: 130, 320: 128})
    return half_width, half_depth


def cavity_half_axes(depth_mm):
    """Half-width and half-depth (mm) of the chest cavity (inside the ribs) at depth(s) in mm."""
    half_width, half_depth = _body_half_axes(depth_mm)
    return (
        half_width - profile(depth_mm, {0: 62, 40: 52, 90: 52, 320: 50}),
        half_depth - profile(depth_mm, {0: 50, 40: 46, 90: 45, 320: 44}),
    )


def section(depth_mm: float) -> Section:
    """Body outline and wall sizes at one canonical depth (mm)."""
    d = depth_mm
    half_width, half_depth = _body_half_axes(d)
    fat = profile(d, {0: 14, 60: 25, 160: 29, 260: 33, 320: 35})
    cavity_half_width, cavity_half_depth = cavity_half_axes(d)
    return Section(
        body_half_width=float(half_width),
        body_half_depth=float(half_depth),
        fat_mm=float(fat),
        cavity_half_width=float(cavity_half_width),
        cavity_half_depth=float(cavity_half_depth),
        spine_y=float(cavity_half_depth - profile(d, {0: 12, 60: 4, 320: 0})),
        vertebra_radius=float(profile(d, {0: 12, 60: 15, 180: 17, 320: 20})),
        trachea_y=float(profile(d, {0: -42, 40: -30, 75: -14, CARINA_DEPTH_MM: -6})),
    )


def heart_half_axes(depth_mm: float) -> tuple[float, float]:
    """Half-axes (mm) of the heart's ellipse (with pericardium) at a depth; zero outside."""
    size = float(profile(depth_mm, {112: 0, 135: 42, 165: 54, 200: 54, 222: 42, 236: 0}))
    return size, 0.74 * size


HEART_CENTRE_MM = (22.0, -28.0)
HEART_ANGLE_DEG = -30.0


def dome_half_axes(depth_mm: float, top_depth_mm: float, cavity: tuple[float, float]) -> tuple[float, float]:
    """Half-axes (mm) of one diaphragm dome's cross-section: zero above its top, growing like
    like a flattened cap below it until it fills its half of the cavity at `DOME_FLOOR_DEPTH_MM`."""
    growth = 1.32 * ramp(depth_mm, top_depth_mm, DOME_FLOOR_DEPTH_MM) ** 0.7
    return 0.8 * cavity[0] * growth, 1.1 * cavity[1] * growth


def dome_centres(sec: Section) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centres (mm) of the right (image left) and left diaphragm domes."""
    y = -0.45 * sec.cavity_half_depth
    return (-0.34 * sec.cavity_half_width, y), (0.34 * sec.cavity_half_width, y)


def mediastinum_half_width(depth_mm: float) -> float:
    """Half-width (mm) of the mediastinum's ellipse between the lungs (great vessels, trachea)."""
    return float(profile(depth_mm, {0: 40, 40: 36, 80: 38, 115: 40, 140: 28, 200: 22, 320: 22}))


def lung_masks(plane: Plane, depth_mm: float) -> np.ndarray:
    """Both lungs at one depth as a uint8 label image: 0 none, 1 right lung (image left),
    2 left lung (image right). Lungs fill the chest cavity less the mediastinum, heart, spine,
    aorta and the diaphragm domes; above `LUNG_OPEN_DEPTH_MM` they are limited to the growing
    apical cones."""
    d = depth_mm
    labels = np.zeros((plane.size, plane.size), np.uint8)
    if d <= LUNG_APEX_DEPTH_MM or d >= DOME_FLOOR_DEPTH_MM:
        return labels
    sec = section(d)
    cavity = (sec.cavity_half_width, sec.cavity_half_depth)
    plane.superellipse(labels, (0.0, 0.0), cavity, CAVITY_EXPONENT, 1)
    labels[:, plane.size // 2 :] *= 2
    apex_growth = ramp(d, LUNG_APEX_DEPTH_MM, LUNG_OPEN_DEPTH_MM)
    if apex_growth < 1.0:
        apex = np.zeros_like(labels)
        half_axes = (80.0 * np.sqrt(apex_growth), 72.0 * np.sqrt(apex_growth))
        for side in (-1, 1):
            plane.ellipse(apex, (side * 48.0, 26.0 - 20.0 * apex_growth), half_axes, 1)
        labels *= apex
    # Mediastinum: the central band, the heart, the spine with the paravertebral muscles, aorta.
    band = mediastinum_half_width(d)
    plane.ellipse(labels, (0.0, -0.08 * cavity[1]), (band, 0.78 * cavity[1]), 0)
    plane.line(labels, (0.0, -2.0 * cavity[1]), (0.0, 2.0 * cavity[1]), PLEURAL_JUNCTION_MM, 0)
    heart = heart_half_axes(d)
    plane.ellipse(labels, HEART_CENTRE_MM, (heart[0] + 3.0, heart[1] + 3.0), 0, HEART_ANGLE_DEG)
    plane.ellipse(labels, (0.0, sec.spine_y), (sec.vertebra_radius + 8.0, sec.vertebra_radius + 14.0), 0)
    if d > 72:
        aorta = descending_aorta(d)
        plane.ellipse(labels, aorta[:2], (aorta[2] + 3.0, aorta[2] + 3.0), 0)
    right_centre, left_centre = dome_centres(sec)
    plane.ellipse(labels, right_centre, dome_half_axes(d, RIGHT_DOME_DEPTH_MM, cavity), 0)
    plane.ellipse(labels, left_centre, dome_half_axes(d, LEFT_DOME_DEPTH_MM, cavity), 0)
    return labels


def descending_aorta(depth_mm: float) -> tuple[float, float, float]:
    """Centre x, y and radius (mm) of the descending aorta at a depth."""
    sec = section(depth_mm)
    x = float(profile(depth_mm, {70: 30, 120: 26, 220: 18, 320: 6}))
    return x, sec.spine_y - sec.vertebra_radius - 4.0, 12.5


@dataclass(frozen=True)
class Tree:
    """Straight tube segments in canonical coordinates: columns x, y, depth (mm)."""

    starts: np.ndarray
    ends: np.ndarray
    radii_mm: np.ndarray
    inside_lung_only: np.ndarray
    """True for segments drawn only inside the lung mask (the peripheral tree); False for the
    mediastinal roots (trachea, main bronchi, pulmonary arteries and veins)."""

    @staticmethod
    def concatenate(trees: list[Tree]) -> Tree:
        return Tree(
            np.concatenate([t.starts for t in trees]),
            np.concatenate([t.ends for t in trees]),
            np.concatenate([t.radii_mm for t in trees]),
            np.concatenate([t.inside_lung_only for t in trees]),
        )


def sample_lung_points(rng: np.random.Generator, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points inside the lungs (x, y, depth mm) and their side (1 right, 2 left)."""
    plane = Plane(128, 2.8)
    depths = np.arange(LUNG_APEX_DEPTH_MM + 2.0, DOME_FLOOR_DEPTH_MM, 4.0)
    points, sides = [], []
    for depth in depths:
        labels = lung_masks(plane, float(depth))
        rows, cols = np.nonzero(labels)
        centre = (plane.size - 1) / 2.0
        points.append(
            np.stack(
                [
                    (cols - centre) * plane.spacing_mm,
                    (rows - centre) * plane.spacing_mm,
                    np.full(rows.size, depth),
                ],
                1,
            )
        )
        sides.append(labels[rows, cols])
    all_points, all_sides = np.concatenate(points), np.concatenate(sides)
    chosen = rng.choice(len(all_points), size=min(n_points, len(all_points)), replace=False)
    jitter = rng.uniform(-0.5, 0.5, (chosen.size, 3)) * np.array([plane.spacing_mm, plane.spacing_mm, 4.0])
    return all_points[chosen] + jitter, all_sides[chosen]


def grow_tree(
    root_path: list[tuple[float, float, float]],
    root_radius_mm: float,
    targets: np.ndarray,
    *,
    step_fraction: float = 0.55,
    leaf_size: int = 3,
    max_generations: int = 40,
    min_radius_mm: float = 0.0,
) -> Tree:
    """A branching tree that fills the cloud of `targets` (x, y, depth mm).

        The root path (mediastinal, drawn everywhere) ends at the hilum. Each node splits its
        targets at the median of their widest axis; each child moves `step_fraction` of the way
        to the centroid of its half, and leaves send a twig to each of their targets. A child's radius is the parent's times its share of the targets
    to the power `RADIUS_EXPONENT` (between area-preserving 1/2 and Murray's 1/3);
        branches thinner than `min_radius_mm` or deeper than `max_generations` end."""
    starts, ends, radii, inside = [], [], [], []
    for a, b in zip(root_path[:-1], root_path[1:], strict=True):
        starts.append(a)
        ends.append(b)
        radii.append(root_radius_mm)
        inside.append(False)
    # Lobar branches leave the hilum narrower than the root (the root also feeds the other lobes).
    stack = [(np.asarray(root_path[-1], float), targets, HILAR_BRANCH_FRACTION * root_radius_mm, 0)]
    while stack:
        position, cloud, radius, generation = stack.pop()
        if len(cloud) <= leaf_size or generation >= max_generations:
            # Terminal twigs reach every remaining target, so the tree fills the whole cloud.
            twig_radius = radius * (1.0 / max(len(cloud), 1)) ** RADIUS_EXPONENT
            if twig_radius >= min_radius_mm:
                for target in cloud:
                    starts.append(position)
                    ends.append(target)
                    radii.append(twig_radius)
                    inside.append(True)
            continue
        axis = int(np.argmax(cloud.var(axis=0)))
        order = np.argsort(cloud[:, axis], kind="stable")
        for half in (cloud[order[: len(cloud) // 2]], cloud[order[len(cloud) // 2 :]]):
            child_radius = radius * (len(half) / len(cloud)) ** RADIUS_EXPONENT
            if child_radius < min_radius_mm:
                continue
            child = position + step_fraction * (half.mean(axis=0) - position)
            starts.append(position)
            ends.append(child)
            radii.append(child_radius)
            inside.append(True)
            stack.append((child, half, child_radius, generation + 1))
    return Tree(
        np.array(starts, float), np.array(ends, float), np.array(radii, float), np.array(inside, bool)
    )


@dataclass(frozen=True)
class ChestTrees:
    vessels: Tree
    airways: Tree


def chest_trees(rng: np.random.Generator) -> ChestTrees:
    """Pulmonary arteries and veins (one tree each per lung) and the airway tree."""
    points, sides = sample_lung_points(rng, 24000)
    right, left = points[sides == 1], points[sides == 2]

    def subset(cloud: np.ndarray, fraction: float) -> np.ndarray:
        """A random share of a lung's points: trees in both lungs get the same density."""
        return cloud[rng.choice(len(cloud), size=int(fraction * len(cloud)), replace=False)]

    trunk = (12.0, -30.0, 108.0)
    vessels = [
        grow_tree([(12.0, -48.0, 128.0), trunk], 13.0, np.empty((0, 3))),
        grow_tree(
            [trunk, (-18.0, -14.0, 106.0), (-52.0, -6.0, 112.0)], 10.0, subset(right, VESSEL_TARGET_SHARE)
        ),
        grow_tree([trunk, (38.0, -4.0, 100.0), (52.0, 4.0, 106.0)], 10.0, subset(left, VESSEL_TARGET_SHARE)),
        grow_tree([(-8.0, 18.0, 152.0), (-48.0, 14.0, 146.0)], 8.0, subset(right, VESSEL_TARGET_SHARE)),
        grow_tree([(20.0, 20.0, 156.0), (50.0, 16.0, 148.0)], 8.0, subset(left, VESSEL_TARGET_SHARE)),
    ]
    carina = (0.0, section(CARINA_DEPTH_MM).trachea_y, CARINA_DEPTH_MM)
    trachea = [(0.0, section(d).trachea_y, d) for d in (-10.0, 40.0, 75.0)] + [carina]
    airways = [
        grow_tree(trachea, 8.0, np.empty((0, 3))),
        grow_tree([carina, (-34.0, 0.0, 116.0)], 7.0, subset(right, AIRWAY_TARGET_SHARE), min_radius_mm=1.6),
        grow_tree([carina, (40.0, 6.0, 124.0)], 6.5, subset(left, AIRWAY_TARGET_SHARE), min_radius_mm=1.6),
    ]
    return ChestTrees(Tree.concatenate(vessels), Tree.concatenate(airways))
