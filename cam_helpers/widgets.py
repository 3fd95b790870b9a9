"""The interactive explorer: layer, class, method and opacity over one image.

Methods: every CAM of :mod:`cam_helpers.cams` and every pixel-space method of
:mod:`cam_helpers.pixels` (the dropdown switches by name: one call shape).

    explorer = CAMExplorer(model, x, image, class_names)
    explorer            # shows the controls in a notebook

    ViTExplorer(vit_model, x, image, class_names)   # the same for Vision Transformers

The forward pass runs once, with every offered layer captured. A class change
costs at most one backward pass (which serves all layers at once); a layer,
method or opacity change costs none. Works with ipywidgets 7.7 and 8.
"""
from __future__ import annotations

import base64
import html
import re
from typing import Any
from collections.abc import Callable, Iterable, Sequence

import cv2
import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from . import registry
from .methods.cams import CAMResult, Explainer
from .core import check_logits
from .layers import candidate_layers, default_target_layer
from .methods.vit import ViTExplainer
from .speed import count_images
from .viz import overlay

PIXEL_FAMILIES = ("pixel", "attribution")   # maps at the input's resolution, called as functions


def explorer_methods() -> tuple[str, ...]:
    """Every registered CAM and pixel method (captum's attributions included), Grad-CAM first (it applies to
    every layer of every model)."""
    names = registry.names("cam", *PIXEL_FAMILIES)
    return ("grad_cam",) + tuple(m for m in names if m != "grad_cam")



def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("could not encode the explorer's image as PNG")
    return buf.tobytes()


def _display_size(image: np.ndarray, target: int) -> np.ndarray:
    """Resize so the longer side is ``target`` px; small scenes stay crisp."""
    scale = target / max(image.shape[:2])
    interp = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)


# Images larger than this (values per image) get an expensive method's
# quick settings (the registry's ``quick``: fewer channels, samples, steps or
# windows) inside a slider callback; the status line says so.
QUICK_ABOVE = 3 * 128 * 128


