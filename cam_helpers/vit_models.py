"""Where a Vision Transformer keeps what the attention methods read: torchvision's, timm's and Hugging Face's.

:func:`read` finds, for a torchvision ``VisionTransformer``, a timm ``VisionTransformer`` (ViT, DeiT, DeiT
distilled, register tokens) or a Hugging Face ViT, DeiT or DINOv2 classifier, its encoder blocks, the module
of each block whose attention probabilities are read, each block's first LayerNorm (where Grad-CAM on tokens
reads), the patch size, whether a CLS token comes first, and the head that turns a token sequence leaving the
last block into logits (for LeGrad). Anything else gets a ``TypeError`` that says what works instead.

How the probabilities are read, per family (nothing is left changed on the model afterwards):

- torchvision: ``nn.MultiheadAttention`` takes a fused kernel; a hook recomputes ``softmax(q k^T / sqrt(d))``
  from the module's input, and for gradients replays its output from them (:mod:`cam_helpers.vit_attention`).
- timm: ``Attention.fused_attn`` is switched off for the duration, and the output of its ``attn_drop`` (an
  identity in eval mode) is the probability tensor that ``attn @ v`` then uses.
- Hugging Face: the attention implementation is set to ``"eager"`` for the duration, which returns the
  probability tensor it multiplies with the values as the attention module's second output.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

HeadFn = Callable[[torch.Tensor], torch.Tensor]

# The CNN rules that run on a block's tokens viewed as a feature map (cam_helpers.vit registers them).
TOKEN_METHODS = ("grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "hires_cam", "score_cam", "eigen_cam",
                 "eigen_grad_cam")


@dataclass(frozen=True)
class ViTArch:
    """One ViT's geometry, by family (``"torchvision"``, ``"timm"`` or ``"hf"``)."""

    family: str
    names: list[str]            # the blocks' dotted names
    blocks: list[nn.Module]
    attention: list[Any]        # per block, the module whose attention probabilities are read
    norms: list[nn.Module]      # per block, its first LayerNorm
    norm_label: str             # that LayerNorm's attribute name: "ln_1", "norm1" or "layernorm_before"
    patch: tuple[int, int]
    cls: bool                   # a CLS token comes first (rollout, attention and gradient rollout read its row)
    head: HeadFn | None         # (B, N, D) tokens leaving the last block -> logits, or None if unknown

    def need_cls(self, method: str) -> None:
        if not self.cls:
            raise TypeError(f"{method} reads the CLS token's row of the attention, and this model has no CLS "
                            "token (it pools its patch tokens); on it use a CNN rule on the tokens "
                            f"({', '.join(TOKEN_METHODS)}) or legrad")

    def need_head(self, method: str) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.head is None:
            raise TypeError(f"{method} needs the model's head on each block's tokens, and this model's head is "
                            "not one cam_helpers knows; use gradient_rollout or grad_cam")
        return self.head

    def prefix(self, attentions: list[torch.Tensor], grid: tuple[int, int]) -> int:
        """How many tokens come before the patches (CLS, distillation, registers), from the attention read."""
        if len(attentions) != len(self.blocks):
            raise RuntimeError(f"{len(attentions)} attention maps were read from {len(self.blocks)} blocks")
        tokens = attentions[0].shape[-1]
        if tokens < grid[0] * grid[1]:
            raise ValueError(f"{tokens} tokens are fewer than the {grid[0]}x{grid[1]} patches")
        return tokens - grid[0] * grid[1]

    def grid(self, x: torch.Tensor) -> tuple[int, int]:
        (h, w), (ph, pw) = x.shape[-2:], self.patch
        if h % ph or w % pw:
            raise ValueError(f"input {h}x{w} is not a whole number of {ph}x{pw} patches")
        return h // ph, w // pw


def _pair(p: int | Sequence[int]) -> tuple[int, int]:
    return (int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1]))


def _names(model: nn.Module, mods: list[nn.Module]) -> list[str]:
    index = {id(m): i for i, m in enumerate(mods)}
    names = [""] * len(mods)
    for name, m in model.named_modules():
        if id(m) in index and not names[index[id(m)]]:
            names[index[id(m)]] = name
    return names


def _torchvision(model: Any) -> ViTArch | None:   # Any: its attributes are read by name
    layers = getattr(getattr(model, "encoder", None), "layers", None)
    if layers is None or not len(layers) or not all(
            isinstance(getattr(b, "self_attention", None), nn.MultiheadAttention) for b in layers):
        return None
    blocks = list(layers)

    def head(tokens: torch.Tensor) -> torch.Tensor:
        return model.heads(model.encoder.ln(tokens)[:, 0])
    return ViTArch("torchvision", _names(model, blocks), blocks, [b.self_attention for b in blocks],
                   [b.ln_1 for b in blocks], "ln_1", _pair(model.patch_size), True, head)


