"""The metric family: known answers, agreement with torchcam, scikit-image and
a per-step loop, the sanity check, and dataset evaluation in one process and
under torchrun (gloo)."""
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from skimage.metrics import structural_similarity

import cam_helpers as ch
from cam_helpers import data, evaluation, metrics, models, pixels, sanity

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab():
    model = models.load_course_model("shapes_cnn")
    ds = data.ShapesDataset("single", split="test", size=6, seed=2)
    scenes = ds.scenes()
    x, labels, masks = data.batch(scenes)
    boxes = torch.tensor([s.objects[0].box for s in scenes])
    return model, x, labels, masks, boxes


def test_ground_truth_metrics_known_answers(lab):
    _, _, _, masks, boxes = lab
    perfect = masks.float()
    assert metrics.pointing_game(perfect, masks).all()
    assert torch.allclose(metrics.energy_pointing_game(perfect, masks), torch.ones(len(masks), dtype=torch.float))
    assert torch.allclose(metrics.iou(perfect, masks), torch.ones(len(masks), dtype=torch.float64))
    # a box is a mask too: the box map scores IoU 1 against the box, and energy 1
    box_maps = metrics.box_masks(boxes, masks.shape[-2:]).float()
    assert torch.allclose(metrics.iou(box_maps, boxes), torch.ones(len(masks), dtype=torch.float64))
    assert torch.allclose(metrics.box_localisation(box_maps, boxes), torch.ones(len(masks)))
    # a constant map: energy = the region's share of the image; IoU = that share too (everything is on)
    const = torch.ones_like(perfect)
    share = masks.flatten(1).float().mean(1)
    assert torch.allclose(metrics.energy_pointing_game(const, masks), share)
    assert torch.allclose(metrics.iou(const, masks).float(), share)
    assert not metrics.pointing_game(torch.zeros_like(perfect), masks).any()


def test_batched_curves_equal_the_per_step_loop(lab):
    model, x, labels, _, _ = lab
    maps = ch.grad_cam(model, x, targets=labels).map
    for mode in ("deletion", "insertion"):
        ours = metrics.perturbation_curves(model, x, maps, labels, mode, step=97, batch_size=7)
        loop = metrics.perturbation_curves_loop(model, x, maps, labels, mode, step=97)
        assert ours.shape == (len(x), 64 * 64 // 97 + 2)
        assert (ours - loop).abs().max() < 1e-5
    # first point: the untouched start; last: everything switched
    with torch.no_grad():
        p = model(x).softmax(1).gather(1, labels[:, None])[:, 0]
        p0 = model(torch.zeros_like(x)).softmax(1).gather(1, labels[:, None])[:, 0]
    assert torch.allclose(ours[:, -1], p, atol=1e-6)
    dele = metrics.perturbation_curves(model, x, maps, labels, "deletion")
    assert torch.allclose(dele[:, 0], p, atol=1e-6) and torch.allclose(dele[:, -1], p0, atol=1e-6)


def test_fast_inference_folds_batch_norms_into_a_copy_and_leaves_the_model_alone(lab):
    from cam_helpers.speed import fast_inference
    model, x, labels, _, _ = lab
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with fast_inference(model, check=x) as net:
        assert net is not model
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # folded
        assert torch.allclose(net(x), model(x), atol=1e-5)
    assert model.training  # restored
    model.eval()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with fast_inference(model, enabled=False) as net:
        assert net is model
    with fast_inference(model, check=x, expected=model(x) + 1) as net:  # a copy that fails the check is not used
        assert net is model
    # the curves agree with and without it
    maps = ch.grad_cam(model, x, targets=labels).map
    fast = metrics.insertion_deletion(model, x, maps, labels, step=256)
    slow = metrics.insertion_deletion(model, x, maps, labels, step=256, fast=False)
    for key in ("insertion", "deletion"):
        assert (fast[key] - slow[key]).abs().max() < 1e-5
    # a baseline replaces both ends: deletion's fill and insertion's start, as perturbation_curves does
    black = torch.full((1, 3, 1, 1), -2.0)
    both = metrics.insertion_deletion(model, x, maps, labels, step=256, baseline=black)
    for mode in ("insertion", "deletion"):
        alone = metrics.perturbation_curves(model, x, maps, labels, mode, step=256, baseline=black)
        assert (both[mode] - alone).abs().max() < 1e-5
        assert (both[mode] - fast[mode]).abs().max() > 1e-3   # and it changes the curves


def test_fast_inference_falls_back_to_the_model_itself():
    from cam_helpers.speed import fast_inference

    class Branchy(torch.nn.Module):  # data-dependent control flow: torch.fx cannot trace it
        def __init__(self):
            super().__init__()
            self.conv, self.bn = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y.mean((2, 3)) if y.sum() > 0 else -y.mean((2, 3))

    x = torch.randn(2, 3, 8, 8)
    for model in (Branchy(), torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())):  # no batch norm
        with fast_inference(model, check=x) as net:
            assert net is model and not model.training
            net(x)


