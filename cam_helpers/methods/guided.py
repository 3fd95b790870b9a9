"""Guided backpropagation's activations: every ReLU, ReLU6 and Hardtanh of a
model, as a module or called as a function, made to pass only positive
gradients where its input was passed (Springenberg et al. 2015), for the
duration of a ``with`` block.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..hooks import model_lock


class _GuidedClamp(torch.autograd.Function):
    """A clamping activation (ReLU, ReLU6, Hardtanh) whose backward pass lets
    through only positive gradients where the forward pass let the input
    through (Springenberg et al. 2015, generalised from ReLU to clamps)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lo: float, hi: float | None) -> torch.Tensor:
        passed = (x > lo) if hi is None else (x > lo) & (x < hi)
        ctx.save_for_backward(passed)   # the mask, not x: an in-place caller may overwrite x
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (passed,) = ctx.saved_tensors
        return grad.clamp(min=0) * passed, None, None


def _guided(module: nn.Module) -> Callable[..., torch.Tensor]:
    lo, hi = (0.0, None) if isinstance(module, nn.ReLU) else (module.min_val, module.max_val)
    return lambda x: _GuidedClamp.apply(x, lo, hi)


def _bounds(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[float, float | None]:
    if func in (F.relu6,):
        return 0.0, 6.0
    if func in (F.hardtanh, F.hardtanh_):
        lo = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
        hi = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
        return lo, hi
    return 0.0, None


_OUT_OF_PLACE = {F.relu, torch.relu, torch.Tensor.relu, F.relu6, F.hardtanh}
_IN_PLACE = {F.relu_, torch.relu_, torch.Tensor.relu_, F.hardtanh_}


class _GuidedFunctions(torch.overrides.TorchFunctionMode):
    """Runs ``F.relu``, ``torch.relu``, ``x.relu()``, ``F.relu6`` and
    ``F.hardtanh`` (and their in-place forms) as guided activations, for
    models that call activations as functions rather than modules."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func: Callable[..., Any], types: Collection[type], args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        inplace = func in _IN_PLACE or (func in _OUT_OF_PLACE and kwargs.get("inplace", False))
        if func not in _OUT_OF_PLACE and func not in _IN_PLACE:
            return func(*args, **kwargs)
        self.calls += 1
        x = args[0]
        out = _GuidedClamp.apply(x, *_bounds(func, args, kwargs))
        return x.copy_(out) if inplace else out   # copy_ is differentiable: the guided graph carries on


class guided_relus:
    """Context manager: every ``nn.ReLU`` and ``nn.Hardtanh`` (``nn.ReLU6`` is
    one) module of the model runs as a guided activation (out of place), and
    so does every ReLU, ReLU6 or Hardtanh called as a function inside the
    block (``F.relu(x)``, ``torch.relu``, ``x.relu()``, in place or not:
    captum reaches only the modules). On exit each module gets back the
    ``forward`` it had. ``functional_calls`` counts the guided function calls."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.Hardtanh))]
        self._lock = model_lock(model)
        self._mode = _GuidedFunctions()

    @property
    def functional_calls(self) -> int:
        return self._mode.calls

    def check_guided(self) -> None:
        """Refuse a model with no activation to guide: guided backpropagation
        would silently be plain saliency."""
        if not self.relus and not self.functional_calls:
            raise ValueError(f"{type(self.model).__name__} has no ReLU, ReLU6 or Hardtanh (neither modules nor "
                             "F.relu calls), so guided backpropagation would be plain saliency; "
                             "use saliency or integrated_gradients.")

    def __enter__(self) -> guided_relus:
        self._lock.acquire()   # another thread's saliency must not run through guided activations
        self._saved = [m.__dict__.get("forward") for m in self.relus]
        for m in self.relus:
            m.forward = _guided(m)  # type: ignore[method-assign]  # an instance attribute, removed on exit
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._mode.__exit__(*exc)
            for m, saved in zip(self.relus, self._saved):
                if saved is None:
                    del m.forward  # back to the class's forward
                else:
                    m.forward = saved  # type: ignore[method-assign]
        finally:
            self._lock.release()
