"""The patch CNN of Polat, Ozerdem, Ekici & Akpolat (2021), doi:10.1002/ima.22558.

conv 32 x 5x5 -> ReLU -> max-pool 2 -> conv 64 x 5x5 -> ReLU -> max-pool 2 -> flatten -> fully
connected -> ReLU -> dropout -> fully connected (2). Input: grey 0..255 patches [N, 1, 28, 28]
(lung-window renderings); the network centres and scales them itself ((x - 128) / 64) so the
exported graph takes the grey values as they are. Weights start with He initialisation (not stated in the paper). `forward` returns logits; `PatchWithSoftmax`
adds the softmax for export (output `probabilities`).
"""

from __future__ import annotations

import torch
from torch import nn

PATCH_PX = 28
FC_WIDTH = 256
"""Width of the hidden fully connected layer (the paper tuned it by trial and does not state it)."""
DROPOUT = 0.5


class PolatPatchCNN(nn.Module):
    """Lesion-vs-healthy classifier of one 28 x 28 grey patch; logits [N, 2]."""

    def __init__(self, fc_width: int = FC_WIDTH, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, fc_width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc_width, 2),
        )
        self.fc_width, self.dropout = fc_width, dropout
        for module in self.modules():  # He initialisation: with the published SGD at lr 0.001 the
            if isinstance(module, (nn.Conv2d, nn.Linear)):  # default init learnt too slowly (measured)
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features((grey - 128.0) / 64.0))


class PatchWithSoftmax(nn.Module):
    """The exported graph: grey patches [N, 1, 28, 28] -> probabilities [N, 2]."""

    def __init__(self, model: PolatPatchCNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(grey), dim=1)
