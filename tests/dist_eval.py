"""Evaluate Grad-CAM on 14 shapes scenes, in one process or under torchrun
(gloo): ``python tests/dist_eval.py OUT.json`` or
``torchrun --standalone --nproc_per_node=2 tests/dist_eval.py OUT.json``.
Rank 0 writes the means (identical on every rank)."""
import json
import os
import sys
from functools import partial

import torch
import torch.distributed as dist

import cam_helpers as ch
from cam_helpers import data, evaluation, models


def main(out: str) -> None:
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    model = models.load_course_model("shapes_cnn")
    ds = data.ShapesDataset("single", split="test", size=14, seed=5, with_mask=True)
    loader = torch.utils.data.DataLoader(evaluation.shard(ds), batch_size=4)
    res = evaluation.evaluate(model, loader, partial(ch.grad_cam, layer="features.3"), metrics=evaluation.METRICS[:5],
                           tolerance=4, progress=False)
    res["world_size"] = dist.get_world_size() if dist.is_initialized() else 1
    if not dist.is_initialized() or dist.get_rank() == 0:
        with open(out, "w") as f:
            json.dump(res, f)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1])
