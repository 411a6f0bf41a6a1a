"""Overlay benchmark on a real series (no display): what drawing the Grad-CAM costs per slice,
each figure beside a baseline measured in the same run. Prints JSON (medians, milliseconds):

- slice frame, cold (nothing cached): `DisplayCache.frame` with the CAM (body mask, colour
  index, blend), fill and outline, against the same frame without a CAM (window + look-up only);
- slice frame, cached (a second visit): the dictionary look-up;
- reformat plane with the CAM (coronal and sagittal through the middle, every slice's CAM,
  body and P(COVID) weight), against the plain grey plane; and the coarse body masks of the whole
  series (the reformats make them one slice at a time, for slices with a CAM to draw);
- the previous renderer's CAM frame (the inferno ramp without mask or weight, as in
  `git show 97469ef:app/lunglens/ui/render.py`), reproduced here as the "before" figure.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_overlay.py [FOLDER] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lunglens.core.windowing import PRESETS, to_grey  # noqa: E402
from lunglens.inference.postprocess import cam_for_display  # noqa: E402
from lunglens.io import discover, load  # noqa: E402
from lunglens.render.overlay import (  # noqa: E402
    DEFAULT_STYLE,
    blend_table,
    coarse_body,
    overlay_lut,
    plane_body_mask,
    plane_fraction,
    plane_overlay_rgb,
)
from lunglens.ui.render import DisplayCache  # noqa: E402
from tests.benchmarks.common import SHARED_DATA, median_time  # noqa: E402

LUNG = PRESETS[0]


def ms(seconds: float) -> float:
    return round(1000 * seconds, 3)


def previous_frame(hu: np.ndarray, cam: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The renderer before this change: CAM resized to the slice, 255 at its peak, blended
    through one (grey, heat) table, no mask and no weight."""
    pair = to_grey(hu, LUNG).astype(np.uint16) << 8
    pair |= (cam_for_display(cam, hu.shape) * 255).astype(np.uint8)
    return table[pair].view(np.uint8).reshape(*hu.shape, 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED_DATA / "covid-ct-md" / "P001")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    series = load(discover(args.folder).series[0])
    n = series.n_slices
    rng = np.random.default_rng(0)
    cams = rng.random((n, 16, 16)).astype(np.float16)  # model-shaped CAMs; the cost does not depend on values
    indices = list(range(n // 4, n // 4 + 40))

    def per_slice(draw) -> float:
        times = [median_time(lambda i=i: draw(i), args.repeats)[0] for i in indices]
        return float(np.median(times))

    def cold(style):
        cache = DisplayCache(style=style)

        def draw(i):
            cache.clear()
            return cache.frame(i, series.hu[i], LUNG, cams[i], 0.5, p_covid=1.0, cutoff=0.5)

        return per_slice(draw)

    plain_cache = DisplayCache()

    def plain(i):
        plain_cache.clear()
        return plain_cache.frame(i, series.hu[i], LUNG)

    warm = DisplayCache()
    for i in indices:
        warm.frame(i, series.hu[i], LUNG, cams[i], 0.5, p_covid=1.0, cutoff=0.5)
    old_table = blend_table(overlay_lut(), 0.5)

    body_s, body = median_time(lambda: np.stack([coarse_body(hu) for hu in series.hu]), 1)
    weights = np.full(n, 0.5)
    planes = {}
    for axis, index in (("coronal", series.hu.shape[1] // 2), ("sagittal", series.hu.shape[2] // 2)):
        hu_plane = series.hu[:, index, :] if axis == "coronal" else series.hu[:, :, index]

        def with_cam(axis=axis, index=index, hu_plane=hu_plane):
            grey = to_grey(hu_plane, LUNG)
            region = plane_body_mask(body, axis, index, series.hu.shape[1:])
            return plane_overlay_rgb(
                grey, plane_fraction(cams, axis, index, series.hu.shape[1:]), weights, region
            )

        planes[axis] = {
            "with_cam_ms": ms(median_time(with_cam, args.repeats)[0]),
            "baseline_grey_plane_ms": ms(
                median_time(lambda hu_plane=hu_plane: to_grey(hu_plane, LUNG), args.repeats)[0]
            ),
        }
    fill_cold = cold(DEFAULT_STYLE)
    baseline = per_slice(plain)
    result = {
        "benchmark": "overlay",
        "series": str(args.folder),
        "slices": n,
        "shape": list(series.hu.shape[1:]),
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "slice_frame_cold": {
            "fill_ms": ms(fill_cold),
            "outline_ms": ms(cold(replace(DEFAULT_STYLE, outline=True))),
            "previous_renderer_ms": ms(per_slice(lambda i: previous_frame(series.hu[i], cams[i], old_table))),
            "baseline_no_cam_ms": ms(baseline),
            "ratio_fill_to_baseline": round(fill_cold / baseline, 2),
        },
        "slice_frame_cached_ms": ms(
            per_slice(lambda i: warm.frame(i, series.hu[i], LUNG, cams[i], 0.5, p_covid=1.0, cutoff=0.5))
        ),
        "reformat_plane": planes,
        "series_body_masks_once_ms": ms(body_s),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
