"""Explain your own photo in a notebook: upload it (or name a file), then explore its maps.

    explorer = PhotoExplorer(model, class_names, weights="efficientnet_lite0")
    explorer            # an upload button, a path box; the explorer appears below them

``weights`` says how the model wants its input (:func:`cam_helpers.photos.preprocessing`: a model name,
torchvision weights, a timm model, a Hugging Face image processor). Each photo gets a
:class:`~cam_helpers.widgets.CAMExplorer` (method, layer, class, opacity), or a
:class:`~cam_helpers.widgets.ViTExplorer` for a Vision Transformer whose attention can be read.

The upload button is ipywidgets' ``FileUpload``, whose value differs between versions (7: a dict of name to
``{"metadata", "content"}``; 8: a tuple of dicts with ``name`` and ``content``): :func:`uploaded_files` reads
both. Where the button delivers no bytes (Colab has had such versions), ``load`` takes what
``google.colab.files.upload()`` returns, a path, bytes or a PIL image::

    from google.colab import files
    explorer.load(files.upload())
"""
from __future__ import annotations

import html
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import ipywidgets as widgets
import numpy as np
from PIL import Image
from torch import nn

from .course.photos import preprocessing, read_rgb
from .vit_models import read
from .widgets import CAMExplorer, ViTExplorer

COLAB_HINT = ("In Colab, if the button does nothing, run <code>from google.colab import files; "
              "explorer.load(files.upload())</code> in a cell.")


def uploaded_files(value: dict[str, dict[str, Any]] | Sequence[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each file in a ``FileUpload``'s value, under ipywidgets 7 or 8."""
    if isinstance(value, dict):   # ipywidgets 7: {name: {"metadata": {...}, "content": bytes}}
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]   # 8: ({"name", "content", ...}, ...)


def _is_vit(model: nn.Module) -> bool:
    try:
        read(model)
    except TypeError:
        return False
    return True


class PhotoExplorer:
    """An upload button and a path box over an explorer of the photo last given (see the module docstring).

    ``explorer.explorer`` is the explorer on show (None before the first photo); ``explorer.message`` says
    what was loaded, or why a file could not be. ``size``, ``mean``, ``std`` and ``channels`` override what
    ``weights`` says; ``methods`` and ``display`` (the picture's longer side, in pixels) go to the explorer;
    ``vit`` chooses the ViT explorer (default: for a ViT whose attention can be read)."""

    def __init__(self, model: nn.Module, class_names: Sequence[str], weights: Any = None, *,
                 size: int | tuple[int, int] | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, channels: str = "RGB", methods: Sequence[str] | None = None,
                 vit: bool | None = None, display: int = 256,
                 source: str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray
                 | dict[str, bytes] | None = None) -> None:
        self.model, self.class_names, self.display = model, list(class_names), display
        self.preprocess = preprocessing(weights, size=size, mean=mean, std=std, channels=channels)
        self.methods = methods
        self.vit = _is_vit(model) if vit is None else vit
        self.explorer: CAMExplorer | ViTExplorer | None = None
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        self.path = widgets.Text(placeholder="or a file on the kernel's machine", description="path")
        self.button = widgets.Button(description="explain this file")
        self.message = widgets.HTML("Upload a photo, or type a path and press the button." +
                                    (" " + COLAB_HINT if "google.colab" in sys.modules else ""))
        self.area = widgets.VBox()
        self.upload.observe(self._on_upload, names="value")
        self.button.on_click(lambda _: self.load(self.path.value.strip()))
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.path, self.button]), self.message, self.area])
        if source is not None:
            self.load(source)

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = uploaded_files(change["new"])
        if files:
            name, content = files[-1]
            self.load(content, name)

    def load(self, source: str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray
             | dict[str, bytes], name: str | None = None) -> CAMExplorer | ViTExplorer | None:
        """Explain ``source`` (a path, bytes, an open file, a PIL image, an RGB array, or the dict
        ``google.colab.files.upload()`` returns): the new explorer, or None when the file is not a photo (the
        message says why; the explorer on show stays)."""
        if isinstance(source, dict):
            if not source:
                self.message.value = "No file was uploaded."
                return None
            name, source = next(iter(source.items()))
        name = name or (str(source) if isinstance(source, str) else type(source).__name__)
        if isinstance(source, str) and not source:
            self.message.value = "Type the path of a photo first."
            return None
        try:
            image = read_rgb(source)
        except (OSError, ValueError, SyntaxError) as err:   # PIL: UnidentifiedImageError is an OSError
            self.message.value = f"<b>{html.escape(name)}</b> could not be read as a photo: {html.escape(str(err))}"
            return None
        x = self.preprocess(image)
        if self.explorer is not None:
            self.explorer.close()
        if self.vit:
            self.explorer = ViTExplorer(self.model, x, image, self.class_names, size=self.display)
        else:
            self.explorer = CAMExplorer(self.model, x, image, self.class_names, methods=self.methods, size=self.display)
        self.area.children = (self.explorer.widget,)
        h, w = image.shape[:2]
        self.message.value = (f"<b>{html.escape(name)}</b>: a {w}×{h} photo, given to the model at "
                              f"{x.shape[-1]}×{x.shape[-2]}.")
        return self.explorer

    def close(self) -> None:
        if self.explorer is not None:
            self.explorer.close()
        for w in (self.upload, self.path, self.button, self.message, self.area, self.widget):
            w.close()

    def _repr_mimebundle_(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> dict:
        bundle = {"application/vnd.jupyter.widget-view+json":
                  {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                  "text/plain": "PhotoExplorer: upload a photo (run the notebook to use it)"}
        if self.explorer is not None:
            bundle["image/png"] = self.explorer._repr_mimebundle_()["image/png"]
        return bundle
