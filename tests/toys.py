"""Small networks with hand-computable maps, shared by the tests."""
import torch
from torch import nn


class TinyGAP(nn.Module):
    """features (1x1 conv, identity weights) -> GAP -> linear with known weights:
    CAM and Grad-CAM of this network can be written down by hand."""

    cam_target_layer = "features"
    input_size = 2

    def __init__(self, weight, bias=None):
        super().__init__()
        self.features = nn.Conv2d(2, 2, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2, len(weight))
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(2)[:, :, None, None])
            self.head.weight.copy_(torch.tensor(weight))
            self.head.bias.copy_(torch.zeros(len(weight)) if bias is None else torch.tensor(bias))

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))
