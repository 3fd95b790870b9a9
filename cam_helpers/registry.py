"""The registry of methods: what the package knows about each method, in one
record per method.

Every explanation method of the package (the CAM family of :mod:`cams`, the
pixel-space methods of :mod:`pixels`, the Vision Transformer methods of
:mod:`vit`) is a :class:`Method`: its name and paper, its rule in one line,
whether it needs a backward pass or depends on the class, which controls it
uses, how its ``raw`` output becomes ``map``, and what it costs. Everything
else reads the registry: ``Explainer.explain``, the explorers (which controls
to grey out, which methods are slow), ``smooth_grad`` (which reduction its base
method needs) and the notebooks' method and cost tables.

Every method has one call shape::

    method(model, x, layer=None, targets=None, **options) -> CAMResult

``raw`` is the signed quantity the paper defines (before any final ReLU);
``map = to_map(raw, size)``, at input size and in [0, 1].

Adding a method is one record (and, for a CAM, its rule in :mod:`rules`)::

    from cam_helpers import cams, rules
    cams.register_cam("my_cam", rules.my_cam, paper="...", url="...", formula="...")

This module imports nothing from the package, so any module may register.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

FAMILIES = ("cam", "pixel", "vit", "attribution")
CONTROLS = ("layer", "head")


@dataclass(frozen=True)
class Method:
    """One explanation method.

    :name: the public name (``ch.grad_cam``, ``explain("grad_cam")``).
    :family: ``"cam"`` (a layer's feature maps), ``"pixel"`` (the input), ``"vit"`` (a Vision
        Transformer's attention or tokens) or ``"attribution"`` (captum's general attributions at the input,
        which the notebooks do not teach).
    :fn: the public function, ``fn(model, x, layer=None, targets=None, **options)``.
    :paper: authors, year and venue.
    :url: where to read it.
    :formula: the rule in one line.
    :backward: whether it needs a backward pass.
    :class_specific: whether the map depends on the class (False: ``targets``
        only labels the result).
    :controls: the explorer controls that change the map (``"layer"``, ``"head"``).
    :to_map: ``to_map(raw, size) -> map``, how ``raw`` becomes ``map``.
    :cost: passes per image, in words.
    :expensive: True when one map costs many forward passes.
    :quick: the options that make an expensive method fit an interactive
        callback (fewer channels, samples, steps or windows); the explorers
        use them and say so.

    How an explainer (:mod:`cam_helpers.methods.explainer`) runs it, one of:

    :rule: the pure rule ``rule(acts, grads, **options) -> raw`` on a feature map (the gradient CAMs);
    :weights: ``weights(ex, layer, acts, targets, **options) -> (B, K)`` channel weights from the
        model (CAM, Score-CAM, Ablation-CAM), ``raw = sum_k w_k A^k``;
    :run: ``run(ex, layer, targets, **options) -> CAMResult``, arithmetic of its own (attention, rollout).
    :source: whose implementation runs: ``"cam_helpers"``, or ``"captum"`` for the general attributions
        reached through :mod:`cam_helpers.methods.attributions`.
    """

    name: str
    family: str
    fn: Callable
    paper: str
    url: str
    formula: str
    backward: bool
    class_specific: bool
    controls: tuple[str, ...]
    to_map: Callable
    cost: str
    expensive: bool = False
    rule: Callable | None = None
    weights: Callable | None = None
    run: Callable | None = None
    quick: dict = field(default_factory=dict)
    source: str = "cam_helpers"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        unknown = set(self.controls) - set(CONTROLS)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; controls are {CONTROLS}")

    @property
    def options(self) -> tuple[str, ...]:
        """The method's own keyword options (beyond model, x, layer, targets)."""
        params = list(inspect.signature(self.fn).parameters)
        return tuple(p for p in params if p not in ("model", "x", "layer", "targets", "options"))

    def row(self) -> dict:
        """The record as a table row (the notebooks' method tables)."""
        return {"method": self.name, "family": self.family, "paper": self.paper, "formula": self.formula,
                "backward": self.backward, "class-specific": self.class_specific, "cost": self.cost, "source": self.source,
                "raw -> map": (self.to_map.__doc__ or "").strip().splitlines()[0]}


REGISTRY: dict[str, Method] = {}


def _key(family: str, name: str) -> str:
    return name if family != "vit" else f"vit.{name}"


def register(method: Method) -> Method:
    """Add ``method`` to the registry (ViT methods are kept apart: ``grad_cam``
    names both the CNN and the token version). Returns it."""
    key = _key(method.family, method.name)
    if key in REGISTRY and REGISTRY[key].fn is not method.fn:
        raise ValueError(f"a method named {key!r} is already registered")
    REGISTRY[key] = method
    return method


def methods(*families: str) -> tuple[Method, ...]:
    """The registered methods of ``families`` (default: all), in registration order."""
    return tuple(m for m in REGISTRY.values() if not families or m.family in families)


def names(*families: str) -> tuple[str, ...]:
    return tuple(m.name for m in methods(*families))


def get(name: str, family: str | None = None) -> Method:
    """The record of ``name`` (``family="vit"`` for the ViT methods)."""
    if family is None:
        key = name if name in REGISTRY else _key("vit", name)
    else:
        key = _key(family, name)
    if key not in REGISTRY:
        kind = {"vit": "ViT ", "cam": "CAM ", "pixel": "pixel ", "attribution": "attribution "}.get(family or "", "")
        raise KeyError(f"unknown {kind}method {name!r}; choose from {names(family) if family else names()}")
    return REGISTRY[key]


def lookup(fn: Callable) -> Method | None:
    """The record of a public function (through ``functools.partial``), or None."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return next((m for m in REGISTRY.values() if m.fn is fn), None)


def table(*families: str) -> list[dict]:
    """One row per method: what notebook 03's and 04's method tables print."""
    return [m.row() for m in methods(*families)]
