"""Models the adapters do not read by themselves: ``output=`` reads the logits out of what the model returns,
``reshape=`` reads a layer's output as (B, C, h, w); and the ViT families' default layer is known without a
graph from the input (so Grad-CAM on their tokens records nothing before the last block)."""
import dataclasses

import pytest
import torch
from torch import nn

import cam_helpers as ch
from cam_helpers import layers, metrics
from cam_helpers.core import with_output

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")


@dataclasses.dataclass
class Prediction:        # what a user's model might return: nothing logits_of knows
    scores: torch.Tensor
    boxes: torch.Tensor


class Net(nn.Module):
    """conv -> ReLU -> ``flat`` (B, C, h*w) -> GAP -> linear; returns a Prediction (or logits if ``plain``)."""

    def __init__(self, plain: bool = False):
        super().__init__()
        self.plain = plain
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.flat = nn.Flatten(2)
        self.drop = nn.Dropout(0.5)   # a training-mode layer: the explanation must run in eval mode
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        logits = self.fc(self.drop(self.flat(self.act(self.conv(x))).mean(2)))
        return logits if self.plain else Prediction(logits, torch.zeros(len(x), 4))


def pair():
    torch.manual_seed(0)
    ours = Net()
    plain = Net(plain=True)
    plain.load_state_dict(ours.state_dict())
    return ours, plain, torch.randn(3, 3, 16, 16)


def test_a_model_with_its_own_output_type_gets_a_clear_error_and_output_reads_it():
    model, plain, x = pair()
    with pytest.raises(TypeError, match="not \\(B, classes\\) logits"):
        ch.grad_cam(model, x, "act")
    want = ch.grad_cam(plain, x, "act", targets=[0, 2, 4])
    got = ch.grad_cam(model, x, "act", targets=[0, 2, 4], output=lambda o: o.scores)
    assert torch.allclose(got.raw, want.raw, atol=1e-6) and got.layer == "act"
    assert torch.equal(got.logits, want.logits)
    predicted = ch.grad_cam(model, x, "act", output=lambda o: o.scores)   # the predicted class needs the logits
    assert torch.equal(predicted.targets, want.logits.argmax(1))
    # the perturbation CAMs call the model again, on masked inputs: through the same output
    sc_want = ch.score_cam(plain, x, "act", targets=1, progress=False)
    sc_got = ch.score_cam(model, x, "act", targets=1, progress=False, output=lambda o: o.scores)
    assert torch.allclose(sc_got.raw, sc_want.raw, atol=1e-5)
    ab = ch.ablation_cam(model, x, "act", targets=1, progress=False, output=lambda o: o.scores)
    assert torch.allclose(ab.raw, ch.ablation_cam(plain, x, "act", targets=1, progress=False).raw, atol=1e-5)
    ex = ch.Explainer(model, x, "act", output=lambda o: o.scores)
    assert torch.allclose(ex.cam("act", targets=3).raw, ch.cam(plain, x, "act", targets=3).raw, atol=1e-6)
    with pytest.raises(TypeError, match="output must be a function"):
        ch.grad_cam(model, x, "act", output="scores")


def test_with_output_is_the_same_model_seen_through_a_function():
    model, plain, x = pair()
    view = with_output(model, lambda o: o.scores)
    assert [n for n, _ in view.named_modules()][1:] == [n for n, _ in model.named_modules()][1:]
    assert view.state_dict().keys() == model.state_dict().keys()
    assert with_output(model, None) is model
    model.train()
    maps = ch.grad_cam(view, x, "act").map
    assert model.training and model.drop.training, "a call leaves the model as its caller left it"
    view.eval()
    assert not model.training and not model.drop.training
    # the metrics take it like any model: the deletion curve of the model seen through .scores
    curves = metrics.insertion_deletion(view, x, maps, targets=[0, 1, 2], progress=False)
    plain_curves = metrics.insertion_deletion(plain.eval(), x, maps, targets=[0, 1, 2], progress=False)
    for key in plain_curves:
        assert torch.allclose(torch.as_tensor(curves[key]), torch.as_tensor(plain_curves[key]), atol=1e-5), key


def test_reshape_reads_a_layer_the_adapters_do_not():
    model, plain, x = pair()
    want = ch.grad_cam(plain, x, "act", targets=2)
    got = ch.grad_cam(plain, x, "flat", targets=2, reshape=lambda t: t.unflatten(2, (16, 16)))
    assert torch.allclose(got.raw, want.raw, atol=1e-6) and got.layer == "flat"
    pp = ch.grad_cam_pp(plain, x, "flat", targets=2, reshape=lambda t: t.unflatten(2, (16, 16)))
    assert torch.allclose(pp.raw, ch.grad_cam_pp(plain, x, "act", targets=2).raw, atol=1e-6)
    with pytest.raises(ValueError, match="name that layer"):
        ch.grad_cam(plain, x, reshape=lambda t: t)
    with pytest.raises(ValueError, match=r"into \(3, 8, 256\); it must give \(B, C, h, w\)"):
        ch.grad_cam(plain, x, "flat", reshape=lambda t: t)
    with pytest.raises(ValueError, match="Ablation-CAM zeroes channels"):
        ch.ablation_cam(plain, x, "flat", reshape=lambda t: t.unflatten(2, (16, 16)), progress=False)


def vits():
    cfg = dict(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
    return {
        "blocks.11.norm1": timm.create_model("vit_tiny_patch16_224", num_classes=4, img_size=32),
        "vit.layers.1.layernorm_before": transformers.ViTForImageClassification(
            transformers.ViTConfig(num_labels=4, intermediate_size=64, **cfg)),
        "dinov2.encoder.layer.1.norm1": transformers.Dinov2ForImageClassification(
            transformers.Dinov2Config(num_labels=4, mlp_ratio=2, **cfg)),
    }


@pytest.mark.parametrize("expected", list(vits()))
def test_a_vit_default_layer_is_known_without_a_probe(expected):
    """The last block's first norm, known from the model's structure: Grad-CAM then records no graph before
    it (an automatic choice would start the graph at the input and cost the whole forward's memory)."""
    model = vits()[expected].eval()
    assert layers.known_target_layer(model) == expected
    x = torch.randn(2, 3, 32, 32)
    auto, named = ch.grad_cam(model, x, targets=1), ch.grad_cam(model, x, expected, targets=1)
    assert auto.layer == expected and torch.allclose(auto.raw, named.raw, atol=1e-6)
    assert layers.known_target_layer(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))) is None
