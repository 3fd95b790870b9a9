"""Reading a layer's output as a feature map (B, C, h, w), whatever its layout.

Convolutional networks give (B, C, h, w). Others do not: torchvision's and timm's Swin keep their maps
channels last, (B, h, w, C); Vision Transformers give tokens, (B, N, C), with prefix tokens (CLS,
DeiT's distillation token, register tokens) before the h * w patch tokens. :func:`layout` tells which
one a layer's output is, from its shape and the input's, and :func:`as_feature_map` views it as
(B, C, h, w), so every CAM rule runs on it (pytorch-grad-cam's "reshape transform", detected instead
of written by hand). A shape that fits none of them is not a feature map, and a default layer is never
chosen from one: a parameter table (batch 1 for a batch of 2), a detection head's pooled boxes (2000
regions for 2 images), attention heads (B, heads, N, d).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

MAX_PREFIX = 16   # CLS + distillation + register tokens: DINOv2 with registers has 5


@dataclass(frozen=True)
class Layout:
    """How a layer's output holds its map: ``kind`` is ``"nchw"``, ``"nhwc"``, ``"tokens"``
    or ``"reshaped"`` (by the user's function);
    ``grid`` the map's (h, w); ``prefix`` the tokens before the patch tokens (``"tokens"`` only)."""

    kind: str
    grid: tuple[int, int]
    prefix: int = 0

    def __str__(self) -> str:
        extra = f", {self.prefix} prefix token(s)" if self.kind == "tokens" else ""
        return f"{self.kind} {self.grid[0]}x{self.grid[1]}{extra}"


def _fits(h: int, w: int, size: tuple[int, int]) -> bool:
    """Whether an h x w grid can be the input's H x W seen through one stride (each side rounded)."""
    H, W = size
    if h < 1 or w < 1 or h > H or w > W:
        return False
    s = max(H / h, W / w)
    return abs(round(H / s) - h) <= 1 and abs(round(W / s) - w) <= 1


def _patches(h: int, w: int, size: tuple[int, int]) -> bool:
    """Whether an h x w token grid is the input cut into p x p patches for some p (sides rounded down, or
    up for models that pad): stricter than :func:`_fits`, as a wrong count of prefix tokens gives a grid
    of nearly the right shape (20 tokens as 4 x 5 on a square input)."""
    H, W = size
    return any((H // p, W // p) == (h, w) or (-(-H // p), -(-W // p)) == (h, w) for p in range(1, max(H, W) + 1))


def layout(t: torch.Tensor, batch: int, size: tuple[int, int], module: nn.Module | None = None) -> Layout | None:
    """The layout of ``t``, the output of ``module`` for a batch of ``batch`` inputs of spatial ``size``
    (H, W), or None when ``t`` is not a feature map of those inputs on a grid larger than 1 x 1."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() not in (3, 4) or t.shape[0] != batch:
        return None
    if t.dim() == 4:
        _, a, b, c = t.shape
        nchw = b * c > 1 and _fits(b, c, size)
        nhwc = a * b > 1 and _fits(a, b, size)
        if isinstance(module, nn.LayerNorm) and tuple(module.normalized_shape) == (c,):
            return Layout("nhwc", (a, b)) if nhwc else None      # a LayerNorm over the last dim: channels last
        if nchw:                                                  # both fit only when C, h and w are alike
            return Layout("nchw", (b, c))
        return Layout("nhwc", (a, b)) if nhwc else None
    _, n, _ = t.shape
    H, W = size
    for prefix in range(0, min(MAX_PREFIX, n - 1) + 1):
        patches = n - prefix
        # the grid with the input's aspect ratio: h / w = H / W
        h = round(math.sqrt(patches * H / W))
        for hh in (h - 1, h, h + 1):
            if hh > 1 and patches % hh == 0 and patches // hh > 1 and _patches(hh, patches // hh, size):
                return Layout("tokens", (hh, patches // hh), prefix)
    return None


def as_feature_map(t: torch.Tensor, where: Layout) -> torch.Tensor:
    """``t`` viewed as (B, C, h, w): channels-last permuted, prefix tokens dropped, patch tokens on the grid."""
    if where.kind == "nchw":
        return t
    if where.kind == "nhwc":
        return t.permute(0, 3, 1, 2)
    h, w = where.grid
    return t[:, where.prefix:].transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)


def reshaped_layout(reshape: Callable[[torch.Tensor], Any], name: str, t: torch.Tensor, batch: int) -> Layout:
    """The layout of layer ``name``'s output ``t`` read by the user's ``reshape`` function, which must give
    (B, C, h, w) for the batch; else a ``ValueError`` that shows what it gave."""
    m = reshape(t)
    if not isinstance(m, torch.Tensor) or m.dim() != 4 or m.shape[0] != batch:
        what = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
        raise ValueError(f"reshape turned layer {name!r}'s output {tuple(t.shape)} into {what}; it must give "
                         f"(B, C, h, w) with B = {batch}, the batch")
    return Layout("reshaped", (int(m.shape[-2]), int(m.shape[-1])))
