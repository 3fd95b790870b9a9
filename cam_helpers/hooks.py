"""Capturing what a layer computes, and the gradient of a score with respect to it::

    with capture(model, ["layer3", "layer4"]) as cap:
        logits = model(x)
        grads = cap.gradients_of(logits[:, 7].sum())   # {"layer3": ..., "layer4": ...}
    cap.activations["layer4"]                          # (B, C, h, w)

Every hook is removed on exit, also when the body raises; the model's
train/eval mode and parameters' ``requires_grad`` flags are restored; the body
may run inside ``torch.no_grad()``.

With ``stop_at_layers=True`` (the default) backpropagation ends at the captured
layers: parameters stop requiring grad for the duration, the earliest captured
output becomes a leaf that requires grad, and nothing before it is recorded. A
gradient then costs a backward pass through the part of the network *after*
the layer only, and the forward pass costs what an inference pass costs.
"""
from __future__ import annotations

import difflib
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import torch
from torch import nn

LayerRef = str | nn.Module


class LayerNotFoundError(KeyError):
    """A layer name that the model does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class LayerNotReachedError(RuntimeError):
    """A captured layer that the forward pass never ran."""


def resolve_layer(model: nn.Module, layer: LayerRef) -> tuple[str, nn.Module]:
    """``(dotted name, module)`` for a module of ``model`` given by name or object.

    Unknown names raise :class:`LayerNotFoundError` listing the closest names."""
    names = dict(model.named_modules())
    if not isinstance(layer, (str, nn.Module)):
        raise TypeError(f"layer is a dotted name ('features.3') or a module of the model, got "
                        f"{type(layer).__name__} {layer!r}; see cam_helpers.candidate_layers(model)")
    if isinstance(layer, nn.Module) and layer is not model:
        for name, module in names.items():
            if module is layer:
                return name, module
        raise LayerNotFoundError(f"the module {type(layer).__name__} given as layer is not part of this "
                                 f"{type(model).__name__}; pass one of its own modules or a dotted name")
    if layer == "" or layer is model:
        raise LayerNotFoundError(f"layer '' is the whole {type(model).__name__}, whose output is the logits, not a "
                                 "feature map; choose one of cam_helpers.candidate_layers(model)")
    if isinstance(layer, str) and layer in names:
        return layer, names[layer]
    close = difflib.get_close_matches(str(layer), [n for n in names if n], n=5, cutoff=0.5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise LayerNotFoundError(f"{type(model).__name__} has no layer named {layer!r}.{hint} "
                             "See cam_helpers.candidate_layers(model) for layers with feature maps.")


class ModelState:
    """Saves the train/eval flag of every module and ``requires_grad`` of every
    parameter, and puts them back on :meth:`restore`."""

    def __init__(self, model: nn.Module):
        self.training = [(m, m.training) for m in model.modules()]
        self.requires_grad = [(p, p.requires_grad) for p in model.parameters()]

    def restore(self) -> None:
        for module, flag in self.training:
            module.training = flag
        for param, flag in self.requires_grad:
            param.requires_grad_(flag)


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock of ``model``. Every ``cam_helpers`` call that
    changes a model's state for its duration (eval mode, frozen parameters,
    hooks, replaced activations) holds it, so calls on one model from several
    threads run one after the other, each seeing the model as its caller left
    it, and the model is restored when each call ends (a ``core.with_output`` view shares its model's)."""
    model = model.__dict__.get("_cam_inner", model)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


class frozen_eval:
    """Context manager for explaining, not training: eval mode (unless
    ``eval=False``) and every parameter's ``requires_grad`` off; both restored
    on exit, also when the body raises. Holds :func:`model_lock` throughout."""

    def __init__(self, model: nn.Module, eval: bool = True, freeze: bool = True):
        self.model, self.eval, self.freeze = model, eval, freeze
        self._state: ModelState | None = None
        self._lock = model_lock(model)

    def __enter__(self) -> nn.Module:
        self._lock.acquire()
        try:
            self._state = ModelState(self.model)
            if self.eval:
                self.model.eval()
            if self.freeze:
                for p in self.model.parameters():
                    p.requires_grad_(False)
        except BaseException:
            self._lock.release()
            raise
        return self.model

    def __exit__(self, *exc: object) -> None:
        if self._state is not None:
            try:
                self._state.restore()
            finally:
                self._state = None
                self._lock.release()


