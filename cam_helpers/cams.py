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

import torch
from torch import nn

from . import rules
from .adapters import as_feature_map, layout, reshaped_layout
from .core import (CAMResult, NotAGAPModelError, Targets, at_least_float32, cam_result, check_input, check_logits,
                   check_positive, is_score, logits_of, normalize, refuse_score, relu_map, resolve_targets,
                   target_labels, target_scores, upsample, with_output)
from .hooks import LayerRef, capture, resolve_layer
from .layers import candidate_layers, gap_head, known_target_layer, linear_head
from .registry import Method, get, names, register

__all__ = ["CAMResult", "Explainer", "NotAGAPModelError", "Targets", "check_input", "check_logits", "check_positive",
           "linear_head", "normalize", "register_cam", "resolve_targets", "upsample"]


class Explainer:
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

    def __init__(self, model: nn.Module, x: torch.Tensor, layers: LayerRef | Sequence[LayerRef] | None = None, *,
                 reshape: Callable[[torch.Tensor], torch.Tensor] | None = None, output: Callable | None = None):
        model = with_output(model, output)
        self.model = model
        self.x = check_input(model, x)
        if reshape is not None and layers is None:
            raise ValueError("reshape= reads one layer's output: name that layer too (layer='blocks.11.norm1')")
        if layers is None:
            known = known_target_layer(model)
            layers = None if known is None else [known]   # None: chosen in this very forward pass
        with capture(model, layers, example=self.x) as cap:
            output = model(self.x)
            if cap.auto:
                cap.choose()
            cap.check_reached()
            cap.check_ran_once()
        self.reshape = reshape
        self.layouts = {}
        for name, a in cap.activations.items():
            where = layout(a, len(self.x), self.size, cap.layers[name]) if reshape is None else \
                reshaped_layout(reshape, name, a, len(self.x))
            if where is None:
                raise ValueError(f"layer {name!r} outputs shape {tuple(a.shape)}, not a feature map of this batch "
                                 f"((B, C, h, w), channels last (B, h, w, C) or tokens (B, N, C) on the input's "
                                 f"grid); choose one of {candidate_layers(model, self.x[:1])}")
            self.layouts[name] = where
        self._capture = cap
        self.layers = list(cap.layers)
        self.activations = cap.activations
        self.output = output   # what the model returned: logits, or anything a callable target reads
        self.logits = logits_of(output)   # a ModelOutput's .logits, a dict's "logits", or None
        self._grads: dict[tuple, dict[str, torch.Tensor]] = {}

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.x.shape[-2]), int(self.x.shape[-1]))

    def _layer(self, layer: LayerRef | None) -> str:
        if layer is None:
            return self.layers[-1]
        name = resolve_layer(self.model, layer)[0]
        if name not in self.activations:
            raise KeyError(f"layer {name!r} was not captured by this Explainer; captured: {self.layers}")
        return name

    def targets(self, targets: Targets = None):
        """Class indices (B,), resolved against the logits; a callable score as it is."""
        if is_score(targets):
            return targets
        return resolve_targets(targets, check_logits(self.output, self.model))

    def _result(self, raw: torch.Tensor, t, layer: str, method: str) -> CAMResult:
        logits = self.logits if self.logits is not None else target_scores(self.output, t).detach()[:, None]
        return cam_result(raw, self.size, target_labels(t, len(raw), raw.device), logits, layer, method)

    @property
    def backward_passes(self) -> int:
        """Backward passes run so far: one per distinct set of targets."""
        return len(self._grads)

    def gradients(self, targets: Targets = None) -> dict[str, torch.Tensor]:
        """d(logit of each image's target)/d(activation) for every captured
        layer: one backward pass per distinct set of targets (or callable
        score), then cached. Logits, not softmax scores: the softmax would mix
        in every other class."""
        t = self.targets(targets)
        key = ("score", t) if is_score(t) else tuple(t.tolist())
        if key not in self._grads:
            with torch.enable_grad():  # the caller may be inside torch.no_grad()
                score = target_scores(self.output, t).sum()  # images are independent in eval mode
                self._grads[key] = self._capture.gradients_of(score, retain_graph=True)
        return self._grads[key]

    def apply_rule(self, name: str, layer: LayerRef | None = None, targets: Targets = None, **options) -> CAMResult:
        """The shared core: the registered rule of ``name`` on the layer's
        activations and (if the record says it needs them) their gradients,
        in float32 at least (half-precision sums overflow)."""
        record = get(name, "cam")
        layer_name = self._layer(layer)
        t = self.targets(targets)
        acts = self.feature_map(self.activations[layer_name].detach(), layer_name)
        grads = self.feature_map(self.gradients(t)[layer_name], layer_name) if record.backward else None
        assert record.rule is not None, name   # get(name, "cam") with backward or not: a rule-based record
        raw = record.rule(acts, grads, **options)
        return self._result(raw, t, layer_name, name)

    def _weights_result(self, layer: LayerRef | None, t: torch.Tensor, weights_of, method: str) -> CAMResult:
        """``raw = sum_k w_k A^k`` with per-channel weights from a perturbation."""
        name = self._layer(layer)
        acts = self.feature_map(self.activations[name].detach(), name)
        return self._result(rules.weighted(weights_of(acts).to(acts.dtype), acts), t, name, method)

    def _as_map(self, t: torch.Tensor, layer: str) -> torch.Tensor:
        return self.reshape(t) if self.reshape is not None else as_feature_map(t, self.layouts[layer])

    def feature_map(self, t: torch.Tensor, layer: str) -> torch.Tensor:
        """A captured layer's output (or its gradient) as (B, C, h, w) in float32 at least: channels-last
        and token outputs through their detected layout (:mod:`adapters`), or the ``reshape`` given."""
        return at_least_float32(self._as_map(t, layer))

    def grad_cam(self, layer: LayerRef | None = None, targets: Targets = None,
                 counterfactual: bool = False) -> CAMResult:
        r"""Grad-CAM (Selvaraju et al. 2017, eqs. 1-2).

        .. math:: \alpha_k^c = \frac{1}{Z}\sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}, \qquad
                  L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)

        ``raw`` is the sum before the ReLU. ``counterfactual=True`` negates
        the gradients (the paper's counterfactual explanations): the map then
        shows what speaks *against* class c.
        """
        return self.apply_rule("grad_cam", layer, targets, counterfactual=counterfactual)

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
        return self.apply_rule("grad_cam_pp", layer, targets, eps=eps)

    def xgrad_cam(self, layer: LayerRef | None = None, targets: Targets = None, eps: float = 0.0) -> CAMResult:
        r"""XGrad-CAM (Fu et al. 2020, eq. 15): gradients weighted by the
        activation's share of its channel.

        .. math:: w_k^c = \sum_{ij} \frac{A^k_{ij}}{\sum_{ab} A^k_{ab}}\,\frac{\partial y^c}{\partial A^k_{ij}}

        A channel whose activations sum to zero gets weight zero. ``eps`` is
        added to the sum (pytorch-grad-cam uses 1e-7; the paper has none).
        """
        return self.apply_rule("xgrad_cam", layer, targets, eps=eps)

    def layer_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""LayerCAM (Jiang et al. 2021, eq. 5): one weight per position, the
        positive gradient. :math:`L^c = \mathrm{ReLU}(\sum_k \mathrm{ReLU}(g^k) \odot A^k)`."""
        return self.apply_rule("layer_cam", layer, targets)

    def hires_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""HiResCAM (Draelos & Carin 2020): the gradient itself, position by
        position. :math:`L^c = \mathrm{ReLU}(\sum_k g^k \odot A^k)`. On a GAP +
        linear model it equals CAM / Z exactly, like Grad-CAM."""
        return self.apply_rule("hires_cam", layer, targets)

    def eigen_cam(self, layer: LayerRef | None = None, targets: Targets = None) -> CAMResult:
        r"""Eigen-CAM (Muhammad & Yeasin 2020): the projection of the centred
        activations on their first principal component. Class-agnostic: no
        gradient, ``targets`` only labels the result.

        ``raw`` is the projection (sign fixed so that it correlates positively
        with the mean activation; the SVD's sign is arbitrary).
        """
        return self.apply_rule("eigen_cam", layer, targets)

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
        refuse_score(t, "CAM")
        acts = self._as_map(self.activations[name].detach(), name)   # in the head's dtype
        weight = gap_head(self.model, name, acts, self.logits, head)
        raw = torch.einsum("bk,bkhw->bhw", weight[t], acts)
        return self._result(raw, t, name, "cam")

    def score_cam(self, layer: LayerRef | None = None, targets: Targets = None, *, batch_size: int | None = None,
                  top_k: int | None = None, skip_constant: bool = True, progress: bool | None = None,
                  like: str = "paper") -> CAMResult:
        r"""Score-CAM (Wang et al. 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)` with
        :math:`w_k^c` the class score of the input masked by channel k
        (:func:`cam_helpers.perturbation.score_weights`). One forward pass per
        channel, batched; ``top_k`` keeps only the k channels of largest
        spatial variance (the "faster Score-CAM" option). ``like="pytorch-grad-cam"``
        scores as that library does (:data:`cam_helpers.perturbation.SCORE_CAM_PRESETS`;
        with ``skip_constant=False`` its maps agree to 1e-4)."""
        from .perturbation import score_weights
        t = self.targets(targets)
        refuse_score(t, "Score-CAM")

        def weights_of(acts):
            return score_weights(self.model, self.x, acts.to(self.x.dtype), t, batch_size=batch_size, top_k=top_k,
                                 like=like, skip_constant=skip_constant, progress=progress)[:, :, None, None]
        return self._weights_result(layer, t, weights_of, "score_cam")

    def ablation_cam(self, layer: LayerRef | None = None, targets: Targets = None, *, batch_size: int = 64,
                     skip_constant: bool = True, progress: bool | None = None) -> CAMResult:
        r"""Ablation-CAM (Desai & Ramaswamy 2020): :math:`L^c = \mathrm{ReLU}(\sum_k w_k^c A^k)`,
        :math:`w_k^c = (y^c - y^c_k) / y^c` with :math:`y^c_k` the score when channel k
        is zeroed (:func:`cam_helpers.perturbation.ablation_weights`). Only the
        layers after ``layer`` run per ablated channel."""
        from .perturbation import ablation_weights
        t = self.targets(targets)
        refuse_score(t, "Ablation-CAM")
        name = self._layer(layer)
        module = resolve_layer(self.model, name)[1]
        if self.layouts[name].kind != "nchw":
            raise ValueError(f"Ablation-CAM zeroes channels of the layer's output in place and needs a (B, C, h, w) "
                             f"map; {name!r} is {self.layouts[name]}. Use score_cam, or a gradient CAM, there.")
        logits = self.logits
        assert logits is not None   # class targets were resolved against them

        def weights_of(acts):
            return ablation_weights(self.model, module, self.x, acts.to(self.x.dtype), logits.detach(), t, batch_size=batch_size,
                                    skip_constant=skip_constant, progress=progress)[:, :, None, None]
        return self._weights_result(layer, t, weights_of, "ablation_cam")

    def __getattr__(self, name: str):
        """A CAM registered with only a rule is a method too: ``ex.eigen_grad_cam(layer, targets)``."""
        if not name.startswith("_") and name in names("cam"):
            return lambda layer=None, targets=None, **options: self.apply_rule(name, layer, targets, **options)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def explain(self, method: str, layer: LayerRef | None = None, targets: Targets = None, **options) -> CAMResult:
        """``explain("grad_cam", layer, targets, **options)``: any registered CAM by name."""
        get(method, "cam")   # unknown names raise KeyError with the choices
        own = getattr(type(self), method, None)
        if callable(own):
            return own(self, layer, targets, **options)
        return self.apply_rule(method, layer, targets, **options)


