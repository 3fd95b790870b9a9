"""cam_helpers: the companion package of the Class Activation Mapping course.

Three wings on one core, one job per module:

- the core every part uses: ``registry`` (one record per method), ``core`` (the result type and
  the checks), ``hooks`` (capturing layers), ``adapters`` and ``layers`` (reading and choosing a
  layer), ``vit_models`` (where a ViT keeps its parts), ``speed`` and ``viz``;
- ``methods``: ``explainer`` (the explainer core), ``cams`` (CAM and the Grad-CAM family) with its
  ``rules`` and ``perturbation``, ``pixels`` and ``guided`` (pixel-space methods), ``vit`` and
  ``vit_attention`` (Vision Transformers);
- ``evaluate``: ``metrics``, ``stats``, ``sanity``, ``evaluation``;
- ``course``: ``data`` (the shapes lab), ``photos``, ``models``, ``efficientnet_lite``, ``train``;
- on top: ``widgets`` (the explorers), ``upload`` (``PhotoExplorer``), ``folders``
  (``explain_folder``) and ``cli`` (``python -m cam_helpers explain``).

Every module keeps its short name too: ``from cam_helpers import metrics`` and
``import cam_helpers.cams`` are the modules of the wings (:data:`MOVED`).

Every CAM method in the registry is a name here (``ch.grad_cam``,
``ch.eigen_grad_cam``, ...), and ``ch.METHODS`` lists them. Both are read
from the registry on access, so a method registered after import
(``ch.register_cam("my_cam", ...)``) is ``ch.my_cam``, in ``ch.METHODS``, in
``__all__`` and in every explorer, like a built-in one.
"""
import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType
from typing import Any

from . import registry
from .core import with_output
from .course.photos import load_image, preprocessing
from .hooks import LayerNotFoundError, LayerNotReachedError, capture, hook_count
from .layers import candidate_layers, default_target_layer
from .methods.cams import CAMResult, Explainer, NotAGAPModelError, normalize, register_cam, upsample
from .methods.fusion import fuse

# The wings' modules by their short names: cam_helpers.cams is cam_helpers.methods.cams (the same module).
MOVED = {f"{__name__}.{m}": f"{__name__}.{wing}.{m}" for wing, ms in {
    "methods": ("cams", "rules", "pixels", "guided", "perturbation", "vit", "vit_attention", "explainer",
                "attributions", "fusion"),
    "evaluate": ("metrics", "sanity", "stats", "evaluation", "road"),
    "course": ("data", "models", "train", "photos", "efficientnet_lite")}.items() for m in ms}


class _ShortNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``cam_helpers.<module>`` as the wing's module itself: one module object under two names."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__   # importlib sets the alias's spec on it next: put its own back
        return module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname: str) -> CodeType:
        """What ``python -m cam_helpers.train`` runs: the wing's module, as ``__main__``."""
        return compile(f"import runpy\nrunpy.run_module({MOVED[fullname]!r}, run_name='__main__', alter_sys=True)\n",
                       f"<{fullname}>", "exec")


if not any(isinstance(f, _ShortNames) for f in sys.meta_path):
    sys.meta_path.insert(0, _ShortNames())


__version__ = "0.1.0"
# Where the course lives; the notebooks' "Open in Colab" badges and setup cells point here.
REPO_URL = "https://github.com/cam-course/cam-course"

_NAMES = ["METHODS", "CAMResult", "Explainer", "NotAGAPModelError", "normalize", "upsample", "register_cam",
          "registry", "LayerNotFoundError", "LayerNotReachedError", "candidate_layers", "capture",
          "default_target_layer", "hook_count", "load_image", "preprocessing", "explain_folder", "PhotoExplorer",
          "with_output", "fuse"]


def __getattr__(name: str) -> Any:
    # The live part of the namespace: one name per registered CAM method, METHODS and __all__, read from
    # the registry on each access (a new record needs no edit here, and no re-import).
    if name == "METHODS":
        return registry.names("cam")
    if name == "explain_folder":   # imported on first use: it loads the pixel and ViT methods too
        from .folders import explain_folder
        return explain_folder
    if name == "PhotoExplorer":   # imported on first use: it needs ipywidgets
        from .upload import PhotoExplorer
        return PhotoExplorer
    if name == "__all__":
        return [*_NAMES, *registry.names("cam")]
    if f"{__name__}.{name}" in MOVED:   # ch.metrics, ch.data, ...: the wing's module
        return importlib.import_module(f"{__name__}.{name}")
    try:
        return registry.get(name, "cam").fn
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
