"""cam_helpers: the companion package of the Class Activation Mapping course.

Modules, one job each: ``hooks`` (capturing layers), ``cams`` (CAM and the
Grad-CAM family), ``data`` (the shapes lab, photos), ``models`` (course and
ImageNet models), ``train`` (the training loop), ``viz`` (overlays, grids),
``widgets`` (the explorer).
"""
from .cams import CAMResult, Explainer, NotAGAPModelError, cam, grad_cam, normalize, upsample
from .hooks import (LayerNotFoundError, LayerNotReachedError, candidate_layers, capture,
                    default_target_layer, hook_count)

__version__ = "0.1.0"
# Where the course lives; the notebooks' "Open in Colab" badges and setup cells point here.
REPO_URL = "https://github.com/cam-course/cam-course"

__all__ = ["CAMResult", "Explainer", "NotAGAPModelError", "cam", "grad_cam", "normalize", "upsample",
           "LayerNotFoundError", "LayerNotReachedError", "candidate_layers", "capture",
           "default_target_layer", "hook_count"]
