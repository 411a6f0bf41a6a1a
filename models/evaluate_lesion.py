"""Measure the lesion model (issue 14) and write the figures into its card's `metrics`.

Parts (all by default; `--parts` picks some, the card keeps the others' earlier figures):
- `gap`: the domain gap. Grey-level percentiles of air (outside the body), lung parenchyma and body
  tissue in the 50 masked JPEGs (at the model scale) and in COVID-CT-MD HU slices mapped with
  `hu_to_lesion_grey`; the same rule picks each class in both (lung: the lung region, grey < 100, > 2 px
  from lesions; tissue: outside the lung region, grey >= 100; air: dark components touching the corners
  for JPEGs, HU < -900 outside the body for the series).
- `cv`: 5-fold cross-validation on the 50 masked slices, folds by image (fold k = the k-th of every
  5 in number order), each fold model trained as `models.train_lesion` does (all inserted-lesion data
  plus the other 40 slices). Patch accuracy, sensitivity, specificity (lesion vs healthy-lung patches,
  balanced accuracy = mean of the two, as Polat's balanced split), AUC; pixel Dice of the dense map
  (stride 4, whole image) at 0.5 against the masks, inside the crude lung region and over the whole
  image, at the model scale (1 mm/px); ground-glass vs consolidation (per-class recall; consolidation
  share of the true lesion area vs of the predicted area split at -400 HU = grey 161.5); and the naive
  baseline: lung-window band -750..0 HU (grey 102..229.5) inside the crude lung region.
- `phantom`: lesion volume on phantoms (severity 0 to 1, true lesion masks) with the learned map and
  with the HU bands, through `quantify` (`phantom_metrics`).
- `series`: the model through the app's quantification (`quantify` with `learned_method`, lungs of
  `segment_lungs`) on the held-out P001 and normal001, beside the HU bands: total and per-lung
  affected %, per-slice affected % of labelled vs unlabelled slices (slice_labels.csv, AUC), per
  lung against lobe_labels.csv (right/left = patient side from the DICOM orientation).

    python -m models.evaluate_lesion --card models/lunglens-lesion.json --montages /work/helpers/out-lesion
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage, stats
from skimage.morphology import convex_hull_object

from lunglens.atomic import WriteError, write_atomically
from lunglens.core.selector import select_slices
from lunglens.inference.lesion_card import LesionModelCard
from lunglens.inference.lesion_model import load_lesion_model
from lunglens.io import discover, load
from lunglens.quant import quantify
from lunglens.quant.lesion_map import (
    LesionMapParams,
    hu_to_lesion_grey,
    learned_method,
    patchwise_probability_map,
)
from lunglens.quant.lungs import LEFT_LUNG, RIGHT_LUNG
from lunglens.synthetic import make_phantom, write_dicom_series
from lunglens.synthetic.lung_mask import body_mask
from models.cli import INPUT_ERRORS, check_output, fail
from models.train_lesion import (
    CT_MD_DIR,
    HEALTHY_LUNG,
    JPEG,
    LESION,
    PatchSet,
    all_patches,
    centre_patches,
    load_masked_slices,
    torch_predictor,
    train,
    uninfected_slices,
)

POLAT = {"accuracy": 0.9326, "sensitivity": 0.9327, "specificity": 0.9324, "auc": 0.9758}
GGO_BAND_GREY = (102.0, 229.5)
"""-750..0 HU in the lung window W 1500 / L -600 (ground glass to consolidation)."""
GGO_BAND_JPEG_GREY = (67.8, 222.0)
"""The same band in the JPEGs' grey: GGO_BAND_GREY through the measured JPEG-vs-HU-rendering relation
(metrics domain_gap_grey: JPEG grey = 1.211 x grey - 55.7, from the lung and tissue medians)."""
CONSOLIDATION_GREY = 161.5
"""-400 HU: ground glass below, consolidation above (DESIGN.md section 9 bands)."""
STRIDE = LesionMapParams().stride


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve = Mann-Whitney U / (n+ n-)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    return float(stats.mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative)))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def _percentiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    p = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "n": int(values.size),
        **{f"p{q}": round(float(v), 1) for q, v in zip((5, 25, 50, 75, 95), p, strict=True)},
    }


def domain_gap(slices, series_volumes) -> dict:
    """Grey percentiles of air, lung and tissue: the JPEGs as rendered, the JPEGs mapped to the
    model's window (`rendered_grey_to_lesion_grey`, what the model is trained on) and the HU series."""
    jpeg = {"air": [], "lung": [], "tissue": []}
    mapped = {"air": [], "lung": [], "tissue": []}
    for s in slices:
        near = ndimage.binary_dilation(s.lesion, iterations=2)
        dark_labels, _ = ndimage.label(s.rendered < 100)
        corners = {dark_labels[0, 0], dark_labels[0, -1], dark_labels[-1, 0], dark_labels[-1, -1]} - {0}
        air = np.isin(dark_labels, list(corners))
        for grey, into in ((s.rendered, jpeg), (s.grey, mapped)):
            into["air"].append(grey[air])
            into["lung"].append(grey[s.lung & ~near & ~air & (s.rendered < 100)])
            into["tissue"].append(grey[~s.lung & ~near & (s.rendered >= 100)])
    hu_side = {"air": [], "lung": [], "tissue": []}
    for hu, lung_labels, indices in series_volumes:
        for i in indices[::6]:
            grey = hu_to_lesion_grey(hu[i])
            lungs, body = lung_labels[i] > 0, body_mask(hu[i])
            hu_side["air"].append(grey[(hu[i] < -900) & ~body])
            hu_side["lung"].append(grey[lungs & (grey < 100)])
            hu_side["tissue"].append(grey[body & ~lungs & (grey >= 100)])
    out = {
        "jpeg": {k: _percentiles(np.concatenate(v)) for k, v in jpeg.items()},
        "jpeg_mapped_to_model_window": {k: _percentiles(np.concatenate(v)) for k, v in mapped.items()},
        "hu_lung_window": {k: _percentiles(np.concatenate(v)) for k, v in hu_side.items()},
    }
    # the linear grey map that takes the HU rendering's lung and tissue medians to the JPEGs'
    a, b = out["hu_lung_window"], out["jpeg"]
    gain = (b["tissue"]["p50"] - b["lung"]["p50"]) / (a["tissue"]["p50"] - a["lung"]["p50"])
    out["jpeg_vs_hu_grey_gain"] = round(gain, 3)
    out["jpeg_vs_hu_grey_offset"] = round(b["lung"]["p50"] - gain * a["lung"]["p50"], 1)
    out["note"] = (
        "grey 0..255 at 1 mm/px; lung = lung region, grey < 100, > 2 px from lesions; tissue = outside it, "
        "grey >= 100; air = outside the body. gain/offset: JPEG grey ~ gain x HU-rendering grey + offset "
        "(from the lung and tissue medians); jpeg_mapped_to_model_window: the JPEGs through rendered_grey_to_lesion_grey "
        "(their measured window W 1240 / L -460 to W 1500 / L -600), what training uses; the augmentation covers "
        "contrast 0.8-1.25, brightness +-20, gamma 0.7-1.4"
    )
    return out


