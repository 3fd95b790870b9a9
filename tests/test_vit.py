"""The ViT track: attention capture, rollout, gradient rollout, Grad-CAM on
tokens and LeGrad, on the course ViT, on torchvision's vit_b_16 with random
weights, and on a ViT with a non-square patch grid. Nothing is downloaded."""
import pytest
import torch
import torchvision
from pytorch_grad_cam import EigenCAM, EigenGradCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torchcam.methods import LeGrad
from torchvision.models.vision_transformer import VisionTransformer
from toys import EPS32, assert_same_maps, cast, rel_diff

import cam_helpers as ch
from cam_helpers import data, hook_count, models, sanity, vit
from cam_helpers.vit import ViTExplainer


class RectViT(VisionTransformer):
    """torchvision's ViT taking one fixed (H, W) that need not be square."""

    def __init__(self, height, width, patch_size, **kw):
        super().__init__(image_size=max(height, width), patch_size=patch_size, **kw)
        self.height, self.width = height, width
        seq = 1 + (height // patch_size) * (width // patch_size)
        self.encoder.pos_embedding = torch.nn.Parameter(torch.randn(1, seq, self.hidden_dim) * 0.02)

    def _process_input(self, x):
        n, _, h, w = x.shape
        assert (h, w) == (self.height, self.width)
        x = self.conv_proj(x)
        return x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)


def _randomise_head(model):
    # torchvision initialises the classifier to zero: every gradient would be 0.
    torch.nn.init.normal_(model.heads.head.weight, std=0.05)
    return model


@pytest.fixture(scope="module")
def shapes_vit():
    model = models.load_course_model("shapes_vit")
    ds = data.ShapesDataset("two", split="test", size=4, seed=3)
    x = torch.cat([ds.scene(i).tensor() for i in range(4)])
    return model, x


@pytest.fixture(scope="module")
def vit_b_16():
    torch.manual_seed(0)
    # the real architecture (12 blocks of 12 heads, 768 wide) at 112 px, a 7 x 7 grid: a quarter of the tokens
    # of 224 px, so the suite stays quick; the 14 x 14 grid is tested on the stand-in photo model below
    model = _randomise_head(torchvision.models.vit_b_16(image_size=112)).eval()
    return model, torch.randn(2, 3, 112, 112)


@pytest.fixture(scope="module")
def rect_vit():
    torch.manual_seed(0)
    model = _randomise_head(RectViT(48, 80, 16, num_layers=3, num_heads=2, hidden_dim=32, mlp_dim=64,
                                    num_classes=5)).eval()
    return model, torch.randn(2, 3, 48, 80)


MODELS = ["shapes_vit", "vit_b_16", "rect_vit"]


@pytest.fixture(params=MODELS)
def any_vit(request):
    return request.getfixturevalue(request.param)


# -- attention capture ------------------------------------------------------

def test_captured_attention_matches_multihead_attention_weights(any_vit):
    """Under no_grad in eval mode (PyTorch's fused path, which never forms the
    attention matrix) the hook's probabilities equal what nn.MultiheadAttention
    returns when asked for per-head weights."""
    model, x = any_vit
    assert torch.backends.mha.get_fastpath_enabled()
    attentions, logits = vit.attentions(model, x)
    blocks = vit.blocks(model)
    assert len(attentions) == len(blocks)
    inputs = []
    handles = [b.ln_1.register_forward_hook(lambda m, a, out: inputs.append(out)) for b in blocks]
    with torch.no_grad():
        plain = model(x)
    for h in handles:
        h.remove()
    assert torch.allclose(logits, plain, atol=1e-6)
    gh, gw = vit.grid_shape(model, x)
    for block, ours, q in zip(blocks, attentions, inputs):
        with torch.no_grad():
            _, theirs = block.self_attention(q, q, q, need_weights=True, average_attn_weights=False)
        assert ours.shape == (x.shape[0], block.num_heads, 1 + gh * gw, 1 + gh * gw)
        assert (ours - theirs).abs().max() <= 1e-6


def test_replayed_attention_changes_nothing_and_is_on_the_graph(any_vit):
    model, x = any_vit
    with torch.no_grad():
        plain = model(x)
    ex = ViTExplainer(model, x)
    assert (ex.logits.detach() - plain).abs().max() <= 1e-5
    fast, _ = vit.attentions(model, x)
    for a, b in zip(fast, ex.attentions):
        assert a.requires_grad is False and b.requires_grad
        assert (a - b.detach()).abs().max() <= 1e-6
    grads = ex.attention_gradients(0)
    assert all(g.abs().sum() > 0 for g in grads)


