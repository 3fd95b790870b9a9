"""CAM and Grad-CAM on networks whose maps are known by hand."""
import pytest
import torch
from torch import nn
from toys import TinyGAP

from cam_helpers import NotAGAPModelError, cam, grad_cam, normalize
from cam_helpers.cams import Explainer
from cam_helpers.models import ShapesCNN, ShapesVGG


def test_cam_by_hand(tiny, tiny_input):
    # M_c = sum_k w_k^c A_k
    r0 = cam(tiny, tiny_input, targets=0)
    assert torch.equal(r0.raw, torch.tensor([[[1.0, 1.0], [2.0, 4.0]]]))
    r1 = cam(tiny, tiny_input, targets=1)
    assert torch.equal(r1.raw, torch.tensor([[[0.5, 3.0], [3.5, 2.0]]]))
    # the input is 2x2: no upsampling, only min-max scaling
    assert torch.allclose(r0.map, torch.tensor([[[0.0, 0.0], [1 / 3, 1.0]]]))


def test_grad_cam_by_hand(tiny, tiny_input):
    # alpha_k = w_k / Z with Z = 4 pixels, so Grad-CAM = ReLU(CAM) / 4
    r = grad_cam(tiny, tiny_input, targets=0)
    assert torch.allclose(r.raw, torch.tensor([[[0.25, 0.25], [0.5, 1.0]]]))
    assert r.layer == "features" and r.method == "grad_cam"


def test_cam_keeps_negative_evidence_in_raw_but_not_in_map():
    model = TinyGAP([[1.0, -3.0]]).eval()
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    r = cam(model, x, targets=0)
    assert torch.equal(r.raw, torch.tensor([[[1.0, -1.0], [0.0, 4.0]]]))
    assert r.map.min() == 0 and r.map[0, 0, 1] == 0  # the negative pixel is clipped


def test_all_zero_map_stays_zero_without_nan(tiny_input):
    model = TinyGAP([[0.0, 0.0], [1.0, 1.0]]).eval()
    for fn in (cam, grad_cam):
        r = fn(model, tiny_input, targets=0)
        assert not torch.isnan(r.map).any()
        assert torch.count_nonzero(r.map) == 0 and torch.count_nonzero(r.raw) == 0


def test_normalize_constant_and_range():
    maps = torch.stack([torch.zeros(4, 4), torch.full((4, 4), 3.0), torch.arange(16.0).view(4, 4)])
    out = normalize(maps)
    assert torch.count_nonzero(out[:2]) == 0
    assert out[2].min() == 0 and out[2].max() == 1


def test_grad_cam_equals_cam_up_to_positive_scale_on_gap_model():
    model = ShapesCNN().eval()
    x = torch.randn(3, 3, 64, 64)
    g = grad_cam(model, x, targets=[0, 3, 5])
    c = cam(model, x, targets=[0, 3, 5])
    z = g.raw.shape[-1] * g.raw.shape[-2]
    assert torch.allclose(g.raw * z, c.raw, atol=1e-5)   # signed raw: equal before any ReLU
    assert torch.allclose(g.map, c.map, atol=1e-5)


def test_cam_refuses_dense_head():
    model = ShapesVGG().eval()
    with pytest.raises(NotAGAPModelError, match="GAP"):
        cam(model, torch.randn(1, 3, 64, 64))


def test_cam_refuses_non_gap_pooling(tiny, tiny_input):
    tiny.pool = nn.AdaptiveMaxPool2d(1)  # same channel count, but not an average
    with pytest.raises(NotAGAPModelError, match="global average pooling"):
        cam(tiny, tiny_input, targets=0)


def test_targets_forms(tiny, tiny_input):
    x = tiny_input.repeat(2, 1, 1, 1)
    predicted = tiny(x).argmax(1)
    assert torch.equal(grad_cam(tiny, x).targets, predicted)
    assert grad_cam(tiny, x, targets=1).targets.tolist() == [1, 1]
    assert grad_cam(tiny, x, targets=[0, 1]).targets.tolist() == [0, 1]
    assert grad_cam(tiny, x, targets=torch.tensor([1, 0])).targets.tolist() == [1, 0]


def test_batch_equals_single_images():
    model = ShapesCNN().eval()
    x = torch.randn(4, 3, 64, 64)
    batch = grad_cam(model, x, targets=[1, 2, 3, 4])
    for i in range(4):
        one = grad_cam(model, x[i:i + 1], targets=i + 1)
        assert torch.allclose(batch.raw[i], one.raw[0], atol=1e-6)


def test_result_shapes_and_device():
    model = ShapesCNN().eval()
    r = grad_cam(model, torch.randn(2, 3, 64, 64))
    assert r.raw.shape == (2, 8, 8) and r.map.shape == (2, 64, 64)
    assert r.logits.shape == (2, 6) and r.targets.shape == (2,)
    assert r.map.device == next(model.parameters()).device
    assert not r.map.requires_grad and 0 <= float(r.map.min()) and float(r.map.max()) <= 1


def test_explainer_reuses_forward_and_caches_backward():
    model = ShapesCNN().eval()
    ex = Explainer(model, torch.randn(1, 3, 64, 64), ["features.1", "features.3"])
    a = ex.grad_cam("features.3", 2)
    b = ex.grad_cam("features.1", 2)  # same class: same backward pass
    assert ex.backward_passes == 1
    ex.grad_cam("features.3", 4)
    assert ex.backward_passes == 2
    assert a.raw.shape == (1, 8, 8) and b.raw.shape == (1, 16, 16)
    assert torch.allclose(a.raw, grad_cam(model, ex.x, "features.3", 2).raw, atol=1e-6)
    assert torch.allclose(b.raw, grad_cam(model, ex.x, "features.1", 2).raw, atol=1e-6)


def test_grad_cam_of_softmax_differs_from_logits():
    # Why logits: the softmax gradient mixes in every other class.
    model = ShapesCNN().eval()
    x = torch.randn(1, 3, 64, 64)
    ex = Explainer(model, x)
    logit_grads = ex.gradients(2)["features.3"].flatten()
    probs = ex.logits.softmax(1)
    soft_grads = torch.autograd.grad(probs[0, 2], ex.activations["features.3"], retain_graph=True)[0].flatten()
    cosine = torch.nn.functional.cosine_similarity(logit_grads, soft_grads, dim=0)
    assert cosine < 0.99  # not a rescaled copy: other classes' gradients are mixed in
