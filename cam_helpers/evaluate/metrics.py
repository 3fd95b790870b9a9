"""Measuring explanations: against ground truth and against the model.

Against ground truth (masks or boxes): the pointing game, the energy-based
pointing game, IoU of a thresholded map, box localisation. Against the model:
insertion and deletion curves, average drop and increase in confidence, and ROAD
(:func:`cam_helpers.evaluate.road.road`: deletion with the removed pixels imputed, not blanked).
Statistics (Spearman rank correlation, bootstrap intervals, paired differences)
live in :mod:`cam_helpers.stats` and are importable from here.
The sanity checks live in :mod:`cam_helpers.sanity`, the dataset-scale
evaluation in :mod:`cam_helpers.evaluation`.

Maps are ``result.map``: (B, H, W), non-negative, at the input's size. Every
function is batched and stays on the maps' device. Each docstring gives the
paper's definition and any choice we make.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn
from tqdm.auto import tqdm

from ..core import Targets, check_input, check_positive, classify, resolve_targets, target_scores
from ..hooks import frozen_eval
from ..speed import BATCH_BUDGET, fast_inference
from .road import road  # noqa: F401  (ROAD: deletion with the removed pixels imputed; part of metrics' API)
from .stats import Interval, bootstrap_ci, paired_difference, spearman  # noqa: F401  (part of metrics' API)


def box_masks(boxes: torch.Tensor | ArrayLike, size: tuple[int, int]) -> torch.Tensor:
    """(B, 4) boxes ``(x0, y0, x1, y1)``, inclusive pixels (as the shapes lab
    gives them) -> (B, H, W) bool masks."""
    boxes = torch.as_tensor(boxes).reshape(-1, 4)
    ys = torch.arange(size[0], device=boxes.device)[None, :, None]
    xs = torch.arange(size[1], device=boxes.device)[None, None, :]
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


def _regions(regions: torch.Tensor | ArrayLike, maps: torch.Tensor) -> torch.Tensor:
    """Masks (B, H, W) as they are, boxes (B, 4) as masks."""
    regions = torch.as_tensor(regions, device=maps.device)
    if regions.dim() == 2 and regions.shape[-1] == 4 and maps.dim() == 3 and maps.shape[-1] != 4:
        return box_masks(regions, (int(maps.shape[-2]), int(maps.shape[-1])))
    return regions != 0   # 0/1, 0/255 and bool masks alike


def _check(maps: torch.Tensor, masks: torch.Tensor) -> None:
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must have the same "
                         "(B, H, W) shape; use result.map (upsampled to the input), not result.raw")
    if maps.is_floating_point() and not torch.isfinite(maps).all():
        raise ValueError("some maps contain NaN or infinite values; a score of them would be meaningless")


def dilate(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow (B, H, W) bool masks by every pixel within Euclidean ``radius``."""
    if radius <= 0:
        return masks.bool()
    r = torch.arange(-radius, radius + 1, device=masks.device)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2).float()[None, None]
    grown = torch.nn.functional.conv2d(masks[:, None].float(), disk, padding=radius)
    return grown[:, 0] > 0


def pointing_game(maps: torch.Tensor, regions: torch.Tensor | ArrayLike, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): is each map's maximum inside its
    region (a mask (B, H, W) or a box (B, 4)), or within ``tolerance`` pixels
    of it (Euclidean; the paper uses 15 px at 224x224)? Returns (B,) bool. A
    map whose maximum is reached at several pixels (a flat top; upsampling
    makes 2x2 ties) hits when any of them is inside, as Quantus counts it,
    not by whichever comes first in memory. An all-zero map points nowhere
    and never hits."""
    masks = _regions(regions, maps)
    _check(maps, masks)
    flat = maps.flatten(1)
    top = flat.max(1, keepdim=True).values
    target = dilate(masks.to(maps.device), tolerance).flatten(1)
    return ((flat == top) & target).any(1) & (top[:, 0] > 0)


def energy_pointing_game(maps: torch.Tensor, regions: torch.Tensor | ArrayLike) -> torch.Tensor:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM, sec. 4.2): the
    share of each map's energy inside its region (a mask (B, H, W), 0/1,
    0/255 or bool, or a box (B, 4)), ``sum(map * inside) / sum(map)``.
    (B,) in [0, 1]; an all-zero map scores 0."""
    masks = _regions(regions, maps)
    _check(maps, masks)
    masks = (masks != 0).to(maps.device, maps.dtype)
    total = maps.flatten(1).sum(1)
    inside = (maps * masks).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))