def test_multihead_attention_weights_are_off_the_graph(shapes_vit):
    """Why the replay is needed: the weights nn.MultiheadAttention returns are
    a view made after its output; the logits do not depend on them."""
    model, x = shapes_vit
    kept = []

    def ask_for_weights(module, args, kwargs, output):
        out, w = module.forward(*args, need_weights=True, average_attn_weights=False)
        kept.append(w)
        return out, w

    handle = vit.blocks(model)[-1].self_attention.register_forward_hook(ask_for_weights, with_kwargs=True)
    try:
        logits = model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logits[:, 0].sum(), kept[-1], allow_unused=True)
    assert grad is None


def test_gradients_are_zero_where_theory_says(any_vit):
    """Only the CLS token of the last block reaches the head: the gradient of
    a logit on the last block's patch-token outputs, and on the last
    attention's patch-query rows, is exactly zero; at the last block's first
    LayerNorm (before attention mixes tokens into the CLS token) it is not."""
    model, x = any_vit
    ex = ViTExplainer(model, x)
    _, g_out = ex.token_gradients(at="output", targets=1)
    assert g_out[:, 1:].abs().max() == 0 and g_out[:, 0].abs().max() > 0
    _, g_ln = ex.token_gradients(at="ln_1", targets=1)
    assert (g_ln[:, 1:].abs().amax((1, 2)) > 0).all()
    g_attn = ex.attention_gradients(1)
    assert g_attn[-1][:, :, 1:].abs().max() == 0
    assert (g_attn[-1][:, :, 0].abs().amax((1, 2)) > 0).all()
    assert (g_attn[0][:, :, 1:].abs().amax((1, 2, 3)) > 0).all()  # earlier blocks: every row matters


def test_capture_leaves_the_model_as_it_found_it(shapes_vit):
    model, x = shapes_vit
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    ViTExplainer(model, x).gradient_rollout()
    vit.rollout(model, x)
    assert model.training and hook_count(model) == 0
    assert all("forward" not in b.self_attention.__dict__ for b in vit.blocks(model))  # the replay is undone
    assert [p.requires_grad for p in model.parameters()] == flags
    model.eval()
    with pytest.raises(ValueError):  # an error inside the capture still cleans up
        with vit.capture_attention(model):
            raise ValueError
    assert hook_count(model) == 0


# -- rollout ------------------------------------------------------------------

@pytest.mark.parametrize("fusion", vit.HEAD_FUSIONS)
@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.9])
def test_rollout_rows_sum_to_one(shapes_vit, fusion, ratio):
    model, x = shapes_vit
    attentions, _ = vit.attentions(model, x)
    r = vit.rollout_matrix(attentions, fusion, ratio)
    assert torch.allclose(r.sum(-1), torch.ones(r.shape[:2]), atol=1e-5)
    assert (r >= 0).all()


def test_rollout_by_hand():
    torch.manual_seed(0)
    a = [torch.softmax(torch.randn(2, 3, 5, 5), -1) for _ in range(2)]
    eye = torch.eye(5)

    def step(att):
        m = 0.5 * att.mean(1) + 0.5 * eye
        return m / m.sum(-1, keepdim=True)
    assert torch.allclose(vit.rollout_matrix(a), step(a[1]) @ step(a[0]), atol=1e-6)
    maxed = 0.5 * a[0].amax(1) + 0.5 * eye
    assert torch.allclose(vit.rollout_matrix(a[:1], "max"), maxed / maxed.sum(-1, keepdim=True), atol=1e-6)


def test_discard_never_drops_the_cls_entry_and_drops_the_right_count():
    torch.manual_seed(0)
    fused = torch.rand(3, 6, 6) + 0.1
    fused[1, 0, 0] = 0.01  # the smallest entry of image 1: spared, so one entry fewer is zeroed there
    out = vit.discard_lowest(fused, 0.5)
    assert torch.equal(out[:, 0, 0], fused[:, 0, 0])
    dropped = (out == 0) & (fused != 0)
    expected = [18 - int(bool((fused[i].flatten().argsort()[:18] == 0).any())) for i in range(3)]
    assert dropped.flatten(1).sum(1).tolist() == expected and expected[1] == 17  # per image
    kept = out.flatten(1)[:, 1:]
    for img in range(3):
        survivors = kept[img][kept[img] != 0]
        assert survivors.min() >= fused[img].flatten().sort().values[18 - 1]
    with pytest.raises(ValueError):
        vit.discard_lowest(fused, 1.0)
    with pytest.raises(ValueError):
        vit.fuse_heads(torch.rand(1, 2, 3, 3), "median")


