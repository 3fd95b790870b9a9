"""The explanation methods: the explainer core every method runs on (``explainer``), the CAM family
(``cams`` and its pure ``rules``; ``perturbation`` behind Score-CAM and Ablation-CAM), the pixel-space
methods (``pixels``, with ``guided`` backpropagation) and the Vision Transformer methods (``vit``, on
``vit_attention``), and captum's general attributions through the same call shape (``attributions``). Each
registers its records in :mod:`cam_helpers.registry` when imported; the captum records are registered with the
wing (captum itself is imported only when one of them runs)."""
from . import cams, attributions  # noqa: F401,E402  (in this order: the CAMs' records first, as before)

