"""Checking maps against ground truth.

The first two localisation checks the course uses; the full metric family
(insertion/deletion, confidence drop, sanity checks) joins them later.
"""
from __future__ import annotations

import torch


def _check(maps: torch.Tensor, masks: torch.Tensor) -> None:
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must have the same "
                         "(B, H, W) shape; use result.map (upsampled to the input), not result.raw")


def dilate(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow (B, H, W) bool masks by every pixel within Euclidean ``radius``."""
    if radius <= 0:
        return masks.bool()
    r = torch.arange(-radius, radius + 1, device=masks.device)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2).float()[None, None]
    grown = torch.nn.functional.conv2d(masks[:, None].float(), disk, padding=radius)
    return grown[:, 0] > 0


def peak_in_mask(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): is each map's maximum inside its
    mask, or within ``tolerance`` pixels of it (Euclidean; the paper uses 15
    px at 224x224)? maps, masks: (B, H, W). Returns (B,) bool. An all-zero
    map points nowhere and never hits."""
    _check(maps, masks)
    flat = maps.flatten(1)
    peak = flat.argmax(1)
    target = dilate(masks.to(maps.device), tolerance)
    hit = target.flatten(1).gather(1, peak[:, None])[:, 0]
    return hit & (flat.max(1).values > 0)


def mass_in_mask(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's total mass that lies inside its mask, in [0, 1]
    (the energy-based pointing game of Wang et al. 2020, Score-CAM).
    maps, masks: (B, H, W), maps non-negative. An all-zero map scores 0."""
    _check(maps, masks)
    masks = masks.to(maps.device, maps.dtype)
    total = maps.flatten(1).sum(1)
    inside = (maps * masks).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))


def _average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor, ties sharing their average rank."""
    values, inverse, counts = torch.unique(v, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return ((ends - (counts - 1) / 2) - 1)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between each pair of maps (B, ...) -> (B,),
    with tied values (the zeros a ReLU leaves) given their average rank.
    A constant map has no ranking: its correlation is 0."""
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes: {tuple(a.shape)} and {tuple(b.shape)}")
    out = []
    for x, y in zip(a.flatten(1), b.flatten(1)):
        rx, ry = _average_ranks(x), _average_ranks(y)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        denom = (rx.norm() * ry.norm()).item()
        out.append((rx @ ry).item() / denom if denom > 0 else 0.0)
    return torch.tensor(out)
