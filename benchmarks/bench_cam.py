"""CAM cost, side by side in one run: the plain forward pass, our methods,
pytorch-grad-cam's and torchcam's.

    python benchmarks/bench_cam.py                  # resnet50, 224x224, CPU, every section
    python benchmarks/bench_cam.py --sections gradient --device cuda

Sections:
  gradient   Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM, HiResCAM on a batch
             (default 8): one backward pass each.
  score      Score-CAM on one image: ours exact (under pytorch-grad-cam's
             settings, so the maps must agree), pytorch-grad-cam's, ours with
             top-k channels.
  ablation   Ablation-CAM on one image: ours vs pytorch-grad-cam.
  road       ROAD (remove and debias) on a few images, MoRF and LeRF at nine fractions with the noise
             off: ours vs pytorch-grad-cam's, the same numbers.
  topk       "Faster Score-CAM" on the shapes lab (shapes_cnn): time and
             Spearman rank correlation of the top-k map to the exact one.
  curves     Insertion + deletion AUC for a batch of shapes-lab scenes
             (shapes_cnn, 64x64, one row per step) and of 224x224 images
             (resnet18): ours batched vs the per-step loop most tutorials
             show (metrics.perturbation_curves_loop); same values. Also
             ours with batching alone (fast=False: no batch-norm folding,
             no channels-last), and the batch's plain forward pass.
  lite0      EfficientNet-Lite0 with its real ImageNet weights (they ship with
             the course) on the course photos at 224x224, batch of 8: the
             gradient section's rows, and the explorer's latency on one photo
             (a class change: one backward pass; a layer change: none).
  vit        vit_b_16 on a batch (default 4): attention capture and rollout
             (no autograd), gradient rollout, Grad-CAM on tokens against
             pytorch-grad-cam (with a reshape transform), LeGrad against
             torchcam.
  folder     explain_folder on 32 copies of the course photos (Lite0,
             batches of 4, its default) against a loop of one grad_cam call per photo:
             photos per second, no files written.

Within a section, methods are timed in interleaved rounds (machine-load drift
hits all alike) and the median is reported. "forward" is an inference pass in
eval mode under ``torch.no_grad()``. ImageNet models have random weights:
timing does not depend on them, and nothing is downloaded.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torchvision

import cam_helpers as ch


def timed(methods: dict, repeats: int, device: str, warmup: bool = True) -> dict[str, float]:
    """Median seconds per method over ``repeats`` interleaved rounds (after one
    warm-up round, unless the methods are long enough not to need one)."""
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for fn in methods.values() if warmup else ():
        fn()
    for _ in range(repeats):
        for name, fn in methods.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def inference(model, x):
    """The plain forward pass every method is measured against."""
    def forward():
        with torch.no_grad():
            return model(x)
    return forward


def table(rows: list[tuple[str, float, str]], base: float) -> None:
    print(f"  {'method':34s} {'time (ms)':>10s} {'x forward':>10s}  note")
    for name, t, note in rows:
        print(f"  {name:34s} {t * 1e3:10.1f} {t / base:10.2f}  {note}")


def versus(median: dict, ours: str, theirs: str) -> None:
    """The forward pass, ours and pytorch-grad-cam's, with how much faster ours is."""
    table([("forward", median["forward"], ""),
           (ours, median[ours], f"{median[theirs] / median[ours]:.1f}x faster than pytorch-grad-cam"),
           (theirs, median[theirs], "")], median["forward"])


