"""Export a `ResNet50V2FPN` to the ONNX model contract (DESIGN.md section 2), Grad-CAM in the graph.

The ONNX graph takes `image` float32 [N, 1, 512, 512] (raw scale, dynamic N) and returns
`probabilities` [N, 2] (index 0 = COVID, 1 = normal) and `cam` [N, 1, 32, 32] (non-negative,
unnormalised; one cell = 16 x 16 input pixels).

Grad-CAM in closed form (no autograd at run time). The score is the *pre-softmax logit* of the target
class t (COVID, index 0), as in Selvaraju et al. Each level P_l reaches the logits only through
Flatten -> Dense(2) -> ReLU -> final Dense, so

    d logit_t / d P_l = sum_j W_final[t, 2l + j] * 1[z_lj > 0] * W_head_l[j] unflattened to [C, H, W]

with z_lj the pre-ReLU output of head l, unit j. P6 also feeds P7 through C6_relu, so its gradient adds
the P7 gradient brought back through the P7 conv (a transposed conv, cropped by Keras's "same"
padding) and masked by 1[P6 > 0]: the total derivative, as autograd computes it. Per level, channel
weights = spatial mean of the gradient; map = ReLU(sum_c weight_c * P_l[c]). The maps of P3 and P4
(valid 3x3 convs, which drop one border cell of their input grid) are zero-padded by one cell so each
map covers the whole image; every map is then resized bilinearly (half-pixel centres) to 32 x 32 and
the five are summed.

    python -m models.export_onnx --width 0.125 out.onnx    # an untrained model, for app development
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from models.architecture import LEVEL_NAMES, Features, ResNet50V2FPN

try:
    from lunglens.inference.card import ModelCard, sha256_of
except ModuleNotFoundError:  # a checkout without `pip install -e .`: app/ is the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
    from lunglens.inference.card import ModelCard, sha256_of
from lunglens.atomic import write_atomically  # after the fallback above: both import lunglens
from models.cli import INPUT_ERRORS, check_model_output, fail

CAM_SIZE = (32, 32)
"""Grad-CAM resolution: stride 16 on a 512 x 512 input."""
CLASS_NAMES = ("COVID-19", "normal")
COVID_INDEX = 0
OPSET = 17
VALID_CONV_LEVELS = (0, 1)
"""Levels (P3, P4) made by a valid 3x3 conv: their maps are padded by one cell before resizing."""
CAM_DESCRIPTION = (
    "Grad-CAM of the pre-softmax logit of class cam_target_index over P3..P7 (closed form in the graph, "
    "total derivative), P3/P4 maps zero-padded by 1 cell, each resized bilinearly to cam_size, summed"
)


def fuse_level_maps(maps: list[torch.Tensor], size: tuple[int, int] = CAM_SIZE) -> torch.Tensor:
    """Five per-level maps [N, 1, H_l, W_l] (P3..P7) -> one map [N, 1, *size], their sum after padding
    the valid-conv levels by one cell and a bilinear resize (align_corners=False)."""
    fused = None
    for level, m in enumerate(maps):
        if level in VALID_CONV_LEVELS:
            m = F.pad(m, (1, 1, 1, 1))
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        fused = m if fused is None else fused + m
    return fused


def grad_cam_map(feature: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """feature, gradient [N, C, H, W] -> ReLU(sum_c mean_hw(gradient)_c * feature_c), [N, 1, H, W]."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * feature).sum(dim=1, keepdim=True))


