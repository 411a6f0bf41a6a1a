"""PACS benchmark: retrieving a real 148-slice study (COVID-CT-MD P001) from a local Orthanc over
DICOMweb (WADO-RS, LungLens `retrieve_study`) against reading the same files from disk
(LungLens `discover` + `load` of the folder), measured side by side in one run; also retrieval
followed by the load of the retrieved folder, i.e. what `analyze --dicomweb` does before the
model runs. Prints JSON (medians over repeats, seconds) with the ratios to the disk load.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_pacs.py [FOLDER] [--repeats N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from common import SHARED_DATA, median_time

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.pacs

from lunglens.io import discover, load  # noqa: E402
from lunglens.pacs import Connection, retrieve_study  # noqa: E402
from tests.pacs.conftest import USER, start_orthanc  # noqa: E402


def disk_load(folder: Path):
    (ref,) = discover(folder).analysable
    return load(ref).hu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(SHARED_DATA / "covid-ct-md" / "P001"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    folder = Path(args.folder)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".dcm")
    scratch = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    server = start_orthanc(scratch / "orthanc")
    try:
        server.upload(files)
        os.environ["LUNGLENS_DICOMWEB_PASSWORD"] = server.password
        connection = Connection(url=server.dicomweb_url, user=USER)
        (ref,) = discover(folder).analysable
        study_uid = load(ref).metadata.study_uid
        runs = iter(range(10**6))

        def retrieve():
            return retrieve_study(connection, study_uid, scratch / f"run{next(runs)}", workers=args.workers)

        disk_s, volume = median_time(lambda: disk_load(folder), args.repeats)
        retrieve_s, retrieved = median_time(retrieve, args.repeats)
        both_s, _ = median_time(lambda: _retrieve_then_load(retrieve), args.repeats)
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        print(
            json.dumps(
                {
                    "series": str(folder),
                    "slices": int(volume.shape[0]),
                    "files_mb": round(size_mb, 1),
                    "repeats": args.repeats,
                    "workers": args.workers,
                    "disk_load_s": round(disk_s, 3),
                    "orthanc_retrieve_s": round(retrieve_s, 3),
                    "orthanc_retrieve_then_load_s": round(both_s, 3),
                    "instances_retrieved": len(retrieved.files),
                    "ratio_retrieve_to_disk_load": round(retrieve_s / disk_s, 2),
                    "ratio_retrieve_then_load_to_disk_load": round(both_s / disk_s, 2),
                    "server": "Orthanc (Debian) with its DICOMweb plugin on 127.0.0.1, HTTP, basic auth",
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                },
                indent=1,
            )
        )
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _retrieve_then_load(retrieve):
    retrieved = retrieve()
    return disk_load(retrieved.folder)


if __name__ == "__main__":
    main()
