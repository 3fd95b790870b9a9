"""Real photos: loading them for an ImageNet model, their hand-drawn boxes,
and mosaics (the Grid Pointing Game) that give photos exact ground truth.

    photo = load_image(IMAGES_DIR / "coffee.jpg", weights="efficientnet_lite0")
    photo.tensor          # (1, 3, 224, 224), normalised as the model was trained
    photo_objects("astronaut.jpg")   # [PhotoObject("helmet", [518, 560], box), ...]

A photo is resized whole to the model's input (not centre-cropped), so the
heatmap covers everything the learner sees.
"""
from __future__ import annotations

import io
import json
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from . import efficientnet_lite as lite
from ..core import check_positive

IMAGES_DIR = Path(__file__).resolve().parents[2] / "data" / "images"
BOXES = IMAGES_DIR / "boxes.json"


@dataclass
class Photo:
    """A photo ready to explain: ``image`` (H, W, 3) uint8 RGB at its own size,
    upright; ``tensor`` (1, 3, S, S), the model's input."""

    image: np.ndarray
    tensor: torch.Tensor
    path: str | None = None


def read_rgb(source: str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray) -> np.ndarray:
    """Read a photo as an upright (H, W, 3) uint8 RGB array.

    Accepts a path, the file's bytes (an upload), an open binary file, a PIL
    image or an (H, W, 3) uint8 array. Applies the EXIF orientation; puts
    transparent images on white; converts greyscale, palette and CMYK to RGB.
    """
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise ValueError(f"an image array must be (H, W, 3) uint8 RGB, got {source.dtype} {source.shape}")
        return source.copy()
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    img = source if isinstance(source, Image.Image) else Image.open(source)
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        return _deep_to_rgb(img)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB")).copy()


