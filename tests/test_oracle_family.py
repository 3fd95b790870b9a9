"""The Grad-CAM family and the pixel-space methods agree with pytorch-grad-cam
and captum, under matching settings, on three torchvision architectures with
random weights.

Tolerance, as in test_oracle.py: 1e-4 of each result's own maximum (float32
sums in a different order). Settings where the libraries differ from the
papers, and that we therefore set explicitly here:
- Grad-CAM++ and XGrad-CAM: pytorch-grad-cam adds eps (1e-6, 1e-7) to a
  denominator; with random weights the gradients are small enough to feel it.
- Score-CAM: pytorch-grad-cam softmaxes the masked images' logits across
  channels and upsamples with align_corners=True (the paper: class probability).
- Ablation-CAM: compared on post-ReLU layers, where pytorch-grad-cam zeroes the
  channel as the paper does; all channels scored (skip_constant=False).
- Eigen-CAM and Eigen-Grad-CAM: the SVD's sign is arbitrary; compared up to sign.
- Every CAM's raw map is compared before pytorch-grad-cam's final ReLU (both signed).
- Guided Grad-CAM: captum upsamples Grad-CAM with nearest neighbours.
- Integrated Gradients, trapezoid rule: captum's steps are 1/n, so its weights
  sum to (n-1)/n; ours sum to 1 (the integral of a constant is exact).
"""
import copy

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop, GuidedGradCam, IntegratedGradients, NoiseTunnel, Occlusion, Saliency
from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM,
                              XGradCAM)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from toys import random_model, rel_diff

import cam_helpers as ch
from cam_helpers import pixels

# (architecture, a post-ReLU layer)
ARCHS = [("resnet18", "layer4"), ("vgg11_bn", "features.27"), ("mobilenet_v2", "features.18")]
TARGETS = [3, 7]


@pytest.fixture(scope="module", params=ARCHS, ids=[a for a, _ in ARCHS])
def arch(request):
    return random_model(*request.param)


def _their_raw(ref, x, module):
    acts = ref.activations_and_grads.activations[0].numpy()
    grads = ref.activations_and_grads.gradients
    return ref.get_cam_image(x, module, None, acts, grads[0].numpy() if grads else None, False)


@pytest.mark.parametrize("method, Reference, options", [
    ("grad_cam_pp", GradCAMPlusPlus, {"eps": 1e-6}),
    ("xgrad_cam", XGradCAM, {"eps": 1e-7}),
    ("layer_cam", LayerCAM, {}),
    ("hires_cam", HiResCAM, {}),
])
def test_gradient_cams_match_pytorch_grad_cam(arch, method, Reference, options):
    name, model, layer, module, x = arch
    ours = getattr(ch, method)(model, x, layer, TARGETS, **options)
    with Reference(model, [module]) as ref:
        ref(x, [ClassifierOutputTarget(t) for t in TARGETS])
        theirs = _their_raw(ref, x, module)   # their map before its ReLU: signed, like ours
    assert rel_diff(ours.raw, theirs) < 1e-4, name


def test_eigen_grad_cam_matches_up_to_sign(arch):
    """The registry's proof method: one rule (rules.eigen_grad_cam) and one record."""
    name, model, layer, module, x = arch
    ours = ch.eigen_grad_cam(model, x, layer, TARGETS)
    with EigenGradCAM(model, [module]) as ref:
        ref(x, [ClassifierOutputTarget(t) for t in TARGETS])
        theirs = _their_raw(ref, x, module)
    for i in range(len(x)):
        assert min(rel_diff(ours.raw[i], theirs[i]), rel_diff(ours.raw[i], -theirs[i])) < 1e-4, name
    other = ch.eigen_grad_cam(model, x, layer, [t + 1 for t in TARGETS])
    assert rel_diff(ours.raw, other.raw) > 1e-2   # class-specific, unlike Eigen-CAM


def test_eigen_cam_matches_up_to_sign(arch):
    name, model, layer, module, x = arch
    ours = ch.eigen_cam(model, x, layer)
    with EigenCAM(model, [module]) as ref:
        ref(x, None)
        theirs = _their_raw(ref, x, module)
    for i in range(len(x)):
        assert min(rel_diff(ours.raw[i], theirs[i]), rel_diff(ours.raw[i], -theirs[i])) < 1e-4, name


def test_score_cam_matches_under_their_settings(arch):
    name, model, layer, module, x = arch
    x1 = x[:1]
    ours = ch.score_cam(model, x1, layer, 3, like="pytorch-grad-cam", skip_constant=False, progress=False)
    with ScoreCAM(model, [module]) as ref:
        theirs = ref(x1, [ClassifierOutputTarget(3)])
    assert np.abs(ours.map.numpy() - theirs).max() < 1e-4, name


