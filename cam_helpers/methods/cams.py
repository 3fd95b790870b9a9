"""CAM and the Grad-CAM family on one shared core.

Every method here answers the same call::

    result = grad_cam(model, x, layer="layer4", targets=None)
    result.raw   # (B, h, w) the method's signed map at the layer's resolution
    result.map   # (B, H, W) ReLU, upsampled to the input size, scaled to [0, 1] per image

``x`` is a (B, C, H, W) float batch; ``targets`` is an int, one int per image,
or ``None`` for each image's predicted class. Results are tensors on the
model's device. An all-zero map stays all zero.

Behind the functions sits :class:`Explainer`: one forward pass with the chosen
layers captured, from which any class's map costs at most one backward pass
through the layers *after* the captured one. The explorer widget keeps one.

Each method is a record of :mod:`cam_helpers.registry`; the gradient CAMs are their rule of
:mod:`cam_helpers.rules` applied to the captured activations and gradients. :func:`register_cam` adds one.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from . import rules
from ..adapters import as_feature_map, layout, reshaped_layout
from ..core import (CAMResult, NotAGAPModelError, Targets, at_least_float32, check_input, check_logits, check_positive,
                   normalize, refuse_score, relu_map, resolve_targets, upsample, with_output)
from .explainer import ExplainerCore
from ..hooks import LayerRef, capture, resolve_layer
from ..layers import candidate_layers, gap_head, known_target_layer, linear_head
from ..registry import Method, names, register
from ..speed import ABLATION_BATCH

__all__ = ["CAMResult", "Explainer", "NotAGAPModelError", "Targets", "check_input", "check_logits", "check_positive",
           "linear_head", "normalize", "register_cam", "resolve_targets", "upsample"]


class Explainer(ExplainerCore):
    """One forward pass of ``x`` with ``layers`` captured; maps for any class
    and any captured layer reuse it.

    >>> ex = Explainer(model, x, ["layer3", "layer4"])
    >>> ex.grad_cam("layer4", targets=281)   # one backward pass, cached per class
    >>> ex.cam("layer4", targets=285)        # no backward pass at all
    >>> ex.explain("eigen_grad_cam", "layer4", 281)   # any registered CAM by name

    For models the adapters do not read: ``reshape`` turns the layer's output (and its gradient) into
    (B, C, h, w), as pytorch-grad-cam's ``reshape_transform`` does; ``output`` reads the logits out of
    whatever the model returns (``lambda o: o.scores``; :func:`~cam_helpers.core.with_output`).
    """

    family = "cam"

    def __init__(self, model: nn.Module, x: torch.Tensor, layers: LayerRef | Sequence[LayerRef] | None = None, *,
                 reshape: Callable[[torch.Tensor], torch.Tensor] | None = None, output: Callable | None = None):
        model = with_output(model, output)
        x = check_input(model, x)
        if reshape is not None and layers is None:
            raise ValueError("reshape= reads one layer's output: name that layer too (layer='blocks.11.norm1')")
        if layers is None:
            known = known_target_layer(model)
            layers = None if known is None else [known]   # None: chosen in this very forward pass
        with capture(model, layers, example=x) as cap:
            out = model(x)
            if cap.auto:
                cap.choose()
            cap.check_reached()
            cap.check_ran_once()
        super().__init__(model, x, out)
        self.reshape = reshape
        self.layers = list(cap.layers)
        self.activations = cap.activations
        self.layouts = {}
        for name, a in cap.activations.items():
            where = layout(a, len(x), self.size, cap.layers[name]) if reshape is None else \
                reshaped_layout(reshape, name, a, len(x))
            if where is None:
                raise ValueError(f"layer {name!r} outputs shape {tuple(a.shape)}, not a feature map of this batch "
                                 f"((B, C, h, w), channels last (B, h, w, C) or tokens (B, N, C) on the input's "
                                 f"grid); choose one of {candidate_layers(model, x[:1])}")
            self.layouts[name] = where

    def _layer(self, layer: LayerRef | None) -> str:
        if layer is None:
            return self.layers[-1]
        name = resolve_layer(self.model, layer)[0]
        if name not in self.activations:
            raise KeyError(f"layer {name!r} was not captured by this Explainer; captured: {self.layers}")
        return name

    def gradients(self, targets: Targets = None) -> dict[str, torch.Tensor]:
        """d(logit of each image's target)/d(activation) for every captured
        layer: one backward pass per distinct set of targets (or callable
        score), then cached."""
        grads = self.grads_of([self.activations[n] for n in self.layers], self.targets(targets), cache="layers")
        return dict(zip(self.layers, grads))

    def feature_map(self, t: torch.Tensor, layer: str) -> torch.Tensor:
        """A captured layer's output (or its gradient) as (B, C, h, w) in float32 at least: channels-last
        and token outputs through their detected layout (:mod:`adapters`), or the ``reshape`` given."""
        return at_least_float32(self.reshape(t) if self.reshape is not None else as_feature_map(t, self.layouts[layer]))

    def features(self, layer: LayerRef | None, t: torch.Tensor | Callable[..., torch.Tensor], grads: bool
                 ) -> tuple[str, torch.Tensor, torch.Tensor | None]:
        name = self._layer(layer)
        acts = self.feature_map(self.activations[name].detach(), name)
        return name, acts, self.feature_map(self.gradients(t)[name], name) if grads else None


# --------------------------------------------------------------------------
# The methods whose weights come from the model, not from a rule
# --------------------------------------------------------------------------

def cam_weights(ex: Explainer, layer: str, acts: torch.Tensor, t: torch.Tensor, *, head: LayerRef | None = None
                ) -> torch.Tensor:
    r"""CAM (Zhou et al. 2016, eq. 2), for models whose logits are ``W · GAP(A) + b`` with ``A`` the
    layer's output.

    .. math:: M_c(x, y) = \sum_k w_k^c\, f_k(x, y)

    ``raw`` is the paper's map, negative values included; ``map`` keeps the positive evidence, as
    Grad-CAM does. Raises :class:`NotAGAPModelError` when the model is not of that shape; ``head``
    names its linear head when there are several."""
    refuse_score(t, "CAM")
    return gap_head(ex.model, layer, acts.to(ex.x.dtype), ex.logits, head)[t]


def score_cam_weights(ex: Explainer, layer: str, acts: torch.Tensor, t: torch.Tensor, *, batch_size: int | None = None,
                      top_k: int | None = None, skip_constant: bool = True, progress: bool | None = None,
                      like: str = "paper") -> torch.Tensor:
    r"""Score-CAM (Wang et al. 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)` with
    :math:`w_k^c` the class score of the input masked by channel k
    (:func:`cam_helpers.perturbation.score_weights`). One forward pass per
    channel, batched; ``top_k`` keeps only the k channels of largest
    spatial variance (the "faster Score-CAM" option). ``like="pytorch-grad-cam"``
    scores as that library does (:data:`cam_helpers.perturbation.SCORE_CAM_PRESETS`;
    with ``skip_constant=False`` its maps agree to 1e-4)."""
    from .perturbation import score_weights
    refuse_score(t, "Score-CAM")
    return score_weights(ex.model, ex.x, acts.to(ex.x.dtype), t, batch_size=batch_size, top_k=top_k, like=like,
                         skip_constant=skip_constant, progress=progress)


def ablation_cam_weights(ex: Explainer, layer: str, acts: torch.Tensor, t: torch.Tensor, *,
                         batch_size: int = ABLATION_BATCH, skip_constant: bool = True, progress: bool | None = None
                         ) -> torch.Tensor:
    r"""Ablation-CAM (Desai & Ramaswamy 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)`,
    :math:`w_k^c = (y^c - y^c_k) / y^c` with :math:`y^c_k` the score when channel k
    is zeroed (:func:`cam_helpers.perturbation.ablation_weights`). Only the
    layers after ``layer`` run per ablated channel."""
    from .perturbation import ablation_weights
    refuse_score(t, "Ablation-CAM")
    if ex.layouts[layer].kind != "nchw":
        raise ValueError(f"Ablation-CAM zeroes channels of the layer's output in place and needs a (B, C, h, w) "
                         f"map; {layer!r} is {ex.layouts[layer]}. Use score_cam, or a gradient CAM, there.")
    assert ex.logits is not None   # class targets were resolved against them
    return ablation_weights(ex.model, resolve_layer(ex.model, layer)[1], ex.x, acts.to(ex.x.dtype),
                            ex.logits.detach(), t, batch_size=batch_size, skip_constant=skip_constant,
                            progress=progress)


# --------------------------------------------------------------------------
# The records, and the public functions made from them
# --------------------------------------------------------------------------

def _public(name: str, options_from: Callable) -> Callable:
    """``name(model, x, layer=None, targets=None, **options)``: one Explainer,
    one map, with the real signature and the formula in ``help()``. The
    forward pass records nothing before ``layer``."""
    def explain(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None, *,
                reshape: Callable | None = None, output: Callable | None = None, **options: Any) -> CAMResult:
        return Explainer(model, x, layer, reshape=reshape, output=output).explain(name, layer, targets, **options)
    skip = {"ex", "acts", "grads", "layer", "t"}
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else p
           for p in inspect.signature(options_from).parameters.values() if p.name not in skip]
    params = list(inspect.signature(explain).parameters.values())
    explain.__signature__ = inspect.Signature(params[:4] + own + params[4:6], return_annotation=CAMResult)  # type: ignore[attr-defined]
    explain.__name__ = explain.__qualname__ = name
    explain.__doc__ = (f"``{name}(model, x, layer=None, targets=None, **options)`` for a batch; the same as "
                       f"``Explainer(model, x, layer).explain({name!r}, ...)``.\n\n{inspect.getdoc(options_from)}")
    return explain


def register_cam(name: str, rule: Callable | None = None, *, weights: Callable | None = None, paper: str, url: str,
                 formula: str, backward: bool = True, class_specific: bool = True,
                 cost: str = "1 forward + 1 backward", expensive: bool = False, quick: dict | None = None) -> Method:
    """Register a CAM method and make its public function, from one of: a ``rule``
    (``rule(acts, grads, **options) -> raw``), or ``weights`` (``weights(ex, layer, acts, targets,
    **options) -> (B, K)``, from the model). Nothing else is needed: ``Explainer.explain(name)``,
    ``ex.<name>(...)``, the explorers and the command line find it."""
    if (rule is None) == (weights is None):
        raise ValueError(f"{name!r} needs a rule or weights (one of them)")
    fn = _public(name, rule if rule is not None else weights)  # type: ignore[arg-type]  # one of them is set
    return register(Method(name=name, family="cam", fn=fn, paper=paper, url=url, formula=formula, backward=backward,
                           class_specific=class_specific, controls=("layer",), to_map=relu_map, cost=cost,
                           expensive=expensive, rule=rule, weights=weights, quick=quick or {}))


cam = register_cam(
    "cam", weights=cam_weights, paper="Zhou et al. 2016, Learning Deep Features for Discriminative Localization, CVPR",
    url="https://arxiv.org/abs/1512.04150", formula="M_c = sum_k w^c_k A^k (w: the linear head's weights)",
    backward=False, cost="1 forward").fn
grad_cam = register_cam(
    "grad_cam", rules.grad_cam, paper="Selvaraju et al. 2017, Grad-CAM, ICCV",
    url="https://arxiv.org/abs/1610.02391", formula="w_k = mean_ij dy/dA^k_ij").fn
grad_cam_pp = register_cam(
    "grad_cam_pp", rules.grad_cam_pp, paper="Chattopadhay et al. 2018, Grad-CAM++, WACV",
    url="https://arxiv.org/abs/1710.11063",
    formula="w_k = sum_ij alpha_ij ReLU(g_ij), alpha = g^2 / (2 g^2 + sum A g^3)").fn
xgrad_cam = register_cam(
    "xgrad_cam", rules.xgrad_cam, paper="Fu et al. 2020, Axiom-based Grad-CAM, BMVC",
    url="https://arxiv.org/abs/2008.02312", formula="w_k = sum_ij (A_ij / sum A) g_ij").fn
layer_cam = register_cam(
    "layer_cam", rules.layer_cam, paper="Jiang et al. 2021, LayerCAM, IEEE TIP",
    url="https://doi.org/10.1109/TIP.2021.3089943", formula="w_ij = ReLU(g_ij), per position").fn
hires_cam = register_cam(
    "hires_cam", rules.hires_cam, paper="Draelos & Carin 2020, HiResCAM",
    url="https://arxiv.org/abs/2011.08891", formula="w_ij = g_ij, per position").fn
score_cam = register_cam(
    "score_cam", weights=score_cam_weights, paper="Wang et al. 2020, Score-CAM, CVPR Workshops", url="https://arxiv.org/abs/1910.01279",
    formula="w_k = softmax score of x masked by up(A^k)", backward=False,
    cost="1 + K forwards (K channels, or top_k)", expensive=True, quick={"top_k": 32, "progress": False}).fn
ablation_cam = register_cam(
    "ablation_cam", weights=ablation_cam_weights, paper="Desai & Ramaswamy 2020, Ablation-CAM, WACV",
    url="https://openaccess.thecvf.com/content_WACV_2020/html/Desai_Ablation-CAM_Visual_Explanations_for_Deep_"
        "Convolutional_Network_via_Gradient-free_Localization_WACV_2020_paper.html",
    formula="w_k = (y - y with channel k zeroed) / y", backward=False,
    cost="1 forward + K passes through the layers after `layer`", expensive=True, quick={"progress": False}).fn
eigen_cam = register_cam(
    "eigen_cam", rules.eigen_cam, paper="Muhammad & Yeasin 2020, Eigen-CAM, IJCNN",
    url="https://arxiv.org/abs/2008.00299", formula="first principal component of A", backward=False,
    class_specific=False, cost="1 forward + an SVD").fn
eigen_grad_cam = register_cam(
    "eigen_grad_cam", rules.eigen_grad_cam, paper="Muhammad & Yeasin 2020, Eigen-CAM, IJCNN (sec. 3.2)",
    url="https://arxiv.org/abs/2008.00299", formula="first principal component of g * A",
    cost="1 forward + 1 backward + an SVD").fn

def __getattr__(name: str) -> tuple[str, ...]:
    # METHODS, the CAM family's names in registration order, is read from the registry on every access,
    # so a method registered after import (register_cam) is in it.
    if name == "METHODS":
        return names("cam")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
