"""Hardening (issue 14, first steps): memory of multi-layer explainers,
several threads on one model, near-constant maps, targets that are not
class indices, non-finite pixels."""
import gc
import threading
import weakref

import pytest
import torch

import cam_helpers as ch
from cam_helpers import metrics, pixels, vit
from cam_helpers.models import ShapesCNN, ShapesVGG

LAYERS = ["features.0", "features.1", "features.2", "features.3"]


def test_a_multi_layer_explainer_frees_every_activation():
    model = ShapesCNN().eval()
    ex = ch.Explainer(model, torch.randn(2, 3, 64, 64), LAYERS)
    ex.grad_cam("features.3", 1)
    refs = [weakref.ref(a) for a in ex.activations.values()] + [weakref.ref(ex.logits)]
    del ex
    gc.collect()
    assert [r() is None for r in refs] == [True] * len(refs)


def test_the_explorer_frees_its_activations():
    from cam_helpers.widgets import CAMExplorer
    model = ShapesCNN().eval()
    explorer = CAMExplorer(model, torch.randn(1, 3, 64, 64), torch.zeros(64, 64, 3, dtype=torch.uint8).numpy(),
                           [str(i) for i in range(6)])
    explorer.klass.value = 3
    refs = [weakref.ref(a) for a in explorer.explainer.activations.values()]
    explorer.close()
    del explorer
    gc.collect()
    assert all(r() is None for r in refs)


def _hammer(model, x, calls, threads=4):
    results, errors = {}, []

    def work(k):
        try:
            for i in range(calls):
                name, fn = [("grad_cam", ch.grad_cam), ("layer_cam", ch.layer_cam), ("saliency", pixels.saliency),
                            ("guided", pixels.guided_backprop)][(k + i) % 4]
                results.setdefault((name, i % 6), []).append(fn(model, x, targets=i % 6).raw.clone())
        except BaseException as err:  # surfaced below
            errors.append(err)
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    return results


def test_threads_on_one_model_give_the_serial_maps_and_leave_it_as_it_was():
    torch.manual_seed(0)
    model = ShapesCNN()
    model.train()                                   # a model left in train mode, as in a demo server
    x = torch.randn(3, 3, 64, 64)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    serial = {}
    for name, fn in [("grad_cam", ch.grad_cam), ("layer_cam", ch.layer_cam), ("saliency", pixels.saliency),
                     ("guided", pixels.guided_backprop)]:
        for t in range(6):
            serial[(name, t)] = fn(model, x, targets=t).raw
    results = _hammer(model, x, calls=24)
    for key, maps in results.items():
        for m in maps:
            torch.testing.assert_close(m, serial[key], msg=str(key))
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k        # BatchNorm running statistics untouched
    assert ch.hook_count(model) == 0
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_a_near_constant_map_normalises_to_zero():
    flat = torch.full((1, 7, 7), 3.0)
    flat[0, 3, 3] += 3e-7                           # float noise on a constant
    assert ch.normalize(flat).abs().max() == 0
    up = ch.upsample(torch.full((1, 1, 1), 2.5), (64, 64))   # a 1x1 map upsampled: constant up to rounding
    assert ch.normalize(up).abs().max() == 0
    real = torch.tensor([[[0.0, 1e-3], [2e-3, 0.0]]])          # small but real contrast is kept
    assert ch.normalize(real).max() == 1


@pytest.mark.parametrize("targets, message", [(2.7, "whole numbers"), (True, "whole numbers"),
                                              ([-0.5, 1.0], "whole numbers"),
                                              (torch.tensor([1.5, 2.0]), "whole numbers")])
def test_targets_that_are_not_class_indices_are_refused(targets, message):
    model = ShapesCNN().eval()
    with pytest.raises(TypeError, match=message):
        ch.grad_cam(model, torch.randn(2, 3, 64, 64), targets=targets)


def test_whole_float_targets_are_accepted():
    model = ShapesCNN().eval()
    x = torch.randn(2, 3, 64, 64)
    assert ch.grad_cam(model, x, targets=[2.0, 3.0]).targets.tolist() == [2, 3]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_pixels_are_refused(bad):
    model = ShapesVGG().eval()
    x = torch.randn(2, 3, 64, 64)
    x[1, 0, 5, 5] = bad
    with pytest.raises(ValueError, match=r"not finite.*image\(s\) \[1\]"):
        ch.grad_cam(model, x)
    assert ch.hook_count(model) == 0


