"""Targets beyond class indices: a callable on the model's output returning
one score per image (a multi-label sigmoid score, a region of a segmentation
map, a model that returns a dict or tuple), as pytorch-grad-cam's targets."""
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget
from torch import nn
from toys import rel_diff

import cam_helpers as ch
from cam_helpers import pixels, vit
from cam_helpers.models import ShapesCNN, shapes_vit


class DictOut(nn.Module):
    """A classifier whose forward returns a dict, as Hugging Face models do."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return {"logits": self.net(x), "extra": torch.zeros(len(x))}


class TinySegmenter(nn.Module):
    """(B, 3, H, W) -> (B, 3 classes, H/2, W/2) score maps."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2,
                                                                                           padding=1), nn.ReLU())
        self.classify = nn.Conv2d(8, 3, 1)

    def forward(self, x):
        return self.classify(self.features(x))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return ShapesCNN().eval()


def test_a_callable_on_a_dict_output_is_the_class_logit(cnn):
    x = torch.randn(3, 3, 64, 64)
    wrapped = DictOut(cnn).eval()
    logit_3 = lambda out: out["logits"][:, 3]   # noqa: E731
    for name in ("grad_cam", "grad_cam_pp", "layer_cam", "eigen_grad_cam"):
        ours = getattr(ch, name)(wrapped, x, "net.features.3", logit_3)
        ref = getattr(ch, name)(cnn, x, "features.3", 3)
        assert torch.allclose(ours.raw, ref.raw, atol=1e-6), name
        assert ours.targets.tolist() == [ch.core.SCORE_TARGET] * 3
    for fn in (pixels.saliency, pixels.guided_backprop, pixels.integrated_gradients):
        assert torch.allclose(fn(wrapped, x, None, logit_3).raw, fn(cnn, x, None, 3).raw, atol=1e-6), fn.__name__
    torch.manual_seed(1)
    a = pixels.smooth_grad(wrapped, x, None, logit_3, samples=3)
    torch.manual_seed(1)
    assert torch.allclose(a.raw, pixels.smooth_grad(cnn, x, None, 3, samples=3).raw, atol=1e-6)


def test_a_multi_label_sigmoid_score(cnn):
    x = torch.randn(2, 3, 64, 64)
    sig = ch.grad_cam(cnn, x, "features.3", lambda out: out.sigmoid()[:, 2])
    ex = ch.Explainer(cnn, x)
    a, g = ex.activations["features.3"], ex.gradients(2)["features.3"]
    p = cnn(x).sigmoid()[:, 2].detach()
    by_hand = ((g * (p * (1 - p))[:, None, None, None]).mean((2, 3), keepdim=True) * a).sum(1)   # chain rule
    assert torch.allclose(sig.raw, by_hand, atol=1e-7)


def test_a_region_of_a_segmentation_map_matches_pytorch_grad_cam():
    torch.manual_seed(0)
    model = TinySegmenter().eval()
    x = torch.randn(1, 3, 32, 32)
    mask = torch.zeros(16, 16)
    mask[4:10, 6:12] = 1
    ours = ch.grad_cam(model, x, "features.3", lambda out: (out[:, 1] * mask).sum((1, 2)))
    with GradCAM(model, [model.features[3]]) as ref:
        ref(x, [SemanticSegmentationTarget(1, mask.numpy())])
        acts = ref.activations_and_grads.activations[0].numpy()
        grads = ref.activations_and_grads.gradients[0].numpy()
        theirs = ref.get_cam_image(x, model.features[3], None, acts, grads)
    assert rel_diff(ours.raw, theirs) < 1e-4


def test_vit_gradient_methods_take_a_callable_too():
    torch.manual_seed(0)
    model = shapes_vit().eval()
    nn.init.normal_(model.heads.head.weight)
    x = torch.randn(2, 3, 64, 64)
    for method in ("gradient_rollout", "grad_cam", "legrad", "layer_cam"):
        ours = getattr(vit, method)(model, x, None, lambda out: out[:, 4])
        assert torch.allclose(ours.raw, getattr(vit, method)(model, x, None, 4).raw, atol=1e-6), method


def test_methods_that_need_class_indices_say_so(cnn):
    x = torch.randn(1, 3, 64, 64)
    score = lambda out: out[:, 1]   # noqa: E731
    for call in (lambda: ch.cam(cnn, x, None, score), lambda: ch.score_cam(cnn, x, None, score, progress=False),
                 lambda: ch.ablation_cam(cnn, x, None, score, progress=False),
                 lambda: pixels.occlusion(cnn, x, None, score)):
        with pytest.raises(TypeError, match="callable targets work with the gradient methods"):
            call()
    with pytest.raises(TypeError, match=r"one score per image, a tensor of shape \(B,\); got \(1, 6\)"):
        ch.grad_cam(cnn, x, None, lambda out: out)
    with pytest.raises(TypeError, match="Give targets as a callable"):
        ch.grad_cam(FeaturesOut(cnn), x, "net.features.3")      # no logits anywhere in the output
    assert ch.hook_count(cnn) == 0


class FeaturesOut(DictOut):
    def forward(self, x):
        return {"features": self.net(x)}


class LogitsAttr(DictOut):
    """Like Hugging Face's ModelOutput: the logits are an attribute."""

    def forward(self, x):
        return type("Output", (), {"logits": self.net(x), "hidden_states": None})()


def test_class_targets_read_the_logits_out_of_dict_tuple_and_model_outputs(cnn):
    """The output adapter (core.logits_of): a dict's "logits", a ModelOutput's .logits, a tuple's first:
    the predicted class, Score-CAM and the metrics see the logits, as with the plain model."""
    from cam_helpers import metrics
    x = torch.randn(2, 3, 64, 64)
    plain = ch.grad_cam(cnn, x, "features.3")
    tupled = type("TupleOut", (DictOut,), {"forward": lambda self, x: (self.net(x), x.mean())})
    for wrapped in (DictOut(cnn), LogitsAttr(cnn), tupled(cnn)):
        r = ch.grad_cam(wrapped, x, "net.features.3")
        assert torch.equal(r.targets, plain.targets) and torch.allclose(r.raw, plain.raw)
    s1 = ch.score_cam(cnn, x, "features.3", 1, top_k=4, progress=False)
    s2 = ch.score_cam(DictOut(cnn), x, "net.features.3", 1, top_k=4, progress=False)
    assert torch.allclose(s1.raw, s2.raw, atol=1e-6)
    d1 = metrics.insertion_deletion(cnn, x, plain.map, plain.targets)
    d2 = metrics.insertion_deletion(LogitsAttr(cnn), x, plain.map, plain.targets)
    assert all(torch.allclose(d1[k], d2[k], atol=1e-6) for k in ("insertion", "deletion"))
