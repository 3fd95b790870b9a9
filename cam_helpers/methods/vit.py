"""Explaining Vision Transformers: attention maps, rollout, gradient rollout,
Grad-CAM on tokens and LeGrad, for torchvision's, timm's and Hugging Face's
Vision Transformers (ViT, DeiT, DINOv2: :mod:`cam_helpers.vit_models`).

Every method answers with a :class:`~cam_helpers.cams.CAMResult`, like the CNN
methods::

    result = vit.rollout(model, x)
    result.raw   # (B, gh, gw) the map on the patch grid
    result.map   # (B, H, W) upsampled to the input, scaled to [0, 1]

The grid is ``(H // patch_size, W // patch_size)`` of the batch itself: no
14x14 is assumed anywhere, and non-square grids work. The tokens before the
patches (CLS, DeiT's distillation token, register tokens) are counted from the
attention's own shape.

The model's geometry, the attention capture and the rollout arithmetic are
in :mod:`cam_helpers.vit_attention` (re-exported here).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..core import CAMResult, Targets, at_least_float32, check_input, check_logits, relu_map
from .explainer import ExplainerCore
from ..hooks import frozen_eval
from ..registry import Method, get, methods, register
from .vit_attention import (HEAD_FUSIONS, attention_probs, attentions, block_index, block_names, blocks,
                            capture_attention, discard_lowest, fuse_heads, gradient_rollout_matrix, grid_shape,
                            on_tokens, rollout_matrix, tokens_to_grid)
from ..vit_models import TOKEN_METHODS

__all__ = ["HEAD_FUSIONS", "TOKEN_METHODS", "VIT_METHODS", "ViTExplainer", "attention_map", "attention_probs",
           "attentions", "block_names", "blocks", "capture_attention", "discard_lowest", "eigen_cam",
           "eigen_grad_cam", "fuse_heads", "grad_cam", "grad_cam_pp", "gradient_rollout", "gradient_rollout_matrix",
           "grid_shape", "hires_cam", "layer_cam", "legrad", "rollout", "rollout_matrix", "score_cam",
           "tokens_to_grid", "xgrad_cam"]

# --------------------------------------------------------------------------
# One forward pass, every method
# --------------------------------------------------------------------------

class ViTExplainer(ExplainerCore):
    """One forward pass of ``x`` through a ViT with every block's
    attention (and output tokens) on the autograd path; any method and any
    class reuse it.

    >>> ex = ViTExplainer(model, x)
    >>> ex.attention(3, head=1)             # no backward pass
    >>> ex.gradient_rollout(targets=2)      # one backward pass, cached per class

    Every method, like the CNN methods, is ``method(layer=None, targets=None, **options)``; the
    CNN methods of :data:`TOKEN_METHODS` run on a block's patch tokens (:meth:`features`).
    """

    family = "vit"

    def __init__(self, model: nn.Module, x: torch.Tensor, differentiable: bool = True):
        x = check_input(model, x)
        self.names = block_names(model)
        self.grid = grid_shape(model, x)
        self.differentiable = differentiable
        with capture_attention(model, differentiable) as cap, torch.set_grad_enabled(differentiable):
            logits = check_logits(model(x), model)
        super().__init__(model, x, logits)
        self.arch = cap.arch
        self.attentions = cap.attentions
        self.tokens = cap.tokens
        self.normed = cap.normed
        self.prefix = self.arch.prefix(self.attentions, self.grid)   # CLS, distillation, register tokens

    def need_graph(self, method: str) -> None:
        if not self.differentiable:
            raise RuntimeError(f"{method} needs gradients: build the ViTExplainer with differentiable=True")

    def on_grid(self, cls_row: torch.Tensor) -> torch.Tensor:
        """(..., T) CLS row -> (..., gh, gw) over the patch tokens."""
        return cls_row[..., self.prefix:].reshape(*cls_row.shape[:-1], *self.grid)

    def attention_gradients(self, targets: Targets = None) -> list[torch.Tensor]:
        """d(logit of each image's target)/dA for every block: one backward
        pass per distinct set of targets, then cached."""
        self.need_graph("attention_gradients")
        return self.grads_of(self.attentions, self.targets(targets), cache="attention")

    def cls_attention(self) -> torch.Tensor:
        """Attention from the CLS token to every patch, for every block and
        head: (blocks, B, heads, gh, gw). Rows sum to 1 over *all* tokens, so
        a patch map sums to 1 minus the CLS token's attention to itself."""
        self.arch.need_cls("attention")
        return self.on_grid(torch.stack([a.detach()[:, :, 0] for a in self.attentions]))

    def token_gradients(self, layer: int | str | None = None, targets: Targets = None,
                        at: str = "ln_1") -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, T, D) at block ``layer`` and d(target logit)/d(tokens).
        ``at="ln_1"`` (default) is the output of the block's first LayerNorm:
        one backward pass per set of targets serves every block, then cached.
        ``at="output"`` is the block's output (one backward pass per call)."""
        self.need_graph("token_gradients")
        if at not in ("ln_1", "output"):
            raise ValueError(f"at must be 'ln_1' or 'output', got {at!r}")
        i, t = block_index(self.model, layer), self.targets(targets)
        if at == "ln_1":
            return self.normed[i].detach(), self.grads_of(self.normed, t, cache="ln_1")[i]
        return self.tokens[i].detach(), self.grads_of([self.tokens[i]], t)[0]

    def features(self, layer: int | str | None, t: torch.Tensor | Callable[..., torch.Tensor], grads: bool
                 ) -> tuple[str, torch.Tensor, torch.Tensor | None]:
        """A CNN method's feature map on a ViT: the patch tokens of block ``layer`` (default: the last),
        taken at the block's first LayerNorm and laid out as (B, D, gh, gw), the "reshape transform"
        pytorch-grad-cam's users write by hand. Not at the block's output: after the last block only
        the CLS token reaches the head, so the patch tokens' gradient is 0 there
        (``token_gradients(at="output")`` shows it)."""
        i = block_index(self.model, layer)
        tokens, g = self.token_gradients(i, t) if grads else (self.normed[i].detach(), None)
        as_map = lambda a: at_least_float32(tokens_to_grid(a, self.grid, self.prefix))   # noqa: E731
        return f"{self.names[i]}.{self.arch.norm_label}", as_map(tokens), None if g is None else as_map(g)

    def token_cam(self, method: str, layer: int | str | None = None, targets: Targets = None, **options: Any
                  ) -> CAMResult:
        """A CNN method of :data:`TOKEN_METHODS` on the patch tokens of block ``layer`` (:meth:`features`)."""
        if method not in TOKEN_METHODS:
            raise ValueError(f"{method} needs a CNN's layers or head; on ViT tokens choose from {TOKEN_METHODS}")
        return self.explain(method, layer, targets, **options)


