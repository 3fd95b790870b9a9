"""Choosing the layer to explain: the one the papers use for the families we know by their class, or
the last feature map of the user's own input (in any layout :mod:`adapters` reads), found in the
explanation's own forward pass by :class:`hooks.capture` with ``layers=None``; and the layers worth
offering on an explorer's slider."""
from __future__ import annotations

import torch
from torch import nn

from .core import NotAGAPModelError
from .hooks import LayerRef, capture, frozen_eval, model_device_dtype, resolve_layer


def input_size(model: nn.Module) -> int | tuple[int, int]:
    """The input size the model declares: the course models' ``input_size``, torchvision ViT's
    ``image_size``, timm's ``pretrained_cfg["input_size"]``, a Hugging Face config's ``image_size``;
    else 224."""
    timm_size = (getattr(model, "pretrained_cfg", None) or {}).get("input_size")   # (C, H, W)
    hf = getattr(getattr(model, "config", None), "image_size", None)
    for size in (getattr(model, "input_size", None), getattr(model, "image_size", None),
                 timm_size[-2:] if timm_size else None, hf):
        if isinstance(size, int) or (isinstance(size, (tuple, list)) and len(size) == 2 and all(size)):
            return size if isinstance(size, int) else (int(size[0]), int(size[1]))
    return 224


def _example_input(model: nn.Module) -> torch.Tensor:
    device, dtype = model_device_dtype(model)
    size = input_size(model)
    size = (size, size) if isinstance(size, int) else size
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 3   # greyscale models take 1
    return torch.zeros(1, channels, *size, device=device, dtype=dtype)


def feature_map_layers(model: nn.Module, example: torch.Tensor | None = None) -> list[str]:
    """Names of all modules whose output is a 4-D feature map larger than 1x1,
    in the order the forward pass runs them (one pass on ``example``, a zero
    image by default)."""
    seen: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: seen.append(name)
                if isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[-2] * o.shape[-1] > 1
                and name not in seen else None))
    try:
        with frozen_eval(model, freeze=False), torch.no_grad():   # the model lock, as every other entry point
            model(_example_input(model) if example is None else example)
    finally:
        for h in handles:
            h.remove()
    return seen


def known_target_layer(model: nn.Module) -> str | None:
    """The layer the papers and libraries use for the model families we know by their class (the course
    models' ``cam_target_layer``, torchvision's CNN families), or None: no forward pass. For other models
    the explainers choose the layer in their own forward pass on the user's input
    (``capture(model, None, example=x)``)."""
    from torchvision import models as tvm
    if getattr(model, "cam_target_layer", None):
        return str(model.cam_target_layer)
    if isinstance(model, tvm.ResNet):
        return "layer4"
    if isinstance(model, tvm.VGG):  # last ReLU before the final pooling (14x14 at 224)
        relus = [i for i, m in enumerate(model.features) if isinstance(m, nn.ReLU)]
        return f"features.{relus[-1]}"
    if isinstance(model, tvm.DenseNet):
        return "features.norm5"
    if isinstance(model, (tvm.EfficientNet, tvm.MobileNetV2, tvm.MobileNetV3, tvm.ConvNeXt)):
        return f"features.{len(model.features) - 1}"
    from .vit_models import vit_target_layer
    return vit_target_layer(model)   # a ViT of torchvision, timm or Hugging Face: its last block's first norm


def default_target_layer(model: nn.Module, example: torch.Tensor | None = None) -> str:
    """A sensible Grad-CAM layer: :func:`known_target_layer` for the families we know; for other models
    the last module whose output is a feature map of ``example`` (the inputs you will explain; a zero
    image at the model's declared input size, or 224, if not given), in any layout the adapters read."""
    known = known_target_layer(model)
    if known is not None:
        return known
    x = _example_input(model) if example is None else example
    with capture(model, None, example=x) as cap, torch.no_grad():
        model(x)
        return cap.choose()


def candidate_layers(model: nn.Module, example: torch.Tensor | None = None,
                     depth: int | None = None) -> list[str]:
    """Layers worth offering on a slider: modules with 4-D outputs at the same
    nesting depth as :func:`default_target_layer` (``layer1``…``layer4`` for a
    ResNet, ``features.0``… for VGG), in forward order."""
    if depth is None:
        default = default_target_layer(model, example)
        depth = default.count(".") + 1 if default else 1
    return [n for n in feature_map_layers(model, example) if n.count(".") + 1 == depth]


def linear_head(model: nn.Module, head: LayerRef | None = None) -> nn.Linear:
    """The model's final linear layer (the last ``nn.Linear``), or ``head``."""
    module: nn.Module | None
    if head is not None:
        module = resolve_layer(model, head)[1]
    else:
        module = next((m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
    if not isinstance(module, nn.Linear):
        raise NotAGAPModelError(f"{type(model).__name__} has no linear head; CAM needs "
                                "features -> global average pooling -> linear. Use grad_cam instead.")
    return module


def gap_head(model: nn.Module, name: str, acts: torch.Tensor, logits: torch.Tensor | None,
             head: LayerRef | None = None) -> torch.Tensor:
    """The weights W of the linear head when the model's logits are ``W · GAP(A) + b`` with ``A`` (B, C, h, w)
    the output of layer ``name`` (what CAM needs), else :class:`NotAGAPModelError` saying why not."""
    fc = linear_head(model, head)
    if fc.in_features != acts.shape[1]:
        raise NotAGAPModelError(
            f"CAM needs logits = W · GAP(A) + b, but layer {name!r} has {acts.shape[1]} channels and the "
            f"linear head takes {fc.in_features} inputs: this model has no GAP + linear head on this layer "
            "(a flatten + fully connected head, say). Use grad_cam, or give the model a GAP head "
            "(cam_helpers.models.gap_surgery, notebook 01).")
    weight = fc.weight.detach()
    predicted = acts.mean((2, 3)) @ weight.T + (0 if fc.bias is None else fc.bias.detach())
    if logits is None or predicted.shape != logits.shape or \
            (predicted - logits.detach()).abs().max() > 1e-3 * (1 + logits.detach().abs().max()):
        raise NotAGAPModelError(
            f"CAM needs logits = W · GAP(A) + b with A the output of {name!r}, but the model's logits "
            "differ from that: something other than global average pooling sits between the layer and "
            "the head. Use grad_cam, or the layer right before the pooling.")
    return weight
