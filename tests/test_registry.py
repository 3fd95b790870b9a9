"""The registry of methods: one record per method, read by everything else.

Every public method is a record with the one call shape; the Explainer, the
explorers and SmoothGrad find methods through it; ``raw`` is signed and
``map`` is the record's ``to_map(raw)``; a new method is one record plus its
rule, and then works everywhere."""
import functools
import inspect

import pytest
import torch

import cam_helpers as ch
from cam_helpers import pixels, registry, rules, vit
from cam_helpers.models import ShapesCNN
from cam_helpers.widgets import CAMExplorer, explorer_methods


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return ShapesCNN().eval()


def test_every_method_is_one_record_with_the_one_call_shape():
    assert set(registry.names("cam")) == set(ch.METHODS)
    assert set(registry.names("pixel")) == set(pixels.PIXEL_METHODS)
    assert set(registry.names("vit")) == set(vit.VIT_METHODS)
    for record in registry.methods():
        params = list(inspect.signature(record.fn).parameters)
        assert params[:4] == ["model", "x", "layer", "targets"], record.name
        assert record.paper and record.url.startswith("https://") and record.formula and record.cost
        assert registry.lookup(record.fn) is record
        assert registry.lookup(functools.partial(record.fn, layer=None)) is record
        if record.family == "cam":
            assert getattr(ch, record.name) is record.fn


def test_public_functions_show_their_parameters_and_formula():
    sig = inspect.signature(ch.grad_cam_pp)
    assert "eps" in sig.parameters and sig.parameters["eps"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "alpha" in ch.grad_cam_pp.__doc__ and "Chattopadhay" in ch.grad_cam_pp.__doc__
    assert list(inspect.signature(ch.score_cam).parameters)[4:] == ["batch_size", "top_k", "skip_constant",
                                                                    "progress", "like", "reshape", "output"]
    with pytest.raises(TypeError):
        ch.grad_cam_pp(ShapesCNN(), torch.randn(1, 3, 64, 64), None, None, 1e-6)   # options by name only


def test_raw_is_signed_and_map_is_the_records_reduction(cnn):
    x = torch.randn(3, 3, 64, 64)
    for name in ("cam", "grad_cam", "xgrad_cam", "hires_cam", "eigen_cam", "eigen_grad_cam"):
        r = getattr(ch, name)(cnn, x, "features.3", [0, 2, 5])
        assert (r.raw < 0).any(), f"{name}: raw should keep its negative evidence"
        assert torch.allclose(r.map, registry.get(name).to_map(r.raw, (64, 64))), name
    s = pixels.saliency(cnn, x, targets=[0, 2, 5])
    assert (s.raw < 0).any() and torch.equal(s.map, registry.get("saliency").to_map(s.raw, (64, 64)))
    # the Grad-CAM rule on the token grid: the ViT's raw is signed too
    torch.manual_seed(0)
    from cam_helpers.models import shapes_vit
    model = shapes_vit().eval()
    torch.nn.init.normal_(model.heads.head.weight)   # torchvision starts the head at zero
    v = vit.grad_cam(model, torch.randn(2, 3, 64, 64), 3, [1, 2])
    assert (v.raw < 0).any() and torch.allclose(v.map, ch.cams.relu_map(v.raw, (64, 64)))


def test_the_rules_are_pure_functions_of_activations_and_gradients():
    a = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[0.0, 1.0], [3.0, 0.0]]]])     # (1, 2, 2, 2)
    g = torch.tensor([[[[0.5, -1.0], [0.5, 1.0]], [[-2.0, 0.0], [1.0, 1.0]]]])
    assert torch.equal(rules.grad_cam(a, g), 0.25 * a[:, 0] + 0.0 * a[:, 1])       # channel means 0.25, 0
    assert torch.equal(rules.hires_cam(a, g), (a * g).sum(1))
    assert torch.equal(rules.layer_cam(a, g), (a * g.clamp_min(0)).sum(1))
    assert torch.equal(rules.grad_cam(a, g, counterfactual=True), -rules.grad_cam(a, g))
    assert rules.eigen_grad_cam(a, g).shape == (1, 2, 2)


