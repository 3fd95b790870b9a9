"""Reading a Vision Transformer (torchvision's, timm's or Hugging Face's, found
by :mod:`cam_helpers.vit_models`): its geometry (blocks, patch grid, tokens as
feature maps), every block's attention, and rolling the attention out through
the blocks.

How the attention is read without editing torchvision
-----------------------------------------------------
(timm's and Hugging Face's: see :mod:`cam_helpers.vit_models`.) torchvision's encoder blocks call ``nn.MultiheadAttention`` with
``need_weights=False``, and in eval mode under ``torch.no_grad()`` PyTorch then
takes a fused kernel that never forms the attention matrix. A forward hook on
each attention module recomputes the probabilities from the module's own input
and weights, ``softmax(q k^T / sqrt(d))`` per head (:func:`attention_probs`).

The weights ``nn.MultiheadAttention`` returns when asked are a *view* made
after the output was computed: nothing downstream uses them, so gradients with
respect to them are ``None``. For gradient methods the hook therefore also
*replays* the attention, ``out_proj(A @ v)``, and hands that output on in place
of the module's: the captured ``A`` is then the tensor the rest of the network
depends on, and ``d logit / d A`` is exact (``differentiable=True``).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core import CAMResult, Targets, check_input, check_logits
from ..adapters import Layout, as_feature_map
from ..hooks import HookSession, LayerNotFoundError, frozen_eval
from ..registry import get
from ..vit_models import probabilities_hook, read, unfused

# --------------------------------------------------------------------------
# The model's geometry
# --------------------------------------------------------------------------

def blocks(model: nn.Module) -> list[nn.Module]:
    """The encoder blocks of a torchvision, timm or Hugging Face ViT (:func:`~cam_helpers.vit_models.read`)."""
    return read(model).blocks


def block_names(model: nn.Module) -> list[str]:
    """Dotted names of the encoder blocks, e.g. ``encoder.layers.encoder_layer_0`` or ``blocks.0``."""
    return read(model).names


def block_index(model: nn.Module, layer: int | str | None) -> int:
    names = block_names(model)
    if layer is None:
        return len(names) - 1
    if isinstance(layer, str):
        if layer not in names:
            raise LayerNotFoundError(f"{layer!r} is not an encoder block; blocks: {names[0]} ... {names[-1]} "
                                     f"(or give an index 0..{len(names) - 1})")
        return names.index(layer)
    if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
        raise TypeError(f"layer is a block index or name, got {layer!r} ({type(layer).__name__})")
    layer = int(layer)
    if not -len(names) <= layer < len(names):
        raise IndexError(f"the model has {len(names)} blocks; layer {layer} is out of range")
    return layer % len(names)


def grid_shape(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """The patch grid ``(H // p, W // p)`` of batch ``x`` for ``model``."""
    arch = read(model)
    h, w = x.shape[-2:]
    grid = arch.grid(x)
    if arch.family == "torchvision":
        from torchvision.models import VisionTransformer
        fixed = getattr(type(model), "_process_input", None) is VisionTransformer._process_input   # torchvision's own: one size only
        if fixed and (h, w) != (model.image_size, model.image_size):
            raise ValueError(f"this VisionTransformer takes {model.image_size}x{model.image_size} images; the "
                             f"input is {h}x{w}. Resize it (e.g. imagenet_transform) or interpolate the position "
                             "embeddings.")
    return grid


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int], prefix: int = 1) -> torch.Tensor:
    """(B, prefix + gh*gw, D) tokens -> (B, D, gh, gw) feature maps of the patch
    tokens (the ``prefix`` tokens first, CLS and the like, are dropped): what Grad-CAM needs."""
    t = tokens.shape[1]
    if t != prefix + grid[0] * grid[1]:
        raise ValueError(f"{t} tokens do not make {prefix} prefix token(s) plus a {grid[0]}x{grid[1]} grid")
    return as_feature_map(tokens, Layout("tokens", grid, prefix))


# --------------------------------------------------------------------------
# Attention capture
# --------------------------------------------------------------------------

