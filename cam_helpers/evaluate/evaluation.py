"""Evaluation over a dataset, in one process or many.

:func:`evaluate` runs the metrics of :mod:`cam_helpers.metrics` over a
``DataLoader``; under ``torchrun`` each process takes its :func:`shard` and
the sums are added across processes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset
from tqdm.auto import tqdm

from ..core import CAMResult
from ..hooks import model_device_dtype
from .metrics import confidence_change, energy_pointing_game, insertion_deletion, iou, pointing_game

METRICS = ("pointing_game", "energy", "iou", "insertion_auc", "deletion_auc", "average_drop", "increase")


def shard(dataset: Any, rank: int | None = None, world_size: int | None = None) -> Subset:
    """This process's share of ``dataset``: items ``rank, rank + world, ...``.
    Unlike ``DistributedSampler`` nothing is padded or repeated, so the
    processes together see every item exactly once."""
    import torch.distributed as dist
    if rank is None or world_size is None:
        on = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if on else 0
        world_size = dist.get_world_size() if on else 1
    return torch.utils.data.Subset(dataset, range(rank, len(dataset), world_size))


def evaluate(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
             explain: Callable[..., CAMResult], metrics: Sequence[str] = METRICS[:3],
             tolerance: int = 0, step: int | None = None, progress: bool = True) -> dict[str, float]:
    """Mean of each metric over every ``(x, label, mask)`` batch of ``loader``,
    explaining each image's label with ``explain(model, x, targets=labels)``.

    Under ``torchrun`` (``torch.distributed`` initialised; gloo on the CPU,
    nccl on GPUs) give each process its :func:`shard` of the dataset: the
    per-process sums are added across processes, and every process returns
    the same means as one process over the whole dataset would."""
    import torch.distributed as dist
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise KeyError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
    device = model_device_dtype(model)[0]
    sums = torch.zeros(len(metrics) + 1, dtype=torch.float64, device=device)
    for x, labels, masks in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        x, labels, masks = x.to(device), labels.to(device), masks.to(device)
        maps = explain(model, x, targets=labels).map
        values = {}
        if "pointing_game" in metrics:
            values["pointing_game"] = pointing_game(maps, masks, tolerance)
        if "energy" in metrics:
            values["energy"] = energy_pointing_game(maps, masks)
        if "iou" in metrics:
            values["iou"] = iou(maps, masks)
        if {"insertion_auc", "deletion_auc"} & set(metrics):
            values.update(insertion_deletion(model, x, maps, labels, step))
        if {"average_drop", "increase"} & set(metrics):
            values["average_drop"], values["increase"] = confidence_change(model, x, maps, labels)
        for i, name in enumerate(metrics):
            sums[i] += values[name].double().sum()
        sums[-1] += len(x)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    means = {name: float(sums[i] / sums[-1]) for i, name in enumerate(metrics)}
    return {**means, "images": int(sums[-1])}
