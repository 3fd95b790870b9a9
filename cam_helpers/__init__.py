"""cam_helpers: the companion package of the Class Activation Mapping course.

Modules, one job each: ``registry`` (one record per method), ``core`` (the
result type and the checks), ``rules`` (the CAM family's rules as pure
functions), ``hooks`` (capturing layers), ``cams`` (CAM and the Grad-CAM
family), ``pixels`` (pixel-space methods), ``vit`` (Vision Transformers),
``data`` (the shapes lab, photos), ``models`` (course and ImageNet models),
``train`` (the training loop), ``metrics``, ``viz`` (overlays, grids, ``save``),
``widgets`` (the explorers), ``upload`` (``PhotoExplorer``), ``folders`` (``explain_folder``) and ``cli``
(``python -m cam_helpers explain``).

Every CAM method in the registry is a name here (``ch.grad_cam``,
``ch.eigen_grad_cam``, ...), and ``ch.METHODS`` lists them. Both are read
from the registry on access, so a method registered after import
(``ch.register_cam("my_cam", ...)``) is ``ch.my_cam``, in ``ch.METHODS``, in
``__all__`` and in every explorer, like a built-in one.
"""
from . import registry
from .cams import CAMResult, Explainer, NotAGAPModelError, normalize, register_cam, upsample
from .core import with_output
from .hooks import LayerNotFoundError, LayerNotReachedError, capture, hook_count
from .layers import candidate_layers, default_target_layer
from .photos import load_image, preprocessing

__version__ = "0.1.0"
# Where the course lives; the notebooks' "Open in Colab" badges and setup cells point here.
REPO_URL = "https://github.com/cam-course/cam-course"

_NAMES = ["METHODS", "CAMResult", "Explainer", "NotAGAPModelError", "normalize", "upsample", "register_cam",
          "registry", "LayerNotFoundError", "LayerNotReachedError", "candidate_layers", "capture",
          "default_target_layer", "hook_count", "load_image", "preprocessing", "explain_folder", "PhotoExplorer",
          "with_output"]


def __getattr__(name: str):
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
    try:
        return registry.get(name, "cam").fn
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
