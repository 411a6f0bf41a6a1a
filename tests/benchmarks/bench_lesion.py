"""Lesion-map benchmark (issue 14): the Polat patch-CNN map of covid-ct-md/P001 on this machine, per
slice and per series, beside the FPN classify stage (the app's demo classifier) in the same run.
Prints one JSON document: medians over repeats and the ratio lesion map / classify.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_lesion.py [--repeats N] [--provider P] [--stride S]
        [--patchwise-repeats K]

The map is the app's: one dense pass of the fully convolutional model over each slice's lung bounding
box (`hu_lesion_map`). With --patchwise-repeats K > 0 the same series is also mapped patch by patch
(`LesionMapParams(patchwise=True)`, what the app did before the dense graph; the same map to float
tolerance, reported as max_abs_difference) and the speed-up dense / patchwise is reported.
Both stages run on the slices the lung-open selector keeps (the slices the analysis classifies), with
lung masks from `lunglens.synthetic.lung_mask` (timed separately, not part of the map).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from common import SHARED_DATA, median_time

from lunglens.core.selector import SelectorParams, select_slices
from lunglens.inference import classify, load_model
from lunglens.inference.lesion_model import load_lesion_model
from lunglens.io import discover, load
from lunglens.paths import demo_model_card
from lunglens.quant.lesion_map import LesionMapParams, hu_lesion_map
from lunglens.synthetic import lung_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--stride", type=int, default=LesionMapParams().stride)
    parser.add_argument("--patchwise-repeats", type=int, default=0, help="also time the patch-by-patch map")
    args = parser.parse_args()
    series = load(discover(SHARED_DATA / "covid-ct-md" / "P001").series[0])
    kept = select_slices(series.standard_hu, SelectorParams()).kept_indices
    hu = series.hu[kept]
    start = time.perf_counter()
    lungs = np.stack([lung_mask(s) for s in hu])
    lung_seconds = time.perf_counter() - start

    lesion_model = load_lesion_model(None, provider=args.provider)
    classifier = load_model(demo_model_card(), provider=args.provider)
    params = LesionMapParams(stride=args.stride)
    classify(classifier, series.hu, kept[:2], layout=series.layout)  # warm-up both sessions
    hu_lesion_map(lesion_model, hu[:1], lungs[:1], series.pixel_spacing_mm, params)

    lesion_s, prob = median_time(
        lambda: hu_lesion_map(lesion_model, hu, lungs, series.pixel_spacing_mm, params), args.repeats
    )
    classify_s, _ = median_time(
        lambda: classify(classifier, series.hu, kept, layout=series.layout), args.repeats
    )
    middle = len(kept) // 2
    one_slice_s, _ = median_time(
        lambda: hu_lesion_map(lesion_model, hu[middle], lungs[middle], series.pixel_spacing_mm, params),
        max(args.repeats, 5),
    )
    result = {
        "benchmark": "lesion map vs FPN classify, covid-ct-md/P001",
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared)",
        "provider": {"lesion": lesion_model.provider.describe(), "classify": classifier.provider.describe()},
        "threads": os.environ.get("LUNGLENS_THREADS", "onnxruntime default"),
        "slices": int(len(kept)),
        "stride_px": args.stride,
        "pixel_mm": lesion_model.card.pixel_mm,
        "repeats": args.repeats,
        "lung_masks_s": round(lung_seconds, 3),
        "lesion_map_series_median_s": round(lesion_s, 3),
        "lesion_map_per_slice_s": round(lesion_s / len(kept), 4),
        "lesion_map_middle_slice_median_s": round(one_slice_s, 4),
        "classify_series_median_s": round(classify_s, 3),
        "classify_per_slice_s": round(classify_s / len(kept), 4),
        "ratio_lesion_map_to_classify": round(lesion_s / classify_s, 3),
        "lesion_pixels_percent_of_lung": round(100 * float(((prob >= 0.5) & lungs).sum() / lungs.sum()), 2),
    }
    if args.patchwise_repeats > 0:
        patchwise = LesionMapParams(stride=args.stride, patchwise=True)
        patch_s, patch_prob = median_time(
            lambda: hu_lesion_map(lesion_model, hu, lungs, series.pixel_spacing_mm, patchwise),
            args.patchwise_repeats,
        )
        result |= {
            "patchwise_repeats": args.patchwise_repeats,
            "patchwise_series_median_s": round(patch_s, 3),
            "patchwise_per_slice_s": round(patch_s / len(kept), 4),
            "ratio_patchwise_to_classify": round(patch_s / classify_s, 3),
            "speedup_dense_over_patchwise": round(patch_s / lesion_s, 2),
            "max_abs_difference_dense_vs_patchwise": float(np.abs(prob - patch_prob).max()),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