def test_gradient_rollout_by_hand():
    torch.manual_seed(0)
    a = [torch.softmax(torch.randn(2, 3, 5, 5), -1) for _ in range(2)]
    g = [torch.randn(2, 3, 5, 5) for _ in range(2)]
    bars = [(gi * ai).clamp_min(0).mean(1) for ai, gi in zip(a, g)]
    r1 = torch.eye(5) + bars[0]
    expected = r1 + bars[1] @ r1
    assert torch.allclose(vit.gradient_rollout_matrix(a, g), expected, atol=1e-6)


# -- methods -------------------------------------------------------------------

def test_every_method_on_every_grid(any_vit):
    model, x = any_vit
    gh, gw = vit.grid_shape(model, x)
    ex = ViTExplainer(model, x)
    for method, record in vit.VIT_METHODS.items():
        r = ex.explain(method, targets=2, **record.quick)
        assert r.raw.shape == (x.shape[0], gh, gw), method
        assert r.map.shape == (x.shape[0], *x.shape[-2:]), method
        assert r.map.min() >= 0 and r.map.max() <= 1
        assert r.targets.tolist() == [2] * x.shape[0]
    maps = ex.cls_attention()
    assert maps.shape == (len(vit.blocks(model)), x.shape[0], vit.blocks(model)[0].num_heads, gh, gw)
    # a CLS row sums to 1 over all tokens: the patches get 1 minus the CLS self-attention
    self_att = torch.stack([a[:, :, 0, 0] for a in ex.attentions]).detach()
    assert torch.allclose(maps.sum((-2, -1)) + self_att, torch.ones_like(self_att), atol=1e-5)


def test_class_agnostic_methods_ignore_the_class_and_the_others_do_not(shapes_vit):
    model, x = shapes_vit
    ex = ViTExplainer(model, x)
    for method, record in vit.VIT_METHODS.items():
        a, b = ex.explain(method, targets=0), ex.explain(method, targets=3)
        same = torch.equal(a.raw, b.raw)
        assert same != record.class_specific, method


def test_one_shot_functions_match_the_explainer(shapes_vit):
    model, x = shapes_vit
    ex = ViTExplainer(model, x)
    pairs = [(vit.attention_map(model, x, 2, head=1), ex.attention(2, head=1)),
             (vit.rollout(model, x, head_fusion="max", discard_ratio=0.5), ex.rollout(None, None, "max", 0.5)),
             (vit.gradient_rollout(model, x, targets=1), ex.gradient_rollout(targets=1)),
             (vit.grad_cam(model, x, -2, 1), ex.grad_cam(-2, 1)),
             (vit.legrad(model, x, targets=1), ex.legrad(targets=1))]
    for one, shared in pairs:
        assert rel_diff(one.raw, shared.raw) < 1e-5, one.method
    assert ex.attention(2, head=1).layer == "encoder.layers.encoder_layer_2 head 1"


def test_every_vit_method_has_the_cnn_call_shape(shapes_vit):
    """``method(model, x, layer, targets)`` positionally, like the CNN methods,
    so any of them goes into a metric, SmoothGrad or the explorer. In float64: the function forms of the CNN
    rules go through the CNN core (fused attention), the explorer's through the replayed attention, and
    Grad-CAM++'s float32 map amplifies that rounding difference to 3e-5."""
    model, x = cast(*shapes_vit, torch.float64)
    ex = ViTExplainer(model, x)
    for name in vit.VIT_METHODS:
        one = getattr(vit, "attention_map" if name == "attention" else name)(model, x, 3, [1, 0, 2, 4][: len(x)])
        assert rel_diff(one.raw, ex.explain(name, 3, [1, 0, 2, 4][: len(x)]).raw) < 1e-9, name
        assert one.targets.tolist() == [1, 0, 2, 4][: len(x)]
    # the layer means: that block (attention, Grad-CAM, LeGrad), the blocks up to it (the rollouts)
    assert rel_diff(ex.rollout(2).raw, ex.rollout().raw) > 1e-3 and ex.rollout(5).layer == "all blocks"
    mine = vit.rollout_matrix([a.detach() for a in ex.attentions[:3]])
    assert rel_diff(ex.rollout(2).raw, mine[:, 0, 1:].reshape(ex.rollout(2).raw.shape)) < 1e-6
    assert ex.legrad(4, 1).layer == ex.names[4] and rel_diff(ex.legrad(4, 1).raw, ex.legrad(None, 1, [4]).raw) == 0
    with pytest.raises(TypeError, match="head_fusion='max' by name"):
        ex.rollout("max")   # the old positional head_fusion, refused clearly
    for method in (vit.rollout, vit.legrad):   # rollout raised TypeError here (it took no targets)
        r = sanity.randomisation_check(model, x, method, layers=["heads.head"])
        assert r["spearman"].shape == (1, len(x))


