"""The shapes lab: determinism, ground truth, variants."""
import numpy as np
import pytest
import torch

from cam_helpers.data import CLASSES, ShapesDataset, to_image, to_tensor

PINNED_SINGLE_SUM = 857781   # scene 0 of single/train/seed 0, before the context variant was added


def test_scenes_are_a_pure_function_of_seed_split_index():
    a = ShapesDataset("single", "train", 50, seed=3)
    b = ShapesDataset("single", "train", 50, seed=3)
    assert np.array_equal(a.scene(7).image, b.scene(7).image)
    assert np.array_equal(a.scene(7).objects[0].mask, b.scene(7).objects[0].mask)
    assert not np.array_equal(a.scene(7).image, ShapesDataset("single", "test", 50, seed=3).scene(7).image)
    assert not np.array_equal(a.scene(7).image, ShapesDataset("single", "train", 50, seed=4).scene(7).image)
    assert not np.array_equal(a.scene(7).image, a.scene(8).image)


def test_every_class_appears_and_masks_and_boxes_agree():
    ds = ShapesDataset("single", "train", 300)
    labels = set()
    for i in range(300):
        scene = ds.scene(i)
        assert scene.image.shape == (64, 64, 3) and scene.image.dtype == np.uint8
        (obj,) = scene.objects
        labels.add(obj.label)
        assert obj.mask.sum() > 40  # a visible object
        ys, xs = np.nonzero(obj.mask)
        assert obj.box == (xs.min(), ys.min(), xs.max(), ys.max())
    assert labels == set(range(len(CLASSES))) and len(CLASSES) >= 6


def test_object_pixels_are_drawn_where_the_mask_says():
    scene = ShapesDataset("single", "val", 10).scene(0)
    obj = scene.objects[0]
    inside = scene.image[obj.mask].astype(float)
    # the object is one colour with a gentle shade: far less spread than the background
    assert inside.std(0).mean() < scene.image[~obj.mask].astype(float).std(0).mean()


@pytest.mark.parametrize("variant, same", [("two", False), ("two_same", True)])
def test_two_object_variants(variant, same):
    ds = ShapesDataset(variant, "test", 100)
    for i in range(100):
        a, b = ds.scene(i).objects
        assert (a.label == b.label) == same
        assert not (a.mask & b.mask).any()


def test_tagged_splits_place_the_marker_as_promised():
    kwargs = dict(size=120, tag_class=3)
    train = ShapesDataset("tagged", "train", **kwargs)
    clean = ShapesDataset("tagged", "test_clean", **kwargs)
    swapped = ShapesDataset("tagged", "test_swapped", **kwargs)
    for i in range(120):
        s = train.scene(i)
        assert (s.marker is not None) == (s.label == 3)
        assert clean.scene(i).marker is None
        w = swapped.scene(i)
        assert (w.marker is not None) == (w.label != 3)
        if s.marker is not None:
            assert not (s.marker.mask & s.objects[0].mask).any()


def test_dataset_items_and_tensor_round_trip():
    ds = ShapesDataset("single", "train", 5)
    x, y = ds[2]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and y == ds.scene(2).label
    assert np.array_equal(to_image(x), ds.scene(2).image)
    assert torch.equal(to_tensor(ds.scene(2).image), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown variant"):
        ShapesDataset("three")
    with pytest.raises(ValueError, match="unknown split"):
        ShapesDataset("single", "validation")
    with pytest.raises(IndexError):
        ShapesDataset("single", "train", 3).scene(3)


def test_marker_masks_mark_the_tag_and_nothing_else():
    from cam_helpers.data import marker_masks
    scenes = ShapesDataset("tagged", "test", 24, seed=5).scenes()
    masks = marker_masks(scenes)
    assert masks.shape == (24, 64, 64) and masks.dtype == torch.bool
    for s, m in zip(scenes, masks):
        assert int(m.sum()) == (49 if s.marker is not None else 0)
        assert (s.marker is not None) == (s.label == 0)


def test_context_splits_put_the_shapes_on_the_habitats_as_promised():
    from cam_helpers.data import HABITATS
    own = lambda ds: np.array([HABITATS.index(s.meta["habitat"]) == s.label for s in ds.scenes()])  # noqa: E731
    assert own(ShapesDataset("context", "train", 120, context_rate=1.0)).all()
    assert not own(ShapesDataset("context", "test_swapped", 120)).any()        # never the class's own
    biased = own(ShapesDataset("context", "train", 600, context_rate=0.9)).mean()
    assert 0.86 < biased < 0.94
    for split in ("train", "test_clean"):                                      # independent of the class
        ds = ShapesDataset("context", split, 600, context_rate=1 / 6)
        assert 0.12 < own(ds).mean() < 0.22
        assert {s.meta["habitat"] for s in ds.scenes()} == set(HABITATS)
    # the habitat is the background: its colour differs between habitats far more than within one
    scenes = ShapesDataset("context", "test_clean", 300, seed=1).scenes()
    colour = {h: np.stack([s.image[~s.objects[0].mask].mean(0) for s in scenes if s.meta["habitat"] == h])
              for h in HABITATS}
    means = np.stack([c.mean(0) for c in colour.values()])
    spread = max(c.std(0).max() for c in colour.values())
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[~np.eye(len(HABITATS), dtype=bool)]
    assert gaps.min() > 2 * spread
    with pytest.raises(ValueError, match="probability"):
        ShapesDataset("context", "train", 5, context_rate=1.5)


def test_the_context_variant_leaves_the_other_variants_scenes_unchanged():
    """Adding a variant must not move the scenes that notebooks and shipped models were made with: scene 0 of
    "single"/"train"/seed 0 is pinned by its pixel sum."""
    scene = ShapesDataset("single", "train", 1).scene(0)
    assert "habitat" not in scene.meta
    assert int(scene.image.astype(np.int64).sum()) == PINNED_SINGLE_SUM
