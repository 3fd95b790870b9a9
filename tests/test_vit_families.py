"""The ViT methods on timm's and Hugging Face's Vision Transformers, not only torchvision's.

Three checks that do not trust our own code: a timm ViT and a Hugging Face ViT holding a torchvision ViT's
weights give that ViT's maps for every ViT method; rollout on timm ViTs (DeiT's distillation token, register
tokens) equals a plain loop over images and blocks of Abnar & Zuidema's rule on attention computed by hand;
and Grad-CAM on timm ViT and Swin equals pytorch-grad-cam's with the reshape transform its users write.
All models have random weights; nothing is downloaded."""
import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from toys import rel_diff

import cam_helpers as ch
from cam_helpers import hook_count, vit
from cam_helpers.vit import ViTExplainer

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")

D, DEPTH, HEADS, PATCH, SIZE, CLASSES = 32, 3, 4, 8, 32, 5
TARGETS = [1, 3]


def _torchvision_vit():
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=SIZE, patch_size=PATCH, num_layers=DEPTH,
                                                 num_heads=HEADS, hidden_dim=D, mlp_dim=2 * D, num_classes=CLASSES)
    torch.nn.init.normal_(model.heads.head.weight, std=0.2)   # torchvision starts the head at zero
    with torch.no_grad():   # and the class token and position embedding at zero or near it
        model.class_token.normal_(std=0.5)
        model.encoder.pos_embedding.normal_(std=0.5)
    return model.eval()


def _timm_state(tv) -> dict:
    """torchvision ViT weights under timm's names."""
    s = tv.state_dict()
    out = {"cls_token": s["class_token"], "pos_embed": s["encoder.pos_embedding"],
           "patch_embed.proj.weight": s["conv_proj.weight"], "patch_embed.proj.bias": s["conv_proj.bias"],
           "norm.weight": s["encoder.ln.weight"], "norm.bias": s["encoder.ln.bias"],
           "head.weight": s["heads.head.weight"], "head.bias": s["heads.head.bias"]}
    for i in range(DEPTH):
        b = f"encoder.layers.encoder_layer_{i}."
        for ours, theirs in (("norm1", "ln_1"), ("attn.qkv", "self_attention.in_proj"),
                             ("attn.proj", "self_attention.out_proj"), ("norm2", "ln_2"), ("mlp.fc1", "mlp.0"),
                             ("mlp.fc2", "mlp.3")):
            for p in ("weight", "bias"):
                key = f"{theirs}_{p}" if theirs.endswith("in_proj") else f"{theirs}.{p}"
                out[f"blocks.{i}.{ours}.{p}"] = s[b + key]
    return out


def _timm_vit(tv):
    model = timm.models.vision_transformer.VisionTransformer(img_size=SIZE, patch_size=PATCH, embed_dim=D,
                                                             depth=DEPTH, num_heads=HEADS, mlp_ratio=2,
                                                             num_classes=CLASSES)
    model.load_state_dict(_timm_state(tv))
    return model.eval()


def _hf_vit(tv):
    config = transformers.ViTConfig(image_size=SIZE, patch_size=PATCH, hidden_size=D, num_hidden_layers=DEPTH,
                                    num_attention_heads=HEADS, intermediate_size=2 * D, num_labels=CLASSES,
                                    layer_norm_eps=1e-6, hidden_act="gelu")
    model = transformers.ViTForImageClassification(config)
    t = _timm_state(tv)
    s = {"vit.embeddings.cls_token": t["cls_token"], "vit.embeddings.position_embeddings": t["pos_embed"],
         "vit.embeddings.patch_embeddings.projection.weight": t["patch_embed.proj.weight"],
         "vit.embeddings.patch_embeddings.projection.bias": t["patch_embed.proj.bias"],
         "vit.layernorm.weight": t["norm.weight"], "vit.layernorm.bias": t["norm.bias"],
         "classifier.weight": t["head.weight"], "classifier.bias": t["head.bias"]}
    for i, (name, block) in enumerate(zip(vit.block_names(model), vit.blocks(model))):
        names = {id(m): n for n, m in block.named_modules()}
        att = block.attention
        for p in ("weight", "bias"):
            for j, proj in enumerate((att.q_proj, att.k_proj, att.v_proj)):
                s[f"{name}.{names[id(proj)]}.{p}"] = t[f"blocks.{i}.attn.qkv.{p}"].chunk(3)[j]
            for theirs, ours in (("attn.proj", att.o_proj), ("norm1", block.layernorm_before),
                                 ("norm2", block.layernorm_after), ("mlp.fc1", block.mlp.fc1),
                                 ("mlp.fc2", block.mlp.fc2)):
                s[f"{name}.{names[id(ours)]}.{p}"] = t[f"blocks.{i}.{theirs}.{p}"]
    assert set(s) == set(model.state_dict())
    model.load_state_dict(s)
    return model.eval()


