"""Our Grad-CAM agrees with the reference libraries on torchvision models
with random weights (no downloads).

Tolerance: both sides compute the same float32 quantities (a channel mean of
gradients, a weighted channel sum) in a different order, so we allow 1e-4 of
each map's own maximum (float32 has ~7 digits; sums over up to 1280 channels
lose about three). Maps are compared relative to their magnitude because some
random-weight networks (EfficientNet) give logits of order 1e-14, where
pytorch-grad-cam's ``1e-7`` normalisation epsilon dominates its output.
"""
import numpy as np
import pytest
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torchcam.methods import GradCAM as TorchcamGradCAM
from toys import random_model, rel_diff

from cam_helpers import grad_cam, hook_count

# DenseNet: norm5 is followed by F.relu(inplace=True), which overwrites the
# activation pytorch-grad-cam stores (its activations become post-ReLU while
# its gradients stay pre-ReLU); we keep the layer's true output. We compare on
# the dense block before it instead.
ARCHS = [("resnet18", None), ("vgg11_bn", None), ("densenet121", "features.denseblock4"),
         ("mobilenet_v3_small", None), ("efficientnet_b0", None), ("convnext_tiny", None)]
TARGETS = [3, 7]


@pytest.fixture(scope="module", params=ARCHS, ids=[a for a, _ in ARCHS])
def arch(request):
    return random_model(*request.param)


def test_matches_pytorch_grad_cam(arch):
    name, model, layer, module, x = arch
    ours = grad_cam(model, x, layer, TARGETS)
    with GradCAM(model, [module]) as ref:
        their_maps = ref(x, [ClassifierOutputTarget(t) for t in TARGETS])
        acts = ref.activations_and_grads.activations[0]
        grads = ref.activations_and_grads.gradients[0]
        their_raw = ref.get_cam_image(x, module, None, acts.numpy(), grads.numpy())   # signed, before their ReLU
    assert rel_diff(ours.raw, their_raw) <= 1e-4, name
    if their_raw.max() > 1e-3:  # where their normalisation epsilon is negligible
        assert np.abs(ours.map.numpy() - their_maps).max() < 1e-4, name
    assert hook_count(model) == 0


def test_matches_torchcam(arch):
    name, model, layer, module, x = arch
    ours = grad_cam(model, x, layer, TARGETS)
    with TorchcamGradCAM(model, target_layer=layer) as extractor:
        scores = model(x)
        their_raw = extractor(class_idx=TARGETS, scores=scores, normalized=False)[0]   # after its ReLU
    assert rel_diff(ours.raw.clamp_min(0), their_raw) <= 1e-4, name
