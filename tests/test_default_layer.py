"""The default layer, on the models people have: right, or a clear error; never a silent wrong map.

Each model is built with random weights (nothing downloaded) at a small size. The layer is chosen in the
explanation's own forward pass, on the user's input (no probe at a guessed size), and read through the
adapters (channels last, tokens with prefix tokens)."""
import pytest
import torch
import torchvision
from torch import nn

import cam_helpers as ch
from cam_helpers import hook_count, vit
from cam_helpers.adapters import Layout, as_feature_map, layout

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")
tv = torchvision.models


def tv_vit():
    model = tv.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                                 num_classes=10)
    nn.init.normal_(model.heads.head.weight, std=0.05)   # torchvision starts the head at zero: no gradient
    return model


def hf(kind, **config):
    cls = getattr(transformers, f"{kind}ForImageClassification")
    return cls(getattr(transformers, f"{kind}Config")(num_labels=10, **config))


# name: (builder, input size, the layer we expect, its layout kind)
ZOO = {
    "tv resnet18": (lambda: tv.resnet18(num_classes=10), 64, "layer4", "nchw"),
    "tv vgg11": (lambda: tv.vgg11(num_classes=10), 64, "features.19", "nchw"),
    "tv densenet121": (lambda: tv.densenet121(num_classes=10), 64, "features.norm5", "nchw"),
    "tv mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(num_classes=10), 64, "features.12", "nchw"),
    "tv convnext_tiny": (lambda: tv.convnext_tiny(num_classes=10), 64, "features.7", "nchw"),
    "tv vit": (tv_vit, 64, "encoder.layers.encoder_layer_1.ln_1", "tokens"),
    "tv swin_t": (lambda: tv.swin_t(num_classes=10), 64, "permute", "nchw"),
    "timm resnet18": (lambda: timm.create_model("resnet18", num_classes=10), 64, "layer4", "nchw"),
    "timm vit_tiny": (lambda: timm.create_model("vit_tiny_patch16_224", num_classes=10, img_size=64), 64,
                      "blocks.11.norm1", "tokens"),
    "timm deit_tiny_distilled": (lambda: timm.create_model("deit_tiny_distilled_patch16_224", num_classes=10,
                                                           img_size=64), 64, "blocks.11.norm1", "tokens"),
    "timm swin_tiny": (lambda: timm.create_model("swin_tiny_patch4_window7_224", num_classes=10, img_size=64,
                                                 window_size=2), 64, "norm", "nhwc"),
    "timm convnext_atto": (lambda: timm.create_model("convnext_atto", num_classes=10), 64, "norm_pre", "nchw"),
    "timm efficientnet_b0": (lambda: timm.create_model("efficientnet_b0", num_classes=10), 64, "bn2", "nchw"),
    "hf vit": (lambda: hf("ViT", image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64), 64, "vit.layers.1.layernorm_before",
               "tokens"),
    "hf swin": (lambda: hf("Swin", image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                           window_size=4), 64, "swin.encoder.layers.1.blocks.0.layernorm_before", "tokens"),
    "hf convnext": (lambda: hf("ConvNext", hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1]), 64,
                    "convnext.encoder.stages.3", "nchw"),
    "hf dinov2": (lambda: hf("Dinov2", image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2,
                             num_attention_heads=2, mlp_ratio=2), 64, "dinov2.encoder.layer.1.norm1", "tokens"),
    "a CIFAR CNN, flatten head": (lambda: nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 16 * 16, 10)), 32, "4", "nchw"),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_the_default_layer_is_a_feature_map_of_the_input(name):
    build, size, expected, kind = ZOO[name]
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(2, 3, size, size)
    forwards = []
    handle = model.register_forward_hook(lambda *a: forwards.append(1))
    r = ch.grad_cam(model, x)
    handle.remove()
    assert r.layer == expected
    assert len(forwards) == 1, "the layer is chosen in the explanation's own forward pass"
    module = dict(model.named_modules())[r.layer]
    with ch.capture(model, r.layer) as cap:
        model(x)
    where = layout(cap.activations[r.layer], 2, (size, size), module)
    assert where.kind == kind and tuple(r.raw.shape) == (2, *where.grid)
    assert torch.isfinite(r.map).all() and r.raw.abs().amax((1, 2)).min() > 0, "an empty map"
    assert hook_count(model) == 0
    # the layout read by hand gives the same map
    acts = as_feature_map(cap.activations[r.layer], where)
    assert acts.shape[:2] == (2, acts.shape[1]) and acts.shape[-2:] == where.grid