@pytest.fixture(scope="module")
def twins():
    tv = _torchvision_vit()
    torch.manual_seed(1)
    return tv, {"timm": _timm_vit(tv), "hf": _hf_vit(tv)}, torch.randn(2, 3, SIZE, SIZE)


CALLS = {"attention": {}, "attention head 2, block 0": {"layer": 0, "head": 2},
         "rollout": {}, "rollout max, discard 0.5": {"head_fusion": "max", "discard_ratio": 0.5},
         "gradient_rollout": {}, "legrad": {}, "grad_cam": {}, "grad_cam_pp": {}, "layer_cam": {},
         "eigen_cam": {}, "grad_cam block 1": {"layer": 1}}


@pytest.mark.parametrize("family", ["timm", "hf"])
def test_the_same_weights_give_the_same_maps_for_every_vit_method(twins, family):
    tv, copies, x = twins
    model = copies[family]
    ours, theirs = ViTExplainer(tv, x), ViTExplainer(model, x)
    assert rel_diff(ours.logits, theirs.logits) < 1e-5
    assert len(theirs.names) == DEPTH and theirs.prefix == 1
    for label, options in CALLS.items():
        method = label.split()[0]
        a = ours.explain(method, targets=TARGETS, **options)
        b = theirs.explain(method, targets=TARGETS, **options)
        assert b.raw.shape == (2, SIZE // PATCH, SIZE // PATCH), label
        sign = torch.sign((a.raw * b.raw).sum((1, 2), keepdim=True)) if method == "eigen_cam" else 1  # an SVD's
        assert rel_diff(a.raw, sign * b.raw) < 1e-4, label
        assert torch.equal(a.targets, b.targets), label
    assert theirs.grad_cam().layer.endswith(theirs.arch.norm_label)
    # every hook removed, the fused kernels switched back on
    assert hook_count(model) == 0
    if family == "timm":
        assert all(b.attn.fused_attn for b in model.blocks)
    else:
        assert model.config._attn_implementation == "sdpa"


def _hand_attention(model, x) -> list[torch.Tensor]:
    """Each timm block's attention probabilities from its own weights, on inputs recorded by plain hooks."""
    inputs = []
    handles = [b.norm1.register_forward_hook(lambda m, a, out: inputs.append(out)) for b in model.blocks]
    with torch.no_grad():
        model(x)
        for h in handles:
            h.remove()
        probs = []
        for block, t in zip(model.blocks, inputs):
            att = block.attn
            b, n, _ = t.shape
            q, k, _ = att.qkv(t).reshape(b, n, 3, att.num_heads, -1).permute(2, 0, 3, 1, 4)
            probs.append(torch.softmax(q @ k.transpose(-2, -1) * att.head_dim ** -0.5, dim=-1))
    return probs


def _loop_rollout(probs: list[torch.Tensor], prefix: int) -> np.ndarray:
    """Abnar & Zuidema's rollout, one image and one block at a time, in numpy: mean over heads, add the
    identity for the residual, renormalise the rows, multiply through the blocks; the CLS row over patches."""
    maps = []
    for i in range(probs[0].shape[0]):
        n = probs[0].shape[-1]
        r = np.eye(n)
        for a in probs:
            a = a[i].double().mean(0).numpy() + np.eye(n)
            r = (a / a.sum(1, keepdims=True)) @ r
        maps.append(r[0, prefix:])
    return np.stack(maps)


@pytest.mark.parametrize("kind, prefix", [("distilled", 2), ("registers", 5)])
def test_rollout_on_timm_equals_a_plain_loop_of_abnar_and_zuidema(kind, prefix):
    torch.manual_seed(0)
    if kind == "distilled":
        model = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=64, num_classes=3)
    else:
        model = timm.models.vision_transformer.VisionTransformer(img_size=64, patch_size=16, embed_dim=32, depth=3,
                                                                 num_heads=2, reg_tokens=4, num_classes=3)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    result = vit.rollout(model, x)
    assert result.raw.shape == (2, 4, 4) and result.layer == "all blocks"
    reference = _loop_rollout(_hand_attention(model, x), prefix).reshape(2, 4, 4)
    assert rel_diff(result.raw, reference) < 1e-5
    # the attention read agrees with the hand computation block by block, head by head
    ours = vit.attentions(model, x)[0]
    assert all(rel_diff(a, b) < 1e-5 for a, b in zip(ours, _hand_attention(model, x)))
    assert vit.legrad(model, x, targets=[0, 2]).raw.shape == (2, 4, 4)


