"""Explain a folder of photos and save the maps: the work behind
``python -m cam_helpers explain``::

    summary = explain_folder(model, "my_photos", out="maps", method="grad_cam",
                             preprocess=ch.photos.preprocessing("efficientnet_lite0"),
                             class_names=imagenet_classes())
    summary.rows      # one dict per photo: file, class, class_name, probability, method, layer, png
    summary.skipped   # (file, reason) for each file that could not be read

Photos are read and explained in batches (one forward and one backward pass
per batch for the gradient CAMs); a file that cannot be read (not an image,
truncated) is skipped with its reason, and the rest go on. The CSV
``explanations.csv`` in ``out`` lists every photo explained.
"""
from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .methods import pixels, vit  # noqa: F401 (pixels and vit register their methods)
from . import registry, viz
from .core import CAMResult, Targets, check_positive
from .hooks import model_device_dtype
from .course.photos import Preprocess, preprocessing, read_rgb

CSV_NAME = "explanations.csv"
CSV_FIELDS = ("file", "class", "class_name", "probability", "logit", "method", "layer", "png")


@dataclass
class FolderSummary:
    """What :func:`explain_folder` did: ``rows`` (one per photo explained),
    ``skipped`` ((file, reason) pairs), ``csv`` (its path, or None without
    ``out``) and ``seconds`` (wall time)."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    csv: Path | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        rate = len(self.rows) / self.seconds if self.seconds else 0.0
        lines = [f"explained {len(self.rows)} photo(s) in {self.seconds:.1f} s ({rate:.1f} per second)"
                 + (f"; table: {self.csv}" if self.csv else "")]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


def photo_files(folder: str | Path, exclude: Path | None = None) -> list[Path]:
    """The files of ``folder`` in name order (not hidden ones, not those under ``exclude``): every file is
    tried, so that a photo with an unusual extension is read and a file that is not one is reported."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    ex = exclude.resolve() if exclude is not None else None
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and (ex is None or ex not in p.resolve().parents))


def _read(path: Path) -> tuple:
    """(image, None) or (None, the reason it cannot be read)."""
    try:
        return read_rgb(path), None
    except Image.UnidentifiedImageError:
        return None, "not an image (PIL cannot identify it)"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:   # truncated, corrupt, huge
        return None, f"unreadable image ({type(e).__name__}: {e})"


def explain_folder(model: nn.Module, folder: str | Path, out: str | Path | None = None, method: str = "grad_cam", *,
                   layer: str | int | nn.Module | None = None, targets: Targets = None,
                   preprocess: Preprocess | None = None, batch_size: int = 4,
                   class_names: Sequence[str] | None = None, raw: bool = False, progress: bool = True,
                   **options: Any) -> FolderSummary:
    """Explain every photo in ``folder`` with ``method`` (any registered name:
    ``ch.METHODS``, the pixel and ViT methods too), ``batch_size`` photos per
    call (4: on the 2-core CPU larger batches were slower per photo, 0.7x a
    loop of single calls at 8 and 16, 1.05x at 4; on a GPU try more), and, with ``out``, write one overlay PNG per photo
    (:func:`cam_helpers.viz.save`; ``raw=True`` adds the maps as ``.npz``)
    and ``explanations.csv``. ``preprocess`` (:func:`cam_helpers.photos.preprocessing`)
    turns each photo into the model's input (default: torchvision's ImageNet
    preprocessing). ``targets``: None explains each photo's predicted class, an int one class
    for every photo. Unreadable files are skipped and listed in the summary."""
    check_positive(batch_size=batch_size)
    fn = registry.get(method).fn           # unknown names: KeyError with the choices
    preprocess = preprocess or preprocessing()
    out = Path(out) if out is not None else None
    files = photo_files(folder, exclude=out)
    stems = Counter(p.stem for p in files)   # a.jpg and a.png are saved as a.jpg_... and a.png_...
    png_names = {p: f"{p.stem if stems[p.stem] == 1 else p.name}_{{method}}.png" for p in files}
    summary = FolderSummary()
    device = model_device_dtype(model)[0]
    start = time.perf_counter()
    from tqdm.auto import tqdm
    bar = tqdm(total=len(files), unit="photo", desc=method, disable=not progress)
    try:
        for i in range(0, len(files), batch_size):
            batch = []
            for path in files[i:i + batch_size]:
                image, reason = _read(path)
                if reason:
                    summary.skipped.append((path.name, reason))
                else:
                    batch.append((path, image))
            if batch:
                x = torch.cat([preprocess(image) for _, image in batch]).to(device)
                result = fn(model, x, layer, targets, **options)   # every method's call shape
                summary.rows += _rows(result, batch, png_names, out, class_names, raw)
            bar.update(len(files[i:i + batch_size]))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    if out is not None:
        summary.csv = out / CSV_NAME
        out.mkdir(parents=True, exist_ok=True)
        with open(summary.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(summary.rows)
    return summary


def _rows(result: CAMResult, batch: Sequence[tuple[Path, np.ndarray]], png_names: dict[Path, str], out: Path | None,
          class_names: Sequence[str] | None, raw: bool) -> list[dict]:
    probs = result.logits.float().softmax(1)
    rows = []
    for j, (path, image) in enumerate(batch):
        c = int(result.targets[j])
        row = {"file": path.name, "class": c,
               "class_name": viz.class_name(class_names, c) or "",
               "probability": round(float(probs[j, c]), 6) if c >= 0 else "",
               "logit": round(float(result.logits[j, c]), 6) if c >= 0 else "",
               "method": result.method, "layer": result.layer, "png": ""}
        if out is not None:
            png = out / png_names[path].format(method=result.method)
            viz.save(png, image, result, j, class_names=class_names, raw=raw)
            row["png"] = png.name
        rows.append(row)
    return rows
