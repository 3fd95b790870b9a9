"""CAMs whose channel weights come from forward passes, not gradients:
Score-CAM (mask the input with each channel) and Ablation-CAM (switch each
channel off). Both are reached through :class:`cam_helpers.cams.Explainer`
and the functions ``score_cam`` / ``ablation_cam`` there.

They cost one forward pass per channel, so: passes are batched
(``batch_size``, by default sized by :data:`cam_helpers.speed.BATCH_BUDGET`, bounds the memory), run without autograd, show a progress bar
(``progress``), and skip channels that are constant over the image. A constant
post-ReLU channel adds one number to every pixel of the map, which the
per-image min-max normalisation removes; an all-zero channel adds nothing at
all. (With ``skip_constant=False`` every channel is scored.)
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..core import check_positive, classify, target_scores
from ..hooks import frozen_eval
from ..speed import ABLATION_BATCH, auto_batch, channels_last


def _channels(acts: torch.Tensor, skip_constant: bool, top_k: int | None) -> torch.Tensor:
    """(B, K) bool: which channels of each image to score."""
    flat = acts.flatten(2)
    keep = flat.amax(2) > flat.amin(2) if skip_constant else torch.ones(flat.shape[:2], dtype=torch.bool,
                                                                          device=acts.device)
    if top_k is not None and top_k < acts.shape[1]:
        # "Faster Score-CAM": only the channels with the largest spatial variance.
        var = flat.var(2).masked_fill(~keep, -1)
        top = torch.zeros_like(keep)
        top.scatter_(1, var.topk(top_k, dim=1).indices, True)
        keep &= top
    return keep


def _bar(total: int, progress: bool | None, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress if progress is not None else total < 512,
                leave=False)


# How Score-CAM scores a masked image. "paper": the class probability
# (Algorithm 1 and the authors' code), masks upsampled with
# align_corners=False. "pytorch-grad-cam": what its ScoreCAM does (the oracle
# tests and the benchmark use it): the class logits softmax-normalised across
# channels, masks upsampled as UpsamplingBilinear2d does (align_corners=True)
# and 1e-8 added to each mask's span.
SCORE_CAM_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"weighting": "probability", "align_corners": False, "eps": 0.0},
    "pytorch-grad-cam": {"weighting": "channel_softmax", "align_corners": True, "eps": 1e-8},
}


def score_weights(model: nn.Module, x: torch.Tensor, acts: torch.Tensor, targets: torch.Tensor, *,
                  batch_size: int | None = None, top_k: int | None = None, like: str = "paper",
                  skip_constant: bool = True, fast_layout: bool = True,
                  progress: bool | None = None) -> torch.Tensor:
    r"""Score-CAM channel weights (Wang et al. 2020), (B, K).

    Each channel is upsampled to the input size and scaled to [0, 1]
    (:math:`H_k`); the input masked by it is scored:

    - ``like="paper"`` (Algorithm 1 and its authors' code):
      :math:`w_k = \mathrm{softmax}(f(X \odot H_k))_c`, the class
      probability of the masked image.
    - ``like="pytorch-grad-cam"``: the class *logits* of the masked images,
      softmax-normalised across channels, with that library's upsampling and
      epsilon (:data:`SCORE_CAM_PRESETS`).

    Skipped channels get weight 0. ``fast_layout`` runs the masked passes in
    channels-last memory layout (:class:`channels_last`).
    """
    if like not in SCORE_CAM_PRESETS:
        raise ValueError(f"like is one of {tuple(SCORE_CAM_PRESETS)}, got {like!r}")
    preset = SCORE_CAM_PRESETS[like]
    weighting, align_corners, eps = str(preset["weighting"]), bool(preset["align_corners"]), float(preset["eps"])
    keep = _channels(acts, skip_constant, top_k)
    check_positive(top_k=top_k)
    top_k = None if top_k is None else int(top_k)
    batch_size = auto_batch(x, batch_size)
    scores = torch.full(acts.shape[:2], float("-inf") if weighting == "channel_softmax" else 0.0,
                        device=acts.device, dtype=acts.dtype)
    size = x.shape[-2:]
    bar = _bar(int(keep.sum()), progress, "Score-CAM")
    layout = torch.channels_last if fast_layout else torch.contiguous_format
    with frozen_eval(model), channels_last(model, fast_layout), torch.inference_mode():
        for b in range(x.shape[0]):
            for chunk in keep[b].nonzero()[:, 0].split(batch_size):
                up = F.interpolate(acts[b, chunk][:, None], size=size, mode="bilinear",
                                   align_corners=align_corners)[:, 0]
                lo = up.flatten(1).amin(1)[:, None, None]
                hi = up.flatten(1).amax(1)[:, None, None]
                masks = (up - lo) / (hi - lo + eps + (hi == lo))
                out = classify(model, (x[b:b + 1] * masks[:, None]).contiguous(memory_format=layout))
                scores[b, chunk] = (out.softmax(1) if weighting == "probability" else out)[:, targets[b]]
                bar.update(len(chunk))
    bar.close()
    return scores.softmax(1) if weighting == "channel_softmax" else scores


class _Replace:
    """Forward hook that replaces a layer's output with given activations."""

    def __init__(self, acts: torch.Tensor):
        self.acts = acts

    def __call__(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
        return self.acts


def head_logits(model: nn.Module, layer: nn.Module, x1: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    """Logits of the model when ``layer`` outputs ``acts`` (n, K, h, w) for
    the single image ``x1`` (1, C, H, W). The layers before ``layer`` run once
    on the one image, and the batch of n grows at the layer (broadcasting
    carries skip connections from before it); where it cannot (a concatenation
    with an earlier tensor), the image is repeated n times instead."""
    handle = layer.register_forward_hook(_Replace(acts))
    try:
        try:
            out = classify(model, x1)
            if out.shape[0] == acts.shape[0]:
                return out
        except RuntimeError:
            pass
        return classify(model, x1.expand(acts.shape[0], *x1.shape[1:]).contiguous())
    finally:
        handle.remove()


def ablation_weights(model: nn.Module, layer: nn.Module, x: torch.Tensor, acts: torch.Tensor,
                     logits: torch.Tensor, targets: torch.Tensor, *, batch_size: int = ABLATION_BATCH,
                     skip_constant: bool = True, progress: bool | None = None) -> torch.Tensor:
    r"""Ablation-CAM channel weights (Desai & Ramaswamy 2020, eq. 4), (B, K):
    the relative drop of the class score when channel k is set to zero,

    .. math:: w_k^c = \frac{y^c - y^c_k}{y^c}.

    Where :math:`y^c = 0` the ratio is undefined (pytorch-grad-cam returns
    NaN); we use the drop :math:`y^c - y^c_k` itself, the sign the ratio has
    as :math:`y^c \to 0^+`.

    Skipped channels: an all-zero channel ablates to itself (weight 0); a
    constant one only shifts the map (see the module docstring).
    """
    check_positive(batch_size=batch_size)
    batch_size = int(batch_size)
    keep = _channels(acts, skip_constant, None)
    y = target_scores(logits, targets)
    ablated = y[:, None].expand(acts.shape[:2]).clone()
    bar = _bar(int(keep.sum()), progress, "Ablation-CAM")
    with frozen_eval(model), torch.no_grad():
        for b in range(x.shape[0]):
            for chunk in keep[b].nonzero()[:, 0].split(batch_size):
                batch = acts[b].expand(len(chunk), *acts.shape[1:]).clone()
                batch[torch.arange(len(chunk)), chunk] = 0
                ablated[b, chunk] = head_logits(model, layer, x[b:b + 1], batch)[:, targets[b]]
                bar.update(len(chunk))
    bar.close()
    y = y[:, None]
    return (y - ablated) / torch.where(y == 0, torch.ones_like(y), y)