def _pearson_per_image(a, b) -> list[float]:
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return [float(np.corrcoef(u, v)[0, 1]) for u, v in zip(a, b)]


def _timm_swin():
    return timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=CLASSES, img_size=64,
                             window_size=4, embed_dim=24, depths=(1, 1, 2), num_heads=(1, 2, 4))


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_grad_cam_on_timm_agrees_with_pytorch_grad_cam_and_its_reshape_transform(name):
    """Our default layer and adapter against pytorch-grad-cam given that layer and the reshape transform a
    user writes: tokens after the CLS token onto the grid (ViT), channels last to first (Swin)."""
    torch.manual_seed(0)
    if name == "vit":
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES, img_size=64,
                                  depth=4)
        layer, reshape = model.blocks[-1].norm1, lambda t: t[:, 1:].reshape(t.shape[0], 4, 4, -1).permute(0, 3, 1, 2)
    else:
        model = _timm_swin()
        layer, reshape = model.norm, lambda t: t.permute(0, 3, 1, 2)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    ours = ch.grad_cam(model, x, targets=TARGETS)
    assert ours.layer == ("blocks.3.norm1" if name == "vit" else "norm")
    with GradCAM(model, [layer], reshape_transform=reshape) as cam:
        theirs = cam(x, [ClassifierOutputTarget(t) for t in TARGETS])
    assert min(_pearson_per_image(ours.map, theirs)) >= 0.9999


def test_where_a_method_is_not_defined_the_error_says_what_works():
    torch.manual_seed(0)
    pooled = timm.models.vision_transformer.VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                                              num_heads=2, class_token=False, global_pool="avg",
                                                              num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(TypeError, match="no CLS token.*grad_cam"):
        vit.rollout(pooled, x)
    assert vit.grad_cam(pooled, x).raw.shape == (2, 4, 4)   # no prefix token: every token is a patch
    assert vit.legrad(pooled, x).raw.shape == (2, 4, 4)
    with pytest.raises(TypeError, match="not a Vision Transformer whose attention can be read.*grad_cam"):
        vit.rollout(_timm_swin().eval(), torch.randn(1, 3, 64, 64))


def test_hugging_face_deit_with_teacher_and_dinov2():
    torch.manual_seed(0)
    small = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, num_labels=3)
    x = torch.randn(2, 3, 32, 32)
    deit = transformers.DeiTForImageClassificationWithTeacher(transformers.DeiTConfig(**small)).eval()
    ex = ViTExplainer(deit, x)
    assert ex.prefix == 2 and ex.rollout().raw.shape == (2, 4, 4)
    # LeGrad's head on each block is the model's own: on the last block's tokens it gives the logits
    last = ex.tokens[-1]
    assert rel_diff(ex.arch.head(last), ex.logits) < 1e-5
    assert ex.legrad(targets=[0, 1]).raw.shape == (2, 4, 4)
    dino = transformers.Dinov2ForImageClassification(transformers.Dinov2Config(**small)).eval()
    ex = ViTExplainer(dino, x)
    assert rel_diff(ex.arch.head(ex.tokens[-1]), ex.logits) < 1e-5
    assert ex.gradient_rollout(targets=[2, 0]).raw.shape == (2, 4, 4)