# --------------------------------------------------------------------------
# The methods of their own: attention, the rollouts, LeGrad
# --------------------------------------------------------------------------

def _attention(ex: ViTExplainer, layer: int | str | None = None, targets: Targets = None, head: int | None = None
               ) -> CAMResult:
    """Raw attention of the CLS token to the patches at block ``layer``
    (default: the last), of one ``head`` or averaged over heads. It does
    not depend on the class: ``targets`` only labels the result."""
    i = block_index(ex.model, layer)
    maps = ex.cls_attention()[i]
    heads = maps.shape[1]
    if head is not None and not -heads <= head < heads:
        raise IndexError(f"the model has {heads} heads; head {head} is out of range")
    raw = maps.mean(1) if head is None else maps[:, head]
    name = ex.names[i] + ("" if head is None else f" head {head % heads}")
    return ex.result(raw, ex.targets(targets), name, "attention")


def _upto(ex: ViTExplainer, layer: int | str | None) -> tuple[int, str]:
    """Blocks 0..layer (default: all) for the rollouts, and their label."""
    if layer in HEAD_FUSIONS:
        raise TypeError(f"rollout's first argument is the layer (as for every method); "
                        f"pass head_fusion={layer!r} by name")
    last = block_index(ex.model, layer)
    return last + 1, "all blocks" if last == len(ex.names) - 1 else f"blocks 0-{last}"


