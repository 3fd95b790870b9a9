"""What the course brings along: the shapes lab and the photos (``data``, ``photos``), the shipped
models and the ImageNet ones (``models``, ``efficientnet_lite``) and the training loop that made the
weights (``train``)."""
