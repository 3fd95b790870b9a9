"""The explainer core: what the CNN explainer (:class:`~cam_helpers.cams.Explainer`) and the
Vision Transformer explainer (:class:`~cam_helpers.vit.ViTExplainer`) share, written once.

An explainer holds one forward pass of a batch. Every map it makes reuses that pass, and every
backward pass it runs is cached per set of targets. A family says only where its feature maps
come from, in :meth:`ExplainerCore.features`: a captured layer of a CNN, or the patch tokens of
a ViT block laid out on their grid. Everything else is here, and every method runs through one
dispatch, read from its registry record (:mod:`cam_helpers.registry`):

- ``record.run(ex, layer, targets, **options)``: a method with its own arithmetic (the
  attention maps, the rollouts, LeGrad);
- ``record.weights(ex, layer, acts, targets, **options) -> (B, K)``: channel weights from the
  model (CAM's head, Score-CAM's and Ablation-CAM's perturbations), ``raw = sum_k w_k A^k``;
- ``record.rule(acts, grads, **options) -> raw``: a pure rule of :mod:`cam_helpers.rules` on
  the feature map and, when the record says ``backward``, its gradient.

``ex.grad_cam(layer, targets, **options)`` is ``ex.explain("grad_cam", layer, targets, **options)``
for every method of the family, those registered after import included.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from . import rules
from ..core import CAMResult, Targets, cam_result, check_logits, is_score, logits_of, resolve_targets, target_labels, \
    target_scores
from ..hooks import grads_or_zeros
from ..registry import get, names


class ExplainerCore:
    """One forward pass of ``x`` through ``model`` (``output`` is what it returned); a family's
    explainer sets it up and says, in :meth:`features`, what a layer's feature map is."""

    family = "cam"   # the registry family whose methods this explainer runs

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, output: Any) -> None:
        self.model = model
        self.x = x
        self.output = output              # what the model returned: logits, or anything a callable target reads
        self.logits = logits_of(output)   # a ModelOutput's .logits, a dict's "logits", or None
        self._grads: dict[tuple, list[torch.Tensor]] = {}
        self._backward = 0

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.x.shape[-2]), int(self.x.shape[-1]))

    @property
    def backward_passes(self) -> int:
        """Backward passes run so far: one per distinct set of targets, and what is not cached."""
        return self._backward

    def targets(self, targets: Targets = None) -> torch.Tensor | Callable[..., torch.Tensor]:
        """Class indices (B,), resolved against the logits; a callable score as it is."""
        if is_score(targets):
            return targets
        return resolve_targets(targets, check_logits(self.output, self.model))

    def grads_of(self, tensors: Sequence[torch.Tensor], t: torch.Tensor | Callable[..., torch.Tensor],
                 cache: str | None = None, output: Any = None) -> list[torch.Tensor]:
        """d(the targets' scores, summed over images)/d(each of ``tensors``): one backward pass through
        only what lies between, cached under ``(cache, targets)`` (``cache=None``: not kept). Logits,
        not softmax scores: the softmax would mix in every other class. ``output``: score another
        output than the model's (LeGrad's per-block head)."""
        key = None if cache is None else (cache, ("score", t) if is_score(t) else tuple(t.tolist()))
        if key in self._grads:
            return self._grads[key]
        with torch.enable_grad():   # the caller may be inside torch.no_grad()
            score = target_scores(self.output if output is None else output, t).sum()   # images are independent
            grads = grads_or_zeros(score, list(tensors), retain_graph=True)
        self._backward += 1
        if key is not None:
            self._grads[key] = grads
        return grads

    def result(self, raw: torch.Tensor, t: torch.Tensor | Callable[..., torch.Tensor], layer: str,
               method: str) -> CAMResult:
        """The :class:`CAMResult` of a signed map ``raw`` (B, h, w) for targets ``t``."""
        logits = self.logits if self.logits is not None else target_scores(self.output, t).detach()[:, None]
        return cam_result(raw, self.size, target_labels(t, len(raw), raw.device), logits, layer, method)

    def features(self, layer: Any, t: torch.Tensor | Callable[..., torch.Tensor], grads: bool
                 ) -> tuple[str, torch.Tensor, torch.Tensor | None]:
        """``(label, acts, grads)``: the (B, C, h, w) feature map of ``layer`` in float32 at least, its
        gradient for targets ``t`` when ``grads`` (else None), and the layer's name for the result."""
        raise NotImplementedError

    def explain(self, method: str, layer: Any = None, targets: Targets = None, **options: Any) -> CAMResult:
        """Any method of the family by name, in the one call shape ``(layer, targets, **options)``."""
        record = get(method, self.family)   # unknown names raise KeyError with the choices
        if record.run is not None:
            return record.run(self, layer, targets, **options)
        t = self.targets(targets)
        label, acts, grads = self.features(layer, t, record.backward and record.weights is None)
        if record.weights is not None:
            weights = record.weights(self, label, acts, t, **options)
            raw = rules.weighted(weights.to(acts.dtype)[:, :, None, None], acts)
        else:
            assert record.rule is not None, method   # a record has run, weights or a rule
            raw = record.rule(acts, grads, **options)
        return self.result(raw, t, label, method)

    def __getattr__(self, name: str) -> Callable[..., CAMResult]:
        """``ex.grad_cam(layer, targets, **options)``: every method of the family, by its record."""
        if not name.startswith("_") and name in names(self.family):
            record = get(name, self.family)
            if record.run is not None:   # its own options, positional too: ex.rollout(None, None, "max")
                return functools.partial(record.run, self)
            method = functools.partial(self.explain, name)
            method.__doc__ = record.fn.__doc__
            return method
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(names(self.family)))
