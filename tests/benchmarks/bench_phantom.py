"""Benchmark: synthetic phantom generation speed (prints JSON; not a test).

Target (issue 3): a 400-slice 512x512 patient in under 10 s on the 2-core development
machine. Baseline in the same run: drawing one Gaussian random number per voxel of the same
volume (numpy), the floor any per-voxel noise model pays.

    python tests/benchmarks/bench_phantom.py [--slices 150 400 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from lunglens.synthetic.phantom import make_phantom


def _seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, nargs="+", default=[150, 400, 600])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--covid-severity", type=float, default=0.6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = []
    for n_slices in args.slices:
        repeats = 1 if n_slices > 400 else args.repeats
        phantom_s = _seconds(
            lambda n=n_slices: make_phantom(n, seed=1, covid_severity=args.covid_severity), repeats
        )
        baseline_s = _seconds(
            lambda n=n_slices: rng.standard_normal((n, 512, 512), dtype=np.float32), repeats
        )
        results.append(
            {
                "slices": n_slices,
                "phantom_s": round(phantom_s, 2),
                "slices_per_s": round(n_slices / phantom_s, 1),
                "baseline_gaussian_draw_s": round(baseline_s, 2),
                "ratio_to_baseline": round(phantom_s / baseline_s, 2),
                "repeats": repeats,
            }
        )
    print(
        json.dumps(
            {"cpu_count": os.cpu_count(), "covid_severity": args.covid_severity, "runs": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
