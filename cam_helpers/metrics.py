"""Measuring explanations.

Against ground truth (masks or boxes): the pointing game, the energy-based
pointing game, IoU of a thresholded map, box localisation. Against the model:
insertion and deletion curves, average drop and increase in confidence.
Against randomisation: the model-parameter sanity check of Adebayo et al.
And :func:`evaluate`, which runs any of these over a ``DataLoader``, also
split across processes under ``torchrun``.

Maps are ``result.map``: (B, H, W), non-negative, at the input's size. Every
function is batched and stays on the maps' device. Each docstring gives the
paper's definition and any choice we make.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .core import CAMResult, Targets, check_input, check_positive, resolve_targets, upsample
from .hooks import frozen_eval, model_device_dtype
from .perturbation import BATCH_BUDGET, fast_inference


def box_masks(boxes, size: tuple[int, int]) -> torch.Tensor:
    """(B, 4) boxes ``(x0, y0, x1, y1)``, inclusive pixels (as the shapes lab
    gives them) -> (B, H, W) bool masks."""
    boxes = torch.as_tensor(boxes).reshape(-1, 4)
    ys = torch.arange(size[0], device=boxes.device)[None, :, None]
    xs = torch.arange(size[1], device=boxes.device)[None, None, :]
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


def _regions(regions, maps: torch.Tensor) -> torch.Tensor:
    """Masks (B, H, W) as they are, boxes (B, 4) as masks."""
    regions = torch.as_tensor(regions, device=maps.device)
    if regions.dim() == 2 and regions.shape[-1] == 4 and maps.dim() == 3 and maps.shape[-1] != 4:
        return box_masks(regions, maps.shape[-2:])
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


def peak_in_mask(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): is each map's maximum inside its
    mask, or within ``tolerance`` pixels of it (Euclidean; the paper uses 15
    px at 224x224)? maps, masks: (B, H, W). Returns (B,) bool. A map whose
    maximum is reached at several pixels (a flat top; upsampling makes 2x2
    ties) hits when any of them is inside, as Quantus counts it, not by
    whichever comes first in memory. An all-zero map points nowhere and never
    hits."""
    _check(maps, masks)
    flat = maps.flatten(1)
    top = flat.max(1, keepdim=True).values
    target = dilate(masks.to(maps.device), tolerance).flatten(1)
    return ((flat == top) & target).any(1) & (top[:, 0] > 0)


def pointing_game(maps: torch.Tensor, regions, tolerance: int = 0) -> torch.Tensor:
    """The pointing game (Zhang et al. 2016) against masks (B, H, W) or boxes
    (B, 4): (B,) bool hits. See :func:`peak_in_mask`."""
    return peak_in_mask(maps, _regions(regions, maps), tolerance)


def energy_pointing_game(maps: torch.Tensor, regions) -> torch.Tensor:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM, sec. 4.2): the
    share of the map's energy inside the box (or mask),
    ``sum(map * inside) / sum(map)``. (B,) in [0, 1]."""
    return mass_in_mask(maps, _regions(regions, maps))


def iou(maps: torch.Tensor, regions, threshold: float = 0.5) -> torch.Tensor:
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


def box_localisation(maps: torch.Tensor, boxes, threshold: float = 0.15) -> torch.Tensor:
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


def mass_in_mask(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's total mass that lies inside its mask, in [0, 1]
    (the energy-based pointing game of Wang et al. 2020, Score-CAM).
    maps, masks: (B, H, W), maps non-negative. An all-zero map scores 0."""
    _check(maps, masks)
    masks = (masks != 0).to(maps.device, maps.dtype)   # 0/1, 0/255 and bool masks alike
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


