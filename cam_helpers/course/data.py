"""The shapes lab (real photos: :mod:`cam_helpers.photos`, whose loaders are re-exported here).

The shapes lab draws synthetic scenes: shapes of six classes on textured
backgrounds with distractor clutter, with an exact mask and box for every
object. A scene is a pure function of ``(seed, split, index)``, so datasets are
lazy and reproducible, and every claim a notebook makes about where a heatmap
lands can be checked against ground truth.

Variants:

- ``"single"``: one object; the label is its class.
- ``"two"``: two objects of different classes (class-discriminative lessons);
  the label is the first object's class.
- ``"two_same"``: two objects of the same class (multi-instance lessons).
- ``"tagged"``: one object plus, in the biased splits, a small marker (the "hospital token") that
  co-occurs with ``tag_class``. Splits ``"test_clean"`` (no marker anywhere) and ``"test_swapped"``
  (marker on every other class, never on ``tag_class``) expose a model that learned the marker
  instead of the shape.
- ``"context"``: one object on one of six *habitats* (backgrounds with their own colour and texture,
  :data:`HABITATS`). In ``"train"``, ``"val"`` and ``"test"`` an object sits on its class's habitat
  with probability ``context_rate`` (else on another, uniformly); ``"test_clean"`` draws the habitat
  independently of the class and ``"test_swapped"`` never uses the class's own. With
  ``context_rate=1/6`` the habitat says nothing about the class.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
SPLITS = ("train", "val", "test", "test_clean", "test_swapped")
VARIANTS = ("single", "two", "two_same", "tagged", "context")
IMAGE_SIZE = 64
# Fixed normalisation for the lab: pixels in [0, 1] map to about [-2, 2].
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.25, 0.25, 0.25)

_SHIFT = 4  # cv2 sub-pixel precision: coordinates are scaled by 2**_SHIFT


@dataclass
class SceneObject:
    """One object of a scene: ``label`` (class index, -1 for the marker),
    ``mask`` (H, W) bool and ``box`` (x0, y0, x1, y1), inclusive pixels."""

    label: int
    mask: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return CLASSES[self.label] if self.label >= 0 else "marker"


@dataclass
class Scene:
    """A rendered scene: ``image`` (H, W, 3) uint8 RGB and its ground truth."""

    image: np.ndarray
    objects: list[SceneObject]
    marker: SceneObject | None = None
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> int:
        return self.objects[0].label

    def tensor(self) -> torch.Tensor:
        """The image as a normalised (1, 3, H, W) float tensor."""
        return to_tensor(self.image)[None]


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(SHAPES_MEAN, device=x.device)[:, None, None],
            torch.tensor(SHAPES_STD, device=x.device)[:, None, None])


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (3, H, W) or (B, 3, H, W) -> the lab's normalised float input."""
    mean, std = _stats(images)
    return (images.float() / 255 - mean) / std


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float, normalised with the lab's stats."""
    return normalise(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))


