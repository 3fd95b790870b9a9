"""The Grad-CAM family and pixel methods: cases with known answers."""
import copy

import pytest
import torch
from torch import nn

import cam_helpers as ch
from cam_helpers import pixels
from cam_helpers.models import ShapesCNN
from cam_helpers.perturbation import ablation_weights, head_logits


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return ShapesCNN().eval()


def test_hires_cam_and_grad_cam_equal_cam_over_z_on_gap_model(cnn):
    x = torch.randn(2, 3, 64, 64)
    c = ch.cam(cnn, x, targets=[1, 4])
    for method in (ch.grad_cam, ch.hires_cam):
        assert torch.allclose(method(cnn, x, targets=[1, 4]).raw * 64, c.raw, atol=1e-5)


def test_every_cam_method_has_the_same_call_shape(cnn):
    x = torch.randn(2, 3, 64, 64)
    ex = ch.Explainer(cnn, x, ["features.2", "features.3"])
    for method in ch.METHODS:
        a = getattr(ch, method)(cnn, x, "features.3", [0, 5])
        b = ex.explain(method, "features.3", [0, 5])
        assert a.raw.shape == (2, 8, 8) and a.map.shape == (2, 64, 64) and a.method == method
        assert torch.allclose(a.map, b.map, atol=1e-5), method
        assert not torch.isnan(a.map).any() and a.map.max() <= 1
    assert ch.hook_count(cnn) == 0


def test_score_cam_skipping_constant_channels_keeps_the_map(cnn):
    model = copy.deepcopy(cnn)
    with torch.no_grad():   # ten channels of the last conv made constant: zero weights, BN leaves a constant
        model.features[3][3].weight[:10] = 0
    x = torch.randn(1, 3, 64, 64)
    ex = ch.Explainer(model, x)
    acts = ex.activations["features.3"]
    constant = int(((acts.flatten(2).amax(2) == acts.flatten(2).amin(2))).sum())
    full = ex.score_cam(skip_constant=False, progress=False)
    fast = ex.score_cam(progress=False)
    assert constant >= 10                       # there is something to skip ...
    assert torch.allclose(full.map, fast.map, atol=1e-5)   # ... and skipping it keeps the map


def test_score_cam_top_k_scores_only_k_channels(cnn, monkeypatch):
    calls = []
    original = cnn.forward
    monkeypatch.setattr(cnn, "forward", lambda x: calls.append(len(x)) or original(x))
    ex = ch.Explainer(cnn, torch.randn(1, 3, 64, 64))
    calls.clear()
    ex.score_cam(top_k=10, batch_size=4, progress=False)
    assert sum(calls) == 10 and max(calls) <= 4


def test_ablation_weight_is_the_relative_score_drop(cnn):
    x = torch.randn(1, 3, 64, 64)
    ex = ch.Explainer(cnn, x)
    acts = ex.activations["features.3"].detach()
    t = ex.targets(2)
    w = ablation_weights(cnn, cnn.features[3], ex.x, acts, ex.logits.detach(), t, skip_constant=False)
    # by hand for channel 5: zero it and run the head
    a5 = acts.clone()
    a5[0, 5] = 0
    y, y5 = ex.logits[0, 2], cnn.head(a5.mean((2, 3)))[0, 2]
    assert torch.allclose(w[0, 5], (y - y5) / y, atol=1e-5)