class _Twice(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(self.conv(self.conv(x)).mean((2, 3)))


class _Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = ShapesCNN().eval()

    def forward(self, x):
        return x.mean(), self.net(x)   # a tuple whose first element is not the logits


def _in_inference_mode(call):
    with torch.inference_mode():
        return call()


X = torch.randn(2, 3, 64, 64)
MODEL = ShapesCNN().eval()


@pytest.mark.parametrize("call, error, message", [
    (lambda: ch.grad_cam(MODEL, X[:0]), ValueError, "the batch is empty"),
    (lambda: ch.score_cam(MODEL, X[:0], progress=False), ValueError, "the batch is empty"),
    (lambda: pixels.saliency(MODEL, X[:0]), ValueError, "the batch is empty"),
    (lambda: ch.grad_cam(MODEL, X, layer=3), TypeError, "layer is a dotted name"),
    (lambda: ch.grad_cam(MODEL, X, layer=""), ch.LayerNotFoundError, "whole ShapesCNN"),
    (lambda: ch.grad_cam(MODEL, X, layer=MODEL), ch.LayerNotFoundError, "whole ShapesCNN"),
    (lambda: ch.grad_cam(MODEL, X, layer="head"), ValueError, "not a feature map"),
    (lambda: _in_inference_mode(lambda: ch.grad_cam(MODEL, X)), RuntimeError, "inference_mode"),
    (lambda: ch.grad_cam(_Pair(), X, layer="net.features.3"), TypeError, "returns tuple, not .B, classes. logits"),
    (lambda: pixels.saliency(_Pair(), X), TypeError, "returns tuple"),
    (lambda: ch.grad_cam(_Twice(), X, layer="conv"), ValueError, "ran more than once"),
    (lambda: ch.score_cam(MODEL, X, top_k=0, progress=False), ValueError, "top_k must be a positive"),
    (lambda: ch.score_cam(MODEL, X, batch_size=-1, progress=False), ValueError, "batch_size must be a positive"),
    (lambda: ch.ablation_cam(MODEL, X, batch_size=0, progress=False), ValueError, "batch_size must be a positive"),
    (lambda: pixels.integrated_gradients(MODEL, X, steps=0), ValueError, "steps must be a positive"),
    (lambda: pixels.occlusion(MODEL, X, stride=0), ValueError, "stride must be a positive"),
    (lambda: pixels.smooth_grad(MODEL, X, samples=0), ValueError, "samples must be a positive"),
    (lambda: metrics.insertion_deletion(MODEL, X, torch.rand(2, 64, 64), step=0), ValueError, "step must be"),
    (lambda: metrics.energy_pointing_game(torch.full((2, 64, 64), float("nan")), torch.ones(2, 64, 64)),
     ValueError, "NaN"),
])
def test_cryptic_failures_become_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert ch.hook_count(MODEL) == 0 and not MODEL.training


def test_masks_of_0_and_255_count_as_masks():
    maps = torch.rand(2, 64, 64)
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[:, 10:30, 5:40] = True
    as_255 = masks.to(torch.uint8) * 255
    torch.testing.assert_close(metrics.energy_pointing_game(maps, as_255), metrics.energy_pointing_game(maps, masks))
    assert torch.equal(metrics.pointing_game(maps, as_255), metrics.pointing_game(maps, masks))


def test_16_bit_and_float_images_load_with_their_range(tmp_path):
    import numpy as np
    from PIL import Image

    from cam_helpers.photos import load_image, read_rgb
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    rgb = read_rgb(tmp_path / "deep.png")
    assert rgb.dtype == np.uint8 and rgb.min() == 0 and rgb.max() == 255
    assert abs(float(rgb.mean()) - 127.5) < 2                      # not all white
    floats = Image.fromarray((ramp / 65535).astype(np.float32), mode="F")
    assert abs(float(read_rgb(floats).mean()) - 127.5) < 2
    with pytest.raises(ValueError, match="size must be a positive"):
        load_image(tmp_path / "deep.png", size=0)


class _NoParams(torch.nn.Module):
    def forward(self, x):
        feats = torch.nn.functional.relu(x)
        return feats.mean((2, 3))


def test_a_model_without_parameters_is_explained_on_the_inputs_device():
    model = torch.nn.Sequential()
    model.add_module("features", torch.nn.ReLU())
    model.add_module("head", _NoParams())
    r = ch.grad_cam(model, torch.rand(2, 3, 16, 16), layer="features", targets=1)
    assert r.map.shape == (2, 16, 16) and torch.isfinite(r.map).all()


def test_a_greyscale_model_gets_a_default_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    r = ch.grad_cam(model, torch.randn(2, 1, 32, 32))
    assert r.layer == "1" and r.map.shape == (2, 32, 32)


def test_ablation_cam_when_the_class_logit_is_zero():
    model = ShapesCNN().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model.head.weight[2] = 0
        model.head.bias[2] = 0                           # the logit of class 2 is exactly 0, ablated or not
        assert model(x)[0, 2] == 0
    r = ch.ablation_cam(model, x, targets=2, progress=False)   # was 0/0: a NaN raw map
    assert torch.isfinite(r.raw).all() and r.map.abs().max() == 0


def _big_activations():
    """GAP + linear with activation sums near float16's limit (65,504)."""
    torch.manual_seed(0)
    m = torch.nn.Sequential()
    m.add_module("features", torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()))
    m.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
    m.add_module("flat", torch.nn.Flatten())
    m.add_module("head", torch.nn.Linear(4, 3))
    with torch.no_grad():
        m.features[0].weight.mul_(40)
    return m.eval(), torch.rand(2, 3, 64, 64) * 3


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "eigen_cam", "score_cam",
                                    "ablation_cam"])