def fold_test_images(slices, folds: int, k: int) -> set[int]:
    """Fold k's held-out slice numbers: the k-th of every `folds` slices in number order."""
    return {s.number for s in slices[k::folds]}


def run_fold(k: int, folds: int, slices, patches: PatchSet, fold_dir: Path, log) -> Path:
    """Train fold k's model (all HU patches + the other folds' slices) and save its held-out patch
    scores and dense maps to fold_dir/fold<k>.npz (skipped when that file exists)."""
    path = fold_dir / f"fold{k}.npz"
    if path.exists():
        return path
    test = fold_test_images(slices, folds, k)
    start = time.perf_counter()
    held_out = (patches.source == JPEG) & np.isin(patches.image, list(test))
    model = train(patches.subset(~held_out), log=lambda m: log(f"fold {k + 1}: {m}"))
    predict = torch_predictor(model)
    held = patches.subset(held_out & np.isin(patches.kind, [LESION, HEALTHY_LUNG]))
    p = np.concatenate(
        [predict(centre_patches(held.crops[i : i + 4096])) for i in range(0, len(held.kind), 4096)]
    )
    maps = {
        f"map_{s.number}": patchwise_probability_map(s.grey, predict, stride=STRIDE)
        for s in slices
        if s.number in test
    }
    fold_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        path.with_suffix(".part.npz"), p=p, y=held.kind == LESION, seconds=time.perf_counter() - start, **maps
    )
    path.with_suffix(".part.npz").replace(path)
    log(f"fold {k + 1}: saved {path}")
    return path