# --------------------------------------------------------------------------
# The records, and the public functions made from them
# --------------------------------------------------------------------------

def _public(name: str, options_from: Callable) -> Callable:
    """``name(model, x, layer=None, targets=None, **options)``: one Explainer,
    one map, with the real signature and the formula in ``help()``. The
    forward pass records nothing before ``layer``."""
    def explain(model: nn.Module, x: torch.Tensor, layer: LayerRef | None = None, targets: Targets = None, *,
                reshape: Callable | None = None, output: Callable | None = None, **options) -> CAMResult:
        return Explainer(model, x, layer, reshape=reshape, output=output).explain(name, layer, targets, **options)
    skip = {"self", "acts", "grads", "layer", "targets"}
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else p
           for p in inspect.signature(options_from).parameters.values() if p.name not in skip]
    params = list(inspect.signature(explain).parameters.values())
    explain.__signature__ = inspect.Signature(params[:4] + own + params[4:6], return_annotation=CAMResult)  # type: ignore[attr-defined]
    explain.__name__ = explain.__qualname__ = name
    explain.__doc__ = (f"{name}(model, x, layer=None, targets=None, **options) for a batch; the same as "
                       f"``Explainer(model, x, layer).explain({name!r}, ...)``.\n\n{inspect.getdoc(options_from)}")
    return explain


