"""ROAD (cam_helpers/evaluate/road.py): the imputation in closed form, and the curves against pytorch-grad-cam's
ROADMostRelevantFirst / ROADLeastRelevantFirst / ROADCombined on three architectures (random weights), with the
noise off so that both are deterministic (their percentile p is our fraction 1 - p/100)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import (PerturbationConfidenceMetric, RemoveLeastRelevantFirst,
                                                              RemoveMostRelevantFirst)
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget
from toys import random_model

from cam_helpers.evaluate.road import FRACTIONS, impute, removal, road


def test_the_imputation_is_exact_where_the_image_is_linear():
    """Symmetric neighbour weights reproduce a linear ramp inside the image, and a constant everywhere."""
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(10.0), indexing="ij")
    ramp = torch.stack([2 * yy + 3 * xx, -yy + 0.5 * xx + 1])          # (2, 12, 10)
    hole = torch.zeros(12, 10, dtype=torch.bool)
    hole[3:8, 2:7] = True                                              # a 5x5 hole well inside
    assert torch.allclose(impute(ramp, hole, noise=0), ramp, atol=1e-4)
    everywhere_but_one = torch.ones(12, 10, dtype=torch.bool)
    everywhere_but_one[0, 0] = False
    constant = torch.full((3, 12, 10), 0.7)
    assert torch.allclose(impute(constant, everywhere_but_one, noise=0), constant, atol=1e-6)
    noisy = impute(ramp, hole, noise=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy[:, ~hole], ramp[:, ~hole]) and 0.05 < (noisy - ramp)[:, hole].std() < 0.15


def test_removal_takes_the_top_or_the_bottom_fraction():
    maps = torch.arange(100.0).view(1, 10, 10) / 99
    assert removal(maps, 0.3, "morf").sum() == 30 and removal(maps, 0.3, "morf")[0, 9].all()
    assert removal(maps, 0.3, "lerf").sum() == 30 and removal(maps, 0.3, "lerf")[0, 0].all()
    with pytest.raises(ValueError, match="order"):
        removal(maps, 0.3, "most")


@pytest.fixture(scope="module", params=[("resnet18", "layer4"), ("vgg11_bn", "features.27"),
                                        ("mobilenet_v2", "features.18")], ids=["resnet18", "vgg11_bn", "mobilenet_v2"])
def arch(request):
    name, model, layer, module, x = random_model(*request.param)
    return name, model, x[:2, :, :48, :48].contiguous()


def _theirs(model, x, maps, targets, percentile, order, target_cls):
    remove = RemoveMostRelevantFirst if order == "morf" else RemoveLeastRelevantFirst
    metric = PerturbationConfidenceMetric(remove(percentile, NoisyLinearImputer(noise=0)))
    return metric(x, maps.numpy(), [target_cls(t) for t in targets], model, return_diff=False)


@pytest.mark.parametrize("score, target_cls", [("probability", ClassifierOutputSoftmaxTarget),
                                               ("logit", ClassifierOutputTarget)])
def test_road_matches_pytorch_grad_cam(arch, score, target_cls):
    name, model, x = arch
    torch.manual_seed(0)
    maps = torch.rand(len(x), 6, 6)
    maps = torch.nn.functional.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear")[:, 0]
    targets = [3, 7]
    ours = road(model, x, maps, targets, fractions=(0.2, 0.5, 0.9), noise=0, score=score)
    for k, fraction in enumerate((0.2, 0.5, 0.9)):
        for order in ("morf", "lerf"):
            theirs = _theirs(model, x, maps, targets, round(100 * (1 - fraction)), order, target_cls)
            scale = float(np.abs(theirs).max()) + 1e-12
            assert np.abs(ours[order][:, k].numpy() - theirs).max() < 1e-4 * scale, (name, order, fraction)
    assert ours["base"].shape == (2,) and ours["combined"].shape == (2,)


def test_combined_is_half_the_gap_between_the_two_orders(arch):
    name, model, x = arch
    maps = torch.rand(len(x), *x.shape[-2:])
    r = road(model, x, maps, fractions=FRACTIONS[::4], seed=1)
    assert torch.allclose(r["combined"], (r["lerf"].mean(1) - r["morf"].mean(1)) / 2)
    again = road(model, x, maps, fractions=FRACTIONS[::4], seed=1)
    assert torch.equal(r["morf"], again["morf"])   # the noise is seeded: a call is reproducible
    with pytest.raises(ValueError, match="fractions"):
        road(model, x, maps, fractions=(0.0, 0.5))
    with pytest.raises(ValueError, match="score"):
        road(model, x, maps, score="accuracy")
    with pytest.raises(ValueError, match="result.map"):
        road(model, x, maps[:, :8, :8])
