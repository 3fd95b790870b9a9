"""Overlays and figure grids.

Heatmaps are drawn back on the original image *at its own size*: the map is
resized to the image, not the image to the map. The default colormap,
``COLORMAP``, is perceptually uniform (inferno: lightness rises steadily from
0 to 1), so equal steps of the map look like equal steps; jet's bright bands
at cyan and yellow invent edges that are not in the map. Any matplotlib
colormap name, or an OpenCV ``cv2.COLORMAP_*`` constant, can be passed.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike


def _to_numpy(a: ArrayLike | torch.Tensor) -> np.ndarray:
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


COLORMAP = "inferno"


def colorize(heatmap: ArrayLike | torch.Tensor, colormap: str | int = COLORMAP) -> np.ndarray:
    """(h, w) map in [0, 1] -> (h, w, 3) uint8 RGB through a colormap (a
    matplotlib name, or an OpenCV ``cv2.COLORMAP_*`` constant)."""
    levels = np.round(np.clip(_to_numpy(heatmap), 0, 1) * 255).astype(np.uint8)
    if isinstance(colormap, str):
        table = np.round(plt.get_cmap(colormap)(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
        return table[levels]
    return cv2.cvtColor(cv2.applyColorMap(levels, colormap), cv2.COLOR_BGR2RGB)


def _colorbar(fig: Figure, axes: Axes | list[Axes], colormap: str, label: str = "map value") -> None:
    """One shared 0-1 colourbar for ``axes``."""
    scale = plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap=colormap)
    fig.colorbar(scale, ax=axes, fraction=0.025, pad=0.02, label=label)


def overlay(image: ArrayLike | torch.Tensor, heatmap: ArrayLike | torch.Tensor, alpha: float = 0.5,
            colormap: str | int = COLORMAP) -> np.ndarray:
    """Blend a heatmap onto an image.

    image: (H, W, 3) uint8 RGB (any size). heatmap: (h, w) in [0, 1], tensor or
    array, any size: it is resized (bilinear) to H x W. alpha: heatmap opacity.
    Returns (H, W, 3) uint8 RGB.
    """
    image = _to_numpy(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha is an opacity in [0, 1], got {alpha}")
    h: np.ndarray = _to_numpy(heatmap).astype(np.float32)
    if h.ndim != 2:
        raise ValueError(f"expected one (h, w) heatmap, got shape {h.shape}; index the batch first (result.map[0])")
    h = cv2.resize(h, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    blend = (1 - alpha) * image.astype(np.float32) + alpha * colorize(h, colormap).astype(np.float32)
    return np.clip(np.round(blend), 0, 255).astype(np.uint8)


def show_cam(image: ArrayLike | torch.Tensor, heatmap: ArrayLike | torch.Tensor, title: str | None = None,
             alpha: float = 0.5, axes: Any = None) -> Figure:
    """Original | heatmap | overlay, in one row, with the map's colourbar. Returns the figure."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    else:
        fig = axes[0].figure
    panels = [(_to_numpy(image), "image"), (colorize(heatmap), "heatmap"),
              (overlay(image, heatmap, alpha), "overlay")]
    for ax, (img, label) in zip(axes, panels):
        ax.imshow(img)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _colorbar(fig, list(axes), COLORMAP)
    return fig


