"""Real photos: the hand-drawn boxes, mosaics and the Grid Pointing Game."""
import json

import numpy as np
import pytest
import torch

from cam_helpers import CAMResult, metrics
from cam_helpers.photos import BOXES, IMAGES_DIR, course_photos, grid_pointing_game, mosaic, photo_objects, read_rgb


def test_every_course_photo_has_boxes_inside_it():
    table = json.loads(BOXES.read_text())
    photos = {p.name for p in course_photos()}
    assert {k for k in table if not k.startswith("_")} == photos
    for name in photos:
        h, w = read_rgb(IMAGES_DIR / name).shape[:2]
        objects = photo_objects(name)
        assert objects
        for o in objects:
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 < w and 0 <= y0 < y1 < h, (name, o)
    assert (read_rgb(IMAGES_DIR / "camera.jpg").std(2) == 0).all()   # the greyscale photo


def test_objects_name_imagenet_classes():
    helmet = next(o for o in photo_objects("astronaut.jpg") if o.name == "helmet")
    assert helmet.classes == [518, 560]   # crash helmet, football helmet
    with pytest.raises(KeyError, match="photos with boxes"):
        photo_objects("nope.jpg")


def test_box_at_scales_to_the_model_input():
    o = photo_objects("coffee.jpg")[0]        # (172, 15, 410, 302) on a 400 x 600 photo
    assert o.box_at((400, 600, 3), 224) == (64, 8, 153, 169)   # x * 224/600, y * 224/400, ends inclusive
    full = type(o)("all", [], (0, 0, 599, 399))
    assert full.box_at((400, 600), 224) == (0, 0, 223, 223)


def test_mosaic_tiles_are_exact():
    images = [np.full((30 + i, 40, 3), 60 * i, np.uint8) for i in range(4)]
    m = mosaic(images, 2, weights="efficientnet_lite0")
    assert m.image.shape == (224, 224, 3) and m.tensor.shape == (1, 3, 224, 224)
    assert m.tiles.tolist() == [[0, 0, 111, 111], [112, 0, 223, 111], [0, 112, 111, 223], [112, 112, 223, 223]]
    for i, (x0, y0, x1, y1) in enumerate(m.tiles.tolist()):
        assert (m.image[y0:y1 + 1, x0:x1 + 1] == 60 * i).all()
    with pytest.raises(ValueError, match="needs 9 photos"):
        mosaic(images, 3)


def test_grid_pointing_game_scores_the_right_tile():
    """A fake method that puts all its mass on the tile whose photo has the
    target's colour scores 1; a flat map scores the chance level 1/4."""
    images = [np.full((20, 20, 3), 40 * (i + 1), np.uint8) for i in range(4)]
    model = torch.nn.Conv2d(3, 3, 1)

    def perfect(model, x, layer=None, targets=None):
        colours = 40.0 * (targets.float() + 1)
        pixel = x[:, 0] * 128 + 127   # undo the inception normalisation
        maps = ((pixel - colours[:, None, None]).abs() < 1).float()
        return CAMResult(maps, maps, targets, torch.zeros(len(x), 4), "", "perfect")

    def flat(model, x, layer=None, targets=None):
        maps = torch.ones(len(x), *x.shape[-2:])
        return CAMResult(maps, maps, targets, torch.zeros(len(x), 4), "", "flat")

    scores = grid_pointing_game(model, perfect, images, [0, 1, 2, 3], weights="efficientnet_lite0")
    assert scores.shape == (4, 4) and torch.allclose(scores, torch.ones(4, 4))
    flat_scores = grid_pointing_game(model, flat, images, [0, 1, 2, 3], weights="efficientnet_lite0")
    assert torch.allclose(flat_scores, torch.full((4, 4), 0.25))
    # a method that always points at the top-left tile is right once per arrangement and tile
    wrong = grid_pointing_game(model, lambda m, x, layer=None, targets=None: CAMResult(
        *(2 * [metrics.box_masks(torch.tensor([[0, 0, 111, 111]] * len(x)), (224, 224)).float()]),
        targets, torch.zeros(len(x), 4), "", "corner"), images, [0, 1, 2, 3], weights="efficientnet_lite0")
    assert wrong.sum() == 4 and wrong.mean() == 0.25


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_more_data():
    few = torch.tensor([0.0, 1.0] * 5)
    many = torch.tensor([0.0, 1.0] * 500)
    mean, lo, hi = metrics.bootstrap_ci(few)
    assert mean == 0.5 and lo < 0.5 < hi
    _, lo2, hi2 = metrics.bootstrap_ci(many)
    assert hi2 - lo2 < (hi - lo) / 5           # the width falls like 1/sqrt(n): 100x the data, 1/10 the width
    assert abs((hi2 - lo2) - 2 * 1.96 * 0.5 / 1000 ** 0.5) < 0.01   # the normal approximation
    assert metrics.bootstrap_ci(torch.full((7,), 0.5))[1:] == (0.5, 0.5)
    with pytest.raises(ValueError):
        metrics.bootstrap_ci(torch.tensor([]))


def test_paired_difference_resolves_what_separate_intervals_cannot():
    """Two methods scored on the same 40 images: the per-image scores vary a lot from image to image,
    the difference between the methods is small but the same on every image. The separate intervals
    overlap; the paired one lies above 0."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(40, generator=g)
    a, b = base + 0.02 + 0.005 * torch.randn(40, generator=g), base
    ia, ib = metrics.bootstrap_ci(a), metrics.bootstrap_ci(b)
    assert ia.low < ib.high                                    # separately: overlapping
    d = metrics.paired_difference(a, b)
    assert d.above() and not d.contains(0) and d.verdict() == "higher"
    assert metrics.paired_difference(b, a).verdict() == "lower"
    assert abs(d.mean - (a - b).mean().item()) < 1e-9
    same = metrics.paired_difference(a, a)
    assert same.contains(0) and same.verdict() == "indistinguishable"
    assert f"{metrics.Interval(0.0764, 0.0571, 0.0952):+.3f}" == "+0.076 [+0.057, +0.095]"
    assert str(metrics.Interval(0.5, 0.25, 0.75)) == "0.500 [0.250, 0.750]"
    assert f"{metrics.Interval(0.5, 0.25, 0.75):>22}" == "  0.500 [0.250, 0.750]"
    mean, low, high = d                                          # still a (mean, low, high) tuple
    assert low < mean < high
    with pytest.raises(ValueError, match="one value per image"):
        metrics.paired_difference(a, b[:-1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.bootstrap_ci(torch.tensor([0.1, float("nan")]))
