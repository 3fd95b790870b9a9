"""captum's general attributions through the course's call shape (the registry's ``"attribution"`` family): ``method(model, x, layer=None, targets=None,
**options) -> CAMResult``, so the explorers, the metrics, the randomisation check and ``explain_folder`` take
them like any other method.

captum implements these well, so they are not rewritten here: each is a registry record (``source="captum"``)
whose function resolves the targets as every method does (``None``: the predicted class; a callable: one score
per image), puts the model in eval mode with its parameters frozen (both restored), and calls
``captum.attr.<Class>(model).attribute(x, target=..., **options)``. ``raw`` is captum's attribution,
(B, C, H, W); ``map`` follows the record's ``to_map`` like the package's own pixel methods: the positive sum
over channels for the methods whose attributions add up to the score's change (DeepLIFT, GradientSHAP, LRP,
Input x Gradient, and the sampling methods), the largest absolute value for Deconvolution, a gradient.

The perturbation methods (Shapley value sampling, LIME, KernelSHAP) attribute to square patches of ``window``
pixels (captum's ``feature_mask``) unless a ``feature_mask`` is given; baselines default to zeros (captum's
default; for GradientSHAP, which needs a distribution, zeros and the image blurred by a 9-pixel box filter).
Options a method does not know are captum's error, not ours: its message names them.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core import CAMResult, Targets, check_input, is_score, target_labels, target_scores
from ..hooks import LayerRef, frozen_eval
from ..registry import Method, register
from .pixels import _clean_logits, abs_max_map, positive_sum_map


class _Scores(nn.Module):
    """``model`` seen through a score function: (B, 1) scores, for captum's ``target=0``."""

    def __init__(self, model: nn.Module, score: Callable[..., torch.Tensor]):
        super().__init__()
        self.model, self.score = model, score

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return target_scores(self.model(x), self.score)[:, None]