class _Explorer:
    """What both explorers share: the class dropdown (sorted by probability),
    the opacity slider, the picture, the status line, a cache of maps per
    setting (so going back to a setting reruns nothing), and the count of
    every pass run (forward passes through the model, backward passes)."""

    explainer: Any         # the Explainer or ViTExplainer the subclass builds
    forward_passes = 1     # the explainer's own forward pass
    _extra_backward = 0    # backward passes run outside the explainer (pixel methods)

    @property
    def backward_passes(self) -> int:
        """Backward passes run so far, by every method shown."""
        return self.explainer.backward_passes + self._extra_backward

    def _options(self, record: registry.Method) -> dict:
        """An expensive method's quick settings on a large image (see :data:`QUICK_ABOVE`)."""
        return dict(record.quick) if record.expensive and self.explainer.x[0].numel() > QUICK_ABOVE else {}

    def _run(self, record: registry.Method, call: Callable[[dict], CAMResult]) -> tuple[CAMResult, str]:
        """``call(options)`` with the record's options for this image, the
        forward passes it runs counted (and, for a gradient method outside the
        explainer, one backward pass per image). Returns the result and the
        note on quick settings that the status line shows with it."""
        options = self._options(record)
        with count_images(self.explainer.model) as counter:
            result = call(options)
        self.forward_passes += counter.images
        if record.family in PIXEL_FAMILIES and record.backward:
            self._extra_backward += counter.images
        shown = {k: v for k, v in options.items() if k != "progress"}
        note = f" ({', '.join(f'{k}={v}' for k, v in shown.items())}: quick settings)" if shown else ""
        return result, note

    def _setup(self, logits: torch.Tensor, image: np.ndarray, class_names: Sequence[str], opacity: float,
               size: int, controls: list) -> None:
        self.original = np.asarray(image)
        self.size = size
        probs = logits.detach()[0].softmax(0)
        order = probs.argsort(descending=True).tolist()
        self.klass = widgets.Dropdown(options=[(f"{class_names[c]} (p={probs[c]:.2f})", c) for c in order],
                                      value=order[0], description="class")
        self.opacity = widgets.FloatSlider(value=opacity, min=0.0, max=1.0, step=0.05, description="opacity",
                                           continuous_update=True)
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.result: CAMResult | None = None
        self._note = ""
        self._cache: dict[tuple, tuple[CAMResult, str]] = {}
        controls = controls + [self.klass, self.opacity]
        for control in controls:
            control.observe(self._on_change, names="value")
        rows = [widgets.HBox(controls[i:i + 2]) for i in range(0, len(controls), 2)]
        self.widget = widgets.VBox(rows + [self.image, self.status])
        self._widgets = controls + [self.image, self.status] + rows + [self.widget]
        self.update()

    def close(self) -> None:
        """Close every widget of the explorer. ipywidgets keeps each open widget
        (and through its callbacks, this explorer with its captured
        activations) alive until it is closed; after ``close()`` the memory
        goes when the last reference to the explorer does."""
        for w in self._widgets:
            w.close()
        self._cache.clear()
        self.result = None

    def _on_change(self, change: dict[str, Any]) -> None:
        if change["owner"] is self.opacity and not 0 <= change["new"] <= 1:   # NaN from code: put it back
            self.opacity.value = change["old"] if 0 <= change["old"] <= 1 else 0.5
            return
        self.update(recompute=change["owner"] is not self.opacity)

    def _key(self) -> tuple:
        raise NotImplementedError

    def _explain(self, *key: Any) -> tuple[CAMResult, str]:
        raise NotImplementedError

    def update(self, recompute: bool = True) -> None:
        """Recompute the map (unless only the opacity moved) and redraw."""
        if recompute or self.result is None:
            key = self._key()
            try:
                if key not in self._cache:
                    self._cache[key] = self._explain(*key)
                self.result, self._note = self._cache[key]
            except ValueError as err:  # e.g. CAM on a layer without a GAP head
                self.result = None
                self.status.value = f"<b>{html.escape(str(key[0]))}</b>: no map here. {html.escape(str(err))}"
                self.image.value = _png(self._panel(None))
                return
        r = self.result
        self.image.value = _png(self._panel(overlay(self.original, r.map[0], self.opacity.value)))
        where = ("the map is empty: no positive evidence for this class here" if float(r.map[0].max()) == 0 else
                 "peak at pixel row {}, col {}".format(*divmod(int(r.map[0].argmax()), r.map.shape[-1])))
        self.status.value = (f"{r.method}{self._note} · <code>{r.layer}</code> ({r.raw.shape[-2]}×{r.raw.shape[-1]}) · "
                             f"class {self.klass.label} · {where} · passes so far: "
                             f"{self.forward_passes} forward, {self.backward_passes} backward")

    def _panel(self, heat: np.ndarray | None) -> np.ndarray:
        """Image | overlay at the display size; a grey panel of the same size where there is no map."""
        left = _display_size(self.original, self.size)
        right = _display_size(heat, self.size) if heat is not None else np.full_like(left, 200)
        return np.concatenate([left, right], 1)

    def _repr_mimebundle_(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> dict:
        """The live controls where the frontend runs widgets (JupyterLab,
        Colab, with ipywidgets 7 or 8), and the explorer's first view as a
        PNG and a line of text where it does not (a code host, nbviewer, a
        notebook opened without its kernel): both are in the saved output."""
        return {"application/vnd.jupyter.widget-view+json":
                    {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                "image/png": base64.b64encode(self.image.value).decode("ascii"),
                "text/plain": f"{type(self).__name__}: {html.unescape(re.sub('<[^>]+>', '', self.status.value))}"}


class CAMExplorer(_Explorer):
    """Controls over one image: ``layer`` slider, ``klass`` dropdown (classes
    sorted by probability), ``method`` dropdown, ``opacity`` slider.

    ``explorer.result`` is the :class:`~cam_helpers.cams.CAMResult` on show;
    ``explorer.image.value`` the PNG (image | overlay) on show."""

    def __init__(self, model: nn.Module, x: torch.Tensor, image: np.ndarray, class_names: Sequence[str],
                 layers: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                 layer: str | None = None, opacity: float = 0.5, size: int = 256):
        x = _one_image(x)
        methods = explorer_methods() if methods is None else tuple(methods)
        for m in methods:
            if m not in registry.names("cam", *PIXEL_FAMILIES):
                raise KeyError(f"unknown method {m!r}; choose from {explorer_methods()}")
        layers = list(layers) if layers is not None else candidate_layers(model, x)
        layer = layer or default_target_layer(model, x)
        if layer not in layers:
            layers.append(layer)
        self.explainer = Explainer(model, x, layers)
        self.layer = widgets.SelectionSlider(options=layers, value=layer, description="layer",
                                             continuous_update=False, layout=widgets.Layout(width="420px"))
        self.method = widgets.Dropdown(options=list(methods), value=methods[0], description="method")
        self._setup(check_logits(self.explainer.output, model), image, class_names, opacity, size,
                    [self.layer, self.method])

    def _key(self) -> tuple:
        return self.method.value, self.layer.value, self.klass.value

    def _explain(self, method: str, layer: str, klass: int) -> tuple[CAMResult, str]:
        record = registry.get(method)
        if record.family in PIXEL_FAMILIES:
            return self._run(record, lambda options: record.fn(self.explainer.model, self.explainer.x, layer, klass,
                                                               **options))
        return self._run(record, lambda options: self.explainer.explain(method, layer, klass, **options))


class ViTExplorer(_Explorer):
    """The explorer for a Vision Transformer (torchvision, timm, Hugging Face): ``method`` (every
    method of :mod:`cam_helpers.vit`), ``layer`` (the block for attention and
    the CNN rules on tokens, the last block rolled out for the rollouts),
    ``head`` (for raw attention; "mean" averages the heads) and
    ``klass`` (for the class-specific methods). Controls a method ignores are
    greyed out. One forward pass; attention and rollout cost no backward
    pass, gradient rollout one per class, Grad-CAM and the other CNN rules on
    tokens one per class for every block, LeGrad one per block and class.
    Every map is cached per setting."""

    def __init__(self, model: nn.Module, x: torch.Tensor, image: np.ndarray, class_names: Sequence[str],
                 method: str = "attention", opacity: float = 0.5, size: int = 256):
        self.explainer = ViTExplainer(model, _one_image(x))
        names = self.explainer.names
        heads = self.explainer.attentions[0].shape[1]
        registry.get(method, "vit")   # unknown names raise KeyError with the choices
        self.method = widgets.Dropdown(options=list(registry.names("vit")), value=method, description="method")
        self.layer = widgets.SelectionSlider(options=[(f"block {i}", i) for i in range(len(names))],
                                             value=len(names) - 1, description="layer",
                                             continuous_update=False, layout=widgets.Layout(width="420px"))
        # "mean" is a value of its own: ipywidgets shows a None value as an empty dropdown
        self.head = widgets.Dropdown(options=[("mean", "mean")] + [(f"head {h}", h) for h in range(heads)],
                                     value="mean", description="head")
        self._setup(self.explainer.logits, image, class_names, opacity, size, [self.method, self.layer, self.head])

    def _key(self) -> tuple:
        record = registry.get(self.method.value, "vit")
        specific, uses_layer, uses_head = record.class_specific, "layer" in record.controls, "head" in record.controls
        self.klass.disabled, self.layer.disabled, self.head.disabled = not specific, not uses_layer, not uses_head
        return (self.method.value, self.layer.value if uses_layer else None,
                self.klass.value if specific else None,
                self.head.value if uses_head and self.head.value != "mean" else None)

    def _explain(self, method: str, layer: int | None, klass: int | None, head: int | None) -> tuple[CAMResult, str]:
        record = registry.get(method, "vit")
        head_option = {} if head is None else {"head": head}
        return self._run(record, lambda options: self.explainer.explain(method, layer, klass, **options, **head_option))


def _one_image(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        x = x[None]
    if x.shape[0] != 1:
        raise ValueError(f"the explorer shows one image; got a batch of {x.shape[0]}: pass x[i:i+1]")
    return x
