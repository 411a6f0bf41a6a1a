"""Analysis benchmarks (issue 4). Each part prints one JSON document: medians, and ratios to a
baseline measured in the same run.

    .venv/bin/python tests/benchmarks/bench_analyze.py p001      [--model M] [--repeats N]
    .venv/bin/python tests/benchmarks/bench_analyze.py authors   [--model M]
    .venv/bin/python tests/benchmarks/bench_analyze.py table7    [--model M] [--provider P]
    .venv/bin/python tests/benchmarks/bench_analyze.py memory    [--model M] [--slices 600]
    PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_analyze.py fullwidth --model FULL.onnx [--keras-h5 REF.h5]

p001:      end-to-end `analyze` on covid-ct-md/P001 per stage (load, select, classify, decide).
authors:   the authors' notebook structure (per-pixel Python selector loop, one run per image) vs
           our pipeline, same model and data; ratio authors / ours.
table7:    phantom patients of the sizes in the paper's Table 7 (35 ... 406 slices), our time per
           patient beside the paper's (Tesla P100, Keras: 2.3 s for 35 slices ... 23.6 s for 406).
memory:    peak resident memory of `lunglens analyze` (a child process) on a phantom series written
           as DICOM; baseline: the same child process running `lunglens info` on that folder.
fullwidth: full-width model per-slice latency, onnxruntime fp32 vs int8 (`models.quantize_int8`, static
           and dynamic), slice agreement with fp32 on the real series, and the Keras reference model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SHARED_DATA, authors_selector, median_time

from lunglens.analysis import AnalysisOptions, analyse
from lunglens.core.selector import select_slices
from lunglens.inference import load_model
from lunglens.inference.preprocess import to_model_input
from lunglens.io import discover, load
from lunglens.io.series import Series, SeriesMetadata, SeriesRef

HU_BANDS = AnalysisOptions(lesion_method="hu_bands")
"""These figures time the classification pipeline (the paper's Table 7) with the quantification by the
HU bands, as when they were first measured; the learned lesion map has its own benchmark
(bench_lesion.py)."""

SHARED = SHARED_DATA
P001 = SHARED / "covid-ct-md" / "P001"
TABLE7_SIZES = (35, 52, 56, 65, 130, 198, 355, 406)
PAPER_TABLE7_S = {35: 2.3, 406: 23.6}
"""The paper's Table 7 endpoints as quoted in the issue (Tesla P100, Keras); the others are not quoted."""


def phantom_series(n_slices: int, seed: int = 0, severity: float = 0.5) -> Series:
    """A phantom patient as a loaded `Series` (no files)."""
    from lunglens.synthetic.phantom import make_phantom

    phantom = make_phantom(n_slices=n_slices, seed=seed, covid_severity=severity)
    ref = SeriesRef(
        key=f"phantom-{n_slices}",
        source_format="dicom",
        frames=tuple((Path(f"phantom/{i}"), None) for i in range(n_slices)),
        modality="CT",
        orientation="axial",
        rows=512,
        columns=512,
        pixel_spacing_mm=(phantom.pixel_spacing_mm,) * 2,
        slice_thickness_mm=phantom.slice_thickness_mm,
        description=f"phantom {n_slices} slices",
    )
    return Series(
        ref=ref,
        hu=phantom.hu,
        positions_mm=phantom.positions_mm,
        pixel_spacing_mm=(phantom.pixel_spacing_mm,) * 2,
        slice_spacing_mm=phantom.slice_thickness_mm,
        metadata=SeriesMetadata(),
        source_paths=tuple(p for p, _ in ref.frames),
    )


def part_p001(args) -> dict:
    model = load_model(args.model, provider=args.provider)
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        (ref,) = discover(P001).analysable
        series = load(ref)
        load_s = time.perf_counter() - start
        result = analyse(series, model, HU_BANDS, steps_before={"load": load_s})
        runs.append({**result.timings_s, "total": time.perf_counter() - start})
    stages = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
    return {
        "benchmark": "analyze P001 end to end",
        "model": model.card.name,
        "provider": model.provider.used,
        "slices": int(series.n_slices),
        "kept": int(result.decision.n_kept),
        "repeats": args.repeats,
        "median_s": stages,
        "classify_ms_per_kept_slice": round(1000 * stages["classify"] / max(1, result.decision.n_kept), 2),
    }


def part_authors(args) -> dict:
    model = load_model(args.model, provider=args.provider)
    (ref,) = discover(P001).analysable
    series = load(ref)

    def authors():
        kept = authors_selector(series.raw())[2]
        return [
            model.run(to_model_input(series.standard_hu[i : i + 1]))[0][0, 0] for i in np.flatnonzero(kept)
        ]

    def ours():
        return analyse(series, model, HU_BANDS).p_covid

    ours_s, p_ours = median_time(ours, args.repeats)
    authors_s, p_authors = median_time(authors, 1)
    kept = select_slices(series.standard_hu).kept
    return {
        "benchmark": "authors' per-image loop vs LungLens pipeline (same model, same loaded series)",
        "series": "covid-ct-md/P001",
        "model": model.card.name,
        "median_s": {"authors_loop": round(authors_s, 3), "lunglens": round(ours_s, 3)},
        "ratio_authors_to_lunglens": round(authors_s / ours_s, 2),
        "same_p_covid": bool(np.allclose(np.array(p_authors), p_ours[kept], atol=1e-5)),
    }


def part_table7(args) -> dict:
    model = load_model(args.model, provider=args.provider)
    rows = []
    for n in TABLE7_SIZES:
        series = phantom_series(n, seed=n)
        seconds, result = median_time(lambda s=series: analyse(s, model, HU_BANDS), args.repeats)
        paper = PAPER_TABLE7_S.get(n)
        rows.append(
            {
                "slices": n,
                "kept": int(result.decision.n_kept),
                "lunglens_s": round(seconds, 3),
                "paper_p100_s": paper,
                "ratio_lunglens_to_paper": None if paper is None else round(seconds / paper, 3),
            }
        )
    return {
        "benchmark": "paper Table 7 patient sizes, phantom patients (select + classify + decide)",
        "model": model.card.name,
        "provider": model.provider.used,
        "repeats": args.repeats,
        "rows": rows,
    }


def _child_peak_mb(command: list[str]) -> float:
    """Run `command` in a fresh child and return its peak resident memory (MB)."""
    code = (
        "import resource, subprocess, sys; "
        f"subprocess.run({command!r}, check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def part_memory(args) -> dict:
    from lunglens.synthetic.phantom import make_phantom
    from lunglens.synthetic.writers import write_dicom_series

    with tempfile.TemporaryDirectory() as tmp:
        phantom = make_phantom(n_slices=args.slices, seed=1, covid_severity=0.5)
        folder = Path(tmp) / "phantom"
        write_dicom_series(
            phantom.hu, phantom.positions_mm, phantom.pixel_spacing_mm, phantom.slice_thickness_mm, folder
        )
        del phantom
        lunglens = [sys.executable, "-m", "lunglens"]
        model = ["--model", str(args.model)] if args.model else []
        start = time.perf_counter()
        analyze_mb = _child_peak_mb([*lunglens, "analyze", str(folder), *model])
        analyze_s = time.perf_counter() - start
        info_mb = _child_peak_mb([*lunglens, "info", str(folder)])
    volume_mb = args.slices * 512 * 512 * 2 / 2**20
    return {
        "benchmark": "peak resident memory of `lunglens analyze` (child process)",
        "slices": args.slices,
        "hu_volume_mb": round(volume_mb, 1),
        "peak_mb": {"analyze": round(analyze_mb, 1), "info_baseline": round(info_mb, 1)},
        "analyze_wall_s": round(analyze_s, 2),
        "ratio_peak_to_volume": round(analyze_mb / volume_mb, 2),
        "target_mb": 1536,
    }


def part_fullwidth(args) -> dict:
    import onnxruntime as ort

    from models.quantize_int8 import quantize

    fp32_path = Path(args.model)
    variants = {"fp32": fp32_path}
    for mode in ("static", "dynamic"):
        variants[f"int8_{mode}"] = Path(tempfile.mkdtemp()) / f"int8-{mode}.onnx"
        quantize(fp32_path, variants[f"int8_{mode}"], mode)
    sessions = {
        name: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for name, p in variants.items()
    }

    (ref,) = discover(P001).analysable
    one = to_model_input(load(ref).standard_hu[70:71])
    latency = {}
    for name, session in sessions.items():
        session.run(None, {"image": one})
        latency[name], _ = median_time(lambda s=session: s.run(None, {"image": one}), args.repeats)

    agreement = {name: {} for name in variants if name != "fp32"}
    for series_name in ("P001", "normal001", "cap001"):
        (ref,) = discover(SHARED / "covid-ct-md" / series_name).analysable
        series = load(ref)
        kept = np.flatnonzero(select_slices(series.standard_hu).kept)
        p = {k: [] for k in sessions}
        for start in range(0, len(kept), 4):
            batch = to_model_input(series.standard_hu[kept[start : start + 4]])
            for k, session in sessions.items():
                p[k].append(session.run(["probabilities"], {"image": batch})[0][:, 0])
        fp32 = np.concatenate(p["fp32"])
        for name in agreement:
            int8 = np.concatenate(p[name])
            agreement[name][series_name] = {
                "slices": len(kept),
                "same_decision": round(float(np.mean((fp32 >= 0.5) == (int8 >= 0.5))), 4),
                "max_abs_p_diff": round(float(np.abs(fp32 - int8).max()), 4),
            }
    result = {
        "benchmark": "full-width model per-slice latency on CPU (batch 1, 512x512, probabilities + CAM)",
        "model": str(fp32_path),
        "sizes_mb": {k: round(p.stat().st_size / 1e6, 1) for k, p in variants.items()},
        "median_ms": {k: round(1000 * v, 1) for k, v in latency.items()},
        "ratio_to_fp32": {k: round(v / latency["fp32"], 3) for k, v in latency.items() if k != "fp32"},
        "slice_agreement_with_fp32": agreement,
        "agreement_target": 0.99,
    }
    if args.keras_h5:
        result.update(_keras_reference(args, latency["fp32"]))
    return result


def _keras_reference(args, fp32_s: float) -> dict:
    sys.path.insert(0, str(SHARED.parent / "tools"))
    import make_keras_reference as ref
    from tf_keras.models import load_model as keras_load

    model = keras_load(args.keras_h5, custom_objects={"UpsampleLike": ref.UpsampleLike}, compile=False)
    x = ref.ct_like_inputs(1, seed=3)
    model.predict(x, verbose=0)
    keras_s, _ = median_time(lambda: model.predict(x, verbose=0), max(3, args.repeats // 2))
    return {
        "keras_reference_median_ms": round(1000 * keras_s, 1),
        "ratio_onnxruntime_fp32_to_keras": round(fp32_s / keras_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=("p001", "authors", "table7", "memory", "fullwidth"))
    parser.add_argument("--model", type=Path, help="model card or .onnx (default: the bundled demo model)")
    parser.add_argument("--provider", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--keras-h5", help="Keras reference model (make_keras_reference.py --spread --save)")
    args = parser.parse_args()
    part = {
        "p001": part_p001,
        "authors": part_authors,
        "table7": part_table7,
        "memory": part_memory,
        "fullwidth": part_fullwidth,
    }[args.part]
    result = part(args)
    result["machine"] = {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