def to_image(x: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`to_tensor`: (3, H, W) float -> (H, W, 3) uint8."""
    mean, std = _stats(x)
    img = ((x.detach() * std + mean).clamp(0, 1) * 255).round().byte()
    return img.permute(1, 2, 0).cpu().numpy()


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------

def _polygon(n_points: int, radii: list[float], angle: float) -> np.ndarray:
    """Vertices of a polygon whose i-th vertex lies at radii[i % len(radii)]."""
    k = np.arange(n_points)
    theta = angle + 2 * math.pi * k / n_points
    r = np.array([radii[i % len(radii)] for i in k])
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _cross(r: float, angle: float) -> np.ndarray:
    w = 0.36 * r
    pts = np.array([(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r),
                    (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)])
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def _shape_alpha(label: int, cx: float, cy: float, r: float, angle: float, size: int) -> np.ndarray:
    """Anti-aliased coverage (H, W) float32 in [0, 1] of one shape."""
    canvas = np.zeros((size, size), np.uint8)
    scale = 1 << _SHIFT
    centre = np.array([cx, cy])

    def fill(poly: np.ndarray, value: int = 255) -> None:
        pts = np.round((poly + centre) * scale).astype(np.int32)
        cv2.fillPoly(canvas, [pts], value, cv2.LINE_AA, _SHIFT)

    def disk(radius: float, value: int) -> None:
        cv2.circle(canvas, (int(round(cx * scale)), int(round(cy * scale))),
                   int(round(radius * scale)), value, -1, cv2.LINE_AA, _SHIFT)

    name = CLASSES[label]
    if name == "circle":
        disk(r, 255)
    elif name == "ring":
        disk(r, 255)
        disk(0.55 * r, 0)
    elif name == "square":
        fill(_polygon(4, [r * 0.9], angle))
    elif name == "triangle":
        fill(_polygon(3, [r], angle))
    elif name == "star":
        fill(_polygon(10, [r, 0.45 * r], angle))
    elif name == "cross":
        fill(_cross(r, angle))
    return canvas.astype(np.float32) / 255


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _pattern(rng: np.random.Generator, kind: str, size: int, freq: tuple[float, float] = (0.3, 1.2),
             period: tuple[int, int] = (3, 8)) -> np.ndarray:
    """One texture (size, size) in [-1, 1]: stripes, checker, grain or blotches."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "stripes":
        a = rng.uniform(0, math.pi)
        return np.sin(rng.uniform(*freq) * (xx * math.cos(a) + yy * math.sin(a)))
    if kind == "checker":
        p = rng.integers(*period)
        return ((xx // p + yy // p) % 2) * 2 - 1
    if kind == "grain":
        return rng.uniform(-1, 1, (size, size))
    return cv2.resize(rng.uniform(-1, 1, (8, 8)).astype(np.float32), (size, size))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured background: smooth colour noise plus one random pattern."""
    base = rng.uniform(0.15, 0.85, 3)
    low = rng.uniform(-0.2, 0.2, (4, 4, 3)).astype(np.float32)
    img = base + cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    kind = ("stripes", "checker", "grain", "blotches")[rng.integers(4)]
    amp = rng.uniform(0.04, 0.12)
    img = img + amp * _pattern(rng, kind, size)[..., None] * rng.uniform(0.5, 1.0, 3)
    return np.clip(img, 0, 1).astype(np.float32)


# The context variant's backgrounds (habitat i is class i's): a colour and one of _pattern's textures.
HABITATS = ("sand", "grass", "water", "snow", "brick", "night")
_HABITAT_LOOK = {"sand": ((0.86, 0.74, 0.48), "stripes"), "grass": ((0.30, 0.58, 0.22), "grain"),
                 "water": ((0.18, 0.38, 0.74), "stripes"), "snow": ((0.90, 0.92, 0.96), "blotches"),
                 "brick": ((0.66, 0.28, 0.20), "checker"), "night": ((0.10, 0.10, 0.24), "grain")}


def _habitat_background(rng: np.random.Generator, habitat: int, size: int) -> np.ndarray:
    """Habitat ``habitat``'s background: its colour (+-0.06 per channel) and texture."""
    base, kind = _HABITAT_LOOK[HABITATS[habitat]]
    img: np.ndarray = np.asarray(base, np.float32) + rng.uniform(-0.06, 0.06, 3).astype(np.float32)
    img = img + 0.1 * _pattern(rng, kind, size, freq=(0.5, 0.9), period=(4, 7))[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


def _clutter(rng: np.random.Generator, img: np.ndarray, size: int) -> None:
    """Distractors that belong to no class: thin lines, dots and squiggles."""
    for _ in range(rng.integers(2, 6)):
        colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
        kind = rng.integers(3)
        if kind == 0:
            p, q = rng.integers(0, size, (2, 2))
            cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q), colour, 1, cv2.LINE_AA)
        elif kind == 1:
            c = rng.integers(0, size, 2)
            cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(1, 3)), colour, -1, cv2.LINE_AA)
        else:
            start = rng.uniform(0, size, 2)
            steps = rng.normal(0, 3, (5, 2)).cumsum(0) + start
            cv2.polylines(img, [steps.astype(np.int32)], False, colour, 1, cv2.LINE_AA)


