"""Overlays and figure grids.

Heatmaps are drawn back on the original image *at its own size*: the map is
resized to the image, not the image to the map.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import matplotlib.pyplot as plt
import numpy as np
import torch


def _to_numpy(a) -> np.ndarray:
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def colorize(heatmap, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """(h, w) map in [0, 1] -> (h, w, 3) uint8 RGB through an OpenCV colormap."""
    h = np.clip(_to_numpy(heatmap), 0, 1)
    bgr = cv2.applyColorMap(np.uint8(np.round(h * 255)), colormap)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def overlay(image, heatmap, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
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
    h = _to_numpy(heatmap).astype(np.float32)
    if h.ndim != 2:
        raise ValueError(f"expected one (h, w) heatmap, got shape {h.shape}; index the batch first (result.map[0])")
    h = cv2.resize(h, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    blend = (1 - alpha) * image.astype(np.float32) + alpha * colorize(h, colormap).astype(np.float32)
    return np.uint8(np.clip(np.round(blend), 0, 255))


def show_cam(image, heatmap, title: str | None = None, alpha: float = 0.5, axes=None):
    """Original | heatmap | overlay, in one row. Returns the figure."""
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
    return fig


def show_grid(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
              size: float = 2.4, suptitle: str | None = None):
    """Images (uint8 RGB arrays, or (h, w) maps shown in a colormap) in a grid."""
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = _to_numpy(images[i])
            ax.imshow(img, cmap="jet" if img.ndim == 2 else None, vmin=0 if img.ndim == 2 else None,
                      vmax=1 if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def topk(logits: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k (probabilities, classes) of one image's logits (K,) or (1, K)."""
    probs = logits.detach().reshape(-1).softmax(0)
    p, c = probs.topk(k)
    return p, c


def show_topk(image, maps: Sequence, classes: Sequence[int], probs: Sequence[float],
              class_names: Sequence[str], alpha: float = 0.5, method: str = ""):
    """The image and one overlay per class: for top-k class maps."""
    titles = ["image"] + [f"{class_names[int(c)]} ({float(p):.2f})" for c, p in zip(classes, probs)]
    panels = [_to_numpy(image)] + [overlay(image, m, alpha) for m in maps]
    return show_grid(panels, titles, suptitle=method or None)


def draw_boxes(image, boxes: Sequence, labels: Sequence[str] | None = None,
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
