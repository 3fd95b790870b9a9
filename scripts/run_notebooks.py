"""Execute the course notebooks in place, saving their outputs, and print
how long each took. This is how the committed outputs are made.

    python scripts/run_notebooks.py                  # all notebooks
    python scripts/run_notebooks.py 01_cam_from_gap  # some
"""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:  # a failing notebook is saved too, with the outputs up to the error
        nbformat.write(nb, path)
    return time.perf_counter() - start


def main(names: list[str]) -> None:
    paths = [NOTEBOOKS / f"{n}.ipynb" for n in names] if names else sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = run(path)
        total += seconds
        print(f"{path.name:40s} {seconds:6.1f} s", flush=True)
    print(f"{'total':40s} {total:6.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
