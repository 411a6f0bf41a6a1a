"""Batch over a PACS (issue 17): `lunglens batch --dicomweb` against `lunglens batch SOURCE` on the
same six real series (bench_batch.py's `real_archive`), the DICOMweb batch reading them from a
local Orthanc (started here, as the tests start it; its storage on this machine's disk), both on
an embedded LocalCluster of 2 workers x 1 thread, in turn within each repeat. Prints one JSON
document: per run the wall time, studies/hour once the cluster is up and worker CPU s per study;
medians, and the ratios DICOMweb / folder (rate and CPU: what retrieving each series into the
output folder costs).

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_batch_pacs.py [--repeats 2]
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

from bench_batch import HU_BANDS, real_archive
from common import SHARED_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.pacs

from lunglens.batch.jobs import DicomwebQuery  # noqa: E402
from lunglens.batch.runner import BatchConfig, run_batch  # noqa: E402
from lunglens.pacs import Connection  # noqa: E402
from tests.pacs.conftest import USER, start_orthanc  # noqa: E402


def measure(kind: str, config: BatchConfig) -> dict:
    start = time.perf_counter()
    summary = run_batch(config, progress=lambda *a: None)
    cpu = sum(seen["cpu_seconds"] for seen in summary.workers.values())
    return {
        "source": kind,
        "jobs": summary.ran,
        "failed": summary.failed,
        "wall_s": round(time.perf_counter() - start, 2),
        "studies_per_hour": round(summary.studies_per_hour, 1),
        "worker_cpu_s_per_study": round(cpu / max(1, summary.ran), 3),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not (SHARED_DATA / "covid-ct-md").exists():
        print(f"real data missing: {SHARED_DATA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-batch-pacs-") as tmp:
        scratch = Path(tmp)
        source = real_archive(scratch / "real")
        server = start_orthanc(scratch / "orthanc")
        try:
            files = sorted(p for p in source.rglob("*") if p.is_file())
            megabytes = sum(p.stat().st_size for p in files) / 1e6
            server.upload(files)
            os.environ["LUNGLENS_DICOMWEB_PASSWORD"] = server.password
            query = DicomwebQuery(Connection(url=server.dicomweb_url, user=USER))
            runs = []
            for repeat in range(args.repeats):
                common = {"workers": 2, "threads": 1, "provider": "cpu", "options": HU_BANDS}
                runs.append(
                    measure("folder", BatchConfig(source=source, out=scratch / f"f{repeat}", **common))
                )
                runs.append(
                    measure(
                        "dicomweb",
                        BatchConfig(source=None, dicomweb=query, out=scratch / f"d{repeat}", **common),
                    )
                )
        finally:
            server.stop()
    median = {
        kind: {
            key: statistics.median(r[key] for r in runs if r["source"] == kind)
            for key in ("studies_per_hour", "worker_cpu_s_per_study")
        }
        for kind in ("folder", "dicomweb")
    }
    print(
        json.dumps(
            {
                "series": "covid-ct-md P001, normal001, cap001, each twice; 2 workers x 1 thread",
                "files": len(files),
                "megabytes": round(megabytes, 1),
                "repeats": args.repeats,
                "runs": runs,
                "median": median,
                "dicomweb_over_folder_rate": round(
                    median["dicomweb"]["studies_per_hour"] / median["folder"]["studies_per_hour"], 3
                ),
                "dicomweb_over_folder_cpu": round(
                    median["dicomweb"]["worker_cpu_s_per_study"] / median["folder"]["worker_cpu_s_per_study"],
                    3,
                ),
                "cpu_count": os.cpu_count(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