def summarise_folds(slices, folds: int, fold_dir: Path) -> tuple[dict, dict]:
    """Cross-validation figures from the saved folds (those finished, listed in the result);
    returns (metrics, maps by slice number of the held-out slices)."""
    scores, labels, per_fold, maps = [], [], [], {}
    done = [k for k in range(folds) if (fold_dir / f"fold{k}.npz").exists()]
    if not done:
        raise FileNotFoundError(f"{fold_dir}: no finished fold")
    for k in done:
        with np.load(fold_dir / f"fold{k}.npz") as data:
            scores.append(data["p"])
            labels.append(data["y"])
            fold = _patch_metrics(data["p"], data["y"])
            fold["test_images"] = sorted(fold_test_images(slices, folds, k))
            fold["seconds"] = round(float(data["seconds"]))
            maps.update({int(key[4:]): data[key] for key in data.files if key.startswith("map_")})
        per_fold.append(fold)
    names = ("tp", "fp", "fn", "tp_lung", "fp_lung", "fn_lung", "h_tp", "h_fp", "h_fn", "j_tp", "j_fp", "j_fn", "lesion_in_lung",
             "ggo", "ggo_hit", "cons", "cons_hit", "pred", "pred_cons",
             "tp_hull", "fp_hull", "fn_hull", "hh_tp", "hh_fp", "hh_fn", "lesion_in_hull",
             "hl_tp", "hl_fp", "hl_fn")  # fmt: skip
    pixels = dict.fromkeys(names, 0)
    dice_images, dice_lung_images, heuristic_images = [], [], []
    for s in (s for s in slices if s.number in maps):
        pred, truth = maps[s.number] >= 0.5, s.lesion
        heuristic = heuristic_in(s, s.lung)
        corrected = s.lung & (s.rendered >= GGO_BAND_JPEG_GREY[0]) & (s.rendered <= GGO_BAND_JPEG_GREY[1])
        pl, tl = pred & s.lung, truth & s.lung
        hull = lung_hull(s.lung)
        ph, hh = pred & hull, heuristic_in(s, hull)
        ggo, cons = s.multiclass == 1, s.multiclass == 2
        dice_images.append(dice(pred, truth))
        dice_lung_images.append(dice(pl, tl))
        heuristic_images.append(dice(heuristic, truth))
        counts = {
            "tp": pred & truth, "fp": pred & ~truth, "fn": ~pred & truth,
            "tp_lung": pl & tl, "fp_lung": pl & ~tl, "fn_lung": ~pl & tl,
            "h_tp": heuristic & truth, "h_fp": heuristic & ~truth, "h_fn": ~heuristic & truth,
            "j_tp": corrected & truth, "j_fp": corrected & ~truth, "j_fn": ~corrected & truth, "lesion_in_lung": tl,
            "ggo": ggo, "ggo_hit": pred & ggo, "cons": cons, "cons_hit": pred & cons,
            "pred": pred, "pred_cons": pred & (s.grey >= CONSOLIDATION_GREY),
            "tp_hull": ph & truth, "fp_hull": ph & ~truth, "fn_hull": ~ph & truth,
            "hh_tp": hh & truth, "hh_fp": hh & ~truth, "hh_fn": ~hh & truth, "lesion_in_hull": truth & hull,
            "hl_tp": heuristic & tl, "hl_fp": heuristic & ~tl, "hl_fn": ~heuristic & tl,
        }  # fmt: skip
        for name, mask in counts.items():
            pixels[name] += int(mask.sum())
    pooled = _patch_metrics(np.concatenate(scores), np.concatenate(labels))
    pooled["auc_mean_of_folds"] = round(float(np.mean([f["auc"] for f in per_fold])), 4)
    pooled_dice = lambda tp, fp, fn: round(2 * tp / (2 * tp + fp + fn), 4)  # noqa: E731
    metrics = {
        "folds": folds,
        "folds_completed": [k + 1 for k in done],
        "held_out_images": len(maps),
        "patch": pooled,
        "polat_2021": POLAT,
        "per_fold": per_fold,
        "pixel_dice_at_0.5": {
            "whole_image_pooled": pooled_dice(pixels["tp"], pixels["fp"], pixels["fn"]),
            "whole_image_mean_per_image": round(float(np.mean(dice_images)), 4),
            "inside_crude_lung_pooled": pooled_dice(pixels["tp_lung"], pixels["fp_lung"], pixels["fn_lung"]),
            "inside_crude_lung_mean_per_image": round(float(np.mean(dice_lung_images)), 4),
            "heuristic_inside_crude_lung_pooled": pooled_dice(
                pixels["hl_tp"], pixels["hl_fp"], pixels["hl_fn"]
            ),
            "map_inside_lung_hull_pooled": pooled_dice(
                pixels["tp_hull"], pixels["fp_hull"], pixels["fn_hull"]
            ),
            "heuristic_inside_lung_hull_pooled": pooled_dice(
                pixels["hh_tp"], pixels["hh_fp"], pixels["hh_fn"]
            ),
            "lesion_pixels_inside_lung_hull": round(
                pixels["lesion_in_hull"] / max(pixels["tp"] + pixels["fn"], 1), 4
            ),
            "note": "whole image: the map over every pixel of the slice (chest wall and mediastinum included), "
            "against every lesion pixel; inside_crude_lung: map and truth both restricted to the crude lung "
            "region (which holds under half of the lesion pixels); *_inside_lung_hull: the map (or the "
            "heuristic) restricted to the convex hull of each crude-lung component, the way the app restricts "
            "it to a lung mask that keeps dense disease, against every lesion pixel",
        },
        "heuristic_baseline_dice": {
            "rule": "grey 102..229.5 (-750..0 HU in the lung window) inside the crude lung region",
            "pooled": pooled_dice(pixels["h_tp"], pixels["h_fp"], pixels["h_fn"]),
            "mean_per_image": round(float(np.mean(heuristic_images)), 4),
            "pooled_band_in_jpeg_grey": pooled_dice(pixels["j_tp"], pixels["j_fp"], pixels["j_fn"]),
            "band_in_jpeg_grey": list(GGO_BAND_JPEG_GREY),
            "lesion_pixels_inside_crude_lung": round(
                pixels["lesion_in_lung"] / max(pixels["tp"] + pixels["fn"], 1), 4
            ),
            "note": "the crude lung region (dark components, closed 9 mm, filled) holds only part of the lesions: "
            "dense lesions at the pleura are not enclosed, which caps this baseline",
        },
        "ggo_vs_consolidation": {
            "recall_ggo": round(pixels["ggo_hit"] / max(pixels["ggo"], 1), 4),
            "recall_consolidation": round(pixels["cons_hit"] / max(pixels["cons"], 1), 4),
            "true_consolidation_share": round(pixels["cons"] / max(pixels["ggo"] + pixels["cons"], 1), 4),
            "predicted_consolidation_share_grey_split": round(
                pixels["pred_cons"] / max(pixels["pred"], 1), 4
            ),
        },
        "note": "held-out images only; maps at 1 mm/px over the whole image, stride 4; masks resampled to that scale",
    }
    return metrics, maps


