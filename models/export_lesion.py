"""Export the Polat lesion CNN to the dense lesion model contract (DESIGN.md section 9), and convert a
lesion ONNX of the earlier patch contract to it.

The exported graph is `DenseWithSoftmax` (models/lesion_architecture.py): input `image` float32
[N, 1, H, W] grey 0..255 (H, W >= 28, all three dynamic), output `probabilities` [N, 2, H', W'] with
H' = (H - 28) // 4 + 1; output (i, j) is the patch probability of the 28 x 28 patch whose top-left
corner is (4 i, 4 j). `export` is the one entry point: it checks the ONNX graph against torch (the
patch classifier on patches, the dense graph on a whole image, and dense against patch) before it
writes the .onnx and its card.

Convert the shipped patch-contract model (card format 1) to the dense graph with the same weights
(read from its ONNX initializers into `PolatPatchCNN`, checked against the old graph):

    python -m models.export_lesion --convert models/lunglens-lesion.json --out models/lunglens-lesion.onnx
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lunglens.atomic import write_atomically
from lunglens.inference.card import sha256_of
from lunglens.inference.lesion_card import LesionModelCard
from lunglens.quant.lesion_map import ASSUMED_THORAX_WIDTH_MM
from models.cli import INPUT_ERRORS, BadInput, check_model_output, fail
from models.lesion_architecture import OUTPUT_STRIDE, PATCH_PX, DenseWithSoftmax, PolatPatchCNN

OPSET = 17
INTENDED_USE = (
    "Demonstration and research only. Not a medical device; not for diagnosis. Trained on 50 "
    "non-commercial slices and on synthetic lesions inserted into real CT series."
)
LICENCE = "model weights: non-commercial (trained on COVID-SemiSeg/MedSeg data, Inf-Net's terms)"
PATCH_INITIALIZERS = {
    "model.features.0.weight": "features.0.weight",
    "model.features.0.bias": "features.0.bias",
    "model.features.3.weight": "features.3.weight",
    "model.features.3.bias": "features.3.bias",
    "model.classifier.1.weight": "classifier.1.weight",
    "model.classifier.1.bias": "classifier.1.bias",
    "model.classifier.4.weight": "classifier.4.weight",
    "model.classifier.4.bias": "classifier.4.bias",
}
"""Initializer of a patch-contract ONNX (the torch export of the patch net + softmax) -> `PolatPatchCNN`
parameter."""


@dataclass(frozen=True)
class TrainingRecord:
    """What a card says about how the weights were made (from the training script, or from the card
    of a converted model)."""

    class_names: tuple[str, ...]
    lesion_index: int
    pixel_mm: float
    provenance: dict
    training_data: tuple[dict, ...]


def to_onnx_bytes(model: PolatPatchCNN) -> bytes:
    """The dense graph of `model` (eval mode) as checked ONNX bytes, dynamic N, H and W."""
    import onnx

    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            DenseWithSoftmax(model.eval()).eval(), (torch.zeros(1, 1, PATCH_PX + 2 * OUTPUT_STRIDE, PATCH_PX),),
            buffer, dynamo=False, opset_version=OPSET, input_names=["image"], output_names=["probabilities"],
            dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "probabilities": {0: "N", 2: "H_out", 3: "W_out"}},
        )  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def check_against_torch(model: PolatPatchCNN, data: bytes, lesion_index: int, atol: float = 1e-5) -> None:
    """Raise AssertionError unless the ONNX dense graph `data` matches torch: on 28 x 28 patches (the
    patch classifier), on a whole image (the dense graph), and dense output (i, j) against the patch
    at (4 i, 4 j) classified alone."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    patches = rng.uniform(0, 255, (16, 1, PATCH_PX, PATCH_PX)).astype(np.float32)
    image = rng.uniform(0, 255, (2, 1, 61, 47)).astype(np.float32)
    onnx_patches = session.run(["probabilities"], {"image": patches})[0]
    onnx_dense = session.run(["probabilities"], {"image": image})[0]
    with torch.no_grad():
        torch_patches = torch.softmax(model.eval()(torch.from_numpy(patches)), 1).numpy()
        torch_dense = DenseWithSoftmax(model)(torch.from_numpy(image)).numpy()
        windows = np.lib.stride_tricks.sliding_window_view(image[1, 0], (PATCH_PX, PATCH_PX))
        cut = windows[::OUTPUT_STRIDE, ::OUTPUT_STRIDE].reshape(-1, 1, PATCH_PX, PATCH_PX)
        one_by_one = torch.softmax(model(torch.from_numpy(np.ascontiguousarray(cut))), 1).numpy()
    expected_shape = (2, 2, (61 - PATCH_PX) // OUTPUT_STRIDE + 1, (47 - PATCH_PX) // OUTPUT_STRIDE + 1)
    problems = []
    if onnx_patches.shape != (16, 2, 1, 1) or not np.allclose(
        onnx_patches[:, :, 0, 0], torch_patches, atol=atol
    ):
        problems.append("patches: ONNX and torch disagree")
    if onnx_dense.shape != expected_shape or not np.allclose(onnx_dense, torch_dense, atol=atol):
        problems.append(f"image: ONNX {onnx_dense.shape} and torch {torch_dense.shape} disagree")
    elif not np.allclose(onnx_dense[1, lesion_index].ravel(), one_by_one[:, lesion_index], atol=atol):
        problems.append("the dense output is not the patch probability of the stride-4 patches")
    if problems:
        raise AssertionError("the lesion model export is wrong: " + "; ".join(problems))


def export(
    model: PolatPatchCNN,
    path: Path,
    *,
    command: str,
    metrics: dict,
    version: str = "1.0.0",
    training: TrainingRecord | None = None,
    inputs: Iterable[Path] = (),
) -> LesionModelCard:
    """Write `path` (.onnx, the dense graph) and its card (.json), each atomically, after
    `check_against_torch`. Raises BadInput when `path` is not a .onnx or it or its card is one of
    `inputs` (the files the model was read from) before anything is computed (`check_model_output`).

    `training` (default: `models.train_lesion.training_record()`, the training script's recipe) gives
    the class order, pixel size, provenance and training data the card states."""
    path = Path(path)
    check_model_output(path, inputs)
    if training is None:
        from models.train_lesion import training_record  # train_lesion imports this module

        training = training_record()
    data = to_onnx_bytes(model)
    check_against_torch(model, data, training.lesion_index)
    write_atomically(path, data)
    card = LesionModelCard(
        name="lunglens-lesion",
        version=version,
        onnx_file=path.name,
        sha256=sha256_of(path),
        class_names=training.class_names,
        lesion_index=training.lesion_index,
        patch_px=PATCH_PX,
        pixel_mm=training.pixel_mm,
        output_stride=OUTPUT_STRIDE,
        input_grey=(
            f"float32 [N, 1, H, W] (H, W >= {PATCH_PX}), grey 0..255 of the lung window W 1500 / L -600 HU mapped "
            "to 8 bit and clipped (-1350 HU -> 0, +150 HU -> 255), at pixel_mm per pixel; 8-bit images without "
            f"spacing are scaled so their largest tissue component spans {ASSUMED_THORAX_WIDTH_MM:g} mm. Output "
            f"probabilities [N, 2, (H - {PATCH_PX}) // {OUTPUT_STRIDE} + 1, (W - {PATCH_PX}) // {OUTPUT_STRIDE} + 1]: "
            f"at (i, j) the patch probability of the {PATCH_PX} x {PATCH_PX} patch with top-left corner "
            f"({OUTPUT_STRIDE} i, {OUTPUT_STRIDE} j)"
        ),
        provenance=training.provenance,
        training_data=training.training_data,
        command=command,
        intended_use=INTENDED_USE,
        licence=LICENCE,
        architecture={
            "fc_width": model.fc_width,
            "dropout": model.dropout,
            "opset": OPSET,
            "graph": "fully convolutional (FC1 as a 4 x 4 convolution, FC2 as 1 x 1, softmax over channels)",
        },
        metrics=metrics,
    )
    card.save(path.with_suffix(".json"))
    return card


def model_from_patch_onnx(onnx_path: Path, fc_width: int, dropout: float) -> PolatPatchCNN:
    """The `PolatPatchCNN` whose weights are the initializers of a patch-contract lesion ONNX
    (image [N, 1, 28, 28] -> probabilities [N, 2]); checked to reproduce that graph on patches."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_path))
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    missing = sorted(set(PATCH_INITIALIZERS) - set(weights))
    if missing:
        raise ValueError(f"{onnx_path}: not a patch-contract lesion model (lacks {', '.join(missing)})")
    model = PolatPatchCNN(fc_width=fc_width, dropout=dropout)
    model.load_state_dict(
        {PATCH_INITIALIZERS[k]: torch.from_numpy(weights[k].copy()) for k in PATCH_INITIALIZERS}
    )
    model.eval()
    patches = np.random.default_rng(1).uniform(0, 255, (32, 1, PATCH_PX, PATCH_PX)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ours = torch.softmax(model(torch.from_numpy(patches)), 1).numpy()
    if not np.allclose(session.run(["probabilities"], {"image": patches})[0], ours, atol=1e-5):
        raise ValueError(f"{onnx_path}: its weights read into PolatPatchCNN do not reproduce the graph")
    return model


def convert(card_path: Path, out: Path, command: str) -> LesionModelCard:
    """Export the weights of the patch-contract model described by `card_path` as the dense graph at
    `out` (.onnx + card). The card keeps the old one's figures, provenance and training command and
    records the conversion (`command`, the source sha256) under provenance["dense_graph"]. Raises
    BadInput for a card that is not a patch-contract lesion card or does not match its model, and
    when `out` or its card would replace the card or the model read."""
    try:
        old = json.loads(Path(card_path).read_text(encoding="utf-8"))
        source = Path(card_path).parent / old["onnx_file"]
        architecture = old["architecture"]
        fc_width, dropout = architecture["fc_width"], architecture["dropout"]
        training = TrainingRecord(
            class_names=tuple(old["class_names"]),
            lesion_index=int(old["lesion_index"]),
            pixel_mm=float(old["pixel_mm"]),
            provenance={
                **old.get("provenance", {}),
                "dense_graph": {
                    "converted_from_sha256": old["sha256"],
                    "converted_from_version": old["version"],
                    "command": command,
                },
            },
            training_data=tuple(old.get("training_data", ())),
        )
        major, minor, _ = (old["version"].split(".") + ["0", "0"])[:3]
        version = f"{major}.{int(minor) + 1}.0"  # same weights, new graph
        training_command, metrics = old["command"], old["metrics"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise BadInput(f"{card_path}: not the card of a patch-contract lesion model ({reason})") from exc
    if sha256_of(source) != old["sha256"]:
        raise BadInput(f"{source}: sha256 does not match {card_path}")
    model = model_from_patch_onnx(source, fc_width, dropout)
    return export(
        model,
        out,
        command=training_command,
        metrics=metrics,
        version=version,
        training=training,
        inputs=[card_path, source],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convert", required=True, help="card (.json) of a patch-contract lesion model")
    parser.add_argument("--out", required=True, help="the dense .onnx to write (its card beside it)")
    args = parser.parse_args(argv)
    command = "python -m models.export_lesion " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        card = convert(Path(args.convert), Path(args.out), command.strip())
    except INPUT_ERRORS as exc:
        return fail(exc)
    print(
        f"wrote {args.out} ({card.sha256[:12]}), {card.name} {card.version}, dense, stride {card.output_stride}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
