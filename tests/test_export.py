"""Your photo, your model, out to files: load_image's preprocessing (timm and Hugging Face configs),
viz.save, explain_folder and the command line ``python -m cam_helpers explain``."""
import csv
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cam_helpers as ch
from cam_helpers import cli, models, viz
from cam_helpers.data import IMAGES_DIR
from cam_helpers.folders import explain_folder
from cam_helpers.photos import preprocessing, read_rgb

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["coffee.jpg", "camera.jpg", "cat_chelsea.jpg"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Three good photos, a truncated JPEG and a text file."""
    d = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        (d / name).write_bytes((IMAGES_DIR / name).read_bytes())
    (d / "truncated.jpg").write_bytes((IMAGES_DIR / "astronaut.jpg").read_bytes()[:4000])
    (d / "notes.txt").write_text("not a photo\n")
    return d


@pytest.fixture(scope="module")
def lite0():
    return models.load_imagenet_model("efficientnet_lite0")


def test_preprocessing_reads_timm_and_hugging_face_configs():
    timm = pytest.importorskip("timm")
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    p = preprocessing(vit)
    assert (p.size, p.mean, p.std) == ((224, 224), tuple(vit.pretrained_cfg["mean"]), tuple(vit.pretrained_cfg["std"]))
    assert preprocessing(timm.create_model("resnet18", pretrained=False)).mean == pytest.approx((0.485, 0.456, 0.406))
    transformers = pytest.importorskip("transformers")
    proc = transformers.ViTImageProcessor(size={"height": 96, "width": 128}, image_mean=[0.1, 0.2, 0.3],
                                          image_std=[0.4, 0.5, 0.6])
    for source in (proc, proc.to_dict()):   # the processor (SizeDict in transformers 5) and its config dict
        p = preprocessing(source)
        assert (p.size, p.mean, p.std) == ((96, 128), (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    off = preprocessing(transformers.ViTImageProcessor(do_normalize=False))
    assert (off.mean, off.std) == ((0.0,) * 3, (1.0,) * 3)
    assert preprocessing("efficientnet_lite0").size == (224, 224)
    with pytest.raises(ValueError, match="no timm pretrained_cfg"):
        preprocessing(torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="RGB' or 'BGR"):
        preprocessing(channels="rgb")
    with pytest.raises(ValueError, match="three values"):
        preprocessing(mean=(0.5,), std=(0.5,), size=8)


def test_load_image_takes_a_path_bytes_a_file_a_pil_image_or_an_array(tmp_path):
    path = IMAGES_DIR / "coffee.jpg"
    ref = ch.load_image(path, size=(48, 64), mean=(0.5,) * 3, std=(0.25,) * 3)
    assert ref.tensor.shape == (1, 3, 48, 64) and ref.path == str(path)
    data = path.read_bytes()
    for source in (data, io.BytesIO(data), Image.open(path), read_rgb(path)):
        photo = ch.load_image(source, size=(48, 64), mean=(0.5,) * 3, std=(0.25,) * 3)
        assert torch.equal(photo.tensor, ref.tensor) and photo.path is None
        assert np.array_equal(photo.image, ref.image)
    bgr = ch.load_image(path, size=(48, 64), mean=(0.5,) * 3, std=(0.25,) * 3, channels="BGR")
    assert torch.equal(bgr.tensor, ref.tensor.flip(1))   # same means: the channels, reversed
    # by hand: resized whole, 0-1, normalised
    manual = torch.from_numpy(np.array(Image.fromarray(ref.image).resize((64, 48), Image.BOX))).permute(2, 0, 1)
    assert (ref.tensor[0] - (manual / 255 - 0.5) / 0.25).abs().mean() < 0.05   # BOX vs INTER_AREA differ slightly
    with pytest.raises(ValueError, match="uint8"):
        ch.load_image(np.zeros((4, 4, 3), np.float32))


def test_viz_save_writes_the_overlay_at_the_photos_shape_and_the_maps(tmp_path, lite0):
    photo = ch.load_image(IMAGES_DIR / "coffee.jpg", weights="efficientnet_lite0")
    result = ch.grad_cam(lite0, photo.tensor)
    written = viz.save(tmp_path / "coffee.png", photo.image, result, class_names=models.imagenet_classes(),
                       raw=True)
    assert [p.name for p in written] == ["coffee.png", "coffee.npz"]
    png = np.asarray(Image.open(written[0]))
    h, w = photo.image.shape[:2]
    assert png.shape[2] in (3, 4) and abs(png.shape[1] / png.shape[0] - w / h) < 0.35   # colourbar and title added
    arrays = np.load(written[1])
    assert torch.allclose(torch.from_numpy(arrays["map"]), result.map[0].float())
    assert torch.allclose(torch.from_numpy(arrays["raw"]), result.raw[0].float())
    with pytest.raises(ValueError, match="PNG"):
        viz.save(tmp_path / "coffee.jpg", photo.image, result)


def test_explain_folder_batches_skips_bad_files_and_writes_the_table(folder, tmp_path, lite0):
    names = models.imagenet_classes()
    out = tmp_path / "maps"
    summary = explain_folder(lite0, folder, out, "grad_cam", preprocess=preprocessing("efficientnet_lite0"),
                             batch_size=2, class_names=names, raw=True, progress=False)
    assert [r["file"] for r in summary.rows] == sorted(PHOTOS)
    assert dict(summary.skipped).keys() == {"notes.txt", "truncated.jpg"}
    assert "not an image" in dict(summary.skipped)["notes.txt"]
    assert "truncated" in dict(summary.skipped)["truncated.jpg"]
    assert "skipped 2 file(s)" in str(summary) and "notes.txt" in str(summary)
    with open(summary.csv) as f:
        table = list(csv.DictReader(f))
    assert [r["file"] for r in table] == sorted(PHOTOS) and {r["layer"] for r in table} == {"features.8"}
    # each photo's map is the one a call on that photo alone gives: batching mixes nothing
    for row in table:
        photo = ch.load_image(folder / row["file"], weights="efficientnet_lite0")
        alone = ch.grad_cam(lite0, photo.tensor)
        assert int(row["class"]) == int(alone.targets[0]) and row["class_name"] == names[int(row["class"])]
        assert float(row["probability"]) == pytest.approx(float(alone.logits.softmax(1)[0, int(row["class"])]),
                                                          abs=1e-4)
        saved = np.load(out / row["png"].replace(".png", ".npz"))["map"]
        assert np.abs(saved - alone.map[0].numpy()).max() < 1e-4
    assert (out / "coffee_grad_cam.png").is_file() and not (out / "notes_grad_cam.png").exists()
    # the espresso photo is an espresso to the real ImageNet model
    assert next(r for r in table if r["file"] == "coffee.jpg")["class_name"] == "espresso"


def test_explain_folder_takes_any_registered_method_and_refuses_unknown_ones(folder, lite0):
    summary = explain_folder(lite0, folder, None, "saliency", preprocess=preprocessing("efficientnet_lite0"),
                             progress=False)
    assert {r["method"] for r in summary.rows} == {"saliency"} and summary.csv is None
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        explain_folder(lite0, folder, None, "nope")
    with pytest.raises(FileNotFoundError):
        explain_folder(lite0, folder / "missing", None)


def test_the_command_line_end_to_end(folder, tmp_path):
    """The shell command a user types, in a fresh process: good photos, a truncated file and a text file."""
    out = tmp_path / "maps"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "cam_helpers", "explain", str(folder), "--model", "efficientnet_lite0",
                          "--method", "layer_cam", "--out", str(out), "--batch-size", "2"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "explained 3 photo(s)" in run.stdout and "skipped 2 file(s)" in run.stdout
    assert "truncated.jpg: unreadable image" in run.stdout and "notes.txt: not an image" in run.stdout
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{Path(p).stem}_layer_cam.png" for p in PHOTOS)
    with open(out / "explanations.csv") as f:
        assert [r["method"] for r in csv.DictReader(f)] == ["layer_cam"] * 3
    helped = subprocess.run([sys.executable, "-m", "cam_helpers", "explain", "--help"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert helped.returncode == 0 and "timm:NAME" in helped.stdout and "hf:PATH" in helped.stdout


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_the_command_line_fails_clearly(folder, tmp_path, capsys):
    def main(*args):
        return cli.main(["explain", *map(str, args), "--out", str(tmp_path / "o"), "--quiet"])
    cases = [((tmp_path / "missing", "--model", "efficientnet_lite0"), "is not a folder"),
             ((folder, "--model", "no_such_model"), "unknown model 'no_such_model'"),
             ((folder, "--model", "efficientnet_lite0", "--method", "nope"), "unknown method 'nope'"),
             ((folder, "--model", "efficientnet_lite0", "--layer", "nope"), "no layer named 'nope'")]
    import torchvision
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), tmp_path / "state.pt")
    cases.append(((folder, "--model", tmp_path / "state.pt"), "a state dict needs its architecture"))
    torch.jit.script(torchvision.models.resnet18(num_classes=3)).save(str(tmp_path / "scripted.pt"))
    cases.append(((folder, "--model", tmp_path / "scripted.pt"), "TorchScript takes no hooks"))
    if importlib.util.find_spec("timm"):   # a method the model lacks: attention rollout on a Swin
        cases.append(((folder, "--model", "timm:swin_tiny_patch4_window7_224", "--random-weights", "--method",
                       "rollout"), "not a Vision Transformer whose attention can be read"))
    for args, message in cases:
        assert main(*args) == 2, args
        assert message in capsys.readouterr().err, args
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(empty, "--model", "efficientnet_lite0") == 1
    assert cli.main(["methods"]) == 0 and "gradient_rollout" in capsys.readouterr().out


def test_the_command_line_on_models_people_have(folder, tmp_path, capsys):
    """A whole saved torchvision model, timm ViT and Swin, and a Hugging Face ViT saved to a folder (offline):
    random weights, so only the pipeline is checked (layers, shapes, files), not what the maps show."""
    import torchvision
    torch.save(torchvision.models.resnet18(num_classes=4), tmp_path / "whole.pt")
    runs = [("whole", ["--model", tmp_path / "whole.pt", "--size", "96"], "layer4")]
    if importlib.util.find_spec("timm"):
        runs += [("vit", ["--model", "timm:vit_tiny_patch16_224", "--random-weights"], "blocks.11.norm1"),
                 ("swin", ["--model", "timm:swin_tiny_patch4_window7_224", "--random-weights", "--method",
                           "hires_cam"], "norm")]
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTConfig(image_size=64, patch_size=16, hidden_size=48, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=96, num_labels=3,
                                 id2label={0: "ant", 1: "bee", 2: "cat"}, label2id={"ant": 0, "bee": 1, "cat": 2})
    transformers.ViTForImageClassification(cfg).save_pretrained(tmp_path / "hf")
    transformers.ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path / "hf")
    runs.append(("hf", ["--model", f"hf:{tmp_path / 'hf'}"], "vit.layers.1.layernorm_before"))
    for name, args, layer in runs:
        out = tmp_path / name
        assert cli.main(["explain", str(folder), *map(str, args), "--out", str(out), "--quiet"]) == 0, name
        with open(out / "explanations.csv") as f:
            table = list(csv.DictReader(f))
        assert len(table) == 3 and {r["layer"] for r in table} == {layer}, (name, table[0])
        if name == "hf":
            assert {r["class_name"] for r in table} <= {"ant", "bee", "cat"}
    capsys.readouterr()
