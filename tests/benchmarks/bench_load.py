"""Load benchmark: LungLens `load` on a real series vs SimpleITK's ImageSeriesReader and a plain
pydicom read loop, measured side by side in one run. Prints JSON (medians over repeats, seconds)
with the ratios LungLens / baseline.

    .venv/bin/python tests/benchmarks/bench_load.py [FOLDER] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import pydicom
from common import SHARED_DATA, median_time

from lunglens.io import discover, load

DEFAULT = SHARED_DATA


def lunglens_load(folder: Path):
    (ref,) = discover(folder).analysable
    return load(ref).hu


def simpleitk_load(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def pydicom_loop(folder: Path):
    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda d: -float(d.ImagePositionPatient[2]))
    return np.stack([pydicom.pixels.apply_rescale(d.pixel_array, d) for d in datasets]).astype(np.int16)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT / "covid-ct-md" / "P001")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours, hu = median_time(lambda: lunglens_load(args.folder), args.repeats)
    sitk_s, sitk_hu = median_time(lambda: simpleitk_load(args.folder), args.repeats)
    loop_s, loop_hu = median_time(lambda: pydicom_loop(args.folder), max(1, args.repeats // 2))
    result = {
        "benchmark": "load",
        "series": str(args.folder),
        "slices": int(hu.shape[0]),
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "median_s": {
            "lunglens": round(ours, 4),
            "simpleitk": round(sitk_s, 4),
            "pydicom_loop": round(loop_s, 4),
        },
        "ratio_lunglens_to_simpleitk": round(ours / sitk_s, 3),
        "ratio_lunglens_to_pydicom_loop": round(ours / loop_s, 3),
        "same_volume_as_pydicom_loop": bool(np.array_equal(hu, loop_hu)),
        "same_volume_as_simpleitk_reversed": bool(
            np.array_equal(hu, np.asarray(sitk_hu)[::-1].astype(np.int16))
        )
        or bool(np.array_equal(hu, np.asarray(sitk_hu).astype(np.int16))),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
