"""Quantification benchmark: lungs + HU-band quantification of a real series against `load` of
the same series, measured side by side in one run (ratio; target <= 1.0), the size of the
result's JSON, and the peak memory of quantifying a 600-slice phantom series (measured in a
child process: tracemalloc peak of `quantify` and the process's peak RSS; target < 1.5 GB).
Prints JSON (medians over repeats, seconds).

    .venv/bin/python tests/benchmarks/bench_quant.py [FOLDER] [--repeats N] [--memory-slices N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import SHARED_DATA

from lunglens.core.selector import select_slices
from lunglens.io import discover, load
from lunglens.quant import quantify, segment_lungs

MEMORY_CHILD = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {tests!r})
from lunglens.quant import quantify
from lunglens.synthetic import make_phantom
from quant.conftest import phantom_series
p = make_phantom(n_slices={slices}, seed=1, covid_severity=0.5)
series = phantom_series(p.hu, p.pixel_spacing_mm, p.slice_thickness_mm)
del p
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
start = time.perf_counter()
q = quantify(series)
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
print(json.dumps({{
    "slices": {slices},
    "volume_mb": series.hu.nbytes / 2**20,
    "quantify_s": seconds,
    "quantify_traced_peak_mb": peak,
    "rss_before_quantify_mb": before,
    "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "json_kb": len(json.dumps(q.to_dict())) / 1024,
}}))
"""


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall and median CPU seconds of this process (all its threads) over `repeats`
    calls, and the last result. CPU time shows the work when other jobs share the machine."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def memory_in_child(slices: int) -> dict:
    tests = str(Path(__file__).resolve().parents[1])
    code = MEMORY_CHILD.format(tests=tests, slices=slices)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED_DATA / "covid-ct-md" / "P001")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-slices", type=int, default=600, help="0 skips the memory measurement")
    args = parser.parse_args()
    (ref,) = discover(args.folder).analysable
    load_s, load_cpu_s, series = timed(lambda: load(ref), args.repeats)
    kept = select_slices(series.standard_hu).kept

    def lungs():
        return segment_lungs(
            series.hu, series.pixel_spacing_mm, series.slice_spacing_mm, series.orientation_cosines
        )

    lungs_s, lungs_cpu_s, _ = timed(lungs, args.repeats)
    quantify_s, quantify_cpu_s, result = timed(lambda: quantify(series, kept), args.repeats)
    report = {
        "series": str(args.folder),
        "slices": series.n_slices,
        "repeats": args.repeats,
        "load_s": load_s,
        "lungs_s": lungs_s,
        "quantify_s": quantify_s,
        "ratio_quantify_to_load": quantify_s / load_s,
        "load_cpu_s": load_cpu_s,
        "lungs_cpu_s": lungs_cpu_s,
        "quantify_cpu_s": quantify_cpu_s,
        "ratio_quantify_to_load_cpu": quantify_cpu_s / load_cpu_s,
        "json_kb": len(json.dumps(result.to_dict())) / 1024,
        "total_affected_percent": result.total.affected_percent,
        "severity_score": result.severity_score,
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    if args.memory_slices:
        report["memory"] = memory_in_child(args.memory_slices)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
