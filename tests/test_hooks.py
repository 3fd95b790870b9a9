"""Layer capture: gradients, clean-up, state restoration, layer lookup."""
import pytest
import torch
import torchvision
from torch import nn

from cam_helpers import (LayerNotFoundError, LayerNotReachedError, candidate_layers, capture, default_target_layer,
                         grad_cam, hook_count)
from cam_helpers.models import ShapesCNN, ShapesVGG


def test_gradients_match_full_backpropagation():
    model = ShapesCNN().eval()
    x = torch.randn(2, 3, 64, 64)
    with capture(model, ["features.1", "features.3"]) as cap:
        logits = model(x)
        grads = cap.gradients_of(logits[:, 2].sum())
    # Reference: the whole graph, gradients by tensor hooks after .backward()
    with capture(model, ["features.1", "features.3"], stop_at_layers=False) as ref:
        model(x)[:, 2].sum().backward()
    model.zero_grad(set_to_none=True)
    for name in ("features.1", "features.3"):
        assert torch.allclose(cap.activations[name], ref.activations[name], atol=1e-6)
        assert torch.allclose(grads[name], ref.gradients[name], atol=1e-6)


def test_stopping_at_the_layer_records_nothing_upstream():
    model = ShapesCNN().eval()
    with capture(model, "features.3") as cap:
        model(torch.randn(1, 3, 64, 64))
    act = cap.activations["features.3"]
    assert act.requires_grad and act.grad_fn is None  # a leaf: backprop ends here
    assert all(p.grad is None for p in model.parameters())


def test_hooks_removed_and_state_restored_even_when_body_raises():
    model = ShapesCNN()
    model.train()
    model.features[0][0].weight.requires_grad_(False)  # a frozen layer stays frozen
    before = [p.requires_grad for p in model.parameters()]
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, ["features.0", "features.3"]):
            assert not model.training  # eval inside
            assert hook_count(model) == 2
            model(torch.randn(1, 3, 64, 64))
            raise RuntimeError("boom")
    assert hook_count(model) == 0
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == before


def test_works_inside_no_grad():
    model = ShapesCNN().eval()
    x = torch.randn(1, 3, 64, 64)
    expected = grad_cam(model, x, targets=1)
    with torch.no_grad():
        inside = grad_cam(model, x, targets=1)
        assert not torch.is_grad_enabled()  # and the caller's mode is back
    assert torch.allclose(inside.raw, expected.raw)


def test_in_place_relu_after_the_layer_does_not_change_captured_values():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.randn(1, 3, 8, 8)
    conv_out = model[0](x)
    with capture(model, "0") as cap:
        logits = model(x)
        grads = cap.gradients_of(logits[0, 1])
    assert torch.allclose(cap.activations["0"], conv_out)  # negatives survived the in-place ReLU
    assert (cap.activations["0"] < 0).any()
    # d logit / d conv_out = w / Z where conv_out > 0, else 0
    expected = (model[4].weight[1] / 36)[:, None, None] * (conv_out[0] > 0)
    assert torch.allclose(grads["0"][0], expected, atol=1e-7)


def test_unknown_layer_lists_close_matches():
    model = torchvision.models.resnet18()
    with pytest.raises(LayerNotFoundError, match="layer4") as err:
        capture(model, "layer5")
    assert "no layer named 'layer5'" in str(err.value)


def test_foreign_module_is_refused():
    with pytest.raises(LayerNotFoundError, match="not part of"):
        capture(ShapesCNN(), nn.Conv2d(3, 3, 1))


def test_layer_not_reached_by_forward():
    model = ShapesCNN().eval()
    model.unused = nn.Conv2d(128, 128, 1)
    with pytest.raises(LayerNotReachedError, match="never ran"):
        grad_cam(model, torch.randn(1, 3, 64, 64), layer="unused")
    assert hook_count(model) == 0


@pytest.mark.parametrize("name, layer", [
    ("resnet18", "layer4"), ("vgg11", "features.19"), ("densenet121", "features.norm5"),
    ("efficientnet_b0", "features.8"), ("mobilenet_v2", "features.18"),
    ("mobilenet_v3_small", "features.12"), ("convnext_tiny", "features.7"),
])
def test_default_target_layer_for_torchvision_families(name, layer):
    model = torchvision.models.get_model(name)
    assert default_target_layer(model) == layer
    grad_cam(model.eval(), torch.randn(1, 3, 64, 64))  # and it runs


def test_default_and_candidate_layers_of_course_models():
    assert default_target_layer(ShapesCNN()) == "features.3"
    assert candidate_layers(ShapesCNN()) == ["features.0", "features.1", "features.2", "features.3"]
    assert candidate_layers(ShapesVGG()) == ["features.0", "features.1", "features.2", "features.3", "features.4"]


def test_candidate_layers_of_resnet_in_forward_order():
    model = torchvision.models.resnet18()
    layers = candidate_layers(model, torch.zeros(1, 3, 64, 64))
    assert layers == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert hook_count(model) == 0


def test_count_images_counts_what_goes_through_the_model_and_leaves_no_hook():
    import cam_helpers as ch
    from cam_helpers import speed
    model = ShapesCNN().eval()
    x = torch.randn(3, 3, 64, 64)
    with speed.count_images(model) as seen:
        with torch.no_grad():
            model(x)
            model(x[:1])
    assert seen.images == 4 and ch.hook_count(model) == 0
    with pytest.raises(RuntimeError), speed.count_images(model) as seen:
        raise RuntimeError("the body raises")
    assert ch.hook_count(model) == 0
    with speed.count_images(model) as seen:   # Grad-CAM: one forward pass per image
        ch.grad_cam(model, x, "features.3")
    assert seen.images == 3


def test_median_time_is_the_median_of_the_timed_calls_after_the_warm_up(monkeypatch):
    from cam_helpers import speed
    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 22.0])   # start/stop pairs: 5, 1 and 2 seconds
    monkeypatch.setattr(speed.time, "perf_counter", lambda: next(clock))
    calls = []
    assert speed.median_time(lambda: calls.append(1), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        speed.median_time(lambda: None, repeats=0)
