"""Quantise an exported model to int8 for the CPU and write its card beside it (issue 4).

Static quantisation (QDQ, per-channel int8 weights, uint8 activations) of the convolutions, calibrated
on synthetic phantom slices (`lunglens.synthetic.make_phantom`: no real patient is used, so the real
series stay independent for measuring agreement). The Dense heads, the softmax and the in-graph Grad-CAM
stay float32. `--mode dynamic` instead quantises the convolution weights only (activations quantised at
run time).

Shared initializers are split first: the heads' weights feed both the classifier's Gemm and the CAM's
MatMul, and onnxruntime's quantiser rewrites a Gemm into a MatMul by transposing its weight in place,
which broke the CAM's MatMul (the model then failed to load: "Incompatible dimensions for matrix
multiplication").

    python -m models.quantize_int8 models/full.onnx full-int8.onnx [--mode static|dynamic]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import tempfile
from pathlib import Path

import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from lunglens.atomic import write_atomically
from lunglens.inference.card import ModelCard, sha256_of
from lunglens.inference.preprocess import to_model_input
from lunglens.synthetic import make_phantom
from models.cli import INPUT_ERRORS, BadInput, check_model_output, fail

QUANTISED_OPS = ["Conv"]


def split_shared_initializers(model: onnx.ModelProto) -> int:
    """Give every node after the first that reads an initializer its own copy of it (in place), reading
    initializers directly where the exporter named them through an Identity node. Returns the number of
    copies made."""
    graph = model.graph
    by_name = {t.name: t for t in graph.initializer}
    aliases = {
        n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity" and n.input[0] in by_name
    }
    for node in [n for n in graph.node if n.output[0] in aliases]:
        graph.node.remove(node)
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = aliases.get(name, name)
    seen: collections.Counter[str] = collections.Counter()
    copies = 0
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name not in by_name:
                continue
            seen[name] += 1
            if seen[name] == 1:
                continue
            copy = onnx.TensorProto()
            copy.CopyFrom(by_name[name])
            copy.name = f"{name}__copy{seen[name] - 1}"
            graph.initializer.append(copy)
            node.input[k] = copy.name
            copies += 1
    return copies


class PhantomSlices(CalibrationDataReader):
    """Calibration batches: lung-level slices of a seeded phantom with lesions, model input scale."""

    def __init__(self, n_slices: int = 48, batch: int = 4, seed: int = 0) -> None:
        hu = make_phantom(n_slices, seed=seed, covid_severity=0.5).hu
        middle = hu[n_slices // 4 : 3 * n_slices // 4]
        self.batches = iter([to_model_input(middle[i : i + batch]) for i in range(0, len(middle), batch)])

    def get_next(self) -> dict | None:
        image = next(self.batches, None)
        return None if image is None else {"image": image}


def quantize(source: Path, target: Path, mode: str = "static") -> ModelCard:
    """Write the int8 model `target` (.onnx) and its card, each atomically; returns the card. Raises
    BadInput when `target` or its card would replace `source` or its card (`check_model_output`) or
    `source` is not the model its card describes, ValueError for an invalid card."""
    source_card = source.with_suffix(".json")
    check_model_output(target, [source, source_card])
    card = ModelCard.load(source_card)
    if sha256_of(source) != card.sha256:
        raise BadInput(f"{source}: sha256 does not match its card {source_card}")
    model = onnx.load(str(source))
    split_shared_initializers(model)
    with tempfile.TemporaryDirectory() as tmp:
        split, prepared = Path(tmp) / "split.onnx", Path(tmp) / "prepared.onnx"
        written = Path(tmp) / "int8.onnx"
        onnx.save(model, str(split))
        quant_pre_process(str(split), str(prepared))  # shape inference and graph optimisation
        if mode == "static":
            quantize_static(
                str(prepared),
                str(written),
                PhantomSlices(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=QUANTISED_OPS,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        else:
            quantize_dynamic(
                str(prepared), str(written), weight_type=QuantType.QInt8, op_types_to_quantize=QUANTISED_OPS
            )
        write_atomically(target, written.read_bytes())
    quantised = dataclasses.replace(
        card,
        name=f"{card.name}-int8",
        onnx_file=target.name,
        sha256=sha256_of(target),
        provenance={
            "kind": "quantized",
            "method": f"onnxruntime {mode} int8 quantisation of {', '.join(QUANTISED_OPS)}"
            + (", calibrated on phantom slices" if mode == "static" else ""),
            "source_name": card.name,
            "source_sha256": card.sha256,
            "source_provenance": card.provenance,
        },
    )
    write_atomically(target.with_suffix(".json"), quantised.to_json().encode("utf-8"))
    return quantised


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="an exported .onnx with its .json card beside it")
    ap.add_argument("target", type=Path, help="the int8 .onnx to write (its card goes beside it)")
    ap.add_argument("--mode", choices=("static", "dynamic"), default="static")
    a = ap.parse_args(argv)
    try:
        source_mb = a.source.stat().st_size / 1e6
        card = quantize(a.source, a.target, a.mode)
    except INPUT_ERRORS as exc:
        return fail(exc)
    size = a.target.stat().st_size / 1e6
    print(f"wrote {a.target} ({size:.1f} MB, from {source_mb:.1f} MB), sha256 {card.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
