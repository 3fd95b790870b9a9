"""Speed helpers shared by the methods and the metrics: batch sizes within a
memory budget, channels-last weights, and a batch-norm-folded copy of a
model for many inference passes; and the two measures a cost table needs
(:func:`median_time`, :class:`count_images`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .core import check_positive, logits_of
from .hooks import frozen_eval

# Input values per forward batch when batch_size is not given: on a CPU the cost
# per image grows with the batch once activations outgrow the caches (for a
# ResNet-50 at 224x224 on 2 cores, ~45 ms an image at 8, ~80 ms at 64).
BATCH_BUDGET = 8 * 3 * 224 * 224
ABLATION_BATCH = 64   # Ablation-CAM: ablated copies of one image's feature map per pass through the layers after it


def auto_batch(x: torch.Tensor, batch_size: int | None) -> int:
    """``batch_size``, or as many images as :data:`BATCH_BUDGET` input values allow."""
    check_positive(batch_size=batch_size)
    return int(batch_size) if batch_size else max(1, BATCH_BUDGET // x[0].numel())


class channels_last:
    """Context manager: the model's 4-D weights in channels-last layout for the
    duration (oneDNN and cuDNN convolutions run faster on it: for a ResNet-50
    on 2 CPU cores, ~28 ms an image instead of ~35), and the original tensors
    put back on exit with their values (so training inside the context keeps
    its updates; for inference they come back bit for bit). Results change only
    by float rounding."""

    def __init__(self, model: nn.Module, enabled: bool = True):
        self.saved = [(p, p.data) for p in model.parameters()
                      if enabled and p.dim() == 4 and not p.is_contiguous(memory_format=torch.channels_last)]

    def __enter__(self) -> channels_last:
        for p, data in self.saved:
            p.data = data.contiguous(memory_format=torch.channels_last)
        return self

    def __exit__(self, *exc: object) -> None:
        for p, data in self.saved:
            if p.data is not data:
                data.copy_(p.data)
                p.data = data


@contextmanager
def fast_inference(model: nn.Module, enabled: bool = True, check: torch.Tensor | None = None,
                   expected: torch.Tensor | None = None) -> Iterator[nn.Module]:
    """Context manager yielding a module for many batched inference passes on
    perturbed inputs (insertion / deletion curves): the model in eval mode with
    its batch norms folded into the convolutions before them (a ``torch.fx``
    copy, the original is not touched) and its weights in channels-last layout.
    In the benchmark's curves section on 2 CPU cores it makes the same batches
    1.5x (ResNet-18) and 2.6x (``shapes_cnn``) faster. The logits change by
    float rounding only.

    With ``check`` (a batch of inputs), the copy's logits are compared with the
    model's on it first (``expected``: the model's logits on ``check`` when the
    caller has them already, which saves that pass). The model itself (channels-last for the duration) is
    used where the copy cannot be made (a model ``torch.fx`` cannot trace) or
    is not worth it (no batch norm), where the check fails, and with
    ``enabled=False``.
    """
    with frozen_eval(model), torch.no_grad():
        fused = _folded_copy(model, check, expected) if enabled else None
        if fused is not None:
            yield fused
            return
        with channels_last(model, enabled):
            yield model


def _folded_copy(model: nn.Module, check: torch.Tensor | None, expected: torch.Tensor | None) -> nn.Module | None:
    from torch.fx.experimental.optimization import fuse
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return None
    try:
        fused = fuse(model).to(memory_format=torch.channels_last)  # fuse copies the model
        if check is not None:
            want = logits_of(model(check)) if expected is None else expected
            got = logits_of(fused(check))
            if got is None or want is None:
                return None
            if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
                return None
    except Exception:  # not traceable by torch.fx: use the model as it is
        return None
    return fused


def median_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls (the first
    call's allocations and caches are not the cost being measured)."""
    check_positive(repeats=repeats)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


class count_images:
    """Context manager counting the images that go through ``model``'s forward pass (a forward pre-hook on
    ``model``, removed on exit, also when the body raises)::

        with count_images(model) as seen:
            ch.score_cam(model, x)
        seen.images / len(x)    # forward passes per image
    """

    def __init__(self, model: nn.Module):
        self.model, self.images = model, 0

    def _count(self, module: nn.Module, inputs: tuple[Any, ...]) -> None:
        self.images += int(inputs[0].shape[0]) if inputs and isinstance(inputs[0], torch.Tensor) else 1

    def __enter__(self) -> count_images:
        self._handle = self.model.register_forward_pre_hook(self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()
