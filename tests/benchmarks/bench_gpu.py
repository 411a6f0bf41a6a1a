"""GPU benchmark of the full-width model (issue 4), for a machine with an NVIDIA GPU and
onnxruntime-gpu. Prints JSON: per-slice latency (batch 1, median) and throughput (batch 16) for
each available GPU execution provider in fp32 and fp16, full-series `analyze` time for phantom
patients of the paper's Table 7 sizes, and the CPU provider on the same machine as the baseline.

    python tests/benchmarks/bench_gpu.py --out-dir DIR [--width 1.0]

The model is the full-width architecture with random weights (latency does not depend on the
weights), exported with the in-graph Grad-CAM by models/export_onnx.py (needs torch and onnx).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np


def export_models(out_dir: Path, width: float) -> dict[str, Path]:
    """Export fp32 and fp16 (fp32 inputs/outputs) ONNX models with cards; returns the card paths."""
    import torch
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from lunglens.inference.card import ModelCard, sha256_of
    from models.architecture import ResNet50V2FPN
    from models.export_onnx import export

    torch.manual_seed(0)
    model = ResNet50V2FPN(width=width).eval()
    fp32 = out_dir / "full-fp32.onnx"
    export(
        model,
        fp32,
        name="full-fp32",
        version="bench",
        provenance={"kind": "random weights, benchmark only"},
        intended_use="benchmark only",
        licence="MIT",
        check=False,
    )
    import onnx

    fp16 = out_dir / "full-fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(fp32), keep_io_types=True), fp16)
    card = ModelCard.load(fp32.with_suffix(".json"))
    fp16_card = dataclasses.replace(card, name="full-fp16", onnx_file=fp16.name, sha256=sha256_of(fp16))
    fp16_card.save(fp16.with_suffix(".json"))
    return {"fp32": fp32.with_suffix(".json"), "fp16": fp16.with_suffix(".json")}


def latency(model, repeats: int = 50) -> dict:
    x1 = np.random.default_rng(0).uniform(0, 2000, (1, 1, 512, 512)).astype(np.float32)
    x16 = np.repeat(x1, 16, axis=0)
    for _ in range(5):
        model.run(x1)
        model.run(x16)
    one, many = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run(x1)
        one.append(time.perf_counter() - start)
    for _ in range(max(5, repeats // 5)):
        start = time.perf_counter()
        model.run(x16)
        many.append(time.perf_counter() - start)
    return {
        "batch1_ms_median": round(1000 * statistics.median(one), 3),
        "batch16_ms_per_slice_median": round(1000 * statistics.median(many) / 16, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--table7", action="store_true")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    import onnxruntime as ort

    from lunglens.analysis import analyse
    from lunglens.inference import load_model

    gpu = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    cards = export_models(args.out_dir, args.width)
    result = {
        "gpu": gpu,
        "onnxruntime": ort.__version__,
        "available": ort.get_available_providers(),
        "width": args.width,
        "latency": {},
        "table7": [],
    }
    for provider in ("cuda", "tensorrt", "cpu"):
        for precision, card in cards.items():
            if provider == "cpu" and precision == "fp16":
                continue
            try:
                model = load_model(card, provider=provider)
            except Exception as exc:  # noqa: BLE001 - report what failed and go on
                result["latency"][f"{provider}-{precision}"] = {"error": str(exc)[:300]}
                continue
            entry = {"used": model.provider.used, "reason": model.provider.reason}
            if provider != "cpu" and model.provider.used == "CPUExecutionProvider":
                result["latency"][f"{provider}-{precision}"] = entry
                continue
            entry.update(latency(model, repeats=50 if provider != "cpu" else 5))
            result["latency"][f"{provider}-{precision}"] = entry
            print(json.dumps({f"{provider}-{precision}": entry}), flush=True)

    if args.table7:
        sys_path_benchmarks = Path(__file__).resolve().parent
        import sys

        sys.path.insert(0, str(sys_path_benchmarks))
        from bench_analyze import HU_BANDS, PAPER_TABLE7_S, TABLE7_SIZES, phantom_series

        for precision in ("fp32", "fp16"):
            model = load_model(cards[precision], provider="cuda")
            if model.provider.used == "CPUExecutionProvider":
                break
            for n in TABLE7_SIZES:
                series = phantom_series(n, seed=n)
                analyse(series, model, HU_BANDS)  # warm-up at this batch shape
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    analysis = analyse(series, model, HU_BANDS)
                    times.append(time.perf_counter() - start)
                row = {
                    "precision": precision,
                    "slices": n,
                    "kept": analysis.decision.n_kept,
                    "seconds_median": round(statistics.median(times), 3),
                    "stages_s_last_run": analysis.timings_s,
                    "paper_p100_s": PAPER_TABLE7_S.get(n),
                }
                result["table7"].append(row)
                print(json.dumps(row), flush=True)
    text = json.dumps(result, indent=2)
    (args.out_dir / "bench_gpu.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