def test_on_torchvision_vit_the_default_is_vit_grad_cam():
    """ch.grad_cam on a torchvision ViT (tokens, found by the adapters) equals the ViT track's Grad-CAM."""
    torch.manual_seed(0)
    model = tv.VisionTransformer(image_size=48, patch_size=16, num_layers=3, num_heads=2, hidden_dim=32, mlp_dim=64,
                                 num_classes=5).eval()
    nn.init.normal_(model.heads.head.weight, std=0.05)
    x = torch.randn(2, 3, 48, 48)
    ours, track = ch.grad_cam(model, x, targets=[1, 3]), vit.grad_cam(model, x, targets=[1, 3])
    assert ours.layer == track.layer
    assert torch.allclose(ours.raw, track.raw, atol=1e-6)


def test_a_detector_gets_its_backbone_never_a_box_head():
    """Faster R-CNN: the pooled regions (2000, 256, 7, 7) are never chosen; the logits error says what to do."""
    torch.manual_seed(0)
    model = tv.detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=5,
                                                           min_size=64, max_size=64).eval()
    x = torch.rand(2, 3, 64, 64)
    with pytest.raises(TypeError, match="not \\(B, classes\\) logits"):
        ch.grad_cam(model, x)
    score = lambda out: torch.stack([o["scores"].sum() + 0 * o["boxes"].sum() for o in out])
    r = ch.grad_cam(model, x, targets=score)
    assert r.layer.startswith("backbone.") and r.raw.shape[0] == 2


def test_no_feature_map_is_a_clear_error():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
    with pytest.raises(ch.LayerNotFoundError, match="Pass layer="):
        ch.grad_cam(model, torch.randn(2, 3, 8, 8))


def test_layouts_that_are_not_feature_maps():
    """A parameter table, pooled boxes and attention heads are no maps of a batch of 2 at 64 x 64."""
    size = (64, 64)
    assert layout(torch.zeros(1, 49, 49), 2, size) is None                 # relative position bias table
    assert layout(torch.zeros(2000, 256, 7, 7), 2, size) is None           # a detector's pooled regions
    assert layout(torch.zeros(2, 3, 17, 64), 2, size) is None              # (B, heads, N, d)
    assert layout(torch.zeros(2, 512, 2, 2), 2, size) == Layout("nchw", (2, 2))
    assert layout(torch.zeros(2, 2, 2, 768), 2, size) == Layout("nhwc", (2, 2))
    assert layout(torch.zeros(2, 1 + 4 + 16, 8), 2, size) == Layout("tokens", (4, 4), 5)   # CLS + 4 registers
    assert layout(torch.zeros(2, 1 + 15, 8), 2, (48, 80)) == Layout("tokens", (3, 5), 1)


@pytest.mark.parametrize("method", ["grad_cam_pp", "xgrad_cam", "layer_cam", "hires_cam", "eigen_cam",
                                    "eigen_grad_cam", "score_cam"])
def test_every_cnn_rule_runs_on_a_timm_vit_and_a_hugging_face_swin(method):
    torch.manual_seed(0)
    for name in ("timm vit_tiny", "hf swin"):
        build, size, expected, _ = ZOO[name]
        model = build().eval()
        options = {"top_k": 4, "progress": False} if method == "score_cam" else {}
        r = getattr(ch, method)(model, torch.randn(1, 3, size, size), **options)
        assert r.layer == expected and torch.isfinite(r.map).all()


def test_ablation_cam_refuses_a_token_layer_clearly():
    model = ZOO["timm vit_tiny"][0]().eval()
    with pytest.raises(ValueError, match="Use score_cam"):
        ch.ablation_cam(model, torch.randn(1, 3, 64, 64))