def bootstrap_ci(scores: torch.Tensor, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-image ``scores`` (N,) and its
    percentile bootstrap confidence interval (Efron & Tibshirani 1993, ch. 13).
    A ranking of two methods holds where their intervals do not overlap."""
    v = torch.as_tensor(scores, dtype=torch.float64).flatten().cpu()
    if v.numel() == 0:
        raise ValueError("no scores to bootstrap")
    idx = torch.randint(0, v.numel(), (resamples, v.numel()), generator=torch.Generator().manual_seed(seed))
    means = v[idx].mean(1)
    alpha = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return float(v.mean()), low, high


# --------------------------------------------------------------------------
# Against the model: insertion, deletion, confidence change
# --------------------------------------------------------------------------

def _probabilities(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return model(x).softmax(1).gather(1, targets[:, None])[:, 0]


def blur(x: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's insertion start (Petsiuk et al. 2018): a Gaussian blur, kernel
    11, sigma 5, each channel alone, zero padding, on the model's input."""
    r = torch.arange(kernel, device=x.device, dtype=x.dtype) - kernel // 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = (g[:, None] * g[None, :]) / (g.sum() ** 2)
    weight = g.expand(x.shape[1], 1, kernel, kernel)
    return F.conv2d(x, weight, padding=kernel // 2, groups=x.shape[1])


def _ends(x: torch.Tensor, mode: str, baseline) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, finish) images of a curve."""
    if mode == "deletion":
        return x, torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, device=x.device).expand_as(x)
    if mode == "insertion":
        return (blur(x) if baseline is None else torch.as_tensor(baseline, device=x.device).expand_as(x)), x
    raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")


def perturbation_curves(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None,
                        mode: str = "deletion", step: int | None = None, baseline=None,
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
    :func:`cam_helpers.perturbation.fast_inference` (batch norms folded,
    channels-last). Same values as :func:`perturbation_curves_loop`, which
    runs the steps one at a time, to float rounding.
    """
    return _curves(model, x, maps, targets, (mode,), step, baseline, batch_size, progress, fast)[mode]


def _curves(model, x, maps, targets, modes, step, baseline, batch_size, progress, fast) -> dict[str, torch.Tensor]:
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
        logits = model(x)
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
                             mode: str = "deletion", step: int | None = None, baseline=None) -> torch.Tensor:
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
        t = resolve_targets(targets, model(x))
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
                       fast: bool = True) -> dict[str, torch.Tensor]:
    """Both curves and their AUCs: ``{"insertion": (B, n+1), "deletion": ...,
    "insertion_auc": (B,), "deletion_auc": (B,)}``. Higher insertion AUC and
    lower deletion AUC are better."""
    out = _curves(model, x, maps, targets, ("insertion", "deletion"), step, None, batch_size, progress, fast)
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
        logits = model(x)
        t = resolve_targets(targets, logits)
        y = logits.softmax(1).gather(1, t[:, None])[:, 0]
        o = _probabilities(model, x * maps[:, None], t)
    return F.relu(y - o) / y, o > y


# --------------------------------------------------------------------------
# Against randomisation: the sanity check
# --------------------------------------------------------------------------

def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of (B, H, W) maps with
    scikit-image's defaults, as Adebayo et al. used them: a 7x7 uniform
    window, K1 = 0.01, K2 = 0.03, sample covariances, the mean over the
    windows that fit in the image. (B,)"""
    a, b = a[:, None].double(), b[:, None].double()
    kernel = torch.full((1, 1, window, window), 1.0 / window ** 2, dtype=a.dtype, device=a.device)
    mean = lambda t: F.conv2d(t, kernel)  # noqa: E731
    ma, mb = mean(a), mean(b)
    cov = window ** 2 / (window ** 2 - 1)
    va, vb = cov * (mean(a * a) - ma ** 2), cov * (mean(b * b) - mb ** 2)
    vab = cov * (mean(a * b) - ma * mb)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return s.flatten(1).mean(1).float()


def randomisable_layers(model: nn.Module) -> list[str]:
    """The convolutional and linear layers, in the order the model defines
    them (input to output): what the sanity check re-initialises."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _comparable(result: CAMResult, size) -> torch.Tensor:
    """A method's signed map at input size: the raw map, summed over colour
    channels for pixel-space methods."""
    raw = result.raw.sum(1) if result.raw.dim() == 4 else result.raw
    return raw if raw.shape[-2:] == tuple(size) else upsample(raw, size)


