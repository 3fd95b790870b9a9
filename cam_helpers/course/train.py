"""Training and fine-tuning: the loop that made the shipped weights.

Recreate a course model (seeded, a few minutes on a 2-core CPU)::

    python -m cam_helpers.train shapes_cnn
    python -m cam_helpers.train shapes_vgg

This writes ``data/models/<name>.pt`` and records its sha256, test accuracy and
the command in ``data/models/manifest.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, TensorDataset
from tqdm.auto import tqdm

from . import models
from .data import ShapesDataset, imagenet_transform, normalise
from ..hooks import frozen_eval
from ..speed import channels_last

# Course models train at these settings; the manifest records what was used.
DEFAULTS = {"shapes_cnn": dict(epochs=8, train_size=20_000, lr=3e-3, weight_decay=1e-4),
            "shapes_vgg": dict(epochs=8, train_size=20_000, lr=2e-3, weight_decay=1e-4),
            "shapes_vit": dict(epochs=16, train_size=20_000, lr=1e-3, weight_decay=0.05)}


def render(dataset: ShapesDataset, progress: bool = True) -> TensorDataset:
    """Render every scene of a lab dataset once, as uint8 (N, 3, H, W) images
    and labels, so that epochs after the first cost no drawing."""
    images = torch.empty(len(dataset), 3, dataset.image_size, dataset.image_size, dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.long)
    for i in tqdm(range(len(dataset)), desc=f"render {dataset.split}", disable=not progress, leave=False):
        scene = dataset.scene(i)
        images[i] = torch.from_numpy(scene.image).permute(2, 0, 1)
        labels[i] = scene.label
    return TensorDataset(images, labels)


def imagenet_prepare(size: int = 128, weights: Any = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``prepare`` for ImageNet models: uint8 lab scenes resized (bilinear,
    antialiased) to ``size`` and normalised as ``weights`` expects (a model
    name such as ``"efficientnet_lite0"``; default: torchvision's ImageNet preset)."""
    _, mean, std = imagenet_transform(weights)

    def prepare(images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return (x - x.new_tensor(mean)[:, None, None]) / x.new_tensor(std)[:, None, None]
    return prepare


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips and quarter turns of a whole batch: every class of the lab
    is the same class in a mirror or turned."""
    k = int(torch.randint(4, (1,), generator=generator))
    images = torch.rot90(images, k, dims=(2, 3))
    if torch.rand(1, generator=generator) < 0.5:
        images = images.flip(3)
    return images


def _batches(data: TensorDataset, batch_size: int, shuffle: bool, generator: torch.Generator | None = None
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    images, labels = data.tensors
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        yield images[idx], labels[idx]


@torch.no_grad()
def accuracy(model: nn.Module, data: TensorDataset | Dataset, batch_size: int = 256,
             prepare: Callable[[torch.Tensor], torch.Tensor] = normalise) -> float:
    """Accuracy of ``model`` on a rendered (or lab) dataset, in eval mode
    without autograd (mode and ``requires_grad`` flags restored).
    ``prepare`` turns a uint8 batch into the model's input (default: the lab's
    normalisation; :func:`imagenet_prepare` for an ImageNet model)."""
    if not isinstance(data, TensorDataset):
        data = render(data, progress=False)  # type: ignore[arg-type]  # a ShapesDataset
    device = next(model.parameters()).device
    correct = 0
    with frozen_eval(model), torch.no_grad():
        for images, labels in _batches(data, batch_size, shuffle=False):
            pred = model(prepare(images.to(device))).argmax(1)
            correct += int((pred == labels.to(device)).sum())
    return correct / len(data)


def fit(model: nn.Module, train: TensorDataset, epochs: int = 1, lr: float = 1e-3, batch_size: int = 128,
        seed: int = 0, steps: int | None = None, val: TensorDataset | None = None,
        progress: bool = True, weight_decay: float = 1e-4,
        prepare: Callable[[torch.Tensor], torch.Tensor] = normalise,
        on_epoch: Callable[[nn.Module], dict] | None = None, augmentation: bool = True) -> list[dict]:
    """Train the parameters of ``model`` that require grad with AdamW and a
    one-cycle schedule, on flipped and turned batches (:func:`augment`; pass
    ``augmentation=False`` to train on the images as they are, e.g. to
    memorise shuffled labels).

    ``steps`` caps the number of optimisation steps (for quick checks).
    ``prepare`` turns a uint8 batch into the model's input. ``on_epoch(model)``
    runs after every epoch, with the model in eval mode, and what it returns
    (a dict: say a pointing-game score) is added to that epoch's record; this
    is how notebook 06 takes checkpoints. Returns one record per epoch (loss,
    train accuracy, val accuracy when ``val`` is given, and ``on_epoch``'s keys).

    On the CPU the convolution weights train in channels-last layout (about a
    quarter faster) and are put back in the usual layout afterwards.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    per_epoch = -(-len(train) // batch_size)
    total = min(steps, epochs * per_epoch) if steps else epochs * per_epoch
    history, step = [], 0
    bar = tqdm(total=total, desc="train", disable=not progress)
    with channels_last(model, enabled=device.type == "cpu"):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        sched: torch.optim.lr_scheduler.LRScheduler
        if total >= 10:
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.2)
        else:  # too short for a warm-up: constant rate
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        for epoch in range(epochs):
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for images, labels in _batches(train, batch_size, True, generator):
                if step == total:
                    break
                x = prepare((augment(images, generator) if augmentation else images).to(device))
                labels = labels.to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                loss_sum += float(loss.detach()) * len(labels)
                correct += int((logits.argmax(1) == labels).sum())
                seen += len(labels)
                bar.update()
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            model.eval()
            record = {"epoch": epoch + 1, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1)}
            if val is not None:
                record["val_acc"] = accuracy(model, val, prepare=prepare)
            if on_epoch is not None:
                record.update(on_epoch(model) or {})
            history.append(record)
            if step == total:
                break
        opt.zero_grad(set_to_none=True)  # no stale gradients in the training layout
    bar.close()
    model.eval()
    return history