class ClassifierWithCAM(nn.Module):
    """The exported graph: image [N, 1, S, S] -> (probabilities [N, 2], cam [N, 1, *CAM_SIZE]), the CAM
    of class `target_index`. `model` must be in eval mode (dropout off)."""

    def __init__(self, model: ResNet50V2FPN, target_index: int = COVID_INDEX) -> None:
        super().__init__()
        self.model = model
        self.target_index = target_index
        self.level_shapes = [
            (h, w, head.in_features // (h * w))
            for (h, w), head in zip(model.grid.level_sizes(), model.heads, strict=True)
        ]

    def level_gradients(
        self, levels: tuple[torch.Tensor, ...], head_preact: torch.Tensor
    ) -> list[torch.Tensor]:
        """d logit_target / d P_l for each level, [N, C, H_l, W_l] (closed form, see module docstring)."""
        final_w = self.model.final.weight[self.target_index].reshape(len(LEVEL_NAMES), 2)
        gate = final_w * (head_preact > 0).to(head_preact.dtype)  # [N, 5, 2]
        grads = []
        for level, (head, (h, w, c)) in enumerate(zip(self.model.heads, self.level_shapes, strict=True)):
            flat = gate[:, level] @ head.weight  # [N, H*W*C], Keras's H, W, C flatten order
            grads.append(flat.reshape(-1, h, w, c).permute(0, 3, 1, 2))
        p6, side = levels[3], self.model.grid.p6
        back = F.conv_transpose2d(grads[4], self.model.P7.weight, stride=self.model.P7.stride)
        left, _, top, _ = self.model.p7_padding  # drop the rows/columns that were Keras's "same" padding
        back = back[:, :, top : top + side, left : left + side]
        grads[3] = grads[3] + back * (p6 > 0).to(p6.dtype)
        return grads

    def cam(self, feats: Features) -> torch.Tensor:
        """The fused Grad-CAM [N, 1, *CAM_SIZE] of the model's Features (differentiable)."""
        grads = self.level_gradients(feats.levels, feats.head_preact)
        return fuse_level_maps([grad_cam_map(p, g) for p, g in zip(feats.levels, grads, strict=True)])

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(image)
        return feats.probabilities, self.cam(feats)


def ct_like_inputs(n: int, seed: int = 0) -> np.ndarray:
    """Raw-scale CT-like slices [n, 1, 512, 512] float32: a body disc with two dark lungs and noise
    (the phantoms of make_keras_reference.ct_like_inputs, channel first)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:512, :512]
    out = []
    for _ in range(n):
        img = np.full((512, 512), 24.0)
        img[((yy - 256) / 200.0) ** 2 + ((xx - 256) / 240.0) ** 2 < 1] = 1064
        for cx in (170, 342):
            img[((yy - 250) / rng.uniform(110, 150)) ** 2 + ((xx - cx) / rng.uniform(60, 90)) ** 2 < 1] = 174
        out.append(img + rng.normal(0, 30, img.shape))
    return np.clip(np.stack(out), 0, None)[:, None].astype(np.float32)


def assert_input_dependent(predict, min_log_difference: float = 1e-3, seed: int = 7) -> None:
    """Raise AssertionError when `predict` (images [N, 1, 512, 512] float32 -> probabilities [N, 2]) gives
    (nearly) the same output for two different CT-like slices: a dead or constant model. Compares log
    probabilities, so a confident model (P near 0 or 1 for both) still passes when it sees a difference."""
    probs = np.asarray(predict(ct_like_inputs(2, seed)), dtype=np.float64)
    logp = np.log(np.clip(probs, 1e-30, None))
    difference = float(np.abs(logp[0] - logp[1]).max())
    if difference <= min_log_difference:
        raise AssertionError(
            f"model output does not depend on its input: log-probabilities of two different CT-like slices "
            f"differ by {difference:.3g} (<= {min_log_difference:g}); dead heads or constant output"
        )


def onnx_predict(session):
    """An onnxruntime session as a function images -> probabilities, for `assert_input_dependent`."""
    return lambda images: session.run(["probabilities"], {"image": images})[0]


def to_onnx_bytes(model: ResNet50V2FPN) -> bytes:
    """The ONNX graph (opset 17, TorchScript exporter, constants folded) of `model` with in-graph CAM at
    CAM_SIZE. Puts `model` in eval mode. The same weights give the same bytes."""
    wrapper = ClassifierWithCAM(model.eval()).eval()
    example = torch.zeros(1, 1, model.input_size, model.input_size)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter is deprecated but needs no onnxscript; its Pad leaves a step -1 Slice unfolded
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        torch.onnx.export(
            wrapper, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=["image"], output_names=["probabilities", "cam"],
            dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}, "cam": {0: "N"}},
        )  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    cam_dims = proto.graph.output[1].type.tensor_type.shape.dim  # the exporter leaves them symbolic
    for dim, value in zip(cam_dims[1:], (1, *CAM_SIZE), strict=True):
        dim.dim_value = value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def check_contract(onnx_bytes: bytes) -> None:
    """Run the graph with onnxruntime (CPU) on two CT-like slices; raise AssertionError unless the outputs
    have the contract's shapes and depend on the input (see `assert_input_dependent`)."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    probs, cam = session.run(["probabilities", "cam"], {"image": ct_like_inputs(2, seed=3)})
    if probs.shape != (2, 2) or cam.shape != (2, 1, *CAM_SIZE):
        raise AssertionError(f"exported shapes {probs.shape}, {cam.shape} break the model contract")
    assert_input_dependent(onnx_predict(session))


def export(
    model: ResNet50V2FPN,
    path: Path,
    *,
    name: str,
    version: str,
    provenance: dict,
    intended_use: str,
    licence: str,
    metrics: dict | None = None,
    check: bool = True,
    inputs: Iterable[Path] = (),
) -> ModelCard:
    """Write `path` (.onnx) and its card `path.with_suffix(".json")`, each atomically; returns the card.

    With `check` (see `check_contract`), nothing is written unless the graph passes. Raises BadInput,
    before anything is computed, when `path` is not a .onnx or it or its card is one of `inputs` (the
    files the model was made from; `check_model_output`).
    """
    path = Path(path)
    check_model_output(path, inputs)
    onnx_bytes = to_onnx_bytes(model)
    if check:
        check_contract(onnx_bytes)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, onnx_bytes)
    card = ModelCard(
        name=name,
        version=version,
        onnx_file=path.name,
        sha256=sha256_of(path),
        class_names=CLASS_NAMES,
        covid_index=COVID_INDEX,
        cam_target_index=COVID_INDEX,
        cam_size=CAM_SIZE,
        provenance=provenance,
        intended_use=intended_use,
        licence=licence,
        input_size=model.input_size,
        architecture={
            "family": "ResNet50V2 + concatenation FPN (P3-P7), Rahimzadeh et al.",
            "width": model.width,
            "parameters": sum(p.numel() for p in model.parameters()),
            "opset": OPSET,
            "cam": CAM_DESCRIPTION,
        },
        metrics=metrics or {},
    )
    card.save(path.with_suffix(".json"))
    return card


