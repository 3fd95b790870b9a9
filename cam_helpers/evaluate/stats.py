"""Statistics for comparing explanations: Spearman rank correlation
(batched, on the device), the percentile bootstrap interval of a mean, and
the paired difference of two methods scored on the same images, each
interval an :class:`Interval` that formats itself and says where a value
lies. Re-exported by :mod:`cam_helpers.metrics`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


def _average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 along each row of (B, n), ties sharing their average
    rank; batched, on ``v``'s device."""
    b, n = v.shape
    dtype = torch.float32 if v.device.type == "mps" else torch.float64
    values, order = v.sort(1)
    start = torch.ones_like(values, dtype=torch.bool)
    start[:, 1:] = values[:, 1:] != values[:, :-1]
    group = start.long().cumsum(1) - 1 + torch.arange(b, device=v.device)[:, None] * n   # unique over rows
    pos = torch.arange(n, device=v.device, dtype=dtype).expand(b, n).flatten()
    first = torch.zeros(b * n, device=v.device, dtype=dtype).scatter_reduce(0, group.flatten(), pos, "amin",
                                                                              include_self=False)
    last = torch.zeros(b * n, device=v.device, dtype=dtype).scatter_reduce(0, group.flatten(), pos, "amax",
                                                                             include_self=False)
    average = ((first + last) / 2)[group]
    return torch.empty_like(average).scatter_(1, order, average)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between each pair of maps (B, ...) -> (B,),
    with tied values (the zeros a ReLU leaves) given their average rank.
    A constant map has no ranking: its correlation is 0. Batched, on the
    maps' device."""
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes: {tuple(a.shape)} and {tuple(b.shape)}")
    rx, ry = _average_ranks(a.detach().flatten(1)), _average_ranks(b.detach().to(a.device).flatten(1))
    rx, ry = rx - rx.mean(1, keepdim=True), ry - ry.mean(1, keepdim=True)
    denom = rx.norm(dim=1) * ry.norm(dim=1)
    rho = torch.where(denom > 0, (rx * ry).sum(1) / denom.clamp_min(1e-300), torch.zeros_like(denom))
    return rho.float()


class Interval(NamedTuple):
    """A mean and its confidence interval, as :func:`bootstrap_ci` and
    :func:`paired_difference` return them. It unpacks like the tuple
    ``(mean, low, high)``, formats all three with one number spec
    (``f"{iv:+.3f}"`` gives ``+0.076 [+0.057, +0.095]``; plain ``str`` uses
    ``.3f``; a width such as ``f"{iv:>24}"`` aligns the whole) and says where
    a value lies: :meth:`above`, :meth:`below`, :meth:`contains`,
    :meth:`verdict`."""

    mean: float
    low: float
    high: float

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in "eEfFgG%":   # a number format: for each of the three
            return f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"
        text = f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"
        return format(text, spec)             # an alignment and width: for the whole (">24")

    def __str__(self) -> str:
        return format(self)

    def above(self, value: float = 0.0) -> bool:
        """The whole interval lies above ``value``."""
        return self.low > value

    def below(self, value: float = 0.0) -> bool:
        """The whole interval lies below ``value``."""
        return self.high < value

    def contains(self, value: float = 0.0) -> bool:
        """``value`` lies inside the interval: the data cannot tell it from the mean."""
        return self.low <= value <= self.high

    def verdict(self, value: float = 0.0) -> str:
        """``"higher"``, ``"lower"`` or ``"indistinguishable"`` (from ``value``)."""
        return "higher" if self.above(value) else "lower" if self.below(value) else "indistinguishable"


def bootstrap_ci(scores: torch.Tensor, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> Interval:
    """The mean of per-image ``scores`` (N,) and its percentile bootstrap
    confidence interval (Efron & Tibshirani 1993, ch. 13), as an
    :class:`Interval` ``(mean, low, high)``. To rank two methods measured on
    the same images, use :func:`paired_difference`: it is narrower than two
    separate intervals, which can overlap while the paired one excludes 0."""
    v = torch.as_tensor(scores, dtype=torch.float64).flatten().cpu()
    if v.numel() == 0:
        raise ValueError("no scores to bootstrap")
    if not torch.isfinite(v).all():
        raise ValueError("some scores are NaN or infinite; drop them (and say so) before bootstrapping")
    idx = torch.randint(0, v.numel(), (resamples, v.numel()), generator=torch.Generator().manual_seed(seed))
    means = v[idx].mean(1)
    alpha = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return Interval(float(v.mean()), low, high)


def paired_difference(a: torch.Tensor, b: torch.Tensor, level: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> Interval:
    """Mean of ``a - b`` over the same images (per-image scores, (N,) each)
    and its bootstrap interval: ``a`` beats ``b`` beyond the noise where
    ``.above()``; they are indistinguishable where ``.contains(0)``."""
    a, b = torch.as_tensor(a).flatten(), torch.as_tensor(b).flatten()
    if a.shape != b.shape:
        raise ValueError(f"paired scores need one value per image on both sides, got {a.numel()} and {b.numel()}")
    return bootstrap_ci(a.double().cpu() - b.double().cpu(), level, resamples, seed)
