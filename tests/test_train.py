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