def _deep_to_rgb(img: Image.Image) -> np.ndarray:
    """A 16-bit or 32-bit integer greyscale image (scaled from 0–65535) or a
    float one (from 0–1 when it fits there, else 0–255) as uint8 RGB. PIL's
    own conversion clips instead, so a 16-bit PNG would turn white."""
    a = np.nan_to_num(np.asarray(img).astype(np.float64))
    top = (1.0 if a.size and a.max() <= 1.0 else 255.0) if img.mode == "F" else 65535.0
    grey = np.clip(np.round(a / top * 255), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its input: ``size`` (H, W), ``mean`` and ``std`` on
    the 0–1 scale, ``channels`` ("RGB", or "BGR" for models trained on
    OpenCV's order). Calling it on an (H, W, 3) uint8 RGB image gives the
    (1, 3, H, W) float input: resized whole (not centre-cropped, so the map
    covers all of the photo), scaled to 0–1, normalised."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: str = "RGB"

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        resized = cv2.resize(image, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
        if self.channels == "BGR":
            resized = resized[..., ::-1]
        x = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1).float() / 255
        return ((x - torch.tensor(self.mean)[:, None, None]) / torch.tensor(self.std)[:, None, None])[None]


def _hw(size: Any) -> tuple[int, int]:
    """An int, an (H, W) pair, or a Hugging Face size (a dict, or transformers 5's ``SizeDict``) as (H, W)."""
    if hasattr(size, "shortest_edge"):   # SizeDict
        size = {k: getattr(size, k) for k in ("height", "width", "shortest_edge", "longest_edge")}
    if isinstance(size, dict):
        size = {k: v for k, v in size.items() if v is not None}
        if "height" in size:
            return int(size["height"]), int(size["width"])
        edge = size.get("shortest_edge") or size.get("longest_edge")
        if edge is None:
            raise ValueError(f"cannot read an input size from {size}")
        return int(edge), int(edge)
    if isinstance(size, numbers.Integral):
        check_positive(size=size)
        return int(size), int(size)
    h, w = size
    check_positive(height=h, width=w)
    return int(h), int(w)


def _read_config(weights: Any) -> tuple:
    """(size, mean, std) from a model name, a torchvision weights enum, a timm model or config, or a
    Hugging Face image processor (or its config dict)."""
    if weights in ("efficientnet_lite0", "efficientnet-lite0"):
        return lite.INPUT_SIZE, lite.MEAN, lite.STD
    cfg = getattr(weights, "pretrained_cfg", None) if isinstance(weights, torch.nn.Module) else weights
    if isinstance(weights, torch.nn.Module) and not cfg:
        raise ValueError(f"{type(weights).__name__} carries no preprocessing (no timm pretrained_cfg): pass "
                         "size=, mean= and std=, or a Hugging Face image processor")
    if isinstance(cfg, dict) and "input_size" in cfg:                       # timm
        return tuple(cfg["input_size"][-2:]), tuple(cfg["mean"]), tuple(cfg["std"])
    hf = cfg if isinstance(cfg, dict) else vars(cfg) if hasattr(cfg, "image_mean") else None
    if hf is not None and "image_mean" in hf:                              # Hugging Face image processor
        normalise = hf.get("do_normalize", True)
        return (_hw(hf.get("crop_size") if hf.get("do_center_crop") and hf.get("crop_size") else hf["size"]),
                tuple(hf["image_mean"]) if normalise else (0.0,) * 3, tuple(hf["image_std"]) if normalise else (1.0,) * 3)
    from torchvision.models import ResNet18_Weights, get_model_weights
    if isinstance(weights, str):
        weights = get_model_weights(weights).DEFAULT
    preset = (weights or ResNet18_Weights.DEFAULT).transforms()
    return int(preset.crop_size[0]), tuple(preset.mean), tuple(preset.std)


def preprocessing(weights: Any = None, *, size: int | tuple[int, int] | None = None,
                  mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                  channels: str = "RGB") -> Preprocess:
    """The :class:`Preprocess` of a model, read from ``weights``: ``None``
    (torchvision's ImageNet default, 224 px), a model name
    (``"efficientnet_lite0"``, ``"resnet50"``, …), a torchvision weights enum,
    a timm model or its ``pretrained_cfg`` (``input_size``, ``mean``, ``std``),
    or a Hugging Face image processor or its config dict (``size``,
    ``image_mean``, ``image_std``). ``size`` (int or (H, W)), ``mean``,
    ``std`` and ``channels`` override what was read. No download needed."""
    if channels not in ("RGB", "BGR"):
        raise ValueError(f"channels must be 'RGB' or 'BGR', got {channels!r}")
    if size is not None:
        size = _hw(size)
    if weights is None and None not in (size, mean, std):
        base = cast(tuple, (size, mean, std))   # like _read_config's: none of the three is None here
    else:
        base = _read_config(weights)
    mean, std = tuple(base[1] if mean is None else mean), tuple(base[2] if std is None else std)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"mean and std need three values (std > 0) on the 0-1 scale, got {mean} and {std}")
    return Preprocess(_hw(base[0]) if size is None else size, mean, std, channels)


def imagenet_transform(weights: Any = None) -> tuple[int, tuple, tuple]:
    """(size, mean, std) of a model's preprocessing, mean and std on the 0–1
    scale, for a square input (see :func:`preprocessing` for the rest)."""
    p = preprocessing(weights)
    return p.size[0], p.mean, p.std


def to_model_input(image: np.ndarray, weights: Any = None, size: int | None = None) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, S, S) float, resized whole and normalised for ``weights``."""
    return preprocessing(weights, size=size)(image)


def load_image(source: str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray,
               weights: Any = None, size: int | tuple[int, int] | None = None, *,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
               channels: str = "RGB") -> Photo:
    """Load any photo for a model: ``source`` is a path, bytes (an upload), a
    binary file, a PIL image or an (H, W, 3) uint8 array; ``weights`` says how
    the model wants its input (:func:`preprocessing`: a model name, a
    torchvision weights enum, a timm model, a Hugging Face image processor;
    default torchvision's ImageNet preprocessing, 224 px), and ``size``,
    ``mean``, ``std``, ``channels`` override it. Overlays are drawn back on the
    photo at its own size."""
    image = read_rgb(source)
    tensor = preprocessing(weights, size=size, mean=mean, std=std, channels=channels)(image)
    return Photo(image, tensor, str(source) if isinstance(source, (str, Path)) else None)


def course_photos() -> list[Path]:
    """The photos shipped in ``data/images`` (see ``data/images/SOURCES.md``)."""
    return sorted(p for p in IMAGES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# --------------------------------------------------------------------------
# Ground truth on photos
# --------------------------------------------------------------------------

@dataclass
class PhotoObject:
    """One object of a course photo: ``name``, ``classes`` (ImageNet indices
    that name it; empty when ImageNet has none), ``box`` (x0, y0, x1, y1),
    inclusive pixels of the photo at its own size."""

    name: str
    classes: list[int]
    box: tuple[int, int, int, int]

    def box_at(self, photo_shape: tuple[int, ...], size: int | tuple[int, int]) -> tuple[int, int, int, int]:
        """The box on the model's (size, size) input, to which the whole photo of
        ``photo_shape`` (H, W, …) was resized."""
        (h, w), (sh, sw) = photo_shape[:2], (size, size) if isinstance(size, int) else size
        x0, y0, x1, y1 = self.box
        return (int(x0 * sw / w), int(y0 * sh / h), min(int((x1 + 1) * sw / w), sw - 1),
                min(int((y1 + 1) * sh / h), sh - 1))


def photo_objects(name: str | Path, path: Path = BOXES) -> list[PhotoObject]:
    """The hand-drawn objects of course photo ``name`` (e.g. ``"astronaut.jpg"``)."""
    from torchvision.models import ResNet18_Weights  # the 1,000 ImageNet classes, in Lite0's order too
    table = json.loads(Path(path).read_text())
    key = Path(name).name
    if key not in table:
        raise KeyError(f"no boxes for {key!r} in {path}; photos with boxes: "
                       f"{sorted(k for k in table if not k.startswith('_'))}")
    index = {c: i for i, c in enumerate(ResNet18_Weights.DEFAULT.meta["categories"])}
    return [PhotoObject(o["name"], [index[c] for c in o["classes"]], tuple(o["box"])) for o in table[key]]


# --------------------------------------------------------------------------
# Mosaics: the Grid Pointing Game (Böhle et al. 2021)
# --------------------------------------------------------------------------

@dataclass
class Mosaic:
    """``grid`` x ``grid`` photos tiled into one (size, size) image.
    ``image`` (size, size, 3) uint8; ``tensor`` (1, 3, size, size), the model's
    input; ``tiles`` (n, 4) boxes (x0, y0, x1, y1) of each tile, in photo order."""

    image: np.ndarray
    tensor: torch.Tensor
    tiles: torch.Tensor


# Single-object tiles for the course's mosaics: whole photos, or one object's box cut from a photo.
GRID_TILES = (("cat_chelsea.jpg", None), ("coffee.jpg", None), ("camera.jpg", None), ("astronaut.jpg", "shuttle model"))


def grid_tiles(tiles: Sequence[tuple[str, str | None]] = GRID_TILES) -> list[np.ndarray]:
    """The images of ``tiles`` ((photo, object name or None) pairs), (H, W, 3) uint8 each."""
    out = []
    for name, obj in tiles:
        image = read_rgb(IMAGES_DIR / name)
        if obj is not None:
            x0, y0, x1, y1 = next(o.box for o in photo_objects(name) if o.name == obj)
            image = image[y0:y1 + 1, x0:x1 + 1]
        out.append(image)
    return out


def mosaic(images: Sequence[np.ndarray], grid: int = 2, weights: Any = None, size: int | None = None) -> Mosaic:
    """Tile ``grid**2`` photos ((H, W, 3) uint8 each, row by row) into one
    model input; each photo is resized whole to its tile."""
    if len(images) != grid * grid:
        raise ValueError(f"a {grid}x{grid} mosaic needs {grid * grid} photos, got {len(images)}")
    size = size or imagenet_transform(weights)[0]
    t = size // grid
    canvas = np.zeros((t * grid, t * grid, 3), np.uint8)
    tiles = []
    for i, img in enumerate(images):
        r, c = divmod(i, grid)
        canvas[r * t:(r + 1) * t, c * t:(c + 1) * t] = cv2.resize(img, (t, t), interpolation=cv2.INTER_AREA)
        tiles.append((c * t, r * t, (c + 1) * t - 1, (r + 1) * t - 1))
    return Mosaic(canvas, to_model_input(canvas, weights, size), torch.tensor(tiles))


def grid_pointing_game(model: torch.nn.Module, explain: Callable, images: Sequence[np.ndarray],
                       classes: Sequence[int], grid: int = 2, weights: Any = None, **options: Any) -> torch.Tensor:
    """The Grid Pointing Game (Böhle et al. 2021, as used by Rao et al. 2022):
    for every cyclic arrangement of the ``grid**2`` photos into a mosaic and
    every tile, explain the tile's class ``classes[i]`` and score the share of
    the map's positive mass inside that tile (chance: ``1 / grid**2``).

    ``explain(model, x, layer=None, targets=...)`` is any method of the
    course. Returns (arrangements, tiles) scores; ``.mean()`` is the GPG score."""
    from ..hooks import model_device_dtype
    from ..evaluate.metrics import energy_pointing_game
    n = grid * grid
    device = model_device_dtype(model)[0]
    rows = []
    for shift in range(n):
        order = [(i + shift) % n for i in range(n)]              # photo order[j] sits in tile j
        m = mosaic([images[i] for i in order], grid, weights)
        x = m.tensor.to(device).repeat(n, 1, 1, 1)
        targets = torch.tensor([classes[i] for i in order])
        maps = explain(model, x, targets=targets, **options).map
        scores = energy_pointing_game(maps, m.tiles.to(maps.device)).cpu()
        rows.append(scores[torch.argsort(torch.tensor(order))])  # back to photo order
    return torch.stack(rows)
