"""Grad-CAM cost, side by side in one run: the plain forward pass, our
``grad_cam``, pytorch-grad-cam's and torchcam's GradCAM.

    python benchmarks/bench_cam.py                      # resnet50, batch 8, 224x224, CPU
    python benchmarks/bench_cam.py --device cuda

Methods are timed in interleaved rounds (so drift in machine load hits all of
them alike) and the median is reported. "forward" is an inference pass in eval
mode under ``torch.no_grad()``: what the model costs without any explanation.
Random weights: timing does not depend on them, and nothing is downloaded.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torchvision

from cam_helpers import default_target_layer, grad_cam


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from pytorch_grad_cam import GradCAM
    from torchcam.methods import GradCAM as TorchcamGradCAM

    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model).eval().to(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    layer = default_target_layer(model)
    module = dict(model.named_modules())[layer]
    targets = list(range(args.batch))

    def forward():
        with torch.no_grad():
            return model(x)

    def ours():
        return grad_cam(model, x, layer, targets).map

    pgc = GradCAM(model, [module])
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    pgc_targets = [ClassifierOutputTarget(t) for t in targets]

    def pytorch_grad_cam():
        return pgc(x, pgc_targets)

    def torchcam():
        with TorchcamGradCAM(model, target_layer=layer) as extractor:
            return extractor(class_idx=targets, scores=model(x))[0]

    methods = {"forward": forward, "cam_helpers.grad_cam": ours,
               "pytorch-grad-cam GradCAM": pytorch_grad_cam, "torchcam GradCAM": torchcam}
    # Same answer first: a fast wrong map is no result.
    a, b = ours().cpu().numpy(), pytorch_grad_cam()
    agreement = float(np.abs(a - b).max())

    times: dict[str, list[float]] = {name: [] for name in methods}
    for name, fn in methods.items():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in methods.items():
            sync(args.device)
            start = time.perf_counter()
            fn()
            sync(args.device)
            times[name].append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)

    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["forward"]
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, {args.device}, "
          f"{torch.get_num_threads()} threads, layer {layer}, median of {args.repeats}")
    print(f"{'method':28s} {'time (ms)':>10s} {'x forward':>10s} {'ours faster by':>15s}")
    for name, t in median.items():
        faster = "" if name in ("forward", "cam_helpers.grad_cam") else f"{t / median['cam_helpers.grad_cam']:.2f}x"
        print(f"{name:28s} {t * 1e3:10.1f} {t / base:10.2f} {faster:>15s}")
    print(f"max |ours - pytorch-grad-cam| over the maps: {agreement:.1e}")
    return median


if __name__ == "__main__":
    main()
