"""cam_helpers: the companion package of the Class Activation Mapping course.

Modules, one job each: ``registry`` (one record per method), ``core`` (the
result type and the checks), ``rules`` (the CAM family's rules as pure
functions), ``hooks`` (capturing layers), ``cams`` (CAM and the Grad-CAM
family), ``pixels`` (pixel-space methods), ``vit`` (Vision Transformers),
``data`` (the shapes lab, photos), ``models`` (course and ImageNet models),
``train`` (the training loop), ``metrics``, ``viz`` (overlays, grids),
``widgets`` (the explorers).

Every CAM method registered in :mod:`cams` is exported here by name
(``ch.grad_cam``, ``ch.eigen_grad_cam``, ...); ``ch.METHODS`` lists them.
"""
from . import registry
from .cams import METHODS, CAMResult, Explainer, NotAGAPModelError, normalize, register_cam, upsample
from .hooks import (LayerNotFoundError, LayerNotReachedError, candidate_layers, capture,
                    default_target_layer, hook_count)

__version__ = "0.1.0"
# Where the course lives; the notebooks' "Open in Colab" badges and setup cells point here.
REPO_URL = "https://github.com/cam-course/cam-course"

# One name per registered CAM method: a new record needs no edit here.
globals().update({m.name: m.fn for m in registry.methods("cam")})

__all__ = ["METHODS", "CAMResult", "Explainer", "NotAGAPModelError", "normalize", "upsample", "register_cam",
           "registry", "LayerNotFoundError", "LayerNotReachedError", "candidate_layers", "capture",
           "default_target_layer", "hook_count", *(m.name for m in registry.methods("cam"))]
