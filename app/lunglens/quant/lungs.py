"""Classical 3-D lung segmentation of a chest CT (scipy.ndimage, scikit-image and OpenCV, no
model weights). 3-D connectivity uses scipy/scikit-image; per-slice steps use OpenCV, often on
all slices at once, framed one below the other in one image (`_framed`).

Steps, on a working grid pooled in-plane to about `LungParams.working_pixel_mm` (the mean of
f x f pixel blocks; slices are kept):
1. Air (HU < `air_below_hu`) enclosed by the body on its slice: air not connected in-plane to
   the image border (outside air, the gap under the table) is dropped.
2. Trachea and main bronchi: the small air regions near the body's centre on the most
   superior slices are seeds; of the pure air (HU < `airway_below_hu`, face connectivity)
   connected to them, the largest tree is the airway (the trachea reaches the bronchi; the
   pharynx or oesophagus does not); it is removed with a margin of `airway_margin_mm`. A tree
   larger than `max_airway_ml` has leaked into the lung: a stricter threshold is tried, then
   the step is skipped with a warning.
3. Lung components: 3-D components of the remaining air larger than `min_component_ml` that are
   not mostly pure air (stomach and bowel gas is below `gas_below_hu`; lung is air and tissue).
4. Right and left: two large components are the two lungs. One large component (lungs touching
   at the anterior junction) is eroded in-plane (distance map) until it falls into two parts and
   grown back by a watershed; failing that it is split at the body's midline (warning). Patient
   right/left comes from the DICOM ImageOrientationPatient: the lung whose centroid lies
   towards patient +x (LPS: patient left) is the left lung.
5. Dense disease kept inside the lung: each lung grows in-plane, up to `ground_glass_reach_mm`,
   into tissue of ground-glass density (`air_below_hu` to `ground_glass_below_hu`; fat and soft
   tissue are denser), so a ground-glass crescent over the liver dome stays lung. Then each
   lung is closed per slice with a disk of
   `closing_radius_mm` and its in-plane holes are filled, so consolidation and ground glass
   against the pleura or around vessels is lung, not outside (limited to the body, not bone);
   larger indentations of the lung's convex hull from the chest wall side (lateral to the
   lung's centre, at most `pleural_fill_max_fraction` of its area) are filled too, and what a
   lung encloses in 3-D. Each lung is filled on its own (side by side), never into the other
   lung; tissue both lungs take (between them) goes to the right lung.
6. Back to full resolution: the pooled labels are upsampled; on the boundary band a pixel is lung
   when it is air (HU < `air_below_hu`) or dense tissue the fill of step 5 made lung.

Output: `LungSegmentation.labels`, uint8 (z, y, x): 0 outside, 1 right lung, 2 left lung.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage
from skimage import segmentation

from lunglens.threads import for_each_slice, side_thread

RIGHT_LUNG = 1
LEFT_LUNG = 2
LUNG_LABELS = {RIGHT_LUNG: "right", LEFT_LUNG: "left"}

#: ImageOrientationPatient assumed without geometry (TIFF): rows run to the patient's left, columns
#: to posterior, i.e. the standard radiological display (image left = patient right).
STANDARD_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

_INPLANE_SQUARE = np.zeros((3, 3, 3), bool)
_INPLANE_SQUARE[1] = True
_FACES_3D = ndimage.generate_binary_structure(3, 1)
_SQUARE_2D = np.ones((3, 3), np.uint8)
_CROSS_2D = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
#: In-plane pooling of the grid on which touching lungs are split (only the cut's place).
SPLIT_POOL = 2


LUNG_MASK_LIMITS = (
    "Lungs are segmented without a trained model (thresholds and morphology); right and left are the "
    "patient's. Consolidation as dense as soft tissue that fills the lung against the spine, the back of "
    "the chest wall or the diaphragm can fall outside the lung contour and is then not counted: severe "
    "involvement is underestimated (on synthetic phantoms the lung contour holds 83 % of the lesion "
    "volume at high severity, 61 % at the highest, whatever the lesion method), so check the contours"
)
"""What the lung mask cannot tell, for the reader (viewer, report, CLI). The phantom figures are
`true_lesion_inside_lung_mask_ml / true_lesion_ml` at severity 0.7 and 1 of
`python -m models.evaluate_lesion --parts phantom` (models/lunglens-lesion.json,
`metrics.phantom_lesion_volume`)."""


class NoLungFound(Exception):
    """The series holds no lung (a head CT, abdomen-only slices): nothing to quantify."""


@dataclass(frozen=True)
class LungParams:
    """The segmentation's rules as data. HU, mm and mL."""

    working_pixel_mm: float = 2.0
    """In-plane pixel size of the working grid (pixels are pooled by an integer factor)."""
    air_below_hu: float = -500.0
    """Air and aerated lung (a blurred lung/soft-tissue edge sits near -400 HU)."""
    airway_below_hu: tuple[float, ...] = (-920.0, -950.0, -980.0)
    """Pure air of the airway lumen, tried in order while the grown tree leaks into the lung."""
    max_airway_ml: float = 250.0
    """Trachea, main and lobar bronchi hold far less; a larger tree has leaked into the lung."""
    airway_margin_mm: float = 2.0
    """The removed airway is dilated by this much: its wall's partial-volume rim goes too."""
    trachea_max_area_mm2: float = 700.0
    trachea_max_offset_mm: float = 25.0
    """The trachea seed: at most this area on a superior slice, its centre within this distance
    of the body's centre along the patient's right-left axis (the table shifts the centre
    front to back)."""
    trachea_search_slices: int = 10
    """How many slices below the first slice holding enclosed air are searched for the seed."""
    min_component_ml: float = 10.0
    gas_below_hu: float = -950.0
    max_gas_fraction: float = 0.5
    """An air component with at least this fraction of voxels below `gas_below_hu` is gas
    (stomach, bowel: homogeneous air), not lung (air mixed with tissue and vessels)."""
    min_total_lung_ml: float = 100.0
    """Less lung than this in the whole series: "no lung found"."""
    extra_min_offset_mm: float = 25.0
    """A lung-like piece besides the two lungs (lung cut off by disease) counts only when its
    centre lies at least this far from the midline: an air-filled oesophagus does not."""
    second_lung_fraction: float = 0.08
    """A second component at least this fraction of all lung is the other lung."""
    split_erosion_mm: tuple[float, ...] = (2.0, 4.0, 6.0, 9.0, 12.0, 16.0)
    """Erosion depths tried, in order, to separate lungs that touch."""
    ground_glass_below_hu: float = -200.0
    ground_glass_reach_mm: float = 30.0
    """Ground glass kept inside the lung: tissue denser than air but below this HU (fat is about
    -100 HU) that the lung reaches in-plane within this distance is lung (a basal crescent of
    ground glass over the liver dome, too wide for the closing)."""
    closing_radius_mm: float = 15.0
    """Per-slice closing of each lung: indentations narrower than twice this (dense disease at
    the pleura, vessels at the hilum) become lung."""
    max_hole_mm2: float = 400.0
    """In-plane holes of a lung up to this area are lung (vessels, nodules, lesions); larger ones
    only when the lung encloses them in 3-D (the top of a diaphragm dome is not enclosed)."""
    pleural_fill_max_fraction: float = 0.25
    """Largest indentation of a lung slice's convex hull from the chest wall side that is taken
    as dense disease, as a fraction of that slice's lung area."""
    bone_above_hu: float = 300.0
    """Never lung: bone (ribs, spine) the closing could reach."""