def gradient_section(model, x, layer, module, repeats, device, title: str = "gradient") -> dict:
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam import methods as tc

    targets = list(range(len(x)))
    pgc_targets = [ClassifierOutputTarget(t) for t in targets]
    pairs = {  # ours, pytorch-grad-cam class, torchcam class (None: not in torchcam)
        "grad_cam": (GradCAM, tc.GradCAM), "grad_cam_pp": (GradCAMPlusPlus, tc.GradCAMpp),
        "xgrad_cam": (XGradCAM, tc.XGradCAM), "layer_cam": (LayerCAM, tc.LayerCAM), "hires_cam": (HiResCAM, None),
    }

    forward = inference(model, x)

    methods = {"forward": forward}
    for name, (pgc_cls, tc_cls) in pairs.items():
        methods[f"ours {name}"] = lambda name=name: getattr(ch, name)(model, x, layer, targets).map
        pgc = pgc_cls(model, [module])
        methods[f"pytorch-grad-cam {pgc_cls.__name__}"] = lambda pgc=pgc: pgc(x, pgc_targets)
        if tc_cls is not None:
            def torchcam_run(cls=tc_cls):
                with cls(model, target_layer=layer) as extractor:
                    return extractor(class_idx=targets, scores=model(x))[0]
            methods[f"torchcam {tc_cls.__name__}"] = torchcam_run
    agree = float(np.abs(ch.grad_cam(model, x, layer, targets).map.cpu().numpy()
                         - methods["pytorch-grad-cam GradCAM"]()).max())
    median = timed(methods, repeats, device)
    model.zero_grad(set_to_none=True)
    rows = []
    for label, t in median.items():
        note = ""
        if label.startswith("ours"):
            pgc_label = f"pytorch-grad-cam {pairs[label[5:]][0].__name__}"
            note = f"{median[pgc_label] / t:.2f}x faster than pytorch-grad-cam"
        rows.append((label, t, note))
    print(f"\n[{title}] batch of {len(x)}; max |ours - pytorch-grad-cam| for Grad-CAM: {agree:.1e}")
    table(rows, median["forward"])
    return median