def test_auc_is_the_trapezoid_rule():
    curves = torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    assert torch.allclose(metrics.auc(curves), torch.tensor([0.5, 1.0]))


def test_deletion_with_the_perfect_map_drops_faster_than_with_its_inverse(lab):
    model, x, labels, masks, _ = lab
    perfect = masks.float()
    good = metrics.insertion_deletion(model, x, perfect, labels)
    bad = metrics.insertion_deletion(model, x, 1 - perfect, labels)
    assert (good["deletion_auc"] < bad["deletion_auc"]).all()
    assert good["insertion_auc"].mean() > bad["insertion_auc"].mean()


def test_blur_keeps_a_constant_image_away_from_the_border():
    x = torch.ones(1, 3, 32, 32)
    assert torch.allclose(metrics.blur(x)[..., 5:-5, 5:-5], torch.ones(1, 3, 22, 22), atol=1e-6)


def test_average_drop_and_increase_agree_with_torchcam(lab):
    """On random weights, where probabilities are far from saturated (a
    trained model's 0.9999 against 0.9998 would compare float noise)."""
    import torchvision
    from torchcam.methods import GradCAM
    from torchcam.metrics import ClassificationMetric
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(8, 3, 64, 64)
    targets = list(range(8))
    with GradCAM(model, "layer4") as extractor:
        metric = ClassificationMetric(extractor, partial(torch.softmax, dim=-1))
        metric.update(x, class_idx=targets)
        theirs = metric.summary()
        # the same maps in: torchcam's own (it explains the softmax score when
        # given a softmax logits_fn), resized as it resizes them
        cams = extractor(targets, model(x).softmax(-1))[0].detach()
    maps = torch.nn.functional.interpolate(cams[:, None], size=(64, 64), mode="bilinear")[:, 0]
    drop, inc = metrics.confidence_change(model, x, maps, targets)
    assert drop.mean().item() == pytest.approx(theirs["avg_drop"], abs=1e-5)
    assert inc.float().mean().item() == pytest.approx(theirs["conf_increase"])
    assert 0 < inc.float().mean() < 1  # both outcomes occur: the comparison means something
    # the whole image as the map: no change at all
    model, x, labels, _, _ = lab
    d1, i1 = metrics.confidence_change(model, x, torch.ones(len(x), 64, 64), labels)
    assert d1.abs().max() < 1e-6 and not i1.any()


def test_ssim_agrees_with_scikit_image():
    torch.manual_seed(0)
    a, b = torch.rand(3, 20, 24), torch.rand(3, 20, 24)
    b[0] = a[0] * 0.9 + 0.05
    ours = sanity.ssim(a, b)
    theirs = [structural_similarity(p.numpy(), q.numpy(), data_range=1.0) for p, q in zip(a, b)]
    assert torch.allclose(ours, torch.tensor(theirs, dtype=torch.float), atol=1e-6)
    assert sanity.ssim(a, a).sub(1).abs().max() < 1e-6


def test_sanity_check_grad_cam_decorrelates_and_the_model_is_untouched(lab):
    model, x, labels, _, _ = lab
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = sanity.randomisation_check(model, x, partial(ch.grad_cam, layer="features.3"), labels)
    assert out["layers"][0] == "head" and len(out["layers"]) == len(sanity.randomisable_layers(model))
    assert out["spearman"].shape == (len(out["layers"]), len(x))
    # once every layer is random, the map has little to do with the trained one
    assert out["spearman"][-1].abs().mean() < 0.5 and out["ssim"][-1].mean() < 0.5
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    indep = sanity.randomisation_check(model, x, partial(ch.grad_cam, layer="features.3"), labels,
                                        mode="independent", layers=["features.0.0"])
    assert indep["spearman"].shape == (1, len(x))
    # at: the same cascade, compared only after some steps, gives those steps' rows
    steps = out["layers"][::2]
    some = sanity.randomisation_check(model, x, partial(ch.grad_cam, layer="features.3"), labels, at=steps)
    assert some["layers"] == steps
    assert torch.allclose(some["spearman"], out["spearman"][::2], atol=1e-6)
    with pytest.raises(ValueError, match="not randomised"):
        sanity.randomisation_check(model, x, partial(ch.grad_cam, layer="features.3"), labels, at=["nope"])


