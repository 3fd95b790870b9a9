"""Several layers fused into one map (cam_helpers/methods/fusion.py): pytorch-grad-cam's convention (mean of the
scaled, upsampled maps) and torchcam's (maximum on the largest layer's grid; LayerCAM's tanh scaling), each
against the library on three torchvision architectures with random weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, LayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torchcam.methods import GradCAM as TorchcamGradCAM
from torchcam.methods import LayerCAM as TorchcamLayerCAM
from toys import random_model

import cam_helpers as ch

TARGETS = [3, 7]
# (MobileNet-V2 and EfficientNet-B0 with random weights give maps of 1e-10 and below, where the libraries' eps
# decides the result: the third architecture is DenseNet-121.)
LAYERS = {"resnet18": ["layer2", "layer3", "layer4"], "vgg11_bn": ["features.20", "features.27"],
          "densenet121": ["features.denseblock3", "features.denseblock4"]}   # not norm5: an in-place ReLU follows it


@pytest.fixture(scope="module", params=list(LAYERS))
def arch(request):
    name, model, _, _, x = random_model(request.param)
    return name, model, LAYERS[name], x


@pytest.mark.parametrize("method, Reference", [("grad_cam", GradCAM), ("layer_cam", LayerCAM)])
def test_mean_fusion_is_pytorch_grad_cams(arch, method, Reference):
    name, model, layers, x = arch
    ours = ch.fuse([getattr(ch, method)(model, x, layer, TARGETS) for layer in layers])
    modules = [dict(model.named_modules())[layer] for layer in layers]
    with Reference(model, modules) as ref:
        theirs = ref(x, [ClassifierOutputTarget(t) for t in TARGETS])
    assert np.abs(ours.map.numpy() - theirs).max() < 1e-4, name
    assert ours.layer == "+".join(layers) and ours.method == method and ours.targets.tolist() == TARGETS


@pytest.mark.parametrize("method, Reference, scale", [("grad_cam", TorchcamGradCAM, None),
                                                      ("layer_cam", TorchcamLayerCAM, "tanh")])
def test_max_fusion_is_torchcams(arch, method, Reference, scale):
    name, model, layers, x = arch
    ours = ch.fuse([getattr(ch, method)(model, x, layer, TARGETS) for layer in layers], how="max", scale=scale)
    extractor = Reference(model, target_layer=layers)
    try:
        theirs = extractor.fuse_cams(extractor(TARGETS, model(x)))
    finally:
        extractor.remove_hooks()
    assert ours.raw.shape == theirs.shape   # the largest layer's grid
    assert (ours.raw - theirs.detach()).abs().max() < 1e-4, name
    assert ours.map.shape == x.shape[:1] + x.shape[2:] and 0 <= ours.map.min() and ours.map.max() <= 1


def test_fusion_refuses_what_cannot_be_fused(arch):
    name, model, layers, x = arch
    grad_cam = ch.grad_cam(model, x, layers[-1], TARGETS)
    with pytest.raises(ValueError, match="one method"):
        ch.fuse([grad_cam, ch.layer_cam(model, x, layers[0], TARGETS)])
    with pytest.raises(ValueError, match="one method"):
        ch.fuse([grad_cam, ch.grad_cam(model, x, layers[0], [1, 2])])
    with pytest.raises(ValueError, match="how"):
        ch.fuse([grad_cam], how="sum")
    with pytest.raises(ValueError, match="at least one"):
        ch.fuse([])
    one = ch.fuse([grad_cam])   # one layer: its own map
    assert torch.allclose(one.map, grad_cam.map, atol=1e-5)
