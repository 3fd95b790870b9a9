"""The command line: ``python -m cam_helpers explain FOLDER --model M --method NAME --out DIR``.

    python -m cam_helpers explain my_photos --model efficientnet_lite0 --out maps
    python -m cam_helpers explain my_photos --model timm:convnext_tiny --method layer_cam --out maps
    python -m cam_helpers explain my_photos --model hf:./my-vit --out maps      # a saved Hugging Face folder
    python -m cam_helpers explain my_photos --model my_model.pt --size 96 --out maps
    python -m cam_helpers methods                                              # what --method takes

Exit status: 0 when every readable photo was explained (skipped files are
listed), 1 when not one photo could be explained, 2 for a bad argument (a
missing folder, an unknown model, method or layer).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .methods import pixels, vit  # noqa: F401 (pixels and vit register their methods)
from . import registry
from .hooks import LayerNotFoundError, LayerNotReachedError

if TYPE_CHECKING:
    from .course.photos import Preprocess

MODEL_HELP = """what to explain:
  efficientnet_lite0        the shipped ImageNet model (works offline)
  shapes_cnn, shapes_vgg    a course model (the shapes lab; data/models)
  resnet50, vit_b_16, ...   a torchvision ImageNet model (its weights cached, or downloadable)
  timm:NAME                 a timm model with its pretrained weights (timm.create_model(NAME, pretrained=True))
  hf:PATH                   a Hugging Face image classifier: a hub name, or offline a folder saved with
                            save_pretrained (its image processor's config is read too)
  FILE.pt                   a whole model saved with torch.save(model, FILE) or a TorchScript file"""


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


def load_model(spec: str, random_weights: bool = False, weights: str | None = None
               ) -> tuple[torch.nn.Module, Any, list[str] | None]:
    """(model in eval mode, preprocessing source or None, class names or None) for ``--model``."""
    from .course import models
    from .course.data import CLASSES
    if spec in models.COURSE_MODELS:
        model = models.build_course_model(spec) if random_weights else models.load_course_model(spec)
        return model, "course", list(CLASSES)
    if spec in models.OFFLINE_MODELS:
        from .course.efficientnet_lite import EfficientNetLite0
        model = EfficientNetLite0() if random_weights else models.load_imagenet_model(spec)
        return model.eval(), spec, models.imagenet_classes(spec)
    import torchvision
    from torchvision.models import get_model, list_models
    if spec in list_models():
        if random_weights:
            model = get_model(spec)
        elif spec in models.TORCHVISION_MODELS:
            model = models.load_imagenet_model(spec)   # PretrainedUnavailable says how to get the weights
        else:
            model = get_model(spec, weights="DEFAULT")
        classifier = spec in list_models(module=torchvision.models)   # the ImageNet classifiers (not detectors)
        return model.eval(), spec, models.imagenet_classes() if classifier else None
    if spec.startswith("timm:"):
        import timm
        model = timm.create_model(spec[5:], pretrained=not random_weights and weights is None)
        return _weights(model, weights).eval(), model, _timm_labels(model)
    if spec.startswith("hf:"):
        from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification
        if random_weights:
            model = AutoModelForImageClassification.from_config(AutoConfig.from_pretrained(spec[3:]))
        else:
            model = AutoModelForImageClassification.from_pretrained(spec[3:])
        try:
            processor = AutoImageProcessor.from_pretrained(spec[3:])
        except (OSError, ValueError):
            processor = None
        labels = getattr(model.config, "id2label", None) or {}
        return model.eval(), processor, [labels.get(i, str(i)) for i in range(len(labels))] or None
    path = Path(spec)
    if path.is_file():
        with warnings.catch_warnings():   # torch's notes on handing a TorchScript file to the deprecated torch.jit
            warnings.simplefilter("ignore")
            model = torch.load(path, map_location="cpu", weights_only=False)   # a whole model: trusted files only
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"{path} holds a {type(model).__name__}, not a model: a state dict needs its "
                             "architecture (save the whole model with torch.save(model, FILE), or pass "
                             "--model timm:NAME --weights FILE)")
        if isinstance(model, torch.jit.ScriptModule):
            raise UsageError(f"{path} is a TorchScript model, and TorchScript takes no hooks, so no layer can be "
                             "read: save the model itself with torch.save(model, FILE)")
        return model.eval(), None, None
    raise UsageError(f"unknown model {spec!r}: not a course or torchvision model name, not timm:NAME or hf:PATH, "
                     "and no such file")


def _weights(model: torch.nn.Module, weights: str | None) -> torch.nn.Module:
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return model


def _timm_labels(model: torch.nn.Module) -> list[str] | None:
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset
        subset = infer_imagenet_subset(model)
        return list(ImageNetInfo(subset).label_descriptions()) if subset else None
    except Exception:   # older timm, or a model without ImageNet labels: class indices only
        return None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m cam_helpers",
                                  description="Explain image classifiers with Class Activation Maps.")
    sub = top.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="explain every photo in a folder and save the maps",
                        description="Explain every photo in FOLDER and write one overlay PNG per photo and "
                                    "explanations.csv (file, class, class name, probability, method, layer) "
                                    "to --out. Files that cannot be read are skipped and listed.",
                        epilog=MODEL_HELP)
    ex.add_argument("folder", type=Path, help="the folder of photos")
    ex.add_argument("--model", required=True, help="what to explain (see below)")
    ex.add_argument("--method", default="grad_cam", help="a method name (python -m cam_helpers methods); "
                                                         "default grad_cam")
    ex.add_argument("--out", type=Path, required=True, help="the folder to write the maps and the CSV to")
    ex.add_argument("--layer", help="the layer's dotted name (default: chosen for the model, and printed)")
    ex.add_argument("--target", type=int, help="explain this class for every photo (default: each "
                                               "photo's predicted class)")
    ex.add_argument("--batch-size", type=int, default=4, help="photos per batch (default 4; on a GPU try more)")
    ex.add_argument("--size", type=int, nargs="+", metavar="PX", help="input size, one number or H W "
                                                                      "(default: the model's own)")
    ex.add_argument("--mean", type=float, nargs=3, help="normalisation mean, 0-1 scale (default: the model's)")
    ex.add_argument("--std", type=float, nargs=3, help="normalisation std, 0-1 scale (default: the model's)")
    ex.add_argument("--weights", help="a state dict to load into the model (with timm:NAME)")
    ex.add_argument("--random-weights", action="store_true",
                    help="random weights, nothing downloaded: to try the pipeline offline (the maps mean nothing)")
    ex.add_argument("--raw", action="store_true", help="also save each map as .npz (arrays map and raw)")
    ex.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("methods", help="list the methods --method takes")
    return top


def _preprocess(source: Any, args: argparse.Namespace) -> Preprocess:
    from .course.data import IMAGE_SIZE, SHAPES_MEAN, SHAPES_STD
    from .course.photos import preprocessing
    size = None if args.size is None else (args.size[0] if len(args.size) == 1 else tuple(args.size[:2]))
    if source == "course":
        return preprocessing(None, size=size or IMAGE_SIZE, mean=args.mean or SHAPES_MEAN, std=args.std or SHAPES_STD)
    return preprocessing(source, size=size, mean=args.mean, std=args.std)


def explain(args: argparse.Namespace) -> int:
    from .folders import explain_folder
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder")
    try:
        registry.get(args.method)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    model, source, class_names = load_model(args.model, args.random_weights, args.weights)
    preprocess = _preprocess(source, args)
    model = model.to(args.device)
    try:
        summary = explain_folder(model, args.folder, args.out, args.method, layer=args.layer, targets=args.target,
                                 preprocess=preprocess, batch_size=args.batch_size, class_names=class_names,
                                 raw=args.raw, progress=not args.quiet)
    except (LayerNotFoundError, LayerNotReachedError, TypeError) as e:   # TypeError: a method this model lacks
        raise UsageError(str(e)) from None
    print(summary)
    if summary.rows:
        print(f"layer: {summary.rows[0]['layer']}; maps in {args.out}")
    return 0 if summary.rows else 1


def main(argv: list[str] | None = None) -> int:
    from .course import models
    args = parser().parse_args(argv)
    if args.command == "methods":
        for m in registry.methods():
            print(f"{m.name:22s} {m.family:6s} {m.paper}")
        return 0
    try:
        return explain(args)
    except (UsageError, ValueError, models.PretrainedUnavailable, models.WeightsError, OSError) as e:
        print(f"python -m cam_helpers explain: error: {e}", file=sys.stderr)
        return 2
