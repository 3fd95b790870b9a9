"""Pixel-space explanations: attributions at the input's resolution.

Same call shape as the CAM methods::

    result = saliency(model, x, layer=None, targets=None)
    result.raw   # (B, C, H, W) attribution of every input value
    result.map   # (B, H, W) one value per pixel, scaled to [0, 1] per image

``layer`` is used by ``guided_grad_cam`` (and by ``smooth_grad`` when its base
method is a CAM); the others ignore it. How ``raw`` becomes ``map``:
gradient-like methods take the largest absolute value over channels
(Simonyan et al. 2014); integrated gradients and occlusion sum over channels
and keep the positive evidence, as the CAMs do.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import (CAMResult, Targets, check_input, check_logits, check_positive, classify, is_score, normalize,
                   refuse_score, relu_map, resolve_targets, target_labels, target_scores, upsample)
from .guided import guided_relus
from ..hooks import LayerRef, frozen_eval
from ..registry import Method, lookup, methods, register
from ..speed import auto_batch


def abs_max_map(raw: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Largest absolute value over colour channels, scaled to [0, 1] per image (Simonyan et al. 2014)."""
    return normalize(raw.abs().amax(1))


def positive_sum_map(raw: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Sum over colour channels, ReLU (the positive evidence), scaled to [0, 1] per image."""
    return normalize(F.relu(raw.sum(1)))


def _result(raw: torch.Tensor, targets: torch.Tensor | Callable[..., torch.Tensor], logits: torch.Tensor, method: str,
            layer: str = "input") -> CAMResult:
    """A pixel method's result; ``map`` by the method's registered ``to_map``."""
    raw = raw.detach()
    reduce = next(m.to_map for m in methods("pixel") if m.name == method)
    return CAMResult(raw, reduce(raw, tuple(raw.shape[-2:])), target_labels(targets, len(raw), raw.device),
                     logits.detach(), layer, method)


def _logits_and_targets(model: nn.Module, out: Any, targets: Targets
                        ) -> tuple[torch.Tensor, torch.Tensor | Callable[..., torch.Tensor]]:
    """(logits or the callable's scores as (B, 1), class indices or the callable)."""
    if is_score(targets):
        return target_scores(out, targets).detach()[:, None], targets
    out = check_logits(out, model)
    return out.detach(), resolve_targets(targets, out)


def input_gradients(model: nn.Module, x: torch.Tensor, targets: Targets = None,
                    batch_size: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | Callable[..., torch.Tensor]]:
    """``(dy_c/dx, logits, targets)`` for a batch, in eval mode with the
    parameters frozen (both restored), in chunks of ``batch_size`` images."""
    x = check_input(model, x)
    chunks = [x] if batch_size is None else x.split(batch_size)
    grads, logits, done = [], [], 0
    with frozen_eval(model), torch.enable_grad():
        for chunk in chunks:
            xi = chunk.detach().requires_grad_(True)
            out = model(xi)
            chunk_logits, t = _logits_and_targets(model, out, _slice(targets, done, len(chunk)))
            grads.append(torch.autograd.grad(target_scores(out, t).sum(), xi)[0])
            logits.append(chunk_logits)
            done += len(chunk)
    all_logits = torch.cat(logits)
    return torch.cat(grads), all_logits, resolve_targets(targets, all_logits, allow_score=True)


def _clean_logits(model: nn.Module, x: torch.Tensor, targets: Targets
                  ) -> tuple[torch.Tensor, torch.Tensor | Callable[..., torch.Tensor]]:
    """``(logits, targets)`` of the unperturbed batch: one inference pass."""
    with torch.no_grad(), frozen_eval(model):
        return _logits_and_targets(model, model(x), targets)


def _slice(targets: Targets, start: int, n: int) -> Targets:
    if targets is None or is_score(targets) or isinstance(targets, int) or torch.as_tensor(targets).numel() == 1:
        return targets
    return torch.as_tensor(targets).flatten()[start:start + n]


def saliency(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
             batch_size: int | None = None) -> CAMResult:
    r"""Vanilla gradient saliency (Simonyan et al. 2014): :math:`|\partial y^c / \partial x|`.
    ``raw`` is the signed gradient; ``map`` the maximum of its absolute value
    over colour channels, as in the paper."""
    g, logits, t = input_gradients(model, x, targets, batch_size)
    return _result(g, t, logits, "saliency")


def guided_backprop(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                    batch_size: int | None = None) -> CAMResult:
    r"""Guided backpropagation (Springenberg et al. 2015): the input gradient
    with every ReLU's backward pass replaced by
    :math:`R_{l} = \mathbb{1}[f_l > 0]\,\mathbb{1}[R_{l+1} > 0]\,R_{l+1}`
    (for ReLU6, :math:`\mathbb{1}[0 < f_l < 6]`: the input passed unclamped).
    Not class-discriminative: notebook 03 measures it."""
    with guided_relus(model) as guided:
        g, logits, t = input_gradients(model, x, targets, batch_size)
    guided.check_guided()
    return _result(g, t, logits, "guided_backprop")


def guided_grad_cam(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                    interpolation: str = "bilinear") -> CAMResult:
    r"""Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation times
    the Grad-CAM map upsampled to the input, :math:`R \odot \mathrm{up}(L^c)`.
    The paper upsamples bilinearly; captum's ``GuidedGradCam`` uses
    ``interpolation="nearest"``."""
    from .cams import grad_cam
    gc = grad_cam(model, x, layer, targets)
    gb = guided_backprop(model, x, None, targets if is_score(targets) else gc.targets)
    size = (int(x.shape[-2]), int(x.shape[-1]))
    positive = F.relu(gc.raw)   # the Grad-CAM map L^c, after its ReLU
    up = (upsample(positive, size) if interpolation == "bilinear"
          else F.interpolate(positive[:, None], size=size, mode=interpolation)[:, 0])
    return _result(gb.raw * up[:, None], gc.targets, gc.logits, "guided_grad_cam", gc.layer)


def integration_points(steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """(alphas, weights) on [0, 1] for the path integral. ``"riemann_right"``
    is the paper's eq. 3; ``"riemann_trapezoid"`` and ``"gausslegendre"``
    (captum's default: exact for polynomials of degree < 2·steps) converge
    faster."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.tensor((nodes + 1) / 2), torch.tensor(weights / 2)
    if method == "riemann_right":
        return torch.arange(1, steps + 1) / steps, torch.full((steps,), 1 / steps)
    if method == "riemann_trapezoid":
        w = torch.full((steps,), 1 / (steps - 1))
        w[[0, -1]] /= 2
        return torch.linspace(0, 1, steps), w
    raise ValueError(f"method is 'gausslegendre', 'riemann_right' or 'riemann_trapezoid', got {method!r}")


def integrated_gradients(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                         baseline: torch.Tensor | float = 0.0, steps: int = 32, method: str = "gausslegendre",
                         batch_size: int | None = None) -> CAMResult:
    r"""Integrated Gradients (Sundararajan et al. 2017, eq. 1):

    .. math:: \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1
              \frac{\partial y^c(x' + \alpha (x - x'))}{\partial x_i}\, d\alpha

    with baseline :math:`x'` (zeros by default: the mean image after
    normalisation). All ``steps`` points of all images run in batches of
    ``batch_size`` (default: sized by ``speed.BATCH_BUDGET``).
    ``map``: positive part of the sum over channels.
    """
    x = check_input(model, x)
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    check_positive(steps=steps)
    alphas, weights = (v.to(x.device, x.dtype) for v in integration_points(steps, method))
    logits, t = _clean_logits(model, x, targets)
    # The (B * steps) path points, image-major, are made a batch at a time:
    # memory stays within one batch whatever the image size and the steps.
    total = torch.zeros_like(x)
    per = auto_batch(x, batch_size)
    for start in range(0, x.shape[0] * steps, per):
        index = torch.arange(start, min(start + per, x.shape[0] * steps), device=x.device)
        b, k = index // steps, index % steps
        points = base[b] + alphas[k, None, None, None] * (x[b] - base[b])
        g, _, _ = input_gradients(model, points, t if is_score(t) else t[b])
        total.index_add_(0, b, g * weights[k, None, None, None])
    return _result((x - base) * total, t, logits, "integrated_gradients")


def occlusion(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
              window: int = 8, stride: int = 4, baseline: float = 0.0, batch_size: int | None = None) -> CAMResult:
    r"""Occlusion sensitivity (Zeiler & Fergus 2014): slide a ``window`` x
    ``window`` patch of ``baseline`` over the image with ``stride``; each
    pixel's attribution is the mean score drop :math:`y^c(x) - y^c(x_{\text{occluded}})`
    over the patches covering it. As captum's ``Occlusion``: where the stride
    does not tile the image, a last window starts past the previous one and is
    cut at the edge, so every pixel is covered. Occluded copies are made a
    batch of ``batch_size`` at a time (default: sized by
    ``speed.BATCH_BUDGET``): memory stays bounded at any image size."""
    x = check_input(model, x)
    check_positive(window=window, stride=stride)
    batch_size = auto_batch(x, batch_size)
    b, c, h, w = x.shape
    pos = [(i, j) for i in _starts(h, window, stride) for j in _starts(w, window, stride)]
    count = torch.zeros(h, w, device=x.device, dtype=x.dtype)     # patches covering each pixel
    for i, j in pos:
        count[i:i + window, j:j + window] += 1
    attr = torch.zeros_like(x)
    logits, t = _clean_logits(model, x, targets)
    refuse_score(t, "occlusion")
    y = target_scores(logits, t)
    with torch.no_grad(), frozen_eval(model):
        for k in range(b):
            total = torch.zeros(h, w, device=x.device, dtype=x.dtype)
            for first in range(0, len(pos), batch_size):
                chunk = pos[first:first + batch_size]
                occluded = x[k:k + 1].repeat(len(chunk), 1, 1, 1)
                for n, (i, j) in enumerate(chunk):
                    occluded[n, :, i:i + window, j:j + window] = baseline
                drops = y[k] - classify(model, occluded)[:, cast(torch.Tensor, t)[k]]   # class indices (refuse_score)
                for (i, j), d in zip(chunk, drops):
                    total[i:i + window, j:j + window] += d
            attr[k] = (total / count.clamp(min=1)).expand(c, h, w)
    return _result(attr, t, logits, "occlusion")


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one side, captum's way: ``ceil((size - window) / stride) + 1``
    of them, ``stride`` apart; the last may run past the edge (it is cut there)."""
    return [k * stride for k in range(max(-(-(size - window) // stride), 0) + 1)]


def smooth_grad(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                base: Callable[..., CAMResult] = saliency, samples: int = 16, noise: float = 0.15,
                stdev: float | None = None, batch_size: int | None = None, **options: Any) -> CAMResult:
    r"""SmoothGrad (Smilkov et al. 2017): the average of a base method over
    noisy copies, :math:`\frac{1}{n}\sum_{i=1}^{n} M(x + \mathcal{N}(0, \sigma^2))`.

    ``base``: any method of the common call shape (saliency by default; a CAM
    too). ``noise``: σ as a fraction of each image's value range (the paper's
    10-20%); or give ``stdev`` directly. All ``samples`` copies of all images
    run in chunks of ``batch_size`` images (default: as many noisy copies as
    ``speed.BATCH_BUDGET`` allows). The noise is drawn
    with ``torch.normal`` over ``x.repeat_interleave(samples, 0)``, exactly as
    captum's ``NoiseTunnel`` does, so a shared seed gives the same noise.
    """
    check_positive(samples=samples)
    x = check_input(model, x)
    logits, t = _clean_logits(model, x, targets)
    if stdev is None:
        span = (x.flatten(1).amax(1) - x.flatten(1).amin(1))
        sigma = (noise * span).repeat_interleave(samples)[:, None, None, None].expand(-1, *x.shape[1:])
    else:
        sigma = torch.full((x.shape[0] * samples, *x.shape[1:]), float(stdev), device=x.device, dtype=x.dtype)
    noisy = x.repeat_interleave(samples, 0) + torch.normal(0.0, sigma)
    reps = t if is_score(t) else t.repeat_interleave(samples)
    step = batch_size * samples if batch_size else auto_batch(x, None)
    raws = [base(model, noisy[i:i + step], layer, reps if is_score(reps) else reps[i:i + step], **options).raw
            for i in range(0, len(noisy), step)]
    raw = torch.cat(raws).view(x.shape[0], samples, *raws[0].shape[1:]).mean(1)
    t = target_labels(t, len(x), x.device)
    # How the averaged raw becomes a map is the base method's business: its record says.
    record = lookup(base)   # through functools.partial(integrated_gradients, steps=4) too
    fn = base.func if isinstance(base, functools.partial) else base
    name = record.name if record else getattr(fn, "__name__", "base")
    reduce = record.to_map if record else relu_map if raw.dim() == 3 else abs_max_map
    where = str(layer or "") if raw.dim() == 3 else "input"
    return CAMResult(raw, reduce(raw, (int(x.shape[-2]), int(x.shape[-1]))), t, logits, where, f"smooth_grad({name})")


def _pixel(fn: Callable[..., CAMResult], paper: str, url: str, formula: str,
           to_map: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor] = abs_max_map,
           cost: str = "1 forward + 1 backward", backward: bool = True, controls: tuple[str, ...] = (),
           quick: dict | None = None) -> Method:
    return register(Method(name=fn.__name__, family="pixel", fn=fn, paper=paper, url=url, formula=formula,
                           backward=backward, class_specific=True, controls=controls, to_map=to_map, cost=cost,
                           expensive=quick is not None, quick=quick or {}))


_pixel(saliency, "Simonyan et al. 2014, Deep Inside Convolutional Networks, ICLR Workshop",
       "https://arxiv.org/abs/1312.6034", "max_c |dy/dx_c|")
_pixel(guided_backprop, "Springenberg et al. 2015, Striving for Simplicity, ICLR Workshop",
       "https://arxiv.org/abs/1412.6806", "dy/dx with each ReLU passing only positive gradients of positive inputs")
_pixel(guided_grad_cam, "Selvaraju et al. 2017, Grad-CAM, ICCV", "https://arxiv.org/abs/1610.02391",
       "guided backpropagation * up(Grad-CAM)", cost="2 forwards + 2 backwards", controls=("layer",))
_pixel(smooth_grad, "Smilkov et al. 2017, SmoothGrad", "https://arxiv.org/abs/1706.03825",
       "mean of the base method over noisy copies", cost="samples x the base method (16 by default)",
       controls=("layer",), quick={"samples": 8})
_pixel(integrated_gradients, "Sundararajan et al. 2017, Axiomatic Attribution for Deep Networks, ICML",
       "https://arxiv.org/abs/1703.01365", "(x - x') * integral of dy/dx along the path", to_map=positive_sum_map,
       cost="steps x (1 forward + 1 backward) (32 by default)", quick={"steps": 16})
_pixel(occlusion, "Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, ECCV",
       "https://arxiv.org/abs/1311.2901", "mean score drop when a window covering the pixel is blanked",
       to_map=positive_sum_map, cost="1 forward per window position", backward=False,
       quick={"window": 16, "stride": 16})

def __getattr__(name: str) -> dict[str, Callable[..., Any]]:
    # PIXEL_METHODS, the pixel methods by name (every one has the common call shape), live from the registry.
    if name == "PIXEL_METHODS":
        return {m.name: m.fn for m in methods("pixel")}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