def patches(x: torch.Tensor, window: int) -> torch.Tensor:
    """captum's ``feature_mask`` for square patches of ``window`` pixels: (1, 1, H, W) patch indices."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device) // window
    cols = torch.arange(w, device=x.device) // window
    return (rows[:, None] * (-(-w // window)) + cols[None, :])[None, None]


def _blurred(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 9, stride=1, padding=4, count_include_pad=False)


# name: (captum's class, paper, url, formula, to_map, cost, the quick options of the explorers)
CAPTUM: dict[str, tuple[str, str, str, str, Callable[..., torch.Tensor], str, dict]] = {
    "input_x_gradient": ("InputXGradient", "Shrikumar et al. 2016, Not Just a Black Box",
                         "https://arxiv.org/abs/1605.01713", "x * dy/dx", positive_sum_map,
                         "1 forward + 1 backward", {}),
    "deeplift": ("DeepLift", "Shrikumar et al. 2017, Learning Important Features Through Propagating Activation "
                 "Differences, ICML", "https://arxiv.org/abs/1704.02685",
                 "(x - x') * the multipliers of the rescale rule", positive_sum_map, "2 forwards + 1 backward", {}),
    "gradient_shap": ("GradientShap", "Lundberg & Lee 2017, A Unified Approach to Interpreting Model Predictions, "
                      "NeurIPS", "https://arxiv.org/abs/1705.07874",
                      "E[(x - x') * dy/dx at random points between x' and x]", positive_sum_map,
                      "n_samples x (1 forward + 1 backward) (5 by default)", {}),
    "deconvolution": ("Deconvolution", "Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, "
                      "ECCV", "https://arxiv.org/abs/1311.2901",
                      "dy/dx with each ReLU applied to the gradient instead of the input", abs_max_map,
                      "1 forward + 1 backward", {}),
    "lrp": ("LRP", "Bach et al. 2015, On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise "
            "Relevance Propagation, PLOS ONE", "https://doi.org/10.1371/journal.pone.0130140",
            "relevance propagated layer by layer, conserved (captum's epsilon rules)", positive_sum_map,
            "1 forward + 1 backward", {}),
    "shapley_value_sampling": ("ShapleyValueSampling", "Castro et al. 2009, Polynomial calculation of the Shapley "
                               "value based on sampling, Computers & Operations Research",
                               "https://doi.org/10.1016/j.cor.2008.04.004",
                               "mean marginal contribution of each patch over random orders", positive_sum_map,
                               "n_samples x patches forwards (25 by default)", {"window": 32, "n_samples": 2}),
    "lime": ("Lime", "Ribeiro et al. 2016, \"Why Should I Trust You?\", KDD", "https://arxiv.org/abs/1602.04938",
             "a weighted linear model of the score on random patch subsets", positive_sum_map,
             "n_samples forwards (50 by default) + a linear fit", {"window": 32, "n_samples": 25}),
    "kernel_shap": ("KernelShap", "Lundberg & Lee 2017, A Unified Approach to Interpreting Model Predictions, "
                    "NeurIPS", "https://arxiv.org/abs/1705.07874",
                    "LIME with the Shapley kernel: patch-level Shapley values", positive_sum_map,
                    "n_samples forwards (25 by default) + a linear fit", {"window": 32, "n_samples": 25}),
}
SAMPLING = ("shapley_value_sampling", "lime", "kernel_shap")   # no backward pass; attributions to patches


def _attribute(name: str, model: nn.Module, x: torch.Tensor, targets: Targets, window: int,
               options: dict[str, Any]) -> CAMResult:
    try:
        from captum import attr as captum_attr
    except ImportError:   # pragma: no cover - captum is a course requirement
        raise ImportError(f"{name} comes from captum: pip install captum") from None
    x = check_input(model, x)
    logits, t = _clean_logits(model, x, targets)
    forward: nn.Module = _Scores(model, t) if is_score(t) else model
    target: Any = 0 if is_score(t) else t
    kwargs = dict(options)
    if name in SAMPLING:
        kwargs.setdefault("feature_mask", patches(x, window))
    if name == "shapley_value_sampling":   # masked copies a batch at a time
        kwargs.setdefault("perturbations_per_eval", 16)
    if name == "gradient_shap":
        kwargs.setdefault("baselines", torch.cat([torch.zeros_like(x[:1]), _blurred(x[:1])]))
    with frozen_eval(model), torch.enable_grad(), warnings.catch_warnings():
        # captum's notes that it sets hooks (and removes them) or fits one model per image: not the learner's concern
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        method = getattr(captum_attr, CAPTUM[name][0])(forward)
        try:
            raw = method.attribute(x.detach().clone().requires_grad_(name not in SAMPLING), target=target, **kwargs)
        except (TypeError, ValueError, RuntimeError, AssertionError) as e:   # say whose message it is
            raise type(e)(f"{name} (captum's {CAPTUM[name][0]}) cannot explain this model: {e}") from e
    raw = raw.detach()
    return CAMResult(raw, CAPTUM[name][4](raw, tuple(raw.shape[-2:])), target_labels(t, len(raw), raw.device),
                     logits.detach(), "input", name)


def _captum_method(name: str) -> Callable[..., CAMResult]:
    cls, paper, url, formula, to_map, cost, quick = CAPTUM[name]
    def on_patches(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                   window: int = 8, **options: Any) -> CAMResult:
        return _attribute(name, model, x, targets, window, options)

    def on_pixels(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                  **options: Any) -> CAMResult:
        return _attribute(name, model, x, targets, 0, options)
    explain = on_patches if name in SAMPLING else on_pixels
    extra = (" ``window``: the side of the square patches it attributes to, unless ``feature_mask`` is given."
             if name in SAMPLING else "")
    explain.__name__ = explain.__qualname__ = name
    explain.__doc__ = (f"{paper}, through captum: ``captum.attr.{cls}(model).attribute(x, target=..., "
                       f"**options)``. ``raw``: its (B, C, H, W) attribution; ``map``: "
                       f"{(to_map.__doc__ or '').strip().splitlines()[0]}{extra} ``layer`` is not used.")
    return explain


for _name, (_cls, _paper, _url, _formula, _to_map, _cost, _quick) in CAPTUM.items():
    register(Method(name=_name, family="attribution", fn=_captum_method(_name), paper=_paper, url=_url, formula=_formula,
                    backward=_name not in SAMPLING, class_specific=True, controls=(), to_map=_to_map, cost=_cost,
                    expensive=_name in SAMPLING, quick=_quick, source="captum"))