@dataclass(frozen=True)
class LungSegmentation:
    """Labels (uint8 z, y, x: 0 outside, 1 right lung, 2 left lung) with the voxel size and
    what the reader should know (orientation assumed, airways not removed, ...)."""

    labels: np.ndarray
    voxel_mm: tuple[float, float, float]
    """(slice spacing, row spacing, column spacing) in mm."""
    warnings: tuple[str, ...] = field(default=())

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.voxel_mm)) / 1000.0

    def volume_ml(self, label: int) -> float:
        """Volume of one lung (1 right, 2 left) in mL."""
        return int(np.count_nonzero(self.labels == label)) * self.voxel_ml


def _pool(hu: np.ndarray, factor: int) -> np.ndarray:
    """Mean of factor x factor in-plane blocks (int16 HU, rounded), the image cropped to a
    multiple (OpenCV's area resampling, slice by slice)."""
    if factor == 1:
        return hu
    z, h, w = hu.shape
    h2, w2 = h // factor, w // factor
    out = np.empty((z, h2, w2), np.int16)

    def pool_slice(index: int) -> None:
        plane = np.ascontiguousarray(hu[index, : h2 * factor, : w2 * factor], dtype=np.int16)
        out[index] = cv2.resize(plane, (w2, h2), interpolation=cv2.INTER_AREA)

    for_each_slice(pool_slice, range(z))
    return out


