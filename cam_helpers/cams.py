"""CAM and Grad-CAM on one shared core.

Every method here answers the same call::

    result = grad_cam(model, x, layer="layer4", targets=None)
    result.raw   # (B, h, w) the method's map at the layer's resolution
    result.map   # (B, H, W) ReLU, upsampled to the input size, scaled to [0, 1] per image

``x`` is a (B, C, H, W) float batch; ``targets`` is an int, one int per image,
or ``None`` for each image's predicted class. Results are tensors on the
model's device. An all-zero map stays all zero.

Behind the functions sits :class:`Explainer`: one forward pass with the chosen
layers captured, from which any class's map costs at most one backward pass
through the layers *after* the captured one. The explorer widget keeps one.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .hooks import LayerRef, candidate_layers, capture, default_target_layer, model_device_dtype, resolve_layer

Targets = int | Sequence[int] | torch.Tensor | None


class NotAGAPModelError(ValueError):
    """CAM was asked of a model whose logits are not a linear function of the
    global average of the chosen layer's feature maps."""


@dataclass
class CAMResult:
    """What every CAM method returns.

    raw: (B, h, w) the map at layer resolution, as the paper defines it.
    map: (B, H, W) ``normalize(upsample(relu(raw)))``: at input size, in [0, 1].
    targets: (B,) the class explained for each image.
    logits: (B, K) the model's output for the batch (detached).
    layer: the captured layer's dotted name.
    method: the method's name.
    """

    raw: torch.Tensor
    map: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    layer: str
    method: str


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (…, H, W) map to [0, 1] by its own min and max. A constant
    map (including all zeros) becomes all zeros instead of NaN, and so does a
    map whose span is rounding noise (at most 16 float epsilons of its
    magnitude: a constant upsampled bilinearly, say), which would otherwise
    be stretched into a 0/1 pattern."""
    flat = maps.flatten(-2)
    lo = flat.min(-1, keepdim=True).values
    hi = flat.max(-1, keepdim=True).values
    span = hi - lo
    eps = torch.finfo(flat.dtype).eps if flat.is_floating_point() else 0.0
    real = span > 16 * eps * torch.maximum(lo.abs(), hi.abs())
    safe = torch.where(real, span, torch.ones_like(span))
    return torch.where(real, (flat - lo) / safe, torch.zeros_like(flat)).view_as(maps)


def upsample(raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, h, w) maps to (B, *size)."""
    return F.interpolate(raw[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def check_positive(**values) -> None:
    """Raise ``ValueError`` naming each argument that is not a positive whole
    number (``None`` passes: it means "the default")."""
    for name, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name} must be a positive whole number, got {v!r}")


def check_logits(out, model: nn.Module) -> torch.Tensor:
    """The model's output, checked to be (B, classes) logits."""
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        what = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"{type(model).__name__} returns {what}, not (B, classes) logits. Explain a model whose "
                        "forward returns the logits: wrap it, e.g. a module whose forward returns "
                        "model(x)['logits'] or model(x)[0].")
    return out