def test_discard_ratio_spares_the_cls_entry_as_the_reference_code_does():
    """Gildenblat's vit-explain: take the int(T*T*ratio) lowest entries, then
    drop index 0 from them; so when [0, 0] is among the lowest, one entry
    fewer is zeroed."""
    fused = torch.tensor([[[0.5, 5.0, 6.0], [1.0, 7.0, 8.0], [2.0, 3.0, 4.0]]])
    ours = vit.discard_lowest(fused, 0.34)            # k = int(9 * 0.34) = 3: entries 0.5, 1.0, 2.0
    flat = fused.flatten(1).clone()
    _, idx = flat.topk(3, -1, largest=False)
    idx = idx[idx != 0]
    flat[0, idx] = 0
    assert torch.equal(ours, flat.view(1, 3, 3))
    assert ours[0, 0, 0] == 0.5 and int((ours == 0).sum()) == 2   # [0, 0] spared: two zeroed, not three


def test_gradient_methods_share_one_backward_pass_per_class(shapes_vit):
    model, x = shapes_vit
    ex = ViTExplainer(model, x)
    ex.rollout(), ex.attention()
    assert ex.backward_passes == 0
    ex.gradient_rollout(1), ex.gradient_rollout(1)
    assert ex.backward_passes == 1


@pytest.mark.parametrize("name", ["vit_b_16", "shapes_vit", "rect_vit"])
def test_legrad_agrees_with_torchcam(request, name):
    model, x = request.getfixturevalue(name)
    layers = [0, 2] if name == "rect_vit" else None
    targets = [1, 4, 0, 2][: x.shape[0]]
    ours = ViTExplainer(model, x).legrad(targets=targets, layers=layers)
    blocks = vit.blocks(model)
    chosen = blocks if layers is None else [blocks[i] for i in layers]
    grid = vit.grid_shape(model, x)
    with LeGrad(model, chosen, grid_shape=grid) as extractor:
        theirs = extractor(targets, model(x))[0]
    # torchcam scales by min and max; ours keeps the raw map
    raw = ours.raw - ours.raw.amin((1, 2), keepdim=True)
    raw = raw / raw.amax((1, 2), keepdim=True)
    assert rel_diff(raw, theirs) < 1e-4


@pytest.mark.parametrize("name", ["vit_b_16", "shapes_vit", "rect_vit"])
def test_grad_cam_agrees_with_pytorch_grad_cam(request, name):
    model, x = request.getfixturevalue(name)
    grid = vit.grid_shape(model, x)
    ours = vit.grad_cam(model, x, targets=[1, 4, 0, 2][: x.shape[0]])
    with GradCAM(model, [vit.blocks(model)[-1].ln_1],
                 reshape_transform=lambda t: vit.tokens_to_grid(t, grid)) as cam:
        theirs = cam(x, [ClassifierOutputTarget(int(c)) for c in ours.targets])
    assert rel_diff(ours.map, theirs) < 1e-4


TOKEN_ORACLES = [("grad_cam_pp", GradCAMPlusPlus, {"eps": 1e-6}), ("xgrad_cam", XGradCAM, {"eps": 1e-7}),
                 ("layer_cam", LayerCAM, {}), ("hires_cam", HiResCAM, {}), ("eigen_cam", EigenCAM, {}),
                 ("eigen_grad_cam", EigenGradCAM, {})]