def iou(maps: torch.Tensor, regions: torch.Tensor | ArrayLike, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of ``map >= threshold`` (maps in [0, 1]; the
    threshold is a fraction of each map's maximum after normalisation) with
    the mask or box. (B,) in [0, 1]; an empty map scores 0."""
    masks = _regions(regions, maps).bool()
    _check(maps, masks)
    on = maps >= threshold * maps.flatten(1).amax(1).clamp_min(1e-30)[:, None, None]
    on &= maps > 0
    inter = (on & masks).flatten(1).sum(1).double()
    union = (on | masks).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))


def box_localisation(maps: torch.Tensor, boxes: torch.Tensor | ArrayLike, threshold: float = 0.15) -> torch.Tensor:
    """Weakly supervised localisation (CAM paper, sec. 3; Grad-CAM used 15% of
    the maximum): keep pixels above ``threshold`` of the map's maximum, take
    the box around the largest connected region, return its IoU with the
    ground-truth box (B,). A box counts as correct at IoU >= 0.5."""
    boxes = torch.as_tensor(boxes).reshape(-1, 4).tolist()
    out = []
    for m, (bx0, by0, bx1, by1) in zip(maps.detach().cpu().numpy(), boxes):
        on = (m >= threshold * max(m.max(), 1e-30)) & (m > 0)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(on.astype(np.uint8), connectivity=8)
        if n < 2:
            out.append(0.0)
            continue
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x0, y0, w, h = (int(v) for v in stats[k, :4])
        x1, y1 = x0 + w - 1, y0 + h - 1
        iw = max(0, min(x1, bx1) - max(x0, bx0) + 1)
        ih = max(0, min(y1, by1) - max(y0, by0) + 1)
        inter = iw * ih
        union = w * h + (bx1 - bx0 + 1) * (by1 - by0 + 1) - inter
        out.append(inter / union)
    return torch.tensor(out, device=maps.device)


# --------------------------------------------------------------------------
# Against the model: insertion, deletion, confidence change
# --------------------------------------------------------------------------

def _probabilities(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return target_scores(classify(model, x).softmax(1), targets)


def blur(x: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's insertion start (Petsiuk et al. 2018): a Gaussian blur, kernel
    11, sigma 5, each channel alone, zero padding, on the model's input."""
    r = torch.arange(kernel, device=x.device, dtype=x.dtype) - kernel // 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = (g[:, None] * g[None, :]) / (g.sum() ** 2)
    weight = g.expand(x.shape[1], 1, kernel, kernel)
    return F.conv2d(x, weight, padding=kernel // 2, groups=x.shape[1])


def _ends(x: torch.Tensor, mode: str, baseline: torch.Tensor | float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, finish) images of a curve."""
    if mode == "deletion":
        return x, torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, device=x.device).expand_as(x)
    if mode == "insertion":
        return (blur(x) if baseline is None else torch.as_tensor(baseline, device=x.device).expand_as(x)), x
    raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")


def perturbation_curves(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None,
                        mode: str = "deletion", step: int | None = None, baseline: torch.Tensor | float | None = None,
                        batch_size: int | None = None, progress: bool = False, fast: bool = True) -> torch.Tensor:
    """Deletion and insertion curves (Petsiuk et al. 2018, RISE, sec. 4.1).

    Pixels are taken in order of decreasing map value, ``step`` at a time
    (default: one image row's worth, RISE's 224 at 224x224), for
    ``n = ceil(H*W / step)`` steps. Deletion replaces them with ``baseline``
    (default 0 on the model's input: the dataset mean colour after
    normalisation); insertion puts them back into a start image (default
    :func:`blur` of the input). The curve is the softmax probability of each
    image's target class before each step and after the last: (B, n + 1).

    All B x (n + 1) perturbed inputs run batched (``batch_size`` images per
    pass, sized by the same budget as Score-CAM by default), without autograd,
    in eval mode, and with ``fast`` through
    :func:`cam_helpers.speed.fast_inference` (batch norms folded,
    channels-last). Same values as :func:`perturbation_curves_loop`, which
    runs the steps one at a time, to float rounding.
    """
    return _curves(model, x, maps, targets, (mode,), step, baseline, batch_size, progress, fast)[mode]


def _curves(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets, modes: Sequence[str],
            step: int | None, baseline: torch.Tensor | float | None, batch_size: int | None, progress: bool,
            fast: bool) -> dict[str, torch.Tensor]:
    x = check_input(model, x)
    b, c, h, w = x.shape
    maps = maps.to(x.device)
    if maps.shape != (b, h, w):
        raise ValueError(f"maps {tuple(maps.shape)} must be (B, H, W) = {(b, h, w)}; use result.map")
    check_positive(step=step)
    step = step or w
    n = -(-h * w // step)
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(h * w, device=x.device).expand(b, -1))
    size = batch_size or max(1, BATCH_BUDGET // x[0].numel())
    out = {}
    with torch.no_grad(), frozen_eval(model):
        logits = classify(model, x)
        t = resolve_targets(targets, logits)
        with fast_inference(model, fast, check=x[:size], expected=logits[:size]) as net:
            for mode in modes:
                start, finish = _ends(x, mode, baseline)
                probs = []
                for lo in tqdm(range(0, b * (n + 1), size), desc=mode, disable=not progress, leave=False):
                    idx = torch.arange(lo, min(lo + size, b * (n + 1)), device=x.device)
                    img, k = idx // (n + 1), idx % (n + 1)
                    switched = (rank[img] < (k * step)[:, None]).view(-1, 1, h, w)
                    probs.append(_probabilities(net, torch.where(switched, finish[img], start[img]), t[img]))
                out[mode] = torch.cat(probs).view(b, n + 1)
    return out


def perturbation_curves_loop(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None,
                             mode: str = "deletion", step: int | None = None,
                             baseline: torch.Tensor | float | None = None) -> torch.Tensor:
    """The same curves, one forward pass per image and step, as most tutorials
    write it. Kept as the reference for the tests and the benchmark."""
    x = check_input(model, x)
    b, c, h, w = x.shape
    check_positive(step=step)
    step = step or w
    n = -(-h * w // step)
    start, finish = _ends(x, mode, baseline)
    curves = torch.zeros(b, n + 1, device=x.device)
    with torch.no_grad(), frozen_eval(model):
        t = resolve_targets(targets, classify(model, x))
        for i in range(b):
            order = maps[i].to(x.device).flatten().argsort(descending=True, stable=True)
            current = start[i].clone().view(c, -1)
            source = finish[i].view(c, -1)
            for k in range(n + 1):
                if k:
                    chosen = order[(k - 1) * step:k * step]
                    current[:, chosen] = source[:, chosen]
                curves[i, k] = _probabilities(model, current.view(1, c, h, w), t[i:i + 1])[0]
    return curves


def auc(curves: torch.Tensor) -> torch.Tensor:
    """Area under (B, n + 1) curves over [0, 1] by the trapezoid rule (as RISE)."""
    n = curves.shape[1] - 1
    return (curves[:, :-1] + curves[:, 1:]).sum(1) / (2 * n)


def insertion_deletion(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None,
                       step: int | None = None, batch_size: int | None = None, progress: bool = False,
                       fast: bool = True, baseline: torch.Tensor | float | None = None) -> dict[str, torch.Tensor]:
    """Both curves and their AUCs: ``{"insertion": (B, n+1), "deletion": ...,
    "insertion_auc": (B,), "deletion_auc": (B,)}``. Higher insertion AUC and
    lower deletion AUC are better. ``baseline`` (default: the mean colour for
    deletion, a blur of the input as insertion's start) replaces both: what
    deleted pixels become and what insertion starts from, as in
    :func:`perturbation_curves`."""
    out = _curves(model, x, maps, targets, ("insertion", "deletion"), step, baseline, batch_size, progress, fast)
    for mode in ("insertion", "deletion"):
        out[f"{mode}_auc"] = auc(out[mode])
    return out


def confidence_change(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Average drop and increase in confidence (Chattopadhyay et al. 2018,
    Grad-CAM++, sec. 5.1), per image: with ``Y`` the softmax probability of the
    target class on the image and ``O`` on the image multiplied by its map
    (in the model's input space, as torchcam does),
    ``drop = max(0, Y - O) / Y`` and ``increase = O > Y``. Returns both (B,);
    the paper reports their means in percent."""
    x = check_input(model, x)
    maps = maps.to(x.device)
    with torch.no_grad(), frozen_eval(model):
        logits = classify(model, x)
        t = resolve_targets(targets, logits)
        y = target_scores(logits.softmax(1), t)
        o = _probabilities(model, x * maps[:, None], t)
    return F.relu(y - o) / y, o > y
