"""The ResNet50V2 + concatenation-FPN COVID-19 classifier (Rahimzadeh et al.) in PyTorch.

Layer for layer the authors' Keras model (`../shared/tools/make_keras_reference.py`, which uses
`keras.applications.ResNet50V2`), including Keras's padding conventions, so that Keras HDF5 weights map
onto it one to one (`models/convert_keras.py`) and a model trained here has the same topology.

Shapes for the published input (N = batch, w = `width` multiplier, ch(c) = max(1, round(c * w))):

    image               [N, 1, 512, 512]  raw scale (HU + 1024), no normalisation
    conv1 (7x7/2)       [N, ch(64), 256, 256]      after ZeroPadding 3 and a valid conv
    pool1 (3x3/2 max)   [N, ch(64), 128, 128]      after ZeroPadding 1 (zeros, as Keras)
    conv2 (3 blocks)    [N, ch(256), 64, 64]       stride 2 on conv2_block3
    conv3 (4 blocks)    [N, ch(512), 32, 32]       stride 2 on conv3_block4
    C3  = conv4_block1_preact_relu   [N, ch(512), 32, 32]   (stride 16)
    conv4 (6 blocks)    [N, ch(1024), 16, 16]      stride 2 on conv4_block6
    C4  = conv5_block1_preact_relu   [N, ch(1024), 16, 16]
    C5  = post_relu                  [N, ch(2048), 16, 16]
    P3  [N, ch(256), 30, 30]   P4 [N, ch(256), 14, 14]   P5 [N, ch(256), 16, 16]
    P6  [N, ch(256), 8, 8]     P7 [N, ch(256), 4, 4]
    heads: Flatten (H, W, C order, as Keras flattens NHWC) -> Dropout 0.5 -> Dense(2, ReLU), one per level
    concat [N, 10] (P3 head first) -> Dense(2) -> softmax: probabilities [N, 2], index 0 = COVID, 1 = normal

The Dense layers' input sizes depend on the feature-map sizes, so the model is built for one input size
(`input_size`, default 512).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

BN_EPSILON = 1.001e-5
"""BatchNorm epsilon of keras.applications' ResNet V2."""
BN_MOMENTUM = 0.01
"""PyTorch momentum equivalent to Keras's BatchNormalization momentum 0.99."""
FPN_CHANNELS = 256
LEVEL_NAMES = ("P3", "P4", "P5", "P6", "P7")
STAGES = (("conv2", 64, 3, 2), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 1))
"""(name, filters, blocks, stride of the last block) of ResNet50V2's four stacks."""


def scaled(channels: int, width: float) -> int:
    """A channel count scaled by the width multiplier, at least 1."""
    return max(1, round(channels * width))


def _half(size: int) -> int:
    """Output side of a stride-2 layer whose output is ceil(size / 2) (strided blocks, "same" convs)."""
    return (size + 1) // 2


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of Keras/TF padding="same" along one axis of `size` pixels: the total
    max((ceil(size / stride) - 1) * stride + kernel - size, 0) is split with the larger half after
    (bottom/right). PyTorch's symmetric padding differs for stride 2."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class GridSizes(NamedTuple):
    """Side lengths (pixels of the feature grid) of the square maps for one input size."""

    c3: int
    c4: int
    p6: int
    p7: int

    @classmethod
    def for_input(cls, input_size: int) -> GridSizes:
        """512 -> c3 32, c4 16 (= C5, P5), p6 8, p7 4; P3 = c3 - 2 and P4 = c4 - 2 (valid 3x3 convs)."""
        s = (input_size + 6 - 7) // 2 + 1  # conv1: ZeroPadding 3, 7x7/2 valid
        s = (s + 2 - 3) // 2 + 1  # pool1: ZeroPadding 1, 3x3/2 valid
        c3 = _half(_half(s))  # strided last blocks of conv2 and conv3
        c4 = _half(c3)
        p6 = _half(c4)
        return cls(c3, c4, p6, _half(p6))

    def level_sizes(self) -> list[tuple[int, int]]:
        """(H, W) of P3..P7."""
        return [(self.c3 - 2,) * 2, (self.c4 - 2,) * 2, (self.c4,) * 2, (self.p6,) * 2, (self.p7,) * 2]