def randomisation_check(model: nn.Module, x: torch.Tensor, explain: Callable[..., CAMResult],
                        targets: Targets = None, mode: str = "cascading", layers: Sequence[str] | None = None,
                        seed: int = 0, progress: bool = False) -> dict:
    """Model-parameter randomisation test (Adebayo et al. 2018, "Sanity
    Checks for Saliency Maps", sec. 3).

    ``explain(model, x, targets=...)`` returns a :class:`CAMResult` (e.g.
    ``functools.partial(cam_helpers.grad_cam, layer="layer4")``). The layers
    (default :func:`randomisable_layers`) are re-initialised with their own
    ``reset_parameters`` (seeded), from the output down: ``cascading``
    keeps the earlier randomisations, ``independent`` randomises one layer
    at a time. The model itself is not touched (a copy is). Targets are held
    at the trained model's classes (its predictions when ``targets`` is None).

    Returns ``{"layers": [...], "spearman", "spearman_abs", "ssim"}``, each a
    (len(layers), B) tensor comparing each randomised map with the trained
    model's: Spearman rank correlation of the signed maps and of their
    absolute values (at input size), and SSIM of the normalised maps.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    x = check_input(model, x)
    layers = list(reversed(randomisable_layers(model) if layers is None else list(layers)))
    base = explain(model, x, targets=targets)
    t = base.targets
    size = x.shape[-2:]
    ref = _comparable(base, size)
    rows = {"spearman": [], "spearman_abs": [], "ssim": []}
    work = copy.deepcopy(model)
    for i, name in enumerate(tqdm(layers, desc=f"{mode} randomisation", disable=not progress, leave=False)):
        if mode == "independent":
            work = copy.deepcopy(model)
        module = dict(work.named_modules())[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            module.reset_parameters()
        r = explain(work, x, targets=t)
        cmp = _comparable(r, size)
        rows["spearman"].append(spearman(ref.cpu(), cmp.cpu()))
        rows["spearman_abs"].append(spearman(ref.abs().cpu(), cmp.abs().cpu()))
        rows["ssim"].append(ssim(base.map, r.map).cpu())
    return {"layers": layers, **{k: torch.stack(v) for k, v in rows.items()}}


# --------------------------------------------------------------------------
# Over a dataset, in one process or many
# --------------------------------------------------------------------------

METRICS = ("pointing_game", "energy", "iou", "insertion_auc", "deletion_auc", "average_drop", "increase")


def shard(dataset, rank: int | None = None, world_size: int | None = None):
    """This process's share of ``dataset``: items ``rank, rank + world, ...``.
    Unlike ``DistributedSampler`` nothing is padded or repeated, so the
    processes together see every item exactly once."""
    import torch.distributed as dist
    if rank is None or world_size is None:
        on = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if on else 0
        world_size = dist.get_world_size() if on else 1
    return torch.utils.data.Subset(dataset, range(rank, len(dataset), world_size))


def evaluate(model: nn.Module, loader, explain: Callable[..., CAMResult], metrics: Sequence[str] = METRICS[:3],
             tolerance: int = 0, step: int | None = None, progress: bool = True) -> dict[str, float]:
    """Mean of each metric over every ``(x, label, mask)`` batch of ``loader``,
    explaining each image's label with ``explain(model, x, targets=labels)``.

    Under ``torchrun`` (``torch.distributed`` initialised; gloo on the CPU,
    nccl on GPUs) give each process its :func:`shard` of the dataset: the
    per-process sums are added across processes, and every process returns
    the same means as one process over the whole dataset would."""
    import torch.distributed as dist
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise KeyError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
    device = model_device_dtype(model)[0]
    sums = torch.zeros(len(metrics) + 1, dtype=torch.float64, device=device)
    for x, labels, masks in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        x, labels, masks = x.to(device), labels.to(device), masks.to(device)
        maps = explain(model, x, targets=labels).map
        values = {}
        if "pointing_game" in metrics:
            values["pointing_game"] = pointing_game(maps, masks, tolerance)
        if "energy" in metrics:
            values["energy"] = energy_pointing_game(maps, masks)
        if "iou" in metrics:
            values["iou"] = iou(maps, masks)
        if {"insertion_auc", "deletion_auc"} & set(metrics):
            values.update(insertion_deletion(model, x, maps, labels, step))
        if {"average_drop", "increase"} & set(metrics):
            values["average_drop"], values["increase"] = confidence_change(model, x, maps, labels)
        for i, name in enumerate(metrics):
            sums[i] += values[name].double().sum()
        sums[-1] += len(x)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    means = {name: float(sums[i] / sums[-1]) for i, name in enumerate(metrics)}
    return {**means, "images": int(sums[-1])}
