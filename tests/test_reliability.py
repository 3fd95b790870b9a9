"""1,000 calls, some raising: no hook left behind, memory flat, clear errors."""
import gc
import os
import warnings

import pytest
import torch

from cam_helpers import LayerNotFoundError, NotAGAPModelError, cam, grad_cam, hook_count
from cam_helpers.models import ShapesCNN, ShapesVGG


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_tensors() -> int:
    with warnings.catch_warnings():  # isinstance() touches deprecated module attributes
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_thousand_calls_leave_no_hooks_and_flat_memory():
    model = ShapesCNN()
    model.train()  # the calls must hand it back in train mode
    x = torch.randn(2, 3, 64, 64)
    flags = [p.requires_grad for p in model.parameters()]

    def call(i):
        if i % 10 == 0:  # every tenth call raises: class out of range
            with pytest.raises(IndexError):
                grad_cam(model, x, targets=[0, 99])
        elif i % 10 == 5:
            with pytest.raises(LayerNotFoundError):
                cam(model, x, layer="features.9")
        else:
            (grad_cam if i % 2 else cam)(model, x, targets=i % 6)

    for i in range(100):  # warm-up: allocator pools, lazy inits
        call(i)
    gc.collect()
    tensors0, rss0 = live_tensors(), rss_mb()
    for i in range(100, 1000):
        call(i)
    gc.collect()
    assert hook_count(model) == 0
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert live_tensors() <= tensors0
    assert rss_mb() - rss0 < 25, f"memory grew by {rss_mb() - rss0:.1f} MB over 900 calls"


@pytest.mark.parametrize("make_call, error, message", [
    (lambda m, x: grad_cam(m, x, layer="features.7"), LayerNotFoundError, "Close matches: features"),
    (lambda m, x: grad_cam(m, x, targets=6), IndexError, "out of range: the model has 6 classes"),
    (lambda m, x: grad_cam(m, x, targets=-1), IndexError, "out of range"),
    (lambda m, x: grad_cam(m, x, targets=[1, 2, 3]), ValueError, "3 targets for a batch of 2"),
    (lambda m, x: grad_cam(m, x[0]), ValueError, r"add the batch dimension with x\[None\]"),
    (lambda m, x: grad_cam(m, x[:, :1]), ValueError, "takes 3 channels, the batch has 1"),
    (lambda m, x: grad_cam(m, (x * 255).byte()), TypeError, "expected a float batch"),
    (lambda m, x: grad_cam(m, x.numpy()), TypeError, "expected a torch.Tensor"),
    (lambda m, x: cam(ShapesVGG().eval(), x), NotAGAPModelError, "no GAP \\+ linear head"),
])
def test_bad_inputs_get_clear_errors(make_call, error, message):
    model = ShapesCNN().eval()
    with pytest.raises(error, match=message):
        make_call(model, torch.randn(2, 3, 64, 64))
    assert hook_count(model) == 0