def test_half_precision_models_give_the_float64_map(dtype, method):
    model, x = _big_activations()
    options = {"progress": False} if method in ("score_cam", "ablation_cam") else {}
    ref = getattr(ch, method)(model.double(), x.double(), layer="features", targets=1, **options).map
    half = getattr(ch, method)(model.to(dtype), x, layer="features", targets=1, **options).map
    assert half.abs().max() > 0                          # Grad-CAM++ was all zero in float16
    assert (half.double() - ref).abs().max() < 0.1, (half.double() - ref).abs().max()


def test_integrated_gradients_of_a_linear_model_is_exact_in_any_batching():
    """y = w . x: IG = (x - x') * w exactly, whatever batch_size splits the path."""
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1, bias=False), torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    lin.eval()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    lin = lin.double()
    w = torch.autograd.functional.jacobian(lambda v: lin(v[None])[0, 2], x[0])
    for batch_size in (1, 5, 7, 1000):
        r = pixels.integrated_gradients(lin, x, targets=2, steps=6, batch_size=batch_size)
        torch.testing.assert_close(r.raw, x * w[None])


def test_smooth_grad_over_a_partial_keeps_the_base_methods_reduction_and_name():
    import functools
    model = ShapesCNN().eval()
    x = torch.randn(1, 3, 64, 64)
    torch.manual_seed(1)
    r = pixels.smooth_grad(model, x, base=functools.partial(pixels.integrated_gradients, steps=4), samples=2)
    assert r.method == "smooth_grad(integrated_gradients)"
    torch.testing.assert_close(r.map, ch.normalize(torch.relu(r.raw.sum(1))))   # IG's reduction, not |.|max


def test_the_pointing_game_counts_any_maximal_pixel():
    maps = torch.zeros(2, 8, 8)
    maps[:, 1:3, 1:6] = 1.0                                 # a flat top from column 1 to 5
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, :, 4:] = True                                  # covers part of the top, not its first pixel
    masks[1, :, 6:] = True                                  # misses the top altogether
    assert metrics.pointing_game(maps, masks).tolist() == [True, False]
    assert not metrics.pointing_game(torch.zeros(1, 8, 8), torch.ones(1, 8, 8)).any()   # all zero: no hit


def test_numpy_integers_are_whole_numbers_too():
    import numpy as np
    model = ShapesCNN().eval()
    r = ch.score_cam(model, torch.randn(1, 3, 64, 64), top_k=np.int64(4), batch_size=np.int32(2), progress=False)
    assert torch.isfinite(r.map).all()