@pytest.mark.parametrize("name", ["shapes_vit", "rect_vit"])
@pytest.mark.parametrize("method, Reference, options", TOKEN_ORACLES, ids=[m for m, _, _ in TOKEN_ORACLES])
def test_cnn_rules_on_tokens_agree_with_pytorch_grad_cam_and_its_reshape_transform(request, name, method,
                                                                                  Reference, options):
    """The CNN rules on a block's tokens (at ln_1) viewed as a feature map,
    against pytorch-grad-cam given the same layer and a reshape transform.
    Raw maps before their ReLU (Eigen: up to the SVD's sign)."""
    model, x = request.getfixturevalue(name)
    targets = [1, 4, 0, 2][: x.shape[0]]
    grid = vit.grid_shape(model, x)

    def ours(dtype):
        m, xx = cast(model, x, dtype)
        result = getattr(vit, method)(m, xx, None, targets, **options)
        assert hook_count(m) == 0 and result.layer.endswith(".ln_1")
        return result.raw

    def theirs(dtype):
        m, xx = cast(model, x, dtype)
        layer = vit.blocks(m)[-1].ln_1
        with Reference(m, [layer], reshape_transform=lambda t: vit.tokens_to_grid(t, grid)) as ref:
            ref(xx, [ClassifierOutputTarget(t) for t in targets])
            acts = ref.activations_and_grads.activations[0].numpy()
            grads = ref.activations_and_grads.gradients
            return ref.get_cam_image(xx, layer, None, acts, grads[0].numpy() if grads else None, False)

    # Grad-CAM++'s denominator 2g^2 + sum(A) g^3 and XGrad-CAM's sum(A) nearly cancel where the LayerNorm
    # outputs are signed: the float32 tolerance comes from the reference's own float32 error (toys.py).
    # pytorch-grad-cam's Eigen projection returns float32 even from float64 input: "exact" is float32's epsilon.
    eigen = method.startswith("eigen")
    assert_same_maps(ours, theirs, sign_free=eigen, exact=EPS32 if eigen else 1e-9)


def test_score_cam_on_tokens_agrees_with_pytorch_grad_cam(shapes_vit):
    model, x = shapes_vit
    x1 = x[:1]
    ours = vit.score_cam(model, x1, None, 2, like="pytorch-grad-cam", skip_constant=False, progress=False)
    grid = vit.grid_shape(model, x1)
    with ScoreCAM(model, [vit.blocks(model)[-1].ln_1], reshape_transform=lambda t: vit.tokens_to_grid(t, grid)) as ref:
        theirs = ref(x1, [ClassifierOutputTarget(2)])
    assert abs(ours.map.numpy() - theirs).max() < 1e-4


def test_every_token_method_reuses_one_backward_pass_per_class(shapes_vit):
    model, x = shapes_vit
    ex = ViTExplainer(model, x)
    for method in ("grad_cam", "grad_cam_pp", "layer_cam", "hires_cam", "xgrad_cam", "eigen_grad_cam"):
        for block in (5, 3, 0):
            ex.explain(method, block, 1)
    assert ex.backward_passes == 1
    with pytest.raises(ValueError, match="on ViT tokens choose from"):
        ex.token_cam("cam")


# -- errors --------------------------------------------------------------------

def test_clear_errors(shapes_vit):
    model, x = shapes_vit
    ex = ViTExplainer(model, x)
    with pytest.raises(IndexError, match="6 blocks"):
        ex.attention(layer=6)
    with pytest.raises(IndexError, match="4 heads"):
        ex.attention(head=4)
    with pytest.raises(KeyError, match="encoder block"):
        ex.grad_cam(layer="encoder.ln")
    with pytest.raises(KeyError, match="unknown ViT method"):
        ex.explain("cam")
    with pytest.raises(TypeError, match="not a Vision Transformer whose attention can be read"):
        vit.rollout(torchvision.models.resnet18(), x)
    with pytest.raises(ValueError, match="8x8 patches"):
        vit.grid_shape(model, torch.zeros(1, 3, 60, 64))
    cnn_api = ch.grad_cam(model, x)   # the CNN API reads the tokens through the adapters: the same map
    assert cnn_api.layer == vit.grad_cam(model, x).layer
    with pytest.raises(RuntimeError, match="differentiable=True"):
        ViTExplainer(model, x, differentiable=False).gradient_rollout()
    assert hook_count(model) == 0


def test_real_photo_path_with_a_stand_in_vit_b_16(monkeypatch, tmp_path):
    """Notebook 04's real-photo section, on random weights placed where
    torchvision's hub cache keeps the real ones (no download)."""
    from cam_helpers.models import _cached_file, has_pretrained, imagenet_classes, load_imagenet_model
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = _cached_file("vit_b_16")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(_randomise_head(torchvision.models.vit_b_16()).state_dict(), path)
    assert has_pretrained("vit_b_16") and len(imagenet_classes("vit_b_16")) == 1000
    model = load_imagenet_model("vit_b_16")
    photo = data.load_image(data.IMAGES_DIR / "cat_chelsea.jpg")
    ex = ViTExplainer(model, photo.tensor)
    for method, record in vit.VIT_METHODS.items():
        r = ex.explain(method, **record.quick)
        assert r.raw.shape == (1, 14, 14) and r.map.shape == (1, 224, 224)
        assert r.map.max() == 1.0, method
