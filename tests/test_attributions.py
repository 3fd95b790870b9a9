"""captum's general attributions through the course's call shape (cam_helpers/methods/attributions.py).

Each record gives exactly what captum gives when called by hand with the same settings, on three
architectures (random weights), with class indices, the predicted class and a callable score; the model is
left as it was; and the methods go wherever a method goes: the explorers' list, the metrics, the randomisation
check and explain_folder."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from captum import attr as ca

import cam_helpers as ch
from cam_helpers import metrics, registry, sanity
from cam_helpers.methods.attributions import CAPTUM, SAMPLING, _blurred, patches
from cam_helpers.models import ShapesCNN
from cam_helpers.widgets import explorer_methods

NAMES = list(CAPTUM)


def _models():
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=5)
    for m in resnet.modules():   # captum's DeepLift and LRP need one ReLU module per use; torchvision's reuses them
        if isinstance(m, torchvision.models.resnet.BasicBlock):
            m.relu = torch.nn.ReLU()   # (the second use gets its own module below)
            m.relu2 = torch.nn.ReLU()
            m.forward = _basic_block_forward.__get__(m)
    vgg = torchvision.models.vgg11_bn(num_classes=5)
    vgg.avgpool = torch.nn.AdaptiveAvgPool2d(1)
    vgg.classifier = torch.nn.Linear(512, 5)   # a GAP head (torchvision's forward flattens)
    return {"shapes_cnn": (ShapesCNN().eval(), 64), "resnet18": (resnet.eval(), 64), "vgg11_bn": (vgg.eval(), 64)}


def _basic_block_forward(self, x):
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    return self.relu2(self.bn2(self.conv2(out)) + identity)


MODELS = _models()


def _seed():
    """captum's samplers draw from torch's generator, and GradientSHAP's baselines from numpy's."""
    torch.manual_seed(1)
    np.random.seed(1)


def _by_hand(name, model, x, target):
    """captum called directly, with the settings the record uses."""
    cls = getattr(ca, CAPTUM[name][0])(model)
    kwargs = {}
    if name in SAMPLING:
        kwargs["feature_mask"] = patches(x, 8)
    if name == "shapley_value_sampling":
        kwargs["perturbations_per_eval"] = 16
    if name == "gradient_shap":
        kwargs["baselines"] = torch.cat([torch.zeros_like(x[:1]), _blurred(x[:1])])
    if name in ("shapley_value_sampling", "lime", "kernel_shap"):
        kwargs["n_samples"] = 2 if name == "shapley_value_sampling" else 20
    return cls.attribute(x.clone().requires_grad_(name not in SAMPLING), target=target, **kwargs).detach()


@pytest.mark.parametrize("arch", list(MODELS))
@pytest.mark.parametrize("name", NAMES)
def test_each_record_gives_what_captum_gives(name, arch):
    model, size = MODELS[arch]
    x = torch.randn(2, 3, size, size)
    options = {"n_samples": 2 if name == "shapley_value_sampling" else 20} if name in SAMPLING else {}
    _seed()
    ours = registry.get(name).fn(model, x, None, [1, 3], **options)
    _seed()
    theirs = _by_hand(name, model, x, torch.tensor([1, 3]))
    assert ours.raw.shape == x.shape and ours.map.shape == (2, size, size)
    assert torch.allclose(ours.raw, theirs, atol=1e-6, rtol=1e-5), (name, arch, (ours.raw - theirs).abs().max())
    assert ours.targets.tolist() == [1, 3] and ours.method == name and ours.layer == "input"
    assert torch.isfinite(ours.map).all() and ours.map.min() >= 0 and ours.map.max() <= 1
    assert torch.equal(ours.map, registry.get(name).to_map(ours.raw, (size, size)))


@pytest.mark.parametrize("name", NAMES)
def test_the_predicted_class_a_score_function_and_the_models_state(name):
    model = copy.deepcopy(MODELS["shapes_cnn"][0]).train()
    x = torch.randn(2, 3, 64, 64)
    options = {"n_samples": 2} if name in SAMPLING else {}
    _seed()
    r = registry.get(name).fn(model, x, **options)
    with torch.no_grad():
        assert r.targets.tolist() == model.eval()(x).argmax(1).tolist()
    model.train()
    _seed()
    scored = registry.get(name).fn(model, x, targets=lambda out: out[:, 2], **options)
    _seed()
    indexed = registry.get(name).fn(model, x, targets=2, **options)
    assert torch.allclose(scored.raw, indexed.raw, atol=1e-6)   # the score of class 2, as a function
    assert model.training and all(p.requires_grad for p in model.parameters()) and ch.hook_count(model) == 0
    with pytest.raises(ValueError, match="the batch is empty"):   # our check, before captum is called
        registry.get(name).fn(model, x[:0], **options)


def test_deeplift_is_complete_and_the_records_say_where_they_come_from():
    """DeepLIFT's attributions add up to the score's change from the baseline (its summation-to-delta)."""
    model = MODELS["shapes_cnn"][0]
    x = torch.randn(3, 3, 64, 64)
    r = registry.get("deeplift").fn(model, x, targets=[0, 1, 2])
    with torch.no_grad():
        delta = model(x)[torch.arange(3), r.targets] - model(torch.zeros_like(x))[torch.arange(3), r.targets]
    assert torch.allclose(r.raw.sum((1, 2, 3)), delta, atol=1e-3 * delta.abs().max().item())
    rows = {row["method"]: row for row in registry.table("pixel", "attribution")}
    assert all(rows[n]["source"] == "captum" for n in NAMES) and rows["saliency"]["source"] == "cam_helpers"
    assert set(NAMES) == set(registry.names("attribution")) <= set(explorer_methods())
    with pytest.raises(TypeError, match=r"lrp \(captum's LRP\) cannot explain this model: .*Flatten"):
        registry.get("lrp").fn(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                                        torch.nn.Linear(4 * 62 * 62, 2)), x)


def test_they_go_wherever_a_method_goes(tmp_path):
    model = MODELS["shapes_cnn"][0]
    x = torch.randn(4, 3, 64, 64)
    deeplift = registry.get("deeplift").fn
    curves = metrics.insertion_deletion(model, x, deeplift(model, x).map)
    assert torch.isfinite(curves["deletion_auc"]).all()
    check = sanity.randomisation_check(model, x[:2], deeplift)
    assert check["spearman"].shape == (len(check["layers"]), 2) and torch.isfinite(check["spearman"]).all()
    from PIL import Image
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray((torch.rand(64, 64, 3) * 255).byte().numpy()).save(folder / f"{i}.png")
    summary = ch.explain_folder(model, folder, tmp_path / "maps", "input_x_gradient",
                                preprocess=ch.preprocessing(size=64, mean=(0.5,) * 3, std=(0.25,) * 3), progress=False)
    assert len(summary.rows) == 2 and all(r["method"] == "input_x_gradient" for r in summary.rows)
