"""One map from several layers: where a single layer is too coarse (a 7x7 last stage) or too literal (an early
stage that follows edges), the maps of a few layers are fused.

The two conventions people meet, both here, so that a map from either library can be reproduced:

- ``"mean"`` (pytorch-grad-cam's ``target_layers=[...]``): each layer's map after its ReLU, scaled to [0, 1]
  per image, upsampled to the input, averaged over the layers and scaled to [0, 1] again;
- ``"max"`` (torchcam's ``fuse_cams``, and LayerCAM's multi-layer fusion, Jiang et al. 2021, eq. 9, with
  ``scale="tanh"``): each layer's map after its ReLU, scaled to [0, 1] per image (and, for LayerCAM's rule,
  through ``tanh(2 x)``), upsampled to the largest layer's grid (or ``size``), and the element-wise maximum taken.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from ..core import CAMResult, normalize, upsample


def _scaled(result: CAMResult, eps: float) -> torch.Tensor:
    """A result's layer-resolution map after its ReLU, min-max scaled per image as both libraries do it,
    ``(m - min) / (max - min + eps)`` (pytorch-grad-cam's eps is 1e-7, torchcam's 1e-8: with small maps, as
    from random weights, the difference shows in the fourth digit)."""
    raw = F.relu(result.raw)
    flat = raw.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo + eps)).view_as(raw)


def fuse(results: Sequence[CAMResult], how: str = "mean", size: Sequence[int] | None = None,
         scale: str | None = None) -> CAMResult:
    """Fuse the maps of one method, class and batch at several layers (``results``, e.g.
    ``[ch.grad_cam(model, x, layer) for layer in ("layer3", "layer4")]``) into one ``CAMResult``: ``raw`` is the
    fused map before the last scaling, at ``size`` (``"mean"``: the input's size, as ``map``; ``"max"``: the
    largest layer's grid unless ``size`` is given), ``map`` the fused map at the input's size in [0, 1], and
    ``layer`` the layers joined by ``"+"``. ``scale="tanh"`` applies LayerCAM's ``tanh(2 x)`` to each scaled
    map before the maximum (torchcam's ``LayerCAM.fuse_cams``)."""
    if how not in ("mean", "max"):
        raise ValueError(f"how must be 'mean' (pytorch-grad-cam) or 'max' (torchcam), got {how!r}")
    if scale not in (None, "tanh"):
        raise ValueError(f"scale must be None or 'tanh' (LayerCAM's fusion), got {scale!r}")
    if len(results) == 0:
        raise ValueError("give the results of at least one layer")
    first = results[0]
    for r in results[1:]:
        if r.method != first.method or r.raw.shape[0] != first.raw.shape[0] or not torch.equal(r.targets,
                                                                                                 first.targets):
            raise ValueError("fuse the maps of one method, batch and set of targets: got "
                             f"{first.method} and {r.method} for targets {first.targets.tolist()} and "
                             f"{r.targets.tolist()}")
    input_size = tuple(first.map.shape[-2:])
    scaled = [_scaled(r, 1e-7 if how == "mean" else 1e-8) for r in results]
    if scale == "tanh":
        scaled = [torch.tanh(2 * s) for s in scaled]
    if how == "mean":
        grid = tuple(size) if size is not None else input_size
    else:
        grid = tuple(size) if size is not None else tuple(max(int(s.shape[-2:][i]) for s in scaled) for i in (0, 1))
    stacked = torch.stack([upsample(s, grid) if tuple(s.shape[-2:]) != grid else s for s in scaled])
    fused = stacked.clamp_min(0).mean(0) if how == "mean" else stacked.amax(0)
    shown = normalize(upsample(fused, input_size) if fused.shape[-2:] != input_size else fused)
    return CAMResult(fused, shown, first.targets, first.logits, "+".join(r.layer for r in results), first.method)