class PreactBlock(nn.Module):
    """One ResNet V2 bottleneck block (keras.applications.resnet_v2.block2).

    preact = ReLU(BN(x)); residual = conv1 1x1 -> BN -> ReLU -> ZeroPad 1 -> conv2 3x3/stride (valid)
    -> BN -> ReLU -> conv3 1x1 (with bias); shortcut = conv0 1x1/stride (with bias) on preact for the
    first block of a stack, MaxPool2D(1, stride) on x (not preact) for a strided block, else x.
    [N, in_channels, H, W] -> [N, 4 * filters, ceil(H / stride), ceil(W / stride)].
    """

    def __init__(self, in_channels: int, filters: int, stride: int, conv_shortcut: bool) -> None:
        super().__init__()
        self.stride = stride
        self.preact_bn = _bn(in_channels)
        self.conv0 = nn.Conv2d(in_channels, 4 * filters, 1, stride=stride) if conv_shortcut else None
        self.conv1 = nn.Conv2d(in_channels, filters, 1, bias=False)
        self.bn1 = _bn(filters)
        # Keras's ZeroPadding2D(1) + valid 3x3 conv = a PyTorch conv with padding 1
        self.conv2 = nn.Conv2d(filters, filters, 3, stride=stride, padding=1, bias=False)
        self.bn2 = _bn(filters)
        self.conv3 = nn.Conv2d(filters, 4 * filters, 1)

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (block output, the block's preact ReLU output — Keras's `<block>_preact_relu`)."""
        preact = F.relu(self.preact_bn(x))
        if self.conv0 is not None:
            shortcut = self.conv0(preact)
        elif self.stride > 1:
            shortcut = F.max_pool2d(x, 1, stride=self.stride)  # Keras: MaxPooling2D(1, strides=stride)
        else:
            shortcut = x
        r = F.relu(self.bn1(self.conv1(preact)))
        r = F.relu(self.bn2(self.conv2(r)))
        return shortcut + self.conv3(r), preact

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_preact(x)[0]

    def keras_layers(self, prefix: str) -> Iterator[tuple[str, nn.Module]]:
        """(Keras layer name, module) of the block's weighted layers, e.g. conv4_block1_preact_bn."""
        yield f"{prefix}_preact_bn", self.preact_bn
        if self.conv0 is not None:
            yield f"{prefix}_0_conv", self.conv0
        yield from (
            (f"{prefix}_1_conv", self.conv1),
            (f"{prefix}_1_bn", self.bn1),
            (f"{prefix}_2_conv", self.conv2),
            (f"{prefix}_2_bn", self.bn2),
            (f"{prefix}_3_conv", self.conv3),
        )


class Features(NamedTuple):
    """Everything the training and Grad-CAM code needs from one forward pass.

    levels: the five pyramid feature maps P3..P7, each [N, C, H, W] (shapes in the module docstring).
    head_preact: [N, 5, 2] pre-ReLU outputs of the per-level Dense(2) heads (level order P3..P7).
    logits: [N, 2] pre-softmax scores of the final Dense layer. probabilities: softmax(logits), [N, 2].
    """

    levels: tuple[torch.Tensor, ...]
    head_preact: torch.Tensor
    logits: torch.Tensor
    probabilities: torch.Tensor


