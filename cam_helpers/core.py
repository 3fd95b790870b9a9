"""What every method shares: the result type, the checks of inputs and
targets, and how a raw map becomes a picture.

``CAMResult`` is what every method of the package returns;
``check_input``, ``check_logits``, ``resolve_targets`` and ``check_positive``
turn bad arguments into clear errors before any work; ``normalize``,
``upsample`` and ``relu_map`` make ``map`` from ``raw``.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import torch
from torch import nn
from torch.nn import functional as F

from .hooks import model_device_dtype

if TYPE_CHECKING:
    from typing_extensions import TypeIs

# Class indices (one, or one per image), None for each image's predicted
# class, or a callable on the model's output returning one score per image.
Targets = int | Sequence[int] | torch.Tensor | Callable[..., torch.Tensor] | None
# ``CAMResult.targets`` of images explained by a callable score (no class index).
SCORE_TARGET = -1


class NotAGAPModelError(ValueError):
    """CAM was asked of a model whose logits are not a linear function of the
    global average of the chosen layer's feature maps."""


@dataclass
class CAMResult:
    """What every method of the package returns (CAM, pixel and ViT alike).

    :raw: the method's own quantity, **signed**, before any final ReLU: the
        paper's map at the layer's or patch grid's resolution, (B, h, w), or
        the attribution of every input value, (B, C, H, W), for pixel methods.
    :map: (B, H, W) at input size, in [0, 1]: ``to_map(raw, size)`` of the
        method's record (:mod:`cam_helpers.registry`). For the CAMs and the
        ViT methods ``normalize(upsample(relu(raw)))``: the positive
        evidence; for gradients the largest absolute value over channels.
    :targets: (B,) the class explained for each image.
    :logits: (B, K) the model's output for the batch (detached).
    :layer: the captured layer's dotted name ("input" for pixel methods).
    :method: the method's name.
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


def upsample(raw: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, h, w) maps to ``(B, *size)``."""
    return F.interpolate(raw[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def check_positive(**values: object) -> None:
    """Raise ``ValueError`` naming each argument that is not a positive whole
    number (``None`` passes: it means "the default")."""
    for name, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name} must be a positive whole number, got {v!r}")


def logits_of(out: Any) -> torch.Tensor | None:
    """The (B, classes) logits in a model's output, or None: the output itself when it is a 2-D tensor;
    its ``.logits`` (Hugging Face's ``ModelOutput``: ``ViTForImageClassification`` and the like); the
    ``"logits"`` entry of a dict; the first element of a tuple or list (models that also return features)."""
    if isinstance(out, torch.Tensor):
        return out if out.dim() == 2 else None
    if isinstance(out, dict) or hasattr(out, "logits"):
        inner = out.get("logits") if isinstance(out, dict) else out.logits
    elif isinstance(out, (tuple, list)) and out:
        inner = out[0]
    else:
        return None
    return inner if isinstance(inner, torch.Tensor) and inner.dim() == 2 else None



class WithOutput(nn.Module):
    """``model`` whose forward returns ``output(model(x))``, and nothing else changed: the same modules
    under the same names, the same parameters, the same train/eval flag (so ``layer="layer4"``, hooks,
    ``state_dict`` and ``.to`` act on the model itself). Made by :func:`with_output`."""

    def __init__(self, model: nn.Module, output: Callable):
        object.__setattr__(self, "_cam_inner", model)   # not a child: its children are ours
        super().__init__()
        self._modules, self._parameters, self._buffers = model._modules, model._parameters, model._buffers
        self.read_output = output
        object.__setattr__(self, "_cam_ready", True)

    @property
    def training(self) -> bool:
        return self.__dict__["_cam_inner"].training

    @training.setter
    def training(self, mode: bool) -> None:
        if self.__dict__.get("_cam_ready"):   # nn.Module.__init__ would otherwise put the model in train mode
            self.__dict__["_cam_inner"].training = mode

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.read_output(self.__dict__["_cam_inner"](*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if "_cam_inner" not in self.__dict__:
                raise
            return getattr(self.__dict__["_cam_inner"], name)   # config, pretrained_cfg, cam_target_layer, ...


def with_output(model: nn.Module, output: Callable | None) -> nn.Module:
    """``model`` with its output read by ``output`` (``lambda o: o.logits``, ``lambda o: o["scores"]``): for a
    model whose output :func:`logits_of` does not read, pass the result wherever a model goes (explorers,
    metrics, ``explain_folder``). ``output=None`` returns ``model`` itself."""
    if output is None:
        return model
    if not callable(output):
        raise TypeError(f"output must be a function of the model's output, such as lambda o: o.logits; "
                        f"got {type(output).__name__}")
    return WithOutput(model, output)


def is_logits(out: Any) -> bool:
    return logits_of(out) is not None


def classify(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``'s (B, classes) logits, read out of whatever the model returns (:func:`logits_of`)."""
    return check_logits(model(x), model)


def check_logits(out: Any, model: nn.Module | None) -> torch.Tensor:
    """The (B, classes) logits in the model's output (:func:`logits_of`), or a clear error."""
    logits = logits_of(out)
    if logits is not None:
        return logits
    what = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
    who = "the model" if model is None else type(model).__name__
    raise TypeError(f"{who} returns {what}, not (B, classes) logits. Give targets as a "
                    "callable on the output that returns one score per image (e.g. "
                    "targets=lambda out: out['logits'][:, 3], or a region of a segmentation map), or wrap "
                    "the model so that its forward returns the logits.")


def is_score(targets: object) -> TypeIs[Callable[..., Any]]:
    """Whether ``targets`` is a callable score rather than class indices."""
    return callable(targets) and not isinstance(targets, torch.Tensor)


def target_scores(output: Any, targets: torch.Tensor | Callable[..., torch.Tensor]) -> torch.Tensor:
    """(B,) the score each image's explanation is about: its target class's
    logit, or ``targets(output)`` for a callable score."""
    if is_score(targets):
        scores = targets(output)
        if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
            what = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise TypeError(f"a callable target must return one score per image, a tensor of shape (B,); "
                            f"got {what}. Sum or select over the other dimensions (e.g. out[:, 3, mask].sum(1)).")
        return scores
    return check_logits(output, None).gather(1, targets[:, None])[:, 0]


def target_labels(targets: torch.Tensor | Callable[..., torch.Tensor], batch: int,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """``CAMResult.targets``: the class indices, or :data:`SCORE_TARGET` for a callable score."""
    if is_score(targets):
        return torch.full((batch,), SCORE_TARGET, dtype=torch.long, device=device)
    return targets


def refuse_score(targets: object, method: str) -> None:
    if is_score(targets):
        raise TypeError(f"{method} explains class indices (it uses the class's logits or weights directly); "
                        "callable targets work with the gradient methods")


def check_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
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


@overload
def resolve_targets(targets: Targets, logits: torch.Tensor, allow_score: Literal[False] = False) -> torch.Tensor: ...
@overload
def resolve_targets(targets: Targets, logits: torch.Tensor, allow_score: bool
                    ) -> torch.Tensor | Callable[..., torch.Tensor]: ...
def resolve_targets(targets: Targets, logits: torch.Tensor, allow_score: bool = False
                    ) -> torch.Tensor | Callable[..., torch.Tensor]:
    """(B,) long tensor of classes: ``None`` -> predicted, int -> every image,
    sequence -> one per image. Out-of-range classes raise ``IndexError``.
    A callable score passes through unchanged where ``allow_score``."""
    if is_score(targets):
        if allow_score:
            return targets
        refuse_score(targets, "this function")
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


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    r"""Half and bfloat16 tensors in float32: the rules' sums and powers
    (Grad-CAM++'s :math:`\sum A \cdot g^3`) overflow or underflow in 16 bits,
    which turns a map into zeros without a word."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def relu_map(raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """ReLU, bilinear upsampling to the input size, scaling to [0, 1] per image (the CAMs and ViT maps)."""
    return normalize(upsample(F.relu(raw), size))


def cam_result(raw: torch.Tensor, size: tuple[int, int], targets: torch.Tensor, logits: torch.Tensor, layer: str,
               method: str) -> CAMResult:
    """A :class:`CAMResult` of a map on a grid: ``map = relu_map(raw, size)``."""
    raw = raw.detach()
    return CAMResult(raw, relu_map(raw, size), targets, logits.detach(), layer, method)