def _rollout(ex: ViTExplainer, layer: int | str | None = None, targets: Targets = None, head_fusion: str = "mean",
             discard_ratio: float = 0.0) -> CAMResult:
    """Attention rollout (:func:`rollout_matrix`) through the blocks up to
    ``layer`` (default: all), CLS row over the patches. Class-agnostic:
    ``targets`` only labels the result."""
    ex.arch.need_cls("rollout")
    n, label = _upto(ex, layer)
    r = rollout_matrix([a.detach() for a in ex.attentions[:n]], head_fusion, discard_ratio)
    return ex.result(ex.on_grid(r[:, 0]), ex.targets(targets), label, "rollout")


def _gradient_rollout(ex: ViTExplainer, layer: int | str | None = None, targets: Targets = None) -> CAMResult:
    """Chefer et al. 2021 (:func:`gradient_rollout_matrix`) through the
    blocks up to ``layer`` (default: all), CLS row over the patches. One
    backward pass per class (shared with every class-specific method)."""
    ex.arch.need_cls("gradient_rollout")
    t = ex.targets(targets)
    n, label = _upto(ex, layer)
    grads = ex.attention_gradients(t)
    r = gradient_rollout_matrix([a.detach() for a in ex.attentions[:n]], grads[:n])
    return ex.result(ex.on_grid(r[:, 0]), t, label, "gradient_rollout")


def _legrad(ex: ViTExplainer, layer: int | str | None = None, targets: Targets = None,
            layers: Sequence[int | str] | None = None) -> CAMResult:
    r"""LeGrad (Bousselham et al. 2024), as torchcam reads it. For each
    block :math:`l` (default: all), the block's own class score
    :math:`s^l = \mathrm{head}(\mathrm{LN}(\mathrm{mean}_{tokens} z^l))_c` is
    differentiated with respect to that block's attention :math:`A^l`:

    .. math:: E^l = \mathrm{mean}_{h,\,q}\,\big(\partial s^l/\partial A^l\big)^+,
              \qquad \mathrm{LeGrad} = \mathrm{mean}_l\, E^l \text{ over the patch keys}

    Attention values are not multiplied in. One backward pass per block,
    each only through that block. ``layer`` explains one block, ``layers``
    several; neither: all."""
    ex.need_graph("legrad")
    head = ex.arch.need_head("legrad")
    t = ex.targets(targets)
    if layer is not None and layers is not None:
        raise ValueError("give legrad either layer (one block) or layers (several), not both")
    layers = [layer] if layer is not None else layers
    idx = range(len(ex.names)) if layers is None else [block_index(ex.model, l) for l in layers]
    maps = []
    with frozen_eval(ex.model), torch.enable_grad():
        for i in idx:
            z = ex.tokens[i]   # the head on the mean token, put in every token's place
            scores = check_logits(head(z.mean(1, keepdim=True).expand_as(z)), ex.model)
            maps.append(ex.grads_of([ex.attentions[i]], t, output=scores)[0].clamp_min(0).mean((1, 2)))
    raw = ex.on_grid(torch.stack(maps).mean(0))
    label = "all blocks" if layers is None else ex.names[idx[0]] if len(idx) == 1 else f"{len(maps)} blocks"
    return ex.result(raw, t, label, "legrad")


def attention_map(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None,
                  head: int | None = None) -> CAMResult:
    """CLS attention to the patches at one block (:meth:`ViTExplainer.attention`),
    one forward pass without autograd."""
    return _attention(ViTExplainer(model, x, differentiable=False), layer, targets, head)


def rollout(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None,
            head_fusion: str = "mean", discard_ratio: float = 0.0) -> CAMResult:
    """Attention rollout (:meth:`ViTExplainer.rollout`), one forward pass without autograd."""
    return _rollout(ViTExplainer(model, x, differentiable=False), layer, targets, head_fusion, discard_ratio)


def gradient_rollout(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None
                     ) -> CAMResult:
    """Chefer et al.'s gradient-weighted rollout (:meth:`ViTExplainer.gradient_rollout`)."""
    return _gradient_rollout(ViTExplainer(model, x), layer, targets)


def grad_cam(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None
             ) -> CAMResult:
    """Grad-CAM at a block's first LayerNorm (:meth:`ViTExplainer.grad_cam`), computed like a CNN's."""
    return on_tokens("grad_cam", model, x, layer, targets)


def legrad(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None,
           layers: Sequence[int | str] | None = None) -> CAMResult:
    """LeGrad (:meth:`ViTExplainer.legrad`)."""
    return _legrad(ViTExplainer(model, x), layer, targets, layers)