def weighted_modules(model: ResNet50V2FPN) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
    """The model's Conv, BatchNorm and Dense layers in the order the exported graph computes them, each
    with the BatchNorm the exporter fuses into it (a block's conv1 and conv2) or None."""
    out: list[tuple[nn.Module, nn.BatchNorm2d | None]] = [(model.conv1_conv, None)]
    for stage in model.stages:
        for b in stage:
            out += [(b.preact_bn, None)] + ([(b.conv0, None)] if b.conv0 is not None else [])
            out += [(b.conv1, b.bn1), (b.conv2, b.bn2), (b.conv3, None)]
    out.append((model.post_bn, None))
    out += [(getattr(model, n), None) for n in ("C5_reduced", "P5", "C4_reduced", "P4", "C3_reduced", "P3")]
    out += [(model.P6, None), (model.P7, None), *((h, None) for h in model.heads), (model.final, None)]
    return out


@torch.no_grad()
def load_exported(path: Path, width: float) -> ResNet50V2FPN:
    """A PyTorch model computing what the ONNX at `path` (written by `export`) computes: the inverse of
    the export, for fine-tuning a shipped model.

    The exporter fuses each block's conv1 and conv2 with the BatchNorm after it; those come back as the
    fused conv and an identity BatchNorm holding the bias (mean 0, variance 1 - eps, scale 1), which is
    exact in eval mode. Keep the BatchNorms in eval mode when training the result."""
    graph = onnx.load(str(path)).graph
    arrays = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in graph.initializer}
    # the exporter keeps one copy of equal initializers (a first block's conv0 and conv3 biases get equal
    # gradients, so they stay equal) and names the others through Identity nodes
    arrays.update({n.output[0]: arrays[n.input[0]] for n in graph.node if n.op_type == "Identity"})
    nodes = [n for n in graph.node if n.op_type in ("Conv", "BatchNormalization", "Gemm")]
    model = ResNet50V2FPN(width=width).eval()
    pairs = weighted_modules(model)
    if len(nodes) < len(pairs):
        raise ValueError(f"{path}: {len(nodes)} weighted nodes, the model at width {width} has {len(pairs)}")
    for node, (module, fused_bn) in zip(nodes, pairs, strict=False):
        values = [arrays[name] for name in node.input[1:]]
        if fused_bn is not None:
            targets = (module.weight, fused_bn.bias)
            fused_bn.weight.fill_(1.0)
            fused_bn.running_mean.zero_()
            fused_bn.running_var.fill_(1.0 - fused_bn.eps)
        elif isinstance(module, nn.BatchNorm2d):
            targets = (module.weight, module.bias, module.running_mean, module.running_var)
        else:
            targets = (module.weight, module.bias)
        for target, value in zip(targets, values, strict=True):
            if target.shape != value.shape:
                raise ValueError(
                    f"{path}: node {node.name} has {tuple(value.shape)}, expected {tuple(target.shape)}"
                )
            target.copy_(value)
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Export an untrained (randomly initialised) model, for app development."
    )
    ap.add_argument("out", type=Path, help="the .onnx file to write; the card goes beside it as .json")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    try:
        card = export(
            ResNet50V2FPN(width=a.width),
            a.out,
            name=a.out.stem,
            version="0.0.0",
            provenance={"kind": "untrained", "seed": a.seed},
            intended_use="Software testing only: random weights, its outputs mean nothing.",
            licence="MIT",
        )
    except INPUT_ERRORS as exc:
        sys.exit(fail(exc))
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB), sha256 {card.sha256}")


if __name__ == "__main__":
    main()
