"""Per-study time against its floor on covid-ct-md P001 (issue 17, second speed section). Prints
one JSON document with medians over `--repeats` (each repeat runs every measurement once, in
turn, so a change of machine load touches all of them alike), after one untimed round: the first
run at a new batch shape grows onnxruntime's memory arena and took twice as long.

    PYTHONPATH=app:. .venv/bin/python tests/benchmarks/bench_pipeline_floor.py [--repeats 5] [--model M]

decode:        `lunglens.io.load` of the 148 slices (JPEG Lossless), the loader's threads.
bare_run:      one onnxruntime `session.run` on the 90 kept slices as one batch, input prepared
               (the issue's floor).
bare_batched:  onnxruntime `session.run` over the same prepared input in batches of the provider's
               size (what classify runs; on the CPU smaller batches are faster than one of 90).
preprocess:    HU -> model input of the 90 kept slices (`to_model_input`).
classify:      the classify stage as `analyze` runs it (batches of the provider's size, with
               pre- and post-processing).
sequential:    end to end, load -> select -> classify -> decide (`load` then `analyze`).
overlapped:    end to end with decoding and inference overlapped (`lunglens.analysis.speculation`):
               `load_and_analyse` with the model said to run on a GPU, the path it takes there.
CPU seconds (all threads of the process) are printed beside the wall times: on a shared machine
they say what the work costs where the wall times say what it took.
Ratios: classify / bare_run and / bare_batched (target <= 1.1), sequential and overlapped /
max(decode, bare_run) (target <= 1.25). When decoding and inference each keep every core busy,
no overlap can beat their summed CPU time spread over the cores: `cpu_bound_floor_s` =
(decode CPU s + bare_batched CPU s) / cores, printed with the ratio to it. The load average is
printed with the figures (the machine may be shared).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import sys
import time

from common import SHARED_DATA

from lunglens.analysis import AnalysisOptions, load_and_analyse
from lunglens.core.selector import select_slices
from lunglens.inference import classify, load_model
from lunglens.inference.preprocess import to_model_input
from lunglens.inference.session import CUDA
from lunglens.io import discover, load

#: The issue's end to end is load -> select -> classify -> decide; quantification is measured
#: on its own (bench_quant.py).
NO_QUANT = AnalysisOptions(quantify=False)


def _timed(fn):
    """(wall s, CPU s of this process, all threads; result of fn())."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model")
    args = parser.parse_args()
    p001 = SHARED_DATA / "covid-ct-md" / "P001"
    if not p001.exists():
        print(f"real data missing: {p001}", file=sys.stderr)
        return 2
    ref = discover(p001).series[0]
    model = load_model(args.model, provider="cpu")
    series = load(ref)
    kept = select_slices(series.standard_hu).kept_indices
    image = to_model_input(series.standard_hu[kept])
    as_if_on_gpu = copy.copy(model)
    as_if_on_gpu.provider = dataclasses.replace(model.provider, used=CUDA)

    measured = {
        "decode": lambda: load(ref),
        "bare_run": lambda: model.session.run(["probabilities", "cam"], {"image": image}),
        "bare_batched": lambda: [
            model.session.run(["probabilities", "cam"], {"image": image[i : i + model.batch_size]})
            for i in range(0, len(image), model.batch_size)
        ],
        "preprocess": lambda: to_model_input(series.standard_hu[kept]),
        "classify": lambda: classify(model, series.hu, kept, layout=series.layout),
        "sequential": lambda: load_and_analyse(ref, model, NO_QUANT),
        "overlapped": lambda: load_and_analyse(ref, as_if_on_gpu, NO_QUANT),
    }
    for fn in measured.values():  # warm-up, not timed: onnxruntime grows its arena to each batch shape
        fn()
    times: dict[str, list[float]] = {}
    cpu_times: dict[str, list[float]] = {}
    load_averages = []
    for _ in range(args.repeats):
        load_averages.append(os.getloadavg()[0])
        for name, fn in measured.items():
            seconds, cpu, _ = _timed(fn)
            times.setdefault(name, []).append(seconds)
            cpu_times.setdefault(name, []).append(cpu)
    median = {name: round(statistics.median(values), 4) for name, values in times.items()}
    median_cpu = {name: round(statistics.median(values), 4) for name, values in cpu_times.items()}
    floor = max(median["decode"], median["bare_run"])
    cpu_bound_floor = (median_cpu["decode"] + median_cpu["bare_batched"]) / (os.cpu_count() or 1)
    print(
        json.dumps(
            {
                "series": "covid-ct-md P001",
                "slices": series.n_slices,
                "kept": int(len(kept)),
                "model": f"{model.card.name} {model.card.version}",
                "provider": model.provider.used,
                "batch_size": model.batch_size,
                "repeats": args.repeats,
                "median_s": median,
                "median_cpu_s": median_cpu,
                "classify_over_bare_run": round(median["classify"] / median["bare_run"], 3),
                "classify_over_bare_batched": round(median["classify"] / median["bare_batched"], 3),
                "floor_s": floor,
                "sequential_over_floor": round(median["sequential"] / floor, 3),
                "overlapped_over_floor": round(median["overlapped"] / floor, 3),
                "overlapped_over_sequential": round(median["overlapped"] / median["sequential"], 3),
                "cpu_bound_floor_s": round(cpu_bound_floor, 4),
                "sequential_over_cpu_bound_floor": round(median["sequential"] / cpu_bound_floor, 3),
                "load_average_1min": [round(x, 2) for x in load_averages],
                "cpu_count": os.cpu_count(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
