"""The benchmark script stays runnable (tiny settings; timings are not tested)."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_cam.py"


def test_benchmark_runs_and_reports_every_method(capsys):
    spec = importlib.util.spec_from_file_location("bench_cam", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    median = bench.main(["--model", "resnet18", "--batch", "2", "--size", "64", "--repeats", "1"])
    assert set(median) == {"forward", "cam_helpers.grad_cam", "pytorch-grad-cam GradCAM", "torchcam GradCAM"}
    out = capsys.readouterr().out
    assert "x forward" in out and "max |ours - pytorch-grad-cam|" in out