def show_grid(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
              size: float = 2.4, suptitle: str | None = None, colorbar: bool = False) -> Figure:
    """Images (uint8 RGB arrays, or (h, w) maps in [0, 1] shown in ``COLORMAP``)
    in a grid; ``colorbar=True`` adds one shared 0-1 scale (for maps compared
    side by side)."""
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = _to_numpy(images[i])
            ax.imshow(img, cmap=COLORMAP if img.ndim == 2 else None, vmin=0 if img.ndim == 2 else None,
                      vmax=1 if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    if colorbar:
        _colorbar(fig, axes.ravel().tolist(), COLORMAP)
    return fig


def forest(intervals: Mapping[str, Sequence[float]], *, zero: float | None = 0.0, xlabel: str = "", title: str = "",
           ax: Axes | None = None, atol: float = 1e-6) -> Axes:
    """A forest plot: one row per name of ``intervals`` (a dict of ``(mean, low, high)``, such as
    :class:`~cam_helpers.stats.Interval`), its mean a dot and its interval a bar, and a dotted line at
    ``zero`` (for paired differences: no difference). A row whose interval contains ``zero`` (to ``atol``: two
    methods that make the same map differ by rounding only) is grey: the data cannot tell which way it goes.
    Returns the axes."""
    names = list(intervals)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    for row, name in enumerate(names):
        mean, low, high = (float(v) for v in tuple(intervals[name])[:3])
        color = "C0" if zero is None or not low - atol <= zero <= high + atol else "grey"
        ax.plot([low, high], [row, row], color=color, lw=2, solid_capstyle="butt")
        ax.plot([mean], [row], "o", color=color, ms=5)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    if zero is not None:
        ax.axvline(zero, color="black", lw=0.8, ls=":")
    ax.set(xlabel=xlabel, title=title)
    return ax


def topk(logits: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k (probabilities, classes) of one image's logits (K,) or (1, K)."""
    probs = logits.detach().reshape(-1).softmax(0)
    p, c = probs.topk(k)
    return p, c


def show_topk(image: ArrayLike | torch.Tensor, maps: Sequence, classes: Sequence[int], probs: Sequence[float],
              class_names: Sequence[str], alpha: float = 0.5, method: str = "") -> Figure:
    """The image and one overlay per class: for top-k class maps."""
    titles = ["image"] + [f"{class_names[int(c)]} ({float(p):.2f})" for c, p in zip(classes, probs)]
    panels = [_to_numpy(image)] + [overlay(image, m, alpha) for m in maps]
    return show_grid(panels, titles, suptitle=method or None, colorbar=True)


def draw_boxes(image: ArrayLike | torch.Tensor, boxes: Sequence, labels: Sequence[str] | None = None,
               colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with boxes (x0, y0, x1, y1),
    inclusive pixels, drawn on it, each with its label."""
    out = np.ascontiguousarray(_to_numpy(image)).copy()
    width = max(1, round(max(out.shape[:2]) / 200))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), colour, width)
        if labels is not None:
            cv2.putText(out, labels[i], (int(x0) + 3, int(y0) + 6 * width + 8), cv2.FONT_HERSHEY_SIMPLEX,
                        0.25 * width + 0.2, colour, width, cv2.LINE_AA)
    return out


def class_name(class_names: Sequence[str] | None, c: int) -> str | None:
    """The name of class ``c`` in ``class_names``, or None (no names, or ``c`` not a class: a callable
    target's -1)."""
    return class_names[c] if class_names is not None and 0 <= c < len(class_names) else None


def save(path: str | Path, image: ArrayLike | torch.Tensor, result: Any, index: int = 0, *,
         class_names: Sequence[str] | None = None, raw: bool = False, alpha: float = 0.5, colormap: str = COLORMAP,
         dpi: int = 100) -> list:
    """Write one image's explanation to ``path`` (a PNG): the overlay at the
    photo's own size, a 0-1 colourbar, and a title with the method, the class
    (its name from ``class_names``), its probability and the layer.

    ``result`` is a :class:`~cam_helpers.core.CAMResult` (``index`` picks the
    image of the batch) or one (h, w) map in [0, 1]. ``raw=True`` also writes
    the map and the method's signed ``raw`` beside it, as ``<name>.npz``
    (arrays ``map`` and ``raw``). Returns the paths written."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"viz.save writes a PNG; got {path.name!r} (give the file a .png name)")
    title = None
    if hasattr(result, "map"):
        heatmap = result.map[index]
        c = int(result.targets[index])
        name = class_name(class_names, c) or f"class {c}"
        p = float(result.logits[index].float().softmax(0)[c]) if c >= 0 else None
        title = f"{result.method} · {name}" + (f" ({p:.2f})" if p is not None else "") + f" · layer {result.layer}"
    else:
        heatmap = result
    image = _to_numpy(image)
    h, w = image.shape[:2]
    width = 6.0
    fig, ax = plt.subplots(figsize=(width, width * h / w + 0.6))
    try:
        ax.imshow(overlay(image, heatmap, alpha, colormap))
        ax.axis("off")
        if title:
            ax.set_title(title, fontsize=9)
        _colorbar(fig, ax, colormap if isinstance(colormap, str) else COLORMAP)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    written = [path]
    if raw:
        arrays = {"map": _to_numpy(heatmap).astype(np.float32)}
        if hasattr(result, "raw"):
            arrays["raw"] = _to_numpy(result.raw[index]).astype(np.float32)
        np.savez_compressed(path.with_suffix(".npz"), **arrays)  # type: ignore[arg-type]
        written.append(path.with_suffix(".npz"))
    return written