class ConcatNet(nn.Module):
    """The explained layer's output is concatenated with an earlier tensor."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        a = torch.relu(self.a(x))
        return self.head(torch.cat([a, torch.relu(self.b(a))], 1).mean((2, 3)))


def test_ablation_falls_back_when_the_batch_cannot_grow_at_the_layer():
    torch.manual_seed(0)
    net = ConcatNet().eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        acts = net.b(torch.relu(net.a(x))).expand(3, -1, -1, -1).clone()
        out = head_logits(net, net.b, x, acts)
    assert out.shape == (3, 3) and ch.hook_count(net) == 0
    r = ch.ablation_cam(net, x, "b", 1, progress=False)
    assert r.raw.shape == (1, 8, 8)


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.fc = nn.Linear(w.numel() // 2, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(w.view(2, -1))

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_pixel_methods_on_a_linear_model():
    torch.manual_seed(0)
    w = torch.randn(2 * 3 * 4 * 4)
    model = Linear(w).eval()
    x = torch.randn(2, 3, 4, 4)
    w1 = w.view(2, 3, 4, 4)[1]
    sal = pixels.saliency(model, x, targets=1)
    assert torch.allclose(sal.raw, w1.expand(2, -1, -1, -1))   # raw: the signed gradient
    assert torch.allclose(sal.map, ch.normalize(w1.abs().amax(0)).expand(2, -1, -1))   # map: max |.| over colours
    ig = pixels.integrated_gradients(model, x, targets=1, steps=4)
    assert torch.allclose(ig.raw, x * w1, atol=1e-6)  # IG of a linear model is exact
    # completeness: the attributions add up to y(x) - y(baseline)
    assert torch.allclose(ig.raw.flatten(1).sum(1), model(x)[:, 1], atol=1e-5)


def test_guided_backprop_restores_the_relus(cnn):
    relus = [m for m in cnn.modules() if isinstance(m, nn.ReLU)]
    pixels.guided_backprop(cnn, torch.randn(1, 3, 64, 64))
    assert all("forward" not in vars(m) for m in relus)
    with pytest.raises(RuntimeError):
        with pixels.guided_relus(cnn):
            raise RuntimeError("boom")
    assert all("forward" not in vars(m) for m in relus)


def test_smooth_grad_of_a_cam_and_batching(cnn):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    r = pixels.smooth_grad(cnn, x, "features.3", [0, 1], base=ch.grad_cam, samples=3)
    assert r.raw.shape == (2, 8, 8) and r.map.shape == (2, 64, 64)
    torch.manual_seed(2)
    a = pixels.smooth_grad(cnn, x, None, [0, 1], samples=4)
    torch.manual_seed(2)
    b = pixels.smooth_grad(cnn, x, None, [0, 1], samples=4, batch_size=1)
    assert torch.allclose(a.raw, b.raw, atol=1e-6)


def test_occlusion_of_an_empty_window_is_zero(cnn):
    x = torch.zeros(1, 3, 64, 64)  # occluding zeros with zeros changes nothing
    r = pixels.occlusion(cnn, x, window=16, stride=16)
    assert torch.count_nonzero(r.raw) == 0 and not torch.isnan(r.map).any()


def test_pixel_methods_leave_the_model_as_they_found_it(cnn):
    cnn.train()
    for method in pixels.PIXEL_METHODS.values():
        method(cnn, torch.randn(1, 3, 64, 64), "features.3", 0)
        assert cnn.training and all(p.requires_grad for p in cnn.parameters())
    cnn.eval()


def test_channels_last_puts_the_original_weights_back(cnn):
    from cam_helpers.speed import channels_last
    before = {n: (p.data_ptr(), p.stride(), p.data.clone()) for n, p in cnn.named_parameters()}
    with channels_last(cnn):
        assert cnn.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    for n, p in cnn.named_parameters():  # the same storage and layout, the same values
        assert (p.data_ptr(), p.stride()) == before[n][:2] and torch.equal(p.data, before[n][2])
    x = torch.randn(1, 3, 64, 64)
    from cam_helpers.perturbation import score_weights
    ex = ch.Explainer(cnn, x)
    acts, t = ex.activations["features.3"], ex.targets()
    fast = score_weights(cnn, ex.x, acts, t, progress=False)
    slow = score_weights(cnn, ex.x, acts, t, progress=False, fast_layout=False)
    assert torch.allclose(fast, slow, atol=1e-5)