class ResNet50V2FPN(nn.Module):
    """The classifier. `width` scales every channel count (1.0 = the published model); `input_size` is
    the square input side in pixels the Dense heads are sized for.

    forward(image [N, 1, S, S]) -> probabilities [N, 2]; forward_features(image) -> Features.
    """

    def __init__(self, width: float = 1.0, input_size: int = 512) -> None:
        super().__init__()
        self.width = width
        self.input_size = input_size
        self.grid = GridSizes.for_input(input_size)
        # Keras's conv1_pad ZeroPadding2D(3) + valid 7x7/2 conv = a PyTorch conv with padding 3
        self.conv1_conv = nn.Conv2d(1, scaled(64, width), 7, stride=2, padding=3)
        stages = []
        in_ch = scaled(64, width)
        for _name, filters, blocks, last_stride in STAGES:
            stage = nn.ModuleList()
            f = scaled(filters, width)
            for i in range(blocks):
                stage.append(PreactBlock(in_ch, f, last_stride if i == blocks - 1 else 1, i == 0))
                in_ch = 4 * f
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.post_bn = _bn(in_ch)
        c3, c4, c5 = (4 * scaled(f, width) for f in (128, 256, 512))
        fs = scaled(FPN_CHANNELS, width)
        self.C5_reduced = nn.Conv2d(c5, fs, 1)
        self.P5 = nn.Conv2d(fs, fs, 3, padding=1)
        self.C4_reduced = nn.Conv2d(c4, fs, 1)
        self.P4 = nn.Conv2d(2 * fs, fs, 3)
        self.C3_reduced = nn.Conv2d(c3, fs, 1)
        self.P3 = nn.Conv2d(3 * fs, fs, 3)
        self.P6 = nn.Conv2d(c5, fs, 3, stride=2)
        self.P7 = nn.Conv2d(fs, fs, 3, stride=2)
        self.dropout = nn.Dropout(0.5)
        self.heads = nn.ModuleList(nn.Linear(fs * h * w, 2) for h, w in self.grid.level_sizes())
        self.final = nn.Linear(2 * len(LEVEL_NAMES), 2)
        (top6, bottom6), (top7, bottom7) = (same_padding(g, 3, 2) for g in (self.grid.c4, self.grid.p6))
        self.p6_padding = (top6, bottom6, top6, bottom6)
        """F.pad (left, right, top, bottom) of Keras's padding="same" for the 3x3/2 P6 conv on C5."""
        self.p7_padding = (top7, bottom7, top7, bottom7)

    def backbone(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image [N, 1, S, S] -> (C3, C4, C5) as in the module docstring."""
        x = self.conv1_conv(image)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=2)  # Keras pads with zeros, not -inf
        c3 = c4 = x
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage):
                x, preact = block.forward_with_preact(x)
                if b == 0 and s == 2:
                    c3 = preact
                elif b == 0 and s == 3:
                    c4 = preact
        return c3, c4, F.relu(self.post_bn(x))

    def pyramid(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The concatenation FPN of the authors: (C3, C4, C5) -> (P3, P4, P5, P6, P7)."""
        p5 = self.C5_reduced(c5)
        p5_up = F.interpolate(p5, size=(self.grid.c4,) * 2, mode="nearest")  # UpsampleLike C4
        p5 = self.P5(p5)
        p4 = torch.cat([p5_up, self.C4_reduced(c4)], dim=1)
        p4_up = F.interpolate(p4, size=(self.grid.c3,) * 2, mode="nearest")  # UpsampleLike C3
        p4 = self.P4(p4)
        p3 = self.P3(torch.cat([p4_up, self.C3_reduced(c3)], dim=1))
        p6 = self.P6(F.pad(c5, self.p6_padding))
        p7 = self.P7(F.pad(F.relu(p6), self.p7_padding))  # C6_relu
        return p3, p4, p5, p6, p7

    def heads_preact(self, levels: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Per-level Dense(2) outputs before their ReLU, [N, 5, 2]. Flatten in H, W, C order (Keras)."""
        outs = [
            head(self.dropout(p.permute(0, 2, 3, 1).flatten(1)))
            for head, p in zip(self.heads, levels, strict=True)
        ]
        return torch.stack(outs, dim=1)

    def forward_features(self, image: torch.Tensor) -> Features:
        """image [N, 1, S, S] raw scale -> Features (pyramid levels, head pre-activations, logits, probs)."""
        levels = self.pyramid(*self.backbone(image))
        head_preact = self.heads_preact(levels)
        logits = self.final(F.relu(head_preact).flatten(1))
        return Features(levels, head_preact, logits, torch.softmax(logits, dim=1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [N, 1, S, S] raw scale -> probabilities [N, 2] (index 0 = COVID, 1 = normal)."""
        return self.forward_features(image).probabilities

    def keras_layers(self) -> dict[str, nn.Module]:
        """Keras layer name -> module, for every weighted layer except the Dense layers (whose names
        Keras generates: see `dense_layers`)."""
        named: dict[str, nn.Module] = {"conv1_conv": self.conv1_conv}
        for (name, *_), stage in zip(STAGES, self.stages, strict=True):
            for b, block in enumerate(stage):
                named.update(block.keras_layers(f"{name}_block{b + 1}"))
        named["post_bn"] = self.post_bn
        for fpn in ("C5_reduced", "P5", "C4_reduced", "P4", "C3_reduced", "P3", "P6", "P7"):
            named[fpn] = getattr(self, fpn)
        return named

    def dense_layers(self) -> list[nn.Linear]:
        """The six Dense layers in Keras creation order: heads of P3..P7, then the final layer."""
        return [*self.heads, self.final]
