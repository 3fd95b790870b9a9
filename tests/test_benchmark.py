"""The benchmark script stays runnable (tiny settings; timings are not tested)."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_cam.py"


def test_benchmark_runs_every_section(capsys):
    spec = importlib.util.spec_from_file_location("bench_cam", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--model", "resnet18", "--batch", "2", "--size", "64", "--repeats", "1", "--top-k", "16", "--score-repeats", "1",
                          "--lab-scenes", "3", "--vit-batch", "1", "--curve-batch", "2", "--lite0-batch", "2",
                          "--vit-size", "64", "--curve-size", "64", "--lite0-size", "96",
                          "--folder-photos", "4", "--folder-batch", "2"])
    assert set(results) == {"gradient", "score", "ablation", "road", "topk", "curves", "lite0", "vit", "timm", "folder"}
    assert {"forward", "ours road", "pytorch-grad-cam ROAD"} <= set(results["road"])
    assert {"forward", "ours grad_cam (ch.grad_cam)", "pytorch-grad-cam GradCAM", "ours rollout"} <= set(results["timm"])
    assert {"forward", "ours grad_cam", "pytorch-grad-cam GradCAM", "explorer: class change"} <= set(results["lite0"])
    assert {"forward", "ours legrad", "torchcam LeGrad", "ours grad_cam"} <= set(results["vit"])
    assert {"forward", "ours grad_cam", "pytorch-grad-cam GradCAM", "torchcam GradCAM"} <= set(results["gradient"])
    out = capsys.readouterr().out
    assert set(results["folder"]) == {"ours explain_folder", "loop of grad_cam calls"}
    assert "faster than pytorch-grad-cam" in out and "Spearman to exact" in out