class HookSession:
    """Base of the context managers that hook a model for the duration of a
    ``with`` block. :meth:`_open` enters the given contexts (the model's
    :class:`frozen_eval`, autograd on) on one ``ExitStack`` and calls
    ``install`` to register hooks (appending their handles to
    ``self._handles``); on exit, and if anything on the way in raises, the
    stack unwinds in reverse: hooks removed, then autograd mode and the
    model's state restored."""

    _handles: list
    _stack: ExitStack | None = None

    def _open(self, *contexts: AbstractContextManager[Any], install: Callable[[], None]) -> None:
        stack = ExitStack()
        try:
            for context in contexts:
                stack.enter_context(context)
            self._handles = []
            stack.callback(self._remove_handles)
            install()
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def _remove_handles(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __exit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()  # never swallows the body's exception


class capture(HookSession):
    """Context manager recording the outputs of ``layers`` (and their gradients).

    :param model: the network.
    :param layers: modules or dotted names (``"layer4"``, ``"features.3"``), one or many.
    :param stop_at_layers: end backpropagation at the captured layers (see the module
        docstring). With ``False`` the whole graph is kept, and gradients of a
        ``.backward()`` call reach ``cap.gradients`` through tensor hooks.
    :param eval: put the model in eval mode for the duration (BatchNorm and dropout
        behave as at inference, and images of a batch do not interact).

    :ivar activations: ``{name: tensor}``, each layer's output from the last call.
    :ivar gradients: ``{name: tensor}``, filled by tensor hooks during backward.
    """

    def __init__(self, model: nn.Module, layers: LayerRef | Sequence[LayerRef] | None, *,
                 stop_at_layers: bool = True, eval: bool = True, example: torch.Tensor | None = None):
        self.model = model
        # layers=None: choose the layer in the forward pass itself (see _auto_hook and choose)
        self.auto = layers is None
        if self.auto:
            if example is None:
                raise ValueError("capture(model, None) chooses the layer from the input: pass example=x")
            self._batch, self._size = example.shape[0], (int(example.shape[-2]), int(example.shape[-1]))
            self._seen: list[tuple[str, nn.Module, object]] = []     # (name, module, layout or shape)
            self._candidates: dict[str, torch.Tensor] = {}
            self._attention_starts: list[int] = []   # len(self._seen) when each attention module started
            layers = []
        elif isinstance(layers, (str, nn.Module)) or not isinstance(layers, Sequence):
            layers = [layers]  # type: ignore[list-item]
        self.layers = dict(resolve_layer(model, layer) for layer in layers)
        self.stop_at_layers = stop_at_layers
        self.eval = eval
        self.activations: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._runs: dict[str, int] = {}

    # -- hooks ---------------------------------------------------------------
    def _forward_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], torch.Tensor]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} ({type(module).__name__}) returns {type(output).__name__}, "
                                "not a tensor; choose a layer whose output is a feature map")
            if self.stop_at_layers and not output.requires_grad:
                # Nothing upstream is recorded: the graph starts here.
                output = output.detach().requires_grad_(True)
            self.activations[name] = output
            self._runs[name] = self._runs.get(name, 0) + 1
            if output.requires_grad:
                # A weak reference: a strong one would make a cycle through
                # autograd's C++ graph (tensor -> hook -> capture -> tensor)
                # that Python's garbage collector cannot see, and leak it.
                ref = weakref.ref(self)
                output.register_hook(lambda grad: None if (me := ref()) is None else me.gradients.__setitem__(name, grad))
                # Later in-place ops (ReLU(inplace=True)) must not change the
                # captured values: pass a copy downstream.
                return output.clone()
            return output
        return hook

    def _auto_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], torch.Tensor | None]:
        """Record every module's output; keep each one that is a feature map of the input (any layout,
        adapters.layout), as a candidate. The graph starts at the input (see ``__enter__``), so the
        gradient of the score reaches whichever candidate is chosen, and backpropagation still stops
        there (``gradients_of`` asks for that one tensor)."""
        from .adapters import layout

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> torch.Tensor | None:
            # requires_grad: the output depends on the input (the pass starts from an input that requires
            # grad), so a parameter table such as Swin's relative position bias is never taken for a map
            where = layout(output, self._batch, self._size, module) if getattr(output, "requires_grad", False) \
                else None
            self._runs[name] = self._runs.get(name, 0) + 1
            self._seen.append((name, module, where if where is not None else
                               tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__))
            if where is None:
                return None
            self._candidates[name] = output
            return output.clone()   # later in-place ops must not change the kept values
        return hook

    def choose(self) -> str:
        """After the forward pass of an automatic capture: the last module, in the order the pass
        finished them, whose output is a feature map of the input and that ran once, outside a
        detector's box heads. Tokens must come before the last attention starts: after it, a ViT's
        patch tokens no longer reach the CLS token, so their gradient is zero and the map empty (it is
        why pytorch-grad-cam's ViT example uses the last block's first norm; this finds that layer).
        The chosen layer becomes the captured one; the other candidates are let go. Raises
        :class:`LayerNotFoundError`, naming what the pass saw, when no module qualifies."""
        from .adapters import Layout
        last_attention = self._attention_starts[-1] if self._attention_starts else len(self._seen)
        done = set()
        for i in range(len(self._seen) - 1, -1, -1):
            name, module, where = self._seen[i]
            if name in done or name not in self._candidates:
                continue
            done.add(name)
            tokens_too_late = isinstance(where, Layout) and where.kind == "tokens" and i >= last_attention
            if self._runs.get(name) == 1 and not _in_box_head(name) and not tokens_too_late:
                self.layers = {name: module}
                self.activations = {name: self._candidates[name]}
                self._runs = {name: 1}
                self._candidates.clear()
                return name
        self._candidates.clear()
        seen = [f"{n} {w}" for n, _, w in self._seen[-8:]]
        raise LayerNotFoundError(
            f"no layer of {type(self.model).__name__} outputs a feature map of these inputs (batch "
            f"{self._batch}, {self._size[0]}x{self._size[1]}: (B, C, h, w), channels last or tokens, h and w > 1) "
            f"that suits this method. The last outputs were: {'; '.join(seen)}. Pass layer= (a dotted name; "
            "cam_helpers.candidate_layers(model, x) lists the feature maps).")

    def __enter__(self) -> capture:
        def install() -> None:
            if self.auto:
                def input_requires_grad(model: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
                    if args and isinstance(args[0], torch.Tensor) and args[0].is_floating_point():
                        return (args[0].detach().requires_grad_(True), *args[1:])
                    return None
                self._handles.append(self.model.register_forward_pre_hook(input_requires_grad))
                for name, module in self.model.named_modules():
                    if name:
                        self._handles.append(module.register_forward_hook(self._auto_hook(name)))
                    if "Attention" in type(module).__name__:
                        self._handles.append(module.register_forward_pre_hook(
                            lambda m, i: self._attention_starts.append(len(self._seen))))
                return
            for name, module in self.layers.items():
                self._handles.append(module.register_forward_hook(self._forward_hook(name)))
        self._open(frozen_eval(self.model, self.eval, self.stop_at_layers), torch.enable_grad(), install=install)
        return self

    # -- results -------------------------------------------------------------
    def check_reached(self) -> None:
        """Raise :class:`LayerNotReachedError` for layers the forward pass skipped."""
        missing = [n for n in self.layers if n not in self.activations]
        if missing:
            raise LayerNotReachedError(
                f"the forward pass never ran layer(s) {missing} of {type(self.model).__name__} "
                "(unused in forward, or the call did not reach them); choose a layer from "
                "cam_helpers.candidate_layers(model)")

    def check_ran_once(self) -> None:
        """Raise ``ValueError`` for layers that ran more than once in the forward
        pass (a module reused): only the last run would be explained."""
        again = {n: k for n, k in self._runs.items() if k > 1}
        if again:
            raise ValueError(f"layer(s) {again} ran more than once in one forward pass (a module used twice); "
                             "a map of it would show only the last use. Choose a layer that runs once.")

    def gradients_of(self, score: torch.Tensor, retain_graph: bool = False) -> dict[str, torch.Tensor]:
        """Gradients of the scalar ``score`` with respect to each captured
        activation, by ``torch.autograd.grad``: backpropagation goes no
        further back than needed."""
        self.check_reached()
        names = list(self.layers)
        return dict(zip(names, grads_or_zeros(score, [self.activations[n] for n in names], retain_graph)))


def grads_or_zeros(score: torch.Tensor, tensors: list[torch.Tensor], retain_graph: bool = False) -> list[torch.Tensor]:
    """d(score)/d(each of ``tensors``) by ``torch.autograd.grad``; zeros where the score does not depend on one."""
    found = torch.autograd.grad(score, tensors, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(a) if g is None else g for a, g in zip(tensors, found)]


# --------------------------------------------------------------------------
# Choosing a layer
# --------------------------------------------------------------------------

BOX_HEADS = ("roi_heads", "rpn")   # torchvision's detectors: per-region and per-anchor heads, not the image's map


def _in_box_head(name: str) -> bool:
    return any(part in BOX_HEADS for part in name.split("."))


def model_device_dtype(model: nn.Module, x: torch.Tensor | None = None) -> tuple[torch.device, torch.dtype]:
    """Where the model lives and in what precision: from its first parameter
    or buffer; for a model with neither, from ``x`` (else the CPU, float32)."""
    t: torch.Tensor | None = next(model.parameters(), None)
    if t is None:
        t = next((b for b in model.buffers() if b.is_floating_point()), None)
    if t is None:
        return (x.device, x.dtype) if x is not None and x.is_floating_point() else (torch.device("cpu"), torch.float32)
    return t.device, t.dtype


def hook_count(model: nn.Module) -> int:
    """Number of forward/backward hooks registered on the modules of ``model``
    (zero when every capture has cleaned up)."""
    total = 0
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(m, attr, {}) or {})
    return total

