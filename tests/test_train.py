"""The training command stays alive: a few steps write loadable weights."""
import json

import torch

from cam_helpers.data import ShapesDataset
from cam_helpers.models import load_course_model, sha256
from cam_helpers.train import fit, main, render


def test_training_command_writes_weights_and_manifest(tmp_path, capsys):
    main(["shapes_cnn", "--steps", "3", "--train-size", "64", "--test-size", "32", "--out", str(tmp_path)])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["shapes_cnn"]
    assert entry["sha256"] == sha256(tmp_path / "shapes_cnn.pt")
    assert "--steps 3" in entry["command"]
    model = load_course_model("shapes_cnn", models_dir=tmp_path)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 6)
    assert "test accuracy" in capsys.readouterr().out


def test_fit_learns_a_small_problem():
    torch.manual_seed(0)
    from cam_helpers.models import ShapesCNN
    model = ShapesCNN()
    data = render(ShapesDataset("single", "train", 256, seed=9), progress=False)
    history = fit(model, data, epochs=6, lr=3e-3, batch_size=64, progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    assert not model.training


def test_fit_records_checkpoints_and_keeps_what_it_learned_in_the_usual_layout():
    from cam_helpers.models import ShapesCNN
    torch.manual_seed(0)
    model = ShapesCNN()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = render(ShapesDataset("single", "train", 96, seed=9), progress=False)
    modes = []

    def checkpoint(m):
        modes.append(m.training)
        return {"checked": len(modes)}

    history = fit(model, data, epochs=3, lr=3e-3, batch_size=32, progress=False, on_epoch=checkpoint)
    assert [r["checked"] for r in history] == [1, 2, 3] and modes == [False] * 3
    conv = model.features[0][0].weight
    assert conv.is_contiguous() and not torch.equal(conv, start["features.0.0.weight"])
    assert all(p.grad is None for p in model.parameters())
    # the layout the weights trained in changes nothing but rounding: the same logits from a fresh copy
    clone = ShapesCNN()
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(model.eval()(x), clone.eval()(x))


def test_channels_last_keeps_updates_made_inside_it():
    from cam_helpers.models import ShapesCNN
    from cam_helpers.speed import channels_last
    model = ShapesCNN()
    weight = model.features[0][0].weight
    ptr = weight.data_ptr()
    with channels_last(model):
        with torch.no_grad():
            weight.add_(1.0)
        expected = weight.detach().clone()
    assert weight.data_ptr() == ptr and weight.is_contiguous() and torch.equal(weight, expected)


def test_imagenet_prepare_resizes_and_normalises_like_torchvision():
    from torchvision.transforms import v2

    from cam_helpers.train import imagenet_prepare
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    ours = imagenet_prepare(128)(images)
    to_float = v2.ToDtype(torch.float32, scale=True)
    norm = v2.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    theirs = norm(v2.Resize(128, antialias=True)(to_float(images)))  # resized in float, not rounded to uint8
    assert ours.shape == (2, 3, 128, 128)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(imagenet_prepare(64)(images), norm(to_float(images)), atol=1e-6)  # no resize at 64


def test_accuracy_uses_the_given_preparation():
    from cam_helpers.train import accuracy, normalise
    data = render(ShapesDataset("single", "test", 8, seed=1), progress=False)
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            seen.append(x.shape)
            return torch.zeros(len(x), 6)

    accuracy(Spy(), data, prepare=lambda im: normalise(im)[..., :32, :32])
    assert seen == [(8, 3, 32, 32)]


def test_fit_without_augmentation_trains_on_the_images_as_they_are(monkeypatch):
    """augmentation=False (used to memorise shuffled labels in notebook 07) never calls augment; the default does."""
    from cam_helpers import train
    from cam_helpers.models import ShapesCNN
    data = render(ShapesDataset("single", "train", 16, seed=9), progress=False)
    calls = []
    monkeypatch.setattr(train, "augment", lambda images, generator: calls.append(1) or images)
    fit(ShapesCNN(), data, steps=2, batch_size=8, progress=False, augmentation=False)
    assert calls == []
    fit(ShapesCNN(), data, steps=2, batch_size=8, progress=False)
    assert len(calls) == 2
