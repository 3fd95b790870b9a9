"""Small networks with hand-computable maps, and helpers shared by the tests."""
import numpy as np
import torch
from torch import nn


def random_model(name: str, layer: str | None = None, size: int = 96):
    """``(name, model, layer, module, x)``: a torchvision model with seeded
    random weights (nothing downloaded) in eval mode, the layer to explain
    (its default target layer if None), that layer's module, and a batch of 2."""
    import torchvision

    from cam_helpers import default_target_layer
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    layer = layer or default_target_layer(model)
    return name, model, layer, dict(model.named_modules())[layer], torch.randn(2, 3, size, size)


def rel_diff(ours, theirs) -> float:
    """Largest absolute difference relative to the larger of the two maxima
    (tensors or arrays); the oracle tests' tolerance is stated against it."""
    a = torch.as_tensor(np.asarray(ours.detach().cpu() if torch.is_tensor(ours) else ours)).double()
    b = torch.as_tensor(np.asarray(theirs.detach().cpu() if torch.is_tensor(theirs) else theirs)).double()
    return float((a - b).abs().max() / max(float(a.abs().max()), float(b.abs().max()), 1e-30))


EPS32 = torch.finfo(torch.float32).eps


def assert_same_maps(ours, theirs, *, sign_free: bool = False, exact: float = 1e-9, worse: float = 16.0,
                     floor: float = 64 * EPS32) -> None:
    """Two implementations of one map agree: exactly in float64, and in float32 as closely as rounding allows.

    ``ours`` and ``theirs`` are callables ``dtype -> (B, ...) maps`` that run the whole computation (a copy of
    the model and the input cast to ``dtype``). The tolerance is not a number tuned on one machine; it is
    derived from the computation's own float32 error, per image:

    1. float64: ``rel_diff(ours64, theirs64) < exact``: the two compute the same formula (float64 rounding,
       about 1e-16 per operation, stays far below 1e-9 for these maps).
    2. float32: our float32 map is at most ``worse`` times as far from the float64 answer as the reference's
       own float32 map is: ``rel_diff(ours32, theirs64) <= worse * max(rel_diff(theirs32, theirs64), floor)``.
       How far float32 lands from the answer depends on how well conditioned the map is (XGrad-CAM and
       Grad-CAM++ divide by sums of signed LayerNorm outputs that nearly cancel; their float32 error reaches
       1e-4 on some images where Grad-CAM's is 1e-6); the reference's error on the same input measures it.
       Two implementations that sum in different orders make independent rounding errors, so one can be
       lucky: on XGrad-CAM's worst image (shapes_vit, image 1) ours is 1.6e-4 from float64 and
       pytorch-grad-cam's 2.6e-5, a ratio of 6; ``worse`` = 16 leaves room for that and still fails a map
       that is wrong by more than rounding. ``floor`` (64 float32 epsilons, 7.6e-6) keeps a nearly exact
       reference from demanding more than float32 can give.

    ``sign_free``: maps defined up to a sign (an SVD's), compared with the better sign per image.
    ``exact``: raise it where the reference rounds to float32 whatever it is given (pytorch-grad-cam's
    SVD projection returns ``np.float32``).
    """
    def run(fn, dtype):
        out = fn(dtype)
        return np.asarray(out.detach().cpu().double() if torch.is_tensor(out) else out, dtype=np.float64)

    maps = {(who, dt): run(fn, dt) for who, fn in (("ours", ours), ("theirs", theirs))
            for dt in (torch.float64, torch.float32)}

    def diff(a, b):
        return min(rel_diff(a, b), rel_diff(a, -b)) if sign_free else rel_diff(a, b)

    for i in range(len(maps["ours", torch.float64])):
        o64, t64 = maps["ours", torch.float64][i], maps["theirs", torch.float64][i]
        o32, t32 = maps["ours", torch.float32][i], maps["theirs", torch.float32][i]
        assert diff(o64, t64) < exact, f"image {i}: the float64 maps differ by {diff(o64, t64):.2e}"
        bound = worse * max(diff(t32, t64), floor)
        assert diff(o32, t64) <= bound, \
            f"image {i}: float32 error {diff(o32, t64):.2e} against the reference's {diff(t32, t64):.2e}"


def cast(model: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> tuple[nn.Module, torch.Tensor]:
    """A copy of ``model`` and ``x`` in ``dtype`` (the model itself is left as it is)."""
    import copy
    return copy.deepcopy(model).to(dtype), x.to(dtype)


class TinyGAP(nn.Module):
    """features (1x1 conv, identity weights) -> GAP -> linear with known weights:
    CAM and Grad-CAM of this network can be written down by hand."""

    cam_target_layer = "features"
    input_size = 2

    def __init__(self, weight, bias=None):
        super().__init__()
        self.features = nn.Conv2d(2, 2, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2, len(weight))
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(2)[:, :, None, None])
            self.head.weight.copy_(torch.tensor(weight))
            self.head.bias.copy_(torch.zeros(len(weight)) if bias is None else torch.tensor(bias))

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))