def _upsample(volume: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour upsampling in-plane by `factor`, cropped or padded (zero) to `shape`."""
    if factor == 1:
        return volume
    up = np.repeat(np.repeat(volume, factor, axis=1), factor, axis=2)
    if up.shape == tuple(shape):
        return up
    out = np.zeros(shape, volume.dtype)
    h, w = min(up.shape[1], shape[1]), min(up.shape[2], shape[2])
    out[:, :h, :w] = up[:, :h, :w]
    return out


def _framed(volume: np.ndarray, value: bool | int) -> np.ndarray:
    """The slices of a (z, y, x) volume one below the other in one 2-D uint8 image, each framed by
    `value` (a row above it, a column on each side, a row below the last): one OpenCV call then
    treats every slice on its own, and all frames are connected to the image's corner. Slice k's
    row r lies at image row k (y + 1) + 1 + r, column c at 1 + c. Back with `_unframed`."""
    z, h, w = volume.shape
    slices = np.pad(volume.view(np.uint8), ((0, 0), (1, 0), (1, 1)), constant_values=value)
    return np.vstack([slices.reshape(z * (h + 1), w + 2), np.full((1, w + 2), value, np.uint8)])


def _unframed(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The (z, y, x) volume of `shape` from an image made by `_framed`."""
    z, h, w = shape
    return image[:-1].reshape(z, h + 1, w + 2)[:, 1:, 1:-1]


def _fill_holes_inplane(mask: np.ndarray, max_hole_px: int | None = None) -> np.ndarray:
    """Fill the holes of each slice (background not connected in-plane to the image border, face
    connectivity), only those of at most `max_hole_px` pixels when given. OpenCV on all slices
    framed (`_framed`): one flood fill of the background from the frames, then, for the size
    limit, the connected components of what it did not reach."""
    background = _framed(~mask, 1)
    cv2.floodFill(background, None, (0, 0), 2, flags=4)
    holes = _unframed(background == 1, mask.shape)
    if max_hole_px is not None and holes.any():
        n, parts, stats, _ = cv2.connectedComponentsWithStats(_framed(holes, 0), connectivity=4)
        large = stats[:, cv2.CC_STAT_AREA] > max_hole_px
        large[0] = False
        holes = holes & ~_unframed(large[parts], mask.shape)
    return mask | holes


def _fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """Fill what the mask encloses in 3-D (background components not touching the volume's
    border, face connectivity): a lesion surrounded by lung on every side. Labelled on the
    mask's bounding box padded by one background voxel (what touches the box's border is
    connected to the outside)."""
    if not mask.any():
        return mask
    box = bounding_box(mask)
    background, n = ndimage.label(np.pad(~mask[box], 1, constant_values=True), structure=_FACES_3D)
    border = np.unique(
        np.concatenate(
            [
                face.ravel()
                for axis in range(3)
                for face in (np.take(background, 0, axis), np.take(background, -1, axis))
            ]
        )
    )
    outside = np.zeros(n + 1, bool)
    outside[border] = True
    outside[0] = False
    out = mask.copy()
    out[box] = ~outside[background[1:-1, 1:-1, 1:-1]]
    return out


def _max_pool(mask: np.ndarray, factor: int) -> np.ndarray:
    """True where any pixel of a factor x factor in-plane block is (the image padded to a multiple)."""
    z, h, w = mask.shape
    ph, pw = -h % factor, -w % factor
    padded = np.pad(mask, ((0, 0), (0, ph), (0, pw)))
    out = np.zeros((z, (h + ph) // factor, (w + pw) // factor), bool)
    for row in range(factor):  # an OR of the block's strided views: faster than any() over axes
        for column in range(factor):
            out |= padded[:, row::factor, column::factor]
    return out


def _x_patient(rows: np.ndarray, cols: np.ndarray, cosines: Sequence[float], pixel_mm) -> np.ndarray:
    """Patient x (LPS, mm; larger = more to the patient's left) of pixel (row, column) offsets."""
    row_dir, col_dir = cosines[:3], cosines[3:6]
    return row_dir[0] * cols * pixel_mm[1] + col_dir[0] * rows * pixel_mm[0]


def _find_airways(
    low: np.ndarray,
    enclosed: np.ndarray,
    body: np.ndarray,
    x_mm: np.ndarray,
    pixel_mm,
    voxel_ml: float,
    params: LungParams,
) -> tuple[np.ndarray | None, str | None]:
    """The trachea and the bronchi connected to it (bool, working grid), or None and why."""
    slices_with_air = np.flatnonzero(enclosed.any(axis=(1, 2)))
    if slices_with_air.size == 0:
        return None, None
    seeds = np.zeros(enclosed.shape, bool)
    for z in slices_with_air[: params.trachea_search_slices]:
        parts, n = ndimage.label(enclosed[z])
        body_x = x_mm[body[z]].mean()
        sizes = np.bincount(parts.ravel(), minlength=n + 1)[1:]
        centres_x = np.bincount(parts.ravel(), weights=x_mm.ravel(), minlength=n + 1)[1:] / sizes
        fits = (sizes * pixel_mm[0] * pixel_mm[1] <= params.trachea_max_area_mm2) & (
            np.abs(centres_x - body_x) <= params.trachea_max_offset_mm
        )
        seeds[z] = np.isin(parts, np.flatnonzero(fits) + 1)
    if not seeds.any():
        return None, "trachea not found on the superior slices: airways not removed"
    box = bounding_box(enclosed)  # the seeds lie in it; nothing outside it can join the tree
    for threshold in params.airway_below_hu:
        pure = (enclosed[box] & (low[box] < threshold)) | seeds[box]
        tree, _ = ndimage.label(pure, structure=_FACES_3D)
        sizes = np.bincount(tree.ravel())
        touched = np.unique(tree[seeds[box]])
        if (sizes[touched] * voxel_ml > params.max_airway_ml).any():
            continue  # the tree leaked into the lung: a stricter threshold
        airway = np.zeros(enclosed.shape, bool)
        airway[box] = tree == touched[np.argmax(sizes[touched])]
        return airway, None
    return None, "airway tree not separable from the lung (leaks at every threshold): airways kept"


def _remove_airways(airway: np.ndarray, pixel_mm, params: LungParams) -> np.ndarray:
    """The airway dilated in-plane by the margin (its wall's partial-volume rim)."""
    steps = max(1, int(round(params.airway_margin_mm / min(pixel_mm))))
    zs, ys, xs = bounding_box(airway, (steps, steps))
    out = np.zeros(airway.shape, bool)
    out[zs, ys, xs] = ndimage.binary_dilation(airway[zs, ys, xs], structure=_INPLANE_SQUARE, iterations=steps)
    return out


def bounding_box(mask: np.ndarray, margin: tuple[int, int] = (0, 0)) -> tuple[slice, slice, slice]:
    """The slices around a mask's nonzero voxels (it must hold one), widened in-plane by
    `margin` (rows, columns)."""
    plane = mask.any(axis=0)
    zs, ys, xs = (
        slice(int(present[0]), int(present[-1]) + 1)
        for present in (
            np.flatnonzero(mask.any(axis=(1, 2))),
            np.flatnonzero(plane.any(axis=1)),
            np.flatnonzero(plane.any(axis=0)),
        )
    )
    return (
        zs,
        slice(max(ys.start - margin[0], 0), min(ys.stop + margin[0], mask.shape[1])),
        slice(max(xs.start - margin[1], 0), min(xs.stop + margin[1], mask.shape[2])),
    )


def _split_touching(
    component: np.ndarray, voxel_mm, params: LungParams
) -> tuple[np.ndarray, np.ndarray] | None:
    """Two parts of a component holding both lungs: eroded in-plane (each slice's distance to
    background or to the component's box edge, OpenCV's 5 x 5 mask approximation of the
    Euclidean distance, deterministic; the lungs touch side by side) until it falls apart into
    two large 3-D parts, grown back by a watershed on the distance map. Computed on a grid
    pooled 2 x 2 in-plane (it only places the cut); None when it never splits."""
    box = bounding_box(component)
    crop = component[box]
    coarse = _max_pool(crop, SPLIT_POOL)
    pixels = cv2.distanceTransform(_framed(coarse, 0), cv2.DIST_L2, cv2.DIST_MASK_5)
    distance = _unframed(pixels, coarse.shape) * np.float32(min(voxel_mm[1:]) * SPLIT_POOL)
    total = np.count_nonzero(coarse)
    for depth in params.split_erosion_mm:
        cores, n = ndimage.label(distance > depth, structure=_FACES_3D)
        if n < 2:
            continue
        sizes = np.bincount(cores.ravel(), minlength=n + 1)[1:]
        order = np.argsort(sizes)[::-1]
        if sizes[order[1]] < params.second_lung_fraction * total * 0.25:
            continue
        markers = np.zeros(coarse.shape, np.int32)
        markers[cores == order[0] + 1] = 1
        markers[cores == order[1] + 1] = 2
        # A core's inner voxels are its own: the flood starts from the cores' surfaces (the same
        # watershed up to ties between equal distances, on a third of the voxels' heap).
        inner = ndimage.binary_erosion(markers > 0, structure=_FACES_3D)
        grown = segmentation.watershed(-distance, markers, mask=coarse & ~inner)
        grown[inner] = markers[inner]
        grown = _upsample(grown, SPLIT_POOL, crop.shape)
        first = np.zeros(component.shape, bool)
        second = np.zeros(component.shape, bool)
        first[box] = crop & (grown == 1)
        second[box] = crop & (grown == 2)
        return first, second
    return None


def _lung_components(
    low: np.ndarray, candidates: np.ndarray, voxel_ml: float, params: LungParams
) -> list[np.ndarray]:
    """The lung-like air components (bool masks), largest first. Labelled on the candidates' box."""
    if not candidates.any():
        return []
    box = bounding_box(candidates)
    components, n = ndimage.label(candidates[box], structure=_FACES_3D)
    index = np.arange(1, n + 1)
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
    big = index[sizes * voxel_ml >= params.min_component_ml]
    if big.size == 0:
        return []
    pure_air = np.bincount(components[low[box] < params.gas_below_hu], minlength=n + 1)
    lungish = big[pure_air[big] < params.max_gas_fraction * sizes[big - 1]]
    masks = []
    for index in lungish[np.argsort(sizes[lungish - 1])[::-1]]:
        mask = np.zeros(candidates.shape, bool)
        mask[box] = components == index
        masks.append(mask)
    return masks


def _close_lung(lung: np.ndarray, allowed: np.ndarray, pixel_mm, params: LungParams) -> np.ndarray:
    """The lung closed per slice with an octagon approximating a disk of `closing_radius_mm` (a
    square then a cross, dilated and eroded iteratively; OpenCV, on the slices stacked with
    margins wider than the octagon between them), then its in-plane holes filled up to
    `max_hole_mm2` (vessels, nodules; not the top of a diaphragm dome that the lung surrounds on
    one slice); what is added is kept only inside `allowed`."""
    if not lung.any():
        return lung
    radius_px = params.closing_radius_mm / min(pixel_mm)
    # Octagon = square (radius a) + diamond (radius b): axes reach a + b, diagonals sqrt(2)(a + b/2).
    square_steps = max(1, int(round((np.sqrt(2.0) - 1.0) * radius_px)))
    cross_steps = max(1, int(round(radius_px)) - square_steps)
    square = np.ones((2 * square_steps + 1,) * 2, np.uint8)
    margin = square_steps + cross_steps + 2  # > the octagon's reach: slices stay apart when stacked
    box = bounding_box(lung, (margin, margin))
    plane = lung[box]
    crop = np.pad(plane, ((0, 0), (margin, margin), (margin, margin))).view(np.uint8)
    image = crop.reshape(-1, crop.shape[2])
    grown = cv2.dilate(cv2.dilate(image, square), _CROSS_2D, iterations=cross_steps)
    closed = cv2.erode(cv2.erode(grown, square), _CROSS_2D, iterations=cross_steps)
    closed = closed.reshape(crop.shape)[:, margin:-margin, margin:-margin].view(bool)
    max_hole_px = int(params.max_hole_mm2 / (pixel_mm[0] * pixel_mm[1]))
    filled = _fill_holes_inplane(closed & allowed[box] | plane, max_hole_px) & allowed[box]
    out = lung.copy()
    out[box] |= filled
    return out


def _fill_pleural_indentations(
    lung: np.ndarray,
    allowed: np.ndarray,
    cosines: Sequence[float],
    pixel_mm,
    lateral_sign: float,
    params: LungParams,
) -> np.ndarray:
    """Per slice, the parts of the lung's convex hull (OpenCV) that indent it from the chest wall
    side: 2-D components of (hull - lung) inside `allowed`, open to the hull's rim (not holes),
    whose centre lies lateral to the lung's centre (patient x from `cosines` times
    `lateral_sign` larger: -1 right lung, +1 left lung) and whose area is at most
    `pleural_fill_max_fraction` of the lung's area on that slice. Dense disease against the ribs
    is such an indentation; the heart (medial) and the liver dome under a basal crescent (larger
    than the crescent) are not. The hulls are drawn slice by slice; components, rims and the
    rules run once on the slices framed (`_framed`)."""
    out = lung.copy()
    if not lung.any():
        return out
    box = bounding_box(lung)
    top, left = box[1].start, box[2].start
    planes = np.ascontiguousarray(lung[box]).view(np.uint8)
    depth, height, width = planes.shape
    hulls = np.zeros((depth, height, width), np.uint8)
    lung_area = np.zeros(depth)
    lung_centre = np.zeros((depth, 2))  # (row, column) within the box

    def hull_slice(z: int) -> None:
        crop = planes[z]
        contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return
        cv2.fillConvexPoly(hulls[z], cv2.convexHull(np.concatenate(contours)), 1)
        moments = cv2.moments(crop, binaryImage=True)
        lung_area[z] = moments["m00"]
        lung_centre[z] = moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]

    for_each_slice(hull_slice, range(depth))
    hull = _framed(hulls, 0)
    candidates = _framed(hulls & ~planes & allowed[box].view(np.uint8), 0)
    n, parts, stats, centres = cv2.connectedComponentsWithStats(candidates, connectivity=4)
    if n == 1:
        return out
    slice_of = (stats[:, cv2.CC_STAT_TOP] - 1) // (height + 1)
    rows = centres[:, 1] - 1 - slice_of * (height + 1)
    centre_x = _x_patient(rows + top, centres[:, 0] - 1 + left, cosines, pixel_mm)
    lung_x = _x_patient(lung_centre[slice_of, 0] + top, lung_centre[slice_of, 1] + left, cosines, pixel_mm)
    lateral = (centre_x - lung_x) * lateral_sign > 0
    rim = hull & ~cv2.erode(hull, _CROSS_2D, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    open_to_rim = np.zeros(n, bool)
    open_to_rim[parts[rim.view(bool)]] = True
    small = stats[:, cv2.CC_STAT_AREA] <= params.pleural_fill_max_fraction * lung_area[slice_of]
    accept = lateral & open_to_rim & small
    accept[0] = False
    out[box] |= _unframed(accept[parts], planes.shape)
    return out


def _fill_lung(
    lung: np.ndarray,
    allowed: np.ndarray,
    cosines: Sequence[float],
    pixel_mm,
    lateral_sign: float,
    params: LungParams,
) -> np.ndarray:
    """One lung with the dense disease it holds (step 5 after the ground-glass growth): closed
    and its holes filled (`_close_lung`), its pleural indentations filled
    (`_fill_pleural_indentations`), both only inside `allowed`, then what it encloses in 3-D.
    Depends on this lung alone, so the two lungs are filled side by side."""
    lung = _close_lung(lung, allowed, pixel_mm, params)
    return _fill_enclosed(_fill_pleural_indentations(lung, allowed, cosines, pixel_mm, lateral_sign, params))


def _grow_into_ground_glass(
    labels: np.ndarray, low: np.ndarray, body: np.ndarray, pixel_mm, params: LungParams
) -> None:
    """Dense disease kept: grow each lung's label in-plane (geodesically, up to
    `ground_glass_reach_mm`) into tissue of ground-glass density (`air_below_hu` <= HU <
    `ground_glass_below_hu`) inside the body. The tissue is first opened with a 3 x 3 square, so
    the one-pixel partial-volume rim of the pleura, airway walls and gas does not count; fat
    (about -100 HU) and soft tissue are never reached. In place on `labels`."""
    steps = max(1, int(round(params.ground_glass_reach_mm / min(pixel_mm))))

    def grow_slice(z: int) -> None:
        plane = labels[z]
        tissue = ((low[z] >= params.air_below_hu) & (low[z] < params.ground_glass_below_hu) & body[z]).view(
            np.uint8
        )
        tissue = cv2.morphologyEx(tissue, cv2.MORPH_OPEN, _SQUARE_2D)
        if not tissue.any():
            return
        for _ in range(steps):
            grown = cv2.dilate(plane, _CROSS_2D)
            reached = (plane == 0) & (grown > 0) & (tissue > 0)
            if not reached.any():
                break
            plane[reached] = grown[reached]

    for_each_slice(grow_slice, np.flatnonzero(labels.any(axis=(1, 2))))


def segment_lungs(
    hu: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    slice_spacing_mm: float,
    orientation_cosines: Sequence[float] | None = None,
    params: LungParams = LungParams(),
) -> LungSegmentation:
    """Segment both lungs of an HU volume (int16 z, y, x; index 0 most superior).

    `orientation_cosines` is the series' ImageOrientationPatient (6 floats, LPS); without it the
    standard radiological display is assumed (image left = patient right) and a warning says
    so. Raises NoLungFound when the series holds less than `min_total_lung_ml` of lung."""
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"segment_lungs expects a 3-D volume (z, y, x), got shape {hu.shape}")
    warnings: list[str] = []
    if orientation_cosines is None or len(orientation_cosines) != 6:
        orientation_cosines = STANDARD_ORIENTATION
        warnings.append(
            "no DICOM orientation: the standard radiological display is assumed "
            "(image left = patient right) for the right/left lung"
        )
    factor = max(1, int(round(params.working_pixel_mm / min(pixel_spacing_mm))))
    pixel_mm = (pixel_spacing_mm[0] * factor, pixel_spacing_mm[1] * factor)
    voxel_mm = (float(slice_spacing_mm), *pixel_mm)
    voxel_ml = float(np.prod(voxel_mm)) / 1000.0
    low = _pool(hu, factor)

    air = low < params.air_below_hu
    body = _fill_holes_inplane(~air)
    enclosed = air & body
    del air
    rows, cols = np.indices(low.shape[1:], dtype=np.float32)
    x_mm = _x_patient(rows, cols, orientation_cosines, pixel_mm)
    airway, why = _find_airways(low, enclosed, body, x_mm, pixel_mm, voxel_ml, params)
    if why:
        warnings.append(why)
    candidates = enclosed & ~_remove_airways(airway, pixel_mm, params) if airway is not None else enclosed
    components = _lung_components(low, candidates, voxel_ml, params)
    total_ml = sum(int(np.count_nonzero(c)) for c in components) * voxel_ml
    if total_ml < params.min_total_lung_ml:
        raise NoLungFound(
            f"no lung found: {total_ml:.0f} mL of lung-like air (at least {params.min_total_lung_ml:g} mL needed)"
        )
    body_x = float(x_mm[body.any(axis=0)].mean())
    parts, extras, more_warnings = _two_lungs(components, x_mm, body_x, voxel_mm, params)
    warnings.extend(more_warnings)

    # Patient side from the centroid's patient x (LPS: +x = patient left).
    def centre_x(mask: np.ndarray) -> float:
        return float(x_mm[mask.any(axis=0)].mean())

    labels = np.zeros(low.shape, np.uint8)
    if len(parts) == 2:
        right_first = centre_x(parts[0]) < centre_x(parts[1])
        labels[parts[0]] = RIGHT_LUNG if right_first else LEFT_LUNG
        labels[parts[1]] = LEFT_LUNG if right_first else RIGHT_LUNG
        midline_x = 0.5 * (centre_x(parts[0]) + centre_x(parts[1]))
    else:
        side = LEFT_LUNG if centre_x(parts[0]) > body_x else RIGHT_LUNG
        labels[parts[0]] = side
        midline_x = body_x
        warnings.append(f"only one lung found (the {LUNG_LABELS[side]})")
    for extra in extras:
        offset = centre_x(extra) - midline_x
        if abs(offset) >= params.extra_min_offset_mm:
            labels[extra] = LEFT_LUNG if offset > 0 else RIGHT_LUNG

    _grow_into_ground_glass(labels, low, body, pixel_mm, params)
    allowed = body & (low < params.bone_above_hu)
    right_lung, left_lung = labels == RIGHT_LUNG, labels == LEFT_LUNG
    with side_thread() as side:  # each lung may grow into the body, never into the other lung
        left = side.submit(
            _fill_lung,
            left_lung,
            allowed & ~right_lung | left_lung,
            orientation_cosines,
            pixel_mm,
            1.0,
            params,
        )
        right = _fill_lung(
            right_lung, allowed & ~left_lung | right_lung, orientation_cosines, pixel_mm, -1.0, params
        )
        left = left.result()
    labels[right] = RIGHT_LUNG  # tissue both lungs took (between them, in the mediastinum) is right
    labels[left & ~right] = LEFT_LUNG
    labels = _refine(hu, low, labels, factor, params)
    return LungSegmentation(labels, (float(slice_spacing_mm), *map(float, pixel_spacing_mm)), tuple(warnings))


def _two_lungs(
    components: list[np.ndarray], x_mm: np.ndarray, body_x: float, voxel_mm, params: LungParams
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The lungs as two masks (one when only one lung is there), the other lung-like pieces, and
    warnings. Lungs that touch are split by erosion and watershed, else at the body's midline."""
    total = sum(int(np.count_nonzero(c)) for c in components)
    if len(components) >= 2 and np.count_nonzero(components[1]) >= params.second_lung_fraction * total:
        return components[:2], components[2:], []
    split = _split_touching(components[0], voxel_mm, params)
    if split is not None:
        return list(split), components[1:], []
    main = components[0]
    towards_left = main & (x_mm > body_x)[None]
    smaller = min(np.count_nonzero(towards_left), np.count_nonzero(main & ~towards_left))
    if smaller >= params.second_lung_fraction * total:
        warning = "the lungs touch and could not be separated by their shape: split at the body's midline"
        return [main & ~towards_left, towards_left], components[1:], [warning]
    return [main], components[1:], []


def _refine(
    hu: np.ndarray, low: np.ndarray, labels: np.ndarray, factor: int, params: LungParams
) -> np.ndarray:
    """Full-resolution labels: the working-grid labels upsampled; on their boundary band (a
    working pixel of a lung next to outside, or of outside next to a lung; 8-neighbours in-plane)
    a full-resolution pixel is lung when it is air (the neighbouring lung's label), or dense
    tissue that the closing made lung. Slice by slice on the lungs' bounding box: per working
    pixel the label an air pixel gets and the label a tissue pixel gets, both upsampled, and the
    full-resolution HU chooses."""
    if factor == 1:
        return labels
    full = np.zeros(hu.shape, np.uint8)
    zs, ys, xs = bounding_box(labels, (1, 1))
    full_rows, full_cols = (
        slice(ys.start * factor, ys.stop * factor),
        slice(xs.start * factor, xs.stop * factor),
    )
    full_size = ((xs.stop - xs.start) * factor, (ys.stop - ys.start) * factor)  # OpenCV: (width, height)

    def refine_slice(z: int) -> None:
        plane = labels[z, ys, xs]
        grown = cv2.dilate(plane, _SQUARE_2D)
        core = cv2.erode(
            (plane > 0).view(np.uint8), _SQUARE_2D, borderType=cv2.BORDER_CONSTANT, borderValue=0
        )
        band = (grown > 0) & (core == 0)
        if_air = np.where(band, grown, plane)
        if_tissue = np.where(band & (low[z, ys, xs] < params.air_below_hu), 0, plane)
        out = cv2.resize(if_tissue, full_size, interpolation=cv2.INTER_NEAREST)
        air = hu[z, full_rows, full_cols] < params.air_below_hu
        np.copyto(out, cv2.resize(if_air, full_size, interpolation=cv2.INTER_NEAREST), where=air)
        full[z, full_rows, full_cols] = out

    for_each_slice(refine_slice, range(zs.start, zs.stop))
    return full
