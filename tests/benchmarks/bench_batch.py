"""Batch throughput (issue 17): `lunglens batch` on an embedded LocalCluster with 1 and 2 workers,
on the real series and on phantom patients. Prints one JSON document.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_batch.py [--repeats N] [--phantoms 30]
        [--model M] [--only real|phantom] [--provider cpu|cuda] [--configs 1x1,2x1,1x2]

real:    the three analysable whole series of covid-ct-md (P001 148 slices, normal001 154, cap001
         168; the other shared data are single slices or 3-slice test files) twice: once as they
         are (files linked) and once rewritten with new UIDs, so the batch sees six series.
phantom: `--phantoms` synthetic patients (40 slices of 256 x 256 pixels; the classifier input is
         resized to 512 x 512 as for any size), four rendered volumes written with distinct UIDs.

Per configuration (workers x onnxruntime threads per worker): wall time, time to start the
cluster, studies/hour once the cluster is up (`BatchSummary.studies_per_hour`), and the load
average before and after (the machine is shared), and the worker CPU time per study (all threads of
the worker process; it does not depend on what else runs, where the wall time does). Scaling efficiency 1 -> 2 workers =
rate(2 workers x 1 thread) / (2 x rate(1 worker x 1 thread)); `processes_vs_threads` = rate(2 x 1)
/ rate(1 worker x 2 threads), the same two cores used as processes or as onnxruntime threads.
On a machine shared with other work the wall rates say little; `cpu_scaling_efficiency` =
CPU s per study with 1 worker / with 2 workers (1.0: a second worker adds no work per study), and
`cpu_bound_studies_per_hour_on_idle_cores` = 3600 x cores used / CPU s per study, what the rate
would be with the cores to itself (decode threads included, I/O waits not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from common import SHARED_DATA
from pydicom.uid import generate_uid

from lunglens.analysis import AnalysisOptions
from lunglens.batch.runner import BatchConfig, run_batch
from lunglens.synthetic import make_phantom, write_dicom_series

REAL_SERIES = ("P001", "normal001", "cap001")
CONFIGS = ((1, 1), (2, 1), (1, 2))
"""(workers, onnxruntime threads per worker), run in this order within each repeat."""


def real_archive(root: Path) -> Path:
    """Six series: the three covid-ct-md series linked as they are, and rewritten with new UIDs."""
    for name in REAL_SERIES:
        source = SHARED_DATA / "covid-ct-md" / name
        linked, rewritten = root / "as-is" / name, root / "copy" / name
        linked.mkdir(parents=True)
        rewritten.mkdir(parents=True)
        for path in sorted(source.iterdir()):
            os.symlink(path, linked / path.name)
            ds = pydicom.dcmread(path)
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
                setattr(ds, keyword, generate_uid(entropy_srcs=["bench-copy", str(ds.get(keyword))]))
            ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench-copy", str(ds.SOPInstanceUID)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = f"{ds.get('PatientID', name)}-copy"
            ds.save_as(rewritten / path.name, enforce_file_format=True)
    return root


def phantom_archive(root: Path, n_patients: int) -> Path:
    volumes = [
        make_phantom(n_slices=40, size=256, pixel_spacing_mm=1.4, seed=s, covid_severity=0.6 * (s % 2))
        for s in range(4)
    ]
    for i in range(n_patients):
        phantom = volumes[i % len(volumes)]
        write_dicom_series(
            phantom.hu,
            phantom.positions_mm,
            phantom.pixel_spacing_mm,
            phantom.slice_thickness_mm,
            root / f"PH{i:03d}",
            patient_id=f"PH{i:03d}",
            seed=5000 + i,
        )
    return root


HU_BANDS = AnalysisOptions(lesion_method="hu_bands")
"""The throughput in the README was measured with the quantification by the HU bands; the learned
lesion map adds its own time per series (bench_lesion.py)."""


def measure(
    source: Path, scratch: Path, workers: int, threads: int, model: Path | None, provider: str
) -> dict:
    out = Path(tempfile.mkdtemp(dir=scratch, prefix=f"out-{workers}w{threads}t-"))
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    summary = run_batch(
        BatchConfig(
            source=source,
            out=out,
            workers=workers,
            threads=threads,
            model=model,
            provider=provider,
            options=HU_BANDS,
        ),
        progress=lambda *a: None,
    )
    wall = time.perf_counter() - start
    cpu = sum(seen["cpu_seconds"] for seen in summary.workers.values())
    return {
        "workers": workers,
        "threads_per_worker": threads,
        "jobs": summary.ran,
        "failed": summary.failed,
        "wall_s": round(wall, 2),
        "cluster_start_s": round(summary.cluster_start_seconds, 2),
        "studies_per_hour": round(summary.studies_per_hour, 1),
        "worker_cpu_s_per_study": round(cpu / max(1, summary.ran), 3),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def bench(
    source: Path,
    scratch: Path,
    repeats: int,
    model: Path | None,
    provider: str = "cpu",
    configs: tuple[tuple[int, int], ...] = CONFIGS,
) -> dict:
    runs = [measure(source, scratch, w, t, model, provider) for _ in range(repeats) for w, t in configs]
    rate = {
        (w, t): statistics.median(
            r["studies_per_hour"] for r in runs if (r["workers"], r["threads_per_worker"]) == (w, t)
        )
        for w, t in configs
    }
    cpu = {
        (w, t): statistics.median(
            r["worker_cpu_s_per_study"] for r in runs if (r["workers"], r["threads_per_worker"]) == (w, t)
        )
        for w, t in configs
    }
    cores = os.cpu_count() or 1
    scaling = {}
    if (1, 1) in rate and (2, 1) in rate:
        scaling = {
            "cpu_scaling_efficiency_1_to_2_workers": round(cpu[(1, 1)] / cpu[(2, 1)], 3),
            "scaling_efficiency_1_to_2_workers": round(rate[(2, 1)] / (2 * rate[(1, 1)]), 3),
        }
    if (2, 1) in rate and (1, 2) in rate:
        scaling["processes_vs_threads"] = round(rate[(2, 1)] / rate[(1, 2)], 3)
    return {
        "provider": provider,
        "runs": runs,
        "median_worker_cpu_s_per_study": {f"{w}w x {t}t": v for (w, t), v in cpu.items()},
        "cpu_bound_studies_per_hour_on_idle_cores": {
            f"{w}w x {t}t": round(3600 * min(cores, w * t) / v, 1) for (w, t), v in cpu.items()
        },
        "median_studies_per_hour": {f"{w}w x {t}t": v for (w, t), v in rate.items()},
        **scaling,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--phantoms", type=int, default=30)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--only", choices=("real", "phantom"))
    parser.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"), default="cpu")
    parser.add_argument(
        "--configs",
        default=",".join(f"{w}x{t}" for w, t in CONFIGS),
        help="workers x threads per worker, comma-separated",
    )
    args = parser.parse_args()
    configs = tuple(tuple(int(n) for n in c.split("x")) for c in args.configs.split(","))
    result = {"cpu_count": os.cpu_count(), "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        scratch = Path(tmp)
        if args.only in (None, "real"):
            if not (SHARED_DATA / "covid-ct-md").exists():
                print(f"real data missing: {SHARED_DATA}", file=sys.stderr)
                return 2
            result["real_six_series"] = bench(
                real_archive(scratch / "real"), scratch, args.repeats, args.model, args.provider, configs
            )
        if args.only in (None, "phantom"):
            source = phantom_archive(scratch / "phantom", args.phantoms)
            result[f"phantom_{args.phantoms}_patients"] = bench(
                source, scratch, args.repeats, args.model, args.provider, configs
            )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
