"""How close the phantom is to a real chest CT: HU statistics, lung area along z, a montage.

Both volumes are measured the same way: lungs and body by `lung_mask` / `body_mask` (so the
phantom's own truth masks play no part), HU statistics over all voxels of the series, lung area
per slice resampled onto the fraction of the scan length (0 = top, 1 = bottom).

Run `python -m lunglens.synthetic.realism REAL_SERIES_FOLDER MONTAGE.png` to print the figures
as JSON and write a montage (phantom above, real below, lung window W 1500 / L -600).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from lunglens.synthetic.lung_mask import body_mask, lung_mask

PROFILE_POINTS = 21
"""Lung-area profile samples, evenly spaced over the scan (fraction 0..1)."""
MONTAGE_FRACTIONS = (0.04, 0.12, 0.22, 0.35, 0.5, 0.62, 0.74, 0.86)
"""Where along the scan (fraction of its length, 0 = top) the montage shows slices."""


@dataclass(frozen=True)
class HuSummary:
    """Mean and 5th / 95th percentiles (HU) of the voxels in a region."""

    mean: float
    p5: float
    p95: float


@dataclass(frozen=True)
class RealismFigures:
    lung: HuSummary
    body: HuSummary
    lung_area_cm2: tuple[float, ...]
    """Lung area per slice (cm^2) at PROFILE_POINTS even fractions of the scan length."""


def _summary(values: np.ndarray) -> HuSummary:
    p5, p95 = np.percentile(values, [5, 95])
    return HuSummary(round(float(values.mean()), 1), float(p5), float(p95))


def measure(hu: np.ndarray, pixel_spacing_mm: float) -> RealismFigures:
    """Realism figures of one HU volume (z, y, x; index 0 the most superior slice)."""
    lungs = np.stack([lung_mask(s) for s in hu])
    bodies = np.stack([body_mask(s) for s in hu])
    area_cm2 = lungs.sum(axis=(1, 2)) * pixel_spacing_mm**2 / 100.0
    fractions = (np.arange(len(hu)) + 0.5) / len(hu)
    profile = np.interp(np.linspace(0.0, 1.0, PROFILE_POINTS), fractions, area_cm2)
    return RealismFigures(
        lung=_summary(hu[lungs]),
        body=_summary(hu[bodies]),
        lung_area_cm2=tuple(round(float(a), 1) for a in profile),
    )


def lung_window(hu_slice: np.ndarray, width_hu: float = 1500.0, level_hu: float = -600.0) -> np.ndarray:
    """An 8-bit display of a slice in a window (default: lung, W 1500 / L -600)."""
    low = level_hu - width_hu / 2.0
    return np.clip((hu_slice.astype(np.float32) - low) * (255.0 / width_hu), 0, 255).astype(np.uint8)


def montage(phantom_hu: np.ndarray, real_hu: np.ndarray, path: Path, tile_px: int = 256) -> Path:
    """Write a PNG: phantom slices (top row) above real slices (bottom row) at the same
    fractions of the scan length, lung window, each tile labelled with its slice index."""
    rows = []
    for name, volume in (("phantom", phantom_hu), ("real", real_hu)):
        tiles = []
        for fraction in MONTAGE_FRACTIONS:
            index = min(int(fraction * len(volume)), len(volume) - 1)
            tile = cv2.resize(lung_window(volume[index]), (tile_px, tile_px), interpolation=cv2.INTER_AREA)
            label = f"{name} {index + 1}/{len(volume)}"
            cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))
    return path


def main(argv: list[str] | None = None) -> int:
    from lunglens.io import discover, load
    from lunglens.synthetic.phantom import make_phantom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real_folder", help="a real chest CT series folder (e.g. covid-ct-md/normal001)")
    parser.add_argument("montage_png", help="where to write the montage PNG")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--severity", type=float, default=0.0, help="phantom COVID severity (0..1)")
    args = parser.parse_args(argv)
    real = load(discover(args.real_folder).analysable[0])
    phantom = make_phantom(n_slices=real.n_slices, seed=args.seed, covid_severity=args.severity)
    figures = {
        "real": asdict(measure(real.hu, real.pixel_spacing_mm[0])),
        "phantom": asdict(measure(phantom.hu, phantom.pixel_spacing_mm)),
        "montage": str(montage(phantom.hu, real.hu, Path(args.montage_png))),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
