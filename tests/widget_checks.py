"""Drive the explorer from Python, as a learner's clicks would. Run in-process
(the installed ipywidgets) and under ipywidgets 7.7 by test_widgets.py."""
import datetime

import ipywidgets
import torch

from cam_helpers import cam, grad_cam, score_cam, vit
from cam_helpers.data import CLASSES, ShapesDataset
from cam_helpers.models import load_course_model
from cam_helpers.pixels import guided_grad_cam
from cam_helpers.widgets import CAMExplorer, ViTExplorer


def check_display_bundle(ex) -> None:
    """What a notebook saves: the widget view, a PNG of the first view, a text line."""
    import base64
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == ex.image.value
    assert bundle["text/plain"].startswith(type(ex).__name__) and "<" not in bundle["text/plain"]


def run() -> str:
    model = load_course_model("shapes_cnn")
    scene = ShapesDataset("two", "test", 5, seed=1).scene(0)
    x = scene.tensor()
    ex = CAMExplorer(model, x, scene.image, CLASSES)
    assert ex.layer.value == "features.3" and ex.method.value == "grad_cam"
    assert ex.backward_passes == 1
    first_png = ex.image.value
    assert first_png[:4] == b"\x89PNG"
    check_display_bundle(ex)

    # class: the map changes to the chosen class's, for one more backward pass
    other = scene.objects[1].label if ex.klass.value == scene.objects[0].label else scene.objects[0].label
    ex.klass.value = other
    assert ex.backward_passes == 2
    assert torch.allclose(ex.result.map, grad_cam(model, x, "features.3", other).map, atol=1e-6)
    assert ex.image.value != first_png

    # layer: no further backward pass, the map is that layer's
    ex.layer.value = "features.1"
    assert ex.backward_passes == 2 and ex.result.raw.shape[-1] == 16
    assert torch.allclose(ex.result.raw, grad_cam(model, x, "features.1", other).raw, atol=1e-6)

    # opacity: same map, new picture
    before_result, before_png = ex.result, ex.image.value
    ex.opacity.value = 0.9
    assert ex.result is before_result and ex.image.value != before_png
    ex.opacity.value = float("nan")   # set from code: refused, the picture stays
    assert ex.opacity.value == 0.9 and ex.image.value != b""
    for control, bad in [(ex.klass, float("nan")), (ex.layer, float("nan")), (ex.method, "nope")]:
        try:
            control.value = bad
        except Exception as err:   # traitlets refuses values outside the options
            assert "TraitError" in type(err).__name__
        else:
            raise AssertionError(f"{control.description} accepted {bad!r}")

    # method: CAM is refused on an inner layer, with the reason on show; fine on the last
    ex.method.value = "cam"
    assert ex.result is None and "GAP" in ex.status.value
    ex.layer.value = "features.3"
    assert torch.allclose(ex.result.map, cam(model, x, "features.3", other).map, atol=1e-6)

    # a forward-heavy method is computed once per (method, layer, class), then reused
    ex.method.value = "score_cam"
    first = ex.result
    assert torch.allclose(first.map, score_cam(model, x, "features.3", other, progress=False).map, atol=1e-5)
    ex.method.value = "grad_cam"
    ex.method.value = "score_cam"
    assert ex.result is first

    # pixel-space methods share the call shape: one word switches to them
    ex.method.value = "guided_grad_cam"
    assert torch.allclose(ex.result.map, guided_grad_cam(model, x, "features.3", other).map, atol=1e-5)
    assert ex.result.map.shape == (1, 64, 64) and "peak at pixel" in ex.status.value
    run_vit(scene)
    run_upload()
    return ipywidgets.__version__