def test_sanity_check_identity_explainer_stays_perfectly_correlated(lab):
    """A 'method' that ignores the model (the image itself) passes no sanity
    check: its similarity stays 1 whatever is randomised."""
    model, x, labels, _, _ = lab

    def image_only(m, xx, targets):
        raw = xx.mean(1)
        return ch.CAMResult(raw, ch.normalize(raw), torch.as_tensor(targets), torch.zeros(len(xx), 6), "input", "image")
    out = sanity.randomisation_check(model, x, image_only, labels, layers=["head", "features.0.0"])
    assert torch.allclose(out["spearman"], torch.ones_like(out["spearman"]), atol=1e-6)
    assert torch.allclose(out["ssim"], torch.ones_like(out["ssim"]), atol=1e-5)


def test_evaluate_over_a_dataloader(lab):
    model = lab[0]
    ds = data.ShapesDataset("single", split="test", size=10, seed=4, with_mask=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    res = evaluation.evaluate(model, loader, partial(ch.grad_cam, layer="features.3"),
                           metrics=evaluation.METRICS, progress=False)
    x, labels, masks = data.batch(ds.scenes())
    maps = ch.grad_cam(model, x, "features.3", labels).map
    assert res["images"] == 10
    assert res["pointing_game"] == pytest.approx(metrics.pointing_game(maps, masks).float().mean().item())
    assert res["energy"] == pytest.approx(metrics.energy_pointing_game(maps, masks).mean().item(), abs=1e-6)
    both = metrics.insertion_deletion(model, x, maps, labels)
    assert res["deletion_auc"] == pytest.approx(both["deletion_auc"].mean().item(), abs=1e-5)
    with pytest.raises(KeyError, match="unknown metrics"):
        evaluation.evaluate(model, loader, ch.grad_cam, metrics=["accuracy"])


def test_shard_covers_every_item_once():
    ds = list(range(11))
    parts = [list(evaluation.shard(ds, r, 3)) for r in range(3)]
    assert sorted(sum(parts, [])) == ds


def test_torchrun_gloo_gives_the_same_numbers_as_one_process(tmp_path):
    script = ROOT / "tests" / "dist_eval.py"
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one.json")], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            str(script), str(tmp_path / "two.json")], capture_output=True, text=True, cwd=ROOT,
                           timeout=300, env=env)
    assert multi.returncode == 0, multi.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert one["images"] == two["images"] == 14
    for key in evaluation.METRICS[:5]:
        assert two[key] == pytest.approx(one[key], abs=1e-6), key


def test_randomised_is_the_cascading_checks_last_step_and_similarity_its_comparison(lab):
    """sanity.randomised(model) is the model at the end of the cascading check (every layer, the same seeds), and
    sanity.similarity is the comparison the check makes: the check's last row equals it, for a CAM (8x8 raw) and for
    a pixel method (3-channel raw)."""
    model, x, labels, _, _ = lab
    for explain in (partial(ch.grad_cam, layer="features.3"), partial(pixels.PIXEL_METHODS["saliency"], layer="features.3")):
        out = sanity.randomisation_check(model, x, explain, labels)
        alike = sanity.similarity(explain(model, x, targets=labels),
                                  explain(sanity.randomised(model), x, targets=labels))
        for key in ("spearman", "spearman_abs", "ssim"):
            assert torch.allclose(out[key][-1], alike[key], atol=1e-5), key
    same = ch.grad_cam(model, x, "features.3", labels)
    itself = sanity.similarity(same, same)
    assert all(torch.allclose(v, torch.ones_like(v), atol=1e-5) for v in itself.values())
    first = sanity.randomised(model, layers=["head"])
    assert not torch.equal(first.head.weight, model.head.weight)
    assert torch.equal(first.features[0][0].weight, model.features[0][0].weight)   # only the named layers
