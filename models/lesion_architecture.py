"""The patch CNN of Polat, Ozerdem, Ekici & Akpolat (2021), doi:10.1002/ima.22558.

conv 32 x 5x5 -> ReLU -> max-pool 2 -> conv 64 x 5x5 -> ReLU -> max-pool 2 -> flatten -> fully
connected -> ReLU -> dropout -> fully connected (2). Input: grey 0..255 patches [N, 1, 28, 28]
(lung-window renderings); the network centres and scales them itself ((x - 128) / 64) so the
exported graph takes the grey values as they are. Weights start with He initialisation (not stated in
the paper). `forward` returns logits.

`DenseWithSoftmax` is the exported graph: the same weights written fully convolutionally (FC1 as a
4 x 4 convolution, FC2 as a 1 x 1 convolution, softmax over channels). The network is translation
equivariant with total stride OUTPUT_STRIDE = 4, so one pass over a grey image [N, 1, H, W]
(H, W >= 28) gives probabilities [N, 2, (H - 28) // 4 + 1, (W - 28) // 4 + 1] whose value at (i, j) is
the patch probability of the 28 x 28 patch with top-left corner (4 i, 4 j); at H = W = 28 it is the
patch classifier itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH_PX = 28
OUTPUT_STRIDE = 4
"""Total stride of the two 2 x 2 max-pools: dense outputs are 4 input pixels apart."""
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


class DenseWithSoftmax(nn.Module):
    """The exported dense graph: grey images [N, 1, H, W] (H, W >= 28) -> probabilities
    [N, 2, (H - 28) // 4 + 1, (W - 28) // 4 + 1] with the weights of `model` (shared, not copied)."""

    def __init__(self, model: PolatPatchCNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        fc1, fc2 = self.model.classifier[1], self.model.classifier[4]
        # FC1's weight [width, 64 * 4 * 4] in Flatten's order (channel, row, column) is a 4 x 4 kernel
        x = self.model.features((grey - 128.0) / 64.0)
        x = torch.relu(F.conv2d(x, fc1.weight.reshape(fc1.out_features, 64, 4, 4), fc1.bias))
        x = F.conv2d(x, fc2.weight.reshape(fc2.out_features, fc2.in_features, 1, 1), fc2.bias)
        return torch.softmax(x, dim=1)