def lung_hull(lung: np.ndarray) -> np.ndarray:
    """The convex hull of each crude-lung component: a lung region that holds peripheral dense
    disease, as a lung mask should."""
    return convex_hull_object(lung) if lung.any() else lung


def heuristic_in(s, region: np.ndarray) -> np.ndarray:
    """The naive baseline: the lung-window band -750..0 HU inside `region`."""
    return region & (s.grey >= GGO_BAND_GREY[0]) & (s.grey <= GGO_BAND_GREY[1])


def _patch_metrics(p: np.ndarray, y: np.ndarray) -> dict:
    pred = p >= 0.5
    sens = float((pred & y).sum() / max(y.sum(), 1))
    spec = float((~pred & ~y).sum() / max((~y).sum(), 1))
    return {
        "n_lesion": int(y.sum()), "n_healthy": int((~y).sum()),
        "sensitivity": round(sens, 4), "specificity": round(spec, 4),
        "balanced_accuracy": round((sens + spec) / 2, 4), "auc": round(auc(p[y], p[~y]), 4),
    }  # fmt: skip


def _lobe_rows() -> list[dict]:
    with open(CT_MD_DIR / "lobe_labels.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["series"] == "P001"]


def series_metrics(card_path: Path, log) -> tuple[dict, dict]:
    """The model through the app's quantification (`quantify` with `learned_method`, the lungs of
    `segment_lungs`) on the held-out P001 and normal001, beside the HU bands: total affected %,
    per-slice affected % against slice_labels.csv (AUC), per lung against lobe_labels.csv."""
    model = load_lesion_model(card_path, provider="cpu")
    out, kept = {}, {}
    for name in ("P001", "normal001"):
        series = load(discover(CT_MD_DIR / name).series[0])
        selection = select_slices(series.standard_hu)
        start = time.perf_counter()
        learned = quantify(series, selection.kept, learned_method(model))
        seconds = time.perf_counter() - start
        bands = quantify(series, selection.kept)
        labels, lesion = learned.masks.lung_labels(), learned.masks.lesion_classes() > 0
        per_lung = {
            side: lesion_fraction_per_slice(lesion, labels == label)
            for side, label in (("right", RIGHT_LUNG), ("left", LEFT_LUNG))
        }
        fraction = np.array([np.nan if v is None else v for v in learned.slices])
        has_lung = ~np.isnan(fraction)
        kept[name] = (series.hu, labels > 0, lesion, has_lung)
        entry = {
            "slices": int(series.n_slices), "slices_with_lung": int(has_lung.sum()), "seconds": round(seconds, 1),
            "total_affected_percent": round(learned.total.affected_percent, 2),
            "affected_percent_right_lung": round(learned.lungs["right"].affected_percent, 2),
            "affected_percent_left_lung": round(learned.lungs["left"].affected_percent, 2),
            "severity_score": learned.severity_score,
            "hu_bands_total_affected_percent": round(bands.total.affected_percent, 2),
        }  # fmt: skip
        if name == "P001":
            rows = _lobe_rows()
            infected = np.array([int(r["infection_label"]) for r in rows], bool)
            left_label = np.array([int(r["LLL"]) or int(r["LUL"]) for r in rows], bool)
            right_label = np.array([int(r["RLL"]) or int(r["RML"]) or int(r["RUL"]) for r in rows], bool)
            m = has_lung
            bands_fraction = np.array([np.nan if v is None else v for v in bands.slices])
            entry.update({
                "auc_labelled_vs_unlabelled_slices": round(auc(fraction[m & infected], fraction[m & ~infected]), 4),
                "hu_bands_auc_labelled_vs_unlabelled_slices": round(
                    auc(bands_fraction[m & infected], bands_fraction[m & ~infected]), 4),
                "mean_affected_percent_labelled": round(float(fraction[m & infected].mean()), 2),
                "mean_affected_percent_unlabelled": round(float(fraction[m & ~infected].mean()), 2),
                **{
                    f"auc_{side}_lung_vs_{side}_lobe_labels": round(
                        auc(per_lung[side][m & has & label], per_lung[side][m & has & ~label]), 4)
                    for side, label in (("left", left_label), ("right", right_label))
                    for has in [~np.isnan(per_lung[side])]
                },
                "labelled_slices_with_lung": int((m & infected).sum()),
            })  # fmt: skip
        out[name] = entry
        log(f"{name}: {entry}")
    out["note"] = (
        "the model on the CPU through lunglens.quant.quantify with lunglens.quant.lesion_map.learned_method "
        "(stride 4 at 1 mm/px, lesion = P >= 0.5 inside the segment_lungs masks, right/left = patient side); "
        "per-slice figures over slices holding lung; P001 and normal001 were not used in training"
    )
    return out, kept


PHANTOM_SEVERITIES = (0.0, 0.35, 0.7, 1.0)


def phantom_metrics(card_path: Path, log, n_slices: int = 100, seed: int = 7) -> dict:
    """Lesion volume on phantoms with ground truth: `quantify` with the learned map and with the
    HU bands against the phantom's true lesion volume (all of it, and the part inside the lung
    mask that `segment_lungs` finds), per severity. The phantom is written as DICOM and read back
    through `lunglens.io`, as a patient folder would be."""
    model = load_lesion_model(card_path, provider="cpu")
    out = {}
    for severity in PHANTOM_SEVERITIES:
        phantom = make_phantom(n_slices=n_slices, seed=seed, covid_severity=severity)
        with tempfile.TemporaryDirectory() as folder:
            write_dicom_series(
                phantom.hu,
                phantom.positions_mm,
                phantom.pixel_spacing_mm,
                phantom.slice_thickness_mm,
                Path(folder),
            )
            series = load(discover(Path(folder)).series[0])
        voxel_ml = series.pixel_spacing_mm[0] * series.pixel_spacing_mm[1] * series.slice_spacing_mm / 1000.0
        learned = quantify(series, None, learned_method(model))
        bands = quantify(series, None)
        lung = learned.masks.lung_labels() > 0
        true_ml = float(phantom.lesion_mask.sum() * voxel_ml)
        true_in_lung_ml = float((phantom.lesion_mask & lung).sum() * voxel_ml)
        predicted = learned.masks.lesion_classes() > 0
        entry = {
            "true_lesion_ml": round(true_ml, 1),
            "true_lesion_inside_lung_mask_ml": round(true_in_lung_ml, 1),
            "learned_affected_ml": round(learned.total.affected_ml, 1),
            "learned_volume_error_percent": volume_error_percent(learned.total.affected_ml, true_ml),
            "learned_dice": round(dice(predicted, phantom.lesion_mask), 3) if true_ml else None,
            "learned_affected_percent": round(learned.total.affected_percent, 2),
            "hu_bands_affected_ml": round(bands.total.affected_ml, 1),
            "hu_bands_volume_error_percent": volume_error_percent(bands.total.affected_ml, true_ml),
            "hu_bands_affected_percent": round(bands.total.affected_percent, 2),
        }
        out[f"severity_{severity:g}"] = entry
        log(f"phantom severity {severity:g}: {entry}")
    out["note"] = (
        f"make_phantom(n_slices={n_slices}, seed={seed}, 512 x 512 at 0.7 mm) written as DICOM and read back; "
        "error = (affected mL - true lesion mL) / true lesion mL; the phantoms' lungs and lesions are synthetic "
        "(the model never saw a phantom)"
    )
    return out


def volume_error_percent(measured_ml: float, true_ml: float) -> float | None:
    """(measured - true) / true in %, None without a true lesion."""
    return None if true_ml == 0 else round(100.0 * (measured_ml - true_ml) / true_ml, 1)


def lesion_fraction_per_slice(lesion: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """Affected fraction (%) of `lung` per slice; NaN where the slice holds none of it."""
    lung_px = lung.sum(axis=(1, 2)).astype(float)
    affected = (lesion & lung).sum(axis=(1, 2))
    return np.where(lung_px > 0, 100.0 * affected / np.maximum(lung_px, 1), np.nan)


def _overlay(grey: np.ndarray, prob: np.ndarray, outline: np.ndarray | None) -> np.ndarray:
    """RGB: grey image, P(lesion) >= 0.5 in red (half opaque), `outline` (truth or lung) in green."""
    g = np.clip(grey, 0, 255).astype(np.float32)
    rgb = np.stack([g, g, g], -1)
    alpha = 0.5 * (prob >= 0.5)[..., None]
    rgb = rgb * (1 - alpha) + np.array([255.0, 0, 0]) * alpha
    if outline is not None:
        edge = outline & ~ndimage.binary_erosion(outline)
        rgb[ndimage.binary_dilation(edge)] = (0, 255, 0)
    return rgb.astype(np.uint8)


def _grid(tiles: list[np.ndarray], columns: int, size: int = 256) -> Image.Image:
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * size, rows * size), "black")
    for i, tile in enumerate(tiles):
        im = Image.fromarray(tile)
        im.thumbnail((size, size))
        sheet.paste(im, ((i % columns) * size, (i // columns) * size))
    return sheet


def montages(folder: Path, slices, maps: dict, series: dict) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if maps:
        tiles = []
        for s in [s for s in slices if s.number in maps][:24]:
            tiles += [
                _overlay(s.grey, np.zeros_like(s.grey), s.lesion),
                _overlay(s.grey, maps[s.number], s.lesion),
            ]
        path = folder / "cv_masked_slices.png"
        _grid(tiles, 8).save(path)
        written.append(path)
    for name, (hu, lungs, prob, has_lung) in series.items():
        indices = np.flatnonzero(has_lung)
        chosen = indices[np.linspace(0, len(indices) - 1, 16).astype(int)]
        tiles = [_overlay(hu_to_lesion_grey(hu[i]), prob[i], lungs[i]) for i in chosen]
        path = folder / f"series_{name}.png"
        _grid(tiles, 8).save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", default="models/lunglens-lesion.json")
    parser.add_argument("--parts", default="gap,cv,series,phantom")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--montages", help="write montage PNGs into this folder")
    parser.add_argument("--json", help="also write the metrics here")
    parser.add_argument(
        "--cache", help="patch cache (.npz) of models.train_lesion: read when present, else written"
    )
    parser.add_argument("--summarise-only", action="store_true", help="summarise the folds already saved")
    parser.add_argument("--fold-dir", default="/tmp/lunglens-lesion-cv", help="per-fold results (resumable)")
    parser.add_argument(
        "--only-folds", help="train only these folds (e.g. 0,2) and stop; the full run summarises"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    parts = set(args.parts.split(","))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    card_path = Path(args.card)
    try:  # a missing or bad card or model stops the run before any measurement, not at its end
        card = LesionModelCard.load(card_path)
        if args.json:  # never over what this run reads: the card, its model, the patch cache
            read = [card_path, card_path.parent / card.onnx_file, *([Path(args.cache)] if args.cache else [])]
            check_output(Path(args.json), read)
        if parts & {"series", "phantom"}:
            load_lesion_model(card_path, provider="cpu")
    except INPUT_ERRORS as exc:
        return fail(exc)
    metrics = {}
    slices = load_masked_slices() if parts & {"gap", "cv"} or args.montages else []
    maps, series = {}, {}
    if "gap" in parts:
        volumes = []
        for name in ("normal001", "P001"):
            hu, _, lung_labels, indices = uninfected_slices(name)
            volumes.append((hu, lung_labels, indices))
        metrics["domain_gap_grey"] = domain_gap(slices, volumes)
        log(json.dumps(metrics["domain_gap_grey"]))
    if "cv" in parts and not args.summarise_only:
        patches = all_patches(Path(args.cache) if args.cache else None)
        chosen = [int(k) for k in args.only_folds.split(",")] if args.only_folds else range(args.folds)
        for k in chosen:
            run_fold(k, args.folds, slices, patches, Path(args.fold_dir), log)
        if args.only_folds:
            return 0
    if "cv" in parts:
        metrics["cross_validation"], maps = summarise_folds(slices, args.folds, Path(args.fold_dir))
    if "series" in parts:
        metrics["real_series"], series = series_metrics(card_path, log)
    if "phantom" in parts:
        metrics["phantom_lesion_volume"] = phantom_metrics(card_path, log)
    command = "python -m models.evaluate_lesion " + " ".join(sys.argv[1:] if argv is None else argv)
    for part in metrics.values():
        part["command"] = command
    card = LesionModelCard.load(card_path)  # read now: a long run keeps figures written meanwhile
    data = json.loads(card.to_json())
    data["metrics"] = {**card.metrics, **metrics}
    LesionModelCard.from_dict(data).save(card_path)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        try:
            write_atomically(Path(args.json), (text + "\n").encode())
        except WriteError as exc:
            return fail(exc)
    if args.montages:
        for path in montages(Path(args.montages), slices, maps, series):
            log(f"montage: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