def _timm(model: Any) -> ViTArch | None:
    blocks = getattr(model, "blocks", None)
    embed = getattr(model, "patch_embed", None)
    if blocks is None or embed is None or not len(blocks) or not all(
            hasattr(getattr(b, "attn", None), "fused_attn") and isinstance(getattr(b.attn, "attn_drop", None),
                                                                           nn.Dropout) and hasattr(b, "norm1")
            for b in blocks):
        return None
    blocks = list(blocks)

    def head(tokens: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.norm(tokens))
    return ViTArch("timm", _names(model, blocks), blocks, [b.attn for b in blocks], [b.norm1 for b in blocks],
                   "norm1", _pair(embed.patch_size), getattr(model, "cls_token", None) is not None, head)


def _hf_head(model: Any, base: Any) -> HeadFn | None:
    norm = getattr(base, "layernorm", None)
    if norm is None:
        return None
    if hasattr(model, "cls_classifier") and hasattr(model, "distillation_classifier"):   # DeiT with teacher
        return lambda t: (model.cls_classifier(norm(t)[:, 0]) + model.distillation_classifier(norm(t)[:, 1])) / 2
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        return None
    if classifier.in_features == 2 * norm.normalized_shape[0]:   # DINOv2: [CLS, mean of the other tokens]
        return lambda t: classifier(torch.cat([norm(t)[:, 0], norm(t)[:, 1:].mean(1)], dim=1))
    return lambda t: classifier(norm(t)[:, 0])


def _hf(model: Any) -> ViTArch | None:
    config = getattr(model, "config", None)
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    if config is None or getattr(embeddings, "cls_token", None) is None or not hasattr(config, "patch_size"):
        return None
    for m in base.modules():
        if isinstance(m, nn.ModuleList) and len(m) and all(
                hasattr(getattr(b, "attention", None), "q_proj") and
                isinstance(getattr(b, "layernorm_before", getattr(b, "norm1", None)), nn.LayerNorm) for b in m):
            blocks = list(m)
            label = "layernorm_before" if hasattr(blocks[0], "layernorm_before") else "norm1"
            return ViTArch("hf", _names(model, blocks), blocks, [b.attention for b in blocks],
                           [getattr(b, label) for b in blocks], label, _pair(config.patch_size), True,
                           _hf_head(model, base))
    return None


def read(model: nn.Module) -> ViTArch:
    """The geometry of ``model`` (see the module docstring), or a ``TypeError`` saying what works on it."""
    for reader in (_torchvision, _timm, _hf):
        arch = reader(model)
        if arch is not None:
            return arch
    raise TypeError(f"{type(model).__module__}.{type(model).__name__} is not a Vision Transformer whose attention "
                    "can be read (torchvision's VisionTransformer; timm's ViT and DeiT; Hugging Face's ViT, DeiT "
                    "and DINOv2). The attention methods (attention, rollout, gradient rollout, LeGrad) need one; "
                    "on this model (a Swin, a ConvNeXt, another transformer) use the CNN rules: cam_helpers."
                    "grad_cam and the rest read its tokens or channels-last maps as a feature map.")


def vit_target_layer(model: nn.Module) -> str | None:
    """The last block's first LayerNorm of a ViT :func:`read` knows (where Grad-CAM on tokens reads, as in
    pytorch-grad-cam's ViT example), or None for any other model."""
    for reader in (_torchvision, _timm, _hf):
        arch = reader(model)
        if arch is not None:
            return f"{arch.names[-1]}.{arch.norm_label}"
    return None


class Setattr:
    """Set ``obj.name = value`` until ``remove()`` (a hook handle, for :class:`~cam_helpers.hooks.HookSession`)."""

    def __init__(self, obj: Any, name: str, value: Any) -> None:
        self.obj, self.name, self.saved = obj, name, getattr(obj, name)
        setattr(obj, name, value)

    def remove(self) -> None:
        setattr(self.obj, self.name, self.saved)


def unfused(arch: ViTArch) -> list[Setattr]:
    """Switch timm's and Hugging Face's attention to the kernel that forms the probabilities (undone by the
    handles' ``remove``); torchvision's is read by recomputing, so nothing is switched there."""
    if arch.family == "timm":
        return [Setattr(a, "fused_attn", False) for a in arch.attention]
    if arch.family == "hf":
        configs = {id(a.config): a.config for a in arch.attention}
        return [Setattr(c, "_attn_implementation", "eager") for c in configs.values()]
    return []


def probabilities_hook(arch: ViTArch, record: Callable[[torch.Tensor], None]) -> list[RemovableHandle]:
    """Register, on every block, a hook that hands ``record`` the attention probabilities (B, heads, N, N)
    the block's output depends on (timm and Hugging Face; torchvision has its own). Returns the handles."""
    if arch.family == "timm":
        return [a.attn_drop.register_forward_hook(lambda m, args, out: record(out)) for a in arch.attention]
    return [a.register_forward_hook(lambda m, args, out: record(out[1])) for a in arch.attention]
