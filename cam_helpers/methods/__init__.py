"""The explanation methods: the explainer core every method runs on (``explainer``), the CAM family
(``cams`` and its pure ``rules``; ``perturbation`` behind Score-CAM and Ablation-CAM), the pixel-space
methods (``pixels``, with ``guided`` backpropagation) and the Vision Transformer methods (``vit``, on
``vit_attention``). Each registers its records in :mod:`cam_helpers.registry` when imported."""
