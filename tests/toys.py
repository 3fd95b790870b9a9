"""Small networks with hand-computable maps, and helpers shared by the tests."""
import numpy as np
import torch
from torch import nn


def random_model(name: str, layer: str | None = None, size: int = 96):
    """``(name, model, layer, module, x)``: a torchvision model with seeded
    random weights (nothing downloaded) in eval mode, the layer to explain
    (its default target layer if None), that layer's module, and a batch of 2."""
    import torchvision

    from cam_helpers import default_target_layer
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    layer = layer or default_target_layer(model)
    return name, model, layer, dict(model.named_modules())[layer], torch.randn(2, 3, size, size)


def rel_diff(ours, theirs) -> float:
    """Largest absolute difference relative to the larger of the two maxima
    (tensors or arrays); the oracle tests' tolerance is stated against it."""
    a = torch.as_tensor(np.asarray(ours.detach().cpu() if torch.is_tensor(ours) else ours)).double()
    b = torch.as_tensor(np.asarray(theirs.detach().cpu() if torch.is_tensor(theirs) else theirs)).double()
    return float((a - b).abs().max() / max(float(a.abs().max()), float(b.abs().max()), 1e-30))


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
