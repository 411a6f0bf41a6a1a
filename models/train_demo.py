"""Train the demonstration model (issue 8): a narrow ResNet50V2FPN that learns COVID-19 lesions, not patients.

Data (COVID-CT-MD, Afshar et al., Scientific Data 8:121, 2021): every slice the lung-open selector keeps
and that is labelled uninfected (normal001: all kept slices; P001, cap001: kept slices with
infection_label 0 in slice_labels.csv). Training is PAIRED: each such slice appears in the normal class
as it is and in the COVID class with lesions inserted by `lunglens.synthetic.insert_lesions` (a smooth HU
shift that keeps the slice's own noise), so anatomy, scanner, dose and patient carry no signal. The two
copies share one geometric augmentation (flips, rotation 0-360 deg, scale +-20 %, shift +-5 %); noise
level and sharpness (one blur or sharpen kernel per image) are drawn for each image independently.

Validation is patient-disjoint: the training patients are normal001 and cap001; P001's uninfected kept
slices are held out, each with one seeded lesion variant against itself.

Keeping the heads alive (the measured failure: all five Dense(2, ReLU) heads dead, constant output):
- an auxiliary cross-entropy on each level's head *pre-activation* (its two units as class logits), so
  every head gets a gradient even where its ReLU is closed, and unit j of every head learns class j;
- the final Dense starts as the matching read-out (+w from unit j to class j, -w to the other class);
- He initialisation, head biases 0.1, the input scaled by 1/1024 inside the training forward pass (folded
  into conv1 at export, so the ONNX takes raw values), AdamW with linear warm-up and cosine decay,
  gradient clipping; the fraction of live head units is logged every epoch.

The ONNX and its card are written after every epoch whose model passes the export contract check (an
interrupted run leaves the latest good epoch), by `models.export_onnx.export`.

    python -m models.train_demo --epochs 11 --width 0.125 --out models/lunglens-demo.onnx
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lunglens.core.selector import select_slices
from lunglens.io import discover, hu_to_raw, load
from lunglens.synthetic import insert_lesions, lung_mask
from models.architecture import ResNet50V2FPN
from models.cli import INPUT_ERRORS, check_model_output, fail
from models.export_onnx import ClassifierWithCAM, export, load_exported

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
"""Training runs on an NVIDIA GPU when PyTorch sees one, else on the CPU (same script, same seed)."""
DATA_DIR = (
    Path(os.environ.get("LUNGLENS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "covid-ct-md"
)
"""COVID-CT-MD under the shared data root (LUNGLENS_SHARED_DATA, as in tests/conftest.py)."""
TRAIN_SERIES = ("normal001", "cap001")
VALIDATION_SERIES = ("P001",)
INPUT_SCALE = 1.0 / 1024.0
"""Raw values are multiplied by this inside the training forward pass; folded into conv1 at export."""
COVID, NORMAL = 0, 1
"""Class indices (the published Keras models' order)."""
SEVERITY = (0.15, 1.0)
"""Range of `insert_lesions` severity for the inserted lesions."""
INTENDED_USE = (
    "DEMONSTRATION MODEL ONLY - NOT FOR DIAGNOSIS OR ANY CLINICAL USE. A narrow ResNet50V2-FPN trained from "
    "three real CT series of one public data set, with synthetic lesions inserted into normal slices; it "
    "exists to show the app's workflow (selector, slice classification, patient decision, Grad-CAM). Its "
    "outputs have no clinical validity; see metrics for its measured weaknesses."
)
LICENCE = (
    "Weights: MIT (LungLens). Training data: COVID-CT-MD (Afshar et al., 'COVID-CT-MD, COVID-19 computed "
    "tomography scan dataset applicable in machine learning and deep learning', Scientific Data 8:121, "
    "2021), used under its licence; cite it when using this model."
)


@dataclass
class SlicePool:
    """Uninfected, selector-kept slices of some series, with pre-generated lesion variants.

    hu: [n, 512, 512] int16 HU. lungs: [n, 512, 512] bool lung masks. lesioned: [n, k, 512, 512] int16 HU,
    k variants of each slice with lesions inserted. lesion_masks: [n, k, 512, 512] bool.
    origin: n strings "series/file name".
    """

    hu: np.ndarray
    lungs: np.ndarray
    lesioned: np.ndarray
    lesion_masks: np.ndarray
    origin: list[str]


def slice_labels(data_dir: Path = DATA_DIR) -> dict[tuple[str, str], int]:
    """(series, DICOM file name) -> infection label (0/1) from slice_labels.csv."""
    with open(data_dir / "slice_labels.csv", newline="") as fh:
        return {(r["series"], r["file"]): int(r["infection_label"]) for r in csv.DictReader(fh)}


def load_series(name: str, data_dir: Path = DATA_DIR):
    """(Series, kept mask [z] bool, infection labels [z] int, -1 where unlabelled) of one series."""
    series = load(discover(data_dir / name).series[0])
    labels = slice_labels(data_dir)
    per_slice = np.array([labels.get((name, p.name), -1) for p in series.source_paths])
    return series, select_slices(series.standard_hu).kept, per_slice


def uninfected_kept(name: str, data_dir: Path = DATA_DIR) -> tuple[np.ndarray, list[str]]:
    """Kept slices labelled uninfected (all kept slices of an unlabelled series): (HU [n, 512, 512] int16,
    origins)."""
    series, kept, labels = load_series(name, data_dir)
    chosen = np.flatnonzero(kept & (labels <= 0))
    return series.standard_hu[chosen], [f"{name}/{series.source_paths[i].name}" for i in chosen]


def build_pool(names: tuple[str, ...], variants: int, seed: int, data_dir: Path = DATA_DIR) -> SlicePool:
    """Load the series, compute lung masks and insert `variants` lesion sets per slice (seeded, severity
    uniform in SEVERITY)."""
    rng = np.random.default_rng(seed)
    parts = [uninfected_kept(n, data_dir) for n in names]
    hu = np.concatenate([p[0] for p in parts])
    origin = [o for p in parts for o in p[1]]
    lungs = np.stack([lung_mask(s) for s in hu])
    lesioned = np.empty((len(hu), variants, *hu.shape[1:]), np.int16)
    masks = np.zeros(lesioned.shape, bool)
    for i, (s, lung) in enumerate(zip(hu, lungs, strict=True)):
        for v in range(variants):
            lesioned[i, v], masks[i, v] = insert_lesions(s, lung, rng, rng.uniform(*SEVERITY))
    return SlicePool(hu, lungs, lesioned, masks, origin)


def to_raw(hu: np.ndarray) -> torch.Tensor:
    """HU [..., H, W] -> raw scale float32 tensor [..., 1, H, W] (clip(HU + 1024, 0, 65535))."""
    return torch.from_numpy(hu_to_raw(hu)).unsqueeze(-3)


def _gaussian_kernel(sigma: torch.Tensor, size: int = 5) -> torch.Tensor:
    """[N] sigmas (pixels) -> [N, size, size] normalised Gaussian kernels."""
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    g = g / g.sum(dim=1, keepdim=True)
    return g[:, :, None] * g[:, None, :]


def sharpness_kernels(n: int, gen: torch.Generator) -> torch.Tensor:
    """[n, 5, 5] reconstruction-kernel changes: a third blur (Gaussian sigma 0.4-1.3 px), a third sharpen
    (unsharp mask, amount 0.3-1.5 on a 1 px Gaussian), a third identity."""
    kind = torch.randint(0, 3, (n,), generator=gen)
    blur = _gaussian_kernel(0.4 + 0.9 * torch.rand(n, generator=gen))
    identity = torch.zeros(n, 5, 5)
    identity[:, 2, 2] = 1.0
    amount = (0.3 + 1.2 * torch.rand(n, generator=gen))[:, None, None]
    sharpen = (1 + amount) * identity - amount * _gaussian_kernel(torch.ones(n))
    return torch.where(
        (kind == 0)[:, None, None], blur, torch.where((kind == 1)[:, None, None], sharpen, identity)
    )


def augment(
    pairs: torch.Tensor, gen: torch.Generator, masks: torch.Tensor | None = None, max_noise_hu: float = 20.0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """pairs [P, 2, 1, S, S] raw scale (normal, lesioned copy of one slice) -> ([2P, 1, S, S] augmented,
    masks [P, M, S, S] float moved by the same affine as their pair, or None).

    One affine per pair (random flips, rotation 0-360 deg, scale 0.8-1.2, shift +-5 % of the side; air,
    raw 0, fills the corners), then per image white noise (sigma uniform 0..max_noise_hu HU) and one
    blur/sharpen kernel (`sharpness_kernels`); clipped at 0.
    """
    p, _, _, side, _ = pairs.shape
    angle = 2 * math.pi * torch.rand(p, generator=gen)
    scale = 0.8 + 0.4 * torch.rand(p, generator=gen)
    flip = torch.where(torch.rand(p, 2, generator=gen) < 0.5, -1.0, 1.0)
    shift = 0.1 * (torch.rand(p, 2, generator=gen) - 0.5) * 2  # normalised coords span 2: +-5 % of the side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip[:, 0], -sin * flip[:, 1], shift[:, 0]], 1),
            torch.stack([sin * flip[:, 0], cos * flip[:, 1], shift[:, 1]], 1),
        ],
        1,
    )  # [P, 2, 3] rotation x flips / scale, output -> input sampling coordinates
    if masks is not None:
        grid = F.affine_grid(theta, list(masks.shape), align_corners=False)
        masks = F.grid_sample(masks, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    theta = theta.repeat_interleave(2, dim=0)
    images = pairs.reshape(2 * p, 1, side, side)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    n = images.shape[0]
    noise_sigma = max_noise_hu * torch.rand(n, 1, 1, 1, generator=gen)
    images = images + noise_sigma * torch.randn(images.shape, generator=gen)
    kernels = sharpness_kernels(n, gen)[:, None]
    images = F.conv2d(
        F.pad(images.reshape(1, n, side, side), (2, 2, 2, 2), mode="replicate"), kernels, groups=n
    )
    return images.reshape(n, 1, side, side).clamp_min(0.0), masks


def init_weights(model: ResNet50V2FPN, head_bias: float = 0.1, readout: float = 0.5) -> None:
    """He initialisation of every conv and head; head biases `head_bias`; the final Dense as the matching
    read-out (weight +readout from head unit j to class j, -readout to the other class, bias 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for head in model.heads:
        nn.init.kaiming_normal_(head.weight, mode="fan_in", nonlinearity="relu")
        nn.init.constant_(head.bias, head_bias)
    with torch.no_grad():
        units = torch.arange(model.final.in_features) % 2
        model.final.weight.copy_(torch.where(units[None, :] == torch.arange(2)[:, None], readout, -readout))
        model.final.bias.zero_()


@torch.no_grad()
def calibrate_heads(
    model: ResNet50V2FPN, images: torch.Tensor, target_std: float = 1.0, rescale: bool = True
) -> list[float]:
    """Data-dependent head initialisation (with `rescale`): scale each head's weights so its
    pre-activations on `images` (raw, [N, 1, S, S]) have standard deviation `target_std`. Without it the
    10^4-wide heads start with pre-activations of about 10 (losses near 10).

    Returns, per head, the mean L1 norm of its flattened input on `images`: an Adam step of size lr moves
    a pre-activation by up to lr x that norm (about 10^5 here), which is what kills the heads at an lr
    fit for the convolutions; the heads' learning rate is set from it (`--head-step`)."""
    feats = model.forward_features(images * INPUT_SCALE)
    norms = []
    for level, head in enumerate(model.heads):
        if rescale:
            std = float((feats.head_preact[:, level] - head.bias).std().clamp_min(1e-6))
            head.weight.mul_(target_std / std)
        norms.append(float(feats.levels[level].abs().flatten(1).sum(1).mean()))
    return norms


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """BatchNorm running-statistics momentum for training (the Keras 0.99 = 0.01 here adapts slowly)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = momentum


def share_outside(cam: torch.Tensor, region: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """cam [N, 1, h, w] >= 0, region [N, 1, H, W] in [0, 1] (H, W multiples of h, w) -> [N], the share of
    each CAM's mass outside the region (its area fraction per CAM cell); 0 for an all-zero CAM."""
    inside = F.adaptive_avg_pool2d(region, cam.shape[-2:])
    total = cam.sum(dim=(1, 2, 3))
    return (cam * (1 - inside)).sum(dim=(1, 2, 3)) / (total + eps)


def cam_loss(cam: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Attention supervision of the Grad-CAM (guided attention: Li et al., CVPR 2018, "Tell me where to
    look"): the mean share of CAM mass outside the lesions on the lesioned images plus the mean share
    outside the lungs on all images. cam [2P, 1, h, w] in (normal, lesioned) pair order, labels [2P],
    masks [P, 2, S, S] (lung, lesion)."""
    lungs = masks[:, :1].repeat_interleave(2, dim=0)
    lesioned = labels == COVID
    lesions = masks[:, 1:].repeat_interleave(2, dim=0)
    return share_outside(cam[lesioned], lesions[lesioned]).mean() + share_outside(cam, lungs).mean()


def losses(
    model: ResNet50V2FPN,
    images: torch.Tensor,
    labels: torch.Tensor,
    aux_weight: float,
    masks: torch.Tensor | None = None,
    cam_weight: float = 0.0,
):
    """images [N, 1, S, S] raw -> (total loss, main CE, CAM loss, head pre-activations [N, 5, 2],
    probabilities [N, 2]). The CAM loss (`cam_loss`, needs `masks`) is computed when cam_weight > 0."""
    feats = model.forward_features(images * INPUT_SCALE)
    main = F.cross_entropy(feats.logits, labels)
    # Each head unit j as a binary classifier of class j around 0, where its ReLU opens: unlike a softmax
    # over the two units (shift-invariant), this keeps unit j positive for class j, so no head can die.
    targets = F.one_hot(labels, 2).to(feats.head_preact.dtype)[:, None, :].expand_as(feats.head_preact)
    aux = F.binary_cross_entropy_with_logits(feats.head_preact, targets)
    attention = (
        cam_loss(ClassifierWithCAM(model).cam(feats), labels, masks) if cam_weight > 0 else torch.zeros(())
    )
    total = main + aux_weight * aux + cam_weight * attention
    return total, main, attention.detach(), feats.head_preact.detach(), feats.probabilities.detach()


def live_fractions(head_preact: torch.Tensor) -> tuple[float, float]:
    """head_preact [N, 5, 2] -> (fraction of the 10 head units with ReLU output > 0 for at least one of
    the N images, fraction of (image, unit) outputs > 0)."""
    alive = head_preact > 0
    return float(alive.any(dim=0).float().mean()), float(alive.float().mean())


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for the boolean labels `positive` (Mann-Whitney, ties 1/2)."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def binary_metrics(p_covid: np.ndarray, is_covid: np.ndarray, cutoff: float = 0.5) -> dict:
    """Slice-level AUC, sensitivity and specificity (P(COVID) >= cutoff is positive) and counts."""
    p_covid, is_covid = np.asarray(p_covid, float), np.asarray(is_covid, bool)
    called = p_covid >= cutoff
    return {
        "auc": roc_auc(p_covid, is_covid),
        "sensitivity": float(called[is_covid].mean()) if is_covid.any() else float("nan"),
        "specificity": float((~called[~is_covid]).mean()) if (~is_covid).any() else float("nan"),
        "n_covid": int(is_covid.sum()),
        "n_normal": int((~is_covid).sum()),
    }


def upsampled(cam: np.ndarray, size: int = 512) -> np.ndarray:
    """cam [h, w] -> [size, size], bilinear (half-pixel centres)."""
    return cv2.resize(cam.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)


def cam_scores(cams: np.ndarray, lungs: np.ndarray, lesions: np.ndarray | None = None) -> dict:
    """Share of CAM mass inside the lung masks [N, 512, 512] (mean over slices with a non-zero CAM) and,
    given lesion masks, the pointing-game hit rate (CAM maximum inside the lesion mask; a zero CAM is a
    miss)."""
    shares, hits, zero = [], [], 0
    for i, cam in enumerate(cams):
        big = upsampled(cam)
        total = float(big.sum())
        if total <= 0:
            zero += 1
            hits.append(False)
            continue
        shares.append(float(big[lungs[i]].sum()) / total)
        if lesions is not None:
            r, c = np.unravel_index(int(np.argmax(big)), big.shape)
            hits.append(bool(lesions[i][r, c]))
    out = {"n": len(cams), "zero_cams": zero, "cam_mass_in_lung": round(float(np.mean(shares)), 4)}
    if lesions is not None:
        out["pointing_game_hit_rate"] = round(float(np.mean(hits)), 4)
    return out


@torch.no_grad()
def predict(
    model: ResNet50V2FPN, raw: torch.Tensor, batch: int = 8
) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """Eval-mode P(COVID) [N], head pre-activations [N, 5, 2] and Grad-CAM [N, 32, 32] for raw images
    [N, 1, S, S]."""
    model.eval()
    probs, heads, cams = [], [], []
    for i in range(0, len(raw), batch):
        feats = model.forward_features(raw[i : i + batch].to(DEVICE) * INPUT_SCALE)
        probs.append(feats.probabilities[:, COVID])
        heads.append(feats.head_preact)
        cams.append(ClassifierWithCAM(model).cam(feats)[:, 0])
    return torch.cat(probs).cpu().numpy(), torch.cat(heads).cpu(), torch.cat(cams).cpu().numpy()


def validation_set(pool: SlicePool) -> tuple[torch.Tensor, np.ndarray]:
    """Each held-out slice as it is (normal) and with its first lesion variant (COVID): (raw [2n, 1, S, S],
    is_covid [2n])."""
    raw = torch.cat([to_raw(pool.hu), to_raw(pool.lesioned[:, 0])])
    return raw, np.repeat([False, True], len(pool.hu))


def exportable(model: ResNet50V2FPN) -> ResNet50V2FPN:
    """A copy taking raw values: INPUT_SCALE folded into conv1's weights (exact: the conv is linear and its
    zero padding stays zero)."""
    out = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        out.conv1_conv.weight.mul_(INPUT_SCALE)
    return out


def train_mode(model: ResNet50V2FPN, frozen_bn: bool) -> None:
    """Training mode (dropout on); with `frozen_bn` the BatchNorms stay in eval mode (running statistics,
    as a model loaded by `load_exported` needs)."""
    model.train()
    if frozen_bn:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()


def initial_model(a: argparse.Namespace) -> ResNet50V2FPN:
    """A fresh model (He initialisation, matching read-out) or, with --init, the exported ONNX's weights
    taking INPUT_SCALE-scaled input, as the training forward pass does."""
    if a.init is None:
        model = ResNet50V2FPN(width=a.width)
        init_weights(model)
        set_bn_momentum(model, 0.05)
        return model
    model = load_exported(a.init, a.width)
    with torch.no_grad():
        model.conv1_conv.weight.div_(INPUT_SCALE)  # the inverse of `exportable`
    return model


def pair_masks(pool: SlicePool, idx: np.ndarray, var: np.ndarray) -> torch.Tensor:
    """[P, 2, S, S] float (lung mask, lesion mask) of the chosen slices and lesion variants."""
    return torch.from_numpy(np.stack([pool.lungs[idx], pool.lesion_masks[idx, var]], axis=1)).float()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=11)
    ap.add_argument("--steps-per-epoch", type=int, default=50)
    ap.add_argument("--pairs-per-batch", type=int, default=6, help="a batch holds 2x this many images")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument(
        "--head-step",
        type=float,
        default=0.3,
        help="largest change of a head pre-activation per Adam step at peak lr (sets the heads' lr)",
    )
    ap.add_argument("--warmup-steps", type=int, default=40)
    ap.add_argument("--aux-weight", type=float, default=1.0)
    ap.add_argument(
        "--cam-weight", type=float, default=0.0, help="weight of the Grad-CAM attention loss (`cam_loss`)"
    )
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this exported ONNX (same width; BatchNorm statistics then stay frozen)",
    )
    ap.add_argument("--clip", type=float, default=2.0, help="gradient norm clip")
    ap.add_argument("--variants", type=int, default=4, help="pre-generated lesion variants per slice")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "lunglens-demo.onnx")
    ap.add_argument("--log", type=Path, default=None, help="JSON lines of per-epoch figures")
    ap.add_argument("--version", default="1.0.0")
    a = ap.parse_args(argv)
    command = "python -m models.train_demo " + " ".join(sys.argv[1:] if argv is None else argv)
    try:  # every epoch's export writes --out: checked before training, never over --init
        check_model_output(a.out, [a.init, a.init.with_suffix(".json")] if a.init else [])
        init_card = json.loads(a.init.with_suffix(".json").read_text()) if a.init else None
    except INPUT_ERRORS as exc:
        sys.exit(fail(exc))

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    train = build_pool(TRAIN_SERIES, a.variants, a.seed)
    val = build_pool(VALIDATION_SERIES, 1, a.seed + 1)
    val_raw, val_covid = validation_set(val)
    print(f"pools: train {len(train.hu)} slices x {a.variants} lesion variants, validation {len(val.hu)} "
          f"slices ({time.time() - t0:.0f} s)", flush=True)  # fmt: skip

    model = initial_model(a).to(DEVICE)
    idx = rng.integers(len(train.hu), size=4 * a.pairs_per_batch)
    calibration = torch.stack([to_raw(train.hu[idx]), to_raw(train.lesioned[idx, 0])], dim=1)
    model.eval()  # dropout off; BatchNorm with its initial statistics
    norms = calibrate_heads(model, augment(calibration, gen)[0].to(DEVICE), rescale=a.init is None)
    head_lrs = [a.head_step / n for n in norms]
    print(
        "head input L1 norms",
        [round(n) for n in norms],
        "head lrs",
        [f"{x:.2g}" for x in head_lrs],
        flush=True,
    )
    head_params = {id(p) for h in model.heads for p in h.parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in head_params], "lr": a.lr}]
    groups += [
        {"params": list(h.parameters()), "lr": lr} for h, lr in zip(model.heads, head_lrs, strict=True)
    ]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    total = a.epochs * a.steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / a.warmup_steps)
            * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        ),
    )
    labels = torch.tensor([NORMAL, COVID]).repeat(a.pairs_per_batch).to(DEVICE)
    history = []
    t_train = time.time()
    for epoch in range(1, a.epochs + 1):
        train_mode(model, frozen_bn=a.init is not None)
        sums = np.zeros(6)
        for step in range(1, a.steps_per_epoch + 1):
            idx = rng.integers(len(train.hu), size=a.pairs_per_batch)
            var = rng.integers(a.variants, size=a.pairs_per_batch)
            pairs = torch.stack([to_raw(train.hu[idx]), to_raw(train.lesioned[idx, var])], dim=1)
            images, masks = augment(pairs, gen, pair_masks(train, idx, var) if a.cam_weight > 0 else None)
            masks = masks.to(DEVICE) if masks is not None else None
            loss, main_ce, attention, heads, probs = losses(
                model, images.to(DEVICE), labels, a.aux_weight, masks, a.cam_weight
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            sched.step()
            acc = float(((probs[:, COVID] >= 0.5) == (labels == COVID)).float().mean())
            sums += (loss.item(), main_ce.item(), attention.item(), acc, *live_fractions(heads))
            if step % 10 == 0:
                print(
                    f"  epoch {epoch} step {step}: loss {loss.item():.3f} ({time.time() - t_train:.0f} s)",
                    flush=True,
                )
        mean = sums / a.steps_per_epoch
        p_val, val_heads, val_cams = predict(model, val_raw)
        record = {
            "epoch": epoch,
            "seconds": round(time.time() - t_train, 1),
            "train_loss": round(mean[0], 4),
            "train_main_ce": round(mean[1], 4),
            "train_cam_loss": round(mean[2], 4),
            "train_accuracy": round(mean[3], 4),
            "live_head_units_train": round(mean[4], 3),
            "live_head_outputs_train": round(mean[5], 3),
            "live_head_units_validation": round(live_fractions(val_heads)[0], 3),
            "validation": binary_metrics(p_val, val_covid),
            "validation_p_covid_mean_clean": round(float(p_val[~val_covid].mean()), 4),
            "validation_cam_lesioned": cam_scores(val_cams[val_covid], val.lungs, val.lesion_masks[:, 0]),
        }
        history.append(record)
        print(json.dumps(record), flush=True)
        if a.log:
            with open(a.log, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        provenance = {
            "kind": "trained",
            "data": {
                "source": "COVID-CT-MD (Afshar et al., Scientific Data 8:121, 2021)",
                "train_series": list(TRAIN_SERIES),
                "train_slices": len(train.hu),
                "validation_series": list(VALIDATION_SERIES),
                "validation_slices": len(val.hu),
                "scheme": "paired: uninfected selector-kept slices as normal, the same slices with lesions "
                "inserted by lunglens.synthetic.insert_lesions (severity 0.15-1) as COVID-19",
                "augmentation": "flips, rotation 0-360 deg, scale 0.8-1.2, shift +-5 %, white noise "
                "0-20 HU, blur/sharpen kernel",
            },
            "epochs": epoch,
            "steps": epoch * a.steps_per_epoch,
            "batch_images": 2 * a.pairs_per_batch,
            "seconds": round(time.time() - t0),
            "seed": a.seed,
            "width": a.width,
            "cam_loss_weight": a.cam_weight,
            "command": command,
            "hardware": f"{DEVICE.type}: "
            + (torch.cuda.get_device_name() if DEVICE.type == "cuda" else f"{a.threads} CPU threads"),
        }
        if init_card is not None:
            provenance["initialised_from"] = {
                "sha256": init_card["sha256"],
                "provenance": init_card["provenance"],
                "metrics": {"validation": init_card["metrics"].get("validation")},
            }
        try:  # export's contract check refuses an input-independent model: keep the last good epoch
            card = export(
                exportable(model),
                a.out,
                name="lunglens-demo",
                version=a.version,
                provenance=provenance,
                intended_use=INTENDED_USE,
                licence=LICENCE,
                metrics={"validation": record["validation"], "training_history": history},
            )
        except AssertionError as exc:
            print(f"epoch {epoch} not exported: {exc}", flush=True)
            continue
        print(f"exported {a.out} sha256 {card.sha256[:12]}", flush=True)


if __name__ == "__main__":
    main()
