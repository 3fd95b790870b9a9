"""Loading any photo, and drawing overlays at the photo's own size."""
import numpy as np
import pytest
import torch
from PIL import Image

from cam_helpers import viz
from cam_helpers.data import course_photos, load_image, read_rgb
from cam_helpers.viz import colorize, overlay, show_cam, show_grid


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgba_goes_on_white(tmp_path):
    img = Image.new("RGBA", (30, 20), (255, 0, 0, 0))  # fully transparent red
    rgb = read_rgb(_save(img, tmp_path / "a.png"))
    assert rgb.shape == (20, 30, 3) and (rgb == 255).all()


def test_greyscale_and_palette_become_rgb(tmp_path):
    grey = read_rgb(_save(Image.new("L", (10, 12), 77), tmp_path / "g.png"))
    assert grey.shape == (12, 10, 3) and (grey == 77).all()
    pal = read_rgb(_save(Image.new("P", (8, 8), 3), tmp_path / "p.png"))
    assert pal.shape == (8, 8, 3)


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgb = read_rgb(_save(img, tmp_path / "r.jpg", exif=exif.tobytes(), quality=95))
    assert rgb.shape == (40, 20, 3)  # now portrait
    assert rgb[:10].mean() > 200 and rgb[-10:].mean() < 50  # the band is on top


@pytest.mark.parametrize("size", [(7, 5), (1000, 90), (224, 224)])
def test_any_size_gives_a_model_input(tmp_path, size):
    photo = load_image(_save(Image.new("RGB", size, (10, 200, 30)), tmp_path / "s.png"))
    assert photo.image.shape == (size[1], size[0], 3)
    assert photo.tensor.shape == (1, 3, 224, 224) and photo.tensor.dtype == torch.float32


def test_imagenet_normalisation_from_weights_metadata(tmp_path):
    photo = load_image(_save(Image.new("RGB", (50, 50), (124, 116, 104)), tmp_path / "m.png"))
    # ImageNet mean pixel (0.485, 0.456, 0.406) * 255 ~ (124, 116, 104) maps to about zero
    assert photo.tensor.abs().max() < 0.02


def test_course_photos_load():
    photos = course_photos()
    assert len(photos) >= 4
    for p in photos:
        assert load_image(p).tensor.shape == (1, 3, 224, 224)


def test_overlay_is_at_the_image_size():
    image = np.zeros((300, 451, 3), np.uint8)
    heat = torch.rand(7, 7)
    out = overlay(image, heat, alpha=0.4)
    assert out.shape == (300, 451, 3) and out.dtype == np.uint8
    assert np.array_equal(overlay(image, heat, alpha=0.0), image)
    assert np.array_equal(overlay(image, torch.ones(7, 7), alpha=1.0)[0, 0], colorize(np.ones((1, 1)))[0, 0])
    with pytest.raises(ValueError, match="index the batch"):
        overlay(image, torch.rand(2, 7, 7))
    with pytest.raises(ValueError, match="opacity"):
        overlay(image, heat, alpha=2)


def test_hot_spot_lands_where_the_map_is_high():
    image = np.full((100, 200, 3), 128, np.uint8)
    heat = np.zeros((10, 10), np.float32)
    heat[0, 9] = 1  # top right
    out = overlay(image, heat, alpha=1.0)
    assert out[2, 197].astype(int).sum() > 600  # inferno's top: bright yellow-white, top right
    assert out[95, 5].astype(int).sum() < 30    # its bottom: near black, bottom left


def test_default_colormap_is_perceptually_ordered():
    """Lightness (CIE L*) rises with the map value for the default colormap, and does not for jet."""
    import cv2

    def lightness(colormap):
        rgb = colorize(np.linspace(0, 1, 256)[None], colormap)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[0, :, 0].astype(int)

    assert (np.diff(lightness(viz.COLORMAP)) >= -1).all() and lightness(viz.COLORMAP)[-1] > 200
    assert (np.diff(lightness(cv2.COLORMAP_JET)) < -1).any()
    assert np.array_equal(colorize(np.ones((1, 1)), "inferno"), colorize(np.ones((1, 1))))


def test_figures_build():
    img = np.zeros((64, 64, 3), np.uint8)
    fig = show_cam(img, np.random.rand(8, 8), title="t")
    assert len(fig.axes) == 4   # three panels and the colourbar
    fig2 = show_grid([img, np.random.rand(8, 8), img], ["a", "b", "c"], ncols=2)
    assert len(fig2.axes) == 4
    fig3 = show_grid([img, np.random.rand(8, 8)], ["a", "b"], colorbar=True)
    assert len(fig3.axes) == 3   # two panels and one shared colourbar


def test_a_forest_plot_greys_the_intervals_that_contain_zero():
    import matplotlib.pyplot as plt
    from cam_helpers.evaluate.stats import Interval
    ax = viz.forest({"above": Interval(0.3, 0.1, 0.5), "spans zero": Interval(0.05, -0.1, 0.2),
                     "below": (-0.4, -0.6, -0.2), "rounding": (1e-9, 1e-9, 2e-9)}, xlabel="difference")
    bars = [line for line in ax.lines if len(line.get_xdata()) == 2 and line.get_linestyle() == "-"]
    assert [tuple(b.get_xdata()) for b in bars] == [(0.1, 0.5), (-0.1, 0.2), (-0.6, -0.2), (1e-9, 2e-9)]
    assert [b.get_color() for b in bars] == ["C0", "grey", "C0", "grey"]   # a rounding-sized gap is no gap
    assert [t.get_text() for t in ax.get_yticklabels()] == ["above", "spans zero", "below", "rounding"]
    assert any(line.get_linestyle() == ":" for line in ax.lines)   # the zero line
    plt.close(ax.figure)