def _object_colour(rng: np.random.Generator, background_lum: float) -> np.ndarray:
    """A random colour with enough luminance contrast to the background."""
    for _ in range(20):
        colour = rng.uniform(0, 1, 3)
        if abs(_luminance(colour) - background_lum) > 0.25:
            return colour
    return np.full(3, 0.0 if background_lum > 0.5 else 1.0)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _marker_alpha(cx: int, cy: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The "hospital token": a white 7x7 square with a red plus. Returns the
    coverage and the token's own RGB pattern."""
    alpha = np.zeros((size, size), np.float32)
    pattern = np.zeros((size, size, 3), np.float32)
    alpha[cy - 3:cy + 4, cx - 3:cx + 4] = 1
    pattern[cy - 3:cy + 4, cx - 3:cx + 4] = (1, 1, 1)
    pattern[cy - 2:cy + 3, cx] = (0.85, 0.05, 0.05)
    pattern[cy, cx - 2:cx + 3] = (0.85, 0.05, 0.05)
    return alpha, pattern


def render_scene(rng: np.random.Generator, labels: list[int], size: int = IMAGE_SIZE,
                 marker: bool = False, habitat: int | None = None) -> Scene:
    """Draw one scene with the given object classes, using ``rng`` only, on
    habitat ``habitat``'s background (:data:`HABITATS`) or, by default, a random one."""
    img = _background(rng, size) if habitat is None else _habitat_background(rng, habitat, size)
    _clutter(rng, img, size)
    bg_lum = _luminance(img.reshape(-1, 3).mean(0))
    r_lo, r_hi = (9.0, 16.0) if len(labels) == 1 else (7.0, 11.0)
    placed: list[tuple[float, float, float]] = []
    objects = []
    for label in labels:
        for _ in range(100):
            r = rng.uniform(r_lo, r_hi)
            cx, cy = rng.uniform(r + 1, size - r - 2, 2)
            if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
                break
        placed.append((cx, cy, r))
        alpha = _shape_alpha(label, cx, cy, r, rng.uniform(0, 2 * math.pi), size)
        colour = _object_colour(rng, bg_lum)
        shade = 1 + 0.15 * (np.mgrid[0:size, 0:size][0] - cy) / size  # gentle gradient
        img = img * (1 - alpha[..., None]) + (colour * shade[..., None]) * alpha[..., None]
        mask = alpha >= 0.5
        objects.append(SceneObject(label, mask, _box(mask)))
    token = None
    if marker:
        for _ in range(100):
            cx, cy = (int(v) for v in rng.integers(4, size - 4, 2))
            if all(math.hypot(cx - x, cy - y) > q + 6 for x, y, q in placed):
                break
        alpha, pattern = _marker_alpha(cx, cy, size)
        img = img * (1 - alpha[..., None]) + pattern * alpha[..., None]
        mask = alpha > 0
        token = SceneObject(-1, mask, _box(mask))
    image = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return Scene(image, objects, token, {} if habitat is None else {"habitat": HABITATS[habitat]})


class ShapesDataset(Dataset):
    """Lazy, reproducible shapes-lab scenes.

    ``dataset[i]`` is ``(x, label)`` with ``x`` a normalised (3, 64, 64) float
    tensor (``(x, label, mask)`` with ``with_mask=True``); ``dataset.scene(i)`` gives the full :class:`Scene` with masks and
    boxes. Scene ``i`` depends only on ``(seed, split, i)`` (and the variant).
    """

    def __init__(self, variant: str = "single", split: str = "train", size: int = 10_000,
                 seed: int = 0, image_size: int = IMAGE_SIZE, tag_class: int = 0,
                 tag_rate: float = 1.0, other_tag_rate: float = 0.0, context_rate: float = 1.0,
                 with_mask: bool = False):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        self.variant, self.split, self.size, self.seed = variant, split, size, seed
        self.image_size, self.tag_class = image_size, tag_class
        self.tag_rate, self.other_tag_rate = tag_rate, other_tag_rate
        if not 0 <= context_rate <= 1:
            raise ValueError(f"context_rate is a probability, got {context_rate}")
        self.context_rate = context_rate
        self.with_mask = with_mask
        self.classes = CLASSES

    def __len__(self) -> int:
        return self.size

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLITS.index(self.split),
                                      VARIANTS.index(self.variant), index])

    def scene(self, index: int) -> Scene:
        if not 0 <= index < self.size:
            raise IndexError(f"scene {index} is out of range for a dataset of {self.size}")
        rng = self._rng(index)
        n = len(CLASSES)
        first = int(rng.integers(n))
        if self.variant == "two":
            labels = [first, int((first + rng.integers(1, n)) % n)]
        elif self.variant == "two_same":
            labels = [first, first]
        else:
            labels = [first]
        marker = False
        if self.variant == "tagged":
            is_tag = first == self.tag_class
            if self.split == "test_clean":
                marker = False
            elif self.split == "test_swapped":
                marker = not is_tag
            else:
                marker = bool(rng.random() < (self.tag_rate if is_tag else self.other_tag_rate))
        habitat = None
        if self.variant == "context":
            own = self.split not in ("test_clean", "test_swapped") and rng.random() < self.context_rate
            if self.split == "test_clean":
                habitat = int(rng.integers(n))
            else:
                habitat = first if own else int((first + rng.integers(1, n)) % n)
        scene = render_scene(rng, labels, self.image_size, marker, habitat)
        scene.meta.update(variant=self.variant, split=self.split, seed=self.seed, index=index)
        return scene

    def __getitem__(self, index: int) -> tuple:
        scene = self.scene(index)
        if self.with_mask:  # for evaluation.evaluate: the first object's mask
            return to_tensor(scene.image), scene.label, torch.from_numpy(scene.objects[0].mask)
        return to_tensor(scene.image), scene.label

    def scenes(self, indices: Iterable[int] | None = None) -> list[Scene]:
        """Scenes ``indices`` (default: all) as a list."""
        return [self.scene(i) for i in (range(self.size) if indices is None else indices)]


def batch(scenes: list[Scene], obj: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack scenes for a model: ``(x, labels, masks)`` with x (B, 3, H, W),
    labels (B,) and masks (B, H, W) bool of each scene's object ``obj``."""
    x = torch.stack([to_tensor(s.image) for s in scenes])
    labels = torch.tensor([s.objects[obj].label for s in scenes])
    masks = torch.from_numpy(np.stack([s.objects[obj].mask for s in scenes]))
    return x, labels, masks


def marker_masks(scenes: list[Scene]) -> torch.Tensor:
    """(B, H, W) bool masks of each scene's marker (all False where a scene has none)."""
    return torch.from_numpy(np.stack([s.marker.mask if s.marker is not None else np.zeros(s.image.shape[:2], bool)
                                      for s in scenes]))


# Real photos live in cam_helpers.photos; these names stay importable from here.
from .photos import IMAGES_DIR, Photo, course_photos, imagenet_transform, load_image, read_rgb  # noqa: E402,F401
