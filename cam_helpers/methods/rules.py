r"""The CAM family's rules as pure functions: ``rule(acts, grads) -> raw``.

``acts`` is a layer's output :math:`A` (B, K, h, w) and ``grads`` the
gradient of each image's class score with respect to it,
:math:`g = \partial y^c / \partial A` (same shape; ``None`` for the rules
that need none). Each returns the method's signed map ``raw`` (B, h, w),
before the final ReLU the papers apply. Most are channel weightings,
:math:`\mathrm{raw} = \sum_k w_k A^k` with :math:`w` per channel (B, K, 1, 1)
or per position (B, K, h, w): the style guide's "a method is its weighting
rule". They run on any tensors (no model, no hooks): notebook 03 writes each
by hand and checks it against these, and so do the tests.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def weighted(weights: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_k w_k \odot A^k` over channels: (B, K, 1 or h, 1 or w) x (B, K, h, w) -> (B, h, w)."""
    return (weights * acts).sum(1)


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 where den is 0."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def grad_cam(acts: torch.Tensor, grads: torch.Tensor, counterfactual: bool = False) -> torch.Tensor:
    r"""Grad-CAM (Selvaraju et al. 2017, eqs. 1-2): the mean gradient per channel.

    .. math:: \alpha_k^c = \frac{1}{Z}\sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}, \qquad
              L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)

    ``raw`` is the sum before the ReLU. ``counterfactual=True`` negates the gradients (the paper's
    counterfactual explanations): the map then shows what speaks *against* class c."""
    return weighted((-1 if counterfactual else 1) * grads.mean((2, 3), keepdim=True), acts)


def grad_cam_pp(acts: torch.Tensor, grads: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    r"""Grad-CAM++ (Chattopadhay et al. 2018, eqs. 10 and 19): positive gradients, weighted per
    position so that several instances count.

    .. math:: w_k^c = \sum_{ij} \alpha^{kc}_{ij}\,\mathrm{ReLU}(g^k_{ij}), \qquad
              \alpha^{kc}_{ij} = \frac{(g^k_{ij})^2}{2 (g^k_{ij})^2 + \sum_{ab} A^k_{ab} (g^k_{ij})^3 + \epsilon}

    with :math:`g = \partial y^c / \partial A`. The "second and third derivatives" of the paper are
    powers of the first gradient under its exponential score: one backward pass. Where the
    denominator is zero, α = 0. ``eps`` is added to the denominator (pytorch-grad-cam uses 1e-6;
    the paper has none, and for small gradients the two differ)."""
    g2 = grads * grads
    alpha = _safe_divide(g2, 2 * g2 + acts.sum((2, 3), keepdim=True) * g2 * grads + eps)
    return weighted((alpha * F.relu(grads)).sum((2, 3), keepdim=True), acts)


def xgrad_cam(acts: torch.Tensor, grads: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    r"""XGrad-CAM (Fu et al. 2020, eq. 15): gradients weighted by the activation's share of its channel.

    .. math:: w_k^c = \sum_{ij} \frac{A^k_{ij}}{\sum_{ab} A^k_{ab} + \epsilon}\,\frac{\partial y^c}{\partial A^k_{ij}}

    A channel whose activations sum to zero gets weight zero. ``eps`` is added to the sum
    (pytorch-grad-cam uses 1e-7; the paper has none)."""
    total = acts.sum((2, 3), keepdim=True) + eps
    return weighted(_safe_divide((acts * grads).sum((2, 3), keepdim=True), total), acts)


def layer_cam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    r"""LayerCAM (Jiang et al. 2021, eq. 5): one weight per position, the positive gradient,
    :math:`L^c = \mathrm{ReLU}(\sum_k \mathrm{ReLU}(g^k) \odot A^k)`."""
    return weighted(F.relu(grads), acts)


def hires_cam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    r"""HiResCAM (Draelos & Carin 2020): the gradient itself, position by position,
    :math:`L^c = \mathrm{ReLU}(\sum_k g^k \odot A^k)`. On a GAP + linear model it equals CAM / Z
    exactly, like Grad-CAM."""
    return weighted(grads, acts)


def first_component(features: torch.Tensor) -> torch.Tensor:
    r"""The projection of the centred (B, K, h, w) features on their first
    principal component over positions, (B, h, w); the SVD's arbitrary sign
    is fixed so that the projection correlates positively with the mean
    over channels."""
    b, k, h, w = features.shape
    flat = features.flatten(2).transpose(1, 2)                  # (B, hw, K)
    centred = flat - flat.mean(1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    proj = (centred @ vh[:, 0, :, None])[..., 0]                # (B, hw)
    mean_map = flat.mean(2)
    sign = torch.sign(((proj - proj.mean(1, keepdim=True)) * (mean_map - mean_map.mean(1, keepdim=True))).sum(1))
    return (proj * torch.where(sign == 0, torch.ones_like(sign), sign)[:, None]).view(b, h, w)


def eigen_cam(acts: torch.Tensor, grads: torch.Tensor | None = None) -> torch.Tensor:
    r"""Eigen-CAM (Muhammad & Yeasin 2020): the projection of the centred activations on their first
    principal component (:func:`first_component`). Class-agnostic: no gradient, ``targets`` only
    labels the result. ``raw`` is the projection, its sign fixed so that it correlates positively
    with the mean activation (the SVD's sign is arbitrary)."""
    return first_component(acts)


def eigen_grad_cam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    r"""Eigen-Grad-CAM: the first principal component of :math:`g \odot A`,
    the class-specific variant of Eigen-CAM (Muhammad & Yeasin 2020, sec. 3.2)."""
    return first_component(grads * acts)
