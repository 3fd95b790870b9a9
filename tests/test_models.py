"""Course models: shipped weights, manifest checks, accuracy on fresh scenes;
ImageNet models offline."""
import json
import shutil

import pytest
import torch

from cam_helpers import cam, grad_cam
from cam_helpers.data import ShapesDataset
from cam_helpers.models import (MODELS_DIR, PretrainedUnavailable, WeightsError, gap_surgery, has_pretrained,
                                imagenet_classes, load_course_model, load_imagenet_model, read_manifest, sha256)
from cam_helpers.train import accuracy, fit_head, gap_features, render

# Seed 1 was never used to train or to select these models: a fresh test split.
FRESH = dict(split="test", size=1000, seed=1)


def test_manifest_lists_small_checked_weights():
    manifest = read_manifest()
    for name in ("shapes_cnn", "shapes_vgg", "shapes_vit"):
        entry = manifest[name]
        path = MODELS_DIR / entry["file"]
        assert path.stat().st_size <= 5 * 2**20
        assert sha256(path) == entry["sha256"]
        assert entry["command"].startswith(f"python -m cam_helpers.train {name}")


@pytest.mark.parametrize("name, minimum", [("shapes_cnn", 0.97), ("shapes_vgg", 0.95), ("shapes_vit", 0.93)])
def test_accuracy_on_a_fresh_test_split(name, minimum):
    model = load_course_model(name)
    assert not model.training
    acc = accuracy(model, ShapesDataset("single", **FRESH))
    assert acc >= minimum, f"{name}: {acc:.3f}"


def test_shapes_vit_is_torchvisions_own_class():
    from torchvision.models import VisionTransformer
    vit = load_course_model("shapes_vit")
    assert type(vit) is VisionTransformer
    assert (vit.image_size, vit.patch_size, len(vit.encoder.layers)) == (64, 8, 6)


def _copy_models(tmp_path):
    dst = tmp_path / "models"
    shutil.copytree(MODELS_DIR, dst)
    return dst


def test_corrupted_weights_are_refused(tmp_path):
    models_dir = _copy_models(tmp_path)
    path = models_dir / "shapes_cnn.pt"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupted or changed.*python -m cam_helpers.train shapes_cnn"):
        load_course_model("shapes_cnn", models_dir=models_dir)


def test_missing_weights_say_how_to_restore(tmp_path):
    models_dir = _copy_models(tmp_path)
    (models_dir / "shapes_vgg.pt").unlink()
    with pytest.raises(WeightsError, match="missing.*git checkout"):
        load_course_model("shapes_vgg", models_dir=models_dir)
    with pytest.raises(WeightsError, match="no weights manifest"):
        load_course_model("shapes_cnn", models_dir=tmp_path)
    (models_dir / "manifest.json").write_text(json.dumps({}))
    with pytest.raises(WeightsError, match="not in .*python -m cam_helpers.train shapes_cnn"):
        load_course_model("shapes_cnn", models_dir=models_dir)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "should map model names"),
    ('{"shapes_cnn": {"file": "shapes_cnn.pt"}}', "lacks sha256"),
    ('{"shapes_cnn": "shapes_cnn.pt"}', "lacks file and sha256"),
])
def test_a_broken_manifest_is_refused_with_its_reason(tmp_path, text, message):
    models_dir = _copy_models(tmp_path)
    (models_dir / "manifest.json").write_text(text)
    with pytest.raises(WeightsError, match=message):
        load_course_model("shapes_cnn", models_dir=models_dir)


def test_surgery_gives_the_dense_model_a_cam():
    vgg = load_course_model("shapes_vgg")
    model = gap_surgery(vgg, vgg.features[:4], channels=128, num_classes=6)
    assert all(not p.requires_grad for p in model.features.parameters())
    train = render(ShapesDataset("single", "train", 600, seed=5), progress=False)
    fit_head(model.head, gap_features(model.features, train), train.tensors[1], steps=200)
    assert accuracy(model, ShapesDataset("single", size=300, split="test", seed=1)) > 0.9
    x = ShapesDataset("single", "test", 4, seed=1)[0][0][None]
    c, g = cam(model, x), grad_cam(model, x)
    assert torch.allclose(c.raw / 64, g.raw, atol=1e-5)


def test_imagenet_offline_is_a_clear_no(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    assert not has_pretrained("resnet18")
    with pytest.raises(PretrainedUnavailable, match="python -m cam_helpers.models --download resnet18"):
        load_imagenet_model("resnet18")
    assert len(imagenet_classes()) == 1000 and imagenet_classes()[281] == "tabby"


def test_real_photo_path_with_a_stand_in_cache(monkeypatch, tmp_path):
    """The notebooks' real-photo sections, run on random weights placed where
    torchvision's hub cache keeps the real ones (no download)."""
    import torchvision

    from cam_helpers.data import course_photos, load_image
    from cam_helpers.models import _cached_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = _cached_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    assert has_pretrained("resnet18")
    model = load_imagenet_model("resnet18")
    photo = load_image(course_photos()[0])
    r = cam(model, photo.tensor, "layer4")
    g = grad_cam(model, photo.tensor, "layer4")
    assert r.map.shape == (1, 224, 224) and torch.allclose(r.raw / 49, g.raw, atol=1e-5)
