"""Convert the authors' Keras-2 HDF5 model (FPN-fold*.hdf5) to the ONNX model contract (DESIGN.md 2).

    python -m models.convert_keras FPN-fold1.hdf5 models/fpn-fold1.onnx [--name ...] [--version ...]

Reads the weights with h5py only (no TensorFlow): the Keras-2 layout is
`model_weights/<layer>/<layer>/<weight>:0`, each layer group listing its weights in its
`weight_names` attribute. Every weighted layer is mapped onto `models.architecture.ResNet50V2FPN`:
conv kernels HWIO -> OIHW, BatchNorm gamma/beta/moving_mean/moving_variance, Dense kernels [in, out]
-> [out, in] (the model flattens in Keras's H, W, C order, so Dense kernels need no reordering). Keras
names the Dense layers itself (dense, dense_1 ... or with other numbers when several models were built
in one session); they are matched by kernel shape, in file order among equal shapes. A missing,
unexpected or mis-shaped layer stops the conversion with a message naming it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from models.architecture import LEVEL_NAMES, ResNet50V2FPN
from models.cli import INPUT_ERRORS, check_model_output, fail
from models.export_onnx import export, sha256_of

PAPER = "Rahimzadeh, Attar & Sakhaei 2020, doi 10.1101/2020.06.08.20121541"


class ConversionError(ValueError):
    """The HDF5 file does not hold the ResNet50V2-FPN classifier this converter expects."""


def read_keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> {weight name ("kernel", "bias", "gamma", ...): array} for every layer with weights,
    in the file's layer order. The layer is the path segment before the weight's own name
    ("conv1_conv/kernel:0"), so a backbone saved as one nested model layer is read the same way."""
    with h5py.File(path, "r") as fh:
        root = fh.get("model_weights", fh)
        if "layer_names" not in root.attrs:
            raise ConversionError(f"{path}: not a Keras HDF5 model (no layer_names attribute)")
        layers: dict[str, dict[str, np.ndarray]] = {}
        for raw in root.attrs["layer_names"]:
            group_name = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[group_name]
            for raw_w in group.attrs.get("weight_names", []):
                wname = raw_w.decode() if isinstance(raw_w, bytes) else str(raw_w)
                *prefix, last = wname.split("/")
                layer = prefix[-1] if prefix else group_name
                key = re.sub(r":\d+$", "", last)
                if key in layers.setdefault(layer, {}):
                    raise ConversionError(f"{path}: weight {layer}/{key} appears twice")
                layers[layer][key] = np.asarray(group[wname], dtype=np.float32)
    return layers


def infer_width(layers: dict[str, dict[str, np.ndarray]]) -> float:
    """The width multiplier from conv1_conv's filter count (64 at width 1.0)."""
    if "conv1_conv" not in layers:
        raise ConversionError("no layer conv1_conv: not a keras.applications ResNet50V2")
    return layers["conv1_conv"]["kernel"].shape[-1] / 64