def register_cam(name: str, rule: Callable | None = None, *, paper: str, url: str, formula: str,
                 backward: bool = True, class_specific: bool = True, cost: str = "1 forward + 1 backward",
                 expensive: bool = False, quick: dict | None = None) -> Method:
    """Register a CAM method and make its public function: with a ``rule``
    (``rule(acts, grads, **options) -> raw``) nothing else is needed;
    ``Explainer.explain(name)`` and the explorer find it."""
    own = getattr(Explainer, name, None)
    if rule is None and own is None:
        raise ValueError(f"{name!r} needs a rule (or an Explainer method)")
    fn = _public(name, own if own is not None else rule)  # type: ignore[arg-type]  # one of them is set
    return register(Method(name=name, family="cam", fn=fn, paper=paper, url=url, formula=formula, backward=backward,
                           class_specific=class_specific, controls=("layer",), to_map=relu_map, cost=cost,
                           expensive=expensive, rule=rule, quick=quick or {}))


cam = register_cam(
    "cam", paper="Zhou et al. 2016, Learning Deep Features for Discriminative Localization, CVPR",
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
    "score_cam", paper="Wang et al. 2020, Score-CAM, CVPR Workshops", url="https://arxiv.org/abs/1910.01279",
    formula="w_k = softmax score of x masked by up(A^k)", backward=False,
    cost="1 + K forwards (K channels, or top_k)", expensive=True, quick={"top_k": 32, "progress": False}).fn
ablation_cam = register_cam(
    "ablation_cam", paper="Desai & Ramaswamy 2020, Ablation-CAM, WACV",
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

def __getattr__(name: str):
    # METHODS, the CAM family's names in registration order, is read from the registry on every access,
    # so a method registered after import (register_cam) is in it.
    if name == "METHODS":
        return names("cam")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