class _Functional(torch.nn.Module):
    """A small CNN that calls its activations as functions (one of each
    kind, one in place) and one as a module: guided backpropagation must
    guide all of them, so it equals the same network built from modules."""

    def __init__(self, modules: bool = False):
        super().__init__()
        self.modules_only = modules
        self.c1, self.c2, self.c3 = (torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.Conv2d(6, 6, 3, padding=1),
                                     torch.nn.Conv2d(6, 6, 3, padding=1))
        self.act3 = torch.nn.ReLU()
        self.acts = torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU6(), torch.nn.Hardtanh(-0.5, 0.5)])
        self.head = torch.nn.Linear(6, 4)

    def forward(self, x):
        if self.modules_only:
            x = self.acts[0](self.c1(x))
            x = self.acts[1](self.c2(x))
            x = self.acts[2](x)
        else:
            x = torch.nn.functional.relu(self.c1(x), inplace=True)
            x = torch.nn.functional.relu6(self.c2(x))
            x = torch.nn.functional.hardtanh(x, -0.5, 0.5)
        x = self.act3(self.c3(x))
        return self.head(x.mean((2, 3)))


def test_guided_backprop_guides_functional_activations_too():
    torch.manual_seed(0)
    functional, modules = _Functional(), _Functional(modules=True)
    modules.load_state_dict(functional.state_dict())
    x = torch.randn(3, 3, 12, 12)
    guided = pixels.guided_backprop(functional, x, targets=[0, 1, 2]).raw
    assert torch.allclose(guided, pixels.guided_backprop(modules, x, targets=[0, 1, 2]).raw, atol=1e-6)
    plain = pixels.saliency(functional, x, targets=[0, 1, 2]).raw
    assert (guided - plain).norm() > 0.5 * plain.norm()     # guided, not the plain gradient
    with pixels.guided_relus(functional) as g:
        functional(x)
    assert g.functional_calls == 3
    assert torch.equal(torch.relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))  # the mode is gone


def _vit(**kw):
    from torchvision.models import VisionTransformer
    torch.manual_seed(0)
    return VisionTransformer(image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, mlp_dim=32,
                             num_classes=6, **kw)


VIT_CALLS = [("attention", lambda m, x, t: vit.attention_map(m, x, 1, t, head=1)),
             ("rollout", lambda m, x, t: vit.rollout(m, x, None, t)),
             ("gradient_rollout", lambda m, x, t: vit.gradient_rollout(m, x, None, t)),
             ("grad_cam", lambda m, x, t: vit.grad_cam(m, x, 1, t)),
             ("legrad", lambda m, x, t: vit.legrad(m, x, None, t))]


def test_threads_on_one_vit_give_the_serial_maps_and_leave_it_as_it_was():
    model = _vit(dropout=0.2, attention_dropout=0.2)
    model.train()              # dropout makes maps random if any call runs in train mode
    x = torch.randn(2, 3, 32, 32)
    flags = [p.requires_grad for p in model.parameters()]
    serial = {(name, t): fn(model, x, t).raw for name, fn in VIT_CALLS for t in range(3)}
    errors, results = [], []

    def work(k):
        try:
            for i in range(10):
                name, fn = VIT_CALLS[(k + i) % len(VIT_CALLS)]
                results.append(((name, i % 3), fn(model, x, i % 3).raw))
        except BaseException as err:  # surfaced below
            errors.append(err)
    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    for key, raw in results:
        torch.testing.assert_close(raw, serial[key], msg=str(key))
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert ch.hook_count(model) == 0 and not any("forward" in m.__dict__ for m in model.modules())


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if torch.is_tensor(o))


def test_repeated_vit_explainers_and_explorers_leave_nothing_behind():
    from cam_helpers.widgets import ViTExplorer
    model = _vit().eval()
    x = torch.randn(1, 3, 32, 32)
    image = torch.zeros(32, 32, 3, dtype=torch.uint8).numpy()

    def round_trip():
        ex = vit.ViTExplainer(model, x)
        ex.gradient_rollout(), ex.legrad(), ex.grad_cam()
        explorer = ViTExplorer(model, x, image, [str(i) for i in range(6)])
        explorer.method.value = "legrad"
        explorer.close()
    round_trip()
    before = _live_tensors()
    for _ in range(5):
        round_trip()
    assert _live_tensors() - before <= 2