def explorer_latency(model, x1, image: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds of a class change and of a layer change in the explorer
    on ``image`` (the photo at its own size), redraw included, after its first
    forward pass."""
    from cam_helpers.widgets import CAMExplorer
    explorer = CAMExplorer(model, x1, image, [str(i) for i in range(1000)], methods=["grad_cam"])

    def change(control, value) -> float:
        start = time.perf_counter()
        control.value = value
        return time.perf_counter() - start
    classes = [value for _, value in explorer.klass.options[1:repeats + 1]]
    layers = list(explorer.layer.options)
    return {"explorer: class change": statistics.median(change(explorer.klass, c) for c in classes),
            "explorer: layer change": statistics.median(change(explorer.layer, l) for l in layers)}


def lite0_section(batch: int, repeats: int, device: str, size: int | None = None) -> dict:
    from cam_helpers import models, photos
    model = models.load_imagenet_model("efficientnet_lite0", device)
    shots = [photos.load_image(p, weights="efficientnet_lite0", size=size) for p in photos.course_photos()]
    x = torch.cat([shots[i % len(shots)].tensor for i in range(batch)]).to(device)
    median = gradient_section(model, x, "features.8", model.features[8], repeats, device, title="lite0")
    latency = explorer_latency(model, x[:1], shots[0].image, repeats)
    for label, t in latency.items():
        print(f"  {label:34s} {t * 1e3:10.1f} ms (median, image redraw included)")
    return {**median, **latency}


def score_section(model, x1, layer, module, top_k, repeats, device) -> dict:
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    forward = inference(model, x1)

    theirs_map = {}

    def theirs():
        with ScoreCAM(model, [module]) as ref:
            theirs_map["map"] = ref(x1, [ClassifierOutputTarget(1)])

    ours_map = {}

    def ours():
        ours_map["map"] = ch.score_cam(model, x1, layer, 1, like="pytorch-grad-cam", progress=False).map

    forward()  # warm-up for the one short method

    def ours_top_k():
        return ch.score_cam(model, x1, layer, 1, like="pytorch-grad-cam", top_k=top_k, progress=False)

    median = timed({"forward": forward, "ours score_cam (exact)": ours, "pytorch-grad-cam ScoreCAM": theirs,
                    f"ours score_cam (top_k={top_k})": ours_top_k}, repeats, device, warmup=False)
    agree = float(np.abs(ours_map["map"].cpu().numpy() - theirs_map["map"]).max())
    exact, pgc, fast = (median["ours score_cam (exact)"], median["pytorch-grad-cam ScoreCAM"],
                        median[f"ours score_cam (top_k={top_k})"])
    print(f"\n[score] one image, median of {repeats} interleaved rounds; "
          f"max |ours exact - pytorch-grad-cam| over the map: {agree:.1e}")
    table([("forward", median["forward"], ""),
           ("ours score_cam (exact)", exact, f"{pgc / exact:.2f}x faster than pytorch-grad-cam"),
           ("pytorch-grad-cam ScoreCAM", pgc, ""),
           (f"ours score_cam (top_k={top_k})", fast, f"{exact / fast:.1f}x faster than exact")], median["forward"])
    return median


def ablation_section(model, x1, layer, module, device) -> dict:
    from pytorch_grad_cam import AblationCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    maps = {}

    forward = inference(model, x1)

    def ours():
        maps["ours"] = ch.ablation_cam(model, x1, layer, 1, progress=False).map

    def theirs():
        with AblationCAM(model, [module]) as ref:
            maps["theirs"] = ref(x1, [ClassifierOutputTarget(1)])

    forward()  # warm-up for the one short method
    median = timed({"forward": forward, "ours ablation_cam": ours, "pytorch-grad-cam AblationCAM": theirs}, 1, device,
                   warmup=False)
    agree = float(np.abs(maps["ours"].cpu().numpy() - maps["theirs"]).max())
    print(f"\n[ablation] one image; max |ours - pytorch-grad-cam| over the map: {agree:.1e}")
    versus(median, "ours ablation_cam", "pytorch-grad-cam AblationCAM")
    return median


def road_section(model, x, layer, repeats: int, device: str) -> dict:
    """ROAD (Rong et al. 2022), MoRF and LeRF at nine fractions, noise off so both give the same numbers: ours
    (one sparse solve per image and fraction, the model's passes batched) against pytorch-grad-cam's
    ROADMostRelevantFirst / ROADLeastRelevantFirst averaged the same way (what ROADCombined runs)."""
    from pytorch_grad_cam.metrics.perturbation_confidence import (PerturbationConfidenceMetric,
                                                                  RemoveLeastRelevantFirst, RemoveMostRelevantFirst)
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    from cam_helpers.evaluate.road import FRACTIONS, road
    explained = ch.grad_cam(model, x, layer)
    maps, targets = explained.map, explained.targets.tolist()
    out = {}

    def ours():
        out["ours"] = road(model, x, maps, targets, noise=0)["combined"]

    def theirs():
        score = [ClassifierOutputSoftmaxTarget(t) for t in targets]
        curves = {order: np.mean([PerturbationConfidenceMetric(remove(round(100 * (1 - f)), NoisyLinearImputer(0)))(
                    x, maps.cpu().numpy(), score, model, return_diff=False) for f in FRACTIONS], axis=0)
                  for order, remove in (("morf", RemoveMostRelevantFirst), ("lerf", RemoveLeastRelevantFirst))}
        out["theirs"] = (curves["lerf"] - curves["morf"]) / 2

    forward = inference(model, x)
    median = timed({"forward": forward, "ours road": ours, "pytorch-grad-cam ROAD": theirs}, repeats, device,
                   warmup=False)
    agree = float(np.abs(out["ours"].cpu().numpy() - out["theirs"]).max())
    print(f"\n[road] {len(x)} images, MoRF and LeRF at 9 fractions; max |ours - pytorch-grad-cam| combined: {agree:.1e}")
    versus(median, "ours road", "pytorch-grad-cam ROAD")
    return median


def topk_section(scenes: int, top_k: int, device: str) -> dict:
    from cam_helpers import data, metrics, models
    model = models.load_course_model("shapes_cnn", device)
    x, _, _ = data.batch(data.ShapesDataset("single", "test", scenes, seed=1).scenes())
    x = x.to(device)
    ex = ch.Explainer(model, x)
    start = time.perf_counter()
    exact = ex.score_cam(progress=False)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    fast = ex.score_cam(top_k=top_k, progress=False)
    t_fast = time.perf_counter() - start
    rho = metrics.spearman(exact.map.cpu(), fast.map.cpu())
    channels = ex.activations[ex.layers[-1]].shape[1]
    print(f"\n[topk] shapes_cnn, {scenes} test scenes, layer {ex.layers[-1]} ({channels} channels)")
    print(f"  exact {t_exact:.2f} s, top_k={top_k} {t_fast:.2f} s: {t_exact / t_fast:.1f}x faster; "
          f"Spearman to exact: mean {rho.mean():.3f}, min {rho.min():.3f}")
    return {"speedup": t_exact / t_fast, "spearman_mean": float(rho.mean()), "spearman_min": float(rho.min())}


def curves_section(batch: int, repeats: int, device: str, size: int = 224) -> dict:
    from cam_helpers import data, metrics, models
    setups = {}
    lab = models.load_course_model("shapes_cnn", device)
    x, labels, _ = data.batch(data.ShapesDataset("single", "test", batch, seed=1).scenes())
    setups["shapes_cnn 64x64"] = (lab, x.to(device), labels.to(device))
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval().to(device)
    setups[f"resnet18 {size}x{size} (step {size}*8)"] = (net, torch.randn(2, 3, size, size, device=device),
                                                         torch.arange(2, device=device))
    out = {}
    for name, (model, xb, t) in setups.items():
        maps = ch.grad_cam(model, xb, targets=t).map
        step = None if model is lab else xb.shape[-1] * 8

        def ours():
            c = metrics.insertion_deletion(model, xb, maps, t, step)
            return [c["insertion"], c["deletion"]]

        def batched_only():  # the same batches, without folding batch norms or channels-last
            c = metrics.insertion_deletion(model, xb, maps, t, step, fast=False)
            return [c["insertion"], c["deletion"]]

        def loop():
            return [metrics.perturbation_curves_loop(model, xb, maps, t, mode, step)
                    for mode in ("insertion", "deletion")]
        reference = loop()
        agree = max(float((a - b).abs().max()) for f in (ours, batched_only) for a, b in zip(f(), reference))
        median = timed({"forward": inference(model, xb), "ours": ours, "ours, batching only": batched_only,
                        "per-step loop": loop}, repeats, device, warmup=False)
        out[name] = median
        n = reference[0].shape[1]
        print(f"\n[curves] {name}, {len(xb)} images, {n} points per curve, insertion + deletion "
              f"({2 * n * len(xb)} forward passes of one image); max |ours - loop| {agree:.1e}")
        print(f"  {'':22s} {'time (s)':>9s} {'x forward':>10s} {'loop / this':>12s}")
        for key in ("per-step loop", "ours, batching only", "ours"):
            print(f"  {key:22s} {median[key]:9.2f} {median[key] / median['forward']:10.1f} "
                  f"{median['per-step loop'] / median[key]:11.2f}x")
    return out


def vit_section(batch: int, repeats: int, device: str, size: int = 224) -> dict:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.methods import LeGrad

    from cam_helpers import vit
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(image_size=size).eval().to(device)
    torch.nn.init.normal_(model.heads.head.weight, std=0.05)  # torchvision starts it at zero: no gradient
    x = torch.randn(batch, 3, size, size, device=device)
    targets = list(range(batch))
    grid = vit.grid_shape(model, x)
    pgc = GradCAM(model, [vit.blocks(model)[-1].ln_1], reshape_transform=lambda t: vit.tokens_to_grid(t, grid))
    pgc_targets = [ClassifierOutputTarget(t) for t in targets]

    def torchcam_legrad():
        with LeGrad(model, vit.blocks(model)) as extractor:
            return extractor(targets, model(x))[0]

    methods = {
        "forward": inference(model, x),
        "ours attention capture": lambda: vit.attentions(model, x),
        "ours rollout": lambda: vit.rollout(model, x).map,
        "ours gradient_rollout": lambda: vit.gradient_rollout(model, x, targets=targets).map,
        "ours grad_cam": lambda: vit.grad_cam(model, x, targets=targets).map,
        "pytorch-grad-cam GradCAM": lambda: pgc(x, pgc_targets),
        "ours legrad": lambda: vit.legrad(model, x, targets=targets).raw,
        "torchcam LeGrad": torchcam_legrad,
    }
    agree_pgc = float(np.abs(methods["ours grad_cam"]().cpu().numpy() - methods["pytorch-grad-cam GradCAM"]()).max())
    ours_lg = methods["ours legrad"]()
    ours_lg = ours_lg - ours_lg.amin((1, 2), keepdim=True)
    agree_tc = float((ours_lg / ours_lg.amax((1, 2), keepdim=True) - torchcam_legrad()).abs().max())
    median = timed(methods, repeats, device)
    notes = {"ours grad_cam": f"{median['pytorch-grad-cam GradCAM'] / median['ours grad_cam']:.2f}x faster than "
                              "pytorch-grad-cam",
             "ours legrad": f"{median['torchcam LeGrad'] / median['ours legrad']:.2f}x faster than torchcam"}
    print(f"\n[vit] vit_b_16, batch of {batch}, {grid[0]}x{grid[1]} patches; max |ours - pytorch-grad-cam| "
          f"{agree_pgc:.1e}, max |ours - torchcam LeGrad| {agree_tc:.1e}")
    table([(label, t, notes.get(label, "")) for label, t in median.items()], median["forward"])
    return median


def timm_section(batch: int, repeats: int, device: str, size: int = 224) -> dict:
    """The ViT methods on timm's ViT-B/16 (random weights): token Grad-CAM through ch.grad_cam's default layer
    and adapter, against timm's own forward pass and pytorch-grad-cam with the reshape transform a user writes;
    rollout and gradient rollout through the timm reader (fused attention switched off for the call)."""
    import timm
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from cam_helpers import vit
    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=size).eval().to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    targets = list(range(batch))
    gh, gw = vit.grid_shape(model, x)
    pgc = GradCAM(model, [model.blocks[-1].norm1],
                  reshape_transform=lambda t: t[:, 1:].reshape(t.shape[0], gh, gw, -1).permute(0, 3, 1, 2))
    pgc_targets = [ClassifierOutputTarget(t) for t in targets]
    methods = {
        "forward": inference(model, x),
        "ours grad_cam (ch.grad_cam)": lambda: ch.grad_cam(model, x, targets=targets).map,
        "pytorch-grad-cam GradCAM": lambda: pgc(x, pgc_targets),
        "ours attention capture": lambda: vit.attentions(model, x),
        "ours rollout": lambda: vit.rollout(model, x).map,
        "ours gradient_rollout": lambda: vit.gradient_rollout(model, x, targets=targets).map,
    }
    ours, theirs = methods["ours grad_cam (ch.grad_cam)"]().cpu().numpy(), methods["pytorch-grad-cam GradCAM"]()
    agree = min(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in zip(ours, theirs))
    median = timed(methods, repeats, device)
    notes = {"ours grad_cam (ch.grad_cam)": f"{median['pytorch-grad-cam GradCAM'] / median['ours grad_cam (ch.grad_cam)']:.2f}x "
                                            "faster than pytorch-grad-cam"}
    print(f"\n[timm] timm vit_base_patch16_224, batch of {batch}, {gh}x{gw} patches; Pearson r ours vs "
          f"pytorch-grad-cam, worst image: {agree:.6f}")
    table([(label, t, notes.get(label, "")) for label, t in median.items()], median["forward"])
    return median


def folder_section(count: int, batch: int, repeats: int, device: str, size: int | None = None) -> dict:
    """explain_folder (batches of ``batch``) against a plain loop of one grad_cam call per photo: the same
    files read and preprocessed, the same maps, no files written (saving PNGs costs the same in both)."""
    import shutil
    import tempfile
    from pathlib import Path

    from cam_helpers import models, photos
    from cam_helpers.folders import explain_folder
    model = models.load_imagenet_model("efficientnet_lite0", device)
    pre = photos.preprocessing("efficientnet_lite0", size=size)
    shots = photos.course_photos()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(count):
            shutil.copy(shots[i % len(shots)], folder / f"{i:04d}{shots[i % len(shots)].suffix}")

        def ours():
            explain_folder(model, folder, None, "grad_cam", preprocess=pre, batch_size=batch, progress=False)

        def loop():
            for path in sorted(folder.iterdir()):
                ch.grad_cam(model, pre(photos.read_rgb(path)).to(device))
        t = timed({"ours explain_folder": ours, "loop of grad_cam calls": loop}, repeats, device, warmup=False)
    print(f"\nexplain_folder: {count} photos, batches of {batch}, Lite0 at {pre.size[0]} px, grad_cam")
    for name, seconds in t.items():
        print(f"  {name:34s} {count / seconds:10.1f} photos/s")
    print(f"  batching: {t['loop of grad_cam calls'] / t['ours explain_folder']:.2f}x the loop's throughput")
    return t


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--top-k", type=int, default=128, help="channels kept by the fast Score-CAM (ImageNet model)")
    parser.add_argument("--lab-top-k", type=int, default=8, help="channels kept on shapes_cnn (of 128)")
    parser.add_argument("--lab-scenes", type=int, default=50)
    parser.add_argument("--score-repeats", type=int, default=3, help="rounds of the (long) Score-CAM section")
    parser.add_argument("--vit-batch", type=int, default=4)
    parser.add_argument("--curve-batch", type=int, default=16)
    parser.add_argument("--lite0-batch", type=int, default=8)
    parser.add_argument("--folder-photos", type=int, default=32, help="photos in the explain_folder section")
    parser.add_argument("--folder-batch", type=int, default=4, help="explain_folder's batch (its default)")
    parser.add_argument("--sections", nargs="*",
                        default=["gradient", "score", "ablation", "road", "topk", "curves", "lite0", "vit", "timm",
                                 "folder"])
    parser.add_argument("--road-batch", type=int, default=2, help="images in the ROAD section")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vit-size", type=int, default=224, help="vit_b_16's image size (the test: 64)")
    parser.add_argument("--lite0-size", type=int, default=None, help="the photos' size for Lite0 (default 224)")
    parser.add_argument("--curve-size", type=int, default=224, help="the ResNet-18 curves' image size (the test: 64)")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model).eval().to(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    layer = ch.default_target_layer(model)
    module = dict(model.named_modules())[layer]
    print(f"{args.model}, {args.size}x{args.size}, {args.device}, {torch.get_num_threads()} threads, "
          f"layer {layer}, torch {torch.__version__}")
    results = {}
    if "gradient" in args.sections:
        results["gradient"] = gradient_section(model, x, layer, module, args.repeats, args.device)
    if "score" in args.sections:
        results["score"] = score_section(model, x[:1], layer, module, args.top_k, args.score_repeats, args.device)
    if "ablation" in args.sections:
        results["ablation"] = ablation_section(model, x[:1], layer, module, args.device)
    if "road" in args.sections:
        results["road"] = road_section(model, x[:args.road_batch], layer, min(args.repeats, 3), args.device)
    if "topk" in args.sections:
        results["topk"] = topk_section(args.lab_scenes, args.lab_top_k, args.device)
    if "curves" in args.sections:
        results["curves"] = curves_section(args.curve_batch, min(args.repeats, 3), args.device, args.curve_size)
    if "lite0" in args.sections:
        results["lite0"] = lite0_section(args.lite0_batch, args.repeats, args.device, args.lite0_size)
    if "vit" in args.sections:
        results["vit"] = vit_section(args.vit_batch, args.repeats, args.device, args.vit_size)
    if "timm" in args.sections:
        results["timm"] = timm_section(args.vit_batch, args.repeats, args.device, args.vit_size)
    if "folder" in args.sections:
        results["folder"] = folder_section(args.folder_photos, args.folder_batch, min(args.repeats, 3), args.device,
                                           args.lite0_size)
    return results


if __name__ == "__main__":
    main()