def _token_method(name: str) -> Callable[..., CAMResult]:
    """``name(model, x, layer=None, targets=None, **options)`` on a ViT's tokens
    (:meth:`ViTExplainer.token_cam`), with the CNN method's options."""
    def explain(model: nn.Module, x: torch.Tensor, layer: int | str | None = None, targets: Targets = None,
                **options: Any) -> CAMResult:
        return on_tokens(name, model, x, layer, targets, **options)
    explain.__name__ = explain.__qualname__ = name
    explain.__doc__ = (f"{name} on the patch tokens of a ViT block (:meth:`ViTExplainer.token_cam`); the CNN "
                       f"method's rule, see ``cam_helpers.{name}``.")
    return explain


grad_cam_pp = _token_method("grad_cam_pp")
xgrad_cam = _token_method("xgrad_cam")
layer_cam = _token_method("layer_cam")
hires_cam = _token_method("hires_cam")
score_cam = _token_method("score_cam")
eigen_cam = _token_method("eigen_cam")
eigen_grad_cam = _token_method("eigen_grad_cam")


def _vit(name: str, fn: Callable[..., CAMResult], paper: str, url: str, formula: str, backward: bool,
         class_specific: bool, controls: tuple[str, ...], cost: str, quick: dict | None = None,
         **how: Any) -> Method:   # rule=, weights= or run=: how the explainer core runs it
    return register(Method(name=name, family="vit", fn=fn, paper=paper, url=url, formula=formula, backward=backward,
                           class_specific=class_specific, controls=controls, to_map=relu_map, cost=cost,
                           expensive=bool(quick), quick=quick or {}, **how))


_vit("attention", attention_map, "Dosovitskiy et al. 2021, An Image is Worth 16x16 Words, ICLR",
     "https://arxiv.org/abs/2010.11929", "A[CLS, patches] of one block (one head, or the mean)",
     backward=False, class_specific=False, controls=("layer", "head"), cost="1 forward", run=_attention)
_vit("rollout", rollout, "Abnar & Zuidema 2020, Quantifying Attention Flow in Transformers, ACL",
     "https://arxiv.org/abs/2005.00928", "R = prod_l rownorm((fuse_h A_l + I) / 2), CLS row",
     backward=False, class_specific=False, controls=("layer",), cost="1 forward", run=_rollout)
_vit("gradient_rollout", gradient_rollout, "Chefer, Gur & Wolf 2021, Generic Attention-model Explainability, ICCV",
     "https://arxiv.org/abs/2103.15679", "R <- R + E_h[(dy/dA * A)^+] R, CLS row",
     backward=True, class_specific=True, controls=("layer",), cost="1 forward + 1 backward", run=_gradient_rollout)
_vit("grad_cam", grad_cam, "Selvaraju et al. 2017, Grad-CAM, ICCV (on the tokens of a block)",
     "https://arxiv.org/abs/1610.02391", "Grad-CAM's rule on the patch tokens after the block's first LayerNorm",
     backward=True, class_specific=True, controls=("layer",), cost="1 forward + 1 backward",
     rule=get("grad_cam", "cam").rule)
_vit("legrad", legrad, "Bousselham et al. 2024, LeGrad", "https://arxiv.org/abs/2404.03214",
     "mean over blocks of E_h,q[(ds^l/dA^l)^+]", backward=True, class_specific=True, controls=(),
     cost="1 forward + 1 backward per block", run=_legrad)

for _name in TOKEN_METHODS[1:]:   # the CNN record's rule or weights, on a block's tokens
    _cnn = get(_name, "cam")
    _vit(_name, globals()[_name], _cnn.paper + " (on a ViT block's tokens)", _cnn.url, _cnn.formula + ", on tokens",
         backward=_cnn.backward, class_specific=_cnn.class_specific, controls=("layer",),
         cost=_cnn.cost.replace("K ", "D ").replace("K channels", "D token channels"), quick=_cnn.quick,
         rule=_cnn.rule, weights=_cnn.weights)

def __getattr__(name: str) -> dict[str, Method]:
    # VIT_METHODS, the ViT methods' records by name (the explorer reads controls and class-specificity from
    # them), live from the registry.
    if name == "VIT_METHODS":
        return {m.name: m for m in methods("vit")}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
