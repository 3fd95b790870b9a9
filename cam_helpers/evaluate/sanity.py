"""Sanity checks: does the explanation depend on the model?

The model-parameter randomisation test of Adebayo et al. 2018 ("Sanity
Checks for Saliency Maps", sec. 3), cascading or independent, compared with
Spearman rank correlation (of the signed maps and of their absolute values)
and SSIM. Every method's ``raw`` is signed (:class:`~cam_helpers.core.CAMResult`),
so "signed" compares what the paper compares.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core import CAMResult, Targets, check_input, upsample
from .stats import spearman


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


def _at(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(B, h, w) maps at ``size``, upsampled only where they are not already."""
    return maps if maps.shape[-2:] == tuple(size) else upsample(maps, size)


def _comparable(result: CAMResult, size: Sequence[int]) -> torch.Tensor:
    """A method's signed map at input size: the raw map, summed over colour
    channels for pixel-space methods."""
    return _at(result.raw.sum(1) if result.raw.dim() == 4 else result.raw, size)


def _output_first(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """The layers to randomise (default: :func:`randomisable_layers`), from the output down."""
    return list(reversed(randomisable_layers(model) if layers is None else list(layers)))


def _reset(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module`` with its own ``reset_parameters``, seeded, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module.reset_parameters()  # type: ignore[operator]  # randomisable_layers have one


def similarity(a: CAMResult, b: CAMResult, size: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """How alike two explanations of the same images are, per image: Spearman
    rank correlation of the signed maps (``raw``, at ``size``, default the
    larger of the two maps' sizes) and of their absolute values, and SSIM of
    the normalised maps. ``{"spearman", "spearman_abs", "ssim"}``, each (B,)."""
    if size is None:
        size = max(tuple(a.map.shape[-2:]), tuple(b.map.shape[-2:]))
    ra, rb = _comparable(a, size), _comparable(b, size)
    return {"spearman": spearman(ra, rb).cpu(), "spearman_abs": spearman(ra.abs(), rb.abs()).cpu(),
            "ssim": ssim(_at(a.map, size), _at(b.map, size)).cpu()}


def randomised(model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with ``layers`` (default: every conv and linear
    layer, :func:`randomisable_layers`) re-initialised by their own
    ``reset_parameters``, as the last step of the cascading check does it
    (the same seeds, the same order: from the output down)."""
    work = copy.deepcopy(model)
    modules = dict(work.named_modules())
    for i, name in enumerate(_output_first(model, layers)):
        _reset(modules[name], seed + i)
    return work


def randomisation_check(model: nn.Module, x: torch.Tensor, explain: Callable[..., CAMResult],
                        targets: Targets = None, mode: str = "cascading", layers: Sequence[str] | None = None,
                        seed: int = 0, progress: bool = False, at: Sequence[str] | None = None) -> dict:
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
    ``at`` (some of the layers) compares maps only after those steps, while
    every layer is still randomised in turn: a full cascade at the cost of a
    few explanations; ``"layers"`` is then ``at``, in the cascade's order.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    x = check_input(model, x)
    layers = _output_first(model, layers)
    if at is not None and not set(at) <= set(layers):
        raise ValueError(f"at names layers that are not randomised: {sorted(set(at) - set(layers))}")
    base = explain(model, x, targets=targets)
    t = base.targets
    size = x.shape[-2:]
    rows: dict[str, list[torch.Tensor]] = {"spearman": [], "spearman_abs": [], "ssim": []}
    work = copy.deepcopy(model)
    for i, name in enumerate(tqdm(layers, desc=f"{mode} randomisation", disable=not progress, leave=False)):
        if mode == "independent":
            work = copy.deepcopy(model)
        _reset(dict(work.named_modules())[name], seed + i)
        if at is not None and name not in at:
            continue
        for key, value in similarity(base, explain(work, x, targets=t), size).items():
            rows[key].append(value)
    return {"layers": [n for n in layers if at is None or n in at], **{k: torch.stack(v) for k, v in rows.items()}}