def _split_heads(module: nn.MultiheadAttention, t: torch.Tensor) -> torch.Tensor:
    b, n, d = t.shape
    return t.reshape(b, n, module.num_heads, d // module.num_heads).transpose(1, 2)


def _projections(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
                 ) -> list[torch.Tensor]:
    if not module._qkv_same_embed_dim:
        raise NotImplementedError("attention with separate q/k/v dimensions is not supported")
    w, b = module.in_proj_weight, module.in_proj_bias
    return [F.linear(t, wi, None if b is None else bi)
            for t, wi, bi in zip((query, key, value), w.chunk(3), (b.chunk(3) if b is not None else [None] * 3))]


def attention_probs(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """Per-head attention probabilities ``softmax(q k^T / sqrt(d_head))`` of a
    batch-first ``nn.MultiheadAttention``: (B, heads, queries, keys)."""
    key = query if key is None else key
    q, k, _ = _projections(module, query, key, key)
    q, k = _split_heads(module, q), _split_heads(module, k)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


def _attend(module: nn.MultiheadAttention, probs: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The module's output replayed from ``probs``: ``out_proj(merge_heads(A @ v))``."""
    _, _, v = _projections(module, value, value, value)
    out = probs @ _split_heads(module, v)
    b, h, n, dh = out.shape
    return module.out_proj(out.transpose(1, 2).reshape(b, n, h * dh))


def _check_no_masks(kwargs: dict) -> None:
    if kwargs.get("attn_mask") is not None or kwargs.get("key_padding_mask") is not None:
        raise NotImplementedError("attention masks are not supported (torchvision's ViTs use none)")


class _Override:
    """Shadow ``module.forward`` with ``fn`` on this instance only, until
    ``remove()`` (the class, and so torchvision, is untouched)."""

    def __init__(self, module: nn.Module, fn: Callable[..., Any]) -> None:
        self.module, self.saved = module, module.__dict__.get("forward")
        module.forward = fn

    def remove(self) -> None:
        if self.saved is None:
            del self.module.forward
        else:
            self.module.forward = self.saved


class capture_attention(HookSession):
    """Context manager recording every block's attention probabilities.

    ``attentions``: list, one (B, heads, T, T) tensor per block, in order.
    With ``differentiable=True`` they sit on the autograd path (see the module
    docstring), and ``tokens`` and ``normed`` hold each block's output and the
    output of its first LayerNorm, also on the path.
    The model is put in eval mode with frozen parameters for the duration and
    restored afterwards; every hook is removed, also on error.
    """

    def __init__(self, model: nn.Module, differentiable: bool = False):
        self.model = model
        self.arch = read(model)
        self.blocks = self.arch.blocks
        self.differentiable = differentiable
        self.attentions: list[torch.Tensor] = []
        self.tokens: list[torch.Tensor] = []
        self.normed: list[torch.Tensor] = []
        self._handles: list = []

    def _attention_hook(self, module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any],
                        output: Any) -> None:
        """Observe: recompute the probabilities from the module's input; the
        module's own (possibly fused) output goes on unchanged."""
        query, key = (list(args) + [kwargs.get(k) for k in ("query", "key")[len(args):]])[:2]
        _check_no_masks(kwargs)
        if not module.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
        self.attentions.append(attention_probs(module, query, key).detach())

    def _replayed_forward(self, module: nn.MultiheadAttention
                          ) -> Callable[..., tuple[torch.Tensor, torch.Tensor | None]]:
        """Replace: the module's forward computed explicitly from the captured
        probabilities, so that the output depends on them (and only once)."""
        def forward(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                    attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                    is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
            _check_no_masks({"key_padding_mask": key_padding_mask, "attn_mask": attn_mask})
            if not module.batch_first:
                query, key, value = (t.transpose(0, 1) for t in (query, key, value))
            probs = attention_probs(module, query, key)
            self.attentions.append(probs)
            out = _attend(module, probs, value)
            if not module.batch_first:
                out = out.transpose(0, 1)
            weights = (probs.mean(1) if average_attn_weights else probs) if need_weights else None
            return out, weights
        return forward

    @staticmethod
    def _entry_pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
                        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Parameters are frozen and the image needs no gradient: start the
        # graph at the tokens entering the first block.
        if args:
            return (args[0].detach().requires_grad_(True),) + tuple(args[1:]), kwargs
        key = next(iter(kwargs))
        return args, {**kwargs, key: kwargs[key].detach().requires_grad_(True)}

    def _record(self, probs: torch.Tensor) -> None:
        self.attentions.append(probs if self.differentiable else probs.detach())

    def __enter__(self) -> capture_attention:
        grad = [torch.enable_grad()] if self.differentiable else []
        self._open(frozen_eval(self.model), *grad, install=self._install)
        return self

    def _install(self) -> None:
        arch = self.arch
        if self.differentiable:
            self._handles.append(arch.blocks[0].register_forward_pre_hook(self._entry_pre_hook, with_kwargs=True))
            for block, norm in zip(arch.blocks, arch.norms):
                self._handles.append(block.register_forward_hook(
                    lambda m, a, out: self.tokens.append(out[0] if isinstance(out, tuple) else out)))
                self._handles.append(norm.register_forward_hook(lambda m, a, out: self.normed.append(out)))
        if arch.family != "torchvision":
            self._handles += unfused(arch)
            self._handles += probabilities_hook(arch, self._record)
            return
        for attention in arch.attention:
            if self.differentiable:
                self._handles.append(_Override(attention, self._replayed_forward(attention)))
            else:
                self._handles.append(attention.register_forward_hook(self._attention_hook, with_kwargs=True))


def attentions(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every block's attention probabilities (B, heads, T, T) and the logits,
    from one forward pass without autograd (PyTorch's fused kernel runs as usual)."""
    x = check_input(model, x)
    with capture_attention(model) as cap, torch.no_grad():
        logits = check_logits(model(x), model)
    return cap.attentions, logits


def on_tokens(method: str, model: nn.Module, x: torch.Tensor, layer: int | str | None = None,
              targets: Targets = None, **options: Any) -> CAMResult:
    """A CNN method at block ``layer``'s first LayerNorm, through the CNN methods' own core (one hook, the
    backward pass stopped there, attention left to its fused kernel): the same map as
    :meth:`ViTExplainer.token_cam`, which keeps every block's attention for the other methods."""
    arch, i = read(model), block_index(model, layer)
    grid_shape(model, x)   # the ViT's own size check, with its clear message
    return get(method, "cam").fn(model, x, f"{arch.names[i]}.{arch.norm_label}", targets, **options)


HEAD_FUSIONS = ("mean", "max", "min")


# --------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------

def fuse_heads(attention: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """(B, heads, T, T) -> (B, T, T) by the mean, max or min over heads."""
    if head_fusion == "mean":
        return attention.mean(1)
    if head_fusion == "max":
        return attention.amax(1)
    if head_fusion == "min":
        return attention.amin(1)
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def discard_lowest(fused: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the lowest ``ratio`` of each image's (T, T) entries, except the
    CLS token's own entry [0, 0], as the authors' reference code does: it
    picks the ``int(T * T * ratio)`` lowest entries and then spares [0, 0]
    if it is among them (so one entry fewer is zeroed then). Per image."""
    if not 0 <= ratio < 1:
        raise ValueError(f"discard_ratio must be in [0, 1), got {ratio}")
    b, t, _ = fused.shape
    k = int(t * t * ratio)
    if k == 0:
        return fused
    flat = fused.flatten(1)
    drop = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, flat.topk(k, dim=1, largest=False).indices, True)
    drop[:, 0] = False   # the CLS token's self-attention is never zeroed
    return flat.masked_fill(drop, 0.0).view(b, t, t)


def rollout_matrix(attentions: Sequence[torch.Tensor], head_fusion: str = "mean",
                   discard_ratio: float = 0.0) -> torch.Tensor:
    r"""Attention rollout (Abnar & Zuidema 2020) over blocks in order:

    .. math:: \hat A_l = \mathrm{rownorm}\big(\tfrac12(\mathrm{fuse}_h A_l + I)\big), \qquad
              R = \hat A_L \cdots \hat A_2 \hat A_1

    ``fuse`` is the mean, max or min over heads; ``discard_ratio`` zeroes the
    lowest entries first (:func:`discard_lowest`). Every row of each
    :math:`\hat A_l`, and so of R, sums to 1. Returns R: (B, T, T).
    """
    first = attentions[0]
    eye = torch.eye(first.shape[-1], device=first.device, dtype=first.dtype)
    result = eye.expand(first.shape[0], -1, -1)
    for attention in attentions:
        fused = discard_lowest(fuse_heads(attention, head_fusion), discard_ratio)
        a = (fused + eye) / 2
        a = a / a.sum(-1, keepdim=True)
        result = a @ result
    return result


def gradient_rollout_matrix(attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]
                            ) -> torch.Tensor:
    r"""Gradient-weighted rollout (Chefer, Gur & Wolf 2021, "Generic
    Attention-model Explainability", eqs. 5-6 for self-attention):

    .. math:: \bar A_l = \mathbb{E}_h\big[(\nabla A_l \odot A_l)^+\big], \qquad R \leftarrow R + \bar A_l R,
              \quad R_0 = I

    Returns R: (B, T, T); the map is the CLS row over the patch tokens.
    """
    first = attentions[0]
    result = torch.eye(first.shape[-1], device=first.device, dtype=first.dtype).expand(first.shape[0], -1, -1)
    for a, g in zip(attentions, gradients):
        weighted = (g * a).clamp_min(0).mean(1)
        result = result + weighted @ result
    return result
