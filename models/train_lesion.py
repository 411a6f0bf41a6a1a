"""Train the Polat et al. (2021) lesion patch CNN (issue 14) and export it to the lesion model contract.

Model scale: every source is brought to MODEL_PIXEL_MM = 1.0 mm per pixel, so a 28 x 28 patch covers
28 x 28 mm. The grey input is the lung window W 1500 / L -600 mapped to 8 bit
(`lunglens.quant.lesion_map.hu_to_lesion_grey`, the one mapping used in training and in the app).

Data (labels from the centre pixel of each patch: lesion when it lies in a lesion mask):
(a) the 50 COVID-SemiSeg slices with radiologists' masks (../shared/data/covid-lesion-masks, MedSeg data
    as prepared by Inf-Net, NON-COMMERCIAL): 8-bit windowed JPEGs of unknown spacing, resized so the
    largest tissue component spans ASSUMED_THORAX_WIDTH_MM (`estimate_pixel_mm`), and brought from
    the window they were rendered with (measured: about W 1240 / L -460, MASKED_SLICE_WINDOW) to the
    model's lung window, so JPEG lung, air and tissue have the grey levels of our HU renderings (the
    domain gap, measured by `models.evaluate_lesion --parts gap`). They have no lung masks: a crude
    lung region is derived (`crude_lung_mask`: dark components >= 1 % of the image, closed with a
    9 mm disc and hole-filled, so enclosed lesions belong to it). Healthy = inside it, > 2 px from
    any lesion; "other" negatives = outside it (chest wall, mediastinum, air), so the model can be
    run over a whole 2-D image.
(b) lesions inserted by `lunglens.synthetic.insert_lesions` (exact masks) into the real slices of
    COVID-CT-MD cap001 without labelled infection (CC BY 4.0; slices within 2 of a labelled one left
    out) inside the app's own lung masks (`lunglens.quant.segment_lungs`), where the lung covers
    >= 3 % of the slice. P001 and normal001 are held out: they measure the model on real series.
(c) healthy-lung and other negatives from the same slices outside the inserted lesions.
Healthy-lung patches whose centre is dense (>= -500 HU: vessels, fissures, airway walls, the hila) are
a kind of their own (HEALTHY_DENSE) drawn as often as the plain ones: they are what a lesion model
confuses with ground glass, and what the quantification's lung mask holds around the hila.
Patch centres lie on a 4 px grid. Each epoch draws a balanced sample of 16,000 (EPOCH_MIX); the
patches are augmented on the fly: rotation 0-360 deg, flips, scale 0.8-1.25, shift +-1 px, gamma
0.7-1.4, contrast 0.8-1.25, brightness +-20, Gaussian noise sigma 0-6 grey levels, so neither the
source nor the orientation can be learnt.

Training: SGD momentum 0.9, mini-batch 128, cross-entropy, as published, but learning rate 0.01 for
EPOCHS epochs with a tenfold decay for the last quarter: with the published 0.001 and 10 epochs the
model underfit (training accuracy 0.77 and the loss still falling at the end, measured on version 1.0.0).

    python -m models.train_lesion --out models/lunglens-lesion.onnx --cache /tmp/lesion_patches.npz \
        --version 2.1.0
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from lunglens.core.windowing import Window
from lunglens.inference.lesion_card import LesionModelCard
from lunglens.io import discover, load
from lunglens.quant import segment_lungs
from lunglens.quant.lesion_map import (
    estimate_pixel_mm,
    hu_to_lesion_grey,
    padded_for_patches,
    patches_at,
    rendered_grey_to_lesion_grey,
    resample,
    resample_mask,
    scaled_shape,
)
from lunglens.synthetic import insert_lesions
from models.cli import BadInput, check_model_output, fail
from models.export_lesion import TrainingRecord, export
from models.lesion_architecture import PATCH_PX, PolatPatchCNN

SHARED = Path(os.environ.get("LUNGLENS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MASKS_DIR = SHARED / "covid-lesion-masks"
CT_MD_DIR = SHARED / "covid-ct-md"
MODEL_PIXEL_MM = 1.0
CROP_PX = 48
"""Stored crop around each patch centre, room for rotation and scale before the 28 x 28 cut."""
SAMPLE_STRIDE = 4
"""Patch centres are sampled every 4 pixels (4 mm)."""
OTHER_KEPT = 0.25
"""Fraction of the grid points outside the lung kept as "other" negatives (they are plentiful)."""
CLASS_NAMES = ("healthy", "lesion")
LESION_INDEX = 1
LESION, HEALTHY_LUNG, OTHER, HEALTHY_DENSE = 0, 1, 2, 3
KIND_NAMES = ("lesion", "healthy_lung", "other", "healthy_dense")
JPEG, HU = 0, 1
EPOCH_MIX = {
    (JPEG, LESION): 5000, (HU, LESION): 3000,
    (JPEG, HEALTHY_LUNG): 2000, (JPEG, HEALTHY_DENSE): 1500, (JPEG, OTHER): 1000,
    (HU, HEALTHY_LUNG): 1500, (HU, HEALTHY_DENSE): 1500, (HU, OTHER): 500,
}  # fmt: skip
"""Patches per epoch by (source, kind): 8,000 lesion and 8,000 healthy (Polat: 16,040 patches)."""
DENSE_HEALTHY_HU = -500.0
"""Healthy-lung patch centres at or above this are HEALTHY_DENSE (vessels, fissures, hila)."""
MASKED_SLICE_WINDOW = Window("COVID-SemiSeg JPEG rendering (measured)", 1240.0, -460.0)
"""The window the COVID-SemiSeg JPEGs were rendered with, from the measured grey relation JPEG grey =
1.211 x (our W 1500 / L -600 grey) - 55.7 (card metrics domain_gap_grey, version 1.0.0): grey 0 at
-1080 HU, 255 at +159 HU."""
HU_TRAINING_SERIES = ("cap001",)
"""COVID-CT-MD series whose uninfected slices give the HU patches; P001 and normal001 are held out."""
LABEL_MARGIN = 2
"""Slices within this many of a slice labelled infected are not used as uninfected."""
LEARNING_RATE, MOMENTUM, BATCH, EPOCHS = 0.01, 0.9, 128, 20
LICENCES = (
    {
        "data": "COVID-SemiSeg training split (50 slices, MedSeg COVID-19 CT segmentation dataset, as prepared "
        "by Inf-Net: Fan et al., IEEE TMI 39:2626, 2020, doi:10.1109/TMI.2020.2996645)",
        "use": "lesion and healthy patches with radiologists' masks",
        "licence": "non-commercial use only (Inf-Net's terms for the data)",
    },
    {
        "data": "COVID-CT-MD cap001, slices without labelled infection (Afshar et al., Scientific Data 8:121, 2021, "
        "doi:10.1038/s41597-021-00900-3)",
        "use": "lesions inserted by lunglens.synthetic.insert_lesions (exact masks) and healthy lung",
        "licence": "CC BY 4.0",
    },
)


@dataclass(frozen=True)
class PatchSet:
    """Crops [n, CROP_PX, CROP_PX] uint8 centred on labelled pixels, with their kind (LESION,
    HEALTHY_LUNG, HEALTHY_DENSE, OTHER), source (JPEG, HU) and image id (the masked slice's number; -1 for HU)."""

    crops: np.ndarray
    kind: np.ndarray
    source: np.ndarray
    image: np.ndarray

    @staticmethod
    def concat(sets: list[PatchSet]) -> PatchSet:
        return PatchSet(
            *(np.concatenate([getattr(s, f) for s in sets]) for f in ("crops", "kind", "source", "image"))
        )

    def subset(self, keep: np.ndarray) -> PatchSet:
        return PatchSet(self.crops[keep], self.kind[keep], self.source[keep], self.image[keep])


@dataclass(frozen=True)
class MaskedSlice:
    """One COVID-SemiSeg slice at the model scale: grey 0..255 in the model's lung window
    (`rendered_grey_to_lesion_grey`), the JPEG's own grey (`rendered`, same grid), lesion mask, multiclass
    mask (1 GGO, 2 consolidation), the crude lung region, and the estimated pixel size of the JPEG."""

    number: int
    grey: np.ndarray
    rendered: np.ndarray
    lesion: np.ndarray
    multiclass: np.ndarray
    lung: np.ndarray
    source_pixel_mm: float
    source_shape: tuple[int, int]


def crude_lung_mask(
    grey: np.ndarray, dark_grey: float = 100.0, min_fraction: float = 0.01, closing_px: int = 9
) -> np.ndarray:
    """A crude lung region of an 8-bit lung-window image at 1 mm/pixel (no lung masks exist for
    COVID-SemiSeg): dark components (grey < dark_grey, about -760 HU) of at least `min_fraction` of
    the image, closed with a `closing_px` disc and hole-filled per component, so vessels and
    enclosed lesions belong to it. Air outside the body that is large enough is included too."""
    dark = ndimage.binary_opening(grey < dark_grey, iterations=1)
    labels, n = ndimage.label(dark)
    if n == 0:
        return np.zeros(grey.shape, bool)
    areas = ndimage.sum_labels(np.ones_like(grey), labels, index=np.arange(1, n + 1))
    keep = np.isin(labels, 1 + np.flatnonzero(areas >= min_fraction * grey.size))
    yy, xx = np.mgrid[-(closing_px // 2) : closing_px // 2 + 1, -(closing_px // 2) : closing_px // 2 + 1]
    disc = xx**2 + yy**2 <= (closing_px // 2) ** 2
    closed = ndimage.binary_closing(np.pad(keep, closing_px), structure=disc)[
        closing_px:-closing_px, closing_px:-closing_px
    ]
    return ndimage.binary_fill_holes(closed)


def load_masked_slices(folder: Path = MASKS_DIR) -> list[MaskedSlice]:
    """The 50 COVID-SemiSeg slices at MODEL_PIXEL_MM, sorted by number."""
    out = []
    for path in sorted((folder / "train_imgs").glob("*.jpg"), key=lambda p: int(p.stem)):
        grey8 = np.asarray(Image.open(path).convert("L"))
        binary = np.asarray(Image.open(folder / "train_gt_binary" / f"{path.stem}.png").convert("L")) > 127
        multi = np.asarray(Image.open(folder / "train_gt_multiclass" / f"{path.stem}.png"))
        pixel_mm = estimate_pixel_mm(grey8)
        shape = scaled_shape(grey8.shape, (pixel_mm, pixel_mm), MODEL_PIXEL_MM)
        rendered = np.clip(resample(grey8, shape), 0, 255)
        classes = np.zeros(shape, np.uint8)
        for value in (1, 2):
            classes[resample_mask(multi == value, shape)] = value
        out.append(
            MaskedSlice(
                int(path.stem), rendered_grey_to_lesion_grey(rendered, MASKED_SLICE_WINDOW), rendered, resample_mask(binary, shape), classes,
                crude_lung_mask(rendered), pixel_mm, grey8.shape,
            )
        )  # fmt: skip
    return out


def _crops(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    padded = padded_for_patches(grey, CROP_PX)
    return np.clip(np.rint(patches_at(padded, rows, cols, CROP_PX)[:, 0]), 0, 255).astype(np.uint8)


def _label_grid(
    lesion: np.ndarray,
    lung: np.ndarray,
    grey: np.ndarray,
    rng: np.random.Generator,
    stride: int = SAMPLE_STRIDE,
):
    """Patch centres on a stride grid (random phase) and their kinds; lesion margins (<= 2 px) left out.
    `grey` (model grey) tells dense healthy lung (HEALTHY_DENSE) from the rest."""
    r0, c0 = rng.integers(stride, size=2)
    rows, cols = np.mgrid[r0 : lesion.shape[0] : stride, c0 : lesion.shape[1] : stride]
    rows, cols = rows.ravel(), cols.ravel()
    near = ndimage.binary_dilation(lesion, iterations=2)
    kind = np.full(rows.size, -1, np.int8)
    kind[lesion[rows, cols]] = LESION
    kind[~near[rows, cols] & lung[rows, cols]] = HEALTHY_LUNG
    kind[~near[rows, cols] & ~lung[rows, cols]] = OTHER
    dense = grey[rows, cols] >= hu_to_lesion_grey(np.float32(DENSE_HEALTHY_HU))
    kind[(kind == HEALTHY_LUNG) & dense] = HEALTHY_DENSE
    keep = (kind >= 0) & ((kind != OTHER) | (rng.random(kind.size) < OTHER_KEPT))
    return rows[keep], cols[keep], kind[keep]


def masked_slice_patches(slices: list[MaskedSlice], seed: int = 0) -> PatchSet:
    rng = np.random.default_rng(seed)
    sets = []
    for s in slices:
        rows, cols, kind = _label_grid(s.lesion, s.lung, s.grey, rng)
        n = rows.size
        sets.append(
            PatchSet(
                _crops(s.grey, rows, cols), kind, np.full(n, JPEG, np.int8), np.full(n, s.number, np.int16)
            )
        )
    return PatchSet.concat(sets)


def uninfected_slices(series: str) -> tuple[np.ndarray, tuple[float, float], np.ndarray, list[int]]:
    """HU volume, pixel spacing, lung labels (`segment_lungs`, the quantification's masks) and the
    indices of a COVID-CT-MD series' slices without labelled infection (none within LABEL_MARGIN of
    a labelled one; all of a series without labels) whose lung covers >= 3 % of the slice."""
    volume = load(discover(CT_MD_DIR / series).series[0])
    with open(CT_MD_DIR / "slice_labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["series"] == series]
    # volume index 0 = most superior = InstanceNumber 1 (data README)
    labelled = np.zeros(volume.n_slices, bool)
    for r in rows:
        if int(r["infection_label"]) and 0 < int(r["InstanceNumber"]) <= volume.n_slices:
            labelled[int(r["InstanceNumber"]) - 1] = True
    near_labelled = ndimage.binary_dilation(labelled, iterations=LABEL_MARGIN) if labelled.any() else labelled
    lungs = segment_lungs(
        volume.hu, volume.pixel_spacing_mm, volume.slice_spacing_mm, volume.orientation_cosines
    ).labels
    lung_fraction = (lungs > 0).mean(axis=(1, 2))
    keep = [i for i in range(volume.n_slices) if not near_labelled[i] and lung_fraction[i] >= 0.03]
    return volume.hu, volume.pixel_spacing_mm, lungs, keep


def inserted_lesion_patches(series_names=HU_TRAINING_SERIES, every: int = 1, seed: int = 1) -> PatchSet:
    """Patches of real uninfected slices with inserted lesions (severity 0.2-1), at the model scale."""
    rng = np.random.default_rng(seed)
    sets = []
    for series in series_names:
        hu, spacing, labels, indices = uninfected_slices(series)
        for index in indices[::every]:
            lungs = labels[index] > 0
            new_hu, lesion = insert_lesions(hu[index], lungs, rng, float(rng.uniform(0.2, 1.0)))
            shape = scaled_shape(new_hu.shape, spacing, MODEL_PIXEL_MM)
            grey = resample(hu_to_lesion_grey(new_hu), shape)
            lesion_s, lung_s = resample_mask(lesion, shape), resample_mask(lungs, shape)
            rows, cols, kind = _label_grid(lesion_s, lung_s, grey, rng)
            n = rows.size
            sets.append(
                PatchSet(_crops(grey, rows, cols), kind, np.full(n, HU, np.int8), np.full(n, -1, np.int16))
            )
    return PatchSet.concat(sets)


def augment(crops: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """uint8-valued crops [B, 1, CROP, CROP] -> augmented float patches [B, 1, 28, 28] grey 0..255."""
    b = crops.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=rng)  # noqa: E731
    angle = u(0, 2 * math.pi)
    scale = torch.exp(u(math.log(0.8), math.log(1.25))) * PATCH_PX / CROP_PX
    flip = torch.where(torch.rand(b, generator=rng) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    shift = u(-1, 1) * 2 / CROP_PX, u(-1, 1) * 2 / CROP_PX
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[0]], 1), torch.stack([sin * flip, cos, shift[1]], 1)], 1
    )
    grid = F.affine_grid(theta, [b, 1, PATCH_PX, PATCH_PX], align_corners=False)
    x = F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gamma = torch.exp(u(math.log(0.7), math.log(1.4)))[:, None, None, None]
    x = 255.0 * (x / 255.0).clamp(0, 1) ** gamma
    contrast, bright = u(0.8, 1.25)[:, None, None, None], u(-20, 20)[:, None, None, None]
    x = (x - 128.0) * contrast + 128.0 + bright
    x = x + u(0, 6)[:, None, None, None] * torch.randn(x.shape, generator=rng)
    return x.clamp(0, 255)


def centre_patches(crops: np.ndarray) -> np.ndarray:
    """The 28 x 28 patches at the centre of stored crops, float32 [n, 1, 28, 28]."""
    o = (CROP_PX - PATCH_PX) // 2
    return crops[:, None, o : o + PATCH_PX, o : o + PATCH_PX].astype(np.float32)


def epoch_indices(patches: PatchSet, rng: np.random.Generator) -> np.ndarray:
    chosen = []
    for (source, kind), n in EPOCH_MIX.items():
        pool = np.flatnonzero((patches.source == source) & (patches.kind == kind))
        if pool.size:
            chosen.append(rng.choice(pool, size=n, replace=pool.size < n))
    return rng.permutation(np.concatenate(chosen))


def train(patches: PatchSet, epochs: int = EPOCHS, seed: int = 0, log=print) -> PolatPatchCNN:
    """Train a PolatPatchCNN on `patches` for `epochs` epochs (SGD momentum, batch 128 as published;
    learning rate LEARNING_RATE, x 0.1 for the last quarter); label lesion = kind LESION, healthy =
    the rest."""
    torch.manual_seed(seed)
    rng, trng = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    model = PolatPatchCNN()
    optimiser = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    labels_all = torch.from_numpy((patches.kind == LESION).astype(np.int64))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, [max(1, (3 * epochs) // 4)], gamma=0.1)
    for epoch in range(epochs):
        start, order = time.perf_counter(), epoch_indices(patches, rng)
        model.train()
        total, correct, seen = 0.0, 0, 0
        for b in range(0, order.size, BATCH):
            idx = order[b : b + BATCH]
            x = augment(torch.from_numpy(patches.crops[idx][:, None].astype(np.float32)), trng)
            y = labels_all[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * idx.size
            correct += int((logits.argmax(1) == y).sum())
            seen += idx.size
        scheduler.step()
        log(
            f"epoch {epoch + 1}/{epochs}: loss {total / seen:.4f}, train acc {correct / seen:.4f} ({time.perf_counter() - start:.0f} s)"
        )
    return model.eval()


def torch_predictor(model: PolatPatchCNN):
    """patches float32 [n, 1, 28, 28] -> P(lesion) [n] with the torch model (no augmentation)."""

    def predict(patches: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(patches)), 1)[:, LESION_INDEX].numpy()

    return predict


def training_record(epochs: int = EPOCHS, seed: int = 0) -> TrainingRecord:
    """What the card of a model trained by this script for `epochs` epochs from `seed` states about
    its training (`export`)."""
    return TrainingRecord(
        class_names=CLASS_NAMES,
        lesion_index=LESION_INDEX,
        pixel_mm=MODEL_PIXEL_MM,
        provenance={
            "kind": "trained",
            "method": "Polat, Ozerdem, Ekici & Akpolat, Int J Imaging Syst Technol 2021, doi:10.1002/ima.22558",
            "optimiser": f"SGD momentum {MOMENTUM}, learning rate {LEARNING_RATE} (x 0.1 for the last quarter), "
            f"batch {BATCH}, {epochs} epochs",
            "epochs": epochs,
            "seed": seed,
            "patches_per_epoch": {
                f"{['jpeg', 'hu'][s]}/{KIND_NAMES[k]}": n for (s, k), n in EPOCH_MIX.items()
            },
            "grey_mapping": f"COVID-SemiSeg JPEGs from their measured rendering window W {MASKED_SLICE_WINDOW.width:g} / "
            f"L {MASKED_SLICE_WINDOW.level:g} to the model's lung window",
            "dense_healthy": f"healthy-lung patches centred at >= {DENSE_HEALTHY_HU:g} HU drawn as a class of their own",
            "augmentation": "rotation 0-360 deg, flips, scale 0.8-1.25, shift +-1 px, gamma 0.7-1.4, "
            "contrast 0.8-1.25, brightness +-20, Gaussian noise sigma 0-6",
            "labels": "centre pixel in a lesion mask = lesion; healthy = lung > 2 px from lesions, or outside the lung",
            "held_out_series": "COVID-CT-MD P001 and normal001 (never seen in training)",
        },
        training_data=LICENCES,
    )


def all_patches(cache: Path | None = None) -> PatchSet:
    """Masked-slice and inserted-lesion patches; read from / written to `cache` (.npz) when given."""
    if cache is not None and Path(cache).exists():
        with np.load(cache) as data:
            return PatchSet(data["crops"], data["kind"], data["source"], data["image"])
    patches = PatchSet.concat([masked_slice_patches(load_masked_slices()), inserted_lesion_patches()])
    if cache is not None:
        np.savez(cache, crops=patches.crops, kind=patches.kind, source=patches.source, image=patches.image)
    return patches


def patch_counts(patches: PatchSet) -> dict:
    return {
        f"{['jpeg', 'hu'][s]}/{KIND_NAMES[k]}": int(((patches.source == s) & (patches.kind == k)).sum())
        for s in (JPEG, HU)
        for k in range(len(KIND_NAMES))
    }


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (zero epochs would export an untrained model)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def _check_new_version(card_path: Path, version: str) -> None:
    """Raise BadInput when the card the training would replace already states `version`: two
    different models must never share a name and version."""
    try:
        replaced = LesionModelCard.load(card_path).version if card_path.exists() else None
    except ValueError:  # not a lesion card: check_model_output's business, or nothing to compare
        return
    if replaced == version:
        raise BadInput(
            f"{card_path}: holds the model of version {version} that this training would replace; "
            "give the new model another --version"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/lunglens-lesion.onnx")
    parser.add_argument("--epochs", type=_positive_int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", help="patch cache (.npz): read when present, else written")
    parser.add_argument(
        "--version",
        required=True,
        help="the model version written into the card (required: a retrained model never takes the "
        "shipped model's version)",
    )
    parser.add_argument("--save-weights", help="also save the torch state_dict here (for a later re-export)")
    args = parser.parse_args(argv)
    try:
        check_model_output(Path(args.out))  # before hours of training, not after
        _check_new_version(Path(args.out).with_suffix(".json"), args.version)
    except BadInput as exc:
        return fail(exc)
    torch.set_num_threads(1)
    start = time.perf_counter()
    patches = all_patches(Path(args.cache) if args.cache else None)
    counts = patch_counts(patches)
    print(f"patches: {counts} ({time.perf_counter() - start:.0f} s)", flush=True)
    model = train(patches, epochs=args.epochs, seed=args.seed, log=lambda m: print(m, flush=True))
    if args.save_weights:
        torch.save(model.state_dict(), args.save_weights)
    command = "python -m models.train_lesion " + " ".join(sys.argv[1:] if argv is None else argv)
    card = export(
        model,
        Path(args.out),
        command=command.strip(),
        metrics={"patches_available": counts},
        version=args.version,
        training=training_record(args.epochs, args.seed),
    )
    print(f"wrote {args.out} ({card.sha256[:12]}), {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