def test_ablation_cam_matches(arch):
    name, model, layer, module, x = arch
    x1 = x[:1]
    ours = ch.ablation_cam(model, x1, layer, 3, skip_constant=False, progress=False)
    with AblationCAM(model, [module]) as ref:
        theirs = ref(x1, [ClassifierOutputTarget(3)])
    assert np.abs(ours.map.numpy() - theirs).max() < 1e-4, name
    assert ch.hook_count(model) == 0


def _relu6_as_relu(model: nn.Module) -> nn.Module:
    """A copy whose ReLU6 modules are ReLUs: captum's guided backprop only
    knows ``nn.ReLU`` (on ReLU6 it leaves the plain gradient), ours follows the
    paper's rule on every clamping activation; on this copy both see ReLUs."""
    model = copy.deepcopy(model)
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, child_name, nn.ReLU())
    return model


def test_saliency_and_guided_backprop_match_captum(arch):
    name, model, layer, module, x = arch
    sal = pixels.saliency(model, x, None, TARGETS).raw   # the signed gradient; the map takes |.|, as captum's abs=True
    assert rel_diff(sal, Saliency(model).attribute(x, target=TARGETS, abs=False)) < 1e-4
    assert rel_diff(sal.abs(), Saliency(model).attribute(x, target=TARGETS)) < 1e-4
    if any(isinstance(m, nn.ReLU6) for m in model.modules()):
        # captum's GuidedBackprop is the plain gradient on a ReLU6 network; ours is not
        plain = Saliency(model).attribute(x, target=TARGETS, abs=False)
        assert rel_diff(GuidedBackprop(model).attribute(x, target=TARGETS), plain) < 1e-4
        assert rel_diff(pixels.guided_backprop(model, x, None, TARGETS).raw, plain) > 0.1
        model = _relu6_as_relu(model)
        module = dict(model.named_modules())[layer]
    gb = pixels.guided_backprop(model, x, None, TARGETS).raw
    assert rel_diff(gb, GuidedBackprop(model).attribute(x, target=TARGETS)) < 1e-4, name
    ggc = pixels.guided_grad_cam(model, x, layer, TARGETS, interpolation="nearest").raw
    assert rel_diff(ggc, GuidedGradCam(model, module).attribute(x, target=TARGETS)) < 1e-4, name


def test_integrated_gradients_matches_captum(arch):
    name, model, layer, module, x = arch
    for method, scale in (("gausslegendre", 1.0), ("riemann_trapezoid", 15 / 16)):
        ours = pixels.integrated_gradients(model, x, None, TARGETS, steps=16, method=method)
        theirs = IntegratedGradients(model).attribute(x, target=TARGETS, n_steps=16, method=method)
        assert rel_diff(ours.raw * scale, theirs) < 1e-4, (name, method)


def test_smooth_grad_matches_noise_tunnel_with_fixed_noise(arch):
    name, model, layer, module, x = arch
    torch.manual_seed(11)
    ours = pixels.smooth_grad(model, x, None, TARGETS, samples=4, stdev=0.2)
    torch.manual_seed(11)
    theirs = NoiseTunnel(Saliency(model)).attribute(x, target=TARGETS, nt_type="smoothgrad", nt_samples=4,
                                                    stdevs=0.2, abs=False)   # the paper averages signed gradients
    assert rel_diff(ours.raw, theirs) < 1e-4, name


def test_occlusion_matches_captum(arch):
    name, model, layer, module, x = arch
    ours = pixels.occlusion(model, x, None, TARGETS, window=16, stride=8)
    theirs = Occlusion(model).attribute(x, target=TARGETS, sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8))
    assert rel_diff(ours.raw, theirs) < 1e-4, name


def test_occlusion_matches_captum_where_the_stride_does_not_tile_the_image(arch):
    """96 px, window 20, stride 14: captum adds a last window cut at the edge;
    so do we, and the right and bottom edges are covered (not left at zero)."""
    name, model, layer, module, x = arch
    ours = pixels.occlusion(model, x, None, TARGETS, window=20, stride=14, batch_size=5)
    theirs = Occlusion(model).attribute(x, target=TARGETS, sliding_window_shapes=(3, 20, 20), strides=(3, 14, 14))
    assert rel_diff(ours.raw, theirs) < 1e-4, name
    assert ours.raw[..., -1].abs().sum() > 0 and ours.raw[..., -1, :].abs().sum() > 0
