"""Evaluate the exported demonstration model on real data through the app's deployed path (the model
loaded by `lunglens.inference.load_model` on the CPU, its card and hash checked; slices classified by
`lunglens.inference.classify`: the app's pre-processing, resize included, batching and compact CAMs) and
write the metrics into its card (card.metrics["evaluation"]) and into `<name>.eval.json` beside it.

Measured (P(COVID) = probabilities[:, 0]; a slice is positive at P(COVID) >= 0.5):
- P001 (COVID-19, not trained on): real infected slices (infection_label 1) against its uninfected slices,
  slice AUC / sensitivity / specificity, on the selector-kept slices and on all labelled slices;
- patient-level decisions (selector + decision rule, cut-off 0.5, f = 0 and f = 0.1) on P001, normal001
  and cap001 (community-acquired pneumonia: the model has only the classes COVID-19 and normal, so any
  call on cap001 is reported as what it is), plus cap001's infected-vs-uninfected slice AUC;
- patient leakage: P(COVID) on normal001's kept slices and P001's uninfected kept slices;
- kernel robustness: kept uninfected slices of all three series blurred (Gaussian sigma 1 px) or sharpened
  (unsharp mask, amount 1 on a 1 px Gaussian): share still called normal;
- NY-SBU axial slices (other scanners, COVID-positive patients), P(COVID) slice by slice (slices of
  another size than 512 x 512 resized as the app resizes them);
- Grad-CAM on the held-out validation slices with inserted lesions (P001's uninfected kept slices, each
  with LESION_VARIANTS seeded lesion sets; the first set's seed is the training script's): pointing game
  (the maximum of the CAM, bilinearly upsampled to 512 x 512, inside the lesion mask) and the share of
  CAM mass inside the lung mask; the in-lung share also on P001's real infected slices;
- latency: median wall time of one [1, 1, 512, 512] inference (onnxruntime default threads, this CPU).

    python -m models.evaluate_demo --model models/lunglens-demo.onnx
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from lunglens.atomic import write_atomically
from lunglens.core.decision import PAPER_FRACTIONS, DecisionParams, decide
from lunglens.inference import classify, load_model
from lunglens.inference.card import ModelCard
from lunglens.inference.preprocess import to_model_input
from lunglens.io.dicom import frame_hu, read_dataset
from lunglens.synthetic import lung_mask
from models.cli import INPUT_ERRORS, fail
from models.train_demo import (
    DATA_DIR,
    VALIDATION_SERIES,
    binary_metrics,
    build_pool,
    cam_scores,
    load_series,
)

NY_SBU_DIR = DATA_DIR.parent / "covid19-ny-sbu"
LESION_VARIANTS = 4
"""Lesion sets inserted into each held-out slice for the Grad-CAM measures."""


class Model:
    """The model as the app deploys it: HU slices in, (P(COVID) [N], CAM [N, h, w]) out."""

    def __init__(self, path: Path) -> None:
        self.model = load_model(path, provider="cpu")

    def __call__(self, hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """hu [N, rows, columns] HU -> (P(COVID) [N], non-negative float16 CAM [N, h, w])."""
        return classify(self.model, hu, np.arange(len(hu)))

    def latency_ms(self, repeats: int = 30) -> float:
        """Median milliseconds of one single-slice inference, pre-processing included (after 3 warm-up
        runs)."""
        hu = np.full((1, 512, 512), -1000, np.int16)
        times = []
        for i in range(repeats + 3):
            t = time.perf_counter()
            self.model.run(to_model_input(hu))
            if i >= 3:
                times.append(1000 * (time.perf_counter() - t))
        return float(np.median(times))


def summary(p: np.ndarray) -> dict:
    """Mean, max and share >= 0.5 of P(COVID) values."""
    return {
        "n": len(p),
        "p_covid_mean": round(float(np.mean(p)), 4),
        "p_covid_max": round(float(np.max(p)), 4),
        "share_called_covid": round(float(np.mean(p >= 0.5)), 4),
    }


def blurred(hu: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Each slice of hu [N, H, W] convolved with a Gaussian of `sigma` pixels (int16 HU)."""
    return (
        np.stack([cv2.GaussianBlur(s.astype(np.float32), (0, 0), sigma) for s in hu]).round().astype(np.int16)
    )