def gap_features(features: nn.Module, data: TensorDataset, batch_size: int = 256) -> torch.Tensor:
    """Global-average-pooled feature vectors (N, C) of a frozen extractor."""
    device = next(features.parameters()).device
    out = []
    with torch.no_grad():
        for images, _ in _batches(data, batch_size, shuffle=False):
            out.append(features(normalise(images.to(device))).mean((2, 3)))
    return torch.cat(out)


def fit_head(head: nn.Linear, feats: torch.Tensor, labels: torch.Tensor, steps: int = 300,
             lr: float = 0.05, seed: int = 0) -> float:
    """Train a linear head on precomputed features (full batch, Adam): the
    seconds-long retraining of notebook 01's surgery. Returns the final loss."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    labels = labels.to(feats.device)
    for _ in range(steps):
        loss = F.cross_entropy(head(feats), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())


def train_course_model(name: str, out: Path, epochs: int, train_size: int, lr: float, seed: int,
                       steps: int | None = None, test_size: int = 2000, progress: bool = True,
                       weight_decay: float = 1e-4) -> dict:
    """Train a course model from scratch and write its weights and manifest entry."""
    torch.manual_seed(seed)
    model = models.build_course_model(name)
    train = render(ShapesDataset("single", "train", train_size, seed=seed), progress)
    t0 = time.perf_counter()
    history = fit(model, train, epochs=epochs, lr=lr, seed=seed, steps=steps, progress=progress,
                  weight_decay=weight_decay)
    train_s = time.perf_counter() - t0
    test = render(ShapesDataset("single", "test", test_size, seed=seed), progress)
    acc = accuracy(model, test)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.pt"
    torch.save(model.state_dict(), path)
    manifest_path = out / models.MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[name] = {
        "file": path.name, "sha256": models.sha256(path), "bytes": path.stat().st_size,
        "test_accuracy": round(acc, 4), "test_split": f"single/test, {test_size} scenes, seed {seed}",
        "train_seconds": round(train_s, 1), "history": history,
        "command": f"python -m cam_helpers.train {name} --epochs {epochs} --train-size {train_size} "
                   f"--lr {lr} --seed {seed}" + (f" --steps {steps}" if steps else "")
                   + (f" --weight-decay {weight_decay}" if weight_decay != 1e-4 else ""),
        "torch": torch.__version__,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest[name]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a course model on the shapes lab.")
    parser.add_argument("name", choices=sorted(models.COURSE_MODELS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="stop after this many steps (quick checks)")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=models.MODELS_DIR)
    args = parser.parse_args(argv)
    cfg: dict = dict(DEFAULTS[args.name])
    for key in ("epochs", "train_size", "lr", "weight_decay"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    entry = train_course_model(args.name, args.out, seed=args.seed, steps=args.steps,
                               test_size=args.test_size, progress=True, **cfg)
    print(f"{args.name}: test accuracy {entry['test_accuracy']:.4f}, "
          f"{entry['bytes'] / 1e6:.2f} MB, trained in {entry['train_seconds']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
