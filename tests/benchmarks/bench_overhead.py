"""The fixed cost per patient of a batch worker, attributed (issue 17, GPU section), on the
provider at hand (`--provider cuda` on a GPU machine, `cpu` here). Prints one JSON document.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_overhead.py [--provider cpu|cuda]
        [--sizes 35,52,56,65,130,198] [--lesion-method hu_bands|learned] [--model M]
        [--cudnn-search HEURISTIC|EXHAUSTIVE]   (CUDA only: LungLens's choice, or onnxruntime's default)

Once per worker process:
- `session_s`: creating the classifier's onnxruntime session (`load_model`);
- `first_run_s` against `warm_run_s` (median of 5): a `run` at the provider's batch shape;
- `new_shape_s`: per batch size 1 .. batch size - 1 (the shape of a patient's last, partial batch)
  the first `run` at that shape minus the warm run at it (the CUDA provider chooses its kernels
  again at every change of input shape; `Model.run` pads a partial batch to the full one there, so
  this is about 0 unless that padding is undone; nothing of the kind on the CPU);
- with `--lesion-method learned`, the same for the lesion model on lung crops of different sizes
  (`lesion_model.new_shape_s`; on a GPU the tiles have one shape, so only the first costs).
Per patient: `run_job` (what a Dask worker runs: load the DICOM files, select, classify, quantify,
decide, write the JSON) on phantom patients of the paper's Table 7 sizes, each run once as a batch
sees it (the session warm from other patients, this patient's shapes possibly new), then twice
again (every shape seen). The fixed part is the intercept of the least-squares line seconds =
fixed + per_slice x slices over the sizes, for the job and for each step of `Analysis.timings_s`;
the issue's target is a fixed part under 0.3 s per patient on top of the per-slice cost.
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

import numpy as np

from lunglens.analysis import AnalysisOptions
from lunglens.batch.jobs import plan_jobs
from lunglens.batch.task import JobSettings, result_name, run_job
from lunglens.inference import load_model, session
from lunglens.inference.lesion_model import load_lesion_model
from lunglens.inference.session import bundled_model_card, card_path_for
from lunglens.synthetic import make_phantom, write_dicom_series

TABLE7_SIZES = (35, 52, 56, 65, 130, 198)
"""Series sizes of the paper's Table 7 (it goes on to 355 and 406; `--sizes` adds them)."""


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def session_costs(card: Path, provider: str) -> dict:
    """Session creation, first run and new-shape runs of the classifier."""
    start = time.perf_counter()
    model = load_model(card, provider=provider)
    session_s = time.perf_counter() - start
    size = model.batch_size
    image = np.random.default_rng(0).uniform(0, 2000, (size, 1, 512, 512)).astype(np.float32)
    first = _seconds(lambda: model.run(image))
    warm = statistics.median(_seconds(lambda: model.run(image)) for _ in range(5))
    new_shape = {}
    for n in range(1, size):
        first_at_n = _seconds(lambda n=n: model.run(image[:n]))
        warm_at_n = statistics.median(_seconds(lambda n=n: model.run(image[:n])) for _ in range(3))
        new_shape[n] = round(first_at_n - warm_at_n, 4)
    return {
        "provider": model.provider.used,
        "batch_size": size,
        "session_s": round(session_s, 3),
        "first_run_s": round(first, 4),
        "warm_run_s": round(warm, 4),
        "new_shape_s": new_shape,
        "new_shape_s_median": round(statistics.median(new_shape.values()), 4) if new_shape else 0.0,
    }


def lesion_shape_costs(provider: str) -> dict:
    """The lesion model's session and the first run at tile shapes of different lung crops."""
    start = time.perf_counter()
    model = load_lesion_model(provider=provider)
    session_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    costs = {}
    for height, width in ((300, 380), (310, 390), (250, 330), (200, 280)):
        grey = rng.uniform(0, 255, (height, width)).astype(np.float32)
        first = _seconds(lambda g=grey: model.lesion_grid(g))
        warm = statistics.median(_seconds(lambda g=grey: model.lesion_grid(g)) for _ in range(2))
        costs[f"{height}x{width}"] = round(first - warm, 4)
    return {"provider": model.provider.used, "session_s": round(session_s, 3), "new_shape_s": costs}