def sharpened(hu: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Unsharp mask: hu + amount * (hu - Gaussian(1 px)), int16 HU."""
    f = hu.astype(np.float32)
    return np.clip(f + amount * (f - blurred(hu).astype(np.float32)), -32768, 32767).round().astype(np.int16)


def decisions(p_covid: np.ndarray, kept: np.ndarray) -> dict:
    """Patient-level decision at cut-off 0.5 for f = 0 and f = 0.1: verdict and k of n."""
    out = {}
    for f in PAPER_FRACTIONS:
        d = decide(p_covid, kept, DecisionParams(slice_cutoff=0.5, patient_fraction=f))
        out[f"f={f:g}"] = {"verdict": d.verdict, "k_positive": d.k_positive, "n_kept": d.n_kept}
    return out


def ny_sbu(model: Model) -> list[dict]:
    """P(COVID) of every axial slice listed in NY-SBU's files.csv."""
    rows = []
    with open(NY_SBU_DIR / "files.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["orientation"] != "axial":
                continue
            hu = frame_hu(read_dataset(NY_SBU_DIR / r["file"], pixels=True), None)
            p, _ = model(hu[None])
            rows.append({"file": r["file"], "model": r["Model"], "p_covid": round(float(p[0]), 4)})
    return rows


def evaluate(model: Model, seed: int) -> dict:
    """All the measurements of the module docstring, as one JSON-able dict."""
    out: dict = {"latency_ms_median_batch1": round(model.latency_ms(), 1)}
    kept_uninfected = {}
    for name in ("P001", "normal001", "cap001"):
        series, kept, labels = load_series(name)
        p, cams = model(series.standard_hu)
        entry = {"decision_cutoff_0.5": decisions(p, kept)}
        if (labels >= 0).any():
            for scope, mask in (("kept", kept & (labels >= 0)), ("all_labelled", labels >= 0)):
                entry[f"infected_vs_uninfected_{scope}"] = binary_metrics(p[mask], labels[mask] == 1)
            entry["uninfected_kept"] = summary(p[kept & (labels == 0)])
            infected = np.flatnonzero(kept & (labels == 1))
            lungs = np.stack([lung_mask(s) for s in series.standard_hu[infected]])
            entry["cam_real_infected_kept"] = cam_scores(cams[infected], lungs)
        else:
            entry["kept"] = summary(p[kept])
        kept_uninfected[name] = series.standard_hu[kept & (labels <= 0)]
        out[name] = entry
    clean = np.concatenate(list(kept_uninfected.values()))
    out["kernel_robustness_uninfected_kept"] = {
        name: {"n": len(clean), "share_called_normal": round(float(np.mean(model(x)[0] < 0.5)), 4)}
        for name, x in (
            ("clean", clean),
            ("blur_sigma1", blurred(clean)),
            ("sharpen_amount1", sharpened(clean)),
        )
    }
    out["ny_sbu_axial"] = ny_sbu(model)
    val = build_pool(VALIDATION_SERIES, LESION_VARIANTS, seed + 1)
    p_les, cams = model(val.lesioned.reshape(-1, *val.hu.shape[1:]))
    out["validation_inserted_lesions"] = {
        "p_covid": summary(p_les),
        "cam": cam_scores(
            cams,
            np.repeat(val.lungs, LESION_VARIANTS, axis=0),
            val.lesion_masks.reshape(-1, *val.hu.shape[1:]),
        ),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate the demonstration model and update its card.")
    ap.add_argument("--model", type=Path, default=Path(__file__).resolve().parent / "lunglens-demo.onnx")
    a = ap.parse_args(argv)
    card_path = a.model.with_suffix(".json")
    try:
        card = ModelCard.load(card_path)
        model = Model(a.model)
    except INPUT_ERRORS as exc:
        return fail(exc)
    results = evaluate(model, int(card.provenance.get("seed", 0)))
    results["onnx_megabytes"] = round(a.model.stat().st_size / 1e6, 2)
    try:
        write_atomically(a.model.with_suffix(".eval.json"), (json.dumps(results, indent=2) + "\n").encode())
        dataclasses.replace(card, metrics={**card.metrics, "evaluation": results}).save(card_path)
    except INPUT_ERRORS as exc:
        return fail(exc)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
