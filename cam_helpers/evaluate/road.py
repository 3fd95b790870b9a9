"""ROAD, RemOve And Debias (Rong et al. 2022, *A Consistent and Efficient Evaluation Strategy for Attribution
Methods*, ICML): deletion curves without the out-of-distribution objection.

A deletion curve replaces the pixels a map ranks highest with a constant or a blur. The model has never seen
images with such holes, so its confidence can fall because the image looks strange rather than because the
evidence is gone, and the hole's *shape* can leak which pixels were removed. ROAD fills the removed pixels by
**noisy linear imputation**: each removed pixel becomes the weighted mean of its eight neighbours (1/6 for the
four sides, 1/12 for the corners), solved for all removed pixels at once as one sparse linear system, plus a
little Gaussian noise so that the filled region carries no tell-tale smoothness.

- MoRF (most relevant first): remove the fraction ``f`` of pixels the map ranks highest; a faithful map makes
  the class score fall fast (low is good).
- LeRF (least relevant first): remove the lowest-ranked; the score should barely move (high is good).
- Combined (the summary pytorch-grad-cam reports): ``(mean LeRF - mean MoRF) / 2`` over the fractions, higher
  is better; it is the same whether scores or score *changes* are averaged.

As in pytorch-grad-cam's ``ROADMostRelevantFirst`` / ``ROADLeastRelevantFirst``, a pixel is removed when its
value is at or beyond the map's quantile (linear interpolation, as ``numpy.percentile``), so tied values are
removed together; their ``percentile=p`` is our fraction ``1 - p/100``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import Targets, check_input, classify, resolve_targets
from ..hooks import frozen_eval
from ..speed import auto_batch

# (dy, dx) and weight of each neighbour in the imputation (Rong et al. 2022): sides 1/6, corners 1/12.
NEIGHBOURS = [((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
              ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12)]
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def impute(image: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Noisy linear imputation of one (C, H, W) image where ``removed`` (H, W, bool) is True: each removed
    pixel ``v_p`` satisfies ``sum_q w_pq v_p = sum_q w_pq v_q`` over its neighbours ``q`` inside the image
    (known ones with their values, removed ones as unknowns), solved exactly (scipy's sparse solver), then
    ``noise`` times a standard Gaussian is added to the filled pixels."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve
    c, h, w = image.shape
    gone = removed.cpu().numpy().astype(bool)
    values = image.detach().cpu().double().numpy().reshape(c, -1)
    ys, xs = np.nonzero(gone)
    n = len(ys)
    if n == 0:
        return image.clone()
    unknown = -np.ones((h, w), dtype=np.int64)
    unknown[ys, xs] = np.arange(n)
    rows, cols, vals = [], [], []
    diagonal = np.zeros(n)
    rhs = np.zeros((n, c))
    for (dy, dx), weight in NEIGHBOURS:
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        p, qy, qx = np.nonzero(inside)[0], qy[inside], qx[inside]
        diagonal[p] += weight
        q = unknown[qy, qx]
        other = q >= 0
        rows.append(p[other])
        cols.append(q[other])
        vals.append(np.full(other.sum(), -weight))
        np.add.at(rhs, p[~other], weight * values[:, qy[~other] * w + qx[~other]].T)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diagonal)
    system = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solved = torch.as_tensor(np.asarray(spsolve(system, rhs)).reshape(n, c).T, dtype=image.dtype)
    out = image.detach().clone().reshape(c, -1)
    filled = solved.to(image.device)
    if noise:
        filled = filled + noise * torch.randn(filled.shape, generator=generator, dtype=image.dtype).to(image.device)
    out[:, torch.as_tensor(ys * w + xs, device=image.device)] = filled
    return out.reshape(c, h, w)


def removal(maps: torch.Tensor, fraction: float, order: str) -> torch.Tensor:
    """(B, H, W) bool: the pixels ROAD removes at ``fraction``, ``order`` ``"morf"`` (the highest-ranked) or
    ``"lerf"`` (the lowest), by the map's quantile ``1 - fraction`` (of ``1 - map`` for LeRF)."""
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    ranked = (maps if order == "morf" else 1 - maps).flatten(1).double()
    threshold = torch.quantile(ranked, 1 - fraction, dim=1, keepdim=True)
    return (ranked >= threshold).view(maps.shape)


def road(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: Targets = None,
         fractions: Sequence[float] = FRACTIONS, noise: float = 0.01, score: str = "probability",
         seed: int = 0, batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """ROAD for a batch: ``{"fractions": (F,), "base": (B,), "morf": (B, F), "lerf": (B, F), "combined": (B,)}``,
    the class ``score`` (``"probability"``, as the paper's accuracy-like curves, or ``"logit"``) of the image
    with each fraction of its pixels removed and imputed. ``maps``: ``result.map``, (B, H, W) at input size;
    ``targets``: class indices (None: the predicted class). The noise is seeded (``seed``), so a call is
    reproducible; ``noise=0`` gives the plain linear imputation."""
    x = check_input(model, x)
    b, c, h, w = x.shape
    maps = maps.to(x.device)
    if maps.shape != (b, h, w):
        raise ValueError(f"maps {tuple(maps.shape)} must be (B, H, W) = {(b, h, w)}; use result.map")
    if score not in ("probability", "logit"):
        raise ValueError(f"score must be 'probability' or 'logit', got {score!r}")
    if not all(0 < f < 1 for f in fractions):
        raise ValueError(f"fractions must lie strictly between 0 and 1, got {tuple(fractions)}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad(), frozen_eval(model):
        logits = classify(model, x)
        t = resolve_targets(targets, logits)

        size = auto_batch(x, batch_size)

        def scores(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            out = []
            for lo in range(0, len(images), size):
                z = classify(model, images[lo:lo + size])
                z = F.softmax(z.float(), 1) if score == "probability" else z
                out.append(z.gather(1, labels[lo:lo + len(z), None])[:, 0])
            return torch.cat(out)

        result = {"fractions": torch.tensor(list(fractions)), "base": scores(x, t)}
        for order in ("morf", "lerf"):
            imputed = torch.stack([impute(x[i], removal(maps[i:i + 1], f, order)[0], noise, generator)
                                   for f in fractions for i in range(b)])
            result[order] = scores(imputed, t.repeat(len(fractions))).view(len(fractions), b).T
    result["combined"] = (result["lerf"].mean(1) - result["morf"].mean(1)) / 2
    return result