def phantom_patients(root: Path, sizes: tuple[int, ...]) -> Path:
    """One DICOM folder per size under `root`, a COVID-19 phantom of moderate severity."""
    for n in sizes:
        phantom = make_phantom(n_slices=n, seed=n, covid_severity=0.5)
        write_dicom_series(
            phantom.hu,
            phantom.positions_mm,
            phantom.pixel_spacing_mm,
            phantom.slice_thickness_mm,
            root / f"PH{n:03d}",
            patient_id=f"PH{n:03d}",
            seed=n,
        )
    return root


def fit(slices: list[int], seconds: list[float]) -> dict:
    """Least-squares seconds = fixed + per_slice x slices, with the largest residual."""
    per_slice, fixed = np.polyfit(np.asarray(slices, float), np.asarray(seconds, float), 1)
    residual = np.asarray(seconds) - (fixed + per_slice * np.asarray(slices))
    return {
        "fixed_s": round(float(fixed), 4),
        "per_slice_ms": round(1000 * float(per_slice), 3),
        "max_residual_s": round(float(np.abs(residual).max()), 4),
    }


def per_patient(card: Path, provider: str, sizes: tuple[int, ...], lesion_method: str, scratch: Path) -> dict:
    """`run_job` per phantom patient: first run (as a batch sees it) and warm repeats; fits."""
    source = phantom_patients(scratch / "patients", sizes)
    jobs = sorted(plan_jobs(source).jobs, key=lambda job: job.ref.n_slices)
    model = load_model(card, provider=provider)
    settings = JobSettings(
        model_card=str(card),
        model_sha256=model.card.sha256,
        provider=provider,
        options=AnalysisOptions(lesion_method=lesion_method),
        out_folder=str(scratch / "out"),
    )
    Path(settings.out_folder).mkdir()

    def run_afresh(job):
        """`run_job` with no result of the job in place (a finished one would be kept, not made)."""
        (Path(settings.out_folder) / result_name(job.job_id)).unlink(missing_ok=True)
        return run_job(job, settings)

    run_afresh(jobs[-1])  # the worker's first job: sessions made, the largest shapes seen
    rows = []
    for job in jobs:
        runs = []
        for _ in range(3):
            answer = run_afresh(job)
            if answer["status"] != "done":
                raise SystemExit(f"{job.job_id}: {answer['error']}")
            stored = json.loads((Path(settings.out_folder) / result_name(job.job_id)).read_text())
            runs.append((answer["seconds"], stored["timings_s"], stored["decision"]["n_kept"]))
        rows.append(
            {
                "slices": job.ref.n_slices,
                "kept": runs[0][2],
                "first_s": round(runs[0][0], 3),
                "warm_s": round(statistics.median(r[0] for r in runs[1:]), 3),
                "first_steps_s": {k: round(v, 3) for k, v in runs[0][1].items()},
            }
        )
    slices = [row["slices"] for row in rows]
    steps = rows[0]["first_steps_s"].keys()
    return {
        "patients": rows,
        "fit_first_run": fit(slices, [row["first_s"] for row in rows]),
        "fit_warm": fit(slices, [row["warm_s"] for row in rows]),
        "fit_first_run_by_step": {
            step: fit(slices, [row["first_steps_s"].get(step, 0.0) for row in rows]) for step in steps
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--sizes", default=",".join(map(str, TABLE7_SIZES)))
    parser.add_argument("--lesion-method", default="hu_bands")
    parser.add_argument("--cudnn-search", choices=("HEURISTIC", "EXHAUSTIVE"), default="HEURISTIC")
    args = parser.parse_args()
    session.PROVIDER_OPTIONS[session.CUDA] = {"cudnn_conv_algo_search": args.cudnn_search}
    card = card_path_for(args.model) if args.model else bundled_model_card()
    sizes = tuple(sorted({int(s) for s in args.sizes.split(",")}))
    result = {
        "cudnn_conv_algo_search": args.cudnn_search,
        "threads": os.environ.get("LUNGLENS_THREADS", "all"),
        "cpu_count": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),
        "classifier": session_costs(card, args.provider),
    }
    if args.lesion_method == "learned":
        result["lesion_model"] = lesion_shape_costs(args.provider)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as scratch:
        result.update(per_patient(card, args.provider, sizes, args.lesion_method, Path(scratch)))
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