def run_vit(scene) -> None:
    model = load_course_model("shapes_vit")
    x = scene.tensor()
    ex = ViTExplorer(model, x, scene.image, CLASSES)
    check_display_bundle(ex)
    assert ex.method.value == "attention" and ex.layer.value == 5 and ex.head.value == "mean"
    assert ex.backward_passes == 0 and ex.klass.disabled and not ex.head.disabled
    assert torch.allclose(ex.result.raw, vit.attention_map(model, x).raw, atol=1e-6)

    # head and layer move the raw attention map; no backward pass
    ex.head.value = 2
    ex.layer.value = 1
    assert torch.allclose(ex.result.raw, vit.attention_map(model, x, 1, head=2).raw, atol=1e-6)
    assert ex.backward_passes == 0

    # a class-specific method: class enabled, head greyed out, one backward pass;
    # the layer slider sets the last block rolled out (the registry says it is a control)
    ex.method.value = "gradient_rollout"
    assert not ex.klass.disabled and ex.head.disabled and not ex.layer.disabled
    assert ex.backward_passes == 1
    other = [o.label for o in scene.objects if o.label != ex.klass.value][0]
    ex.klass.value = other
    assert torch.allclose(ex.result.raw, vit.gradient_rollout(model, x, 1, other).raw, atol=1e-6)
    assert ex.backward_passes == 2
    ex.layer.value = 5
    assert torch.allclose(ex.result.raw, vit.gradient_rollout(model, x, targets=other).raw, atol=1e-6)
    assert ex.backward_passes == 2   # one backward pass serves every block

    # Grad-CAM follows the layer slider; the head control does not matter
    ex.method.value = "grad_cam"
    ex.layer.value = 4
    assert torch.allclose(ex.result.raw, vit.grad_cam(model, x, 4, other).raw, atol=1e-6)
    passes = ex.backward_passes
    ex.head.value = 0  # ignored by Grad-CAM: cached, nothing recomputed
    assert ex.backward_passes == passes

    # rollout ignores the class; LeGrad does not
    ex.method.value = "rollout"
    assert ex.klass.disabled and torch.allclose(ex.result.raw, vit.rollout(model, x, 4).raw, atol=1e-6)
    ex.method.value = "legrad"
    assert torch.allclose(ex.result.raw, vit.legrad(model, x, targets=other).raw, atol=1e-6)
    before = ex.image.value
    ex.opacity.value = 0.2
    assert ex.image.value != before and "legrad" in ex.status.value


def _upload_value(name: str, content: bytes):
    """What a browser upload puts in FileUpload.value, in this ipywidgets' own format."""
    if ipywidgets.__version__.startswith("7."):
        return {name: {"metadata": {"name": name, "type": "image/jpeg", "size": len(content)}, "content": content}}
    return ({"name": name, "type": "image/jpeg", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime.now(datetime.UTC)},)


def run_upload() -> None:
    """The photo explorer: an upload in this version's format, a path, a bad file, Colab's dict; a ViT."""
    from cam_helpers import grad_cam
    from cam_helpers.data import IMAGES_DIR
    from cam_helpers.models import imagenet_classes, load_imagenet_model
    from cam_helpers.photos import load_image
    from cam_helpers.upload import PhotoExplorer, uploaded_files
    model = load_imagenet_model("efficientnet_lite0")
    names = imagenet_classes("efficientnet_lite0")
    px = PhotoExplorer(model, names, "efficientnet_lite0", methods=["grad_cam", "layer_cam"])
    assert px.explorer is None and not px.area.children
    coffee = (IMAGES_DIR / "coffee.jpg").read_bytes()
    assert uploaded_files(_upload_value("coffee.jpg", coffee)) == [("coffee.jpg", coffee)]
    px.upload.set_trait("value", _upload_value("coffee.jpg", coffee))   # what the browser does (read-only in 7)
    shown = px.explorer
    assert shown is not None and px.area.children == (shown.widget,) and "coffee.jpg" in px.message.value
    photo = load_image(IMAGES_DIR / "coffee.jpg", "efficientnet_lite0")
    assert torch.allclose(shown.result.map, grad_cam(model, photo.tensor, shown.layer.value, shown.klass.value).map,
                          atol=1e-5)
    assert names[shown.klass.value] == "espresso"
    # a text file: a clear message, the explorer on show stays
    px.upload.set_trait("value", _upload_value("notes.txt", b"not a photo"))
    assert px.explorer is shown and "could not be read as a photo" in px.message.value
    # the path box and its button
    px.path.value = str(IMAGES_DIR / "coffee.jpg")
    px.button.click()
    assert px.explorer is not shown and px.explorer.klass.value == shown.klass.value
    px.path.value = "/no/such/photo.jpg"
    px.button.click()
    assert "could not be read" in px.message.value
    # Colab's files.upload() returns {name: bytes}
    assert px.load({"coffee.jpg": coffee}) is px.explorer and px.explorer.result is not None
    assert px._repr_mimebundle_()["text/plain"].startswith("PhotoExplorer")
    px.close()
    # a ViT gets the ViT explorer
    vit_model = load_course_model("shapes_vit")
    scene = ShapesDataset("two", "test", 5, seed=1).scene(0)
    vx = PhotoExplorer(vit_model, CLASSES, size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), source=scene.image)
    assert type(vx.explorer).__name__ == "ViTExplorer" and vx.explorer.method.value == "attention"
    vx.close()


if __name__ == "__main__":
    print("ipywidgets", run())