def test_a_new_method_is_one_record_and_then_works_everywhere(cnn, monkeypatch, capsys):
    """The proof of the design: register a method (here the positive part of
    HiResCAM's products, "Grad-CAM element-wise" in pytorch-grad-cam) with
    nothing but its rule, and it is a public function with a real signature,
    an Explainer method by name, an explorer choice, a SmoothGrad base, a name of the package and of its
    lists, and a line of ``python -m cam_helpers methods``."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))

    def element_wise(acts, grads, scale: float = 1.0):
        """Element-wise Grad-CAM: sum_k ReLU(g^k * A^k)."""
        return scale * (grads * acts).clamp_min(0).sum(1)
    record = ch.register_cam("element_wise_cam", element_wise, paper="pytorch-grad-cam's GradCAMElementWise",
                             url="https://github.com/jacobgil/pytorch-grad-cam", formula="sum_k ReLU(g A)")
    x = torch.randn(2, 3, 64, 64)
    fn = record.fn
    assert list(inspect.signature(fn).parameters) == ["model", "x", "layer", "targets", "scale", "reshape", "output"]
    ex = ch.Explainer(cnn, x, "features.3")
    by_hand = (ex.gradients([1, 4])["features.3"] * ex.activations["features.3"]).clamp_min(0).sum(1)
    assert torch.allclose(fn(cnn, x, "features.3", [1, 4]).raw, by_hand, atol=1e-7)
    assert torch.allclose(ex.explain("element_wise_cam", None, [1, 4], scale=2.0).raw, 2 * by_hand, atol=1e-7)
    assert torch.equal(ex.element_wise_cam(None, [1, 4]).raw, ex.explain("element_wise_cam", None, [1, 4]).raw)
    assert "element_wise_cam" in explorer_methods()
    explorer = CAMExplorer(cnn, x[:1], torch.zeros(64, 64, 3, dtype=torch.uint8).numpy(), [str(i) for i in range(6)])
    explorer.method.value = "element_wise_cam"
    assert explorer.result.method == "element_wise_cam"
    explorer.close()
    smooth = pixels.smooth_grad(cnn, x, "features.3", 1, base=fn, samples=2)
    assert smooth.method == "smooth_grad(element_wise_cam)" and smooth.raw.shape == (2, 8, 8)
    # the live lists: the package's names and the command line read the registry when asked, not at import
    assert ch.element_wise_cam is fn and "element_wise_cam" in ch.METHODS and "element_wise_cam" in ch.__all__
    assert "element_wise_cam" in dir(ch) and "element_wise_cam" in registry.names("cam")
    from cam_helpers import cli
    assert cli.main(["methods"]) == 0
    assert any(line.split()[:2] == ["element_wise_cam", "cam"] for line in capsys.readouterr().out.splitlines())


def test_a_method_from_the_models_weights_is_one_record_too(cnn, monkeypatch):
    """The other kind of record: channel weights read from the model (as CAM, Score-CAM and Ablation-CAM
    do), ``raw = sum_k w_k A^k``. The explainer core runs it with no method of its own; a wrong record
    (both a rule and weights, or neither) is refused."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))

    def logit_weights(ex, layer, acts, t, *, power: int = 1):
        """w_k = (the head's weight of class c on channel k) ** power."""
        return ch.cams.linear_head(ex.model).weight.detach()[t] ** power
    ch.register_cam("head_cam", weights=logit_weights, paper="(a test)", url="https://example.org",
                    formula="w_k = W[c, k] ** power", backward=False, cost="1 forward")
    x = torch.randn(2, 3, 64, 64)
    ex = ch.Explainer(cnn, x)
    assert torch.allclose(ex.head_cam(targets=[1, 4]).raw, ex.cam(targets=[1, 4]).raw, atol=1e-6)
    assert torch.allclose(ch.head_cam(cnn, x, targets=[1, 4], power=1).raw, ex.cam(targets=[1, 4]).raw, atol=1e-6)
    assert list(inspect.signature(ch.head_cam).parameters)[4:] == ["power", "reshape", "output"]
    assert ex.backward_passes == 0 and "head_cam" in dir(ex)
    for wrong in ({}, {"rule": rules.grad_cam, "weights": logit_weights}):
        with pytest.raises(ValueError, match="a rule or weights"):
            ch.register_cam("wrong_cam", paper="", url="", formula="", **wrong)


def test_unknown_names_list_the_choices():
    with pytest.raises(KeyError, match="unknown CAM method 'gradcam'.*grad_cam"):
        registry.get("gradcam", "cam")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Method(**{**registry.get("grad_cam").__dict__, "fn": lambda: None}))
    rows = registry.table("cam")
    assert [r["method"] for r in rows] == list(ch.METHODS) and all(r["raw -> map"] for r in rows)


def test_the_explorer_counts_every_pass_and_uses_quick_settings_on_large_images():
    import numpy as np
    torch.manual_seed(0)
    model = ShapesCNN().eval()
    x = torch.randn(1, 3, 160, 160)                        # larger than widgets.QUICK_ABOVE
    names = [str(i) for i in range(6)]
    ex = CAMExplorer(model, x, np.zeros((160, 160, 3), np.uint8), names)
    assert (ex.forward_passes, ex.backward_passes) == (1, 1)
    ex.method.value = "saliency"                           # a pixel method: its passes count too
    assert (ex.forward_passes, ex.backward_passes) == (2, 2)
    ex.method.value = "score_cam"                          # expensive: the registry's quick settings
    k = registry.get("score_cam").quick["top_k"]
    assert "top_k=32: quick settings" in ex.status.value and ex.forward_passes == 2 + k
    quick = ch.score_cam(model, x, "features.3", ex.klass.value, **registry.get("score_cam").quick)
    assert torch.allclose(ex.result.map, quick.map, atol=1e-6)
    ex.close()
    small = CAMExplorer(model, x[..., :64, :64], np.zeros((64, 64, 3), np.uint8), names)
    small.method.value = "score_cam"                       # a lab scene: every channel, exact
    assert "quick" not in small.status.value and small.forward_passes > 1 + k
    small.close()


def test_the_explorer_says_when_a_map_is_empty_or_missing():
    import numpy as np
    model = ShapesCNN().eval()
    torch.nn.init.zeros_(model.head.weight)                # every gradient is 0: Grad-CAM has nothing to show
    ex = CAMExplorer(model, torch.randn(1, 3, 64, 64), np.zeros((64, 64, 3), np.uint8), [str(i) for i in range(6)])
    assert "the map is empty" in ex.status.value and "peak at" not in ex.status.value
    ex.layer.value, ex.method.value = "features.1", "cam"  # CAM before the GAP: no map, and the reason
    assert ex.result is None and "no map here" in ex.status.value
    import cv2
    shown = cv2.imdecode(np.frombuffer(ex.image.value, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape[:2] == (256, 512)                   # the same size as a map's panel
    ex.close()
