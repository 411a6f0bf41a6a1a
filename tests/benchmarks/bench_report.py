"""Report benchmark: the PDF report of a real series (default COVID-CT-MD P001) rendered and
written, against two baselines measured in the same run: `Analysis.to_json()` (serialising the
same result, CAMs included) and rendering the key images alone (lung window + Grad-CAM overlay,
no PDF). Prints JSON: medians over repeats (seconds) and the ratios report / baseline. The
report is timed twice: at the default operating point, and at a cut-off that makes the 4 most
suspicious slices positive (the most key images a report holds).

The model is the bundled demo model when given (--model CARD), else the tiny contract model of
tests/tiny_model.py; the report's cost does not depend on the model, only on the number of key
images (at most 4) and kept slices.

    .venv/bin/python tests/benchmarks/bench_report.py [FOLDER] [--model CARD] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lunglens.analysis import analyse
from lunglens.core.decision import DecisionParams
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.report import write_report
from lunglens.report.images import key_images

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT = Path(os.environ.get("LUNGLENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def timed(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of `fn` (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT / "covid-ct-md" / "P001")
    parser.add_argument("--model", type=Path, help="model card (default: the tiny contract model)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.model is None:
            sys.path.insert(0, str(REPO_ROOT))
            from tests.tiny_model import write_tiny_model

            args.model = write_tiny_model(scratch / "model")
        (ref,) = discover(args.folder).analysable
        series = load(ref)
        analysis = analyse(series, load_model(args.model, provider="cpu"))
        out = scratch / "report.pdf"
        report_s = timed(lambda: write_report(analysis, series, out), args.repeats)
        pdf_bytes = out.stat().st_size
        fourth = float(np.sort(analysis.p_covid[analysis.selection.kept & analysis.classified])[-4])
        busy = analysis.redecide(DecisionParams(fourth, analysis.decision.params.patient_fraction))
        busy_s = timed(lambda: write_report(busy, series, out), args.repeats)
        busy_bytes = out.stat().st_size
        json_s = timed(analysis.to_json, args.repeats)
        images_s = timed(lambda: key_images(analysis, series.hu), args.repeats)

    print(
        json.dumps(
            {
                "benchmark": "report",
                "series": str(args.folder),
                "slices": series.n_slices,
                "kept": analysis.decision.n_kept,
                "positive": analysis.decision.k_positive,
                "model": f"{analysis.model['name']} {analysis.model['version']}",
                "repeats": args.repeats,
                "report_s": round(report_s, 4),
                "report_4_key_images_s": round(busy_s, 4),
                "pdf_4_key_images_bytes": busy_bytes,
                "report_target_s": 3.0,
                "pdf_bytes": pdf_bytes,
                "baseline_to_json_s": round(json_s, 4),
                "baseline_key_images_s": round(images_s, 4),
                "report_over_to_json": round(report_s / json_s, 2),
                "report_over_key_images": round(report_s / images_s, 2),
                "cpu": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
