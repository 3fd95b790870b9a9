"""cam_helpers: the companion package of the Class Activation Mapping course.

Modules, one job each: ``hooks`` (capturing layers), ``cams`` (CAM and the
Grad-CAM family), ``pixels`` (pixel-space methods), ``vit`` (Vision
Transformers), ``data`` (the shapes lab, photos), ``models`` (course and
ImageNet models), ``train`` (the training loop), ``metrics``, ``viz``
(overlays, grids), ``widgets`` (the explorers).
"""
from .cams import (METHODS, CAMResult, Explainer, NotAGAPModelError, ablation_cam, cam, eigen_cam, grad_cam,
                   grad_cam_pp, hires_cam, layer_cam, normalize, score_cam, upsample, xgrad_cam)
from .hooks import (LayerNotFoundError, LayerNotReachedError, candidate_layers, capture,
                    default_target_layer, hook_count)

__version__ = "0.1.0"
# Where the course lives; the notebooks' "Open in Colab" badges and setup cells point here.
REPO_URL = "https://github.com/cam-course/cam-course"

__all__ = ["METHODS", "CAMResult", "Explainer", "NotAGAPModelError", "cam", "grad_cam", "grad_cam_pp", "xgrad_cam",
           "layer_cam", "hires_cam", "score_cam", "ablation_cam", "eigen_cam", "normalize", "upsample",
           "LayerNotFoundError", "LayerNotReachedError", "candidate_layers", "capture",
           "default_target_layer", "hook_count"]