def _copy(target: torch.Tensor, value: np.ndarray, what: str, axes: tuple[int, ...] | None = None) -> None:
    """Copy the file's array `value` into `target`, its axes permuted by `axes` (Keras -> PyTorch layout)
    first; a shape mismatch is reported in the file's layout."""
    if axes is not None:
        value = np.ascontiguousarray(value.transpose(axes))
    if tuple(target.shape) != value.shape:
        back = np.argsort(axes) if axes is not None else range(value.ndim)
        found, expected = (tuple(shape[i] for i in back) for shape in (value.shape, tuple(target.shape)))
        raise ConversionError(f"{what}: shape {found} in the file, the model expects {expected}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(value))


def _weights(layers: dict, name: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if name not in layers:
        raise ConversionError(f"layer {name} missing from the file")
    got = layers[name]
    missing = [k for k in keys if k not in got]
    if missing or set(got) - set(keys):
        raise ConversionError(f"layer {name}: weights {sorted(got)}, expected {list(keys)}")
    return got


def load_into(model: ResNet50V2FPN, layers: dict[str, dict[str, np.ndarray]]) -> None:
    """Copy every Keras layer's weights into `model`; raises ConversionError on any mismatch."""
    used = set()
    for name, module in model.keras_layers().items():
        if isinstance(module, nn.BatchNorm2d):
            w = _weights(layers, name, ("gamma", "beta", "moving_mean", "moving_variance"))
            _copy(module.weight, w["gamma"], f"{name}/gamma")
            _copy(module.bias, w["beta"], f"{name}/beta")
            _copy(module.running_mean, w["moving_mean"], f"{name}/moving_mean")
            _copy(module.running_var, w["moving_variance"], f"{name}/moving_variance")
        else:
            keys = ("kernel", "bias") if module.bias is not None else ("kernel",)
            w = _weights(layers, name, keys)
            _copy(module.weight, w["kernel"], f"{name}/kernel", axes=(3, 2, 0, 1))  # HWIO -> OIHW
            if module.bias is not None:
                _copy(module.bias, w["bias"], f"{name}/bias")
        used.add(name)
    dense_names = [n for n in layers if n not in used and layers[n].get("kernel", np.empty(0)).ndim == 2]
    for i, linear in enumerate(model.dense_layers()):
        shape = (linear.in_features, linear.out_features)
        match = next((n for n in dense_names if n not in used and layers[n]["kernel"].shape == shape), None)
        role = f"Dense head of {LEVEL_NAMES[i]}" if i < len(LEVEL_NAMES) else "final Dense"
        if match is None:
            found = {n: layers[n]["kernel"].shape for n in dense_names}
            raise ConversionError(
                f"no Dense layer with kernel {shape} for the {role}; Dense layers in the file: {found}"
            )
        w = _weights(layers, match, ("kernel", "bias"))
        _copy(linear.weight, w["kernel"], f"{match}/kernel", axes=(1, 0))
        _copy(linear.bias, w["bias"], f"{match}/bias")
        used.add(match)
    extra = [n for n in layers if n not in used]
    if extra:
        raise ConversionError(f"layers in the file that the model does not have: {extra}")


def load_keras_hdf5(path: Path) -> ResNet50V2FPN:
    """A PyTorch model in eval mode holding the weights of the Keras HDF5 file at `path` (512x512 input)."""
    layers = read_keras_weights(path)
    model = ResNet50V2FPN(width=infer_width(layers))
    load_into(model, layers)
    return model.eval()


def convert(source: Path, out: Path, *, name: str, version: str, licence: str):
    """Convert `source` (Keras HDF5) to `out` (.onnx) plus its card; returns the ModelCard."""
    source = Path(source)
    check_model_output(out, [source])  # before the weights are read and hashed
    model = load_keras_hdf5(source)
    return export(
        model,
        out,
        name=name,
        version=version,
        provenance={
            "kind": "converted",
            "source_file": source.name,
            "source_sha256": sha256_of(source),
            "method": PAPER,
            "converter": "models/convert_keras.py (h5py, no TensorFlow)",
            "input_scale_of_source": "raw 16-bit values (HU + 1024), no normalisation",
            "class_order_of_source": "index 0 = COVID-19, index 1 = normal",
        },
        intended_use="Research use only, not a medical device: reproduces the published classifier.",
        licence=licence,
        inputs=[source],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="the Keras-2 HDF5 file, e.g. FPN-fold1.hdf5")
    ap.add_argument("out", type=Path, help="the .onnx file to write; the card goes beside it as .json")
    ap.add_argument("--name", help="model name in the card (default: the output file's stem)")
    ap.add_argument("--version", default="1.0")
    ap.add_argument(
        "--licence", default="unknown: check the terms of the published weights before redistributing"
    )
    a = ap.parse_args(argv)
    try:
        card = convert(a.source, a.out, name=a.name or a.out.stem, version=a.version, licence=a.licence)
    except INPUT_ERRORS as exc:  # ConversionError is a ValueError
        return fail(exc)
    print(f"wrote {a.out} and {a.out.with_suffix('.json').name} (sha256 {card.sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
