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


def peak_in_mask(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Pointing game without tolerance (Zhang et al. 2016): is each map's
    maximum inside its mask? maps, masks: (B, H, W). Returns (B,) bool.
    An all-zero map points nowhere and never hits."""
    _check(maps, masks)
    flat = maps.flatten(1)
    peak = flat.argmax(1)
    hit = masks.flatten(1).to(maps.device).gather(1, peak[:, None])[:, 0].bool()
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