def check_input(model: nn.Module, x) -> torch.Tensor:
    """Validate a batch for ``model`` and move it to the model's device."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError("cam_helpers was called inside torch.inference_mode(), where no gradient can flow and "
                           "no tensor can be recorded for later: call it outside (it manages torch.no_grad and "
                           "eval mode itself).")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor batch of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() == 3:
        raise ValueError(f"expected a batch of shape (B, C, H, W), got one image of shape {tuple(x.shape)}; "
                         "add the batch dimension with x[None] (or x.unsqueeze(0))")
    if x.dim() != 4:
        raise ValueError(f"expected a batch of shape (B, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"the batch is empty (shape {tuple(x.shape)}): give at least one image")
    if not x.is_floating_point():
        raise TypeError(f"expected a float batch, got {x.dtype}; preprocess images first "
                        "(cam_helpers.data.to_tensor for scenes, cam_helpers.data.load_image for photos)")
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None and x.shape[1] != conv.in_channels:
        raise ValueError(f"the model's first convolution takes {conv.in_channels} channels, "
                         f"the batch has {x.shape[1]} (shape {tuple(x.shape)})")
    device, dtype = model_device_dtype(model, x)
    bad = ~torch.isfinite(x.detach()).flatten(1).all(1)
    if bad.any():
        raise ValueError(f"the batch has pixels that are not finite (NaN or infinite) in image(s) "
                         f"{bad.nonzero().flatten().tolist()}; the logits, the predicted class and the map "
                         "would all be meaningless. Check the preprocessing of those images.")
    return x.to(device=device, dtype=dtype)


def resolve_targets(targets: Targets, logits: torch.Tensor) -> torch.Tensor:
    """(B,) long tensor of classes: ``None`` -> predicted, int -> every image,
    sequence -> one per image. Out-of-range classes raise ``IndexError``."""
    batch, classes = logits.shape
    if targets is None:
        return logits.argmax(1)
    t = torch.as_tensor(targets, device=logits.device).flatten()
    if t.dtype == torch.bool or (t.is_floating_point() and not (torch.isfinite(t) & (t == t.round())).all()) \
            or t.is_complex():
        raise TypeError(f"targets are class indices, whole numbers from 0 to {classes - 1}; got {targets!r}. "
                        "(They would otherwise be truncated silently: 2.7 would explain class 2.)")
    t = t.long()
    if t.numel() == 1:
        t = t.expand(batch)
    elif t.numel() != batch:
        raise ValueError(f"got {t.numel()} targets for a batch of {batch} images; "
                         "give one class per image, a single int, or None for the predicted class")
    bad = (t < 0) | (t >= classes)
    if bad.any():
        raise IndexError(f"class index {int(t[bad][0])} is out of range: the model has {classes} "
                         f"classes (0 to {classes - 1})")
    return t


def linear_head(model: nn.Module, head: LayerRef | None = None) -> nn.Linear:
    """The model's final linear layer (the last ``nn.Linear``), or ``head``."""
    if head is not None:
        module = resolve_layer(model, head)[1]
    else:
        module = next((m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
    if not isinstance(module, nn.Linear):
        raise NotAGAPModelError(f"{type(model).__name__} has no linear head; CAM needs "
                                "features -> global average pooling -> linear. Use grad_cam instead.")
    return module


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """Half and bfloat16 tensors in float32: the rules' sums and powers
    (Grad-CAM++'s :math:`\sum A \cdot g^3`) overflow or underflow in 16 bits,
    which turns a map into zeros without a word."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _result(raw: torch.Tensor, size, targets, logits, layer: str, method: str) -> CAMResult:
    return CAMResult(raw.detach(), normalize(upsample(F.relu(raw.detach()), size)),
                     targets, logits.detach(), layer, method)


class Explainer:
    """One forward pass of ``x`` with ``layers`` captured; maps for any class
    and any captured layer reuse it.

    >>> ex = Explainer(model, x, ["layer3", "layer4"])
    >>> ex.grad_cam("layer4", targets=281)   # one backward pass, cached per class
    >>> ex.cam("layer4", targets=285)        # no backward pass at all
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, layers: LayerRef | Sequence[LayerRef] | None = None):
        self.model = model
        self.x = check_input(model, x)
        if layers is None:
            layers = [default_target_layer(model)]
        with capture(model, layers) as cap:
            logits = check_logits(model(self.x), model)
            cap.check_reached()
            cap.check_ran_once()
        for name, a in cap.activations.items():
            if a.dim() != 4:
                raise ValueError(f"layer {name!r} outputs shape {tuple(a.shape)}, not a feature map (B, C, h, w); "
                                 "CAM methods explain convolutional feature maps: choose one of "
                                 f"{candidate_layers(model, self.x[:1])}")
        self._capture = cap
        self.layers = list(cap.layers)
        self.activations = cap.activations
        self.logits = logits
        self._grads: dict[tuple[int, ...], dict[str, torch.Tensor]] = {}

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.x.shape[-2:])

    def _layer(self, layer: LayerRef | None) -> str:
        if layer is None:
            return self.layers[-1]
        name = resolve_layer(self.model, layer)[0]
        if name not in self.activations:
            raise KeyError(f"layer {name!r} was not captured by this Explainer; captured: {self.layers}")
        return name

    def targets(self, targets: Targets = None) -> torch.Tensor:
        return resolve_targets(targets, self.logits)

    @property
    def backward_passes(self) -> int:
        """Backward passes run so far: one per distinct set of targets."""
        return len(self._grads)

    def gradients(self, targets: Targets = None) -> dict[str, torch.Tensor]:
        """d(logit of each image's target)/d(activation) for every captured
        layer: one backward pass per distinct set of targets, then cached.
        Logits, not softmax scores: the softmax would mix in every other class."""
        t = self.targets(targets)
        key = tuple(t.tolist())
        if key not in self._grads:
            with torch.enable_grad():  # the caller may be inside torch.no_grad()
                score = self.logits.gather(1, t[:, None]).sum()  # images are independent in eval mode
                self._grads[key] = self._capture.gradients_of(score, retain_graph=True)
        return self._grads[key]

    def _weighted(self, layer: LayerRef | None, targets: Targets, rule, method: str,
                  gradients: bool = True) -> CAMResult:
        """The shared core: ``raw = ReLU(sum_k W_k * A_k)`` with ``W = rule(A, dY/dA)``,
        per channel (B, K, 1, 1) or per position (B, K, h, w). Gradient-free
        rules (``gradients=False``) get ``None`` for dY/dA, and no backward pass runs."""
        name = self._layer(layer)
        t = self.targets(targets)
        acts = _at_least_float32(self.activations[name].detach())
        grads = _at_least_float32(self.gradients(t)[name]) if gradients else None
        raw = F.relu((rule(acts, grads) * acts).sum(1))
        return _result(raw, self.size, t, self.logits, name, method)

    def grad_cam(self, layer: LayerRef | None = None, targets: Targets = None,
                 counterfactual: bool = False) -> CAMResult:
        r"""Grad-CAM (Selvaraju et al. 2017, eqs. 1-2).

        .. math:: \alpha_k^c = \frac{1}{Z}\sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}, \qquad
                  L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)

        ``counterfactual=True`` negates the gradients (the paper's
        counterfactual explanations): the map then shows what speaks
        *against* class c.
        """
        sign = -1 if counterfactual else 1
        return self._weighted(layer, targets, lambda a, g: sign * g.mean((2, 3), keepdim=True), "grad_cam")

    def grad_cam_pp(self, layer: LayerRef | None = None, targets: Targets = None, eps: float = 0.0) -> CAMResult:
        r"""Grad-CAM++ (Chattopadhay et al. 2018, eqs. 10 and 19): positive
        gradients, weighted per position so that several instances count.

        .. math:: w_k^c = \sum_{ij} \alpha^{kc}_{ij}\,\mathrm{ReLU}(g^k_{ij}), \qquad
                  \alpha^{kc}_{ij} = \frac{(g^k_{ij})^2}{2 (g^k_{ij})^2 + \sum_{ab} A^k_{ab} (g^k_{ij})^3}

        with :math:`g = \partial y^c / \partial A` (the closed form of the paper's
        exponential-score derivation). Where the denominator is zero, α = 0.
        ``eps`` is added to the denominator (pytorch-grad-cam uses 1e-6; the
        paper has none, and for small gradients the two differ).
        """
        def rule(a, g):
            g2 = g * g
            denom = 2 * g2 + a.sum((2, 3), keepdim=True) * g2 * g + eps
            alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                                torch.zeros_like(g))
            return (alpha * F.relu(g)).sum((2, 3), keepdim=True)
        return self._weighted(layer, targets, rule, "grad_cam_pp")

    def xgrad_cam(self, layer: LayerRef | None = None, targets: Targets = None, eps: float = 0.0) -> CAMResult:
        r"""XGrad-CAM (Fu et al. 2020, eq. 15): gradients weighted by the
        activation's share of its channel.

        .. math:: w_k^c = \sum_{ij} \frac{A^k_{ij}}{\sum_{ab} A^k_{ab}}\,\frac{\partial y^c}{\partial A^k_{ij}}

        A channel whose activations sum to zero gets weight zero. ``eps`` is
        added to the sum (pytorch-grad-cam uses 1e-7; the paper has none).
        """
        def rule(a, g):
            total = a.sum((2, 3), keepdim=True) + eps
            safe = torch.where(total != 0, total, torch.ones_like(total))
            return torch.where(total != 0, (a * g).sum((2, 3), keepdim=True) / safe, torch.zeros_like(total))
        return self._weighted(layer, targets, rule, "xgrad_cam")

    def layer_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""LayerCAM (Jiang et al. 2021, eq. 5): one weight per position, the
        positive gradient. :math:`L^c = \mathrm{ReLU}(\sum_k \mathrm{ReLU}(g^k) \odot A^k)`."""
        return self._weighted(layer, targets, lambda a, g: F.relu(g), "layer_cam")

    def hires_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""HiResCAM (Draelos & Carin 2020): the gradient itself, position by
        position. :math:`L^c = \mathrm{ReLU}(\sum_k g^k \odot A^k)`. On a GAP +
        linear model it equals CAM / Z exactly, like Grad-CAM."""
        return self._weighted(layer, targets, lambda a, g: g, "hires_cam")

    def eigen_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""Eigen-CAM (Muhammad & Yeasin 2020): the projection of the centred
        activations on their first principal component. Class-agnostic: no
        gradient, ``targets`` only labels the result.

        ``raw`` is the projection (sign fixed so that it correlates positively
        with the mean activation; the SVD's sign is arbitrary).
        """
        name = self._layer(layer)
        t = self.targets(targets)
        acts = _at_least_float32(self.activations[name].detach())   # no SVD in half precision on the CPU
        b, k, h, w = acts.shape
        flat = acts.flatten(2).transpose(1, 2)                  # (B, hw, K)
        centred = flat - flat.mean(1, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        proj = (centred @ vh[:, 0, :, None])[..., 0]            # (B, hw)
        mean_map = flat.mean(2)
        sign = torch.sign(((proj - proj.mean(1, keepdim=True)) * (mean_map - mean_map.mean(1, keepdim=True))).sum(1))
        raw = (proj * torch.where(sign == 0, torch.ones_like(sign), sign)[:, None]).view(b, h, w)
        return _result(raw, self.size, t, self.logits, name, "eigen_cam")

    def cam(self, layer: LayerRef | None = None, targets: Targets = None,
            head: LayerRef | None = None) -> CAMResult:
        r"""CAM (Zhou et al. 2016, eq. 2), for models whose logits are
        ``W · GAP(A) + b`` with ``A`` the layer's output.

        .. math:: M_c(x, y) = \sum_k w_k^c\, f_k(x, y)

        ``raw`` is the paper's map, negative values included; ``map`` keeps
        the positive evidence, as Grad-CAM does. Raises
        :class:`NotAGAPModelError` when the model is not of that shape.
        """
        name = self._layer(layer)
        t = self.targets(targets)
        acts = self.activations[name].detach()
        fc = linear_head(self.model, head)
        if fc.in_features != acts.shape[1]:
            raise NotAGAPModelError(
                f"CAM needs logits = W · GAP(A) + b, but layer {name!r} has {acts.shape[1]} channels and the "
                f"linear head takes {fc.in_features} inputs: this model has no GAP + linear head on this layer "
                "(a flatten + fully connected head, say). Use grad_cam, or give the model a GAP head "
                "(cam_helpers.models.gap_surgery, notebook 01).")
        weight = fc.weight.detach()
        predicted = acts.mean((2, 3)) @ weight.T + (0 if fc.bias is None else fc.bias.detach())
        tol = 1e-3 * (1 + self.logits.detach().abs().max())
        if predicted.shape != self.logits.shape or (predicted - self.logits.detach()).abs().max() > tol:
            raise NotAGAPModelError(
                f"CAM needs logits = W · GAP(A) + b with A the output of {name!r}, but the model's logits "
                "differ from that: something other than global average pooling sits between the layer and "
                "the head. Use grad_cam, or the layer right before the pooling.")
        raw = torch.einsum("bk,bkhw->bhw", weight[t], acts)
        return _result(raw, self.size, t, self.logits, name, "cam")

    def score_cam(self, layer: LayerRef | None = None, targets: Targets = None, *, batch_size: int | None = None,
                  top_k: int | None = None, weighting: str = "probability", skip_constant: bool = True,
                  align_corners: bool = False, fast_layout: bool = True, progress: bool | None = None) -> CAMResult:
        r"""Score-CAM (Wang et al. 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)` with
        :math:`w_k^c` the class score of the input masked by channel k
        (:func:`cam_helpers.perturbation.score_weights`). One forward pass per
        channel, batched; ``top_k`` keeps only the k channels of largest
        spatial variance (the "faster Score-CAM" option)."""
        from .perturbation import score_weights
        t = self.targets(targets)

        def rule(acts, _):
            return score_weights(self.model, self.x, acts.to(self.x.dtype), t, batch_size=batch_size, top_k=top_k,
                                 weighting=weighting, skip_constant=skip_constant, align_corners=align_corners,
                                 fast_layout=fast_layout, progress=progress)[:, :, None, None]
        return self._weighted(layer, t, rule, "score_cam", gradients=False)

    def ablation_cam(self, layer: LayerRef | None = None, targets: Targets = None, *, batch_size: int = 64,
                     skip_constant: bool = True, progress: bool | None = None) -> CAMResult:
        r"""Ablation-CAM (Desai & Ramaswamy 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)`,
        :math:`w_k^c = (y^c - y^c_k) / y^c` with :math:`y^c_k` the score when channel k
        is zeroed (:func:`cam_helpers.perturbation.ablation_weights`). Only the
        layers after ``layer`` run per ablated channel."""
        from .perturbation import ablation_weights
        t = self.targets(targets)
        module = resolve_layer(self.model, self._layer(layer))[1]

        def rule(acts, _):
            return ablation_weights(self.model, module, self.x, acts.to(self.x.dtype), self.logits.detach(), t, batch_size=batch_size,
                                    skip_constant=skip_constant, progress=progress)[:, :, None, None]
        return self._weighted(layer, t, rule, "ablation_cam", gradients=False)

    def explain(self, method: str, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        """``explain("grad_cam", layer, targets)``: pick a method by name."""
        if method not in METHODS:
            raise KeyError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
        return getattr(self, method)(layer, targets)


METHODS = ("cam", "grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "hires_cam", "score_cam",
           "ablation_cam", "eigen_cam")


def _one_shot(method: str):
    """``method(model, x, layer=None, targets=None, **options)``: one
    Explainer, one map. The forward pass records nothing before ``layer``."""
    def explain(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None,
                **options) -> CAMResult:
        return getattr(Explainer(model, x, layer), method)(layer, targets, **options)
    explain.__name__ = explain.__qualname__ = method
    explain.__doc__ = f"{method} for a batch: see :meth:`Explainer.{method}`. Same call shape as every CAM method."
    return explain


cam = _one_shot("cam")
grad_cam = _one_shot("grad_cam")
grad_cam_pp = _one_shot("grad_cam_pp")
xgrad_cam = _one_shot("xgrad_cam")
layer_cam = _one_shot("layer_cam")
hires_cam = _one_shot("hires_cam")
score_cam = _one_shot("score_cam")
ablation_cam = _one_shot("ablation_cam")
eigen_cam = _one_shot("eigen_cam")
